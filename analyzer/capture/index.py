"""FrameIndex: where every frame of a capture is, in compact columns, for random access.

The first pass only has to find records; everything a view needs later (offset, lengths, time,
interface) goes into five `array` columns, 26 bytes a frame, and frames are read back from the
file with mmap slices (os.pread for a growing spool). gzip input and pipes are decompressed into
an anonymous temp file while indexing, so offsets always mean "byte N of the plain capture".

Speed: the Python loop does nothing but hop from record to record collecting positions; the
header fields of a whole batch are then gathered by numpy in one go. Threads: build() runs in a
worker while other threads read len() and frames below it. Columns never resize in place: when
full they are copied into bigger ones and swapped in before the frame count is published, so a
reader sees either the old or the new columns, both complete below the count it read.
"""
from __future__ import annotations

import mmap
import os
import stat
import struct
import tempfile
import threading
from array import array
from typing import Callable, Iterator

import numpy as np

from .model import (CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError, Interface, RawFrame,
                    max_caplen)
from .opener import open_capture
from .pcap import FILE_HEADER_LEN, PcapReader, bad_record
from .pcap import cut_short as pcap_cut_short
from .pcapng import EPB, MAX_BLOCK, PACKET_BLOCKS, Damage, PcapngReader
from .pcapng import cut_short as pcapng_cut_short
from .reader import CaptureReader
from .source import GZIP_ERRORS, _one_line, stream_error

Progress = Callable[[int, int, "int | None"], None]

_INT64_MAX = (1 << 63) - 1
_NO_IFACE16 = 0xFFFF
FIRST_BATCH = 2048          # small, so the first screen of a big file shows at once
MAX_BATCH = 1 << 14        # a batch's headers are still in the CPU cache when gathered
MIN_CAPACITY = 1 << 14


class _Columns:
    """One generation of the per-frame arrays (replaced as a whole when it grows)."""

    __slots__ = ("offsets", "caplens", "origlens", "ts_ns", "ifaces", "capacity")

    def __init__(self, capacity: int, old: "_Columns | None" = None, n: int = 0) -> None:
        self.capacity = capacity
        self.offsets = array("q", bytes(8 * capacity))
        self.caplens = array("I", bytes(4 * capacity))
        self.origlens = array("I", bytes(4 * capacity))
        self.ts_ns = array("q", bytes(8 * capacity))
        self.ifaces = array("H", bytes(2 * capacity))
        if old is not None and n:
            for name in ("offsets", "caplens", "origlens", "ts_ns", "ifaces"):
                dst = np.frombuffer(getattr(self, name), dtype=_DTYPES[name])
                src = np.frombuffer(getattr(old, name), dtype=_DTYPES[name], count=n)
                dst[:n] = src


_DTYPES = {"offsets": np.int64, "caplens": np.uint32, "origlens": np.uint32,
           "ts_ns": np.int64, "ifaces": np.uint16}


def _u32_view(buf, order: str) -> np.ndarray:
    """Every (unaligned) 32-bit word of buf, indexed by byte offset."""
    size = len(buf)
    if size < 4:
        return np.zeros(0, dtype=order + "u4")
    return np.ndarray(shape=(size - 3,), dtype=order + "u4", buffer=buf, strides=(1,))


def _u64_view(buf, order: str) -> np.ndarray:
    """Every (unaligned) 64-bit word of buf, indexed by byte offset."""
    size = len(buf)
    if size < 8:
        return np.zeros(0, dtype=order + "u8")
    return np.ndarray(shape=(size - 7,), dtype=order + "u8", buffer=buf, strides=(1,))


_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FrameIndex:
    """Compact per-frame columns of one capture, built incrementally (see the module doc).

    Use: `idx = FrameIndex(path)` (opens it, raising CaptureError at once), then
    `idx.build(progress=..., cancel=...)`, typically in a worker thread; or `FrameIndex()`
    followed by `build(path)`. Then `len(idx)`, `idx.frame(i)`, `idx.frames(a, b)`, the numpy
    columns, and `close()` (also a context manager).
    """

    def __init__(self, source=None) -> None:
        self._n = 0
        self._cols = _Columns(0)
        self._reader: CaptureReader | None = None
        self.format = ""
        self.interfaces: list[Interface] = []
        self.error: str | None = None
        self.cancelled = False
        self.finished = threading.Event()
        self.drops: dict[int, int] = {}
        self.secrets: list[tuple[int, bytes]] = []
        self.names: list[tuple[bytes, str]] = []
        self._comments: dict[int, str] = {}
        self._special: dict[int, tuple[bool, int, int]] = {}   # frame -> (has_ts, block, pen)
        self._mm: mmap.mmap | None = None
        self._fd = -1
        self._spool_fd = -1
        self._total: int | None = None
        self._lock = threading.Lock()
        self._built = False
        if source is not None:
            self.open(source)

    # --- opening -----------------------------------------------------------------------------

    def open(self, source) -> None:
        """Open the capture (path, "-" or binary file object); raises CaptureError."""
        if self._reader is not None:
            raise CaptureError("this index already has a capture")
        path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        if path is not None and path != "-" and self._plain_file(path):
            reader = open_capture(path)
            try:
                self._fd = os.open(path, os.O_RDONLY)
                size = os.fstat(self._fd).st_size
                self._mm = mmap.mmap(self._fd, size, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as e:
                reader.close()
                self._close_files()
                raise CaptureError(f"{path}: cannot map the file: {_one_line(e)}") from None
            self._total = size
        else:
            fh = tempfile.TemporaryFile(prefix="wirelens-spool-")
            self._spool_fd = os.dup(fh.fileno())
            fh.close()
            fd = self._spool_fd
            try:
                reader = open_capture(source, spool=lambda data: _write_all(fd, data))
            except BaseException:
                self._close_files()
                raise
            if path is not None and path != "-":
                try:
                    self._total = os.stat(path).st_size
                except OSError:
                    self._total = None
        self._reader = reader
        self.format = reader.format
        self.interfaces = reader.interfaces
        self.drops, self.secrets, self.names = reader.drops, reader.secrets, reader.names

    @staticmethod
    def _plain_file(path: str) -> bool:
        """A regular, uncompressed file that can be mapped as it is."""
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
                return False
            with open(path, "rb") as fh:
                return fh.read(2) != b"\x1f\x8b"
        except OSError:
            return False

    # --- building ----------------------------------------------------------------------------

    def build(self, source=None, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> "FrameIndex":
        """Index every frame (or until `cancel` is set); safe to read from other threads.

        progress(done_frames, done_bytes, total_bytes) is called after every batch;
        total_bytes is None when unknown (a pipe). Damage stops the build with `error` set,
        keeping every good frame before it.
        """
        if source is not None:
            self.open(source)
        if self._reader is None:
            raise CaptureError("nothing to index: no capture was opened")
        with self._lock:
            if self._built:
                raise CaptureError("this index was already built")
            self._built = True
        try:
            self._run(progress, cancel)
        except Damage as e:
            self.error = str(e)
        except GZIP_ERRORS + (OSError,) as e:
            self.error = stream_error(self._reader.source, e)
        finally:
            self._trim()
            if self._mm is None and self._spool_fd >= 0:
                self._map_spool()
            self.finished.set()
        return self

    def _run(self, progress: Progress | None, cancel: threading.Event | None) -> None:
        reader = self._reader
        if isinstance(reader, PcapReader):
            walk = self._walk_pcap
            start = FILE_HEADER_LEN
            h = reader.header
            self._pcap = (h.order, 1 if h.nanosecond else 1000, max_caplen(h.linktype))
        else:
            assert isinstance(reader, PcapngReader)
            walk = self._walk_pcapng
            start = reader._start
        src = reader.source
        direct = self._mm is not None
        buf = self._mm if direct else src.buf
        base = 0 if direct else src.base
        p = start
        batch = FIRST_BATCH
        while True:
            if cancel is not None and cancel.is_set():
                self.cancelled = True
                return
            before = self._n
            p, need = walk(buf, p, len(buf), base, batch)
            if direct:
                self.release(before, self._n)   # the walk is done with those pages
            if progress is not None:
                done = base + p if direct or self._total is None else src.raw_pos()
                progress(self._n, done if done is not None else base + p, self._total)
            if direct and self._n and self._cols.capacity < self._estimate(p):
                self._reserve(self._estimate(p))
            batch = min(batch * 4, MAX_BATCH)
            if not need:
                continue
            if not direct:
                p = src.more(p, need)
                buf, base = src.buf, src.base
                if len(buf) - p >= need:
                    continue
            if len(buf) > p:
                self.error = self._cut_short(buf, p, base)
            return

    def _estimate(self, p: int) -> int:
        """Frames a mapped file probably holds, judged from the part indexed so far."""
        return int(self._n * (self._total or p) / max(p, 1) * 1.02) + 1024

    def _cut_short(self, buf, p: int, base: int) -> str:
        if self.format == "pcap":
            return pcap_cut_short(buf, p, base, self._pcap[0])
        return pcapng_cut_short(buf, p, base, self._reader.state.order)

    # --- storage -----------------------------------------------------------------------------

    def _reserve(self, total: int) -> None:
        cols = self._cols
        if total <= cols.capacity:
            return
        cap = max(total, MIN_CAPACITY, cols.capacity + cols.capacity // 4)
        self._cols = _Columns(cap, cols, self._n)

    def _trim(self) -> None:
        """Drop the spare capacity once the build is over (26 bytes a frame remain)."""
        if self._cols.capacity > self._n:
            self._cols = _Columns(self._n, self._cols, self._n)

    def _append(self, offsets, caplens, origlens, ts_ns, ifaces) -> None:
        """Store a batch (numpy arrays), then publish the new count."""
        k = len(offsets)
        if not k:
            return
        n = self._n
        self._reserve(n + k)
        cols = self._cols
        for name, values in (("offsets", offsets), ("caplens", caplens),
                             ("origlens", origlens), ("ts_ns", ts_ns), ("ifaces", ifaces)):
            np.frombuffer(getattr(cols, name), dtype=_DTYPES[name])[n:n + k] = values
        self._n = n + k

    def _append_frame(self, f: RawFrame, base: int) -> None:
        """Store one frame that came from the slow path (SPB, PB, Custom Block)."""
        n = self._n
        if not f.has_ts or f.block_type != EPB:
            self._special[n] = (f.has_ts, f.block_type, f.pen)
        if f.comment is not None:
            self._comments[n] = f.comment
        self._append(np.array([f.offset], np.int64), np.array([f.caplen], np.uint32),
                     np.array([f.origlen], np.uint32),
                     np.array([min(max(f.ts_ns, -_INT64_MAX), _INT64_MAX)], np.int64),
                     np.array([_NO_IFACE16 if f.iface == NO_IFACE else f.iface], np.uint16))

    # --- walkers: index whole records of buf[p:n]; return (position, bytes needed) ----------

    def _walk_pcap(self, buf, p: int, n: int, base: int, budget: int) -> tuple[int, int]:
        order, mult, limit = self._pcap
        caplen_at = struct.Struct(order + "8xI").unpack_from
        found = array("q")
        keep = found.append
        last = n - 16
        for _ in range(budget):
            if p > last:
                break
            cap, = caplen_at(buf, p)
            if cap > limit:
                self._pcap_batch(buf, found, base, order, mult)
                raise Damage(bad_record(base + p, cap, limit))
            keep(p)
            p += 16 + cap
        # Only the last record found can run past the end of the bytes present.
        need = 0
        if found and p > n:
            p = found.pop()
            need = 16 + caplen_at(buf, p)[0]
        elif p > last:
            need = 16
        self._pcap_batch(buf, found, base, order, mult)
        return p, need

    def _pcap_batch(self, buf, found: array, base: int, order: str, mult: int) -> None:
        """Gather the record headers of a batch: two 64-bit loads a record."""
        if not found:
            return
        pos = np.frombuffer(found, dtype=np.int64)
        words = _u64_view(buf, order)
        first, second = words[pos], words[pos + 8]
        if order == "<":
            sec, frac = first & _LOW32, first >> _SHIFT32
            cap, orig = second & _LOW32, second >> _SHIFT32
        else:
            sec, frac = first >> _SHIFT32, first & _LOW32
            cap, orig = second >> _SHIFT32, second & _LOW32
        ts = sec.astype(np.int64) * 1_000_000_000 + frac.astype(np.int64) * mult
        self._append(pos + (base + 16), cap, orig, ts, np.zeros(len(pos), np.uint16))

    def _walk_pcapng(self, buf, p: int, n: int, base: int, budget: int) -> tuple[int, int]:
        st = self._reader.state
        found = array("q")
        keep = found.append
        need = 0
        last = n - 12
        head = st.ii
        for _ in range(budget):
            if p > last:
                need = 12
                break
            btype, blen = head(buf, p)
            if btype == EPB and 32 <= blen <= n - p:
                keep(p)   # the rest of its checks are vectorized in _epb_batch
                p += blen
                continue
            # Anything else takes the careful path, after the EPBs found so far.
            self._epb_batch(buf, found, base)
            found = array("q")
            keep = found.append
            at = base + p
            btype, blen = st.head(buf, p, at)
            if p + blen > n:
                need = blen
                break
            st.check_trailer(buf, p, blen, at)
            if btype in PACKET_BLOCKS:
                self._append_frame(st.packet_block(btype, buf, p, blen, at, base), base)
            else:
                st.other_block(btype, buf, p, blen, at)
            p += blen
        self._epb_batch(buf, found, base)
        return p, need

    def _epb_batch(self, buf, found: array, base: int) -> None:
        """Validate and store a run of EPBs of one section, vectorized."""
        if not found:
            return
        st = self._reader.state
        pos = np.frombuffer(found, dtype=np.int64)
        words = _u32_view(buf, st.order)
        blen = words[pos + 4].astype(np.int64)
        lid = words[pos + 8]
        cap = words[pos + 20]
        local = np.array(st.local, dtype=np.int64)
        ok_lid = lid < len(local)
        g = local[np.where(ok_lid, lid, 0)] if len(local) else np.zeros(len(pos), np.int64)
        limits = np.array(st.limits, dtype=np.int64)[g] if st.limits else 0
        bad = ((blen & 3) != 0) | (blen > MAX_BLOCK) | (words[pos + blen - 4] != blen) | \
            ~ok_lid | (cap > blen - 32) | (cap > limits)
        if bad.any():
            j = int(np.argmax(bad))
            self._epb_batch(buf, array("q", found[:j]), base)
            p = int(pos[j])
            st.head(buf, p, base + p)
            st.check_trailer(buf, p, int(blen[j]), base + p)
            st.packet_block(EPB, buf, p, int(blen[j]), base + p, base)
            raise Damage(f"damaged enhanced packet block at byte {base + p}")
        ticks = (words[pos + 12].astype(np.uint64) << np.uint64(32)) | words[pos + 16]
        ts = self._ticks_to_ns(ticks, g)
        n0 = self._n
        opt_start = pos + 28 + ((cap.astype(np.int64) + 3) & ~3)
        has_opts = np.flatnonzero(opt_start < pos + blen - 4)
        for j in has_opts.tolist():
            text = st.comment(buf, int(opt_start[j]), int(pos[j] + blen[j] - 4))
            if text is not None:
                self._comments[n0 + j] = text
        self._append(pos + (base + 28), cap, words[pos + 24], ts, g.astype(np.uint16))

    def _ticks_to_ns(self, ticks: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Time stamps in ns per interface conversion; exact Python ints where numpy could
        overflow (binary resolutions, far-future stamps), clamped to the int64 column."""
        st = self._reader.state
        out = np.empty(len(ticks), np.int64)
        for gi in np.unique(g).tolist():
            sel = g == gi
            mult, div, off = st.tsconv[gi]
            t = ticks[sel]
            top = int(t.max())
            if div == 1 and top * mult + abs(off) <= _INT64_MAX:
                out[sel] = t.astype(np.int64) * mult + off
            else:
                vals = [(x * mult if div == 1 else x * mult // div) + off for x in t.tolist()]
                out[sel] = [min(max(v, -_INT64_MAX), _INT64_MAX) for v in vals]
        return out

    # --- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def _column(self, name: str) -> np.ndarray:
        n = self._n
        view = np.frombuffer(getattr(self._cols, name), dtype=_DTYPES[name], count=n)
        view.flags.writeable = False
        return view

    @property
    def offsets(self) -> np.ndarray:
        """File offset of each frame's packet bytes (in the decompressed capture)."""
        return self._column("offsets")

    @property
    def caplens(self) -> np.ndarray:
        return self._column("caplens")

    @property
    def origlens(self) -> np.ndarray:
        return self._column("origlens")

    @property
    def ts_ns(self) -> np.ndarray:
        """Time stamps in ns since the epoch (0 for frames without one; see has_ts)."""
        return self._column("ts_ns")

    @property
    def ifaces(self) -> np.ndarray:
        """Interface of each frame; 0xFFFF marks a pcapng Custom Block (no interface)."""
        return self._column("ifaces")

    @property
    def linktypes(self) -> np.ndarray:
        """Link type of each interface, indexed like `interfaces`."""
        return np.array([i.linktype for i in list(self.interfaces)], dtype=np.int32)

    def untimed_frames(self) -> list[int]:
        """Rows whose record carries no time stamp (pcapng SPB, Custom Block): tshark shows
        no arrival time for them."""
        return sorted(i for i, (has_ts, _block, _pen) in self._special.items() if not has_ts)

    def comment(self, i: int) -> str | None:
        return self._comments.get(i)

    def _check(self, i: int) -> int:
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame {i} is not indexed (have {n})")
        return i

    def frame(self, i: int) -> bytes:
        """The captured bytes of frame i (0-based)."""
        i = self._check(i)
        cols = self._cols
        return self._read(cols.offsets[i], cols.caplens[i])

    def _read(self, off: int, cap: int) -> bytes:
        mm = self._mm
        if mm is not None and off + cap <= len(mm):
            return mm[off:off + cap]
        fd = self._spool_fd if self._spool_fd >= 0 else self._fd
        data = os.pread(fd, cap, off)
        if len(data) != cap:
            raise CaptureError(f"frame bytes at {off} are no longer readable")
        return data

    def raw_frame(self, i: int) -> RawFrame:
        """Frame i as the streaming reader delivered it."""
        return next(self.frames(i, i + 1))

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[RawFrame]:
        """RawFrames start..stop-1 (clamped to what is indexed now)."""
        n = self._n
        stop = n if stop is None else min(stop, n)
        start = max(start, 0)
        if start >= stop:
            return
        cols = self._cols
        ifs = self.interfaces
        block = EPB if self.format == "pcapng" else 0
        comments, special = self._comments, self._special
        rows = zip(range(start, stop), cols.offsets[start:stop], cols.caplens[start:stop],
                   cols.origlens[start:stop], cols.ts_ns[start:stop], cols.ifaces[start:stop],
                   strict=True)
        for i, off, cap, orig, ts, g in rows:
            extra = special.get(i)
            if g == _NO_IFACE16:
                lt, g = CUSTOM_BLOCK_LINKTYPE, NO_IFACE
            else:
                lt = ifs[g].linktype
            data = self._read(off, cap)
            if extra is None:
                yield RawFrame(ts, cap, orig, lt, g, data, off, comments.get(i), True, block)
            else:
                has_ts, btype, pen = extra
                yield RawFrame(ts, cap, orig, lt, g, data, off, comments.get(i), has_ts,
                               btype, pen)

    def mmap_view(self) -> np.ndarray:
        """The whole (decompressed) capture as a read-only uint8 array."""
        if self._mm is None and self._spool_fd >= 0:
            self._map_spool()
        if self._mm is None:
            return np.zeros(0, np.uint8)
        return np.frombuffer(self._mm, dtype=np.uint8)

    def release(self, start: int, stop: int) -> None:
        """Drop the mapped pages of frames [start, stop) from this process's memory.

        A pass that sweeps the whole file would otherwise keep every page it touched
        resident; the kernel reads them back from the page cache if they are needed again.
        """
        if self._mm is None or start >= stop or not hasattr(mmap, "MADV_DONTNEED"):
            return
        offs = self._cols.offsets
        lo = int(offs[start]) & ~(mmap.PAGESIZE - 1)
        hi = int(offs[stop - 1]) & ~(mmap.PAGESIZE - 1)
        if hi > lo:
            try:
                self._mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            except (OSError, ValueError):
                pass

    def _map_spool(self) -> None:
        try:
            size = os.fstat(self._spool_fd).st_size
            if size:
                self._mm = mmap.mmap(self._spool_fd, size, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            self._mm = None

    # --- lifetime ----------------------------------------------------------------------------

    def _close_files(self) -> None:
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass  # numpy views still use it; it goes when they do
            self._mm = None
        for attr in ("_fd", "_spool_fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)
                setattr(self, attr, -1)

    def close(self) -> None:
        """Release the file, the map and the spool (the spool file is already unlinked)."""
        if self._reader is not None:
            self._reader.close()
        self._close_files()

    def __enter__(self) -> "FrameIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
