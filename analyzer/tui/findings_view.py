"""The Findings view (Wireshark's expert info): findings grouped by severity and id, with
counts; Enter jumps to the finding's first frame in the packet list."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from analyzer.engine.findings import SEVERITY_WORDS, Finding
from analyzer.textsafe import safe

from .details import SEVERITY_STYLES
from .explain import explain_text


class FindingsScreen(Screen):
    """One line per finding, most severe first; the explain box shows the selected one."""

    BINDINGS = [Binding("escape,q,e", "app.pop_screen", "Back"),
                Binding("enter", "jump", "Go to frame")]

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings

    def compose(self) -> ComposeResult:
        counts: dict[tuple[int, str], int] = {}
        for f in self.findings:
            counts[(int(f.level), f.id)] = counts.get((int(f.level), f.id), 0) + 1
        head = ", ".join(f"{n}× {fid} ({SEVERITY_WORDS[lvl]})" for (lvl, fid), n in
                         sorted(counts.items(), key=lambda kv: (-kv[0][0], kv[0][1])))
        yield Static(Text(f"Findings ({len(self.findings)}): " + (head or "none")),
                     id="findings-head")
        yield DataTable(id="findings-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="findings-explain")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Severity", "Id", "Stream", "Frames", "Summary")
        ordered = sorted(self.findings, key=lambda f: (-int(f.level), f.id,
                                                       f.frames[0] if f.frames else 0))
        self.findings = ordered
        for i, f in enumerate(ordered):
            sev = Text(SEVERITY_WORDS[f.level], SEVERITY_STYLES.get(f.level, ""))
            table.add_row(sev, f.id, str(f.stream) if f.stream >= 0 else "-",
                          str(len(f.frames)), Text(safe(f.summary)), key=str(i))
        table.focus()
        self._explain(0)

    def _explain(self, i: int) -> None:
        if not self.findings:
            self.query_one("#findings-explain", Static).update("No findings.")
            return
        f = self.findings[i]
        from dissectors.tree import Node
        node = Node(None, 0, 0)
        node.expert = f.spec
        self.query_one("#findings-explain", Static).update(explain_text(node, [f]))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._explain(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_jump(self) -> None:
        table = self.query_one(DataTable)
        if not self.findings:
            return
        f = self.findings[table.cursor_row]
        if f.frames:
            self.dismiss(f.frames[0] - 1)
