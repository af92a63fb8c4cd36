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


def _line_width(n: int) -> int:
    """Cells a line of n bytes takes: offset, hex (a middle gap at 16), ASCII."""
    return 5 + 3 * n + (1 if n == 16 else 0) + 1 + n


class HexView(ScrollView, can_focus=True):
    """offset, hex bytes, ASCII: 16 bytes a line (8 when the pane is narrow)."""

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
        """16 bytes a line when they fit, else 8 (or 4 in a very narrow pane)."""
        width = self.scrollable_content_region.width
        return next((n for n in (16, 8) if _line_width(n) <= width), 4)

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
        segs = [Segment(f"{start:04x} ", OFFSET)]
        for i in range(n):
            at = start + i
            style = HIGHLIGHT if lo <= at < hi else Style()
            text = f"{chunk[i]:02x}" if i < len(chunk) else "  "
            gap = " " if n == 16 and i == 7 else ""
            segs.append(Segment(" ", style if lo < at < hi and i else Style()))
            segs.append(Segment(text, style if i < len(chunk) else Style()))
            if gap:
                segs.append(Segment(gap))
        segs.append(Segment(" "))
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
        x = event.x - 5                     # after "0000 "
        hex_width = 3 * n + (1 if n == 16 else 0)
        if 0 <= x < hex_width:
            if n == 16 and x >= 24:
                x -= 1
            i = x // 3
        elif hex_width + 1 <= x < hex_width + 1 + n:
            i = x - hex_width - 1
        else:
            return
        offset = line * n + max(0, min(i, n - 1))
        if offset < len(self.data):
            self.post_message(self.ByteClicked(self.src, offset))
