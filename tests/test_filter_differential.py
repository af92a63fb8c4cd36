"""Display filters against tshark 4.0: the same frames for every expression of the suite.

tests/data/filter_expected.json holds, for 260+ expressions (every operator, literal kind,
function, slice, multi-occurrence and precedence case), the frame numbers
`tshark -Y EXPR` selects in tests/data/filter_corpus.pcapng (18 corpus captures concatenated)
or the fact that tshark rejects the expression. tools/filter_expected.py regenerates both.

Three paths are checked: `match` in tshark's single pass (what `read -Y` does), `select`
over the columns of a reference store (what the TUI and `report -Y` do), and the CLI.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analyzer.capture import open_capture
from analyzer.engine.annotate import SequenceAnnotator
from analyzer.filter import FilterError, compile_filter
from analyzer.filter.refstore import ReferenceStore
from dissectors import CaptureState, dissect_frame

DATA = Path(__file__).resolve().parent / "data"
DOC = json.loads((DATA / "filter_expected.json").read_text())
CAPTURE = DATA / DOC["capture"]
EXPR = DOC["expressions"]
DIFFERENCES = DOC["differences"]
ACCEPTED = [e for e, r in EXPR.items() if "frames" in r and e not in DIFFERENCES]
REJECTED = [e for e, r in EXPR.items() if "error" in r and e not in DOC["extensions"]]


def single_pass(path: Path, exprs: list[str]) -> dict[str, set[int]]:
    """Frames each filter selects when the capture is dissected once, in order."""
    filters = {e: compile_filter(e) for e in exprs}
    out: dict[str, set[int]] = {e: set() for e in exprs}
    reader = open_capture(str(path))
    state = CaptureState()
    annotate = SequenceAnnotator()
    try:
        for n, f in enumerate(reader, 1):
            name = ""
            if reader.format == "pcapng" and 0 <= f.iface < len(reader.interfaces):
                name = reader.interfaces[f.iface].name or "unknown"
            root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                      linktype=f.linktype, iface=f.iface, comment=f.comment,
                                      has_ts=f.has_ts, iface_name=name, state=state)
            annotate(root, pkt)
            state.prev_displayed_ts_ns = f.ts_ns
            for e, flt in filters.items():
                if flt.match(root, pkt, f.data):
                    out[e].add(n)
    finally:
        reader.close()
    return out


@pytest.fixture(scope="module")
def tree_sets() -> dict[str, set[int]]:
    return single_pass(CAPTURE, ACCEPTED)


@pytest.fixture(scope="module")
def store():
    s = ReferenceStore(str(CAPTURE))
    yield s
    s.close()


def test_suite_is_broad():
    assert len(ACCEPTED) >= 150
    assert len(REJECTED) >= 10


@pytest.mark.parametrize("expr", ACCEPTED)
def test_same_frames_as_tshark(expr, tree_sets):
    want = set(EXPR[expr]["frames"])
    got = tree_sets[expr]
    assert got == want, f"only wirelens: {sorted(got - want)[:10]}, " \
                        f"only tshark: {sorted(want - got)[:10]}"


@pytest.mark.parametrize("expr", REJECTED)
def test_rejected_like_tshark(expr):
    with pytest.raises(FilterError):
        compile_filter(expr)


@pytest.mark.parametrize("expr", DOC["extensions"])
def test_deliberate_extensions(expr, tree_sets):
    """Wireshark 4.2's `xor`/`^^` and whitespace-separated sets, which tshark 4.0 rejects,
    are accepted: users copy filters from newer Wiresharks."""
    flt = compile_filter(expr)
    assert flt.fields


def test_xor_means_one_or_the_other(tree_sets):
    got = single_pass(CAPTURE, ["tcp xor tcp.port == 80", "tcp.port in {80 443}"])
    assert got["tcp xor tcp.port == 80"] == tree_sets["tcp"] - tree_sets["tcp.port == 80"]
    assert got["tcp.port in {80 443}"] == tree_sets["tcp.port in {80, 443, 8080}"] - \
        single_pass(CAPTURE, ["tcp.port == 8080"])["tcp.port == 8080"]


@pytest.mark.parametrize("expr", sorted(DIFFERENCES))
def test_deliberate_differences(expr):
    """A bare word naming a protocol only Wireshark has is a literal here: `ff` is a byte."""
    got = single_pass(CAPTURE, [expr, DIFFERENCES[expr]])
    assert got[expr] == got[DIFFERENCES[expr]] != set(EXPR[expr]["frames"])


@pytest.mark.parametrize("expr", ACCEPTED)
def test_columns_give_tree_answers(expr, tree_sets, store):
    """select() (columns first, dissection for the rest) equals the tree in every row."""
    sel = compile_filter(expr).select(store)
    got = set((np.flatnonzero(sel) + 1).tolist())
    assert got == tree_sets[expr]


# Captures whose rows the summary's fast path leaves to the dissectors in many ways: tunnels,
# fragments, pcapng sections and interfaces, cut frames, IPv6 extension headers, IP options.
MORE_CAPTURES = ["zeek_ipv4-fragments-udp.pcap", "arkime_ipv4-fragmented-tcp-socks5-http.pcap",
                 "tcpdump_pptp-bigendian.pcap", "gopacket_pcapng-le-test202-multisection.pcapng",
                 "zeek_tcp-header-truncated-snaplen.pcap", "libpcap_ipv6-all-extension-headers-udp.pcap",
                 "tcpdump_ipv4-timestamp-option-malformed.pcap", "arkime_vlan-qinq-8100-http.pcap",
                 "zeek_udp-length-exceeds-capture.pcap", "arkime_dns-over-tcp.pcap",
                 "suricata_tcp-window-full-smtp-icmp-fragneeded.pcap", "zeek_trunc-ethernet-header.pcap"]
COLUMN_EXPRS = ["tcp", "udp", "ip", "ipv6", "icmp", "tcp.port == 80", "tcp.port != 80",
                "udp.port == 53", "ip.addr == 10.0.0.0/8", "ipv6.addr == fe80::/10",
                "ip.flags.mf == 1", "ip.flags.df", "tcp.len > 0", "tcp.stream == 0",
                "udp.stream == 1", "tcp.analysis.flags", "count(ip.addr) == 2",
                "frame.len > 1000", "frame.time_relative > 1", "tcp.flags & 0x02",
                "ip.ttl in {1..64}", "tcp.hdr_len > 20", "ip.opt.type", "icmp.type == 3",
                "ipv6.hlim == 64", "tcp.window_size_value < 1000", "ip.src == ip.dst"]


@pytest.mark.parametrize("name", MORE_CAPTURES)
def test_columns_equal_tree_on_more_captures(corpus_dir, name):
    path = corpus_dir / "pcaps" / name
    if not path.is_file():
        pytest.skip(f"{name} not in the corpus")
    tree = single_pass(path, COLUMN_EXPRS)
    store = ReferenceStore(str(path))
    try:
        for expr in COLUMN_EXPRS:
            got = set((np.flatnonzero(compile_filter(expr).select(store)) + 1).tolist())
            assert got == tree[expr], expr
    finally:
        store.close()
