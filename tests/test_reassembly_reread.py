"""Reassembled TCP PDUs and IP datagrams read back from their frames (dissectors/
tcp_reassembly.py and reassembly.py with `reread`, reassembly.FrameRuns), as the TUI's store
uses them: only a small cache stays in memory, and a frame dissected again after its PDU or
datagram left the cache must show the tree it would show had everything been kept, which
is the tree `wirelens read -2 -V` shows (plus where a segment's PDU ends, which a single
pass cannot know yet).

* the toy length-prefixed protocol of tests/test_tcp_reassembly.py and IPv4 fragments on
  byte literals: an evicted PDU read back, bytes that no longer match (nothing shown rather
  than other bytes), a PDU whose bytes came from a reassembled IP datagram (kept in memory
  instead), overlapping fragments read back with their flags;
* a property test: random PDUs cut into random segments, some resent, dissected again in
  random order with a random cache, give the trees of a state that kept every PDU;
* the TUI store on the corpus captures with the most multi-segment TLS records and with IP
  fragments, keeping nothing but the newest: every frame's details tree, last to first.
"""
from __future__ import annotations

import io
import random
import struct
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.cli import main
from analyzer.engine import scoped
from analyzer.engine.firstpass import first_pass, register_analyzers
from analyzer.output import tree_text
from analyzer.tui.store import Store
from dissectors import CaptureState, dissect_frame
from dissectors import tcp_reassembly as R
from dissectors.dispatch import TCP_PORT
from dissectors.reassembly import CONFLICT, OVERLAP, Reassembler
from tests.test_dissect_ip import A4, B4, EXPERIMENT, frag4
from tests.test_tcp_reassembly import CLIENT, PORT, SERVER, dissect_lp, frame, lp, values

# corpus captures with the most PDUs reassembled from several segments, and with IP fragments
CAPTURES = ["gopacket_pcapng-tls12-https-with-dsb-keys.pcapng",
            "zeek_tls12-https-decryptable.pcap",
            "zeek_tls12-client-certificate.pcap",
            "arkime_tls-client-hello-split-segments.pcap",
            "suricata_raw-tls-tcp-empty-sack.pcap",
            "arkime_ipv4-fragmented-tcp-socks5-http.pcap",
            "zeek_dns-resolver-dnssec-ecs-tc-tcp-retry.pcap",
            "zeek_ipv4-fragmented-syn.pcap",
            "zeek_ipv4-fragments-udp.pcap",
            "zeek_ipv6-fragmented-dns-txt.pcap"]
SLOTS = ("tcp_reassembly", "ip.reassembly", "ipv6.reassembly")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def lp_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TCP_PORT._map, PORT, dissect_lp)


class Capture:
    """Frames fed in order to one CaptureState whose TCP and IPv4 reassembly read frames
    back from `self.frames` (through `self.reread`, which a test may replace) and keep at
    most `cache` bytes in memory (with `reread=False`: everything kept, as without)."""

    def __init__(self, cache: int = 0, reread: bool = True) -> None:
        self.state = CaptureState()
        self.frames: list[bytes] = []
        self.reads: list[int] = []
        self.reread = self._read
        if reread:
            self.st = self.state.slot("tcp_reassembly", lambda: R.TcpReassembly(
                reread=lambda n: self.reread(n), cache_bytes=cache))
            self.ip = self.state.slot("ip.reassembly", lambda: Reassembler(
                reread=lambda n: self.reread(n), cache_bytes=cache))

    def _read(self, number: int) -> bytes | None:
        self.reads.append(number)
        return self.frames[number - 1] if 0 < number <= len(self.frames) else None

    def add(self, data: bytes) -> None:
        self.frames.append(data)
        self.show(len(self.frames))

    def expected(self) -> list[str]:
        """Each frame's tree when dissected again, all PDUs kept in memory."""
        twin = Capture(reread=False)
        for data in self.frames:
            twin.add(data)
        return [tree_text(twin.show(n)[0]) for n in range(1, len(self.frames) + 1)]

    def send(self, seq: int, payload: bytes, sport: int = 50000) -> None:
        self.add(frame(CLIENT, SERVER, sport, PORT, seq, payload))

    def show(self, number: int):
        data = self.frames[number - 1]
        prev = max(number - 1, 1) * 1000      # the previous frame's time, as the store passes
        root, pkt = dissect_frame(data, number=number, ts_ns=number * 1000,
                                  origlen=len(data), linktype=1, state=self.state,
                                  prev_ts_ns=prev, prev_displayed_ts_ns=prev)
        assert "bug" not in pkt.hints, pkt.hints.get("bug")
        return root, pkt


def test_an_evicted_pdu_is_read_back_from_its_frames() -> None:
    c = Capture(cache=0)
    a, b = lp(3000, b"a"), lp(2000, b"b")
    c.send(1, a[:1000])
    c.send(1001, a[1000:2000])
    c.send(2001, a[2000:] + b[:500])          # completes A, starts B
    c.send(3003 + 500, b[500:])               # completes B: A leaves the cache
    assert not c.st.cache and not c.st.kept
    want = c.expected()
    c.reads.clear()
    root, pkt = c.show(3)
    assert c.reads == [1, 2, 3]               # A's segments, read back
    assert tree_text(root) == want[2]
    assert values(root, "tcp.segment") == ["1", "2", "3"]
    assert pkt.sources[0][1] == a and pkt.info_text() == "LP 3000"
    assert [tree_text(c.show(n)[0]) for n in (4, 1, 2, 3)] == [want[3], *want[:3]]


def test_the_runs_point_into_the_frames() -> None:
    c = Capture(cache=0)
    pdu = lp(1500)
    c.send(1, pdu[:700])
    c.send(701, pdu[700:])
    runs = c.st.runs
    header = 14 + 20 + 20                       # Ethernet, IPv4, TCP: the payload's offset
    assert len(runs) == 1
    assert [(runs.frame[k], runs.at[k], runs.size[k]) for k in runs.span(0)] == \
        [(1, header, 700), (2, header, 802)]


def test_bytes_that_no_longer_match_show_no_pdu() -> None:
    """A rebuild whose bytes fail the PDU's checksum (the file changed under the store) or
    whose frame cannot be read shows the segments without the PDU, never other bytes."""
    c = Capture(cache=0)
    pdu = lp(1500)
    c.send(1, pdu[:700])
    c.send(701, pdu[700:])
    c.send(1503, lp(4))                       # another frame, so the PDU is not the newest
    c.st.cache.clear()
    c.st.cache_used = 0
    c.reread = lambda n: c.frames[n - 1].replace(b"x" * 10, b"y" * 10)
    root, pkt = c.show(2)
    assert "tcp.segments" not in root.values() and "lp.len" not in root.values()
    assert not pkt.sources
    c.reread = lambda n: None
    root, _ = c.show(2)
    assert "tcp.segments" not in root.values()
    c.reread = c._read                        # readable again: the whole tree is back
    assert tree_text(c.show(2)[0]) == c.expected()[1]


def ip_fragments(payload: bytes, split: int, ident: int) -> list[bytes]:
    """An IPv4 datagram carrying a TCP segment (`payload`), in two fragments cut at byte
    `split` of it (a multiple of 8)."""
    out = []
    for off, more, part in ((0, True, payload[:split]), (split, False, payload[split:])):
        word = (0x2000 if more else 0) | off // 8
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident, word, 64, 6, 0,
                         CLIENT, SERVER)
        out.append(b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + part)
    return out


def test_a_pdu_from_a_reassembled_ip_datagram_stays_in_memory() -> None:
    """Its bytes are not in any frame as they are: it is kept, not read back."""
    c = Capture(cache=0)
    pdu = lp(1200)
    c.send(1, pdu[:400])
    tcp = frame(CLIENT, SERVER, 50000, PORT, 401, pdu[400:])[34:]     # TCP header + payload
    for part in ip_fragments(tcp, 400, 7):
        c.add(part)
    assert list(c.st.kept) == [0] and not c.st.cache
    assert not c.st.runs.span(0)
    for n in range(3):                        # PDUs that can be read back come and go
        c.send(1, lp(900)[:450], sport=50001 + n)
        c.send(451, lp(900)[450:], sport=50001 + n)
    assert list(c.st.kept) == [0]
    root, pkt = c.show(3)
    assert tree_text(root) == c.expected()[2]
    assert pkt.sources[-1][1] == pdu


def test_without_reread_pdus_are_kept_as_before() -> None:
    state = CaptureState()
    frames = [frame(CLIENT, SERVER, 50000, PORT, 1, lp(1000)[:600]),
              frame(CLIENT, SERVER, 50000, PORT, 601, lp(1000)[600:])]
    for n, data in enumerate(frames, 1):
        dissect_frame(data, number=n, ts_ns=n, origlen=len(data), linktype=1, state=state)
    st_ = state.slot("tcp_reassembly", R.TcpReassembly)
    assert st_.runs is None and list(st_.kept) == [0] and st_.kept_bytes == 1002


def test_evicted_ip_datagrams_are_read_back_with_their_flags() -> None:
    """Overlapping, conflicting fragments (zeek_ipv4-fragments-udp's shape), then a second
    datagram that pushes the first out of the cache: the first reads back from frames
    1-3 with the same bytes, fragment list and flags."""
    c = Capture(cache=100)
    head = bytes.fromhex("007b00890012bfe2") + bytes(10)
    body = bytes.fromhex("007b0089010891ca") + b"X" * 296
    c.add(frag4(head, 0, True))
    c.add(frag4(bytes(116), 48, False))
    c.add(frag4(body, 0, True))
    key = (A4, B4, 7, EXPERIMENT)
    dg = c.ip.completed(3, key)
    assert dg is not None and len(dg.data) == 164 and not c.ip._cache    # over the budget
    c.add(frag4(bytes(range(16)), 0, True, ident=9))
    c.add(frag4(bytes(range(16, 40)), 16, False, ident=9))
    assert list(c.ip._cache) == [1] and not c.ip._done
    c.reads.clear()
    assert c.ip.completed(3, key) == dg and sorted(set(c.reads)) == [1, 3]   # not frame 2
    assert dg.flags & OVERLAP and dg.flags & CONFLICT
    want = c.expected()
    assert [tree_text(c.show(n)[0]) for n in (3, 1, 2, 5, 4)] == \
        [want[2], want[0], want[1], want[4], want[3]]
    assert c.ip.completed(3, (A4, B4, 8, EXPERIMENT)) is None     # another key


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3000), min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.integers(0, 5000))
def test_trees_with_a_small_cache_equal_those_with_every_pdu_kept(
        sizes: list[int], rnd: random.Random, cache: int) -> None:
    """PDUs of random sizes, cut into segments at random points (a segment sometimes sent
    twice), then every frame dissected again in random order: the trees of a state that
    kept every PDU in memory, whatever the cache holds."""
    c = Capture(cache=cache)
    stream = b"".join(lp(n, bytes([65 + i % 26])) for i, n in enumerate(sizes))
    pos = 0
    while pos < len(stream):
        n = rnd.randint(1, 1400)
        c.send(1 + pos, stream[pos:pos + n])
        if rnd.random() < 0.15:
            c.send(1 + pos, stream[pos:pos + n])       # a retransmission
        pos += n
    want = c.expected()
    order = list(range(1, len(c.frames) + 1))
    rnd.shuffle(order)
    for n in order:
        assert tree_text(c.show(n)[0]) == want[n - 1], f"frame {n}"
    assert c.st.cache_used <= max(cache, max(sizes) + 2)


# -- scoped dissection (display filters) ----------------------------------------------------

def test_scoped_dissection_releases_the_pages_behind_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every STOP_EVERY frames, the file's mapped pages of the frames dissected since the
    last time are let go, in order, up to the last batch (the trees are unchanged:
    tests/test_filter_scoped.py)."""
    monkeypatch.setattr(scoped, "STOP_EVERY", 16)
    cap = first_pass(ROOT / "sample_pcaps" / "demo.pcapng")
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(cap.index, "release", lambda a, b: calls.append((a, b)),
                        raising=False)
    rows = list(range(0, len(cap), 3))
    got = [r for r, _root, _pkt in scoped.dissect_rows(cap, rows)]
    assert got == rows
    assert len(calls) >= len(scoped.partitions(cap).scope(np.asarray(rows))) // 16
    assert all(a <= b for a, b in calls)
    assert all(b == a2 for (_a, b), (a2, _b) in zip(calls, calls[1:]))   # contiguous
    assert calls[-1][1] > len(cap) // 2


# -- the TUI store on real captures ---------------------------------------------------------

def read_trees(path: Path) -> list[str]:
    """Each frame's tree as `wirelens read -2 -V` prints it."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["read", "-2", "-V", "-r", str(path)]) == 0
    trees: list[str] = []
    for line in out.getvalue().splitlines():
        if line.startswith("Frame "):
            trees.append("")
        if trees and line:
            trees[-1] += line + "\n"
    return trees


def opened(path: Path, cache: int) -> tuple[Store, list]:
    s = Store(str(path))
    slots = [s.state.slot(key, lambda: None) for key in SLOTS]
    for ra in slots:
        ra.cache_bytes = cache
    s.build_index()
    assert s.analyze()
    s.dissect_in_order()
    return s, slots


def first_pass_view(text: str) -> str:
    """A tree as a single pass shows it: a segment or fragment does not know yet where its
    PDU or datagram is reassembled, nor a DNS query where its response is."""
    return "\n".join(line for line in text.rstrip("\n").split("\n")
                     if not ("[Reassembled " in line and " in frame: " in line)
                     and "[Response In: " not in line)


@pytest.mark.parametrize("name", CAPTURES)
def test_store_trees_after_eviction_equal_read(name: str, corpus_dir: Path) -> None:
    """The store keeps no PDU or datagram in memory: every frame dissected again, last to
    first, reads its PDU or datagram back and shows the tree of a store that kept them all,
    which is `read -2 -V`'s plus where segments and fragments end up."""
    register_analyzers()
    path = corpus_dir / "pcaps" / name
    s, (tcp, ip4, ip6) = opened(path, 0)
    keep, _ = opened(path, 1 << 30)
    want = read_trees(path)
    assert len(want) == len(s) and not tcp.kept and not ip4._done and not ip6._done
    reassembled = tcp.next_id + len(ip4._dg_frame) + len(ip6._dg_frame)
    assert reassembled >= 1
    shown = 0
    for row in reversed(range(len(s))):
        root, _, _ = s.dissect(row)
        text = tree_text(root)
        assert text == tree_text(keep.dissect(row)[0]), f"frame {row + 1}"
        assert first_pass_view(text) == want[row].rstrip("\n"), f"frame {row + 1}"
        values_ = root.values()
        shown += sum(k in values_ for k in ("tcp.segments", "ip.fragments", "ipv6.fragments"))
        assert not (tcp.cache or ip4._cache or ip6._cache)
    assert shown == reassembled
