"""The TUI's store adapter: rows agree with `wirelens read` (Info with the TCP analysis
prefixes, addresses, protocol), colouring rules, and the details tree of a re-dissected
frame carries the first pass's analysis and findings."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from analyzer.cli import main
from analyzer.tui.store import PENDING, Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))


def opened(path: Path) -> Store:
    s = Store(str(path))
    s.build_index()
    s.analyze()
    s.dissect_in_order()
    return s


def read_lines(path: Path, capsys) -> list[str]:
    assert main(["read", "-r", str(path)]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_rows_match_read(path, capsys):
    """Source, Destination, Protocol, Length and Info of every row as `read` prints them
    (read runs the TcpAnalyzer in order; the TUI reads the first pass's columns)."""
    s = opened(path)
    lines = read_lines(path, capsys)
    assert len(s) == len(lines) > 0
    for i, line in enumerate(lines):
        r = s.row(i)
        assert r.info != PENDING
        expect = f"{r.number:>5} {r.time:>10} {r.source:>12} → {r.destination:<12} " \
                 f"{r.protocol} {r.length} {r.info}"
        assert expect == line, f"frame {i + 1}"


def test_rows_before_the_in_order_dissection_are_pending():
    s = Store(str(ROOT / "sample_pcaps" / "resets.pcap"))
    s.build_index()
    r = s.row(0)
    assert (r.number, r.info, r.source) == (1, PENDING, "")
    assert r.length > 0 and r.time == "0.000000"
    s.analyze()
    r = s.row(0)
    assert r.info == PENDING and r.source.count(".") == 3   # from the summary columns


def test_colouring_rules():
    s = opened(ROOT / "sample_pcaps" / "resets.pcap")
    rules = {s.row(i).rule for i in range(len(s))}
    assert "rst" in rules
    s = opened(ROOT / "sample_pcaps" / "dns.pcap")
    assert {s.row(i).rule for i in range(len(s))} >= {"dns"}
    s = opened(ROOT / "sample_pcaps" / "bulk_lossy_receiver.pcap")
    bad = [i for i in range(len(s)) if s.row(i).rule == "bad_tcp"]
    assert bad and all(s.row(i).info.startswith("[TCP") for i in bad)


def test_details_tree_has_analysis_and_findings():
    s = opened(ROOT / "sample_pcaps" / "resets.pcap")
    rows = s.findings_rows()
    assert len(rows)
    root, pkt, data = s.dissect(int(rows[0]))
    abbrevs = {n.spec.abbrev for n in root.walk() if n.spec is not None}
    assert "wirelens" in abbrevs
    assert any(a.startswith("wirelens.") and a not in ("wirelens", "wirelens.explanation",
                                                        "wirelens.remedy") for a in abbrevs)
    s = opened(ROOT / "sample_pcaps" / "bulk_lossy_receiver.pcap")
    row = next(i for i in range(len(s)) if s.row(i).rule == "bad_tcp")
    root, _, _ = s.dissect(row)
    assert root.find("tcp.analysis.flags") is not None


def test_cancel_stops_indexing(tmp_path):
    big = Path("/tmp/bench/100k.pcap")
    path = big if big.is_file() else ROOT / "sample_pcaps" / "demo.pcapng"
    s = Store(str(path))
    s.cancel.set()
    s.build_index()
    assert s.analyze() is False and s.stage == "cancelled"


def test_info_cells_have_no_control_characters():
    s = opened(ROOT / "sample_pcaps" / "demo.pcapng")
    buf = io.StringIO()
    for i in range(len(s)):
        buf.write(s.row(i).info)
    assert not any(ord(c) < 32 for c in buf.getvalue())
