"""UDP: header fields, bad lengths, checksum 0, jumbograms, streams, payload hand-off, Info.

Datagrams are fed to dissect_udp the way the IP layer does (addresses in pkt.net_src and
pkt.net_dst, the IP payload's end), so these tests do not depend on the IP dissectors.
Expected values and texts are tshark 4.0.17's on the same bytes, or on the corpus capture
named.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors import CaptureState, Malformed, Truncated
from dissectors.buffer import Buf
from dissectors.dispatch import UDP_HEUR, UDP_PORT
from dissectors.fields import REGISTRY, fields_value
from dissectors.packet import Packet
from dissectors.tree import NULL_TREE, Node
from dissectors.udp import UdpDatagram, dissect_udp

A4, B4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
A6 = bytes.fromhex("20010db8000000000000000000000001")
B6 = bytes.fromhex("20010db8000000000000000000000002")


def udp(sport: int = 40000, dport: int = 50000, data: bytes = b"0123456789",
        length: int | None = None, checksum: int = 0x1234) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data) if length is None else length,
                       checksum) + data


class Capture:
    """Feeds datagrams to dissect_udp in frame order, as the IP layer would."""

    def __init__(self) -> None:
        self.state = CaptureState()
        self.frames: list[tuple[bytes, bytes, bytes, int | None, int | None]] = []

    def send(self, src: bytes, dst: bytes, raw: bytes, *, end: int | None = None,
             captured: int | None = None, tree: bool = True, number: int | None = None,
             in_error: bool = False):
        if number is None:
            self.frames.append((src, dst, raw, end, captured))
            number = len(self.frames)
        data = raw if captured is None else raw[:captured]
        pkt = Packet(number, 0, len(data), len(raw), 228, 0, self.state)
        pkt.net_src, pkt.net_dst = src, dst
        pkt.layers = ["frame", "raw", "ip" if len(src) == 4 else "ipv6"]
        pkt.in_error = pkt.fenced = in_error
        root = Node(None, 0, len(raw), label="frame") if tree else None
        error = None
        try:
            dissect_udp(Buf(data, len(raw)), 0, len(raw) if end is None else end,
                        root or NULL_TREE, pkt)
        except (Truncated, Malformed) as e:
            error = e
        self.state.last_frame = max(self.state.last_frame, number)
        return root, pkt, error


def values(root: Node | None) -> dict[str, str]:
    out = {}
    for abbrev, vals in (root.values() if root else {}).items():
        out[abbrev] = ",".join(fields_value(REGISTRY[abbrev], v) for v in vals)
    return out


def text(root: Node) -> list[str]:
    lines: list[str] = []

    def walk(n: Node, depth: int) -> None:
        if not n.hidden:
            lines.append("    " * depth + n.text())
            for c in n.children or ():
                walk(c, depth + 1)

    for c in root.children or ():
        walk(c, 0)
    return lines


def one(raw: bytes, src: bytes = A4, dst: bytes = B4, **kw):
    return Capture().send(src, dst, raw, **kw)


def test_datagram_fields_tree_and_info():
    root, pkt, err = one(udp())
    assert err is None
    assert pkt.col_protocol == "UDP"
    assert pkt.info_text() == "40000 → 50000 Len=10"
    v = values(root)
    assert (v["udp.srcport"], v["udp.dstport"], v["udp.port"], v["udp.length"]) == \
        ("40000", "50000", "40000,50000", "18")
    assert (v["udp.checksum"], v["udp.checksum.status"], v["udp.stream"]) == \
        ("0x1234", "2", "0")
    assert v["udp.payload"] == b"0123456789".hex()
    assert text(root)[:7] == [
        "User Datagram Protocol, Src Port: 40000, Dst Port: 50000",
        "    Source Port: 40000",
        "    Destination Port: 50000",
        "    Length: 18",
        "    Checksum: 0x1234 [unverified]",
        "    [Checksum Status: Unverified]",
        "    [Stream index: 0]"]
    assert "    UDP payload (10 bytes)" in text(root)
    assert pkt.layers[-1] == "data"
    assert (pkt.srcport, pkt.dstport, pkt.ptype) == (40000, 50000, "udp")
    assert isinstance(pkt.udp, UdpDatagram) and pkt.udp.payload_len == 10


def test_length_below_8_stops():
    root, pkt, err = one(udp(length=4))
    assert err is None
    assert pkt.info_text() == "40000 → 50000 [BAD UDP LENGTH 4 < 8]"
    assert "    Length: 4 (bogus, must be >= 8)" in text(root)
    assert values(root)["_ws.expert.message"] == "Bad length value 4 < 8"
    assert "udp.checksum" not in values(root) and "data" not in pkt.layers


def test_length_beyond_ip_payload_is_flagged_but_payload_dissected():
    root, pkt, _ = one(udp(length=30))
    assert pkt.info_text() == "40000 → 50000 [BAD UDP LENGTH 30 > IP PAYLOAD LENGTH] Len=22"
    assert "    Length: 30 (bogus, payload length 18)" in text(root)
    assert values(root)["_ws.expert.message"] == "Bad length value 30 > IP payload length"
    assert pkt.layers[-1] == "data"


def test_length_shorter_than_ip_payload_cuts_the_payload():
    root, pkt, _ = one(udp(length=12))
    assert pkt.info_text() == "40000 → 50000 Len=4"
    assert "    UDP payload (4 bytes)" in text(root)
    assert values(root)["data.len"] == "4"


def test_length_exceeds_capture_like_zeek_sample():
    # zeek_udp-length-exceeds-capture.pcap: length 65515, only the header captured
    raw = udp(40000, 55555, b"\0" * 65507, checksum=0)
    root, pkt, err = one(raw, captured=8)
    # None of the payload was captured: tshark's "UDP truncated", after every header field.
    assert isinstance(err, Truncated)
    assert pkt.info_text() == "40000 → 55555 Len=65507"
    assert "    Checksum: 0x0000 [zero-value ignored]" in text(root)
    assert "        [Checksum Status: Not present]" in text(root)
    assert values(root)["udp.checksum.status"] == "3"


def test_zero_checksum_is_illegal_over_ipv6():
    root, pkt, _ = one(udp(checksum=0), A6, B6)
    assert pkt.info_text() == "40000 → 50000 Len=10 [ILLEGAL CHECKSUM (0)]"
    assert "    Checksum: 0x0000 [zero-value illegal]" in text(root)
    assert "        [Checksum Status: Illegal]" in text(root)
    assert values(root)["udp.checksum.status"] == "4"


def test_ipv6_jumbogram_length_zero():
    root, pkt, _ = one(udp(length=0), A6, B6)
    assert pkt.info_text() == "40000 → 50000 Len=10 [Jumbogram]"
    assert values(root)["_ws.expert.message"] == "Length is zero but payload < 65536"
    root, pkt, _ = one(udp(length=0))
    assert pkt.info_text() == "40000 → 50000 [BAD UDP LENGTH 0 < 8]"


def test_traceroute_ports_and_empty_payload():
    # arkime_mixed-ipv6-dns-ssh-icmpv6.pcap: probes to 33435 and up
    root, pkt, _ = one(udp(41077, 33437, b""))
    assert pkt.info_text() == "41077 → 33437 Len=0"
    assert values(root)["_ws.expert.message"] == "Possible traceroute: hop #1, attempt #3"
    assert "udp.payload" not in values(root) and "data" not in pkt.layers


def test_streams_both_directions_and_visited_redissection():
    cap = Capture()
    frames = [(A4, B4, udp(1000, 53)), (A4, B4, udp(1001, 53)), (B4, A4, udp(53, 1000)),
              (A6, B6, udp(1000, 53))]
    first = [cap.send(*f) for f in frames]
    assert [values(r)["udp.stream"] for r, _, _ in first] == ["0", "1", "0", "2"]
    for n in (4, 2, 3, 1):
        root, pkt, _ = cap.send(*frames[n - 1], number=n)
        assert pkt.visited
        assert text(root) == text(first[n - 1][0])
        assert pkt.udp.stream == first[n - 1][1].udp.stream


def test_quoted_datagram_in_an_icmp_error():
    cap = Capture()
    cap.send(A4, B4, udp(41077, 33435, b"x" * 12))
    root, pkt, _ = cap.send(A4, B4, udp(41077, 33435, b"x" * 12, length=40), in_error=True)
    assert values(root)["udp.stream"] == "0"
    assert "(bogus" not in "\n".join(text(root))      # no length check inside an error
    assert pkt.info == [] and pkt.udp is None
    root, pkt, _ = cap.send(A4, B4, udp(41077, 33436, b""), in_error=True, captured=8)
    assert "data" not in pkt.layers


def test_summary_path_same_columns():
    for raw in (udp(), udp(length=4), udp(length=30), udp(checksum=0)):
        _, full, _ = one(raw)
        _, quick, _ = one(raw, tree=False)
        assert quick.info_text() == full.info_text()


def test_payload_to_low_port_then_high_then_heuristic_then_data():
    seen: list[str] = []

    def port(buf, off, end, tree, pkt):
        seen.append(f"port {end - off}")

    def heur(buf, off, end, tree, pkt):
        if buf.data[off:off + 2] != b"HH":
            return False
        seen.append("heur")
        return True

    UDP_PORT.register(64100, port)
    UDP_HEUR.register("test", heur)
    try:
        one(udp(64200, 64100, b"abc"))
        one(udp(64100, 64200, b"abcd", length=10))           # cut at the UDP length
        one(udp(0, 64300, b"HH"))
        _, pkt, _ = one(udp(64300, 64400, b"zz"))
        assert seen == ["port 3", "port 2", "heur"]
        assert pkt.layers[-1] == "data"
    finally:
        UDP_PORT._map.pop(64100)
        UDP_HEUR._list.remove(("test", heur))


def test_cut_header():
    _, pkt, err = one(udp(), captured=3)
    assert isinstance(err, Truncated)
    _, pkt, err = one(udp(), captured=6)
    assert isinstance(err, Truncated) and pkt.info_text() == "40000 → 50000"
    _, pkt, err = one(udp(), end=6)
    assert isinstance(err, Malformed)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 48), st.booleans(), st.booleans())
def test_any_bytes_raise_only_truncated_or_malformed(raw, end, v6, in_error):
    src, dst = (A6, B6) if v6 else (A4, B4)
    _, pkt, _ = one(raw, src, dst, end=end, in_error=in_error)
    assert "bug" not in pkt.hints


UDP_COLUMNS = ["udp.srcport", "udp.dstport", "udp.length"]
NOT_OURS = {"dpkt_dns-a-aaaa-cname-soa-http.pcap"}   # UDP inside PPPoE/L2TP


def test_corpus_udp_columns_agree_with_tshark(corpus_dir: Path):
    corpus = pytest.importorskip("tests.corpus")
    from dissectors.dispatch import ETHERTYPE
    if ETHERTYPE.get(0x0800) is None:
        pytest.skip("no IPv4 dissector registered yet")
    files = [f for f in corpus.all_files(corpus_dir) if f not in NOT_OURS]
    stats = corpus.compare(files, UDP_COLUMNS, corpus_dir)
    for name in UDP_COLUMNS:
        assert stats[name].ratio >= 0.995, (name, stats[name].mismatches[:5])
