"""ICMP and ICMPv6: byte-literal messages per family, echo pairing, quoted packets, hostile
input, and the corpus columns (icmp.type, icmp.code, icmpv6.type, Protocol, Info) vs tshark.

Messages are dissected directly (the IP layer's facts set by hand) so these tests do not
depend on the IP dissectors; the quoted-packet tests go through dissect_frame and skip when
no IPv4/IPv6 dissector is registered.
"""
from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors import CaptureState, Malformed, Truncated, dissect_frame
from dissectors.buffer import Buf, DissectError
from dissectors.dispatch import ETHERTYPE
from dissectors.fields import REGISTRY, fields_value
from dissectors.frame import PROTO as FRAME
from dissectors.icmp import (
    EXPLAIN,
    MAX_QUOTE_DEPTH,
    IcmpSummary,
    Quoted,
    dissect_icmp,
    explain,
    time_str,
)
from dissectors.icmpv6 import dissect_icmpv6
from dissectors.icmpv6 import explain as explain6
from dissectors.packet import Packet
from dissectors.tree import NULL_TREE, Node

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

A4, B4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
A6 = ipaddress.IPv6Address("2001:db8::1").packed
B6 = ipaddress.IPv6Address("2001:db8::2").packed
T0 = 1_600_000_000_000_000_000


def run(msg: bytes, *, v6: bool = False, src: bytes | None = None, dst: bytes | None = None,
        ttl: int = 64, number: int = 1, ts_ns: int = T0, state: CaptureState | None = None,
        captured: int | None = None, tree: bool = True):
    """Dissect one ICMP(v6) message as the IP layer would hand it over."""
    state = state if state is not None else CaptureState()
    data = msg[:captured] if captured is not None else msg
    pkt = Packet(number, ts_ns, len(data), len(msg), 1, 0, state)
    pkt.net_src = src if src is not None else (A6 if v6 else A4)
    pkt.net_dst = dst if dst is not None else (B6 if v6 else B4)
    pkt.net_ver, pkt.ttl = (6 if v6 else 4), ttl
    root = Node(FRAME, 0, len(data)) if tree else NULL_TREE
    try:
        (dissect_icmpv6 if v6 else dissect_icmp)(Buf(data, len(msg)), 0, len(msg), root, pkt)
    finally:
        state.last_frame = max(state.last_frame, number)
    return (root if tree else None), pkt


def cells(root: Node, name: str) -> str:
    """A field as `tshark -T fields -E occurrence=a -E aggregator=,` prints it."""
    spec = REGISTRY[name]
    return ",".join(fields_value(spec, v) for v in root.values().get(name, []))


def labels(root: Node) -> list[str]:
    return [n.text() for n in root.walk()]


# ---------------------------------------------------------------------------------------
# ICMP (IPv4)
# ---------------------------------------------------------------------------------------

# 0x0000:  0800 5435 1234 0001 6162 6364 6566 6768   ..T5.4..abcdefgh
ECHO_REQ = bytes.fromhex("08005435123400016162636465666768")
# 0x0000:  0000 5c35 1234 0001 6162 6364 6566 6768   ..\5.4..abcdefgh
ECHO_REP = bytes.fromhex("00005c35123400016162636465666768")
# the same reply with other data (so another checksum): tshark does not pair it
ECHO_REP_OTHER = bytes.fromhex("0000dcb5123400014142434445464748")


def test_echo_request_fields_and_info():
    root, pkt = run(ECHO_REQ)
    assert pkt.col_protocol == "ICMP"
    assert pkt.info_text() == "Echo (ping) request  id=0x1234, seq=1/256, ttl=64"
    assert cells(root, "icmp.type") == "8" and cells(root, "icmp.code") == "0"
    assert cells(root, "icmp.checksum") == "0x5435"
    assert cells(root, "icmp.checksum.status") == "1"
    assert cells(root, "icmp.ident") == "4660" and cells(root, "icmp.ident_le") == "13330"
    assert cells(root, "icmp.seq") == "1" and cells(root, "icmp.seq_le") == "256"
    assert cells(root, "data.data") == "6162636465666768"
    assert pkt.layers == ["icmp", "data"]
    text = labels(root)
    assert "Type: 8 (Echo (ping) request)" in text
    assert "Checksum: 0x5435 [correct]" in text and "[Checksum Status: Good]" in text
    assert "Identifier (BE): 4660 (0x1234)" in text
    assert pkt.hints["icmp"] == IcmpSummary(4, 8, 0, -1, -1)


def test_echo_without_ttl_known_omits_it():
    _, pkt = run(ECHO_REQ, ttl=-1)
    assert pkt.info_text() == "Echo (ping) request  id=0x1234, seq=1/256"


def test_echo_pairing_single_pass_then_visited():
    st_ = CaptureState()
    _, req = run(ECHO_REQ, number=1, state=st_)
    root, rep = run(ECHO_REP, number=2, src=B4, dst=A4, ts_ns=T0 + 29_000, state=st_)
    assert req.info_text().endswith("ttl=64")          # tshark's first pass says nothing
    assert rep.info_text() == "Echo (ping) reply    id=0x1234, seq=1/256, ttl=64 (request in 1)"
    assert cells(root, "icmp.resp_to") == "1" and cells(root, "icmp.resptime") == "0.029"
    assert "[Response time: 0.029 ms]" in labels(root)
    assert rep.hints["icmp"].rtt_ns == 29_000
    # re-dissected later (the details pane): the request knows its reply
    root, req = run(ECHO_REQ, number=1, state=st_)
    assert req.visited and req.info_text().endswith("ttl=64 (reply in 2)")
    assert cells(root, "icmp.resp_in") == "2"
    root, rep = run(ECHO_REP, number=2, src=B4, dst=A4, ts_ns=T0 + 29_000, state=st_)
    assert rep.info_text().endswith("(request in 1)") and cells(root, "icmp.resp_to") == "1"


def test_response_time_prints_like_tshark():
    st_ = CaptureState()
    run(ECHO_REQ, number=1, state=st_)
    root, _ = run(ECHO_REP, number=2, src=B4, dst=A4, ts_ns=T0 + 1_200_639_000, state=st_)
    assert cells(root, "icmp.resptime") == "1200.639"   # not 1200.6390000000001


def test_echo_reply_with_other_data_or_twice_is_not_paired():
    st_ = CaptureState()
    run(ECHO_REQ, number=1, state=st_)
    root, rep = run(ECHO_REP_OTHER, number=2, src=B4, dst=A4, state=st_)
    assert "request in" not in rep.info_text() and cells(root, "icmp.resp_to") == ""
    run(ECHO_REP, number=3, src=B4, dst=A4, state=st_)
    _, dup = run(ECHO_REP, number=4, src=B4, dst=A4, state=st_)
    assert "request in" not in dup.info_text()
    # visited: the unanswered request is reported as tshark -2 does
    root, req = run(ECHO_REQ, number=1, state=st_)
    assert req.info_text().endswith("(reply in 3)")


def test_unanswered_request_visited_and_group_destinations():
    st_ = CaptureState()
    run(ECHO_REQ, number=1, state=st_)
    run(ECHO_REQ, number=2, dst=bytes([224, 0, 0, 9]), state=st_)
    run(ECHO_REQ, number=3, dst=b"\xff\xff\xff\xff", state=st_)
    root, pkt = run(ECHO_REQ, number=1, state=st_)
    assert pkt.info_text().endswith("(no response found!)")
    assert cells(root, "icmp.no_resp") == "1"
    assert "No response seen to ICMP request" in root.values()["_ws.expert.message"]
    assert run(ECHO_REQ, number=2, dst=bytes([224, 0, 0, 9]), state=st_)[1] \
        .info_text().endswith("(multicast)")
    assert run(ECHO_REQ, number=3, dst=b"\xff\xff\xff\xff", state=st_)[1] \
        .info_text().endswith("(broadcast)")


def test_echo_timestamp_heuristic():
    # 0x0000:  0800 f5a5 0008 0001 0010 5e5f 90d0 0300   ..........^_....
    # 0x0010:  1011                                      ..
    msg = bytes.fromhex("0800f5a50008000100105e5f90d003001011")
    root, _ = run(msg, ts_ns=1_600_000_000_500_000_000)
    assert cells(root, "icmp.data_time") == "Sep 13, 2020 12:26:40.250000000 UTC"
    assert cells(root, "icmp.data_time_relative") == "0.250000000"
    assert cells(root, "data.data") == "1011"


def test_bad_checksum_is_an_expert_item():
    msg = bytearray(ECHO_REQ)
    msg[2:4] = b"\0\0"
    root, _ = run(bytes(msg))
    assert cells(root, "icmp.checksum.status") == "0"
    assert "Checksum: 0x0000 incorrect, should be 0x5435" in labels(root)
    assert root.values()["_ws.expert.message"] == ["Bad checksum [should be 0x5435]"]


def test_truncated_capture_leaves_checksum_unverified():
    root, _ = run(ECHO_REQ, captured=12)
    assert cells(root, "icmp.checksum.status") == "2"
    assert "Checksum: 0x5435 [unverified] [fragmented datagram]" in labels(root)


def test_frag_needed_shows_the_next_hop_mtu():
    # 0x0000:  0304 2e8f 0000 0578 4500 0028 0001 4000   .......xE..(..@.
    # 0x0010:  4006 6ec4 0a00 0002 c000 0209 01bb c738   @.n............8
    # 0x0020:  0000 0001                                 ....
    msg = bytes.fromhex("03042e8f00000578450000280001400040066ec40a000002c000020901bbc73800000001")
    root, pkt = run(msg)
    assert pkt.info_text() == "Destination unreachable (Fragmentation needed)"
    assert cells(root, "icmp.mtu") == "1400" and cells(root, "icmp.unused") == "0000"
    assert "MTU of next hop: 1400" in labels(root)
    assert pkt.hints["icmp"] == IcmpSummary(4, 3, 4, 1400, -1)
    assert pkt.hints["icmp_quoted"] == Quoted(6, B4, bytes([192, 0, 2, 9]), 443, 51000)
    assert "PMTU" in REGISTRY["icmp.mtu"].explain


def test_redirect_timestamp_mask_and_router_advertisement():
    redirect = bytes.fromhex("050153770a0000fe45000028000100004011668e0a0000020a0000359c40003500140000")
    root, pkt = run(redirect)
    assert pkt.info_text() == "Redirect             (Redirect for host)"
    assert cells(root, "icmp.redir_gw") == "10.0.0.254"

    # 0x0000:  0e00 249f 0007 0009 0036 ee80 0036 eee4   ..$......6...6..
    # 0x0010:  0036 ef48                                 .6.H
    root, pkt = run(bytes.fromhex("0e00249f000700090036ee800036eee40036ef48"))
    assert pkt.info_text() == "Timestamp reply      id=0x0007, seq=9/2304, ttl=64"
    assert "Receive Timestamp: 3600100 (1 hour, 0.100 seconds after midnight UTC)" in labels(root)
    assert cells(root, "icmp.transmit_timestamp") == "3600200"

    root, pkt = run(bytes.fromhex("1200eefb00010002ffffff00"))
    assert pkt.info_text() == "Address mask reply   id=0x0001, seq=2/512, ttl=64"
    assert cells(root, "icmp.address_mask") == "255.255.255.0"

    root, pkt = run(bytes.fromhex("0900d7fe020207080a0000fe000000000a0000fdfffffffb"))
    assert pkt.info_text() == "Mobile IP Advertisement (Normal router advertisement)"
    assert cells(root, "icmp.router_address") == "10.0.0.254,10.0.0.253"
    assert cells(root, "icmp.pref_level") == "0,-5"
    assert "Lifetime: 1800 (30 minutes)" in labels(root)


def test_rfc4884_length_and_mpls_extension():
    msg = bytes.fromhex(
        "0b00ef3d0020000045000080000100004011666a0a0000020a000001829a829b006c0000"
        + "00" * 100 + "20003a0d0008010103e8a101")
    root, pkt = run(msg)
    assert pkt.info_text() == "Time-to-live exceeded (Time to live exceeded in transit)"
    assert cells(root, "icmp.length") == "32"
    assert cells(root, "icmp.length.original_datagram") == "128"
    assert cells(root, "icmp.ext.version") == "2"
    assert cells(root, "icmp.ext.checksum.status") == "1"
    assert cells(root, "icmp.mpls.label") == "16010" and cells(root, "icmp.mpls.s") == "1"
    assert "Label: 16010, Exp: 0, S: 1, TTL: 1" in labels(root)


@pytest.mark.parametrize("typ, code, info", [
    (3, 3, "Destination unreachable (Port unreachable)"),
    (3, 13, "Destination unreachable (Communication administratively filtered)"),
    (3, 99, "Destination unreachable (Unknown code: 99)"),
    (11, 1, "Time-to-live exceeded (Fragment reassembly time exceeded)"),
    (12, 0, "Parameter problem    (Pointer indicates the error)"),
    (4, 0, "Source quench (flow control)"),
    (10, 0, "Router solicitation "),
    (42, 0, "Extended Echo request (No error)"),
    (200, 7, "Unknown ICMP (obsolete or malformed?)"),
])
def test_type_and_code_names(typ, code, info):
    _, pkt = run(bytes([typ, code, 0, 0, 0, 0, 0, 0]))
    assert pkt.info_text() == info


def test_explanations_for_a_backend_engineer():
    assert "nothing listens" in EXPLAIN[(3, 3)]
    assert "REJECT" in EXPLAIN[(3, 13)] and "black hole" in EXPLAIN[(3, 4)]
    assert "routing loop" in EXPLAIN[(11, 0)]
    assert time_str(3661, 5) == "1 hour, 1 minute, 1.005 seconds"
    assert explain(3, 10) == EXPLAIN[(3, 10)] and explain(3, 11) == EXPLAIN[(3, None)]
    assert "path MTU" in explain6(2, 0) and explain6(129, 0) and explain(42, 0) == ""


@pytest.mark.parametrize("msg, exc", [
    (b"\x08", Malformed),                      # shorter than the 6 bytes ICMP reads first
    (b"\x08\x00\x00\x00", Malformed),
    (bytes.fromhex("0e00249f00070009"), Malformed),                 # timestamps missing
    (bytes.fromhex("0900d7fe02020708"), Malformed),                 # router entries missing
])
def test_short_messages_are_malformed(msg, exc):
    with pytest.raises(exc):
        run(msg)


def test_short_capture_is_truncated_and_info_cleared():
    with pytest.raises(Truncated):
        run(ECHO_REQ, captured=3)
    st_ = CaptureState()
    pkt = Packet(1, T0, 3, 16, 1, 0, st_)
    pkt.info = ["stale"]
    with pytest.raises(Truncated):
        dissect_icmp(Buf(ECHO_REQ[:3], 16), 0, 16, NULL_TREE, pkt)
    assert pkt.info_text() == "" and pkt.col_protocol == "ICMP"


def test_padding_after_the_message_is_not_read():
    # a 4-byte ICMP message followed by Ethernet padding: tshark says malformed
    with pytest.raises(Malformed):
        dissect_icmp(Buf(b"\x08\x00\x00\x00" + bytes(20)), 0, 4, NULL_TREE,
                     Packet(1, T0, 24, 24, 1, 0, CaptureState()))


# ---------------------------------------------------------------------------------------
# ICMPv6
# ---------------------------------------------------------------------------------------

V6_ECHO_REQ = bytes.fromhex("8000e0270042000768656c6c6f")
V6_ECHO_REP = bytes.fromhex("8100df270042000768656c6c6f")


def test_v6_echo_and_pairing():
    st_ = CaptureState()
    root, req = run(V6_ECHO_REQ, v6=True, state=st_, number=5)
    assert req.col_protocol == "ICMPv6"
    assert req.info_text() == "Echo (ping) request id=0x0042, seq=7, hop limit=64"
    assert cells(root, "icmpv6.checksum.status") == "1"
    assert cells(root, "icmpv6.echo.identifier") == "0x0042"
    assert "Type: Echo (ping) request (128)" in labels(root)
    root, rep = run(V6_ECHO_REP, v6=True, src=B6, dst=A6, ttl=59, number=6,
                    ts_ns=T0 + 35_552_000, state=st_)
    assert rep.info_text() == "Echo (ping) reply id=0x0042, seq=7, hop limit=59 (request in 5)"
    assert cells(root, "icmpv6.resp_to") == "5" and cells(root, "icmpv6.resptime") == "35.552"
    assert run(V6_ECHO_REQ, v6=True, state=st_, number=5)[1].info_text().endswith("(reply in 6)")


def test_v6_checksum_covers_the_pseudo_header():
    root, _ = run(V6_ECHO_REQ, v6=True, dst=A6)    # other addresses: the sum no longer fits
    assert cells(root, "icmpv6.checksum.status") == "0"


def test_neighbor_solicitation_and_advertisement():
    # 0x0000:  8700 b78e 0000 0000 2001 0db8 0000 0000   ................
    # 0x0010:  0000 0000 0000 0002 0101 0011 2233 4455   ............"3DU
    ns = bytes.fromhex("8700b78e0000000020010db80000000000000000000000020101001122334455")
    root, pkt = run(ns, v6=True, dst=ipaddress.IPv6Address("ff02::1:ff00:2").packed)
    assert pkt.info_text() == "Neighbor Solicitation for 2001:db8::2 from 00:11:22:33:44:55"
    assert cells(root, "icmpv6.nd.ns.target_address") == "2001:db8::2"
    assert cells(root, "icmpv6.opt.linkaddr") == "00:11:22:33:44:55"
    assert "ICMPv6 Option (Source link-layer address : 00:11:22:33:44:55)" in labels(root)
    na = bytes.fromhex("8800a5d9e000000020010db80000000000000000000000020201001122334455")
    root, pkt = run(na, v6=True, src=B6, dst=A6)
    assert pkt.info_text() == \
        "Neighbor Advertisement 2001:db8::2 (rtr, sol, ovr) is at 00:11:22:33:44:55"
    assert cells(root, "icmpv6.nd.na.flag") == "0xe0000000"
    assert cells(root, "icmpv6.nd.na.flag.s") == "1"
    assert "Flags: 0xe0000000, Router, Solicited, Override" in labels(root)


def test_router_advertisement_options():
    ra = bytes.fromhex(
        "8600d82440c8070800007530000003e8010100112233445505010000000005c8030440c000278d00"
        "00093a800000000020010db8000100000000000000000000190300000000025820010db800000000"
        "00000000000000531f03000000000258076578616d706c6503636f6d00000000")
    root, pkt = run(ra, v6=True, src=ipaddress.IPv6Address("fe80::1").packed,
                    dst=ipaddress.IPv6Address("ff02::1").packed)
    assert pkt.info_text() == "Router Advertisement from 00:11:22:33:44:55"
    assert cells(root, "icmpv6.nd.ra.router_lifetime") == "1800"
    assert cells(root, "icmpv6.opt.mtu") == "1480"
    assert cells(root, "icmpv6.opt.prefix") == "2001:db8:1::"
    assert cells(root, "icmpv6.opt.rdnss") == "2001:db8::53"
    assert cells(root, "icmpv6.opt.dnssl") == "example.com"
    text = labels(root)
    assert "Flags: 0xc8, Managed address configuration, Other configuration, " \
           "Prf (Default Router Preference): High" in text
    assert "ICMPv6 Option (Prefix information : 2001:db8:1::/64)" in text
    assert "Flag: 0xc0, On-link flag(L), Autonomous address-configuration flag(A)" in text
    assert "ICMPv6 Option (Recursive DNS Server 2001:db8::53)" in text
    assert "ICMPv6 Option (DNS Search List Option example.com)" in text


def test_mld_messages():
    report = bytes.fromhex("8f0043350000000104000001ff0200000000000000000001ff00000220010db8"
                           "000000000000000000000007")
    ll = ipaddress.IPv6Address("fe80::1").packed
    root, pkt = run(report, v6=True, src=ll, dst=ipaddress.IPv6Address("ff02::16").packed)
    assert pkt.info_text() == "Multicast Listener Report Message v2"
    assert cells(root, "icmpv6.mldr.mar.multicast_address") == "ff02::1:ff00:2"
    assert cells(root, "icmpv6.mldr.mar.source_address") == "2001:db8::7"
    assert "Multicast Address Record Changed to exclude: ff02::1:ff00:2" in labels(root)
    v1 = bytes.fromhex("83007e2f00000000ff0200000000000000000000000000fb")
    root, pkt = run(v1, v6=True, src=ll, dst=ipaddress.IPv6Address("ff02::fb").packed)
    assert pkt.info_text() == "Multicast Listener Report"
    assert cells(root, "icmpv6.mld.multicast_address") == "ff02::fb"
    query = bytes.fromhex("820028c72710000000000000000000000000000000000000027d000120010db8"
                          "000000000000000000000005")
    root, pkt = run(query, v6=True, src=ll, dst=ipaddress.IPv6Address("ff02::1").packed)
    assert cells(root, "icmpv6.mld.maximum_response_code") == "10000"
    assert cells(root, "icmpv6.mld.flag.qrv") == "2"
    assert cells(root, "icmpv6.mld.source_address") == "2001:db8::5"


def test_packet_too_big_mtu_and_quote_summary():
    ptb = bytes.fromhex("02001f3600000500600000000014114020010db800000000000000000000000120"
                        "010db80000000000000000000000539c40003500140000123401000001000000000000")
    root, pkt = run(ptb, v6=True, src=ipaddress.IPv6Address("2001:db8::ff").packed, dst=A6)
    assert pkt.info_text() == "Packet Too Big"
    assert cells(root, "icmpv6.mtu") == "1280"
    assert pkt.hints["icmp"] == IcmpSummary(6, 2, 0, 1280, -1)
    assert pkt.hints["icmp_quoted"] == Quoted(
        17, A6, ipaddress.IPv6Address("2001:db8::53").packed, 40000, 53)
    assert "black hole" in REGISTRY["icmpv6.mtu"].explain


def test_v6_option_lengths():
    zero = bytes.fromhex("8700ee740000000020010db80000000000000000000000020100000000000000")
    root, pkt = run(zero, v6=True)
    assert pkt.info_text() == "Neighbor Solicitation for 2001:db8::2"
    assert root.values()["_ws.expert.message"] == ["Invalid option length (Zero)"]
    past_end = bytes.fromhex("8700ee710000000020010db80000000000000000000000020103000000000000")
    with pytest.raises(Malformed):
        run(past_end, v6=True)
    with pytest.raises(Malformed):   # an error that quotes nothing
        run(bytes.fromhex("0104a34400000000"), v6=True, src=B6, dst=A6)


@pytest.mark.parametrize("typ, code, info", [
    (1, 4, "Destination Unreachable (Port unreachable)"),
    (1, 1, "Destination Unreachable (Administratively prohibited)"),
    (1, 9, "Destination Unreachable (Unknown)"),
    (3, 0, "Time Exceeded (hop limit exceeded in transit)"),
    (4, 7, "Parameter Problem (Unknown (7))"),
    (139, 0, "Node Information Query (Query subject = IPv6 addresses)"),
    (200, 3, "Private experimentation"),
])
def test_v6_type_and_code_names(typ, code, info):
    _, pkt = run(bytes([typ, code, 0, 0, 0, 0, 0, 0, 0x60] + [0] * 39), v6=True)
    assert pkt.info_text() == info


# ---------------------------------------------------------------------------------------
# Quoted packets through the whole stack
# ---------------------------------------------------------------------------------------

ETH = bytes.fromhex("66778899aabb001122334455")


def _inet_checksum(data: bytes) -> bytes:
    """RFC 1071, written out here so the tests do not trust the code under test."""
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("!H", ~s & 0xFFFF)


def _ip4(src: bytes, dst: bytes, payload: bytes, proto: int = 1, ttl: int = 64) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, ttl, proto, 0, src, dst)
    return h[:10] + _inet_checksum(h) + h[12:] + payload


def _frame(ip: bytes, etype: int = 0x0800) -> bytes:
    f = ETH + struct.pack("!H", etype) + ip
    return f + bytes(max(0, 60 - len(f)))


needs_ip = pytest.mark.skipif(ETHERTYPE.get(0x0800) is None or ETHERTYPE.get(0x86DD) is None,
                              reason="IP dissectors not registered")

# 0x0000:  0303 4d3e 0000 0000 4500 0028 0001 0000   ..M>....E..(....
# 0x0010:  4011 668e 0a00 0002 0a00 0035 9c40 0035   @.f........5.@.5
# 0x0020:  0014 0000 1234 0100 0001 0000 0000 0000   .....4..........
PORT_UNREACH = bytes.fromhex(
    "03034d3e0000000045000028000100004011668e0a0000020a0000359c40003500140000123401000001000000000000")


@needs_ip
def test_port_unreachable_quotes_the_udp_datagram():
    frame = _frame(_ip4(bytes([10, 0, 0, 53]), B4, PORT_UNREACH))
    root, pkt = dissect_frame(frame, number=1, ts_ns=T0, origlen=len(frame), linktype=1,
                              state=CaptureState())
    assert "bug" not in pkt.hints
    assert pkt.col_protocol == "ICMP"
    assert pkt.info_text() == "Destination unreachable (Port unreachable)"
    assert cells(root, "ip.src") == "10.0.0.53,10.0.0.2"
    assert pkt.layers[:7] == ["frame", "eth", "ethertype", "ip", "icmp", "ip", "udp"]
    # the outer frame keeps its own conversation; the quote is summarised for the engine
    assert (pkt.net_src, pkt.net_dst, pkt.ip_proto) == (bytes([10, 0, 0, 53]), B4, 1)
    assert pkt.srcport == pkt.dstport == -1
    assert pkt.hints["icmp_quoted"] == Quoted(17, B4, bytes([10, 0, 0, 53]), 40000, 53)


@needs_ip
@pytest.mark.parametrize("quoted", [1, 10, 20, 22, 28])
def test_short_quotes_show_what_is_there(quoted):
    msg = bytearray(PORT_UNREACH[:8 + quoted])
    msg[2:4] = b"\0\0"
    msg[2:4] = _inet_checksum(bytes(msg))
    frame = _frame(_ip4(bytes([10, 0, 0, 53]), B4, bytes(msg)))
    root, pkt = dissect_frame(frame, number=1, ts_ns=T0, origlen=len(frame), linktype=1,
                              state=CaptureState())
    assert "bug" not in pkt.hints
    assert pkt.info_text() == "Destination unreachable (Port unreachable)"
    assert pkt.layers[4:6] == ["icmp", "ip"]
    assert cells(root, "icmp.checksum.status") == "1"


@needs_ip
def test_quote_cut_by_the_capture_is_truncated():
    frame = _frame(_ip4(bytes([10, 0, 0, 53]), B4, PORT_UNREACH))
    _, pkt = dissect_frame(frame[:14 + 20 + 8 + 24], number=1, ts_ns=T0, origlen=len(frame),
                              linktype=1, state=CaptureState())
    assert "bug" not in pkt.hints
    assert pkt.info_text().startswith("Destination unreachable (Port unreachable)[Packet size")
    assert pkt.net_src == bytes([10, 0, 0, 53])


# ---------------------------------------------------------------------------------------
# Hostile input
# ---------------------------------------------------------------------------------------


@needs_ip
def test_deeply_nested_errors_stop_quoting():
    # 400 time-exceeded messages, each quoting the next: bounded, no stack exhaustion
    ip = _ip4(A4, B4, ECHO_REQ)
    for _ in range(400):
        msg = bytearray(b"\x0b\0\0\0\0\0\0\0" + ip)
        msg[2:4] = _inet_checksum(bytes(msg))
        ip = _ip4(bytes([10, 0, 0, 3]), A4, bytes(msg))
    frame = _frame(ip)
    _, pkt = dissect_frame(frame, number=1, ts_ns=T0, origlen=len(frame), linktype=1,
                           state=CaptureState())
    assert "bug" not in pkt.hints
    assert pkt.info_text() == "Time-to-live exceeded (Time to live exceeded in transit)"
    assert pkt.layers.count("icmp") == MAX_QUOTE_DEPTH + 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans(), st.integers(0, 200))
def test_any_bytes_raise_only_dissect_errors(data, v6, cut):
    for tree in (True, False):
        try:
            run(data, v6=v6, captured=min(cut, len(data)), tree=tree)
        except DissectError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0, 3, 4, 5, 8, 9, 11, 12, 13, 17, 42, 1, 2, 128, 129, 130, 134, 135,
                        136, 137, 143, 160]),
       st.integers(0, 255), st.binary(min_size=2, max_size=160), st.booleans())
def test_typed_messages_raise_only_dissect_errors(typ, code, body, v6):
    try:
        run(bytes([typ, code]) + body, v6=v6)
    except DissectError:
        pass


@needs_ip
@settings(max_examples=150, deadline=None)
@given(st.sampled_from([3, 5, 11, 12]), st.binary(max_size=120))
def test_quoted_garbage_through_the_stack(typ, body):
    frame = _frame(_ip4(bytes([10, 0, 0, 53]), B4, bytes([typ, 0, 0, 0, 0, 0, 0, 0]) + body))
    _, pkt = dissect_frame(frame, number=1, ts_ns=T0, origlen=len(frame), linktype=1,
                           state=CaptureState())
    assert "bug" not in pkt.hints, pkt.hints.get("bug")


# ---------------------------------------------------------------------------------------
# Corpus: our columns against tshark's
# ---------------------------------------------------------------------------------------

CORPUS_FILES = [
    "arkime_bigendian-icmp-echo.pcap", "arkime_mixed-ipv6-dns-ssh-icmpv6.pcap",
    "arkime_vlan-8021ad-icmp.pcap", "dpkt_dns-a-ptr-icmp.pcap",
    "suricata_tcp-window-full-smtp-icmp-fragneeded.pcap", "tcpdump_ipv6-routing-header.pcap",
    "tcpdump_ipv6-segment-routing-header.pcap", "zeek_icmp-destunreach-port-udp.pcap",
    "zeek_icmpv6-echo-ping.pcap", "zeek_icmpv6-nd-ra-mld-options.pcap",
    "zeek_ipv4-bogus-header-len.pcap", "zeek_ipv6-ext-headers-atomic-frag-http.pcap",
    "zeek_sll2-arp-icmp-icmpv6.pcap", "zeek_vlan-dot1q-arp-icmp.pcap",
    "tcpdump_ipv4-timestamp-option-malformed.pcap",
]
CORPUS_FIELDS = ["icmp.type", "icmp.code", "icmpv6.type", "_ws.col.Protocol", "_ws.col.Info"]


@needs_ip
@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason="corpus not present")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_columns_match_tshark(name):
    corpus = pytest.importorskip("tests.corpus")
    header, rows = corpus.load_tsv(CORPUS / "tshark" / f"{name}.tsv")
    col = {h: i for i, h in enumerate(header)}
    ours = corpus.our_cells(CORPUS / "pcaps" / name, CORPUS_FIELDS)
    checked, wrong = 0, []
    for idx, row in enumerate(rows):
        if ":icmp" not in row[col["frame.protocols"]]:
            continue
        for j, field_name in enumerate(CORPUS_FIELDS):
            checked += 1
            if ours[idx][j] != row[col[field_name]]:
                wrong.append((idx + 1, field_name, ours[idx][j], row[col[field_name]]))
    assert checked and not wrong, wrong[:10]
