"""TLS handshakes (`T`): one line per TLS connection the first pass saw: version, cipher,
server name, ALPN, handshake time, alerts; sortable (h handshake time, s stream); Enter
goes to the ClientHello."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from analyzer.textsafe import safe


def _first_frame(h: Any) -> int:
    return min(h.frames.values()) if h.frames else 0


class TlsScreen(Screen):
    BINDINGS = [Binding("escape,q,T", "app.pop_screen", "Back"),
                Binding("enter", "jump", "Go to handshake"),
                Binding("h", "sort('time')", "Sort handshake time"),
                Binding("s", "sort('stream')", "Sort stream")]

    def __init__(self, cap: Any) -> None:
        super().__init__()
        self.hs = list(cap.tls.handshakes) if cap.tls is not None else []
        self.sort_key, self.descending = "stream", False

    def compose(self) -> ComposeResult:
        failed = sum(1 for h in self.hs if h.alerts)
        yield Static(Text(f"TLS handshakes: {len(self.hs)}, {failed} with alerts"),
                     id="tls-head")
        yield DataTable(id="tls-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Stream", "Server name", "Version", "ms", "ALPN", "Cipher",
                          "Alerts", "Client", "Server")
        self._fill()
        table.focus()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        if self.sort_key == "time":
            self.hs.sort(key=lambda h: h.handshake_ms if h.handshake_ms is not None
                         else float("inf"), reverse=self.descending)
        else:
            self.hs.sort(key=lambda h: h.stream, reverse=self.descending)
        for h in self.hs:
            alerts = ", ".join(f"{a.sender} {a.name}" for a in h.alerts)
            table.add_row(str(h.stream), Text(safe(h.sni) or "-"), h.version or "-",
                          f"{h.handshake_ms:.1f}" if h.handshake_ms is not None else "-",
                          Text(safe(h.alpn) or "-"), h.cipher or "-", Text(safe(alerts) or "-"),
                          Text(safe(h.client)), Text(safe(h.server)))

    def action_sort(self, key: str) -> None:
        if key == self.sort_key:
            self.descending = not self.descending
        else:
            self.sort_key, self.descending = key, key == "time"
        self._fill()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_jump(self) -> None:
        if not self.hs:
            return
        h = self.hs[self.query_one(DataTable).cursor_row]
        if _first_frame(h):
            self.dismiss(_first_frame(h) - 1)
