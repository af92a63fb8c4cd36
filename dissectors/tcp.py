"""TCP (RFC 9293): header, options, conversations (tcp.stream), relative sequence numbers.

Wire format: source port (2), destination port (2), sequence number (4), acknowledgment
number (4), data offset (4 bits) + 12 flag bits (AE, CWR, ECE, URG, ACK, PSH, RST, SYN,
FIN and three reserved), window (2), checksum (2), urgent pointer (2), options up to the
data offset, then the payload.

What tshark 4.0 derives is reproduced exactly, because scripts compare our output with
its output line by line:

* Streams: a conversation is the unordered pair (address, port) x 2; the first packet of
  a new pair opens the next `tcp.stream`. A pure SYN whose sequence number differs from
  the base the conversation already has starts a new stream on the same ports (port
  reuse); a SYN/ACK with a different sequence number re-bases its direction instead.
* Relative numbers: a direction's base is the ISN of its SYN (SYN counts one), else the
  first sequence number seen minus one; the peer's base is also learnt from the first
  ACK (ack - 1) when its SYN was not seen.
* Window scaling: a direction's shift comes from its own SYN's WS option (capped at 14);
  a SYN or SYN/ACK without WS turns scaling off for both sides; a SYN/ACK with WS after a
  SYN without it turns it off for the SYN/ACK's side. Until known, windows are unscaled.
* The conversation completeness shown is the value before this packet.

Per-capture state lives in `TcpState`: a dict of conversations, one small `TcpStream` per
stream with a `TcpFlow` per direction, and compact per-frame arrays (stream id, and the
facts a later re-dissection of the frame must show the same way) so a visited frame is
dissected again without touching the state.
"""
from __future__ import annotations

import hashlib
import struct
from array import array
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from .buffer import Buf, Malformed, Truncated
from .data import dissect_data
from .dispatch import IP_PROTO, TCP_HEUR, TCP_PORT
from .fields import FT, Base, Severity, bitfield_str, expert, field, protocol
from .packet import Packet
from .tree import NULL_TREE, Tree

# ---------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 0x001, 0x002, 0x004, 0x008, 0x010, 0x020, \
    0x040, 0x080, 0x100
RESERVED = 0xE00
SYN_ACK = SYN | ACK
MIN_HDR = 20
_FLAG_NAMES = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
               (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"), (AE, "AE"))
_ACE_HIDDEN = ECE | CWR | AE
# SYN/ACK answers (AE, CWR, ECE) that accept Accurate ECN (draft-ietf-tcpm-accurate-ecn).
_ACC_ECN_SYNACK = frozenset((0b010, 0b011, 0b100, 0b110))


def _flag_names(flags: int, ace: bool) -> str:
    """tshark's flag list: lowest bit first, 'ACE=n' for the AccECN counter, then Reserved."""
    key = flags | (0x1000 if ace else 0)
    text = _FLAG_TEXT.get(key)
    if text is None:
        text = _FLAG_TEXT[key] = _build_flag_names(flags, ace)
    return text


_FLAG_TEXT: dict[int, str] = {}   # at most 2 x 4096 entries


def _build_flag_names(flags: int, ace: bool) -> str:
    names = [name for bit, name in _FLAG_NAMES
             if flags & bit and not (ace and bit & _ACE_HIDDEN)]
    if ace:
        names.append(f"ACE={(flags >> 6) & 7}")
    if flags & RESERVED:
        names.append("Reserved")
    return ", ".join(names) if names else "<None>"


def _flag_letters(flags: int, ace: bool) -> str:
    """tshark's 12-character flag picture: '·······A··S·' (RRRACEUAPRSF)."""
    out = ["R" if flags & 0x800 else "·", "R" if flags & 0x400 else "·",
           "R" if flags & 0x200 else "·"]
    if ace:
        out.append(f"-{(flags >> 6) & 7}-")
    else:
        out.append("A" if flags & AE else "·")
        out.append("C" if flags & CWR else "·")
        out.append("E" if flags & ECE else "·")
    for bit, letter in ((URG, "U"), (ACK, "A"), (PSH, "P"), (RST, "R"), (SYN, "S"),
                        (FIN, "F")):
        out.append(letter if flags & bit else "·")
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------

PROTO = protocol("tcp", "Transmission Control Protocol",
                 explain="The reliable byte stream under HTTP, TLS, databases and most RPC. "
                         "Its sequence numbers, acknowledgments and windows show whether data "
                         "was lost, resent, or held back by a slow receiver.")
SRCPORT = field("tcp.srcport", "Source Port", FT.UINT16, blurb="Source port",
                explain="The sender's port. On a client this is usually an ephemeral port "
                        "(32768-60999 on Linux) picked per connection; a server answers from "
                        "its listening port (443, 5432...).")
DSTPORT = field("tcp.dstport", "Destination Port", FT.UINT16, blurb="Destination port",
                explain="The receiver's port. On a client's SYN it names the service being "
                        "called.")
PORT = field("tcp.port", "Source or Destination Port", FT.UINT16,
             blurb="Either port (for filters such as tcp.port == 443)")
STREAM = field("tcp.stream", "Stream index", FT.UINT32,
               blurb="Number of the TCP conversation in this capture, from 0",
               explain="Every packet of one connection shares this number, in order of "
                       "first appearance; a new connection that reuses the same ports gets a "
                       "new number. Filter tcp.stream == N to follow one connection.")
_COMPLETENESS_NAMES = {1: "Incomplete, SYN_SENT", 3: "Incomplete, CLIENT_ESTABLISHED",
                       7: "Incomplete, ESTABLISHED", 15: "Incomplete, DATA",
                       31: "Complete, WITH_DATA", 47: "Complete, WITH_DATA",
                       63: "Complete, WITH_DATA", 23: "Complete, NO_DATA",
                       39: "Complete, NO_DATA", 55: "Complete, NO_DATA"}
COMPLETENESS = field("tcp.completeness", "Conversation completeness", FT.UINT8,
                     blurb="The completeness of the conversation capture (bits: 1 SYN, "
                           "2 SYN-ACK, 4 ACK, 8 data, 16 FIN, 32 RST)",
                     explain="Which parts of the connection were captured so far: a "
                             "connection without the SYN bits began before the capture, so "
                             "its handshake timing and options are unknown.")
LEN = field("tcp.len", "TCP Segment Len", FT.UINT32, blurb="Payload bytes in this segment",
            explain="Bytes of application data this segment carries. Zero for pure ACKs, "
                    "which only acknowledge data or update the window.")
SEQ = field("tcp.seq", "Sequence Number", FT.UINT32,
            blurb="Sequence number, relative to the sender's initial one",
            explain="Position of this segment's first byte in the sender's stream, counted "
                    "from 0 at its SYN. A number going backwards means a retransmission.")
SEQ_RAW = field("tcp.seq_raw", "Sequence Number (raw)", FT.UINT32,
                blurb="This shows the raw value of the sequence number")
NXTSEQ = field("tcp.nxtseq", "Next Sequence Number", FT.UINT32,
               blurb="The sequence number the next segment from this sender should carry")
ACK_FIELD = field("tcp.ack", "Acknowledgment Number", FT.UINT32,
                  blurb="Next byte expected from the peer, relative to the peer's ISN",
                  explain="Everything before this byte of the peer's stream has arrived. "
                          "The same number repeated while data flows the other way is a "
                          "duplicate ACK: the receiver is missing a segment.")
ACK_RAW = field("tcp.ack_raw", "Acknowledgment number (raw)", FT.UINT32,
                blurb="This shows the raw value of the acknowledgment number")
HDR_LEN = field("tcp.hdr_len", "Header Length", FT.UINT8, blurb="Data offset in 32-bit words",
                explain="Header plus options, 20 to 60 bytes.")
FLAGS = field("tcp.flags", "Flags", FT.UINT16, Base.HEX, bitmask=0xFFF,
              blurb="Flags (12 bits)",
              explain="SYN opens, FIN closes gracefully, RST aborts, ACK acknowledges, PSH "
                      "asks the receiver to deliver buffered data to the application now.")
FLAG_RES = field("tcp.flags.res", "Reserved", FT.BOOLEAN, bitmask=RESERVED,
                 blurb="Three reserved bits (must be zero)")
FLAG_AE = field("tcp.flags.ae", "Accurate ECN", FT.BOOLEAN, bitmask=AE,
                blurb="Accurate ECN (formerly the ECN nonce, NS)",
                explain="With CWR and ECE set on a SYN, the client offers Accurate ECN; after "
                        "that handshake the three bits count congestion marks (ACE).")
FLAG_CWR = field("tcp.flags.cwr", "Congestion Window Reduced", FT.BOOLEAN, bitmask=CWR,
                 explain="The sender slowed down in response to an ECN congestion mark.")
FLAG_ECE = field("tcp.flags.ece", "ECN-Echo", FT.BOOLEAN, bitmask=ECE,
                 explain="On a SYN: the host supports ECN. Later: a router on the path marked "
                         "congestion instead of dropping a packet, and the sender must slow "
                         "down.")
FLAG_ACE = field("tcp.flags.ace", "ACE", FT.UINT8, bitmask=_ACE_HIDDEN,
                 blurb="Accurate ECN counter of congestion-marked packets (3 bits)")
FLAG_URG = field("tcp.flags.urg", "Urgent", FT.BOOLEAN, bitmask=URG,
                 explain="Out-of-band urgent data; almost unused today (telnet interrupt).")
FLAG_ACK = field("tcp.flags.ack", "Acknowledgment", FT.BOOLEAN, bitmask=ACK,
                 explain="The acknowledgment number is valid; set on every segment after the "
                         "first SYN.")
FLAG_PUSH = field("tcp.flags.push", "Push", FT.BOOLEAN, bitmask=PSH,
                  explain="The sender has no more data queued for now (end of a write): the "
                          "receiver should hand the bytes to the application at once. "
                          "Typically set on the last segment of each request or response.")
FLAG_RESET = field("tcp.flags.reset", "Reset", FT.BOOLEAN, bitmask=RST,
                   explain="Abortive close: the connection is gone at once and unread data "
                           "is discarded. A RST answering a SYN means nothing listens on the "
                           "port; a RST mid-connection is a crash, a timeout on a proxy or "
                           "load balancer, or an application closing with unread data.")
FLAG_SYN = field("tcp.flags.syn", "Syn", FT.BOOLEAN, bitmask=SYN,
                 explain="Set only on the first segment from each side. A SYN with no SYN/ACK "
                         "answer means nothing reached a listener: firewall, wrong port, or a "
                         "full accept queue.")
FLAG_FIN = field("tcp.flags.fin", "Fin", FT.BOOLEAN, bitmask=FIN,
                 explain="Graceful close: this side has sent all its data. The other side may "
                         "still send; the connection ends when both have sent FIN.")
FLAGS_STR = field("tcp.flags.str", "TCP Flags", FT.STRING,
                  blurb="All flags at a glance (RRRACEUAPRSF)")
WINDOW_VALUE = field("tcp.window_size_value", "Window", FT.UINT16,
                     blurb="The window size value from the TCP header")
WINDOW = field("tcp.window_size", "Calculated window size", FT.UINT32,
               blurb="The scaled window size (if scaling has been used)",
               explain="How many more bytes the receiver can buffer right now. Throughput "
                       "cannot exceed window / round-trip time: a 64 KB window over a 100 ms "
                       "path caps a connection near 5 Mbit/s. A window falling to 0 means the "
                       "receiving application is not reading fast enough.")
WINDOW_SCALE = field("tcp.window_size_scalefactor", "Window size scaling factor", FT.INT32,
                     blurb="The window size scaling factor (-1 when unknown, -2 when no "
                           "scaling is used)",
                     explain="-1: the handshake was not captured, so the real window is "
                             "unknown. -2: the hosts did not negotiate scaling, so windows "
                             "stop at 64 KB, which makes long-distance transfers slow.")
CHECKSUM = field("tcp.checksum", "Checksum", FT.UINT16, Base.HEX,
                 explain="Not verified by default: on the capturing host, checksum offload "
                         "makes outgoing packets look wrong although they leave correct.")
_CHECKSUM_STATUS = {0: "Bad", 1: "Good", 2: "Unverified", 3: "Not present", 4: "Illegal"}
CHECKSUM_STATUS = field("tcp.checksum.status", "Checksum Status", FT.UINT8,
                        strings=_CHECKSUM_STATUS)
URGENT_POINTER = field("tcp.urgent_pointer", "Urgent Pointer", FT.UINT16)
OPTIONS = field("tcp.options", "TCP Options", FT.BYTES,
                explain="Negotiated extensions: MSS, window scaling, SACK and timestamps on "
                        "the SYN decide how fast the connection can go.")
OPTION_KINDS = {0: "End of Option List", 1: "No-Operation", 2: "Maximum Segment Size",
                3: "Window Scale", 4: "SACK Permitted", 5: "SACK", 6: "Echo", 7: "Echo Reply",
                8: "Time Stamp Option", 9: "Partial Order Connection Permitted",
                10: "Partial Order Service Profile", 11: "CC", 12: "CC.NEW", 13: "CC.ECHO",
                14: "TCP Alternate Checksum Request", 15: "TCP Alternate Checksum Data",
                16: "Skeeter", 17: "Bubba", 18: "Trailer Checksum Option",
                19: "MD5 Signature Option", 20: "SCPS Capabilities",
                21: "Selective Negative Acknowledgements", 22: "Record Boundaries",
                23: "Corruption experienced", 24: "SNAP", 25: "Unassigned",
                26: "TCP Compression Filter", 27: "Quick-Start Response",
                28: "User Timeout Option", 29: "The TCP Authentication Option",
                30: "Multipath TCP", 34: "TCP Fast Open Cookie", 76: "Riverbed Probe",
                78: "Riverbed Transparency", 172: "Accurate ECN Order 0",
                174: "Accurate ECN Order 1", 253: "RFC3692-style Experiment 1",
                254: "RFC3692-style Experiment 2"}
OPTION_KIND = field("tcp.option_kind", "Kind", FT.UINT8, strings=OPTION_KINDS,
                    blurb="This TCP option's kind")
OPTION_LEN = field("tcp.option_len", "Length", FT.UINT8,
                   blurb="Length of this TCP option in bytes (including kind and length)")
OPT_NOP = field("tcp.options.nop", "TCP Option - No-Operation (NOP)", FT.NONE,
                explain="Padding that aligns the next option on 4 bytes.")
OPT_EOL = field("tcp.options.eol", "TCP Option - End of Option List (EOL)", FT.NONE)
OPT_MSS = field("tcp.options.mss", "TCP Option - Maximum segment size", FT.NONE)
MSS_VAL = field("tcp.options.mss_val", "MSS Value", FT.UINT16,
                blurb="Largest segment payload this host accepts",
                explain="The largest payload the sender of the SYN wants to receive, derived "
                        "from its link MTU (1460 = 1500 - 40 on Ethernet). A smaller value "
                        "(1400, 1380...) means a tunnel or VPN on the path. If large packets "
                        "vanish while small ones pass (the connection hangs after the "
                        "handshake or on big responses), path MTU discovery is broken: an "
                        "ICMP 'fragmentation needed' is being blocked.")
OPT_WSCALE = field("tcp.options.wscale", "TCP Option - Window scale", FT.NONE)
WSCALE_SHIFT = field("tcp.options.wscale.shift", "Shift count", FT.UINT8,
                     blurb="Window scale shift count (the window is multiplied by 2^shift)",
                     explain="Lets windows exceed 64 KB. Both SYNs must carry it or neither "
                             "side scales: without it a connection cannot go faster than 64 KB "
                             "per round trip, which is slow on high-latency links.")
WSCALE_MULT = field("tcp.options.wscale.multiplier", "Multiplier", FT.UINT16)
OPT_SACK_PERM = field("tcp.options.sack_perm", "TCP Option - SACK permitted", FT.NONE,
                      explain="This side can receive selective acknowledgments. Without SACK "
                              "on both SYNs, a single loss makes the sender resend everything "
                              "after it, or recover one segment per round trip.")
OPT_SACK = field("tcp.options.sack", "TCP Option - SACK", FT.NONE,
                 explain="Blocks of data received beyond a gap: the sender only needs to "
                         "resend what falls between them.")
SACK_LE = field("tcp.options.sack_le", "TCP SACK Left Edge", FT.UINT32)
SACK_RE = field("tcp.options.sack_re", "TCP SACK Right Edge", FT.UINT32)
SACK_COUNT = field("tcp.options.sack.count", "TCP SACK Count", FT.UINT8)
DSACK_LE = field("tcp.options.sack.dsack_le", "TCP D-SACK Left Edge", FT.UINT32)
DSACK_RE = field("tcp.options.sack.dsack_re", "TCP D-SACK Right Edge", FT.UINT32)
OPT_ECHO = field("tcp.options.echo", "TCP Option - Echo", FT.NONE)
OPT_ECHOREPLY = field("tcp.options.echoreply", "TCP Option - Echo reply", FT.NONE)
ECHO_VALUE = field("tcp.options.echo_value", "TCP Echo Option", FT.UINT32)
OPT_TIMESTAMP = field("tcp.options.timestamp", "TCP Option - Timestamps", FT.NONE)
TSVAL = field("tcp.options.timestamp.tsval", "Timestamp value", FT.UINT32,
              blurb="The sender's clock when the segment left",
              explain="An opaque, steadily increasing clock of the sender (often "
                      "milliseconds). The peer echoes it back, which lets both sides measure "
                      "round-trip time on every ACK and reject very old duplicates.")
TSECR = field("tcp.options.timestamp.tsecr", "Timestamp echo reply", FT.UINT32,
              blurb="The latest TSval received from the peer")
OPT_CC = field("tcp.options.cc", "TCP Option - CC", FT.NONE)
OPT_CCNEW = field("tcp.options.ccnew", "TCP Option - CC.NEW", FT.NONE)
OPT_CCECHO = field("tcp.options.ccecho", "TCP Option - CC.ECHO", FT.NONE)
CC_VALUE = field("tcp.options.cc_value", "TCP CC Option", FT.UINT32)
OPT_MD5 = field("tcp.options.md5", "TCP Option - TCP MD5 signature", FT.NONE,
                explain="RFC 2385 segment signature, used by BGP sessions.")
MD5_DIGEST = field("tcp.options.md5.digest", "MD5 digest", FT.BYTES)
OPT_AO = field("tcp.options.ao", "TCP Option - TCP AO", FT.NONE)
AO_KEYID = field("tcp.options.ao.keyid", "AO KeyID", FT.UINT8)
AO_RNEXTKEYID = field("tcp.options.ao.rnextkeyid", "AO RNextKeyID", FT.UINT8)
AO_MAC = field("tcp.options.ao.mac", "AO MAC", FT.BYTES)
OPT_USER_TO = field("tcp.options.user_to", "TCP Option - User Timeout", FT.NONE,
                    explain="How long the sender keeps unacknowledged data before giving up "
                            "on the connection (RFC 5482).")
USER_TO_GRANULARITY = field("tcp.options.user_to_granularity", "Granularity", FT.BOOLEAN,
                            bitmask=0x8000, tfs=("Minutes", "Seconds"),
                            blurb="User Timeout Granularity")
USER_TO_VAL = field("tcp.options.user_to_val", "User Timeout", FT.UINT16, bitmask=0x7FFF,
                    blurb="User Timeout Value")
OPT_TFO = field("tcp.options.tfo", "TCP Option - TCP Fast Open", FT.NONE,
                explain="TCP Fast Open (RFC 7413): a client that holds a cookie from an "
                        "earlier connection sends its request inside the SYN, saving one "
                        "round trip.")
TFO_REQUEST = field("tcp.options.tfo.request", "Fast Open Cookie Request", FT.NONE)
TFO_COOKIE = field("tcp.options.tfo.cookie", "Fast Open Cookie", FT.BYTES)
OPT_EXPERIMENTAL = field("tcp.options.experimental", "TCP Option - Experimental", FT.NONE)
_EXIDS = {0x00AC: "TCP ACK Rate Request", 0x0348: "Host ID",
          0x0A0D: "Autonomous System Compensation", 0x0CA0: "Capability Option",
          0x0ED0: "Extended Data Offset", 0x454E: "Encryption Negotiation",
          0x5323: "Service Number", 0x75EC: "Timestamp Interval",
          0xACC0: "Accurate ECN - Order 0", 0xACC1: "Accurate ECN - Order 1",
          0xACCE: "Accurate ECN", 0xE2D4: "Shared Memory communications over RMDA protocol",
          0xF989: "Fast Open", 0xF990: "Low Latency"}
EXP_EXID = field("tcp.options.experimental.exid", "Experiment Identifier", FT.UINT16,
                 Base.HEX, strings=_EXIDS)
EXP_DATA = field("tcp.options.experimental.data", "Data", FT.BYTES)
OPT_ACC_ECN = field("tcp.options.acc_ecn", "TCP Option - Accurate ECN", FT.NONE,
                    explain="Accurate ECN counters: bytes that arrived marked ECT(0), CE "
                            "(congestion experienced) and ECT(1).")
ACC_EE0B = field("tcp.options.acc_ecn.ee0b", "Accurate ECN Echo ECT(0) Byte Counter",
                 FT.UINT24)
ACC_ECEB = field("tcp.options.acc_ecn.eceb", "Accurate ECN Echo CE Byte Counter", FT.UINT24)
ACC_EE1B = field("tcp.options.acc_ecn.ee1b", "Accurate ECN Echo ECT(1) Byte Counter",
                 FT.UINT24)
OPT_UNKNOWN = field("tcp.options.unknown", "TCP Option - Unknown", FT.NONE)
UNKNOWN_PAYLOAD = field("tcp.options.unknown.payload", "Payload", FT.BYTES)
# Options Wireshark knows by name but whose contents we show as kind and length only.
OPT_SCPS = field("tcp.options.scps", "TCP Option - SCPS capabilities", FT.NONE)
OPT_SNACK = field("tcp.options.snack", "TCP Option - Selective Negative Acknowledgment",
                  FT.NONE)
OPT_SCPSREC = field("tcp.options.scpsrec", "TCP Option - SCPS record boundary", FT.NONE)
OPT_SCPSCOR = field("tcp.options.scpscor", "TCP Option - SCPS corruption experienced", FT.NONE)
OPT_QS = field("tcp.options.qs", "TCP Option - Quick-Start", FT.NONE)
OPT_RVBD_PROBE = field("tcp.options.rvbd.probe", "TCP Option - Riverbed Probe", FT.NONE)
OPT_RVBD_TRPY = field("tcp.options.rvbd.trpy", "TCP Option - Riverbed Transparency", FT.NONE)

MPTCP_PROTO = protocol("mptcp", "Multipath Transmission Control Protocol",
                       explain="Multipath TCP (RFC 8684): one connection spread over several "
                               "TCP subflows, e.g. Wi-Fi and cellular at once.")
_MPTCP_SUBTYPES = {0: "Multipath Capable", 1: "Join Connection", 2: "Data Sequence Signal",
                   3: "Add Address", 4: "Remove Address", 5: "Change Subflow Priority",
                   6: "TCP Fallback", 7: "Fast Close", 8: "TCP Reset"}
MPTCP_SUBTYPE = field("tcp.options.mptcp.subtype", "Multipath TCP subtype", FT.UINT8,
                      bitmask=0xF0, strings=_MPTCP_SUBTYPES)
MPTCP_VERSION = field("tcp.options.mptcp.version", "Multipath TCP version", FT.UINT8,
                      bitmask=0x0F)
MPTCP_FLAGS = field("tcp.options.mptcp.flags", "Multipath TCP flags", FT.UINT8, Base.HEX)
MPTCP_SENDKEY = field("tcp.options.mptcp.sendkey", "Sender's Key", FT.UINT64)
MPTCP_RECVKEY = field("tcp.options.mptcp.recvkey", "Receiver's Key", FT.UINT64)
MPTCP_DATALVLLEN = field("tcp.options.mptcp.datalvllen", "Data-level Length", FT.UINT16)
MPTCP_CHECKSUM = field("tcp.options.mptcp.checksum", "Checksum", FT.UINT16, Base.HEX)
MPTCP_RAWDATAACK = field("tcp.options.mptcp.rawdataack", "Original MPTCP Data ACK",
                         FT.UINT64)
MPTCP_RAWDATASEQNO = field("tcp.options.mptcp.rawdataseqno", "Data Sequence Number",
                           FT.UINT64)
MPTCP_SUBFLOWSEQNO = field("tcp.options.mptcp.subflowseqno", "Subflow Sequence Number",
                           FT.UINT32)
MPTCP_CHECKSUM_REQ = field("tcp.options.mptcp.checksumreq.flags", "Checksum required",
                           FT.UINT8, bitmask=0x80)
MPTCP_EXTENSIBILITY = field("tcp.options.mptcp.extensibility.flag", "Extensibility",
                            FT.UINT8, bitmask=0x40)
MPTCP_NO_MORE_SUBFLOWS = field("tcp.options.mptcp.nomoresubflows.flag",
                               "Do not attempt to establish new subflows to this address and "
                               "port", FT.UINT8, bitmask=0x20)
MPTCP_SHA1 = field("tcp.options.mptcp.sha1.flag", "Use HMAC-SHA1", FT.UINT8, bitmask=0x01)
MPTCP_SHA256 = field("tcp.options.mptcp.sha256.flag", "Use HMAC-SHA256", FT.UINT8,
                     bitmask=0x01)
MPTCP_RESERVED_FLAGS = field("tcp.options.mptcp.reserved.flag", "Reserved", FT.UINT8,
                             Base.HEX, bitmask=0x3E)
MPTCP_DATA_FIN = field("tcp.options.mptcp.datafin.flag", "DATA_FIN", FT.UINT8, bitmask=0x10)
MPTCP_DSN8 = field("tcp.options.mptcp.dseqn8.flag", "Data Sequence Number is 8 octets",
                   FT.UINT8, bitmask=0x08)
MPTCP_DSN_PRESENT = field("tcp.options.mptcp.dseqnpresent.flag",
                          "Data Sequence Number, Subflow Sequence Number, Data-level Length, "
                          "Checksum present", FT.UINT8, bitmask=0x04)
MPTCP_DATA_ACK8 = field("tcp.options.mptcp.dataack8.flag", "Data ACK is 8 octets", FT.UINT8,
                        bitmask=0x02)
MPTCP_DATA_ACK_PRESENT = field("tcp.options.mptcp.dataackpresent.flag", "Data ACK is present",
                               FT.UINT8, bitmask=0x01)
MPTCP_EXPECTED_TOKEN = field("mptcp.expected_token", "Subflow token generated from key",
                             FT.UINT32,
                             explain="The token the peer uses in MP_JOIN to attach further "
                                     "subflows to this connection.")
MPTCP_EXPECTED_IDSN = field("mptcp.expected_idsn", "Subflow expected IDSN", FT.UINT64)
MPTCP_ACK = field("mptcp.ack", "Multipath TCP Data ACK", FT.UINT64,
                  blurb="Connection-level acknowledgment, relative to the peer's IDSN")
MPTCP_DSS_DSN = field("mptcp.dss.dsn", "DSS Data Sequence Number", FT.UINT64,
                      blurb="Connection-level sequence number, relative to the sender's IDSN")

PAYLOAD = field("tcp.payload", "TCP payload", FT.BYTES,
                blurb="The TCP payload of this packet")
RESET_CAUSE = field("tcp.reset_cause", "Reset cause", FT.STRING,
                    blurb="Text some stacks put in a RST segment (RFC 1122 4.2.2.12)")

# Expert items (Wireshark's ei_tcp_*), with what they mean for a service.
CONN_SYN = expert("tcp.connection.syn", "sequence", Severity.CHAT,
                  "Connection establish request (SYN)",
                  explain="A client asks to open a connection to the server port named. If "
                          "the same SYN repeats about 1 s, 2 s, 4 s apart, nothing answers.",
                  remedy="No SYN/ACK: check the listener, firewalls and security groups.",
                  responsible="client")
CONN_SYNACK = expert("tcp.connection.synack", "sequence", Severity.CHAT,
                     "Connection establish acknowledge (SYN+ACK)",
                     explain="The server accepted the connection. The time from SYN to "
                             "SYN/ACK is one network round trip plus the kernel's accept.",
                     responsible="server")
CONN_FIN = expert("tcp.connection.fin", "sequence", Severity.CHAT, "Connection finish (FIN)",
                  explain="One side finished sending and closes gracefully.")
CONN_RST = expert("tcp.connection.rst", "sequence", Severity.WARN, "Connection reset (RST)",
                  explain="The connection was aborted. Answering a SYN: the port is closed. "
                          "Mid-stream: a process crashed or closed with unread data, or a "
                          "proxy, NAT or load balancer dropped an idle connection.",
                  remedy="See which side sent it and when: right after a request points at "
                         "the server application; after a long idle gap at a timeout on a "
                         "middlebox (compare with its idle timeout and your keepalives).")
FIN_ACTIVE = expert("tcp.connection.fin_active", "sequence", Severity.NOTE,
                    "This frame initiates the connection closing",
                    explain="This side closed first (active close) and will keep the "
                            "connection in TIME_WAIT for a while afterwards.")
FIN_PASSIVE = expert("tcp.connection.fin_passive", "sequence", Severity.NOTE,
                     "This frame undergoes the connection closing",
                     explain="This side closes in answer to the peer's FIN (passive close).")
NOP_RUN = expert("tcp.nop", "protocol", Severity.WARN,
                 "4 NOP in a row - a router may have removed some options",
                 explain="A middlebox may have blanked options it did not like, such as "
                         "window scaling or SACK, which silently slows the connection.")
OPTION_LEN_INVALID = expert("tcp.option.len.invalid", "sequence", Severity.NOTE,
                            "Invalid length for option")
PADDING_AFTER_EOL = expert("tcp.non_zero_bytes_after_eol", "protocol", Severity.ERROR,
                           "Non zero bytes in option space after EOL option")
MSS_ABSENT = expert("tcp.options.mss.absent", "protocol", Severity.NOTE,
                    "The SYN packet does not contain a MSS option",
                    explain="Without MSS the peer must assume 536 bytes, so every segment "
                            "carries little data.")
MSS_PRESENT = expert("tcp.options.mss.present", "protocol", Severity.WARN,
                     "The non-SYN packet does contain a MSS option")
WSCALE_SHIFT_INVALID = expert("tcp.options.wscale.shift.invalid", "protocol", Severity.WARN,
                              "Window scale shift exceeds 14",
                              explain="RFC 7323 caps the shift at 14; the receiver uses 14.")
SUBOPTION_MALFORMED = expert("tcp.suboption_malformed", "malformed", Severity.ERROR,
                             "suboption would go past end of option")
DSACK = expert("tcp.options.sack.dsack", "sequence", Severity.WARN, "D-SACK Sequence",
               explain="The receiver reports data it got twice: a retransmission that was not "
                       "needed, often caused by a timer that fired too early or by packet "
                       "reordering.")
ACK_NONZERO = expert("tcp.ack.nonzero", "protocol", Severity.NOTE,
                     "The acknowledgment number field is nonzero while the ACK flag is not "
                     "set")
URGENT_NONZERO = expert("tcp.urgent_pointer.non_zero", "protocol", Severity.NOTE,
                        "The urgent pointer field is nonzero while the URG flag is not set")
SHORT_SEGMENT = expert("tcp.short_segment", "malformed", Severity.WARN, "Short segment")
BOGUS_HEADER_LENGTH = expert("tcp.bogus_header_length", "protocol", Severity.ERROR,
                             "Bogus TCP Header length")
TFO_SYN = expert("tcp.analysis.tfo_syn", "sequence", Severity.NOTE, "TCP SYN with TFO Cookie",
                 explain="The client sends data in its SYN with a Fast Open cookie.")
TFO_ACK = expert("tcp.analysis.tfo_ack", "sequence", Severity.NOTE,
                 "TCP SYN-ACK accepting TFO data",
                 explain="The server took the data sent in the SYN: the request saved a round "
                         "trip.")
TFO_IGNORED = expert("tcp.analysis.tfo_ignored", "sequence", Severity.NOTE,
                     "TCP SYN-ACK ignoring TFO data",
                     explain="The server did not accept the data in the SYN (cookie refused or "
                             "Fast Open disabled); the client must send it again, losing the "
                             "round trip Fast Open was meant to save.")


# ---------------------------------------------------------------------------------------
# Per-capture state
# ---------------------------------------------------------------------------------------

class TcpFlow:
    """One direction of a conversation (Wireshark's tcp_flow_t): what its sender set up."""

    __slots__ = ("base_seq", "base_set", "closing", "mptcp_idsn", "win_scale")

    def __init__(self) -> None:
        self.base_seq = 0        # ISN (or first seq - 1): relative numbers count from it
        self.base_set = False
        self.win_scale = -1      # shift from this sender's SYN; -1 unknown, -2 no scaling
        self.closing = False     # this side sent the first FIN
        self.mptcp_idsn = -1     # MPTCP initial data sequence number, from its key


def rebases(fwd: TcpFlow, flags: int, seq_raw: int) -> bool:
    """A SYN/ACK whose ISN differs from its side's base answers a new SYN on reused ports:
    that side's relative numbers start over from it."""
    return flags & SYN_ACK == SYN_ACK and fwd.base_set and seq_raw != fwd.base_seq


def reopens(fwd: TcpFlow, flags: int, seq_raw: int) -> bool:
    """A SYN whose ISN differs from its side's base opens a new stream on reused ports."""
    return flags & SYN_ACK == SYN and fwd.base_set and seq_raw != fwd.base_seq


def learn_bases(fwd: TcpFlow, rev: TcpFlow, flags: int, seq_raw: int, ack_raw: int) -> None:
    """Wireshark's bases for relative numbers, learnt on the first pass: a side's ISN from
    its SYN (the SYN counts one), else its first sequence number minus one; the peer's from
    the first ACK (ack - 1) when its SYN was not seen."""
    if not fwd.base_set:
        fwd.base_seq = seq_raw if flags & SYN else (seq_raw - 1) & _M32
        fwd.base_set = True
    if not rev.base_set and flags & ACK:
        rev.base_seq = (ack_raw - 1) & _M32
        rev.base_set = True


def relative(fbase: int, rbase: int, flags: int, seq_raw: int, ack_raw: int) -> tuple[int, int]:
    """tcp.seq and tcp.ack from the raw numbers (the ack is raw when ACK is not set)."""
    return (seq_raw - fbase) & _M32, (ack_raw - rbase) & _M32 if flags & ACK else ack_raw


class TcpStream:
    """One TCP conversation: its index, both directions, and connection-level facts.

    flow1 is the direction whose source address sorts higher (Wireshark's rule), so the
    halves are stable whichever side was seen first.
    """

    __slots__ = (
        "acc_option",
        "acc_syn",
        "acc_synack",
        "completeness",
        "flow1",
        "flow2",
        "index",
        "rebased",
        "server_port",
        "tfo_syn_data",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.flow1 = TcpFlow()
        self.flow2 = TcpFlow()
        self.completeness = 0
        self.server_port = 0     # from the SYN or SYN/ACK: the first port tried for payload
        self.acc_syn = False     # the SYN offered Accurate ECN
        self.acc_synack = False  # the SYN/ACK accepted it
        self.acc_option = False  # an AccECN option was seen
        self.tfo_syn_data = False  # the SYN carried data with a Fast Open cookie
        # (frame, flow1 base, flow2 base) before a SYN/ACK re-based a direction, so a
        # later re-dissection of earlier frames shows their original relative numbers
        self.rebased: list[tuple[int, int, int]] | None = None

    def bases_after(self, number: int) -> tuple[int, int]:
        """Both directions' bases as they were right after frame `number`."""
        if self.rebased:
            i = bisect_right(self.rebased, (number, 1 << 32, 1 << 32))
            if i < len(self.rebased):
                return self.rebased[i][1], self.rebased[i][2]
        return self.flow1.base_seq, self.flow2.base_seq


# Per-frame facts, packed in 16 bits: the completeness shown (6 bits), whether a FIN was
# the active close, whether flags show the ACE counter, and the sender's window scale as it
# was before the frame (win_scale + 2 in 5 bits).
_F_FIN_ACTIVE = 0x40
_F_ACE = 0x80
_F_WS_SHIFT = 8


class TcpState:
    """Per-capture TCP state: conversations, streams and per-frame facts.

    `hint` serves a caller that dissects only some frames of a capture, in frame order but
    with gaps (analyzer/engine/scoped.py: the frames a display filter's candidates depend
    on). Streams are then not numbered in order of appearance here, because the frames in
    between are missing: before each frame the caller sets `hint` to the tcp.stream the
    first pass gave it, and a stream this frame opens takes that number. Everything else
    (conversation lookup, port reuse, bases, reassembly) is decided here as usual.
    """

    def __init__(self) -> None:
        self.conversations: dict[tuple[bytes, int, bytes, int], TcpStream] = {}
        self.streams: dict[int, TcpStream] = {}
        self.frame_stream = array("i", [-1])   # frame number -> stream index, -1 none
        self.frame_facts = array("H", [0])
        # further TCP layers of one frame (tunnels): (frame, nth) -> (stream, facts)
        self.extra: dict[tuple[int, int], tuple[int, int]] = {}
        self.hint: int | None = None           # the number of a stream opened now, if set

    def new_stream(self, key: tuple[bytes, int, bytes, int]) -> TcpStream:
        s = TcpStream(len(self.streams) if self.hint is None else self.hint)
        self.streams[s.index] = s
        self.conversations[key] = s
        return s

    def remember(self, number: int, nth: int, stream: int, facts: int) -> None:
        if nth:
            self.extra[(number, nth)] = (stream, facts)
            return
        fs = self.frame_stream
        if len(fs) == number:
            fs.append(stream)
            self.frame_facts.append(facts)
            return
        if len(fs) < number:
            gap = number - len(fs)
            fs.extend([-1] * gap)
            self.frame_facts.extend([0] * gap)
            fs.append(stream)
            self.frame_facts.append(facts)
            return
        fs[number] = stream
        self.frame_facts[number] = facts

    def recall(self, number: int, nth: int) -> tuple[int, int]:
        if nth:
            return self.extra.get((number, nth), (-1, 0))
        if number < len(self.frame_stream):
            return self.frame_stream[number], self.frame_facts[number]
        return -1, 0


class TcpSegment:
    """What the analysis engine needs from one segment (pkt.tcp): no tree, no strings."""

    __slots__ = (
        "ack",
        "ack_raw",
        "direction",
        "flags",
        "hdr_len",
        "len",
        "mss",
        "nxtseq",
        "sack",
        "sack_perm",
        "seq",
        "seq_raw",
        "stream",
        "tfo",
        "tsecr",
        "tsval",
        "urgent",
        "win",
        "win_raw",
        "win_scale",
        "ws_shift",
    )

    def __init__(self, flags: int, seq_raw: int, ack_raw: int, win_raw: int,
                 hdr_len: int, urgent: int) -> None:
        self.stream = -1
        self.direction = 0      # 1 or 2: which TcpFlow of the stream sent it
        self.flags = flags
        self.seq_raw = seq_raw
        self.ack_raw = ack_raw
        self.seq = seq_raw      # relative when the segment length is known
        self.ack = ack_raw
        self.len = -1           # -1: unknown (inside an ICMP error, short segment)
        self.nxtseq = -1
        self.hdr_len = hdr_len
        self.win_raw = win_raw
        self.win = win_raw
        self.win_scale = -1
        self.urgent = urgent
        self.mss = -1
        self.ws_shift = -1
        self.sack_perm = False
        self.tsval = -1
        self.tsecr = -1
        self.sack: list[tuple[int, int]] | None = None   # raw (left, right) edges
        self.tfo = False


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------

_HDR = struct.Struct("!HHIIHHHH").unpack_from
_HDR16 = struct.Struct("!HHIIHH").unpack_from
_U16 = struct.Struct("!H").unpack_from
_PORTS = struct.Struct("!HH").unpack_from
_TS = struct.Struct("!II").unpack_from
_U32 = struct.Struct("!I").unpack_from
_U64 = struct.Struct("!Q").unpack_from
_M32 = 0xFFFFFFFF


def _need(buf: Buf, pos: int, n: int, end: int) -> None:
    """Bytes past the segment's reported end are Malformed, past the capture Truncated."""
    if pos + n > end:
        raise Malformed(f"TCP needs {n} bytes at {pos}, segment ends at {end}")
    buf.need(pos, n)


def _le_seq(a: int, b: int) -> bool:
    """Sequence-space a <= b (RFC 9293 modular comparison)."""
    return ((a - b) & _M32) == 0 or ((a - b) & 0x80000000) != 0


def _lt_seq(a: int, b: int) -> bool:
    return ((a - b) & 0x80000000) != 0 and a != b


def _expert(t: Tree, pkt: Packet, spec: Any, pos: int, size: int,
            message: str | None = None) -> None:
    pkt.note(spec)
    if t:
        t.add_expert(spec, pos, size, message)


def _expert_item(t: Tree, pkt: Packet, spec: Any, pos: int, size: int,
                 message: str | None = None) -> None:
    """An item whose text is the message, with the expert under it (tshark's
    proto_tree_add_expert), as opposed to an expert attached to an existing field."""
    pkt.note(spec)
    if t:
        msg = message or spec.summary
        t.add_text(pos, size, msg).add_expert(spec, pos, size, msg)


def _plural(n: int) -> str:
    return "byte" if n == 1 else "bytes"


def completeness_str(value: int) -> str:
    """tshark's label for tcp.completeness."""
    name = _COMPLETENESS_NAMES.get(value)
    return f"{name} ({value})" if name else f"Incomplete ({value})"


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------

class _Opts:
    """The options walk's context: the segment, the packet, and what options learn."""

    __slots__ = (
        "base_ack",
        "data",
        "fwd",
        "mss_seen",
        "pkt",
        "rev",
        "sack_edges",
        "seg",
        "stream",
        "visited",
    )

    def __init__(self, pkt: Packet, seg: TcpSegment, data: bytes, stream: TcpStream | None,
                 fwd: TcpFlow | None, rev: TcpFlow | None, base_ack: int) -> None:
        self.pkt = pkt
        self.seg = seg
        self.data = data
        self.stream = stream
        self.fwd = fwd
        self.rev = rev
        self.visited = pkt.visited
        self.base_ack = base_ack
        self.sack_edges: list[tuple[int, int]] = []   # relative, over all SACK options
        self.mss_seen = False


def _opt_head(ot: Tree, spec: Any, o: int, optlen: int, data: bytes,
              label: str | None = None) -> Tree:
    """The option's item with Kind and Length children (always both for these options)."""
    n = ot.add(spec, o, optlen, bytes(data[o:o + optlen]), label)
    n.add(OPTION_KIND, o, 1, data[o])
    n.add(OPTION_LEN, o + 1, 1, data[o + 1])
    return n


def _len_ok(c: _Opts, n: Tree, o: int, avail: int, want: int) -> bool:
    """Wireshark's tcp_option_len_check: a fixed-size option of another length is shown
    with a note on its Length and not decoded further."""
    if avail == want:
        return True
    c.pkt.note(OPTION_LEN_INVALID)
    if n and n.children:
        n.children[-1].add_expert(OPTION_LEN_INVALID, o + 1, 1,
                                  f"option length should be {want}")
    return False


def _opt_mss(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    data = c.data
    c.mss_seen = True
    n = ot.add(OPT_MSS, o, optlen, bytes(data[o:o + optlen]),
               "TCP Option - Maximum segment size") if ot else ot
    if not c.seg.flags & SYN:
        _expert(n, c.pkt, MSS_PRESENT, o, optlen)
    if n:
        n.add(OPTION_KIND, o, 1, data[o])
        n.add(OPTION_LEN, o + 1, 1, data[o + 1])
    if not _len_ok(c, n, o, avail, 4):
        return
    mss = _U16(data, o + 2)[0]
    c.seg.mss = mss
    if n:
        n.label = f"TCP Option - Maximum segment size: {mss} bytes"
        n.add(MSS_VAL, o + 2, 2, mss)
    c.pkt.append_info(f"MSS={mss}")


def _opt_wscale(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    data = c.data
    n = _opt_head(ot, OPT_WSCALE, o, optlen, data, "TCP Option - Window scale") if ot else ot
    if not _len_ok(c, n, o, avail, 3):
        return
    raw = data[o + 2]
    shift = min(raw, 14)
    c.seg.ws_shift = raw
    if n:
        n.label = f"TCP Option - Window scale: {raw} (multiply by {1 << shift})"
        s = n.add(WSCALE_SHIFT, o + 2, 1, raw)
        if raw > 14:
            s.add_expert(WSCALE_SHIFT_INVALID, o + 2, 1)
        n.add(WSCALE_MULT, o + 2, 1, 1 << shift, generated=True)
    if raw > 14:
        c.pkt.note(WSCALE_SHIFT_INVALID)
    c.pkt.append_info(f"WS={1 << shift}")
    if not c.visited and c.fwd is not None:
        c.fwd.win_scale = shift


def _opt_sack_perm(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    n = _opt_head(ot, OPT_SACK_PERM, o, optlen, c.data, "TCP Option - SACK permitted") \
        if ot else ot
    c.seg.sack_perm = True
    c.pkt.append_info("SACK_PERM")
    _len_ok(c, n, o, avail, 2)


def _opt_sack(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    """SACK blocks, relative to the peer's base, then tshark's D-SACK check (RFC 2883)."""
    data, pkt, base = c.data, c.pkt, c.base_ack
    n = _opt_head(ot, OPT_SACK, o, optlen, data, "TCP Option - SACK") if ot else ot
    pos, left = o + 2, avail - 2
    count = 0
    raw_blocks = c.seg.sack if c.seg.sack is not None else []
    while left > 0:
        if left < 4:
            _expert_item(n, pkt, SUBOPTION_MALFORMED, pos, left)
            break
        le_raw = _U32(data, pos)[0]
        le = (le_raw - base) & _M32
        if n:
            n.add(SACK_LE, pos, 4, le, f"left edge = {le} (relative)")
        left -= 4
        if left < 4:
            _expert_item(n, pkt, SUBOPTION_MALFORMED, pos, left)
            break
        re_raw = _U32(data, pos + 4)[0]
        re = (re_raw - base) & _M32
        left -= 4
        if n:
            n.add(SACK_RE, pos + 4, 4, re, f"right edge = {re} (relative)")
            n.label += f" {le}-{re}"
        pkt.append_info(f"SLE={le}")
        pkt.append_info(f"SRE={re}")
        count += 1
        c.sack_edges.append((le, re))
        raw_blocks.append((le_raw, re_raw))
        pos += 8
    c.seg.sack = raw_blocks
    if n:
        n.add(SACK_COUNT, 0, 0, count, generated=True)
    edges = c.sack_edges
    sre0 = edges[0][1] if edges else 0
    ack = c.seg.ack
    if _le_seq(sre0, ack) or (len(edges) > 1 and _lt_seq(edges[1][0], sre0)
                              and not _lt_seq(edges[1][1], sre0)):
        # tshark re-reads the first block from the option, even when it has none
        if avail < 10:
            raise Malformed("D-SACK block past the end of the SACK option")
        dle = (_U32(data, o + 2)[0] - base) & _M32
        dre = (_U32(data, o + 6)[0] - base) & _M32
        if n:
            n.add(DSACK_LE, o + 2, 4, dle, f"D-SACK Left Edge = {dle} (relative)",
                  generated=True)
            n.add(DSACK_RE, o + 6, 4, dre, f"D-SACK Right Edge = {dre} (relative)",
                  generated=True)
        _expert_item(n, pkt, DSACK, o + 2, 8)


def _opt_timestamp(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    data = c.data
    n = _opt_head(ot, OPT_TIMESTAMP, o, optlen, data, "TCP Option - Timestamps") if ot else ot
    if not _len_ok(c, n, o, avail, 10):
        return
    tsval, tsecr = _TS(data, o + 2)
    c.seg.tsval, c.seg.tsecr = tsval, tsecr
    if n:
        n.label = f"TCP Option - Timestamps: TSval {tsval}, TSecr {tsecr}"
        n.add(TSVAL, o + 2, 4, tsval)
        n.add(TSECR, o + 6, 4, tsecr)
    c.pkt.append_info(f"TSval={tsval}")
    c.pkt.append_info(f"TSecr={tsecr}")


def _echo(spec: Any, kind_label: str) -> Callable[[_Opts, Tree, int, int, int], None]:
    def opt(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
        data = c.data
        n = _opt_head(ot, spec, o, optlen, data, "TCP Option - Echo") if ot else ot
        if not _len_ok(c, n, o, avail, 6):
            return
        v = _U32(data, o + 2)[0]
        if n:
            n.label = f"TCP Option - Echo: {v}"
            n.add(ECHO_VALUE, o + 2, 4, v)
        c.pkt.append_info(f"{kind_label}={v}")
    return opt


def _cc(spec: Any, label: str) -> Callable[[_Opts, Tree, int, int, int], None]:
    def opt(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
        data = c.data
        n = _opt_head(ot, spec, o, optlen, data, f"TCP Option - {label}") if ot else ot
        if not _len_ok(c, n, o, avail, 6):
            return
        v = _U32(data, o + 2)[0]
        if n:
            n.add(CC_VALUE, o + 2, 4, v)
        c.pkt.append_info(f"CC={v}")
    return opt


def _opt_md5(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    data = c.data
    n = _opt_head(ot, OPT_MD5, o, optlen, data, "TCP Option - TCP MD5 signature") if ot else ot
    c.pkt.append_info("MD5")
    if not _len_ok(c, n, o, avail, 18):
        return
    if n:
        n.add(MD5_DIGEST, o + 2, 16, bytes(data[o + 2:o + 18]))


def _opt_ao(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    data = c.data
    n = _opt_head(ot, OPT_AO, o, optlen, data, "TCP Option - TCP AO") if ot else ot
    c.pkt.append_info("TCP AO", sep="")   # tshark really omits the space here
    if avail < 4:
        return
    if n:
        n.add(AO_KEYID, o + 2, 1, data[o + 2])
        n.add(AO_RNEXTKEYID, o + 3, 1, data[o + 3])
        if avail > 4:
            n.add(AO_MAC, o + 4, avail - 4, bytes(data[o + 4:o + avail]))


def _opt_user_to(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    data = c.data
    n = _opt_head(ot, OPT_USER_TO, o, optlen, data, "TCP Option - User Timeout") if ot else ot
    if not _len_ok(c, n, o, avail, 4):
        return
    raw = _U16(data, o + 2)[0]
    if n:
        n.add(USER_TO_GRANULARITY, o + 2, 2, bool(raw & 0x8000),
              f"{bitfield_str(USER_TO_GRANULARITY, raw, 16)} = Granularity: "
              f"{'Minutes' if raw & 0x8000 else 'Seconds'}")
        n.add(USER_TO_VAL, o + 2, 2, raw & 0x7FFF,
              f"{bitfield_str(USER_TO_VAL, raw, 16)} = User Timeout: {raw & 0x7FFF}")
    c.pkt.append_info(f"USER_TO={raw & 0x7FFF}")


def _tfo_payload(c: _Opts, n: Tree, o: int, size: int) -> None:
    """A Fast Open cookie request (no cookie) or cookie, at [o, o+size) of the option."""
    if size == 2:
        if n:
            n.add(TFO_REQUEST, o, 2, bytes(c.data[o:o + 2]))
        c.pkt.append_info("TFO=R")
    elif size > 2:
        c.seg.tfo = True
        cookie = n.add(TFO_COOKIE, o + 2, size - 2, bytes(c.data[o + 2:o + size])) if n else n
        c.pkt.append_info("TFO=C")
        if c.seg.flags & SYN_ACK == SYN:
            _expert(cookie, c.pkt, TFO_SYN, o + 2, size - 2)
            if c.seg.len > 0 and c.stream is not None and not c.visited:
                c.stream.tfo_syn_data = True


def _opt_tfo(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    n = _opt_head(ot, OPT_TFO, o, optlen, c.data, "TCP Option - TCP Fast Open") if ot else ot
    _tfo_payload(c, n, o, avail)


_ACC_ECN_ORDER = ((ACC_EE0B, "EE0B"), (ACC_ECEB, "ECEB"), (ACC_EE1B, "EE1B"))


def _acc_ecn_counters(c: _Opts, n: Tree, o: int, size: int, order: int) -> str | None:
    """AccECN byte counters at [o, o+size): 0, 1, 2 or 3 of them, 3 bytes each, in the
    option's order (Order 1 reverses ECT(0) and ECT(1)). Returns the label suffix."""
    fields = _ACC_ECN_ORDER if order == 0 else _ACC_ECN_ORDER[::-1]
    if size not in (0, 3, 6, 9):
        c.pkt.note(OPTION_LEN_INVALID)
        if n and n.children:
            n.children[-1].add_expert(OPTION_LEN_INVALID, o - 1, 1,
                                      f"option length should be 2, 5, 8, or 11 instead of "
                                      f"{size + 2}")
        return None
    if size == 0:
        c.pkt.append_info("AccECN")
        return None
    parts = []
    data = c.data
    for i in range(size // 3):
        spec, name = fields[i]
        p = o + 3 * i
        v = data[p] << 16 | data[p + 1] << 8 | data[p + 2]
        if n:
            n.add(spec, p, 3, v)
        parts.append(f"{name} {v}")
        c.pkt.append_info(f"{name}={v}")
    if not c.visited and c.stream is not None:
        c.stream.acc_option = True
    return f"Accurate ECN (Order {order}): " + ", ".join(parts)


def _opt_acc_ecn(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    n = _opt_head(ot, OPT_ACC_ECN, o, optlen, c.data, "TCP Option - Accurate ECN") \
        if ot else ot
    suffix = _acc_ecn_counters(c, n, o + 2, avail - 2, 0 if c.data[o] == 172 else 1)
    if n and suffix:
        n.label = f"TCP Option - {suffix}"


def _opt_experimental(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    """RFC 6994 experiments: a 16-bit ExID names the experiment (Fast Open, AccECN...)."""
    data = c.data
    n = _opt_head(ot, OPT_EXPERIMENTAL, o, optlen, data, "TCP Option - Experimental") \
        if ot else ot
    if avail < 4:
        c.pkt.note(OPTION_LEN_INVALID)
        if n and n.children:
            n.children[-1].add_expert(OPTION_LEN_INVALID, o + 1, 1,
                                      f"option length {avail} smaller than 4")
        return
    exid = _U16(data, o + 2)[0]
    name = _EXIDS.get(exid, "Unknown")
    if n:
        n.label = f"TCP Option - Experimental: {name}"
        n.add(EXP_EXID, o + 2, 2, exid)
    if exid == 0xF989:
        _tfo_payload(c, n, o + 2, avail - 2)
    elif exid in (0xACC0, 0xACC1):
        suffix = _acc_ecn_counters(c, n, o + 4, avail - 4, exid & 1)
        if n and suffix:
            n.label += f": {suffix}"
    else:
        if n and avail > 4:
            n.add(EXP_DATA, o + 4, avail - 4, bytes(data[o + 4:o + avail]))
        c.pkt.append_info(f"ExID={exid:x}")


def _opt_mptcp(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    """Multipath TCP (RFC 8684): the subtype, MP_CAPABLE's keys (with the token and IDSN
    they imply) and DSS's mapping. The packet is then MPTCP in the Protocol column."""
    data, pkt = c.data, c.pkt
    pkt.enter("mptcp")
    pkt.set_protocol("MPTCP")
    if avail < 3:
        raise Malformed("MPTCP option without subtype")
    sub = data[o + 2] >> 4
    name = _MPTCP_SUBTYPES.get(sub, f"Unknown ({sub})")
    n = ot.add(MPTCP_PROTO, o, optlen, None,
               f"Multipath Transmission Control Protocol: {name}") if ot else ot
    if n:
        n.add(OPTION_KIND, o, 1, data[o])
        n.add(OPTION_LEN, o + 1, 1, data[o + 1])
        n.add_bits(MPTCP_SUBTYPE, o + 2, 1, data[o + 2])
    if sub == 0:
        _mptcp_capable(c, n, o, avail)
    elif sub == 2:
        _mptcp_dss(c, n, o, avail)
    pkt.current = "tcp"


def _bits(n: Tree, spec: Any, pos: int, raw: int, mask: int | None = None) -> None:
    """An 8-bit flag with tshark's bit picture (mask overrides the registered one)."""
    m = spec.bitmask if mask is None else mask
    value = (raw & m) >> ((m & -m).bit_length() - 1)
    pic = "".join(("1" if raw >> i & 1 else "0") if m >> i & 1 else "." for i in range(7, -1, -1))
    shown = f"0x{value:x}" if spec.base == Base.HEX else str(value)
    n.add(spec, pos, 1, value, f"{pic[:4]} {pic[4:]} = {spec.name}: {shown}")


def _mptcp_keys(key: int, version: int) -> tuple[int, int]:
    """Token and IDSN a key implies: the hash's first 32 bits and its last 64 bits
    (SHA-1 for version 0, SHA-256 for version 1; RFC 8684 3.1)."""
    digest = (hashlib.sha256 if version == 1 else hashlib.sha1)(key.to_bytes(8, "big")).digest()
    return _U32(digest, 0)[0], _U64(digest, len(digest) - 8)[0]


def _mptcp_capable(c: _Opts, n: Tree, o: int, avail: int) -> None:
    data = c.data
    if avail < 4:
        raise Malformed("MP_CAPABLE option too short")
    version, flags = data[o + 2] & 0x0F, data[o + 3]
    keys: list[tuple[Any, int, TcpFlow | None]] = []
    if avail in (12, 20, 22, 24):
        keys.append((MPTCP_SENDKEY, o + 4, c.fwd))
    if avail in (20, 22, 24):
        keys.append((MPTCP_RECVKEY, o + 12, c.rev))
    if n:
        n.add_bits(MPTCP_VERSION, o + 2, 1, data[o + 2])
        f = n.add(MPTCP_FLAGS, o + 3, 1, flags)
        _bits(f, MPTCP_CHECKSUM_REQ, o + 3, flags)
        _bits(f, MPTCP_EXTENSIBILITY, o + 3, flags)
        if version == 1:
            _bits(f, MPTCP_NO_MORE_SUBFLOWS, o + 3, flags)
            _bits(f, MPTCP_SHA256, o + 3, flags)
            _bits(f, MPTCP_RESERVED_FLAGS, o + 3, flags, 0x1E)
        else:
            _bits(f, MPTCP_SHA1, o + 3, flags)
            _bits(f, MPTCP_RESERVED_FLAGS, o + 3, flags)
    for spec, pos, flow in keys:
        key = _U64(data, pos)[0]
        token, idsn = _mptcp_keys(key, version)
        if n:
            n.add(spec, pos, 8, key)
            if spec is MPTCP_SENDKEY:
                n.add(MPTCP_EXPECTED_TOKEN, pos + 8, 0, token, generated=True)
                n.add(MPTCP_EXPECTED_IDSN, pos + 8, 0, idsn,
                      f"Subflow expected IDSN: {idsn} (64bits version)", generated=True)
        if flow is not None and not c.visited:
            flow.mptcp_idsn = idsn
    if n and avail in (22, 24):
        n.add(MPTCP_DATALVLLEN, o + 20, 2, _U16(data, o + 20)[0])
    if n and avail == 24:
        n.add(MPTCP_CHECKSUM, o + 22, 2, _U16(data, o + 22)[0])


def _mptcp_dss(c: _Opts, n: Tree, o: int, avail: int) -> None:
    """DSS: flags, then the Data ACK and the mapping the flags announce (RFC 8684 3.3),
    relative to the IDSNs the MP_CAPABLE keys gave."""
    data = c.data
    if avail < 4:
        raise Malformed("DSS option too short")
    flags = data[o + 3]
    if n:
        f = n.add(MPTCP_FLAGS, o + 3, 1, flags)
        for spec in (MPTCP_DATA_FIN, MPTCP_DSN8, MPTCP_DSN_PRESENT, MPTCP_DATA_ACK8,
                     MPTCP_DATA_ACK_PRESENT):
            _bits(f, spec, o + 3, flags)
    pos, end = o + 4, o + avail
    if flags & 0x01:
        size = 8 if flags & 0x02 else 4
        if pos + size > end:
            raise Malformed("DSS Data ACK past the end of the option")
        raw = int.from_bytes(data[pos:pos + size], "big")
        if n:
            n.add(MPTCP_RAWDATAACK, pos, size, raw,
                  f"Original MPTCP Data ACK: {raw} ({size * 8}bits)")
            peer = c.rev.mptcp_idsn if c.rev is not None else -1
            if peer >= 0 and size == 8:
                n.add(MPTCP_ACK, pos, size, (raw - peer) & 0xFFFFFFFFFFFFFFFF,
                      f"Multipath TCP Data ACK: {(raw - peer) & 0xFFFFFFFFFFFFFFFF} "
                      f"(Relative)", generated=True)
        pos += size
    if flags & 0x04:
        size = 8 if flags & 0x08 else 4
        if pos + size + 6 > end:
            raise Malformed("DSS mapping past the end of the option")
        dsn = int.from_bytes(data[pos:pos + size], "big")
        if n:
            n.add(MPTCP_RAWDATASEQNO, pos, size, dsn,
                  f"Data Sequence Number: {dsn}  ({size * 8}bits version)")
            n.add(MPTCP_SUBFLOWSEQNO, pos + size, 4, _U32(data, pos + size)[0])
            n.add(MPTCP_DATALVLLEN, pos + size + 4, 2, _U16(data, pos + size + 4)[0])
            if pos + size + 8 <= end:
                n.add(MPTCP_CHECKSUM, pos + size + 6, 2, _U16(data, pos + size + 6)[0])
            own = c.fwd.mptcp_idsn if c.fwd is not None else -1
            if own >= 0 and size == 8:
                rel = (dsn - own) & 0xFFFFFFFFFFFFFFFF
                n.add(MPTCP_DSS_DSN, pos, size, rel,
                      f"DSS Data Sequence Number: {rel} (Relative)", generated=True)


def _opt_unknown(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
    n = _opt_head(ot, OPT_UNKNOWN, o, optlen, c.data, "TCP Option - Unknown") if ot else ot
    if n and avail > 2:
        n.add(UNKNOWN_PAYLOAD, o + 2, avail - 2, bytes(c.data[o + 2:o + avail]))


def _named(spec: Any) -> Callable[[_Opts, Tree, int, int, int], None]:
    """Options shown by kind and length only (their bytes stay highlighted in hex)."""
    def opt(c: _Opts, ot: Tree, o: int, optlen: int, avail: int) -> None:
        if ot:
            _opt_head(ot, spec, o, optlen, c.data)
    return opt


# kind -> (name in the Options summary, dissector)
_OPTION_TABLE: dict[int, tuple[str, Callable[[_Opts, Tree, int, int, int], None]]] = {
    2: ("Maximum segment size", _opt_mss),
    3: ("Window scale", _opt_wscale),
    4: ("SACK permitted", _opt_sack_perm),
    5: ("SACK", _opt_sack),
    6: ("Echo", _echo(OPT_ECHO, "ECHO")),
    7: ("Echo reply", _echo(OPT_ECHOREPLY, "ECHO")),
    8: ("Timestamps", _opt_timestamp),
    11: ("CC", _cc(OPT_CC, "CC")),
    12: ("CC.NEW", _cc(OPT_CCNEW, "CC.NEW")),
    13: ("CC.ECHO", _cc(OPT_CCECHO, "CC.ECHO")),
    19: ("TCP MD5 signature", _opt_md5),
    20: ("SCPS capabilities", _named(OPT_SCPS)),
    21: ("Selective Negative Acknowledgment", _named(OPT_SNACK)),
    22: ("SCPS record boundary", _named(OPT_SCPSREC)),
    23: ("SCPS corruption experienced", _named(OPT_SCPSCOR)),
    27: ("Quick-Start", _named(OPT_QS)),
    28: ("User Timeout", _opt_user_to),
    29: ("TCP AO", _opt_ao),
    30: ("MPTCP", _opt_mptcp),
    34: ("TCP Fast Open", _opt_tfo),
    76: ("Riverbed Probe", _named(OPT_RVBD_PROBE)),
    78: ("Riverbed Transparency", _named(OPT_RVBD_TRPY)),
    172: ("Accurate ECN", _opt_acc_ecn),
    174: ("Accurate ECN", _opt_acc_ecn),
    253: ("Experimental", _opt_experimental),
    254: ("Experimental", _opt_experimental),
}


def _options(buf: Buf, off: int, start: int, hlen: int, end: int, t: Tree, c: _Opts) -> None:
    """Walk the options once (tshark's tcp_dissect_options): each known kind has its
    dissector; a length that does not fit stops the walk with a note, as tshark does."""
    data, pkt = c.data, c.pkt
    stop = off + hlen
    captured_end = min(end, len(data))
    if t:
        bc = max(0, min(hlen - MIN_HDR, captured_end - start))
        ot = t.add(OPTIONS, start, bc, bytes(data[start:start + bc]),
                   f"Options: ({hlen - MIN_HDR} bytes)")
    else:
        ot = t
    nop_count = 0
    o = start
    complete = True
    while o < stop:
        _need(buf, o, 1, end)
        kind = data[o]
        if kind <= 1:
            if kind == 1:
                if nop_count == 0 or (o - off) % 4:
                    nop_count += 1
                    if nop_count == 4:
                        _expert(ot, pkt, NOP_RUN, o, 1)
                else:
                    nop_count = 0
                if ot:
                    ot.add(OPT_NOP, o, 1, b"\x01", OPT_NOP.name).add(OPTION_KIND, o, 1, 1)
                if ot:
                    ot.label += ", No-Operation (NOP)"
            else:
                if ot:
                    ot.add(OPT_EOL, o, 1, b"\x00", OPT_EOL.name).add(OPTION_KIND, o, 1, 0)
                if ot:
                    ot.label += ", End of Option List (EOL)"
                rest = bytes(data[o + 1:min(stop, captured_end)])
                if rest.count(0) != len(rest):
                    _expert_item(ot, pkt, PADDING_AFTER_EOL, o + 1, len(rest),
                            "Non-zero header padding")
                    complete = False
                    break
            o += 1
            continue
        entry = _OPTION_TABLE.get(kind)
        name = entry[0] if entry else f"Unknown (0x{kind:02x})"
        left = stop - o
        if left == 1:
            _expert_item(ot, pkt, OPTION_LEN_INVALID, o, 1,
                    f"{name} (length byte past end of options)")
            complete = False
            break
        _need(buf, o + 1, 1, end)
        optlen = data[o + 1]
        if optlen < 2:
            _expert_item(ot, pkt, OPTION_LEN_INVALID, o, 2,
                    f"{name} (with too-short option length = {optlen} {_plural(optlen)})")
            complete = False
            break
        if optlen > left:
            _expert_item(ot, pkt, OPTION_LEN_INVALID, o, left - 2,
                    f"{name} (option length = {optlen} {_plural(optlen)} says option goes "
                    f"past end of options)")
            complete = False
            break
        avail = min(optlen, captured_end - o)
        (entry[1] if entry else _opt_unknown)(c, ot, o, optlen, avail)
        if ot:
            ot.label += f", {name}"
        o += optlen
    if complete and c.seg.flags & SYN and not c.mss_seen:
        _expert(ot, pkt, MSS_ABSENT, start, 0)


# ---------------------------------------------------------------------------------------
# The dissector
# ---------------------------------------------------------------------------------------

def _conversation(st: TcpState, pkt: Packet, sport: int, dport: int, flags: int,
                  seq_raw: int) -> tuple[TcpStream, bool]:
    """Find or open this segment's stream on the first pass (Wireshark's rules for
    conversations and port reuse). Returns the stream and whether it is new."""
    src, dst = pkt.net_src, pkt.net_dst
    key = (src, sport, dst, dport) if (src, sport) <= (dst, dport) else (dst, dport, src, sport)
    stream = st.conversations.get(key)
    if stream is None:
        return st.new_stream(key), True
    fwd = stream.flow1 if (src > dst or (src == dst and sport > dport)) else stream.flow2
    if reopens(fwd, flags, seq_raw):
        # A new SYN on these ports after the old connection: a new stream (port reuse).
        stream = st.new_stream(key)
        stream.completeness = 1
    return stream, False


def dissect_tcp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """A TCP segment: header, stream, options, then the payload to a port or heuristic
    dissector (or data)."""
    pkt.enter("tcp")
    data = buf.data
    layers = pkt.layers
    icmp_ip = len(layers) >= 3 and layers[-2] == "ip" and layers[-3] == "icmp"
    pkt.set_protocol("TCP")
    captured_end = min(end, len(data))
    if off + MIN_HDR <= captured_end:
        sport, dport, seq_raw, ack_raw, offflags, win_raw, cksum, urp = _HDR(data, off)
        have_tail = True
    else:
        _need(buf, off, 4, end)
        sport, dport = _PORTS(data, off)
        seq_raw = ack_raw = offflags = win_raw = cksum = urp = 0
        have_tail = False
    pkt.set_info(f"{sport} → {dport}")
    tv = tree is not NULL_TREE
    if tv:
        t = tree.add(PROTO, off, max(0, min(end, len(data)) - off),
                     label=f"Transmission Control Protocol, Src Port: {sport}, "
                           f"Dst Port: {dport}")
        t.add(SRCPORT, off, 2, sport)
        t.add(DSTPORT, off + 2, 2, dport)
        t.add(PORT, off, 2, sport, hidden=True)
        t.add(PORT, off + 2, 2, dport, hidden=True)
    else:
        t = tree
    if not pkt.fenced:
        pkt.ptype, pkt.srcport, pkt.dstport = "tcp", sport, dport
    if icmp_ip:
        _need(buf, off + 4, 4, end)
        if tv:
            t.add(SEQ, off + 4, 4, _U32(data, off + 4)[0])
    if not have_tail:
        # tshark reads the fixed header in order: a cut inside it stops where it falls
        _need(buf, off, 16, end)
        _, _, seq_raw, ack_raw, offflags, win_raw = _HDR16(data, off)
    flags = offflags & 0xFFF
    hlen = (offflags >> 12) * 4
    reported = end - off

    st: TcpState = pkt.state.slot("tcp", TcpState)
    src, dst = pkt.net_src, pkt.net_dst
    dir1 = src > dst or (src == dst and sport > dport)
    nth = layers.count("tcp") - 1
    visited = pkt.visited
    if visited:
        sid, facts = st.recall(pkt.number, nth)
        stream = st.streams.get(sid)
        is_new = False
        shown_completeness = facts & 0x3F
    elif pkt.in_error and not src:
        # A quoted segment whose addresses the IP layer did not pass on: never open a
        # conversation for it, which would shift the numbering of every later stream.
        stream, is_new, facts, shown_completeness = None, False, 0, 0
    else:
        stream, is_new = _conversation(st, pkt, sport, dport, flags, seq_raw)
        facts = 0
        shown_completeness = stream.completeness
    fwd = rev = None
    if stream is not None:
        fwd, rev = (stream.flow1, stream.flow2) if dir1 else (stream.flow2, stream.flow1)
        if not visited and rebases(fwd, flags, seq_raw):
            if stream.rebased is None:
                stream.rebased = []
            stream.rebased.append((pkt.number, stream.flow1.base_seq, stream.flow2.base_seq))
            fwd.base_seq = seq_raw
        if tv:
            t.add(STREAM, off, 0, stream.index, generated=True)
            t.add(COMPLETENESS, 0, 0, shown_completeness,
                  f"Conversation completeness: {completeness_str(shown_completeness)}",
                  generated=True)

    seg = TcpSegment(flags, seq_raw, ack_raw, win_raw, hlen, urp)
    if stream is not None:
        seg.stream = stream.index
        seg.direction = 1 if dir1 else 2
    if visited:
        ws = ((facts >> _F_WS_SHIFT) & 0x1F) - 2
    else:
        ws = fwd.win_scale if fwd is not None else -1
        facts = shown_completeness | (ws + 2) << _F_WS_SHIFT
    seg.win_scale = ws
    seq, ack, win = seq_raw, ack_raw, win_raw
    seglen = -1
    if not pkt.in_error:
        if reported < hlen:
            _expert_item(t, pkt, SHORT_SEGMENT, off, 0,
                    "Short segment. Segment/fragment does not contain a full TCP header "
                    "(might be NMAP or someone else deliberately sending unusual packets)")
        else:
            seglen = reported - hlen
            if tv:
                t.add(LEN, off + 12, 1, seglen, generated=True)
            if stream is not None:
                if visited:
                    b1, b2 = stream.bases_after(pkt.number)
                    fbase, rbase = (b1, b2) if dir1 else (b2, b1)
                else:
                    learn_bases(fwd, rev, flags, seq_raw, ack_raw)
                    fbase, rbase = fwd.base_seq, rev.base_seq
                seq, ack = relative(fbase, rbase, flags, seq_raw, ack_raw)
            if not flags & SYN and ws >= 0:
                win = win_raw << ws
    seg.seq, seg.ack, seg.win, seg.len = seq, ack, win, seglen

    ace = bool(stream is not None and not flags & SYN and (
        (stream.acc_syn and stream.acc_synack) or stream.acc_option)) \
        if not visited else bool(facts & _F_ACE)
    if ace:
        facts |= _F_ACE
    flag_names = _flag_names(flags, ace)
    pkt.append_info(f" [{flag_names}] Seq={seq} Ack={ack} Win={win}" if flags & ACK
                    else f" [{flag_names}] Seq={seq} Win={win}", sep="")
    if tv:
        t.label += f", Seq: {seq}"
        if not icmp_ip:
            t.add(SEQ, off + 4, 4, seq, f"Sequence Number: {seq}    (relative sequence number)")
            t.add(SEQ_RAW, off + 4, 4, seq_raw)

    if hlen < MIN_HDR:
        pkt.append_info(f", bogus TCP header length ({hlen}, must be at least {MIN_HDR})",
                        sep="")
        if tv:
            hl = t.add(HDR_LEN, off + 12, 1, hlen,
                       f"{(offflags >> 12):04b} .... = Header Length: {hlen} bytes "
                       f"({hlen >> 2})")
            hl.add_expert(BOGUS_HEADER_LENGTH, off + 12, 1,
                          f"Bogus TCP header length ({hlen}, must be at least {MIN_HDR})")
        pkt.note(BOGUS_HEADER_LENGTH)
        _finish(st, pkt, nth, stream, facts, visited, seg)
        return None

    if stream is not None and not visited:
        stream.completeness = _completeness(shown_completeness, is_new, flags, max(seglen, 0))

    if tv:
        if flags & ACK:
            t.label += f", Ack: {ack}"
        if seglen >= 0:
            t.label += f", Len: {seglen}"
        t.set_size(hlen)
    nxtseq = -1
    if seglen >= 0:
        nxtseq = (seq + seglen + (1 if flags & (SYN | FIN) else 0)) & _M32
        seg.nxtseq = nxtseq
        if tv:
            t.add(NXTSEQ, off, 0, nxtseq,
                  f"Next Sequence Number: {nxtseq}    (relative sequence number)",
                  generated=True)
    if tv:
        a = t.add(ACK_FIELD, off + 8, 4, ack,
                  f"Acknowledgment Number: {ack}    (relative ack number)"
                  if flags & ACK else None)
    else:
        a = t
    if not flags & ACK and ack_raw:
        _expert(a, pkt, ACK_NONZERO, off + 8, 4)
    elif flags & SYN_ACK == SYN_ACK:
        if ack > 1:
            _expert(a, pkt, TFO_ACK, off + 8, 4)
        elif stream is not None and stream.tfo_syn_data:
            _expert(a, pkt, TFO_IGNORED, off + 8, 4)
    if tv:
        t.add(ACK_RAW, off + 8, 4, ack_raw)
        t.add(HDR_LEN, off + 12, 1, hlen,
              f"{(offflags >> 12):04b} .... = Header Length: {hlen} bytes ({hlen >> 2})")
    if tv:
        fin_node, syn_node, rst_node, str_node = _flags_tree(t, off, flags, flag_names, ace)
    else:
        fin_node = syn_node = rst_node = str_node = t
    if tv:
        t.add(WINDOW_VALUE, off + 14, 2, win_raw)
        t.add(WINDOW, off + 14, 2, win, generated=True)
        if not flags & SYN and stream is not None:
            t.add(WINDOW_SCALE, off + 14, 2, ws if ws < 0 else 1 << ws, _ws_label(ws),
                  generated=True)

    # Connection events: the chat experts, the server port, the closing side.
    if flags & SYN:
        if flags & ACK:
            _expert(syn_node, pkt, CONN_SYNACK, off + 13, 1,
                    f"Connection establish acknowledge (SYN+ACK): server port {sport}")
            if stream is not None and not visited:
                stream.server_port = sport
        else:
            _expert(syn_node, pkt, CONN_SYN, off + 13, 1,
                    f"Connection establish request (SYN): server port {dport}")
            if stream is not None and not visited:
                stream.server_port = dport
    if flags & FIN:
        _expert(fin_node, pkt, CONN_FIN, off + 13, 1)
        if stream is not None:
            if not visited and not rev.closing:
                fwd.closing = True
                facts |= _F_FIN_ACTIVE
            _expert(str_node, pkt, FIN_ACTIVE if facts & _F_FIN_ACTIVE else FIN_PASSIVE,
                    off + 12, 2)
    if flags & RST:
        _expert(rst_node, pkt, CONN_RST, off + 13, 1)

    if not have_tail:
        _need(buf, off + 16, 4, end)
    if tv:
        t.add(CHECKSUM, off + 16, 2, cksum, f"Checksum: 0x{cksum:04x} [unverified]")
        t.add(CHECKSUM_STATUS, off + 16, 0, 2, "Checksum Status: Unverified", generated=True)
        u = t.add(URGENT_POINTER, off + 18, 2, urp)
    else:
        u = t
    if flags & URG:
        pkt.append_info(f"Urg={urp}")
    elif urp:
        _expert(u, pkt, URGENT_NONZERO, off + 18, 2)
    if seglen >= 0:
        pkt.append_info(f"Len={seglen}")

    if hlen == 32 and not tv and not flags & SYN and off + 32 <= captured_end \
            and data[off + 20:off + 24] == b"\x01\x01\x08\x0a":
        # The summary path's common case (two NOPs then Timestamps), with the same
        # results as the general walk below, which the tree path always takes.
        seg.tsval, seg.tsecr = _TS(data, off + 24)
        pkt.append_info(f"TSval={seg.tsval} TSecr={seg.tsecr}")
    elif hlen > MIN_HDR:
        opts = _Opts(pkt, seg, data, stream, fwd, rev,
                     _sack_base(stream, rev, visited, pkt, dir1))
        try:
            _options(buf, off, off + MIN_HDR, hlen, end, t, opts)
        except (Truncated, Malformed):
            _finish(st, pkt, nth, stream, facts, visited, seg)
            raise
    if stream is not None and not visited and flags & SYN:
        _verify_window_scaling(stream, fwd, rev, flags)
        if flags & ACK:
            stream.acc_synack = (flags >> 6) & 7 in _ACC_ECN_SYNACK
        else:
            stream.acc_syn = flags & _ACE_HIDDEN == _ACE_HIDDEN
    _finish(st, pkt, nth, stream, facts, visited, seg)

    payload = off + hlen
    captured = min(end, len(data)) - payload
    if captured > 0:
        if flags & RST:
            if tv:
                t.add(RESET_CAUSE, payload, captured,
                      bytes(data[payload:payload + captured]).decode("ascii", "replace"))
        else:
            if tv:
                size = end - payload
                t.add(PAYLOAD, payload, captured, bytes(data[payload:payload + captured]),
                      f"TCP payload ({size} {'byte' if size == 1 else 'bytes'})")
            _hand_off(buf, payload, end, tree, pkt, sport, dport,
                      stream.server_port if stream is not None else 0)
    return None


def _sack_base(stream: TcpStream | None, rev: TcpFlow | None, visited: bool, pkt: Packet,
                   dir1: bool) -> int:
    """The peer's base, for relative SACK edges (0 until it is known, as in tshark)."""
    if stream is None or rev is None:
        return 0
    if visited:
        b1, b2 = stream.bases_after(pkt.number)
        return b2 if dir1 else b1
    return rev.base_seq


def _ws_label(ws: int) -> str:
    if ws == -1:
        return "Window size scaling factor: -1 (unknown)"
    if ws == -2:
        return "Window size scaling factor: -2 (no window scaling used)"
    return f"Window size scaling factor: {1 << ws}"


def _completeness(before: int, is_new: bool, flags: int, seglen: int) -> int:
    """Move the conversation completeness forward (tshark 4.0's rules, including that a
    new conversation only counts a pure SYN)."""
    if is_new:
        if flags & SYN_ACK == SYN:
            return 1 | (8 if seglen > 0 else 0)
        return 0
    c = before
    if flags & SYN_ACK == SYN_ACK:
        c |= 2
    if flags & SYN_ACK == ACK:
        c |= 8 if seglen > 0 else 4
    if flags & (FIN | ACK) == FIN | ACK:
        c |= 16
    if flags & RST:
        c |= 32
    return c


def _verify_window_scaling(stream: TcpStream, fwd: TcpFlow, rev: TcpFlow, flags: int) -> None:
    """After a SYN or SYN/ACK: scaling is used only if both sides offered it."""
    if fwd.win_scale == -1:
        fwd.win_scale = rev.win_scale = -2
    elif flags & ACK and rev.win_scale == -2:
        fwd.win_scale = -2


def _finish(st: TcpState, pkt: Packet, nth: int, stream: TcpStream | None, facts: int,
            visited: bool, seg: TcpSegment) -> None:
    """Store what a later re-dissection of this frame must show, and the summary."""
    if not visited and stream is not None:
        st.remember(pkt.number, nth, stream.index, facts)
    if not pkt.fenced:
        pkt.tcp = seg


def _flags_tree(t: Tree, off: int, flags: int, names: str,
                ace: bool) -> tuple[Tree, Tree, Tree, Tree]:
    """The Flags item and its bits, in tshark's 12-bit picture. Returns the Fin, Syn,
    Reset and flag-picture items, which carry the connection experts."""
    f = t.add(FLAGS, off + 12, 2, flags, f"Flags: 0x{flags:03x} ({names})")

    def bit(spec: Any, pos: int) -> Tree:
        value = bool(flags & spec.bitmask)
        return f.add(spec, pos, 1, value, f"{bitfield_str(spec, flags, 12)} = {spec.name}: "
                                          f"{'Set' if value else 'Not set'}")

    bit(FLAG_RES, off + 12)
    if ace:
        f.add(FLAG_ACE, off + 12, 2, (flags >> 6) & 7,
              f"{bitfield_str(FLAG_ACE, flags, 12)} = ACE: {(flags >> 6) & 7}")
    else:
        bit(FLAG_AE, off + 12)
        bit(FLAG_CWR, off + 13)
        bit(FLAG_ECE, off + 13)
    bit(FLAG_URG, off + 13)
    bit(FLAG_ACK, off + 13)
    bit(FLAG_PUSH, off + 13)
    rst = bit(FLAG_RESET, off + 13)
    syn = bit(FLAG_SYN, off + 13)
    fin = bit(FLAG_FIN, off + 13)
    letters = f.add(FLAGS_STR, off + 12, 2, _flag_letters(flags, ace), generated=True)
    return fin, syn, rst, letters


def _hand_off(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, sport: int, dport: int,
              server_port: int) -> None:
    """Payload to the dissector of the server port seen on the SYN, else of the lower then
    the higher port (port 0 never counts), else a heuristic, else data."""
    fn = TCP_PORT.get(server_port) if server_port else None
    if fn is None:
        low, high = (sport, dport) if sport <= dport else (dport, sport)
        fn = (TCP_PORT.get(low) if low else None) or (TCP_PORT.get(high) if high else None)
    if fn is not None:
        fn(buf, off, end, tree, pkt)
    elif not TCP_HEUR.try_all(buf, off, end, tree, pkt):
        dissect_data(buf, off, end, tree, pkt)


IP_PROTO.register(6, dissect_tcp)
