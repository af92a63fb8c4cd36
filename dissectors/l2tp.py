"""L2TP over UDP port 1701: version 2 (RFC 2661) fully, version 3 (RFC 3931) minimally.

v2 wire format: flags and version (2: T type, L length, S sequence, O offset, P priority,
version in the low 4 bits), length (2, if L), tunnel id (2), session id (2), Ns and Nr
(2 each, if S), offset size (2, if O) and that many padding bytes. Data messages (T=0)
carry a PPP frame in HDLC-like framing; control messages (T=1) carry AVPs: flags and
length (2: M mandatory, H hidden, 10-bit length), vendor id (2), type (2), value.
A control message with no AVP (length 12) is a ZLB, a bare acknowledgement.

v3 over UDP: data messages are flags (2), reserved (2), a 32-bit session id, then the
payload (no cookie and no L2-specific sublayer assumed, the pseudowire type unknown, so
data); control messages have a 32-bit control connection id instead of tunnel/session.

As tshark 4.0: Info is built from the header before anything else (so a packet too short
for the message type is Malformed with no tree); a length field shorter than the datagram
cuts the packet, a longer one does not extend it; a version other than 2 or 3 is not L2TP
and the payload goes on to the other port, the heuristics or data.
"""
from __future__ import annotations

from collections.abc import Callable

from .buffer import Buf
from .data import dissect_data
from .dispatch import UDP_HEUR, UDP_PORT
from .fields import FT, Base, FieldSpec, Severity, expert, field, protocol
from .packet import Packet
from .ppp import dissect_ppp_hdlc, text_value
from .tree import Tree

L2TP_PORT = 1701
ZLB_LENGTH = 12      # a control message that is only its header
AVP_HEADER_LEN = 6
T_BIT, L_BIT, S_BIT, O_BIT = 0x8000, 0x4000, 0x0800, 0x0200
CONTROL_MESSAGE_AVP = 0
STOPCCN = 4
LOCAL_SESSION_ID_AVP = 63

# Message types: the names the tree shows and the abbreviations Info uses.
MESSAGE_TYPES = {
    1: "Start_Control_Request", 2: "Start_Control_Reply", 3: "Start_Control_Connected",
    4: "Stop_Control_Notification", 5: "Reserved", 6: "Hello", 7: "Outgoing_Call_Request",
    8: "Outgoing_Call_Reply", 9: "Outgoing_Call_Connected", 10: "Incoming_Call_Request",
    11: "Incoming_Call_Reply", 12: "Incoming_Call_Connected", 13: "Reserved",
    14: "Call_Disconnect_Notification", 15: "WAN_Error_Notify", 16: "Set_Link_Info",
    17: "Modem_Status", 18: "Service_Relay_Request_Msg", 19: "Service_Relay_Reply_Message",
    20: "Explicit_Acknowledgement", 21: "Failover_Session_Query_Message",
    22: "Failover_Session_Response_Message", 23: "Multicast-Session-Request",
    24: "Multicast-Session-Response", 25: "Multicast-Session-Establishment",
    26: "Multicast-Session-Information", 27: "Multicast-Session-End-Notify",
    28: "Connect-Speed-Update-Notification", 29: "Connect-Speed-Update-Request",
}
MESSAGE_SHORT = {
    1: "SCCRQ", 2: "SCCRP", 3: "SCCCN", 4: "StopCCN", 5: "Reserved", 6: "Hello", 7: "OCRQ",
    8: "OCRP", 9: "OCCN", 10: "ICRQ", 11: "ICRP", 12: "ICCN", 13: "Reserved", 14: "CDN",
    15: "WEN", 16: "SLI", 17: "MDMST", 18: "SRRQ", 19: "SRRP", 20: "ACK", 21: "FSQ",
    22: "FSR", 23: "MSRQ", 24: "MSRP", 25: "MSE", 26: "MSI", 27: "MSEN", 28: "CSUN",
    29: "CSURQ",
}
AVP_TYPES = {
    0: "Control Message", 1: "Result-Error Code", 2: "Protocol Version",
    3: "Framing Capabilities", 4: "Bearer Capabilities", 5: "Tie Breaker",
    6: "Firmware Revision", 7: "Host Name", 8: "Vendor Name", 9: "Assigned Tunnel ID",
    10: "Receive Window Size", 11: "Challenge", 12: "Cause Code", 13: "Challenge Response",
    14: "Assigned Session", 15: "Call Serial Number", 16: "Minimum BPS", 17: "Maximum BPS",
    18: "Bearer Type", 19: "Framing Type", 20: "Reserved", 21: "Called Number",
    22: "Calling Number", 23: "Sub-Address", 24: "Connect Speed", 25: "Physical Channel",
    26: "Initial Received LCP CONFREQ", 27: "Last Sent LCP CONFREQ",
    28: "Last Received LCP CONFREQ", 29: "Proxy Authen Type", 30: "Proxy Authen Name",
    31: "Proxy Authen Challenge", 32: "Proxy Authen ID", 33: "Proxy Authen Response",
    34: "Call status AVPs", 35: "ACCM", 36: "Random Vector", 37: "Private group ID",
    38: "RxConnect Speed", 39: "Sequencing Required", 46: "PPP Disconnect Cause Code",
    58: "Extended Vendor ID", 59: "Message Digest", 60: "Router ID",
    61: "Assigned Control Connection ID", 62: "Pseudowire Capability List",
    63: "Local Session ID", 64: "Remote Session ID", 65: "Assigned Cookie",
    66: "Remote End ID", 68: "Pseudowire Type", 69: "Layer2 Specific Sublayer",
    70: "Data Sequencing", 71: "Circuit Status", 72: "Preferred Language",
    73: "Control Message Authentication Nonce", 74: "Tx Connect Speed Version 3",
    75: "Rx Connect Speed Version 3",
}
STOPCCN_RESULTS = {
    0: "Reserved", 1: "General request to clear control connection",
    2: "General error, Error Code indicates the problem", 3: "Control connection already exists",
    4: "Requester is not authorized to establish a control connection",
    5: "The protocol version of the requester is not supported",
    6: "Requester is being shut down", 7: "Finite state machine error or timeout",
    8: "Control connection due to mismatching CCDS value",
}
CDN_RESULTS = {
    0: "Reserved", 1: "Session disconnected due to loss of carrier or circuit disconnect",
    2: "Session disconnected for the reason indicated in Error Code",
    3: "Session disconnected for administrative reasons",
    4: "Appropriate facilities unavailable (temporary condition)",
    5: "Appropriate facilities unavailable (permanent condition)", 6: "Invalid destination",
    7: "Call failed due to no carrier detected",
    8: "Call failed due to detection of a busy signal",
    9: "Call failed due to lack of a dial tone",
    10: "Call was not established within time allotted by LAC",
    11: "Call was connected but no appropriate framing was detected",
    12: "Disconnecting call due to mismatching SDS value",
    13: "Session not established due to losing tie breaker",
    14: "Session not established due to unsupported PW type",
    15: "Session not established, sequencing required without valid L2-Specific Sublayer",
    16: "Finite state machine error or timeout",
}
ERROR_CODES = {
    0: "No General Error", 1: "No control connection exists yet for this pair of LCCEs",
    2: "Length is wrong", 3: "One of the field values was out of range",
    4: "Insufficient resources to handle this operation now", 5: "Invalid Session ID",
    6: "A generic vendor-specific error occurred", 7: "Try another",
    8: "Receipt of an unknown AVP with the M bit set", 9: "Try another directed",
    10: "Next hop unreachable", 11: "Next hop busy", 12: "TSA busy",
}
PW_TYPES = {
    1: "Frame Relay DLCI", 2: "ATM AAL5 SDU VCC transport", 3: "ATM Cell transparent Port Mode",
    4: "Ethernet VLAN", 5: "Ethernet", 6: "HDLC", 7: "PPP", 9: "ATM Cell transport VCC Mode",
    10: "ATM Cell transport VPC Mode", 11: "IP Transport",
}
VENDOR_CISCO = 9
VENDORS = {0: "Reserved", VENDOR_CISCO: "ciscoSystems"}
CISCO_AVP_TYPES = {
    0: "Cisco ACK", 1: "Assigned Connection ID", 2: "Pseudowire Capabilities List",
    3: "Local Session ID", 4: "Remote Session ID", 5: "Assigned Cookie", 6: "Remote End ID",
    7: "Pseudowire Type", 8: "Circuit Status", 9: "Session Tie Breaker",
    10: "Draft AVP Version", 12: "Message Digest",
    13: "Control Message Authentication Nonce", 14: "Interface MTU",
}
TRUE_FALSE = ("True", "False")

PROTO = protocol(
    "l2tp", "Layer 2 Tunneling Protocol",
    explain="Tunnels PPP sessions over UDP 1701 between an access concentrator (LAC) and "
            "the network server (LNS) that terminates them, as wholesale DSL and many VPNs "
            "do. Every packet inside pays for the extra IP, UDP, L2TP and PPP headers "
            "(about 40 bytes on top of PPPoE), so the inner MTU and MSS shrink: large "
            "transfers through the tunnel stall when path-MTU discovery is broken. Hello "
            "messages are keepalives; ZLB messages acknowledge control messages.")
FLAGS = field("l2tp.flags", "Flags", FT.UINT16, Base.HEX, blurb="Flags and version")
TYPE = field("l2tp.type", "Type", FT.UINT16, bitmask=T_BIT,
             strings={0: "Data Message", 1: "Control Message"}, blurb="Type bit",
             explain="Data messages carry the tunnelled PPP frames; control messages set up "
                     "and tear down tunnels and sessions.")
LENGTH_BIT = field("l2tp.length_bit", "Length Bit", FT.BOOLEAN, bitmask=L_BIT,
                   tfs=("Length field is present", "Length field is not present"))
SEQ_BIT = field("l2tp.seq_bit", "Sequence Bit", FT.BOOLEAN, bitmask=S_BIT,
                tfs=("Ns and Nr fields are present", "Ns and Nr fields are not present"))
OFFSET_BIT = field("l2tp.offset_bit", "Offset bit", FT.BOOLEAN, bitmask=O_BIT,
                   tfs=("Offset Size field is present", "Offset size field is not present"))
PRIORITY = field("l2tp.priority", "Priority", FT.BOOLEAN, bitmask=0x0100,
                 tfs=("This data message has priority", "No priority"), blurb="Priority bit")
VERSION = field("l2tp.version", "Version", FT.UINT16, bitmask=0x000F)
LENGTH = field("l2tp.length", "Length", FT.UINT16, blurb="Message length, header included")
TUNNEL = field("l2tp.tunnel", "Tunnel ID", FT.UINT16,
               blurb="The receiver's id of the tunnel",
               explain="Each end picks its own id for the tunnel, so the two directions "
                       "carry different numbers; 0 is used before the id is known (SCCRQ).")
SESSION = field("l2tp.session", "Session ID", FT.UINT16,
                blurb="The receiver's id of the PPP session in the tunnel",
                explain="One per subscriber or VPN user; 0 in tunnel-level control messages.")
NS = field("l2tp.Ns", "Ns", FT.UINT16, blurb="Sequence number of this message",
           explain="Control messages are delivered reliably: a repeated Ns is a "
                   "retransmission, meaning the peer did not acknowledge in time.")
NR = field("l2tp.Nr", "Nr", FT.UINT16, blurb="Next sequence number expected from the peer")
OFFSET = field("l2tp.offset", "Offset", FT.UINT16,
               blurb="Number of octets past the L2TP header at which the payload data starts.")
OFFSET_PADDING = field("l2tp.offset_padding", "Offset Padding", FT.NONE)
ZLB = field("l2tp.zero_length_body_message", "Zero Length Body message", FT.NONE,
            explain="A control message without AVPs: only an acknowledgement of the peer's "
                    "control messages (by Nr).")
RESERVED = field("l2tp.res", "Reserved", FT.UINT16, Base.HEX)
SID = field("l2tp.sid", "Session ID", FT.UINT32, Base.HEX, blurb="L2TPv3 session id")
CCID = field("l2tp.ccid", "Control Connection ID", FT.UINT32, Base.HEX)
PSEUDOWIRE_TYPE = field("l2tp.avp.pseudowire_type", "Pseudowire Type", FT.UINT16,
                        strings=PW_TYPES, blurb="What the L2TPv3 session carries")

AVP_MANDATORY = field("l2tp.avp.mandatory", "Mandatory", FT.BOOLEAN, bitmask=0x8000,
                      tfs=TRUE_FALSE,
                      explain="A receiver that does not understand a mandatory AVP must "
                              "tear the session or tunnel down.")
AVP_HIDDEN = field("l2tp.avp.hidden", "Hidden", FT.BOOLEAN, bitmask=0x4000, tfs=TRUE_FALSE,
                   blurb="Value encrypted with the tunnel secret")
AVP_LENGTH = field("l2tp.avp.length", "Length", FT.UINT16, bitmask=0x03FF)
AVP_VENDOR = field("l2tp.avp.vendor_id", "Vendor ID", FT.UINT16, strings=VENDORS,
                   blurb="AVP Vendor ID")
AVP_TYPE = field("l2tp.avp.type", "AVP Type", FT.UINT16, strings=AVP_TYPES)
CISCO_AVP_TYPE = field("l2tp.avp.ciscotype", "Type", FT.UINT16, strings=CISCO_AVP_TYPES,
                       blurb="AVP Type")
MESSAGE_TYPE = field("l2tp.avp.message_type", "Message Type", FT.UINT16,
                     strings=MESSAGE_TYPES,
                     explain="SCCRQ/SCCRP/SCCCN open a tunnel, ICRQ/ICRP/ICCN a session; "
                             "StopCCN closes a tunnel and CDN a session (see its result "
                             "code); Hello is a keepalive.")
RESULT_CODE = field("l2tp.result_code", "Result code", FT.UINT16, strings=CDN_RESULTS,
                    explain="Why a tunnel (StopCCN) or session (CDN) was closed.")
ERROR_CODE = field("l2tp.avp.error_code", "Error code", FT.UINT16, strings=ERROR_CODES)
ERROR_MESSAGE = field("l2tp.avp.error_message", "Error Message", FT.STRING)
PROTOCOL_VERSION = field("l2tp.avp.protocol_version", "Version", FT.UINT8)
PROTOCOL_REVISION = field("l2tp.avp.protocol_revision", "Revision", FT.UINT8)
ASYNC_FRAMING = field("l2tp.avp.async_framing_supported", "Async Framing Supported",
                      FT.BOOLEAN, bitmask=0x2, tfs=TRUE_FALSE)
SYNC_FRAMING = field("l2tp.avp.sync_framing_supported", "Sync Framing Supported",
                     FT.BOOLEAN, bitmask=0x1, tfs=TRUE_FALSE)
ANALOG_ACCESS = field("l2tp.avp.analog_access_supported", "Analog Access Supported",
                      FT.BOOLEAN, bitmask=0x2, tfs=TRUE_FALSE)
DIGITAL_ACCESS = field("l2tp.avp.digital_access_supported", "Digital Access Supported",
                       FT.BOOLEAN, bitmask=0x1, tfs=TRUE_FALSE)
ANALOG_BEARER = field("l2tp.avp.analog_bearer_type", "Analog Bearer Type", FT.BOOLEAN,
                      bitmask=0x2, tfs=TRUE_FALSE)
DIGITAL_BEARER = field("l2tp.avp.digital_bearer_type", "Digital Bearer Type", FT.BOOLEAN,
                       bitmask=0x1, tfs=TRUE_FALSE)
ASYNC_FRAMING_TYPE = field("l2tp.avp.async_framing_type", "Async Framing Type", FT.BOOLEAN,
                           bitmask=0x2, tfs=TRUE_FALSE)
SYNC_FRAMING_TYPE = field("l2tp.avp.sync_framing_type", "Sync Framing Type", FT.BOOLEAN,
                          bitmask=0x1, tfs=TRUE_FALSE)
TIE_BREAKER = field("l2tp.tie_breaker", "Tie Breaker", FT.UINT64, Base.HEX)
FIRMWARE_REVISION = field("l2tp.avp.firmware_revision", "Firmware Revision", FT.UINT16,
                          Base.DEC_HEX)
HOST_NAME = field("l2tp.avp.host_name", "Host Name", FT.STRING,
                  blurb="Name of the LAC or LNS sending the message")
VENDOR_NAME = field("l2tp.avp.vendor_name", "Vendor Name", FT.STRING)
ASSIGNED_TUNNEL = field("l2tp.avp.assigned_tunnel_id", "Assigned Tunnel ID", FT.UINT16,
                        explain="The id the sender wants to see in the Tunnel ID field of "
                                "everything sent to it on this tunnel.")
RECEIVE_WINDOW = field("l2tp.avp.receive_window_size", "Receive Window Size", FT.UINT16,
                       blurb="Control messages the sender accepts unacknowledged")
CHALLENGE = field("l2tp.avp.chap_challenge", "CHAP Challenge", FT.BYTES)
CAUSE_CODE = field("l2tp.avp.cause_code", "Cause Code", FT.UINT16)
CAUSE_MSG = field("l2tp.avp.cause_msg", "Cause Msg", FT.UINT8)
ADVISORY_MSG = field("l2tp.avp.advisory_msg", "Advisory Msg", FT.STRING)
CHALLENGE_RESPONSE = field("l2tp.avp.chap_challenge_response", "CHAP Challenge Response",
                           FT.BYTES)
ASSIGNED_SESSION = field("l2tp.avp.assigned_session_id", "Assigned Session ID", FT.UINT16)
CALL_SERIAL = field("l2tp.avp.call_serial_number", "Call Serial Number", FT.UINT32)
MINIMUM_BPS = field("l2tp.avp.minimum_bps", "Minimum BPS", FT.UINT32)
MAXIMUM_BPS = field("l2tp.avp.maximum_bps", "Maximum BPS", FT.UINT32)
CALLED_NUMBER = field("l2tp.avp.called_number", "Called Number", FT.STRING)
CALLING_NUMBER = field("l2tp.avp.calling_number", "Calling Number", FT.STRING)
SUB_ADDRESS = field("l2tp.avp.sub_address", "Sub-Address", FT.STRING)
CONNECT_SPEED = field("l2tp.avp.connect_speed", "Connect Speed", FT.UINT32,
                      blurb="Transmit speed of the subscriber's line, bits/s")
PHYSICAL_CHANNEL = field("l2tp.avp.physical_channel", "Physical Channel", FT.UINT32)
RANDOM_VECTOR = field("l2tp.avp.random_vector", "Random Vector", FT.BYTES)
PRIVATE_GROUP = field("l2tp.avp.private_group_id", "Private Group ID", FT.BYTES)
RX_CONNECT_SPEED = field("l2tp.avp.rx_connect_speed", "Rx Connect Speed", FT.UINT32)
ASSIGNED_CCID = field("l2tp.avp.assigned_control_conn_id", "Assigned Control Connection ID",
                      FT.UINT32)
LOCAL_SESSION = field("l2tp.avp.local_session_id", "Local Session ID", FT.UINT32)
REMOTE_SESSION = field("l2tp.avp.remote_session_id", "Remote Session ID", FT.UINT32)

AVP_LENGTH_BAD = expert("l2tp.avp_length.bad", "malformed", Severity.ERROR, "Bad AVP length",
                        explain="An AVP shorter than its own 6-byte header: the rest of the "
                                "control message cannot be read.")
VENDOR_AVP_DATA = expert("l2tp.vendor_specific_avp_data", "undecoded", Severity.WARN,
                         "Vendor-Specific AVP data",
                         explain="An AVP defined by an equipment vendor; wirelens shows it "
                                 "undecoded.")

_V2_FLAG_BITS = (TYPE, LENGTH_BIT, SEQ_BIT, OFFSET_BIT, PRIORITY, VERSION)
_V3_FLAG_BITS = (TYPE, LENGTH_BIT, SEQ_BIT, VERSION)
_FLAG_NAMES = ((L_BIT, "Length Bit"), (S_BIT, "Sequence Bit"), (O_BIT, "Offset bit"),
               (0x0100, "Priority"))


def _u16(buf: Buf, pos: int, end: int) -> int:
    buf.need_within(pos, 2, end)
    return buf.u16(pos)


def _u32(buf: Buf, pos: int, end: int) -> int:
    buf.need_within(pos, 4, end)
    return buf.u32(pos)


def dissect_l2tp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """An L2TP message over UDP; payloads of other versions are handed on unclaimed."""
    if min(end, len(buf)) - off < 2:
        return _not_l2tp(buf, off, end, tree, pkt)
    flags = buf.u16(off)
    version = flags & 0x000F
    if version not in (2, 3):
        return _not_l2tp(buf, off, end, tree, pkt)
    pkt.enter("l2tp")
    pkt.set_protocol("L2TP")
    pkt.set_info("")
    if version == 3:
        pkt.set_protocol("L2TPv3")
        if flags & T_BIT:
            _v3_control(buf, off, end, tree, pkt, flags)
        else:
            _v3_data(buf, off, end, tree, pkt, flags)
        return None
    _v2(buf, off, end, tree, pkt, flags)
    return None


def _not_l2tp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """Not L2TP after all: try the other port's dissector, the heuristics, then data."""
    other = pkt.dstport if pkt.srcport == L2TP_PORT else pkt.srcport
    fn = UDP_PORT.get(other) if other > 0 else None
    if fn is not None and fn is not dissect_l2tp:
        return fn(buf, off, end, tree, pkt)
    if not UDP_HEUR.try_all(buf, off, end, tree, pkt):
        dissect_data(buf, off, end, tree, pkt)
    return None


def _flags(t: Tree, off: int, flags: int, bits: tuple[FieldSpec, ...]) -> None:
    """The flags word with its summary ('Flags: 0xc802, Type: Control Message, ...')."""
    if not t:
        return
    kind = "Control Message" if flags & T_BIT else "Data Message"
    names = "".join(f", {name}" for bit, name in _FLAG_NAMES
                    if flags & bit and any(b.bitmask == bit for b in bits))
    node = t.add(FLAGS, off, 2, flags, f"Flags: 0x{flags:04x}, Type: {kind}{names}")
    for spec in bits:
        node.add_bits(spec, off, 2, flags)


def _v2(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, flags: int) -> None:
    """L2TPv2: Info from the header, then the tree, then PPP or the AVPs."""
    has_len = bool(flags & L_BIT)
    pos = off + 2
    length = 0
    if has_len:
        length = _u16(buf, pos, end)
        pos += 2
    tid, cid = _u16(buf, pos, end), _u16(buf, pos + 2, end)
    if not flags & T_BIT:
        pkt.set_info(f"Data    Message            (tunnel id={tid}, session id={cid})")
    elif has_len and length == ZLB_LENGTH:
        pkt.set_info(f"Control Message - ZLB      (tunnel id={tid}, session id={cid})")
    else:
        avp = pos + 4 + (4 if flags & S_BIT else 0)
        pkt.set_info(f"Control Message{_message_name(buf, avp, end)} "
                     f"(tunnel id={tid}, session id={cid})")
    if has_len and length < end - off:
        end = off + length   # the length field cuts the packet, never extends it
    t = tree.add(PROTO, off, max(0, min(end, len(buf)) - off))
    _flags(t, off, flags, _V2_FLAG_BITS)
    pos = off + 2
    if has_len:
        t.add(LENGTH, pos, 2, _u16(buf, pos, end))
        pos += 2
    t.add(TUNNEL, pos, 2, _u16(buf, pos, end))
    t.add(SESSION, pos + 2, 2, _u16(buf, pos + 2, end))
    pos = _sequence(buf, pos + 4, end, t, flags)
    if flags & O_BIT:
        size = _u16(buf, pos, end)
        t.add(OFFSET, pos, 2, size)
        pos += 2
        if size:
            t.add(OFFSET_PADDING, pos, size)   # not read, so never out of bounds
            pos += size
    if has_len and length == ZLB_LENGTH:
        t.add(ZLB, off, 0)
    if not flags & T_BIT:
        t.set_size(pos - off)
        if pos < min(end, len(buf)):
            dissect_ppp_hdlc(buf, pos, end, tree, pkt)
        return
    if has_len:
        _avps(buf, pos, off + length, end, t, pkt)


def _message_name(buf: Buf, avp: int, end: int) -> str:
    """' - SCCRQ' when the first AVP is the message type (it must be), else ''."""
    if _u16(buf, avp + 4, end) != CONTROL_MESSAGE_AVP:
        return ""
    msg = _u16(buf, avp + 6, end)
    return f" - {MESSAGE_SHORT.get(msg, f'Unknown ({msg})')}"


def _sequence(buf: Buf, pos: int, end: int, t: Tree, flags: int) -> int:
    """Ns and Nr when the S bit is set; returns the offset after them."""
    if not flags & S_BIT:
        return pos
    t.add(NS, pos, 2, _u16(buf, pos, end))
    t.add(NR, pos + 2, 2, _u16(buf, pos + 2, end))
    return pos + 4


def _v3_data(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, flags: int) -> None:
    """L2TPv3 data over UDP: reserved word, session id, then the pseudowire as data."""
    t = tree.add(PROTO, off, 8, label=f"{PROTO.name} version 3")
    _flags(t, off, flags, _V3_FLAG_BITS)
    t.add(RESERVED, off + 2, 2, _u16(buf, off + 2, end))
    sid = _u32(buf, off + 4, end)
    pkt.set_info(f"D[S:0x{sid:08X}]")
    t.add(SID, off + 4, 4, sid)
    t.add(PSEUDOWIRE_TYPE, off, 0, 0, generated=True)
    if off + 8 < min(end, len(buf)):
        dissect_data(buf, off + 8, end, tree, pkt)


def _v3_control(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, flags: int) -> None:
    """L2TPv3 control over UDP: like v2 with a 32-bit control connection id."""
    has_len = bool(flags & L_BIT)
    pos = off + 2
    length = 0
    if has_len:
        length = _u16(buf, pos, end)
        pos += 2
    ccid = _u32(buf, pos, end)
    pos += 4
    if has_len and length == ZLB_LENGTH:
        pkt.set_info(f"Control Message - ZLB (ccid=0x{ccid:08X})")
    else:
        avp = pos + (4 if flags & S_BIT else 0)
        if _u16(buf, avp + 2, end) == 0:   # vendor AVPs leave Info to their vendor
            pkt.set_info(f"Control Message{_message_name(buf, avp, end)} "
                         f"(ccid=0x{ccid:08X})")
    if has_len and length < end - off:
        end = off + length
    t = tree.add(PROTO, off, max(0, min(end, len(buf)) - off), label=f"{PROTO.name} version 3")
    _flags(t, off, flags, _V3_FLAG_BITS)
    if has_len:
        t.add(LENGTH, off + 2, 2, length)
    t.add(CCID, pos - 4, 4, _u32(buf, pos - 4, end))
    pos = _sequence(buf, pos, end, t, flags)
    if has_len and length == ZLB_LENGTH:
        t.add(ZLB, off, 0)
    else:
        _message_name(buf, pos, end)   # tshark reads the message type here too
    if has_len:
        _avps(buf, pos, off + length, end, t, pkt)


# ---------------------------------------------------------------------------------------
# AVPs
# ---------------------------------------------------------------------------------------

class _Avps:
    """What one AVP's value decoder may need from the ones before it."""

    __slots__ = ("stopccn",)

    def __init__(self) -> None:
        self.stopccn = False


AvpDecoder = Callable[[Buf, int, int, int, Tree, Packet, _Avps], None]


def _avps(buf: Buf, pos: int, stop: int, end: int, t: Tree, pkt: Packet) -> None:
    """The AVPs of a control message, from pos up to the message length `stop`.

    Each AVP is at least 6 bytes long, so the walk ends; a shorter one stops it with an
    expert item, an AVP running past the packet is Malformed."""
    ctx = _Avps()
    last: Tree = t
    while pos < stop:
        buf.need_within(pos, AVP_HEADER_LEN, end)
        word, vendor, atype = buf.u16(pos), buf.u16(pos + 2), buf.u16(pos + 4)
        alen = word & 0x03FF
        if alen < AVP_HEADER_LEN:
            pkt.note(AVP_LENGTH_BAD)
            if last:
                msg = f"AVP length must be >= 6, got {alen}"
                last.add_text(pos, 2, msg).add_expert(AVP_LENGTH_BAD, pos, 2, msg)
            return
        buf.need_within(pos, alen, end)
        if vendor == VENDOR_CISCO:
            name = CISCO_AVP_TYPES.get(atype, f"Unknown ({atype})")
            label = f"Vendor {VENDORS[vendor]} ({vendor}): {name} AVP"
        elif vendor:
            label = f"Vendor {VENDORS.get(vendor, 'Unknown')} ({vendor}) AVP Type {atype}"
        else:
            label = f"{AVP_TYPES.get(atype, f'Unknown ({atype})')} AVP"
        sub = t.add_text(pos, alen, label)
        last = sub
        sub.add_bits(AVP_MANDATORY, pos, 2, word)
        sub.add_bits(AVP_HIDDEN, pos, 2, word)
        sub.add_bits(AVP_LENGTH, pos, 2, word)
        if not word & 0x4000:   # a hidden value is encrypted: nothing more to show
            sub.add(AVP_VENDOR, pos + 2, 2, vendor)
            sub.add(CISCO_AVP_TYPE if vendor == VENDOR_CISCO else AVP_TYPE, pos + 4, 2, atype)
            value, n = pos + AVP_HEADER_LEN, alen - AVP_HEADER_LEN
            if vendor and not (vendor == VENDOR_CISCO and atype in CISCO_AVP_TYPES):
                pkt.note(VENDOR_AVP_DATA)
                if sub:
                    sub.add_text(value, n, VENDOR_AVP_DATA.summary).add_expert(
                        VENDOR_AVP_DATA, value, n)
            else:
                decode = _AVP_DECODERS.get(atype)
                if decode is not None:
                    decode(buf, value, n, end, sub, pkt, ctx)
        pos += alen


def _uint(spec: FieldSpec, size: int) -> AvpDecoder:
    """A fixed-size number (read whatever the AVP length says, as tshark does)."""
    def decode(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet, ctx: _Avps) -> None:
        buf.need_within(pos, size, end)
        t.add(spec, pos, size, int.from_bytes(buf.bytes(pos, size), "big"))
    return decode


def _text(spec: FieldSpec) -> AvpDecoder:
    def decode(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet, ctx: _Avps) -> None:
        if n > 0:
            t.add(spec, pos, n, text_value(buf.bytes(pos, n)))
    return decode


def _raw(spec: FieldSpec, size: int = 0) -> AvpDecoder:
    """The value's bytes (`size` of them when fixed, else the whole value)."""
    def decode(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet, ctx: _Avps) -> None:
        count = size or n
        if count > 0:
            buf.need_within(pos, count, end)
            t.add(spec, pos, count, buf.bytes(pos, count))
    return decode


def _bits(first: FieldSpec, second: FieldSpec) -> AvpDecoder:
    """A 32-bit capability word shown as its two flag bits."""
    def decode(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet, ctx: _Avps) -> None:
        word = _u32(buf, pos, end)
        t.add_bits(first, pos, 4, word)
        t.add_bits(second, pos, 4, word)
    return decode


def _message_type(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet,
                  ctx: _Avps) -> None:
    msg = _u16(buf, pos, end)
    ctx.stopccn = msg == STOPCCN
    t.add(MESSAGE_TYPE, pos, 2, msg)


def _result_code(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet,
                 ctx: _Avps) -> None:
    """Result code (its meaning depends on StopCCN versus CDN), error code, message."""
    if n < 2:
        return
    code = _u16(buf, pos, end)
    label = None
    if ctx.stopccn:
        label = f"Result code: {STOPCCN_RESULTS.get(code, 'Unknown')} ({code})"
    t.add(RESULT_CODE, pos, 2, code, label)
    if n < 4:
        return
    t.add(ERROR_CODE, pos + 2, 2, _u16(buf, pos + 2, end))
    if n > 4:
        t.add(ERROR_MESSAGE, pos + 4, n - 4, text_value(buf.bytes(pos + 4, n - 4)))


def _protocol_version(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet,
                      ctx: _Avps) -> None:
    if n < 1:
        return
    buf.need_within(pos, 2, end)
    t.add(PROTOCOL_VERSION, pos, 1, buf.data[pos])
    t.add(PROTOCOL_REVISION, pos + 1, 1, buf.data[pos + 1])


def _cause_code(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet,
                ctx: _Avps) -> None:
    if n < 2:
        return
    t.add(CAUSE_CODE, pos, 2, _u16(buf, pos, end))
    if n < 3:
        return
    t.add(CAUSE_MSG, pos + 2, 1, buf.data[pos + 2])
    if n > 3:
        t.add(ADVISORY_MSG, pos + 3, n - 3, text_value(buf.bytes(pos + 3, n - 3)))


def _local_session(buf: Buf, pos: int, n: int, end: int, t: Tree, pkt: Packet,
                   ctx: _Avps) -> None:
    sid = _u32(buf, pos, end)
    t.add(LOCAL_SESSION, pos, 4, sid)
    pkt.append_info(f", LSID: {sid:2d}", sep="")


_AVP_DECODERS: dict[int, AvpDecoder] = {
    0: _message_type, 1: _result_code, 2: _protocol_version,
    3: _bits(ASYNC_FRAMING, SYNC_FRAMING), 4: _bits(ANALOG_ACCESS, DIGITAL_ACCESS),
    5: _uint(TIE_BREAKER, 8), 6: _uint(FIRMWARE_REVISION, 2), 7: _text(HOST_NAME),
    8: _text(VENDOR_NAME), 9: _uint(ASSIGNED_TUNNEL, 2), 10: _uint(RECEIVE_WINDOW, 2),
    11: _raw(CHALLENGE), 12: _cause_code, 13: _raw(CHALLENGE_RESPONSE, 16),
    14: _uint(ASSIGNED_SESSION, 2), 15: _uint(CALL_SERIAL, 4), 16: _uint(MINIMUM_BPS, 4),
    17: _uint(MAXIMUM_BPS, 4), 18: _bits(ANALOG_BEARER, DIGITAL_BEARER),
    19: _bits(ASYNC_FRAMING_TYPE, SYNC_FRAMING_TYPE), 21: _text(CALLED_NUMBER),
    22: _text(CALLING_NUMBER), 23: _text(SUB_ADDRESS), 24: _uint(CONNECT_SPEED, 4),
    25: _uint(PHYSICAL_CHANNEL, 4), 36: _raw(RANDOM_VECTOR), 37: _raw(PRIVATE_GROUP),
    38: _uint(RX_CONNECT_SPEED, 4), 61: _uint(ASSIGNED_CCID, 4),
    LOCAL_SESSION_ID_AVP: _local_session, 64: _uint(REMOTE_SESSION, 4),
    68: _uint(PSEUDOWIRE_TYPE, 2),
}

UDP_PORT.register(L2TP_PORT, dissect_l2tp)
