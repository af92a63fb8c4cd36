"""The store of a live capture: what the TUI reads while a capture tool writes the file.

The capture tool (dumpcap, tcpdump or our AF_PACKET helper) writes the `-w` file or a
spool file; nothing here can slow it down. Three threads of this store follow it:

1. the follower (capture.tail.TailIndexer) indexes new records as the tool writes them into
   a FrameRing (engine.incremental) that keeps the last --ring-packets frames;
2. the engine (engine.incremental.IncrementalPass) summarizes and TCP-analyzes each new
   batch, and about once a second (less often when that takes long) publishes a snapshot:
   the window as a first-pass Capture with conversations, DNS, TLS and findings, whose
   analyses run in a worker process on the ring's shared memory;
3. the in-order dissection, as Store's: every frame once, in order, with one
   CaptureState, for Info and the details tree. Its streams take the engine's numbers;
   when packets come faster than it dissects it starts again near the newest ones
   (`_restart_at`), and it takes at most half of the interpreter.

The UI thread picks up the newest snapshot on its timer (`refresh`). Rows are window rows
(0 = the oldest frame kept), so every view reads the snapshot's columns as a file's; when
the window moves, `refresh` says by how many rows, and the UI shifts its cursor, marks and
filtered rows by that much. Frame numbers on screen keep counting from the start of the
capture (`base + row + 1`), like Wireshark's.

A long capture must not grow without bound. The ring keeps its size; a spool file (no -w)
gives the disk blocks of frames that left the ring back (capture.tail.punch_hole); and the
dissectors' per-frame arrays, indexed by frame number, forget the frames before the window
(`forget_frames`).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from analyzer import columns
from analyzer.capture import CaptureError
from analyzer.capture.tail import TailIndexer, punch_hole
from analyzer.engine.annotate import FindingAnnotator
from analyzer.engine.incremental import (FORGET_EVERY, AnalysisWorker, CaptureFile,
                                         FrameRing, IncrementalPass, WindowCapture,
                                         WindowIndex, forget_frames, fresh_state,
                                         give_back_big_allocations, trim_heap)
from analyzer.engine.summary import (INNER, INNER_TCP, INNER_UDP, IPPROTO_TCP, IPPROTO_UDP,
                                     TRANSPORT)
from analyzer.textsafe import safe
from dissectors import dissect_frame
from dissectors.packet import Packet
from dissectors.tcp import TcpState
from dissectors.tree import Node
from dissectors.udp import UdpState

from .store import (_BAD_TCP, _ICMP_ERRORS, BATCH, PENDING, QUIET, ROW_CACHE, ColumnAnnotator,
                    Row, _by_protocol)

DEFAULT_RING = 1_000_000
REFRESH_S = 1.0          # a new snapshot at most this often ...
REFRESH_SHARE = 0.3      # ... and at most this share of the time spent making them
RATE_WINDOW_S = 2.0      # packets/s is measured over this long
DISSECT_REST = 1.0       # the in-order dissection sleeps this long per second of work
BEHIND_S = 10.0          # when it is this far behind the newest packet (capture time) ...
RESTART_S = 1.0          # ... it starts again this close to it
TRIM_EVERY = 10          # snapshots between two malloc_trim calls

class LiveColumnAnnotator(ColumnAnnotator):
    """tcp.analysis.* of a frame from the snapshot's columns: frame numbers count from the
    capture's start, snapshot rows from its window."""

    def __init__(self, cap: WindowCapture) -> None:
        super().__init__(cap)
        self.base = cap.base

    def __call__(self, root: Node | None, pkt: Packet) -> int:
        number = pkt.number
        pkt.number = number - self.base
        try:
            return super().__call__(root, pkt)
        finally:
            pkt.number = number


class _WindowFindings:
    """The snapshot's findings_of, asked with frame numbers counted from the capture start."""

    def __init__(self, cap: WindowCapture) -> None:
        self.cap, self.base = cap, cap.base

    def findings_of(self, row: int) -> list:
        return self.cap.findings_of(row - self.base)


class LiveStore:
    """A running capture as the views see it (the file Store's interface), fed by the
    follower, engine and in-order dissection threads that start() starts."""

    def __init__(self, capture: Any, follow_path: str, *, name: str, ring_packets: int =
                 DEFAULT_RING, bpf: str = "", spool: bool = False) -> None:
        self.capture = capture                 # a live.FileCapture, None for a plain file
        self.follow_path = follow_path         # the file the tool writes
        self.path = name                       # what the title and Save show
        self.bpf = bpf
        self.spool = spool                     # ours to punch holes in, and to delete
        self.ring = FrameRing(ring_packets)
        self.stopped = threading.Event()       # the follower ends at the end of the file
        self.cancel = threading.Event()
        self.ready = threading.Event()         # the file header is read
        self.finished = threading.Event()      # everything captured is analyzed
        self.started = time.monotonic()
        self.ended: float | None = None        # when the capture ended
        self.error: str | None = None
        self.stage = "capturing"
        self.fraction = 0.0
        self.engine: IncrementalPass | None = None
        self.tail: TailIndexer | None = None
        self.file: CaptureFile | None = None
        self.interfaces: list = []
        self.format = ""
        self.first_ts: int | None = None
        self.refreshes = 0                     # snapshots made
        self.refresh_s = 0.0                   # how long the last one took
        # What the UI thread sees (changed only by refresh()).
        self.base = 0
        self.count = 0
        self.cap: WindowCapture | None = None
        self.index = _EmptyIndex()
        self._analyzed = 0
        self._latest: WindowCapture | None = None
        # The in-order dissection.
        self.state = fresh_state(1)
        self.next = 0                          # absolute row it dissects next
        self.restarts = 0                      # times it had to start again (see _restart_at)
        self._lock = threading.Lock()          # guards self.state
        self._ui_waiting = 0
        self._waiting_lock = threading.Lock()
        self._quiet_until = 0.0
        self._rows: OrderedDict[int, tuple[str, str, str, str, str]] = OrderedDict()
        self._annotate: LiveColumnAnnotator | None = None
        self._findings: FindingAnnotator | None = None
        self._threads: list[threading.Thread] = []
        self._rates: list[tuple[float, int]] = []
        self._drops: int | None = None
        self._drops_at = 0.0
        self._punched = 0
        self.worker: AnalysisWorker | None = None
        self.trim_s = 0.0                      # the longest malloc_trim so far
        self.layer_paths: list[tuple[str, ...]] = []     # frame.protocols, by id
        self._path_ids: dict[tuple[str, ...], int] = {}
        give_back_big_allocations()

    # --- background work -----------------------------------------------------------------

    def start(self) -> None:
        """Start the analysis worker process, and the follower, the engine and the in-order
        dissection (daemon threads: the UI never waits for them to end)."""
        try:
            self.worker = AnalysisWorker(self.ring)
        except OSError:
            self.worker = None        # the analyses run in this process
        for target in (self._follow, self._analyze, self._dissect, self._watch):
            t = threading.Thread(target=self._guard, args=(target,), daemon=True,
                                 name=f"live{target.__name__}")
            t.start()
            self._threads.append(t)

    def _watch(self) -> None:
        """Once the capture tool has finished its file, the follower reads it to the end."""
        capture = self.capture
        if capture is not None:
            capture.done.wait()
            if self.ended is None:
                self.ended = time.monotonic()
            self.stopped.set()

    def _guard(self, target) -> None:
        try:
            target()
        except Exception as e:       # shown in the status bar instead of a dead thread
            self.error = f"{target.__name__.strip('_')} failed: {safe(repr(e))}"
            self.stopped.set()
            self.ready.set()
            self.finished.set()

    def _follow(self) -> None:
        capture = self.capture

        def sink(offsets, caplens, origlens, ts_ns, ifaces) -> None:
            if self.first_ts is None and len(ts_ns):
                self.first_ts = int(ts_ns[0])
            self.ring.append(offsets, caplens, origlens, ts_ns, ifaces)
            if capture is not None and len(ts_ns):
                capture.seen(int(ts_ns.max()))
            self._rest()
        try:
            self.tail = TailIndexer(self.follow_path, sink, self.stopped)
        except CaptureError as e:
            if not self.stopped.is_set():     # stopped before the first packet: not an error
                self.error = str(e)
            self.ready.set()
            self.finished.set()
            return
        self.interfaces = self.tail.interfaces
        self.format = self.tail.format
        self.file = CaptureFile(self.follow_path)
        self.engine = IncrementalPass(self.ring, self.file, self.interfaces, self.format,
                                      self.tail.secrets)
        self.ready.set()
        self.tail.run()
        if self.tail.error:
            self.error = self.tail.error

    def _analyze(self) -> None:
        """Engine loop: batches as they come, a snapshot now and then, a last one at the
        end; stops the follower once the capture tool has finished."""
        self.ready.wait()
        engine = self.engine
        if engine is None:
            return
        last = 0.0
        made_at = -1
        while not self.cancel.is_set():
            done = engine.step()
            tail_done = self.tail is not None and self.tail.finished.is_set()
            final = tail_done and not engine.pending()
            now = time.monotonic()
            due = now - last >= max(REFRESH_S, self.refresh_s / REFRESH_SHARE)
            if self.ring.indexed != made_at and (due or final):
                made_at = self.ring.indexed
                self._publish(engine)
                last = time.monotonic()
                self.refresh_s = last - now
            if final and made_at == self.ring.indexed:
                self.stage = "done"
                self.finished.set()
                return
            if not done:
                time.sleep(0.02)
            self._rest()

    def _publish(self, engine: IncrementalPass) -> None:
        snap = engine.snapshot(self.path, self._rest, self.worker)
        with self.ring.lock:
            self._latest = snap
        self.ring.move(base=snap.base)
        self.ring.trim_mirror()
        self.refreshes += 1
        self._release_spool()
        if self.refreshes % TRIM_EVERY == 0:
            self.trim_s = max(self.trim_s, trim_heap())

    def _release_spool(self) -> None:
        """Give a spool file's blocks before everything still needed back to the disk."""
        if not self.spool or self.file is None:
            return
        ring = self.ring
        keep = min(self.base, self.next, ring.base)
        with ring.lock:
            if not ring.readable(keep) or keep >= ring.indexed:
                return
            upto = int(ring.view("offsets", keep, keep + 1)[0]) - 64   # the record header
        upto &= ~0xFFFF
        if upto > self._punched:
            try:
                fd = os.open(self.follow_path, os.O_WRONLY)
            except OSError:
                return
            try:
                if punch_hole(fd, self._punched, upto - self._punched):
                    self._punched = upto
                else:
                    self.spool = False      # this file system cannot: stop trying
            finally:
                os.close(fd)

    def _dissect(self) -> None:
        """Every frame once, in order, with one CaptureState (see Store.dissect_in_order);
        a frame that left the ring before it got there restarts it at the window."""
        self.ready.wait()
        last_forget = 0
        while not self.cancel.is_set():
            ring = self.ring
            with ring.lock:
                # only frames the engine has numbered: their streams are its (see below)
                indexed, floor = ring.analyzed, max(ring.base, self.base)
            if self.file is None or self.next >= indexed:
                if self.finished.is_set() and self.next >= self.ring.indexed:
                    return
                time.sleep(0.02)
                continue
            began = time.perf_counter()
            with self._lock:
                restart = self._restart_at(floor, indexed)
                if restart is not None:
                    self.next = restart
                    self.state = fresh_state(self.next + 1)
                    self.restarts += 1
                start, stop = self.next, min(indexed, self.next + BATCH)
                ifs = self.interfaces
                rows = zip(*(ring.view(name, start, stop).tolist() for name in (
                    "offsets", "caplens", "origlens", "ts_ns", "ifaces", "stream")),
                           _stream_protos(ring, start, stop).tolist())
                state = self.state
                tcp_st, udp_st = state.slot("tcp", TcpState), state.slot("udp", UdpState)
                layers: list[int] = []
                i = start
                for off, cap, orig, ts, iface, stream, proto in rows:
                    lt = ifs[iface].linktype if iface < len(ifs) else -1
                    # A stream this frame opens takes the engine's number (tshark's): the
                    # same after a restart, which begins without the streams before it.
                    tcp_st.hint = stream if proto == IPPROTO_TCP else None
                    udp_st.hint = stream if proto == IPPROTO_UDP else None
                    _, pkt = dissect_frame(self.file.read(off, cap), number=i + 1, ts_ns=ts,
                                           origlen=orig, linktype=lt, iface=iface,
                                           iface_name=self._iface_name(iface), state=state,
                                           tree=False)
                    state.prev_displayed_ts_ns = ts
                    layers.append(self._path_id(pkt.layers))
                    i += 1
                    if self._ui_waiting or self._quiet_until > time.monotonic():
                        break
                tcp_st.hint = udp_st.hint = None
                ring._put("layers", start, np.asarray(layers, np.uint16))
                self.next = i
                if i - last_forget >= FORGET_EVERY:
                    last_forget = i
                    forget_frames(state, min(self.base, self.ring.base) + 1)
            while self._ui_waiting and not self.cancel.is_set():
                time.sleep(0.0005)
            # At most half of the interpreter for this thread: when packets come faster
            # than it dissects, it would otherwise crowd out the screen and the analysis.
            time.sleep(min(0.05, (time.perf_counter() - began) * DISSECT_REST))
            self._rest()

    def _path_id(self, layers: list[str]) -> int:
        """frame.protocols as an id into layer_paths (as Store's)."""
        key = tuple(layers)
        got = self._path_ids.get(key)
        if got is None:
            got = self._path_ids[key] = min(len(self.layer_paths), 0xFFFF)
            if got < 0xFFFF:
                self.layer_paths.append(key)
        return got

    @property
    def path_of(self) -> np.ndarray:
        """The layer path id of each window row the in-order dissection has passed."""
        return self.ring.view("layers", self.base, self.base + self.passed)

    def _restart_at(self, floor: int, indexed: int) -> int | None:
        """Where the in-order dissection must start again, if it must: when the frame it
        would dissect left the ring, or it is BEHIND_S behind the newest one (packets come
        faster than it dissects: the rows people look at live are the newest). A restart is
        a new CaptureState, as if the capture began there."""
        ring = self.ring
        lo = max(floor, indexed - ring.capacity)
        if self.next < lo:
            return lo
        ts = ring.view("ts_ns", lo, indexed)
        newest = int(ts[-1])
        if newest - int(ts[self.next - lo]) <= BEHIND_S * 1e9:
            return None
        return lo + int(np.searchsorted(ts, newest - int(RESTART_S * 1e9)))

    # --- control ---------------------------------------------------------------------------

    def stop_capture(self) -> None:
        """Stop the capture tool (it writes what it captured, then ends); the follower
        and the engine finish what is in the file."""
        if self.capture is not None:
            self.capture.stop()
        else:
            self.stopped.set()
        if self.ended is None:
            self.ended = time.monotonic()

    @property
    def capturing(self) -> bool:
        return not self.stopped.is_set()

    def close(self) -> None:
        """The UI has gone: stop the capture and the work for the screen; the follower
        still reads what the tool writes until it has finished (see join)."""
        self.stop_capture()
        self.cancel.set()
        self.ring.close()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the follower to reach the end of the finished file, then let go of it."""
        if self.capture is None:
            self.stopped.set()
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        if self.worker is not None:
            self.worker.close()
        if self.tail is not None:
            self.tail.close()
        if self.file is not None:
            self.file.close()

    def _rest(self) -> None:
        while time.monotonic() < self._quiet_until and not self.cancel.is_set():
            time.sleep(0.002)

    def user_active(self, seconds: float = QUIET) -> None:
        self._quiet_until = time.monotonic() + seconds

    @contextmanager
    def hold(self) -> Iterator[None]:
        self._wait(1)
        try:
            yield
        finally:
            self._wait(-1)

    def _wait(self, step: int) -> None:
        with self._waiting_lock:
            self._ui_waiting += step

    # --- the UI thread ---------------------------------------------------------------------

    def refresh(self, shift: bool = True) -> int:
        """Take in what the threads did (UI thread): the newest snapshot and the frames
        indexed since. Returns how many rows the window moved (0 when `shift` is False:
        a snapshot that would move it waits)."""
        ring = self.ring
        with ring.lock:
            snap = self._latest
            moved = 0
            if snap is not None and snap is not self.cap and (shift or snap.base == self.base):
                moved = snap.base - self.base
                # Rows drawn before their analysis was in a snapshot lack its Info prefixes.
                analyzed = self.base + (len(self.cap.cols) if self.cap is not None else 0)
                for key in [k for k in self._rows if k >= analyzed]:
                    del self._rows[key]
                self.base = snap.base
                self.cap = snap
                self._annotate = LiveColumnAnnotator(snap)
                self._findings = FindingAnnotator(_WindowFindings(snap))
            indexed, self._analyzed = ring.indexed, ring.analyzed
        ring.move(hold=self.base)
        if self.ready.is_set() and self.file is not None:
            self.index = WindowIndex(ring, self.base, indexed, self.file, self.interfaces,
                                     self.format, self.engine.secrets)
            self.count = len(self.index)
        now = time.monotonic()
        self._rates.append((now, ring.indexed))
        while len(self._rates) > 2 and now - self._rates[1][0] > RATE_WINDOW_S:
            self._rates.pop(0)
        if moved:
            for key in [k for k in self._rows if k < self.base]:
                del self._rows[key]
        return moved

    def __len__(self) -> int:
        return self.count

    @property
    def captured(self) -> int:
        """Frames captured so far (all of them, not only those still in the ring)."""
        return self.ring.indexed

    @property
    def last_number(self) -> int:
        return self.base + self.count

    @property
    def passed(self) -> int:
        """Window rows the in-order dissection has passed."""
        return max(0, min(self.count, self.next - self.base))

    @property
    def indexing(self) -> bool:
        return self.capturing

    def rate(self) -> float:
        """Packets per second over the last couple of seconds."""
        if len(self._rates) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._rates[0], self._rates[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def kernel_drops(self) -> int | None:
        """The capture tool's kernel drop count, asked at most once a second."""
        capture = self.capture
        if capture is None:
            tail = self.tail
            return sum(tail.drops.values()) if tail is not None and tail.drops else None
        now = time.monotonic()
        if now - self._drops_at >= 1.0 or capture.done.is_set():
            self._drops_at = now
            self._drops = capture.kernel_drops()
            if self._drops is None and self.tail is not None and self.tail.drops:
                self._drops = sum(self.tail.drops.values())     # dumpcap's closing ISB
        return self._drops

    def elapsed(self) -> float:
        end = self.ended if self.ended is not None else time.monotonic()
        return end - self.started

    def _iface_name(self, iface: int) -> str:
        ifs = self.interfaces
        if self.format != "pcapng" or not 0 <= iface < len(ifs):
            return ""
        return ifs[iface].name or "unknown"

    def digits(self, iface: int) -> int:
        ifs = self.interfaces
        return ifs[iface].precision if 0 <= iface < len(ifs) else 6

    def time_text(self, row: int, fmt: str, prev_shown: int | None = None) -> str:
        ts = self.index.ts_ns
        t = int(ts[row])
        prev = int(ts[row - 1]) if row > 0 else t
        disp = int(ts[prev_shown]) if prev_shown is not None else prev
        first = self.first_ts if self.first_ts is not None else t
        return columns.format_time(fmt, t, first, prev, disp,
                                   self.digits(int(self.index.ifaces[row])))

    def dissect(self, row: int, tree: bool = True) -> tuple[Node | None, Packet, bytes]:
        """Dissect a window row the in-order dissection has passed, for display."""
        idx = self.index
        f = idx.raw_frame(row)
        prev = int(idx.ts_ns[row - 1]) if row > 0 else f.ts_ns
        self._wait(1)
        try:
            with self._lock:
                root, pkt = dissect_frame(
                    f.data, number=self.base + row + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                    linktype=f.linktype, iface=f.iface, has_ts=f.has_ts,
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
        key = self.base + row
        hit = self._rows.get(key)
        if hit is not None:
            self._rows.move_to_end(key)
            return hit
        if row < self.passed:
            _, pkt, _ = self.dissect(row, tree=False)
            cells = (columns.source(pkt), columns.destination(pkt), columns.protocol(pkt),
                     columns.info(pkt), pkt.damage)
            self._rows[key] = cells
            while len(self._rows) > ROW_CACHE:
                self._rows.popitem(last=False)
            return cells
        col = self._column_reader(row)
        if col is None:
            return ("", "", "", PENDING, "")
        ver = int(col("ipver"))
        src = columns.address_str(self._address(col, "src", ver)) if ver else ""
        dst = columns.address_str(self._address(col, "dst", ver)) if ver else ""
        names = self.engine.protocol_names
        code = int(col("protocol"))
        return (src, dst, safe(names[code] if code < len(names) else ""), PENDING, "")

    def _column_reader(self, row: int):
        """A reader of window row's ring columns, once the engine has analyzed it."""
        r = self.base + row
        ring = self.ring
        if r >= self._analyzed or not ring.readable(r):
            return None
        o = r % ring.capacity
        return lambda name: ring.cols[name][o]

    def _address(self, col, which: str, ver: int) -> bytes:
        v = int(col(which))
        if ver == 4:
            return v.to_bytes(4, "big")
        table = self.engine.v6.table
        return table[v].tobytes() if v < len(table) else b""

    def row(self, row: int, time_fmt: str = "r", prev_shown: int | None = None) -> Row:
        src, dst, proto, info, damage = self._cells(row)
        return Row(self.base + row + 1, self.time_text(row, time_fmt, prev_shown), src, dst,
                   proto, int(self.index.origlens[row]), info, self.rule(row, proto, damage))

    def rule(self, row: int, proto: str, damage: str = "") -> str:
        """Wireshark's colouring rule of a row, from the ring's columns (Store.rule's)."""
        if damage == "malformed":
            return "bad"
        col = self._column_reader(row)
        if col is None:
            return _by_protocol(proto)
        ipp = int(col("ip_proto"))
        transport = int(col("flags")) & TRANSPORT
        if ipp == 6 and int(col("bits")) & _BAD_TCP:
            return "bad_tcp"
        if transport and int(col("icmp_type")) in _ICMP_ERRORS.get(ipp, ()):
            return "icmp_error"
        if ipp == 6 and transport:
            fl = int(col("tcp_flags"))
            if fl & 0x04:
                return "rst"
            by_name = _by_protocol(proto)
            if by_name not in ("", "tcp", "udp"):
                return by_name
            return "synfin" if fl & 0x03 else "tcp"
        return _by_protocol(proto) or ("udp" if ipp == 17 else "")

    def findings_rows(self) -> np.ndarray:
        if self.cap is None:
            return np.zeros(0, np.int64)
        return np.asarray(sorted({fr - 1 for f in self.cap.findings for fr in f.frames}),
                          np.int64)


def _stream_protos(ring: FrameRing, lo: int, hi: int) -> np.ndarray:
    """Which transport's stream number the engine gave rows lo..hi-1 (IPPROTO_TCP,
    IPPROTO_UDP or 0), as scoped.Partitions says it: the row's own TCP/UDP header, or the
    one an ICMP error quotes."""
    flags, proto = ring.view("flags", lo, hi), ring.view("ip_proto", lo, hi)
    has = ring.view("stream", lo, hi) >= 0
    own = (flags & (TRANSPORT | INNER)) == TRANSPORT
    tcp = has & (own & (proto == IPPROTO_TCP) | ((flags & INNER_TCP) != 0))
    udp = has & (own & (proto == IPPROTO_UDP) | ((flags & INNER_UDP) != 0))
    return np.where(tcp, IPPROTO_TCP, np.where(udp, IPPROTO_UDP, 0))


class _EmptyIndex:
    """The index before the capture file has its header."""

    interfaces: list = []
    format = ""
    secrets: list = []
    ts_ns = origlens = ifaces = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return 0

