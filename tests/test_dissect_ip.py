"""IPv4, IPv6 and fragment reassembly.

Expected values and texts are tshark 4.0.17's on the same bytes (checked with tshark -V
and -T fields while writing these tests) or on the corpus captures named in each test.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dissectors import CaptureState, dissect_frame
from dissectors.fields import REGISTRY, fields_value
from dissectors.reassembly import CONFLICT, OVERLAP, TOO_LONG, Reassembler

ETH = bytes.fromhex("001122334455 66778899aabb")
A4, B4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
A6 = bytes.fromhex("20010db8000000000000000000000001")
B6 = bytes.fromhex("20010db8000000000000000000000002")
EXPERIMENT = 253  # an IP protocol no wirelens dissector claims (RFC 3692 experiments)


def csum(b: bytes) -> int:
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(payload: bytes = b"", proto: int = EXPERIMENT, *, src: bytes = A4, dst: bytes = B4,
        ttl: int = 64, ident: int = 0x1234, flags: int = 0, off: int = 0, opts: bytes = b"",
        tos: int = 0, tot: int | None = None, ihl: int | None = None, ver: int = 4) -> bytes:
    ihl = (20 + len(opts)) // 4 if ihl is None else ihl
    tot = 20 + len(opts) + len(payload) if tot is None else tot
    h = struct.pack("!BBHHHBBH4s4s", ver << 4 | ihl, tos, tot, ident, flags << 13 | off, ttl,
                    proto, 0, src, dst) + opts
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ip6(payload: bytes = b"", nxt: int = 59, *, src: bytes = A6, dst: bytes = B6,
        hlim: int = 64, tc: int = 0, flow: int = 0, plen: int | None = None) -> bytes:
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB", 6 << 28 | tc << 20 | flow, plen, nxt, hlim) + src + dst + payload


def eth(payload: bytes, etype: int = 0x0800) -> bytes:
    return ETH + struct.pack("!H", etype) + payload


def dis(frame: bytes, number: int = 1, state: CaptureState | None = None,
        origlen: int | None = None, tree: bool = True, ts_ns: int = 0):
    root, pkt = dissect_frame(frame, number=number, ts_ns=ts_ns, linktype=1, tree=tree,
                              origlen=len(frame) if origlen is None else origlen,
                              state=state if state is not None else CaptureState())
    assert "bug" not in pkt.hints, pkt.hints
    return root, pkt


def vals(root, abbrev: str) -> list[str]:
    spec = REGISTRY[abbrev]
    return [fields_value(spec, v) for v in root.values().get(abbrev, [])]


def protocols(pkt) -> str:
    return ":".join(pkt.layers[1:])


def texts(root) -> list[str]:
    return [n.text() for n in root.walk() if n.spec is not None or n.label]


def messages(root) -> list[str]:
    return root.values().get("_ws.expert.message", [])


# ---------------------------------------------------------------------------------------
# IPv4 header
# ---------------------------------------------------------------------------------------

def test_ipv4_header_fields_and_formats():
    # 4500 001c 1234 2000 3f11 .... 0a00 0001 0a00 0002 + 8 bytes: MF set, TTL 63, UDP
    root, pkt = dis(eth(ip4(b"12345678", 17, ident=0x1234, flags=1, ttl=63, tos=0xB8)))
    assert vals(root, "ip.version") == ["4"]
    assert vals(root, "ip.hdr_len") == ["20"]
    assert vals(root, "ip.dsfield") == ["0xb8"]
    assert vals(root, "ip.dsfield.dscp") == ["46"]
    assert vals(root, "ip.len") == ["28"]
    assert vals(root, "ip.id") == ["0x1234"]
    assert vals(root, "ip.flags") == ["0x01"]
    assert vals(root, "ip.flags.mf") == ["1"] and vals(root, "ip.flags.df") == ["0"]
    assert vals(root, "ip.ttl") == ["63"] and vals(root, "ip.proto") == ["17"]
    assert vals(root, "ip.checksum.status") == ["2"]
    assert vals(root, "ip.addr") == ["10.0.0.1", "10.0.0.2"]
    assert vals(root, "ip.host") == ["10.0.0.1", "10.0.0.2"]
    assert vals(root, "ip.src_host") == ["10.0.0.1"]
    t = texts(root)
    assert "Internet Protocol Version 4, Src: 10.0.0.1, Dst: 10.0.0.2" in t
    assert ".... 0101 = Header Length: 20 bytes (5)" in t
    assert "Differentiated Services Field: 0xb8 (DSCP: EF PHB, ECN: Not-ECT)" in t
    assert "1011 10.. = Differentiated Services Codepoint: Expedited Forwarding (46)" in t
    assert "Identification: 0x1234 (4660)" in t
    assert "001. .... = Flags: 0x1, More fragments" in t
    assert "..1. .... = More fragments: Set" in t
    assert "...0 0000 0000 0000 = Fragment Offset: 0" in t
    assert "Protocol: UDP (17)" in t
    assert any(x.startswith("Header Checksum: 0x") and x.endswith("[validation disabled]")
               for x in t)
    assert "[Header checksum status: Unverified]" in t
    assert (pkt.net_src, pkt.net_dst, pkt.net_ver, pkt.ip_proto, pkt.ttl) == (A4, B4, 4, 17, 63)
    assert pkt.col_protocol == "IPv4" or protocols(pkt).endswith("udp")


def test_ipv4_fragment_offset_prints_units_shows_bytes():
    root, pkt = dis(eth(ip4(b"x" * 8, 17, off=6)))
    assert vals(root, "ip.frag_offset") == ["6"]
    assert "...0 0000 0000 0110 = Fragment Offset: 48" in texts(root)
    assert pkt.info_text() == "Fragmented IP protocol (proto=UDP 17, off=48, ID=1234)"
    assert protocols(pkt) == "eth:ethertype:ip:data"


def test_unknown_protocol_info_and_trailer():
    # Total length 24 but 30 bytes follow: Ethernet shows the rest as trailer.
    root, pkt = dis(eth(ip4(b"abcd", EXPERIMENT) + b"\xff" * 26))
    assert pkt.info_text() == "Unknown (253)"
    assert protocols(pkt) == "eth:ethertype:ip:data"
    assert vals(root, "data.len") == ["4"]
    assert vals(root, "eth.trailer")


def test_empty_payload_leaves_info_empty():
    _, pkt = dis(eth(ip4(b"", EXPERIMENT) + bytes(26)))
    assert pkt.info_text() == "" and protocols(pkt) == "eth:ethertype:ip"


def test_ttl_experts():
    root, _ = dis(eth(ip4(b"ab", ttl=0)))
    assert messages(root) == ['"Time To Live" only 0']
    root, _ = dis(eth(ip4(b"ab", ttl=3, dst=bytes([224, 0, 0, 1]))))
    assert messages(root) == [('"Time To Live" != 1 for a packet sent to the Local Network '
                              'Control Block (see RFC 3171)')]
    root, _ = dis(eth(ip4(b"ab", ttl=1, dst=bytes([224, 0, 0, 251]))))
    assert messages(root) == [('"Time To Live" != 255 for a packet sent to the Local Network '
                              'Control Block (see RFC 3171)')]
    for ttl, dst in ((1, bytes([224, 0, 0, 5])), (2, bytes([239, 1, 1, 1])), (64, B4)):
        root, _ = dis(eth(ip4(b"ab", ttl=ttl, dst=dst)))
        assert messages(root) == []


# -- malformed headers (zeek_ipv4-bogus-header-len, tcpdump_ipv4-invalid-total-length, ...)

def test_bogus_version():
    root, pkt = dis(eth(ip4(b"abcdefgh", ver=5)))
    assert pkt.info_text() == "Bogus IPv4 version (5, must be 4)"
    assert messages(root) == ["Bogus IPv4 version"]
    assert protocols(pkt) == "eth:ethertype:ip" and pkt.col_protocol == "IPv4"


def test_version_6_in_an_ipv4_ethertype_goes_to_ipv6():
    root, pkt = dis(eth(ip6(b"12345678")))
    assert protocols(pkt) == "eth:ethertype:ip:ipv6:data"
    assert vals(root, "ip.version") == ["6", "6"]
    assert pkt.info_text() == "IPv6 no next header"


def test_bogus_header_length():
    root, pkt = dis(eth(ip4(b"abcdefgh", ihl=4)))
    assert pkt.info_text() == "Bogus IP header length (16, must be at least 20)"
    assert messages(root) == ["Bogus IP header length (16, must be at least 20)"]
    assert ".... 0100 = Header Length: 16 bytes (4)" in texts(root)
    assert vals(root, "ip.src") == [] and pkt.damage == ""


def test_total_length_below_header():
    root, pkt = dis(eth(ip4(b"abcdefgh", tot=10)))
    assert pkt.info_text() == "Bogus IP length (10, less than header length 20)"
    assert "Total Length: 10 bytes (bogus, less than header length 20)" in texts(root)
    assert messages(root) == ["Bogus IP length"]


def test_total_length_zero_is_tso():
    root, _pkt = dis(eth(ip4(b"abcdefgh", tot=0)))
    assert vals(root, "ip.len") == ["28"]
    assert ('[Total Length: 28 bytes (reported as 0, presumed to be because of "TCP '
            'segmentation offload" (TSO))]') in texts(root)
    assert vals(root, "data.len") == ["8"]


def test_total_length_beyond_packet():
    root, _pkt = dis(eth(ip4(b"abcdefgh", tot=100)))
    assert messages(root) == ["IPv4 total length exceeds packet length (28 bytes)"]
    assert vals(root, "data.len") == ["8"]


def test_truncated_capture_keeps_the_fields_before_the_cut():
    # zeek_ipv4-truncated: 20 of 46 bytes captured, the header stops after the ID.
    frame = eth(ip4(bytes(12), ident=1))
    root, pkt = dis(frame[:20], origlen=len(frame))
    assert pkt.damage == "short"
    assert vals(root, "ip.id") == ["0x0001"] and vals(root, "ip.ttl") == []
    assert "Internet Protocol Version 4" in texts(root)
    assert pkt.col_protocol == "IPv4"


def test_header_past_the_packet_end_is_malformed():
    _, pkt = dis(eth(ip4(b"")[:12]))
    assert pkt.damage == "malformed"


def test_summary_path_matches_tree_path():
    frame = eth(ip4(b"x" * 8, EXPERIMENT, opts=bytes([0x94, 4, 0, 0])))
    _, p1 = dis(frame, tree=True)
    _, p2 = dis(frame, tree=False)
    for attr in ("layers", "info", "col_protocol", "net_src", "net_dst", "ip_proto", "ttl"):
        assert getattr(p1, attr) == getattr(p2, attr), attr


# -- options (suricata_ipv4-options-all, tcpdump_ipv4-timestamp-option-malformed) --------

def test_option_record_route():
    root, _ = dis(eth(ip4(b"ab", opts=bytes([7, 11, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]))))
    t = texts(root)
    assert "Options: (12 bytes), Record Route" in t
    assert "IP Option - Record Route (11 bytes)" in t
    assert "Recorded Route: 1.2.3.4" in t and "Empty Route: 5.6.7.8 <- (next)" in t
    assert "IP Option - End of Options List (EOL)" in t
    assert "...0 0111 = Number: Record route (7)" in t
    assert vals(root, "ip.opt.type") == ["7", "0"]
    assert vals(root, "ip.rec_rt") == ["1.2.3.4"] and vals(root, "ip.empty_rt") == ["5.6.7.8"]


def test_option_loose_source_route_sets_the_final_destination():
    opts = bytes([0x83, 11, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0])
    root, pkt = dis(eth(ip4(b"ab", opts=opts, dst=bytes([13, 14, 15, 16]))))
    t = texts(root)
    assert "Internet Protocol Version 4, Src: 10.0.0.1, Dst: 5.6.7.8, Via: 13.14.15.16" in t
    assert "Current Route: 13.14.15.16" in t
    assert "Source Route: 1.2.3.4 <- (next)" in t
    assert vals(root, "ip.dst") == ["5.6.7.8"]
    assert pkt.net_dst == bytes([5, 6, 7, 8])


def test_option_timestamp_malformed_and_unknown_past_the_end():
    opts = bytes([0x44, 14, 5, 1, 0, 0, 52, 112, 73, 66, 32, 2, 1, 5, 0xF5, 19])
    root, _ = dis(eth(ip4(b"ab", opts=opts)))
    assert messages(root) == [
        "Suboption would go past end of option",
        "Unknown (0xf5) (option length = 19 bytes says option goes past end of options)"]
    t = texts(root)
    assert ".... 0001 = Flag: Time stamp and address (0x1)" in t
    assert "Address: 0.0.52.112" in t and "Time stamp: 1229070338" in t


@pytest.mark.parametrize("opts, message", [
    (bytes([1, 1, 1, 0x44]), "Time Stamp (length byte past end of options)"),
    (bytes([0x44, 1, 0, 0]), "Time Stamp (with too-short option length = 1 byte)"),
    (bytes([0x88, 5, 0, 1, 0, 0, 0, 0]), "Stream ID (with option length = 5 bytes; should be 4)"),
    (bytes([7, 7, 5, 0, 0, 0, 0, 0]), "Pointer points to middle of address"),
    (bytes([7, 7, 2, 0, 0, 0, 0, 0]), "Pointer points before first address"),
    (bytes([1, 1, 1, 1, 0x44, 12, 5, 3, 1, 2, 3, 4, 0, 0, 0, 9]),
     "4 NOP in a row - a router may have removed some options"),
])
def test_option_problems_are_experts_not_exceptions(opts, message):
    root, pkt = dis(eth(ip4(b"ab", opts=opts)))
    assert message in messages(root)
    assert pkt.damage == ""


def test_option_router_alert_and_security():
    root, _ = dis(eth(ip4(b"ab", opts=bytes([0x94, 4, 0, 0]))))
    assert "IP Option - Router Alert (4 bytes): Router shall examine packet (0)" in texts(root)
    opts = bytes([0x82, 11, 0, 0, 0, 0, 0, 0, ord("X"), ord("Y"), ord("Z"), 0])
    root, _ = dis(eth(ip4(b"ab", opts=opts)))
    t = texts(root)
    assert "Security: Unclassified (0x0000)" in t
    assert "Transmission Control Code: XYZ" in t


def test_option_bytes_cut_by_snaplen_are_truncated():
    frame = eth(ip4(b"ab", opts=bytes([7, 11, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0])))
    root, pkt = dis(frame[:14 + 26], origlen=len(frame))
    assert pkt.damage == "short"
    assert vals(root, "ip.src") == ["10.0.0.1"]


# ---------------------------------------------------------------------------------------
# IPv4 fragments and reassembly
# ---------------------------------------------------------------------------------------

def run(frames: list[bytes], state: CaptureState | None = None):
    state = state or CaptureState()
    return state, [dis(f, number=i, state=state) for i, f in enumerate(frames, 1)]


def frag4(data: bytes, off: int, more: bool, ident: int = 7, proto: int = EXPERIMENT,
          src: bytes = A4) -> bytes:
    return eth(ip4(data, proto, ident=ident, flags=1 if more else 0, off=off // 8, src=src))


def test_fragments_in_order():
    payload = bytes(range(48))
    _, out = run([frag4(payload[:24], 0, True), frag4(payload[24:], 24, False)])
    (r1, p1), (r2, p2) = out
    assert p1.info_text() == "Fragmented IP protocol (proto=Unknown 253, off=0, ID=0007)"
    assert protocols(p1) == "eth:ethertype:ip:data"
    assert vals(r1, "ip.reassembled_in") == []
    assert p2.info_text() == "Unknown (253)"
    assert vals(r2, "ip.fragment") == ["1", "2"]
    assert vals(r2, "ip.fragment.count") == ["2"]
    assert vals(r2, "ip.reassembled.length") == ["48"]
    assert vals(r2, "ip.fragments") == [payload.hex()]
    assert "[2 IPv4 Fragments (48 bytes): #1(24), #2(24)]" in texts(r2)
    assert "[Frame: 2, payload: 24-47 (24 bytes)]" in texts(r2)
    assert p2.sources == [("Reassembled IPv4", payload)]
    data_node = r2.find("data.data")
    assert data_node.value == payload and data_node.src == 1


def test_fragments_out_of_order():
    payload = bytes(range(40))
    _, out = run([frag4(payload[16:32], 16, True), frag4(payload[32:], 32, False),
                  frag4(payload[:16], 0, True)])
    assert [vals(r, "ip.reassembled.length") for r, _ in out] == [[], [], ["40"]]
    assert out[2][0].find("data.data").value == payload
    assert vals(out[2][0], "ip.fragment") == ["3", "1", "2"]


def test_overlapping_fragments_like_zeek_ipv4_fragments_udp():
    # zeek_ipv4-fragments-udp: 18 bytes at 0, 116 zeros at 48 (last), then 304 'X' at 0.
    head = bytes.fromhex("007b00890012bfe2") + bytes(10)
    body = bytes.fromhex("007b00890108 91ca") + b"X" * 296
    _, out = run([frag4(head, 0, True), frag4(bytes(116), 48, False), frag4(body, 0, True)])
    root, pkt = out[2]
    assert vals(root, "ip.fragment") == ["1"]
    assert vals(root, "ip.fragment.error") == ["3", "2"]
    assert vals(root, "ip.fragment.overlap") == ["1", "1"]
    assert vals(root, "ip.fragment.overlap.conflict") == ["1", "1"]
    assert vals(root, "ip.fragment.toolongfragment") == ["1"]
    assert "[3 IPv4 Fragments (164 bytes): #1(18), #3(304), #2(116)]" in texts(root)
    assert "[Frame: 3, payload: 0-303 (304 bytes)]" in texts(root)
    data = root.find("ip.reassembled.data").value
    assert data == head + body[18:164]          # first writer wins, frame 2 adds nothing
    assert pkt.info_text() == "[Illegal IPv4 fragments]"


def test_duplicate_fragment_is_an_overlap_without_conflict():
    p = bytes(range(32))
    _, out = run([frag4(p[:16], 0, True), frag4(p[:16], 0, True), frag4(p[16:], 16, False)])
    root, pkt = out[2]
    assert vals(root, "ip.fragment.overlap") == ["1"]
    assert vals(root, "ip.fragment.overlap.conflict") == []
    assert vals(root, "ip.fragment") == ["1", "2", "3"]
    assert pkt.info_text() == "Unknown (253)"


def test_missing_piece_never_completes():
    _, out = run([frag4(bytes(16), 0, True), frag4(bytes(8), 24, False)])
    assert all(vals(r, "ip.fragments") == [] for r, _ in out)


def test_fragments_of_different_datagrams_do_not_mix():
    _, out = run([frag4(bytes(16), 0, True, ident=1), frag4(bytes(8), 16, False, ident=2),
                  frag4(bytes(8), 16, False, ident=1, src=B4)])
    assert all(vals(r, "ip.fragments") == [] for r, _ in out)


def test_first_fragment_cut_by_snaplen_is_not_collected():
    first = frag4(bytes(16), 0, True)
    state = CaptureState()
    dis(first[:30], number=1, state=state, origlen=len(first))
    root, _ = dis(frag4(bytes(8), 16, False), number=2, state=state)
    assert vals(root, "ip.fragments") == []


def test_revisited_frames_give_the_same_result():
    payload = bytes(range(48))
    frames = [frag4(payload[:24], 0, True), frag4(payload[24:], 24, False)]
    state, first = run(frames)
    for i, f in enumerate(frames, 1):
        root, pkt = dis(f, number=i, state=state)
        assert pkt.visited
        before, after = first[i - 1][0].values(), root.values()
        after.pop("ip.reassembled_in", None)
        assert after == before
        assert pkt.layers == first[i - 1][1].layers
    # As in tshark's second pass, an earlier fragment now names the frame that completed it.
    root, pkt = dis(frames[0], number=1, state=state)
    assert vals(root, "ip.reassembled_in") == ["2"]
    assert pkt.info_text().endswith(" [Reassembled in #2]")
    root, pkt = dis(frames[1], number=2, state=state, tree=False)
    assert pkt.sources == [("Reassembled IPv4", payload)]


def test_no_reassembly_inside_an_icmp_error():
    from dissectors.buffer import Buf
    from dissectors.ipv4 import dissect_ip
    from dissectors.packet import Packet
    from dissectors.tree import Node

    state = CaptureState()
    quoted = ip4(bytes(8), flags=1, tot=1500)          # longer than the bytes quoted
    pkt = Packet(1, 0, len(quoted), len(quoted), 1, 0, state)
    pkt.fenced = pkt.in_error = True
    pkt.col_protocol, pkt.info = "ICMP", ["Destination unreachable"]
    root = Node(None, 0, len(quoted))
    used = dissect_ip(Buf(quoted), 0, len(quoted), root, pkt)
    assert used is None
    assert messages(root) == []                       # total length > bytes: fine here
    assert (pkt.col_protocol, pkt.info) == ("ICMP", ["Destination unreachable"])
    # The quoted addresses key the quoted transport header (ICMP restores the frame's own).
    assert pkt.net_src == quoted[12:16]
    assert "ip.reassembly" not in state._slots


def test_ip_in_ip_values_in_tree_order():
    root, pkt = dis(eth(ip4(ip4(b"ab", src=bytes([1, 1, 1, 1])), 4)))
    assert vals(root, "ip.src") == ["10.0.0.1", "1.1.1.1"]
    assert protocols(pkt) == "eth:ethertype:ip:ip:data"
    assert pkt.net_src == bytes([1, 1, 1, 1])


# -- the reassembly helper's bounds -------------------------------------------------------

def test_reassembler_bounds():
    r = Reassembler(max_fragments=4)
    for i in range(5):
        assert r.add("k", i + 1, 0, i * 8, bytes(8), True) is None
    assert r.add("k", 9, 0, 40, bytes(8), False) is None       # the datagram was dropped
    r = Reassembler()
    assert r.add("k", 1, 0, 65528, bytes(16), False) is None    # past 64 KiB: ignored
    assert r.add("k", 2, 0, 0, bytes(8), True) is None
    r = Reassembler(max_pending=2)
    r.add("a", 1, 0, 0, bytes(8), True)
    r.add("b", 2, 0, 0, bytes(8), True)
    r.add("c", 3, 0, 0, bytes(8), True)                         # evicts "a"
    assert r.add("b", 4, 0, 8, bytes(8), False) is not None
    assert r.add("a", 5, 0, 8, bytes(8), False) is None


def test_reassembler_drops_stale_datagrams():
    r = Reassembler(timeout_ns=10)
    r.add("k", 1, 0, 0, bytes(8), True)
    assert r.add("k", 2, 11, 8, bytes(8), False) is None        # the first piece expired
    r = Reassembler(timeout_ns=10)
    r.add("k", 1, 0, 0, bytes(8), True)
    assert r.add("k", 2, 10, 8, bytes(8), False) is not None


def test_reassembler_byte_budgets():
    r = Reassembler(max_pending_bytes=20)
    r.add("a", 1, 0, 0, bytes(16), True)
    r.add("b", 2, 0, 0, bytes(16), True)                        # over budget: "a" goes
    assert r.add("a", 3, 0, 16, bytes(8), False) is None
    r = Reassembler()
    for i in range(4):                                          # the same piece, over and over
        r.add("k", i + 1, 0, 0, bytes(40000), True)             # held > 2 x 64 KiB: dropped
    assert r.add("k", 9, 0, 40000, bytes(8), False) is None
    r = Reassembler(retain_bytes=16)
    for k in ("a", "b"):
        r.add(k, 1 if k == "a" else 3, 0, 0, bytes(8), True)
        r.add(k, 2 if k == "a" else 4, 0, 8, bytes(8), False)
    assert r.completed(2, "a") is None and r.completed(4, "b") is not None
    assert r.reassembled_in(3) == 4


def test_reassembler_flags():
    r = Reassembler()
    r.add("k", 1, 0, 0, b"a" * 8, True)
    r.add("k", 2, 0, 16, b"c" * 8, False)
    r.add("k", 3, 0, 16, b"d" * 16, False)                      # second tail, different end
    dg = r.add("k", 4, 0, 8, b"b" * 16, True)
    assert dg is not None and dg.data == b"a" * 8 + b"b" * 16
    flags = {f.frame: f.flags for f in dg.fragments}
    assert flags[2] & OVERLAP and flags[2] & CONFLICT
    assert flags[3] & TOO_LONG


# ---------------------------------------------------------------------------------------
# IPv6
# ---------------------------------------------------------------------------------------

def test_ipv6_header_fields_and_formats():
    root, pkt = dis(eth(ip6(b"", 59, tc=0xB9, flow=0x889AD, hlim=7), 0x86DD))
    assert vals(root, "ipv6.version") == ["6"] and vals(root, "ip.version") == ["6"]
    assert vals(root, "ipv6.tclass") == ["0x000000b9"]
    assert vals(root, "ipv6.tclass.dscp") == ["46"] and vals(root, "ipv6.tclass.ecn") == ["1"]
    assert vals(root, "ipv6.flow") == ["0x0889ad"]
    assert vals(root, "ipv6.plen") == ["0"] and vals(root, "ipv6.nxt") == ["59"]
    assert vals(root, "ipv6.hlim") == ["7"]
    assert vals(root, "ipv6.addr") == ["2001:db8::1", "2001:db8::2"]
    t = texts(root)
    assert "Internet Protocol Version 6, Src: 2001:db8::1, Dst: 2001:db8::2" in t
    assert (".... 1011 1001 .... .... .... .... .... = Traffic Class: 0xb9 "
            "(DSCP: EF PHB, ECN: ECT(1))") in t
    assert ".... 1000 1000 1001 1010 1101 = Flow Label: 0x889ad" in t
    assert "Next Header: No Next Header for IPv6 (59)" in t
    assert pkt.info_text() == "IPv6 no next header"
    assert (pkt.net_src, pkt.net_dst, pkt.net_ver, pkt.ip_proto, pkt.ttl) == (A6, B6, 6, 59, 7)


def test_ipv6_all_extension_headers():
    # libpcap_ipv6-all-extension-headers-udp: HBH, routing type 0, fragment (atomic), DST.
    hbh = bytes([43, 0, 1, 4, 1, 2, 0, 0])
    rt0 = bytes([44, 0, 0, 0]) + bytes(4)
    frag = bytes([60, 0, 0, 0, 0, 0, 0, 1])
    dst = bytes([EXPERIMENT, 0, 1, 4, 0, 0, 0, 0])
    root, pkt = dis(eth(ip6(hbh + rt0 + frag + dst + b"payload!", 0), 0x86DD))
    assert protocols(pkt) == ("eth:ethertype:ipv6:ipv6.hopopts:ipv6.routing:ipv6.fraghdr:"
                              "ipv6.dstopts:data")
    assert vals(root, "ipv6.nxt") == ["0"]
    assert vals(root, "ipv6.opt.padn") == ["01020000", "00000000"]
    assert messages(root) == ["Routing header type is deprecated"]
    assert pkt.ip_proto == EXPERIMENT
    t = texts(root)
    assert "Routing Header for IPv6 (Source Route)" in t
    assert "[Length: 8 bytes]" in t
    assert "0000 0000 0000 0... = Offset: 0 (0 bytes)" in t
    assert pkt.info_text() == "Unknown IP Protocol: Unknown (253)"
    ipv6_node = root.find("ipv6")
    assert ipv6_node.size == 40 + 32


def test_ipv6_routing_header_sets_the_destination_column():
    # tcpdump_ipv6-routing-header: type 0 with one address and one segment left.
    hop = bytes.fromhex("2200 0000 0000 0210 0002 0000 0000 0004")
    rt0 = bytes([59, 2, 0, 1]) + bytes(4) + hop
    root, pkt = dis(eth(ip6(rt0, 43), 0x86DD))
    assert "Address[1]: 2200::210:2:0:0:4" in texts(root)
    assert vals(root, "ipv6.dst") == ["2001:db8::2"]
    assert pkt.net_dst == hop


def test_ipv6_segment_routing_header():
    seg0 = bytes.fromhex("000a000b000c0003 00000000000000d6")
    seg1 = bytes.fromhex("000a000b000c0002 0000000000f10000")
    srh = bytes([59, 4, 4, 1, 1, 0, 0, 0]) + seg0 + seg1
    root, pkt = dis(eth(ip6(srh, 43), 0x86DD))
    t = texts(root)
    assert "Routing Header for IPv6 (Segment Routing)" in t
    assert "Address[0]: a:b:c:3::d6" in t and "Address[1]: a:b:c:2::f1:0" in t
    assert pkt.net_dst == seg0


def test_ipv6_extension_header_beyond_the_packet_is_malformed():
    # zeek_ipv6-ext-header-truncated: payload length 20, nothing after the header.
    root, pkt = dis(eth(ip6(b"", 0, plen=20), 0x86DD))
    assert pkt.damage == "malformed"
    assert protocols(pkt).startswith("eth:ethertype:ipv6:ipv6.hopopts")
    assert pkt.info_text().startswith("IPv6 hop-by-hop options")
    assert "IPv6 payload length exceeds framing length (0 bytes)" in messages(root)


def test_ipv6_options_read_past_their_header_like_tshark():
    hbh = bytes([59, 0, 5, 2, 0, 1, 5, 2])        # the second option's value is outside
    root, _pkt = dis(eth(ip6(hbh + b"\x00\x44rest", 0), 0x86DD))
    assert vals(root, "ipv6.opt.router_alert") == ["1", "68"]
    assert "Router Alert: RSVP (1)" in texts(root)
    assert vals(root, "data.len") == ["6"]


def test_ipv6_jumbo_and_zero_length():
    hbh = bytes([59, 0, 0xC2, 4, 0, 1, 0, 0])
    root, _ = dis(eth(ip6(hbh, 0, plen=0), 0x86DD))
    assert "Payload Length: 0 (Jumbogram)" in texts(root)
    assert vals(root, "ipv6.opt.jumbo") == ["65536"]
    root, pkt = dis(eth(ip6(bytes([59, 0, 1, 4, 0, 0, 0, 0]), 0, plen=0), 0x86DD))
    assert pkt.info_text().startswith("Invalid IPv6 payload length")


def test_ipv6_address_details():
    src = bytes.fromhex("20020a0000010001") + bytes(8)                   # 6to4
    dst = bytes.fromhex("fe80000000000000021122fffe334455")              # SLAAC
    root, _ = dis(eth(ip6(b"", src=src, dst=dst), 0x86DD))
    assert vals(root, "ipv6.src_6to4_gw_ipv4") == ["10.0.0.1"]
    assert vals(root, "ipv6.src_6to4_sla_id") == ["1"]
    assert vals(root, "ipv6.dst_slaac_mac") == ["00:11:22:33:44:55"]


def frag6(data: bytes, off: int, more: bool, ident: int = 2, nxt: int = EXPERIMENT) -> bytes:
    hdr = struct.pack("!BBHI", nxt, 0, off | int(more), ident)
    return eth(ip6(hdr + data, 44), 0x86DD)


def test_ipv6_fragments_reassemble_out_of_order():
    payload = bytes(range(40))
    state, out = run([frag6(payload[24:], 24, False), frag6(payload[:24], 0, True)])
    (_r1, p1), (r2, p2) = out
    assert p1.info_text() == "IPv6 fragment (off=24 more=n ident=0x00000002 nxt=253)"
    assert protocols(p1) == "eth:ethertype:ipv6:ipv6.fraghdr:data"
    assert protocols(p2) == "eth:ethertype:ipv6:ipv6.fraghdr:data"
    assert vals(r2, "ipv6.fragment") == ["2", "1"]
    assert vals(r2, "ipv6.reassembled.length") == ["40"]
    assert "[2 IPv6 Fragments (40 bytes): #2(24), #1(16)]" in texts(r2)
    assert r2.find("data.data").value == payload
    assert p2.sources == [("Reassembled IPv6", payload)]
    root, _ = dis(frag6(payload[24:], 24, False), number=1, state=state)
    assert vals(root, "ipv6.reassembled.in") == ["2"]


def test_ipv6_atomic_fragment_passes_through():
    _root, pkt = dis(frag6(b"abcd", 0, False, nxt=59))
    assert protocols(pkt) == "eth:ethertype:ipv6:ipv6.fraghdr:data"
    assert pkt.info_text() == "IPv6 no next header"


def test_ipv6_in_ipv6_and_ipv4_in_ipv6():
    root, pkt = dis(eth(ip6(ip6(b"", src=B6), 41), 0x86DD))
    assert vals(root, "ipv6.src") == ["2001:db8::1", "2001:db8::2"]
    assert protocols(pkt) == "eth:ethertype:ipv6:ipv6"
    root, pkt = dis(eth(ip6(ip4(b"ab"), 4), 0x86DD))
    assert protocols(pkt) == "eth:ethertype:ipv6:ip:data"


def test_ah_and_esp_minimal():
    ah = bytes([59, 4, 0, 0]) + bytes.fromhex("0000100100000005") + b"\xaa" * 12
    root, pkt = dis(eth(ip6(ah, 51), 0x86DD))
    assert protocols(pkt) == "eth:ethertype:ipv6:ah"
    assert vals(root, "ah.spi") == ["0x00001001"] and vals(root, "ah.sequence") == ["5"]
    assert "Length: 4 (24 bytes)" in texts(root)
    root, pkt = dis(eth(ip4(bytes.fromhex("0000100100000005") + bytes(16), 50)))
    assert pkt.col_protocol == "ESP" and pkt.info_text() == "ESP (SPI=0x00001001)"
    assert vals(root, "esp.spi") == ["0x00001001"]


# ---------------------------------------------------------------------------------------
# Hostile bytes: only Truncated/Malformed, never a bug, always bounded
# ---------------------------------------------------------------------------------------

SEEDS = [
    ip4(b"x" * 8, 17, opts=bytes([0x83, 11, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0])),
    ip4(b"x" * 8, opts=bytes([0x44, 12, 5, 1, 1, 2, 3, 4, 0, 0, 0, 9])),
    ip4(b"x" * 16, flags=1),
    ip6(bytes([43, 0, 1, 4, 0, 0, 0, 0, 44, 2, 0, 1]) + bytes(20) +
        bytes([60, 0, 0, 9, 0, 0, 0, 1]) + bytes([59, 0, 0xC2, 4, 0, 1, 0, 0]), 0),
    ip6(bytes([59, 4, 0, 0]) + bytes(20), 51),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), flips=st.lists(st.tuples(st.integers(0, 200),
                                                              st.integers(0, 255)),
                                                    max_size=6),
       cut=st.integers(0, 120), etype=st.sampled_from([0x0800, 0x86DD]))
def test_mutated_headers_never_raise_anything_else(seed, flips, cut, etype):
    b = bytearray(seed)
    for pos, val in flips:
        if pos < len(b):
            b[pos] = val
    frame = eth(bytes(b), etype)
    for data, origlen in ((frame, len(frame)), (frame[:14 + cut], len(frame))):
        _root, pkt = dissect_frame(data, number=1, ts_ns=0, linktype=1, origlen=origlen,
                                  state=CaptureState())
        assert "bug" not in pkt.hints, pkt.hints


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.tuples(st.integers(0, 8191), st.booleans(),
                                 st.binary(min_size=0, max_size=64), st.integers(0, 3)),
                       min_size=1, max_size=12))
def test_random_fragment_streams_stay_consistent(pieces):
    """Any fragment sequence: no bug, and re-dissecting each frame gives what the first
    pass gave (apart from the reassembled-in link tshark's second pass adds)."""
    state = CaptureState()
    frames = [frag4(data, off * 8, more, ident=ident) for off, more, data, ident in pieces]
    first = [dis(f, number=i, state=state) for i, f in enumerate(frames, 1)]
    for i, f in enumerate(frames, 1):
        root, _pkt = dis(f, number=i, state=state)
        after = root.values()
        after.pop("ip.reassembled_in", None)
        assert after == first[i - 1][0].values()


# ---------------------------------------------------------------------------------------
# The corpus: tshark's ip.* and ipv6.* columns
# ---------------------------------------------------------------------------------------

IP_COLUMNS = ["ip.version", "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.flags.df",
              "ip.flags.mf", "ip.frag_offset", "ip.proto", "ip.checksum", "ipv6.src",
              "ipv6.dst", "ipv6.nxt", "ipv6.hlim"]
OUR_LAYERS = {"ip", "ipv6", "ipv6.hopopts", "ipv6.dstopts", "ipv6.routing", "ipv6.fraghdr",
              "ah", "esp"}


def _ip_run(layers: list[str]) -> str:
    """The IP part of frame.protocols: from the first ip/ipv6 while the layers are ours."""
    out: list[str] = []
    for layer in layers:
        if out or layer in ("ip", "ipv6"):
            if layer not in OUR_LAYERS:
                break
            out.append(layer)
    return ":".join(out)


def _unreachable(layers: list[str], ours: list[str]) -> bool:
    """tshark reached IP through a layer wirelens has no dissector for (PPPoE, PPP, L2TP)."""
    first_ip = next((i for i, x in enumerate(layers) if x in ("ip", "ipv6")), len(layers))
    return any(x not in ours and x not in REGISTRY for x in layers[:first_ip])


def test_corpus_ip_columns(corpus_dir):
    pytest.importorskip("analyzer.capture")
    from .corpus import all_files, load_tsv, our_cells

    agree = total = unreachable = 0
    misses = []
    for file in all_files(corpus_dir):
        header, rows = load_tsv(corpus_dir / "tshark" / f"{file}.tsv")
        col = {h: i for i, h in enumerate(header)}
        ours = our_cells(corpus_dir / "pcaps" / file, IP_COLUMNS + ["frame.protocols"])
        for n, row in enumerate(rows, 1):
            mine = ours[n - 1] if n - 1 < len(ours) else [""] * (len(IP_COLUMNS) + 1)
            layers = row[col["frame.protocols"]].split(":")
            cells = [(c, mine[i], row[col[c]]) for i, c in enumerate(IP_COLUMNS)]
            cells.append(("frame.protocols", _ip_run(mine[-1].split(":")), _ip_run(layers)))
            for name, got, exp in cells:
                if not got and not exp:
                    continue
                if _unreachable(layers, mine[-1].split(":")):
                    unreachable += 1
                    continue
                total += 1
                if got == exp:
                    agree += 1
                else:
                    misses.append((file, n, name, got, exp))
    assert total > 40000
    assert agree / total >= 0.995, misses[:10]
    assert unreachable < 0.02 * total
