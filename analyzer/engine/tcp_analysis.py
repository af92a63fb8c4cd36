"""TCP sequence analysis (tcp.analysis.*) as a sans-IO state machine.

Wireshark's expert flags (retransmission, dup ACK, zero window ...) are what a backend
engineer greps a capture for first, and scripts compare them with tshark's. So this module
reproduces tshark 4.0's single-pass rules (packet-tcp.c, tcp_analyze_sequence_number and
the initial-RTT bookkeeping of dissect_tcp), checked in the same order with the same
thresholds, on raw 32-bit sequence numbers compared modulo 2**32 (RFC 9293 section 3.4).

The analyzer owns no clock and does no I/O (as h11): the caller feeds one segment at a time
in frame order, with the numbers the TCP dissector put in `pkt.tcp`, and gets back a bit
set of flags; the numbers that go with the flags (dup-ACK count, acked frame, RTTs, bytes
in flight) are left in a few int attributes until the next feed. State is one `_Flow` per
direction and one `_Stream` per tcp.stream; nothing is kept per packet except the bounded
list of unacknowledged segments (at most 1000 per direction, as Wireshark).
"""
from __future__ import annotations

from array import array
from collections.abc import Hashable, Sequence
from typing import Any

# Segment flags (TCP header bits, as dissectors.tcp).
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_SFR = SYN | FIN | RST

# Analysis flags: one bit per tcp.analysis.* field.
RETRANSMISSION = 1 << 0
FAST_RETRANSMISSION = 1 << 1
SPURIOUS_RETRANSMISSION = 1 << 2
OUT_OF_ORDER = 1 << 3
LOST_SEGMENT = 1 << 4
ACK_LOST_SEGMENT = 1 << 5
DUPLICATE_ACK = 1 << 6
ZERO_WINDOW = 1 << 7
ZERO_WINDOW_PROBE = 1 << 8
ZERO_WINDOW_PROBE_ACK = 1 << 9
WINDOW_FULL = 1 << 10
WINDOW_UPDATE = 1 << 11
KEEP_ALIVE = 1 << 12
KEEP_ALIVE_ACK = 1 << 13
REUSED_PORTS = 1 << 14

#: tshark field name of each flag bit, in bit order.
FLAG_FIELDS: tuple[tuple[int, str], ...] = (
    (RETRANSMISSION, "tcp.analysis.retransmission"),
    (FAST_RETRANSMISSION, "tcp.analysis.fast_retransmission"),
    (SPURIOUS_RETRANSMISSION, "tcp.analysis.spurious_retransmission"),
    (OUT_OF_ORDER, "tcp.analysis.out_of_order"),
    (LOST_SEGMENT, "tcp.analysis.lost_segment"),
    (ACK_LOST_SEGMENT, "tcp.analysis.ack_lost_segment"),
    (DUPLICATE_ACK, "tcp.analysis.duplicate_ack"),
    (ZERO_WINDOW, "tcp.analysis.zero_window"),
    (ZERO_WINDOW_PROBE, "tcp.analysis.zero_window_probe"),
    (ZERO_WINDOW_PROBE_ACK, "tcp.analysis.zero_window_probe_ack"),
    (WINDOW_FULL, "tcp.analysis.window_full"),
    (WINDOW_UPDATE, "tcp.analysis.window_update"),
    (KEEP_ALIVE, "tcp.analysis.keep_alive"),
    (KEEP_ALIVE_ACK, "tcp.analysis.keep_alive_ack"),
    (REUSED_PORTS, "tcp.analysis.reused_ports"),
)

_M32 = 0xFFFFFFFF
_HALF = 0x80000000
MAX_UNACKED = 1000            # Wireshark's TCP_MAX_UNACKED_SEGMENTS
FAST_RETRANS_NS = 20_000_000  # a retransmission within 20 ms of the 2nd+ dup ACK is "fast"
OOO_DEFAULT_NS = 3_000_000    # out-of-order window when the initial RTT is unknown
MAX_IN_FLIGHT = 2_000_000_000


def _gt(a: int, b: int) -> bool:
    """Sequence-space a > b."""
    d = (a - b) & _M32
    return d != 0 and d < _HALF


def _lt(a: int, b: int) -> bool:
    """Sequence-space a < b."""
    return ((a - b) & _M32) >= _HALF


def analyzable(pkt: Any) -> bool:
    """Whether tshark feeds this frame's segment to the analysis: a TCP summary with a
    known length (not one quoted inside an ICMP error) in a stream."""
    seg = getattr(pkt, "tcp", None)
    return seg is not None and seg.stream >= 0 and seg.len >= 0


def analysis_shown(pkt: Any) -> bool:
    """Whether tshark shows the analysis of an analyzed segment: Wireshark updates the
    state before it dissects the options, but a malformed option aborts the TCP layer
    before the analysis is printed."""
    return not (pkt.damage == "malformed" and pkt.current == "tcp")


class _Flow:
    """One direction of a stream: what Wireshark's tcp_flow_t holds for the analysis."""

    __slots__ = ("base_seq", "base_set", "dupacknum", "lastack", "lastacktime",
                 "lastnondupack", "lastsegflags", "maxseqtobeacked", "nextseq",
                 "nextseqframe", "nextseqtime", "push_bytes", "push_last", "sack",
                 "u_frame", "u_next", "u_seq", "u_ts", "valid_bif", "win_scale", "window")

    def __init__(self) -> None:
        self.base_seq = 0
        self.base_set = False
        self.nextseq = 0          # highest next sequence number sent; 0 = none yet
        self.nextseqframe = 0
        self.nextseqtime = 0
        self.maxseqtobeacked = 0  # end of the contiguous data seen; 0 = none yet
        self.lastack = 0
        self.lastacktime = 0
        self.lastnondupack = 0
        self.dupacknum = 0
        self.window = 0
        self.win_scale = -1       # -1 unknown, -2 no scaling, else the shift
        self.lastsegflags = 0
        self.valid_bif = True
        self.push_bytes = 0       # bytes sent since the last PSH run (push_bytes_sent)
        self.push_last = False    # the previous data segment had PSH
        self.sack: Sequence[tuple[int, int]] = ()   # SACK blocks of the last segment
        # Unacknowledged segments, oldest first (Wireshark walks its list newest first).
        self.u_seq = array("L")
        self.u_next = array("L")
        self.u_frame = array("L")
        self.u_ts = array("q")


class _Stream:
    """A tcp.stream: two flows plus the handshake timing for the initial RTT."""

    __slots__ = ("first_rtt", "flows", "mru_syn")

    def __init__(self) -> None:
        self.flows = (_Flow(), _Flow())
        self.mru_syn = 0      # time of the latest SYN (without ACK); 0 = none
        self.first_rtt = 0    # SYN -> first ACK of the handshake; 0 = unknown


class TcpAnalyzer:
    """Feed segments in frame order; read flags and the per-segment numbers.

    After each `feed`, `dupack_num`/`dupack_frame` (duplicate_ack_num/_frame),
    `acks_frame`/`ack_rtt_ns`, `bytes_in_flight`, `push_bytes_sent` and `initial_rtt_ns`
    describe that segment, as tshark shows them; 0 means "not shown" (`ack_rtt_ns` goes
    with a non-zero `acks_frame`; initial_rtt appears only when the segment has an
    analysis to show).
    """

    def __init__(self) -> None:
        self._streams: dict[int, _Stream] = {}
        self._convs: set[Hashable] = set()   # address/port pairs that had a stream
        self.dupack_num = 0
        self.dupack_frame = 0
        self.acks_frame = 0
        self.ack_rtt_ns = 0
        self.bytes_in_flight = 0
        self.initial_rtt_ns = 0
        self.push_bytes_sent = 0
        self._touched = False   # Wireshark made its per-segment record: the tree shows

    def feed(self, frame: int, ts_ns: int, stream: int, direction: int, flags: int,
             seq: int, ack: int, window: int, win_scale: int, seglen: int,
             conv: Hashable = None, sack: Sequence[tuple[int, int]] = ()) -> int:
        """Analyze one segment (direction 1 or 2, raw seq/ack/window, win_scale as
        pkt.tcp.win_scale, seglen = payload bytes); `conv` names the address/port pair,
        so a new stream on a pair seen before is flagged as reused ports; `sack` holds the
        segment's raw SACK blocks (left, right). Returns flags."""
        self.dupack_num = self.dupack_frame = self.acks_frame = 0
        self.ack_rtt_ns = self.bytes_in_flight = self.push_bytes_sent = 0
        self._touched = False
        out = 0
        st = self._streams.get(stream)
        if st is None:
            st = self._streams[stream] = _Stream()
            if conv is not None:
                # REUSED PORTS: a SYN opened a new stream on an address/port pair that an
                # earlier stream used (the dissector split it off because the ISN changed).
                if conv in self._convs and flags & (SYN | ACK) == SYN:
                    out |= REUSED_PORTS
                self._convs.add(conv)
        fwd, rev = (st.flows if direction == 1 else st.flows[::-1])
        fwd.win_scale = win_scale

        # Initial RTT: from the latest SYN to the first segment with ACK and without SYN.
        if flags & (SYN | ACK) == SYN:
            st.mru_syn = ts_ns
        elif flags & (SYN | ACK) == ACK and not st.first_rtt and st.mru_syn:
            st.first_rtt = ts_ns - st.mru_syn
        self.initial_rtt_ns = st.first_rtt

        if not fwd.base_set:
            fwd.base_seq = seq if flags & SYN else (seq - 1) & _M32
            fwd.base_set = True
        if not rev.base_set and flags & ACK:
            rev.base_seq = (ack - 1) & _M32
            rev.base_set = True
        if flags & ACK:
            rev.valid_bif = True
        out |= self._rules(frame, ts_ns, st, fwd, rev, flags, seq, ack, window, seglen)
        self._store(frame, ts_ns, fwd, flags, seq, ack, window, seglen, out)
        self._acked(ts_ns, rev, ack)
        self._in_flight(fwd, rev, flags, seglen)
        fwd.sack = sack
        if not (out or self._touched or self.acks_frame or self.bytes_in_flight):
            # Nothing to report: tshark adds no SEQ/ACK analysis tree, so no initial_rtt.
            self.initial_rtt_ns = 0
        if out & DUPLICATE_ACK and not self.dupack_num:
            out &= ~DUPLICATE_ACK   # the parked counter wrapped to 0: tshark shows nothing
        return out

    def _rules(self, frame: int, ts_ns: int, st: _Stream, fwd: _Flow, rev: _Flow,
               flags: int, seq: int, ack: int, window: int, seglen: int) -> int:
        """Wireshark's checks, in its order: the sender-side ones, then the ACK side."""
        out = self._sender_rules(fwd, rev, flags, seq, ack, window, seglen)
        # A new ACK number restarts the duplicate-ACK count.
        if ack != fwd.lastack:
            fwd.lastnondupack = frame
            fwd.dupacknum = 0
        # ACK LOST SEGMENT: this ACK covers data of the peer the capture never showed.
        # The edge jumps to the peer's nextseq so one gap is reported once; when it is
        # already there, the peer's dup-ACK counter is parked at 2**32 - 1 (a C unsigned
        # -1) so a stalled peer sending pure ACKs does not repeat it. That parked value
        # also satisfies the ">= 2 dup ACKs" test of fast retransmission, as in tshark.
        if rev.maxseqtobeacked and _gt(ack, rev.maxseqtobeacked) and flags & ACK:
            self._touched = True
            if _lt(rev.maxseqtobeacked, rev.nextseq):
                rev.maxseqtobeacked = rev.nextseq
                out |= ACK_LOST_SEGMENT
            else:
                if rev.dupacknum == 0:
                    out |= ACK_LOST_SEGMENT
                rev.dupacknum = _M32
        # Data (or SYN/FIN) that is not new is one of the resend kinds; a keep-alive is
        # none of them.
        if (seglen > 0 or flags & (SYN | FIN)) and not out & KEEP_ALIVE:
            out |= self._resend_kind(ts_ns, st, fwd, rev, seq, seglen, flags)
        return out

    def _sender_rules(self, fwd: _Flow, rev: _Flow, flags: int, seq: int, ack: int,
                      window: int, seglen: int) -> int:
        """Checks on what this side sends; a `return` mid-way is Wireshark's
        `goto finished_fwd` (the ACK-side checks still run)."""
        out = 0
        nextseq = fwd.nextseq
        plain = not flags & _SFR
        same_pos = seglen == 0 and seq == nextseq and ack == fwd.lastack and plain
        # ZERO WINDOW PROBE: one byte at the next expected sequence while the peer's
        # window is 0.
        if seglen == 1 and seq == nextseq and rev.window == 0:
            return ZERO_WINDOW_PROBE
        # ZERO WINDOW: this sender advertises no room, outside SYN/FIN/RST.
        if window == 0 and plain:
            out |= ZERO_WINDOW
        # LOST SEGMENT: the segment starts beyond the highest sequence seen, so the
        # capture missed something (not checked on RST).
        if nextseq and _gt(seq, nextseq) and not flags & RST:
            out |= LOST_SEGMENT
            fwd.valid_bif = False
        # KEEP ALIVE: 0 or 1 byte starting one byte before the next expected sequence.
        if seglen <= 1 and seq == (nextseq - 1) & _M32 and plain:
            out |= KEEP_ALIVE
        # WINDOW UPDATE: an empty segment repeating seq/ack with a new, non-zero window.
        if same_pos and window and window != fwd.window:
            out |= WINDOW_UPDATE
        # WINDOW FULL: data reaching exactly the right edge of the peer's window (only
        # once the peer's scaling is known).
        if seglen > 0 and rev.win_scale != -1 and plain:
            shift = 0 if rev.win_scale == -2 else rev.win_scale
            if (seq + seglen) & _M32 == (rev.lastack + (rev.window << shift)) & _M32:
                out |= WINDOW_FULL
        # KEEP ALIVE ACK: an unchanged empty ACK answering the peer's keep-alive.
        if same_pos and window and window == fwd.window and rev.lastsegflags & KEEP_ALIVE:
            return out | KEEP_ALIVE_ACK
        # ZERO WINDOW PROBE ACK: an unchanged zero-window ACK answering a probe.
        if same_pos and window == 0 and fwd.window == 0 \
                and rev.lastsegflags & ZERO_WINDOW_PROBE:
            return out | ZERO_WINDOW_PROBE_ACK
        # DUPLICATE ACK: an empty segment repeating seq, ack and the (non-zero) window.
        if same_pos and window and window == fwd.window:
            fwd.dupacknum = (fwd.dupacknum + 1) & _M32
            out |= DUPLICATE_ACK
            self.dupack_num = fwd.dupacknum
            self.dupack_frame = fwd.lastnondupack
        return out

    @staticmethod
    def _resend_kind(ts_ns: int, st: _Stream, fwd: _Flow, rev: _Flow, seq: int,
                     seglen: int, flags: int) -> int:
        """Which kind of resend; Wireshark's unsigned time differences make a segment
        stamped before the reference never "recent". Fast and spurious ones also carry
        RETRANSMISSION, because tshark then shows tcp.analysis.retransmission too."""
        not_advanced = fwd.nextseq != 0 and _lt(seq, fwd.nextseq)
        # More than one byte starting one before nextseq adds data after a possible
        # zero-window probe: not a resend (spurious is still checked).
        if seglen > 1 and (fwd.nextseq - 1) & _M32 == seq:
            not_advanced = False
        # FAST RETRANSMISSION: the peer sent 2+ duplicate ACKs for this sequence, the
        # last one less than 20 ms ago.
        t = ts_ns - rev.lastacktime
        if not_advanced and rev.dupacknum >= 2 and rev.lastack == seq \
                and 0 <= t < FAST_RETRANS_NS:
            return FAST_RETRANSMISSION | RETRANSMISSION
        # SPURIOUS RETRANSMISSION: data the peer has already acknowledged.
        if seglen > 0 and rev.lastack and not _gt((seq + seglen) & _M32, rev.lastack):
            return SPURIOUS_RETRANSMISSION | RETRANSMISSION
        # OUT OF ORDER: within one initial RTT (3 ms if unknown) of the highest segment,
        # and not ending exactly where it does (SYN and FIN count one).
        thres = st.first_rtt if st.first_rtt else OOO_DEFAULT_NS
        t = ts_ns - fwd.nextseqtime
        end = seq + seglen + (1 if flags & (SYN | FIN) else 0)
        if not_advanced and 0 <= t < thres and fwd.nextseq != end & _M32:
            return OUT_OF_ORDER
        # RETRANSMISSION: everything else that goes backwards.
        return RETRANSMISSION if not_advanced else 0

    @staticmethod
    def _store(frame: int, ts_ns: int, fwd: _Flow, flags: int, seq: int, ack: int,
               window: int, seglen: int, out: int) -> None:
        """Remember the segment as unacked, advance nextseq and the contiguous edge."""
        nextseq = (seq + seglen) & _M32
        if (seglen or flags & (SYN | FIN)) and len(fwd.u_seq) < MAX_UNACKED:
            if flags & (SYN | FIN):
                nextseq = (nextseq + 1) & _M32
            fwd.u_seq.append(seq)
            fwd.u_next.append(nextseq)
            fwd.u_frame.append(frame)
            fwd.u_ts.append(ts_ns)
        probe = out & ZERO_WINDOW_PROBE
        # A zero-window probe does not advance the highest sequence.
        if (_gt(nextseq, fwd.nextseq) or not fwd.nextseq) and not probe:
            fwd.nextseq = nextseq
            fwd.nextseqframe = frame
            fwd.nextseqtime = ts_ns
        if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and not probe:
            fwd.maxseqtobeacked = fwd.nextseq
        fwd.window = window
        fwd.lastack = ack
        fwd.lastacktime = ts_ns
        fwd.lastsegflags = out

    def _acked(self, ts_ns: int, rev: _Flow, ack: int) -> None:
        """Drop the peer's segments this ACK covers; an exact match gives acks_frame and
        ack_rtt (the oldest exact match wins, as in Wireshark's newest-first walk)."""
        useq, unext = rev.u_seq, rev.u_next
        i = len(useq) - 1
        while i >= 0:
            nxt = unext[i]
            if ack == nxt:
                self.acks_frame = rev.u_frame[i]
                self.ack_rtt_ns = ts_ns - rev.u_ts[i]
            elif _gt(ack, useq[i]) and not _gt(ack, nxt):
                useq[i] = ack          # partly acknowledged: keep the rest
                i -= 1
                continue
            elif _gt(nxt, ack):
                i -= 1
                continue
            del useq[i], unext[i], rev.u_frame[i], rev.u_ts[i]
            i -= 1

    def _in_flight(self, fwd: _Flow, rev: _Flow, flags: int, seglen: int) -> None:
        """Bytes in flight after a data segment: the span of this side's unacked data,
        less what the peer's last SACK blocks report delivered; a SYN or FIN counts one
        in the span but is no data."""
        if not seglen or not fwd.u_seq or not fwd.valid_bif:
            return
        self._touched = True
        # Bytes sent up to and including the segment with PSH: the size of the
        # application's write as the sender's stack pushed it.
        if flags & PSH:
            fwd.push_bytes = seglen if fwd.push_last else fwd.push_bytes + seglen
            fwd.push_last = True
        elif fwd.push_last:
            fwd.push_bytes = seglen
            fwd.push_last = False
        else:
            fwd.push_bytes += seglen
        base = fwd.base_seq
        first = min((s - base) & _M32 for s in fwd.u_seq)
        last = max((n - base) & _M32 for n in fwd.u_next)
        in_flight = (last - first) & _M32
        for left, right in rev.sack:
            in_flight = (in_flight - (right - left)) & _M32
        if 0 < in_flight < MAX_IN_FLIGHT:
            # tshark shows push_bytes_sent beside bytes_in_flight only.
            self.bytes_in_flight = in_flight - (1 if flags & (SYN | FIN) else 0)
            self.push_bytes_sent = fwd.push_bytes
