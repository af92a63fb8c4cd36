"""IPv4 (RFC 791), its options, and fragment reassembly (RFC 791 §3.2, RFC 815).

Wire format: version/IHL (1), DS field (1), total length (2), identification (2),
flags + fragment offset (2), TTL (1), protocol (1), header checksum (2), source (4),
destination (4), options (IHL*4 - 20), payload up to the total length.

Behaviour follows tshark 4.0 with its defaults: checksum validation off ("Unverified"),
reassembly on, a total length of 0 taken as TCP segmentation offload, a source-routed
datagram's destination being the route's final hop. Bytes past the layer's reported end
raise Malformed, bytes past the capture Truncated, exactly where tshark's would.
"""
from __future__ import annotations

from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE, IP_PROTO
from .fields import FT, Base, ExpertSpec, Severity, expert, field, ipv4_str, protocol
from .packet import Packet
from .reassembly import (
    CONFLICT,
    ERRORS,
    MULTIPLE_TAILS,
    OVERLAP,
    TOO_LONG,
    Datagram,
    Reassembler,
)
from .tree import Tree

# ---------------------------------------------------------------------------------------
# Value names shared with IPv6
# ---------------------------------------------------------------------------------------

# IP protocol numbers as tshark names them (IANA registry).
IP_PROTO_NAMES: dict[int, str] = {
    0: "IPv6 Hop-by-Hop Option", 1: "ICMP", 2: "IGMP", 3: "GGP", 4: "IPIP", 5: "Stream",
    6: "TCP", 7: "CBT", 8: "EGP", 9: "IGRP", 10: "BBN RCC", 11: "Network Voice", 12: "PUP",
    13: "ARGUS", 14: "EMCON", 15: "XNET", 16: "CHAOS", 17: "UDP", 18: "Multiplex",
    19: "DCN Measurement", 20: "Host Monitoring", 21: "Packet radio", 22: "IDP", 23: "Trunk-1",
    24: "Trunk-2", 25: "Leaf-1", 26: "Leaf-2", 27: "Reliable Data", 28: "IRT", 29: "ISO TP4",
    30: "Bulk Data", 31: "MFE NSP", 32: "Merit Internodal",
    33: "Datagram Congestion Control Protocol", 34: "3rd Party Connect",
    35: "Inter-Domain Policy Routing Protocol", 36: "XTP", 37: "Datagram delivery",
    38: "Control Message", 39: "TP++", 40: "IL", 41: "IPv6", 42: "Source demand routing",
    43: "Routing Header for IPv6", 44: "Fragment Header for IPv6",
    45: "Inter-Domain Routing Protocol", 46: "Reservation Protocol",
    47: "Generic Routing Encapsulation", 48: "Dynamic source routing", 49: "BNA",
    50: "Encap Security Payload", 51: "Authentication Header", 52: "INSLP", 53: "SWIPE",
    54: "NBMA ARP", 55: "IP Mobility", 56: "TLSP Kryptonet", 57: "SKIP", 58: "ICMPv6",
    59: "No Next Header for IPv6", 60: "Destination Options for IPv6",
    61: "any host internal protocol", 62: "Mobile IPv6 (old)", 63: "any local network",
    64: "SATNET EXPAK", 65: "Kryptolan", 66: "Remote Virtual Disk", 67: "IPPC",
    68: "any distributed file system", 69: "SATNET Monitoring", 70: "VISA", 71: "IPCV",
    72: "CPNX", 73: "CPHB", 74: "Wang Span", 75: "Packet Video", 76: "Backroom SATNET Mon",
    77: "Sun ND Protocol", 78: "Wideband Mon", 79: "Wideband Expak",
    80: "ISO Internet Protocol", 81: "VMTP", 82: "Secure VMTP", 83: "VINES", 84: "TTP",
    85: "NSFNET IGP", 86: "Dissimilar Gateway", 87: "TCF", 88: "EIGRP", 89: "OSPF IGP",
    90: "Sprite RPC", 91: "Locus ARP", 92: "Multicast Transport", 93: "AX.25 Frames",
    94: "IP in IP", 95: "MICP", 96: "Semaphore", 97: "Ether in IP", 98: "ENCAP",
    99: "any private encryption scheme", 100: "GMTP", 101: "Ipsilon Flow", 102: "PNNI over IP",
    103: "PIM", 104: "ARIS", 105: "SCPS", 106: "QNX", 107: "Active Networks", 108: "IPComp",
    109: "Sitara Networks", 110: "Compaq Peer", 111: "IPX IN IP", 112: "VRRP", 113: "PGM",
    114: "any 0-hop protocol", 115: "Layer 2 Tunneling", 116: "DDX", 117: "IATP", 118: "STP",
    119: "SpectraLink", 120: "UTI", 121: "SMP", 122: "SM", 123: "PTP", 124: "ISIS over IP",
    125: "FIRE", 126: "CRTP", 127: "CRUDP", 128: "SSCOPMCE", 129: "IPLT", 130: "Secure Packet",
    131: "PIPE", 132: "SCTP", 133: "Fibre Channel", 134: "RSVP E2EI", 135: "Mobile IPv6",
    136: "UDPLite", 137: "MPLS in IP", 138: "MANET", 139: "HIP", 140: "Shim6 header",
    141: "WESP", 142: "ROHC", 143: "Ethernet", 173: "AX/4000 Testframe",
    224: "Novell NCS Heartbeat",
}
IP_PROTO_NAMES.update({n: "Unassigned" for n in range(144, 224) if n not in IP_PROTO_NAMES})

DSCP_NAMES = {
    0: "Default", 1: "Lower Effort", 8: "Class Selector 1", 10: "Assured Forwarding 11",
    12: "Assured Forwarding 12", 14: "Assured Forwarding 13", 16: "Class Selector 2",
    18: "Assured Forwarding 21", 20: "Assured Forwarding 22", 22: "Assured Forwarding 23",
    24: "Class Selector 3", 26: "Assured Forwarding 31", 28: "Assured Forwarding 32",
    30: "Assured Forwarding 33", 32: "Class Selector 4", 34: "Assured Forwarding 41",
    36: "Assured Forwarding 42", 38: "Assured Forwarding 43", 40: "Class Selector 5",
    44: "Voice Admit", 46: "Expedited Forwarding", 48: "Class Selector 6", 56: "Class Selector 7",
}
DSCP_SHORT = {
    0: "CS0", 1: "LE", 8: "CS1", 10: "AF11", 12: "AF12", 14: "AF13", 16: "CS2", 18: "AF21",
    20: "AF22", 22: "AF23", 24: "CS3", 26: "AF31", 28: "AF32", 30: "AF33", 32: "CS4", 34: "AF41",
    36: "AF42", 38: "AF43", 40: "CS5", 44: "VOICE-ADMIT", 46: "EF PHB", 48: "CS6", 56: "CS7",
}
ECN_NAMES = {0: "Not ECN-Capable Transport", 1: "ECN-Capable Transport codepoint '01'",
             2: "ECN-Capable Transport codepoint '10'", 3: "Congestion Experienced"}
ECN_SHORT = {0: "Not-ECT", 1: "ECT(1)", 2: "ECT(0)", 3: "CE"}
CHECKSUM_STATUS_NAMES = {0: "Bad", 1: "Good", 2: "Unverified", 3: "Not present", 4: "Illegal"}
UNVERIFIED = 2


def ipprotostr(proto: int) -> str:
    """tshark's short name of an IP protocol number (Info column texts)."""
    return IP_PROTO_NAMES.get(proto, "Unknown")


def ds_summary(tos: int) -> str:
    """'DSCP: CS0, ECN: Not-ECT', the summary both IP versions show for the DS byte."""
    return f"DSCP: {DSCP_SHORT.get(tos >> 2, 'Unknown')}, ECN: {ECN_SHORT[tos & 3]}"


def bit_picture(raw: int, mask: int, nbits: int) -> str:
    """Wireshark's bit picture of the masked bits of an nbits-wide word ('.... 0101')."""
    out = []
    for i in range(nbits - 1, -1, -1):
        out.append(("1" if raw >> i & 1 else "0") if mask >> i & 1 else ".")
        if i % 4 == 0 and i:
            out.append(" ")
    return "".join(out)


def note(t: Tree, pkt: Packet, spec: ExpertSpec, message: str | None = None,
         pos: int = 0, size: int = 0) -> None:
    """Record an expert item on the packet and, with a tree, under node `t`."""
    pkt.note(spec)
    if t:
        t.add_expert(spec, pos, size, message)


def expert_item(t: Tree, pkt: Packet, spec: ExpertSpec, message: str, pos: int,
                size: int) -> None:
    """A tree item that is only a problem report (tshark's proto_tree_add_expert): the
    message as an item, the expert info under it."""
    note(t.add_text(pos, size, message), pkt, spec, message, pos, size)


def clear_info(pkt: Packet) -> None:
    """Wireshark's col_clear(COL_INFO): a layer starts the Info column afresh."""
    if not pkt.fenced:
        pkt.info.clear()


# ---------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------

PROTO = protocol("ip", "Internet Protocol Version 4",
                 explain="The IPv4 header: who sent the packet, to whom, and how the network "
                         "should treat it on the way (TTL, fragmentation, priority).")
VERSION = field("ip.version", "Version", FT.UINT8, bitmask=0xF0,
                blurb="IP version: 4 here (IPv6 shows 6 in the same field)")
HDR_LEN = field("ip.hdr_len", "Header Length", FT.UINT8,
                blurb="Header length in bytes (the wire holds it in 32-bit words)",
                explain="20 bytes without options. More means IP options, which many routers "
                        "send to a slow path or drop.")
DSFIELD = field("ip.dsfield", "Differentiated Services Field", FT.UINT8, Base.HEX,
                blurb="DSCP (6 bits) and ECN (2 bits), the former Type of Service byte")
DSCP = field("ip.dsfield.dscp", "Differentiated Services Codepoint", FT.UINT8, bitmask=0xFC,
             strings=DSCP_NAMES, blurb="Traffic class for per-hop queueing (QoS)",
             explain="The priority the sender asked for: EF (46) for voice, AF classes for "
                     "business traffic, CS0/Default for best effort. Networks often rewrite or "
                     "ignore it at their edge, so a marking seen here may not be honoured on "
                     "the whole path.")
ECN = field("ip.dsfield.ecn", "Explicit Congestion Notification", FT.UINT8, bitmask=0x03,
            strings=ECN_NAMES, blurb="ECN codepoint (RFC 3168)",
            explain="ECT(0)/ECT(1) say both ends understand ECN; CE (3) means a router on the "
                    "path was congested and marked the packet instead of dropping it. CE marks "
                    "predict the sender slowing down, just like a loss would.")
LEN = field("ip.len", "Total Length", FT.UINT16,
            blurb="Length of the datagram, header included",
            explain="When it exceeds the bytes on the wire the packet was cut; a value of 0 on "
                    "the sending host is TCP segmentation offload: the NIC fills it in later.")
ID = field("ip.id", "Identification", FT.UINT16, Base.HEX_DEC,
           blurb="Datagram identifier, used to put fragments back together",
           explain="Only meaningful for fragments: all pieces of one datagram share it. Many "
                   "stacks send 0 or a per-connection counter when DF is set; a counter that "
                   "jumps tells you other traffic left the same host in between.")
FLAGS = field("ip.flags", "Flags", FT.UINT8, Base.HEX, bitmask=0xE0, blurb="Flags (3 bits)")
RB = field("ip.flags.rb", "Reserved bit", FT.BOOLEAN, bitmask=0x80,
           blurb="Must be zero (RFC 791)")
DF = field("ip.flags.df", "Don't fragment", FT.BOOLEAN, bitmask=0x40,
           blurb="The datagram must not be fragmented on its path",
           explain="Set by almost every TCP stack for Path MTU discovery: a router whose next "
                   "link is too small drops the packet and returns ICMP 'fragmentation needed'. "
                   "If a firewall eats that ICMP, large packets vanish while small ones pass: "
                   "the classic hang after the TLS handshake or on big responses (PMTU black "
                   "hole). Clamp the MSS or allow ICMP type 3 code 4.")
MF = field("ip.flags.mf", "More fragments", FT.BOOLEAN, bitmask=0x20,
           blurb="More fragments of this datagram follow",
           explain="Set on every fragment but the last. Fragmented traffic is fragile: one "
                   "lost piece loses the whole datagram, and middleboxes often drop fragments.")
FRAG_OFFSET = field("ip.frag_offset", "Fragment Offset", FT.UINT16, bitmask=0x1FFF,
                    blurb="Where this fragment's data goes, in 8-byte units (shown in bytes)",
                    explain="Non-zero means this packet is a later piece of a larger datagram.")
TTL = field("ip.ttl", "Time to Live", FT.UINT8,
            blurb="Hops the datagram may still take",
            explain="Each router subtracts one and drops the packet at 0. Senders start at 64 "
                    "(Linux, macOS), 128 (Windows) or 255 (network gear), so 64 minus the value "
                    "seen is roughly the hop count to the sender. A value that keeps falling "
                    "for the same flow, or packets seen again with a lower TTL, point to a "
                    "routing loop; a very low TTL is traceroute or a loop.")
PROTO_FIELD = field("ip.proto", "Protocol", FT.UINT8, strings=IP_PROTO_NAMES,
                    blurb="The payload's protocol (6 TCP, 17 UDP, 1 ICMP)")
CHECKSUM = field("ip.checksum", "Header Checksum", FT.UINT16, Base.HEX,
                 blurb="Checksum of the header only",
                 explain="Not verified by default, like tshark. Captured on the sending host it "
                         "is often wrong (or zero) because checksum offload lets the NIC compute "
                         "it after the capture point: that is normal, not corruption.")
CHECKSUM_STATUS = field("ip.checksum.status", "Header checksum status", FT.UINT8,
                        strings=CHECKSUM_STATUS_NAMES)
SRC = field("ip.src", "Source Address", FT.IPv4, blurb="Sender of the datagram")
DST = field("ip.dst", "Destination Address", FT.IPv4,
            blurb="Final destination of the datagram (the last hop of a source route)")
ADDR = field("ip.addr", "Source or Destination Address", FT.IPv4)
SRC_HOST = field("ip.src_host", "Source Host", FT.STRING)
DST_HOST = field("ip.dst_host", "Destination Host", FT.STRING)
HOST = field("ip.host", "Source or Destination Host", FT.STRING)
CUR_RT = field("ip.cur_rt", "Current Route", FT.IPv4,
               blurb="Header destination of a source-routed datagram: its next hop")
CUR_RT_HOST = field("ip.cur_rt_host", "Current Route Host", FT.STRING)

# -- options -----------------------------------------------------------------------------
OPT_CLASSES = {0: "Control", 1: "Reserved for future use", 2: "Debugging and measurement",
               3: "Reserved for future use"}
OPT_NUMBERS = {
    0: "End of Option List (EOL)", 1: "No-Operation (NOP)", 2: "Security", 3: "Loose source route",
    4: "Time stamp", 5: "Extended security", 6: "Commercial IP security option",
    7: "Record route", 8: "Stream identifier", 9: "Strict source route",
    10: "Experimental Measurement", 11: "MTU probe", 12: "MTU Reply",
    13: "Experimental Flow Control", 14: "Experimental Access Control", 15: "Ask Estrin",
    16: "IMI Traffic Descriptor", 17: "Extended Internet Protocol", 18: "Traceroute",
    19: "Address Extension", 20: "Router Alert", 21: "Selective Directed Broadcast",
    22: "Unassigned", 23: "Dynamic Packet State", 24: "Upstream Multicast Packet",
    25: "Quick-Start", 30: "RFC 3692-style experiment",
}
OPT_TYPE = field("ip.opt.type", "Type", FT.UINT8, blurb="Option type: copy flag, class, number")
OPT_COPY = field("ip.opt.type.copy", "Copy on fragmentation", FT.BOOLEAN, bitmask=0x80,
                 tfs=("Yes", "No"))
OPT_CLASS = field("ip.opt.type.class", "Class", FT.UINT8, bitmask=0x60, strings=OPT_CLASSES)
OPT_NUMBER = field("ip.opt.type.number", "Number", FT.UINT8, bitmask=0x1F, strings=OPT_NUMBERS)
OPT_LEN = field("ip.opt.len", "Length", FT.UINT8, blurb="Option length, type and length included")
OPT_PTR = field("ip.opt.ptr", "Pointer", FT.UINT8, blurb="1-based offset of the next free slot")
OPT_SID = field("ip.opt.sid", "Stream Identifier", FT.UINT16, blurb="SATNET stream identifier")
OPT_MTU = field("ip.opt.mtu", "MTU", FT.UINT16)
OPT_ID_NUMBER = field("ip.opt.id_number", "ID Number", FT.UINT16)
OPT_OHC = field("ip.opt.ohc", "Outbound Hop Count", FT.UINT16)
OPT_RHC = field("ip.opt.rhc", "Return Hop Count", FT.UINT16)
OPT_ORIGINATOR = field("ip.opt.originator", "Originator IP Address", FT.IPv4)
RA_VALUES = {0: "Router shall examine packet"}
OPT_RA = field("ip.opt.ra", "Router Alert", FT.UINT16,
               blurb="Routers on the path should look at this datagram (RFC 2113)",
               explain="Used by IGMP and RSVP. Routers punt such packets to their CPU, so a "
                       "flood of them is a denial-of-service risk.")
OPT_ADDR = field("ip.opt.addr", "IP Address", FT.IPv4)
OPT_PADDING = field("ip.opt.padding", "Padding", FT.BYTES)
QS_FUNCS = {0: "Rate request", 8: "Rate report"}
QS_RATES = {0: "0 bit/s", 1: "80 Kbit/s", 2: "160 Kbit/s", 3: "320 Kbit/s", 4: "640 Kbit/s",
            5: "1.28 Mbit/s", 6: "2.56 Mbit/s", 7: "5.12 Mbit/s", 8: "10.24 Mbit/s",
            9: "20.48 Mbit/s", 10: "40.96 Mbit/s", 11: "81.92 Mbit/s", 12: "163.84 Mbit/s",
            13: "327.68 Mbit/s", 14: "655.36 Mbit/s", 15: "1.31072 Gbit/s"}
OPT_QS_FUNC = field("ip.opt.qs_func", "Function", FT.UINT8, bitmask=0xF0, strings=QS_FUNCS)
OPT_QS_RATE = field("ip.opt.qs_rate", "Rate", FT.UINT8, bitmask=0x0F, strings=QS_RATES)
OPT_QS_TTL = field("ip.opt.qs_ttl", "QS TTL", FT.UINT8)
OPT_QS_TTL_DIFF = field("ip.opt.qs_ttl_diff", "TTL Diff", FT.UINT8)
OPT_QS_UNUSED = field("ip.opt.qs_unused", "Not Used", FT.UINT8)
OPT_QS_NONCE = field("ip.opt.qs_nonce", "QS Nonce", FT.UINT32, Base.HEX, bitmask=0xFFFFFFFC)
OPT_QS_RESERVED = field("ip.opt.qs_reserved", "Reserved", FT.UINT32, Base.HEX, bitmask=0x3)
SEC_RFC791 = {0x0000: "Unclassified", 0xF135: "Confidential", 0x789A: "EFTO", 0xBC4D: "MMMM",
              0x5E26: "PROG", 0xAF13: "Restricted", 0xD788: "Secret", 0x6BC5: "Top secret",
              0x35E2: "Reserved", 0x9AF1: "Reserved", 0x4D78: "Reserved", 0x24BD: "Reserved",
              0x135E: "Reserved", 0x89AF: "Reserved", 0xC4D6: "Reserved", 0xE26B: "Reserved"}
SEC_LEVELS = {0x01: "Reserved 4", 0x3D: "Top secret", 0x5A: "Secret", 0x96: "Confidential",
              0x66: "Reserved 3", 0xCC: "Reserved 2", 0xAB: "Unclassified", 0xF1: "Reserved 1"}
OPT_SEC_791 = field("ip.opt.sec_rfc791_sec", "Security", FT.UINT16, Base.HEX, strings=SEC_RFC791)
OPT_SEC_COMP = field("ip.opt.sec_rfc791_comp", "Compartments", FT.UINT16)
OPT_SEC_HR = field("ip.opt.sec_rfc791_hr", "Handling Restrictions", FT.STRING)
OPT_SEC_TCC = field("ip.opt.sec_rfc791_tcc", "Transmission Control Code", FT.STRING)
OPT_SEC_CL = field("ip.opt.sec_cl", "Classification Level", FT.UINT8, Base.HEX, strings=SEC_LEVELS)
OPT_SEC_FLAGS = field("ip.opt.sec_prot_auth_flags", "Protection Authority Flags", FT.UINT8,
                      Base.HEX)
_PROTECTED = ("Datagram protected in accordance with its rules",
              "Datagram not protected in accordance with its rules")
OPT_SEC_AUTH = [field(f"ip.opt.sec_prot_auth_{abbr}", name, FT.BOOLEAN, bitmask=mask,
                      tfs=_PROTECTED)
                for abbr, name, mask in (("genser", "GENSER", 0x80), ("siop_esi", "SIOP-ESI", 0x40),
                                         ("sci", "SCI", 0x20), ("nsa", "NSA", 0x10),
                                         ("doe", "DOE", 0x08))]
OPT_SEC_UNASSIGNED = field("ip.opt.sec_prot_auth_unassigned", "Unassigned", FT.UINT8, Base.HEX,
                           bitmask=0x06)
OPT_SEC_FTI = field("ip.opt.sec_prot_auth_fti", "Field Termination Indicator", FT.BOOLEAN,
                    bitmask=0x01, tfs=("Additional octet present", "Final octet"))
OPT_EXT_SEC_CODE = field("ip.opt.ext_sec_add_sec_info_format_code",
                         "Additional Security Info Format Code", FT.UINT8, Base.HEX)
OPT_EXT_SEC_INFO = field("ip.opt.ext_sec_add_sec_info", "Additional Security Info", FT.BYTES)
REC_RT = field("ip.rec_rt", "Recorded Route", FT.IPv4)
REC_RT_HOST = field("ip.rec_rt_host", "Recorded Route Host", FT.STRING)
SRC_RT = field("ip.src_rt", "Source Route", FT.IPv4)
SRC_RT_HOST = field("ip.src_rt_host", "Source Route Host", FT.STRING)
EMPTY_RT = field("ip.empty_rt", "Empty Route", FT.IPv4)
EMPTY_RT_HOST = field("ip.empty_rt_host", "Empty Route Host", FT.STRING)
TS_FLAGS = {0: "Time stamps only", 1: "Time stamp and address",
            3: "Time stamps for prespecified addresses"}
OPT_OVERFLOW = field("ip.opt.overflow", "Overflow", FT.UINT8, bitmask=0xF0,
                     blurb="Hops that could not add a time stamp for lack of room")
OPT_FLAG = field("ip.opt.flag", "Flag", FT.UINT8, Base.HEX, bitmask=0x0F, strings=TS_FLAGS)
OPT_TS = field("ip.opt.time_stamp", "Time stamp", FT.UINT32,
               blurb="Milliseconds since midnight UT")
OPT_TS_ADDR = field("ip.opt.time_stamp_addr", "Address", FT.IPv4)
CIPSO_TAGS = {0: "Padding", 1: "Restrictive Category Bitmap", 2: "Enumerated Categories",
              5: "Ranged Categories", 6: "Permissive Categories", 7: "Free Form"}
CIPSO_DOI = field("ip.cipso.doi", "DOI", FT.UINT32)
CIPSO_TAG_TYPE = field("ip.cipso.tag_type", "Tag Type", FT.UINT8, strings=CIPSO_TAGS)
CIPSO_LEVEL = field("ip.cipso.sensitivity_level", "Sensitivity Level", FT.UINT8)
CIPSO_CATEGORIES = field("ip.cipso.categories", "Categories", FT.STRING)
CIPSO_TAG_DATA = field("ip.cipso.tag_data", "Tag data", FT.BYTES)

# Option layers (Wireshark registers each option as a small protocol; they do not appear in
# frame.protocols).
OPT_EOL = protocol("ip.options.eol", "IP Option - End of Options List (EOL)")
OPT_NOP = protocol("ip.options.nop", "IP Option - No-Operation (NOP)")
OPT_SECURITY = protocol("ip.options.security", "IP Option - Security")
OPT_LSR = protocol("ip.options.route", "IP Option - Loose Source Route",
                   explain="The sender dictates hops to pass through. Almost every network "
                           "drops source-routed packets, so seeing one is unusual.")
OPT_TIMESTAMP = protocol("ip.options.timestamp", "IP Option - Time Stamp")
OPT_EXT_SECURITY = protocol("ip.options.ext_security", "IP Option - Extended Security")
OPT_CIPSO = protocol("ip.options.cipso", "IP Option - Commercial Security")
OPT_RR = protocol("ip.options.record_route", "IP Option - Record Route")
OPT_SID_P = protocol("ip.options.sid", "IP Option - Stream ID")
OPT_SSR = protocol("ip.options.source_route", "IP Option - Strict Source Route")
OPT_MTU_PROBE = protocol("ip.options.mtu_probe", "IP Option - MTU Probe")
OPT_MTU_REPLY = protocol("ip.options.mtu_reply", "IP Option - MTU Reply")
OPT_TRACEROUTE = protocol("ip.options.traceroute", "IP Option - Traceroute")
OPT_ROUTERALERT = protocol("ip.options.routeralert", "IP Option - Router Alert")
OPT_SDB = protocol("ip.options.sdb", "IP Option - Selective Directed Broadcast")
OPT_QS = protocol("ip.options.qs", "IP Option - Quick-Start")

# -- fragments ---------------------------------------------------------------------------
_TRUE_FALSE = ("True", "False")
FRAGMENTS = field("ip.fragments", "IPv4 Fragments", FT.BYTES,
                  blurb="The fragments this frame's datagram was reassembled from",
                  explain="The datagram arrived in pieces and this frame completed it; the "
                          "protocols below are dissected from the reassembled bytes.")
FRAGMENT = field("ip.fragment", "IPv4 Fragment", FT.FRAMENUM)
FRAGMENT_OVERLAP = field("ip.fragment.overlap", "Fragment overlap", FT.BOOLEAN, tfs=_TRUE_FALSE,
                         blurb="Fragment overlaps with other fragments")
FRAGMENT_CONFLICT = field("ip.fragment.overlap.conflict", "Conflicting data in fragment overlap",
                          FT.BOOLEAN, tfs=_TRUE_FALSE,
                          blurb="Overlapping fragments contained conflicting data",
                          explain="Two fragments claim different bytes for the same place: "
                                  "a broken sender or a deliberate evasion attempt (IDS "
                                  "evasion by overlapping fragments).")
FRAGMENT_MULTITAILS = field("ip.fragment.multipletails", "Multiple tail fragments found",
                            FT.BOOLEAN, tfs=_TRUE_FALSE,
                            blurb="Several tails were found when defragmenting the packet")
FRAGMENT_TOOLONG = field("ip.fragment.toolongfragment", "Fragment too long", FT.BOOLEAN,
                         tfs=_TRUE_FALSE, blurb="Fragment contained data past end of packet")
FRAGMENT_ERROR = field("ip.fragment.error", "Defragmentation error", FT.FRAMENUM,
                       blurb="Defragmentation error due to illegal fragments")
FRAGMENT_COUNT = field("ip.fragment.count", "Fragment count", FT.UINT32)
REASSEMBLED_IN = field("ip.reassembled_in", "Reassembled IPv4 in frame", FT.FRAMENUM,
                       blurb="This IPv4 packet is reassembled in this frame")
REASSEMBLED_LENGTH = field("ip.reassembled.length", "Reassembled IPv4 length", FT.UINT32,
                           blurb="The total length of the reassembled payload")
REASSEMBLED_DATA = field("ip.reassembled.data", "Reassembled IPv4 data", FT.BYTES,
                         blurb="The reassembled payload")

# -- expert items --------------------------------------------------------------------------
OPT_LEN_INVALID = expert("ip.opt.len.invalid", "protocol", Severity.WARN,
                         "Invalid length for option")
PTR_BEFORE = expert("ip.opt.ptr.before_address", "protocol", Severity.WARN,
                    "Pointer points before first address")
PTR_MIDDLE = expert("ip.opt.ptr.middle_address", "protocol", Severity.WARN,
                    "Pointer points to middle of address")
SUBOPT_TOO_LONG = expert("ip.subopt_too_long", "protocol", Severity.WARN,
                         "Suboption would go past end of option")
NOP_RUN = expert("ip.nop", "protocol", Severity.WARN,
                 "4 NOP in a row - a router may have removed some options",
                 explain="Options are normally padded to 32 bits with at most 3 NOPs; four in a "
                         "row suggest a middlebox blanked an option out.")
BOGUS_LENGTH = expert("ip.bogus_ip_length", "protocol", Severity.ERROR, "Bogus IP length",
                      explain="The total length contradicts the packet: shorter than the header, "
                              "or longer than the bytes that arrived.",
                      responsible="unknown")
BOGUS_VERSION = expert("ip.bogus_ip_version", "protocol", Severity.ERROR, "Bogus IP version")
BOGUS_HDR_LEN = expert("ip.bogus_header_length", "protocol", Severity.ERROR,
                       "Bogus IP header length")
TTL_LNCB = expert("ip.ttl.lncb", "sequence", Severity.NOTE, "Time To Live",
                  explain="Packets to 224.0.0.0/24 must never be routed, so they are sent with "
                          "TTL 1 (255 for VRRP, GLBP and mDNS).")
TTL_TOO_SMALL = expert("ip.ttl.too_small", "sequence", Severity.NOTE, "Time To Live",
                       explain="A unicast packet with almost no hops left: traceroute, a routing "
                               "loop eating the TTL, or a sender with a tiny initial TTL.",
                       remedy="If the TTL keeps falling across retransmissions, look for a loop.",
                       responsible="path")
CIPSO_MALFORMED = expert("ip.cipso.malformed", "malformed", Severity.ERROR, "Malformed CIPSO tag")

IPH_MIN_LEN = 20
IP_PROTO_PIM, IP_PROTO_OSPF, IP_PROTO_IGMP = 103, 89, 2
MF_BIT, DF_BIT, RB_BIT, OFFSET_MASK = 0x2000, 0x4000, 0x8000, 0x1FFF


# ---------------------------------------------------------------------------------------
# The dissector
# ---------------------------------------------------------------------------------------

def dissect_ip(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """IPv4 header and options, then the payload (or the reassembled datagram).

    Returns the total length when it fits in the frame, so Ethernet shows what follows
    as padding or trailer.
    """
    pkt.enter("ip")
    pkt.set_protocol("IPv4")
    clear_info(pkt)
    buf.need_within(off, 1, end)
    data = buf.data
    # Field-by-field bounds checks only when the fixed header is not all there.
    chk = _fits if off + IPH_MIN_LEN <= min(end, len(data)) else buf.need_within
    b0 = data[off]
    hlen = (b0 & 0x0F) * 4
    t = tree.add(PROTO, off, max(0, min(hlen, len(data) - off)), label=PROTO.name)
    vnode = t.add_bits(VERSION, off, 1, b0)
    if b0 >> 4 != 4:
        return _bogus_version(buf, off, end, tree, vnode, pkt, b0 >> 4)
    if hlen < IPH_MIN_LEN:
        msg = f"Bogus IP header length ({hlen}, must be at least {IPH_MIN_LEN})"
        pkt.set_info(msg)
        n = t.add(HDR_LEN, off, 1, hlen,
                  f"{bit_picture(b0, 0x0F, 8)} = Header Length: {hlen} bytes ({hlen >> 2})")
        note(n, pkt, BOGUS_HDR_LEN, msg)
        return None
    if t:
        t.add(HDR_LEN, off, 1, hlen,
              f"{bit_picture(b0, 0x0F, 8)} = Header Length: {hlen} bytes ({hlen >> 2})")
    chk(off + 1, 1, end)
    tos = data[off + 1]
    if t:
        ds = t.add(DSFIELD, off + 1, 1, tos,
                   f"Differentiated Services Field: 0x{tos:02x} ({ds_summary(tos)})")
        ds.add_bits(DSCP, off + 1, 1, tos)
        ds.add_bits(ECN, off + 1, 1, tos)
    chk(off + 2, 2, end)
    ip_len = int.from_bytes(data[off + 2:off + 4], "big")
    reported = end - off
    if ip_len < hlen:
        if ip_len:
            msg = f"Bogus IP length ({ip_len}, less than header length {hlen})"
            pkt.set_info(msg)
            n = t.add(LEN, off + 2, 2, ip_len,
                      f"Total Length: {ip_len} bytes (bogus, less than header length {hlen})")
            note(n, pkt, BOGUS_LENGTH)
            return None
        # TCP segmentation offload: the NIC fills the length in after the capture point.
        ip_len = reported
        t.add(LEN, off + 2, 2, ip_len,
              f"Total Length: {ip_len} bytes (reported as 0, presumed to be because of "
              f"\"TCP segmentation offload\" (TSO))", generated=True)
    else:
        n = t.add(LEN, off + 2, 2, ip_len)
        if ip_len > reported:
            if not pkt.in_error:
                note(n, pkt, BOGUS_LENGTH,
                     f"IPv4 total length exceeds packet length ({reported} bytes)")
        else:
            end = off + ip_len
    chk(off + 4, 2, end)
    ident = int.from_bytes(data[off + 4:off + 6], "big")
    t.add(ID, off + 4, 2, ident)
    chk(off + 6, 2, end)
    frag = int.from_bytes(data[off + 6:off + 8], "big")
    if pkt.ip_frag < 0 and not pkt.fenced:
        pkt.ip_frag = frag   # the outermost header's flags word, for the summary columns
    if t:
        _flags(t, off + 6, frag)
    chk(off + 8, 1, end)
    ttl = data[off + 8]
    ttl_node = t.add(TTL, off + 8, 1, ttl)
    chk(off + 9, 1, end)
    proto = data[off + 9]
    t.add(PROTO_FIELD, off + 9, 1, proto)
    chk(off + 10, 2, end)
    if t:
        csum = int.from_bytes(data[off + 10:off + 12], "big")
        t.add(CHECKSUM, off + 10, 2, csum, f"Header Checksum: 0x{csum:04x} [validation disabled]")
        t.add(CHECKSUM_STATUS, off + 10, 0, UNVERIFIED,
              f"Header checksum status: {CHECKSUM_STATUS_NAMES[UNVERIFIED]}", generated=True)
    chk(off + 12, 4, end)
    src = bytes(data[off + 12:off + 16])
    # Set even inside an ICMP error's quote: the quoted transport header is keyed on the
    # quoted addresses (tshark's streams); ICMP restores the outer values afterwards.
    pkt.net_src, pkt.net_ver, pkt.ip_proto, pkt.ttl = src, 4, proto, ttl
    if t:
        src_s = ipv4_str(src)
        t.append_label(f", Src: {src_s}")
        _address(t, SRC, SRC_HOST, off + 12, src, src_s)
    dst_off = _dst_offset(buf, off + IPH_MIN_LEN, hlen - IPH_MIN_LEN, end) \
        if hlen > IPH_MIN_LEN else 0
    buf.need_within(off + 16 + dst_off, 4, end)
    dst = bytes(data[off + 16 + dst_off:off + 20 + dst_off])
    pkt.net_dst = dst
    _ttl_check(ttl_node, pkt, ttl, dst, proto)
    if t:
        dst_s = ipv4_str(dst)
        t.append_label(f", Dst: {dst_s}")
        if dst_off:
            cur = bytes(data[off + 16:off + 20])
            cur_s = ipv4_str(cur)
            t.append_label(f", Via: {cur_s}")
            t.add(CUR_RT, off + 16, 4, cur)
            t.add(CUR_RT_HOST, off + 16, 4, cur_s, generated=True, hidden=True)
        else:
            _address(t, DST, DST_HOST, off + 16, dst, dst_s)
    if hlen > IPH_MIN_LEN:
        opts = t.add_text(off + IPH_MIN_LEN, hlen - IPH_MIN_LEN,
                          f"Options: ({hlen - IPH_MIN_LEN} bytes)")
        _options(buf, off, hlen, end, opts, pkt, ttl)
    _payload(buf, off, hlen, ip_len, end, tree, t, pkt, proto, ident, frag, src, dst)
    return ip_len if ip_len <= reported else None


def _fits(pos: int, n: int, end: int) -> None:
    """Bounds check for bytes already known to be there."""


def _bogus_version(buf: Buf, off: int, end: int, tree: Tree, vnode: Tree, pkt: Packet,
                   version: int) -> int | None:
    """Not version 4: tshark flags it and, for a 6, hands the bytes to IPv6 anyway."""
    pkt.set_info(f"Bogus IPv4 version ({version}, must be 4)")
    note(vnode, pkt, BOGUS_VERSION, "Bogus IPv4 version")
    if version == 6:
        ipv6 = ETHERTYPE.get(0x86DD)
        if ipv6 is not None:
            return ipv6(buf, off, end, tree, pkt)
    return None


def _address(t: Tree, spec, host_spec, pos: int, addr: bytes, text: str) -> None:
    """An address field with its hidden ip.addr / *_host / ip.host companions."""
    t.add(spec, pos, 4, addr)
    t.add(ADDR, pos, 4, addr, hidden=True)
    t.add(host_spec, pos, 4, text, generated=True, hidden=True)
    t.add(HOST, pos, 4, text, generated=True, hidden=True)


_FLAG_NAMES = ((RB_BIT, "Reserved bit"), (DF_BIT, "Don't fragment"), (MF_BIT, "More fragments"))


def _flags(t: Tree, pos: int, frag: int) -> None:
    value = frag >> 13
    names = "".join(f", {name}" for bit, name in _FLAG_NAMES if frag & bit)
    b = frag >> 8
    n = t.add(FLAGS, pos, 1, value, f"{bit_picture(b, 0xE0, 8)} = Flags: 0x{value:x}{names}")
    n.add_bits(RB, pos, 1, b)
    n.add_bits(DF, pos, 1, b)
    n.add_bits(MF, pos, 1, b)
    units = frag & OFFSET_MASK
    t.add(FRAG_OFFSET, pos, 2, units,
          f"{bit_picture(frag, OFFSET_MASK, 16)} = Fragment Offset: {units * 8}")


def _ttl_check(ttl_node: Tree, pkt: Packet, ttl: int, dst: bytes, proto: int) -> None:
    """RFC 3171 local-control-block TTLs, and a warning for nearly expired unicast."""
    d0 = dst[0]
    if d0 == 224 and dst[1] == 0 and dst[2] == 0:
        valid = 1 if proto == IP_PROTO_IGMP else _LNCB_TTL.get(dst[3], 1)
        if valid is not None and ttl != valid:
            note(ttl_node, pkt, TTL_LNCB,
                 f"\"Time To Live\" != {valid} for a packet sent to the Local Network Control "
                 f"Block (see RFC 3171)")
    elif ttl < 5 and d0 & 0xF0 != 0xE0 and proto not in (IP_PROTO_PIM, IP_PROTO_OSPF):
        note(ttl_node, pkt, TTL_TOO_SMALL, f"\"Time To Live\" only {ttl}")


# 224.0.0.x groups whose senders use another TTL than 1 (None: any TTL is fine).
_LNCB_TTL: dict[int, int | None] = {18: 255, 102: 255, 251: 255, 252: None}


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------

EOL, NOP, LSR, SSR = 0, 1, 0x83, 0x89


def _dst_offset(buf: Buf, start: int, length: int, end: int) -> int:
    """Offset of a loose/strict source route's final hop from the header's destination
    field, or 0: the datagram's real destination is the route's last address while the
    pointer still points into the route (RFC 791 §3.1)."""
    data = buf.data
    pos = start
    while length > 0:
        buf.need_within(pos, 1, end)
        opt = data[pos]
        length -= 1
        if opt not in (EOL, NOP):
            if length == 0:
                return 0
            buf.need_within(pos + 1, 1, end)
            olen = data[pos + 1]
            length -= 1
            if olen < 2 or olen - 2 > length:
                return 0
            if opt in (LSR, SSR):
                buf.need_within(pos + 2, 1, end)
                ptr = data[pos + 2]
                if ptr < 4 or ptr & 3 or ptr > olen:
                    return 0
                return pos - start + olen
            pos += olen
            length -= olen - 2
        else:
            pos += 1
        if opt == EOL:
            return 0
    return 0


def _options(buf: Buf, ip_off: int, hlen: int, end: int, opts: Tree, pkt: Packet,
             ttl: int) -> None:
    """Walk the options like tshark: malformed lengths stop the walk with an expert item."""
    data = buf.data
    pos = ip_off + IPH_MIN_LEN
    length = hlen - IPH_MIN_LEN
    nops = 0
    while length > 0:
        buf.need_within(pos, 1, end)
        opt = data[pos]
        length -= 1
        if opt in (EOL, NOP):
            if opt == NOP:
                if nops == 0 or (pos - ip_off) % 4:
                    nops += 1
                    if nops == 4:
                        note(opts, pkt, NOP_RUN)
                else:
                    nops = 0
            node = opts.add(OPT_EOL if opt == EOL else OPT_NOP, pos, 1, None,
                            (OPT_EOL if opt == EOL else OPT_NOP).name)
            if opts:
                _opt_type(node, pos, opt)
            pos += 1
        else:
            entry = _OPTIONS.get(opt)
            name = entry[0] if entry else f"Unknown (0x{opt:02x})"
            if length == 0:
                expert_item(opts, pkt, OPT_LEN_INVALID,
                            f"{name} (length byte past end of options)", pos, 1)
                return
            buf.need_within(pos + 1, 1, end)
            olen = data[pos + 1]
            length -= 1
            if olen < 2:
                expert_item(opts, pkt, OPT_LEN_INVALID,
                            f"{name} (with too-short option length = {olen} byte{_s(olen)})",
                            pos, 2)
                return
            if olen - 2 > length:
                expert_item(opts, pkt, OPT_LEN_INVALID,
                            f"{name} (option length = {olen} byte{_s(olen)} says option goes "
                            f"past end of options)", pos, length)
                return
            if entry is None:
                opts.add_text(pos, olen, f"{name} ({olen} byte{_s(olen)})")
            else:
                entry[1](buf, pos, olen, min(end, pos + olen), opts, pkt, ttl)
                opts.append_label(f", {name}")
            pos += olen
            length -= olen - 2
        if opt == EOL:
            return


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _opt_type(t: Tree, pos: int, opt: int) -> None:
    n = t.add(OPT_TYPE, pos, 1, opt)
    n.add_bits(OPT_COPY, pos, 1, opt)
    n.add_bits(OPT_CLASS, pos, 1, opt)
    n.add_bits(OPT_NUMBER, pos, 1, opt)


def _var_header(opts: Tree, spec, pos: int, olen: int) -> Tree:
    """Option subtree whose label shows the option's own length."""
    t = opts.add(spec, pos, olen, None, f"{spec.name} ({olen} bytes)")
    if t:
        _opt_type(t, pos, _spec_type(spec))
        t.add(OPT_LEN, pos + 1, 1, olen)
    return t


def _fixed_header(opts: Tree, pkt: Packet, spec, pos: int, olen: int, expected: int,
                  short: str) -> Tree:
    """Option subtree of a fixed-length option; a wrong length is flagged, not fatal."""
    t = opts.add(spec, pos, olen, None, f"{spec.name} ({expected} bytes)")
    if t:
        _opt_type(t, pos, _spec_type(spec))
    n = t.add(OPT_LEN, pos + 1, 1, olen)
    if olen != expected:
        note(n, pkt, OPT_LEN_INVALID,
             f"{short} (with option length = {olen} byte{_s(olen)}; should be {expected})")
    return t


def _spec_type(spec) -> int:
    return _TYPE_OF[spec.abbrev]


def _u16(buf: Buf, pos: int, end: int) -> int:
    buf.need_within(pos, 2, end)
    return int.from_bytes(buf.data[pos:pos + 2], "big")


def _u8(buf: Buf, pos: int, end: int) -> int:
    buf.need_within(pos, 1, end)
    return buf.data[pos]


def _ip(buf: Buf, pos: int, end: int) -> bytes:
    buf.need_within(pos, 4, end)
    return bytes(buf.data[pos:pos + 4])


def _opt_security(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                  ttl: int) -> None:
    """RFC 791 security (11 bytes, known level) or RFC 1108 basic security."""
    t = _var_header(opts, OPT_SECURITY, pos, olen)
    cur = pos + 2
    if olen == 11:
        level = _u16(buf, cur, end)
        if level in SEC_RFC791:
            t.add(OPT_SEC_791, cur, 2, level)
            t.add(OPT_SEC_COMP, cur + 2, 2, _u16(buf, cur + 2, end))
            buf.need_within(cur + 4, 5, end)
            t.add(OPT_SEC_HR, cur + 4, 2, _ascii(buf.data[cur + 4:cur + 6]))
            t.add(OPT_SEC_TCC, cur + 6, 3, _ascii(buf.data[cur + 6:cur + 9]))
            return
    t.add(OPT_SEC_CL, cur, 1, _u8(buf, cur, end))
    cur += 1
    if cur >= pos + olen:
        return
    val = _u8(buf, cur, end)
    if t:
        _sec_flags(t, cur, val, OPT_SEC_AUTH, 0x06)
    cur += 1
    while val & 0x01:           # each further octet is announced by the previous one's FTI
        if cur == pos + olen:
            note(t, pkt, OPT_LEN_INVALID,
                 "Field Termination Indicator set to 1 for last byte of option")
            break
        val = _u8(buf, cur, end)
        if t:
            _sec_flags(t, cur, val, [], 0xFE)
        cur += 1
    if cur < pos + olen:
        note(t, pkt, OPT_LEN_INVALID, "Extraneous data in option")


def _sec_flags(t: Tree, pos: int, val: int, named: list, unassigned: int) -> None:
    """One protection-authority octet (RFC 1108): authority bits, unassigned bits, and the
    field termination indicator announcing another octet."""
    names = "".join(f", {f.name}" for f in [*named, OPT_SEC_FTI] if val & f.bitmask)
    fl = t.add(OPT_SEC_FLAGS, pos, 1, val, f"Protection Authority Flags: 0x{val:02x}{names}")
    for f in named:
        fl.add_bits(f, pos, 1, val)
    shift = (unassigned & -unassigned).bit_length() - 1
    value = (val & unassigned) >> shift
    fl.add(OPT_SEC_UNASSIGNED, pos, 1, value,
           f"{bit_picture(val, unassigned, 8)} = Unassigned: "
           f"0x{value:0{len(f'{unassigned >> shift:x}')}x}")
    fl.add_bits(OPT_SEC_FTI, pos, 1, val)


def _ascii(b: bytes) -> str:
    """A fixed-width ASCII field as Wireshark shows it: up to the first NUL."""
    return b.split(b"\0", 1)[0].decode("ascii", "replace")


def _opt_ext_security(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                      ttl: int) -> None:
    t = _var_header(opts, OPT_EXT_SECURITY, pos, olen)
    t.add(OPT_EXT_SEC_CODE, pos + 2, 1, _u8(buf, pos + 2, end))
    rest = olen - 3
    if rest > 0:
        buf.need_within(pos + 3, rest, end)
        t.add(OPT_EXT_SEC_INFO, pos + 3, rest, bytes(buf.data[pos + 3:pos + olen]))


def _opt_cipso(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
               ttl: int) -> None:
    """Commercial IP Security Option (draft-ietf-cipso-ipsecurity): DOI, then tags."""
    t = _var_header(opts, OPT_CIPSO, pos, olen)
    buf.need_within(pos + 2, 4, end)
    t.add(CIPSO_DOI, pos + 2, 4, int.from_bytes(buf.data[pos + 2:pos + 6], "big"))
    cur, stop = pos + 6, pos + olen
    while cur < stop:
        tag = _u8(buf, cur, end)
        tag_node = t.add(CIPSO_TAG_TYPE, cur, 1, tag)
        taglen = _u8(buf, cur + 1, end) if cur + 1 < stop else 1
        if tag == 0:
            cur += 1
            continue
        if tag not in (1, 2, 5, 6, 7):
            if cur + 1 <= stop and tag_node:
                tag_node.append_label(f" ({_u8(buf, cur + 1, end)} bytes)")
            return
        if taglen < (2 if tag == 7 else 4) or taglen > 34 or cur + taglen - 1 > stop:
            note(tag_node, pkt, CIPSO_MALFORMED)
            return
        if tag in (6, 7):
            buf.need_within(cur + 2, taglen - 2, end)
            t.add(CIPSO_TAG_DATA, cur + 2, taglen - 2, bytes(buf.data[cur + 2:cur + taglen]))
            cur += taglen
            continue
        t.add(CIPSO_LEVEL, cur + 3, 1, _u8(buf, cur + 3, end))
        cur += 4
        if taglen > 4:
            buf.need_within(cur, taglen - 4, end)
            cats = buf.data[cur:cur + taglen - 4]
            t.add(CIPSO_CATEGORIES, cur, taglen - 4, _cipso_categories(tag, bytes(cats)))
            cur += taglen - 4


def _cipso_categories(tag: int, cats: bytes) -> str:
    """Categories as a list: bit positions (tag 1), values (tag 2), ranges (tag 5)."""
    if tag == 1:
        return ",".join(str(i * 8 + b) for i, byte in enumerate(cats) for b in range(8)
                        if byte & (0x80 >> b))
    words = [int.from_bytes(cats[i:i + 2], "big") for i in range(0, len(cats) - 1, 2)]
    if tag == 2:
        return ",".join(map(str, words))
    out = []
    for i in range(0, len(words), 2):
        high = words[i]
        low = words[i + 1] if i + 1 < len(words) else 0
        out.append(f"{high}-{low}" if low != high else str(high))
    return ",".join(out)


def _route(t: Tree, spec, host_spec, pos: int, addr: bytes, nxt: bool) -> None:
    s = ipv4_str(addr)
    t.add(spec, pos, 4, addr, f"{spec.name}: {s} <- (next)" if nxt else None)
    t.add(host_spec, pos, 4, s, generated=True, hidden=True)


def _route_ptr(buf: Buf, t: Tree, pkt: Packet, pos: int, end: int) -> tuple[int, Tree] | None:
    """The pointer of a route option, or None (with an expert item) when it is unusable."""
    ptr = _u8(buf, pos + 2, end)
    n = t.add(OPT_PTR, pos + 2, 1, ptr)
    if ptr < 4:
        note(n, pkt, PTR_BEFORE)
        return None
    if ptr & 3:
        note(n, pkt, PTR_MIDDLE)
        return None
    return ptr, n


def _opt_source_route(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                      ttl: int) -> None:
    """Loose/strict source route: hops already visited, the next hop, the final destination."""
    spec = OPT_LSR if buf.data[pos] == LSR else OPT_SSR
    t = _var_header(opts, spec, pos, olen)
    got = _route_ptr(buf, t, pkt, pos, end)
    if got is None:
        return
    ptr, ptr_node = got
    rel, left = 3, olen - 3
    while left > 0:
        if left < 4:
            note(ptr_node, pkt, SUBOPT_TOO_LONG)
            break
        addr = _ip(buf, pos + rel, end)
        if ptr > olen or rel + 1 < ptr:
            _route(t, REC_RT, REC_RT_HOST, pos + rel, addr, False)
        elif rel == olen - 4:
            s = ipv4_str(addr)
            t.add(DST, pos + rel, 4, addr)
            t.add(ADDR, pos + rel, 4, addr, hidden=True)
            t.add(DST_HOST, pos + rel, 4, s, generated=True, hidden=True)
            t.add(HOST, pos + rel, 4, s, generated=True, hidden=True)
        else:
            _route(t, SRC_RT, SRC_RT_HOST, pos + rel, addr, rel + 1 == ptr)
        rel += 4
        left -= 4


def _opt_record_route(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                      ttl: int) -> None:
    """Record route: addresses routers filled in, then empty slots."""
    t = _var_header(opts, OPT_RR, pos, olen)
    got = _route_ptr(buf, t, pkt, pos, end)
    if got is None:
        return
    ptr, ptr_node = got
    rel, left = 3, olen - 3
    while left > 0:
        if left < 4:
            note(ptr_node, pkt, SUBOPT_TOO_LONG)
            break
        addr = _ip(buf, pos + rel, end)
        if ptr > olen or rel + 1 < ptr:
            _route(t, REC_RT, REC_RT_HOST, pos + rel, addr, False)
        else:
            _route(t, EMPTY_RT, EMPTY_RT_HOST, pos + rel, addr, rel + 1 == ptr)
        rel += 4
        left -= 4


def _opt_timestamp(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                   ttl: int) -> None:
    """Internet timestamp (RFC 791): time stamps, optionally with the stamping address."""
    t = _var_header(opts, OPT_TIMESTAMP, pos, olen)
    ptr = _u8(buf, pos + 2, end)
    suffix = (" (header is full)" if ptr == 1 else " (points before first address)" if ptr < 5
              else " (points to middle of field)" if (ptr - 1) & 3 else "")
    t.add(OPT_PTR, pos + 2, 1, ptr, f"Pointer: {ptr}{suffix}")
    flg = _u8(buf, pos + 3, end)
    if t:
        t.add_bits(OPT_OVERFLOW, pos + 3, 1, flg)
        f = flg & 0x0F
        t.add(OPT_FLAG, pos + 3, 1, f,
              f"{bit_picture(flg, 0x0F, 8)} = Flag: {TS_FLAGS.get(f, 'Unknown')} (0x{f:x})")
    flg &= 0x0F
    cur, left = pos + 4, olen - 4
    step = 8 if flg in (1, 3) else 4
    while left > 0:
        if left < step:
            expert_item(t, pkt, SUBOPT_TOO_LONG, SUBOPT_TOO_LONG.summary, cur, left)
            break
        if step == 8:
            addr = _ip(buf, cur, end)
            t.add(OPT_TS_ADDR, cur, 4, addr,
                  f"Address: {'-' if addr == bytes(4) else ipv4_str(addr)}")
            cur += 4
        buf.need_within(cur, 4, end)
        t.add(OPT_TS, cur, 4, int.from_bytes(buf.data[cur:cur + 4], "big"))
        cur += 4
        left -= step


def _opt_sid(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
             ttl: int) -> None:
    t = _fixed_header(opts, pkt, OPT_SID_P, pos, olen, 4, "Stream ID")
    t.add(OPT_SID, pos + 2, 2, _u16(buf, pos + 2, end))


def _opt_mtu(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
             ttl: int) -> None:
    """RFC 1063 MTU probe / reply."""
    probe = buf.data[pos] == 11
    t = _fixed_header(opts, pkt, OPT_MTU_PROBE if probe else OPT_MTU_REPLY, pos, olen, 4,
                      "MTU Probe" if probe else "MTU Reply")
    t.add(OPT_MTU, pos + 2, 2, _u16(buf, pos + 2, end))


def _opt_traceroute(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                    ttl: int) -> None:
    """RFC 1393 traceroute option."""
    t = _fixed_header(opts, pkt, OPT_TRACEROUTE, pos, olen, 12, "Traceroute")
    t.add(OPT_ID_NUMBER, pos + 2, 2, _u16(buf, pos + 2, end))
    t.add(OPT_OHC, pos + 4, 2, _u16(buf, pos + 4, end))
    t.add(OPT_RHC, pos + 6, 2, _u16(buf, pos + 6, end))
    t.add(OPT_ORIGINATOR, pos + 8, 4, _ip(buf, pos + 8, end))


def _opt_router_alert(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                      ttl: int) -> None:
    t = _fixed_header(opts, pkt, OPT_ROUTERALERT, pos, olen, 4, "Router Alert")
    value = _u16(buf, pos + 2, end)
    text = f"{RA_VALUES.get(value, 'Reserved')} ({value})"
    t.add(OPT_RA, pos + 2, 2, value, f"Router Alert: {text}")
    t.append_label(f": {text}")


def _opt_sdb(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
             ttl: int) -> None:
    """RFC 1770 selective directed broadcast: a list of addresses."""
    t = _var_header(opts, OPT_SDB, pos, olen)
    cur, left = pos + 2, olen - 2
    while left >= 4:
        t.add(OPT_ADDR, cur, 4, _ip(buf, cur, end))
        cur += 4
        left -= 4
    if left > 0:
        buf.need_within(cur, left, end)
        t.add(OPT_PADDING, cur, left, bytes(buf.data[cur:cur + left]))


def _opt_quick_start(buf: Buf, pos: int, olen: int, end: int, opts: Tree, pkt: Packet,
                     ttl: int) -> None:
    """RFC 4782 Quick-Start: a rate request or report."""
    cmd = _u8(buf, pos + 2, end)
    func, rate = cmd >> 4, cmd & 0x0F
    t = _fixed_header(opts, pkt, OPT_QS, pos, olen, 8, "Quick-Start")
    t.append_label(f": {QS_FUNCS.get(func, 'Unknown')} ({func})")
    t.add_bits(OPT_QS_FUNC, pos + 2, 1, cmd)
    if func not in QS_FUNCS:
        return
    t.add_bits(OPT_QS_RATE, pos + 2, 1, cmd)
    rate_s = QS_RATES[rate]
    qs_ttl = _u8(buf, pos + 3, end)
    if func == 0:
        t.add(OPT_QS_TTL, pos + 3, 1, qs_ttl)
        diff = (ttl - qs_ttl) % 256
        t.add(OPT_QS_TTL_DIFF, pos + 3, 1, diff, generated=True)
        t.append_label(f", {rate_s}, QS TTL {qs_ttl}, QS TTL diff {diff}")
    else:
        t.append_label(f", {rate_s}")
        t.add(OPT_QS_UNUSED, pos + 3, 1, qs_ttl)
    buf.need_within(pos + 4, 4, end)
    word = int.from_bytes(buf.data[pos + 4:pos + 8], "big")
    t.add(OPT_QS_NONCE, pos + 4, 4, word >> 2,
          f"{bit_picture(word, 0xFFFFFFFC, 32)} = QS Nonce: 0x{word >> 2:08x}")
    t.add(OPT_QS_RESERVED, pos + 4, 4, word & 3,
          f"{bit_picture(word, 0x3, 32)} = Reserved: 0x{word & 3:x}")


# option type -> (short name for Options summary and experts, dissector)
_OPTIONS = {
    0x82: ("Security", _opt_security), 0x83: ("Loose Source Route", _opt_source_route),
    0x44: ("Time Stamp", _opt_timestamp), 0x85: ("Extended Security", _opt_ext_security),
    0x86: ("Commercial Security", _opt_cipso), 0x07: ("Record Route", _opt_record_route),
    0x88: ("Stream ID", _opt_sid), 0x89: ("Strict Source Route", _opt_source_route),
    0x0B: ("MTU Probe", _opt_mtu), 0x0C: ("MTU Reply", _opt_mtu),
    0x52: ("Traceroute", _opt_traceroute), 0x94: ("Router Alert", _opt_router_alert),
    0x95: ("Selective Directed Broadcast", _opt_sdb), 0x19: ("Quick-Start", _opt_quick_start),
}
_TYPE_OF = {
    OPT_SECURITY.abbrev: 0x82, OPT_LSR.abbrev: 0x83, OPT_TIMESTAMP.abbrev: 0x44,
    OPT_EXT_SECURITY.abbrev: 0x85, OPT_CIPSO.abbrev: 0x86, OPT_RR.abbrev: 0x07,
    OPT_SID_P.abbrev: 0x88, OPT_SSR.abbrev: 0x89, OPT_MTU_PROBE.abbrev: 0x0B,
    OPT_MTU_REPLY.abbrev: 0x0C, OPT_TRACEROUTE.abbrev: 0x52, OPT_ROUTERALERT.abbrev: 0x94,
    OPT_SDB.abbrev: 0x95, OPT_QS.abbrev: 0x19,
}


# ---------------------------------------------------------------------------------------
# Payload, fragments and reassembly
# ---------------------------------------------------------------------------------------

def _payload(buf: Buf, off: int, hlen: int, ip_len: int, end: int, tree: Tree, t: Tree,
             pkt: Packet, proto: int, ident: int, frag: int, src: bytes, dst: bytes) -> None:
    """Hand the payload on: whole datagrams and first fragments to the protocol, later
    fragments to data, and the fragment that completes a datagram its reassembled bytes."""
    start = off + hlen
    units = frag & OFFSET_MASK
    more = bool(frag & MF_BIT)
    if (units or more) and ip_len > hlen and off + ip_len <= min(end, len(buf.data)) \
            and not pkt.in_error:
        key = (src, dst, ident, proto)
        rs = pkt.state.slot("ip.reassembly", Reassembler)
        if pkt.visited:
            dg = rs.completed(pkt.number, key)
        else:
            dg = rs.add(key, pkt.number, pkt.ts_ns, units * 8, bytes(buf.data[start:off + ip_len]),
                        more)
        if dg is not None:
            src_idx = pkt.add_source("Reassembled IPv4", dg.data)
            show_info = fragment_tree(t.for_source(src_idx), dg, FRAGMENTS, FRAGMENT,
                                      FRAGMENT_ERROR, _IPV4_FRAGMENT_ITEMS)
            if not show_info:
                pkt.set_info("[Illegal IPv4 fragments]")
            dispatch(Buf(dg.data), 0, len(dg.data), tree.for_source(src_idx), pkt, proto,
                     show_info)
            return
        _fragment(buf, start, end, tree, t, pkt, proto, ident, units,
                  rs.reassembled_in(pkt.number) if pkt.visited else 0, key, rs)
        return
    if units:
        _fragment(buf, start, end, tree, t, pkt, proto, ident, units, 0, None, None)
        return
    if end - start > 0:
        dispatch(buf, start, end, tree, pkt, proto, True)


def _fragment(buf: Buf, start: int, end: int, tree: Tree, t: Tree, pkt: Packet, proto: int,
              ident: int, units: int, rin: int, key, rs: Reassembler | None) -> None:
    """A fragment shown as such; on re-dissection, where its datagram was reassembled."""
    pkt.set_info(f"Fragmented IP protocol (proto={ipprotostr(proto)} {proto}, off={units * 8}, "
                 f"ID={ident:04x})")
    if rin and rs is not None and rs.completed(rin, key) is not None:
        t.add(REASSEMBLED_IN, start, 0, rin, generated=True)
        pkt.append_info(f"[Reassembled in #{rin}]")
    dissect_data(buf, start, end, tree, pkt)


def dispatch(buf: Buf, start: int, end: int, tree: Tree, pkt: Packet, proto: int,
             show_info: bool) -> None:
    """The IP protocol table lookup, with tshark's Info for protocols nobody claims."""
    fn = IP_PROTO.get(proto)
    if fn is not None:
        fn(buf, start, end, tree, pkt)
        return
    if show_info:
        pkt.set_info(f"{ipprotostr(proto)} ({proto})")
    dissect_data(buf, start, end, tree, pkt)


# The per-fragment flag fields, in the order the fragment list shows them.
_IPV4_FRAGMENT_ITEMS = ((OVERLAP, FRAGMENT_OVERLAP), (CONFLICT, FRAGMENT_CONFLICT),
                        (MULTIPLE_TAILS, FRAGMENT_MULTITAILS), (TOO_LONG, FRAGMENT_TOOLONG),
                        FRAGMENT_COUNT, REASSEMBLED_LENGTH, REASSEMBLED_DATA)


def fragment_tree(t: Tree, dg: Datagram, fragments_spec, fragment_spec, error_spec,
                  items: tuple) -> bool:
    """The list of fragments a datagram was built from (tshark's show_fragment_tree).

    `t` points into the reassembled data source. Returns False when the fragments were
    illegal (the Info column then says so instead of naming the payload).
    """
    if t:
        *flag_fields, count_spec, length_spec, data_spec = items
        frags = dg.fragments
        n = len(frags)
        size = len(dg.data)
        name = fragment_spec.name if n == 1 else fragments_spec.name
        parts = ", ".join(f"#{f.frame}({f.length})" for f in frags)
        value = dg.data if fragments_spec.ftype == FT.BYTES else None
        ft = t.add(fragments_spec, 0, size, value, f"{n} {name} ({size} byte{_s(size)}): {parts}",
                   generated=True)
        for f in frags:
            spec = error_spec if f.flags & ERRORS else fragment_spec
            text = (f"Frame: {f.frame}, payload: {f.offset}-{f.offset + f.length - 1} "
                    f"({f.length} byte{_s(f.length)})" if f.length
                    else f"Frame: {f.frame} (no data)")
            fn = ft.add(spec, f.offset, min(f.length, max(0, size - f.offset)), f.frame, text,
                        generated=True)
            for bit, flag_spec in flag_fields:
                if f.flags & bit:
                    fn.add(flag_spec, 0, 0, True, f"{flag_spec.name}: True", generated=True)
        ft.add(count_spec, 0, 0, n, generated=True)
        ft.add(length_spec, 0, 0, size, generated=True)
        ft.add(data_spec, 0, size, dg.data, generated=True)
    return not dg.flags & ERRORS


def dissect_ip_any(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """An IP datagram of either version, told apart by its first nibble (IP in IP, raw IP)."""
    buf.need_within(off, 1, end)
    version = buf.data[off] >> 4
    if version == 4:
        return dissect_ip(buf, off, end, tree, pkt)
    ipv6 = ETHERTYPE.get(0x86DD) if version == 6 else None
    if ipv6 is not None:
        return ipv6(buf, off, end, tree, pkt)
    pkt.enter("ip")
    pkt.set_protocol("IP")
    pkt.set_info(f"Bogus IP version ({version})")
    t = tree.add(PROTO, off, 1, label=f"Internet Protocol, bogus version ({version})")
    note(t.add_bits(VERSION, off, 1, buf.data[off]), pkt, BOGUS_VERSION)
    return None


ETHERTYPE.register(0x0800, dissect_ip)
IP_PROTO.register(4, dissect_ip_any)   # IP in IP (RFC 2003)
