"""Byte-literal unit tests of the pcap and pcapng readers, built with struct in the test.

The builders here (pcap_file, shb, idb, epb, ...) are shared by the other capture tests.
"""
from __future__ import annotations

import struct

# --- builders ----------------------------------------------------------------------------


def pcap_file(records, order: str = "<", nano: bool = False, linktype: int = 1,
              snaplen: int = 65535, version: tuple[int, int] = (2, 4)) -> bytes:
    """A pcap file; records are (sec, frac, data) or (sec, frac, data, origlen)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen,
                       linktype)]
    for rec in records:
        sec, frac, data = rec[:3]
        orig = rec[3] if len(rec) > 3 else len(data)
        out.append(struct.pack(order + "IIII", sec, frac, len(data), orig) + data)
    return b"".join(out)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def opt(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + pad(value)


def opts(items, order: str = "<") -> bytes:
    """An options list (code, value) ending in opt_endofopt; empty stays empty."""
    if not items:
        return b""
    return b"".join(opt(c, v, order) for c, v in items) + b"\0\0\0\0"


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    body = pad(body)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def shb(order: str = "<", version: tuple[int, int] = (1, 0), options=()) -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, version[0], version[1],
                                         -1) + opts(options, order), order)


def idb(linktype: int = 1, snaplen: int = 0, options=(), order: str = "<") -> bytes:
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts(options, order),
                 order)


def epb(iface: int, ticks: int, data: bytes, origlen: int | None = None, options=(),
        order: str = "<") -> bytes:
    orig = len(data) if origlen is None else origlen
    body = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                       orig) + pad(data) + opts(options, order)
    return block(6, body, order)


def pb(iface: int, ticks: int, data: bytes, origlen: int | None = None, options=(),
       order: str = "<") -> bytes:
    orig = len(data) if origlen is None else origlen
    body = struct.pack(order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                       orig) + pad(data) + opts(options, order)
    return block(2, body, order)


def spb(data: bytes, origlen: int | None = None, order: str = "<") -> bytes:
    orig = len(data) if origlen is None else origlen
    return block(3, struct.pack(order + "I", orig) + pad(data), order)


def isb(iface: int, ticks: int, options=(), order: str = "<") -> bytes:
    return block(5, struct.pack(order + "III", iface, ticks >> 32, ticks & 0xFFFFFFFF)
                 + opts(options, order), order)


def nrb(records, order: str = "<") -> bytes:
    """records: (type, value bytes) pairs; an end record is added."""
    body = b"".join(struct.pack(order + "HH", t, len(v)) + pad(v) for t, v in records)
    return block(4, body + b"\0\0\0\0", order)


def dsb(stype: int, data: bytes, order: str = "<") -> bytes:
    return block(0x0A, struct.pack(order + "II", stype, len(data)) + pad(data), order)


def custom(btype: int, pen: int, data: bytes, order: str = "<") -> bytes:
    return block(btype, struct.pack(order + "I", pen) + data, order)


def u64(v: int, order: str = "<") -> bytes:
    return struct.pack(order + "Q", v)


# --- tests -------------------------------------------------------------------------------

import gzip  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from analyzer.capture import (CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError,  # noqa: E402
                              Interface, RawFrame, open_capture)

ROOT = Path(__file__).resolve().parents[1]

# A 60-byte Ethernet broadcast frame:
# 0x0000:  ffff ffff ffff 0011 2233 4455 0800 0000  ..........."3DU....
FRAME = bytes.fromhex("ffffffffffff0011223344550800") + bytes(46)
FRAME2 = bytes.fromhex("001122334455ffffffffffff86dd") + bytes(range(50))


def read(data: bytes):
    """All frames of a capture given as bytes, and the reader (for error, interfaces ...)."""
    r = open_capture(io.BytesIO(data))
    return list(r), r


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(order, nano):
    data = pcap_file([(1700000000, 123456, FRAME), (1700000001, 999999, FRAME2, 1514)],
                     order=order, nano=nano, linktype=1, snaplen=96)
    frames, r = read(data)
    mult = 1 if nano else 1000
    assert r.format == "pcap" and r.error is None
    assert r.interfaces == [Interface(1, snaplen=96, tsresol=10 ** 9 if nano else 10 ** 6)]
    assert r.interfaces[0].precision == (9 if nano else 6)
    assert frames == [
        RawFrame(1700000000 * 10 ** 9 + 123456 * mult, 60, 60, 1, 0, FRAME, 40),
        RawFrame(1700000001 * 10 ** 9 + 999999 * mult, 64, 1514, 1, 0, FRAME2, 40 + 60 + 16),
    ]


@pytest.mark.parametrize("linktype", [1, 0, 108, 101, 12, 14, 228, 229, 113, 276, 147, 65000])
def test_pcap_link_types_pass_through(linktype):
    frames, r = read(pcap_file([(1, 2, FRAME)], linktype=linktype))
    assert frames[0].linktype == linktype == r.interfaces[0].linktype


def test_pcap_fcs_bits_are_masked_off():
    # F bit (28) set and an FCS length of 2 (x 16 bits) in bits 29-31: link type stays 1.
    frames, r = read(pcap_file([(1, 2, FRAME)], linktype=1 | 0x10000000 | (2 << 29)))
    assert frames[0].linktype == 1
    assert r.interfaces[0].fcslen == 4


def test_pcap_snaplen_cut_frames_keep_origlen():
    frames, _ = read(pcap_file([(1, 0, FRAME[:20], 60)], snaplen=20))
    assert (frames[0].caplen, frames[0].origlen, frames[0].data) == (20, 60, FRAME[:20])


def test_pcap_caplen_above_snaplen_is_accepted_like_tshark():
    frames, r = read(pcap_file([(1, 0, FRAME), (2, 0, FRAME)], snaplen=20))
    assert len(frames) == 2 and r.error is None


def test_pcap_truncated_mid_record():
    data = pcap_file([(1, 0, FRAME), (2, 0, FRAME2)])[:-10]
    frames, r = read(data)
    assert [f.data for f in frames] == [FRAME]
    assert r.error == ("file cut short in the middle of a packet record at byte 100 "
                       "(54 of 64 packet bytes present)")


def test_pcap_truncated_mid_record_header():
    frames, r = read(pcap_file([(1, 0, FRAME)]) + b"\x01\x02\x03")
    assert len(frames) == 1
    assert r.error == "file cut short in the middle of a packet record header at byte 100"


def test_pcap_garbage_after_records():
    frames, r = read(pcap_file([(1, 0, FRAME), (2, 0, FRAME)]) + b"GARBAGE GARBAGE GARBAGE!")
    assert len(frames) == 2
    assert r.error.startswith("garbage or damage at byte 176: a record claims")


def test_pcap_huge_caplen_stops_with_error():
    data = pcap_file([(1, 0, FRAME)]) + struct.pack("<IIII", 1, 0, 300000, 300000) + bytes(64)
    frames, r = read(data)
    assert len(frames) == 1
    assert "300000 captured bytes, more than the 262144-byte limit" in r.error


def test_pcap_header_only_has_no_frames():
    frames, r = read(pcap_file([]))
    assert frames == [] and r.error is None


def test_pcap_unsupported_version():
    with pytest.raises(CaptureError, match="unsupported pcap version 1.0"):
        read(pcap_file([], version=(1, 0)))


def test_pcap_short_file_header():
    with pytest.raises(CaptureError, match=r"cut short in the pcap file header \(20 of 24"):
        read(pcap_file([])[:20])


# --- pcapng ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_epb_both_byte_orders_with_comment(order):
    head = shb(order) + idb(1, 65535, [(2, b"eth0"), (3, b"uplink"), (9, b"\x09")], order)
    data = (head + epb(0, 1_700_000_000_123_456_789, FRAME, options=[(1, b"hello\0")], order=order)
            + epb(0, 1_700_000_001_000_000_000, FRAME2, 1514, order=order))
    frames, r = read(data)
    assert r.format == "pcapng" and r.error is None
    assert r.interfaces == [Interface(1, "eth0", "uplink", 65535, 10 ** 9, 0)]
    a, b = frames
    assert (a.ts_ns, a.caplen, a.origlen, a.linktype, a.iface, a.data, a.comment) == \
        (1_700_000_000_123_456_789, 60, 60, 1, 0, FRAME, "hello")
    assert a.offset == len(head) + 28 and a.block_type == 6 and a.has_ts
    assert (b.origlen, b.comment) == (1514, None)


def test_pcapng_several_comments_are_joined():
    frames, _ = read(shb() + idb() + epb(0, 1, FRAME, options=[(1, b"one"), (1, b"two")]))
    assert frames[0].comment == "one\ntwo"


@pytest.mark.parametrize("tsresol, ticks, want_ns, digits", [
    (b"\x06", 1_700_000_000_000_001, 1_700_000_000_000_001_000, 6),        # default µs
    (b"\x03", 1_700_000_000_123, 1_700_000_000_123_000_000, 3),            # 10^-3
    (b"\x8a", 1024 * 5 + 512, 5_500_000_000, 3),                           # 2^-10
    (b"\x94", 3, 2861, 6),                                                  # 2^-20: floor
    (b"\x0c", 123_456_789_012, 123_456_789, 9),                            # 10^-12: floor
])
def test_pcapng_tsresol(tsresol, ticks, want_ns, digits):
    opts_ = [] if tsresol == b"\x06" else [(9, tsresol)]
    frames, r = read(shb() + idb(1, 0, opts_) + epb(0, ticks, FRAME))
    assert frames[0].ts_ns == want_ns
    assert r.interfaces[0].precision == digits


def test_pcapng_tsoffset_adds_seconds_and_may_be_negative():
    frames, r = read(shb() + idb(1, 0, [(14, u64(1_000_000_000))]) + epb(0, 2_500_000, FRAME)
                     + idb(1, 0, [(14, struct.pack("<q", -1))]) + epb(1, 2_500_000, FRAME))
    assert [f.ts_ns for f in frames] == [1_000_000_002_500_000_000, 1_500_000_000]
    assert r.interfaces[0].tsoffset == 1_000_000_000


def test_pcapng_multi_section_maps_interfaces_globally():
    data = (shb("<") + idb(1, 0, [(2, b"a")]) + idb(0, 0, [(2, b"b")]) + epb(1, 1, FRAME)
            + shb(">") + idb(113, 0, [(2, b"c")], ">") + epb(0, 2, FRAME2, order=">")
            + shb("<") + idb(101) + epb(0, 3, FRAME))
    frames, r = read(data)
    assert [(f.iface, f.linktype) for f in frames] == [(1, 0), (2, 113), (3, 101)]
    assert [(i.name, i.section, i.local_id) for i in r.interfaces] == \
        [("a", 0, 0), ("b", 0, 1), ("c", 1, 0), ("", 2, 0)]


def test_pcapng_interface_ids_restart_in_each_section():
    data = shb() + idb(1) + idb(0) + shb() + idb(101) + epb(1, 1, FRAME)
    frames, r = read(data)
    assert frames == [] and "names interface 1, but its section has 1 interface" in r.error


def test_pcapng_spb_takes_section_interface_zero_without_time():
    data = shb() + idb(1, 40) + spb(FRAME, 1514) + spb(FRAME[:30], 30)
    frames, r = read(data)
    a, b = frames
    # caplen = min(origlen, snaplen, bytes in the block)
    assert (a.caplen, a.origlen, a.data, a.has_ts, a.ts_ns, a.block_type) == \
        (40, 1514, FRAME[:40], False, 0, 3)
    assert (b.caplen, b.origlen, b.data) == (30, 30, FRAME[:30])


def test_pcapng_spb_without_interface_is_damage():
    frames, r = read(shb() + spb(FRAME))
    assert frames == [] and "section has 0 interface(s)" in r.error


def test_pcapng_obsolete_packet_block():
    frames, _ = read(shb() + idb(1) + idb(1) + pb(1, 5_000_000, FRAME, 100,
                                                  options=[(1, b"old")]))
    f = frames[0]
    assert (f.iface, f.ts_ns, f.origlen, f.comment, f.block_type) == (1, 5 * 10 ** 9, 100, "old", 2)


def test_pcapng_isb_drops_dsb_secrets_nrb_names():
    keylog = b"CLIENT_RANDOM 00 11\n"
    data = (shb() + idb(1) + idb(1) + dsb(0x544C534B, keylog)
            + nrb([(1, bytes([10, 0, 0, 1]) + b"one.example\0uno\0"),
                   (2, bytes(15) + b"\x01" + b"localhost\0"), (9, b"ignored")])
            + epb(0, 1, FRAME) + isb(1, 2, [(5, u64(7))]) + isb(1, 3, [(5, u64(9))])
            + isb(0, 4, [(4, u64(100))]))
    frames, r = read(data)
    assert len(frames) == 1 and r.error is None
    assert r.drops == {1: 9}
    assert r.secrets == [(0x544C534B, keylog)]
    assert r.names == [(bytes([10, 0, 0, 1]), "one.example"), (bytes([10, 0, 0, 1]), "uno"),
                       (bytes(15) + b"\x01", "localhost")]


def test_pcapng_unknown_blocks_are_skipped_custom_blocks_are_frames():
    data = (shb() + idb(1) + block(0x1234, b"abcd") + custom(0xBAD, 32473, b"copy me!")
            + custom(0x40000BAD, 32473, b"private") + epb(0, 1, FRAME))
    frames, r = read(data)
    assert r.error is None
    c1, c2, pkt = frames
    assert (c1.linktype, c1.iface, c1.data, c1.pen, c1.block_type, c1.has_ts) == \
        (CUSTOM_BLOCK_LINKTYPE, NO_IFACE, b"copy me!", 32473, 0xBAD, False)
    assert c2.data == b"private\0" and c2.block_type == 0x40000BAD   # padding is part of it
    assert pkt.data == FRAME


def test_pcapng_minor_version_2_is_read():
    frames, r = read(shb(version=(1, 2)) + idb() + epb(0, 1, FRAME))
    assert len(frames) == 1 and r.error is None


def test_pcapng_unsupported_major_version():
    with pytest.raises(CaptureError, match="unsupported pcapng version 2.0"):
        read(shb(version=(2, 0)) + idb() + epb(0, 1, FRAME))


def test_pcapng_later_section_with_unsupported_version_stops():
    frames, r = read(shb() + idb() + epb(0, 1, FRAME) + shb(version=(3, 0)) + epb(0, 1, FRAME))
    assert len(frames) == 1 and "unsupported pcapng version 3.0" in r.error


GOOD = shb() + idb() + epb(0, 1, FRAME)


@pytest.mark.parametrize("tail, message", [
    (struct.pack("<II", 6, 33) + bytes(25), "length 33 is not a multiple of 4"),
    (struct.pack("<II", 6, 8) + bytes(8), "length 8 is too short"),
    (struct.pack("<II", 6, 0) + bytes(8), "length 0 is too short"),
    (struct.pack("<II", 6, 0x7FFFFFFC) + bytes(8), "more than the"),
    (epb(0, 2, FRAME)[:-4] + b"\x99\0\0\0", "trailing length 153 does not match"),
    (block(6, struct.pack("<IIIII", 0, 0, 1, 200, 200) + FRAME), "200 captured bytes do not fit"),
    (b"hello world, this is not a block!!!", "garbage or damage at byte 140: no valid block"),
    (bytes(64), "no valid block there (type 0x00000000, length 0 is too short)"),
    (epb(0, 2, FRAME)[:40], "cut short in the middle of a packet record at byte 140"),
    (idb()[:16], "cut short in the middle of an interface description block"),
    (b"\x06\0\0", "cut short in the middle of a block header at byte 140"),
    (epb(5, 2, FRAME), "names interface 5, but its section has 1 interface(s)"),
    (struct.pack("<4sI4s", b"\n\r\r\n", 28, b"XXXX") + bytes(16), "bad byte-order magic"),
])
def test_pcapng_hostile_blocks_stop_with_one_line(tail, message):
    frames, r = read(GOOD + tail)
    assert len(frames) == 1 and frames[0].data == FRAME
    assert message in r.error and "\n" not in r.error


def test_pcapng_huge_block_length_allocates_nothing_big():
    # A header claiming 100 MB: we stop at the end of the bytes present, without waiting.
    frames, r = read(GOOD + struct.pack("<II", 6, 100_000_000) + bytes(64))
    assert len(frames) == 1 and "cut short" in r.error


def test_pcapng_empty_section():
    frames, r = read(shb())
    assert frames == [] and r.error is None and r.interfaces == []


def test_pcapng_cut_in_first_section_header():
    with pytest.raises(CaptureError, match="cut short in the pcapng section header"):
        read(shb()[:20])


# --- sources -----------------------------------------------------------------------------


def test_gzip_pcap_and_pcapng(tmp_path):
    for name, data in (("a.pcap.gz", pcap_file([(1, 0, FRAME), (2, 0, FRAME2)])),
                       ("b.pcapng.gz", GOOD + epb(0, 2, FRAME2))):
        path = tmp_path / name
        path.write_bytes(gzip.compress(data))
        r = open_capture(str(path))
        frames = list(r)
        assert [f.data for f in frames] == [FRAME, FRAME2] and r.error is None
        # offsets are positions in the decompressed capture
        assert all(data[f.offset:f.offset + f.caplen] == f.data for f in frames)


def test_gzip_damaged_stream_keeps_good_frames(tmp_path):
    packed = gzip.compress(pcap_file([(i, 0, FRAME) for i in range(2000)]))
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[:len(packed) // 2])
    r = open_capture(str(path))
    frames = list(r)
    assert 0 < len(frames) < 2000
    assert "gzip" in r.error or "cut short" in r.error


def test_gzip_of_garbage(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"just some text, not a capture"))
    with pytest.raises(CaptureError, match='not a pcap or pcapng capture file; it starts with '
                                           'text "just some text, "'):
        open_capture(str(path))


def test_stdin_pipe_streams_the_first_frame_before_the_writer_is_done():
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from analyzer.capture import open_capture\n"
            "for f in open_capture('-'):\n"
            "    print(f.caplen, f.origlen, f.ts_ns, flush=True)\n" % str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=False)
    try:
        proc.stdin.write(pcap_file([(7, 5, FRAME)]))
        proc.stdin.flush()
        first = proc.stdout.readline()          # arrives while stdin is still open
        assert first == b"60 60 7000005000\n"
        proc.stdin.write(struct.pack("<IIII", 8, 0, len(FRAME2), 99) + FRAME2)
        proc.stdin.close()
        assert proc.stdout.read() == b"64 99 8000000000\n"
    finally:
        proc.kill()
        proc.wait(10)


def test_os_pipe_with_a_writer_thread():
    rfd, wfd = os.pipe()
    data = GOOD + epb(0, 2, FRAME2)

    def feed():
        with os.fdopen(wfd, "wb") as w:
            for i in range(0, len(data), 7):   # dribble the bytes in small pieces
                w.write(data[i:i + 7])
                w.flush()

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(rfd, "rb") as fh:
        r = open_capture(fh)
        frames = list(r)
    t.join(10)
    assert [f.data for f in frames] == [FRAME, FRAME2] and r.error is None


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty file \\(0 bytes\\), not a capture file"):
        open_capture(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        open_capture(str(tmp_path / "nope.pcap"))
    with pytest.raises(CaptureError, match="is a directory"):
        open_capture(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.pcap"
    path.write_bytes(pcap_file([]))
    path.chmod(0)
    with pytest.raises(CaptureError, match="permission denied"):
        open_capture(str(path))


@pytest.mark.parametrize("data, shown", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n", 'text "GET / HTTP/1.1\\r\\n"'),
    (b"PK\x03\x04" + bytes(20), "a ZIP archive"),
    (b"BZh91AY&SY" + bytes(20), "bzip2-compressed data"),
    (b"\x7fELF\x02\x01\x01" + bytes(20), "an ELF executable"),
    (b"\x01\x02\x03\x04\x05\x06\x07\x08\x09", "bytes 01 02 03 04 05 06 07 08"),
    (b"\xa1\xb2\xcd\x34" + bytes(40), "a modified (Kuznetzov) pcap"),
])
def test_not_a_capture_says_what_it_looks_like(data, shown):
    with pytest.raises(CaptureError) as e:
        read(data)
    assert "not a pcap or pcapng capture file; it starts with " + shown in str(e.value)
    assert "\n" not in str(e.value)


def test_tiny_file():
    with pytest.raises(CaptureError, match="only 2 byte"):
        read(b"\xd4\xc3")


def test_reader_is_a_context_manager_and_an_iterator():
    with open_capture(io.BytesIO(pcap_file([(1, 0, FRAME), (2, 0, FRAME2)]))) as r:
        assert next(r).data == FRAME
        assert [f.data for f in r] == [FRAME2]
