"""`wirelens report`: text for people, one JSON object for scripts, exit codes for CI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"

FINDING_KEYS = {"id", "severity", "summary", "explanation", "remedy", "responsible",
                "confidence", "stream", "flow", "frames", "metrics"}
CONV_KEYS = {"stream", "proto", "client", "server", "state", "history", "packets", "bytes_c2s",
             "bytes_s2c", "start", "duration", "handshake_rtt_ms", "retransmissions",
             "zero_window_ms", "rst_from"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analyzer.cli", "report", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_json_contract() -> None:
    r = _run(str(SAMPLES / "resets.pcap"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc["capture"]) >= {"file", "packets", "first", "last", "duration"}
    assert doc["capture"]["packets"] == 40
    assert doc["findings"] and all(FINDING_KEYS <= set(f) for f in doc["findings"])
    assert {f["id"] for f in doc["findings"]} >= {"wirelens.rst.unread_data", "wirelens.rst.abort",
                                                  "wirelens.rst.closed_port_data",
                                                  "wirelens.rst.idle_timeout"}
    convs = doc["conversations"]
    assert len(convs) == 4 and all(CONV_KEYS <= set(c) for c in convs)
    assert all(c["client"].startswith("10.77.1.1:") and c["rst_from"] for c in convs)
    assert {c["state"] for c in convs} == {"RSTR"}


def test_conversation_counts_add_up_to_the_capture() -> None:
    doc = json.loads(_run(str(SAMPLES / "http_keepalive.pcap"), "--json").stdout)
    (conv,) = [c for c in doc["conversations"] if c["proto"] == "tcp"]
    assert conv["state"] == "SF" and conv["handshake_rtt_ms"] > 25
    assert sum(c["packets"] for c in doc["conversations"]) <= doc["capture"]["packets"]


@pytest.mark.parametrize("fail_on,code", [("error", 1), ("warn", 1), (None, 0)])
def test_fail_on_exit_status(fail_on: str | None, code: int) -> None:
    args = [str(SAMPLES / "refused.pcap")] + (["--fail-on", fail_on] if fail_on else [])
    assert _run(*args).returncode == code


def test_fail_on_passes_healthy_traffic() -> None:
    assert _run(str(SAMPLES / "http_keepalive.pcap"), "--fail-on", "warn").returncode == 0


def test_text_groups_by_severity_then_lists_conversations() -> None:
    r = _run(str(SAMPLES / "demo.pcapng"))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert text.index("Errors (1)") < text.index("Warnings (") < text.index("Conversations (")
    assert "wirelens.conn.refused" in text and "why:" in text and "do:" in text


@pytest.mark.parametrize("args", [["/nonexistent.pcap"], [str(ROOT / "README.md")]])
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    r = _run(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def _read(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analyzer.cli", "read", *args], cwd=ROOT,
                          capture_output=True, timeout=120, input=stdin)


def test_read_two_pass_marks_the_frames_of_a_finding() -> None:
    """-2: frames a finding rests on get an Info suffix and a filterable tree item."""
    r = _read("-r", str(SAMPLES / "refused.pcap"), "-2")
    lines = r.stdout.decode().splitlines()
    marked = [ln.split()[0] for ln in lines if ln.endswith("[Connection refused]")]
    assert marked == ["1", "2", "13", "14"]
    r = _read("-r", str(SAMPLES / "resets.pcap"), "-2", "-T", "fields", "-e", "frame.number",
              "-e", "wirelens.rst.idle_timeout", "-e", "wirelens.explanation")
    rows = [ln.split("\t") for ln in r.stdout.decode().splitlines()]
    idle = [row for row in rows if row[1] == "1"]
    assert [row[0] for row in idle] == ["39", "40"] and "idle timeout" in idle[0][2]
    # without -2 nothing of ours is added: the output stays tshark's
    plain = _read("-r", str(SAMPLES / "refused.pcap")).stdout.decode()
    assert "[Connection refused]" not in plain


def test_read_two_pass_needs_a_file() -> None:
    data = (SAMPLES / "refused.pcap").read_bytes()
    r = _read("-r", "-", "-2", stdin=data)
    assert r.returncode == 2 and b"-2 needs a file" in r.stderr


def test_report_filter_keeps_what_matches() -> None:
    """-Y keeps the findings and conversations with a matching frame; a bad one exits 2."""
    doc = json.loads(_run(str(SAMPLES / "demo.pcapng"), "--json", "-Y", "tcp.port == 8081").stdout)
    assert [f["id"] for f in doc["findings"]] == ["wirelens.conn.refused"]
    assert [c["server"] for c in doc["conversations"]] == ["10.77.2.2:8081"]
    bad = _run(str(SAMPLES / "demo.pcapng"), "-Y", "tcp.port ==")
    assert bad.returncode == 2 and bad.stderr.splitlines()[-1].strip() == "^"


def test_read_two_pass_filters_on_findings() -> None:
    r = _read("-r", str(SAMPLES / "resets.pcap"), "-2", "-Y", "wirelens.rst.idle_timeout",
              "-T", "fields", "-e", "frame.number")
    assert r.returncode == 0 and r.stdout.decode().split() == ["39", "40"]


def test_report_filter_on_analysis_fields() -> None:
    """Generated fields are filterable in a fresh process (their modules load on demand)."""
    doc = json.loads(_run(str(SAMPLES / "demo.pcapng"), "--json", "-Y",
                          "tcp.analysis.fast_retransmission").stdout)
    assert {f["id"] for f in doc["findings"]} == {"wirelens.path.loss"}
