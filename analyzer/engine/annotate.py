"""Show TCP sequence analysis on frames dissected in order, as tshark's single pass does.

The analyzer (tcp_analysis.TcpAnalyzer) decides; this module registers the tcp.analysis.*
fields and expert items once and puts the results where a user looks: generated items in a
"[SEQ/ACK analysis]" subtree of the TCP layer, and the Info prefixes ("[TCP Retransmission] ")
in tshark's order. `read` feeds every frame through it; the TUI will read the same bits
from the first pass's per-frame columns.
"""
from __future__ import annotations

from typing import Any

from dissectors.fields import FT, REGISTRY, Severity, expert, field, protocol
from dissectors.packet import Packet
from dissectors.tree import Node

from . import tcp_analysis as ta

_S = Severity
# flag bit -> (expert item, Info prefix); declared once, filterable by name.
_FLAGS = {
    ta.RETRANSMISSION: (expert(
        "tcp.analysis.retransmission", "sequence", _S.NOTE,
        "This frame is a (suspected) retransmission",
        explain="The sender sent these bytes again: the first copy (or its ACK) was lost or "
                "late. Each one costs the request at least a retransmission timeout or a "
                "round trip.", remedy="Look for loss on the path or a congested receiver.",
        responsible="path"), "[TCP Retransmission] "),
    ta.FAST_RETRANSMISSION: (expert(
        "tcp.analysis.fast_retransmission", "sequence", _S.NOTE,
        "This frame is a (suspected) fast retransmission",
        explain="Resent after duplicate ACKs (not a timeout): loss was detected within about "
                "one round trip.", responsible="path"), "[TCP Fast Retransmission] "),
    ta.SPURIOUS_RETRANSMISSION: (expert(
        "tcp.analysis.spurious_retransmission", "sequence", _S.NOTE,
        "This frame is a (suspected) spurious retransmission",
        explain="Resent although the receiver had already acknowledged it: the sender's "
                "timer fired too early (RTT jump) or the ACK was lost."),
        "[TCP Spurious Retransmission] "),
    ta.OUT_OF_ORDER: (expert(
        "tcp.analysis.out_of_order", "sequence", _S.WARN,
        "This frame is a (suspected) out-of-order segment",
        explain="Arrived after later data: reordering on the path (multipath, LAG), or a "
                "retransmission sent quickly."), "[TCP Out-Of-Order] "),
    ta.LOST_SEGMENT: (expert(
        "tcp.analysis.lost_segment", "sequence", _S.WARN,
        "Previous segment(s) not captured (common at capture start)",
        explain="A gap in the sequence numbers: lost on the path before the capture point, "
                "or dropped by the capture itself."), "[TCP Previous segment not captured] "),
    ta.ACK_LOST_SEGMENT: (expert(
        "tcp.analysis.ack_lost_segment", "sequence", _S.WARN,
        "ACKed segment that wasn't captured (common at capture start)",
        explain="The peer acknowledged data the capture never saw: the capture missed it "
                "(drops, asymmetric routing), the network did not."),
        "[TCP ACKed unseen segment] "),
    ta.DUPLICATE_ACK: (expert(
        "tcp.analysis.duplicate_ack", "sequence", _S.NOTE, "Duplicate ACK",
        explain="The receiver repeats its ACK because data after a gap arrived: the signal "
                "senders use for fast retransmission.", responsible="path"), ""),
    ta.ZERO_WINDOW: (expert(
        "tcp.analysis.zero_window", "sequence", _S.WARN, "TCP Zero Window segment",
        explain="The receiver's buffer is full: its application is not reading fast enough. "
                "This is the receiving process, not the network.",
        remedy="Find what blocks the reader (CPU, GC, a slow downstream call).",
        responsible="receiver"), "[TCP ZeroWindow] "),
    ta.ZERO_WINDOW_PROBE: (expert(
        "tcp.analysis.zero_window_probe", "sequence", _S.NOTE, "TCP Zero Window Probe",
        explain="The sender probes a zero window to learn when it opens again."),
        "[TCP ZeroWindowProbe] "),
    ta.ZERO_WINDOW_PROBE_ACK: (expert(
        "tcp.analysis.zero_window_probe_ack", "sequence", _S.NOTE,
        "ACK to a TCP Zero Window Probe",
        explain="The receiver answers a probe; a window still at zero means the stall goes "
                "on."), "[TCP ZeroWindowProbeAck] "),
    ta.WINDOW_FULL: (expert(
        "tcp.analysis.window_full", "sequence", _S.WARN, "TCP window specified by the "
        "receiver is now completely full",
        explain="The sender filled the receiver's advertised window and must wait: throughput "
                "is capped by the receive window (or a slow reader)."), "[TCP Window Full] "),
    ta.WINDOW_UPDATE: (expert(
        "tcp.analysis.window_update", "sequence", _S.CHAT, "TCP window update",
        explain="Only the window changed: the receiver freed buffer space."),
        "[TCP Window Update] "),
    ta.KEEP_ALIVE: (expert(
        "tcp.analysis.keep_alive", "sequence", _S.NOTE, "TCP keep-alive segment",
        explain="An idle connection checks its peer is alive (also how Linux's zero-window "
                "probes look)."), "[TCP Keep-Alive] "),
    ta.KEEP_ALIVE_ACK: (expert(
        "tcp.analysis.keep_alive_ack", "sequence", _S.NOTE, "ACK to a TCP keep-alive segment",
        explain="The peer answered a keep-alive: the connection is alive."),
        "[TCP Keep-Alive ACK] "),
    ta.REUSED_PORTS: (expert(
        "tcp.analysis.reused_ports", "sequence", _S.NOTE,
        "A new tcp session is started with the same ports as an earlier session in this "
        "trace",
        explain="A client reused a port pair: fine after TIME_WAIT, a sign of port "
                "exhaustion or very fast reconnects when frequent."),
        "[TCP Port numbers reused] "),
}
# tshark prepends each prefix as it checks the flag, so later checks show first.
_PREFIX_ORDER = (ta.REUSED_PORTS, ta.RETRANSMISSION, ta.LOST_SEGMENT, ta.ACK_LOST_SEGMENT,
                 ta.KEEP_ALIVE, ta.WINDOW_UPDATE, ta.WINDOW_FULL, ta.KEEP_ALIVE_ACK,
                 ta.DUPLICATE_ACK, ta.ZERO_WINDOW_PROBE, ta.ZERO_WINDOW,
                 ta.ZERO_WINDOW_PROBE_ACK)
# The retransmission family shows one prefix: the most specific kind.
_RESEND = (ta.SPURIOUS_RETRANSMISSION, ta.FAST_RETRANSMISSION, ta.OUT_OF_ORDER,
           ta.RETRANSMISSION)

# Tree order: the specific retransmission kind before the generic flag, as tshark.
_TREE_ORDER = (ta.FAST_RETRANSMISSION, ta.SPURIOUS_RETRANSMISSION, ta.RETRANSMISSION,
               *(flag for flag in _FLAGS if flag not in (
                   ta.FAST_RETRANSMISSION, ta.SPURIOUS_RETRANSMISSION, ta.RETRANSMISSION)))

TIME_RELATIVE = field("tcp.time_relative", "Time since first frame in this TCP stream",
                      FT.RELATIVE_TIME,
                      explain="Where in the connection's life this segment falls: a late FIN "
                              "or RST after a long idle time points at an idle timeout.")
TIME_DELTA = field("tcp.time_delta", "Time since previous frame in this TCP stream",
                   FT.RELATIVE_TIME,
                   explain="A long gap before a server's response is think time; before a "
                           "retransmission it is the retransmission timeout.")
ANALYSIS = field("tcp.analysis", "SEQ/ACK analysis", FT.NONE,
                 blurb="This TCP segment's sequence analysis")
FLAGS = field("tcp.analysis.flags", "TCP Analysis Flags", FT.NONE,
              blurb="This frame has some of the TCP analysis flags set")
DUPACK_NUM = field("tcp.analysis.duplicate_ack_num", "Duplicate ACK #", FT.UINT32)
DUPACK_FRAME = field("tcp.analysis.duplicate_ack_frame", "Duplicate to the ACK in frame",
                     FT.FRAMENUM)
ACKS_FRAME = field("tcp.analysis.acks_frame", "This is an ACK to the segment in frame",
                   FT.FRAMENUM)
ACK_RTT = field("tcp.analysis.ack_rtt", "The RTT to ACK the segment was", FT.RELATIVE_TIME,
                explain="Time from a segment to the ACK that covered it: the path RTT plus "
                        "the receiver's delayed-ACK time.")
INITIAL_RTT = field("tcp.analysis.initial_rtt", "iRTT", FT.RELATIVE_TIME,
                    blurb="How long it took for the SEQ/ACK analysis to see the 3-way "
                          "handshake",
                    explain="The handshake round trip: the network's share of every request "
                            "on this connection.")
IN_FLIGHT = field("tcp.analysis.bytes_in_flight", "Bytes in flight", FT.UINT32,
                  explain="Sent but not yet acknowledged: compare with the receive window to "
                          "spot window-limited transfers.")
RTO = field("tcp.analysis.rto", "The RTO for this segment was", FT.RELATIVE_TIME,
            blurb="How long before this segment was retransmitted",
            explain="Time from the eldest unacknowledged segment to this retransmission: "
                    "the retransmission timeout the request waited out (Linux starts at "
                    "200 ms plus RTT variance and doubles it on each retry).")
RTO_FRAME = field("tcp.analysis.rto_frame", "RTO based on delta from frame", FT.FRAMENUM)
PUSH_BYTES = field("tcp.analysis.push_bytes_sent", "Bytes sent since last PSH flag",
                   FT.UINT32)


class SequenceAnnotator:
    """Feeds each in-order frame's TCP segment to one TcpAnalyzer and shows the result."""

    def __init__(self) -> None:
        self.analyzer = ta.TcpAnalyzer()
        self._times: dict[int, list[int]] = {}   # stream -> [first ts, previous ts]

    def __call__(self, root: Node | None, pkt: Packet) -> int:
        """Analyze pkt's segment (if tshark would) and annotate; returns the flag bits."""
        if not ta.analyzable(pkt):
            return 0
        seg = pkt.tcp
        an = self.analyzer
        a, b = (pkt.net_src, pkt.srcport), (pkt.net_dst, pkt.dstport)
        bits = an.feed(pkt.number, pkt.ts_ns, seg.stream, seg.direction, seg.flags,
                       seg.seq_raw, seg.ack_raw, seg.win_raw, seg.win_scale, seg.len,
                       conv=(a, b) if a <= b else (b, a), sack=seg.sack or ())
        times = self._times.get(seg.stream)
        if times is None:
            times = self._times[seg.stream] = [pkt.ts_ns, pkt.ts_ns]
        since_first, since_prev = pkt.ts_ns - times[0], pkt.ts_ns - times[1]
        times[1] = pkt.ts_ns
        if not ta.analysis_shown(pkt):
            return 0
        self._info(pkt, bits)
        if root is not None:
            tcp = next((n for n in root.children or () if n.spec is not None
                        and n.spec.abbrev == "tcp"), None)
            if tcp is not None:
                self._timestamps(tcp, since_first, since_prev)
                self._tree(tcp, bits)
        return bits

    @staticmethod
    def _timestamps(tcp: Node, since_first: int, since_prev: int) -> None:
        """tshark's [Timestamps] subtree: time within this connection."""
        t = tcp.add_text(tcp.pos, 0, "Timestamps")
        t.generated = True
        t.add(TIME_RELATIVE, tcp.pos, 0, since_first, generated=True)
        t.add(TIME_DELTA, tcp.pos, 0, since_prev, generated=True)
        _before_payload(tcp)

    def _info(self, pkt: Packet, bits: int) -> None:
        if not bits:
            return
        before = len(pkt.info)
        for flag in _PREFIX_ORDER:
            if flag == ta.RETRANSMISSION:
                kind = next((k for k in _RESEND if bits & k), 0)
                if kind:
                    pkt.prepend_info(_FLAGS[kind][1])
            elif bits & flag:
                prefix = _FLAGS[flag][1] or \
                    f"[TCP Dup ACK {self.analyzer.dupack_frame}#{self.analyzer.dupack_num}] "
                pkt.prepend_info(prefix)
        # An application layer that appends to Info with a separator (TLS: ", ") shows it
        # after tshark's prefixes too, as Wireshark's col_append_sep_str does after a fence.
        sep = pkt.hints.get("info_sep")
        if sep and before and len(pkt.info) > before:
            pkt.info.insert(len(pkt.info) - before, sep)

    def _tree(self, tcp: Node, bits: int) -> None:
        an = self.analyzer
        if not (bits or an.acks_frame or an.initial_rtt_ns or an.bytes_in_flight):
            return
        t = tcp.add(ANALYSIS, tcp.pos, 0, None, "SEQ/ACK analysis", generated=True)
        _before_payload(tcp)
        if an.acks_frame:
            t.add(ACKS_FRAME, tcp.pos, 0, an.acks_frame, generated=True)
            if an.ack_rtt_ns:
                t.add(ACK_RTT, tcp.pos, 0, an.ack_rtt_ns, generated=True)
        if an.initial_rtt_ns:
            t.add(INITIAL_RTT, tcp.pos, 0, an.initial_rtt_ns, generated=True)
        if an.bytes_in_flight:
            t.add(IN_FLIGHT, tcp.pos, 0, an.bytes_in_flight, generated=True)
        if an.push_bytes_sent:
            t.add(PUSH_BYTES, tcp.pos, 0, an.push_bytes_sent, generated=True)
        if not bits:
            return
        f = t.add(FLAGS, tcp.pos, 0, None, "TCP Analysis Flags", generated=True)
        for flag in _TREE_ORDER:
            spec = _FLAGS[flag][0]
            if not bits & flag:
                continue
            if flag == ta.DUPLICATE_ACK:
                # tshark shows the flag item and its expert item (so -e prints "1,1").
                f.add(REGISTRY[spec.abbrev], tcp.pos, 0, None,
                      "This is a TCP duplicate ack", generated=True)
                f.add_expert(spec, tcp.pos, 0, f"Duplicate ACK (#{an.dupack_num})")
                f.add(DUPACK_NUM, tcp.pos, 0, an.dupack_num, generated=True)
                f.add(DUPACK_FRAME, tcp.pos, 0, an.dupack_frame, generated=True)
            else:
                f.add_expert(spec, tcp.pos, 0)
                if flag == ta.RETRANSMISSION and an.rto_frame:
                    f.add(RTO, tcp.pos, 0, an.rto_ns, generated=True)
                    f.add(RTO_FRAME, tcp.pos, 0, an.rto_frame, generated=True)


def _before_payload(tcp: Node) -> None:
    """Move the just-added item before the TCP payload, where tshark shows it."""
    kids = tcp.children
    if not kids:
        return
    for i, node in enumerate(kids):
        if node.spec is not None and node.spec.abbrev == "tcp.payload":
            kids.insert(i, kids.pop())
            return


WIRELENS = protocol("wirelens", "wirelens diagnoses",
                    explain="What this packet means for the service, beyond Wireshark's expert "
                            "items: the diagnoses `wirelens report` lists, on the frames they "
                            "rest on.")
WHY = field("wirelens.explanation", "Why", FT.STRING)
DO = field("wirelens.remedy", "What to do", FT.STRING)


class FindingAnnotator:
    """Shows the first pass's findings on the frames they rest on (`read -2`): a short
    suffix in Info, like Wireshark's "[TCP Retransmission]", and a "wirelens diagnoses"
    subtree with each finding, its explanation and remedy (filterable by its id)."""

    def __init__(self, capture: Any) -> None:
        self.capture = capture

    def __call__(self, root: Node | None, pkt: Packet) -> None:
        found = self.capture.findings_of(pkt.number - 1)
        if not found:
            return
        for f in found:
            pkt.append_info(f"[{f.spec.summary}]")
        if root is None:
            return
        t = root.add(WIRELENS, 0, 0, None, "wirelens diagnoses", generated=True)
        for f in found:
            e = t.add_expert(f.spec, 0, 0, f"{f.spec.summary}: {f.summary}")
            e.add(WHY, 0, 0, f.explanation or f.spec.explain, generated=True)
            e.add(DO, 0, 0, f.remedy or f.spec.remedy, generated=True)
