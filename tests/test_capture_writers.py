"""Writers: what we write reads back identically, tshark reads it, and it is never broken."""
from __future__ import annotations

import io
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.capture import (CaptureError, PcapngWriter, PcapWriter, RawFrame, open_capture,
                              open_writer)
from tests.test_capture_blocks import (FRAME, FRAME2, custom, dsb, epb, idb, pcap_file, shb,
                                       spb)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_FILES = sorted((CORPUS / "pcaps").iterdir()) if (CORPUS / "pcaps").is_dir() else []
HAVE_TSHARK = shutil.which("tshark") is not None


def essence(frames, reader):
    """What a copy must keep: time, lengths, link type, interface name, bytes, comment."""
    out = []
    for f in frames:
        name = reader.interfaces[f.iface].name if f.iface >= 0 else None
        out.append((f.ts_ns, f.caplen, f.origlen, f.linktype, name, f.data, f.comment))
    return out


def copy(src: Path, dst: Path):
    reader = open_capture(str(src))
    with open_writer(str(dst), like=reader) as w:
        for f in reader:
            w.write(f)
    return reader


@pytest.mark.parametrize("nano", [False, True])
def test_pcap_round_trip_is_byte_identical(tmp_path, nano):
    data = pcap_file([(1, 2, FRAME), (3, 999999, FRAME2, 1514)], nano=nano, snaplen=1600)
    (tmp_path / "in.pcap").write_bytes(data)
    copy(tmp_path / "in.pcap", tmp_path / "out.pcap")
    assert (tmp_path / "out.pcap").read_bytes() == data


def test_pcap_writer_microseconds_truncates_nanoseconds():
    out = io.BytesIO()
    w = PcapWriter(out, 1, nanosecond=False)
    w.write(RawFrame(1_500_000_123_456_789, 60, 60, 1, 0, FRAME))
    w.close()
    frames = list(open_capture(io.BytesIO(out.getvalue())))
    assert frames[0].ts_ns == 1_500_000_123_456_000


def test_pcap_writer_refuses_a_second_link_type():
    w = PcapWriter(io.BytesIO(), 1)
    with pytest.raises(CaptureError, match="one link type"):
        w.write(RawFrame(0, 60, 60, 113, 0, FRAME))


def test_pcapng_round_trip_keeps_interfaces_comments_secrets_and_custom_blocks():
    src = (shb() + idb(1, 96, [(2, b"eth0")]) + idb(113, 0, [(2, b"any")])
           + dsb(0x544C534B, b"CLIENT_RANDOM aa bb\n")
           + epb(0, 5, FRAME, options=[(1, b"first packet")]) + epb(1, 6, FRAME2, 1000)
           + custom(0xBAD, 32473, b"keep") + custom(0x40000BAD, 32473, b"drop")
           + spb(FRAME))
    reader = open_capture(io.BytesIO(src))
    out = io.BytesIO()
    w = open_writer(out, like=reader)
    assert isinstance(w, PcapngWriter)
    frames = list(reader)
    for f in frames:
        w.write(f)
    w.close()
    back = open_capture(io.BytesIO(out.getvalue()))
    got = list(back)
    assert back.error is None and back.secrets == reader.secrets
    kept = [f for f in frames if f.block_type != 0x40000BAD]   # "do not copy" blocks
    assert essence(got, back) == essence(kept, reader)
    assert [f.comment for f in got] == ["first packet", None, None, None]
    # an SPB has no time stamp of its own; the copy is an EPB at time 0
    assert (got[-1].block_type, got[-1].ts_ns) == (6, 0)


def test_open_writer_chooses_the_format(tmp_path):
    pcap_reader = open_capture(io.BytesIO(pcap_file([(1, 0, FRAME)], nano=True)))
    w = open_writer(str(tmp_path / "a.out"), like=pcap_reader)
    assert isinstance(w, PcapWriter) and w.nanosecond
    w.close()
    w = open_writer(str(tmp_path / "b.pcapng"), like=pcap_reader)
    assert isinstance(w, PcapngWriter)
    w.close()
    ng_reader = open_capture(io.BytesIO(shb() + idb() + epb(0, 1, FRAME)))
    w = open_writer(str(tmp_path / "c.pcap"), like=ng_reader)
    assert isinstance(w, PcapngWriter)
    w.close()


def test_writer_to_an_impossible_path():
    reader = open_capture(io.BytesIO(pcap_file([(1, 0, FRAME)])))
    with pytest.raises(CaptureError, match="cannot write"):
        open_writer("/nonexistent-dir/x.pcap", like=reader)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_file_is_valid_after_every_write_and_flush(tmp_path, fmt):
    path = tmp_path / f"grow.{fmt}"
    w = PcapWriter(str(path), 1) if fmt == "pcap" else PcapngWriter(str(path))
    assert list(open_capture(str(path))) == []   # the header alone is a valid capture
    for i in range(1, 6):
        w.write(RawFrame(i * 10 ** 9, 60, 60, 1, 0, FRAME, comment=f"c{i}"))
        w.flush()
        r = open_capture(str(path))
        assert len(list(r)) == i and r.error is None
    w.close()


def test_ctrl_c_leaves_a_readable_file(tmp_path):
    path = tmp_path / "live.pcapng"
    # SIGINT is ignored in processes started in the background (as CI may start us), and a
    # child inherits that: restore Python's handler so the interrupt really arrives.
    code = ("import signal, sys, time; sys.path.insert(0, %r)\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from analyzer.capture import PcapngWriter, RawFrame\n"
            "frame = RawFrame(0, 600, 600, 1, 0, bytes(600))\n"
            "with PcapngWriter(%r) as w:\n"
            "    print('ready', flush=True)\n"
            "    while True:\n"
            "        w.write(frame)\n" % (str(ROOT), str(path)))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    finally:
        proc.kill()
    r = open_capture(str(path))
    frames = list(r)
    assert r.error is None and len(frames) > 100


@pytest.mark.parametrize("src", CORPUS_FILES or [None], ids=lambda p: p.name if p else "none")
def test_corpus_copies_read_back_equal(tmp_path, src):
    if src is None:
        pytest.skip("../shared/corpus not present")
    reader = copy(src, tmp_path / ("out." + ("pcapng" if src.suffix == ".pcapng" else "pcap")))
    frames = list(open_capture(str(src)))
    back = open_capture(str(next(tmp_path.iterdir())))
    got = list(back)
    kept = [f for f in frames if f.block_type != 0x40000BAD]
    assert back.error is None
    assert essence(got, back) == essence(kept, reader)


def _tshark_fields(path: Path) -> list[str]:
    return subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields",
                           "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len",
                           "-e", "frame.encap_type", "-e", "frame.comment",
                           "-e", "frame.interface_name"],
                          capture_output=True, text=True, timeout=60).stdout.splitlines()


@pytest.mark.skipif(not HAVE_TSHARK, reason="tshark not installed")
@pytest.mark.parametrize("name", ["zeek_pcapng-multi-interface-dns.pcapng",
                                  "gopacket_pcapng-be-test008-comments.pcapng",
                                  "tcpdump_tcp-handshake-nanosec-sll.pcap",
                                  "arkime_bigendian-icmp-echo.pcap"])
def test_tshark_reads_our_copies_like_the_originals(tmp_path, name):
    src = CORPUS / "pcaps" / name
    if not src.is_file():
        pytest.skip("../shared/corpus not present")
    out = tmp_path / name
    copy(src, out)
    assert _tshark_fields(out) == _tshark_fields(src)


@pytest.mark.skipif(not HAVE_TSHARK, reason="tshark not installed")
def test_tshark_reads_our_comments(tmp_path):
    path = tmp_path / "c.pcapng"
    with PcapngWriter(str(path)) as w:
        w.write(RawFrame(1_600_000_000_000_000_001, 60, 60, 1, 0, FRAME, comment="héllo"))
        w.write(RawFrame(1_600_000_000_500_000_000, 64, 1514, 1, 0, FRAME2))
    assert _tshark_fields(path) == ["1600000000.000000001\t60\t60\t1\théllo\tunknown",
                                    "1600000000.500000000\t1514\t64\t1\t\tunknown"]
