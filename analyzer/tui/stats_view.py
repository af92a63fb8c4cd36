"""Statistics (`s`): the capture at a glance: size and time span, frames and bytes per
protocol, the busiest endpoints, conversations and findings, all from the first pass's
columns (numpy, no dissection)."""
from __future__ import annotations

from typing import Any

import numpy as np
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from analyzer import columns
from analyzer.engine.findings import SEVERITY_WORDS
from analyzer.reportcmd import capture_info
from analyzer.textsafe import safe

TOP = 10


def protocol_table(cap: Any) -> Table:
    """Frames and bytes per Protocol column value of the summary (transport level)."""
    cols = cap.cols
    lengths = np.asarray(cap.index.origlens, np.int64)
    frames = np.bincount(cols.protocol, minlength=len(cols.protocol_names))
    octets = np.bincount(cols.protocol, weights=lengths, minlength=len(cols.protocol_names))
    t = Table(title="Protocols", box=None, title_justify="left")
    for name in ("Protocol", "Frames", "%", "Bytes"):
        t.add_column(name, justify="left" if name == "Protocol" else "right")
    total = max(1, int(frames.sum()))
    for i in np.argsort(-frames, kind="stable").tolist():
        if frames[i]:
            t.add_row(safe(cols.protocol_names[i]), str(int(frames[i])),
                      f"{100 * frames[i] / total:.1f}", str(int(octets[i])))
    return t


def talkers_table(cap: Any) -> Table:
    """The endpoints that sent the most bytes (IPv4 and IPv6 sources)."""
    cols = cap.cols
    ip = np.flatnonzero(cols.ipver != 0)
    t = Table(title=f"Top {TOP} senders", box=None, title_justify="left")
    for name in ("Address", "Frames", "Bytes"):
        t.add_column(name, justify="left" if name == "Address" else "right")
    if not len(ip):
        return t
    key = cols.ipver[ip].astype(np.uint64) << np.uint64(32) | cols.src[ip].astype(np.uint64)
    uniq, inv = np.unique(key, return_inverse=True)
    octets = np.bincount(inv, weights=np.asarray(cap.index.origlens, np.int64)[ip])
    frames = np.bincount(inv)
    first = np.zeros(len(uniq), np.int64)
    first[inv[::-1]] = ip[::-1]
    for u in np.argsort(-octets, kind="stable")[:TOP].tolist():
        addr = columns.address_str(cols.address(int(first[u]), "src"))
        t.add_row(addr, str(int(frames[u])), str(int(octets[u])))
    return t


def summary_text(cap: Any) -> Text:
    info = capture_info(cap)
    conv = cap.conversations
    ntcp = int(np.count_nonzero(conv.proto == 6))
    out = Text()
    out.append(safe(info["file"]) + "\n", Style(bold=True))
    out.append(f"{info['packets']} frames, {int(np.sum(cap.index.origlens, dtype=np.int64))} "
               f"bytes over {info['duration']:.3f} s")
    if info["first"]:
        out.append(f" ({info['first']} to {info['last']})")
    out.append(f"\n{ntcp} TCP and {len(conv) - ntcp} UDP conversations\n")
    counts: dict[str, int] = {}
    for f in cap.findings:
        counts[SEVERITY_WORDS[f.level]] = counts.get(SEVERITY_WORDS[f.level], 0) + 1
    out.append("Findings: " + (", ".join(f"{n} {w}" for w, n in counts.items()) or "none"))
    return out


class StatsScreen(Screen):
    BINDINGS = [Binding("escape,q,s", "app.pop_screen", "Back")]

    def __init__(self, cap: Any) -> None:
        super().__init__()
        self.cap = cap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="stats-body"):
            yield Static(summary_text(self.cap))
            yield Static(protocol_table(self.cap))
            yield Static(talkers_table(self.cap))
        yield Footer()
