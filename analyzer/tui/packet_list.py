"""The packet list: a virtual ScrollView on Textual's Line API over the frame index.

Only the visible lines are rendered (render_line), each from the store's row cache, so
a million frames cost nothing until they are looked at. The list shows either every
frame or a `view` (rows a filter kept, as a numpy array).

On a live capture (`set_live`) the list follows new packets, the cursor on the newest,
until the user moves up; the heading then counts the packets that arrived since
("N new"), and End or G follows again. When frames leave the capture's ring, `shift`
moves the cursor, marks and filtered rows with the frames they were on.
"""
from __future__ import annotations

import os

import numpy as np
from rich.cells import split_text
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .rows import ALERTS, ANSI16, HEADINGS, TRUECOLOR, column_widths, line_text
from .store import Row, Store

TIME_FORMATS = ("r", "d", "dd", "a", "ad", "u", "ud", "e")
TIME_NAMES = {"r": "seconds since first frame", "d": "delta from previous captured",
              "dd": "delta from previous shown", "a": "local time of day",
              "ad": "local date and time", "u": "UTC time of day", "ud": "UTC date and time",
              "e": "seconds since epoch"}

MARKED = Style(color="white", bgcolor="black", bold=True)


def rule_styles(mode: str) -> dict[str, Style]:
    """Styles per colouring rule for a colour mode: truecolor, ansi16 or none (NO_COLOR:
    alerts in bold, nothing else)."""
    if mode == "none":
        return {name: Style(bold=True) for name in ALERTS}
    table = TRUECOLOR if mode == "truecolor" else ANSI16
    return {name: Style(color=fg, bgcolor=bg) for name, (fg, bg) in table.items()}


def colour_mode(color_system: str | None) -> str:
    """truecolor, ansi16 or none from the environment and the terminal's colours."""
    if os.environ.get("NO_COLOR") or color_system is None:
        return "none"
    return "truecolor" if color_system in ("truecolor", "256") else "ansi16"


class PacketList(ScrollView, can_focus=True):
    """No. | Time | Source | Destination | Protocol | Length | Info, one line per frame."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("m", "mark", "Mark"),
        Binding("apostrophe", "next_mark", "Next mark", show=False),
        Binding("t", "time_format", "Time fmt", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Selected(Message):
        """The cursor is on frame row `row` (0-based)."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, store: Store, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.view: np.ndarray | None = None      # rows shown; None: every frame
        self.marks: set[int] = set()
        self.time_format = "r"
        self.mode = "truecolor"
        self.palette: dict[str, Style] = {}
        self.live = False            # a live capture: follow new packets
        self.following = False
        self._left_at = 0            # frames captured when following stopped

    def on_mount(self) -> None:
        self.mode = colour_mode(self.app.console.color_system)
        self.palette = rule_styles(self.mode)
        self.sync()

    # --- model ---------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self.view) if self.view is not None else len(self.store)

    def row_at(self, pos: int) -> int:
        """Frame row shown at list position pos."""
        return int(self.view[pos]) if self.view is not None else pos

    def position_of(self, row: int) -> int:
        """List position of a frame row (the nearest shown one at or after it)."""
        if self.view is None:
            return min(row, max(self.count - 1, 0))
        return min(int(np.searchsorted(self.view, row)), max(self.count - 1, 0))

    @property
    def selected_row(self) -> int | None:
        return self.row_at(self.cursor) if self.count else None

    def set_view(self, view: np.ndarray | None) -> None:
        """Show only these rows (sorted), keeping the cursor on the same frame if shown."""
        row = self.selected_row
        self.view = view
        self.sync()
        self.cursor = self.position_of(row) if row is not None else 0
        self._follow()
        self.refresh()

    def sync(self) -> None:
        """Take in frames the index added since the last call (following them, live)."""
        height = self.count + 1
        have = self.virtual_size.height
        if self.live:
            # Live: grown ahead by doubling (a layout of the whole screen per tick would cost
            # the keys their speed); rows past the last frame are blank.
            height = have if height <= have else max(2 * have, height + 4096)
        if have != height or self.virtual_size.width != self.size.width:
            self.virtual_size = Size(self.size.width, height)
        if self.following and self.count:
            # No Selected message: the details pane stays put instead of dissecting every
            # newest packet (the user looks at one by moving up).
            self.set_reactive(PacketList.cursor, self.count - 1)
            self._follow()

    # --- live ----------------------------------------------------------------------------

    def set_live(self) -> None:
        """Follow new packets from now on (a live capture)."""
        self.live = self.following = True

    def _captured(self) -> int:
        return getattr(self.store, "last_number", len(self.store))

    @property
    def new_count(self) -> int:
        """Frames that arrived since the user stopped following."""
        return max(0, self._captured() - self._left_at) if self.live and \
            not self.following else 0

    def _stop_following(self) -> None:
        if self.following:
            self.following = False
            self._left_at = self._captured()

    def shift(self, rows: int) -> None:
        """The oldest `rows` frames left the window: every row number drops by that much;
        what was on them is gone."""
        if rows <= 0:
            return
        selected = self.selected_row
        self.marks = {m - rows for m in self.marks if m >= rows}
        if self.view is not None:
            self.view = self.view[self.view >= rows] - rows
        self.sync()
        if self.following:
            return
        if selected is not None and selected >= rows:
            pos = self.position_of(selected - rows)
        else:
            pos = 0
        top = max(0, int(self.scroll_offset.y) - (self.cursor - pos))
        self.set_reactive(PacketList.cursor, max(0, min(pos, self.count - 1)))
        self.scroll_to(y=top, animate=False, immediate=True)
        self._follow()
        if self.count:
            self.post_message(self.Selected(self.row_at(self.cursor)))
        self.refresh()

    # --- actions -------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        if self.count:
            self.post_message(self.Selected(self.row_at(new)))
        self.refresh()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def go(self, pos: int) -> None:
        if not self.count:
            return
        pos = max(0, min(pos, self.count - 1))
        if self.live:
            if pos < self.count - 1:
                self._stop_following()
            else:
                self.following = True     # onto the newest packet: follow again
        self.cursor = pos
        self._follow()

    def go_row(self, row: int) -> None:
        """Put the cursor on a frame row (or the next shown one)."""
        self.go(self.position_of(row))

    def _follow(self) -> None:
        """Scroll so the cursor's line is visible (line 0 is the heading)."""
        top = int(self.scroll_offset.y)
        body = max(1, self.scrollable_content_region.height - 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.go(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.go(self.cursor + direction * self._page())

    def action_first(self) -> None:
        self.go(0)

    def action_last(self) -> None:
        """End / G: the last frame; on a live capture, follow new ones again."""
        self.sync()
        self.go(self.count - 1)
        if self.live:
            self.following = True
            self.refresh()

    def action_mark(self) -> None:
        row = self.selected_row
        if row is None:
            return
        self.marks.symmetric_difference_update({row})
        self.refresh()

    def action_next_mark(self) -> None:
        """Jump to the next marked frame after the cursor, wrapping around."""
        row = self.selected_row
        if not self.marks or row is None:
            self.app.bell()
            return
        marks = sorted(self.marks)
        after = [m for m in marks if m > row]
        self.go_row(after[0] if after else marks[0])

    def action_time_format(self) -> None:
        i = TIME_FORMATS.index(self.time_format)
        self.time_format = TIME_FORMATS[(i + 1) % len(TIME_FORMATS)]
        self.notify(f"Time: {TIME_NAMES[self.time_format]}", timeout=2)
        self.refresh()

    def on_click(self, event) -> None:
        y = event.y
        if y >= 1:
            self.go(int(self.scroll_offset.y) + y - 1)

    # --- rendering -------------------------------------------------------------------------

    def _widths(self) -> list[int]:
        return column_widths(self.size.width, self._captured(), self.time_format)

    def render_lines(self, crop):
        with self.store.hold():
            return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        widths = self._widths()
        if y == 0:
            strip = self._strip(HEADINGS, widths, Style(bold=True, reverse=True), width)
            new = self.new_count
            if new:
                note = f" {new} new (End follows) "
                strip = Strip.join([strip.crop(0, max(0, width - len(note))),
                                    Strip([Segment(note, Style(bold=True, color="black",
                                                               bgcolor="yellow"))])])
                strip = strip.crop(0, width)
            return strip
        pos = int(self.scroll_offset.y) + y - 1
        if pos >= self.count:
            return Strip.blank(width)
        row = self.row_at(pos)
        prev = self.row_at(pos - 1) if pos > 0 else None
        r: Row = self.store.row(row, self.time_format, prev)
        style = self.palette.get(r.rule, Style())
        marked = row in self.marks
        if marked:
            style = MARKED if self.mode != "none" else Style(underline=True)
        if pos == self.cursor:
            style = style + Style(reverse=True, bold=True)
        no = f"{r.number}*" if marked else str(r.number)
        cells = (no, r.time, r.source, r.destination, r.protocol, str(r.length), r.info)
        return self._strip(cells, widths, style, width)

    def _strip(self, cells, widths: list[int], style: Style, width: int) -> Strip:
        """One line, `width` cells, in two segments where the vertical scrollbar covers its
        end: the screen cuts every line there, and rich cuts a segment whose text has a
        character outside its single-width set (→, …) through a cache of 16k cuts that
        would keep the last 16k lines shown alive (some 16 MB on a live capture)."""
        text = line_text(cells, widths, width)
        shown = self.scrollable_content_region.width
        if 0 < shown < width:
            left, right = split_text(text, shown)
            return Strip([Segment(left, style), Segment(right, style)], width)
        return Strip([Segment(text, style)], width)
