"""The store adapter: what the TUI reads about a capture, built in background threads.

Three things run behind the screen, each in a worker thread the app starts:

1. the frame index (analyzer.capture.index.FrameIndex) grows batch by batch, so No., Time
   and Length of the first frames are on screen while the rest of the file is read;
2. the first pass (engine.firstpass.first_pass on the built index, in a forked child:
   analysis_proc.py): summary columns, TCP analysis, conversations, findings;
3. the in-order dissection: every frame once, in file order, with ONE CaptureState and no
   tree, so per-capture dissector state (TCP relative sequence numbers, streams,
   reassembly, DNS transactions) is right. A frame it has passed is `visited`; it is then
   dissected again for display (Info, details tree) with that same state.

Rows beyond the in-order dissection show Info as "…" (nothing is dissected ahead with a
scratch state, so nothing on screen is provisional). The TCP analysis shown on a row comes
from the first pass's per-frame columns (the same TcpAnalyzer `read` runs, frame for frame).

Memory stays near what the first pass left (a budget of 150 bytes a packet + 80 MB, see
benchmarks/bench_tui.py) while all this runs: reassembled TCP PDUs and IP datagrams are
read back from their frames when a frame is dissected again instead of being kept, freed
heap is trimmed as the in-order dissection goes, and the capture's mapped pages are let
go behind every pass and after random reads.
"""
from __future__ import annotations

import ctypes
import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from analyzer import columns, keylog
from analyzer.capture import CaptureError
from analyzer.capture.index import FrameIndex
from analyzer.engine import tcp_analysis as ta
from analyzer.engine.annotate import FindingAnnotator, SequenceAnnotator
from analyzer.engine.firstpass import Capture, Cancelled
from analyzer.engine.summary import TRANSPORT
from analyzer.textsafe import safe
from dissectors import CaptureState, dissect_frame
from dissectors.packet import Packet
from dissectors.reassembly import read_back
from dissectors.tree import Node

from .analysis_proc import first_pass_offloaded
from .rows import by_protocol as _by_protocol
from .rows import packet_cells

PENDING = "…"          # Info of a frame the in-order dissection has not reached yet
ROW_CACHE = 1024       # rendered rows kept (a few dozen screens up and down)
BATCH = 64             # frames dissected per hold of the state lock at most
SETTLE_EVERY = 1 << 15  # frames the in-order dissection passes between two _settle() calls
MMAP_THRESHOLD = 1 << 20  # C allocations from this size on are given back when freed
RELEASE_EVERY = 64     # frames read out of order between two releases of the file's pages
QUIET = 0.15           # seconds the in-order worker rests after each key or click

# Colouring rules, Wireshark's defaults in their order (first match wins); the name is
# the style class the packet list maps to colours (see packet_list.py).
_BAD_TCP = np.uint32(0x7FFFFFFF & ~(ta.WINDOW_UPDATE | ta.KEEP_ALIVE | ta.KEEP_ALIVE_ACK))
_ICMP_ERRORS = {1: {3, 4, 5, 11}, 58: {1, 2, 3, 4}}     # ip.proto -> error types


@dataclass(frozen=True)
class Row:
    """One packet-list line's cells (already terminal-safe) and its colouring rule."""

    number: int
    time: str
    source: str
    destination: str
    protocol: str
    length: int
    info: str
    rule: str


class _Recorded:
    """The analyzer outputs one segment had, read back from the first pass's columns, in
    the shape SequenceAnnotator's Info and tree code reads them."""

    __slots__ = ("acks_frame", "ack_rtt_ns", "initial_rtt_ns", "bytes_in_flight",
                 "push_bytes_sent", "dupack_num", "dupack_frame", "rto_ns", "rto_frame")


class ColumnAnnotator(SequenceAnnotator):
    """tcp.analysis.* on a re-dissected (visited) frame, from the first pass's TcpColumns
    instead of feeding a TcpAnalyzer again (which only works in frame order); with
    `timestamps`, also the TCP layer's [Timestamps] as `read` shows them (right only when
    the capture holds each connection from its first frame: a file, not a live window)."""

    def __init__(self, cap: Capture, timestamps: bool = False) -> None:  # noqa: D107
        self.cap = cap
        self.analyzer = _Recorded()   # type: ignore[assignment]
        self.timestamps = timestamps

    def __call__(self, root: Node | None, pkt: Packet) -> int:
        row = pkt.number - 1
        cap, t = self.cap, self.cap.tcp
        if not 0 <= row < len(t.bits) or pkt.tcp is None:
            return 0
        stream = int(cap.cols.stream[row])
        if stream < 0:
            return 0
        if root is None:
            # A packet-list row: Info needs the flags (and duplicate-ACK numbers) only, not
            # the replayed values, whose first use on a long connection costs a replay of
            # all of it (a second on a 500k-segment transfer: a key must not wait for that).
            bits = int(t.bits[row])
            if bits:
                self._dupack(row)
                self._info(pkt, bits)
            return bits
        v = cap.tcp_values(stream)
        i = v.at(row)
        if i < 0 or not ta.analysis_shown(pkt):
            return 0
        tcp = next((n for n in root.children or () if n.spec is not None
                    and n.spec.abbrev == "tcp"), None)
        if self.timestamps and tcp is not None:
            ts = cap.index.ts_ns
            self._timestamps(tcp, int(ts[row]) - int(ts[v.rows[0]]),
                             int(ts[row]) - int(ts[v.rows[i - 1]]) if i else 0)
        bits = int(t.bits[row])
        a = self.analyzer
        a.acks_frame = int(v.acks_frame[i])
        a.ack_rtt_ns = int(v.ack_rtt_ns[i])
        a.initial_rtt_ns = cap.initial_rtt(row)
        a.bytes_in_flight = int(v.bytes_in_flight[i])
        a.push_bytes_sent = int(v.push_bytes[i])
        a.rto_ns, a.rto_frame = int(v.rto_ns[i]), int(v.rto_frame[i])
        self._dupack(row)
        self._info(pkt, bits)
        if tcp is not None:
            self._tree(tcp, bits)
        return bits

    def _dupack(self, row: int) -> None:
        """The duplicate-ACK number and frame of a row (0 when it is none)."""
        t, a = self.cap.tcp, self.analyzer
        a.dupack_num = a.dupack_frame = 0
        k = int(np.searchsorted(t.dupack_rows, row))
        if k < len(t.dupack_rows) and t.dupack_rows[k] == row:
            a.dupack_num, a.dupack_frame = int(t.dupack_num[k]), int(t.dupack_frame[k])


class Store:
    """One open capture as the views see it; thread-safe for one UI thread plus the
    workers started through index_worker, analysis_worker and dissect_worker."""

    def __init__(self, path: str) -> None:
        _give_back_big_allocations()
        self.path = path
        self.index = FrameIndex(path)          # raises CaptureError at once
        self.cap: Capture | None = None
        self.state = CaptureState()
        # Reassembled TCP PDUs and IP datagrams are read back from their frames when a
        # frame is dissected again, instead of all being kept in memory (tens of MB on a
        # big capture)
        read_back(self.state, self._frame_bytes)
        self.passed = 0                        # frames dissected in order so far
        self.cancel = threading.Event()
        self.stage = "index"                   # what the background work is doing
        self.fraction = 0.0
        self.error: str | None = None
        self.started = time.monotonic()
        self._lock = threading.Lock()          # guards self.state
        self._ui_waiting = 0                   # a reader wants the lock: the worker yields
        self._waiting_lock = threading.Lock()  # the UI and a filter worker both count
        self._quiet_until = 0.0                # the user is active: worker rests until then
        self._rows: OrderedDict[int, tuple[str, str, str, str, str]] = OrderedDict()
        self._annotate: ColumnAnnotator | None = None
        self._findings: FindingAnnotator | None = None
        self._secrets_seen = 0
        self._reads = 0                        # frames read out of order since a release
        # frame.protocols of each frame the in-order dissection passed, as an id into
        # layer_paths (the statistics view's protocol hierarchy): 2 bytes a frame
        self.layer_paths: list[tuple[str, ...]] = []
        self._path_ids: dict[tuple[str, ...], int] = {}
        self.path_of = np.zeros(0, np.uint16)

    # --- background work -----------------------------------------------------------------

    def build_index(self, on_progress: Callable[[], None] | None = None) -> None:
        """Index the file (worker thread); rows appear as batches land."""
        def progress(frames: int, done: int, total: int | None) -> None:
            self.fraction = done / total if total else 0.0
            if on_progress is not None:
                on_progress()
            self._rest()
        gc.freeze()     # the modules and the app's widgets: see _settle
        self.index.build(progress=progress, cancel=self.cancel)
        if self.index.error:
            self.error = self.index.error

    def analyze(self, on_progress: Callable[[], None] | None = None) -> bool:
        """Run the first pass on the built index (worker thread); False when cancelled."""
        self.index.finished.wait()
        if self.cancel.is_set():
            self.stage = "cancelled"
            return False

        def progress(stage: str, fraction: float) -> None:
            self.stage, self.fraction = stage, fraction
            if on_progress is not None:
                on_progress()
            self._rest()
        try:
            # in a child process: the UI's keys do not wait for its interpreter lock
            cap = first_pass_offloaded(self.index, self.cancel, progress)
        except Cancelled:
            self.stage = "cancelled"
            return False
        cap.path = self.path
        # The pass read every frame through the file mapping: hand those pages back (they
        # stay in the page cache), so resident memory is the store, not the file.
        self.index.release(0, len(self.index))
        _settle()
        self._annotate = ColumnAnnotator(cap, timestamps=True)
        self._findings = FindingAnnotator(cap)
        self.cap = cap
        with self._lock:
            self._rows.clear()      # rows rendered before now lack the TCP analysis
        self.stage = "done"
        return True

    def dissect_in_order(self, on_progress: Callable[[], None] | None = None) -> None:
        """Dissect every frame once, in file order, with the one CaptureState (worker)."""
        idx = self.index
        labels = self.state.slot("tls_keylog", dict)
        i = 0
        last_report = 0.0
        settle_at = SETTLE_EVERY
        while not self.cancel.is_set():
            n = len(idx)
            if i >= settle_at:
                settle_at = i + SETTLE_EVERY
                _settle()
            if i >= n:
                if idx.finished.is_set() and i >= len(idx):
                    _settle()
                    return
                time.sleep(0.01)
                continue
            start, stop = i, min(n, i + BATCH)
            with self._lock:
                if len(idx.secrets) > self._secrets_seen:   # pcapng Decryption Secrets
                    labels.update(keylog.labels_by_random(
                        keylog.from_secrets(idx.secrets[self._secrets_seen:])))
                    self._secrets_seen = len(idx.secrets)
                if len(self.path_of) < stop:
                    self.path_of = np.resize(self.path_of, max(stop, 2 * len(self.path_of)))
                for f in idx.frames(i, stop):
                    i += 1
                    _, pkt = dissect_frame(
                        f.data, number=i, ts_ns=f.ts_ns, origlen=f.origlen,
                        linktype=f.linktype, iface=f.iface, comment=f.comment, has_ts=f.has_ts,
                        iface_name=self._iface_name(f.iface), state=self.state, tree=False)
                    self.state.prev_displayed_ts_ns = f.ts_ns
                    self.path_of[i - 1] = self._path_id(pkt.layers)
                    if self._ui_waiting or time.monotonic() < self._quiet_until:
                        break     # a key came in: rest now, not at the batch's end
                self.passed = i
            # Pages behind us (see analyze()), from the frame before this batch: a release
            # stops short of the page its last frame starts in, which may hold more of it.
            self.index.release(max(start - 1, 0), i)
            while self._ui_waiting and not self.cancel.is_set():
                time.sleep(0.0005)   # a screen is being drawn: let it have the state
            self._rest()
            now = time.monotonic()
            if on_progress is not None and now - last_report > 0.1:
                last_report = now
                on_progress()

    def _path_id(self, layers: list[str]) -> int:
        key = tuple(layers)
        got = self._path_ids.get(key)
        if got is None:
            got = self._path_ids[key] = min(len(self.layer_paths), 0xFFFF)
            if got < 0xFFFF:
                self.layer_paths.append(key)
        return got

    # --- reading -----------------------------------------------------------------------------

    def _rest(self) -> None:
        """Called by the background jobs between batches: while the user is waiting for
        an answer, a busy thread would share the interpreter with it, so it sleeps."""
        while time.monotonic() < self._quiet_until and not self.cancel.is_set():
            time.sleep(0.002)

    def user_active(self, seconds: float = QUIET) -> None:
        """A key or click came in: the background jobs rest a moment at their next
        batch boundary (see _rest)."""
        self._quiet_until = time.monotonic() + seconds

    @contextmanager
    def hold(self) -> Iterator[None]:
        """While the UI draws a screenful of rows, the in-order worker stays paused, so
        each row's dissection does not wait for one of its batches."""
        self._wait(1)
        try:
            yield
        finally:
            self._wait(-1)

    def _wait(self, step: int) -> None:
        with self._waiting_lock:
            self._ui_waiting += step

    def __len__(self) -> int:
        return len(self.index)

    @property
    def indexing(self) -> bool:
        return not self.index.finished.is_set()

    def _frame_bytes(self, number: int) -> bytes | None:
        """Frame `number`'s captured bytes, for the dissectors' reassembly (it never
        raises: a frame that cannot be read is None)."""
        try:
            data = self.index.frame(number - 1)
        except (CaptureError, IndexError, OSError, ValueError):
            return None
        self._read_out_of_order()
        return data

    def _read_out_of_order(self) -> None:
        """Count a frame read at random; now and then, let the file's pages go.

        Why: a read through the file's mapping makes the kernel map the pages around it
        too (64 kB), which count as this process's resident memory until released: a few
        hundred screens or reassembled PDUs read back would hold tens of MB. Releasing the
        whole mapping when nothing much is mapped costs well under a millisecond."""
        self._reads += 1
        if self._reads >= RELEASE_EVERY:
            self._reads = 0
            self.index.release(0, len(self.index))

    def _iface_name(self, iface: int) -> str:
        ifs = self.index.interfaces
        if self.index.format != "pcapng" or not 0 <= iface < len(ifs):
            return ""
        return ifs[iface].name or "unknown"

    def digits(self, iface: int) -> int:
        ifs = self.index.interfaces
        return ifs[iface].precision if 0 <= iface < len(ifs) else 6

    def time_text(self, row: int, fmt: str, prev_shown: int | None = None) -> str:
        """The Time column of a row in one of tshark's -t formats."""
        ts = self.index.ts_ns
        t = int(ts[row])
        prev = int(ts[row - 1]) if row > 0 else t
        disp = int(ts[prev_shown]) if prev_shown is not None else prev
        return columns.format_time(fmt, t, int(ts[0]), prev, disp,
                                   self.digits(int(self.index.ifaces[row])))

    def dissect(self, row: int, tree: bool = True) -> tuple[Node | None, Packet, bytes]:
        """Dissect one frame the in-order pass has passed, for display (the UI thread, or
        a filter worker through FilterSource)."""
        idx = self.index
        f = idx.raw_frame(row)
        self._read_out_of_order()
        prev = int(idx.ts_ns[row - 1]) if row > 0 else f.ts_ns
        self._wait(1)
        try:
            with self._lock:
                root, pkt = dissect_frame(
                    f.data, number=row + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                    linktype=f.linktype, iface=f.iface, comment=f.comment, has_ts=f.has_ts,
                    iface_name=self._iface_name(f.iface), state=self.state, tree=tree,
                    prev_ts_ns=prev, prev_displayed_ts_ns=prev)
        finally:
            self._wait(-1)
        if self._annotate is not None:
            self._annotate(root, pkt)
            if tree and self._findings is not None:
                self._findings(root, pkt)
        return root, pkt, f.data

    def _cells(self, row: int) -> tuple[str, str, str, str, str]:
        """Source, Destination, Protocol, Info and a protocol hint for the rule."""
        hit = self._rows.get(row)
        if hit is not None:
            self._rows.move_to_end(row)
            return hit
        if row < self.passed:
            _, pkt, _ = self.dissect(row, tree=False)
            cells = packet_cells(pkt)
            with self._lock:
                self._rows[row] = cells
                while len(self._rows) > ROW_CACHE:
                    self._rows.popitem(last=False)
            return cells
        cap = self.cap
        if cap is None:
            return ("", "", "", PENDING, "")
        cols = cap.cols
        src = columns.address_str(cols.address(row, "src")) if cols.ipver[row] else ""
        dst = columns.address_str(cols.address(row, "dst")) if cols.ipver[row] else ""
        return (src, dst, safe(cols.protocol_name(row)), PENDING, "")

    def row(self, row: int, time_fmt: str = "r", prev_shown: int | None = None) -> Row:
        """The packet-list line of frame row + 1."""
        src, dst, proto, info, damage = self._cells(row)
        return Row(row + 1, self.time_text(row, time_fmt, prev_shown), src, dst, proto,
                   int(self.index.origlens[row]), info, self.rule(row, proto, damage))

    def seed_rows(self, cells: dict[int, tuple[str, str, str, str, str]]) -> None:
        """Rows of the opening frames that another in-order dissection of them already
        made (the first screen's: firstpaint.py), shown before this store's own gets there."""
        with self._lock:
            self._rows.update(cells)

    def rule(self, row: int, proto: str, damage: str = "") -> str:
        """The first of Wireshark's default colouring rules the row matches ("" none)."""
        cap = self.cap
        if damage == "malformed":
            return "bad"
        if cap is None:
            return _by_protocol(proto)
        cols = cap.cols
        ipp = int(cols.ip_proto[row])
        if ipp == 6 and cap.tcp.bits[row] & _BAD_TCP:
            return "bad_tcp"
        if cols.flags[row] & TRANSPORT and int(cols.icmp_type[row]) in \
                _ICMP_ERRORS.get(ipp, ()):
            return "icmp_error"
        if ipp == 6 and cols.flags[row] & TRANSPORT:
            fl = int(cols.tcp_flags[row])
            if fl & 0x04:
                return "rst"
            by_name = _by_protocol(proto)
            if by_name not in ("", "tcp", "udp"):
                return by_name
            return "synfin" if fl & 0x03 else "tcp"
        return _by_protocol(proto) or ("udp" if ipp == 17 else "")

    def findings_rows(self) -> np.ndarray:
        """Rows that findings rest on, sorted (for n/N)."""
        if self.cap is None:
            return np.zeros(0, np.int64)
        return np.asarray(sorted({fr - 1 for f in self.cap.findings for fr in f.frames}),
                          np.int64)

    def close(self) -> None:
        self.cancel.set()


def _give_back_big_allocations() -> None:
    """Fixed malloc thresholds, before the workers start (as the live store does).

    Why: the index, the first pass's hand-over and the in-order dissection allocate and
    free big blocks from several threads. glibc raises its mmap threshold each time a big
    block is freed, so later ones come from the heaps, one per thread, where freed space
    stays resident between live blocks (tens of MB over a million frames). A fixed
    threshold sends big blocks to mmap, given back on free, and two heaps in all fragment
    less than one per thread."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)      # M_MMAP_THRESHOLD
        libc.mallopt(-1, MMAP_THRESHOLD)      # M_TRIM_THRESHOLD
        libc.mallopt(-8, 2)                   # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _settle() -> None:
    """Give freed memory back to the OS, and take the objects built so far out of the
    garbage collector's full collections.

    Why: glibc keeps freed blocks (the first pass's result as it came through the pipe, the
    in-order dissection's temporaries and evicted PDUs) in its heap, where they count as
    resident memory until trimmed: tens of MB on a million frames. And a full collection
    walks every tracked object: the modules, the app's widgets, the store's and the
    dissectors' state are tens of thousands, a pause of tens of ms that a key would wait
    for. They live as long as the capture is open; frozen, they are not walked again."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    gc.freeze()


class FilterSource:
    """What DisplayFilter.select reads (analyzer.filter.FrameStore), over a Store: the
    first pass's columns and its pre-filters, and trees from the first pass's scoped
    dissection (only the conversations the candidate frames depend on), so a filter that
    needs trees does not wait for the in-order dissection. `dissect` (one frame, once the
    in-order dissection has passed it) remains for callers without batches."""

    def __init__(self, store: Store, cancel: threading.Event) -> None:
        cap = store.cap
        assert cap is not None, "filters run once the first pass is done"
        self.store, self.cancel = store, cancel
        self.index, self.cols, self.tcp_bits = store.index, cap.cols, cap.tcp_bits
        self.finding_rows = cap.finding_rows
        self.possible_rows = cap.possible_rows
        self.dissect_rows = cap.dissect_rows

    def dissect(self, i: int) -> tuple[Node | None, Packet]:
        while i >= self.store.passed and not self.cancel.is_set() and \
                not self.store.cancel.is_set():
            time.sleep(0.01)
        if i >= self.store.passed:
            raise Cancelled    # the in-order dissection stopped short of this frame
        root, pkt, _ = self.store.dissect(i, tree=True)
        return root, pkt


def describe_stage(store: Store) -> str:
    """The status bar's progress words."""
    if store.indexing:
        return f"indexing {store.fraction:.0%}"
    if store.stage == "done":
        return ""
    if store.stage == "cancelled":
        return "analysis cancelled"
    return f"analyzing: {store.stage} {store.fraction:.0%}"


