"""Go to frame (`:` or ctrl+g): a one-line prompt for a frame number."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Input


class GoToScreen(ModalScreen[int | None]):
    """Returns the frame row (number - 1) or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        yield Input(placeholder=f"Go to frame (1-{self.total})", id="goto-input",
                    validators=[Integer(minimum=1, maximum=max(1, self.total))])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.app.bell()
            return
        self.dismiss(int(event.value) - 1)

    def action_cancel(self) -> None:
        self.dismiss(None)
