"""PPPoE, PPP (with LCP) and L2TP: fields, labels, Protocol and Info columns, hostile input.

Byte literals are frames of the corpus capture dpkt_dns-a-aaaa-cname-soa-http.pcap (DSL
traffic: PPPoE sessions, an L2TP tunnel inside one) or frames built here; every expected
value, label and column is tshark 4.0.17's on the same bytes.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.output import tree_text
from dissectors import CaptureState, dissect_frame
from dissectors.fields import REGISTRY, fields_value
from dissectors.tree import Node

DSL_PCAP = "dpkt_dns-a-aaaa-cname-soa-http.pcap"
MACS = bytes.fromhex("001733610000e0a1d718c273")

# Frame 1: Ethernet / PPPoE session 0x3b1a / PPP (no address/control) / IPv4 / UDP / DNS
# 0000  00 17 33 61 00 00 e0 a1 d7 18 c2 73 88 64 11 00  ..3a.......s.d..
# 0010  3b 1a 00 4b 00 21 45 00 00 49 ...                 ;..K.!E..I
DNS_OVER_PPPOE = bytes.fromhex(
    "001733610000e0a1d718c273886411003b1a004b002145000049643f40004011d56e5f88f2636d00420a929f"
    "00350035e693000201000001000000000000046e63646e066e623664736c076e657566626f78046e65756602"
    "667200001c0001")
# Frame 20: ... UDP 1701 / L2TP data (tunnel 1527, session 8298) / PPP ff 03 c0 21 / LCP
# Echo Request id 36, magic 0xe7e18ff6
LCP_ECHO_IN_L2TP = bytes.fromhex(
    "001733610000e0a1d718c273886411003b1a003000214500002e5b5a000040115f2b5f88f2636d06014806a5"
    "06a5001a0000000205f7206aff03c02109240008e7e18ff6")
# Frame 22: L2TP control message c8 02, length 20, Ns 15, Nr 2, one AVP: Message Type Hello
L2TP_HELLO = bytes.fromhex(
    "001733610000e0a1d718c273886411003b1a0032002145b4003000004000401179cf5f88f2636d06014806a5"
    "06a5001c0000c802001405f70000000f00028008000000000006")
# Frame 23: L2TP control message with no AVP (length 12): a ZLB acknowledgement
L2TP_ZLB = bytes.fromhex(
    "e0a1d718c273001733610000886411003b1a002a002145c00028000f0000fa11ffbb6d0601485f88f26306a5"
    "06a500141fefc802000c4a32000000020010")
# Frame 19: L2TP data with the offset bit (offset 0) / PPP ff 03 00 57 / IPv6 / ICMPv6 RA
RA_IN_L2TP = bytes.fromhex(
    "e0a1d718c273001733610000886411003b1a006a002145000068a06e0000fa115fdc6d0601485f88f26306a5"
    "06a50054000002024a32d35e0000ff0300576e00000000183afffe80000000000000ca4c75fffe78ed00ff02"
    "00000000000000000000000000018600fea640080708000000000000000005010000000005aa")


def dissect(data: bytes, origlen: int | None = None, tree: bool = True):
    root, pkt = dissect_frame(data, number=1, ts_ns=0,
                              origlen=len(data) if origlen is None else origlen, linktype=1,
                              state=CaptureState(), tree=tree)
    assert "bug" not in pkt.hints, pkt.hints["bug"]
    return root, pkt


def cell(root: Node, name: str) -> str:
    """The field's `-T fields` cell (occurrences joined by commas)."""
    return ",".join(fields_value(REGISTRY[name], v) for v in root.values().get(name, []))


def layers(pkt) -> str:
    return ":".join(pkt.layers[1:])


def udp_ipv4(sport: int, dport: int, payload: bytes) -> bytes:
    """Ethernet / IPv4 / UDP (checksum 0) around payload."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return MACS + b"\x08\x00" + ip + udp


def l2tp(payload: bytes) -> bytes:
    return udp_ipv4(1701, 1701, payload)


def pppoe_session(ppp: bytes, length: int | None = None) -> bytes:
    return MACS + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 0x1234,
                                             len(ppp) if length is None else length) + ppp


def lcp(code: int, ident: int, body: bytes) -> bytes:
    return b"\xc0\x21" + struct.pack("!BBH", code, ident, 4 + len(body)) + body


def avp(atype: int, value: bytes, mandatory: bool = True, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", (0x8000 if mandatory else 0) | (6 + len(value)), vendor,
                       atype) + value


def l2tp_control(tid: int, sid: int, avps: bytes, ns: int = 0, nr: int = 0) -> bytes:
    body = struct.pack("!HHHH", tid, sid, ns, nr) + avps
    return struct.pack("!HH", 0xC802, 4 + len(body)) + body


# ---------------------------------------------------------------------------------------
# PPPoE and PPP
# ---------------------------------------------------------------------------------------

def test_pppoe_session_carries_ipv4() -> None:
    root, pkt = dissect(DNS_OVER_PPPOE)
    assert layers(pkt).startswith("eth:ethertype:pppoes:ppp:ip:udp")
    assert cell(root, "eth.type") == "0x8864"
    assert cell(root, "pppoe.version") == "1"
    assert cell(root, "pppoe.type") == "1"
    assert cell(root, "pppoe.code") == "0x00"
    assert cell(root, "pppoe.session_id") == "0x3b1a"
    assert cell(root, "pppoe.payload_length") == "75"
    assert cell(root, "ppp.protocol") == "0x0021"
    assert cell(root, "ip.src") == "95.136.242.99"
    assert cell(root, "udp.dstport") == "53"
    text = tree_text(root)
    for line in ("PPP-over-Ethernet Session", "    0001 .... = Version: 1",
                 "    .... 0001 = Type: 1", "    Code: Session Data (0x00)",
                 "    Session ID: 0x3b1a", "    Payload Length: 75",
                 "Point-to-Point Protocol",
                 "    Protocol: Internet Protocol version 4 (0x0021)"):
        assert line in text.split("\n")


def test_lcp_echo_request_in_l2tp() -> None:
    root, pkt = dissect(LCP_ECHO_IN_L2TP)
    assert layers(pkt) == "eth:ethertype:pppoes:ppp:ip:udp:l2tp:ppp:lcp"
    assert (pkt.col_protocol, pkt.info_text()) == ("PPP LCP", "Echo Request")
    assert cell(root, "ppp.protocol") == "0x0021,0xc021"
    assert cell(root, "ppp.address") == "0xff"
    assert cell(root, "ppp.control") == "0x03"
    assert cell(root, "ppp.code") == "9"
    assert cell(root, "ppp.identifier") == "36"
    assert cell(root, "ppp.length") == "8"
    assert cell(root, "lcp.magic_number") == "0xe7e18ff6"
    assert cell(root, "l2tp.type") == "0"
    assert cell(root, "l2tp.tunnel") == "1527"
    assert cell(root, "l2tp.session") == "8298"
    lines = tree_text(root).split("\n")
    assert "    Identifier: 36 (0x24)" in lines
    assert "    Code: Echo Request (9)" in lines


def test_l2tp_data_with_offset_carries_ipv6() -> None:
    root, pkt = dissect(RA_IN_L2TP)
    assert layers(pkt) == "eth:ethertype:pppoes:ppp:ip:udp:l2tp:ppp:ipv6:icmpv6"
    assert (pkt.col_protocol, pkt.info_text()) == ("ICMPv6", "Router Advertisement")
    assert cell(root, "l2tp.flags") == "0x0202"
    assert cell(root, "l2tp.offset_bit") == "1"
    assert cell(root, "l2tp.offset") == "0"
    assert cell(root, "ppp.protocol") == "0x0021,0x0057"
    lines = tree_text(root).split("\n")
    assert "    Flags: 0x0202, Type: Data Message, Offset bit" in lines
    assert "        .... ..1. .... .... = Offset bit: Offset Size field is present" in lines
    l2 = root.find("l2tp")
    assert (l2.pos, l2.size) == (50, 8)


def test_ppp_unknown_protocol_is_data() -> None:
    _root, pkt = dissect(pppoe_session(b"\x12\x34abcd"))
    assert layers(pkt) == "eth:ethertype:pppoes:ppp:data"
    assert (pkt.col_protocol, pkt.info_text()) == ("0x1234", "PPP Unknown (0x1234)")


def test_ppp_known_protocol_without_dissector() -> None:
    _root, pkt = dissect(pppoe_session(b"\x00\x01\x00"))
    assert (pkt.col_protocol, pkt.info_text()) == ("0x0001", "PPP Padding Protocol (0x0001)")


def test_pppoe_ignores_hdlc_address_but_l2tp_reads_it() -> None:
    # Over PPPoE ff is an odd, compressed protocol number; over L2TP it is the address.
    _root, pkt = dissect(pppoe_session(b"\xff\x03\x00\x21abcd"))
    assert pkt.info_text() == "PPP Unknown (0x00ff)"
    root, pkt = dissect(l2tp(struct.pack("!HHH", 2, 1, 2) + b"\xff\x05\x12\x34ab"))
    assert cell(root, "ppp.control") == "0x05"
    assert pkt.info_text() == "PPP Unknown (0x1234)"


def test_protocol_field_compression() -> None:
    inner = udp_ipv4(1, 2, b"z")[14:]
    root, pkt = dissect(l2tp(struct.pack("!HHH", 2, 1, 2) + b"\x21" + inner))
    assert layers(pkt) == "eth:ethertype:ip:udp:l2tp:ppp:ip:udp:data"
    assert cell(root, "ppp.protocol") == "0x0021"
    assert root.find("ppp.protocol").size == 1


def test_pppoe_payload_length_limits_ppp() -> None:
    # 2 bytes of Ethernet padding after an 8-byte LCP Echo: PPP never sees them.
    frame = pppoe_session(lcp(9, 1, bytes.fromhex("01020304")) + b"\x00\x00", length=10)
    root, pkt = dissect(frame)
    assert pkt.info_text() == "Echo Request"
    assert cell(root, "lcp.data") == ""
    assert cell(root, "eth.padding") == "" and cell(root, "eth.trailer") == ""


def test_pppoe_discovery_tags_and_ac_name_in_info() -> None:
    tags = b"\x01\x01\x00\x00" + b"\x01\x02\x00\x04acna" + b"\x01\x04\x00\x08cookie!!"
    frame = MACS + b"\x88\x63" + struct.pack("!BBHH", 0x11, 0x07, 0, len(tags)) + tags
    root, pkt = dissect(frame)
    assert layers(pkt) == "eth:ethertype:pppoed"
    assert (pkt.col_protocol, pkt.info_text()) == \
        ("PPPoED", "Active Discovery Offer (PADO) AC-Name='acna'")
    assert cell(root, "pppoed.tags.ac_name") == "acna"
    assert cell(root, "pppoed.tags.ac_cookie") == "636f6f6b69652121"
    assert cell(root, "pppoe.code") == "0x07"
    lines = tree_text(root).split("\n")
    assert "    Code: Active Discovery Offer (PADO) (0x07)" in lines
    assert "        AC-Name: acna" in lines


@pytest.mark.parametrize("code, info", [
    (1, "Configuration Request"), (5, "Termination Request"), (8, "Protocol Reject"),
    (10, "Echo Reply"), (12, "Identification"), (13, "Time Remaining"), (14, "Unknown"),
])
def test_lcp_info(code: int, info: str) -> None:
    _root, pkt = dissect(pppoe_session(lcp(code, 1, bytes(8))))
    assert (pkt.col_protocol, pkt.info_text()) == ("PPP LCP", info)


def test_lcp_configuration_options() -> None:
    opts = (bytes([1, 4, 0x05, 0xD4]) + bytes([3, 5, 0xC2, 0x23, 5]) + bytes([5, 6, 1, 2, 3, 4])
            + bytes([7, 2]) + bytes([2, 6, 0, 0, 0, 0]) + bytes([99, 4, 1, 2]))
    root, _pkt = dissect(pppoe_session(lcp(1, 1, opts)))
    assert cell(root, "lcp.opt.mru") == "1492"
    assert cell(root, "lcp.opt.auth_protocol") == "0xc223"
    assert cell(root, "lcp.opt.algorithm") == "5"
    assert cell(root, "lcp.opt.magic_number") == "0x01020304"
    assert cell(root, "lcp.opt.asyncmap") == "0x00000000"
    assert cell(root, "lcp.opt.type") == "1,3,5,7,2"
    lines = tree_text(root).split("\n")
    assert ("    Options: (27 bytes), Maximum Receive Unit, Authentication Protocol, Magic "
            "Number, Protocol Field Compression, Async Control Character Map") in lines
    assert "        Maximum Receive Unit: 1492" in lines
    assert ("        Authentication Protocol: Challenge Handshake Authentication Protocol "
            "(0xc223)") in lines
    assert "            Algorithm: CHAP with MD5 (5)" in lines
    assert "        Async Control Character Map: 0x00000000 (None)" in lines
    assert "        Unknown (0x63) (4 bytes)" in lines


@pytest.mark.parametrize("opts, message", [
    (bytes([1, 1]), "Maximum Receive Unit (with too-short option length = 1 byte)"),
    (bytes([1, 3, 5]), "Maximum Receive Unit (with option length = 3 bytes; should be 4)"),
    (bytes([2, 6, 0, 0]), ("Async Control Character Map (option length = 6 bytes says option "
                           "goes past end of options)")),
    (bytes([1]), "Maximum Receive Unit (length byte past end of options)"),
])
def test_lcp_bad_option_lengths_warn(opts: bytes, message: str) -> None:
    root, pkt = dissect(pppoe_session(lcp(1, 1, opts)))
    assert pkt.info_text() == "Configuration Request"
    assert cell(root, "_ws.expert.message") == message
    assert pkt.damage == ""


def test_lcp_protocol_reject_nests_data() -> None:
    root, pkt = dissect(pppoe_session(lcp(8, 5, b"\x12\x34\x01\x02")))
    assert layers(pkt) == "eth:ethertype:pppoes:ppp:lcp:data"
    assert cell(root, "lcp.rej_proto") == "0x1234"
    assert root.find("lcp").find("data") is not None


def test_lcp_length_past_payload_is_malformed() -> None:
    body = bytes.fromhex("01020304")
    frame = pppoe_session(b"\xc0\x21" + struct.pack("!BBH", 9, 3, 20) + body)
    root, pkt = dissect(frame)
    assert pkt.damage == "malformed"
    assert pkt.info_text() == "Echo Request[Malformed Packet]"
    assert cell(root, "lcp.magic_number") == "0x01020304"


# ---------------------------------------------------------------------------------------
# L2TP
# ---------------------------------------------------------------------------------------

def test_l2tp_hello() -> None:
    root, pkt = dissect(L2TP_HELLO)
    assert layers(pkt) == "eth:ethertype:pppoes:ppp:ip:udp:l2tp"
    assert (pkt.col_protocol, pkt.info_text()) == \
        ("L2TP", "Control Message - Hello (tunnel id=1527, session id=0)")
    for name, value in (("l2tp.flags", "0xc802"), ("l2tp.type", "1"), ("l2tp.length_bit", "1"),
                        ("l2tp.seq_bit", "1"), ("l2tp.version", "2"), ("l2tp.length", "20"),
                        ("l2tp.Ns", "15"), ("l2tp.Nr", "2"), ("l2tp.avp.mandatory", "1"),
                        ("l2tp.avp.hidden", "0"), ("l2tp.avp.length", "8"),
                        ("l2tp.avp.vendor_id", "0"), ("l2tp.avp.type", "0"),
                        ("l2tp.avp.message_type", "6")):
        assert cell(root, name) == value, name
    text = tree_text(root)
    assert """Layer 2 Tunneling Protocol
    Flags: 0xc802, Type: Control Message, Length Bit, Sequence Bit
        1... .... .... .... = Type: Control Message (1)
        .1.. .... .... .... = Length Bit: Length field is present
        .... 1... .... .... = Sequence Bit: Ns and Nr fields are present
        .... ..0. .... .... = Offset bit: Offset size field is not present
        .... ...0 .... .... = Priority: No priority
        .... .... .... 0010 = Version: 2
    Length: 20
    Tunnel ID: 1527
    Session ID: 0
    Ns: 15
    Nr: 2
    Control Message AVP
        1... .... .... .... = Mandatory: True
        .0.. .... .... .... = Hidden: False
        .... ..00 0000 1000 = Length: 8
        Vendor ID: Reserved (0)
        AVP Type: Control Message (0)
        Message Type: Hello (6)""" in text


def test_l2tp_zlb() -> None:
    root, pkt = dissect(L2TP_ZLB)
    assert pkt.info_text() == "Control Message - ZLB      (tunnel id=18994, session id=0)"
    assert root.find("l2tp.zero_length_body_message") is not None


def test_l2tp_sccrq_avps() -> None:
    avps = (avp(0, b"\x00\x01") + avp(2, b"\x01\x00") + avp(3, b"\x00\x00\x00\x03")
            + avp(7, b"lns.example") + avp(8, b"acme", mandatory=False) + avp(9, b"\x12\x34")
            + avp(10, b"\x00\x04") + avp(6, b"\x06\x80", mandatory=False)
            + avp(5, bytes(range(1, 9)), mandatory=False))
    root, pkt = dissect(l2tp(l2tp_control(0, 0, avps)))
    assert pkt.info_text() == "Control Message - SCCRQ (tunnel id=0, session id=0)"
    assert cell(root, "l2tp.avp.host_name") == "lns.example"
    assert cell(root, "l2tp.avp.vendor_name") == "acme"
    assert cell(root, "l2tp.avp.assigned_tunnel_id") == "4660"
    assert cell(root, "l2tp.avp.receive_window_size") == "4"
    assert cell(root, "l2tp.avp.protocol_version") == "1"
    assert cell(root, "l2tp.avp.sync_framing_supported") == "1"
    assert cell(root, "l2tp.tie_breaker") == "0x0102030405060708"
    lines = tree_text(root).split("\n")
    assert "        Message Type: Start_Control_Request (1)" in lines
    assert "        Firmware Revision: 1664 (0x0680)" in lines
    assert ("        .... .... .... .... .... .... .... ..1. = Async Framing Supported: True"
            in lines)


def test_l2tp_cdn_result_code() -> None:
    avps = avp(0, b"\x00\x0e") + avp(1, b"\x00\x03\x00\x00hello") + avp(14, b"\x00\x09")
    root, pkt = dissect(l2tp(l2tp_control(0, 0, avps)))
    assert pkt.info_text() == "Control Message - CDN (tunnel id=0, session id=0)"
    assert cell(root, "l2tp.avp.error_message") == "hello"
    assert cell(root, "l2tp.avp.assigned_session_id") == "9"
    lines = tree_text(root).split("\n")
    assert "        Result code: Session disconnected for administrative reasons (3)" in lines
    assert "        Error code: No General Error (0)" in lines


def test_l2tp_short_avp_length_stops_with_expert() -> None:
    avps = avp(0, b"\x00\x01") + struct.pack("!HHH", 0x8003, 0, 1)
    root, pkt = dissect(l2tp(l2tp_control(0, 0, avps)))
    assert cell(root, "_ws.expert.message") == "AVP length must be >= 6, got 3"
    assert pkt.damage == ""


def test_l2tp_data_message_info() -> None:
    _root, pkt = dissect(l2tp(struct.pack("!HHH", 0x0002, 1, 2)))
    assert layers(pkt) == "eth:ethertype:ip:udp:l2tp"
    assert pkt.info_text() == "Data    Message            (tunnel id=1, session id=2)"


def test_l2tp_length_cuts_the_message() -> None:
    # L bit on a data message: the length (12) limits PPP to 4 bytes, so IPv4 is cut.
    payload = struct.pack("!HHHH", 0x4002, 12, 1, 2) + b"\xff\x03\x00\x21" + b"junk"
    root, pkt = dissect(l2tp(payload))
    assert pkt.damage == "malformed"
    assert root.find("l2tp.zero_length_body_message") is not None


def test_l2tp_other_versions_are_not_l2tp() -> None:
    _root, pkt = dissect(l2tp(struct.pack("!HHH", 0x0001, 1, 2) + b"\xff\x03\x00\x21"))
    assert layers(pkt) == "eth:ethertype:ip:udp:data"
    assert pkt.col_protocol == "UDP"


def test_l2tpv3_over_udp() -> None:
    root, pkt = dissect(l2tp(struct.pack("!HHI", 0x0003, 0, 0x1234) + b"abcdef"))
    assert layers(pkt) == "eth:ethertype:ip:udp:l2tp:data"
    assert (pkt.col_protocol, pkt.info_text()) == ("L2TPv3", "D[S:0x00001234]")
    assert cell(root, "l2tp.sid") == "0x00001234"
    ctrl = struct.pack("!HHIHH", 0xC803, 20, 7, 1, 2) + avp(0, b"\x00\x01")
    _root, pkt = dissect(l2tp(ctrl))
    assert pkt.info_text() == "Control Message - SCCRQ (ccid=0x00000007)"


@pytest.mark.parametrize("payload", [
    struct.pack("!HHHHHH", 0xC802, 40, 1, 2, 0, 0),     # message type past the datagram
    struct.pack("!HHHHHH", 0xC802, 6, 1, 2, 0, 0),      # length shorter than the header
    struct.pack("!HHH", 0x0202, 1, 2),                  # offset size missing
])
def test_l2tp_malformed_headers(payload: bytes) -> None:
    _root, pkt = dissect(l2tp(payload))
    assert pkt.damage == "malformed"
    assert pkt.info_text().endswith("[Malformed Packet]")
    assert layers(pkt).endswith("l2tp")


# ---------------------------------------------------------------------------------------
# Hostile input
# ---------------------------------------------------------------------------------------

SAMPLES = [DNS_OVER_PPPOE, LCP_ECHO_IN_L2TP, L2TP_HELLO, L2TP_ZLB, RA_IN_L2TP]


@pytest.mark.parametrize("frame", SAMPLES)
def test_every_truncation_is_truncated_or_malformed(frame: bytes) -> None:
    """Cut by snaplen (origlen kept) is 'short'; a short packet is 'malformed'; never a bug,
    and the summary path (no tree) agrees with the full one on layers and columns."""
    for cut in range(14, len(frame)):
        for origlen in (len(frame), cut):
            _root, full = dissect(frame[:cut], origlen=origlen)
            _none, fast = dissect(frame[:cut], origlen=origlen, tree=False)
            assert (full.layers, full.col_protocol, full.info_text(), full.damage) == \
                (fast.layers, fast.col_protocol, fast.info_text(), fast.damage)
            assert full.damage in ("", "short", "malformed")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([MACS + b"\x88\x64\x11\x00\x00\x01", MACS + b"\x88\x63",
                        l2tp(b"")[:42], pppoe_session(b"\xc0\x21")[:22]]),
       st.binary(max_size=80))
def test_random_payloads_never_hit_a_bug(head: bytes, tail: bytes) -> None:
    frame = head + tail
    for tree in (True, False):
        root, _pkt = dissect(frame, tree=tree)
        if root is not None:
            for node in root.walk():
                node.text()


# ---------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------

# Layers wirelens does not dissect yet: frame.protocols is compared up to the first of these,
# Protocol and Info only for frames that contain none of them.
NOT_OURS = {"dns", "http", "data-text-lines", "data"}


def test_corpus_dsl_capture_agrees_with_tshark(corpus_dir) -> None:
    from .corpus import L2L4_FIELDS, load_tsv, our_cells
    header, rows = load_tsv(corpus_dir / "tshark" / f"{DSL_PCAP}.tsv")
    names = [n for n in L2L4_FIELDS if n in header]
    ours = our_cells(corpus_dir / "pcaps" / DSL_PCAP, names)
    col = {h: i for i, h in enumerate(header)}
    assert len(ours) == len(rows)
    mismatches = []
    for frame, (row, mine) in enumerate(zip(rows, ours), 1):
        tshark_layers = row[col["frame.protocols"]].split(":")
        foreign = NOT_OURS & set(tshark_layers)
        for name, got in zip(names, mine):
            want = row[col[name]]
            if name == "frame.protocols":
                cut = min((tshark_layers.index(x) for x in foreign), default=None)
                want = ":".join(tshark_layers[:cut])
                got = ":".join(got.split(":")[:cut])
            elif name.startswith("_ws.col.") and foreign:
                continue
            if got != want:
                mismatches.append((frame, name, got, want))
    assert not mismatches, mismatches[:10]
