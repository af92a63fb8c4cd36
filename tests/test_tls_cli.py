"""`wirelens read --tls-keylog FILE`: key logs mark the sessions they cover."""
from __future__ import annotations

from pathlib import Path

from analyzer.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "sample_pcaps"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def keyed_frames(out: str) -> dict[str, str]:
    rows = [line.split("\t") for line in out.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) > 1 and r[1]}


def test_keylog_file_marks_client_hellos(capsys) -> None:
    rc, out, _ = run(capsys, "read", "-r", str(SAMPLES / "tls_handshakes.pcap"),
                     "--tls-keylog", str(SAMPLES / "tls_handshakes.keylog"),
                     "-T", "fields", "-e", "frame.number", "-e", "tls.handshake.keylog")
    assert rc == 0
    marked = keyed_frames(out)
    assert sorted(marked, key=int) == ["4", "28", "46", "64"]
    assert marked["46"] == "CLIENT_RANDOM"
    assert "SERVER_HANDSHAKE_TRAFFIC_SECRET" in marked["4"]


def test_without_a_keylog_nothing_is_marked(capsys) -> None:
    rc, out, _ = run(capsys, "read", "-r", str(SAMPLES / "tls_handshakes.pcap"), "-T",
                     "fields", "-e", "frame.number", "-e", "tls.handshake.keylog")
    assert rc == 0 and keyed_frames(out) == {}


def test_pcapng_secrets_are_read_without_the_option(capsys) -> None:
    rc, out, _ = run(capsys, "read", "-r", str(SAMPLES / "demo.pcapng"), "-T", "fields",
                     "-e", "frame.number", "-e", "tls.handshake.keylog")
    assert rc == 0 and list(keyed_frames(out)) == ["8"]


def test_unreadable_keylog_is_one_line_exit_2(capsys, tmp_path: Path) -> None:
    rc, out, err = run(capsys, "read", "-r", str(SAMPLES / "demo.pcapng"), "--tls-keylog",
                       str(tmp_path / "missing.keylog"))
    assert rc == 2 and out == ""
    assert err.startswith("wirelens: cannot read ") and err.count("\n") == 1
