"""The TUI on a live capture: the file app (app.WirelensApp) over a LiveStore.

Everything the file app does works here on the capture's window; what differs is that the
store's own threads feed it (started on mount), the timer also takes in each new snapshot
of the window (shifting cursor, marks and filtered rows when old frames leave the ring),
the packet list follows new packets, and the status bar shows the capture's numbers.
Ctrl-C stops the capture and keeps the UI open to look at what was captured; q stops it and
quits. Either way the capture tool writes every packet it captured before it ends, so a
`-w` file is complete (`run_live` waits for that after the UI has closed).
"""
from __future__ import annotations

import asyncio
import gc
import signal
import sys

from textual.binding import Binding

from analyzer.textsafe import safe

from .app import WirelensApp
from .goto import GoToScreen
from .live_store import LiveStore
from .packet_list import PacketList
from .statusbar import StatusBar, live_status_text

STOP_WAIT_S = 15.0   # longest the exit waits for the capture tool to finish its file


class LiveApp(WirelensApp):
    """wirelens -i IFACE: the TUI on a running capture."""

    BINDINGS = [
        Binding("ctrl+c", "stop_capture", "Stop capture", priority=True),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, store: LiveStore) -> None:
        super().__init__(store.path, store=store)   # type: ignore[arg-type]
        self.live: LiveStore = store
        self._filter_base = 0

    async def on_mount(self) -> None:
        await super().on_mount()
        where = self.live.capture.iface if self.live.capture is not None else self.live.path
        self.title = f"wirelens live: {safe(where)}"
        self.query_one(PacketList).set_live()
        # What exists now (modules, the screen) lives as long as the app: keep it out of
        # the collector's full passes, which would otherwise stall keys for tens of ms.
        gc.freeze()
        self.live.start()
        loop = asyncio.get_running_loop()
        for sig, action in ((signal.SIGTERM, self._quit),
                            (signal.SIGINT, self.action_stop_capture)):
            try:
                loop.add_signal_handler(sig, action)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    # The file app's three jobs: the live store runs its own threads instead.
    def _index_job(self) -> None:
        return None

    def _analysis_job(self) -> None:
        return None

    def _dissect_job(self) -> None:
        return None

    def _tick(self) -> None:
        """Take in the capture's progress: a new window, new rows, status."""
        store = self.live
        plist = self.query_one(PacketList)
        # The window holds still while a filter runs or a view is open: the rows they
        # hand back (a filter's, a finding's frame) count from its start.
        moved = store.refresh(shift=self.filter_progress is None and
                              len(self.screen_stack) == 1)
        if moved:
            plist.shift(moved)
            if self.selected is not None:
                self.selected = self.selected - moved if self.selected >= moved else None
        plist.sync()
        if plist.count and self.selected is None and not plist.following:
            plist.cursor = plist.cursor     # announce the first row
        plist.refresh()
        self._status()
        if self.selected is not None and self.selected < store.passed and \
                self.query_one("#details").frame_root is None:
            self._show_details()     # the in-order dissection has reached the selection

    def on_packet_list_selected(self, message: PacketList.Selected) -> None:
        """The row the list is on now: a message posted before the window moved names a
        row number that has shifted since."""
        row = self.query_one(PacketList).selected_row
        message.row = row if row is not None else message.row
        super().on_packet_list_selected(message)

    def _show_details(self) -> None:
        if self.selected is not None and self.selected >= len(self.live):
            self.selected = None      # the frame left the window meanwhile
            return
        super()._show_details()

    def _needs_replay(self, row: int) -> bool:
        """Never: a live snapshot keeps every segment's analysis numbers (no replay), and
        the newest rows are not in it yet."""
        return False

    def _status(self) -> None:
        plist = self.query_one(PacketList)
        text = live_status_text(self.live, plist.count, len(plist.marks), self.filter_text)
        if self.filter_progress is not None:
            text.append(f"  filtering {self.filter_progress:.0%} (Esc cancels)", "yellow")
        self.query_one(StatusBar).update(text, layout=False)    # one line, always

    def action_stop_capture(self) -> None:
        """Ctrl-C: stop capturing, keep looking; a second Ctrl-C quits."""
        if not self.live.capturing:
            self._quit()
            return
        self.live.stop_capture()
        self.notify("Capture stopped: every packet captured is kept. q quits.", timeout=4)
        self._status()

    async def action_quit(self) -> None:
        self._quit()

    def _quit(self) -> None:
        """Stop the capture (the tool finishes its file after the UI has closed) and go."""
        self.live.stop_capture()
        self.exit()

    def action_cancel_work(self) -> None:
        """Esc cancels a running filter (the capture goes on: Ctrl-C stops it)."""
        if self.filter_progress is not None:
            self._filter_cancel.set()

    def action_goto(self) -> None:
        """Go to a frame by the number shown (frames that left the ring are gone)."""
        store = self.live
        base = store.base

        def done(row: int | None) -> None:
            if row is None:
                return
            if row < store.base:
                self.notify(f"Frame {row + 1} has left the ring (the oldest kept is "
                            f"{store.base + 1})", timeout=3)
                return
            self.query_one(PacketList).go_row(row - store.base)
        self.push_screen(GoToScreen(base + len(store)), done)


def run_live(store: LiveStore) -> int:
    """Run the live TUI; once it closes, let the capture tool finish its file. Prints
    what was captured, as `read -i` does; exit status 2 when the capture failed."""
    app = LiveApp(store)
    try:
        app.run()
    finally:
        store.close()
        capture = store.capture
        if capture is not None and not capture.done.wait(STOP_WAIT_S):
            capture.close()
        store.join()
    n = store.captured
    print(f"{n} packet{'' if n == 1 else 's'} captured", file=sys.stderr)
    drops = store.kernel_drops()
    if drops:
        print(f"{drops} packet{'' if drops == 1 else 's'} dropped from {store.capture.iface}",
              file=sys.stderr)
    error = store.error or (store.capture.error if store.capture is not None else None)
    if error:
        print(f"wirelens: {error}", file=sys.stderr)
        return 2
    return 0
