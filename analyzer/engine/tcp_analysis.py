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

from bisect import bisect_right
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
_ORDERED_SPAN = 1 << 30    # see _Flow.ordered


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
                 "max_key", "nextseqframe", "nextseqtime", "ordered", "push_bytes", "push_last",
                 "sack", "u_frame", "u_key", "u_next", "u_seq", "u_ts", "valid_bif",
                 "win_scale", "window")

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
        # Unacknowledged segments (Wireshark keeps a list newest first and walks all of it
        # on every ACK). `ordered`: they are kept sorted by sequence number, `u_key` being
        # each one's offset from the base, and span less than 2**30, so an ACK only touches
        # the entries that start before it, and the lowest start and the highest end
        # (`max_key`) are at hand. Otherwise (a span past the base's wrap) they are in
        # arrival order and walked whole, as Wireshark does.
        self.u_seq: list[int] = []
        self.u_next: list[int] = []
        self.u_frame: list[int] = []
        self.u_ts: list[int] = []
        self.u_key: list[int] = []
        self.max_key = 0
        self.ordered = True


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
    `acks_frame`/`ack_rtt_ns`, `bytes_in_flight`, `push_bytes_sent`, `initial_rtt_ns` and
    `rto_ns`/`rto_frame` describe that segment, as tshark shows them; 0 means "not shown"
    (`ack_rtt_ns` goes with a non-zero `acks_frame`; initial_rtt appears only when the
    segment has an analysis to show; rto only on a plain retransmission).

    `feed` is one long method on purpose: the first pass calls it for every TCP segment of
    a capture, and Python method calls and attribute lookups are what it costs. Each rule
    still has its own comment, in Wireshark's order.

    With `values=False` only the flags (and duplicate-ACK numbers, initial RTT) are
    computed: they do not depend on which segments are unacknowledged, only on how many
    (Wireshark stops listing them at 1000), so the list keeps just their ends, and the
    per-segment numbers stay 0. The first pass runs that way over a whole capture, and
    replays one connection with values when someone looks at its numbers.
    """

    def __init__(self, values: bool = True) -> None:
        self._values = values
        self._streams: dict[int, _Stream] = {}
        self._convs: set[Hashable] = set()   # address/port pairs that had a stream
        self.dupack_num = 0
        self.dupack_frame = 0
        self.acks_frame = 0
        self.ack_rtt_ns = 0
        self.bytes_in_flight = 0
        self.initial_rtt_ns = 0
        self.push_bytes_sent = 0
        self.rto_ns = 0
        self.rto_frame = 0

    def feed(self, frame: int, ts_ns: int, stream: int, direction: int, flags: int,
             seq: int, ack: int, window: int, win_scale: int, seglen: int,
             conv: Hashable = None, sack: Sequence[tuple[int, int]] = ()) -> int:
        """Analyze one segment (direction 1 or 2, raw seq/ack/window, win_scale as
        pkt.tcp.win_scale, seglen = payload bytes); `conv` names the address/port pair,
        so a new stream on a pair seen before is flagged as reused ports; `sack` holds the
        segment's raw SACK blocks (left, right). Returns flags."""
        M = _M32
        self.dupack_num = self.dupack_frame = self.acks_frame = self.ack_rtt_ns = 0
        self.bytes_in_flight = self.push_bytes_sent = self.rto_ns = self.rto_frame = 0
        touched = False    # Wireshark made its per-segment record: the tree shows
        out = 0
        st = self._streams.get(stream)
        if st is None:
            st = self._streams[stream] = _Stream()
            if conv is not None:
                # REUSED PORTS: a SYN opened a new stream on an address/port pair that an
                # earlier stream used (the dissector split it off because the ISN changed).
                if conv in self._convs and flags & (SYN | ACK) == SYN:
                    out = REUSED_PORTS
                self._convs.add(conv)
        if direction == 1:
            fwd, rev = st.flows
        else:
            rev, fwd = st.flows
        fwd.win_scale = win_scale

        # Initial RTT: from the latest SYN to the first segment with ACK and without SYN.
        syn_ack = flags & (SYN | ACK)
        if syn_ack == SYN:
            st.mru_syn = ts_ns
        elif syn_ack == ACK and not st.first_rtt and st.mru_syn:
            st.first_rtt = ts_ns - st.mru_syn
        first_rtt = st.first_rtt

        if not fwd.base_set:
            fwd.base_seq = seq if flags & SYN else (seq - 1) & M
            fwd.base_set = True
        if flags & ACK:
            if not rev.base_set:
                rev.base_seq = (ack - 1) & M
                rev.base_set = True
            rev.valid_bif = True

        # -- checks on what this side sends (a skip is Wireshark's `goto finished_fwd`) --
        nextseq = fwd.nextseq
        plain = not flags & _SFR
        same_pos = seglen == 0 and seq == nextseq and ack == fwd.lastack and plain
        if seglen == 1 and seq == nextseq and rev.window == 0:
            # ZERO WINDOW PROBE: one byte at the next expected sequence while the peer's
            # window is 0.
            out |= ZERO_WINDOW_PROBE
        else:
            # ZERO WINDOW: this sender advertises no room, outside SYN/FIN/RST.
            if window == 0 and plain:
                out |= ZERO_WINDOW
            # LOST SEGMENT: the segment starts beyond the highest sequence seen, so the
            # capture missed something (not checked on RST).
            if nextseq and 0 < (seq - nextseq) & M < _HALF and not flags & RST:
                out |= LOST_SEGMENT
                fwd.valid_bif = False
            # KEEP ALIVE: 0 or 1 byte starting one byte before the next expected sequence.
            if seglen <= 1 and seq == (nextseq - 1) & M and plain:
                out |= KEEP_ALIVE
            # WINDOW UPDATE: an empty segment repeating seq/ack with a new, non-zero window.
            if same_pos and window and window != fwd.window:
                out |= WINDOW_UPDATE
            # WINDOW FULL: data reaching exactly the right edge of the peer's window (only
            # once the peer's scaling is known).
            if seglen > 0 and plain and rev.win_scale != -1:
                shift = 0 if rev.win_scale == -2 else rev.win_scale
                if (seq + seglen) & M == (rev.lastack + (rev.window << shift)) & M:
                    out |= WINDOW_FULL
            if same_pos and window and window == fwd.window:
                if rev.lastsegflags & KEEP_ALIVE:
                    # KEEP ALIVE ACK: an unchanged empty ACK answering the peer's keep-alive.
                    out |= KEEP_ALIVE_ACK
                else:
                    # DUPLICATE ACK: an empty segment repeating seq, ack and the (non-zero)
                    # window.
                    fwd.dupacknum = (fwd.dupacknum + 1) & M
                    out |= DUPLICATE_ACK
                    self.dupack_num = fwd.dupacknum
                    self.dupack_frame = fwd.lastnondupack
            elif same_pos and window == 0 and fwd.window == 0 \
                    and rev.lastsegflags & ZERO_WINDOW_PROBE:
                # ZERO WINDOW PROBE ACK: an unchanged zero-window ACK answering a probe.
                out |= ZERO_WINDOW_PROBE_ACK

        # -- checks on what this side acknowledges --
        # A new ACK number restarts the duplicate-ACK count.
        if ack != fwd.lastack:
            fwd.lastnondupack = frame
            fwd.dupacknum = 0
        # ACK LOST SEGMENT: this ACK covers data of the peer the capture never showed.
        # The edge jumps to the peer's nextseq so one gap is reported once; when it is
        # already there, the peer's dup-ACK counter is parked at 2**32 - 1 (a C unsigned
        # -1) so a stalled peer sending pure ACKs does not repeat it. That parked value
        # also satisfies the ">= 2 dup ACKs" test of fast retransmission, as in tshark.
        edge = rev.maxseqtobeacked
        if edge and flags & ACK and 0 < (ack - edge) & M < _HALF:
            touched = True
            if (edge - rev.nextseq) & M >= _HALF:
                rev.maxseqtobeacked = rev.nextseq
                out |= ACK_LOST_SEGMENT
            else:
                if rev.dupacknum == 0:
                    out |= ACK_LOST_SEGMENT
                rev.dupacknum = M

        # Data (or SYN/FIN) that is not new is one of the resend kinds; a keep-alive is
        # none of them. Wireshark's unsigned time differences make a segment stamped before
        # the reference never "recent". Fast and spurious ones also carry RETRANSMISSION,
        # because tshark then shows tcp.analysis.retransmission too.
        synfin = flags & (SYN | FIN)
        if (seglen > 0 or synfin) and not out & KEEP_ALIVE:
            not_advanced = nextseq != 0 and (seq - nextseq) & M >= _HALF
            # More than one byte starting one before nextseq adds data after a possible
            # zero-window probe: not a resend (spurious is still checked).
            if seglen > 1 and (nextseq - 1) & M == seq:
                not_advanced = False
            t = ts_ns - rev.lastacktime
            if not_advanced and rev.dupacknum >= 2 and rev.lastack == seq \
                    and 0 <= t < FAST_RETRANS_NS:
                # FAST RETRANSMISSION: the peer sent 2+ duplicate ACKs for this sequence,
                # the last one less than 20 ms ago.
                out |= FAST_RETRANSMISSION | RETRANSMISSION
            elif seglen > 0 and rev.lastack \
                    and not 0 < ((seq + seglen) - rev.lastack) & M < _HALF:
                # SPURIOUS RETRANSMISSION: data the peer has already acknowledged.
                out |= SPURIOUS_RETRANSMISSION | RETRANSMISSION
            elif not_advanced and 0 <= ts_ns - fwd.nextseqtime < (first_rtt or OOO_DEFAULT_NS) \
                    and nextseq != (seq + seglen + (1 if synfin else 0)) & M:
                # OUT OF ORDER: within one initial RTT (3 ms if unknown) of the highest
                # segment, and not ending exactly where it does (SYN and FIN count one).
                out |= OUT_OF_ORDER
            elif not_advanced:
                # RETRANSMISSION: everything else that goes backwards. Its RTO is measured
                # from the eldest unacknowledged segment (else from the highest one).
                out |= RETRANSMISSION
                if fwd.u_ts:
                    eldest = fwd.u_frame.index(min(fwd.u_frame))
                    self.rto_ns = ts_ns - fwd.u_ts[eldest]
                    self.rto_frame = fwd.u_frame[eldest]
                else:
                    self.rto_ns, self.rto_frame = ts_ns - fwd.nextseqtime, fwd.nextseqframe

        # Remember the segment as unacked (SYN and FIN count one), advance nextseq and the
        # contiguous edge; a zero-window probe advances neither.
        end = (seq + seglen) & M
        useq = fwd.u_seq
        if (seglen or synfin) and len(fwd.u_next) < MAX_UNACKED:
            if synfin:
                end = (end + 1) & M
            if not self._values:
                unext = fwd.u_next
                if not unext:
                    fwd.ordered = True
                elif fwd.ordered and (end - unext[-1]) & M >= _HALF:
                    fwd.ordered = False      # a resend: ends no longer ascending
                unext.append(end)
        if (seglen or synfin) and self._values and len(useq) < MAX_UNACKED:
            keys = fwd.u_key
            key = (seq - fwd.base_seq) & M
            end_key = key + ((end - seq) & M)
            if not useq:
                # the first one in flight: the common case of _unacked, inline
                fwd.ordered = True
                fwd.max_key = end_key
                keys.append(key)
                useq.append(seq)
                fwd.u_next.append(end)
                fwd.u_frame.append(frame)
                fwd.u_ts.append(ts_ns)
            elif fwd.ordered and key >= keys[-1] and end_key - keys[0] < _ORDERED_SPAN:
                # in order after the others: the other common case, inline
                keys.append(key)
                useq.append(seq)
                fwd.u_next.append(end)
                fwd.u_frame.append(frame)
                fwd.u_ts.append(ts_ns)
                if end_key > fwd.max_key:
                    fwd.max_key = end_key
            else:
                self._unacked(fwd, frame, ts_ns, seq, end)
        if not out & ZERO_WINDOW_PROBE:
            if not nextseq or 0 < (end - nextseq) & M < _HALF:
                fwd.nextseq = end
                fwd.nextseqframe = frame
                fwd.nextseqtime = ts_ns
            if seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
                fwd.maxseqtobeacked = fwd.nextseq
        fwd.window = window
        fwd.lastack = ack
        fwd.lastacktime = ts_ns
        fwd.lastsegflags = out

        if not self._values:
            if rev.u_next:
                self._count_acked(rev, ack)
            self.initial_rtt_ns = first_rtt
            if out & DUPLICATE_ACK and not self.dupack_num:
                out &= ~DUPLICATE_ACK
            return out
        if rev.u_seq:
            self._acked(ts_ns, rev, ack)
        if seglen and useq and fwd.valid_bif:
            touched = True
            self._in_flight(fwd, rev, flags, seglen)
        fwd.sack = sack
        self.initial_rtt_ns = first_rtt
        if not (out or touched or self.acks_frame):
            # Nothing to report: tshark adds no SEQ/ACK analysis tree, so no initial_rtt.
            self.initial_rtt_ns = 0
        if out & DUPLICATE_ACK and not self.dupack_num:
            out &= ~DUPLICATE_ACK   # the parked counter wrapped to 0: tshark shows nothing
        return out

    @staticmethod
    def _unacked(fwd: _Flow, frame: int, ts_ns: int, seq: int, end: int) -> None:
        """Add a segment to the sender's unacknowledged list (see _Flow.ordered)."""
        M = _M32
        useq = fwd.u_seq
        if not useq:
            fwd.ordered = True
            fwd.max_key = 0
        if fwd.ordered:
            key = (seq - fwd.base_seq) & M
            end_key = key + ((end - seq) & M)
            keys = fwd.u_key
            if useq and max(end_key, fwd.max_key) - min(key, keys[0]) >= _ORDERED_SPAN:
                fwd.ordered = False     # too wide to sort: arrival order from now on
            else:
                if end_key > fwd.max_key:
                    fwd.max_key = end_key
                if not keys or key >= keys[-1]:
                    keys.append(key)
                else:                   # a resend: into its place by sequence number
                    i = bisect_right(keys, key)
                    keys.insert(i, key)
                    useq.insert(i, seq)
                    fwd.u_next.insert(i, end)
                    fwd.u_frame.insert(i, frame)
                    fwd.u_ts.insert(i, ts_ns)
                    return
        useq.append(seq)
        fwd.u_next.append(end)
        fwd.u_frame.append(frame)
        fwd.u_ts.append(ts_ns)

    @staticmethod
    def _count_acked(rev: _Flow, ack: int) -> None:
        """Without values: drop the ends this ACK covers (all that the count needs)."""
        M = _M32
        unext = rev.u_next
        if rev.ordered:
            k, n = 0, len(unext)
            while k < n and (ack - unext[k]) & M < _HALF:   # end <= ack
                k += 1
            if k:
                del unext[:k]
        else:
            unext[:] = [e for e in unext if 0 < (e - ack) & M < _HALF]
            if not unext:
                rev.ordered = True

    def _acked(self, ts_ns: int, rev: _Flow, ack: int) -> None:
        """Drop the peer's segments this ACK covers, trim a partly covered one; an exact
        match gives acks_frame and ack_rtt (the oldest such segment, as Wireshark's
        newest-first walk leaves it)."""
        M = _M32
        useq, unext, uframe = rev.u_seq, rev.u_next, rev.u_frame
        if rev.ordered:
            # Only entries starting before the ACK can be covered; they are the first ones.
            k, n = 0, len(useq)
            kept: list[int] = []
            match = -1
            while k < n and 0 < (ack - useq[k]) & M < _HALF:
                d = (ack - unext[k]) & M
                if d == 0:
                    if match < 0 or uframe[k] < uframe[match]:
                        match = k
                elif d >= _HALF:     # ends beyond the ACK: keep the rest of it
                    kept.append(k)
                k += 1
            if match >= 0:
                self.acks_frame = uframe[match]
                self.ack_rtt_ns = ts_ns - rev.u_ts[match]
            if kept:
                ak = (ack - rev.base_seq) & M
                for lst in (useq, unext, uframe, rev.u_ts, rev.u_key):
                    lst[:k] = [lst[i] for i in kept]
                for i in range(len(kept)):
                    useq[i] = ack
                    rev.u_key[i] = ak
            elif k:
                del useq[:k], unext[:k], uframe[:k], rev.u_ts[:k], rev.u_key[:k]
            if not useq:
                rev.ordered = True
            return
        i = len(useq) - 1
        while i >= 0:
            nxt = unext[i]
            if ack == nxt:
                self.acks_frame = uframe[i]
                self.ack_rtt_ns = ts_ns - rev.u_ts[i]
            elif 0 < (ack - useq[i]) & M < _HALF and not 0 < (ack - nxt) & M < _HALF:
                useq[i] = ack          # partly acknowledged: keep the rest
                i -= 1
                continue
            elif 0 < (nxt - ack) & M < _HALF:
                i -= 1
                continue
            del useq[i], unext[i], uframe[i], rev.u_ts[i]
            i -= 1
        if not useq:
            rev.ordered = True
            rev.u_key.clear()

    def _in_flight(self, fwd: _Flow, rev: _Flow, flags: int, seglen: int) -> None:
        """Bytes in flight after a data segment: the span of this side's unacked data,
        less what the peer's last SACK blocks report delivered; a SYN or FIN counts one
        in the span but is no data."""
        M = _M32
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
        if fwd.ordered and fwd.max_key <= M:
            first, last = fwd.u_key[0], fwd.max_key
        else:                           # arrival order, or past the base's wrap: scan
            first = min((s - base) & M for s in fwd.u_seq)
            last = max((n - base) & M for n in fwd.u_next)
        in_flight = (last - first) & M
        for left, right in rev.sack:
            in_flight = (in_flight - (right - left)) & M
        if 0 < in_flight < MAX_IN_FLIGHT:
            # tshark shows push_bytes_sent beside bytes_in_flight only.
            self.bytes_in_flight = in_flight - (1 if flags & (SYN | FIN) else 0)
            self.push_bytes_sent = fwd.push_bytes
