"""Differential test against tshark 4.0 on the whole corpus: the foundation's columns.

The issue's bar: >= 99.5% of cells agree over the corpus (cells either side fills), with
every allowed difference listed, with its reason, in tests/corpus.py ALLOWED.
"""
from __future__ import annotations

import pytest

from analyzer.capture import open_capture
from dissectors import CaptureState, dissect_frame

from .corpus import L2L4_FIELDS, all_files, compare


@pytest.fixture(scope="module")
def stats(corpus_dir):
    return compare(all_files(corpus_dir), L2L4_FIELDS, corpus_dir)


def test_overall_agreement(stats):
    agree = sum(s.agree + s.allowed for s in stats.values())
    total = sum(s.total for s in stats.values())
    worst = sorted(stats.items(), key=lambda kv: kv[1].ratio)[:5]
    detail = "; ".join(f"{k} {100 * v.ratio:.2f}% e.g. {v.mismatches[:2]}" for k, v in worst)
    assert agree / total >= 0.995, f"{agree}/{total} cells agree; worst: {detail}"


@pytest.mark.parametrize("name", L2L4_FIELDS)
def test_field_agreement(stats, name):
    """No single field may hide behind the overall figure: each agrees on >= 98% of cells."""
    st = stats[name]
    assert st.ratio >= 0.98, f"{name}: {st.agree}+{st.allowed}/{st.total}; {st.mismatches[:5]}"


def test_every_capture_reads_and_dissects(corpus_dir):
    """All corpus captures read without an exception and no dissector hits a bug; frames
    cut by snaplen or contradicting themselves carry an expert mark instead."""
    bugs = []
    marked = 0
    for file in all_files(corpus_dir):
        with open_capture(str(corpus_dir / "pcaps" / file)) as reader:
            state = CaptureState()
            for n, f in enumerate(reader, 1):
                root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                          linktype=f.linktype, iface=f.iface, state=state)
                if "bug" in pkt.hints:
                    bugs.append((file, n, pkt.hints["bug"]))
                marked += bool(pkt.damage)
    assert bugs == []
    assert marked > 0  # the corpus has snaplen-cut and malformed frames: they must show
