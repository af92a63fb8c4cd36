"""Every corpus capture reads like tshark 4.0 read it: same frames, times and lengths."""
from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from analyzer.capture import open_capture

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
csv.field_size_limit(1 << 30)


def _manifest() -> list[dict[str, str]]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


ROWS = _manifest()
NAMES = [r["file"] for r in ROWS] or ["(no corpus)"]
PCAPNG = [n for n in NAMES if n.endswith(".pcapng")] or ["(no corpus)"]


def _tsv(name: str) -> list[dict[str, str]]:
    with open(CORPUS / "tshark" / f"{name}.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def epoch(f) -> str:
    """frame.time_epoch as tshark prints it (nothing for frames without a time stamp)."""
    if not f.has_ts:
        return ""
    sec, ns = divmod(f.ts_ns, 1_000_000_000)
    return f"{sec}.{ns:09d}"


@pytest.mark.parametrize("name", NAMES)
def test_corpus_capture_matches_tshark(name, corpus_dir):
    row = next(r for r in ROWS if r["file"] == name)
    reader = open_capture(str(corpus_dir / "pcaps" / name))
    frames = list(reader)
    reader.close()
    want = _tsv(name)
    assert len(frames) == int(row["packets"]) == len(want)
    got = [(epoch(f), str(f.origlen), str(f.caplen)) for f in frames]
    assert got == [(w["frame.time_epoch"], w["frame.len"], w["frame.cap_len"]) for w in want]
    # tshark complained about exactly the files we report damage in
    complained = (corpus_dir / "tshark" / f"{name}.stderr.txt").is_file()
    assert (reader.error is not None) == complained, reader.error


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", PCAPNG)
def test_corpus_pcapng_comments_and_interfaces_match_tshark(name, corpus_dir):
    path = corpus_dir / "pcaps" / name
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields",
                          "-e", "frame.comment", "-e", "frame.interface_name",
                          "-E", "occurrence=a", "-E", "aggregator=\n"],
                         capture_output=True, text=True, timeout=60).stdout
    reader = open_capture(str(path))
    frames = list(reader)
    lines = out.splitlines()
    assert len(lines) == len(frames)
    for f, line in zip(frames, lines, strict=True):
        comment, _, iface_name = line.partition("\t")
        assert (f.comment or "") == comment
        if f.iface >= 0 and reader.interfaces[f.iface].section == 0:
            # tshark 4.0 names interfaces of later sections after the first section's
            # (a Wireshark bug), so compare names in the first section only.
            # (tshark says "unknown" for an interface without if_name)
            assert (reader.interfaces[f.iface].name or "unknown") == iface_name
