"""Following the file a live capture tool writes: TailIndexer and punch_hole.

The live TUI never reads its capture tool's output from a pipe: the tool writes a file (the
`-w` file, or a spool file) and TailIndexer follows it. That is `--follow`'s waiting stream
(follow.GrowingFile) under FrameIndex's vectorized record walkers: each batch of frame
positions goes to the UI's ring as soon as the writer has put whole records in the file, and
the file is never copied (frames are read back from it with pread). The parts of a spool
file the ring has let go are given back to the file system with `punch_hole`, so a long
capture without -w uses bounded disk while every offset stays valid.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Callable

import numpy as np

from .follow import GrowingFile
from .index import FrameIndex
from .model import RawFrame, max_caplen
from .opener import open_capture
from .pcap import FILE_HEADER_LEN, PcapReader
from .pcapng import Damage
from .source import GZIP_ERRORS, stream_error

# One batch of frame positions: offsets, caplens, origlens, ts_ns, ifaces (numpy arrays).
BatchSink = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
BATCH = 1 << 14     # records walked per step at most


class TailIndexer(FrameIndex):
    """Indexes a capture file that another process is still writing, batch by batch.

    `run()` (in a worker thread) hands every batch to `sink` and returns once `stopped` is
    set and the file is read to its end; damage ends it with `error` set. FrameIndex's own
    columns stay empty: the sink keeps the positions. Opening waits for the file header
    (tcpdump writes it with its first packet); a stop before that raises CaptureError.
    """

    def __init__(self, path: str, sink: BatchSink, stopped: threading.Event) -> None:
        super().__init__()
        self.path = path
        self._sink = sink
        self._file = GrowingFile(path, stopped)
        try:
            reader = open_capture(self._file)
        except BaseException:
            self._file.close()
            raise
        self._reader = reader
        self.format = reader.format
        self.interfaces = reader.interfaces
        self.drops, self.secrets, self.names = reader.drops, reader.secrets, reader.names
        self._built = True

    def run(self) -> None:
        try:
            self._follow()
        except Damage as e:
            self.error = str(e)
        except GZIP_ERRORS + (OSError,) as e:
            self.error = stream_error(self._reader.source, e)
        finally:
            self.finished.set()

    def _follow(self) -> None:
        reader = self._reader
        if isinstance(reader, PcapReader):
            walk, p = self._walk_pcap, FILE_HEADER_LEN
            h = reader.header
            self._pcap = (h.order, 1 if h.nanosecond else 1000, max_caplen(h.linktype))
        else:
            walk, p = self._walk_pcapng, reader._start
        src = reader.source
        while True:
            p, need = walk(src.buf, p, len(src.buf), src.base, BATCH)
            if not need:
                continue
            p = src.more(p, need)      # waits for the writer; reaches the end once stopped
            if len(src.buf) - p >= need:
                continue
            if len(src.buf) > p:
                self.error = self._cut_short(src.buf, p, src.base)
            return

    def _append(self, offsets, caplens, origlens, ts_ns, ifaces) -> None:
        if not len(offsets):
            return
        self._n += len(offsets)
        self._comments.clear()       # per-packet comments are not kept live
        self._sink(np.asarray(offsets, np.int64), np.asarray(caplens, np.uint32),
                   np.asarray(origlens, np.uint32), np.asarray(ts_ns, np.int64),
                   np.asarray(ifaces, np.uint16))

    def _append_frame(self, f: RawFrame, base: int) -> None:
        """A record off the slow path (SPB, PB, Custom Block): one row, no extras kept."""
        self._append(np.array([f.offset], np.int64), np.array([f.caplen], np.uint32),
                     np.array([f.origlen], np.uint32), np.array([f.ts_ns], np.int64),
                     np.array([0xFFFF if f.iface < 0 else f.iface], np.uint16))

    def close(self) -> None:
        self._file.close()


_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_fallocate: Callable[..., int] | None = None


def punch_hole(fd: int, start: int, length: int) -> bool:
    """Free the blocks of bytes [start, start + length) of a file, keeping its size and
    every offset (reads there return zeros). False where the file system cannot."""
    global _fallocate
    if length <= 0:
        return True
    if _fallocate is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fn = libc.fallocate
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            fn.restype = ctypes.c_int
            _fallocate = fn
        except (OSError, AttributeError):
            _fallocate = lambda *a: -1       # noqa: E731 - no fallocate in this libc
    return _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, start, length) == 0
