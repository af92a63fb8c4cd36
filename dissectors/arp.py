"""ARP and RARP (RFC 826, RFC 903; Inverse ARP RFC 2390; probes and announcements RFC 5227).

Wire format: hardware type (2), protocol type (2), hardware size (1), protocol size (1),
opcode (2), then sender hardware/protocol and target hardware/protocol addresses whose
lengths the two size bytes give. Ethernet/IPv4 addresses are shown as MAC and IP; other
sizes as bytes, as Wireshark does. One dissector serves EtherTypes 0x0806 and 0x8035.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .buffer import Buf
from .dispatch import ETHERTYPE
from .ethernet import ETHERTYPES
from .fields import FT, Base, ether_str, field, ipv4_str, protocol
from .packet import Packet
from .tree import Tree

# Hardware types (IANA "Hardware Types", plus Linux ARPHRD_* values): shared with SLL's
# link-layer address type, which uses the same numbers.
ARPHRD = {
    0: "NET/ROM pseudo", 1: "Ethernet", 2: "Experimental Ethernet", 3: "AX.25", 4: "ProNET",
    5: "Chaos", 6: "IEEE 802", 7: "ARCNET", 8: "Hyperchannel", 9: "Lanstar",
    10: "Autonet Short Address", 11: "Localtalk", 12: "LocalNet", 13: "Ultra link", 14: "SMDS",
    15: "Frame Relay DLCI", 16: "ATM", 17: "HDLC", 18: "Fibre Channel", 19: "ATM (RFC 2225)",
    20: "Serial Line", 21: "ATM", 22: "MIL-STD-188-220", 23: "Metricom STRIP",
    24: "IEEE 1394.1995", 25: "MAPOS", 26: "Twinaxial", 27: "EUI-64", 28: "HIPARP",
    29: "IP and ARP over ISO 7816-3", 30: "ARPSec", 31: "IPsec tunnel", 32: "InfiniBand",
    33: "TIA-102 Project 25 CAI", 34: "Wiegand Interface", 35: "Pure IP", 36: "Experimental 1",
    37: "HFI", 256: "Experimental 2", 257: "AEthernet", 260: "Notional KISS type", 264: "ADAPT",
    270: "ROSE", 271: "CCITT X.25", 272: "Boards with X.25 in firmware",
    280: "Controller Area Network", 512: "PPP", 513: "Cisco HDLC", 516: "LAPB",
    517: "Digital's DDCMP protocol", 518: "Raw HDLC", 519: "Raw IP", 768: "IPIP tunnel",
    769: "IP6IP6 tunnel", 770: "Frame Relay Access Device", 771: "SKIP vif", 772: "Loopback",
    774: "Fiber Distributed Data Interface", 775: "AP1000 BIF",
    776: "sit0 device - IPv6-in-IPv4", 777: "IP over DDP tunneller", 778: "GRE over IP",
    779: "PIMSM register interface", 780: "High Performance Parallel Interface",
    781: "Nexus 64Mbps Ash", 782: "Acorn Econet", 783: "Linux-IrDA",
    784: "Point to point fibrechannel", 785: "Fibrechannel arbitrated loop",
    786: "Fibrechannel public loop", 787: "Fibrechannel fabric", 800: "Magic type ident for TR",
    801: "IEEE 802.11", 802: "IEEE 802.11 + Prism2 header", 803: "IEEE 802.11 + radiotap header",
    804: "IEEE 802.15.4", 805: "IEEE 802.15.4 network monitor", 820: "PhoNet media type",
    821: "PhoNet pipe header", 822: "CAIF media type", 823: "GRE over IPv6", 824: "Netlink",
    825: "IPv6 over LoWPAN", 826: "Vsock monitor header", 65534: "zero header length",
    65535: "Void type, nothing is known",
}

REQUEST, REPLY = 1, 2
RREQUEST, RREPLY = 3, 4
DRARP_ERROR = 7
OPCODES = {
    0: "reserved", 1: "request", 2: "reply", 3: "reverse request", 4: "reverse reply",
    5: "drarp request", 6: "drarp reply", 7: "drarp error", 8: "inverse request",
    9: "inverse reply", 10: "arp nak", 11: "mars request", 12: "mars multi", 13: "mars mserv",
    14: "mars join", 15: "mars leave", 16: "mars nak", 17: "mars unserv", 18: "mars sjoin",
    19: "mars sleave", 20: "mars grouplist request", 21: "mars grouplist reply",
    22: "mars redirect map", 23: "mapos unarp", 24: "experimental 1", 25: "experimental 2",
    65535: "reserved",
}
DRARP_ERRORS = {1: "restricted", 2: "no address", 3: "serverdown", 4: "moved", 5: "failure"}

PROTO = protocol(
    "arp", "Address Resolution Protocol",
    explain="How a host finds the MAC address behind an IP on its own link (and, as RARP, "
            "the reverse). Every first packet to the gateway or a same-subnet peer waits for "
            "it. Many requests per second from one host (an ARP storm) point to a scanner, a "
            "switching loop, or a flapping interface and can starve real traffic; requests "
            "that never get a reply mean the target is down, on another VLAN or subnet, or "
            "filtered, and show up above as connection timeouts and SYN retransmissions.")
HW_TYPE = field("arp.hw.type", "Hardware type", FT.UINT16, strings=ARPHRD,
                blurb="Link type of the hardware addresses (1 = Ethernet)")
PROTO_TYPE = field("arp.proto.type", "Protocol type", FT.UINT16, Base.HEX, strings=ETHERTYPES,
                   blurb="EtherType of the protocol addresses (0x0800 = IPv4)")
HW_SIZE = field("arp.hw.size", "Hardware size", FT.UINT8,
                blurb="Length of each hardware address in bytes")
PROTO_SIZE = field("arp.proto.size", "Protocol size", FT.UINT8,
                   blurb="Length of each protocol address in bytes")
OPCODE = field(
    "arp.opcode", "Opcode", FT.UINT16, strings=OPCODES,
    blurb="1 request, 2 reply, 3/4 reverse (RARP), 8/9 inverse ARP",
    explain="A request ('Who has 10.0.0.1?') is broadcast; the owner answers with a unicast "
            "reply. A request repeated every second with no reply means nobody owns that IP "
            "on this link: the next hop your service needs is unreachable.")
IS_GRATUITOUS = field(
    "arp.isgratuitous", "Is gratuitous", FT.BOOLEAN, tfs=("True", "False"),
    blurb="Sender and target IP are the same: the host announces its own mapping",
    explain="A gratuitous ARP tells every neighbour 'this IP is now at this MAC'. Clusters "
            "send it when a virtual IP fails over (keepalived/VRRP, Pacemaker, cloud IP moves). "
            "Peers or switches that ignore it keep a stale cache and send traffic to the old "
            "node for minutes: resets or timeouts right after a failover point here.")
IS_ANNOUNCEMENT = field(
    "arp.isannouncement", "Is announcement", FT.BOOLEAN, tfs=("True", "False"),
    blurb="A gratuitous request with an empty target MAC (RFC 5227 announcement)",
    explain="Sent after a host has claimed an address (boot, DHCP lease, failover), so "
            "neighbours update their caches.")
IS_PROBE = field(
    "arp.isprobe", "Is probe", FT.BOOLEAN, tfs=("True", "False"),
    blurb="A request from sender IP 0.0.0.0 (RFC 5227 probe)",
    explain="A host checking that nobody else uses an address before taking it. An answer "
            "means a duplicate IP: two machines fighting over one address cause intermittent "
            "resets and timeouts for whoever talks to it.")
SRC_HW = field("arp.src.hw", "Sender hardware address", FT.BYTES)
SRC_HW_MAC = field("arp.src.hw_mac", "Sender MAC address", FT.ETHER,
                   explain="The MAC the sender claims for its IP; neighbours cache this pair.")
SRC_PROTO = field("arp.src.proto", "Sender protocol address", FT.BYTES)
SRC_PROTO_IPV4 = field("arp.src.proto_ipv4", "Sender IP address", FT.IPv4)
DST_HW = field("arp.dst.hw", "Target hardware address", FT.BYTES)
DST_HW_MAC = field("arp.dst.hw_mac", "Target MAC address", FT.ETHER,
                   explain="All zeros in a request: the sender does not know it yet.")
DST_PROTO = field("arp.dst.proto", "Target protocol address", FT.BYTES)
DST_PROTO_IPV4 = field("arp.dst.proto_ipv4", "Target IP address", FT.IPv4,
                       explain="The IP being looked up (requests) or answered for (replies).")
DRARP_ERROR_STATUS = field("arp.dst.drarp_error_status", "DRARP error status", FT.UINT16,
                           strings=DRARP_ERRORS)

# Protocol column per opcode (default "ARP").
_COLUMN = {3: "RARP", 4: "RARP", 5: "DRARP", 6: "DRARP", 7: "DRARP", 8: "Inverse ARP",
           9: "Inverse ARP", 23: "MAPOS", **{op: "MARS" for op in range(11, 23)}}
_MARS = {11: "MARS request", 12: "MARS MULTI request", 13: "MARS MSERV request",
         14: "MARS JOIN request", 15: "MARS LEAVE", 16: "MARS NAK", 17: "MARS UNSERV request",
         18: "MARS SJOIN request", 19: "MARS SLEAVE", 20: "MARS grouplist request",
         21: "MARS grouplist reply", 22: "MARS redirect map", 23: "MAPOS UNARP request"}
_HEADER = ((HW_TYPE, 0, 2), (PROTO_TYPE, 2, 2), (HW_SIZE, 4, 1), (PROTO_SIZE, 5, 1),
           (OPCODE, 6, 2))
_ETHER_HW = frozenset((1, 6))       # Ethernet and IEEE 802 hardware carry 6-byte MACs
_IPV4_PROTO = frozenset((0x0800, 0x00CC))  # IPv4, and IPv4 over AX.25


class _Addrs(NamedTuple):
    """The four addresses as the Info column prints them."""

    sha: str
    spa: str
    tha: str
    tpa: str


def _request(a: _Addrs) -> str:
    return f"Who has {a.tpa}? Tell {a.spa}"


_INFO: dict[int, Callable[[_Addrs], str]] = {
    REQUEST: _request,
    REPLY: lambda a: f"{a.spa} is at {a.sha}",
    RREQUEST: lambda a: f"Who is {a.tha}? Tell {a.sha}",
    RREPLY: lambda a: f"{a.tha} is at {a.tpa}",
    5: lambda a: f"Who is {a.tha}? Tell {a.sha}",
    6: lambda a: f"{a.tha} is at {a.tpa}",
    DRARP_ERROR: lambda a: "DRARP Error",
    8: lambda a: f"Who is {a.tha}? Tell {a.sha}",
    9: lambda a: f"{a.sha} is at {a.spa}",
    10: lambda a: "ARP NAK",
    24: lambda a: "Experimental 1 ( opcode 24 )",
    25: lambda a: "Experimental 2 ( opcode 25 )",
    0: lambda a: "Reserved opcode 0",
    65535: lambda a: "Reserved opcode 65535",
    **{op: (lambda a, name=name: f"{name} from {a.sha} at {a.spa}") for op, name in _MARS.items()},
}


def _addr_str(raw: bytes, fmt: Callable[[bytes], str] | None) -> str:
    if not raw:
        return "<No address>"
    return fmt(raw) if fmt is not None else raw.hex()


def dissect_arp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """One ARP/RARP packet; returns its length so the rest of the frame is padding.

    Like tshark, header fields are added as far as the packet goes, while the four
    addresses (and the Info column) need the whole packet.
    """
    pkt.enter("arp")
    pkt.set_protocol("ARP")
    pkt.set_info("")
    buf.need_within(off, 2, end)
    t = tree.add(PROTO, off, 8)
    header = []
    for spec, rel, size in _HEADER:
        buf.need_within(off + rel, size, end)
        value = buf.u16(off + rel) if size == 2 else buf.u8(off + rel)
        t.add(spec, off + rel, size, value)
        header.append(value)
    hrd, pro, hln, pln, op = header
    size = 8 + 2 * (hln + pln)
    sha_off = off + 8
    spa_off = sha_off + hln
    tha_off = spa_off + pln
    tpa_off = tha_off + hln
    buf.need_within(off, size, end)
    sha, spa = buf.bytes(sha_off, hln), buf.bytes(spa_off, pln)
    tha, tpa = buf.bytes(tha_off, hln), buf.bytes(tpa_off, pln)

    ether = hrd in _ETHER_HW and hln == 6
    ipv4 = pro in _IPV4_PROTO and pln == 4
    # RFC 5227: a gratuitous packet names the sender's own IP as target; an announcement
    # is a gratuitous request, a probe a request from 0.0.0.0; both leave the target MAC empty.
    gratuitous = op in (REQUEST, REPLY) and pln > 0 and spa == tpa
    tha_empty = not any(tha)
    announcement = gratuitous and op == REQUEST and tha_empty
    probe = op == REQUEST and not gratuitous and tha_empty and not any(spa)

    pkt.set_protocol(_COLUMN.get(op, "ARP"))
    hw_fmt = ether_str if ether else None
    pr_fmt = ipv4_str if ipv4 else None
    a = _Addrs(_addr_str(sha, hw_fmt), _addr_str(spa, pr_fmt), _addr_str(tha, hw_fmt),
               _addr_str(tpa, pr_fmt))
    pkt.set_info(_info(op, a, gratuitous, announcement, probe))
    if not t:
        return size

    t.set_size(size)
    t.label = f"{PROTO.name} ({_kind(op, gratuitous, announcement, probe)})"
    if gratuitous:
        t.add(IS_GRATUITOUS, off, 0, True, generated=True)
    if announcement:
        t.add(IS_ANNOUNCEMENT, off, 0, True, generated=True)
    if probe:
        t.add(IS_PROBE, off, 0, True, generated=True)
    hw_spec = (SRC_HW_MAC, DST_HW_MAC) if ether else (SRC_HW, DST_HW)
    pr_spec = (SRC_PROTO_IPV4, DST_PROTO_IPV4) if ipv4 else (SRC_PROTO, DST_PROTO)
    if hln:
        t.add(hw_spec[0], sha_off, hln, sha)
    if pln:
        t.add(pr_spec[0], spa_off, pln, spa)
    if hln:
        t.add(hw_spec[1], tha_off, hln, tha)
    if op == DRARP_ERROR and pln:
        t.add(DRARP_ERROR_STATUS, tpa_off, 1, tpa[0])
    elif pln:
        t.add(pr_spec[1], tpa_off, pln, tpa)
    return size


def _info(op: int, a: _Addrs, gratuitous: bool, announcement: bool, probe: bool) -> str:
    if announcement:
        return f"ARP Announcement for {a.tpa}"
    if gratuitous:
        return f"Gratuitous ARP for {a.tpa} ({'Request' if op == REQUEST else 'Reply'})"
    if probe:
        return f"Who has {a.tpa}? (ARP Probe)"
    fmt = _INFO.get(op)
    return fmt(a) if fmt is not None else f"Unknown ARP opcode 0x{op:04x}"


def _kind(op: int, gratuitous: bool, announcement: bool, probe: bool) -> str:
    """The protocol line's parenthesis: the opcode, or what kind of gratuitous packet."""
    if announcement:
        return "ARP Announcement"
    if probe:
        return "ARP Probe"
    name = OPCODES.get(op)
    if name is None:
        return f"opcode 0x{op:04x}"
    return f"{name}/gratuitous ARP" if gratuitous else name


ETHERTYPE.register(0x0806, dissect_arp)
ETHERTYPE.register(0x8035, dissect_arp)
