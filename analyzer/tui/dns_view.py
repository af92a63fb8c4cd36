"""DNS transactions (`D`): every query paired with its answer by the first pass, with the
lookup time, answer code and retries; sortable (l latency, n name, r rcode); Enter goes
to the query's first frame."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from analyzer import columns
from analyzer.textsafe import safe
from dissectors.dns import type_name
from dissectors.fields import REGISTRY

SORTS = {"l": "latency", "n": "name", "r": "rcode", "t": "time"}


def _rcode(tx: Any) -> str:
    if tx.rcode < 0:
        return "no answer"
    strings = REGISTRY["dns.flags.rcode"].strings or {}
    return strings.get(tx.rcode, str(tx.rcode))


def _latency_ms(tx: Any) -> float | None:
    return (tx.response_ts - tx.first_ts) / 1e6 if tx.response_frame else None


class DnsScreen(Screen):
    BINDINGS = [Binding("escape,q,D", "app.pop_screen", "Back"),
                Binding("enter", "jump", "Go to query"),
                *[Binding(k, f"sort('{v}')", f"Sort {v}") for k, v in SORTS.items()]]

    def __init__(self, cap: Any) -> None:
        super().__init__()
        self.txs = list(cap.dns.transactions) if cap.dns is not None else []
        self.sort_key, self.descending = "time", False

    def compose(self) -> ComposeResult:
        answered = sum(1 for t in self.txs if t.response_frame)
        yield Static(Text(f"DNS transactions: {len(self.txs)}, {answered} answered"),
                     id="dns-head")
        yield DataTable(id="dns-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Frame", "Name", "Type", "Answer", "ms", "Tries", "Client", "Server")
        self._fill()
        table.focus()

    def _key(self, tx: Any) -> Any:
        if self.sort_key == "latency":
            ms = _latency_ms(tx)
            return float("inf") if ms is None else ms
        if self.sort_key == "name":
            return tx.name
        if self.sort_key == "rcode":
            return tx.rcode
        return tx.first_ts

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.txs.sort(key=self._key, reverse=self.descending)
        for tx in self.txs:
            ms = _latency_ms(tx)
            table.add_row(str(tx.query_frames[0] if tx.query_frames else "-"),
                          Text(safe(tx.name)), type_name(tx.qtype), _rcode(tx),
                          f"{ms:.1f}" if ms is not None else "-", str(len(tx.query_frames)),
                          f"{columns.address_str(tx.client_ip)}:{tx.client_port}",
                          f"{columns.address_str(tx.server_ip)}:{tx.server_port}")

    def action_sort(self, key: str) -> None:
        if key == self.sort_key:
            self.descending = not self.descending
        else:
            self.sort_key, self.descending = key, key == "latency"
        self._fill()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_jump(self) -> None:
        if not self.txs:
            return
        tx = self.txs[self.query_one(DataTable).cursor_row]
        if tx.query_frames:
            self.dismiss(tx.query_frames[0] - 1)
