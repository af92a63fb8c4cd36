"""Follow TCP stream (`F`): the payload of the selected frame's TCP connection, client
bytes and server bytes in capture order, coloured by direction, as Wireshark's
"Follow TCP Stream". Retransmitted segments are left out (their bytes came before).

Every byte goes through safe_block (control characters shown as escapes); non-UTF-8
bytes are shown as replacement characters.
"""
from __future__ import annotations

import threading

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from analyzer.engine import tcp_analysis as ta
from analyzer.engine.summary import INNER, TRANSPORT
from analyzer.textsafe import safe, safe_block

from .store import Store

RESENT = ta.RETRANSMISSION | ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION
MAX_BYTES = 4 << 20     # shown at most; the rest is counted
SIDES = (Style(color="red"), Style(color="blue"))


def stream_rows(store: Store, stream: int) -> np.ndarray:
    """Rows of one TCP stream's own segments (not ICMP errors quoting it)."""
    cols = store.cap.cols
    return np.flatnonzero((cols.stream == stream) & (cols.ip_proto == 6)
                          & ((cols.flags & (TRANSPORT | INNER)) == TRANSPORT))


def stream_chunks(store: Store, stream: int, cancel: threading.Event | None = None
                  ) -> tuple[list[tuple[int, bytes]], int]:
    """(direction 0 = first sender / 1, payload) per segment with data, and the total."""
    chunks: list[tuple[int, bytes]] = []
    total = 0
    bits = store.cap.tcp_bits
    direction = store.cap.tcp.direction
    for row in stream_rows(store, stream).tolist():
        if cancel is not None and cancel.is_set():
            break
        if bits[row] & RESENT or int(store.cap.cols.plen[row]) == 0:
            continue
        root, pkt, data = store.dissect(row, tree=True)
        tcp = next((n for n in root.children or () if n.spec is not None
                    and n.spec.abbrev == "tcp"), None)
        if tcp is None or pkt.tcp is None:
            continue
        start = tcp.pos + pkt.tcp.hdr_len
        payload = data[start:start + pkt.tcp.len]
        total += len(payload)
        if total <= MAX_BYTES:
            chunks.append((int(direction[row]) - 1, payload))
    return chunks, total


def follow_text(chunks: list[tuple[int, bytes]]) -> Text:
    out = Text()
    for side, payload in chunks:
        out.append(safe_block(payload.decode("utf-8", "replace")), SIDES[side & 1])
        if not payload.endswith(b"\n"):
            out.append("\n")
    return out


class FollowScreen(Screen):
    """The conversation's bytes; the heading says who is who."""

    BINDINGS = [Binding("escape,q,F", "app.pop_screen", "Back")]

    def __init__(self, store: Store, stream: int, title: str) -> None:
        super().__init__()
        self.store = store
        self.stream = stream
        self.title_text = title
        self.cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(Text(safe(self.title_text)), id="follow-head")
        with VerticalScroll(id="follow-body"):
            yield Static("Reading the stream…", id="follow-text")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._load, thread=True, exit_on_error=False)

    def _load(self) -> None:
        chunks, total = stream_chunks(self.store, self.stream, self.cancel)
        text = follow_text(chunks)
        if total > MAX_BYTES:
            text.append(f"\n[{total - MAX_BYTES} more bytes not shown]\n", Style(dim=True))
        if not chunks:
            text = Text("This connection carried no payload.")
        self.app.call_from_thread(self.query_one("#follow-text", Static).update, text)

    def on_unmount(self) -> None:
        self.cancel.set()
