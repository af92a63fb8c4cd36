"""FrameIndex: the same frames as the streaming reader, compact, readable while it builds."""
from __future__ import annotations

import gzip
import os
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from analyzer.capture import CaptureError, FrameIndex, open_capture
from tests.test_capture_blocks import (FRAME, FRAME2, custom, epb, idb, isb, pb, pcap_file,
                                       shb, spb)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CORPUS_FILES = sorted((CORPUS / "pcaps").iterdir()) if (CORPUS / "pcaps").is_dir() else []


def numbered(i: int) -> bytes:
    """A small frame whose bytes say which frame it is (length varies too)."""
    return struct.pack(">I", i) * (1 + i % 7)


def big_pcap(path: Path, n: int) -> list[bytes]:
    frames = [numbered(i) for i in range(n)]
    path.write_bytes(pcap_file([(1000 + i, i % 1_000_000, d) for i, d in enumerate(frames)]))
    return frames


def same_as_reader(idx: FrameIndex, source) -> None:
    reader = open_capture(source)
    frames = list(reader)
    assert list(idx.frames()) == frames
    assert idx.error == reader.error
    n = len(frames)
    assert len(idx) == n
    assert idx.offsets.tolist() == [f.offset for f in frames]
    assert idx.caplens.tolist() == [f.caplen for f in frames]
    assert idx.origlens.tolist() == [f.origlen for f in frames]
    assert idx.ts_ns.tolist() == [f.ts_ns for f in frames]
    assert idx.ifaces.tolist() == [f.iface & 0xFFFF for f in frames]
    assert [idx.frame(i) for i in range(n)] == [f.data for f in frames]


@pytest.mark.parametrize("src", CORPUS_FILES or [None], ids=lambda p: p.name if p else "none")
def test_corpus_index_equals_reader(src):
    if src is None:
        pytest.skip("../shared/corpus not present")
    with FrameIndex(str(src)) as idx:
        idx.build()
        same_as_reader(idx, str(src))


def test_pcapng_special_blocks_and_comments(tmp_path):
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb() + idb(1, 40) + idb(113, 0, [(9, b"\x8a")])
                     + epb(0, 5, FRAME, options=[(1, b"note")])
                     + epb(1, 2048, FRAME2, 3000) + spb(FRAME, 1514)
                     + custom(0xBAD, 7, b"abcd") + pb(1, 1024, FRAME2) + isb(0, 9)
                     + shb(">") + idb(101, order=">") + epb(0, 9, FRAME, order=">"))
    with FrameIndex(str(path)) as idx:
        idx.build()
        same_as_reader(idx, str(path))
        assert idx.comment(0) == "note"
        assert idx.linktypes.tolist() == [1, 113, 101]
        assert idx.ifaces.tolist() == [0, 1, 0, 0xFFFF, 1, 2]


@pytest.mark.parametrize("tail", [b"\x01\x02\x03", b"GARBAGE, GARBAGE AND GARBAGE!",
                                  struct.pack("<IIII", 1, 2, 60, 60) + FRAME[:30]])
def test_damaged_pcap_stops_like_the_reader(tmp_path, tail):
    path = tmp_path / "bad.pcap"
    path.write_bytes(pcap_file([(1, 0, FRAME), (2, 0, FRAME2)]) + tail)
    with FrameIndex(str(path)) as idx:
        idx.build()
        assert idx.error
        same_as_reader(idx, str(path))


@pytest.mark.parametrize("tail", [epb(0, 2, FRAME)[:-4] + b"\x99\0\0\0", b"\0" * 40,
                                  epb(3, 2, FRAME), epb(0, 2, FRAME)[:50],
                                  struct.pack("<II", 6, 34) + bytes(30)])
def test_damaged_pcapng_stops_like_the_reader(tmp_path, tail):
    path = tmp_path / "bad.pcapng"
    path.write_bytes(shb() + idb() + epb(0, 1, FRAME) + epb(0, 1, FRAME2) + tail)
    with FrameIndex(str(path)) as idx:
        idx.build()
        assert idx.error
        same_as_reader(idx, str(path))


def test_gzip_is_spooled_and_cleaned_up(tmp_path):
    plain = tmp_path / "p.pcap"
    frames = big_pcap(plain, 3000)
    packed = tmp_path / "p.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    before = set(os.listdir(tempfile.gettempdir()))
    seen = []
    idx = FrameIndex(str(packed))
    idx.build(progress=lambda n, done, total: seen.append((n, done, total)))
    assert [idx.frame(i) for i in range(len(idx))] == frames
    assert idx.mmap_view().tobytes() == plain.read_bytes()
    assert seen[-1][0] == 3000 and seen[-1][2] == packed.stat().st_size
    idx.close()
    assert set(os.listdir(tempfile.gettempdir())) <= before   # no spool file left behind


def test_stdin_pipe_is_spooled(tmp_path):
    data = pcap_file([(i, 0, numbered(i)) for i in range(500)])
    rfd, wfd = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(wfd, data), os.close(wfd)))
    writer.start()
    with os.fdopen(rfd, "rb") as fh:
        seen = []
        idx = FrameIndex(fh)
        idx.build(progress=lambda n, done, total: seen.append(total))
    writer.join(10)
    assert len(idx) == 500 and idx.frame(499) == numbered(499)
    assert set(seen) == {None}        # a pipe has no known size
    assert idx.mmap_view().tobytes() == data
    idx.close()


def test_plain_file_maps_the_file(tmp_path):
    path = tmp_path / "m.pcap"
    big_pcap(path, 50)
    with FrameIndex() as idx:
        idx.build(str(path))
        view = idx.mmap_view()
        assert view.dtype == np.uint8 and view.tobytes() == path.read_bytes()
        off, cap = int(idx.offsets[7]), int(idx.caplens[7])
        assert view[off:off + cap].tobytes() == numbered(7)


def test_compact_columns(tmp_path):
    path = tmp_path / "c.pcap"
    big_pcap(path, 20000)
    with FrameIndex(str(path)) as idx:
        idx.build()
        cols = idx._cols
        size = sum(a.itemsize * len(a) for a in (cols.offsets, cols.caplens, cols.origlens,
                                                 cols.ts_ns, cols.ifaces))
        assert size / len(idx) <= 40
        assert (idx.offsets.dtype, idx.caplens.dtype, idx.origlens.dtype, idx.ts_ns.dtype,
                idx.ifaces.dtype) == (np.int64, np.uint32, np.uint32, np.int64, np.uint16)
        assert not idx.ts_ns.flags.writeable


def test_cancel_stops_early(tmp_path):
    path = tmp_path / "big.pcap"
    big_pcap(path, 60000)
    cancel = threading.Event()
    with FrameIndex(str(path)) as idx:
        idx.build(progress=lambda n, done, total: cancel.set(), cancel=cancel)
        assert idx.cancelled and 0 < len(idx) < 60000
        assert idx.frame(len(idx) - 1) == numbered(len(idx) - 1)
        assert idx.finished.is_set()


def test_reads_while_building_are_consistent(tmp_path):
    path = tmp_path / "grow.pcap"
    frames = big_pcap(path, 120000)
    idx = FrameIndex(str(path))
    worker = threading.Thread(target=idx.build)
    worker.start()
    checks = 0
    while not idx.finished.is_set() or checks < 3:
        n = len(idx)
        if n:
            ts = idx.ts_ns
            assert len(ts) >= n
            last = n - 1
            assert idx.frame(last) == frames[last]
            assert ts[last] == (1000 + last) * 10 ** 9 + (last % 1_000_000) * 1000
            assert idx.caplens[last] == len(frames[last])
            checks += 1
        if idx.finished.is_set():
            break
    worker.join(60)
    assert len(idx) == 120000 and idx.error is None
    idx.close()


def test_errors():
    with pytest.raises(CaptureError, match="no such file"):
        FrameIndex("/nonexistent/file.pcap")
    with pytest.raises(CaptureError, match="nothing to index"):
        FrameIndex().build()


def test_frame_out_of_range(tmp_path):
    path = tmp_path / "s.pcap"
    big_pcap(path, 3)
    with FrameIndex(str(path)) as idx:
        idx.build()
        assert idx.frame(-1) == numbered(2)
        with pytest.raises(IndexError):
            idx.frame(3)
        with pytest.raises(CaptureError, match="already built"):
            idx.build()
