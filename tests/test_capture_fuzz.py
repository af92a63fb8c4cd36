"""Hostile bytes: open_capture raises only CaptureError, iteration never raises or hangs, and
the index agrees with the reader on whatever the damage is."""
from __future__ import annotations

import gzip
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.capture import CaptureError, FrameIndex, open_capture
from tests.test_capture_blocks import FRAME, epb, idb, pcap_file, shb

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pcaps"
SEEDS = [p.read_bytes() for p in sorted(CORPUS.iterdir())[::6]] if CORPUS.is_dir() else []
SEEDS += [pcap_file([(1, 2, FRAME)] * 3), pcap_file([(1, 2, FRAME)], order=">", nano=True),
          shb() + idb() + epb(0, 1, FRAME) * 3, shb(">") + idb(order=">")
          + epb(0, 1, FRAME, options=[(1, b"x")], order=">")]

SETTINGS = settings(max_examples=150, deadline=5000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def read_all(data: bytes):
    """(frames, error) or None when the bytes are refused at open; nothing else may escape."""
    try:
        reader = open_capture(io.BytesIO(data))
    except CaptureError as e:
        assert str(e) and "\n" not in str(e)
        return None
    frames = list(reader)          # bounded: every frame consumes bytes of a finite input
    assert reader.error is None or (reader.error and "\n" not in reader.error)
    return frames, reader.error


def index_all(data: bytes):
    fd, name = tempfile.mkstemp(suffix=".cap")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            idx = FrameIndex(name)
        except CaptureError:
            return None
        with idx:
            idx.build()
            return list(idx.frames()), idx.error
    finally:
        os.unlink(name)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "word"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            word = draw(st.sampled_from([0, 1, 3, 0xFFFFFFFF, 0x7FFFFFFF, 12, 32, 1 << 20]))
            data[at:at + 4] = word.to_bytes(4, draw(st.sampled_from(["little", "big"])))
    return bytes(data)


PREFIXES = [b"", pcap_file([]), pcap_file([], order=">"), shb() + idb(), shb(">")]


@SETTINGS
@given(st.sampled_from(PREFIXES), st.binary(max_size=600))
def test_random_bytes_after_a_valid_header(prefix, tail):
    got = read_all(prefix + tail)
    assert got == index_all(prefix + tail)


@SETTINGS
@given(mutated())
def test_mutated_captures(data):
    got = read_all(data)
    assert got == index_all(data)


@SETTINGS
@given(mutated())
def test_mutated_gzip_captures(data):
    packed = bytearray(gzip.compress(data, 1))
    if len(packed) > 20:
        packed[len(packed) // 2] ^= 0x55
    read_all(bytes(packed))
    read_all(gzip.compress(data, 1)[: len(packed) // 2])
