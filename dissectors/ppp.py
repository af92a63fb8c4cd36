"""PPP (RFC 1661) framing as PPPoE and L2TP carry it, and its Link Control Protocol.

Wire format: on HDLC-like links (L2TP) an optional address 0xff and control byte first
(RFC 1662; absent when Address-and-Control-Field-Compression was negotiated), then the
protocol field: one byte when its value is odd (Protocol-Field-Compression), else two.
PPPoE (RFC 2516) carries no address/control bytes. The payload goes to the PPP protocol
table (`PPP_PROTOCOL`): IPv4 and IPv6 are looked up in the EtherType table when a frame
arrives, LCP is dissected here, anything else is data, as tshark shows it without a
dissector ("PPP <name> (0x....)" in Info, the hex number as Protocol).

LCP (RFC 1661 §5): code, identifier, length, then a body that depends on the code:
configuration options, magic number and echo data, or the rejected packet.
"""
from __future__ import annotations

from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE, Dissector, Table
from .fields import FT, Base, FieldSpec, Severity, expert, field, protocol
from .packet import Packet
from .tree import Tree

# PPP DLL protocol numbers with the names tshark 4.0 gives them (IANA registry).
PPP_PROTOCOLS: dict[int, str] = {
    0x0001: "Padding Protocol", 0x0003: "ROHC small-CID", 0x0005: "ROHC large-CID",
    0x0021: "Internet Protocol version 4", 0x0023: "OSI Network Layer", 0x0025: "Xerox NS IDP",
    0x0027: "DECnet Phase IV", 0x0029: "Appletalk", 0x002B: "Novell IPX",
    0x002D: "Van Jacobson Compressed TCP/IP", 0x002F: "Van Jacobson Uncompressed TCP/IP",
    0x0031: "Bridging PDU", 0x0033: "Stream Protocol (ST-II)", 0x0035: "Banyan Vines",
    0x0039: "AppleTalk EDDP", 0x003B: "AppleTalk SmartBuffered", 0x003D: "Multi-Link",
    0x003F: "NETBIOS Framing", 0x0041: "Cisco Systems", 0x0043: "Ascom Timeplex",
    0x0045: "Fujitsu Link Backup and Load Balancing (LBLB)", 0x0047: "DCA Remote Lan",
    0x0049: "Serial Data Transport Protocol (PPP-SDTP)", 0x004B: "SNA over 802.2", 0x004D: "SNA",
    0x004F: "IPv6 Header Compression ", 0x0051: "KNX Bridging Data", 0x0053: "Encryption",
    0x0055: "Individual Link Encryption", 0x0057: "Internet Protocol version 6",
    0x0059: "PPP Muxing", 0x005B: "Vendor-Specific Network Protocol (VSNP)",
    0x005D: "TRILL Network Protocol (TNP)", 0x0061: "RTP IPHC Full Header",
    0x0063: "RTP IPHC Compressed TCP", 0x0065: "RTP IPHC Compressed Non TCP",
    0x0067: "RTP IPHC Compressed UDP 8", 0x0069: "RTP IPHC Compressed RTP 8",
    0x006F: "Stampede Bridging", 0x0073: "MP+ Protocol", 0x00C1: "NTCITS IPI",
    0x00FB: "Single link compression in multilink", 0x00FD: "Compressed datagram",
    0x0201: "802.1d Hello Packets", 0x0203: "IBM Source Routing BPDU",
    0x0205: "DEC LANBridge100 Spanning Tree", 0x0207: "Cisco Discovery Protocol",
    0x0209: "Netcs Twin Routing", 0x020B: "STP - Scheduled Transfer Protocol",
    0x020D: "EDP - Extreme Discovery Protocol",
    0x0211: "Optical Supervisory Channel Protocol (OSCP)",
    0x0213: "Optical Supervisory Channel Protocol (OSCP)", 0x0231: "Luxcom",
    0x0233: "Sigma Network Systems", 0x0235: "Apple Client Server Protocol",
    0x0281: "MPLS Unicast", 0x0283: "MPLS Multicast",
    0x0285: "IEEE p1284.4 standard - data packets", 0x0287: "ETSI TETRA Network Protocol Type 1",
    0x0289: "Multichannel Flow Treatment Protocol", 0x2063: "RTP IPHC Compressed TCP No Delta",
    0x2065: "RTP IPHC Context State", 0x2067: "RTP IPHC Compressed UDP 16",
    0x2069: "RTP IPHC Compressed RTP 16", 0x4001: "Cray Communications Control Protocol",
    0x4003: "CDPD Mobile Network Registration Protocol", 0x4005: "Expand accelerator protocol",
    0x4007: "ODSICP NCP", 0x4009: "DOCSIS DLL", 0x400B: "Cetacean Network Detection Protocol",
    0x4021: "Stacker LZS", 0x4023: "RefTek Protocol", 0x4025: "Fibre Channel",
    0x4027: "EMIT Protocols", 0x405B: "Vendor-Specific Protocol (VSP)",
    0x405D: "TRILL Link State Protocol (TLSP)", 0x8021: "Internet Protocol Control Protocol",
    0x8023: "OSI Network Layer Control Protocol", 0x8025: "Xerox NS IDP Control Protocol",
    0x8027: "DECnet Phase IV Control Protocol", 0x8029: "AppleTalk Control Protocol",
    0x802B: "Novell IPX Control Protocol", 0x8031: "Bridging NCP",
    0x8033: "Stream Protocol Control Protocol", 0x8035: "Banyan Vines Control Protocol",
    0x803D: "Multi-Link Control Protocol", 0x803F: "NETBIOS Framing Control Protocol",
    0x8041: "Cisco Systems Control Protocol", 0x8043: "Ascom Timeplex",
    0x8045: "Fujitsu LBLB Control Protocol",
    0x8047: "DCA Remote Lan Network Control Protocol (RLNCP)",
    0x8049: "Serial Data Control Protocol (PPP-SDCP)", 0x804B: "SNA over 802.2 Control Protocol",
    0x804D: "SNA Control Protocol", 0x804F: "IP6 Header Compression Control Protocol",
    0x8051: "KNX Bridging Control Protocol", 0x8053: "Encryption Control Protocol",
    0x8055: "Individual Link Encryption Control Protocol", 0x8057: "IPv6 Control Protocol",
    0x8059: "PPP Muxing Control Protocol",
    0x805B: "Vendor-Specific Network Control Protocol (VSNCP)",
    0x805D: "TRILL Network Control Protocol", 0x806F: "Stampede Bridging Control Protocol",
    0x8073: "MP+ Control Protocol", 0x80C1: "NTCITS IPI Control Protocol",
    0x80FB: "Single link compression in multilink control",
    0x80FD: "Compression Control Protocol", 0x8207: "Cisco Discovery Protocol Control Protocol",
    0x8209: "Netcs Twin Routing", 0x820B: "STP - Control Protocol",
    0x820D: "EDPCP - Extreme Discovery Protocol Control Protocol",
    0x8235: "Apple Client Server Protocol Control", 0x8281: "MPLS Control Protocol",
    0x8285: "IEEE p1284.4 standard - Protocol Control",
    0x8287: "ETSI TETRA TNP1 Control Protocol", 0x8289: "Multichannel Flow Treatment Protocol",
    0xC021: "Link Control Protocol", 0xC023: "Password Authentication Protocol",
    0xC025: "Link Quality Report", 0xC027: "Shiva Password Authentication Protocol",
    0xC029: "Callback Control Protocol (CBCP)",
    0xC02B: "BACP Bandwidth Allocation Control Protocol",
    0xC02D: "BAP Bandwidth Allocation Protocol",
    0xC05B: "Vendor-Specific Authentication Protocol (VSAP)",
    0xC081: "Container Control Protocol", 0xC223: "Challenge Handshake Authentication Protocol",
    0xC225: "RSA Authentication Protocol", 0xC227: "Extensible Authentication Protocol",
    0xC229: "Mitsubishi Security Information Exchange Protocol (SIEP)",
    0xC26F: "Stampede Bridging Authorization Protocol",
    0xC281: "Proprietary Authentication Protocol", 0xC283: "Proprietary Authentication Protocol",
    0xC481: "Proprietary Node ID Authentication Protocol",
}

PROTO = protocol(
    "ppp", "Point-to-Point Protocol",
    explain="The link protocol of DSL (over PPPoE) and of L2TP tunnels. It only says which "
            "protocol the payload is; a session that will not come up shows LCP "
            "Configuration Requests without Acks, a dead peer Echo Requests without Replies.")
ADDRESS = field("ppp.address", "Address", FT.UINT8, Base.HEX,
                blurb="HDLC address, always 0xff (all stations)")
CONTROL = field("ppp.control", "Control", FT.UINT8, Base.HEX,
                blurb="HDLC control, 0x03 (unnumbered information)")
PROTOCOL = field("ppp.protocol", "Protocol", FT.UINT16, Base.HEX, strings=PPP_PROTOCOLS,
                 blurb="Which protocol the PPP payload carries",
                 explain="0x0021 is IPv4, 0x0057 IPv6, 0xc021 LCP (link setup and keepalive), "
                         "0x8021/0x8057 IPCP/IPv6CP (address negotiation), 0xc023/0xc223 "
                         "PAP/CHAP (login).")

LCP_CODES = {
    0: "Vendor Specific", 1: "Configuration Request", 2: "Configuration Ack",
    3: "Configuration Nak", 4: "Configuration Reject", 5: "Termination Request",
    6: "Termination Ack", 7: "Code Reject", 8: "Protocol Reject", 9: "Echo Request",
    10: "Echo Reply", 11: "Discard Request", 12: "Identification", 13: "Time Remaining",
}
LCP_PROTO = protocol(
    "lcp", "PPP Link Control Protocol",
    explain="Brings the PPP link up (options such as the MRU and the login method), checks "
            "it is alive (Echo Request/Reply) and takes it down (Termination Request). "
            "Echo Requests without Replies mean the peer or the path is gone: the access "
            "concentrator will drop the session soon.")
CODE = field("ppp.code", "Code", FT.UINT8, strings=LCP_CODES,
             blurb="Kind of control packet",
             explain="1-4 negotiate the link, 5-6 close it, 9-10 are keepalives; repeated "
                     "Configuration Requests mean the peers do not agree.")
IDENTIFIER = field("ppp.identifier", "Identifier", FT.UINT8, Base.DEC_HEX,
                   blurb="Matches a reply to its request")
LENGTH = field("ppp.length", "Length", FT.UINT16,
               blurb="Length of the control packet, header included")
MAGIC = field("lcp.magic_number", "Magic Number", FT.UINT32, Base.HEX,
              blurb="The sender's random link identifier",
              explain="Each end picks one at link setup. An Echo Reply carrying the "
                      "requester's own number means the line loops back to itself.")
LCP_DATA = field("lcp.data", "Data", FT.BYTES, blurb="Echo or discard payload")
MESSAGE = field("lcp.message", "Message", FT.STRING)
SECS_REMAINING = field("lcp.secs_remaining", "Seconds Remaining", FT.UINT32,
                       blurb="Time left on the link before the peer closes it")
REJ_PROTO = field("lcp.rej_proto", "Rejected Protocol", FT.UINT16, Base.HEX,
                  strings=PPP_PROTOCOLS, blurb="The protocol the peer does not support",
                  explain="The peer refuses this protocol: for IPv6CP (0x8057) it means the "
                          "other end has IPv6 disabled on the session.")
DATA = field("ppp.data", "Data", FT.BYTES)
VS_MAGIC = field("ppp.magic_number", "Magic Number", FT.UINT32, Base.HEX)
VS_OUI = field("ppp.oui", "OUI", FT.UINT24, Base.HEX, blurb="Vendor's organisation id")
VS_KIND = field("ppp.kind", "Kind", FT.UINT8, Base.DEC_HEX)

OPTION_NAMES = {
    0: "Vendor Specific", 1: "Maximum Receive Unit", 2: "Async Control Character Map",
    3: "Authentication Protocol", 4: "Quality Protocol", 5: "Magic Number",
    6: "Link Quality Monitoring", 7: "Protocol Field Compression",
    8: "Address and Control Field Compression", 9: "FCS Alternatives",
    10: "Self Describing Pad", 11: "Numbered Mode", 13: "Callback",
    15: "Compound Frames (Deprecated)", 16: "Nominal Data Encapsulation (Deprecated)",
    17: "Multilink MRRU", 18: "Multilink Short Sequence Number Header",
    19: "Multilink Endpoint Discriminator", 21: "DCE Identifier",
    22: "Multi Link Plus Procedure", 23: "Link Discriminator for BACP",
    24: "Authentication Option", 25: "Consistent Overhead Byte Stuffing (COBS)",
    26: "Prefix Elision", 27: "Multilink header format", 28: "Internationalization",
    29: "Simple Data Link on SONET/SDH",
}
OPT_TYPE = field("lcp.opt.type", "Type", FT.UINT8, strings=OPTION_NAMES)
OPT_LENGTH = field("lcp.opt.length", "Length", FT.UINT8)
OPT_DATA = field("lcp.opt.data", "Data", FT.BYTES)
OPT_MRU = field("lcp.opt.mru", "Maximum Receive Unit", FT.UINT16,
                blurb="Largest packet the sender accepts",
                explain="1492 on PPPoE (1500 minus its 8-byte header). Hosts behind such a "
                        "link that still send 1500-byte packets depend on MSS clamping or "
                        "working path-MTU discovery; when both fail, small requests work "
                        "and large responses hang.")
OPT_ASYNCMAP = field("lcp.opt.asyncmap", "Async Control Character Map", FT.UINT32, Base.HEX,
                     blurb="Control characters the sender wants escaped on async lines")
# One flag per control character, highest bit (US, 0x1f) first as tshark lists them.
_ASYNCMAP_CHARS = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF",
                   "VT", "FF", "CR", "SO", "SI", "DLE", "DC1 (XON)", "DC2", "DC3 (XOFF)", "DC4",
                   "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US")
OPT_ASYNCMAP_BITS = [
    field(f"lcp.opt.asyncmap.{name.split()[0].lower()}", name, FT.BOOLEAN, bitmask=1 << bit,
          tfs=("True", "False"))
    for bit, name in reversed(list(enumerate(_ASYNCMAP_CHARS)))]
OPT_AUTH = field("lcp.opt.auth_protocol", "Authentication Protocol", FT.UINT16, Base.HEX,
                 strings=PPP_PROTOCOLS,
                 explain="How the peer wants to log in: 0xc023 PAP (clear text) or 0xc223 "
                         "CHAP. A Configuration Nak here means the ends disagree.")
CHAP_ALGORITHMS = {5: "CHAP with MD5", 128: "MS-CHAP", 129: "MS-CHAP-2"}
OPT_ALGORITHM = field("lcp.opt.algorithm", "Algorithm", FT.UINT8, strings=CHAP_ALGORITHMS)
OPT_QUALITY = field("lcp.opt.quality_protocol", "Quality Protocol", FT.UINT16, Base.HEX,
                    strings=PPP_PROTOCOLS)
OPT_MAGIC = field("lcp.opt.magic_number", "Magic Number", FT.UINT32, Base.HEX)
CALLBACK_OPERATIONS = {
    0: "Location is determined by user authentication", 1: "Message is dialing string",
    2: "Message is location identifier", 3: "Message is E.164",
    4: "Message is distinguished name", 5: "unassigned",
    6: "Location is determined during CBCP negotiation",
}
OPT_OPERATION = field("lcp.opt.operation", "Operation", FT.UINT8, strings=CALLBACK_OPERATIONS)
OPT_MRRU = field("lcp.opt.mrru", "MRRU", FT.UINT16,
                 blurb="Maximum Receive Reconstructed Unit")
OPT_LEN_INVALID = expert("ppp.opt.len.invalid", "protocol", Severity.WARN,
                         "Invalid length for option",
                         explain="A configuration option's length is impossible: a buggy "
                                 "peer, or bytes that are not what they claim.")

PPP_PROTOCOL = Table("ppp.protocol")
OPTIONS_HEADER = 4   # code, identifier, length


def text_value(raw: bytes) -> str:
    """Bytes of a text field as tshark shows ASCII text: other bytes become U+FFFD."""
    return "".join(chr(b) if b < 0x80 else "\ufffd" for b in raw)


def dissect_ppp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """PPP as PPPoE carries it: the protocol field right away, no address/control."""
    pkt.enter("ppp")
    t = tree.add(PROTO, off, 0)
    _protocol(buf, off, end, tree, t, pkt)
    return None


def dissect_ppp_hdlc(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """PPP in HDLC-like framing (L2TP): address and control when the first byte is 0xff."""
    pkt.enter("ppp")
    pkt.set_protocol("PPP")
    t = tree.add(PROTO, off, 0)
    buf.need_within(off, 1, end)
    pos = off
    if buf.data[off] == 0xFF:
        t.add(ADDRESS, off, 1, 0xFF)
        buf.need_within(off + 1, 1, end)
        t.add(CONTROL, off + 1, 1, buf.data[off + 1])
        pos += 2
    _protocol(buf, pos, end, tree, t, pkt)
    return None


def _protocol(buf: Buf, off: int, end: int, tree: Tree, t: Tree, pkt: Packet) -> None:
    """The protocol field (compressed to one byte when odd), then the payload's dissector."""
    buf.need_within(off, 1, end)
    if buf.data[off] & 1:
        proto, size = buf.data[off], 1
    else:
        buf.need_within(off, 2, end)
        proto, size = buf.u16(off), 2
    if t:
        t.add(PROTOCOL, off, size, proto)
        t.set_size(off + size - t.pos)
    fn = PPP_PROTOCOL.get(proto)
    if fn is not None:
        fn(buf, off + size, end, tree, pkt)
        return
    pkt.set_protocol(f"0x{proto:04x}")
    pkt.set_info(f"PPP {PPP_PROTOCOLS.get(proto, 'Unknown')} (0x{proto:04x})")
    dissect_data(buf, off + size, end, tree, pkt)


def _by_ethertype(etype: int) -> Dissector:
    """A PPP table entry that hands the payload to whatever dissects `etype` (looked up
    per packet, so the IP modules may register after this one)."""
    def dissect(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
        (ETHERTYPE.get(etype) or dissect_data)(buf, off, end, tree, pkt)
        return None
    dissect.__name__ = f"dissect_ethertype_{etype:04x}"
    return dissect


# ---------------------------------------------------------------------------------------
# LCP
# ---------------------------------------------------------------------------------------

def dissect_lcp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """An LCP packet: header, then the body its code calls for."""
    pkt.enter("lcp")
    buf.need_within(off, OPTIONS_HEADER, end)
    code, ident, length = buf.data[off], buf.data[off + 1], buf.u16(off + 2)
    pkt.set_protocol("PPP LCP")
    pkt.set_info(LCP_CODES.get(code, "Unknown"))
    t = tree.add(LCP_PROTO, off, max(0, min(off + length, end, len(buf)) - off))
    if t:
        t.add(CODE, off, 1, code)
        t.add(IDENTIFIER, off + 1, 1, ident)
        t.add(LENGTH, off + 2, 2, length)
    _LCP_BODY.get(code, _body_data)(buf, off + OPTIONS_HEADER, length - OPTIONS_HEADER, end,
                                     tree, t, pkt)
    return None


def _bytes(buf: Buf, t: Tree, spec: FieldSpec, pos: int, n: int, end: int,
           label: str | None = None) -> None:
    """Add `n` bytes at pos as `spec` (nothing when n <= 0); past `end` is Malformed."""
    if n <= 0:
        return
    buf.need_within(pos, n, end)
    if t:
        t.add(spec, pos, n, buf.bytes(pos, n), label)


def _body_data(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree, pkt: Packet) -> None:
    """Termination Request/Ack and unknown codes: the body as opaque data."""
    _bytes(buf, t, DATA, pos, n, end)


def _body_code_reject(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree,
                      pkt: Packet) -> None:
    if n > 0:
        buf.need_within(pos, n, end)
        t.add(DATA, pos, n, buf.bytes(pos, n),
              f"Rejected Packet ({n} byte{'s' if n != 1 else ''}): {buf.bytes(pos, n).hex()}")


def _body_protocol_reject(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree,
                          pkt: Packet) -> None:
    """The rejected protocol number, then the start of the rejected packet as data."""
    buf.need_within(pos, 2, end)
    t.add(REJ_PROTO, pos, 2, buf.u16(pos))
    if n > 2:
        buf.need_within(pos + 2, n - 2, end)
        dissect_data(buf, pos + 2, pos + n, t, pkt)   # nested in LCP, as tshark shows it


def _magic(buf: Buf, pos: int, end: int, t: Tree) -> None:
    buf.need_within(pos, 4, end)
    t.add(MAGIC, pos, 4, buf.u32(pos))


def _body_echo(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree, pkt: Packet) -> None:
    """Echo Request/Reply and Discard Request: magic number, then any data."""
    _magic(buf, pos, end, t)
    _bytes(buf, t, LCP_DATA, pos + 4, n - 4, end)


def _message(buf: Buf, t: Tree, pos: int, n: int, end: int) -> None:
    if n > 0:
        buf.need_within(pos, n, end)
        t.add(MESSAGE, pos, n, text_value(buf.bytes(pos, n)))


def _body_identification(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree,
                         pkt: Packet) -> None:
    _magic(buf, pos, end, t)
    _message(buf, t, pos + 4, n - 4, end)


def _body_time_remaining(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree,
                         pkt: Packet) -> None:
    _magic(buf, pos, end, t)
    buf.need_within(pos + 4, 4, end)
    secs = buf.u32(pos + 4)
    t.add(SECS_REMAINING, pos + 4, 4, secs, f"Seconds Remaining: {secs} seconds")
    _message(buf, t, pos + 8, n - 8, end)


def _body_vendor(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree,
                 pkt: Packet) -> None:
    """RFC 2153 vendor extension: magic number, OUI, kind, then vendor data."""
    buf.need_within(pos, 8, end)
    if t:
        oui = buf.bytes(pos + 4, 3)
        t.add(VS_MAGIC, pos, 4, buf.u32(pos))
        t.add(VS_OUI, pos + 4, 3, int.from_bytes(oui, "big"),
              f"OUI: {':'.join(f'{b:02x}' for b in oui)}")
        t.add(VS_KIND, pos + 7, 1, buf.data[pos + 7])
    _bytes(buf, t, DATA, pos + 8, n - 8, end)


def _body_options(buf: Buf, pos: int, n: int, end: int, tree: Tree, t: Tree,
                  pkt: Packet) -> None:
    """Configuration Request/Ack/Nak/Reject: the option list, `n` bytes long.

    Every option has type, length (both one byte), value; a length below 2 or past the
    list's end stops the walk with a warning, a wrong length for a known option is
    flagged and skipped, as tshark does."""
    if n <= 0:
        return
    buf.need_within(pos, n, end)
    stop = pos + n
    node = t.add_text(pos, n, "")
    names: list[str] = []
    while pos < stop:
        buf.need_within(pos, 1, end)
        typ = buf.data[pos]
        name = OPTION_NAMES.get(typ) or f"Unknown (0x{typ:02x})"
        if pos + 1 >= stop:
            _bad_option(node, pkt, pos, 1, f"{name} (length byte past end of options)")
            break
        buf.need_within(pos + 1, 1, end)
        olen = buf.data[pos + 1]
        if olen < 2:
            _bad_option(node, pkt, pos, 2, f"{name} (with too-short option length = "
                                           f"{olen} byte{'s' if olen != 1 else ''})")
            break
        if pos + olen > stop:
            _bad_option(node, pkt, pos, 2, f"{name} (option length = {olen} bytes says "
                                           "option goes past end of options)")
            break
        buf.need_within(pos, olen, end)
        if typ not in OPTION_NAMES:
            if node:
                node.add_text(pos, olen, f"{name} ({olen} bytes)")
            pos += olen
            continue
        names.append(name)
        exact, minimum, decode = _OPTIONS.get(typ, (0, 2, None))
        if (exact and olen != exact) or olen < minimum:
            should = f"should be {exact}" if exact else f"should be at least {minimum}"
            _bad_option(node, pkt, pos, olen,
                        f"{name} (with option length = {olen} bytes; {should})")
        else:
            sub = node.add_text(pos, olen, name) if node else node
            if sub:
                sub.add(OPT_TYPE, pos, 1, typ)
                sub.add(OPT_LENGTH, pos + 1, 1, olen)
                if decode is not None:
                    decode(buf, pos + 2, olen - 2, sub)
                elif olen > 2:
                    sub.add(OPT_DATA, pos + 2, olen - 2, buf.bytes(pos + 2, olen - 2))
        pos += olen
    if node:
        node.label = f"Options: ({n} byte{'s' if n != 1 else ''})" + \
            "".join(f", {x}" for x in names)


def _bad_option(node: Tree, pkt: Packet, pos: int, size: int, msg: str) -> None:
    pkt.note(OPT_LEN_INVALID)
    if node:
        node.add_text(pos, size, msg).add_expert(OPT_LEN_INVALID, pos, size, msg)


def _opt_value(parent: Tree, spec, pos: int, size: int, value: int, label: str) -> None:
    """The option's value, repeated in its heading as tshark does ('MRU: 1492')."""
    parent.label = label
    parent.add(spec, pos, size, value, label)


def _opt_mru(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    v = buf.u16(pos)
    _opt_value(sub, OPT_MRU, pos, 2, v, f"Maximum Receive Unit: {v}")


def _opt_asyncmap(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    v = buf.u32(pos)
    extra = " (None)" if v == 0 else " (All)" if v == 0xFFFFFFFF else ""
    names = "".join(f", {spec.name}" for spec in OPT_ASYNCMAP_BITS if v & spec.bitmask)
    sub.label = f"Async Control Character Map: 0x{v:08x}{extra}"
    node = sub.add(OPT_ASYNCMAP, pos, 4, v,
                   f"Async Control Character Map: 0x{v:08x}{names}{extra}")
    for spec in OPT_ASYNCMAP_BITS:
        node.add_bits(spec, pos, 4, v)


def _opt_auth(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    v = buf.u16(pos)
    _opt_value(sub, OPT_AUTH, pos, 2, v,
               f"Authentication Protocol: {PPP_PROTOCOLS.get(v, 'Unknown')} (0x{v:04x})")
    if v == 0xC223 and n >= 3:
        sub.add(OPT_ALGORITHM, pos + 2, 1, buf.data[pos + 2])


def _opt_quality(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    v = buf.u16(pos)
    _opt_value(sub, OPT_QUALITY, pos, 2, v,
               f"Quality Protocol: {PPP_PROTOCOLS.get(v, 'Unknown')} (0x{v:04x})")


def _opt_magic(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    v = buf.u32(pos)
    _opt_value(sub, OPT_MAGIC, pos, 4, v, f"Magic Number: 0x{v:08x}")


def _opt_callback(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    """RFC 1570 callback: the operation, then a message whose form it names."""
    op = buf.data[pos]
    sub.label = f"Callback: {CALLBACK_OPERATIONS.get(op, 'Unknown')}"
    sub.add(OPT_OPERATION, pos, 1, op)
    if n > 1:
        sub.add(OPT_DATA, pos + 1, n - 1, buf.bytes(pos + 1, n - 1))


def _opt_mrru(buf: Buf, pos: int, n: int, sub: Tree) -> None:
    v = buf.u16(pos)
    sub.label = f"Multilink MRRU: {v}"
    sub.add(OPT_MRRU, pos, 2, v)


# option type -> (exact length or 0, minimum length, value decoder); PFC (7) and ACFC (8)
# carry no value: their presence is the request.
_OPTIONS = {
    0: (0, 6, None), 1: (4, 4, _opt_mru), 2: (6, 6, _opt_asyncmap), 3: (0, 4, _opt_auth),
    4: (0, 4, _opt_quality), 5: (6, 6, _opt_magic), 7: (2, 2, None),
    8: (2, 2, None), 13: (0, 3, _opt_callback), 17: (4, 4, _opt_mrru),
}

_LCP_BODY = {
    0: _body_vendor, 1: _body_options, 2: _body_options, 3: _body_options, 4: _body_options,
    5: _body_data, 6: _body_data, 7: _body_code_reject, 8: _body_protocol_reject,
    9: _body_echo, 10: _body_echo, 11: _body_echo, 12: _body_identification,
    13: _body_time_remaining,
}

PPP_PROTOCOL.register(0x0021, _by_ethertype(0x0800))
PPP_PROTOCOL.register(0x0057, _by_ethertype(0x86DD))
PPP_PROTOCOL.register(0xC021, dissect_lcp)
