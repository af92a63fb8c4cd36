"""`read -T fields` from the summary columns prints exactly what the per-frame dissectors
print, on every corpus capture (the columns are only a faster road to the same cells)."""
from __future__ import annotations

import pytest

from analyzer.engine import fastfields
from analyzer.output import FieldsFormat

from .corpus import all_files, our_cells

FIELDS = sorted(fastfields.CELLS)


@pytest.fixture(scope="module")
def files(corpus_dir):
    return all_files(corpus_dir)


def test_column_path_equals_dissector_path(corpus_dir, files):
    fmt = FieldsFormat()
    diffs = []
    tunnels: list[str] = []
    for file in files:
        path = corpus_dir / "pcaps" / file
        fc = fastfields.open_columns(str(path))
        if fc is None:
            tunnels.append(file)   # served by the per-frame path instead
            continue
        fast = "".join(fastfields.lines(fc, FIELDS, fmt)).splitlines()
        slow = ["\t".join(cells) for cells in our_cells(path, FIELDS)]
        assert len(fast) == len(slow), file
        for n, (a, b) in enumerate(zip(fast, slow), 1):
            if a != b:
                diffs.append((file, n, [(f, x, y) for f, x, y in
                                        zip(FIELDS, a.split("\t"), b.split("\t")) if x != y]))
    assert diffs == []
    # Tunnels (L2TP over PPPoE; SRv6's IPv6-in-IPv6) take the per-frame path.
    assert set(tunnels) == {"dpkt_dns-a-aaaa-cname-soa-http.pcap",
                            "tcpdump_ipv6-segment-routing-header.pcap"}


def test_serves_only_column_fields():
    fmt = FieldsFormat()
    assert fastfields.serves(["frame.number", "tcp.seq"], fmt)
    assert not fastfields.serves(["frame.number", "tcp.window_size"], fmt)
    assert not fastfields.serves(["ip.src"], FieldsFormat.parse(["occurrence=f"]))


def test_count_limits_rows(corpus_dir):
    path = corpus_dir / "pcaps" / "zeek_http11-get.pcap"
    fc = fastfields.open_columns(str(path))
    out = "".join(fastfields.lines(fc, ["frame.number"], FieldsFormat(), count=3))
    assert out == "1\n2\n3\n"
