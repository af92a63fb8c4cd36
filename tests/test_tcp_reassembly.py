"""Generic TCP reassembly (dissectors/tcp_reassembly.py) with a toy protocol.

The toy protocol ("LP") is a 2-byte big-endian length followed by that many bytes; it is
registered on a test port for the duration of each test. Frames are whole Ethernet/IPv4/TCP
packets through dissect_frame, so the hand-off from TCP is the real one. Expected Info texts
and segment listings are tshark 4.0's shapes (compare the TLS corpus captures).
"""
from __future__ import annotations

import struct

import pytest

from dissectors import NULL_TREE, CaptureState, dissect_frame
from dissectors import tcp_reassembly as R
from dissectors.buffer import Buf
from dissectors.dispatch import TCP_PORT
from dissectors.fields import FT, REGISTRY, field, fields_value
from dissectors.packet import Packet
from dissectors.tree import Tree

PORT = 40999
CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
ACK, PSH = 0x10, 0x08
LP_LEN = REGISTRY.get("lp.len") or field("lp.len", "LP length", FT.UINT16)


def lp_len(data: bytes, off: int, end: int) -> int | None:
    return None if end - off < 2 else 2 + (data[off] << 8 | data[off + 1])


def dissect_lp_pdu(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
    n = buf.u16(off)
    pkt.set_protocol("LP")
    text = f"LP {n}"
    if pkt.hints.get("lp"):
        pkt.append_info(text, ", ")
    else:
        pkt.set_info(text)
        pkt.hints["lp"] = True
    tree.add(LP_LEN, off, 2, n)


def dissect_lp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
    R.dissect_pdus(buf, off, end, tree, pkt, pdu_len=lp_len, dissect_pdu=dissect_lp_pdu)


@pytest.fixture(autouse=True)
def lp_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TCP_PORT._map, PORT, dissect_lp)


def frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, payload: bytes,
          flags: int = ACK | PSH, ack: int = 1) -> bytes:
    tcp = struct.pack("!HHIIHHHH", sport, dport, seq, ack, 5 << 12 | flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0, 64, 6, 0,
                     src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


class Conv:
    """One client->server conversation on the LP port, fed frame by frame."""

    def __init__(self) -> None:
        self.state = CaptureState()
        self.frames: list[bytes] = []

    def send(self, seq: int, payload: bytes, tree: bool = True):
        data = frame(CLIENT, SERVER, 50000, PORT, seq, payload)
        self.frames.append(data)
        return self.show(len(self.frames), tree)

    def show(self, number: int, tree: bool = True):
        data = self.frames[number - 1]
        root, pkt = dissect_frame(data, number=number, ts_ns=number * 1000, origlen=len(data),
                                  linktype=1, state=self.state, tree=tree)
        assert "bug" not in pkt.hints, pkt.hints.get("bug")
        return root, pkt


def values(root, abbrev: str) -> list[str]:
    return [fields_value(REGISTRY[abbrev], v) for v in root.values().get(abbrev, [])]


def lp(n: int, fill: bytes = b"x") -> bytes:
    return struct.pack("!H", n) + fill * n


def test_several_pdus_in_one_segment() -> None:
    c = Conv()
    root, pkt = c.send(1, lp(3) + lp(0) + lp(5))
    assert pkt.info_text() == "LP 3, LP 0, LP 5"
    assert values(root, "lp.len") == ["3", "0", "5"]
    assert "tcp.segment" not in root.values()


def test_pdu_spanning_three_segments_then_revisited() -> None:
    c = Conv()
    pdu = lp(3000)
    _, p1 = c.send(1, pdu[:1000])
    _, p2 = c.send(1001, pdu[1000:2000])
    root3, p3 = c.send(2001, pdu[2000:] + lp(1))
    # the first segment holds only the PDU's start: plain TCP, tshark's wording
    assert (p1.col_protocol, p1.info_text()) == ("TCP", R.SEGMENT_INFO)
    # a middle segment keeps TCP's Info and says it is a segment
    assert p2.info_text().endswith(" " + R.SEGMENT_INFO) and p2.col_protocol == "TCP"
    # the last one dissects the reassembled PDU, then the PDU that follows in the frame
    assert p3.info_text() == "LP 3000, LP 1"
    assert values(root3, "tcp.segment") == ["1", "2", "3"]
    assert values(root3, "tcp.segment.count") == ["3"]
    assert values(root3, "tcp.reassembled.length") == ["3002"]
    seg_item = next(n for n in root3.walk() if n.spec is R.SEGMENTS)
    assert seg_item.text() == "[3 Reassembled TCP Segments (3002 bytes): #1(1000), #2(1000), " \
                             "#3(1002)]"
    assert values(root3, "lp.len") == ["3000", "1"]
    assert len(p3.sources) == 1 and len(p3.sources[0][1]) == 3002
    # random access later: the same results, plus where the PDU was completed
    root1, again1 = c.show(1)
    assert again1.visited and again1.info_text() == R.SEGMENT_INFO
    assert values(root1, "tcp.reassembled_in") == ["3"]
    root2, _again2 = c.show(2)
    assert values(root2, "tcp.reassembled_in") == ["3"]
    root3b, again3 = c.show(3)
    assert again3.info_text() == "LP 3000, LP 1"
    assert values(root3b, "tcp.segment") == ["1", "2", "3"]


def test_summary_path_gives_the_same_columns() -> None:
    full, fast = Conv(), Conv()
    pdu = lp(2500)
    pieces = [(1, pdu[:1400]), (1401, pdu[1400:] + lp(2)[:1]), (2504, lp(2)[1:])]
    for seq, data in pieces:
        _, a = full.send(seq, data, tree=True)
        _, b = fast.send(seq, data, tree=False)
        assert (a.col_protocol, a.info_text()) == (b.col_protocol, b.info_text())
    assert b.info_text() == "LP 2"        # a header split over two segments


def test_retransmission_is_not_dissected_again() -> None:
    c = Conv()
    c.send(1, lp(10))
    root, pkt = c.send(1, lp(10))
    assert pkt.col_protocol == "TCP" and "LP" not in pkt.info_text()
    assert "lp.len" not in root.values()
    assert root.find("tcp.segment_data").label == "Retransmitted TCP segment data (12 bytes)"


def test_retransmission_inside_a_reassembled_pdu_reports_the_overlap() -> None:
    c = Conv()
    pdu = lp(2000)
    c.send(1, pdu[:1000])
    c.send(1001, pdu[1000:1500])
    c.send(1501, pdu[1500:])
    _, first = c.send(1, pdu[:1000])          # the PDU's first segment: plain retransmission
    assert "Reassembly error" not in first.info_text()
    _, middle = c.send(1001, pdu[1000:1500])  # inside it: tshark's reassembly error
    assert middle.info_text().endswith(R.OVERLAP_INFO)
    assert R.REASSEMBLY_ERROR in middle.experts


def test_partly_new_segment_gives_only_its_new_bytes() -> None:
    c = Conv()
    c.send(1, lp(4))                            # bytes 1..6
    _, pkt = c.send(4, lp(4)[3:] + lp(7))       # resends 3 old bytes, then a new PDU
    assert pkt.info_text() == "LP 7"


def test_a_segment_after_a_hole_starts_where_it_starts() -> None:
    c = Conv()
    c.send(1, lp(3000)[:1000])                  # a PDU of 3002 bytes starts
    _, pkt = c.send(5001, lp(4))                # bytes 1001..5000 never captured
    assert pkt.info_text() == "LP 4"


def test_out_of_order_segment_fills_the_hole_of_a_pending_pdu() -> None:
    c = Conv()
    pdu = lp(3000) + lp(5)
    c.send(1, pdu[:1000])
    _, later = c.send(2001, pdu[2000:3002])     # arrives before the one it follows
    assert later.info_text().endswith(R.SEGMENT_INFO)
    root, fill = c.send(1001, pdu[1000:2000])   # the hole, out of order: completes the PDU
    assert fill.info_text() == "LP 3000"
    assert values(root, "tcp.segment") == ["1", "3", "2"]     # in offset order
    seg_item = next(n for n in root.walk() if n.spec is R.SEGMENTS)
    assert seg_item.text() == "[3 Reassembled TCP Segments (3002 bytes): #1(1000), #3(1000), " \
                             "#2(1002)]"
    _, after = c.send(3003, pdu[3002:])         # the stream is still in step
    assert after.info_text() == "LP 5"


def test_oversized_length_is_not_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "MAX_PDU", 100)
    c = Conv()
    _, pkt = c.send(1, lp(5000)[:300])
    # too long to buffer: the bytes present are dissected as they are, nothing is held
    assert pkt.info_text() == "LP 5000"
    st = c.state.slot("tcp_reassembly", R.TcpReassembly)
    assert st.pending_bytes == 0


def test_pending_bytes_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "MAX_PENDING_BYTES", 1500)
    state = CaptureState()
    frames = [frame(CLIENT, SERVER, 50000 + i, PORT, 1, lp(4000)[:1000]) for i in range(3)]
    for n, data in enumerate(frames, 1):
        dissect_frame(data, number=n, ts_ns=n, origlen=len(data), linktype=1, state=state)
    st = state.slot("tcp_reassembly", R.TcpReassembly)
    assert st.pending_bytes <= 1500
    assert len(st.pending) == 1                 # the two oldest PDUs were dropped


def test_without_a_stream_pdus_are_dissected_directly() -> None:
    pkt = Packet(1, 0, 20, 20, 1, 0, CaptureState())
    R.dissect_pdus(Buf(lp(1) + lp(2)), 0, 7, NULL_TREE, pkt,
                   pdu_len=lp_len, dissect_pdu=dissect_lp_pdu)
    assert pkt.info_text() == "LP 1, LP 2"


def test_segment_ending_a_pdu_with_a_hole_is_still_a_segment() -> None:
    c = Conv()
    a, b = lp(3000), lp(100)
    stream = a + b
    c.send(1, stream[:1000])
    _, mid = c.send(2001, stream[2000:3010])   # end of A (hole before it), start of B
    assert mid.col_protocol == "TCP" and mid.info_text().endswith(R.SEGMENT_INFO)
    _, fill = c.send(1001, stream[1000:2000])
    assert fill.info_text() == "LP 3000"
    _, last = c.send(3011, stream[3010:])
    assert last.info_text() == "LP 100"
    _, again = c.show(2)
    assert again.info_text() == mid.info_text()


def test_tls_layer_on_a_frame_that_starts_a_record(corpus_dir) -> None:
    """tshark's TLS dissector adds its (empty) layer on the frame where a record begins and
    asks TCP for more (frame 4: the first half of a split Client Hello); the middle segments
    of a record show no TLS layer."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    path = corpus_dir / "pcaps" / "arkime_tls-client-hello-split-segments.pcap"
    out = subprocess.run([sys.executable, "-m", "analyzer.cli", "read", "-r", str(path), "-Y",
                          "tls", "-T", "fields", "-e", "frame.number"], cwd=root,
                         capture_output=True, text=True, check=True).stdout.split()
    # tshark 4.0.17 -Y tls on the same file
    assert out == "4 5 8 14 17 18 19 20 21 23 25 26 27 30 32".split()
