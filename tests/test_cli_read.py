"""`wirelens read` end to end: tshark's flags, formats, errors and exit codes."""
from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli import main

ROOT = Path(__file__).resolve().parents[1]

# A TCP SYN, Ethernet/IPv4 (zeek http11-get frame 1):
# 00 10 db 88 d2 ef c8 bc c8 96 d2 a0 08 00 45 00  ..............E.
SYN = bytes.fromhex(
    "0010db88d2efc8bcc896d2a0080045000040df8e400040066dd38d8ee405c096bb2b"
    "e9d00050fe21323a00000000b002ffff3bc00000020405b4010303040101080a164a"
    "dd200000000004020000")


def pcap_bytes(frames: list[tuple[int, bytes]], linktype: int = 1) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for ts_us, data in frames:
        out.append(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(data),
                               len(data)))
        out.append(data)
    return b"".join(out)


@pytest.fixture
def small_pcap(tmp_path: Path) -> Path:
    p = tmp_path / "small.pcap"
    p.write_bytes(pcap_bytes([(1_000_000, SYN), (1_250_000, SYN), (2_000_000, SYN[:40])]))
    return p


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_default_columns(capsys, small_pcap):
    rc, out, _ = run(capsys, "read", "-r", str(small_pcap))
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 3
    assert lines[0].startswith("    1   0.000000 141.142.228.5 → 192.150.187.43 ")
    assert lines[1].startswith("    2   0.250000 ")
    assert " 78 " in lines[0]


def test_count_and_fields(capsys, small_pcap):
    rc, out, _ = run(capsys, "read", "-r", str(small_pcap), "-c", "2", "-T", "fields",
                     "-e", "frame.number", "-e", "frame.time_delta", "-e", "eth.type",
                     "-E", "header=y", "-E", "separator=,")
    assert rc == 0
    assert out.splitlines() == ["frame.number,frame.time_delta,eth.type",
                                "1,0.000000000,0x0800", "2,0.250000000,0x0800"]


def test_unknown_field_is_one_line_exit_2(capsys, small_pcap):
    rc, out, err = run(capsys, "read", "-r", str(small_pcap), "-T", "fields", "-e", "ip.srcc")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "ip.srcc" in err and "did you mean" in err


def test_bad_files(capsys, tmp_path):
    missing = tmp_path / "nope.pcap"
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a capture\n")
    for path in (missing, empty, text):
        rc, out, err = run(capsys, "read", "-r", str(path))
        assert rc == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err


def test_cut_short_file_keeps_good_frames(capsys, tmp_path):
    data = pcap_bytes([(0, SYN), (10, SYN)])
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[:-20])
    rc, out, err = run(capsys, "read", "-r", str(p))
    assert rc == 0  # something was read: not a failure
    assert len(out.splitlines()) == 1
    assert err.count("\n") == 1 and "wirelens:" in err


def test_verbose_and_hex(capsys, small_pcap):
    rc, out, _ = run(capsys, "read", "-r", str(small_pcap), "-c", "1", "-V", "-x")
    assert rc == 0
    assert out.startswith("Frame 1: 78 bytes on wire (624 bits), 78 bytes captured (624 bits)\n")
    assert "\nEthernet II, Src: c8:bc:c8:96:d2:a0, Dst: 00:10:db:88:d2:ef\n" in out
    assert "    Type: IPv4 (0x0800)\n" in out
    assert "\n0000  00 10 db 88 d2 ef c8 bc c8 96 d2 a0 08 00 45 00   ..............E.\n" in out


def test_json_is_tshark_shaped(capsys, small_pcap):
    import json
    rc, out, _ = run(capsys, "read", "-r", str(small_pcap), "-c", "2", "-T", "json")
    assert rc == 0
    doc = json.loads(out)
    assert len(doc) == 2
    layers = doc[0]["_source"]["layers"]
    assert layers["frame"]["frame.number"] == "1"
    assert layers["eth"]["eth.type"] == "0x0800"


def test_write_then_read_back(capsys, small_pcap, tmp_path):
    out_path = tmp_path / "copy.pcap"
    rc, out, _ = run(capsys, "read", "-r", str(small_pcap), "-w", str(out_path), "-c", "2")
    assert rc == 0 and out == ""
    rc, out2, _ = run(capsys, "read", "-r", str(out_path), "-T", "fields", "-e", "frame.len")
    assert out2.splitlines() == ["78", "78"]


def test_gzip_and_stdin(capsys, small_pcap, tmp_path):
    gz = tmp_path / "small.pcap.gz"
    gz.write_bytes(gzip.compress(small_pcap.read_bytes()))
    rc, out, _ = run(capsys, "read", "-r", str(gz), "-T", "fields", "-e", "frame.number")
    assert out.split() == ["1", "2", "3"]
    proc = subprocess.run([sys.executable, "-m", "analyzer.cli", "read", "-r", "-", "-T",
                           "fields", "-e", "frame.cap_len"], input=small_pcap.read_bytes(),
                          capture_output=True, cwd=ROOT, env={**os.environ,
                                                               "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout.split() == [b"78", b"78", b"40"]


def test_time_formats(capsys, small_pcap):
    _, out, _ = run(capsys, "read", "-r", str(small_pcap), "-t", "ud", "-c", "1")
    assert "1970-01-01 00:00:01.000000" in out
    _, out, _ = run(capsys, "read", "-r", str(small_pcap), "-t", "d", "-T", "fields",
                    "-e", "_ws.col.Time")
    assert out.split() == ["0.000000", "0.250000", "0.750000"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_written_file_is_read_by_tshark(capsys, small_pcap, tmp_path):
    out_path = tmp_path / "copy.pcap"
    run(capsys, "read", "-r", str(small_pcap), "-w", str(out_path))
    got = subprocess.run(["tshark", "-n", "-r", str(out_path), "-T", "fields", "-e",
                          "frame.len"], capture_output=True, text=True)
    assert got.stdout.split() == ["78", "78", "40"]


def test_broken_pipe_is_quiet(small_pcap):
    proc = subprocess.Popen([sys.executable, "-m", "analyzer.cli", "read", "-r",
                             str(small_pcap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate()
    assert b"Traceback" not in err


L2L4_FILES = ["tcpdump_tcp-handshake-nanosec-sll.pcap", "zeek_vlan-dot1q-arp-icmp.pcap",
              "arkime_bigendian-icmp-echo.pcap", "zeek_tcp-syn-then-rst.pcap",
              "zeek_icmpv6-echo-ping.pcap", "suricata_tcp-reused-ports-syns.pcap",
              "libpcap_ipv6-all-extension-headers-udp.pcap", "zeek_ipv4-fragments-udp.pcap",
              "zeek_sll2-arp-icmp-icmpv6.pcap", "zeek_tcp-options-mss-sack-ts-wscale.pcap"]
L2L4_PROTOCOLS = {"TCP", "UDP", "ICMP", "ICMPv6", "ARP", "IPv4", "IPv6"}


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", L2L4_FILES)
def test_default_lines_equal_tshark(capsys, corpus_dir, name):
    """The default column line is tshark's, character for character, for frames whose top
    protocol we own (analysis-flagged lines, a later issue, are left out)."""
    path = corpus_dir / "pcaps" / name
    theirs = subprocess.run(["tshark", "-n", "-r", str(path)], capture_output=True,
                            text=True, timeout=60).stdout.splitlines()
    rc, out, _ = run(capsys, "read", "-r", str(path))
    ours = out.splitlines()
    assert rc == 0 and len(ours) == len(theirs)
    compared = 0
    for mine, their in zip(ours, theirs):
        proto = their.split(" → ", 1)[-1].split()[1] if " → " in their else ""
        if proto not in L2L4_PROTOCOLS or "[TCP " in their:
            continue
        compared += 1
        assert mine == their
    assert compared > 0


ANALYSIS_FILES = ["arkime_tcp-retrans-fast-spurious-ooo-dupack.pcap",
                  "zeek_tcp-lost-and-acked-unseen-http.pcap",
                  "suricata_tcp-zero-window-window-full-mqtt.pcap",
                  "zeek_tcp-keepalive-http-upgrade.pcap", "suricata_tcp-reused-ports-syns.pcap"]


@pytest.mark.parametrize("name", ANALYSIS_FILES)
def test_analysis_fields_equal_tshark(capsys, corpus_dir, name):
    """`read -T fields -e tcp.analysis.*` prints what tshark printed (corpus TSV), frame by
    frame: the analyzer's flags reach the tree as tshark shows them."""
    from .corpus import load_tsv
    header, rows = load_tsv(corpus_dir / "tshark" / f"{name}.tcp_analysis.tsv")
    rc, out, _ = run(capsys, "read", "-r", str(corpus_dir / "pcaps" / name), "-T", "fields",
                     *[x for h in header for x in ("-e", h)])
    assert rc == 0
    ours = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    for row in rows:
        assert ours[row[0]] == row, (name, row[0])


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ANALYSIS_FILES + ["zeek_tcp-ssh-many-dups-retrans.pcap"])
def test_stream_times_and_in_flight_equal_tshark(capsys, corpus_dir, name):
    """Fields the corpus TSV lacks, checked against the installed tshark."""
    fields = ["frame.number", "tcp.time_relative", "tcp.time_delta",
              "tcp.analysis.bytes_in_flight", "tcp.analysis.acks_frame",
              "tcp.analysis.push_bytes_sent", "tcp.analysis.duplicate_ack_frame"]
    args = [x for f in fields for x in ("-e", f)]
    path = str(corpus_dir / "pcaps" / name)
    theirs = subprocess.run(["tshark", "-n", "-r", path, "-T", "fields", *args],
                            capture_output=True, text=True, timeout=60).stdout
    rc, out, _ = run(capsys, "read", "-r", path, "-T", "fields", *args)
    assert rc == 0 and out == theirs
