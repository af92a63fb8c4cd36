"""The first pass of a live capture, built as frames arrive, over a ring of the last frames.

`first_pass` builds the store of a whole file at once. A live capture never ends and must
not grow without bound, so this module keeps the same store for the newest frames only and
builds it batch by batch, with the file pass's own code:

- FrameRing holds the per-frame columns (index positions, summary columns, TCP analysis)
  of the frames still kept, by absolute row (frame number - 1), in memory allocated once:
  every column is a ring mapped twice back to back, so any window of it is one numpy view
  however it wraps. The window is [base, analyzed); `base` moves forward when the ring is
  over its size, and the follower waits rather than overwrite rows still on screen.
- IncrementalPass.step() takes one batch of new frames through summary.py's vectorized fast
  path and its slow path (one CaptureState across batches, so fragments and tunnels come out
  as in a file; the dissectors' per-frame records of frames that left the ring are let go,
  `forget_frames`), numbers tcp.stream and udp.stream with summary's rules carried across
  batches (a conversation keeps its number; a SYN with a new ISN opens a new one, as
  tshark), and feeds every new TCP segment to one TcpAnalyzer (sans-IO: it just goes on).
  The analyzer runs with values, so acks_frame, RTTs and bytes in flight are kept per row:
  replaying a connection later is impossible once its first frames have left the ring.
- IncrementalPass.snapshot() hands out the window as a firstpass.Capture (WindowCapture)
  whose columns are views of the ring, with conversations, DNS, TLS, connection facts and
  findings recomputed over the window by the file pass's functions (vectorized, cheap
  compared with the per-segment work above), in a forked process when asked, so their
  temporaries never weigh on the UI's memory or interpreter.

Rows of a snapshot are window rows (row 0 = its oldest frame), so every numpy view of it
works unchanged; the frame numbers shown (`base + row + 1`) keep counting from the start of
the capture, as Wireshark's do. Nothing here touches the UI: the TUI calls step() and
snapshot() from a worker thread.
"""
from __future__ import annotations

import ctypes
import gc
import json
import mmap
import os
import pickle
import select
import subprocess
import sys
import threading
import time
import weakref
from array import array
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from analyzer.capture.model import CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError, RawFrame
from dissectors import CaptureState
from dissectors.fields import EXPERTS
from dissectors.tcp import TcpFlow, learn_bases, rebases, reopens

from . import tcp_analysis as ta
from .firstpass import (Capture, StreamValues, TcpColumns, _Cols, _explained,
                        register_analyzers)
from .summary import (
    ACK,
    BASE_PROTOCOLS,
    INNER,
    IPPROTO_TCP,
    IPPROTO_UDP,
    LEN_UNKNOWN,
    SYN,
    TCP_ABORTED,
    TRANSPORT,
    SummaryColumns,
    _addr_rows,
    _empty,
    _endpoint,
    _endpoints,
    _fast_chunk,
    _group,
    _slow_path,
    _SlowKeys,
    _TcpOpts,
    _V6Pending,
    frame_linktypes,
)

INDEX_COLUMNS = {"offsets": np.int64, "caplens": np.uint32, "origlens": np.uint32,
                 "ts_ns": np.int64, "ifaces": np.uint16}
SUMMARY_COLUMNS = {name: arr.dtype for name, arr in vars(_empty(0)).items()
                   if isinstance(arr, np.ndarray) and name in
                   SummaryColumns.__dataclass_fields__ and arr.ndim == 1
                   and name not in ("ws_rows", "ws_shift", "sack_rows", "sack_left",
                                    "sack_right")}
TCP_COLUMNS = {"bits": np.uint32, "direction": np.uint8, "win_scale": np.int8}
# Per-segment analysis numbers (StreamValues' fields) and duplicate-ACK numbers, per row.
VALUE_COLUMNS = {"shown": np.bool_, "acks_frame": np.uint32, "ack_rtt_ns": np.int64,
                 "bytes_in_flight": np.uint32, "push_bytes": np.uint32, "rto_ns": np.int64,
                 "rto_frame": np.uint32, "dupack_num": np.uint32, "dupack_frame": np.uint32}
# frame.protocols of each frame as an id of a layer path: the TUI's in-order dissection
# writes it (the statistics view's protocol hierarchy).
LAYER_COLUMNS = {"layers": np.uint16}
RING_COLUMNS = {**INDEX_COLUMNS, **SUMMARY_COLUMNS, **TCP_COLUMNS, **VALUE_COLUMNS,
                **LAYER_COLUMNS}
# Filled when a row is created, before the engine reaches it.
_FILL = {"stream": -1, "win_scale": -1}

BATCH = 1 << 13            # frames summarized and analyzed per step at most
BATCH_BYTES = 16 << 20     # and bytes of frames read per step at most


# -- the ring ----------------------------------------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_PROT_READ, _PROT_RW = 0x1, 0x3
_MAP_SHARED, _MAP_PRIVATE, _MAP_FIXED, _MAP_ANON = 0x01, 0x02, 0x10, 0x20
_MAP_FAILED = ctypes.c_void_p(-1).value
_MADV_DONTNEED = 4
MMAP_THRESHOLD = 1 << 20  # C allocations from this size on are given back when freed


def give_back_big_allocations() -> None:
    """A capture runs for hours, and every second batches and snapshots allocate and free
    temporaries (in the UI's process from several threads, in the worker a window's worth
    at each snapshot): glibc would keep them in one heap per thread, its mmap threshold
    adapting upwards to the biggest block freed, and resident memory would creep up with
    fragmentation. Fixed thresholds send big blocks to mmap, returned on free, and two
    heaps in all fragment less than one per thread."""
    try:
        _libc.mallopt(-3, MMAP_THRESHOLD)      # M_MMAP_THRESHOLD
        _libc.mallopt(-1, MMAP_THRESHOLD)      # M_TRIM_THRESHOLD
        _libc.mallopt(-8, 2)                   # M_ARENA_MAX
    except AttributeError:                     # not glibc
        pass


def trim_heap() -> float:
    """Give the free pages inside the heaps back (malloc_trim); returns the seconds it took."""
    t = time.perf_counter()
    try:
        _libc.malloc_trim(0)
    except AttributeError:
        pass
    return time.perf_counter() - t


def _map_twice(fd: int, sizes: list[int], prot: int) -> list[tuple[int, int]]:
    """Map consecutive parts of `fd` of these byte sizes (page multiples) each twice, back
    to back; each part's (address, size). Raises OSError."""
    out, offset = [], 0
    for size in sizes:
        base = _libc.mmap(None, 2 * size, 0, _MAP_PRIVATE | _MAP_ANON, -1, 0)
        if base in (None, _MAP_FAILED):
            raise OSError("no address space for the ring")
        for half in (0, size):
            if _libc.mmap(base + half, size, prot, _MAP_SHARED | _MAP_FIXED, fd,
                          offset) != base + half:
                raise OSError("cannot map the ring twice")
        out.append((base, size))
        offset += size
    return out


def _mirrored(sizes: list[int]) -> tuple[int, list[tuple[int, int]]] | None:
    """Shared memory for columns of these byte sizes (page multiples), each mapped twice,
    back to back: byte i and byte size + i of a column are the same, so rows that wrap
    around the ring's end still read as one contiguous array, without a copy. Returns the
    memory's file descriptor (the analysis worker maps it too) and each column's (address,
    size), or None where the system cannot."""
    if not hasattr(os, "memfd_create"):
        return None
    try:
        fd = os.memfd_create("wirelens-ring", os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        os.ftruncate(fd, sum(sizes))
        return fd, _map_twice(fd, sizes, _PROT_RW)
    except OSError:
        os.close(fd)
        return None


def _column(addr: int, size: int, dtype: np.dtype) -> np.ndarray:
    """A column mapped twice as one array of twice its rows; unmapped once no array (or
    view of one) uses it any more."""
    raw = (ctypes.c_char * (2 * size)).from_address(addr)
    weakref.finalize(raw, _libc.munmap, ctypes.c_void_p(addr), ctypes.c_size_t(2 * size))
    return np.frombuffer(raw, dtype, 2 * size // dtype.itemsize)


class FrameRing:
    """Per-frame columns of the newest frames of a live capture (see the module doc).

    Three counts, all absolute rows: `indexed` (positions known: the follower appends),
    `analyzed` (summary and TCP columns filled: the engine), and `base`, the oldest row of
    the window. Row r lives at position r % capacity of every column, and each column is
    mapped twice in a row (`_mirrored`), so any `capacity` consecutive rows are one numpy
    view: no copy, no compaction, memory allocated once and never more. A row is
    overwritten once `capacity` newer rows have come, so the follower waits rather than
    overwrite a row at or after `protect`: the window's start, or what the UI still shows
    (`hold`); the slack above `size` keeps it from waiting in practice.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the ring needs room for at least one frame")
        self.size = size
        self.slack = max(size // 8, 1 << 14)
        # whole pages per column, as the mirror needs (4096 rows fill a page of bytes)
        self.capacity = -(-(size + self.slack) // mmap.PAGESIZE) * mmap.PAGESIZE
        self.lock = threading.Condition()
        self.base = 0
        self.indexed = 0
        self.analyzed = 0
        self.hold: int | None = None
        self.closed = False
        dtypes = {name: np.dtype(dt) for name, dt in RING_COLUMNS.items()}
        got = _mirrored([self.capacity * dt.itemsize for dt in dtypes.values()])
        self.memfd, maps = got if got is not None else (-1, [])
        if self.memfd >= 0:
            weakref.finalize(self, os.close, self.memfd)
        self._maps = maps
        self.cols: dict[str, np.ndarray] = {}
        for k, (name, dt) in enumerate(dtypes.items()):
            if maps:
                arr = _column(*maps[k], dt)
            else:
                arr = np.zeros(self.capacity, dt)
            if name in _FILL:
                arr[:self.capacity] = _FILL[name]
            self.cols[name] = arr

    @property
    def protect(self) -> int:
        if self.closed:
            return self.indexed      # nobody reads any more: every row may go
        return self.base if self.hold is None else min(self.base, self.hold)

    def readable(self, lo: int) -> bool:
        """Row lo has not been overwritten (yet)."""
        return lo >= self.indexed - self.capacity

    def view(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 (absolute, at most `capacity` of them) of one column: a view, or
        a copy where no mirror could be mapped and the rows wrap."""
        p, n = lo % self.capacity, hi - lo
        col = self.cols[name]
        if p + n <= len(col):
            return col[p:p + n]
        return np.concatenate([col[p:], col[:p + n - self.capacity]])

    def _put(self, name: str, lo: int, values: np.ndarray) -> None:
        p = lo % self.capacity
        col = self.cols[name]
        k = min(len(values), self.capacity - p)
        col[p:p + k] = values[:k]
        if k < len(values):
            col[:len(values) - k] = values[k:]

    def append(self, offsets: np.ndarray, caplens: np.ndarray, origlens: np.ndarray,
               ts_ns: np.ndarray, ifaces: np.ndarray) -> None:
        """The follower's batch of new frames (TailIndexer's sink); waits while it would
        overwrite a row the window or the screen still has."""
        done, total = 0, len(offsets)
        while done < total:
            with self.lock:
                while self.protect + self.capacity <= self.indexed:
                    self.lock.wait(0.1)
                a = self.indexed
                k = min(self.protect + self.capacity - a, total - done)
                for name, values in (("offsets", offsets), ("caplens", caplens),
                                     ("origlens", origlens), ("ts_ns", ts_ns),
                                     ("ifaces", ifaces)):
                    self._put(name, a, values[done:done + k])
                for name, fill in _FILL.items():
                    self._put(name, a, np.full(k, fill, RING_COLUMNS[name]))
                self.indexed = a + k
                done += k

    def write(self, lo: int, values: dict[str, np.ndarray], analyzed: int) -> None:
        """The engine's columns for rows lo.., then publish `analyzed`."""
        with self.lock:
            for name, v in values.items():
                self._put(name, lo, v)
            self.analyzed = analyzed

    def move(self, base: int | None = None, hold: int | None = None) -> None:
        """A new window start and/or the oldest row the UI shows now; the follower may go
        on writing over what is older."""
        with self.lock:
            if base is not None:
                self.base = max(self.base, base)
            if hold is not None:
                self.hold = hold
            self.lock.notify_all()

    def close(self) -> None:
        """Nobody reads the rows any more: the follower may overwrite them all (it goes
        on counting what the capture tool writes)."""
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def trim_mirror(self) -> None:
        """Rows read through a column's mirror map its pages a second time, and resident
        memory counts them twice: drop those second mappings (the bytes stay in the first;
        the next read through the mirror maps them again)."""
        for addr, size in self._maps:
            _libc.madvise(addr + size, size, _MADV_DONTNEED)

    @property
    def nbytes(self) -> int:
        return sum(self.capacity * np.dtype(dt).itemsize for dt in RING_COLUMNS.values())


# -- frames of the window ------------------------------------------------------------------
class CaptureFile:
    """The capture file being followed, read back by position (and mapped for DNS)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None

    def read(self, off: int, n: int) -> bytes:
        data = os.pread(self.fd, n, off)
        if len(data) != n:
            raise CaptureError(f"frame bytes at {off} are no longer readable")
        return data

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class WindowIndex:
    """Frames [lo, hi) of the ring as the first pass's FrameSource (and the TUI's index):
    window row i is frame lo + i; bytes come from the followed file."""

    def __init__(self, ring: FrameRing, lo: int, hi: int, file: CaptureFile, interfaces: list,
                 fmt: str, secrets: list | None = None) -> None:
        self.ring, self.lo, self.hi, self.file = ring, lo, max(lo, hi), file
        self.interfaces = interfaces
        self.format = fmt
        self.secrets = secrets if secrets is not None else []
        self.names: list = []
        self.drops: dict[int, int] = {}
        self.error: str | None = None
        self._mm: mmap.mmap | None = None

    def __len__(self) -> int:
        return self.hi - self.lo

    def _column(self, name: str) -> np.ndarray:
        v = self.ring.view(name, self.lo, self.hi)
        v.flags.writeable = False
        return v

    offsets = property(lambda self: self._column("offsets"))
    caplens = property(lambda self: self._column("caplens"))
    origlens = property(lambda self: self._column("origlens"))
    ts_ns = property(lambda self: self._column("ts_ns"))
    ifaces = property(lambda self: self._column("ifaces"))

    @property
    def linktypes(self) -> np.ndarray:
        return np.array([i.linktype for i in list(self.interfaces)], dtype=np.int32)

    def comment(self, i: int) -> str | None:
        return None

    def untimed_frames(self) -> list[int]:
        return []

    def frame(self, i: int) -> bytes:
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} is not in the window (have {len(self)})")
        g, r = self.ring, self.lo + i
        return self.file.read(int(g.view("offsets", r, r + 1)[0]),
                              int(g.view("caplens", r, r + 1)[0]))

    def raw_frame(self, i: int) -> RawFrame:
        return next(self.frames(i, i + 1))

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[RawFrame]:
        stop = len(self) if stop is None else min(stop, len(self))
        ifs = self.interfaces
        block = 6 if self.format == "pcapng" else 0
        rows = zip(self.offsets[start:stop].tolist(), self.caplens[start:stop].tolist(),
                   self.origlens[start:stop].tolist(), self.ts_ns[start:stop].tolist(),
                   self.ifaces[start:stop].tolist())
        for off, cap, orig, ts, g in rows:
            if g == 0xFFFF or g >= len(ifs):
                lt, g = CUSTOM_BLOCK_LINKTYPE, NO_IFACE
            else:
                lt = ifs[g].linktype
            yield RawFrame(ts, cap, orig, lt, g, self.file.read(off, cap), off, None, True,
                           block)

    def mmap_view(self) -> np.ndarray:
        """The followed file as bytes (offsets are positions in it), mapped on first use."""
        if self._mm is None:
            size = os.fstat(self.file.fd).st_size
            if not size:
                return np.zeros(0, np.uint8)
            self._mm = mmap.mmap(self.file.fd, size, access=mmap.ACCESS_READ)
        return np.frombuffer(self._mm, dtype=np.uint8)

    def release(self, start: int = 0, stop: int | None = None) -> None:
        """Hand back the mapped pages read so far (they stay in the page cache)."""
        if self._mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            try:
                self._mm.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):
                pass


class _Batch:
    """One step's frames as a small FrameSource over the bytes read for them."""

    def __init__(self, data: bytes, cols: dict[str, np.ndarray], interfaces: list) -> None:
        self.data = data
        start = int(cols["offsets"][0])
        self.offsets = cols["offsets"] - start
        self.caplens = cols["caplens"]
        self.origlens = cols["origlens"]
        self.ts_ns = cols["ts_ns"]
        self.ifaces = cols["ifaces"]
        self.linktypes = np.array([i.linktype for i in list(interfaces)], dtype=np.int32)

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, i: int) -> bytes:
        off = int(self.offsets[i])
        return self.data[off:off + int(self.caplens[i])]

    def mmap_view(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint8)


# -- the dissectors' per-frame records of frames that left the ring ----------------------
FORGET_EVERY = 1 << 16   # frames dissected between two trims of the per-frame arrays

# The dissectors' per-frame arrays, indexed by frame number (slot -> attribute -> the value
# a frame that was never stored reads as), and their per-frame dicts keyed (frame, nth).
PER_FRAME_ARRAYS = {
    "tcp": {"frame_stream": -1, "frame_facts": 0},
    "udp": {"frame_stream": -1},
    "dns": {"frame_tx": -1, "frame_retrans": 0},
    "tcp_reassembly": {"head": -1, "done": -1, "rin": 0},
}
PER_FRAME_DICTS = {"tcp": "extra", "udp": "extra", "dns": "extra"}


class FrameWindow:
    """A per-frame array indexed by frame number that can forget the frames before a point:
    it answers len(), [number], [number] = v, append and extend as the array it wraps, with
    the forgotten numbers reading as `fill` (no live view shows them again)."""

    __slots__ = ("data", "start", "fill")

    def __init__(self, data: array | bytearray, fill: int, start: int = 0) -> None:
        self.data, self.fill, self.start = data, fill, start

    def __len__(self) -> int:
        return self.start + len(self.data)

    def __getitem__(self, i: int) -> int:
        j = i - self.start
        return self.data[j] if j >= 0 else self.fill

    def __setitem__(self, i: int, v: int) -> None:
        j = i - self.start
        if j >= 0:
            self.data[j] = v

    def append(self, v: int) -> None:
        self.data.append(v)

    def extend(self, values) -> None:
        self.data.extend(values)

    def forget(self, before: int) -> None:
        k = before - self.start
        if k > 0:
            del self.data[:k]
            self.start = before


def forget_frames(state: CaptureState, before: int) -> None:
    """Let the dissectors' per-frame records of frames numbered below `before` go."""
    slots = state._slots
    for key, attrs in PER_FRAME_ARRAYS.items():
        obj = slots.get(key)
        if obj is None:
            continue
        for attr, fill in attrs.items():
            arr = getattr(obj, attr, None)
            if isinstance(arr, (array, bytearray)):
                arr = FrameWindow(arr, fill)
                setattr(obj, attr, arr)
            if isinstance(arr, FrameWindow):
                arr.forget(before)
    for key, attr in PER_FRAME_DICTS.items():
        d = getattr(slots.get(key), attr, None)
        if isinstance(d, dict) and d:
            for k in [k for k in d if k[0] < before]:
                del d[k]


def fresh_state(first_number: int) -> CaptureState:
    """A CaptureState whose first frame will be `first_number`: its per-frame arrays start
    there instead of at frame 1 (a restart deep into a capture allocates nothing below)."""
    from dissectors.dns import DnsState
    from dissectors.tcp import TcpState
    from dissectors.tcp_reassembly import TcpReassembly
    from dissectors.udp import UdpState
    state = CaptureState()
    for key, factory in (("tcp", TcpState), ("udp", UdpState), ("dns", DnsState),
                         ("tcp_reassembly", TcpReassembly)):
        state.slot(key, factory)
    forget_frames(state, first_number)
    return state


# -- tcp.stream / udp.stream across batches -------------------------------------------------
class _Numbering:
    """tcp.stream and udp.stream for frames arriving in order: summary._assign_streams'
    rules with their state kept from batch to batch. A conversation (unordered address and
    port pair) keeps its number; a TCP SYN whose ISN differs from its side's base opens a new
    one (dissectors/tcp.py's learn_bases, rebases and reopens decide, as in a file)."""

    def __init__(self) -> None:
        self.udp: dict[tuple[int, int], int] = {}
        self.tcp: dict[tuple[int, int], list] = {}   # key -> [stream, TcpFlow, TcpFlow]
        self.count = {IPPROTO_TCP: 0, IPPROTO_UDP: 0}

    def assign(self, cols: SummaryColumns, keys: _SlowKeys) -> None:
        own = (cols.flags & (TRANSPORT | INNER)) == TRANSPORT
        k_rows = np.asarray(keys.rows, np.int64)
        k_proto = np.asarray(keys.proto, np.uint8)
        for proto in (IPPROTO_TCP, IPPROTO_UDP):
            rows = np.flatnonzero(own & (cols.ip_proto == proto))
            src, dst = _endpoints(cols, rows)
            quoted = np.zeros(len(rows), bool)
            kin = k_proto == proto
            if kin.any():   # ICMP errors' quoted headers join conversations too
                rows = np.concatenate([rows, k_rows[kin]])
                order = np.argsort(rows, kind="stable")
                rows = rows[order]
                src = np.concatenate([src, keys.src_ep[kin]])[order]
                dst = np.concatenate([dst, keys.dst_ep[kin]])[order]
                quoted = np.concatenate([quoted, np.ones(int(kin.sum()), bool)])[order]
            if len(rows):
                cols.stream[rows] = self._number(proto, cols, rows, src, dst, quoted)

    def _number(self, proto: int, cols: SummaryColumns, rows: np.ndarray, src: np.ndarray,
                dst: np.ndarray, quoted: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        perm, first = _group(lo, hi)
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(perm))
        if proto == IPPROTO_TCP:
            r = rows[perm]
            fl, seq, ack = cols.tcp_flags[r], cols.seq[r], cols.ack[r]
            sets_base = ~quoted[perm] & ((cols.flags[r] & LEN_UNKNOWN) == 0)
            direction = (src > dst).astype(np.uint8)[perm]
        plans: list[tuple[tuple[int, int], int, list[int]]] = []
        events: list[tuple[int, int, int]] = []
        for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            key = (int(lo[perm[s]]), int(hi[perm[s]]))
            if proto == IPPROTO_UDP:
                sid = self.udp.get(key, -1)
                begins = [] if sid >= 0 else [0]
            else:
                sid, begins = self._tcp_key(key, fl[s:e], direction[s:e], sets_base[s:e],
                                            seq[s:e], ack[s:e])
            plans.append((key, sid, begins))
            events += [(int(rows[perm[s + b]]), g, b) for b in begins]
        events.sort()
        numbers: dict[tuple[int, int], int] = {}
        for _row, g, b in events:      # new streams numbered in the order they start
            numbers[(g, b)] = self.count[proto]
            self.count[proto] += 1
        out = np.empty(len(rows), np.int32)
        for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            key, sid, begins = plans[g]
            cuts = begins + [e - s]
            if cuts[0] > 0:
                out[perm[s:s + cuts[0]]] = sid
            for j, b in enumerate(begins):
                sid = numbers[(g, b)]
                out[perm[s + b:s + cuts[j + 1]]] = sid
            if proto == IPPROTO_UDP:
                self.udp[key] = sid
            else:
                self.tcp[key][0] = sid
        return out

    def _tcp_key(self, key: tuple[int, int], fl: np.ndarray, direction: np.ndarray,
                 sets_base: np.ndarray, seq: np.ndarray, ack: np.ndarray
                 ) -> tuple[int, list[int]]:
        """One conversation's rows of a batch: its stream before them (-1 for a new
        conversation) and the positions where new streams begin. Only rows that can change
        something are visited: while a side's base is unknown every row, then SYNs."""
        st = self.tcp.get(key)
        begins: list[int] = []
        if st is None:
            st = self.tcp[key] = [-1, TcpFlow(), TcpFlow()]
            begins.append(0)
        syns = np.flatnonzero(fl & SYN).tolist()
        if not begins and not syns and st[1].base_set and st[2].base_set:
            return st[0], begins
        n, k = len(fl), 0
        i = 0
        while i < n:
            if st[1].base_set and st[2].base_set:
                while k < len(syns) and syns[k] < i:
                    k += 1
                if k == len(syns):
                    break
                i = syns[k]
            f, d = int(fl[i]), int(direction[i])
            sq, ak = int(seq[i]), int(ack[i])
            if f & SYN and not (begins and begins[-1] == i):
                fwd = st[1 + d]
                if rebases(fwd, f, sq):
                    fwd.base_seq = sq
                elif reopens(fwd, f, sq):
                    begins.append(i)
                    st[1], st[2] = TcpFlow(), TcpFlow()
            if sets_base[i]:
                learn_bases(st[1 + d], st[2 - d], f, sq, ak)
            i += 1
        return st[0], begins


class _V6Table:
    """Every IPv6 address met, numbered in order of appearance (the columns hold numbers)."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._table = np.zeros((64, 16), np.uint8)
        self.n = 0

    @property
    def table(self) -> np.ndarray:
        return self._table[:self.n]

    def ids(self, addrs: np.ndarray) -> np.ndarray:
        out = np.zeros(len(addrs), np.uint32)
        if not len(addrs):
            return out
        uniq, inv = np.unique(np.ascontiguousarray(addrs).view("V16").reshape(-1),
                              return_inverse=True)
        got = np.empty(len(uniq), np.uint32)
        for j, raw in enumerate(uniq.tolist()):
            i = self._ids.get(raw)
            if i is None:
                i = self._ids[raw] = self.n
                if self.n == len(self._table):   # a new array: snapshots keep the old one
                    grown = np.zeros((2 * self.n, 16), np.uint8)
                    grown[:self.n] = self._table
                    self._table = grown
                self._table[self.n] = np.frombuffer(raw, np.uint8)
                self.n += 1
            got[j] = i
        return got[inv.reshape(-1)]


# -- TCP analysis across batches -------------------------------------------------------------
class _Growing:
    """An int64 array indexed by stream id that grows by doubling (snapshots keep views of
    the old one, so it is never resized in place)."""

    def __init__(self, fill: int) -> None:
        self.fill = fill
        self.a = np.full(64, fill, np.int64)

    def set(self, i: int, v: int) -> None:
        if i >= len(self.a):
            grown = np.full(max(2 * len(self.a), i + 1), self.fill, np.int64)
            grown[:len(self.a)] = self.a
            self.a = grown
        self.a[i] = v


class _LiveTcp:
    """firstpass.analyze_tcp's inputs (direction, window scale, conversation of a new
    stream) kept per stream across batches, and one TcpAnalyzer with values fed in order."""

    def __init__(self) -> None:
        self.analyzer = ta.TcpAnalyzer(values=True)
        self.first_src: dict[int, int] = {}       # stream -> its first sender's endpoint
        self.ws: dict[int, list[int]] = {}        # stream -> window shift per direction
        self.irtt_ns = _Growing(0)
        self.irtt_row = _Growing(0)               # absolute row that completed the RTT
        self.has_irtt: set[int] = set()

    def analyze(self, c: SummaryColumns, ts: np.ndarray, first: int,
                opts: _TcpOpts) -> dict[str, np.ndarray]:
        """TCP columns for the batch's rows (row 0 is absolute row `first`)."""
        k = len(c)
        out = {name: np.zeros(k, dtype) for name, dtype in {**TCP_COLUMNS,
                                                           **VALUE_COLUMNS}.items()}
        out["win_scale"][:] = -1
        rows = np.flatnonzero(((c.flags & (TRANSPORT | INNER | LEN_UNKNOWN)) == TRANSPORT)
                              & (c.ip_proto == IPPROTO_TCP) & (c.stream >= 0))
        if not len(rows):
            return out
        ver = c.ipver[rows].astype(np.uint64) << np.uint64(56)
        src = ver | c.src[rows].astype(np.uint64) << np.uint64(16) | c.sport[rows]
        dst = ver | c.dst[rows].astype(np.uint64) << np.uint64(16) | c.dport[rows]
        ws_at = dict(zip(np.concatenate(opts.ws_rows).tolist() if opts.ws_rows else [],
                         np.concatenate(opts.ws_shift).tolist() if opts.ws_shift else []))
        sacks: dict[int, list[tuple[int, int]]] = {}
        if opts.sack_rows:
            for r, left, right in zip(np.concatenate(opts.sack_rows).tolist(),
                                      np.concatenate(opts.sack_left).tolist(),
                                      np.concatenate(opts.sack_right).tolist()):
                sacks.setdefault(r, []).append((left, right))
        aborted = (c.flags[rows] & TCP_ABORTED) != 0
        an = self.analyzer
        feed, streams = an.feed, an._streams
        first_src, wss, has_irtt = self.first_src, self.ws, self.has_irtt
        res: list[tuple[int, ...]] = []
        append = res.append
        inputs = zip(rows.tolist(), ts[rows].tolist(), c.stream[rows].tolist(), src.tolist(),
                     dst.tolist(), c.tcp_flags[rows].tolist(), c.seq[rows].tolist(),
                     c.ack[rows].tolist(), c.window[rows].tolist(), c.plen[rows].tolist(),
                     aborted.tolist())
        for r, t, s, sp, dp, fl, sq, ak, w, ln, ab in inputs:
            fs = first_src.get(s)
            conv = None
            if fs is None:
                fs = first_src[s] = sp
                conv = (sp, dp) if sp < dp else (dp, sp)
            d = 1 if fs == sp else 2
            st = wss.get(s)
            if st is None:
                st = wss[s] = [-1, -1]
            fwd = d - 1
            wsv = st[fwd]        # the side's shift from before this segment's own options
            shift = ws_at.get(r)
            if shift is not None:
                st[fwd] = min(shift, 14)
            if fl & SYN and not ab:
                if st[fwd] == -1:
                    st[fwd] = st[1 - fwd] = -2
                elif fl & ACK and st[1 - fwd] == -2:
                    st[fwd] = -2
            b = feed(first + r + 1, t, s, d, fl, sq, ak, w, wsv, ln, conv,
                     tuple(sacks[r]) if r in sacks else ())
            if s not in has_irtt:
                rtt = streams[s].first_rtt
                if rtt:
                    has_irtt.add(s)
                    self.irtt_ns.set(s, rtt)
                    self.irtt_row.set(s, first + r)
            append((b, d, wsv, bool(b or an.acks_frame or an.initial_rtt_ns), an.acks_frame,
                    an.ack_rtt_ns, an.bytes_in_flight, an.push_bytes_sent, an.rto_ns,
                    an.rto_frame, an.dupack_num if b & ta.DUPLICATE_ACK else 0,
                    an.dupack_frame if b & ta.DUPLICATE_ACK else 0))
        v = np.asarray(res, np.int64).reshape(-1, 12)
        # A malformed TCP layer: its segment counted for the state, but tshark shows no
        # analysis for it (firstpass drops its flags and values the same way).
        v[aborted, 0] = 0
        v[aborted, 3:] = 0
        for j, name in enumerate(("bits", "direction", "win_scale", "shown", "acks_frame",
                                  "ack_rtt_ns", "bytes_in_flight", "push_bytes", "rto_ns",
                                  "rto_frame", "dupack_num", "dupack_frame")):
            out[name][rows] = v[:, j].astype(out[name].dtype)
        return out


# -- the pass -------------------------------------------------------------------------------
@dataclass
class WindowCapture(Capture):
    """A snapshot of the ring as the first pass's Capture. `base` is the absolute row of
    window row 0. The per-segment analysis numbers come from the live analyzer's columns
    (`values`), not from a replay, which would start in the middle of a connection."""

    base: int = 0
    values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def tcp_values(self, stream: int) -> StreamValues:
        got = self._values.get(stream)
        if got is None:
            if self.flows is not None and stream < len(self.flows):
                rows = self.flows.rows_of(stream)
            else:
                c = self.cols
                rows = np.flatnonzero((c.stream == stream) & (c.ip_proto == IPPROTO_TCP) & (
                    (c.flags & (TRANSPORT | INNER | LEN_UNKNOWN)) == TRANSPORT))
            v = self.values
            got = self._values[stream] = StreamValues(
                rows, v["shown"][rows], v["acks_frame"][rows], v["ack_rtt_ns"][rows],
                v["bytes_in_flight"][rows], v["push_bytes"][rows], v["rto_ns"][rows],
                v["rto_frame"][rows])
            if len(self._values) > 256:
                del self._values[next(iter(self._values))]
        return got


class IncrementalPass:
    """The live first pass: step() per batch of new frames, snapshot() for the views."""

    def __init__(self, ring: FrameRing, file: CaptureFile, interfaces: list, fmt: str,
                 secrets: list | None = None, keylog: Any = None) -> None:
        self.ring, self.file = ring, file
        self.interfaces, self.format = interfaces, fmt
        self.secrets = secrets if secrets is not None else []
        self.keylog = keylog
        # The slow path's state, across batches. Its per-frame records are indexed by frame
        # number: those of frames that left the ring are let go (`_forget`), or a capture
        # of hours would grow them by some bytes for every frame ever captured.
        self.state = fresh_state(1)
        self._forgot = 0
        self.protocol_names = list(BASE_PROTOCOLS)
        self.v6 = _V6Table()
        self.numbering = _Numbering()
        self.tcp = _LiveTcp()
        self.sparse: dict[str, list[np.ndarray]] = {name: [] for name in (
            "ws_rows", "ws_shift", "sack_rows", "sack_left", "sack_right")}
        self.skipped = 0                  # frames that left the ring before analysis
        register_analyzers()

    def pending(self) -> int:
        return self.ring.indexed - max(self.ring.analyzed, self.ring.base)

    def step(self, limit: int = BATCH) -> int:
        """Summarize and analyze the next batch of indexed frames; returns how many."""
        ring = self.ring
        with ring.lock:
            a = ring.analyzed
            if a < ring.base:
                self.skipped += ring.base - a
                a = ring.base
            b = min(ring.indexed, a + limit)
            if a >= b:
                return 0
            idx = {name: ring.view(name, a, b).copy() for name in INDEX_COLUMNS}
        offsets, caplens = idx["offsets"], idx["caplens"]
        span = offsets - offsets[0] + caplens
        k = max(1, int(np.searchsorted(span, BATCH_BYTES, side="right")))
        if k < len(offsets):
            b = a + k
            idx = {name: v[:k] for name, v in idx.items()}
        data = self.file.read(int(idx["offsets"][0]),
                              int(idx["offsets"][-1] - idx["offsets"][0] + idx["caplens"][-1]))
        batch = _Batch(data, idx, self.interfaces)
        cols, opts = self._summarize(batch, a)
        values = {name: getattr(cols, name) for name in SUMMARY_COLUMNS}
        values.update(self.tcp.analyze(cols, idx["ts_ns"], a, opts))
        ring.write(a, values, b)
        base = ring.base       # frames before the window are never dissected again
        if base - self._forgot >= FORGET_EVERY:
            self._forgot = base
            forget_frames(self.state, base + 1)
        return b - a

    def _summarize(self, batch: _Batch, first: int) -> tuple[SummaryColumns, _TcpOpts]:
        """summary.summarize for one batch, with the state that spans batches."""
        n = len(batch)
        cols = _empty(n)
        cols.protocol_names = self.protocol_names
        caplens = np.asarray(batch.caplens, np.int64)
        reported = np.maximum(np.asarray(batch.origlens, np.int64), caplens)
        lts = frame_linktypes(batch)
        v6, opts, keys = _V6Pending(), _TcpOpts(), _SlowKeys()
        slow = _fast_chunk(cols, batch.mmap_view(), 0, batch.offsets, caplens, reported, lts,
                           v6, opts)
        _slow_path(cols, batch, slow, lts, self.state, v6, keys, opts, first_number=first + 1)
        self._number_v6(cols, v6, keys)
        self.numbering.assign(cols, keys)
        for name in self.sparse:
            parts = getattr(opts, name)
            if parts:
                arr = np.concatenate(parts)
                self.sparse[name].append(arr + first if name.endswith("_rows") else arr)
        return cols, opts

    def _number_v6(self, cols: SummaryColumns, v6: _V6Pending, keys: _SlowKeys) -> None:
        """summary._number_v6 against the table of the whole capture."""
        k6 = [i for i, v in enumerate(keys.ver) if v == 6]
        parts = v6.src + v6.dst + [_addr_rows([keys.src[i] for i in k6] +
                                              [keys.dst[i] for i in k6])]
        ids = self.v6.ids(np.concatenate(parts))
        rows = np.concatenate(v6.rows) if v6.rows else np.zeros(0, np.int64)
        m = len(rows)
        cols.src[rows] = ids[:m]
        cols.dst[rows] = ids[m:2 * m]
        ver = np.asarray(keys.ver, np.uint8)
        src = np.zeros(len(ver), np.uint32)
        dst = np.zeros(len(ver), np.uint32)
        for i, v in enumerate(keys.ver):
            if v == 4:
                src[i] = int.from_bytes(keys.src[i], "big")
                dst[i] = int.from_bytes(keys.dst[i], "big")
        src[k6] = ids[2 * m:2 * m + len(k6)]
        dst[k6] = ids[2 * m + len(k6):]
        keys.src_ep = _endpoint(ver, src, np.asarray(keys.sport, np.uint16))
        keys.dst_ep = _endpoint(ver, dst, np.asarray(keys.dport, np.uint16))

    def _window_sparse(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """The sparse option columns of rows lo..hi-1, as window rows; what left the ring
        is dropped from the lists."""
        out = {}
        for rows_name, names in (("ws_rows", ("ws_shift",)),
                                 ("sack_rows", ("sack_left", "sack_right"))):
            parts = self.sparse[rows_name]
            rows = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            vals = {n: np.concatenate(self.sparse[n]) if self.sparse[n] else
                    np.zeros(0, np.uint32) for n in names}
            keep = rows >= lo
            rows = rows[keep]
            self.sparse[rows_name] = [rows]
            for n in names:
                vals[n] = vals[n][keep]
                self.sparse[n] = [vals[n]]
            order = np.argsort(rows, kind="stable")
            inside = rows[order] < hi
            out[rows_name] = rows[order][inside] - lo
            for n in names:
                out[n] = vals[n][order][inside]
        out["ws_shift"] = out["ws_shift"].astype(np.uint8)
        out["sack_left"] = out["sack_left"].astype(np.uint32)
        out["sack_right"] = out["sack_right"].astype(np.uint32)
        return out

    def snapshot(self, path: str = "", pause=None, worker: AnalysisWorker | None = None
                 ) -> WindowCapture:
        """The newest `ring.size` frames analyzed so far as a Capture, with conversations,
        DNS, TLS, connection facts and findings computed over them. Its `base` is where
        the ring may start now: the caller moves `ring.base` there when it hands the
        snapshot out (until then the ring keeps the older frames for the current one).

        With a `worker`, those analyses run in that process, on the ring's shared memory:
        their temporaries (some 90 bytes a frame) never land in this process, whose memory
        stays flat, and its interpreter stays free for the UI meanwhile. Otherwise `pause`,
        if given, is called between them (a UI lets its user go first)."""
        ring = self.ring
        with ring.lock:
            lo, g = max(ring.base, ring.indexed - ring.size), ring
            hi = max(ring.analyzed, lo)
        index = WindowIndex(g, lo, hi, self.file, self.interfaces, self.format, self.secrets)
        sparse = self._window_sparse(lo, hi)
        cols = SummaryColumns(**{name: g.view(name, lo, hi) for name in SUMMARY_COLUMNS},
                              v6_table=self.v6.table, protocol_names=list(self.protocol_names),
                              **sparse)
        dup = np.flatnonzero(g.view("dupack_num", lo, hi))
        nstreams = max(self.numbering.count.values())   # as firstpass: any stream id
        tcp = TcpColumns(
            bits=g.view("bits", lo, hi), direction=g.view("direction", lo, hi),
            win_scale=g.view("win_scale", lo, hi), dupack_rows=dup,
            dupack_num=g.view("dupack_num", lo, hi)[dup],
            dupack_frame=g.view("dupack_frame", lo, hi)[dup],
            irtt_ns=self._per_stream(self.tcp.irtt_ns, nstreams),
            irtt_row=self._per_stream(self.tcp.irtt_row, nstreams) - lo)
        values = {name: g.view(name, lo, hi) for name in VALUE_COLUMNS}
        cap = WindowCapture(path, index, cols, tcp, base=lo, values=values)
        got = None
        if worker is not None:
            got = worker.run({
                "lo": lo, "hi": hi, "file": self.file.path, "path": path,
                "interfaces": list(self.interfaces), "format": self.format,
                "secrets": list(self.secrets), "keylog": self.keylog,
                "v6_table": cols.v6_table.copy(), "protocol_names": cols.protocol_names,
                "sparse": sparse, "irtt_ns": tcp.irtt_ns, "irtt_row": tcp.irtt_row})
        if got is None:
            got = _analyses(cap, self.keylog, pause)
        cap.conversations, cap.dns, cap.tls, cap.flows, cap.findings = got
        index.release()
        return cap

    @staticmethod
    def _per_stream(arr: _Growing, n: int) -> np.ndarray:
        out = np.full(n, arr.fill, np.int64)
        m = min(n, len(arr.a))
        out[:m] = arr.a[:m]
        return out


def _analyses(cap: WindowCapture, keylog: Any, pause=None) -> tuple:
    """What first_pass computes over the columns: conversations, DNS, TLS, connection
    facts and findings (report order)."""
    from . import conversations, diagnoses, dns, findings, tcp_flows, tls
    rest = pause or (lambda: None)
    store = _Cols(cap.index, cap.cols)
    conv = conversations.conversations(cap.index, cap.cols)
    rest()
    cap.dns = dns.analyze_dns(store)
    rest()
    cap.tls = tls.analyze_tls(store, keylog)
    rest()
    cap.flows = tcp_flows.build(cap)
    rest()
    found = diagnoses.diagnose(cap, cap.flows)
    found = findings.ordered(_explained(found, cap.tls.findings) + cap.dns.findings
                             + cap.tls.findings)
    return conv, cap.dns, cap.tls, cap.flows, found


# -- the analysis worker ------------------------------------------------------------------------
WORKER_TIMEOUT_S = 300.0     # longest one window's analyses may take before it is abandoned


class AnalysisWorker:
    """A process of our own that runs a snapshot's analyses on the ring's shared memory
    (the memfd), started once with a fresh interpreter: the UI's process keeps its memory
    and its interpreter lock, and no lock a thread of ours held can be inherited (as with a
    fork of a threaded process). It runs niced, behind the capture tool and the UI. On any
    trouble it is dropped and the analyses run in this process instead."""

    def __init__(self, ring: FrameRing) -> None:
        if ring.memfd < 0:
            raise OSError("the ring is not in shared memory")
        from analyzer.capture.live import _death_signal
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        layout = [(name, np.dtype(dt).str) for name, dt in RING_COLUMNS.items()]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "analyzer.engine.incremental", "--worker",
             str(ring.memfd), str(ring.capacity), json.dumps(layout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            pass_fds=(ring.memfd,), env=env, preexec_fn=_death_signal())

    def run(self, request: dict) -> tuple | None:
        """The analyses of one window, or None (then the worker is gone)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None
        try:
            pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
            poller = select.poll()      # not select(): it fails on descriptors past 1023
            poller.register(proc.stdout, select.POLLIN)
            if not poller.poll(WORKER_TIMEOUT_S * 1000):
                raise TimeoutError
            got = pickle.load(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError, TimeoutError, ValueError):
            self.close()
            return None
        for f in got[4] + got[1].findings + got[2].findings:
            f.spec = EXPERTS.get(f.spec.abbrev, f.spec)    # the registered kind itself
        return got

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class _Copied:
    """A window's ring columns copied out of the shared memory (in the worker)."""

    def __init__(self, cols: dict[str, np.ndarray], lo: int) -> None:
        self.cols, self.lo = cols, lo

    def view(self, name: str, lo: int, hi: int) -> np.ndarray:
        return self.cols[name][lo - self.lo:hi - self.lo]


def _worker_main(fd: int, capacity: int, layout: list[tuple[str, str]]) -> int:
    """The analysis worker: for each pickled request on stdin, the pickled analyses of that
    window of the ring (see AnalysisWorker)."""
    os.nice(10)
    give_back_big_allocations()
    register_analyzers()
    dtypes = [(name, np.dtype(dt)) for name, dt in layout]
    maps = _map_twice(fd, [capacity * dt.itemsize for _name, dt in dtypes], _PROT_READ)
    cols = {name: _column(addr, size, dt) for (name, dt), (addr, size) in zip(dtypes, maps)}
    for col in cols.values():
        col.flags.writeable = False       # mapped read-only: a write would be a crash
    files: dict[str, CaptureFile] = {}
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            req = pickle.load(inp)
        except EOFError:
            return 0
        lo, hi = req["lo"], req["hi"]
        p = lo % capacity
        window = {name: col[p:p + hi - lo] for name, col in cols.items()}   # views
        ring = _Copied(window, lo)
        file = files.get(req["file"]) or files.setdefault(req["file"], CaptureFile(req["file"]))
        index = WindowIndex(ring, lo, hi, file, req["interfaces"], req["format"],
                            req["secrets"])
        summary = SummaryColumns(**{name: window[name] for name in SUMMARY_COLUMNS},
                                 v6_table=req["v6_table"],
                                 protocol_names=req["protocol_names"], **req["sparse"])
        dup = np.flatnonzero(window["dupack_num"])
        tcp = TcpColumns(bits=window["bits"], direction=window["direction"],
                         win_scale=window["win_scale"], dupack_rows=dup,
                         dupack_num=window["dupack_num"][dup],
                         dupack_frame=window["dupack_frame"][dup], irtt_ns=req["irtt_ns"],
                         irtt_row=req["irtt_row"])
        cap = WindowCapture(req["path"], index, summary, tcp, base=lo,
                            values={name: window[name] for name in VALUE_COLUMNS})
        got = _analyses(cap, req["keylog"])
        pickle.dump(got, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
        # Between two snapshots the worker holds nothing of a window: its objects (some
        # in cycles through the capture) go now, and the heap pages they freed go back.
        del window, ring, index, summary, tcp, cap, got, req
        gc.collect()
        trim_heap()


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    sys.exit(_worker_main(int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])))
