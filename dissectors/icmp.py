"""ICMP for IPv4: RFC 792, with 950 (address mask), 1191 (next-hop MTU), 1256 (router
discovery), 4884 and 4950 (extensions, MPLS labels) and 8335 (extended echo).

ICMP is how the network explains why packets went nowhere: "nothing listens on that port",
"no route", "a firewall rejected it", "too big for the next hop". The error messages quote
the start of the packet that failed; that quote is dissected with the IP dissector inside
fenced columns, so `frame.protocols` reads "ip:icmp:ip:udp:dns" and `ip.src` lists both
headers, exactly as tshark shows it.

Echo requests and replies are paired the way tshark's single pass pairs them: a request is
remembered under the checksum its reply must carry, its identifier and sequence number, and
the address pair, so only a reply that echoes the same data matches.

The parts shared with ICMPv6 (echo pairing, the quoted packet, checksum items, the 8-byte
timestamp heuristic) live here and are imported by icmpv6.py.

Facts for the analysis engine, left in `pkt.hints` (the summary path has no tree):
  "icmp"        IcmpSummary(family, type, code, mtu, rtt_ns) of the outermost message
  "icmp_quoted" Quoted(proto, src, dst, sport, dport) of the packet an error quotes
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import NamedTuple

from .buffer import Buf, Malformed, Truncated
from .data import dissect_data
from .dispatch import ETHERTYPE, IP_PROTO
from .fields import (
    FT,
    Base,
    ExpertSpec,
    FieldSpec,
    Severity,
    bitfield_str,
    expert,
    field,
    protocol,
)
from .packet import Packet
from .tree import Tree

# ---------------------------------------------------------------------------------------
# Names, as Wireshark shows them
# ---------------------------------------------------------------------------------------

ECHO_REPLY, UNREACH, SOURCE_QUENCH, REDIRECT, ALT_HOST, ECHO = 0, 3, 4, 5, 6, 8
ROUTER_ADVERT, ROUTER_SOLICIT, TIME_EXCEEDED, PARAM_PROBLEM = 9, 10, 11, 12
TIMESTAMP, TIMESTAMP_REPLY, INFO_REQUEST, INFO_REPLY = 13, 14, 15, 16
MASK_REQUEST, MASK_REPLY, PHOTURIS, EXT_ECHO, EXT_ECHO_REPLY = 17, 18, 40, 42, 43
FRAG_NEEDED = 4  # Destination unreachable code

TYPE_NAMES = {
    0: "Echo (ping) reply", 1: "Reserved", 2: "Reserved", 3: "Destination unreachable",
    4: "Source quench (flow control)", 5: "Redirect", 6: "Alternate host address",
    8: "Echo (ping) request", 9: "Router advertisement", 10: "Router solicitation",
    11: "Time-to-live exceeded", 12: "Parameter problem", 13: "Timestamp request",
    14: "Timestamp reply", 15: "Information request", 16: "Information reply",
    17: "Address mask request", 18: "Address mask reply", 19: "Reserved (for security)",
    30: "Traceroute", 31: "Datagram Conversion Error", 32: "Mobile Host Redirect",
    33: "IPv6 Where-Are-You", 34: "IPv6 I-Am-Here", 35: "Mobile Registration Request",
    36: "Mobile Registration Reply", 37: "Domain Name Request", 38: "Domain Name Reply",
    39: "SKIP", 40: "Photuris", 41: "Experimental mobility protocols",
    42: "Extended Echo request", 43: "Extended Echo reply",
}
UNKNOWN_TYPE = "Unknown ICMP (obsolete or malformed?)"

UNREACH_CODES = {
    0: "Network unreachable", 1: "Host unreachable", 2: "Protocol unreachable",
    3: "Port unreachable", 4: "Fragmentation needed", 5: "Source route failed",
    6: "Destination network unknown", 7: "Destination host unknown",
    8: "Source host isolated", 9: "Network administratively prohibited",
    10: "Host administratively prohibited", 11: "Network unreachable for TOS",
    12: "Host unreachable for TOS", 13: "Communication administratively filtered",
    14: "Host precedence violation", 15: "Precedence cutoff in effect",
}
# Types whose code has names; other types show the bare number.
CODE_NAMES: dict[int, dict[int, str]] = {
    UNREACH: UNREACH_CODES,
    REDIRECT: {0: "Redirect for network", 1: "Redirect for host",
               2: "Redirect for TOS and network", 3: "Redirect for TOS and host"},
    ALT_HOST: {0: "Alternate address for host"},
    ROUTER_ADVERT: {0: "Normal router advertisement", 16: "Does not route common traffic"},
    TIME_EXCEEDED: {0: "Time to live exceeded in transit",
                    1: "Fragment reassembly time exceeded"},
    PARAM_PROBLEM: {0: "Pointer indicates the error", 1: "Required option missing",
                    2: "Bad length"},
    PHOTURIS: {0: "Bad SPI", 1: "Authentication Failed", 2: "Decompression Failed",
               3: "Decryption Failed", 4: "Need Authentication", 5: "Need Authorization"},
    EXT_ECHO: {0: "No error"},
    EXT_ECHO_REPLY: {0: "No error", 1: "Malformed Query", 2: "No Such Interface",
                     3: "No Such Table Entry", 4: "Multiple Interfaces Satisfy Query"},
}

# What each message means for a backend engineer; the explain pane and the findings engine
# look messages up here by (type, code), then by (type, None).
EXPLAIN: dict[tuple[int, int | None], str] = {
    (UNREACH, 0): "A router has no route to the destination network. Nothing you send there "
                  "arrives: check routing tables, VPN/peering and the destination's subnet.",
    (UNREACH, 1): "The last router could not reach the host (no ARP/ND answer): the machine is "
                  "down, its IP moved, or the address is wrong.",
    (UNREACH, 2): "The destination does not speak that IP protocol (e.g. GRE, SCTP, ESP).",
    (UNREACH, 3): "Port unreachable: the host is up but nothing listens on that UDP port. For "
                  "DNS this means the resolver process is down or bound elsewhere; the client "
                  "will retry and time out. (For TCP a closed port answers with RST instead.)",
    (UNREACH, 4): "Fragmentation needed: the packet had Don't Fragment set and is larger than "
                  "the next hop's MTU (icmp.mtu). The sender must lower its path MTU and resend. "
                  "If a firewall drops these messages, large packets vanish silently while small "
                  "ones work: a PMTU black hole (TLS handshakes or big responses hang).",
    (UNREACH, 9): "Network administratively prohibited: a router's filter rejected the packet "
                  "(an ACL or firewall REJECT rule), rather than dropping it silently.",
    (UNREACH, 10): "Host administratively prohibited: a firewall on or near the host rejected "
                   "the packet (iptables REJECT --reject-with icmp-host-prohibited).",
    (UNREACH, 13): "Communication administratively filtered: a firewall REJECT rule "
                   "(icmp-admin-prohibited). The service may be fine; policy blocks you.",
    (UNREACH, None): "A router or the destination host could not deliver the quoted packet. "
                     "The quoted headers say which connection failed.",
    (TIME_EXCEEDED, 0): "TTL exceeded in transit: the packet ran out of hops. Expected for "
                        "traceroute probes; for normal traffic it means a routing loop.",
    (TIME_EXCEEDED, 1): "Fragment reassembly timed out at the receiver: some fragments of a "
                        "datagram were lost, so the whole datagram was dropped.",
    (TIME_EXCEEDED, None): "The packet was dropped because it lived too long.",
    (REDIRECT, None): "A router tells this host to use a better gateway (icmp.redir_gw) for the "
                      "destination. Harmless on flat LANs; unexpected redirects can mean a wrong "
                      "default route, or an attempt to divert traffic.",
    (SOURCE_QUENCH, None): "Obsolete congestion signal (RFC 6633): ignore it; modern stacks do.",
    (PARAM_PROBLEM, None): "A router or host found a bad header field in the quoted packet "
                           "(icmp.pointer says which byte): a buggy stack or odd IP options.",
    (ECHO, None): "Ping request. A request without a reply means the host, or a firewall on the "
                  "way, did not answer; it does not prove a TCP service is down.",
    (ECHO_REPLY, None): "Ping reply. The response time is a network round trip with almost no "
                        "server work: compare it with your service's response time.",
}


def explain(typ: int, code: int) -> str:
    """What an ICMP message means for a backend engineer ('' when nothing to add)."""
    return EXPLAIN.get((typ, code)) or EXPLAIN.get((typ, None), "")


CHECKSUM_STATUS_NAMES = {0: "Bad", 1: "Good", 2: "Unverified", 3: "Not present", 4: "Illegal"}
CK_BAD, CK_GOOD, CK_UNVERIFIED, CK_NOT_PRESENT = 0, 1, 2, 3

EXT_CLASSES = {1: "MPLS Label Stack Class", 2: "Interface Information Object",
               3: "Interface Identification Object"}
EXT_ECHO_STATES = {0: "Reserved", 1: "Incomplete", 2: "Reachable", 3: "Stale", 4: "Delay",
                   5: "Probe", 6: "Failed"}
MIP_EXTENSIONS = {0: "One byte padding extension", 16: "Mobility Agent Advertisement Extension",
                  19: "Prefix Lengths Extension", 24: "Challenge Extension"}

# ---------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------

PROTO = protocol("icmp", "Internet Control Message Protocol",
                 explain="Control messages about IPv4 delivery: ping, and errors that tell the "
                         "sender why a packet was dropped (unreachable, TTL exceeded, too big).")
TYPE = field("icmp.type", "Type", FT.UINT8, blurb="ICMP message type",
             explain="3 = destination unreachable (see the code), 11 = TTL exceeded "
                     "(traceroute or a routing loop), 5 = redirect, 8/0 = ping request/reply.")
CODE = field("icmp.code", "Code", FT.UINT8, blurb="Refines the type",
             explain="For unreachable: 3 port (nothing listening on a UDP port, e.g. DNS "
                     "server down), 1 host / 0 network (no route), 4 fragmentation needed "
                     "(PMTU), 9/10/13 administratively prohibited (a firewall REJECT rule).")
CHECKSUM = field("icmp.checksum", "Checksum", FT.UINT16, Base.HEX,
                 blurb="Internet checksum of the ICMP message")
CHECKSUM_STATUS = field("icmp.checksum.status", "Checksum Status", FT.UINT8,
                        strings=CHECKSUM_STATUS_NAMES)
CHECKSUM_BAD = expert("icmp.checksum_bad", "checksum", Severity.WARN, "Bad checksum",
                      explain="The ICMP message was corrupted on the way, or was built wrong.")
UNUSED = field("icmp.unused", "Unused", FT.BYTES)
RESERVED = field("icmp.reserved", "Reserved", FT.BYTES)
IDENT = field("icmp.ident", "Identifier (BE)", FT.UINT16, Base.DEC_HEX,
              blurb="Identifier (big endian representation)",
              explain="Chosen by the pinging program (often its process id) so it can tell "
                      "its replies from another ping's.")
IDENT_LE = field("icmp.ident_le", "Identifier (LE)", FT.UINT16, Base.DEC_HEX,
                 blurb="Identifier (little endian representation)")
SEQ = field("icmp.seq", "Sequence Number (BE)", FT.UINT16, Base.DEC_HEX,
            blurb="Sequence Number (big endian representation)",
            explain="Counts the pings; a gap in the replies' sequence numbers is loss.")
SEQ_LE = field("icmp.seq_le", "Sequence Number (LE)", FT.UINT16, Base.DEC_HEX,
               blurb="Sequence Number (little endian representation)",
               explain="Windows writes the sequence number little-endian; Wireshark shows both.")
MTU = field("icmp.mtu", "MTU of next hop", FT.UINT16,
            blurb="Next-hop MTU (RFC 1191), in fragmentation-needed messages",
            explain="The largest packet the next link carries. The sender should shrink its "
                    "packets (TCP lowers its MSS) to fit. If these messages are filtered, "
                    "connections hang once they send a full-size packet: a PMTU black hole. "
                    "Fix by allowing ICMP type 3 code 4, or clamping the MSS on the tunnel/VPN.")
NUM_ADDRS = field("icmp.num_addrs", "Number of addresses", FT.UINT8)
ADDR_ENTRY_SIZE = field("icmp.addr_entry_size", "Address entry size", FT.UINT8)
LIFETIME = field("icmp.lifetime", "Lifetime", FT.UINT16,
                 blurb="Seconds the advertised router addresses stay valid")
POINTER = field("icmp.pointer", "Pointer", FT.UINT32,
                blurb="Octet of the quoted header that caused the problem")
ROUTER_ADDRESS = field("icmp.router_address", "Router address", FT.IPv4)
PREF_LEVEL = field("icmp.pref_level", "Preference level", FT.INT32)
ORIGINATE_TS = field("icmp.originate_timestamp", "Originate Timestamp", FT.UINT32,
                     blurb="Milliseconds since midnight UTC when the request was sent")
RECEIVE_TS = field("icmp.receive_timestamp", "Receive Timestamp", FT.UINT32)
TRANSMIT_TS = field("icmp.transmit_timestamp", "Transmit Timestamp", FT.UINT32)
ADDRESS_MASK = field("icmp.address_mask", "Address Mask", FT.IPv4)
REDIR_GW = field("icmp.redir_gw", "Gateway Address", FT.IPv4,
                 blurb="The better first hop the redirect names",
                 explain="The router the host is told to use for this destination instead.")
LENGTH = field("icmp.length", "Length", FT.UINT8, blurb="The length of the original datagram")
LENGTH_ORIGINAL = field("icmp.length.original_datagram", "Length of original datagram",
                        FT.UINT8, blurb="The length of the original datagram (length * 4)")
RESP_IN = field("icmp.resp_in", "Response frame", FT.FRAMENUM,
                blurb="The frame number of the corresponding response")
NO_RESP = field("icmp.no_resp", "No response seen", FT.NONE,
                blurb="No corresponding response frame was seen")
RESP_NOT_FOUND = expert("icmp.resp_not_found", "sequence", Severity.WARN, "Response not found",
                        explain="No reply to this ping in the capture: the host, or a firewall "
                                "in between, did not answer (or the capture ended first).")
RESP_TO = field("icmp.resp_to", "Request frame", FT.FRAMENUM,
                blurb="The frame number of the corresponding request")
RESPTIME = field("icmp.resptime", "Response time", FT.DOUBLE,
                 blurb="The time between the request and the response, in ms.",
                 explain="Ping round-trip time: pure network latency plus the peer's kernel. "
                         "If your service is much slower than this, the time is spent in the "
                         "application, not on the wire.")
DATA_TIME = field("icmp.data_time", "Timestamp from icmp data", FT.ABSOLUTE_TIME,
                  blurb="The timestamp in the first 8 bytes of the icmp data")
DATA_TIME_REL = field("icmp.data_time_relative", "Timestamp from icmp data (relative)",
                      FT.RELATIVE_TIME, blurb="The timestamp of the packet, relative to the "
                                              "timestamp in the first 8 bytes of the icmp data")
MIP_TYPE = field("icmp.mip.type", "Extension Type", FT.UINT8, strings=MIP_EXTENSIONS)
MIP_LENGTH = field("icmp.mip.length", "Length", FT.UINT8)
MIP_CONTENT = field("icmp.mip.content", "Content", FT.BYTES)
EXT = field("icmp.ext", "ICMP Extensions", FT.NONE,
            explain="RFC 4884 extensions after the quoted packet, e.g. the MPLS labels a "
                    "traceroute probe carried when the TTL expired inside an MPLS core.")
EXT_VERSION = field("icmp.ext.version", "Version", FT.UINT8)
EXT_RESERVED = field("icmp.ext.res", "Reserved", FT.UINT16, Base.HEX, bitmask=0x0FFF)
EXT_CHECKSUM = field("icmp.ext.checksum", "Checksum", FT.UINT16, Base.HEX)
EXT_CHECKSUM_STATUS = field("icmp.ext.checksum.status", "Checksum Status", FT.UINT8,
                            strings=CHECKSUM_STATUS_NAMES)
EXT_CHECKSUM_BAD = expert("icmp.ext.checksum_bad", "checksum", Severity.WARN, "Bad checksum")
EXT_LENGTH = field("icmp.ext.length", "Length", FT.UINT16)
EXT_CLASS = field("icmp.ext.class", "Class", FT.UINT8, strings=EXT_CLASSES)
EXT_CTYPE = field("icmp.ext.ctype", "C-Type", FT.UINT8)
EXT_DATA = field("icmp.ext.data", "Data", FT.BYTES)
MPLS_LABEL = field("icmp.mpls.label", "Label", FT.UINT24, bitmask=0xFFFFF0,
                   explain="The MPLS label the expired packet carried inside the provider's core.")
MPLS_EXP = field("icmp.mpls.exp", "Experimental", FT.UINT24, bitmask=0x00000E)
MPLS_S = field("icmp.mpls.s", "Stack bit", FT.BOOLEAN, bitmask=0x000001)
MPLS_TTL = field("icmp.mpls.ttl", "Time to live", FT.UINT8)
MPLS_DATA = field("icmp.mpls.data", "Data", FT.BYTES)
EXT_ECHO_SEQ = field("icmp.ext.echo.seq", "Sequence Number", FT.UINT8, Base.DEC_HEX)
EXT_ECHO_REQ_RES = field("icmp.ext.echo.req.res", "Reserved", FT.UINT8, Base.HEX, bitmask=0xFE)
EXT_ECHO_REQ_LOCAL = field("icmp.ext.echo.req.local", "Local bit", FT.BOOLEAN, bitmask=0x01)
EXT_ECHO_RSP_STATE = field("icmp.ext.echo.rsp.state", "State", FT.UINT8, bitmask=0xE0,
                           strings=EXT_ECHO_STATES)
EXT_ECHO_RSP_RES = field("icmp.ext.echo.rsp.res", "Reserved", FT.UINT8, Base.HEX, bitmask=0x18)
EXT_ECHO_RSP_ACTIVE = field("icmp.ext.echo.rsp.active", "Active bit", FT.BOOLEAN, bitmask=0x04)
EXT_ECHO_RSP_IPV4 = field("icmp.ext.echo.rsp.ipv4", "IPv4 bit", FT.BOOLEAN, bitmask=0x02)
EXT_ECHO_RSP_IPV6 = field("icmp.ext.echo.rsp.ipv6", "IPv6 bit", FT.BOOLEAN, bitmask=0x01)

# ---------------------------------------------------------------------------------------
# Shared with ICMPv6
# ---------------------------------------------------------------------------------------


class IcmpSummary(NamedTuple):
    """The outer ICMP(v6) message, for the analysis engine (pkt.hints["icmp"])."""

    family: int      # 4 or 6
    type: int
    code: int
    mtu: int         # next-hop MTU of frag-needed / packet-too-big, else -1
    rtt_ns: int      # echo reply: nanoseconds since its request, else -1


class Quoted(NamedTuple):
    """The packet an ICMP(v6) error quotes (pkt.hints["icmp_quoted"])."""

    proto: int       # IP protocol of the quoted packet (17 UDP, 6 TCP, ...), -1 unknown
    src: bytes       # its source and destination addresses (4 or 16 bytes)
    dst: bytes
    sport: int       # its transport ports, -1 when the quote is too short to hold them
    dport: int


def clip(buf: Buf, end: int) -> Buf:
    """The frame seen as ending at `end` (same offsets): a read past this message is
    Malformed even when Ethernet padding follows it, one past the capture Truncated."""
    if len(buf) <= end and buf.reported <= end:
        return buf
    return Buf(buf.data[:end], end)


def fold(s: int) -> int:
    """Fold carries into 16 bits (one's complement addition)."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ones_sum(data: bytes) -> int:
    """16-bit one's complement sum (RFC 1071); odd lengths pad with a zero byte."""
    if len(data) % 2:
        data += b"\0"
    return fold(sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)))


def checksum_of(data: bytes, pseudo_sum: int = 0) -> int:
    """The value a checksum field at bytes 2-3 of `data` should hold."""
    return ~fold(ones_sum(data[:2] + b"\0\0" + data[4:]) + pseudo_sum) & 0xFFFF


def add_checksum(t: Tree, pkt: Packet, off: int, value: int, computed: int | None,
                 why_unverified: str, ck: FieldSpec, status: FieldSpec,
                 bad: ExpertSpec) -> None:
    """The checksum item and its status as Wireshark labels them. `computed` is the value
    the field should hold, or None when it cannot be verified (`why_unverified` says why)."""
    if computed is None:
        t.add(ck, off, 2, value, f"Checksum: 0x{value:04x} [unverified] [{why_unverified}]")
        state = CK_UNVERIFIED
    elif computed == value:
        t.add(ck, off, 2, value, f"Checksum: 0x{value:04x} [correct]")
        state = CK_GOOD
    else:
        n = t.add(ck, off, 2, value, f"Checksum: 0x{value:04x} incorrect, should be "
                                     f"0x{computed:04x}")
        n.add_expert(bad, off, 2, f"Bad checksum [should be 0x{computed:04x}]")
        pkt.note(bad)
        state = CK_BAD
    t.add(status, off, 0, state, f"Checksum Status: {CHECKSUM_STATUS_NAMES[state]}",
          generated=True)


class EchoTracker:
    """Pairs echo requests with replies in one pass, like tshark without -2.

    A request is filed under (address pair, the checksum its reply will carry, id<<16|seq);
    the latest request with a key wins, and it takes the first reply with that key. Frames
    dissected again later (pkt.visited) read their partner from compact per-frame arrays
    (frame number, partner frame, request time or reply delay), searched by bisection.
    """

    MAX_PENDING = 1 << 16

    def __init__(self) -> None:
        self._pending: dict[tuple, int] = {}
        self._frames = array("I")   # echo frames in dissection order (ascending)
        self._peer = array("I")     # request: its reply frame (0 none); reply: its request
        self._time = array("q")     # request: its timestamp; reply: delay since the request

    def _index(self, frame: int) -> int:
        i = bisect_left(self._frames, frame)
        return i if i < len(self._frames) and self._frames[i] == frame else -1

    def request(self, pkt: Packet, key: tuple) -> int:
        """Record a request on the first pass; return its reply frame when known, 0 if
        none was seen, -1 on the first pass (tshark does not know yet)."""
        if pkt.visited:
            i = self._index(pkt.number)
            return self._peer[i] if i >= 0 else 0
        if len(self._pending) >= self.MAX_PENDING and key not in self._pending:
            del self._pending[next(iter(self._pending))]
        self._pending[key] = len(self._frames)
        self._frames.append(pkt.number)
        self._peer.append(0)
        self._time.append(pkt.ts_ns)
        return -1

    def reply(self, pkt: Packet, key: tuple) -> tuple[int, int] | None:
        """(request frame, delay in ns) for a reply that answers a request, else None."""
        if pkt.visited:
            i = self._index(pkt.number)
            return (self._peer[i], self._time[i]) if i >= 0 else None
        i = self._pending.get(key, -1)
        if i < 0 or self._peer[i]:
            return None  # no request, or it was answered already (a duplicate reply)
        self._peer[i] = pkt.number
        delay = pkt.ts_ns - self._time[i]
        self._frames.append(pkt.number)
        self._peer.append(self._frames[i])
        self._time.append(delay)
        return self._frames[i], delay


def echo_key(pkt: Packet, checksum: int, ident: int, seq: int) -> tuple:
    """The key under which request and reply meet (the address pair in either order)."""
    a, b = pkt.net_src, pkt.net_dst
    return (min(a, b), max(a, b), checksum, ident << 16 | seq)


def reply_checksum(checksum: int, word_delta: int) -> int:
    """The checksum an echo reply carries when only its type changed: the request's sum
    plus the change of the first 16-bit word (a one's complement value: ~x subtracts x)."""
    return ~fold((~checksum & 0xFFFF) + word_delta) & 0xFFFF


def ms(delay_ns: int) -> float:
    """Milliseconds as Wireshark computes them (seconds and nanoseconds apart)."""
    sec, nsec = divmod(delay_ns, 1_000_000_000)
    return sec * 1000.0 + nsec / 1000000.0


def not_unicast(addr: bytes) -> str:
    """Wireshark's note for an unanswered request to a group address, else ""."""
    if len(addr) == 4:
        if addr == b"\xff\xff\xff\xff":
            return "(broadcast)"
        return "(multicast)" if 224 <= addr[0] <= 239 else ""
    return "(multicast)" if addr[:1] == b"\xff" else ""


def echo_pairing(t: Tree, pkt: Packet, tracker: EchoTracker, key: tuple, is_reply: bool,
                 resp_in: FieldSpec, resp_to: FieldSpec, resptime: FieldSpec,
                 no_resp: FieldSpec, not_found: ExpertSpec) -> int:
    """Add the request/response items and Info suffix; return the reply's delay or -1."""
    if is_reply:
        match = tracker.reply(pkt, key)
        if match is None:
            return -1
        req, delay = match
        t.add(resp_to, 0, 0, req, generated=True)
        t.add(resptime, 0, 0, ms(delay), f"{resptime.name}: {ms(delay):.3f} ms", generated=True)
        pkt.append_info(f"(request in {req})")
        return delay
    reply = tracker.request(pkt, key)
    if reply > 0:
        t.add(resp_in, 0, 0, reply, generated=True)
        pkt.append_info(f"(reply in {reply})")
    elif reply == 0:
        group = not_unicast(pkt.net_dst)
        if group:
            pkt.append_info(group)
        else:
            t.add(no_resp, 0, 0, None, generated=True).add_expert(
                not_found, 0, 0, "No response seen to ICMP request")
            pkt.note(not_found)
            pkt.append_info("(no response found!)")
    return -1


def data_timestamp(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> int:
    """Wireshark's heuristic: the first 8 data bytes may be the sender's struct timeval
    (32-bit seconds and microseconds, either byte order) within a day of the capture.
    Shows it and returns where the opaque data starts."""
    if min(end, len(buf)) - off < 8:
        return off
    now = pkt.ts_ns // 1_000_000_000
    for order in ("big", "little"):
        sec = int.from_bytes(buf.data[off:off + 4], order)
        usec = int.from_bytes(buf.data[off + 4:off + 8], order)
        if abs(_int32(sec - now)) < 86400 and usec < 1_000_000:
            t.add(DATA_TIME, off, 8, (sec, usec * 1000))
            t.add(DATA_TIME_REL, off, 8, pkt.ts_ns - (sec * 1_000_000_000 + usec * 1000),
                  generated=True)
            return off + 8
    return off


def _int32(v: int) -> int:
    """C's (int) cast of a difference, which Wireshark's heuristic compares."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def dissect_quoted(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, etype: int) -> None:
    """Dissect the packet an error message quotes, as its IP dissector would, with the
    columns fenced and pkt.in_error set. The outer frame's addresses, ports and hints are
    restored afterwards; the quote's summary is left in pkt.hints["icmp_quoted"].

    A quote is short by nature: dissectors that run past it stop silently. Only a frame the
    capture really cut short (captured < quote end) reports truncation, as tshark does.
    """
    fn = ETHERTYPE.get(etype)
    if fn is None or off >= end or _quote_depth(pkt) > MAX_QUOTE_DEPTH:
        return
    current = pkt.current
    saved = (pkt.fenced, pkt.in_error, pkt.net_src, pkt.net_dst, pkt.net_ver, pkt.ip_proto,
             pkt.ttl, pkt.srcport, pkt.dstport, pkt.ptype, pkt.tcp, pkt.udp, dict(pkt.hints))
    pkt.fenced = pkt.in_error = True
    quote = clip(buf, end)
    try:
        fn(quote, off, end, tree, pkt)
    except Truncated:
        if len(buf) < end:
            raise
    except Malformed:
        pass
    finally:
        (pkt.fenced, pkt.in_error, pkt.net_src, pkt.net_dst, pkt.net_ver, pkt.ip_proto, pkt.ttl,
         pkt.srcport, pkt.dstport, pkt.ptype, pkt.tcp, pkt.udp, hints) = saved
        pkt.hints.clear()
        pkt.hints.update(hints)
    pkt.current = current
    quoted = quoted_summary(quote.data, off, end)
    if quoted is not None:
        pkt.hints["icmp_quoted"] = quoted


# An error quoting an error is already against RFC 1122 (3.2.2); deeper nesting is only
# ever hostile, and would exhaust the interpreter's stack.
MAX_QUOTE_DEPTH = 8


def _quote_depth(pkt: Packet) -> int:
    return sum(1 for layer in pkt.layers if layer in ("icmp", "icmpv6"))


_IPV6_EXTENSIONS = frozenset((0, 43, 44, 60))   # hop-by-hop, routing, fragment, dst options
_PORTED = frozenset((6, 17, 33, 132, 136))       # TCP, UDP, DCCP, SCTP, UDP-Lite


def quoted_summary(data: bytes, off: int, end: int) -> Quoted | None:
    """Protocol, addresses and ports of a quoted packet, read straight from its bytes
    (inner dissectors leave pkt untouched while the columns are fenced)."""
    stop = min(end, len(data))
    if stop - off < 20:
        return None
    version = data[off] >> 4
    if version == 4:
        proto, src, dst = data[off + 9], data[off + 12:off + 16], data[off + 16:off + 20]
        pos = off + (data[off] & 0x0F) * 4
    elif version == 6 and stop - off >= 40:
        proto, src, dst = data[off + 6], data[off + 8:off + 24], data[off + 24:off + 40]
        pos = off + 40
        for _ in range(8):   # a bounded walk over extension headers
            if proto not in _IPV6_EXTENSIONS or pos + 2 > stop:
                break
            proto, pos = data[pos], pos + (8 if proto == 44 else (data[pos + 1] + 1) * 8)
    else:
        return None
    sport = dport = -1
    if proto in _PORTED and pos + 4 <= stop:
        sport, dport = int.from_bytes(data[pos:pos + 2], "big"), \
            int.from_bytes(data[pos + 2:pos + 4], "big")
    return Quoted(proto, bytes(src), bytes(dst), sport, dport)


def time_str(secs: int, msecs: int = 0) -> str:
    """Wireshark's duration text: '1 hour, 0.100 seconds', '30 minutes', '0 seconds'."""
    if secs == 0 and msecs == 0:
        return "0 seconds"
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    mins, s = divmod(rest, 60)
    parts = [f"{n} {unit}{'s' if n != 1 else ''}"
             for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute")) if n]
    if msecs:
        parts.append(f"{s}.{msecs:03d} seconds")
    elif s:
        parts.append(f"{s} second{'s' if s != 1 else ''}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------
# ICMP
# ---------------------------------------------------------------------------------------

MS_PER_DAY = 86_400_000


def _best_guess_ms(raw: int, frame_ms: int) -> int:
    """Wireshark's guess at the byte order of an RFC 792 timestamp (ms since midnight UT,
    high bit = non-standard): the reading that lies within a day, nearest the capture."""
    be = raw & 0x7FFFFFFF
    le = int.from_bytes(raw.to_bytes(4, "big"), "little") & 0x7FFFFFFF
    if be < MS_PER_DAY <= le:
        return be
    if le < MS_PER_DAY <= be:
        return le
    if be < MS_PER_DAY and le < MS_PER_DAY:
        b2, l2 = be, le
        if be < frame_ms and be <= MS_PER_DAY // 4 and frame_ms >= MS_PER_DAY * 3 // 4:
            b2 += MS_PER_DAY
        if le < frame_ms and le <= MS_PER_DAY // 4 and frame_ms >= MS_PER_DAY * 3 // 4:
            l2 += MS_PER_DAY
        return be if (b2 - frame_ms) & 0xFFFFFFFF < (l2 - frame_ms) & 0xFFFFFFFF else le
    return be if (be - frame_ms) & 0xFFFFFFFF < (le - frame_ms) & 0xFFFFFFFF else le


def _ident_seq(buf: Buf, off: int, t: Tree) -> tuple[int, int]:
    ident, seq = buf.u16(off + 4), buf.u16(off + 6)
    if t:
        t.add(IDENT, off + 4, 2, ident)
        t.add(IDENT_LE, off + 4, 2, buf.u16le(off + 4))
        t.add(SEQ, off + 6, 2, seq)
        t.add(SEQ_LE, off + 6, 2, buf.u16le(off + 6))
    return ident, seq


def _rfc4884_length(t: Tree, off: int, words: int) -> None:
    t.add(LENGTH, off + 5, 1, words)
    t.add(LENGTH_ORIGINAL, off + 5, 1, words * 4, generated=True)


def _second_word(buf: Buf, off: int, t: Tree, pkt: Packet, typ: int, code: int,
                 words: int) -> None:
    """Bytes 4-7, whose meaning depends on the type."""
    if typ in (ECHO_REPLY, ECHO, TIMESTAMP, TIMESTAMP_REPLY, INFO_REQUEST, INFO_REPLY,
               MASK_REQUEST, MASK_REPLY):
        ident, seq = _ident_seq(buf, off, t)
        ttl = f", ttl={pkt.ttl}" if pkt.ttl >= 0 else ""
        pkt.append_info(f"id=0x{ident:04x}, seq={seq}/{buf.u16le(off + 6)}{ttl}")
    elif typ == UNREACH:
        if words:
            t.add(UNUSED, off + 4, 1, buf.bytes(off + 4, 1))
            _rfc4884_length(t, off, words)
            if code == FRAG_NEEDED:
                t.add(MTU, off + 6, 2, buf.u16(off + 6))
            else:
                t.add(UNUSED, off + 6, 2, buf.bytes(off + 6, 2))
        elif code == FRAG_NEEDED:
            t.add(UNUSED, off + 4, 2, buf.bytes(off + 4, 2))
            t.add(MTU, off + 6, 2, buf.u16(off + 6))
        else:
            t.add(UNUSED, off + 4, 4, buf.bytes(off + 4, 4))
    elif typ == ROUTER_ADVERT:
        t.add(NUM_ADDRS, off + 4, 1, buf.u8(off + 4))
        t.add(ADDR_ENTRY_SIZE, off + 5, 1, buf.u8(off + 5))
        life = buf.u16(off + 6)
        t.add(LIFETIME, off + 6, 2, life, f"Lifetime: {life} ({time_str(life)})")
    elif typ == PARAM_PROBLEM:
        t.add(POINTER, off + 4, 1, buf.u8(off + 4))
        if words:
            _rfc4884_length(t, off, words)
            t.add(UNUSED, off + 6, 2, buf.bytes(off + 6, 2))
        else:
            t.add(UNUSED, off + 5, 3, buf.bytes(off + 5, 3))
    elif typ == REDIRECT:
        t.add(REDIR_GW, off + 4, 4, buf.bytes(off + 4, 4))
    elif typ == TIME_EXCEEDED:
        if words:
            t.add(UNUSED, off + 4, 1, buf.bytes(off + 4, 1))
            _rfc4884_length(t, off, words)
            t.add(UNUSED, off + 6, 2, buf.bytes(off + 6, 2))
        else:
            t.add(UNUSED, off + 4, 4, buf.bytes(off + 4, 4))
    elif typ in (EXT_ECHO, EXT_ECHO_REPLY):
        t.add(IDENT, off + 4, 2, buf.u16(off + 4))
        t.add(IDENT_LE, off + 4, 2, buf.u16le(off + 4))
        t.add(EXT_ECHO_SEQ, off + 6, 1, buf.u8(off + 6))
        flags = buf.u8(off + 7)
        bits = (EXT_ECHO_REQ_RES, EXT_ECHO_REQ_LOCAL) if typ == EXT_ECHO else \
            (EXT_ECHO_RSP_STATE, EXT_ECHO_RSP_RES, EXT_ECHO_RSP_ACTIVE, EXT_ECHO_RSP_IPV4,
             EXT_ECHO_RSP_IPV6)
        for spec in bits:
            t.add_bits(spec, off + 7, 1, flags)


def _quote_end(buf: Buf, off: int, end: int, typ: int, words: int) -> int:
    """Where the quoted datagram ends: a redirect quotes the IP header and 8 bytes; an RFC
    4884 length (counted, as Wireshark does, on top of the quoted header's own length)
    stops the quote where extensions begin."""
    if typ == REDIRECT:
        return min(end, off + 8 + (buf.u8(off + 8) & 0x0F) * 4 + 8)
    if words and end - off > 8 + words * 4 and buf.u16(off + 10) > words * 4:
        return min(end, off + 8 + ((buf.u8(off + 8) & 0x0F) + words) * 4)
    return end


def dissect_extensions(buf: Buf, off: int, end: int, t: Tree, pkt: Packet) -> bool:
    """RFC 4884 multi-part extensions: a version/checksum header, then objects (class,
    C-type, data); RFC 4950 MPLS label stack entries are spelled out. False when the bytes
    are too short or of an unknown version (ICMPv6 then shows them as data)."""
    e = t.add(EXT, off, end - off, None, "ICMP Multi-Part Extensions")
    if end - off < 4:
        return False
    version = buf.u8(off) >> 4
    e.add(EXT_VERSION, off, 1, version)
    reserved = buf.u16(off) & 0x0FFF
    e.add(EXT_RESERVED, off, 2, reserved,
          f"{bitfield_str(EXT_RESERVED, reserved, 16)} = Reserved: 0x{reserved:03x}")
    value = buf.u16(off + 2)
    if value == 0:
        e.add(EXT_CHECKSUM, off + 2, 2, 0, "Checksum: [missing]", generated=True)
        e.add(EXT_CHECKSUM_STATUS, off + 2, 0, CK_NOT_PRESENT, "Checksum Status: Not present",
              generated=True)
    else:
        computed = checksum_of(buf.data[off:end]) if len(buf) >= end else None
        add_checksum(e, pkt, off + 2, value, computed, "truncated", EXT_CHECKSUM,
                     EXT_CHECKSUM_STATUS, EXT_CHECKSUM_BAD)
    if version not in (1, 2):
        e.append_label(" (unsupported version)")
        return False
    pos = off + 4
    while end - pos >= 4:
        length, cls, ctype = buf.u16(pos), buf.u8(pos + 2), buf.u8(pos + 3)
        size = min(length, end - pos)
        if length < 4:
            label = "Object with bad length"
        elif cls == 1 and ctype == 1:
            label = "MPLS Stack Entry"
        else:
            label = EXT_CLASSES.get(cls, f"Unknown object ({cls}/{ctype})")
        o = e.add_text(pos, max(size, 4), label)
        o.add(EXT_LENGTH, pos, 2, length)
        o.add(EXT_CLASS, pos + 2, 1, cls)
        if length < 4:
            break
        o.add(EXT_CTYPE, pos + 3, 1, ctype)
        if cls == 1 and ctype == 1:
            _mpls_entries(buf, pos + 4, pos + size, o)
        elif size > 4:
            o.add(EXT_DATA, pos + 4, size - 4, buf.bytes(pos + 4, size - 4))
        if size < length:
            o.append_label(" (truncated)")
        pos += size
    return True


def _mpls_entries(buf: Buf, pos: int, stop: int, o: Tree) -> None:
    while pos + 4 <= stop:
        raw = buf.u32(pos)
        label, exp, s, ttl = raw >> 12, raw >> 9 & 7, raw >> 8 & 1, raw & 0xFF
        entry = o.add_text(pos, 4, f"Label: {label}, Exp: {exp}, S: {s}, TTL: {ttl}")
        entry.add_bits(MPLS_LABEL, pos, 3, raw >> 8)
        entry.add_bits(MPLS_EXP, pos, 3, raw >> 8)
        entry.add_bits(MPLS_S, pos, 3, raw >> 8)
        entry.add(MPLS_TTL, pos + 3, 1, ttl)
        pos += 4
    if pos < stop:
        o.add(MPLS_DATA, pos, stop - pos, buf.bytes(pos, stop - pos))


def _mip_extensions(buf: Buf, pos: int, end: int, t: Tree) -> None:
    """Mobile IP agent advertisement extensions (RFC 5944) after the router entries."""
    while pos < end:
        kind = buf.u8(pos)
        e = t.add_text(pos, 1, f"Ext: {MIP_EXTENSIONS.get(kind, f'Unknown ext {kind}')}")
        e.add(MIP_TYPE, pos, 1, kind)
        if kind == 0:
            pos += 1
            continue
        length = buf.u8(pos + 1)
        e.set_size(length + 2)
        e.add(MIP_LENGTH, pos + 1, 1, length)
        buf.need(pos + 2, length)
        if length:
            e.add(MIP_CONTENT, pos + 2, length, buf.bytes(pos + 2, length))
        pos += 2 + length


def _router_entries(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, code: int) -> None:
    count, size = buf.u8(off + 4), buf.u8(off + 5)
    if size != 2:
        dissect_data(buf, off + 8, end, t, pkt)
        return
    pos = off + 8
    for _ in range(count):
        buf.need(pos, 8)
        t.add(ROUTER_ADDRESS, pos, 4, buf.bytes(pos, 4))
        pref = buf.u32(pos + 4)
        t.add(PREF_LEVEL, pos + 4, 4, pref - (1 << 32) if pref & 0x80000000 else pref)
        pos += 8
    if code in (0, 16):
        _mip_extensions(buf, pos, end, t)


def _timestamps(buf: Buf, off: int, t: Tree, pkt: Packet) -> None:
    buf.need(off + 8, 12)
    sec, nsec = divmod(pkt.ts_ns, 1_000_000_000)
    frame_ms = (sec * 1000 + nsec // 1_000_000) % MS_PER_DAY
    for pos, spec in ((off + 8, ORIGINATE_TS), (off + 12, RECEIVE_TS), (off + 16, TRANSMIT_TS)):
        raw = buf.u32(pos)
        guess = _best_guess_ms(raw, frame_ms)
        t.add(spec, pos, 4, raw, f"{spec.name}: {raw} "
                                 f"({time_str(guess // 1000, guess % 1000)} after midnight UTC)")


def dissect_icmp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """One ICMP message (IP protocol 1); see _dissect."""
    pkt.enter("icmp")
    pkt.set_protocol("ICMP")
    if not pkt.fenced:
        pkt.info = []
    _dissect(clip(buf, end), off, end, tree, pkt)
    return None


def _dissect(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
    """Header, the type's second word, then the quoted packet, echo data or entries.
    Like tshark, bytes 0, 1 and 5 are read before anything is shown."""
    buf.need(off, 6)
    typ, code, words = buf.u8(off), buf.u8(off + 1), buf.u8(off + 5)
    type_str = TYPE_NAMES.get(typ, UNKNOWN_TYPE)
    if typ == ROUTER_ADVERT and code in (0, 16):
        type_str = "Mobile IP Advertisement"
    if typ == ALT_HOST:
        words = 0
    names = CODE_NAMES.get(typ)
    code_str = names.get(code, f"Unknown code: {code}") if names is not None else None
    pkt.set_info(f"{type_str:<20}")
    if code_str is not None:
        pkt.append_info(f"({code_str})")

    t = tree.add(PROTO, off, min(end, len(buf)) - off)
    t.add(TYPE, off, 1, typ, f"Type: {typ} ({type_str})")
    t.add(CODE, off + 1, 1, code, f"Code: {code} ({code_str})" if code_str else None)
    value = buf.u16(off + 2)
    if pkt.in_error:
        add_checksum(t, pkt, off + 2, value, None, "in ICMP error packet", CHECKSUM,
                     CHECKSUM_STATUS, CHECKSUM_BAD)
    elif len(buf) < end:
        add_checksum(t, pkt, off + 2, value, None, "fragmented datagram", CHECKSUM,
                     CHECKSUM_STATUS, CHECKSUM_BAD)
    else:
        add_checksum(t, pkt, off + 2, value, checksum_of(buf.data[off:end]), "", CHECKSUM,
                     CHECKSUM_STATUS, CHECKSUM_BAD)
    _second_word(buf, off, t, pkt, typ, code, words)

    mtu = buf.u16(off + 6) if typ == UNREACH and code == FRAG_NEEDED else -1
    rtt = -1
    if typ in (UNREACH, TIME_EXCEEDED, PARAM_PROBLEM, SOURCE_QUENCH, REDIRECT):
        stop = _quote_end(buf, off, end, typ, words)
        if stop > off + 8:
            version = buf.u8(off + 8) >> 4
            dissect_quoted(buf, off + 8, stop, t, pkt, 0x86DD if version == 6 else 0x0800)
        if end - off > 136 and buf.u16(off + 10) <= 128:
            dissect_extensions(buf, off + 8 + (words * 4 if words else 128), end, t, pkt)
    elif typ in (ECHO, ECHO_REPLY):
        if not pkt.in_error:
            if typ == ECHO_REPLY:
                ck = 0 if value == 0xFFFF else value
            else:
                ck = reply_checksum(value, ~0x0800 & 0xFFFF)
            key = echo_key(pkt, ck, buf.u16(off + 4), buf.u16(off + 6))
            tracker = pkt.state.slot("icmp.echo", EchoTracker)
            rtt = echo_pairing(t, pkt, tracker, key, typ == ECHO_REPLY, RESP_IN, RESP_TO,
                               RESPTIME, NO_RESP, RESP_NOT_FOUND)
        dissect_data(buf, data_timestamp(buf, off + 8, end, t, pkt), end, t, pkt)
    elif typ == ROUTER_ADVERT:
        _router_entries(buf, off, end, t, pkt, code)
    elif typ in (TIMESTAMP, TIMESTAMP_REPLY):
        _timestamps(buf, off, t, pkt)
    elif typ in (MASK_REQUEST, MASK_REPLY):
        t.add(ADDRESS_MASK, off + 8, 4, buf.bytes(off + 8, 4))
    elif typ == EXT_ECHO and end - off > 8:
        dissect_extensions(buf, off + 8, end, t, pkt)
    if not pkt.in_error:
        pkt.hints["icmp"] = IcmpSummary(4, typ, code, mtu, rtt)


IP_PROTO.register(1, dissect_icmp)
