"""ICMPv6: errors and echo (RFC 4443, 4884), Neighbor Discovery (RFC 4861, 4191, 8106, 6275)
and Multicast Listener Discovery (RFC 2710, 3810).

IPv6 depends on ICMPv6 far more than IPv4 on ICMP: neighbor solicitations replace ARP,
router advertisements hand out prefixes, the MTU and DNS servers, and Packet Too Big is the
only way a sender learns the path MTU (routers never fragment IPv6). Filtering ICMPv6 breaks
IPv6 in ways that look like application timeouts.

Echo pairing, the quoted packet, checksum items and RFC 4884 extensions are shared with
icmp.py. Info strings follow tshark 4.0: "Neighbor Solicitation for fe80::1 from
00:11:22:33:44:55", "Neighbor Advertisement fe80::1 (rtr, sol) is at ...", "Echo (ping)
request id=0x0001, seq=3, hop limit=128".
"""
from __future__ import annotations

import ipaddress

from .buffer import Buf
from .data import dissect_data
from .dispatch import IP_PROTO
from .fields import FT, Base, FieldSpec, Severity, ether_str, expert, field, protocol
from .icmp import (
    CHECKSUM_STATUS_NAMES,
    EXT_ECHO_STATES,
    EchoTracker,
    IcmpSummary,
    add_checksum,
    checksum_of,
    clip,
    dissect_extensions,
    dissect_quoted,
    echo_key,
    echo_pairing,
    ones_sum,
    reply_checksum,
)
from .packet import Packet
from .tree import Tree

DST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED, PARAM_PROBLEM = 1, 2, 3, 4
ECHO_REQUEST, ECHO_REPLY = 128, 129
MLD_QUERY, MLD_REPORT, MLD_DONE = 130, 131, 132
ROUTER_SOLICIT, ROUTER_ADVERT, NEIGHBOR_SOLICIT, NEIGHBOR_ADVERT, REDIRECT = 133, 134, 135, 136, 137
MLDV2_REPORT, FMIPV6, EXT_ECHO_REQUEST, EXT_ECHO_REPLY = 143, 154, 160, 161
MLDV2_QUERY_MIN = 28   # a query at least this long is MLDv2 (RFC 3810 §8.1)

TYPE_NAMES = {
    1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded",
    4: "Parameter Problem", 100: "Private experimentation", 101: "Private experimentation",
    127: "Reserved for expansion of ICMPv6 error messages", 128: "Echo (ping) request",
    129: "Echo (ping) reply", 130: "Multicast Listener Query", 131: "Multicast Listener Report",
    132: "Multicast Listener Done", 133: "Router Solicitation", 134: "Router Advertisement",
    135: "Neighbor Solicitation", 136: "Neighbor Advertisement", 137: "Redirect",
    138: "Router Renumbering", 139: "Node Information Query", 140: "Node Information Reply",
    141: "Inverse Neighbor Discovery Solicitation",
    142: "Inverse Neighbor Discovery Advertisement", 143: "Multicast Listener Report Message v2",
    144: "Home Agent Address Discovery Request", 145: "Home Agent Address Discovery Reply",
    146: "Mobile Prefix Solicitation", 147: "Mobile Prefix Advertisement",
    148: "Certification Path Solicitation", 149: "Certification Path Advertisement",
    150: "Experimental Mobility", 151: "Multicast Router Advertisement",
    152: "Multicast Router Solicitation", 153: "Multicast Router Termination", 154: "FMIPv6",
    155: "RPL Control", 156: "Locator Update", 157: "Duplicate Address Request",
    158: "Duplicate Address Confirmation", 159: "MPL Control Message",
    160: "Extended Echo request", 161: "Extended Echo reply", 200: "Private experimentation",
    201: "Private experimentation", 255: "Reserved for expansion of ICMPv6 informational messages",
}
# Types tshark dissects; for the others it says the dissector is not implemented.
KNOWN_TYPES = frozenset(range(1, 5)) | frozenset(range(128, 162))

# (names, text for an unnamed code); the Info column shows the code only for these types.
CODE_NAMES: dict[int, tuple[dict[int, str], str]] = {
    DST_UNREACH: ({0: "no route to destination", 1: "Administratively prohibited",
                   2: "Beyond scope of source address", 3: "Address unreachable",
                   4: "Port unreachable", 5: "Source address failed ingress/egress policy",
                   6: "Reject route to destination", 7: "Error in Source Routing Header"},
                  "Unknown"),
    TIME_EXCEEDED: ({0: "hop limit exceeded in transit",
                     1: "fragment reassembly time exceeded"}, "Unknown ({})"),
    PARAM_PROBLEM: ({0: "erroneous header field encountered",
                     1: "unrecognized Next Header type encountered",
                     2: "unrecognized IPv6 option encountered",
                     3: "IPv6 First Fragment has incomplete IPv6 Header Chain"}, "Unknown ({})"),
    138: ({0: "Command", 1: "Result", 255: "Sequence number reset"}, "Unknown ({})"),
    139: ({0: "Query subject = IPv6 addresses", 1: "Query subject = DNS name or empty",
           2: "Query subject = IPv4 addresses"}, "Unknown ({})"),
    140: ({0: "Successful", 1: "Refused", 2: "Unknown query type"}, "Unknown ({})"),
    155: ({0: "DODAG Information Solicitation", 1: "DODAG Information Object",
           2: "Destination Advertisement Object",
           3: "Destination Advertisement Object Acknowledgment",
           4: "P2P Discovery Reply Object", 5: "P2P Discovery Reply Object Acknowledgement",
           0x80: "Secure DODAG Information Solicitation",
           0x81: "Secure DODAG Information Object",
           0x82: "Secure Destination Advertisement Object",
           0x83: "Secure Destination Advertisement Object Acknowledgment",
           0x8A: "Consistency Check"}, "Unknown ({})"),
    160: ({0: "No error"}, "Unknown ({})"),
    161: ({0: "No error", 1: "Malformed Query", 2: "No Such Interface",
           3: "No Such Table Entry", 4: "Multiple Interfaces Satisfy Query"}, "Unknown ({})"),
}
FMIPV6_SUBTYPES = {2: "Router Solicitation for Proxy Advertisement",
                   3: "Proxy Router Advertisement", 4: "Handover Initiate",
                   5: "Handover Acknowledge"}

OPT_NAMES = {
    1: "Source link-layer address", 2: "Target link-layer address", 3: "Prefix information",
    4: "Redirected header", 5: "MTU", 6: "NBMA Shortcut Limit Option",
    7: "Advertisement Interval", 8: "Home Agent Information", 9: "Source Address List",
    10: "Target Address List", 11: "CGA", 12: "RSA Signature", 13: "Timestamp", 14: "Nonce",
    15: "Trust Anchor", 16: "Certificate", 17: "IP Address/Prefix Option",
    18: "New Router Prefix Information", 19: "Link-layer Address",
    20: "Neighbor Advertisement Acknowledgment", 23: "MAP", 24: "Route Information",
    25: "Recursive DNS Server", 26: "RA Flags Extension", 27: "Handover Key Request",
    28: "Handover Key Reply", 29: "Handover Assist Information",
    30: "Mobile Node Identifier Option", 31: "DNS Search List Option",
    32: "Proxy Signature (PS)", 33: "Address Registration Option",
    34: "6LoWPAN Context Option", 35: "Authoritative Border Router",
    36: "6LoWPAN Capability Indication Option", 37: "DHCP Captive-Portal",
    38: "PREF64 Option", 138: "CARD Request", 139: "CARD Reply",
    253: "RFC3692-style Experiment 1", 254: "RFC3692-style Experiment 2",
}
PREFERENCES = {0: "Medium", 1: "High", 2: "Reserved", 3: "Low"}
MLDR_RECORD_TYPES = {1: "Include", 2: "Exclude", 3: "Changed to include",
                     4: "Changed to exclude", 5: "Allow new sources", 6: "Block old sources"}
INFINITY = 0xFFFFFFFF

EXPLAIN: dict[tuple[int, int | None], str] = {
    (DST_UNREACH, 0): "No route to destination: a router has no route for the address. Check "
                      "the IPv6 default route and the prefix announcements.",
    (DST_UNREACH, 1): "Administratively prohibited: a firewall rejected the packet "
                      "(ip6tables REJECT with icmp6-adm-prohibited).",
    (DST_UNREACH, 3): "Address unreachable: the last router got no neighbor advertisement for "
                      "the host: it is down or the address is not configured.",
    (DST_UNREACH, 4): "Port unreachable: the host is up but nothing listens on that UDP port "
                      "(a DNS resolver down, a wrong port). TCP would answer with RST instead.",
    (DST_UNREACH, 6): "Reject route: a router has an explicit reject (blackhole) route for it.",
    (DST_UNREACH, None): "A router or the destination host could not deliver the quoted packet.",
    (PACKET_TOO_BIG, None): "Packet Too Big: the quoted packet exceeds the next link's MTU "
                            "(icmpv6.mtu). IPv6 routers never fragment, so the sender must lower "
                            "its path MTU. Filter these and large packets vanish: a PMTU black "
                            "hole (TLS handshakes and big responses hang, small requests work).",
    (TIME_EXCEEDED, 0): "Hop limit exceeded in transit: expected for traceroute probes; for "
                        "normal traffic it means a routing loop.",
    (TIME_EXCEEDED, 1): "Fragment reassembly time exceeded: fragments were lost on the way.",
    (PARAM_PROBLEM, None): "A node could not process a header of the quoted packet "
                           "(icmpv6.pointer gives the offset): an unsupported extension header "
                           "or option, or a middlebox that mangles packets.",
    (ECHO_REQUEST, None): "Ping request.",
    (ECHO_REPLY, None): "Ping reply; the response time is the network round trip.",
    (NEIGHBOR_SOLICIT, None): "IPv6's ARP: who has this address? Also sent to check that an "
                              "address is free (duplicate address detection, from ::).",
    (NEIGHBOR_ADVERT, None): "The answer to a solicitation: this address is at this MAC. "
                             "Repeated solicitations without advertisements mean the neighbor "
                             "is gone; connections to it stall.",
    (ROUTER_SOLICIT, None): "A host asks routers to announce themselves (at boot or link up).",
    (ROUTER_ADVERT, None): "A router announces itself: prefixes for address autoconfiguration, "
                           "the link MTU, DNS servers, and its lifetime as default router "
                           "(0 = not a default router). Rogue advertisements hijack traffic.",
    (REDIRECT, None): "A router tells the host a better first hop for a destination.",
    (MLD_QUERY, None): "A multicast router asks which groups listeners want.",
    (MLD_REPORT, None): "A host joins a multicast group (MLDv1).",
    (MLDV2_REPORT, None): "A host reports its multicast group memberships (MLDv2); sent for the "
                          "solicited-node groups that neighbor discovery needs.",
}


def explain(typ: int, code: int) -> str:
    """What an ICMPv6 message means for a backend engineer ('' when nothing to add)."""
    return EXPLAIN.get((typ, code)) or EXPLAIN.get((typ, None), "")


# ---------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------

PROTO = protocol("icmpv6", "Internet Control Message Protocol v6",
                 explain="IPv6's control protocol: errors, ping, neighbor discovery (IPv6's ARP) "
                         "and router advertisements. IPv6 does not work without it.")
TYPE = field("icmpv6.type", "Type", FT.UINT8, strings=TYPE_NAMES,
             blurb="Indicates the type of the message",
             explain="1 unreachable, 2 packet too big (path MTU), 3 time exceeded, 128/129 "
                     "ping, 133-137 neighbor discovery, 130-132/143 multicast listeners.")
CODE = field("icmpv6.code", "Code", FT.UINT8, blurb="Depends on the message type",
             explain="For unreachable: 4 port (nothing listening on a UDP port), 0 no route, "
                     "1 administratively prohibited (firewall REJECT), 3 address unreachable.")
CHECKSUM = field("icmpv6.checksum", "Checksum", FT.UINT16, Base.HEX,
                 blurb="Covers the ICMPv6 message and the IPv6 pseudo-header")
CHECKSUM_STATUS = field("icmpv6.checksum.status", "Checksum Status", FT.UINT8,
                        strings=CHECKSUM_STATUS_NAMES)
CHECKSUM_BAD = expert("icmpv6.checksum_bad.expert", "checksum", Severity.WARN, "Bad checksum")
RESERVED = field("icmpv6.reserved", "Reserved", FT.BYTES, blurb="Must be Zero")
DATA = field("icmpv6.data", "Data", FT.BYTES)
UNDECODED_TYPE = expert("icmpv6.undecoded.type", "undecoded", Severity.NOTE, "Undecoded type")
LENGTH = field("icmpv6.length", "Length of original datagram", FT.UINT8,
               blurb="RFC 4884: length of the quoted packet in 64-bit words")
MTU = field("icmpv6.mtu", "MTU", FT.UINT32,
            blurb="The Maximum Transmission Unit of the next-hop link",
            explain="The largest packet the next link carries. IPv6 routers never fragment: the "
                    "sender must send smaller packets (TCP lowers its MSS). If Packet Too Big "
                    "messages are filtered, big packets vanish silently: a PMTU black hole.")
POINTER = field("icmpv6.pointer", "Pointer", FT.UINT32,
                blurb="Offset in the quoted packet where the error was detected")
ECHO_ID = field("icmpv6.echo.identifier", "Identifier", FT.UINT16, Base.HEX,
                blurb="An identifier to aid in matching with Request and Reply")
ECHO_SEQ = field("icmpv6.echo.sequence_number", "Sequence", FT.UINT16,
                 blurb="Counts the pings; gaps in the replies are loss")
RESP_IN = field("icmpv6.resp_in", "Response In", FT.FRAMENUM,
                blurb="The response to this request is in this frame")
NO_RESP = field("icmpv6.no_resp", "No response seen", FT.NONE,
                blurb="No corresponding response frame was seen")
RESP_NOT_FOUND = expert("icmpv6.resp_not_found", "sequence", Severity.WARN, "Response not found",
                        explain="No reply to this ping in the capture.")
RESP_TO = field("icmpv6.resp_to", "Response To", FT.FRAMENUM,
                blurb="This is the response to the request in this frame")
RESPTIME = field("icmpv6.resptime", "Response Time", FT.DOUBLE,
                 blurb="The time between the request and the response, in ms.",
                 explain="Ping round trip: network latency with almost no server work.")
RA_HOP_LIMIT = field("icmpv6.nd.ra.cur_hop_limit", "Cur hop limit", FT.UINT8,
                     blurb="Hop limit hosts should use for outgoing packets")
RA_FLAG = field("icmpv6.nd.ra.flag", "Flags", FT.UINT8, Base.HEX)
RA_FLAG_M = field("icmpv6.nd.ra.flag.m", "Managed address configuration", FT.BOOLEAN,
                  bitmask=0x80, blurb="When set, addresses are available via DHCPv6")
RA_FLAG_O = field("icmpv6.nd.ra.flag.o", "Other configuration", FT.BOOLEAN, bitmask=0x40,
                  blurb="When set, other configuration (e.g. DNS) is available via DHCPv6")
RA_FLAG_H = field("icmpv6.nd.ra.flag.h", "Home Agent", FT.BOOLEAN, bitmask=0x20)
RA_FLAG_PRF = field("icmpv6.nd.ra.flag.prf", "Prf (Default Router Preference)", FT.UINT8,
                    bitmask=0x18, strings=PREFERENCES)
RA_FLAG_P = field("icmpv6.nd.ra.flag.p", "Proxy", FT.BOOLEAN, bitmask=0x04)
RA_FLAG_RSV = field("icmpv6.nd.ra.flag.rsv", "Reserved", FT.UINT8, bitmask=0x03)
RA_LIFETIME = field("icmpv6.nd.ra.router_lifetime", "Router lifetime (s)", FT.UINT16,
                    blurb="The lifetime associated with the default router",
                    explain="0 means this router must not be used as default gateway.")
RA_REACHABLE = field("icmpv6.nd.ra.reachable_time", "Reachable time (ms)", FT.UINT32)
RA_RETRANS = field("icmpv6.nd.ra.retrans_timer", "Retrans timer (ms)", FT.UINT32)
NS_TARGET = field("icmpv6.nd.ns.target_address", "Target Address", FT.IPv6,
                  blurb="The IP address of the target of the solicitation")
NA_FLAG = field("icmpv6.nd.na.flag", "Flags", FT.UINT32, Base.HEX)
NA_FLAG_R = field("icmpv6.nd.na.flag.r", "Router", FT.BOOLEAN, bitmask=0x80000000,
                  blurb="When set, the sender is a router")
NA_FLAG_S = field("icmpv6.nd.na.flag.s", "Solicited", FT.BOOLEAN, bitmask=0x40000000,
                  blurb="When set, this answers a Neighbor Solicitation")
NA_FLAG_O = field("icmpv6.nd.na.flag.o", "Override", FT.BOOLEAN, bitmask=0x20000000,
                  blurb="When set, the receiver should replace its cached link-layer address")
NA_FLAG_RSV = field("icmpv6.nd.na.flag.rsv", "Reserved", FT.UINT32, bitmask=0x1FFFFFFF)
NA_TARGET = field("icmpv6.nd.na.target_address", "Target Address", FT.IPv6)
RD_TARGET = field("icmpv6.nd.rd.target_address", "Target Address", FT.IPv6,
                  blurb="A better first hop for the destination")
RD_DESTINATION = field("icmpv6.rd.na.destination_address", "Destination Address", FT.IPv6,
                       blurb="The destination that is redirected to the target")
OPT = field("icmpv6.opt", "ICMPv6 Option", FT.NONE)
OPT_TYPE = field("icmpv6.opt.type", "Type", FT.UINT8, strings=OPT_NAMES)
OPT_LENGTH = field("icmpv6.opt.length", "Length", FT.UINT8,
                   blurb="Length of the option in units of 8 bytes")
OPT_INVALID_LENGTH = expert("icmpv6.invalid_option_length", "malformed", Severity.ERROR,
                            "Invalid Option Length")
OPT_UNDECODED = expert("icmpv6.undecoded.option", "undecoded", Severity.NOTE,
                       "Undecoded option")
OPT_RESERVED = field("icmpv6.opt.reserved", "Reserved", FT.NONE)
OPT_PADDING = field("icmpv6.opt.padding", "Padding", FT.NONE)
OPT_LINKADDR = field("icmpv6.opt.linkaddr", "Link-layer address", FT.ETHER,
                     explain="The MAC address the neighbor or router answers on.")
OPT_SRC_LINKADDR = field("icmpv6.opt.src_linkaddr", "Source Link-layer address", FT.ETHER)
OPT_TARGET_LINKADDR = field("icmpv6.opt.target_linkaddr", "Target Link-layer address",
                            FT.ETHER)
OPT_PREFIX_LENGTH = field("icmpv6.opt.prefix.length", "Prefix Length", FT.UINT8)
OPT_PREFIX_FLAG = field("icmpv6.opt.prefix.flag", "Flag", FT.UINT8, Base.HEX)
OPT_PREFIX_FLAG_L = field("icmpv6.opt.prefix.flag.l", "On-link flag(L)", FT.BOOLEAN,
                          bitmask=0x80)
OPT_PREFIX_FLAG_A = field("icmpv6.opt.prefix.flag.a", "Autonomous address-configuration flag(A)",
                          FT.BOOLEAN, bitmask=0x40,
                          blurb="Hosts may build their own address from this prefix (SLAAC)")
OPT_PREFIX_FLAG_R = field("icmpv6.opt.prefix.flag.r", "Router address flag(R)", FT.BOOLEAN,
                          bitmask=0x20)
OPT_PREFIX_FLAG_RSV = field("icmpv6.opt.prefix.flag.reserved", "Reserved", FT.UINT8,
                            bitmask=0x1F)
OPT_PREFIX_VALID = field("icmpv6.opt.prefix.valid_lifetime", "Valid Lifetime", FT.UINT32,
                         blurb="Seconds the prefix stays valid for on-link determination")
OPT_PREFIX_PREFERRED = field("icmpv6.opt.prefix.preferred_lifetime", "Preferred Lifetime",
                             FT.UINT32, blurb="Seconds addresses from the prefix stay preferred")
OPT_PREFIX = field("icmpv6.opt.prefix", "Prefix", FT.IPv6,
                   explain="The network prefix hosts on this link autoconfigure addresses from.")
OPT_REDIRECTED_PACKET = field("icmpv6.opt.redirected_packet", "Redirected Packet", FT.NONE)
OPT_MTU = field("icmpv6.opt.mtu", "MTU", FT.UINT32, blurb="The recommended MTU for the link",
                explain="The MTU the router tells hosts to use on this link; a tunnel or VPN "
                        "link announcing too large a value causes PMTU trouble.")
OPT_ADV_INTERVAL = field("icmpv6.opt.advertisement_interval", "Advertisement Interval",
                         FT.UINT32)
OPT_HA_PREFERENCE = field("icmpv6.opt.home_agent_preference", "Home Agent Preference",
                          FT.UINT16)
OPT_HA_LIFETIME = field("icmpv6.opt.home_agent_lifetime", "Home Agent Preference", FT.UINT16)
OPT_NONCE = field("icmpv6.opt.nonce", "Nonce", FT.BYTES)
OPT_ROUTE_FLAG = field("icmpv6.opt.route_info.flag", "Flag", FT.UINT8, Base.HEX)
OPT_ROUTE_PREF = field("icmpv6.opt.route_info.flag.route_preference", "Route Preference",
                       FT.UINT8, bitmask=0x18, strings=PREFERENCES)
OPT_ROUTE_RSV = field("icmpv6.opt.route_info.flag.reserved", "Reserved", FT.UINT8,
                      bitmask=0xE7)
OPT_ROUTE_LIFETIME = field("icmpv6.opt.route_lifetime", "Route Lifetime", FT.UINT32)
OPT_RDNSS_LIFETIME = field("icmpv6.opt.rdnss.lifetime", "Lifetime", FT.UINT32)
OPT_RDNSS = field("icmpv6.opt.rdnss", "Recursive DNS Servers", FT.IPv6,
                  explain="DNS resolvers the router hands to hosts (RFC 8106). A wrong or dead "
                          "address here makes every name lookup on the link time out.")
OPT_DNSSL_LIFETIME = field("icmpv6.opt.dnssl.lifetime", "Lifetime", FT.UINT32)
OPT_DNSSL = field("icmpv6.opt.dnssl", "Domain Names", FT.STRING,
                  explain="Search domains appended to short host names.")
OPT_CAPTIVE_PORTAL = field("icmpv6.opt.captive_portal", "Captive Portal", FT.STRING)
MLD_MRD = field("icmpv6.mld.maximum_response_delay", "Maximum Response Delay [ms]", FT.UINT16)
MLD_MRC = field("icmpv6.mld.maximum_response_code", "Maximum Response Code", FT.UINT16)
MLD_MCAST = field("icmpv6.mld.multicast_address", "Multicast Address", FT.IPv6)
MLD_FLAG = field("icmpv6.mld.flag", "Flags", FT.UINT8, Base.HEX)
MLD_FLAG_S = field("icmpv6.mld.flag.s", "Suppress Router-Side Processing", FT.BOOLEAN,
                   bitmask=0x08, tfs=("True", "False"))
MLD_FLAG_QRV = field("icmpv6.mld.flag.qrv", "QRV (Querier's Robustness Variable)", FT.UINT8,
                     bitmask=0x07)
MLD_FLAG_RSV = field("icmpv6.mld.flag.reserved", "Reserved", FT.UINT8, bitmask=0xF0)
MLD_QQI = field("icmpv6.mld.qqi", "QQIC (Querier's Query Interval Code)", FT.UINT8)
MLD_NB_SOURCES = field("icmpv6.mld.nb_sources", "Number of Sources", FT.UINT16)
MLD_SOURCE = field("icmpv6.mld.source_address", "Source Address", FT.IPv6)
MLDR_NB_RECORDS = field("icmpv6.mldr.nb_mcast_records", "Number of Multicast Address Records",
                        FT.UINT16)
MLDR_MAR = field("icmpv6.mldr.mar", "Multicast Address Record", FT.NONE)
MLDR_RECORD_TYPE = field("icmpv6.mldr.mar.record_type", "Record Type", FT.UINT8,
                         strings=MLDR_RECORD_TYPES)
MLDR_AUX_LEN = field("icmpv6.mldr.mar.aux_data_len", "Aux Data Len", FT.UINT8)
MLDR_NB_SOURCES = field("icmpv6.mldr.mar.nb_sources", "Number of Sources", FT.UINT16)
MLDR_MCAST = field("icmpv6.mldr.mar.multicast_address", "Multicast Address", FT.IPv6,
                   explain="The group joined or left; ff02::1:ffXX:XXXX groups are neighbor "
                           "discovery's solicited-node addresses.")
MLDR_SOURCE = field("icmpv6.mldr.mar.source_address", "Source Address", FT.IPv6)
MLDR_AUX = field("icmpv6.mldr.mar.auxiliary_data", "Auxiliary Data", FT.BYTES)
EXT_ECHO_SEQ = field("icmpv6.ext.echo.seq", "Sequence number", FT.UINT8, Base.DEC_HEX)
EXT_ECHO_REQ_RES = field("icmpv6.ext.echo.req.res", "Reserved", FT.UINT8, Base.HEX,
                         bitmask=0xFE)
EXT_ECHO_REQ_LOCAL = field("icmpv6.ext.echo.req.local", "Local bit", FT.BOOLEAN, bitmask=0x01)
EXT_ECHO_RSP_STATE = field("icmpv6.ext.echo.rsp.state", "State", FT.UINT8, bitmask=0xE0,
                           strings=EXT_ECHO_STATES)
EXT_ECHO_RSP_RES = field("icmpv6.ext.echo.rsp.res", "Reserved", FT.UINT8, Base.HEX,
                         bitmask=0x18)
EXT_ECHO_RSP_ACTIVE = field("icmpv6.ext.echo.rsp.active", "Active bit", FT.BOOLEAN,
                            bitmask=0x04)
EXT_ECHO_RSP_IPV4 = field("icmpv6.ext.echo.rsp.ipv4", "IPv4 bit", FT.BOOLEAN, bitmask=0x02)
EXT_ECHO_RSP_IPV6 = field("icmpv6.ext.echo.rsp.ipv6", "IPv6 bit", FT.BOOLEAN, bitmask=0x01)


def _ip6(b: bytes) -> str:
    return str(ipaddress.IPv6Address(b))


def _lifetime(t: Tree, spec: FieldSpec, pos: int, value: int) -> None:
    text = f"Infinity ({value})" if value == INFINITY else str(value)
    t.add(spec, pos, 4, value, f"{spec.name}: {text}")


def _flags_label(name: str, raw: int, width: int, specs: tuple[FieldSpec, ...]) -> str:
    """Wireshark's bitmask heading: the value, then set flags and named sub-fields."""
    parts = [f"{name}: 0x{raw:0{width}x}"]
    for spec in specs:
        v = (raw & spec.bitmask) >> spec.shift
        if spec.ftype == FT.BOOLEAN:
            if v:
                parts.append(spec.name)
        elif spec.strings is not None:
            parts.append(f"{spec.name}: {spec.strings.get(v, f'Unknown ({v})')}")
    return ", ".join(parts)


def _bitmask(t: Tree, spec: FieldSpec, pos: int, size: int, raw: int,
             bits: tuple[FieldSpec, ...]) -> None:
    node = t.add(spec, pos, size, raw, _flags_label(spec.name, raw, size * 2, bits))
    for b in bits:
        node.add_bits(b, pos, size, raw)


# ---------------------------------------------------------------------------------------
# Neighbor Discovery options
# ---------------------------------------------------------------------------------------


def _opt_linkaddr(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    if size != 8:
        o.add(OPT_LINKADDR, pos + 2, size - 2, buf.bytes(pos + 2, size - 2))
        return ""
    mac = buf.bytes(pos + 2, 6)
    o.add(OPT_LINKADDR, pos + 2, 6, mac)
    o.add(OPT_SRC_LINKADDR if kind == 1 else OPT_TARGET_LINKADDR, pos + 2, 6, mac, hidden=True)
    pkt.append_info(f"{'from' if kind == 1 else 'is at'} {ether_str(mac)}")
    return f" : {ether_str(mac)}"


def _opt_prefix(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    plen, flags = buf.u8(pos + 2), buf.u8(pos + 3)
    prefix = buf.bytes(pos + 16, 16)
    o.add(OPT_PREFIX_LENGTH, pos + 2, 1, plen)
    _bitmask(o, OPT_PREFIX_FLAG, pos + 3, 1, flags,
             (OPT_PREFIX_FLAG_L, OPT_PREFIX_FLAG_A, OPT_PREFIX_FLAG_R, OPT_PREFIX_FLAG_RSV))
    _lifetime(o, OPT_PREFIX_VALID, pos + 4, buf.u32(pos + 4))
    _lifetime(o, OPT_PREFIX_PREFERRED, pos + 8, buf.u32(pos + 8))
    o.add(OPT_RESERVED, pos + 12, 4)
    o.add(OPT_PREFIX, pos + 16, 16, prefix)
    return f" : {_ip6(prefix)}/{plen}"


def _opt_redirected(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    o.add(OPT_RESERVED, pos + 2, 6)
    o.add(OPT_REDIRECTED_PACKET, pos + 8, size - 8)
    dissect_quoted(buf, pos + 8, pos + size, o, pkt, 0x86DD)
    return ""


def _opt_mtu(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    mtu = buf.u32(pos + 4)
    o.add(OPT_RESERVED, pos + 2, 2)
    o.add(OPT_MTU, pos + 4, 4, mtu)
    return f" : {mtu}"


def _opt_adv_interval(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    interval = buf.u32(pos + 4)
    o.add(OPT_RESERVED, pos + 2, 2)
    o.add(OPT_ADV_INTERVAL, pos + 4, 4, interval)
    return f" : {interval}"


def _opt_home_agent(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    o.add(OPT_RESERVED, pos + 2, 2)
    o.add(OPT_HA_PREFERENCE, pos + 4, 2, buf.u16(pos + 4))
    o.add(OPT_HA_LIFETIME, pos + 6, 2, buf.u16(pos + 6))
    return ""


def _opt_nonce(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    o.add(OPT_NONCE, pos + 2, size - 2, buf.bytes(pos + 2, size - 2))
    return ""


def _opt_route(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    plen, flags = buf.u8(pos + 2), buf.u8(pos + 3)
    o.add(OPT_PREFIX_LENGTH, pos + 2, 1, plen)
    _bitmask(o, OPT_ROUTE_FLAG, pos + 3, 1, flags, (OPT_ROUTE_PREF, OPT_ROUTE_RSV))
    _lifetime(o, OPT_ROUTE_LIFETIME, pos + 4, buf.u32(pos + 4))
    n = min(size - 8, 16)
    prefix = buf.bytes(pos + 8, n) + bytes(16 - n)
    if n:
        o.add(OPT_PREFIX, pos + 8, n, prefix)
    return f" : {PREFERENCES[flags >> 3 & 3]} {_ip6(prefix)}/{plen}"


def _opt_rdnss(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    o.add(OPT_RESERVED, pos + 2, 2)
    _lifetime(o, OPT_RDNSS_LIFETIME, pos + 4, buf.u32(pos + 4))
    text = ""
    for p in range(pos + 8, pos + size - 15, 16):
        addr = buf.bytes(p, 16)
        o.add(OPT_RDNSS, p, 16, addr)
        text += f" {_ip6(addr)}"
    return text


def _opt_dnssl(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    """Domain names in DNS wire format, uncompressed (RFC 8106 §5.2), then zero padding."""
    o.add(OPT_RESERVED, pos + 2, 2)
    _lifetime(o, OPT_DNSSL_LIFETIME, pos + 4, buf.u32(pos + 4))
    stop, p, text = pos + size, pos + 8, ""
    while p < stop and buf.u8(p):
        start, labels = p, []
        while p < stop and buf.u8(p):
            n = buf.u8(p)
            if n > 63 or p + 1 + n > stop:
                o.add(OPT_PADDING, start, stop - start)
                return text
            labels.append(buf.bytes(p + 1, n).decode("ascii", "replace"))
            p += 1 + n
        name = ".".join(labels)
        p += 1
        o.add(OPT_DNSSL, start, p - start, name)
        text += f" {name}"
    if p < stop:
        o.add(OPT_PADDING, p, stop - p)
    return text


def _opt_captive_portal(buf: Buf, pos: int, size: int, o: Tree, pkt: Packet, kind: int) -> str:
    uri = buf.bytes(pos + 2, size - 2).rstrip(b"\0").decode("utf-8", "replace")
    o.add(OPT_CAPTIVE_PORTAL, pos + 2, size - 2, uri)
    return ""


OPTIONS = {1: _opt_linkaddr, 2: _opt_linkaddr, 3: _opt_prefix, 4: _opt_redirected, 5: _opt_mtu,
           7: _opt_adv_interval, 8: _opt_home_agent, 14: _opt_nonce, 24: _opt_route,
           25: _opt_rdnss, 31: _opt_dnssl, 37: _opt_captive_portal}


def _options(buf: Buf, pos: int, end: int, t: Tree, pkt: Packet) -> None:
    """Type-length-value options in 8-byte units until the message ends; a zero length
    stops the walk (it would never advance), as RFC 4861 §4.6 requires."""
    while pos < end:
        kind, units = buf.u8(pos), buf.u8(pos + 1)
        name = OPT_NAMES.get(kind, f"Unknown {kind}")
        size = units * 8
        o = t.add(OPT, pos, size or 2, None, f"ICMPv6 Option ({name}")   # closed below
        o.add(OPT_TYPE, pos, 1, kind)
        length = o.add(OPT_LENGTH, pos + 1, 1, units, f"Length: {units} ({size} bytes)")
        if units == 0:
            length.add_expert(OPT_INVALID_LENGTH, pos + 1, 1, "Invalid option length (Zero)")
            pkt.note(OPT_INVALID_LENGTH)
            return
        fn = OPTIONS.get(kind)
        if fn is not None:
            o.append_label(fn(buf, pos, size, o, pkt, kind) + ")")
        else:
            if kind not in OPT_NAMES:
                o.add_expert(OPT_UNDECODED, pos, size,
                             f"Dissector for ICMPv6 Option ({kind}) code not implemented, "
                             "Contact Wireshark developers if you want this supported")
                pkt.note(OPT_UNDECODED)
            buf.need(pos, size)
            o.append_label(")")
            o.add(DATA, pos + 2, size - 2, buf.bytes(pos + 2, size - 2))
        pos += size


# ---------------------------------------------------------------------------------------
# Message bodies (after type, code and checksum)
# ---------------------------------------------------------------------------------------


def _error(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, typ: int) -> None:
    """Destination unreachable, packet too big, time exceeded, parameter problem: a second
    word, then the invoking packet (and RFC 4884 extensions when a length is given)."""
    words = 0
    if typ == PACKET_TOO_BIG:
        t.add(MTU, off + 4, 4, buf.u32(off + 4))
    elif typ == PARAM_PROBLEM:
        t.add(POINTER, off + 4, 4, buf.u32(off + 4))
    else:
        words = buf.u8(off + 4)
        if words:
            t.add(LENGTH, off + 4, 1, words)
            t.add(RESERVED, off + 5, 3, buf.bytes(off + 5, 3))
        else:
            t.add(RESERVED, off + 4, 4, buf.bytes(off + 4, 4))
    buf.need(off + 8, 1)   # an error must quote something (tshark: malformed)
    dissect_quoted(buf, off + 8, end, t, pkt, 0x86DD)
    if words:
        ext = off + 8 + words * 8
        buf.need(ext, 0)   # past the message: malformed, as tshark finds it
        _extensions(buf, ext, end, t, pkt)


def _extensions(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    """RFC 4884 extensions, which tshark shows as an "icmp" layer; bytes of an unknown
    extension version fall back to data after the 4-byte header."""
    pkt.enter("icmp")
    if not dissect_extensions(buf, off, end, t, pkt):
        pkt.layers.pop()
        pkt.current = "icmpv6"
        dissect_data(buf, off + 4 if end - off >= 4 else off, end, t, pkt)


def _ext_echo(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, typ: int) -> None:
    """RFC 8335 probe: identifier, sequence, flags; a request names the probed interface
    in an extension object."""
    t.add(ECHO_ID, off + 4, 2, buf.u16(off + 4))
    t.add(EXT_ECHO_SEQ, off + 6, 1, buf.u8(off + 6))
    flags = buf.u8(off + 7)
    bits = (EXT_ECHO_REQ_RES, EXT_ECHO_REQ_LOCAL) if typ == EXT_ECHO_REQUEST else \
        (EXT_ECHO_RSP_STATE, EXT_ECHO_RSP_RES, EXT_ECHO_RSP_ACTIVE, EXT_ECHO_RSP_IPV4,
         EXT_ECHO_RSP_IPV6)
    for spec in bits:
        t.add_bits(spec, off + 7, 1, flags)
    if typ == EXT_ECHO_REQUEST:
        _extensions(buf, off + 8, end, t, pkt)


def _echo(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, typ: int) -> int:
    ident, seq = buf.u16(off + 4), buf.u16(off + 6)
    t.add(ECHO_ID, off + 4, 2, ident)
    t.add(ECHO_SEQ, off + 6, 2, seq)
    hop = f", hop limit={pkt.ttl}" if pkt.ttl >= 0 else ""
    pkt.append_info(f"id=0x{ident:04x}, seq={seq}{hop}")
    rtt = -1
    if not pkt.in_error:
        value = buf.u16(off + 2)
        if typ == ECHO_REPLY:
            ck = 0 if value == 0xFFFF else value
        else:
            ck = reply_checksum(value, 0x0100)
        tracker = pkt.state.slot("icmpv6.echo", EchoTracker)
        rtt = echo_pairing(t, pkt, tracker, echo_key(pkt, ck, ident, seq), typ == ECHO_REPLY,
                           RESP_IN, RESP_TO, RESPTIME, NO_RESP, RESP_NOT_FOUND)
    dissect_data(buf, off + 8, end, t, pkt)
    return rtt


def _mld(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, typ: int) -> None:
    """MLDv1 query/report/done; a query of 28 bytes or more is an MLDv2 query."""
    if typ == MLD_QUERY and end - off >= MLDV2_QUERY_MIN:
        mrc = buf.u16(off + 4)
        if mrc >= 0x8000:   # floating-point encoding (RFC 3810 §5.1.3)
            mrc = ((mrc & 0x0FFF) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
        t.add(MLD_MRC, off + 4, 2, mrc)
        t.add(RESERVED, off + 6, 2, buf.bytes(off + 6, 2))
        t.add(MLD_MCAST, off + 8, 16, buf.bytes(off + 8, 16))
        _bitmask(t, MLD_FLAG, off + 24, 1, buf.u8(off + 24),
                 (MLD_FLAG_S, MLD_FLAG_QRV, MLD_FLAG_RSV))
        qqi = buf.u8(off + 25)
        if qqi >= 0x80:
            qqi = ((qqi & 0x0F) | 0x10) << (((qqi & 0x70) >> 4) + 3)
        t.add(MLD_QQI, off + 25, 1, qqi)
        count = buf.u16(off + 26)
        t.add(MLD_NB_SOURCES, off + 26, 2, count)
        for i in range(count):
            p = off + 28 + 16 * i
            t.add(MLD_SOURCE, p, 16, buf.bytes(p, 16))
        return
    t.add(MLD_MRD, off + 4, 2, buf.u16(off + 4))
    t.add(RESERVED, off + 6, 2, buf.bytes(off + 6, 2))
    t.add(MLD_MCAST, off + 8, 16, buf.bytes(off + 8, 16))


def _mldv2_report(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    """Records are read while bytes remain, whatever the count says (as tshark does)."""
    t.add(RESERVED, off + 4, 2, buf.bytes(off + 4, 2))
    t.add(MLDR_NB_RECORDS, off + 6, 2, buf.u16(off + 6))
    pos = off + 8
    while pos < end:
        rtype, aux, nsrc = buf.u8(pos), buf.u8(pos + 1), buf.u16(pos + 2)
        mcast = buf.bytes(pos + 4, 16)
        size = 20 + 16 * nsrc + 4 * aux
        name = MLDR_RECORD_TYPES.get(rtype, f"Unknown ({rtype})")
        r = t.add(MLDR_MAR, pos, size, None,
                  f"Multicast Address Record {name}: {_ip6(mcast)}")
        r.add(MLDR_RECORD_TYPE, pos, 1, rtype)
        r.add(MLDR_AUX_LEN, pos + 1, 1, aux)
        r.add(MLDR_NB_SOURCES, pos + 2, 2, nsrc)
        r.add(MLDR_MCAST, pos + 4, 16, mcast)
        p = pos + 20
        for _ in range(nsrc):
            r.add(MLDR_SOURCE, p, 16, buf.bytes(p, 16))
            p += 16
        if aux:
            r.add(MLDR_AUX, p, 4 * aux, buf.bytes(p, 4 * aux))
        pos += size


def _router_advert(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    t.add(RA_HOP_LIMIT, off + 4, 1, buf.u8(off + 4))
    _bitmask(t, RA_FLAG, off + 5, 1, buf.u8(off + 5),
             (RA_FLAG_M, RA_FLAG_O, RA_FLAG_H, RA_FLAG_PRF, RA_FLAG_P, RA_FLAG_RSV))
    t.add(RA_LIFETIME, off + 6, 2, buf.u16(off + 6))
    t.add(RA_REACHABLE, off + 8, 4, buf.u32(off + 8))
    t.add(RA_RETRANS, off + 12, 4, buf.u32(off + 12))
    _options(buf, off + 16, end, t, pkt)


def _neighbor_solicit(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    t.add(RESERVED, off + 4, 4, buf.bytes(off + 4, 4))
    target = buf.bytes(off + 8, 16)
    t.add(NS_TARGET, off + 8, 16, target)
    pkt.append_info(f"for {_ip6(target)}")
    _options(buf, off + 24, end, t, pkt)


def _neighbor_advert(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    flags = buf.u32(off + 4)
    node = t.add(NA_FLAG, off + 4, 4, flags,
                 _flags_label("Flags", flags, 8, (NA_FLAG_R, NA_FLAG_S, NA_FLAG_O)))
    for spec in (NA_FLAG_R, NA_FLAG_S, NA_FLAG_O, NA_FLAG_RSV):
        node.add_bits(spec, off + 4, 4, flags)
    target = buf.bytes(off + 8, 16)
    t.add(NA_TARGET, off + 8, 16, target)
    names = [n for bit, n in ((0x80000000, "rtr"), (0x40000000, "sol"), (0x20000000, "ovr"))
             if flags & bit]
    pkt.append_info(f"{_ip6(target)} ({', '.join(names) or 'none'})")
    _options(buf, off + 24, end, t, pkt)


def _redirect(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    t.add(RESERVED, off + 4, 4, buf.bytes(off + 4, 4))
    t.add(RD_TARGET, off + 8, 16, buf.bytes(off + 8, 16))
    t.add(RD_DESTINATION, off + 24, 16, buf.bytes(off + 24, 16))
    _options(buf, off + 40, end, t, pkt)


def _router_solicit(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> None:
    t.add(RESERVED, off + 4, 4, buf.bytes(off + 4, 4))
    _options(buf, off + 8, end, t, pkt)


BODIES = {ROUTER_SOLICIT: _router_solicit, ROUTER_ADVERT: _router_advert,
          NEIGHBOR_SOLICIT: _neighbor_solicit, NEIGHBOR_ADVERT: _neighbor_advert,
          REDIRECT: _redirect, MLDV2_REPORT: _mldv2_report}


def dissect_icmpv6(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """One ICMPv6 message (IPv6 next header 58); see _dissect."""
    pkt.enter("icmpv6")
    pkt.set_protocol("ICMPv6")
    if not pkt.fenced:
        pkt.info = []
    _dissect(clip(buf, end), off, end, tree, pkt)
    return None


def _dissect(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
    """Type and code name the message in the Info column first, then the body is read."""
    buf.need(off, 2)
    typ, code = buf.u8(off), buf.u8(off + 1)
    pkt.set_info(TYPE_NAMES.get(typ, f"Unknown ({typ})"))
    code_str = None
    if typ in CODE_NAMES:
        names, unknown = CODE_NAMES[typ]
        code_str = names.get(code, unknown.format(code))
        pkt.append_info(f"({code_str})")
    elif typ == FMIPV6:
        sub = buf.u8(off + 4)
        pkt.append_info(f"({FMIPV6_SUBTYPES.get(sub, f'Unknown ({sub})')})")

    t = tree.add(PROTO, off, min(end, len(buf)) - off)
    t.add(TYPE, off, 1, typ)
    t.add(CODE, off + 1, 1, code, f"Code: {code} ({code_str})" if code_str else None)
    value = buf.u16(off + 2)
    if pkt.in_error:
        add_checksum(t, pkt, off + 2, value, None, "in ICMP error packet", CHECKSUM,
                     CHECKSUM_STATUS, CHECKSUM_BAD)
    elif len(buf) < end or pkt.net_ver != 6:
        add_checksum(t, pkt, off + 2, value, None, "fragmented datagram", CHECKSUM,
                     CHECKSUM_STATUS, CHECKSUM_BAD)
    else:
        pseudo = ones_sum(pkt.net_src + pkt.net_dst + (end - off).to_bytes(4, "big") +
                          b"\0\0\0\x3a")
        add_checksum(t, pkt, off + 2, value, checksum_of(buf.data[off:end], pseudo), "",
                     CHECKSUM, CHECKSUM_STATUS, CHECKSUM_BAD)

    mtu = rtt = -1
    if typ in (DST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED, PARAM_PROBLEM):
        if typ == PACKET_TOO_BIG:
            mtu = buf.u32(off + 4)
        _error(buf, off, end, t, pkt, typ)
    elif typ in (ECHO_REQUEST, ECHO_REPLY):
        rtt = _echo(buf, off, end, t, pkt, typ)
    elif typ in (MLD_QUERY, MLD_REPORT, MLD_DONE):
        _mld(buf, off, end, t, pkt, typ)
    elif typ in (EXT_ECHO_REQUEST, EXT_ECHO_REPLY):
        _ext_echo(buf, off, end, t, pkt, typ)
    elif typ in BODIES:
        BODIES[typ](buf, off, end, t, pkt)
    else:
        if typ not in KNOWN_TYPES:
            t.add_expert(UNDECODED_TYPE, off, 1,
                         f"Dissector for ICMPv6 Type ({typ}) code not implemented, "
                         "Contact Wireshark developers if you want this supported")
            pkt.note(UNDECODED_TYPE)
        rest = min(end, len(buf)) - (off + 4)
        if rest > 0:
            t.add(DATA, off + 4, rest, buf.bytes(off + 4, rest))
    if not pkt.in_error:
        pkt.hints["icmp"] = IcmpSummary(6, typ, code, mtu, rtt)


IP_PROTO.register(58, dissect_icmpv6)
