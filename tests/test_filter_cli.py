"""`wirelens read -Y`: tshark's single-pass display filter on the command line.

Frame numbers printed with `-T fields -e frame.number` equal tshark's (the stored sets of
tests/data/filter_expected.json); a bad filter is one message line, the filter and a caret
line on stderr, exit 2; `-c` counts frames read, as tshark's does.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from analyzer.cli import main

DATA = Path(__file__).resolve().parent / "data"
CAPTURE = DATA / "filter_corpus.pcapng"
EXPR = json.loads((DATA / "filter_expected.json").read_text())["expressions"]
SAMPLE = ["tcp.port == 80", "tcp.analysis.retransmission", "ip.addr == 10.0.0.0/8",
          "icmp && tcp", "tcp.payload[0:4] == \"GET \"", "not tcp and not udp",
          "tcp.analysis.flags && !tcp.analysis.window_update", "ip.opt.type",
          "tcp.port in {20..25}", "frame.time_delta > 1"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["read", "-r", str(CAPTURE), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("expr", SAMPLE)
def test_read_Y_prints_tsharks_frames(capsys, expr):
    rc, out, err = run(capsys, "-Y", expr, "-T", "fields", "-e", "frame.number")
    assert rc == 0 and err == ""
    assert [int(x) for x in out.split()] == EXPR[expr]["frames"]


def test_read_Y_bad_filter(capsys):
    rc, out, err = run(capsys, "-Y", "tcp.prot == 80")
    assert rc == 2 and out == ""
    assert err == "wirelens: unknown field 'tcp.prot' (did you mean 'tcp.port'?)\n" \
                  "tcp.prot == 80\n^~~~~~~~\n"


def test_read_Y_count_counts_frames_read(capsys):
    """tshark -c N -Y F stops after N frames read, printing those of them that match."""
    want = [n for n in EXPR["tcp.port == 80"]["frames"] if n <= 60]
    rc, out, _ = run(capsys, "-c", "60", "-Y", "tcp.port == 80", "-T", "fields",
                     "-e", "frame.number")
    assert rc == 0 and [int(x) for x in out.split()] == want


def test_read_Y_default_lines_keep_frame_numbers(capsys):
    rc, out, _ = run(capsys, "-Y", "icmp && udp")
    lines = out.splitlines()
    assert rc == 0 and len(lines) == len(EXPR["icmp && udp"]["frames"])
    assert [int(line.split()[0]) for line in lines] == EXPR["icmp && udp"]["frames"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_read_Y_text_lines_equal_tsharks_frame_numbers_live():
    expr = "tcp.flags.syn == 1 || icmp.type == 3"
    t = subprocess.run(["tshark", "-n", "-r", str(CAPTURE), "-Y", expr, "-T", "fields",
                        "-e", "frame.number"], check=False, capture_output=True, text=True).stdout
    w = subprocess.run(["python3", "-m", "analyzer.cli", "read", "-r", str(CAPTURE), "-Y",
                        expr, "-T", "fields", "-e", "frame.number"], check=False, capture_output=True,
                       text=True, cwd=Path(__file__).resolve().parents[1]).stdout
    assert w.split() == t.split() and w.split()
