"""Streaming inputs that share the live path: `read -r -` (stdin) and `--follow FILE`,
plus the capture options' checks and the pieces of analyzer/capture/live.py that need no
privileges. A line must appear as soon as its frame arrives, and a stop must keep every
frame already there."""
from __future__ import annotations

import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.capture import open_capture
from analyzer.capture.live import (CaptureError, LiveOptions, NetInterface, PermissionDenied,
                                   _classify, compile_bpf, interfaces_text, list_interfaces,
                                   parse_autostop, resolve_interface)
from analyzer.cli import main

ROOT = Path(__file__).resolve().parents[1]

# A UDP datagram 10.0.0.1:1234 -> 10.0.0.2:53, Ethernet/IPv4, 4 payload bytes "abcd".
UDP = bytes.fromhex(
    "02000000000202000000000108004500002000004000401126c00a0000010a000002"
    "04d20035000c000061626364")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def record(i: int, data: bytes = UDP) -> bytes:
    return struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), len(data)) + data


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wirelens(*args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "analyzer.cli", *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=_env())


def _line(proc: subprocess.Popen, timeout: float = 20) -> bytes:
    """The next output line, which must come within `timeout` (the input stays open)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line while the input was still open: output is not streamed"
    return proc.stdout.readline()


def _frames(path: Path) -> list:
    with open_capture(path) as r:
        frames = list(r)
        assert r.error is None
    return frames


def test_stdin_lines_come_while_the_pipe_is_open(tmp_path):
    out = tmp_path / "copy.pcap"
    proc = _wirelens("read", "-r", "-", "-l", "-P", "-w", str(out), stdin=subprocess.PIPE)
    proc.stdin.write(PCAP_HEADER + record(0))
    proc.stdin.flush()
    first = _line(proc)
    assert b"10.0.0.1 \xe2\x86\x92 10.0.0.2" in first and b"DNS" in first
    proc.stdin.write(record(1) + record(2)[:20])        # half a record: wait for the rest
    proc.stdin.flush()
    assert _line(proc).split()[0] == b"2"
    # Ctrl-C does not cut a stream short: the writer upstream ends it, nothing is lost.
    proc.send_signal(signal.SIGINT)
    proc.stdin.write(record(2)[20:] + record(3))
    proc.stdin.close()
    rest, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(30)
    assert proc.returncode == 0, err
    assert [ln.split()[0] for ln in rest.splitlines()] == [b"3", b"4"]
    assert len(_frames(out)) == 4


def _grow(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def test_follow_reads_a_growing_file_and_ctrl_c_keeps_everything(tmp_path):
    cap = tmp_path / "growing.pcap"
    out = tmp_path / "out.pcapng"
    proc = _wirelens("read", "--follow", str(cap), "-l", "-P", "-w", str(out))
    ready, _, _ = select.select([proc.stderr], [], [], 20)
    assert ready and b"waiting for" in proc.stderr.readline()
    _grow(cap, PCAP_HEADER + record(0))                 # the file appears after we started
    assert _line(proc).split()[0] == b"1"
    _grow(cap, record(1) + record(2)[:30])
    assert _line(proc).split()[0] == b"2"
    _grow(cap, record(2)[30:])
    assert _line(proc).split()[0] == b"3"
    _grow(cap, record(3))
    assert _line(proc).split()[0] == b"4"
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert rest == b""
    assert b"Traceback" not in err
    frames = _frames(out)
    assert [f.ts_ns // 10**9 - 1_700_000_000 for f in frames] == [0, 1, 2, 3]


def test_follow_stops_on_duration_and_count(tmp_path):
    cap = tmp_path / "g.pcap"
    cap.write_bytes(PCAP_HEADER + record(0) + record(1))
    start = time.monotonic()
    proc = _wirelens("read", "--follow", str(cap), "-a", "duration:1")
    stdout, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(stdout.splitlines()) == 2
    assert time.monotonic() - start < 20
    proc = _wirelens("read", "--follow", str(cap), "-c", "1")
    stdout, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and len(stdout.splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["read"], "give one of -r FILE, -i IFACE or --follow FILE"),
    (["read", "-r", "x.pcap", "-i", "lo"], "-r and -i cannot be used together"),
    (["read", "-r", "x.pcap", "-f", "udp"], "-f applies to a live capture"),
    (["read", "--follow", "x.pcap", "--capture-with", "tcpdump"],
     "--capture-with applies to a live capture"),
    (["read", "-r", "x.pcap", "-a", "duration:3"], "-a duration: applies to -i or --follow"),
    (["read", "-r", "-", "-a", "duration:3"], "-a duration: applies to -i or --follow"),
    (["read", "-r", "-", "-a", "filesize:10"], 'stops on "duration:SECONDS" or "packets:N"'),
    (["read", "-r", "-", "-a", "duration:-1"], "duration needs a positive number"),
    (["read", "-i", "lo", "-2"], "-2 needs a file"),
])
def test_option_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err


def test_list_interfaces(capsys):
    assert main(["-D"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split(". ", 1)[1].split()[0] for line in out]
    assert "lo" in names and "any" in names
    assert [int(line.split(".")[0]) for line in out] == list(range(1, len(out) + 1))
    lo = out[names.index("lo")]
    assert "(Loopback)" in lo and "127.0.0.1" in lo
    assert resolve_interface(str(names.index("lo") + 1)) == "lo"
    with pytest.raises(CaptureError):
        resolve_interface(str(len(names) + 1))


def test_interfaces_text_format():
    text = interfaces_text([NetInterface("eth0", "", True, ("192.0.2.1", "fe80::1")),
                            NetInterface("lo", "Loopback", False, ())])
    assert text == "1. eth0  [up  192.0.2.1, fe80::1]\n2. lo (Loopback)  [down]\n"
    assert all(i.name for i in list_interfaces())


def test_parse_autostop():
    assert parse_autostop([]) == (None, None)
    assert parse_autostop(["duration:2.5", "packets:10"]) == (2.5, 10)
    for bad in (["duration:x"], ["packets:0"], ["files:3"]):
        with pytest.raises(CaptureError):
            parse_autostop(bad)


# stderr of the capture tools when they refuse (tcpdump 4.99, dumpcap 4.0), abridged.
@pytest.mark.parametrize("stderr, kind, text", [
    ('dumpcap: You do not have permission to capture on device "lo".\n'
     "(socket: Operation not permitted)", PermissionDenied, "no permission to capture on lo"),
    ("tcpdump: lo: You don't have permission to perform this capture on that device",
     PermissionDenied, "wireshark group"),
    ('dumpcap: There is no device named "lo".\n(No such device exists)', CaptureError,
     "no such interface: lo"),
    ("dumpcap: Invalid capture filter \"udp prt\" for interface 'lo'.\n\nThat string isn't "
     "a valid capture filter (can't parse filter expression: syntax error).", CaptureError,
     'bad capture filter "udp prt": syntax error'),
    ("tcpdump: something else broke\n", CaptureError, "could not capture on lo: tcpdump: "
     "something else broke"),
])
def test_tool_refusals_become_one_line(stderr, kind, text):
    err = _classify("tcpdump", LiveOptions("lo", bpf="udp prt"), stderr, 1)
    assert type(err) is kind
    assert text in str(err) and "\n" not in str(err)


def test_compile_bpf_for_ethernet_and_cooked():
    if not shutil.which("tcpdump"):
        pytest.skip("tcpdump compiles the filters")
    eth = compile_bpf("udp port 53", 1, 262144)
    raw = compile_bpf("udp port 53", 113, 262144)
    assert len(eth) % 8 == 0 and len(raw) % 8 == 0 and eth != raw
    # The Ethernet program starts by loading the EtherType at offset 12.
    assert struct.unpack_from("HBBI", eth) == (0x28, 0, 0, 12)
    with pytest.raises(CaptureError, match='bad capture filter "udp prt": syntax error'):
        compile_bpf("udp prt", 1, 262144)
    with pytest.raises(CaptureError, match="ethernet addresses"):
        compile_bpf("ether host 1:2:3:4:5:6", 113, 262144)
