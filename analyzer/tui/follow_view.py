"""Follow stream (`F`): the payload of the selected frame's TCP or UDP stream, client (or
first sender) and server bytes in capture order, coloured by direction, as Wireshark's
"Follow TCP/UDP Stream". Retransmitted TCP segments are left out (their bytes came before).

`x` switches between ASCII (printable text; other bytes as dots, like Wireshark) and a hex
dump with per-direction offsets. TLS records are labelled where the dissector found them
("TLS Handshake: Client Hello, 512 bytes", "TLS Application Data, 1,234 bytes"), from the
frames' dissection trees: the frames are dissected (and the text built) in a worker, never
on the UI thread. Nothing from the packet reaches the terminal as a control character.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

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
from analyzer.textsafe import safe
from dissectors.tls_names import ALERTS, CONTENT_TYPES, HANDSHAKE_TYPES
from dissectors.tree import Node

from .store import Store

RESENT = ta.RETRANSMISSION | ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION
MAX_BYTES = 4 << 20     # read at most; the rest is counted
MAX_HEX = 256 << 10     # bytes shown as a hex dump at most (four lines of text per 64 bytes)
SIDES = (Style(color="red"), Style(color="blue"))
LABEL = Style(italic=True, bold=True)
PROTOS = {"tcp": 6, "udp": 17}
# byte -> itself when printable ASCII, else "." (tab and newline kept in the ASCII view)
_TEXT = bytes(b if 32 <= b < 127 or b in (9, 10, 13) else 46 for b in range(256))
_DUMP = bytes(b if 32 <= b < 127 else 46 for b in range(256))
_TEXTUAL = bytes(range(32, 127)) + b"\t\n\r"


@dataclass
class Chunk:
    """One segment's or datagram's payload, its direction (0 client / first sender,
    1 server) and the TLS records the dissector completed in that frame."""

    side: int
    row: int
    payload: bytes
    labels: list[str] = field(default_factory=list)


def stream_rows(store: Store, proto: str, stream: int) -> np.ndarray:
    """Rows of one TCP or UDP stream's own packets (not ICMP errors quoting them)."""
    cols = store.cap.cols
    return np.flatnonzero((cols.stream == stream) & (cols.ip_proto == PROTOS[proto])
                          & ((cols.flags & (TRANSPORT | INNER)) == TRANSPORT))


def _layer(root: Node, abbrev: str) -> Node | None:
    return next((n for n in root.children or () if n.spec is not None
                 and n.spec.abbrev == abbrev), None)


def tls_labels(root: Node) -> list[str]:
    """One label per TLS record the frame's tree shows: content type, handshake messages or
    alert, and the record's length."""
    out = []
    for layer in root.children or ():
        if layer.spec is None or layer.spec.abbrev != "tls":
            continue
        for rec in layer.children or ():
            if rec.spec is None or rec.spec.abbrev != "tls.record":
                continue
            ctype, length, parts = None, None, []
            for n in rec.walk():
                a = n.spec.abbrev if n.spec is not None else ""
                if a in ("tls.record.content_type", "tls.record.opaque_type") and ctype is None:
                    ctype = n.value
                elif a == "tls.record.length" and length is None:
                    length = n.value
                elif a == "tls.handshake.type":
                    parts.append(HANDSHAKE_TYPES.get(n.value, f"type {n.value}"))
                elif a == "tls.alert_message.desc":
                    parts.append(ALERTS.get(n.value, f"alert {n.value}"))
            name = CONTENT_TYPES.get(ctype, f"content type {ctype}") if ctype is not None \
                else "record"
            label = f"TLS {name}" + (": " + ", ".join(parts) if parts else "")
            if isinstance(length, int):
                label += f", {length:,} bytes"
            out.append(label)
    return out


def stream_chunks(store: Store, proto: str, stream: int,
                  cancel: threading.Event | None = None) -> tuple[list[Chunk], int]:
    """The stream's payloads in capture order, and their total size."""
    cap = store.cap
    cols = cap.cols
    rows = stream_rows(store, proto, stream)
    chunks: list[Chunk] = []
    total = 0
    if not len(rows):
        return chunks, 0
    if proto == "tcp":
        client_dir = int(cap.flows.client_dir[stream]) if cap.flows is not None and \
            stream < len(cap.flows) else 1
        side_of = (cap.tcp.direction[rows] != client_dir).astype(np.int8)
    else:       # the first sender is the "client"
        first = int(rows[0])
        key = (cols.src[rows].astype(np.int64) << 16) | cols.sport[rows]
        side_of = (key != ((int(cols.src[first]) << 16) | int(cols.sport[first]))).astype(
            np.int8)
    for row, side in zip(rows.tolist(), side_of.tolist()):
        if cancel is not None and cancel.is_set():
            break
        if proto == "tcp" and (cap.tcp_bits[row] & RESENT or int(cols.plen[row]) == 0):
            continue
        root, pkt, data = store.dissect(row, tree=True)
        payload = _payload(root, pkt, data, proto)
        if payload is None:
            continue
        labels = tls_labels(root) if proto == "tcp" else []
        if not payload and not labels:
            continue
        total += len(payload)
        if total <= MAX_BYTES:
            chunks.append(Chunk(side, row, payload, labels))
    return chunks, total


def _payload(root: Node | None, pkt: Any, data: bytes, proto: str) -> bytes | None:
    if root is None:
        return None
    layer = _layer(root, proto)
    if layer is None or layer.src != 0:
        return None
    if proto == "tcp":
        if pkt.tcp is None:
            return None
        start = layer.pos + pkt.tcp.hdr_len
        return data[start:start + max(0, pkt.tcp.len)]
    if pkt.udp is None:
        return None
    start = layer.pos + 8
    return data[start:start + max(0, pkt.udp.payload_len)]


def _labels(out: Text, chunk: Chunk) -> None:
    for label in chunk.labels:
        out.append(f"[{safe(label)}]\n", LABEL + SIDES[chunk.side & 1])


def _binary(payload: bytes) -> bool:
    """Mostly not text (encrypted records, binary protocols): a tenth of the bytes or more
    outside printable ASCII and whitespace."""
    odd = len(payload.translate(None, _TEXTUAL))
    return odd * 10 >= len(payload)


def ascii_text(chunks: list[Chunk]) -> Text:
    """Printable ASCII, tabs and newlines as they are; every other byte a dot (as
    Wireshark's ASCII view), so no byte can act on the terminal. In binary payloads tabs and
    newlines are dots too, so the noise stays in compact lines."""
    out = Text()
    for c in chunks:
        _labels(out, c)
        if not c.payload:
            continue
        text = c.payload.translate(_DUMP) if _binary(c.payload) else \
            c.payload.translate(_TEXT, b"\r")
        out.append(text.decode("ascii"), SIDES[c.side & 1])
        if not c.payload.endswith(b"\n"):
            out.append("\n")
    return out


def hex_text(chunks: list[Chunk], limit: int = MAX_HEX) -> Text:
    """A hex dump, 16 bytes a line, offsets counted per direction (as Wireshark's "Hex
    Dump"); the server's lines are indented so the two sides read apart."""
    out = Text()
    offsets = [0, 0]
    shown = 0
    for c in chunks:
        _labels(out, c)
        style = SIDES[c.side & 1]
        indent = "    " if c.side else ""
        for k in range(0, len(c.payload), 16):
            if shown >= limit:
                out.append(f"[hex dump stops after {limit:,} bytes; x shows ASCII]\n",
                           Style(dim=True))
                return out
            line = c.payload[k:k + 16]
            hexes = " ".join(f"{b:02x}" for b in line)
            out.append(f"{indent}{offsets[c.side & 1] + k:08x}  {hexes:<47}  "
                       f"{line.translate(_DUMP).decode('ascii')}\n", style)
            shown += len(line)
        offsets[c.side & 1] += len(c.payload)
    return out


class FollowScreen(Screen):
    """The conversation's bytes; the heading says who is who."""

    BINDINGS = [Binding("escape,q,F", "app.pop_screen", "Back"),
                Binding("x", "toggle_hex", "ASCII/hex")]

    def __init__(self, store: Store, stream: int, title: str, proto: str = "tcp") -> None:
        super().__init__()
        self.store = store
        self.proto = proto
        self.stream = stream
        self.title_text = title
        self.cancel = threading.Event()
        self.hex = False
        self.chunks: list[Chunk] | None = None
        self.total = 0

    def compose(self) -> ComposeResult:
        yield Static(Text(safe(self.title_text)), id="follow-head")
        with VerticalScroll(id="follow-body"):
            yield Static("Reading the stream…", id="follow-text")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._load, thread=True, exit_on_error=False, group="follow")

    def _load(self) -> None:
        if self.chunks is None:
            self.chunks, self.total = stream_chunks(self.store, self.proto, self.stream,
                                                    self.cancel)
        chunks = self.chunks
        if not chunks:
            text = Text("This stream carried no payload.")
        else:
            text = hex_text(chunks) if self.hex else ascii_text(chunks)
            if self.total > MAX_BYTES:
                text.append(f"\n[{self.total - MAX_BYTES:,} more bytes not shown]\n",
                            Style(dim=True))
        if not self.cancel.is_set():
            self.app.call_from_thread(self.query_one("#follow-text", Static).update, text)

    def action_toggle_hex(self) -> None:
        """x: ASCII <-> hex dump (the payloads are read once; only the text is rebuilt)."""
        if self.chunks is None:
            return
        self.hex = not self.hex
        self.run_worker(self._load, thread=True, exit_on_error=False, group="follow")

    def on_unmount(self) -> None:
        self.cancel.set()
