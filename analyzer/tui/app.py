"""The wirelens terminal UI: filter bar, packet list, details tree, hex and explain panes,
status bar, and the Findings, Conversations, Follow stream, Statistics, Field reference and
Help views.

The capture is opened by a Store (store.py) whose three background jobs run in Textual
thread workers: indexing, the first pass, and the in-order dissection; filters run in a
fourth. A timer takes in their progress (rows appear while the index grows). Esc cancels
a running filter, else the background work.
"""
from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from analyzer.capture import CaptureError
from analyzer.engine.firstpass import Cancelled, register_analyzers
from analyzer.filter import FilterCancelled, FilterError, compile_filter
from analyzer.textsafe import safe
from dissectors.fields import REGISTRY
from dissectors.tree import Node

# The views are imported when first opened: the app's start-up does not wait for them.
from .details import DetailsTree
from .explain import ExplainPane
from .firstpaint import SYNC_END, FirstScreen
from .filterbar import FilterBar, filter_for
from .hexview import HexView
from .packet_list import PacketList
from .statusbar import StatusBar, status_text
from .store import FilterSource, Store

if TYPE_CHECKING:
    from .crosscheck import WsResult

TICK = 0.2             # seconds between progress updates
# The background jobs are Python threads; a shorter GIL switch interval lets the UI thread
# in sooner after each event-loop wake-up (keys answered in tens of ms, not hundreds).
SWITCH_INTERVAL = 0.001
FIRST_SCREEN_HOLD = 0.5   # longest wait for the first rows before the app's first frame
DETAILS_DELAY = 0.06   # the details pane follows the cursor once it rests this long
SLOW_DETAILS = 0.15    # a details dissection still running then says so


T = TypeVar("T")
_INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)


class _MainScreen(Screen):
    """The main screen: focus starts on the packet list, not on the first focusable widget
    (the hidden filter input), so keys typed while the app starts move the list."""

    AUTO_FOCUS = "#packets"


class WirelensApp(App):
    """Open one capture and look at it."""

    CSS_PATH = "wirelens.tcss"
    TITLE = "wirelens"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "filter", "Filter"),
        Binding("f", "prepare_filter", "Prepare filter", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("colon,ctrl+g", "goto", "Go to"),
        Binding("n", "next_finding(1)", "Next finding", show=False),
        Binding("N", "next_finding(-1)", "Prev finding", show=False),
        Binding("e", "findings", "Findings"),
        Binding("c", "conversations", "Conversations"),
        Binding("R", "field_reference", "Fields"),
        Binding("w", "save", "Save"),
        Binding("F", "follow", "Follow stream", show=False),
        Binding("s", "statistics", "Statistics", show=False),
        Binding("D", "dns", "DNS", show=False),
        Binding("T", "tls", "TLS", show=False),
        Binding("L", "timeline", "Timeline", show=False),
        Binding("escape", "cancel_work", "Cancel", show=False),
        Binding("tab", "focus_next", "Next pane", show=False),
        Binding("shift+tab", "focus_previous", "Prev pane", show=False),
    ]

    def __init__(self, path: str | Path, store: Store | None = None,
                 first_screen: FirstScreen | None = None) -> None:
        super().__init__()
        self.first_screen = first_screen        # painted before Textual loaded: firstpaint.py
        register_analyzers()     # wirelens.* findings are filter fields
        self.store = store if store is not None else Store(str(path))
        self.selected: int | None = None
        self.frame_findings: list = []
        self._details_timer = None
        self.filter_text = ""
        self.filter_progress: float | None = None
        self._filter_cancel = threading.Event()
        self.wireshark = False                  # the details pane shows Wireshark's tree
        self._ws_cancel = threading.Event()
        self._ws_busy = False

    # --- layout --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return _MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filterbar")
        yield PacketList(self.store, id="packets")
        with Horizontal(id="lower"):
            yield DetailsTree(id="details")
            with Vertical(id="side"):
                yield HexView(id="hex")
                yield ExplainPane(id="explain")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.title = f"wirelens {safe(Path(self.store.path).name)}"
        self.query_one(FilterBar).display = False
        self.query_one(PacketList).focus()
        self.run_worker(self._index_job, thread=True, group="index", exit_on_error=False)
        self.run_worker(self._analysis_job, thread=True, group="analysis", exit_on_error=False)
        self.run_worker(self._dissect_job, thread=True, group="dissect", exit_on_error=False)
        self._ticker = self.set_interval(TICK, self._tick)
        if self.first_screen is not None:
            await self._await_first_rows()
            self.screen.call_after_refresh(self._release_first_screen)
        self._tick()

    async def _await_first_rows(self) -> None:
        """The first screen (firstpaint.py) shows the opening rows: the list takes their
        cells from it and waits, before the app's first frame, until the index has them too,
        instead of flashing an empty list."""
        store = self.store
        store.seed_rows(self.first_screen.cells)
        deadline = time.monotonic() + FIRST_SCREEN_HOLD
        while not len(store) and time.monotonic() < deadline and store.error is None \
                and not store.index.finished.is_set():
            await asyncio.sleep(0.002)      # the workers start from this loop

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, _INPUT_EVENTS):
            self.store.user_active()
        await super().on_event(event)

    # --- background work ---------------------------------------------------------------------

    def _index_job(self) -> None:
        shown = False

        def first_rows() -> None:
            # the first batch is on screen at once, not at the next tick
            nonlocal shown
            if not shown and len(self.store):
                shown = True
                self.call_from_thread(self._tick)
        self.store.build_index(first_rows)

    def _analysis_job(self) -> None:
        if self.store.analyze():
            self.call_from_thread(self._analysis_done)

    def _dissect_job(self) -> None:
        first = True

        def first_rows() -> None:
            # the first batch's Info on screen at once (and the first screen let go)
            nonlocal first
            if first:
                first = False
                self.call_from_thread(self._tick)
        self.store.dissect_in_order(first_rows)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A background job that failed says so in the status bar instead of hanging."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.store.error = f"{event.worker.group} failed: {safe(repr(err))}"
            if event.worker.group == "analysis":
                self.store.stage = "cancelled"
            self.notify(self.store.error, severity="error", timeout=5)
            self._status()

    def _analysis_done(self) -> None:
        self.query_one(PacketList).refresh()
        if self.selected is not None:
            self._show_details()
        self._tick()

    def _tick(self) -> None:
        """Take in the background progress: new rows, newly dissected Info, status."""
        plist = self._live(PacketList)
        if plist is None:
            return              # a worker's progress arrived as the app closed
        before = plist.count
        plist.sync()
        if plist.count and self.selected is None:
            plist.cursor = plist.cursor     # announce the first row
        store = self.store
        busy = store.indexing or store.stage not in ("done", "cancelled") or \
            (store.passed < len(store) and not store.cancel.is_set()) or \
            self.filter_progress is not None
        if busy or plist.count != before:
            plist.refresh()
        self._status()
        if self.selected is not None and self.selected < store.passed and \
                not self.wireshark and self.query_one(DetailsTree).frame_root is None:
            self._show_details()     # the in-order dissection has reached the selection
        if not busy and store.stage in ("done", "cancelled"):
            self._ticker.pause()

    def _release_first_screen(self) -> None:
        if self.first_screen is not None and not self.first_screen.released:
            self.first_screen.released = True
            if self._driver is not None:
                self._driver.write(SYNC_END)   # in order with the frames the driver writes
                self._driver.flush()

    def _status(self) -> None:
        plist = self.query_one(PacketList)
        text = status_text(self.store, plist.count, len(plist.marks), self.filter_text)
        if self.filter_progress is not None:
            text.append(f"  filtering {self.filter_progress:.0%} (Esc cancels)", "yellow")
        self.query_one(StatusBar).update(text)

    def action_cancel_work(self) -> None:
        """Esc: stop a running filter or Wireshark fetch, else indexing and analysis (what
        is done so far stays usable)."""
        if self._ws_busy:
            self._ws_cancel.set()
            self._ws_busy = False
            self.query_one(DetailsTree).show(None, "Wireshark's dissection cancelled")
            return
        if self.filter_progress is not None:
            self._filter_cancel.set()
            return
        if self.store.indexing or self.store.stage not in ("done", "cancelled") or \
                self.store.passed < len(self.store):
            self.store.cancel.set()
            self.notify("Background work cancelled", timeout=2)
            self._status()

    # --- selection -----------------------------------------------------------------------

    def on_packet_list_selected(self, message: PacketList.Selected) -> None:
        self.selected = message.row
        if self._details_timer is not None:
            self._details_timer.stop()
        self._details_timer = self.set_timer(DETAILS_DELAY, self._show_details)
        self._status()

    def _show_details(self) -> None:
        """Dissect the selected frame with its tree (one frame: fine on the UI thread,
        unless its connection's analysis must be replayed first)."""
        row = self.selected
        details = self.query_one(DetailsTree)
        hexv = self.query_one(HexView)
        if row is None:
            return
        store = self.store
        if self.wireshark:
            hexv.show(store.index.frame(row), [])
            self._fetch_wireshark(row)
            return
        if row >= store.passed:
            details.show(None, f"Frame {row + 1}: waiting for the in-order dissection "
                               f"({store.passed} of {len(store)} frames done)")
            hexv.show(store.index.frame(row), [])
            self.query_one(ExplainPane).show(None, [])
            return
        if self._needs_replay(row):
            # The first look at a connection replays its TCP analysis (a second for a
            # transfer of 500k segments): in a worker, so keys are answered meanwhile.
            self.run_worker(lambda: self._details_job(row), thread=True, group="details",
                            exit_on_error=False)
            self.set_timer(SLOW_DETAILS, lambda: self._details_pending(row))
            return
        self._details_show(row, *store.dissect(row, tree=True))

    def _live(self, kind: type[T]) -> T | None:
        """The main screen's widget of that kind; None while the app is closing (a timer or
        a worker's answer can arrive after the widgets are gone)."""
        try:
            return self.screen_stack[0].query_one(kind)
        except (NoMatches, IndexError):
            return None

    def _needs_replay(self, row: int) -> bool:
        cap = self.store.cap
        if cap is None or int(cap.cols.ip_proto[row]) != 6:
            return False
        stream = int(cap.cols.stream[row])
        return stream >= 0 and stream not in getattr(cap, "_values", {})

    def _details_job(self, row: int) -> None:
        got = self.store.dissect(row, tree=True)
        self.call_from_thread(self._details_show, row, *got)

    def _details_pending(self, row: int) -> None:
        details = self._live(DetailsTree)
        if details is not None and row == self.selected and not self.wireshark and (
                details.frame_root is None or details.root.label.plain != f"Frame {row + 1}"):
            details.show(None, f"Frame {row + 1}: reading its connection's TCP analysis…")

    def _details_show(self, row: int, root: Node | None, pkt, data: bytes) -> None:
        if row != self.selected or self.wireshark or self._live(DetailsTree) is None:
            return          # the selection moved on (or the app closed) while the worker ran
        store = self.store
        self.frame_findings = store.cap.findings_of(row) if store.cap is not None else []
        self.query_one(DetailsTree).show(root, f"Frame {row + 1}")
        self.query_one(HexView).show(data, pkt.sources)
        self.query_one(ExplainPane).show(None, self.frame_findings)

    def on_details_tree_field_selected(self, message: DetailsTree.FieldSelected) -> None:
        node: Node | None = message.node
        hexv = self.query_one(HexView)
        if node is None:
            hexv.highlight(0, 0, 0)
        else:
            hexv.highlight(node.src, node.pos, node.size)
        self.query_one(ExplainPane).show(node, self.frame_findings)

    # --- Wireshark cross-check -----------------------------------------------------------

    def on_details_tree_toggle_wireshark(self, message: DetailsTree.ToggleWireshark) -> None:
        """W in the details pane: Wireshark's dissection of the frame, or ours again."""
        self.wireshark = not self.wireshark
        if not self.wireshark:
            self._ws_cancel.set()
            self._ws_busy = False
        self._show_details()

    def _fetch_wireshark(self, row: int) -> None:
        self._ws_cancel.set()                 # a fetch for an earlier selection is moot
        self._ws_cancel = cancel = threading.Event()
        self._ws_busy = True
        self.query_one(DetailsTree).show(
            None, f"Frame {row + 1}: asking Wireshark (tshark)… Esc cancels")
        self.run_worker(lambda: self._wireshark_job(row, cancel), thread=True,
                        group="wireshark", exit_on_error=False)

    def _wireshark_job(self, row: int, cancel: threading.Event) -> None:
        from .crosscheck import Cancelled as WsCancelled
        from .crosscheck import WsResult, fetch
        try:
            result = fetch(self.store, row, cancel)
        except WsCancelled:
            return
        except (OSError, RuntimeError, ValueError, SyntaxError) as e:
            result = WsResult([], f"Wireshark's dissection failed: {safe(repr(e))}")
        self.call_from_thread(self._wireshark_done, row, result, cancel)

    def _wireshark_done(self, row: int, result: WsResult, cancel: threading.Event) -> None:
        if cancel is not self._ws_cancel or cancel.is_set() or not self.wireshark or \
                row != self.selected or self._live(DetailsTree) is None:
            return
        self._ws_busy = False
        self.query_one(DetailsTree).show_wireshark(result)

    def on_details_tree_wireshark_field_selected(
            self, message: DetailsTree.WiresharkFieldSelected) -> None:
        n = message.node
        self.query_one(HexView).highlight(0, n.pos, n.size)
        # Wireshark's field names are ours: explain the ones wirelens registers too
        spec = REGISTRY.get(n.name)
        self.query_one(ExplainPane).show(Node(spec, n.pos, n.size) if spec is not None
                                         else None, self.frame_findings)

    def on_hex_view_byte_clicked(self, message: HexView.ByteClicked) -> None:
        """Select the innermost field whose bytes cover the clicked byte."""
        details = self.query_one(DetailsTree)
        root = details.frame_root
        if root is None:
            return
        best: Node | None = None
        for layer in root.children or ():
            for n in layer.walk():
                if n.hidden or n.src != message.src or not n.size:
                    continue
                if n.pos <= message.offset < n.pos + n.size and \
                        (best is None or n.size <= best.size):
                    best = n
        if best is not None:
            details.select_node_for(best)

    # --- filtering -------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def action_prepare_filter(self) -> None:
        """f: the selected field as a filter in the bar, to edit before applying."""
        node = self.query_one(DetailsTree).cursor_node
        text = filter_for(node.data) if node is not None and isinstance(node.data, Node) \
            else ""
        self.query_one(FilterBar).open(text or None)

    def on_details_tree_apply_filter(self, message: DetailsTree.ApplyFilter) -> None:
        text = filter_for(message.node)
        if text:
            self.apply_filter(text)

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        self.apply_filter(message.text)

    def apply_filter(self, text: str) -> None:
        """Show only the frames a display filter matches ("" shows all), in a worker."""
        self._filter_cancel.set()
        self._filter_cancel = cancel = threading.Event()
        if not text:
            self.filter_text = ""
            self.query_one(PacketList).set_view(None)
            self._status()
            return
        try:
            flt = compile_filter(text)
        except FilterError as e:
            self.notify(e.message, severity="error", timeout=3)
            return
        self.filter_progress = 0.0
        self._status()
        self.run_worker(lambda: self._filter_job(flt, cancel), thread=True, group="filter",
                        exit_on_error=False)

    def _filter_job(self, flt, cancel: threading.Event) -> None:
        store = self.store
        while store.cap is None and not cancel.is_set() and store.stage != "cancelled":
            time.sleep(0.05)      # the columns a filter reads come from the first pass

        def progress(done: int, total: int) -> None:
            self.filter_progress = done / total if total else 1.0

        try:
            if store.cap is None:
                raise FilterCancelled(flt.text)
            mask = flt.select(FilterSource(store, cancel), progress, cancel)
        except (FilterCancelled, Cancelled):
            self.call_from_thread(self._filter_done, None, flt.text, cancel)
            return
        self.call_from_thread(self._filter_done, np.flatnonzero(mask), flt.text, cancel)

    def _filter_done(self, rows: np.ndarray | None, text: str, cancel: threading.Event) -> None:
        if cancel is not self._filter_cancel:
            return              # a newer filter replaced this one
        self.filter_progress = None
        if rows is None:
            self.notify("Filter cancelled", timeout=2)
        else:
            self.filter_text = text
            self.query_one(PacketList).set_view(rows)
        self._status()

    # --- views and jumps -----------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): every view and jump as "category: action"."""
        yield from super().get_system_commands(screen)
        plist = self.query_one(PacketList)
        yield SystemCommand("View: Findings", "Findings by severity, jump to frames",
                            self.action_findings)
        yield SystemCommand("View: Conversations", "TCP and UDP conversations, sortable",
                            self.action_conversations)
        yield SystemCommand("View: DNS transactions", "Queries, answers, lookup times",
                            self.action_dns)
        yield SystemCommand("View: TLS handshakes", "Versions, server names, timings, alerts",
                            self.action_tls)
        yield SystemCommand("View: Statistics", "Protocols, senders, totals",
                            self.action_statistics)
        yield SystemCommand("View: Follow stream", "The selected frame's TCP or UDP stream",
                            self.action_follow)
        yield SystemCommand("View: Connection timeline", "The selected frame's TCP connection "
                            "on a time axis: handshake, think time, transfer, stalls",
                            self.action_timeline)
        yield SystemCommand("View: Field reference", "Every field and finding, explained",
                            self.action_field_reference)
        yield SystemCommand("Details: Wireshark's dissection", "Toggle the details pane "
                            "between our tree and tshark's (W)", self._toggle_wireshark)
        yield SystemCommand("Go: Frame number", "Go to a frame", self.action_goto)
        yield SystemCommand("Go: Next finding", "The next frame a finding rests on",
                            lambda: self.action_next_finding(1))
        yield SystemCommand("Go: Next marked frame", "Jump to the next mark",
                            plist.action_next_mark)
        yield SystemCommand("Packets: Mark or unmark", "Toggle the mark on this frame",
                            plist.action_mark)
        yield SystemCommand("Packets: Time format", "Cycle the Time column's format",
                            plist.action_time_format)
        yield SystemCommand("Help: Keys", "Every key", self.action_help)

    def _toggle_wireshark(self) -> None:
        self.on_details_tree_toggle_wireshark(DetailsTree.ToggleWireshark())

    def action_help(self) -> None:
        from .conversations_view import ConversationsScreen
        from .follow_view import FollowScreen
        from .help_view import HelpScreen
        from .stats_view import StatsScreen
        from .timeline_view import TimelineScreen
        groups = [("Everywhere", list(self.BINDINGS)),
                  ("Packet list", list(PacketList.BINDINGS)),
                  ("Details", list(DetailsTree.BINDINGS)),
                  ("Conversations", list(ConversationsScreen.BINDINGS)),
                  ("Follow stream", list(FollowScreen.BINDINGS)),
                  ("Connection timeline", list(TimelineScreen.BINDINGS)),
                  ("Statistics", list(StatsScreen.BINDINGS))]
        self.push_screen(HelpScreen(groups))

    def action_goto(self) -> None:
        from .goto import GoToScreen

        def done(row: int | None) -> None:
            if row is not None:
                self.query_one(PacketList).go_row(row)
        self.push_screen(GoToScreen(len(self.store)), done)

    def action_next_finding(self, direction: int) -> None:
        rows = self.store.findings_rows()
        plist = self.query_one(PacketList)
        cur = plist.selected_row
        if not len(rows) or cur is None:
            self.bell()
            return
        if direction > 0:
            k = int(np.searchsorted(rows, cur, side="right"))
            target = int(rows[k % len(rows)])
        else:
            k = int(np.searchsorted(rows, cur, side="left")) - 1
            target = int(rows[k % len(rows)])
        plist.go_row(target)

    def _need_analysis(self) -> bool:
        if self.store.cap is None:
            self.notify("The analysis is still running; this view needs it.", timeout=2)
            return False
        return True

    def action_findings(self) -> None:
        from .findings_view import FindingsScreen
        if not self._need_analysis():
            return

        def done(row: int | None) -> None:
            if row is not None:
                self.query_one(PacketList).go_row(row)
        self.push_screen(FindingsScreen(self.store.cap.findings), done)

    def action_conversations(self) -> None:
        from .conversations_view import ConversationsScreen
        if not self._need_analysis():
            return

        def done(picked: tuple[str, int] | None) -> None:
            if picked is None:
                return
            proto, stream = picked
            self.apply_filter(f"{proto}.stream == {stream}")
        self.push_screen(ConversationsScreen(self.store.cap), done)

    def action_tls(self) -> None:
        from .tls_view import TlsScreen
        if not self._need_analysis():
            return

        def done(row: int | None) -> None:
            if row is not None:
                self.query_one(PacketList).go_row(row)
        self.push_screen(TlsScreen(self.store.cap), done)

    def action_dns(self) -> None:
        from .dns_view import DnsScreen
        if not self._need_analysis():
            return

        def done(row: int | None) -> None:
            if row is not None:
                self.query_one(PacketList).go_row(row)
        self.push_screen(DnsScreen(self.store.cap), done)

    def action_statistics(self) -> None:
        from .stats_view import StatsScreen
        if self._need_analysis():
            self.push_screen(StatsScreen(self.store))

    def action_follow(self) -> None:
        """Follow the TCP or UDP stream of the selected frame."""
        from .follow_view import FollowScreen
        if not self._need_analysis():
            return
        row = self.selected
        cols = self.store.cap.cols
        names = {6: "tcp", 17: "udp"}
        if row is None or int(cols.ip_proto[row]) not in names or int(cols.stream[row]) < 0:
            self.notify("Follow stream needs a TCP or UDP frame", timeout=2)
            return
        proto = names[int(cols.ip_proto[row])]
        stream = int(cols.stream[row])
        t = self.store.cap.conversations
        idx = np.flatnonzero((t.proto == int(cols.ip_proto[row])) & (t.stream == stream))
        title = f"{proto.upper()} stream {stream}"
        if len(idx):
            i = int(idx[0])
            a, b = t.endpoint(i, "a"), t.endpoint(i, "b")
            client, server = (a, b) if t.client_is_a[i] else (b, a)
            if proto == "udp":
                title += f": {client} (red) ↔ {server} (blue)"
            else:
                title += f": client {client} (red) ↔ server {server} (blue)"
        self.push_screen(FollowScreen(self.store, stream, title, proto))

    def action_timeline(self) -> None:
        """L: the selected frame's TCP connection on a time axis."""
        from .timeline_view import TimelineScreen
        if not self._need_analysis():
            return
        row = self.selected
        cap = self.store.cap
        stream = int(cap.cols.stream[row]) if row is not None else -1
        if row is None or int(cap.cols.ip_proto[row]) != 6 or not \
                0 <= stream < len(cap.flows) or not cap.flows.present[stream]:
            self.notify("The timeline needs a TCP frame", timeout=2)
            return

        def done(target: int | None) -> None:
            if target is not None:
                self.query_one(PacketList).go_row(target)
        self.push_screen(TimelineScreen(cap, stream), done)

    def action_save(self) -> None:
        """Write the marked frames (or, with none marked, the frames shown) to a file."""
        from .save import SaveScreen
        plist = self.query_one(PacketList)
        if plist.marks:
            rows, what = sorted(plist.marks), f"{len(plist.marks)} marked frames"
        else:
            n = plist.count
            rows = plist.view.tolist() if plist.view is not None else range(n)
            what = f"{n} shown frames"

        def done(path: str | None) -> None:
            if path is not None:
                self.run_worker(lambda: self._save_job(rows, path), thread=True,
                                group="save", exit_on_error=False)
        self.push_screen(SaveScreen(self.store.path, what), done)

    def _save_job(self, rows, path: str) -> None:
        from .save import write_frames
        try:
            n = write_frames(self.store.index, rows, path, self.store.cancel)
        except (CaptureError, OSError) as e:
            self.call_from_thread(self.notify, f"Not saved: {e}", severity="error")
            return
        self.call_from_thread(self.notify, f"Saved {n} frames to {safe(path)}", timeout=3)

    def action_field_reference(self) -> None:
        from .fieldref_view import FieldRefScreen
        self.push_screen(FieldRefScreen())

    def on_unmount(self) -> None:
        self.store.close()
        sys.setswitchinterval(self._switch)
        # The store froze what it built out of the collector's reach while it was open
        # (Store.analyze): closed, it may be collected, with the file and maps it holds.
        gc.unfreeze()


def run(path: str | Path, first_screen: FirstScreen | None = None) -> int:
    """Open the TUI on a capture; returns the exit status. `first_screen` is what
    firstpaint.py painted while this module was being imported."""
    app = WirelensApp(path, first_screen=first_screen)
    if first_screen is not None:
        first_screen.handover()
    try:
        app.run()
    finally:
        if first_screen is not None:
            first_screen.release()      # the app ended before its rows were on screen
    return 0


