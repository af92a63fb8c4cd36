"""The help screen (`?`): every key of the main screen and the views, from the bindings
themselves so it cannot drift from what the keys do."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def bindings_table(groups: list[tuple[str, list[Binding]]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for title, bindings in groups:
        table.add_row(Text(title, style="bold underline"), "")
        for b in bindings:
            keys = ", ".join(k.strip() for k in b.key.split(","))
            table.add_row(keys, b.description or b.action)
    return table


class HelpScreen(ModalScreen):
    """Keys, grouped by where they work."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, groups: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("wirelens keys (Esc closes)", style="bold"))
            yield Static(bindings_table(self.groups))
