"""Scoped dissection (analyzer/engine/scoped.py): full trees of chosen frames, dissecting only
the frames their state depends on, must equal the trees of one in-order walk over the whole
capture, and display filters over the first pass must select what they selected before.

* unit tests on byte literals: the stream-number hints in dissectors/tcp.py and udp.py,
  and the TLS handshake hint;
* the scope: a candidate pulls in its conversation up to it (earlier streams on reused
  ports included), ICMP echo rows and slow rows, nothing else;
* differential: over every corpus capture and sample capture, for random sets of rows,
  single rows and protocol rows, every tree (every item, label, value, position) and the
  packet's columns equal the in-order walk's, in both ways of dissecting (a tree at once,
  or without a tree first and again as a visited frame);
* the filter suite of tests/test_filter_differential.py and corpus captures through
  `select()` on the first pass's store equal tshark's single pass.
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pytest

from analyzer.engine import scoped
from analyzer.engine.firstpass import _Cursor, first_pass
from analyzer.engine.summary import SLOW
from analyzer.filter import FilterCancelled, compile_filter
from dissectors import CaptureState, dissect_frame
from dissectors.tcp import TcpState
from dissectors.tls import HANDSHAKE_HINT
from dissectors.udp import UdpState
from tests.test_filter_differential import ACCEPTED, CAPTURE, MORE_CAPTURES, single_pass

SAMPLES = Path(__file__).resolve().parents[1] / "sample_pcaps"
A, B, C = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes([10, 0, 0, 3])


# -- byte literals -------------------------------------------------------------------------
def ip_frame(src: bytes, dst: bytes, proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + l4


def tcp_seg(sport: int, dport: int, seq: int, flags: int, payload: bytes = b"",
            ack: int = 0) -> bytes:
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, 5 << 12 | flags, 65535, 0, 0) \
        + payload


def udp_dgram(sport: int, dport: int, payload: bytes = b"abcd") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0x1234) + payload


def dissect(state: CaptureState, number: int, data: bytes, tree: bool = True):
    root, pkt = dissect_frame(data, number=number, ts_ns=number * 10**6, origlen=len(data),
                              linktype=1, state=state, tree=tree)
    assert "bug" not in pkt.hints, pkt.hints.get("bug")
    return root, pkt


def test_tcp_hint_numbers_only_the_stream_a_frame_opens():
    state = CaptureState()
    tcp = state.slot("tcp", TcpState)
    tcp.hint = 7
    root, pkt = dissect(state, 1, ip_frame(A, B, 6, tcp_seg(40000, 443, 100, 0x02)))
    assert root.values()["tcp.stream"] == [7] and pkt.tcp.stream == 7
    tcp.hint = 99    # the conversation exists: the hint does not renumber it
    root, _ = dissect(state, 2, ip_frame(B, A, 6, tcp_seg(443, 40000, 500, 0x12, ack=101)))
    assert root.values()["tcp.stream"] == [7]
    assert root.values()["tcp.ack"] == [1]    # relative numbers kept their state
    tcp.hint = 3
    root, _ = dissect(state, 3, ip_frame(A, C, 6, tcp_seg(40001, 443, 100, 0x02)))
    assert root.values()["tcp.stream"] == [3]
    tcp.hint = None  # without a hint, streams are numbered in order of appearance
    root, _ = dissect(state, 4, ip_frame(C, B, 6, tcp_seg(40002, 80, 100, 0x02)))
    assert root.values()["tcp.stream"] == [len(tcp.streams) - 1] == [2]
    # a visited frame finds its stream by the number it was given
    root, _ = dissect(state, 3, ip_frame(A, C, 6, tcp_seg(40001, 443, 100, 0x02)))
    assert root.values()["tcp.stream"] == [3]


def test_udp_hint_numbers_only_the_conversation_a_frame_opens():
    state = CaptureState()
    udp = state.slot("udp", UdpState)
    udp.hint = 12
    root, _ = dissect(state, 1, ip_frame(A, B, 17, udp_dgram(5000, 6000)))
    assert root.values()["udp.stream"] == [12]
    udp.hint = 4
    root, _ = dissect(state, 2, ip_frame(B, A, 17, udp_dgram(6000, 5000)))
    assert root.values()["udp.stream"] == [12]
    root, _ = dissect(state, 3, ip_frame(A, C, 17, udp_dgram(5000, 6000)))
    assert root.values()["udp.stream"] == [4]
    udp.hint = None
    root, _ = dissect(state, 4, ip_frame(C, B, 17, udp_dgram(5000, 6000)))
    assert root.values()["udp.stream"] == [2]


def tls_record(ct: int, body: bytes) -> bytes:
    return bytes([ct, 3, 3]) + struct.pack("!H", len(body)) + body


# version, random, no session id, one cipher suite, the null compression method
HELLO_BODY = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
CLIENT_HELLO = bytes([1]) + len(HELLO_BODY).to_bytes(3, "big") + HELLO_BODY


@pytest.mark.parametrize("tree", [False, True])
def test_tls_hint_marks_frames_with_handshake_records(tree):
    state = CaptureState()
    dissect(state, 1, ip_frame(A, B, 6, tcp_seg(40000, 443, 100, 0x02)), tree)
    dissect(state, 2, ip_frame(B, A, 6, tcp_seg(443, 40000, 500, 0x12, ack=101)), tree)
    root, pkt = dissect(state, 3, ip_frame(A, B, 6, tcp_seg(40000, 443, 101, 0x18, tls_record(
        22, CLIENT_HELLO))), tree)
    assert pkt.hints.get(HANDSHAKE_HINT) is True
    if tree:
        assert root.values()["tls.handshake.type"] == [1]
    root, pkt = dissect(state, 4, ip_frame(A, B, 6, tcp_seg(40000, 443, 101 + 5 + len(
        CLIENT_HELLO), 0x18, tls_record(23, b"\x99" * 40))), tree)
    assert HANDSHAKE_HINT not in pkt.hints and "tls" in pkt.layers
    if tree:
        assert "tls.handshake.type" not in root.values()


# -- the scope -----------------------------------------------------------------------------
def _capture(corpus_dir: Path, name: str):
    path = corpus_dir / "pcaps" / name
    if not path.is_file():
        pytest.skip(f"{name} not in the corpus")
    return first_pass(str(path))


def test_scope_is_the_conversation_up_to_the_candidate(corpus_dir):
    cap = _capture(corpus_dir, "zeek_http11-browsing-13-conns.pcap")
    c = cap.cols
    p = scoped.partitions(cap)
    assert not p.tunnels and not (c.flags & SLOW).any()
    s = int(np.bincount(c.stream[c.stream >= 0]).argmax())
    rows = np.flatnonzero(c.stream == s)
    row = int(rows[len(rows) // 2])
    scope = p.scope(np.array([row]))
    assert scope.tolist() == rows[rows <= row].tolist()
    assert len(scope) < len(cap) // 4


def test_scope_takes_earlier_streams_on_reused_ports(corpus_dir):
    cap = _capture(corpus_dir, "suricata_tcp-reused-ports-syns.pcap")
    c = cap.cols
    last = len(cap) - 1
    first_stream = int(c.stream[0])
    assert int(c.stream[last]) != first_stream     # the capture reuses its ports
    scope = scoped.partitions(cap).scope(np.array([last]))
    assert 0 in scope.tolist()


def test_filter_dissects_only_the_conversations_of_its_candidates(monkeypatch):
    path = SAMPLES / "demo.pcapng"      # DNS, HTTP and TLS
    cap = first_pass(str(path))
    calls = []
    real = scoped._dissect
    monkeypatch.setattr(scoped, "_dissect", lambda *a: calls.append(a[1]) or real(*a))
    flt = compile_filter('dns.qry.name contains "a"')
    got = set((np.flatnonzero(flt.select(cap)) + 1).tolist())
    assert got == single_pass(path, [flt.text])[flt.text]
    dns = np.flatnonzero((cap.cols.sport == 53) | (cap.cols.dport == 53))
    assert 0 < len(calls) and set(calls) <= set(dns.tolist()) and len(calls) < len(cap)


def test_handshake_filters_build_trees_for_handshake_frames_only(monkeypatch):
    path = SAMPLES / "tls_handshakes.pcap"
    cap = first_pass(str(path))
    trees = []
    real = scoped._dissect

    def counting(index, i, state, tree, prev):
        if tree:
            trees.append(i)
        return real(index, i, state, tree, prev)
    monkeypatch.setattr(scoped, "_dissect", counting)
    flt = compile_filter("tls.handshake.type == 1")
    got = set((np.flatnonzero(flt.select(cap)) + 1).tolist())
    assert got == single_pass(path, [flt.text])[flt.text] and got
    records = "tls.handshake || tls.handshake.encrypted"    # Handshake records
    hs = single_pass(path, [records])[records]
    assert {r + 1 for r in trees} == hs      # the other TLS frames needed no tree


def test_cancel_stops_the_scoped_dissection():
    cap = first_pass(str(SAMPLES / "http_keepalive.pcap"))
    with pytest.raises(FilterCancelled):
        compile_filter("tcp.seq > 1").select(cap, cancel=lambda: True)
    assert list(cap.dissect_rows(np.arange(len(cap)), stop=lambda: True)) == []
    assert len(list(cap.dissect_rows(np.arange(len(cap)), stop=lambda: False))) == len(cap)


# -- differential: scoped trees equal the in-order walk's ----------------------------------------
def signature(root, pkt) -> tuple:
    """Everything a frame shows: every tree item with its depth, field, text, value,
    position, source, generated and hidden flags; Info, Protocol, layers, damage."""
    items: list[tuple] = []

    def walk(node, depth):
        for n in node.children or ():
            items.append((depth, n.spec.abbrev if n.spec is not None else None, n.text(),
                          repr(n.value), n.pos, n.size, n.src, n.generated, n.hidden))
            walk(n, depth + 1)
    walk(root, 0)
    return (tuple(items), pkt.info_text(), pkt.col_protocol, tuple(pkt.layers), pkt.damage,
            tuple(pkt.sources), pkt.hints.get("bug"))


def _captures() -> list[Path]:
    from tests.conftest import CORPUS
    return sorted((CORPUS / "pcaps").glob("*")) + sorted(SAMPLES.glob("*.pcap*"))


def _row_sets(cap, rng: random.Random) -> list[list[int]]:
    n = len(cap)
    if not n:
        return []
    sets = [sorted(rng.sample(range(n), max(1, int(n * share)))) for share in (0.02, 0.1, 0.4)]
    sets += [[rng.randrange(n)] for _ in range(6)] + [[n - 1]]
    c = cap.cols
    for port in (53, 443):
        rows = np.flatnonzero((c.sport == port) | (c.dport == port)).tolist()
        if rows:
            sets.append(rows)
    return [list(r) for r in dict.fromkeys(tuple(r) for r in sets)]


SEEN: set[str] = set()
PATHS: dict[str, int] = {"scoped": 0, "walk": 0}


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_scoped_trees_equal_the_in_order_walk(path):
    if not path.is_file():
        pytest.skip("corpus absent")
    cap = first_pass(str(path))
    cursor = _Cursor(cap.index)
    ref = [signature(*cursor.dissect(i)) for i in range(len(cap))]
    rng = random.Random(path.name)
    PATHS["walk" if scoped.partitions(cap).tunnels else "scoped"] += 1
    sets = _row_sets(cap, rng)
    for k, rows in enumerate(sets + sets[:1]):
        # odd runs: frames without a tree first, a third of them then spared their tree
        skip = (lambda pkt: pkt.number % 3 == 0) if k % 2 else None
        seen = []
        for i, root, pkt in cap.dissect_rows(rows, skip=skip):
            seen.append(i)
            if root is None:
                assert skip is not None and skip(pkt)
                continue
            got = signature(root, pkt)
            assert got == ref[i], _first_difference(path, i, got, ref[i])
            SEEN.update(x[1] for x in got[0] if x[1])
        assert seen == sorted(set(rows))


def _first_difference(path: Path, i: int, got: tuple, want: tuple) -> str:
    for a, b in zip(got[0], want[0]):
        if a != b:
            return f"{path.name} frame {i + 1}: scoped {a} != in order {b}"
    return f"{path.name} frame {i + 1}: scoped {got[1:]} != in order {want[1:]}"


def test_the_differential_covered_stateful_fields(corpus_dir):
    """Run after the differential: it compared the fields that need capture context."""
    if sum(PATHS.values()) < len(_captures()):
        pytest.skip("the differential did not run on every capture")
    want = {"tcp.stream", "tcp.seq", "tcp.ack", "tcp.completeness", "tcp.window_size",
            "tcp.analysis.ack_rtt", "tcp.analysis.bytes_in_flight", "tcp.analysis.flags",
            "tcp.analysis.retransmission", "tcp.analysis.duplicate_ack_frame",
            "tcp.analysis.initial_rtt", "tcp.time_relative", "tcp.time_delta",
            "tcp.segment", "tcp.reassembled.length", "tls.handshake.type",
            "tls.handshake.certificate", "udp.stream", "dns.time", "dns.response_to",
            "dns.retransmit_request_in", "ip.fragment", "ip.fragment.count", "icmp.resp_to",
            "frame.time_delta", "frame.time_relative"}
    assert want - SEEN == set()
    assert PATHS["scoped"] > 100 and PATHS["walk"] >= 1


# -- filters through the first pass's store ---------------------------------------------------
@pytest.fixture(scope="module")
def suite_sets() -> dict[str, set[int]]:
    return single_pass(CAPTURE, ACCEPTED)


class SharedTrees:
    """The first pass's store, whose dissect_rows keeps its answer per set of rows: the
    suite's 260 filters ask for few different sets, and one set always gets the same
    trees (so the filters share them instead of dissecting again)."""

    def __init__(self, cap) -> None:
        self.cap = cap
        self.kept: dict[tuple[bytes, bool], list] = {}

    def __getattr__(self, name: str):
        return getattr(self.cap, name)

    def dissect_rows(self, rows, stop=None, skip=None):
        key = (np.asarray(rows, np.int64).tobytes(), skip is None)
        if skip is not None:
            return self.cap.dissect_rows(rows, stop, skip)
        if key not in self.kept:
            self.kept[key] = list(self.cap.dissect_rows(rows, stop))
        return iter(self.kept[key])


@pytest.fixture(scope="module")
def suite_capture():
    cap = first_pass(str(CAPTURE))
    assert not scoped.partitions(cap).tunnels     # so the suite takes the scoped path
    return SharedTrees(cap)


@pytest.mark.parametrize("expr", ACCEPTED)
def test_filter_suite_through_the_first_pass(expr, suite_sets, suite_capture):
    got = set((np.flatnonzero(compile_filter(expr).select(suite_capture)) + 1).tolist())
    assert got == suite_sets[expr]


TREE_EXPRS = ["tcp.seq > 1000", "tcp.completeness == 31", "tcp.analysis.ack_rtt > 0.01",
              "tcp.time_delta > 0.1", 'dns.qry.name contains "a"', "dns.time > 0",
              "dns.flags.response == 1 && !dns.response_to", "tls.handshake.type == 1",
              "tls.handshake", "tls.record.content_type == 23 && !tls.handshake",
              'tls.handshake.extensions_server_name contains "."', "tcp.reassembled_in",
              "ip.reassembled_in", "icmp.resp_to", "frame.time_delta > 0.5",
              "tcp.stream == 1 && tcp.len > 0", "udp.stream == 2"]


@pytest.mark.parametrize("name", sorted(set(MORE_CAPTURES) | {
    "zeek_tls12-https-decryptable.pcap", "zeek_tls13-hello-retry-request.pcap",
    "zeek_tls13-chrome-kyber-multi-segment-hello.pcap", "arkime_dns-over-tcp.pcap",
    "suricata_tcp-reused-ports-syns.pcap", "zeek_ipv6-fragmented-dns-txt.pcap",
    "arkime_tcp-retrans-fast-spurious-ooo-dupack.pcap"}))
def test_tree_filters_on_more_captures(corpus_dir, name):
    path = corpus_dir / "pcaps" / name
    if not path.is_file():
        pytest.skip(f"{name} not in the corpus")
    want = single_pass(path, TREE_EXPRS)
    cap = first_pass(str(path))
    for expr in TREE_EXPRS:
        got = set((np.flatnonzero(compile_filter(expr).select(cap)) + 1).tolist())
        assert got == want[expr], expr


@pytest.mark.parametrize("name", ["tls_handshakes.pcap", "tls_failures.pcap", "demo.pcapng"])
def test_tree_filters_on_samples(name):
    path = SAMPLES / name
    want = single_pass(path, TREE_EXPRS)
    cap = first_pass(str(path))
    for expr in TREE_EXPRS:
        got = set((np.flatnonzero(compile_filter(expr).select(cap)) + 1).tolist())
        assert got == want[expr], expr
