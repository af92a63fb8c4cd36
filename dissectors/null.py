"""BSD loopback: LINKTYPE_NULL (0) and OpenBSD's LINKTYPE_LOOP (108).

Both start with a 4-byte address family (AF_INET, AF_INET6 ...). NULL writes it in the
byte order of the capturing host, so a reader must guess the order; LOOP always uses
network order. Some old systems wrote an EtherType instead of a family, which the guess
also recognises. AF_INET is 2 everywhere; AF_INET6 differs between BSDs (24 NetBSD/OpenBSD,
28 FreeBSD, 30 macOS), so all three mean IPv6.
"""
from __future__ import annotations

from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE, LINKTYPE
from .ethernet import ETHERTYPES
from .fields import FT, Base, field, protocol
from .packet import Packet
from .tree import Tree

FAMILIES = {2: "IP", 7: "OSI", 16: "Appletalk", 23: "Netware IPX/SPX", 24: "IPv6",
            28: "IPv6", 30: "IPv6"}
# Address family -> the EtherType whose dissector takes the payload (looked up at call
# time: the IP dissectors register themselves in ETHERTYPE).
FAMILY_ETHERTYPE = {2: 0x0800, 24: 0x86DD, 28: 0x86DD, 30: 0x86DD}
ETHER_MAX_LEN = 1500  # a header value above this is an EtherType, not a family

PROTO = protocol(
    "null", "Null/Loopback",
    explain="A capture on a loopback interface (lo0 on BSD and macOS): traffic between "
            "processes on the same machine, such as an app and its local proxy or database. "
            "No network was involved, so delays here are the applications' own.")
FAMILY = field("null.family", "Family", FT.UINT32, strings=FAMILIES,
               blurb="Address family of the payload (AF_INET, AF_INET6 ...)")
TYPE = field("null.type", "Type", FT.UINT16, Base.HEX, strings=ETHERTYPES,
             blurb="EtherType some systems write instead of an address family")


def _host_order(raw: bytes) -> int:
    """The header's value whichever byte order the capturing host had.

    Read little-endian first. A value whose high half is set was written big-endian (or
    is a 16-bit family shifted up); one whose low byte is zero but second byte small is a
    byte-swapped 16-bit family. Families are small numbers, so this is unambiguous for
    every real one.
    """
    v = int.from_bytes(raw, "little")
    if v & 0xFFFF0000:
        if not v & 0xFF000000 and (v & 0x00FF0000) < 0x00060000:
            return v >> 16
        return int.from_bytes(raw, "big")
    if not v & 0xFF and (v & 0xFF00) < 0x0600:
        return v >> 8
    return v


def dissect_null(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """LINKTYPE_NULL: family in host byte order (or an EtherType), then the packet."""
    t = _header(buf, off, end, tree, pkt)
    value = _host_order(buf.bytes(off, 4))
    if value > ETHER_MAX_LEN:
        etype = value & 0xFFFF
        t.add(TYPE, off, 4, etype)
        _payload(buf, off + 4, end, tree, pkt, etype)
    else:
        _family(buf, off, end, tree, t, pkt, value)
    return None


def dissect_loop(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """LINKTYPE_LOOP: family in network byte order, then the packet."""
    t = _header(buf, off, end, tree, pkt)
    _family(buf, off, end, tree, t, pkt, buf.u32(off))
    return None


def _header(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> Tree:
    """Columns once two bytes exist (tshark first looks for PPP's 0xff03 there), the
    layer once all four do."""
    pkt.enter("null")
    buf.need_within(off, 2, end)
    pkt.set_protocol("N/A")
    pkt.set_info("Null/Loopback")
    buf.need_within(off, 4, end)
    return tree.add(PROTO, off, 4)


def _family(buf: Buf, off: int, end: int, tree: Tree, t: Tree, pkt: Packet,
            family: int) -> None:
    t.add(FAMILY, off, 4, family)
    _payload(buf, off + 4, end, tree, pkt, FAMILY_ETHERTYPE.get(family))


def _payload(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, etype: int | None) -> None:
    """The packet goes straight to the network layer (no "ethertype" layer, as tshark)."""
    fn = ETHERTYPE.get(etype) if etype is not None else None
    (fn or dissect_data)(buf, off, end, tree, pkt)


LINKTYPE.register(0, dissect_null)
LINKTYPE.register(108, dissect_loop)
