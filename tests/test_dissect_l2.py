"""Link layers and ARP: Linux cooked v1/v2, BSD NULL/LOOP, raw IP, 802.1Q/802.1ad, ARP/RARP.

Expected values come from tshark 4.0.17 run on the same bytes (and on the corpus).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dissectors import CaptureState, Malformed, Truncated, dissect_frame
from dissectors.arp import dissect_arp
from dissectors.buffer import Buf
from dissectors.dispatch import ETHERTYPE
from dissectors.fields import REGISTRY, fields_value
from dissectors.tree import NULL_TREE

M1, M2, Z6 = "001122334455", "66778899aabb", "000000000000"
IP_A, IP_B, IP_0 = "c0a87b01", "c0a87b02", "00000000"   # 192.168.123.1, .2, 0.0.0.0
ARP_HDR = "000108000604"                                 # Ethernet, IPv4, sizes 6 and 4
# A minimal IPv4 header (UDP 192.168.0.1 -> 192.168.0.2) and IPv6 header for hand-off tests.
IP4 = "450000210001000040110000c0a80001c0a800020035003500090000ab"
IP6 = "6000000000011140" + "00" * 15 + "01" + "00" * 15 + "01" + "ab"


def dis(hexstr: str, linktype: int, origlen: int | None = None, tree: bool = True):
    data = bytes.fromhex(hexstr.replace(" ", ""))
    root, pkt = dissect_frame(data, number=1, ts_ns=0, linktype=linktype, tree=tree,
                              origlen=len(data) if origlen is None else origlen,
                              state=CaptureState())
    assert "bug" not in pkt.hints, pkt.hints
    return root, pkt


def vals(root, abbrev: str) -> list[str]:
    """A field's values formatted as `tshark -T fields` prints them."""
    spec = REGISTRY[abbrev]
    return [fields_value(spec, v) for v in root.values().get(abbrev, [])]


def protocols(root) -> str:
    return root.find("frame.protocols").value


def experts(pkt) -> set[str]:
    """Expert abbrevs, plus the frame's damage mark as tshark names it (_ws.short/_ws.malformed)."""
    return {e.abbrev for e in pkt.experts} | ({f"_ws.{pkt.damage}"} if pkt.damage else set())


def _layer_stub(name: str):
    def fn(buf, off, end, tree, pkt):
        pkt.enter(name)
    return fn


@pytest.fixture
def ip_stub(monkeypatch):
    """IPv4/IPv6 replaced by stubs that only record their layer: these tests are about
    which dissector the link layer hands the packet to."""
    monkeypatch.setitem(ETHERTYPE._map, 0x0800, _layer_stub("ip"))
    monkeypatch.setitem(ETHERTYPE._map, 0x86DD, _layer_stub("ipv6"))


# ----------------------------------------------------------------------------------------
# Linux cooked capture v1
# ----------------------------------------------------------------------------------------

def test_sll_v1_sent_by_us_ppp(ip_stub):
    # tcpdump_tcp-handshake-nanosec-sll frame 1:
    # 0000  00 04 02 00 00 00 00 00 00 00 00 00 00 00 08 00   ................
    # 0010  45 00 00 3c ...                                    IPv4
    root, pkt = dis("0004 0200 0000 0000000000000000 0800" + IP4, 113)
    assert protocols(root) == "sll:ethertype:ip"
    assert vals(root, "sll.pkttype") == ["4"]
    assert vals(root, "sll.hatype") == ["512"]
    assert vals(root, "sll.halen") == ["0"]
    assert vals(root, "sll.unused") == ["0000000000000000"]
    assert vals(root, "sll.etype") == ["0x0800"]
    sll = root.find("sll")
    assert sll.text() == "Linux cooked capture v1"
    assert [c.text() for c in sll.children][:3] == [
        "Packet type: Sent by us (4)", "Link-layer address type: PPP (512)",
        "Link-layer address length: 0"]
    assert pkt.dl_src == b""


def test_sll_v1_ethernet_source_and_columns():
    root, pkt = dis("0004 0001 0006 001122334455 0000 1234 deadbeef", 113)
    assert vals(root, "sll.src.eth") == ["00:11:22:33:44:55"]
    assert vals(root, "sll.unused") == ["0000"]
    assert pkt.dl_src == bytes.fromhex(M1)
    assert protocols(root) == "sll:ethertype:data"
    # Unknown EtherType: tshark shows it as the protocol, the packet type as Info.
    assert (pkt.col_protocol, pkt.info_text()) == ("0x1234", "Sent by us")


@pytest.mark.parametrize("halen, addr, field, value, unused", [
    (4, "0a000001", "sll.src.ipv4", "10.0.0.1", "00000000"),
    (8, "0102030405060708", "sll.src.other", "0102030405060708", None),
    (10, "0102030405060708", "sll.src.other", "0102030405060708", None),  # only 8 stored
])
def test_sll_v1_address_lengths(halen, addr, field, value, unused):
    addr_slot = (addr + "00" * 8)[:16]
    root, pkt = dis(f"0003 0200 {halen:04x} {addr_slot} 1234 ab", 113)
    assert vals(root, field) == [value]
    assert vals(root, "sll.unused") == ([unused] if unused else [])
    assert pkt.info_text() == "Unicast to another host"
    assert pkt.dl_src == (bytes.fromhex(addr) if halen == 4 else b"")


@pytest.mark.parametrize("ltype, layers", [
    (0x0004, "sll:data"),            # 802.2 LLC (no LLC dissector yet: data)
    (0x000C, "sll:data"),            # CAN
    (0x0600, "sll:data"),            # Linux counts up to 1536 as its own types
])
def test_sll_v1_linux_protocol_types(ltype, layers):
    root, pkt = dis(f"0001 0304 0000 0000000000000000 {ltype:04x} aaaa03", 113)
    assert vals(root, "sll.ltype") == [f"0x{ltype:04x}"]
    assert vals(root, "sll.etype") == []
    assert protocols(root) == layers
    assert (pkt.col_protocol, pkt.info_text()) == ("SLL", "Broadcast")


def test_sll_v1_ltype_ethernet_frame():
    eth = "66778899001100112233445512340abc"
    root, _ = dis(f"0000 0001 0006 {M1} 0000 0003 {eth}", 113)
    assert protocols(root) == "sll:eth:ethertype:data"


def test_sll_v1_gre_tunnel_types(ip_stub):
    root, pkt = dis(f"0000 030a 0004 0a000001 00000000 0800 {IP4}", 113)
    assert vals(root, "sll.gretype") == ["0x0800"]
    assert root.find("sll.gretype").text() == "Protocol: IP (0x0800)"
    assert protocols(root) == "sll:ip"
    assert pkt.dl_src == bytes.fromhex("0a000001")
    root, pkt = dis("0000 030a 0004 0a000001 00000000 1234 abcdef", 113)
    assert protocols(root) == "sll"                 # unknown GRE type: nobody takes it
    assert (pkt.col_protocol, pkt.info_text()) == ("SLL", "Unicast to us")


def test_sll_trailer_and_padding():
    arp = f"0806 {ARP_HDR} 0001 {M1}{IP_A}{Z6}{IP_B}"
    # 16 + 28 = 44 bytes; in a 61-byte frame 16 zero bytes pad to 60, one is trailer.
    root, _ = dis(f"0004 0001 0006 {M1} 0000 {arp}" + "00" * 16 + "ab", 113)
    assert vals(root, "eth.padding") == ["00" * 16]
    assert vals(root, "sll.trailer") == ["ab"]
    # A frame under 60 bytes cannot have been padded: all of it is trailer.
    root, _ = dis(f"0004 0001 0006 {M1} 0000 {arp} 0000000000ab", 113)
    assert vals(root, "eth.padding") == []
    assert vals(root, "sll.trailer") == ["0000000000ab"]


# ----------------------------------------------------------------------------------------
# Linux cooked capture v2
# ----------------------------------------------------------------------------------------

# zeek_sll2-arp-icmp-icmpv6 frame 5:
# 0000  08 06 00 00 00 00 00 1a 00 01 04 06 8e 36 06 44   .............6.D
# 0010  ac af 00 00 00 01 08 00 06 04 00 01 8e 36 06 44   .............6.D
# 0020  ac af c0 00 02 01 00 00 00 00 00 00 c0 00 02 02   ................
SLL2_ARP = ("0806 0000 0000001a 0001 04 06 8e360644acaf 0000"
            "0001 0800 06 04 0001 8e360644acaf c0000201 000000000000 c0000202")


def test_sll2_arp_request():
    root, pkt = dis(SLL2_ARP, 276)
    assert protocols(root) == "sll:ethertype:arp"
    sll = root.find("sll")
    assert sll.text() == "Linux cooked capture v2"
    assert [c.spec.abbrev for c in sll.children] == [
        "sll.etype", "sll.ifindex", "sll.hatype", "sll.pkttype", "sll.halen", "sll.src.eth",
        "sll.unused"]
    assert vals(root, "sll.ifindex") == ["26"]
    assert vals(root, "sll.pkttype") == ["4"]
    assert (pkt.col_protocol, pkt.info_text()) == ("ARP", "Who has 192.0.2.2? Tell 192.0.2.1")
    assert pkt.dl_src == bytes.fromhex("8e360644acaf") and pkt.dl_dst == b""


def test_sll2_rarp():
    # zeek_sll2-arp-icmp-icmpv6 frame 6: the same with EtherType 0x8035 and opcode 3.
    rarp = SLL2_ARP.replace("0806 0000", "8035 0000").replace("06 04 0001", "06 04 0003")
    root, pkt = dis(rarp, 276)
    assert protocols(root) == "sll:ethertype:arp"
    assert root.find("arp").text() == "Address Resolution Protocol (reverse request)"
    assert (pkt.col_protocol, pkt.info_text()) == (
        "RARP", "Who is 00:00:00:00:00:00? Tell 8e:36:06:44:ac:af")


def test_sll2_info_is_the_packet_type():
    # tshark 4.0 reads this one-byte field as two bytes for Info ("Unknown (518)"); we
    # deliberately show what the header says.
    root, pkt = dis(f"1234 0000 00000003 0001 02 06 {M1} 0000 11", 276)
    assert vals(root, "sll.pkttype") == ["2"]
    assert (pkt.col_protocol, pkt.info_text()) == ("0x1234", "Multicast")


# ----------------------------------------------------------------------------------------
# BSD NULL and OpenBSD LOOP
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("header, family, layer", [
    ("02000000", "2", "ip"),      # AF_INET, little-endian host
    ("00000002", "2", "ip"),      # AF_INET, big-endian host
    ("18000000", "24", "ipv6"),   # NetBSD/OpenBSD AF_INET6
    ("1c000000", "28", "ipv6"),   # FreeBSD
    ("0000001e", "30", "ipv6"),   # macOS, big-endian host
    ("00010000", "1", "data"),    # a byte-swapped 16-bit family
    ("00020000", "2", "ip"),      # a 16-bit family in the high half
    ("63000000", "99", "data"),
    ("08000000", "8", "data"),    # 8 is a family, not the IPv4 EtherType
])
def test_null_family_byte_order(ip_stub, header, family, layer):
    payload = IP6 if layer == "ipv6" else IP4
    root, pkt = dis(header + payload, 0)
    assert vals(root, "null.family") == [family]
    assert protocols(root) == f"null:{layer}"
    if layer == "data":
        assert (pkt.col_protocol, pkt.info_text()) == ("N/A", "Null/Loopback")


@pytest.mark.parametrize("header, etype, layer", [
    ("00000800", "0x0800", "ip"),    # an EtherType instead of a family
    ("12345678", "0x5678", "data"),
    ("0000ffff", "0xffff", "data"),
])
def test_null_ethertype_header(ip_stub, header, etype, layer):
    root, _ = dis(header + IP4, 0)
    assert vals(root, "null.type") == [etype]
    assert vals(root, "null.family") == []
    assert protocols(root) == f"null:{layer}"


def test_null_tree_label(ip_stub):
    root, _ = dis("1e000000" + IP6, 0)
    null = root.find("null")
    assert null.text() == "Null/Loopback" and (null.pos, null.size) == (0, 4)
    assert null.children[0].text() == "Family: IPv6 (30)"


def test_loop_is_network_order(ip_stub):
    root, _ = dis("00000002" + IP4, 108)
    assert vals(root, "null.family") == ["2"] and protocols(root) == "null:ip"
    root, _ = dis("00000018" + IP6, 108)
    assert protocols(root) == "null:ipv6"
    root, _ = dis("02000000" + IP4, 108)    # no byte-order guessing on LOOP
    assert vals(root, "null.family") == ["33554432"] and protocols(root) == "null:data"


# ----------------------------------------------------------------------------------------
# Raw IP
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("linktype", [101, 12, 14])
def test_raw_version_nibble(ip_stub, linktype):
    root, _ = dis(IP4, linktype)
    assert protocols(root) == "raw:ip"
    raw = root.find("raw")
    assert raw.text() == "Raw packet data" and raw.size == len(IP4) // 2
    root, _ = dis(IP6, linktype)
    assert protocols(root) == "raw:ipv6"


@pytest.mark.parametrize("data", ["5000abcd", "ff", "0f", ""])
def test_raw_bad_version_is_malformed(data):
    root, pkt = dis(data, 101)
    assert protocols(root).startswith("raw")
    assert "_ws.malformed" in experts(pkt)
    assert pkt.col_protocol == "N/A" and pkt.info_text().startswith("Raw packet data")


def test_raw_ipv4_and_ipv6_linktypes(ip_stub):
    assert protocols(dis(IP4, 228)[0]) == "ip"
    assert protocols(dis(IP6, 229)[0]) == "ipv6"


# ----------------------------------------------------------------------------------------
# 802.1Q and 802.1ad
# ----------------------------------------------------------------------------------------

# zeek_vlan-dot1q-arp-icmp frame 1 (gratuitous ARP reply in VLAN 123):
# 0000  ff ff ff ff ff ff 00 19 06 ea b8 c1 81 00 00 7b   ...............{
# 0010  08 06 00 01 08 00 06 04 00 02 00 19 06 ea b8 c1   ................
# 0020  c0 a8 7b 01 ff ff ff ff ff ff c0 a8 7b 01 00 00   ..{.........{...
# 0030  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00   ................
VLAN_GARP = ("ffffffffffff 001906eab8c1 8100 007b 0806 0001 0800 06 04 0002 001906eab8c1"
             "c0a87b01 ffffffffffff c0a87b01" + "00" * 18)


def test_vlan_gratuitous_arp_with_padding_and_trailer():
    root, pkt = dis(VLAN_GARP, 1)
    assert protocols(root) == "eth:ethertype:vlan:ethertype:arp"
    assert vals(root, "vlan.id") == ["123"]
    assert vals(root, "vlan.priority") == ["0"] and vals(root, "vlan.dei") == ["0"]
    assert vals(root, "vlan.etype") == ["0x0806"]
    vlan = root.find("vlan")
    assert vlan.text() == "802.1Q Virtual LAN, PRI: 0, DEI: 0, ID: 123"
    assert [c.text() for c in vlan.children][:3] == [
        "000. .... .... .... = Priority: Best Effort (default) (0)",
        "...0 .... .... .... = DEI: Ineligible",
        ".... 0000 0111 1011 = ID: 123"]
    # The 60-byte minimum is counted from the frame start; the rest is the VLAN's trailer.
    assert vals(root, "eth.padding") == ["00" * 14]
    assert vals(root, "vlan.trailer") == ["00000000"]
    assert vals(root, "arp.isgratuitous") == ["1"]
    assert (pkt.col_protocol, pkt.info_text()) == ("ARP", "Gratuitous ARP for 192.168.123.1 (Reply)")


def test_qinq_two_8100_tags_outer_first(ip_stub):
    root, _ = dis(f"{M2}{M1} 8100 00c9 8100 90c8 0800 {IP4}", 1)
    assert protocols(root) == "eth:ethertype:vlan:ethertype:vlan:ethertype:ip"
    assert ",".join(vals(root, "vlan.id")) == "201,200"
    assert vals(root, "vlan.priority") == ["0", "4"]
    assert vals(root, "vlan.dei") == ["0", "1"]


def test_8021ad_then_8021q(ip_stub):
    # arkime_vlan-8021ad-icmp frame 1: 88a8 05f5 | 8100 001e | 0800 ...
    root, _ = dis(f"408f9d6ec7d8 88d98f5fc548 88a8 05f5 8100 001e 0800 {IP4}", 1)
    assert protocols(root) == "eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip"
    assert vals(root, "ieee8021ad.id") == ["1525"]
    assert vals(root, "ieee8021ah.etype") == ["0x8100"]
    assert vals(root, "vlan.id") == ["30"]
    assert root.find("ieee8021ad").text() == "IEEE 802.1ad, ID: 1525"


def test_8021ad_pair_is_one_layer():
    root, _ = dis(f"{M2}{M1} 88a8 3001 88a8 4002 88a8 5003 8100 0064 abcd", 1)
    assert protocols(root) == ("eth:ethertype:ieee8021ad:ethertype:ieee8021ad:ethertype:"
                               "vlan:ethertype")
    assert vals(root, "ieee8021ad.svid") == ["1"] and vals(root, "ieee8021ad.cvid") == ["2"]
    assert vals(root, "ieee8021ad.id") == ["3"]
    assert root.find("ieee8021ad").text() == "IEEE 802.1ad, S-VID: 1, C-VID: 2"


def test_vlan_columns_for_unknown_payload():
    _, pkt = dis(f"{M2}{M1} 8100 e07b 1234 abcdef", 1)
    assert (pkt.col_protocol, pkt.info_text()) == ("0x1234", "PRI: 7  DEI: 0  ID: 123")
    _, pkt = dis(f"{M2}{M1} 88a8 3001 1234 abcd", 1)
    assert (pkt.col_protocol, pkt.info_text()) == ("0x1234", "PRI: 1  DROP: 1 ID: 1")


def test_vlan_9100_tag():
    root, _ = dis(f"{M2}{M1} 9100 4005 8100 0006 1234 00", 1)
    assert protocols(root) == "eth:ethertype:vlan:ethertype:vlan:ethertype:data"
    assert vals(root, "vlan.id") == ["5", "6"]


def test_vlan_length_field():
    root, _ = dis(f"{M2}{M1} 8100 0064 0002 aabb ccddeeff00112233", 1)
    assert vals(root, "vlan.len") == ["2"]
    assert vals(root, "vlan.trailer") == ["ccddeeff00112233"]
    assert protocols(root) == "eth:ethertype:vlan:data"
    root, pkt = dis(f"{M2}{M1} 8100 0064 0040 aabbccdd", 1)
    assert "vlan.len.past_end" in experts(pkt)


def test_too_many_vlan_tags_stops_at_twenty_one():
    root, pkt = dis(f"{M2}{M1} 8100" + "0001 8100" * 30 + "0800", 1)
    assert protocols(root).split(":").count("vlan") == 21
    assert len(vals(root, "vlan.id")) == 20
    assert "vlan.too_many_tags" in experts(pkt)
    assert (pkt.col_protocol, pkt.info_text()) == ("VLAN", "PRI: 0  DEI: 0  ID: 1")


def test_deep_tag_stacks_stay_bounded():
    # Thousands of alternating tags must not recurse without bound.
    dis(f"{M2}{M1} 8100" + "0001 88a8 0001 8100" * 2000 + "0800", 1)


# ----------------------------------------------------------------------------------------
# ARP
# ----------------------------------------------------------------------------------------

def _arp(body: str, hdr: str = ARP_HDR, etype: str = "0806") -> str:
    return f"ffffffffffff {M1} {etype} {hdr} {body}"


# (opcode + addresses, Protocol column, Info, isgratuitous, isannouncement, isprobe)
ARP_CASES = [
    (f"0001 {M1}{IP_A}{Z6}{IP_B}", "ARP", "Who has 192.168.123.2? Tell 192.168.123.1", 0, 0, 0),
    (f"0002 {M1}{IP_A}{M2}{IP_B}", "ARP", "192.168.123.1 is at 00:11:22:33:44:55", 0, 0, 0),
    (f"0001 {M1}{IP_A}{Z6}{IP_A}", "ARP", "ARP Announcement for 192.168.123.1", 1, 1, 0),
    (f"0002 {M1}{IP_A}{M2}{IP_A}", "ARP", "Gratuitous ARP for 192.168.123.1 (Reply)", 1, 0, 0),
    (f"0001 {M1}{IP_A}ffffffffffff{IP_A}", "ARP",
     "Gratuitous ARP for 192.168.123.1 (Request)", 1, 0, 0),
    (f"0001 {M1}{IP_0}{Z6}{IP_B}", "ARP", "Who has 192.168.123.2? (ARP Probe)", 0, 0, 1),
    (f"0001 {M1}{IP_0}ffffffffffff{IP_B}", "ARP", "Who has 192.168.123.2? Tell 0.0.0.0",
     0, 0, 0),
    (f"0001 {M1}{IP_0}{Z6}{IP_0}", "ARP", "ARP Announcement for 0.0.0.0", 1, 1, 0),
    (f"0002 {M1}{IP_0}{Z6}{IP_B}", "ARP", "0.0.0.0 is at 00:11:22:33:44:55", 0, 0, 0),
    (f"0003 {M1}{IP_A}{Z6}{IP_B}", "RARP", "Who is 00:00:00:00:00:00? Tell 00:11:22:33:44:55",
     0, 0, 0),
    (f"0004 {M2}{IP_A}{M1}{IP_B}", "RARP", "00:11:22:33:44:55 is at 192.168.123.2", 0, 0, 0),
    (f"0005 {M1}{IP_A}{M2}{IP_B}", "DRARP", "Who is 66:77:88:99:aa:bb? Tell 00:11:22:33:44:55",
     0, 0, 0),
    (f"0006 {M1}{IP_A}{M2}{IP_B}", "DRARP", "66:77:88:99:aa:bb is at 192.168.123.2", 0, 0, 0),
    (f"0007 {M1}{IP_A}{M2}{IP_B}", "DRARP", "DRARP Error", 0, 0, 0),
    (f"0008 {M1}{IP_A}{Z6}{IP_0}", "Inverse ARP",
     "Who is 00:00:00:00:00:00? Tell 00:11:22:33:44:55", 0, 0, 0),
    (f"0009 {M1}{IP_A}{M2}{IP_B}", "Inverse ARP", "00:11:22:33:44:55 is at 192.168.123.1",
     0, 0, 0),
    (f"000a {M1}{IP_A}{M2}{IP_B}", "ARP", "ARP NAK", 0, 0, 0),
    (f"000b {M1}{IP_A}{M2}{IP_B}", "MARS", "MARS request from 00:11:22:33:44:55 at 192.168.123.1",
     0, 0, 0),
    (f"000f {M1}{IP_A}{M2}{IP_B}", "MARS", "MARS LEAVE from 00:11:22:33:44:55 at 192.168.123.1",
     0, 0, 0),
    (f"0017 {M1}{IP_A}{M2}{IP_B}", "MAPOS",
     "MAPOS UNARP request from 00:11:22:33:44:55 at 192.168.123.1", 0, 0, 0),
    (f"0018 {M1}{IP_A}{M2}{IP_B}", "ARP", "Experimental 1 ( opcode 24 )", 0, 0, 0),
    (f"0000 {M1}{IP_A}{M2}{IP_B}", "ARP", "Reserved opcode 0", 0, 0, 0),
    (f"0063 {M1}{IP_A}{M2}{IP_B}", "ARP", "Unknown ARP opcode 0x0063", 0, 0, 0),
]


@pytest.mark.parametrize("body, col, info, grat, ann, probe", ARP_CASES)
def test_arp_columns_and_flags(body, col, info, grat, ann, probe):
    root, pkt = dis(_arp(body), 1)
    assert protocols(root) == "eth:ethertype:arp"
    assert (pkt.col_protocol, pkt.info_text()) == (col, info)
    assert vals(root, "arp.isgratuitous") == (["1"] if grat else [])
    assert vals(root, "arp.isannouncement") == (["1"] if ann else [])
    assert vals(root, "arp.isprobe") == (["1"] if probe else [])
    # The summary path (no tree) must say the same.
    _, fast = dis(_arp(body), 1, tree=False)
    assert (fast.col_protocol, fast.info_text(), fast.layers) == (col, info, pkt.layers)


def test_arp_tree_matches_tshark():
    root, _ = dis(_arp(f"0001 {M1}{IP_A}{Z6}{IP_A}"), 1)
    arp = root.find("arp")
    assert (arp.pos, arp.size) == (14, 28)
    assert [c.text() for c in arp.children] == [
        "Hardware type: Ethernet (1)", "Protocol type: IPv4 (0x0800)", "Hardware size: 6",
        "Protocol size: 4", "Opcode: request (1)", "[Is gratuitous: True]",
        "[Is announcement: True]", "Sender MAC address: 00:11:22:33:44:55",
        "Sender IP address: 192.168.123.1", "Target MAC address: 00:00:00:00:00:00",
        "Target IP address: 192.168.123.1"]
    assert arp.text() == "Address Resolution Protocol (ARP Announcement)"
    root, _ = dis(_arp(f"0002 {M1}{IP_A}{M2}{IP_A}"), 1)
    assert root.find("arp").text() == "Address Resolution Protocol (reply/gratuitous ARP)"
    root, _ = dis(_arp(f"0063 {M1}{IP_A}{M2}{IP_B}"), 1)
    assert root.find("arp").text() == "Address Resolution Protocol (opcode 0x0063)"


def test_arp_non_ethernet_and_non_ipv4_addresses_are_bytes():
    root, pkt = dis(_arp(f"0002 {M1}aaaa{IP_A}{M2}bbbb{IP_B}", hdr="000108000804"), 1)
    assert vals(root, "arp.src.hw") == ["001122334455aaaa"]
    assert vals(root, "arp.dst.hw") == ["66778899aabbbbbb"]
    assert vals(root, "arp.src.proto_ipv4") == ["192.168.123.1"]
    assert vals(root, "arp.src.hw_mac") == []
    assert pkt.info_text() == "192.168.123.1 is at 001122334455aaaa"
    v6a, v6b = "fe80" + "00" * 13 + "01", "fe80" + "00" * 13 + "02"
    root, pkt = dis(_arp(f"0001 {M1}{v6a}{Z6}{v6b}", hdr="000186dd0610"), 1)
    assert vals(root, "arp.src.proto") == [v6a] and vals(root, "arp.dst.proto") == [v6b]
    assert pkt.info_text() == f"Who has {v6b}? Tell {v6a}"
    # IEEE 802 hardware (6) carries MACs too.
    root, _ = dis(_arp(f"0001 {M1}{IP_A}{Z6}{IP_B}", hdr="000608000604"), 1)
    assert vals(root, "arp.src.hw_mac") == ["00:11:22:33:44:55"]


def test_arp_zero_length_addresses():
    root, pkt = dis(_arp(f"0001 {M1}{Z6}", hdr="000108000600"), 1)
    assert pkt.info_text() == "Who has <No address>? (ARP Probe)"
    assert vals(root, "arp.src.proto_ipv4") == [] and vals(root, "arp.src.proto") == []
    root, pkt = dis(_arp(f"0001 {IP_A}{IP_B}", hdr="000108000004"), 1)
    assert vals(root, "arp.src.hw_mac") == []
    assert vals(root, "arp.dst.proto_ipv4") == ["192.168.123.2"]


def test_drarp_error_status_replaces_target_ip():
    root, _ = dis(_arp(f"0007 {M1}{IP_A}{M2}03aabbcc"), 1)
    assert vals(root, "arp.dst.drarp_error_status") == ["3"]
    assert root.find("arp.dst.drarp_error_status").text() == "DRARP error status: serverdown (3)"
    assert vals(root, "arp.dst.proto_ipv4") == []


def test_rarp_ethertype():
    root, pkt = dis(_arp(f"0003 {M1}{IP_A}{Z6}{IP_B}", etype="8035"), 1)
    assert protocols(root) == "eth:ethertype:arp"
    assert pkt.col_protocol == "RARP"


# ----------------------------------------------------------------------------------------
# Truncated and malformed input
# ----------------------------------------------------------------------------------------

def test_short_arp_keeps_header_fields():
    # Addresses cut off inside a complete frame: Malformed, header fields kept, as tshark.
    root, pkt = dis(_arp(f"0001 {M1}{IP_A}{Z6}"), 1)
    assert "_ws.malformed" in experts(pkt)
    assert vals(root, "arp.opcode") == ["1"] and vals(root, "arp.src.hw_mac") == []
    assert pkt.col_protocol == "ARP"
    root, pkt = dis(_arp("00"), 1)   # one byte of the opcode
    assert vals(root, "arp.proto.size") == ["4"] and vals(root, "arp.opcode") == []


def test_snaplen_cut_is_truncated_not_malformed():
    full = bytes.fromhex(_arp(f"0001 {M1}{IP_A}{Z6}{IP_B}").replace(" ", ""))
    _, pkt = dis(full[:30].hex(), 1, origlen=len(full))
    assert "_ws.short" in experts(pkt) and "_ws.malformed" not in experts(pkt)


SAMPLES = [
    (113, "0004 0001 0006 001122334455 0000 0806" + f"{ARP_HDR}0001{M1}{IP_A}{Z6}{IP_B}"),
    (276, SLL2_ARP),
    (0, "18000000" + IP6),
    (108, "00000002" + IP4),
    (101, IP4),
    (1, VLAN_GARP),
    (1, f"{M2}{M1} 88a8 3001 88a8 4002 8100 0064 0806 {ARP_HDR}0001{M1}{IP_A}{Z6}{IP_B}"),
]


@pytest.mark.parametrize("linktype, hexstr", SAMPLES)
def test_every_prefix_raises_only_truncated_or_malformed(linktype, hexstr):
    data = bytes.fromhex(hexstr.replace(" ", ""))
    for n in range(len(data)):
        for origlen in (n, len(data)):
            dis(data[:n].hex(), linktype, origlen=origlen)
            dis(data[:n].hex(), linktype, origlen=origlen, tree=False)


def test_arp_dissector_raises_only_dissect_errors():
    whole = bytes.fromhex(f"{ARP_HDR}0001{M1}{IP_A}{Z6}{IP_B}")
    pkt = dis("", 1)[1]
    for n in range(len(whole)):
        with pytest.raises(Truncated):       # captured short of what the packet reports
            dissect_arp(Buf(whole[:n], 28), 0, 28, NULL_TREE, pkt)
        with pytest.raises(Malformed):       # the packet itself is short
            dissect_arp(Buf(whole[:n]), 0, n, NULL_TREE, pkt)
    assert dissect_arp(Buf(whole), 0, 28, NULL_TREE, pkt) == 28


@pytest.fixture
def only_l2(monkeypatch):
    """ETHERTYPE limited to this module's dissectors plus IP stubs, so fuzzing exercises
    only the link layers and ARP."""
    keep = {k: v for k, v in ETHERTYPE._map.items() if k in (0x0806, 0x8035, 0x8100, 0x9100,
                                                               0x88A8)}
    keep.update({0x0800: _layer_stub("ip"), 0x86DD: _layer_stub("ipv6")})
    monkeypatch.setattr(ETHERTYPE, "_map", keep)


PREFIXES = st.sampled_from([
    (113, b""), (276, b""), (0, b""), (108, b""), (101, b""), (228, b""), (229, b""),
    (1, bytes.fromhex(f"{M2}{M1}8100")), (1, bytes.fromhex(f"{M2}{M1}88a8")),
    (1, bytes.fromhex(f"{M2}{M1}0806")), (113, bytes.fromhex("00000001000600112233445500000806")),
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=PREFIXES, body=st.binary(max_size=96), cut=st.booleans())
def test_fuzz_never_a_bug(only_l2, prefix, body, cut):
    linktype, head = prefix
    data = head + body
    for tree in (True, False):
        _, pkt = dissect_frame(data, number=1, ts_ns=0, linktype=linktype, tree=tree,
                               origlen=len(data) + (7 if cut else 0), state=CaptureState())
        assert "bug" not in pkt.hints, pkt.hints


# ----------------------------------------------------------------------------------------
# Corpus: link-layer part of frame.protocols, vlan.id and ARP columns against tshark
# ----------------------------------------------------------------------------------------

CORPUS_FILES = [
    "zeek_vlan-dot1q-arp-icmp.pcap", "arkime_vlan-qinq-8100-http.pcap",
    "arkime_vlan-8021ad-icmp.pcap", "tcpdump_tcp-handshake-nanosec-sll.pcap",
    "suricata_sll-tcp-fastopen.pcap", "tcpdump_tcp-mptcp-v1-options.pcap",
    "zeek_sll2-arp-icmp-icmpv6.pcap", "zeek_sll2-tls13-openjdk.pcap",
    "tcpdump_linktype-raw101-ipv4-dns.pcap", "tcpdump_linktype-raw101-ipv6-dns.pcap",
    "tcpdump_linktype-ipv4-228-dns.pcap", "tcpdump_linktype-ipv6-229-dns.pcap",
    "tcpdump_linktype-ipv6-229-invalid.pcap", "suricata_raw-tls-tcp-empty-sack.pcap",
    "suricata_dns-srv-raw.pcap", "suricata_dns-srv-corrupt-additional-opt.pcap",
    "suricata_ipv4-options-all.pcap", "gopacket_null-loopback-ipv6-http.pcap",
    "tcpdump_null-dns-badcookie.pcap", "arkime_null-ipv6-tls12-alpn-h2.pcap",
    "zeek_mixed-lan-dns-http-arp-stp.pcap",
]
LINK_LAYERS = {"eth", "ethertype", "vlan", "ieee8021ad", "sll", "null", "raw"}
# The layer a link layer hands to, and the EtherType whose dissector must exist to judge it.
HANDOFF_ETHERTYPE = {"ip": 0x0800, "ipv6": 0x86DD, "arp": 0x0806}


def _link_part(layers: str) -> str:
    """The link layers of frame.protocols and the first layer they hand the packet to;
    that last one only when its dissector is registered (IPv4/IPv6 are other modules)."""
    out = []
    for layer in layers.split(":"):
        if layer not in LINK_LAYERS:
            key = HANDOFF_ETHERTYPE.get(layer)
            if key is not None and ETHERTYPE.get(key) is not None:
                out.append(layer)
            break
        out.append(layer)
    return ":".join(out)


def _tshark_rows(corpus_dir, name: str) -> list[dict[str, str]]:
    import csv
    csv.field_size_limit(1 << 30)
    with open(corpus_dir / "tshark" / f"{name}.tsv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_link_layers_vlan_ids_and_arp_columns(corpus_dir, name):
    capture = pytest.importorskip("analyzer.capture")
    rows = _tshark_rows(corpus_dir, name)
    state = CaptureState()
    mismatches = []
    with capture.open_capture(str(corpus_dir / "pcaps" / name)) as reader:
        for n, (frame, row) in enumerate(zip(reader, rows), 1):
            root, pkt = dissect_frame(frame.data, number=n, ts_ns=frame.ts_ns,
                                      origlen=frame.origlen, linktype=frame.linktype,
                                      iface=frame.iface, state=state)
            theirs = row["frame.protocols"]
            # An empty list means tshark's IP dissector rejected the packet (229-invalid
            # carries IPv4 in an IPv6 link type): that is the IP dissector's call.
            if theirs and _link_part(protocols(root)) != _link_part(theirs):
                mismatches.append((n, "frame.protocols", protocols(root), theirs))
            ids = ",".join(vals(root, "vlan.id"))
            if ids != row["vlan.id"]:
                mismatches.append((n, "vlan.id", ids, row["vlan.id"]))
            if theirs.endswith(":arp"):
                mine = (pkt.col_protocol, pkt.info_text())
                if mine != (row["_ws.col.Protocol"], row["_ws.col.Info"]):
                    mismatches.append((n, "columns", mine, row["_ws.col.Info"]))
    assert n == len(rows)
    assert not mismatches, mismatches[:10]
