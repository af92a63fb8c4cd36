"""The status bar: file, frames shown/total, filter, background progress, findings by
severity and marks."""
from __future__ import annotations

import os

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from analyzer.engine.findings import SEVERITY_WORDS
from analyzer.textsafe import safe
from dissectors.fields import Severity

from .store import Store, describe_stage

_SEV_STYLES = {Severity.ERROR: Style(color="red", bold=True),
               Severity.WARN: Style(color="yellow", bold=True),
               Severity.NOTE: Style(color="cyan"), Severity.CHAT: Style(color="blue")}


def status_text(store: Store, shown: int, marks: int, filter_text: str = "") -> Text:
    """One line: what is open, what is shown, what is still running, what was found."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(safe(os.path.basename(store.path)), Style(bold=True))
    total = len(store)
    t.append(f"  {shown}/{total}" if shown != total else f"  {total} frames")
    if filter_text:
        t.append("  filter: ")
        t.append(safe(filter_text), Style(color="green"))
    stage = describe_stage(store)
    if stage:
        t.append(f"  {stage} (Esc cancels)", Style(color="yellow"))
    if store.passed < total and not store.cancel.is_set():
        t.append(f"  dissected {store.passed}", Style(dim=True))
    if store.error:
        t.append(f"  {safe(store.error)}", Style(color="red"))
    if store.cap is not None:
        counts = {lvl: 0 for lvl in (Severity.ERROR, Severity.WARN, Severity.NOTE,
                                     Severity.CHAT)}
        for f in store.cap.findings:
            counts[f.level] = counts.get(f.level, 0) + 1
        parts = [(f"{n} {SEVERITY_WORDS[lvl]}", _SEV_STYLES[lvl]) for lvl, n in counts.items()
                 if n]
        t.append("  findings: ")
        if not parts:
            t.append("none")
        for i, (words, style) in enumerate(parts):
            t.append((", " if i else "") + words, style)
    if marks:
        t.append(f"  marked {marks}")
    return t


class StatusBar(Static):
    """Refreshed by the app's timer while background work runs, and on every change."""
