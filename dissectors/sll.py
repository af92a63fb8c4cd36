"""Linux cooked capture, v1 (LINKTYPE_LINUX_SLL 113) and v2 (LINKTYPE_LINUX_SLL2 276).

What `tcpdump -i any` writes: Linux cannot give one link-layer header for all interfaces,
so libpcap makes up a pseudo-header instead.
  v1 (16 bytes): packet type (2), ARPHRD type (2), address length (2), address (8, padded),
                 protocol (2).
  v2 (20 bytes): protocol (2), reserved (2), interface index (4), ARPHRD type (2),
                 packet type (1), address length (1), address (8, padded).
The protocol is an EtherType, or (up to 1536) a Linux-internal type such as 802.2 LLC or
CAN, or a GRE protocol type when the interface is a GRE tunnel.
"""
from __future__ import annotations

from .arp import ARPHRD
from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE, LINKTYPE, Dissector, Table
from .ethernet import ETHERTYPES, dissect_eth, dissect_ethertype
from .fields import FT, Base, FieldSpec, field, protocol
from .packet import Packet
from .tree import Tree

PKTTYPES = {0: "Unicast to us", 1: "Broadcast", 2: "Multicast", 3: "Unicast to another host",
            4: "Sent by us"}
LTYPES = {0x0001: "Raw 802.3", 0x0003: "Ethernet", 0x0004: "802.2 LLC", 0x0007: "PPP (HDLC)",
          0x000C: "CAN", 0x000D: "CAN FD", 0x0017: "IrDA LAP", 0x00F5: "ISI",
          0x00F6: "IEEE 802.15.4"}
GRETYPES = {0x0000: "Possible GRE keepalive packet", 0x0800: "IP", 0x0806: "ARP",
            0x86DD: "IPv6", 0x6558: "Transparent Ethernet bridging", 0x880B: "PPP",
            0x8847: "MPLS label switched packet", 0x8137: "IPX", 0x22EB: "ERSPAN III",
            0x88BE: "ERSPAN"}
ARPHRD_IPGRE = 778
LTYPE_MAX = 1536  # Linux treats protocol values up to 1536 (not 1500) as its own types

# Linux-internal protocol types -> dissector (the Ethernet-in-cooked case is ours; LLC,
# CAN and others register here when they exist).
LTYPE = Table("sll.ltype")

PROTO = protocol(
    "sll", "Linux cooked-mode capture",
    explain="A pseudo-header Linux adds when capturing on 'any' interface: it says which "
            "interface and direction a packet had, not what was on the wire. There are no "
            "destination MACs, so Destination stays empty until the IP layer.")
PKTTYPE = field(
    "sll.pkttype", "Packet type", FT.UINT16, strings=PKTTYPES,
    blurb="Direction of the packet as the kernel saw it",
    explain="'Sent by us' is outgoing, 'Unicast to us' incoming. With both directions of a "
            "connection in one capture this tells client from server traffic on a busy host.")
HATYPE = field("sll.hatype", "Link-layer address type", FT.UINT16, strings=ARPHRD,
               blurb="ARPHRD type of the interface (1 Ethernet, 772 loopback, 65534 tun)")
HALEN = field("sll.halen", "Link-layer address length", FT.UINT16)
SRC_ETH = field("sll.src.eth", "Source", FT.ETHER, blurb="Source link-layer address")
SRC_IPV4 = field("sll.src.ipv4", "Source", FT.IPv4, blurb="Source link-layer address")
SRC_OTHER = field("sll.src.other", "Source", FT.BYTES, blurb="Source link-layer address")
UNUSED = field("sll.unused", "Unused", FT.BYTES, blurb="Unused bytes")
LTYPE_FIELD = field("sll.ltype", "Protocol", FT.UINT16, Base.HEX, strings=LTYPES,
                    blurb="Linux protocol type")
GRETYPE = field("sll.gretype", "Protocol", FT.UINT16, Base.HEX, strings=GRETYPES,
                blurb="GRE protocol type")
ETYPE = field("sll.etype", "Protocol", FT.UINT16, Base.HEX, strings=ETHERTYPES,
              blurb="Ethernet protocol type")
TRAILER = field("sll.trailer", "Trailer", FT.BYTES)
IFINDEX = field("sll.ifindex", "Interface index", FT.UINT32,
                explain="The kernel's interface number (see `ip link`): tells which NIC, "
                        "bridge or container veth a packet crossed in an 'any' capture.")

# Source address by its length: 6 bytes MAC, 4 bytes IPv4 (tunnels), anything else bytes.
_SRC_BY_LEN = {6: SRC_ETH, 4: SRC_IPV4}


def dissect_sll(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """Linux cooked capture v1. Fields are added as far as the packet goes, as tshark does."""
    pkt.enter("sll")
    buf.need_within(off, 4, end)
    pkttype, hatype = buf.u16(off), buf.u16(off + 2)
    _columns(pkt, pkttype)
    t = tree.add(PROTO, off, 16, label="Linux cooked capture v1")
    t.add(PKTTYPE, off, 2, pkttype)
    t.add(HATYPE, off + 2, 2, hatype)
    buf.need_within(off + 4, 2, end)
    halen = buf.u16(off + 4)
    t.add(HALEN, off + 4, 2, halen)
    _address(buf, off + 6, end, halen, t, pkt)
    buf.need_within(off + 14, 2, end)
    proto = buf.u16(off + 14)
    spec, fn = _classify(proto, hatype)
    t.add(spec, off + 14, 2, proto)
    _handoff(buf, off + 16, end, tree, t, pkt, proto, spec, fn)
    return None


def dissect_sll2(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """Linux cooked capture v2: the same facts plus the interface index, reordered."""
    pkt.enter("sll")
    buf.need_within(off, 12, end)
    proto, hatype = buf.u16(off), buf.u16(off + 8)
    pkttype, halen = buf.u8(off + 10), buf.u8(off + 11)
    _columns(pkt, pkttype)
    spec, fn = _classify(proto, hatype)
    t = tree.add(PROTO, off, 20, label="Linux cooked capture v2")
    if t:
        t.add(spec, off, 2, proto)
        t.add(IFINDEX, off + 4, 4, buf.u32(off + 4))
        t.add(HATYPE, off + 8, 2, hatype)
        t.add(PKTTYPE, off + 10, 1, pkttype)
        t.add(HALEN, off + 11, 1, halen)
    _address(buf, off + 12, end, halen, t, pkt)
    _handoff(buf, off + 20, end, tree, t, pkt, proto, spec, fn)
    return None


def _columns(pkt: Packet, pkttype: int) -> None:
    """Protocol 'SLL' and the direction as Info, until a higher layer says more.

    (tshark 4.0 reads v2's one-byte packet type as two bytes here and shows e.g.
    'Unknown (1030)'; we show the packet type the header holds.)
    """
    pkt.set_protocol("SLL")
    pkt.set_info(PKTTYPES.get(pkttype, f"Unknown ({pkttype})"))


def _classify(proto: int, hatype: int) -> tuple[FieldSpec, Dissector | None]:
    """What the protocol field means: a Linux type, a GRE type (on GRE tunnels) or an
    EtherType (None: dissect_ethertype looks it up); and who takes the payload."""
    if proto <= LTYPE_MAX:
        return LTYPE_FIELD, LTYPE.get(proto) or dissect_data
    if hatype == ARPHRD_IPGRE:
        return GRETYPE, ETHERTYPE.get(proto)
    return ETYPE, None


def _address(buf: Buf, off: int, end: int, halen: int, t: Tree, pkt: Packet) -> None:
    """The source address (at most 8 bytes are stored) and the unused rest of the slot."""
    size = min(halen, 8)
    buf.need_within(off, size, end)
    addr = buf.bytes(off, size)
    if halen in _SRC_BY_LEN:
        if not pkt.fenced:
            pkt.dl_src = addr
        t.add(_SRC_BY_LEN[halen], off, size, addr)
    elif size:
        t.add(SRC_OTHER, off, size, addr)
    if size < 8:
        buf.need_within(off + size, 8 - size, end)
        t.add(UNUSED, off + size, 8 - size, buf.bytes(off + size, 8 - size))


def _handoff(buf: Buf, off: int, end: int, tree: Tree, t: Tree, pkt: Packet, proto: int,
             spec: FieldSpec, fn: Dissector | None) -> None:
    """EtherTypes go through the shared hand-off (padding, `sll.trailer`); Linux and GRE
    types straight to their dissector, which for an unknown GRE type is nobody."""
    if spec is ETYPE:
        dissect_ethertype(buf, off, end, tree, pkt, proto, t, trailer=TRAILER)
    elif fn is not None:
        fn(buf, off, end, tree, pkt)


LTYPE.register(0x0003, dissect_eth)
LINKTYPE.register(113, dissect_sll)
LINKTYPE.register(276, dissect_sll2)
