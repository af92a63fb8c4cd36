"""The status bar: file, frames shown/total, filter, background progress, findings by
severity and marks; on a live capture, the capture's own numbers first (packets captured,
packets/s, kernel drops, capture filter, elapsed time)."""
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
        _findings(t, store.cap)
    if marks:
        t.append(f"  marked {marks}")
    return t


def _findings(t: Text, cap) -> None:
    counts = {lvl: 0 for lvl in (Severity.ERROR, Severity.WARN, Severity.NOTE, Severity.CHAT)}
    for f in cap.findings:
        counts[f.level] = counts.get(f.level, 0) + 1
    parts = [(f"{n} {SEVERITY_WORDS[lvl]}", _SEV_STYLES[lvl]) for lvl, n in counts.items() if n]
    t.append("  findings: ")
    if not parts:
        t.append("none")
    for i, (words, style) in enumerate(parts):
        t.append((", " if i else "") + words, style)


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _count(n: float) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:.0f}"


def live_status_text(store, shown: int, marks: int, filter_text: str = "") -> Text:
    """One line for a live capture: where, how much, how fast, what was lost, how long;
    then the window, the filter and the findings as for a file."""
    t = Text(no_wrap=True, overflow="ellipsis")
    capture = store.capture
    if store.capturing:
        t.append("● ", Style(color="red", bold=True))
        t.append(f"{safe(capture.iface) if capture is not None else 'following'}",
                 Style(bold=True))
    else:
        t.append("■ stopped", Style(bold=True))
    t.append(f"  {store.captured} pkts")
    if store.capturing:
        t.append(f"  {_count(store.rate())}/s")
    drops = store.kernel_drops()
    if drops is None:
        t.append("  drops ?" if store.capturing else "  drops 0", Style(dim=drops is None))
    else:
        t.append(f"  drops {drops}", Style(color="red", bold=True) if drops else Style())
    if store.bpf:
        t.append("  -f ")
        t.append(safe(store.bpf), Style(color="cyan"))
    t.append(f"  {_elapsed(store.elapsed())}")
    total = len(store)
    if store.base:
        t.append(f"  ring {store.base + 1}-{store.base + total}", Style(dim=True))
    if shown != total:
        t.append(f"  shown {shown}")
    if filter_text:
        t.append("  filter: ")
        t.append(safe(filter_text), Style(color="green"))
    if store.passed < total and not store.cancel.is_set():
        t.append(f"  dissected {store.base + store.passed}", Style(dim=True))
    error = store.error or (capture.error if capture is not None else None)
    if error:
        t.append(f"  {safe(error)}", Style(color="red"))
    if store.cap is not None:
        _findings(t, store.cap)
    if marks:
        t.append(f"  marked {marks}")
    t.append("  ^C stops, q quits" if store.capturing else "  q quits", Style(dim=True))
    return t


class StatusBar(Static):
    """Refreshed by the app's timer while background work runs, and on every change."""
