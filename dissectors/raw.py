"""Raw IP link types: the frame is an IP packet with no link-layer header at all.

LINKTYPE_RAW (101, and the historical DLT values 12 and 14 that some systems wrote for it)
carries IPv4 or IPv6, told apart by the version nibble; tshark shows a "raw" layer for it.
LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229) fix the version and add no layer of their own.
Captures from tun devices, VPNs, cloud mirrors and `tcpdump -i any` on some kernels look
like this.
"""
from __future__ import annotations

from .buffer import Buf, Malformed
from .data import dissect_data
from .dispatch import ETHERTYPE, LINKTYPE
from .fields import protocol
from .packet import Packet
from .tree import Tree

# IP version nibble -> EtherType of the dissector (looked up at call time: the IP
# dissectors register themselves in ETHERTYPE).
VERSION_ETHERTYPE = {4: 0x0800, 6: 0x86DD}

PROTO = protocol(
    "raw", "Raw packet data",
    explain="The capture has no link-layer header (a tun/VPN interface or a cooked cloud "
            "mirror): there are no MAC addresses, only IP.")


def dissect_raw(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """LINKTYPE_RAW: IPv4 or IPv6 by the first nibble."""
    pkt.enter("raw")
    pkt.set_protocol("N/A")
    pkt.set_info("Raw packet data")
    tree.add(PROTO, off, max(0, min(end, len(buf)) - off))
    buf.need_within(off, 1, end)
    version = buf.u8(off) >> 4
    etype = VERSION_ETHERTYPE.get(version)
    if etype is None:
        raise Malformed(f"IP version {version} in a raw IP frame")
    _ip(buf, off, end, tree, pkt, etype)
    return None


def dissect_ipv4(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """LINKTYPE_IPV4: the frame is one IPv4 packet."""
    _ip(buf, off, end, tree, pkt, 0x0800)
    return None


def dissect_ipv6(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """LINKTYPE_IPV6: the frame is one IPv6 packet."""
    _ip(buf, off, end, tree, pkt, 0x86DD)
    return None


def _ip(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, etype: int) -> None:
    (ETHERTYPE.get(etype) or dissect_data)(buf, off, end, tree, pkt)


for _lt in (101, 12, 14):
    LINKTYPE.register(_lt, dissect_raw)
LINKTYPE.register(228, dissect_ipv4)
LINKTYPE.register(229, dissect_ipv6)
