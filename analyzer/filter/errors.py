"""The one error a display filter can raise: a message and where in the text it points."""
from __future__ import annotations


class FilterError(ValueError):
    """A filter that cannot be compiled.

    `str()` is three lines: the message, the filter text, and a caret line (`^~~~`) under the
    offending part, so a CLI that prints `wirelens: {error}` shows the caret right under the
    problem. The TUI, which already shows the text in its filter bar, uses `message` and
    `caret_line()`.
    """

    def __init__(self, message: str, text: str, pos: int, length: int = 1) -> None:
        self.message = message
        self.text = text
        self.pos = max(0, min(pos, len(text)))
        self.length = max(1, length)
        super().__init__(f"{message}\n{text}\n{self.caret_line()}")

    def caret_line(self) -> str:
        return " " * self.pos + "^" + "~" * (self.length - 1)


class FilterCancelled(Exception):
    """select() was cancelled by its caller (the TUI's filter worker)."""


__all__ = ["FilterCancelled", "FilterError"]
