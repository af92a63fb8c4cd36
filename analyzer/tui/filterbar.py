"""The display-filter bar (`/`): Wireshark's filter language, checked as you type.

Green when the text compiles, red with the message and a caret under the problem when it
does not; the last word completes to a registered field name (right arrow accepts);
up/down walk the history. Enter applies it: the app runs DisplayFilter.select in a worker.
"""
from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Static

from analyzer.filter import DisplayFilter, FilterError, compile_filter
from dissectors.fields import FT, REGISTRY, fields_value
from dissectors.tree import Node

_LAST_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*$")


class FieldSuggester(Suggester):
    """Completes the word under the cursor to the first registered field name it starts."""

    def __init__(self) -> None:
        super().__init__(use_cache=True, case_sensitive=True)
        self.names = sorted(REGISTRY)

    async def get_suggestion(self, value: str) -> str | None:
        m = _LAST_WORD.search(value)
        if m is None:
            return None
        word = m.group()
        for name in self.names:
            if name.startswith(word) and name != word:
                return value[:m.start()] + name
        return None


def check(text: str) -> FilterError | None:
    """None when text is empty or compiles; the error otherwise."""
    if not text.strip():
        return None
    try:
        compile_filter(text)
    except FilterError as e:
        return e
    return None


def filter_for(node: Node) -> str:
    """"Apply as filter" for a tree item: the field equal to its value, or the field's
    presence for protocols, labels without a value and expert items."""
    spec = node.spec
    if spec is None:
        return ""
    if node.expert is not None or spec.ftype in (FT.PROTOCOL, FT.NONE) or node.value is None:
        return spec.abbrev
    value = fields_value(spec, node.value)
    if spec.ftype in (FT.STRING, FT.ABSOLUTE_TIME):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{spec.abbrev} == {value}"


class FilterBar(Vertical):
    """The input and, under it, what is wrong with the text (when something is)."""

    BINDINGS = [Binding("escape", "close", "Close filter", show=False),
                Binding("up", "history(-1)", "Older filter", show=False),
                Binding("down", "history(1)", "Newer filter", show=False)]

    class Applied(Message):
        """Enter on a valid filter (None: show every frame again)."""

        def __init__(self, flt: DisplayFilter | None, text: str) -> None:
            super().__init__()
            self.flt = flt
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[str] = []
        self._at = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="display filter, e.g. tcp.analysis.flags || dns.flags.rcode != 0",
                    suggester=FieldSuggester(), id="filter-input")
        yield Static(id="filter-error")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, text: str | None = None) -> None:
        self.display = True
        if text is not None:
            self.input.value = text
            self.input.cursor_position = len(text)
        self._at = len(self.history)
        self.input.focus()

    def action_close(self) -> None:
        self.display = False
        self.app.query_one("#packets").focus()

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._at = max(0, min(len(self.history), self._at + step))
        self.input.value = self.history[self._at] if self._at < len(self.history) else ""
        self.input.cursor_position = len(self.input.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        err = check(event.value)
        self.input.set_class(err is None and bool(event.value.strip()), "-valid")
        self.input.set_class(err is not None, "-invalid")
        box = self.query_one("#filter-error", Static)
        if err is None:
            box.update("")
            box.display = False
            return
        # The input shows the text; under it, the caret lines up with it (the input's
        # border and padding take 3 cells) and the message follows.
        msg = Text(" " * 3 + err.caret_line() + "\n", Style(color="red", bold=True))
        msg.append(err.message, Style(color="red"))
        box.update(msg)
        box.display = True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.post_message(self.Applied(None, ""))
            self.action_close()
            return
        try:
            flt = compile_filter(text)
        except FilterError:
            self.app.bell()
            return
        if not self.history or self.history[-1] != text:
            self.history.append(text)
        self.post_message(self.Applied(flt, text))
        self.action_close()
