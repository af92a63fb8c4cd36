"""IPv6 (RFC 8200): the fixed header, the extension-header chain, fragment reassembly, and
IPsec's AH and ESP (RFC 4302, 4303) shown minimally as they sit in the same chain.

Wire format: version/traffic class/flow label (4), payload length (2), next header (1),
hop limit (1), source (16), destination (16), then extension headers (hop-by-hop and
destination options, routing, fragment, AH) each naming the next, then the payload.

Extension headers are subtrees of the IPv6 layer and layers of their own in
frame.protocols (`ipv6:ipv6.hopopts:...`), as in tshark 4.0. Option data is read up to the
payload's end, not the header's, exactly like tshark (an option that spills over its
header shows the bytes that follow). A routing header with segments left makes the last
segment the destination column, like tshark's.
"""
from __future__ import annotations

from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE, IP_PROTO
from .fields import FT, Base, Severity, expert, field, ipv6_str, protocol
from .ipv4 import (
    DSCP_NAMES,
    ECN_NAMES,
    IP_PROTO_NAMES,
    bit_picture,
    clear_info,
    ds_summary,
    fragment_tree,
    ipprotostr,
    note,
)
from .ipv4 import VERSION as IP_VERSION
from .packet import Packet
from .reassembly import CONFLICT, MULTIPLE_TAILS, OVERLAP, TOO_LONG, Reassembler
from .tree import Tree

PROTO = protocol("ipv6", "Internet Protocol Version 6",
                 explain="The IPv6 header: sender, receiver, hop limit and the chain of "
                         "extension headers in front of the payload.")
VERSION = field("ipv6.version", "Version", FT.UINT8, bitmask=0xF0)
TCLASS = field("ipv6.tclass", "Traffic Class", FT.UINT32, Base.HEX, bitmask=0x0FF00000,
               blurb="DSCP (6 bits) and ECN (2 bits), as in IPv4's DS field")
DSCP = field("ipv6.tclass.dscp", "Differentiated Services Codepoint", FT.UINT32,
             bitmask=0x0FC00000, strings=DSCP_NAMES,
             explain="The priority class the sender asked for (EF for voice, CS0 best effort); "
                     "networks may rewrite or ignore it at their edge.")
ECN = field("ipv6.tclass.ecn", "Explicit Congestion Notification", FT.UINT32,
            bitmask=0x00300000, strings=ECN_NAMES,
            explain="CE (3) means a congested router marked this packet instead of dropping "
                    "it; the sender will slow down as if a packet were lost.")
FLOW = field("ipv6.flow", "Flow Label", FT.UINT24, Base.HEX, bitmask=0x0FFFFF,
             blurb="Label the sender puts on all packets of one flow",
             explain="Load balancers and ECMP routers may hash on it. A label that changes "
                     "within one TCP connection (Linux does so after a timeout, to route "
                     "around a failed path) can move the flow to another path or backend.")
PLEN = field("ipv6.plen", "Payload Length", FT.UINT16,
             blurb="Bytes after the fixed 40-byte header, extension headers included",
             explain="0 with a hop-by-hop Jumbo option is a jumbogram; 0 otherwise usually "
                     "means TCP segmentation offload on the capturing host.")
NXT = field("ipv6.nxt", "Next Header", FT.UINT8, strings=IP_PROTO_NAMES,
            blurb="What follows the header: an extension header or the payload protocol")
HLIM = field("ipv6.hlim", "Hop Limit", FT.UINT8, blurb="Hops the packet may still take",
             explain="IPv6's TTL: every router subtracts one and drops the packet at 0. Hosts "
                     "start at 64 or 128 and neighbour discovery uses 255, so the value hints "
                     "at the distance to the sender; a falling value for one flow suggests a "
                     "routing loop.")
SRC = field("ipv6.src", "Source Address", FT.IPv6, blurb="Source IPv6 Address")
DST = field("ipv6.dst", "Destination Address", FT.IPv6, blurb="Destination IPv6 Address")
ADDR = field("ipv6.addr", "Source or Destination Address", FT.IPv6)
SRC_HOST = field("ipv6.src_host", "Source Host", FT.STRING, blurb="Source IPv6 Host")
DST_HOST = field("ipv6.dst_host", "Destination Host", FT.STRING, blurb="Destination IPv6 Host")
HOST = field("ipv6.host", "Source or Destination Host", FT.STRING)


def _pair(name: str, label: str, ftype: FT) -> tuple:
    """Source-, destination- and either-side versions of an address-derived field."""
    return (field(f"ipv6.src_{name}", f"Source {label}", ftype),
            field(f"ipv6.dst_{name}", f"Destination {label}", ftype),
            field(f"ipv6.{name}", label, ftype))


SIXTOFOUR_GW = _pair("6to4_gw_ipv4", "6to4 Gateway IPv4", FT.IPv4)
SIXTOFOUR_SLA = _pair("6to4_sla_id", "6to4 SLA ID", FT.UINT16)
TEREDO_SERVER = _pair("ts_ipv4", "Teredo Server IPv4", FT.IPv4)
TEREDO_PORT = _pair("tc_port", "Teredo Port", FT.UINT16)
TEREDO_CLIENT = _pair("tc_ipv4", "Teredo Client IPv4", FT.IPv4)
SLAAC_MAC = _pair("slaac_mac", "SLAAC MAC", FT.ETHER)
ISATAP = _pair("isatap_ipv4", "ISATAP IPv4", FT.IPv4)
EMBED = _pair("embed_ipv4", "Embedded IPv4", FT.IPv4)
EMBED_PREFIX = field("ipv6.embed_ipv4_prefix", "Embedded IPv4 Prefix", FT.BYTES,
                     blurb="IPv4-Embedded IPv6 Address Prefix (NAT64, RFC 6052)")

# -- extension headers ---------------------------------------------------------------------
HOPOPTS = protocol("ipv6.hopopts", "IPv6 Hop-by-Hop Option",
                   explain="Options every router on the path must examine. Many routers drop "
                           "or rate-limit packets that carry them.")
HOPOPTS_NXT = field("ipv6.hopopts.nxt", "Next Header", FT.UINT8, strings=IP_PROTO_NAMES)
HOPOPTS_LEN = field("ipv6.hopopts.len", "Length", FT.UINT8,
                    blurb="Extension header length in 8-octet words (minus 1)")
HOPOPTS_LEN_OCT = field("ipv6.hopopts.len_oct", "Length", FT.UINT16,
                        blurb="Extension header length in octets")
DSTOPTS = protocol("ipv6.dstopts", "Destination Options for IPv6",
                   explain="Options for the destination (or, before a routing header, for "
                           "each listed hop).")
DSTOPTS_NXT = field("ipv6.dstopts.nxt", "Next Header", FT.UINT8, strings=IP_PROTO_NAMES)
DSTOPTS_LEN = field("ipv6.dstopts.len", "Length", FT.UINT8,
                    blurb="Extension header length in 8-octet words (minus 1)")
DSTOPTS_LEN_OCT = field("ipv6.dstopts.len_oct", "Length", FT.UINT16,
                        blurb="Extension header length in octets")

OPT_NAMES = {
    0x00: "Pad1", 0x01: "PadN", 0x04: "Tunnel Encapsulation Limit", 0x05: "Router Alert",
    0x07: "CALIPSO", 0x08: "SMF_DPD", 0x0F: "Performance and Diagnostic Metrics",
    0x26: "Quick-Start", 0x30: "Path MTU Option", 0x31: "IOAM Option",
    0x41: "Tunnel Payload Forwarding (TPF) Information", 0x63: "RPL Option", 0x6D: "MPL Option",
    0x8A: "Endpoint Identification", 0x8B: "ILNP Nonce", 0x8C: "Line-Identification Option",
    0xC2: "Jumbo Payload", 0xC9: "Home Address", 0xEE: "IP_DFF",
}
OPT_NAMES.update({t: f"Experimental (0x{t:02X})" for t in range(0x1E, 0x100, 0x20)})
OPT_ACTIONS = {0: "Skip and continue", 1: "Discard", 2: "Discard and send ICMP Parameter Problem",
               3: "Discard and send ICMP if not multicast"}
RTALERT_VALUES = {0: "MLD", 1: "RSVP", 2: "Active Network"}
OPT = field("ipv6.opt", "IPv6 Option", FT.NONE, blurb="Option")
OPT_TYPE = field("ipv6.opt.type", "Type", FT.UINT8, Base.HEX, blurb="Option type")
OPT_ACTION = field("ipv6.opt.type.action", "Action", FT.UINT8, bitmask=0xC0,
                   strings=OPT_ACTIONS, blurb="Action for unrecognized option type",
                   explain="What a node that does not know the option must do: skip it, or "
                           "drop the packet (and maybe answer with ICMP).")
OPT_CHANGE = field("ipv6.opt.type.change", "May Change", FT.BOOLEAN, bitmask=0x20,
                   tfs=("Yes", "No"), blurb="Whether the option data may change en-route")
OPT_REST = field("ipv6.opt.type.rest", "Low-Order Bits", FT.UINT8, Base.HEX, bitmask=0x1F,
                 blurb="Remaining low-order bits")
OPT_LENGTH = field("ipv6.opt.length", "Length", FT.UINT8, blurb="Option length in octets")
OPT_PAD1 = field("ipv6.opt.pad1", "Pad1", FT.NONE, blurb="Pad1 Option")
OPT_PADN = field("ipv6.opt.padn", "PadN", FT.BYTES, blurb="PadN Option")
OPT_JUMBO = field("ipv6.opt.jumbo", "Payload Length", FT.UINT32,
                  blurb="IPv6 (Jumbo) Payload Length")
OPT_RTALERT = field("ipv6.opt.router_alert", "Router Alert", FT.UINT16, strings=RTALERT_VALUES,
                    blurb="Router Alert Option",
                    explain="Asks every router to look at the packet (MLD, RSVP): it takes the "
                            "routers' slow path.")
OPT_TEL = field("ipv6.opt.tel", "Tunnel Encapsulation Limit", FT.UINT8,
                blurb="How many further levels of encapsulation are permitted")
OPT_PMTU_MIN = field("ipv6.opt.pmtu.min", "Minimum Reported PMTU", FT.UINT16,
                     blurb="The minimum reported PMTU in octets")
OPT_PMTU_RTN = field("ipv6.opt.pmtu.rtn", "Return Minimum PMTU", FT.UINT16,
                     blurb="The Return Min-PMTU in octets")
OPT_PMTU_FLAG = field("ipv6.opt.pmtu.r_flag", "Return Flag", FT.BOOLEAN, tfs=("True", "False"),
                      blurb="Destination should include the received reported PMTU")
OPT_HOME = field("ipv6.opt.mipv6.home_address", "MIPv6 Home Address", FT.IPv6)
OPT_TPF = field("ipv6.opt.tpf_information", "TPF Information", FT.UINT32, Base.HEX,
                blurb="Tunnel Payload Forwarding Information")
OPT_ILNP_NONCE = field("ipv6.opt.ilnp_nonce", "ILNP Nonce", FT.BYTES)
OPT_RPL_FLAG = field("ipv6.opt.rpl.flag", "Flag", FT.UINT8, Base.HEX)
OPT_RPL_FLAGS = [
    field("ipv6.opt.rpl.flag.o", "Down", FT.BOOLEAN, bitmask=0x80, tfs=("True", "False"),
          blurb="The packet is expected to progress Up or Down"),
    field("ipv6.opt.rpl.flag.r", "Rank Error", FT.BOOLEAN, bitmask=0x40, tfs=("True", "False"),
          blurb="Whether a rank error was detected"),
    field("ipv6.opt.rpl.flag.f", "Forwarding Error", FT.BOOLEAN, bitmask=0x20,
          tfs=("True", "False"),
          blurb="Set if the node cannot forward the packet further towards the destination"),
]
OPT_RPL_RSV = field("ipv6.opt.rpl.flag.rsv", "Reserved", FT.UINT8, Base.HEX, bitmask=0x1F,
                    blurb="Reserved (must be zero)")
OPT_RPL_INSTANCE = field("ipv6.opt.rpl.instance_id", "RPLInstanceID", FT.UINT8, Base.HEX,
                         blurb="The DODAG instance along which the packet is sent")
OPT_RPL_RANK = field("ipv6.opt.rpl.sender_rank", "Sender Rank", FT.UINT16, Base.HEX)
OPT_EXPERIMENTAL = field("ipv6.opt.experimental", "Experimental Option", FT.BYTES)
OPT_UNKNOWN = field("ipv6.opt.unknown", "Unknown Option Payload", FT.BYTES)
OPT_UNKNOWN_DATA = field("ipv6.opt_unknown_data", "Unknown Data", FT.BYTES,
                         blurb="Not interpreted data")

ROUTING = protocol("ipv6.routing", "Routing Header for IPv6",
                   explain="The sender lists hops to visit (segment routing, Mobile IPv6). "
                           "The destination column shows the final hop, like tshark.")
ROUTING_TYPES = {0: "Source Route", 1: "Nimrod", 2: "Type 2 Routing", 3: "RPL Source Route",
                 4: "Segment Routing", 5: "Compact Routing Header 16",
                 6: "Compact Routing Header 32", 253: "Experiment 1", 254: "Experiment 2"}
ROUTING_NXT = field("ipv6.routing.nxt", "Next Header", FT.UINT8, strings=IP_PROTO_NAMES)
ROUTING_LEN = field("ipv6.routing.len", "Length", FT.UINT8,
                    blurb="Extension header length in 8-octet words (minus 1)")
ROUTING_LEN_OCT = field("ipv6.routing.len_oct", "Length", FT.UINT16,
                        blurb="Extension header length in octets")
ROUTING_TYPE = field("ipv6.routing.type", "Type", FT.UINT8, strings=ROUTING_TYPES,
                     blurb="Routing Header Type")
ROUTING_SEGLEFT = field("ipv6.routing.segleft", "Segments Left", FT.UINT8,
                        blurb="Routing Header Segments Left")
ROUTING_UNKNOWN = field("ipv6.routing.unknown_data", "Type-Specific Data", FT.BYTES,
                        blurb="Unknown routing header type-specific data")
RT0_RESERVED = field("ipv6.routing.src.reserved", "Reserved", FT.BYTES, blurb="Must be zero")
RT0_ADDR = field("ipv6.routing.src.addr", "Address", FT.IPv6,
                 blurb="Source Routing Header Address")
RT2_RESERVED = field("ipv6.routing.mipv6.reserved", "Reserved", FT.BYTES)
RT2_HOME = field("ipv6.routing.mipv6.home_address", "Home Address", FT.IPv6)
SRH_LAST = field("ipv6.routing.srh.last_entry", "Last Entry", FT.UINT8,
                 blurb="Index (zero based) of the last element of the Segment List")
SRH_FLAGS = field("ipv6.routing.srh.flags", "Flags", FT.UINT8, Base.HEX,
                  blurb="Unused, 8 bits of flags")
SRH_TAG = field("ipv6.routing.srh.tag", "Tag", FT.BYTES,
                blurb="Tag a packet as part of a class or group of packets")
SRH_ADDR = field("ipv6.routing.srh.addr", "Address", FT.IPv6, blurb="Segment address")

FRAGHDR = protocol("ipv6.fraghdr", "Fragment Header for IPv6",
                   explain="Only the sender fragments in IPv6; routers send ICMPv6 'packet too "
                           "big' instead. Fragments are often dropped by firewalls, a common "
                           "cause of large DNS answers getting lost.")
FRAG_NXT = field("ipv6.fraghdr.nxt", "Next header", FT.UINT8, strings=IP_PROTO_NAMES)
FRAG_RESERVED_OCTET = field("ipv6.fraghdr.reserved_octet", "Reserved octet", FT.UINT8, Base.HEX,
                            blurb="Should always be 0")
FRAG_OFFSET = field("ipv6.fraghdr.offset", "Offset", FT.UINT16, bitmask=0xFFF8,
                    blurb="Fragment Offset (8-octet units)")
FRAG_RESERVED_BITS = field("ipv6.fraghdr.reserved_bits", "Reserved bits", FT.UINT16,
                           bitmask=0x0006)
FRAG_MORE = field("ipv6.fraghdr.more", "More Fragments", FT.BOOLEAN, bitmask=0x0001,
                  tfs=("Yes", "No"))
FRAG_IDENT = field("ipv6.fraghdr.ident", "Identification", FT.UINT32, Base.HEX,
                   blurb="Fragment Identification")

_TRUE_FALSE = ("True", "False")
FRAGMENTS = field("ipv6.fragments", "IPv6 Fragments", FT.NONE,
                  explain="The packet arrived in pieces and this frame completed it; the "
                          "protocols below are dissected from the reassembled bytes.")
FRAGMENT = field("ipv6.fragment", "IPv6 Fragment", FT.FRAMENUM)
FRAGMENT_OVERLAP = field("ipv6.fragment.overlap", "Fragment overlap", FT.BOOLEAN,
                         tfs=_TRUE_FALSE, blurb="Fragment overlaps with other fragments")
FRAGMENT_CONFLICT = field("ipv6.fragment.overlap.conflict",
                          "Conflicting data in fragment overlap", FT.BOOLEAN, tfs=_TRUE_FALSE,
                          blurb="Overlapping fragments contained conflicting data")
FRAGMENT_MULTITAILS = field("ipv6.fragment.multipletails", "Multiple tail fragments found",
                            FT.BOOLEAN, tfs=_TRUE_FALSE,
                            blurb="Several tails were found when defragmenting the packet")
FRAGMENT_TOOLONG = field("ipv6.fragment.toolongfragment", "Fragment too long", FT.BOOLEAN,
                         tfs=_TRUE_FALSE, blurb="Fragment contained data past end of packet")
FRAGMENT_ERROR = field("ipv6.fragment.error", "Defragmentation error", FT.FRAMENUM,
                       blurb="Defragmentation error due to illegal fragments")
FRAGMENT_COUNT = field("ipv6.fragment.count", "Fragment count", FT.UINT32)
REASSEMBLED_IN = field("ipv6.reassembled.in", "Reassembled IPv6 in frame", FT.FRAMENUM,
                       blurb="This IPv6 packet is reassembled in this frame")
REASSEMBLED_LENGTH = field("ipv6.reassembled.length", "Reassembled IPv6 length", FT.UINT32,
                           blurb="The total length of the reassembled payload")
REASSEMBLED_DATA = field("ipv6.reassembled.data", "Reassembled IPv6 data", FT.BYTES,
                         blurb="The reassembled payload")
_FRAGMENT_ITEMS = ((OVERLAP, FRAGMENT_OVERLAP), (CONFLICT, FRAGMENT_CONFLICT),
                   (MULTIPLE_TAILS, FRAGMENT_MULTITAILS), (TOO_LONG, FRAGMENT_TOOLONG),
                   FRAGMENT_COUNT, REASSEMBLED_LENGTH, REASSEMBLED_DATA)

AH = protocol("ah", "Authentication Header",
              explain="IPsec integrity protection: the payload is readable but signed.")
AH_NXT = field("ah.next_header", "Next header", FT.UINT8, strings=IP_PROTO_NAMES)
AH_LEN = field("ah.length", "Length", FT.UINT8)
AH_RESERVED = field("ah.reserved", "Reserved", FT.BYTES)
AH_SPI = field("ah.spi", "AH SPI", FT.UINT32, Base.HEX,
               blurb="IP Authentication Header Security Parameters Index")
AH_SEQUENCE = field("ah.sequence", "AH Sequence", FT.UINT32,
                    blurb="IP Authentication Header Sequence Number")
AH_ICV = field("ah.icv", "AH ICV", FT.BYTES,
               blurb="IP Authentication Header Integrity Check Value")
ESP = protocol("esp", "Encapsulating Security Payload",
               explain="IPsec encryption: nothing past the sequence number can be read without "
                       "the keys.")
ESP_SPI = field("esp.spi", "ESP SPI", FT.UINT32, Base.HEX_DEC,
                blurb="IP Encapsulating Security Payload Security Parameters Index")
ESP_SEQUENCE = field("esp.sequence", "ESP Sequence", FT.UINT32,
                     blurb="IP Encapsulating Security Payload Sequence Number")

BOGUS_VERSION = expert("ipv6.bogus_ipv6_version", "malformed", Severity.ERROR, "Bogus IP version")
INVALID_HEADER = expert("ipv6.invalid_header", "malformed", Severity.ERROR,
                        "Invalid IPv6 header")
PLEN_EXCEEDS = expert("ipv6.plen_exceeds_framing", "protocol", Severity.WARN,
                      "IPv6 payload length does not match expected framing length",
                      explain="The header announces more payload than arrived: the capture or "
                              "a lower layer cut the packet.")
PLEN_ZERO = expert("ipv6.plen_zero", "protocol", Severity.CHAT,
                   "IPv6 payload length equals 0 (maybe because of \"TCP segmentation offload\" "
                   "(TSO))",
                   explain="Captured on the sending host before the NIC split a large segment: "
                           "normal with segmentation offload.")
JUMBO_MISSING = expert("ipv6.opt.jumbo.missing", "malformed", Severity.ERROR,
                       "IPv6 payload length equals 0 and Hop-By-Hop present and Jumbo Payload "
                       "option missing")
JUMBO_PROHIBITED = expert("ipv6.opt.jumbo.prohibited", "protocol", Severity.WARN,
                          "When IPv6 payload length does not equal 0 a Jumbo Payload option "
                          "must not be present")
JUMBO_TRUNCATED = expert("ipv6.opt.jumbo.truncated", "protocol", Severity.WARN,
                         "Jumbo Payload option present and jumbo length < 65536")
JUMBO_FRAGMENT = expert("ipv6.opt.jumbo.fragment", "protocol", Severity.WARN,
                        "Jumbo Payload option cannot be used with a fragment header")
OPT_INVALID_LEN = expert("ipv6.opt.invalid_len", "malformed", Severity.ERROR,
                         "Invalid IPv6 option length")
OPT_UNKNOWN_EXPERT = expert("ipv6.opt.unknown_data.expert", "undecoded", Severity.NOTE,
                            "Unknown Data (not interpreted)")
OPT_MISMATCH = expert("ipv6.opt.header_mismatch", "protocol", Severity.WARN,
                      "Wrong options extension header for type")
OPT_DEPRECATED = expert("ipv6.opt.deprecated", "deprecated", Severity.NOTE,
                        "Option type is deprecated")
HOPOPTS_NOT_FIRST = expert("ipv6.hopopts.not_first", "protocol", Severity.ERROR,
                           "IPv6 Hop-by-Hop extension header must appear immediately after "
                           "IPv6 header",
                           explain="RFC 8200 allows hop-by-hop options only right after the "
                                   "fixed header; routers drop packets that break the rule.")
ROUTING_DEPRECATED = expert("ipv6.routing.deprecated", "deprecated", Severity.NOTE,
                            "Routing header type is deprecated",
                            explain="Type 0 routing headers were deprecated (RFC 5095) because "
                                    "they enable traffic amplification; hosts and routers "
                                    "drop them.")
ROUTING_INVALID_LEN = expert("ipv6.routing.invalid_length", "malformed", Severity.ERROR,
                             "Invalid IPv6 Routing header length")
ROUTING_INVALID_SEGLEFT = expert("ipv6.routing.invalid_segleft", "protocol", Severity.WARN,
                                 "IPv6 Routing Header segments left field must not exceed "
                                 "address count")
ROUTING_UNDECODED = expert("ipv6.routing.undecoded", "undecoded", Severity.NOTE,
                           "Undecoded IPv6 routing header field")
ROUTE_MULTICAST = expert("ipv6.src_route_list.multicast_addr", "protocol", Severity.WARN,
                         "Multicast addresses must not appear in the source route list")

NO_NEXT_HEADER = 59
# Options valid only in one kind of header (RFC 8200 and option RFCs): type -> header kind.
_HBH_ONLY = {0x05, 0xC2, 0x30, 0x26, 0x63, 0x31, 0x07, 0x08, 0x6D, 0xEE}
_DST_ONLY = {0x04, 0xC9, 0x0F, 0x8B, 0x8C, 0x41}


class _Ctx:
    """What the fixed header tells the extension headers (Wireshark's ipv6_pinfo)."""

    __slots__ = (
        "cap",
        "dst",
        "first",
        "frag_plen",
        "hlim",
        "in_frame",
        "jumbo",
        "layer",
        "node",
        "plen",
        "size",
        "src",
    )

    def __init__(self, layer: Tree, plen: int, jumbo: int, hlim: int, src: bytes, dst: bytes,
                 cap: int) -> None:
        self.layer = layer          # the IPv6 layer node (its size grows with each header)
        self.node = layer           # where extension headers nest (a view after reassembly)
        self.plen = plen            # payload length from the header (0 for a jumbogram)
        self.jumbo = jumbo
        self.frag_plen = plen       # bytes after the headers seen so far
        self.hlim = hlim
        self.src = src
        self.dst = dst              # final destination (a routing header may change it)
        self.first = True           # nothing but the fixed header came before
        self.size = 40              # the layer's size: header plus extension headers
        self.cap = cap              # captured bytes from the header on
        self.in_frame = True        # still in the frame's bytes (not a reassembled buffer)

    def consume(self, n: int) -> None:
        """An extension header of n bytes: fewer payload bytes left, a longer IPv6 layer."""
        self.frag_plen -= n
        self.first = False
        if self.in_frame:
            self.size += n


def dissect_ipv6(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """IPv6 header, extension headers, then the payload. Returns 40 + payload length when
    that fits in the frame, so Ethernet can show a trailer."""
    pkt.enter("ipv6")
    pkt.set_protocol("IPv6")
    clear_info(pkt)
    data = buf.data
    t = tree.add(PROTO, off, max(0, min(40, len(data) - off)), label=PROTO.name)
    buf.need_within(off, 1, end)
    b0 = data[off]
    vnode = t.add_bits(VERSION, off, 1, b0)
    if t:
        hidden = t.add_bits(IP_VERSION, off, 1, b0)
        hidden.hidden = True
        hidden.label += " [This field makes the filter match on \"ip.version == 6\" possible]"
    if b0 >> 4 != 6:
        pkt.set_info(f"Bogus IPv6 version ({b0 >> 4}, must be 6)")
        note(vnode, pkt, BOGUS_VERSION, "Bogus IPv6 version")
        return None
    reported = end - off
    if reported < 40:
        pkt.set_info(f"Invalid IPv6 header ({reported} bytes, need exactly 40)")
        note(t, pkt, INVALID_HEADER, "IPv6 header must be exactly 40 bytes")
    buf.need_within(off, 4, end)
    word = int.from_bytes(data[off:off + 4], "big")
    if t:
        tc = (word >> 20) & 0xFF
        n = t.add(TCLASS, off, 4, tc, f"{bit_picture(word, 0x0FF00000, 32)} = Traffic Class: "
                                      f"0x{tc:02x} ({ds_summary(tc)})")
        n.add_bits(DSCP, off, 4, word)
        n.add_bits(ECN, off, 4, word)
        flow = word & 0xFFFFF
        t.add(FLOW, off + 1, 3, flow,
              f"{bit_picture(word & 0xFFFFFF, 0x0FFFFF, 24)} = Flow Label: 0x{flow:05x}")
    buf.need_within(off + 4, 2, end)
    plen = int.from_bytes(data[off + 4:off + 6], "big")
    buf.need_within(off + 6, 1, end)
    nxt = data[off + 6]
    plen_node = t.add(PLEN, off + 4, 2, plen)
    if plen == 0 and nxt not in (0, NO_NEXT_HEADER):
        note(plen_node, pkt, PLEN_ZERO)
    t.add(NXT, off + 6, 1, nxt)
    buf.need_within(off + 7, 1, end)
    hlim = data[off + 7]
    t.add(HLIM, off + 7, 1, hlim)
    buf.need_within(off + 8, 16, end)
    src = bytes(data[off + 8:off + 24])
    # Set even inside an ICMP error's quote (see ipv4.py); ICMP restores them afterwards.
    pkt.net_src, pkt.net_ver, pkt.ttl = src, 6, hlim
    if t:
        _address(t, SRC, SRC_HOST, off + 8, src)
    buf.need_within(off + 24, 16, end)
    dst = bytes(data[off + 24:off + 40])
    pkt.net_dst = dst
    if t:
        _address(t, DST, DST_HOST, off + 24, dst)
        t.append_label(f", Src: {ipv6_str(src)}, Dst: {ipv6_str(dst)}")
        _derived_addresses(t, off, src, dst)
    pos = off + 40
    jumbo = 0
    if plen == 0 and nxt == 0:
        jumbo = _jumbo_length(buf.data, pos, min(end, len(data)))
        if jumbo:
            if plen_node:
                plen_node.label = f"Payload Length: {plen} (Jumbogram)"
        else:
            pkt.set_info("Invalid IPv6 payload length")
            note(plen_node, pkt, JUMBO_MISSING)
    length = jumbo or plen
    if length > reported - 40 >= 0 and not pkt.in_error:
        note(plen_node, pkt, PLEN_EXCEEDS,
             f"IPv6 payload length exceeds framing length ({reported - 40} bytes)")
    elif length <= reported - 40:
        end = pos + length
    ctx = _Ctx(t, plen, jumbo, hlim, src, dst, len(data) - off)
    chain(buf, pos, end, tree, pkt, nxt, ctx)
    return 40 + length if 40 + length <= reported else None


def _address(t: Tree, spec, host_spec, pos: int, addr: bytes) -> None:
    text = ipv6_str(addr)
    t.add(spec, pos, 16, addr)
    t.add(ADDR, pos, 16, addr, hidden=True)
    t.add(host_spec, pos, 16, text, generated=True, hidden=True)
    t.add(HOST, pos, 16, text, generated=True, hidden=True)


def _derived(t: Tree, fields: tuple, side: int, pos: int, size: int, value) -> None:
    """A value derived from an address: the side-specific field, then the hidden either-side one."""
    t.add(fields[side], pos, size, value, generated=True)
    t.add(fields[2], pos, size, value, generated=True, hidden=True)


def _derived_addresses(t: Tree, off: int, src: bytes, dst: bytes) -> None:
    """What an address reveals about the IPv4 world or the MAC behind it (tshark's order:
    6to4, Teredo, SLAAC, ISATAP, NAT64, each for source then destination)."""
    sides = ((0, off + 8, src), (1, off + 24, dst))
    for side, pos, a in sides:
        if a[0] == 0x20 and a[1] == 0x02:                        # 6to4, RFC 3056
            _derived(t, SIXTOFOUR_GW, side, pos + 2, 4, a[2:6])
            _derived(t, SIXTOFOUR_SLA, side, pos + 6, 2, int.from_bytes(a[6:8], "big"))
    for side, pos, a in sides:
        if a[:4] == b"\x20\x01\x00\x00":                         # Teredo, RFC 4380
            _derived(t, TEREDO_SERVER, side, pos + 4, 4, a[4:8])
            _derived(t, TEREDO_PORT, side, pos + 10, 2, int.from_bytes(a[10:12], "big") ^ 0xFFFF)
            _derived(t, TEREDO_CLIENT, side, pos + 12, 4, bytes(x ^ 0xFF for x in a[12:16]))
    for side, pos, a in sides:
        if a[8] & 0x02 and a[11:13] == b"\xff\xfe":              # modified EUI-64, RFC 4291
            mac = bytes([a[8] & ~0x02 & 0xFF]) + a[9:11] + a[13:16]
            _derived(t, SLAAC_MAC, side, pos + 8, 8, mac)
    for side, pos, a in sides:
        if int.from_bytes(a[8:12], "big") & 0xFCFFFFFF == 0x00005EFE:   # ISATAP, RFC 5214
            _derived(t, ISATAP, side, pos + 12, 4, a[12:16])
    for side, pos, a in sides:
        if a[:12] == _NAT64_PREFIX:                              # NAT64 well-known, RFC 6052
            t.add(EMBED_PREFIX, pos, 12, a[:12], generated=True)
            t.add(EMBED[side], pos + 12, 4, a[12:16], generated=True)
            t.add(EMBED[2], pos + 12, 4, a[12:16], generated=True)


_NAT64_PREFIX = bytes.fromhex("0064ff9b0000000000000000")


def _jumbo_length(data: bytes, pos: int, avail: int) -> int:
    """A Jumbo Payload option's length from the hop-by-hop header at `pos`, if > 65535
    (a peek before dissection: bytes past `avail` just mean no jumbogram)."""
    if pos + 2 > avail:
        return 0
    stop = pos + (data[pos + 1] + 1) * 8
    pos += 2
    while pos < stop and pos + 6 <= avail:
        kind = data[pos]
        pos += 1
        if kind == 0:
            continue
        olen = data[pos]
        pos += 1
        if kind == 0xC2 and olen == 4:
            value = int.from_bytes(data[pos:pos + 4], "big")
            return value if value > 0xFFFF else 0
        pos += olen
    return 0


# ---------------------------------------------------------------------------------------
# The extension-header chain
# ---------------------------------------------------------------------------------------

def chain(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, nxt: int,
          ctx: _Ctx | None) -> None:
    """Walk extension headers until the payload protocol, then hand the payload on.

    Each header consumes at least 8 bytes of a bounded buffer, so the walk ends.
    """
    while True:
        handler = _EXT_HEADERS.get(nxt)
        if handler is None:
            break
        step = handler(buf, pos, end, tree, pkt, ctx)
        if step is None:
            return
        nxt, buf, pos, end, tree = step
    if ctx is not None:
        if ctx.layer:
            ctx.layer.set_size(max(0, min(ctx.size, ctx.cap)))
        pkt.ip_proto = nxt
    if nxt == NO_NEXT_HEADER:
        pkt.set_info("IPv6 no next header")
        dissect_data(buf, pos, end, tree, pkt)
        return
    fn = IP_PROTO.get(nxt)
    if fn is not None:
        fn(buf, pos, end, tree, pkt)
        return
    pkt.set_info(f"Unknown IP Protocol: {ipprotostr(nxt)} ({nxt})")
    dissect_data(buf, pos, end, tree, pkt)


Step = tuple[int, Buf, int, int, Tree] | None


def _u8(buf: Buf, pos: int, end: int) -> int:
    buf.need_within(pos, 1, end)
    return buf.data[pos]


def _bytes(buf: Buf, pos: int, n: int, end: int) -> bytes:
    buf.need_within(pos, n, end)
    return bytes(buf.data[pos:pos + n])


def _int(buf: Buf, pos: int, n: int, end: int) -> int:
    return int.from_bytes(_bytes(buf, pos, n, end), "big")


def _hopopts(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, ctx: _Ctx | None) -> Step:
    pkt.enter(HOPOPTS.abbrev)
    pkt.append_info("IPv6 hop-by-hop options", " , ")
    return _options_header(buf, pos, end, tree, pkt, ctx, True)


def _dstopts(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, ctx: _Ctx | None) -> Step:
    pkt.enter(DSTOPTS.abbrev)
    pkt.append_info("IPv6 destination options", " , ")
    return _options_header(buf, pos, end, tree, pkt, ctx, False)


def _options_header(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, ctx: _Ctx | None,
                    hbh: bool) -> Step:
    """Hop-by-hop or destination options: a list of type-length-value options."""
    nxt = _u8(buf, pos, end)
    hl = (_u8(buf, pos + 1, end) + 1) * 8
    spec, nxt_f, len_f, oct_f = ((HOPOPTS, HOPOPTS_NXT, HOPOPTS_LEN, HOPOPTS_LEN_OCT) if hbh
                                 else (DSTOPTS, DSTOPTS_NXT, DSTOPTS_LEN, DSTOPTS_LEN_OCT))
    parent = ctx.node if ctx is not None else tree
    h = parent.add(spec, pos, max(0, min(hl, len(buf.data) - pos)), label=spec.name)
    if hbh and (ctx is None or not ctx.first):
        note(h, pkt, HOPOPTS_NOT_FIRST)
    if ctx is not None:
        ctx.consume(hl)
    h.add(nxt_f, pos, 1, nxt)
    h.add(len_f, pos + 1, 1, hl // 8 - 1)
    h.add(oct_f, pos + 1, 1, hl, f"Length: {hl} bytes", generated=True)
    p, stop = pos + 2, pos + hl
    while p < stop:                      # each option moves p forward by at least 1
        kind = _u8(buf, p, end)
        olen = _u8(buf, p + 1, end)      # read even for Pad1, as tshark does
        name = OPT_NAMES.get(kind, f"Unknown IPv6 Option ({kind})")
        o = h.add(OPT, p, 1 if kind == 0 else 2 + olen, None, name)
        tn = o.add(OPT_TYPE, p, 1, kind,
                   f"Type: {OPT_NAMES.get(kind, 'Unknown')} (0x{kind:02x})")
        if kind == 0:
            o.add(OPT_PAD1, p, 1, None)
            p += 1
            continue
        if hbh and kind in _DST_ONLY or not hbh and kind in _HBH_ONLY:
            note(tn, pkt, OPT_MISMATCH, f"{name} must use a "
                 f"{'destination' if hbh else 'hop-by-hop'} options header")
        if tn:
            tn.add_bits(OPT_ACTION, p, 1, kind)
            tn.add_bits(OPT_CHANGE, p, 1, kind)
            tn.add_bits(OPT_REST, p, 1, kind)
        ln = o.add(OPT_LENGTH, p + 1, 1, olen)
        p += 2
        if kind == 0x01:
            pad = _bytes(buf, p, olen, end)
            o.add(OPT_PADN, p, olen, pad, None if pad else "PadN: <none>")
            p += olen
            continue
        start = p
        handler = _OPTION_HANDLERS.get(kind)
        if handler is not None:
            p = handler(buf, p, olen, end, o, ln, pkt, ctx)
        elif name.startswith("Experimental"):
            o.add(OPT_EXPERIMENTAL, p, olen, _bytes(buf, p, olen, end))
            p += olen
        elif kind not in OPT_NAMES or kind == 0x8A:
            n = o.add(OPT_UNKNOWN, p, olen, _bytes(buf, p, olen, end))
            note(n, pkt, OPT_UNKNOWN_EXPERT)
            if kind == 0x8A:
                note(tn, pkt, OPT_DEPRECATED)
            p += olen
        if p < start + olen:
            n = o.add(OPT_UNKNOWN_DATA, p, start + olen - p, _bytes(buf, p, start + olen - p, end))
            note(n, pkt, OPT_UNKNOWN_EXPERT)
            p = start + olen
    return nxt, buf, pos + hl, end, tree


def _bad_len(ln: Tree, pkt: Packet, olen: int, expected: int, what: str) -> None:
    if olen != expected:
        note(ln, pkt, OPT_INVALID_LEN, f"{what} ({olen} bytes)")


def _opt_jumbo(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
               ctx: _Ctx | None) -> int:
    _bad_len(ln, pkt, olen, 4, "Jumbo Payload: Invalid length")
    value = _int(buf, p, 4, end)
    n = o.add(OPT_JUMBO, p, 4, value)
    if ctx is not None and ctx.plen != 0:
        note(o, pkt, JUMBO_PROHIBITED)
    if value < 65536:
        note(n, pkt, JUMBO_TRUNCATED)
    return p + 4


def _opt_router_alert(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
                      ctx: _Ctx | None) -> int:
    _bad_len(ln, pkt, olen, 2, "Router alert: Invalid Length")
    o.add(OPT_RTALERT, p, 2, _int(buf, p, 2, end))
    return p + 2


def _opt_tel(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
             ctx: _Ctx | None) -> int:
    _bad_len(ln, pkt, olen, 1, "Tunnel Encapsulation Limit: Invalid length")
    o.add(OPT_TEL, p, 1, _u8(buf, p, end))
    return p + 1


def _opt_pmtu(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
              ctx: _Ctx | None) -> int:
    _bad_len(ln, pkt, olen, 4, "PMTU Option: Invalid Length")
    o.add(OPT_PMTU_MIN, p, 2, _int(buf, p, 2, end))
    value = _int(buf, p + 2, 2, end)
    o.add(OPT_PMTU_RTN, p + 2, 2, value & 0xFFFE)
    o.add(OPT_PMTU_FLAG, p + 3, 1, bool(value & 1))
    return p + 4


def _opt_home_address(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
                      ctx: _Ctx | None) -> int:
    """Mobile IPv6: the mobile node's home address, which tshark makes the source."""
    _bad_len(ln, pkt, olen, 16, "Home Address: Invalid length")
    home = _bytes(buf, p, 16, end)
    o.add(OPT_HOME, p, 16, home)
    pkt.net_src = home
    return p + 16


def _opt_rpl(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
             ctx: _Ctx | None) -> int:
    """RPL option (RFC 6553): direction and error flags, instance, sender rank."""
    if olen < 4:
        note(ln, pkt, OPT_INVALID_LEN, f"RPL Option: Invalid length ({olen} bytes)")
    flags = _u8(buf, p, end)
    if o:
        names = "".join(f", {f.name}" for f in OPT_RPL_FLAGS if flags & f.bitmask)
        fl = o.add(OPT_RPL_FLAG, p, 1, flags, f"Flag: 0x{flags:02x}{names}")
        for f in OPT_RPL_FLAGS:
            fl.add_bits(f, p, 1, flags)
        fl.add(OPT_RPL_RSV, p, 1, flags & 0x1F,
               f"{bit_picture(flags, 0x1F, 8)} = Reserved: 0x{flags & 0x1F:02x}")
    o.add(OPT_RPL_INSTANCE, p + 1, 1, _u8(buf, p + 1, end))
    o.add(OPT_RPL_RANK, p + 2, 2, _int(buf, p + 2, 2, end))
    return p + 4


def _opt_tpf(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
             ctx: _Ctx | None) -> int:
    _bad_len(ln, pkt, olen, 4, "TPF: Invalid Length")
    o.add(OPT_TPF, p, 4, _int(buf, p, 4, end))
    return p + 4


def _opt_ilnp_nonce(buf: Buf, p: int, olen: int, end: int, o: Tree, ln: Tree, pkt: Packet,
                    ctx: _Ctx | None) -> int:
    o.add(OPT_ILNP_NONCE, p, olen, _bytes(buf, p, olen, end))
    return p + olen


_OPTION_HANDLERS = {0xC2: _opt_jumbo, 0x05: _opt_router_alert, 0x04: _opt_tel,
                    0x30: _opt_pmtu, 0xC9: _opt_home_address, 0x63: _opt_rpl, 0x41: _opt_tpf,
                    0x8B: _opt_ilnp_nonce}


def _routing(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, ctx: _Ctx | None) -> Step:
    """Routing header: the common part, then the type's own data."""
    pkt.enter(ROUTING.abbrev)
    pkt.append_info("IPv6 routing", " , ")
    parent = ctx.node if ctx is not None else tree
    h = parent.add(ROUTING, pos, max(0, min(end, len(buf.data)) - pos), label=ROUTING.name)
    nxt = _u8(buf, pos, end)
    h.add(ROUTING_NXT, pos, 1, nxt)
    hl = _u8(buf, pos + 1, end)
    total = (hl + 1) * 8
    len_node = h.add(ROUTING_LEN, pos + 1, 1, hl)
    h.set_size(max(0, min(total, len(buf.data) - pos)))
    h.add(ROUTING_LEN_OCT, pos + 1, 1, total, f"Length: {total} bytes", generated=True)
    if ctx is not None:
        ctx.consume(total)
    kind = _u8(buf, pos + 2, end)
    type_node = h.add(ROUTING_TYPE, pos + 2, 1, kind)
    h.append_label(f" ({ROUTING_TYPES.get(kind, f'Unknown type {kind}')})")
    segleft = _u8(buf, pos + 3, end)
    seg_node = h.add(ROUTING_SEGLEFT, pos + 3, 1, segleft)
    sub_end = min(end, pos + total)      # the type data cannot reach past the header
    final = None
    p = pos + 4
    if kind == 0:
        h.add(RT0_RESERVED, p, 4, _bytes(buf, p, 4, sub_end))
        if hl % 2:
            note(len_node, pkt, ROUTING_INVALID_LEN,
                 "IPv6 Routing Header extension header length must not be odd")
        count = hl // 2
        if segleft > count:
            note(seg_node, pkt, ROUTING_INVALID_SEGLEFT, "IPv6 Type 0 Routing Header segments "
                 f"left field must not exceed address count ({count})")
        for i in range(1, count + 1):
            final = _route_address(buf, p + 4 + (i - 1) * 16, sub_end, h, pkt, RT0_ADDR, i)
        note(type_node, pkt, ROUTING_DEPRECATED)
    elif kind == 2:
        h.add(RT2_RESERVED, p, 4, _bytes(buf, p, 4, sub_end))
        if hl != 2:
            note(len_node, pkt, ROUTING_INVALID_LEN,
                 "IPv6 Type 2 Routing Header extension header length must equal 2")
        if segleft != 1:
            note(seg_node, pkt, ROUTING_INVALID_SEGLEFT,
                 "IPv6 Type 2 Routing Header segments left field must equal 1")
        final = _route_address(buf, p + 4, sub_end, h, pkt, RT2_HOME, 1)
    elif kind == 4:
        last = _u8(buf, p, sub_end)
        h.add(SRH_LAST, p, 1, last)
        h.add(SRH_FLAGS, p + 1, 1, _u8(buf, p + 1, sub_end))
        h.add(SRH_TAG, p + 2, 2, _bytes(buf, p + 2, 2, sub_end))
        if segleft > last + 1:
            note(seg_node, pkt, ROUTING_INVALID_SEGLEFT, "IPv6 Type 4 Routing Header segments "
                 f"left field must not exceed address count ({last + 1})")
        if segleft and ctx is not None:
            final = _bytes(buf, p + 4, 16, sub_end)
        for i in range(last + 1):
            addr = _bytes(buf, p + 4 + i * 16, 16, sub_end)
            h.add(SRH_ADDR, p + 4 + i * 16, 16, addr, f"Address[{i}]: {ipv6_str(addr)}")
    else:
        data = _bytes(buf, p, total - 4, sub_end)
        note(h.add(ROUTING_UNKNOWN, p, total - 4, data), pkt, ROUTING_UNDECODED)
    if final is not None and segleft and ctx is not None:
        ctx.dst = final
        pkt.net_dst = final
    return nxt, buf, pos + total, end, tree


def _route_address(buf: Buf, pos: int, end: int, h: Tree, pkt: Packet, spec, idx: int) -> bytes:
    addr = _bytes(buf, pos, 16, end)
    n = h.add(spec, pos, 16, addr, f"Address[{idx}]: {ipv6_str(addr)}")
    if addr[0] == 0xFF:
        note(n, pkt, ROUTE_MULTICAST)
    return addr


def _fraghdr(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, ctx: _Ctx | None) -> Step:
    """Fragment header: continue the chain, or collect the fragment for reassembly."""
    pkt.enter(FRAGHDR.abbrev)
    nxt = _u8(buf, pos, end)
    offlg = _int(buf, pos + 2, 2, end)
    ident = _int(buf, pos + 4, 4, end)
    off_bytes, more = offlg & 0xFFF8, bool(offlg & 1)
    pkt.set_info(f"IPv6 fragment (off={off_bytes} more={'y' if more else 'n'} "
                 f"ident=0x{ident:08x} nxt={nxt})")
    if ctx is not None:
        ctx.consume(8)
    parent = ctx.node if ctx is not None else tree
    h = parent.add(FRAGHDR, pos, max(0, min(8, len(buf.data) - pos)), label=FRAGHDR.name)
    if ctx is not None and ctx.jumbo:
        note(h, pkt, JUMBO_FRAGMENT)
    if h:
        h.add(FRAG_NXT, pos, 1, nxt)
        h.add(FRAG_RESERVED_OCTET, pos + 1, 1, _u8(buf, pos + 1, end))
        h.add_bits(FRAG_OFFSET, pos + 2, 2, offlg).append_label(f" ({off_bytes} bytes)")
        h.add_bits(FRAG_RESERVED_BITS, pos + 2, 2, offlg)
        h.add_bits(FRAG_MORE, pos + 2, 2, offlg)
        h.add(FRAG_IDENT, pos + 4, 4, ident)
    pos += 8
    if ctx is None or ctx.frag_plen <= 0 or not (off_bytes or more):
        return nxt, buf, pos, end, tree
    n = ctx.frag_plen
    if pos + n <= min(end, len(buf.data)) and not pkt.in_error:
        key = (ctx.src, ctx.dst, ident)
        rs = pkt.state.slot("ipv6.reassembly", Reassembler)
        if pkt.visited:
            dg = rs.completed(pkt.number, key)
        else:
            dg = rs.add(key, pkt.number, pkt.ts_ns, off_bytes, bytes(buf.data[pos:pos + n]), more)
        if dg is not None:
            src_idx = pkt.add_source("Reassembled IPv6", dg.data)
            fragment_tree(ctx.node.for_source(src_idx), dg, FRAGMENTS, FRAGMENT, FRAGMENT_ERROR,
                          _FRAGMENT_ITEMS)
            ctx.frag_plen = 0
            ctx.in_frame = False
            ctx.node = ctx.node.for_source(src_idx)
            return nxt, Buf(dg.data), 0, len(dg.data), tree.for_source(src_idx)
        rin = rs.reassembled_in(pkt.number) if pkt.visited else 0
        if rin and rs.completed(rin, key) is not None:
            ctx.node.add(REASSEMBLED_IN, pos, 0, rin, generated=True)
    dissect_data(buf, pos, end, tree, pkt)
    return None


def _ah(buf: Buf, pos: int, end: int, tree: Tree, pkt: Packet, ctx: _Ctx | None) -> Step:
    """IPsec Authentication Header: SPI, sequence and ICV, then the protected payload."""
    pkt.enter(AH.abbrev)
    pkt.set_protocol("AH")
    nxt = _u8(buf, pos, end)
    hl = _u8(buf, pos + 1, end)
    total = (hl + 2) * 4
    spi = _int(buf, pos + 4, 4, end)
    pkt.set_info(f"AH (SPI=0x{spi:08x})")
    parent = ctx.node if ctx is not None else tree
    h = parent.add(AH, pos, max(0, min(total, len(buf.data) - pos)), label=AH.name)
    h.add(AH_NXT, pos, 1, nxt)
    h.add(AH_LEN, pos + 1, 1, hl, f"Length: {hl} ({total} bytes)")
    h.add(AH_RESERVED, pos + 2, 2, _bytes(buf, pos + 2, 2, end))
    h.add(AH_SPI, pos + 4, 4, spi)
    h.add(AH_SEQUENCE, pos + 8, 4, _int(buf, pos + 8, 4, end))
    if total > 12:
        h.add(AH_ICV, pos + 12, total - 12, _bytes(buf, pos + 12, total - 12, end))
    if ctx is not None:
        ctx.consume(total)
    return nxt, buf, pos + total, end, tree


def dissect_esp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """IPsec ESP: only the SPI and sequence number are in the clear."""
    pkt.enter(ESP.abbrev)
    pkt.set_protocol("ESP")
    spi = _int(buf, off, 4, end)
    pkt.set_info(f"ESP (SPI=0x{spi:08x})")
    h = tree.add(ESP, off, max(0, min(end, len(buf.data)) - off), label=ESP.name)
    h.add(ESP_SPI, off, 4, spi)
    h.add(ESP_SEQUENCE, off + 4, 4, _int(buf, off + 4, 4, end))
    return None


# next header -> extension header handler (everything else ends the chain)
_EXT_HEADERS = {0: _hopopts, 43: _routing, 44: _fraghdr, 51: _ah, 60: _dstopts}


def _from_ip(nxt: int):
    """An extension header met outside IPv6 (IPv4 carrying protocol 0, 43, ...)."""
    def dissect(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
        chain(buf, off, end, tree, pkt, nxt, None)
        return None
    dissect.__doc__ = f"IP protocol {nxt} ({IP_PROTO_NAMES[nxt]}) outside an IPv6 header."
    return dissect


ETHERTYPE.register(0x86DD, dissect_ipv6)
IP_PROTO.register(41, dissect_ipv6)      # IPv6 in IP (RFC 4213)
IP_PROTO.register(50, dissect_esp)
for _nxt in _EXT_HEADERS:
    IP_PROTO.register(_nxt, _from_ip(_nxt))
