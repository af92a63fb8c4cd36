"""The field reference: every registered field and finding, searchable, with its
explanation (the same registry the details tree, filters and `read -e` use)."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from dissectors.fields import EXPERTS, REGISTRY
from dissectors.tree import Node

from .explain import explain_text

LIMIT = 500   # rows listed at once; the search narrows the rest


class FieldRefScreen(Screen):
    """Type to search names, filter names and explanations."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search fields and findings", id="ref-search")
        yield DataTable(id="ref-table", cursor_type="row")
        yield Static(id="ref-explain")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Filter name", "Name", "Kind")
        self._fill("")

    def _fill(self, query: str) -> None:
        q = query.lower()
        table = self.query_one(DataTable)
        table.clear()
        self.keys: list[str] = []
        for abbrev in sorted(REGISTRY):
            spec = REGISTRY[abbrev]
            if q and q not in abbrev.lower() and q not in spec.name.lower() and \
                    q not in spec.explain.lower() and q not in spec.blurb.lower():
                continue
            kind = "finding" if abbrev in EXPERTS else spec.ftype.name.lower()
            table.add_row(abbrev, Text(spec.name), kind)
            self.keys.append(abbrev)
            if len(self.keys) >= LIMIT:
                break
        self._explain(0)

    def _explain(self, i: int) -> None:
        box = self.query_one("#ref-explain", Static)
        if not 0 <= i < len(self.keys):
            box.update("Nothing matches.")
            return
        abbrev = self.keys[i]
        node = Node(REGISTRY[abbrev], 0, 0)
        node.expert = EXPERTS.get(abbrev)
        box.update(explain_text(node, []))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._explain(event.cursor_row)
