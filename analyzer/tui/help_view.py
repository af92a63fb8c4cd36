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


KEY_NAMES = {"question_mark": "?", "colon": ":", "apostrophe": "'", "asterisk": "*",
             "minus": "-", "full_stop": ".", "slash": "/"}


def key_text(keys: str) -> str:
    """A binding's keys as a user types them ("question_mark" is "?")."""
    return ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def bindings_table(groups: list[tuple[str, list[Binding]]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for title, bindings in groups:
        table.add_row(Text(title, style="bold underline"), "")
        for b in bindings:
            table.add_row(key_text(b.key), b.description or b.action)
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
