"""UDP (RFC 768): ports, length, checksum, conversations (udp.stream), payload hand-off.

Wire format: source port (2), destination port (2), length (2, header included, so at
least 8), checksum (2; 0 means "not computed", allowed over IPv4 only), then the payload.

As in tshark 4.0: a length below 8 stops the dissection; a length beyond the IP payload is
flagged but the payload is still dissected; an IPv6 length of 0 is a jumbogram (RFC 2675)
whose length is the IP payload's. A conversation is the unordered pair (address, port) x 2,
numbered in order of first appearance; a frame dissected again reads its stored stream.
"""
from __future__ import annotations

import struct
from array import array

from .buffer import Buf, Malformed, Truncated
from .data import dissect_data
from .dispatch import IP_PROTO, UDP_HEUR, UDP_PORT
from .fields import FT, Base, Severity, expert, field, protocol
from .packet import Packet
from .tree import Tree

PROTO = protocol("udp", "User Datagram Protocol",
                 explain="Connectionless datagrams: DNS, QUIC/HTTP3, syslog, metrics, games. "
                         "No handshake, no retransmission: a lost datagram is gone unless the "
                         "application asks again.")
SRCPORT = field("udp.srcport", "Source Port", FT.UINT16,
                explain="The sender's port. A client usually sends from an ephemeral port "
                        "chosen by its OS; replies come back to it.")
DSTPORT = field("udp.dstport", "Destination Port", FT.UINT16,
                explain="The receiver's port: the service (53 DNS, 443 QUIC, 123 NTP...). "
                        "An ICMP 'port unreachable' in reply means nothing listens there.")
PORT = field("udp.port", "Source or Destination Port", FT.UINT16,
             blurb="Either port (for filters such as udp.port == 53)")
LENGTH = field("udp.length", "Length", FT.UINT16, blurb="Header plus payload, in bytes",
               explain="8 header bytes plus the payload. Datagrams larger than the path MTU "
                       "are fragmented by IP; losing one fragment loses the whole datagram.")
CHECKSUM = field("udp.checksum", "Checksum", FT.UINT16, Base.HEX,
                 explain="0 over IPv4 means the sender did not compute one (allowed, common "
                         "for tunnels such as VXLAN); over IPv6 it is illegal. Not verified "
                         "by default because of checksum offload on the capturing host.")
_CHECKSUM_STATUS = {0: "Bad", 1: "Good", 2: "Unverified", 3: "Not present", 4: "Illegal"}
CHECKSUM_STATUS = field("udp.checksum.status", "Checksum Status", FT.UINT8,
                        strings=_CHECKSUM_STATUS)
STREAM = field("udp.stream", "Stream index", FT.UINT32,
               blurb="Number of the UDP conversation in this capture, from 0",
               explain="All datagrams between the same two address:port pairs, in either "
                       "direction, share this number. Filter udp.stream == N to see one "
                       "exchange, for example one DNS client socket.")
PAYLOAD = field("udp.payload", "Payload", FT.BYTES, blurb="The UDP payload of this packet")

LENGTH_BAD = expert("udp.length.bad", "malformed", Severity.ERROR, "Bad length value",
                    explain="The UDP length contradicts the IP packet: a buggy sender, a "
                            "truncating middlebox, or deliberately crafted traffic.")
LENGTH_BAD_ZERO = expert("udp.length.bad_zero", "protocol", Severity.WARN,
                         "Length is zero but payload < 65536",
                         explain="A zero length is only valid for IPv6 jumbograms (payload "
                                 "of 64 KB or more).")
CHECKSUM_ZERO = expert("udp.checksum.zero", "checksum", Severity.ERROR,
                       "Illegal checksum value (0)",
                       explain="UDP over IPv6 must carry a checksum (RFC 8200 8.1); receivers "
                               "drop such datagrams.")
POSSIBLE_TRACEROUTE = expert("udp.possible_traceroute", "sequence", Severity.CHAT,
                             "Possible traceroute",
                             explain="Classic traceroute probes UDP ports from 33435 upwards, "
                                     "three per hop; the ICMP time-exceeded replies map the "
                                     "path.")

IP_PROTO_UDP = 17
_HDR = struct.Struct("!HHHH").unpack_from
_PORTS = struct.Struct("!HH").unpack_from
_TRACEROUTE_BASE = 32768 + 666   # LBL traceroute's first port minus one


class UdpState:
    """Per-capture UDP conversations and the stream id of every frame dissected.

    `hint`: as TcpState.hint, for a caller that dissects only some frames of a capture; a
    conversation this frame opens takes that number instead of the next one.
    """

    def __init__(self) -> None:
        self.conversations: dict[tuple[bytes, int, bytes, int], int] = {}
        self.frame_stream = array("i", [-1])
        self.extra: dict[tuple[int, int], int] = {}   # (frame, nth UDP layer) -> stream
        self.hint: int | None = None       # the number of a conversation opened now, if set

    def stream_of(self, pkt: Packet, nth: int, sport: int, dport: int) -> int:
        """The conversation's stream on the first pass (opening it if new), the stored one
        when the frame is dissected again."""
        number = pkt.number
        if pkt.visited:
            if nth:
                return self.extra.get((number, nth), -1)
            fs = self.frame_stream
            return fs[number] if number < len(fs) else -1
        src, dst = pkt.net_src, pkt.net_dst
        if pkt.in_error and not src:
            return -1   # a quote without addresses must not open (and number) a conversation
        key = (src, sport, dst, dport) if (src, sport) <= (dst, dport) \
            else (dst, dport, src, sport)
        stream = self.conversations.get(key)
        if stream is None:
            stream = self.conversations[key] = len(self.conversations) if self.hint is None \
                else self.hint
        if nth:
            self.extra[(number, nth)] = stream
        else:
            fs = self.frame_stream
            if len(fs) <= number:
                fs.extend([-1] * (number + 1 - len(fs)))
            fs[number] = stream
        return stream


class UdpDatagram:
    """What analyzers need from one datagram (pkt.udp)."""

    __slots__ = ("dstport", "length", "payload_len", "srcport", "stream")

    def __init__(self, stream: int, srcport: int, dstport: int, length: int) -> None:
        self.stream = stream
        self.srcport = srcport
        self.dstport = dstport
        self.length = length
        self.payload_len = length - 8


def _need(buf: Buf, pos: int, n: int, end: int) -> None:
    """Bytes past the IP payload's end are Malformed, past the capture Truncated."""
    if pos + n > end:
        raise Malformed(f"UDP needs {n} bytes at {pos}, the IP payload ends at {end}")
    buf.need(pos, n)


def _traceroute(t: Tree, pkt: Packet, port: int, pos: int) -> None:
    if _TRACEROUTE_BASE < port <= _TRACEROUTE_BASE + 30:
        hop, attempt = divmod(port - _TRACEROUTE_BASE - 1, 3)
        pkt.note(POSSIBLE_TRACEROUTE)
        if t and t.children:
            t.children[-1].add_expert(POSSIBLE_TRACEROUTE, pos, 2,
                                      f"Possible traceroute: hop #{hop + 1}, "
                                      f"attempt #{attempt + 1}")


def dissect_udp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """A UDP datagram: header, stream, then the payload to a port or heuristic dissector."""
    pkt.enter("udp")
    data = buf.data
    pkt.set_protocol("UDP")
    _need(buf, off, 4, end)
    sport, dport = _PORTS(data, off)
    pkt.set_info(f"{sport} → {dport}")
    t = tree.add(PROTO, off, 8, label=f"User Datagram Protocol, Src Port: {sport}, "
                                      f"Dst Port: {dport}") if tree else tree
    if t:
        t.add(SRCPORT, off, 2, sport)
        _traceroute(t, pkt, sport, off)
        t.add(DSTPORT, off + 2, 2, dport)
        _traceroute(t, pkt, dport, off + 2)
        t.add(PORT, off, 2, sport, hidden=True)
        t.add(PORT, off + 2, 2, dport, hidden=True)
    else:
        _traceroute(t, pkt, sport, off)
        _traceroute(t, pkt, dport, off + 2)
    _need(buf, off + 4, 4, end)
    _, _, ulen, cksum = _HDR(data, off)
    reported = end - off
    length_node = t.add(LENGTH, off + 4, 2, ulen) if t else t
    jumbogram = ulen == 0 and len(pkt.net_src) == 16
    if jumbogram:
        ulen = reported
    if ulen < 8:
        if length_node:
            length_node.label = f"Length: {ulen} (bogus, must be >= 8)"
            length_node.add_expert(LENGTH_BAD, off + 4, 2, f"Bad length value {ulen} < 8")
        pkt.note(LENGTH_BAD)
        pkt.append_info(f" [BAD UDP LENGTH {ulen} < 8]", sep="")
        return None
    if ulen > reported and not pkt.in_error:
        if length_node:
            length_node.label = f"Length: {ulen} (bogus, payload length {reported})"
            length_node.add_expert(LENGTH_BAD, off + 4, 2,
                                   f"Bad length value {ulen} > IP payload length")
        pkt.note(LENGTH_BAD)
        pkt.append_info(f" [BAD UDP LENGTH {ulen} > IP PAYLOAD LENGTH]", sep="")
    if jumbogram and ulen < 65536:
        pkt.note(LENGTH_BAD_ZERO)
        if length_node:
            length_node.add_expert(LENGTH_BAD_ZERO, off + 4, 2)
    pkt.append_info(f"Len={ulen - 8}")
    if jumbogram:
        pkt.append_info(" [Jumbogram]", sep="")
    if cksum == 0 and len(pkt.net_src) == 16 and not pkt.in_error:
        pkt.note(CHECKSUM_ZERO)
        pkt.append_info(" [ILLEGAL CHECKSUM (0)]", sep="")
        if t:
            c = t.add(CHECKSUM, off + 6, 2, 0, "Checksum: 0x0000 [zero-value illegal]")
            c.add_expert(CHECKSUM_ZERO, off + 6, 2)
            c.add(CHECKSUM_STATUS, off + 6, 0, 4, "Checksum Status: Illegal", generated=True)
    elif t:
        if cksum == 0:
            c = t.add(CHECKSUM, off + 6, 2, 0, "Checksum: 0x0000 [zero-value ignored]")
            c.add(CHECKSUM_STATUS, off + 6, 0, 3, "Checksum Status: Not present",
                  generated=True)
        else:
            t.add(CHECKSUM, off + 6, 2, cksum, f"Checksum: 0x{cksum:04x} [unverified]")
            t.add(CHECKSUM_STATUS, off + 6, 0, 2, "Checksum Status: Unverified",
                  generated=True)
    if not pkt.fenced:
        pkt.ptype, pkt.srcport, pkt.dstport = "udp", sport, dport
    st: UdpState = pkt.state.slot("udp", UdpState)
    stream = st.stream_of(pkt, pkt.layers.count("udp") - 1, sport, dport)
    if t and stream >= 0:
        t.add(STREAM, off + 8, 0, stream, generated=True)
    if not pkt.fenced:
        pkt.udp = UdpDatagram(stream, sport, dport, ulen)
    if ulen == 8:
        return None
    payload = off + 8
    captured_end = min(end, len(data))
    if pkt.in_error and captured_end <= payload:
        return None
    pend = payload + min(ulen - 8, end - payload)
    if t and captured_end > payload:
        # tshark counts the bytes handed on (captured, cut at the UDP length) but shows
        # every captured byte of the IP payload as the value
        size = min(captured_end, pend) - payload
        t.add(PAYLOAD, payload, captured_end - payload, bytes(data[payload:captured_end]),
              f"UDP payload ({size} {'byte' if size == 1 else 'bytes'})")
    if captured_end <= payload < pend:
        # The payload was on the wire but none of it was captured: tshark's
        # "[Packet size limited during capture: UDP truncated]".
        raise Truncated(f"UDP payload of {pend - payload} bytes not captured")
    _hand_off(buf, payload, pend, tree, pkt, sport, dport)
    return None


def _hand_off(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, sport: int,
              dport: int) -> None:
    """Payload to the lower port's dissector, then the higher port's (port 0 never counts),
    then the heuristics, else data: the same choice in both directions."""
    low, high = (sport, dport) if sport <= dport else (dport, sport)
    fn = (UDP_PORT.get(low) if low else None) or (UDP_PORT.get(high) if high else None)
    if fn is not None:
        fn(buf, off, end, tree, pkt)
    elif not UDP_HEUR.try_all(buf, off, end, tree, pkt):
        dissect_data(buf, off, end, tree, pkt)


IP_PROTO.register(IP_PROTO_UDP, dissect_udp)
