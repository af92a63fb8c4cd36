"""TCP diagnoses: what the connections in a capture say about a backend, in plain words.

Each kind is registered once (findings.kind) with its mechanism and remedy; the detectors below
read the first pass's columns and the per-connection table (tcp_flows) and emit one Finding per
occurrence, with the numbers, the frames it rests on and the party responsible. They never
blame the wrong party: SYNs a listening port leaves unanswered while it accepts others are the
server's accept queue, not the network; a zero window is the receiving application; a RST is
attributed to the side that sent it, and one sent by a middlebox in the server's name is told
apart by its TTL.

Thresholds are stated where they are defined. Everything here runs after the first pass, on
numbers already in columns; only connections that need a closer look are visited in Python.
"""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from dissectors.fields import Severity

from . import tcp_analysis as ta
from .findings import Finding, kind
from .firstpass import Capture
from .summary import ACK, FIN, IPPROTO_ICMP, IPPROTO_ICMPV6, RST, SYN, TRANSPORT
from .tcp_flows import StreamTable, zero_window_stalls

_E, _W, _N = Severity.ERROR, Severity.WARN, Severity.NOTE
MS = 1_000_000
SEC = 1_000_000_000

REFUSED = kind(
    "wirelens.conn.refused", _E, "Connection refused",
    explain="The server's kernel answered the SYN with a RST: nothing listens on that port "
            "(service down, wrong port, container not ready) or a firewall REJECT rule "
            "answered for it. The caller fails at once with ECONNREFUSED.",
    remedy="Check the service is running and listening on that address and port (ss -ltn), "
           "that the client uses the right port, and firewall REJECT rules.",
    responsible="server")
SYN_TIMEOUT = kind(
    "wirelens.conn.syn_timeout", _E, "Connection attempt never answered",
    explain="SYNs got neither a SYN/ACK nor a RST: they were dropped silently (a firewall "
            "DROP rule, a security group, a down host, a wrong route). The caller retries with "
            "exponential backoff and blocks until its connect timeout.",
    remedy="Check firewalls and security groups between the two hosts and that the server "
           "address is right and up; set a short connect timeout so callers fail fast.",
    responsible="path")
SYN_RETRY = kind(
    "wirelens.conn.syn_retry", _W, "Handshake needed retries",
    explain="The connection was established only after the SYN or the SYN/ACK was sent "
            "again: the first try was lost. Each retry costs a full retransmission timeout "
            "(1 s on Linux), which shows up as a slow first request.",
    remedy="Look for loss on the path or an overloaded listener (SYN backlog); check "
           "netstat -s for 'SYNs to LISTEN sockets dropped'.",
    responsible="path")
ACCEPT_QUEUE = kind(
    "wirelens.conn.accept_queue", _E, "Listen backlog overflow",
    explain="The port accepts some connections but leaves others' SYNs unanswered, and the "
            "established ones get their requests ACKed by the kernel but never answered: the "
            "application does not call accept() fast enough, its accept queue (listen "
            "backlog) is full, and the kernel drops new SYNs. This is the server, not the "
            "network.",
    remedy="Find why the server stopped accepting (blocked event loop, exhausted worker "
           "pool, stuck threads); raise the listen backlog and net.core.somaxconn; check "
           "'ss -ltn' Recv-Q and netstat -s 'times the listen queue of a socket overflowed'.",
    responsible="server")
RST_UNREAD = kind(
    "wirelens.rst.unread_data", _E, "Reset: closed with unread data",
    explain="The side that reset closed its socket while the peer's data was still unread "
            "(Linux sends a RST instead of a FIN when close() discards received data). The "
            "peer's request was never answered and it sees ECONNRESET.",
    remedy="Make the resetting application read the whole request (or drain it) before "
           "closing, and answer with an error instead of closing on bad input.",
    responsible="unknown")
RST_ABORT = kind(
    "wirelens.rst.abort", _W, "Reset: abortive close",
    explain="The connection ended with a RST while nothing of the peer's was pending: an "
            "abortive close (SO_LINGER with a zero timeout, a killed or crashed process, a "
            "connection pool discarding a socket). The peer's next read or write fails with "
            "ECONNRESET.",
    remedy="If the peer needed a clean end, close with FIN (no zero linger) and check the "
           "resetting process for crashes or pool evictions.",
    responsible="unknown")
RST_IDLE = kind(
    "wirelens.rst.idle_timeout", _E, "Reset after an idle period",
    explain="The connection was idle, then the next segment was answered by a RST: a NAT, "
            "load balancer or firewall forgot the flow after its idle timeout. A RST whose TTL "
            "differs from the server's other packets was sent by a box on the path in the "
            "server's name.",
    remedy="Enable TCP keep-alives (or application pings) shorter than the middlebox's idle "
           "timeout, or make the client's pool drop idle connections sooner.",
    responsible="path")
RST_CLOSED = kind(
    "wirelens.rst.closed_port_data", _W, "Reset: data sent to a closed socket",
    explain="One side had already closed (sent its FIN); data the peer sent afterwards was "
            "answered by a RST. Typical of a client reusing a pooled keep-alive connection "
            "the server had just closed: the request fails with ECONNRESET or EPIPE.",
    remedy="Retry idempotent requests on a fresh connection; make the client's idle timeout "
           "shorter than the server's keep-alive timeout.",
    responsible="unknown")
PATH_LOSS = kind(
    "wirelens.path.loss", _W, "Packet loss on the path",
    explain="Data segments were sent more than once because the first copy (or its ACK) was "
            "lost. Fast retransmissions cost about one round trip; timeouts cost at least "
            "200 ms each. Where the capture saw the original, the loss is beyond the capture "
            "point; where it saw only a gap, before it.",
    remedy="Check interface errors and drops (ip -s link, ethtool -S), queue drops on the "
           "bottleneck, and the path's MTU; compare captures at both ends to place the loss.",
    responsible="path")
RTO_STALL = kind(
    "wirelens.path.rto_stall", _W, "Retransmission timeout stalled the flow",
    explain="A lost segment was recovered only by the retransmission timeout (too few packets "
            "in flight for duplicate ACKs to trigger a fast retransmission): the flow stopped "
            "for the whole timeout, at least 200 ms on Linux.",
    remedy="Look for loss on the path; for request/response traffic consider tail-loss "
           "probes (on by default in Linux) and check nothing disables SACK.",
    responsible="path")
MTU_BLACKHOLE = kind(
    "wirelens.path.mtu_blackhole", _E, "Path MTU black hole",
    explain="Full-size segments were sent again and again and never acknowledged while small "
            "ones passed, and no ICMP 'fragmentation needed' came back: a link on the path has "
            "a smaller MTU and the ICMP that would tell the sender is blocked. Handshakes and "
            "small requests work; large ones hang.",
    remedy="Let ICMP type 3 code 4 (ICMPv6 type 2) through firewalls, clamp the MSS on the "
           "tunnel or VPN (iptables TCPMSS --clamp-mss-to-pmtu), or enable "
           "net.ipv4.tcp_mtu_probing=1.",
    responsible="path")
ZERO_WINDOW = kind(
    "wirelens.window.zero", _W, "Receiver window closed",
    explain="The receiver advertised a zero window: its socket buffer was full because its "
            "application did not read. The sender had to stop and probe. This is the "
            "receiving process (slow consumer, blocked thread, GC pause), not the network.",
    remedy="Find what keeps the receiving application from reading (CPU, locks, a slow "
           "downstream call); read in a dedicated loop; a bigger receive buffer only delays it.",
    responsible="unknown")
WINDOW_LIMITED = kind(
    "wirelens.window.limited", _N, "Throughput capped by the receive window",
    explain="The sender repeatedly filled the receiver's advertised window and had to wait "
            "for it to open: the transfer ran at window / RTT, not at the path's speed.",
    remedy="Raise the receiver's buffer (net.ipv4.tcp_rmem, SO_RCVBUF; do not set it by hand "
           "so autotuning works) and check window scaling survives middleboxes.",
    responsible="unknown")
NAGLE = kind(
    "wirelens.tcp.nagle_delayed_ack", _W, "Nagle and delayed ACK stall",
    explain="The sender wrote a small segment, then held the next small write until the "
            "first was acknowledged (Nagle's algorithm), while the receiver delayed that ACK "
            "(about 40 ms on Linux, 200 ms elsewhere) waiting for more data. Each "
            "write-write-read exchange loses the delayed-ACK time.",
    remedy="Set TCP_NODELAY on the sending socket, or send each request in one write "
           "(writev, buffering).",
    responsible="unknown")
SERVER_SLOW = kind(
    "wirelens.server.slow", _W, "Slow server responses",
    explain="Requests reached the server quickly but the first byte of each response came "
            "much later: the time went into the server's own work (think time), not the "
            "network round trip or the transfer.",
    remedy="Profile the server's handling of these requests (slow queries, locks, downstream "
           "calls, cold caches); the network is not the bottleneck.",
    responsible="server")
CHURN = kind(
    "wirelens.conn.churn", _N, "New connection per request",
    explain="The client opened many short connections to the same service instead of reusing "
            "one: each pays a handshake round trip (and TLS handshake if any) before its "
            "request, and each close leaves a socket in TIME_WAIT on the closing side, which "
            "can exhaust ephemeral ports under load.",
    remedy="Use HTTP keep-alive or a connection pool in the client; check the server does "
           "not send 'Connection: close'.",
    responsible="client")

IDLE_NS = 1 * SEC            # an idle gap before the segment a RST answers
SYN_WAIT_NS = 3 * SEC        # a SYN this close to the capture's end may yet be answered
NAGLE_MIN_NS = 30 * MS       # delayed ACKs are 40 ms on Linux, 200 ms elsewhere
NAGLE_ROUNDS = 3
THINK_NS = 100 * MS          # server think time worth reporting...
THINK_RTTS = 3               # ...and larger than this many handshake RTTs
CHURN_MIN = 5                # connections to one service...
CHURN_MAX_EXCHANGES = 2      # ...each carrying at most this many request/response turns
FULL_SIZE = 1000             # a segment this large can be a victim of a PMTU black hole


def _frame(row: int) -> int:
    return int(row) + 1


@dataclass
class _Ctx:
    cap: Capture
    flows: StreamTable
    ts: np.ndarray
    blackholes: set[int]     # streams with a PMTU black hole: their resends are not "loss"

    def ms(self, ns: float) -> float:
        return round(ns / MS, 1)

    def addr(self, row: int, which: str) -> str:
        c = self.cap.cols
        v = int(getattr(c, which)[row])
        if c.ipver[row] == 6:
            return str(ipaddress.IPv6Address(c.v6_table[v].tobytes()))
        return str(ipaddress.IPv4Address(v))

    def ends(self, s: int) -> tuple[str, str]:
        """("client ip:port", "server ip:port") of stream s."""
        f = self.flows
        row = int(f.first_row[s])
        c = self.cap.cols
        src = f"{self.addr(row, 'src')}:{int(c.sport[row])}"
        dst = f"{self.addr(row, 'dst')}:{int(c.dport[row])}"
        from_client = self.cap.tcp.direction[row] == f.client_dir[s]
        return (src, dst) if from_client else (dst, src)

    def flow(self, s: int) -> str:
        c, srv = self.ends(s)
        return f"{c} -> {srv}"

    def who(self, s: int, side: int) -> str:
        return ("client", "server")[side]

    def finding(self, spec, s: int, summary: str, frames, **kw) -> Finding:
        return Finding(spec, summary, stream=s, proto="tcp", flow=self.flow(s),
                       frames=[_frame(r) for r in frames], **kw)


def diagnose(cap: Capture, flows: StreamTable) -> list[Finding]:
    """Every TCP diagnosis of a capture. Specific causes go first and keep the general ones
    from blaming someone else for the same packets: a full accept queue is not a SYN
    timeout, a PMTU black hole is not random loss."""
    ctx = _Ctx(cap, flows, np.asarray(cap.index.ts_ns, np.int64), set())
    queue = _accept_queue(ctx)
    skip = {s for f in queue for s in f.metrics["unanswered_streams"]}
    holes = _mtu_blackholes(ctx)
    ctx.blackholes.update(f.stream for f in holes)
    out = queue + holes + _refused(ctx) + _syn_timeouts(ctx, skip) + _syn_retries(ctx)
    for det in (_resets, _loss, _rto_stalls, _zero_windows, _window_limited, _nagle, _timing):
        out += det(ctx)
    return out


# -- handshakes -----------------------------------------------------------------------------
def _side_rows(ctx: _Ctx, s: int, side: int) -> np.ndarray:
    return ctx.flows.side_rows(s, side, ctx.cap.tcp.direction)


def _syn_rows(ctx: _Ctx, s: int) -> np.ndarray:
    rows = _side_rows(ctx, s, 0)
    return rows[(ctx.cap.cols.tcp_flags[rows] & (SYN | ACK)) == SYN]


def _refused(ctx: _Ctx) -> list[Finding]:
    """A SYN answered by the server's RST, without a SYN/ACK."""
    f, out = ctx.flows, []
    for s in np.flatnonzero(f.present & (f.syns > 0) & (f.synacks == 0) & (f.first_rst >= 0)):
        s = int(s)
        if f.side(s, int(f.rst_dir[s])) != 1:
            continue
        rst = int(f.first_rst[s])
        syns = _syn_rows(ctx, s)
        syns = syns[syns < rst]
        if not len(syns):
            continue
        wait = ctx.ts[rst] - ctx.ts[syns[-1]]
        client, server = ctx.ends(s)
        out.append(ctx.finding(
            REFUSED, s, f"{server} refused the connection from {client}: RST {ctx.ms(wait)} ms "
            f"after the SYN" + (f" ({len(syns)} SYNs)" if len(syns) > 1 else ""),
            [*syns.tolist(), rst], confidence=0.95,
            metrics={"syns": len(syns), "rst_after_ms": ctx.ms(wait), "server": server,
                     "rst_ttl": int(ctx.cap.cols.ttl[rst])}))
    return out


def _unanswered(ctx: _Ctx) -> list[int]:
    """Streams whose SYNs got no answer at all, leaving out a single SYN sent within
    SYN_WAIT_NS of the end of the capture (its answer or retry may simply not be in it)."""
    f = ctx.flows
    end = int(ctx.ts.max()) if len(ctx.ts) else 0
    return [int(s) for s in np.flatnonzero(f.present & (f.syns > 0) & (f.synacks == 0)
                                           & (f.first_rst < 0))
            if f.syns[s] > 1 or end - int(ctx.ts[f.first_syn[s]]) >= SYN_WAIT_NS]


def _accept_queue(ctx: _Ctx) -> list[Finding]:
    """A listener that answers some connections but leaves others' SYNs unanswered."""
    f, out = ctx.flows, []
    by_server: dict[str, list[int]] = defaultdict(list)
    for s in np.flatnonzero(f.present & (f.syns > 0)).tolist():
        by_server[ctx.ends(s)[1]].append(s)
    unanswered = set(_unanswered(ctx))
    for server, streams in by_server.items():
        # SYNs dropped again and again (a lossy path answers a retry), while others were
        # answered: one lost SYN is the path's, a listener that drops every try is full.
        lost = [s for s in streams if s in unanswered and f.syns[s] >= 2]
        ok = [s for s in streams if f.synacks[s] > 0]
        if not lost or not ok:
            continue
        # The listener was alive when the lost SYNs came: it had answered a SYN before.
        first_ok = min(int(f.first_synack[s]) for s in ok)
        lost = [s for s in lost if f.first_syn[s] > first_ok]
        if not lost:
            continue
        # Established connections whose client data was ACKed but never answered.
        stuck = [s for s in ok if f.payload[s, 0] > 0 and f.payload[s, 1] == 0]
        synack_rtx = int(sum(max(0, int(f.synacks[s]) - 1) for s in ok))
        syns = sum(int(f.syns[s]) for s in lost)
        frames = [int(f.first_syn[s]) for s in lost] + [int(f.first_synack[s]) for s in ok]
        out.append(Finding(
            ACCEPT_QUEUE,
            f"{server} answered {len(ok)} connection(s) but left {len(lost)} unanswered "
            f"({syns} SYNs dropped)" + (f"; {len(stuck)} established connection(s) had their "
                                        "request ACKed but never answered" if stuck else ""),
            stream=lost[0], proto="tcp", flow=ctx.flow(lost[0]), frames=[_frame(r) for r in frames],
            confidence=0.9 if stuck or synack_rtx else 0.7,
            metrics={"server": server, "answered_connections": len(ok),
                     "unanswered_connections": len(lost), "dropped_syns": syns,
                     "synack_retransmissions": synack_rtx, "unanswered_streams": lost,
                     "stuck_streams": stuck}))
    return out


def _syn_timeouts(ctx: _Ctx, skip: set[int]) -> list[Finding]:
    """SYNs never answered, with the retry schedule and the time the caller lost."""
    out = []
    for s in _unanswered(ctx):
        if s in skip:
            continue
        syns = _syn_rows(ctx, s)
        if not len(syns):
            continue
        t = ctx.ts[syns] - ctx.ts[syns[0]]
        gaps = np.diff(t)
        client, server = ctx.ends(s)
        retries = ", ".join(f"+{x / SEC:.1f} s" for x in t[1:].tolist())
        lost = int(t[-1])
        # Linux doubles the wait after each try; its give-up comes one more backoff later.
        give_up = lost + 2 * int(gaps[-1]) if len(gaps) else 0
        summary = f"{len(syns)} SYN(s) from {client} to {server} got no answer"
        if len(syns) > 1:
            summary += f" (retries at {retries}); the caller waited {lost / SEC:.1f} s"
            if give_up:
                summary += f" and, with this backoff, gives up about {give_up / SEC:.0f} s " \
                           "after the first SYN"
        out.append(ctx.finding(
            SYN_TIMEOUT, s, summary, syns.tolist(), confidence=0.9 if len(syns) > 1 else 0.6,
            metrics={"syns": len(syns), "retry_at_s": [round(x / SEC, 3) for x in t[1:].tolist()],
                     "backoff_s": [round(x / SEC, 3) for x in gaps.tolist()],
                     "waited_s": round(lost / SEC, 3),
                     "expected_give_up_s": round(give_up / SEC, 1) if give_up else None,
                     "server": server}))
    return out


def _syn_retries(ctx: _Ctx) -> list[Finding]:
    """Handshakes that succeeded only after the SYN or SYN/ACK was sent again."""
    f, out = ctx.flows, []
    for s in np.flatnonzero(f.present & (f.synacks > 0) & ((f.syns > 1) | (f.synacks > 1))):
        s = int(s)
        syns = _syn_rows(ctx, s)
        synack = int(f.first_synack[s])
        before = syns[syns < synack]
        if not len(before):
            continue
        srv = _side_rows(ctx, s, 1)
        synacks = srv[(ctx.cap.cols.tcp_flags[srv] & (SYN | ACK)) == (SYN | ACK)]
        lost = int(ctx.ts[before[-1]] - ctx.ts[before[0]]) + \
            (int(ctx.ts[synacks[-1]] - ctx.ts[synacks[0]]) if len(synacks) > 1 else 0)
        out.append(ctx.finding(
            SYN_RETRY, s, f"handshake needed {len(before)} SYN(s) and {len(synacks)} SYN/ACK(s):"
            f" {lost / SEC:.2f} s lost before the connection was up",
            [*before.tolist(), *synacks.tolist()], confidence=0.9,
            metrics={"syns": len(before), "synacks": len(synacks), "lost_s": round(lost / SEC, 3)}))
    return out


# -- resets -----------------------------------------------------------------------------------
def _resets(ctx: _Ctx) -> list[Finding]:
    """Who reset an established (or mid-stream) connection, and why."""
    f, cols, out = ctx.flows, ctx.cap.cols, []
    for s in np.flatnonzero(f.present & (f.first_rst >= 0) & ((f.synacks > 0) | (f.syns == 0))):
        s = int(s)
        rst = int(f.first_rst[s])
        by = f.side(s, int(f.rst_dir[s]))
        peer = 1 - by
        rows = f.rows_of(s)
        before = rows[rows < rst]
        d = ctx.cap.tcp.direction[before]
        mine = d == (f.client_dir[s] if by == 0 else 3 - f.client_dir[s])
        data = cols.plen[before] > 0
        my_data, peer_data = before[mine & data], before[~mine & data]
        fin = int(f.first_fin[s, by])
        who, other = ctx.who(s, by), ctx.who(s, peer)
        client, server = ctx.ends(s)
        me = (client, server)[by]
        common = {"rst_from": who, "rst_frame": _frame(rst), "rst_ttl": int(cols.ttl[rst])}
        if 0 <= fin < rst and len(peer_data) and peer_data[-1] > fin:
            late = peer_data[peer_data > fin]
            nbytes = int(cols.plen[late].sum())
            # The peer's own close message (a TLS close_notify, then its FIN) is harmless.
            peer_fin = int(f.first_fin[s, peer])
            closing = 0 <= peer_fin and peer_fin >= int(late[-1]) and nbytes <= 64 and \
                ctx.ts[peer_fin] - ctx.ts[late[-1]] < 10 * MS
            out.append(ctx.finding(
                RST_CLOSED, s, f"{other} sent {nbytes} bytes after {who} {me} had closed; "
                f"{who} answered with a RST" + (" (the peer's own closing message: harmless)"
                                                 if closing else ""),
                [fin, *late.tolist(), rst], responsible=other,
                severity=_N if closing else None, confidence=0.9,
                metrics=common | {"late_bytes": nbytes}))
            continue
        trigger = before[~mine]
        idle = 0
        if len(trigger) and len(before) > 1:
            last = int(trigger[-1])
            prev = before[before < last]
            if len(prev) and cols.plen[last] > 0:
                idle = int(ctx.ts[last] - ctx.ts[prev[-1]])
        usual = cols.ttl[before[mine]]
        usual_ttl = int(np.median(usual)) if len(usual) else -1
        spoofed = usual_ttl >= 0 and int(cols.ttl[rst]) != usual_ttl
        rtt = int(f.irtt_ns[s])
        if idle >= IDLE_NS and idle >= 20 * rtt:
            summary = f"after {idle / SEC:.1f} s idle, {other}'s next segment was answered by " \
                      f"a RST in {who} {me}'s name"
            if spoofed:
                summary += f" with TTL {int(cols.ttl[rst])} (its packets arrive with " \
                           f"{usual_ttl}): a middlebox on the path forgot the flow"
            out.append(ctx.finding(
                RST_IDLE, s, summary, [int(trigger[-1]), rst], responsible="path",
                confidence=0.9 if spoofed else 0.7,
                metrics=common | {"idle_s": round(idle / SEC, 3), "usual_ttl": usual_ttl,
                                  "sent_by_middlebox": spoofed}))
            continue
        if len(peer_data) and (not len(my_data) or peer_data[-1] > my_data[-1]):
            unread = peer_data[peer_data > my_data[-1]] if len(my_data) else peer_data
            nbytes = int(cols.plen[unread].sum())
            out.append(ctx.finding(
                RST_UNREAD, s, f"{who} {me} reset the connection "
                f"{ctx.ms(ctx.ts[rst] - ctx.ts[unread[-1]])} ms after {other}'s last {nbytes} "
                f"bytes arrived, without answering them: it closed with data unread",
                [*unread[-3:].tolist(), rst],
                responsible=who, confidence=0.85, metrics=common | {"unread_bytes": nbytes}))
            continue
        sent = int(cols.plen[my_data].sum())
        out.append(ctx.finding(
            RST_ABORT, s, f"{who} {me} aborted the connection with a RST"
            + (f" right after sending {sent} bytes" if len(my_data) else "")
            + f"; {other} had nothing pending", [*my_data[-2:].tolist(), rst],
            responsible=who, confidence=0.8, metrics=common | {"sent_bytes": sent}))
    return out


# -- loss and timeouts ------------------------------------------------------------------------
def _loss(ctx: _Ctx) -> list[Finding]:
    """Resent data per host pair and direction, and where the loss lies. Wireshark calls a
    resend that comes within one RTT of the highest segment "out-of-order"; it is counted
    here too, since on a path that drops it is the resend that fills a gap."""
    f, tcp, out = ctx.flows, ctx.cap.tcp, []
    pairs: dict[tuple[str, str], list[int]] = defaultdict(list)
    resent = ta.RETRANSMISSION | ta.OUT_OF_ORDER
    for s in np.flatnonzero(f.present & (f.resent.sum(1) > 0)).tolist():
        if s in ctx.blackholes:
            continue      # those resends are the MTU black hole's, reported as such
        c, srv = ctx.ends(s)
        pairs[(c.rsplit(":", 1)[0], srv.rsplit(":", 1)[0])].append(s)
    for (chost, shost), streams in pairs.items():
        for side in (0, 1):
            sent = sum(int(f.data_segs[s, side]) for s in streams)
            rtx = sum(int(f.resent[s, side]) for s in streams)
            if not rtx:
                continue
            fast = sum(int(f.fast_retrans[s, side]) for s in streams)
            frames: list[int] = []
            gaps = 0
            for s in streams:
                rows = _side_rows(ctx, s, side)
                b = tcp.bits[rows]
                frames += rows[(b & resent) != 0][:8].tolist()
                gaps += int(np.count_nonzero(b & ta.LOST_SEGMENT))
            rate = rtx / max(1, sent)
            src, dst = (chost, shost) if side == 0 else (shost, chost)
            where = (f"the capture saw {gaps} gap(s): segments lost before the capture point"
                     if gaps else "the capture saw the originals: lost after the capture point")
            out.append(Finding(
                PATH_LOSS, f"{rtx} of {sent} data segments from {src} to {dst} ({rate:.1%}) were "
                f"sent again, {fast} by fast retransmission; {where}",
                stream=streams[0], proto="tcp", flow=f"{src} -> {dst}",
                frames=[_frame(r) for r in frames], responsible="path",
                severity=_W if rate >= 0.005 and rtx >= 3 else _N, confidence=0.8,
                metrics={"data_segments": sent, "resent": rtx, "rate": round(rate, 4),
                         "fast": fast, "gaps_seen": gaps, "streams": streams[:50],
                         "direction": "client->server" if side == 0 else "server->client"}))
    return out


def _rto_stalls(ctx: _Ctx) -> list[Finding]:
    """Retransmission timeouts, visible (plain retransmissions) or not: a segment lost before
    the capture point and alone in flight shows only as a pause, but its sender's IPv4 ID
    skips the lost packet's number."""
    cols, f = ctx.cap.cols, ctx.flows
    per: dict[int, list[tuple[int, int]]] = defaultdict(list)   # stream -> (row, stall ns)
    for row, ns in _timeouts(ctx):
        if ns >= 200 * MS:
            per[int(cols.stream[row])].append((row, ns))
    for row, ns in _invisible_rtos(ctx):
        per[int(cols.stream[row])].append((row, ns))
    out = []
    for s, stalls in sorted(per.items()):
        if s in ctx.blackholes or not f.present[s] or f.synacks[s] == 0 and f.syns[s] > 0 and f.payload[s].sum() == 0:
            continue
        total = sum(ns for _r, ns in stalls)
        longest = max(ns for _r, ns in stalls)
        out.append(ctx.finding(
            RTO_STALL, s, f"{len(stalls)} retransmission timeout(s) stalled the flow for "
            f"{total / SEC:.2f} s (longest {longest / SEC:.2f} s)",
            [r for r, _ns in stalls], confidence=0.8,
            metrics={"stalls": len(stalls), "stalled_s": round(total / SEC, 3),
                     "longest_s": round(longest / SEC, 3),
                     "stall_s": [round(ns / SEC, 3) for _r, ns in stalls][:20]}))
    return out


def _timeouts(ctx: _Ctx) -> list[tuple[int, int]]:
    """Plain retransmissions of data (not fast, spurious or out-of-order) and how long after
    the first copy of the same bytes each was sent: the retransmission timeout waited out
    (tcp.analysis.rto measures from the eldest unacknowledged segment, which is that copy
    whenever the resend repeats the oldest data)."""
    cols, tcp = ctx.cap.cols, ctx.cap.tcp
    rows = ctx.flows.order
    rows = rows[cols.plen[rows] > 0]
    b = tcp.bits[rows]
    plain = ((b & ta.RETRANSMISSION) != 0) & \
        ((b & (ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION)) == 0)
    if not plain.any():
        return []
    key = (cols.stream[rows].astype(np.int64) << 34) | \
        (tcp.direction[rows].astype(np.int64) << 32) | cols.seq[rows].astype(np.int64)
    uniq, first = np.unique(key, return_index=True)    # first copy of each (flow, seq)
    want = np.flatnonzero(plain)
    orig = rows[first[np.searchsorted(uniq, key[want])]]
    stall = ctx.ts[rows[want]] - ctx.ts[orig]
    return [(int(r), int(ns)) for r, ns in zip(rows[want].tolist(), stall.tolist())
            if ns > 0]


def _invisible_rtos(ctx: _Ctx) -> list[tuple[int, int]]:
    """Data segments that come >= 200 ms and >= 3 RTTs after their sender's previous packet
    while the sender's IPv4 ID skipped exactly one number: the packet in between was lost
    before the capture point and this is its retransmission."""
    cols, tcp, f = ctx.cap.cols, ctx.cap.tcp, ctx.flows
    rows = f.order
    if not len(rows):
        return []
    prev_same = np.full(len(rows), -1, np.int64)
    st, d = cols.stream[rows], tcp.direction[rows]
    key = st.astype(np.int64) * 4 + d
    o = np.argsort(key, kind="stable")
    same = np.r_[False, key[o][1:] == key[o][:-1]]
    prev_same[o[1:]] = np.where(same[1:], rows[o][:-1], -1)
    gap = np.where(prev_same >= 0, ctx.ts[rows] - ctx.ts[np.maximum(prev_same, 0)], 0)
    irtt = f.irtt_ns[st]
    cand = (prev_same >= 0) & (cols.plen[rows] > 0) & (cols.ipver[rows] == 4) & \
        (gap >= 200 * MS) & (gap >= 3 * irtt) & (irtt > 0) & \
        ((tcp.bits[rows] & (ta.RETRANSMISSION | ta.LOST_SEGMENT)) == 0)
    out = []
    for i in np.flatnonzero(cand).tolist():
        a, b = int(prev_same[i]), int(rows[i])
        ida, idb = _ip_id(ctx, a), _ip_id(ctx, b)
        if ida is not None and idb is not None and ida and (idb - ida) & 0xFFFF == 2:
            out.append((b, int(gap[i])))
    return out


def _ip_id(ctx: _Ctx, row: int) -> int | None:
    """The IPv4 identification of a frame: read in place behind Ethernet (with one 802.1Q
    tag), else from the dissectors."""
    idx = ctx.cap.index
    data = idx.frame(row)
    linktype = int(list(idx.linktypes)[int(idx.ifaces[row])])
    if linktype == 1 and len(data) >= 38:
        off = 18 if data[12:14] == b"\x81\x00" else 14
        if data[off - 2:off] == b"\x08\x00" and data[off] >> 4 == 4:
            return int.from_bytes(data[off + 4:off + 6], "big")
    from dissectors import CaptureState, dissect_frame
    root, _pkt = dissect_frame(data, number=1, ts_ns=int(ctx.ts[row]),
                               origlen=int(idx.origlens[row]), linktype=linktype,
                               iface=int(idx.ifaces[row]), state=CaptureState(), tree=True)
    node = root.find("ip.id") if root is not None else None
    return int(node.value) if node is not None else None


def _mtu_blackholes(ctx: _Ctx) -> list[Finding]:
    """Full-size segments resent 3+ times and never acknowledged, small ones fine, no ICMP
    'fragmentation needed' / 'packet too big' between the two hosts."""
    f, cols, tcp, out = ctx.flows, ctx.cap.cols, ctx.cap.tcp, []
    icmp = (cols.flags & TRANSPORT).astype(bool) & (
        (cols.ip_proto == IPPROTO_ICMP) & (cols.icmp_type == 3) & (cols.icmp_code == 4)
        | (cols.ip_proto == IPPROTO_ICMPV6) & (cols.icmp_type == 2))
    icmp_hosts = {ctx.addr(int(r), "dst") for r in np.flatnonzero(icmp).tolist()}
    for s in np.flatnonzero(f.present & (f.synacks > 0) & (f.retrans.max(1) >= 3)).tolist():
        for side in (0, 1):
            rows = _side_rows(ctx, s, side)
            plen = cols.plen[rows]
            data = rows[plen > 0]
            if not len(data) or int(cols.plen[data].max()) < FULL_SIZE:
                continue
            big = int(cols.plen[data].max())
            full = data[cols.plen[data] == big]
            rtx = full[(tcp.bits[full] & ta.RETRANSMISSION) != 0]
            # resent at least three times with the timeout backing off past a second, and
            # the originals seen: not a connection the capture caught the end of
            if len(rtx) < 3 or len(full) == len(rtx) or \
                    ctx.ts[rtx[-1]] - ctx.ts[full[0]] < SEC:
                continue
            first = int(full[0])
            seq0 = int(cols.seq[first])
            peer = _side_rows(ctx, s, 1 - side)
            peer = peer[(peer > first) & ((cols.tcp_flags[peer] & ACK) != 0)]
            acked = ((cols.ack[peer].astype(np.int64) - seq0) & 0xFFFFFFFF)
            if len(peer) and (acked[(acked < 1 << 31)] > 0).any():
                continue     # some of the full-size data got through
            host = ctx.addr(first, "src")
            if host in icmp_hosts:
                continue
            out.append(ctx.finding(
                MTU_BLACKHOLE, s, f"{len(full) - len(rtx)} full-size ({big}-byte) segments from "
                f"{ctx.who(s, side)} were never acknowledged despite {len(rtx)} retransmissions "
                "while the handshake got through; no ICMP 'fragmentation needed' was seen",
                [first, *rtx[:10].tolist()], responsible="path", confidence=0.8,
                metrics={"segment_size": big, "full_size_segments": len(full) - len(rtx),
                         "retransmissions": len(rtx), "icmp_seen": 0}))
    return out


# -- windows ----------------------------------------------------------------------------------
def _zero_windows(ctx: _Ctx) -> list[Finding]:
    """Per receiver: how long the sender was stopped by a zero window, and the probes."""
    f, tcp, out = ctx.flows, ctx.cap.tcp, []
    for s in np.flatnonzero(f.present & (f.zero_windows.sum(1) > 0)).tolist():
        for side in (0, 1):
            if not f.zero_windows[s, side]:
                continue
            stalls = zero_window_stalls(ctx.cap, f, s, side)
            open_end = stalls[-1][2]
            other = _side_rows(ctx, s, 1 - side)
            probes = int(np.count_nonzero(tcp.bits[other] & (ta.ZERO_WINDOW_PROBE | ta.KEEP_ALIVE)))
            durations = [int(ctx.ts[b] - ctx.ts[a]) for a, b, _o in stalls]
            total, longest = sum(durations), max(durations)
            who = ctx.who(s, side)
            end = ctx.ends(s)[side]
            out.append(ctx.finding(
                ZERO_WINDOW, s, f"{who} {end} advertised a zero window "
                f"{int(f.zero_windows[s, side])} time(s): the sender was stopped "
                f"{total / SEC:.2f} s in total (longest {longest / SEC:.2f} s), {probes} probe(s)"
                + ("; still closed at the end of the capture" if open_end else ""),
                [r for a, b, _o in stalls[:10] for r in (a, b)], responsible=who, confidence=0.95,
                metrics={"zero_windows": int(f.zero_windows[s, side]), "stalled_s":
                         round(total / SEC, 3), "longest_s": round(longest / SEC, 3),
                         "probes": probes, "receiver": who}))
    return out


def _window_limited(ctx: _Ctx) -> list[Finding]:
    """Senders that hit the receiver's window again and again."""
    f, tcp, out = ctx.flows, ctx.cap.tcp, []
    for s in np.flatnonzero(f.present).tolist():
        for side in (0, 1):
            segs = int(f.data_segs[s, side])
            if segs < 10:
                continue
            rows = _side_rows(ctx, s, side)
            full = rows[(tcp.bits[rows] & ta.WINDOW_FULL) != 0]
            if len(full) < 5 or len(full) < 0.1 * segs:
                continue
            receiver = ctx.who(s, 1 - side)
            out.append(ctx.finding(
                WINDOW_LIMITED, s, f"{ctx.who(s, side)} filled {receiver}'s receive window "
                f"{len(full)} times in {segs} data segments", full[:10].tolist(),
                responsible=receiver, confidence=0.8,
                metrics={"window_full": len(full), "data_segments": segs,
                         "max_in_flight": int(ctx.cap.tcp_values(s).bytes_in_flight.max())}))
    return out


# -- application timing -----------------------------------------------------------------------
def _nagle(ctx: _Ctx) -> list[Finding]:
    """Small write A, the peer's pure ACK of exactly A coming late (delayed ACK), and the
    next small write B right after that ACK: repeatedly in one direction. Vectorized over
    every connection: consecutive data segments of one sender are the (A, B) pairs, and a
    pure ACK is matched to A by its acknowledgement number."""
    f, cols, out = ctx.flows, ctx.cap.cols, []
    rows = f.order
    st = cols.stream[rows].astype(np.int64)
    side = (ctx.cap.tcp.direction[rows] != f.client_dir[st]).astype(np.int64)
    data = cols.plen[rows] > 0
    pure = ~data & ((cols.tcp_flags[rows] & (ACK | SYN | FIN | RST)) == ACK)
    # first pure ACK per (stream, acknowledging side, ack number)
    akey = (st[pure] << 34) | (side[pure] << 33) | cols.ack[rows[pure]].astype(np.int64)
    ukey, first = np.unique(akey, return_index=True)
    ack_row = rows[pure][first]
    # data segments of each sender in order: A then B
    d_rows, d_st, d_side = rows[data], st[data], side[data]
    o = np.lexsort((d_rows, d_side, d_st))
    d_rows, d_st, d_side = d_rows[o], d_st[o], d_side[o]
    a, b = d_rows[:-1], d_rows[1:]
    same = (d_st[:-1] == d_st[1:]) & (d_side[:-1] == d_side[1:])
    ends = (cols.seq[a].astype(np.int64) + cols.plen[a]) & 0xFFFFFFFF
    want = (d_st[:-1] << 34) | ((1 - d_side[:-1]) << 33) | ends
    at = np.minimum(np.searchsorted(ukey, want), max(len(ukey) - 1, 0))
    found = same & (len(ukey) > 0) & (ukey[at] == want) if len(ukey) else np.zeros(len(a), bool)
    p = np.where(found, ack_row[at] if len(ukey) else 0, -1)
    rtt = f.irtt_ns[d_st[:-1]]
    hit = found & (a < p) & (p < b) & (cols.plen[a] < 536) & (cols.plen[b] < 536)
    hit &= (ctx.ts[np.maximum(p, 0)] - ctx.ts[a] >= NAGLE_MIN_NS)
    hit &= (ctx.ts[b] - ctx.ts[np.maximum(p, 0)] <= 2 * MS + 1.5 * rtt)
    idx = np.flatnonzero(hit)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, s_, k in zip(idx.tolist(), d_st[:-1][idx].tolist(), d_side[:-1][idx].tolist()):
        groups[(s_, k)].append(i)
    for (s, k), items in sorted(groups.items()):
        segs = int(f.data_segs[s, k])
        if len(items) < NAGLE_ROUNDS or len(items) < 0.2 * segs and segs > 50:
            continue
        stalls = [int(ctx.ts[b[i]] - ctx.ts[a[i]]) for i in items]
        frames = [int(x) for i in items[:10] for x in (a[i], p[i], b[i])]
        med = float(np.median(stalls))
        who = ctx.who(s, k)
        out.append(ctx.finding(
            NAGLE, s, f"{len(stalls)} times {who} held a small write until the previous one "
            f"was ACKed late: {ctx.ms(med)} ms lost each time (median)", frames,
            responsible=who, confidence=0.85,
            metrics={"stalls": len(stalls), "median_stall_ms": ctx.ms(med),
                     "stall_ms": [ctx.ms(x) for x in stalls[:20]], "sender": who}))
    return out


@dataclass
class Exchanges:
    """Request/response turns, one entry per turn: a run of client data segments followed by
    a run of server data segments on the same connection (retransmissions left out). Rows
    are frame rows. Shared by the server-think-time diagnosis and the TUI's connection
    timeline, so both split a connection the same way."""

    stream: np.ndarray       # int64: tcp.stream of the turn
    req_first: np.ndarray    # row of the request's first data segment
    req_last: np.ndarray     # row of its last data segment
    resp_first: np.ndarray   # row of the response's first data segment
    resp_last: np.ndarray    # row of its last data segment (before the next request)

    def __len__(self) -> int:
        return len(self.stream)


def exchanges(cap: Capture, flows: StreamTable, rows: np.ndarray | None = None) -> Exchanges:
    """The request/response turns among `rows` (analyzed rows sorted by stream, frame order
    within; default every stream: flows.order), vectorized over the data segments."""
    cols, tcp = cap.cols, cap.tcp
    rows = flows.order if rows is None else rows
    rows = rows[(cols.plen[rows] > 0) & ((tcp.bits[rows] & ta.RETRANSMISSION) == 0)]
    st = cols.stream[rows].astype(np.int64)
    side = (tcp.direction[rows] != flows.client_dir[st]).astype(np.int8)
    same = st[1:] == st[:-1]
    turn = np.r_[False, same & (side[1:] == 1) & (side[:-1] == 0)]
    at = np.flatnonzero(turn)
    new_run = np.r_[True, ~same | (side[1:] != side[:-1])]
    run = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:] - 1, len(rows) - 1].astype(np.int64)
    return Exchanges(st[at], rows[starts[run[at - 1]]], rows[at - 1], rows[at],
                     rows[ends[run[at]]])


def server_rtts(cap: Capture, flows: StreamTable) -> np.ndarray:
    """Per stream, the round trip the capture point sees toward the server: SYN -> SYN/ACK
    (0 when the handshake is not in the capture)."""
    ts = np.asarray(cap.index.ts_ns, np.int64)
    out = np.zeros(len(flows), np.int64)
    ok = (flows.first_syn >= 0) & (flows.first_synack >= 0)
    out[ok] = ts[flows.first_synack[ok]] - ts[flows.first_syn[ok]]
    return out


def think_times(cap: Capture, flows: StreamTable, ex: Exchanges,
                srv_rtt: np.ndarray | None = None) -> np.ndarray:
    """Server think time of each turn: from the request's last segment to the response's
    first, less the round trip to the server (the part of the wait that is the network)."""
    ts = np.asarray(cap.index.ts_ns, np.int64)
    rtt = server_rtts(cap, flows) if srv_rtt is None else srv_rtt
    return ts[ex.resp_first] - ts[ex.req_last] - rtt[ex.stream]


def _server_slow(ctx: _Ctx, ex: Exchanges) -> list[Finding]:
    f, out = ctx.flows, []
    st, req, resp = ex.stream, ex.req_last, ex.resp_first
    gap = ctx.ts[resp] - ctx.ts[req]
    srv_rtt = server_rtts(ctx.cap, f)
    think = think_times(ctx.cap, f, ex, srv_rtt)
    slow = (think >= THINK_NS) & (think >= THINK_RTTS * f.irtt_ns[st])
    for s in np.unique(st[slow]).tolist():
        m = st == s
        th, gp = think[m], gap[m]
        if np.count_nonzero(slow[m]) * 2 < len(th):
            continue     # most exchanges were quick: not the server's pattern
        med = float(np.median(th))
        out.append(ctx.finding(
            SERVER_SLOW, s, f"{len(th)} request(s): the server took {ctx.ms(med)} ms to start "
            f"answering (median think time) against a {ctx.ms(int(srv_rtt[s]))} ms round trip",
            [x for pair in zip(req[m][:10].tolist(), resp[m][:10].tolist()) for x in pair],
            responsible="server", confidence=0.8 if srv_rtt[s] else 0.6,
            metrics={"requests": int(len(th)), "think_ms": ctx.ms(med),
                     "rtt_ms": ctx.ms(int(srv_rtt[s])),
                     "response_ms": [ctx.ms(x) for x in gp[:20].tolist()]}))
    return out


def _churn(ctx: _Ctx, ex: Exchanges) -> list[Finding]:
    f, out = ctx.flows, []
    turns = np.bincount(ex.stream, minlength=len(f)) if len(f) else np.zeros(0, np.int64)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for s in np.flatnonzero(f.present & (f.syns > 0) & (f.synacks > 0)).tolist():
        c, srv = ctx.ends(s)
        groups[(c.rsplit(":", 1)[0], srv)].append(s)
    for (client, server), streams in groups.items():
        short = [s for s in streams if turns[s] <= CHURN_MAX_EXCHANGES]
        if len(short) < CHURN_MIN or len(short) < 0.8 * len(streams):
            continue
        rtts = f.irtt_ns[short]
        spent = int(rtts.sum())
        span = int(f.end_ns[short].max() - f.start_ns[short].min())
        requests = int(turns[short].sum())
        out.append(Finding(
            CHURN, f"{client} opened {len(streams)} connections to {server} for {requests} "
            f"request(s); {spent / MS:.0f} ms went into handshakes (median RTT "
            f"{np.median(rtts) / MS:.1f} ms)", stream=short[0], proto="tcp",
            flow=f"{client} -> {server}", frames=[_frame(int(f.first_syn[s])) for s in short],
            responsible="client", severity=_W if len(streams) >= 100 else None,
            confidence=0.8,
            metrics={"connections": len(streams), "requests": requests,
                     "handshake_ms_total": round(spent / MS, 1),
                     "handshake_rtt_ms": round(float(np.median(rtts)) / MS, 1),
                     "per_second": round(len(streams) / max(span / SEC, 1e-9), 1)
                     if span else None, "streams": short[:50]}))
    return out


def _timing(ctx: _Ctx) -> list[Finding]:
    ex = exchanges(ctx.cap, ctx.flows)
    return _server_slow(ctx, ex) + _churn(ctx, ex)


