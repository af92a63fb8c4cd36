"""The hex/ASCII pane: the bytes of the selected frame, the selected field's bytes
highlighted; clicking a byte selects the field that covers it.

A frame can have several data sources (reassembled buffers, pkt.sources): the pane shows
the one the selected field points into. Non-printable bytes show as dots, so nothing from
the packet reaches the terminal as a control character.
"""
from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

HIGHLIGHT = Style(reverse=True, bold=True)
OFFSET = Style(dim=True)


class HexView(ScrollView, can_focus=True):
    """offset  hex bytes  ascii, 16 bytes a line (8 when the pane is narrow)."""

    class ByteClicked(Message):
        """The user clicked byte `offset` of data source `src`."""

        def __init__(self, src: int, offset: int) -> None:
            super().__init__()
            self.src = src
            self.offset = offset

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sources: list[tuple[str, bytes]] = []
        self.src = 0
        self.span = (0, 0)        # highlighted [start, end) in the current source

    @property
    def data(self) -> bytes:
        return self.sources[self.src][1] if self.sources else b""

    @property
    def per_line(self) -> int:
        return 16 if self.size.width >= 75 else 8

    def show(self, frame: bytes, extra: list[tuple[str, bytes]]) -> None:
        self.sources = [("Frame", frame), *extra]
        self.src, self.span = 0, (0, 0)
        self._resize()
        self.scroll_to(y=0, animate=False)

    def highlight(self, src: int, pos: int, size: int) -> None:
        """Highlight size bytes at pos of data source src and scroll them into view."""
        if not 0 <= src < len(self.sources):
            src, pos, size = 0, 0, 0
        self.src, self.span = src, (pos, pos + max(0, size))
        self._resize()
        if size:
            line = pos // self.per_line + 1
            top = int(self.scroll_offset.y)
            if not top <= line < top + self.size.height:
                self.scroll_to(y=max(0, line - 1), animate=False)
        self.refresh()

    def _resize(self) -> None:
        lines = (len(self.data) + self.per_line - 1) // self.per_line + 1
        self.virtual_size = Size(self.size.width, lines)
        self.refresh()

    def on_resize(self) -> None:
        self._resize()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        n = self.per_line
        if y == 0 and self.sources:
            name, blob = self.sources[self.src]
            title = f"{name} ({len(blob)} bytes)"
            return Strip([Segment(title[:width].ljust(width), Style(bold=True))], width)
        line = int(self.scroll_offset.y) + y - 1
        data = self.data
        start = line * n
        if line < 0 or start >= len(data):
            return Strip.blank(width)
        chunk = data[start:start + n]
        lo, hi = self.span
        segs = [Segment(f"{start:04x}  ", OFFSET)]
        for i, b in enumerate(chunk):
            at = start + i
            style = HIGHLIGHT if lo <= at < hi else Style()
            sep = " " if i != n // 2 - 1 else "  "
            segs.append(Segment(f"{b:02x}", style))
            segs.append(Segment(sep, style if lo <= at + 1 < hi and i != len(chunk) - 1
                                else Style()))
        pad = (n - len(chunk)) * 3 + (1 if len(chunk) < n // 2 else 0)
        segs.append(Segment(" " * pad + " "))
        for i, b in enumerate(chunk):
            at = start + i
            ch = chr(b) if 32 <= b < 127 else "."
            segs.append(Segment(ch, HIGHLIGHT if lo <= at < hi else Style()))
        return Strip(segs).crop(0, width).extend_cell_length(width)

    def on_click(self, event) -> None:
        """Map the clicked column to a byte (hex or ASCII part)."""
        line = int(self.scroll_offset.y) + event.y - 1
        if line < 0:
            return
        n = self.per_line
        x = event.x - 6
        hex_width = n * 3 + 1
        if 0 <= x < hex_width:
            i = (x - (1 if x > n // 2 * 3 else 0)) // 3
        elif hex_width <= x < hex_width + n:
            i = x - hex_width
        else:
            return
        offset = line * n + max(0, min(i, n - 1))
        if offset < len(self.data):
            self.post_message(self.ByteClicked(self.src, offset))
