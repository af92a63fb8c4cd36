"""The Conversations view: TCP and UDP conversations with the facts a backend engineer
sorts by (bytes, duration, state, handshake RTT, retransmissions, zero-window time).
Enter returns the stream so the packet list can show it."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from analyzer.reportcmd import conversation_rows
from analyzer.textsafe import safe

# column title, row key, sort key
COLUMNS: list[tuple[str, str]] = [
    ("Stream", "stream"), ("Proto", "proto"), ("Client", "client"), ("Server", "server"),
    ("State", "state"), ("Packets", "packets"), ("Bytes", "bytes"), ("Duration", "duration"),
    ("RTT ms", "handshake_rtt_ms"), ("Rtx", "retransmissions"), ("ZeroWin ms", "zero_window_ms"),
    ("RST", "rst_from"),
]
SORT_KEYS = {"b": "bytes", "d": "duration", "s": "state", "r": "handshake_rtt_ms",
             "x": "retransmissions", "z": "zero_window_ms", "n": "stream"}


def _sort_value(row: dict[str, Any], key: str) -> Any:
    v = row[key]
    if v is None:
        return -1.0
    return v


class ConversationsScreen(Screen):
    """Sortable by a key (b bytes, d duration, s state, r RTT, x retransmissions,
    z zero-window time, n stream) or by clicking a column heading."""

    BINDINGS = [Binding("escape,q,c", "app.pop_screen", "Back"),
                Binding("enter", "pick", "Show stream"),
                *[Binding(k, f"sort('{v}')", f"Sort {v}", show=k in "bdrx")
                  for k, v in SORT_KEYS.items()]]

    def __init__(self, cap: Any) -> None:
        super().__init__()
        self.cap = cap
        self.rows = conversation_rows(cap, range(len(cap.conversations)))
        for r in self.rows:
            r["bytes"] = r["bytes_c2s"] + r["bytes_s2c"]
        self.sort_key = "stream"
        self.descending = False

    def compose(self) -> ComposeResult:
        ntcp = sum(1 for r in self.rows if r["proto"] == "tcp")
        yield Static(Text(f"Conversations: {ntcp} TCP, {len(self.rows) - ntcp} UDP"),
                     id="conv-head")
        yield DataTable(id="conv-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for title, key in COLUMNS:
            table.add_column(title, key=key)
        self._fill()
        table.focus()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.rows.sort(key=lambda r: _sort_value(r, self.sort_key), reverse=self.descending)
        for r in self.rows:
            rtt = f"{r['handshake_rtt_ms']:.1f}" if r["handshake_rtt_ms"] is not None else "-"
            table.add_row(str(r["stream"]), r["proto"], Text(safe(r["client"])),
                          Text(safe(r["server"])), r["state"] or "-", str(r["packets"]),
                          str(r["bytes"]), f"{r['duration']:.3f}", rtt,
                          str(r["retransmissions"]), f"{r['zero_window_ms']:.0f}",
                          r["rst_from"] or "-")

    def action_sort(self, key: str) -> None:
        """Sort by key; the same key again flips the order. Numbers sort largest first."""
        if key == self.sort_key:
            self.descending = not self.descending
        else:
            self.sort_key, self.descending = key, key not in ("stream", "state")
        self._fill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        self.action_sort("bytes" if key == "bytes" else key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_pick()

    def action_pick(self) -> None:
        if not self.rows:
            return
        r = self.rows[self.query_one(DataTable).cursor_row]
        self.dismiss((r["proto"], r["stream"]))
