"""PPP over Ethernet (RFC 2516): Discovery (EtherType 0x8863) and Session (0x8864) stages.

Wire format of both: version (4 bits, 1) and type (4 bits, 1), code (1), session id (2),
payload length (2), then the payload. Discovery packets (PADI, PADO, PADR, PADS, PADT)
carry tags: type (2), length (2), value. Session packets carry one PPP frame without
HDLC address/control bytes.

As tshark 4.0: a payload length shorter than the frame limits what PPP sees (the rest is
Ethernet padding, not shown); a longer one is not flagged, PPP gets what the frame has.
The session stage reads the PPP protocol field before handing over, so a payload too short
for it is Malformed in PPPoE itself.
"""
from __future__ import annotations

from .buffer import Buf
from .dispatch import ETHERTYPE
from .fields import FT, Base, FieldSpec, field, protocol
from .packet import Packet
from .ppp import dissect_ppp, text_value
from .tree import Tree

HEADER_LEN = 6
TAG_HEADER_LEN = 4
PPP_PROTOCOL_LEN = 2

CODES = {
    0x00: "Session Data", 0x07: "Active Discovery Offer (PADO)",
    0x09: "Active Discovery Initiation (PADI)", 0x0A: "Active Discovery Session-Grant (PADG)",
    0x0B: "Active Discovery Session-Credit Resp.(PADC)",
    0x0C: "Active Discovery Quality (PADQ)", 0x19: "Active Discovery Request (PADR)",
    0x65: "Active Discovery Session-confirmation (PADS)",
    0xA7: "Active Discovery Terminate (PADT)", 0xD3: "Active Discovery Message (PADM)",
    0xD4: "Active Discovery Network (PADN)",
}
TAG_NAMES = {
    0x0000: "End-Of-List", 0x0101: "Service-Name", 0x0102: "AC-Name", 0x0103: "Host-Uniq",
    0x0104: "AC-Cookie", 0x0105: "Vendor-Specific", 0x0106: "Credits", 0x0107: "Metrics",
    0x0108: "Sequence Number", 0x0109: "Credit Scale Factor", 0x0110: "Relay-Session-Id",
    0x0111: "HURL", 0x0112: "MOTM", 0x0120: "PPP-Max-Payload", 0x0121: "IP Route Add",
    0x0201: "Service-Name-Error", 0x0202: "AC-System-Error", 0x0203: "Generic-Error",
}
AC_NAME_TAG = 0x0102
VENDOR_SPECIFIC_TAG = 0x0105

_PPPOE_EXPLAIN = (
    "DSL and some fibre ISPs run PPP over Ethernet. Its 8 bytes of headers (6 PPPoE + 2 PPP) "
    "lower the MTU to 1492: a host that sends 1500-byte packets through such a link relies "
    "on the router clamping the TCP MSS (1452 instead of 1460) or on ICMP 'fragmentation "
    "needed' reaching it. When neither happens, connections open and small requests work "
    "but large responses stall (a path-MTU black hole).")
DISCOVERY = protocol(
    "pppoed", "PPP-over-Ethernet Discovery",
    explain="How a PPPoE client finds its access concentrator and gets a session id: PADI "
            "(broadcast), PADO (offer), PADR (request), PADS (session granted), PADT (session "
            "ended). Repeated PADIs without a PADO mean no concentrator answers. " + _PPPOE_EXPLAIN)
SESSION = protocol(
    "pppoes", "PPP-over-Ethernet Session",
    explain="A PPP frame of an established PPPoE session. " + _PPPOE_EXPLAIN)
VERSION = field("pppoe.version", "Version", FT.UINT8, bitmask=0xF0, blurb="Always 1")
TYPE = field("pppoe.type", "Type", FT.UINT8, bitmask=0x0F, blurb="Always 1")
CODE = field("pppoe.code", "Code", FT.UINT8, Base.HEX, strings=CODES,
             blurb="Discovery stage message, or 0 for session data")
SESSION_ID = field("pppoe.session_id", "Session ID", FT.UINT16, Base.HEX,
                   blurb="The session the concentrator assigned in its PADS",
                   explain="Fixed for the life of one PPPoE session; a new id after a PADT "
                           "means the line reconnected (and usually got a new public "
                           "address, which resets every connection through it).")
PAYLOAD_LENGTH = field("pppoe.payload_length", "Payload Length", FT.UINT16,
                       blurb="Bytes after the PPPoE header (tags or the PPP frame)")
TAGS = field("pppoed.tags", "PPPoE Tags", FT.NONE)
TAG = field("pppoed.tag", "Tag", FT.UINT16, Base.HEX, strings=TAG_NAMES)
TAG_LENGTH = field("pppoed.tag_length", "Tag Length", FT.UINT16)
UNKNOWN_DATA = field("pppoed.tag.unknown_data", "Unknown Data", FT.BYTES)
VENDOR_ID = field("pppoed.tags.vendor_id", "Vendor id", FT.UINT32)
VENDOR_DATA = field("pppoed.tags.vendor_unspecified", "Vendor unspecified", FT.BYTES)
_TAG_FIELDS: dict[int, FieldSpec] = {
    0x0101: field("pppoed.tags.service_name", "Service-Name", FT.STRING,
                  explain="The service the client asks for; empty means any."),
    0x0102: field("pppoed.tags.ac_name", "AC-Name", FT.STRING,
                  blurb="Name of the access concentrator (the ISP's BRAS)"),
    0x0103: field("pppoed.tags.host_uniq", "Host-Uniq", FT.BYTES,
                  blurb="Client token that pairs replies with its request"),
    0x0104: field("pppoed.tags.ac_cookie", "AC-Cookie", FT.BYTES),
    0x0106: field("pppoed.tags.credits", "Credits", FT.BYTES),
    0x0107: field("pppoed.tags.metrics", "Metrics", FT.BYTES),
    0x0110: field("pppoed.tags.relay_session_id", "Relay-Session-Id", FT.BYTES),
    0x0111: field("pppoed.tags.hurl", "HURL", FT.BYTES),
    0x0112: field("pppoed.tags.motm", "MOTM", FT.BYTES),
    0x0120: field("pppoed.tags.max_payload", "PPP-Max-Payload", FT.BYTES,
                  explain="RFC 4638: the client can carry a full 1500-byte PPP MTU (over "
                          "baby-jumbo 1508-byte Ethernet frames) instead of 1492."),
    0x0121: field("pppoed.tags.ip_route_add", "IP Route Add", FT.BYTES),
    0x0201: field("pppoed.tags.service_name_error", "Service-Name-Error", FT.STRING,
                  explain="The concentrator will not provide the requested service."),
    0x0202: field("pppoed.tags.ac_system_error", "AC-System-Error", FT.STRING,
                  explain="The concentrator failed (often: out of sessions)."),
    0x0203: field("pppoed.tags.generic_error", "Generic-Error", FT.STRING),
}


def _header(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet,
            proto: FieldSpec) -> tuple[Tree, int, int]:
    """The common 6-byte header; returns the layer node, the code and where the payload
    ends (the payload length, when the frame holds that much)."""
    buf.need_within(off, 2, end)
    code = buf.data[off + 1]
    pkt.set_info(CODES.get(code, "Unknown"))
    buf.need_within(off, HEADER_LEN, end)
    plen = buf.u16(off + 4)
    t = tree.add(proto, off, HEADER_LEN)
    if t:
        b0 = buf.data[off]
        t.add_bits(VERSION, off, 1, b0)
        t.add_bits(TYPE, off, 1, b0)
        t.add(CODE, off + 1, 1, code)
        t.add(SESSION_ID, off + 2, 2, buf.u16(off + 2))
        t.add(PAYLOAD_LENGTH, off + 4, 2, plen)
    return t, code, min(end, off + HEADER_LEN + plen)


def dissect_pppoed(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """A discovery packet: header, then its tags (the AC-Name also goes to Info)."""
    pkt.enter("pppoed")
    pkt.set_protocol("PPPoED")
    t, _code, pend = _header(buf, off, end, tree, pkt, DISCOVERY)
    pos = off + HEADER_LEN
    # Tags start until the declared payload length, and may run on into the rest of the
    # frame: only the frame's end is a hard limit (past it, Malformed).
    stop = pos + buf.u16(off + 4)
    if pos >= stop:
        return None
    tags = t.add(TAGS, pos, pend - pos)
    while pos < stop:
        buf.need_within(pos, TAG_HEADER_LEN, end)
        tag, tlen = buf.u16(pos), buf.u16(pos + 2)
        value = pos + TAG_HEADER_LEN
        buf.need_within(value, tlen, end)
        if tag == AC_NAME_TAG:
            pkt.append_info(f"AC-Name='{text_value(buf.bytes(value, tlen))}'")
        if tags:
            _tag(buf, tags, tag, value, tlen)
        pos = value + tlen
    return None


def _tag(buf: Buf, tags: Tree, tag: int, value: int, tlen: int) -> None:
    """One tag's value as its own field (nothing for an empty or End-Of-List tag)."""
    if tlen == 0:
        return
    raw = buf.bytes(value, tlen)
    spec = _TAG_FIELDS.get(tag)
    if spec is not None:
        tags.add(spec, value, tlen, text_value(raw) if spec.ftype == FT.STRING else raw)
    elif tag == VENDOR_SPECIFIC_TAG and tlen >= 4:
        tags.add(VENDOR_ID, value, 4, int.from_bytes(raw[:4], "big"))
        if tlen > 4:
            tags.add(VENDOR_DATA, value + 4, tlen - 4, raw[4:])
    else:
        tags.add(TAG, value - TAG_HEADER_LEN, 2, tag)
        tags.add(TAG_LENGTH, value - 2, 2, tlen)
        tags.add(UNKNOWN_DATA, value, tlen, raw)


def dissect_pppoes(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """A session packet: header, then its PPP frame (cut at the payload length)."""
    pkt.enter("pppoes")
    pkt.set_protocol("PPPoES")
    _t, _code, pend = _header(buf, off, end, tree, pkt, SESSION)
    pos = off + HEADER_LEN
    buf.need_within(pos, PPP_PROTOCOL_LEN, pend)
    dissect_ppp(buf, pos, pend, tree, pkt)
    return None


ETHERTYPE.register(0x8863, dissect_pppoed)
ETHERTYPE.register(0x8864, dissect_pppoes)
