"""The first pass: everything `report`, the TUI and filters read, built once per capture.

In file order, like Wireshark's first pass: the frame index, the vectorized summary columns,
then TCP sequence analysis of every segment (the same TcpAnalyzer `read` uses, so both agree
frame for frame), conversations and the backend diagnoses. The per-frame results are numpy
columns (no Python object per packet); per-conversation and per-finding records are bounded by
the number of connections, not packets.

Speed: the analyzer runs once per TCP segment in Python, so everything around it is prepared
with numpy (directions, window scaling, SACK blocks) and fed as plain lists.
"""
from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dissectors import CaptureState

from . import tcp_analysis as ta
from .summary import (
    ACK,
    INNER,
    IPPROTO_TCP,
    LEN_UNKNOWN,
    SYN,
    TCP_ABORTED,
    TRANSPORT,
    FrameSource,
    SummaryColumns,
    summarize,
)

Progress = Callable[[str, float], None]


class Cancelled(Exception):
    """The caller asked the pass to stop (a newer file or filter replaced it)."""


@dataclass
class TcpColumns:
    """Per-frame TCP analysis flags (row = frame number - 1; zero where nothing applies),
    the rare duplicate-ACK numbers kept sparse, and per-stream handshake times. The numbers
    that need the unacknowledged-segment list (acks_frame, ack_rtt, bytes_in_flight,
    push_bytes_sent, rto) are replayed per connection on demand: see StreamValues."""

    bits: np.ndarray              # uint32: tcp_analysis flag bits
    direction: np.ndarray         # uint8: 1 from the stream's first sender, 2 back; 0 no TCP
    win_scale: np.ndarray         # int8: the sender's window shift (-1 unknown, -2 none)
    dupack_rows: np.ndarray       # int64, sparse: duplicate ACKs
    dupack_num: np.ndarray        # uint32
    dupack_frame: np.ndarray      # uint32
    irtt_ns: np.ndarray           # int64 per tcp.stream: initial RTT, 0 unknown
    irtt_row: np.ndarray          # int64 per tcp.stream: the row that completed it

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))


@dataclass
class StreamValues:
    """One connection's per-segment analysis numbers, by position in `rows` (its analyzed
    rows in frame order), from replaying it through a TcpAnalyzer with values."""

    rows: np.ndarray
    shown: np.ndarray             # bool: tshark shows the [SEQ/ACK analysis] tree
    acks_frame: np.ndarray        # uint32
    ack_rtt_ns: np.ndarray        # int64
    bytes_in_flight: np.ndarray   # uint32
    push_bytes: np.ndarray        # uint32
    rto_ns: np.ndarray            # int64 (plain retransmissions, else 0)
    rto_frame: np.ndarray         # uint32

    def at(self, row: int) -> int:
        """Position of a frame row, or -1."""
        i = int(np.searchsorted(self.rows, row))
        return i if i < len(self.rows) and self.rows[i] == row else -1


@dataclass
class Capture:
    """The store the views read: index, per-frame columns, conversations and findings."""

    path: str
    index: FrameSource
    cols: SummaryColumns
    tcp: TcpColumns
    flows: Any = None           # tcp_flows.StreamTable: per-connection facts
    dns: Any = None             # dns.DnsResult: transactions and their statistics
    tls: Any = None             # tls.TlsResult: one handshake record per TLS connection
    conversations: Any = None   # conversations.ConversationTable: TCP and UDP, tshark's counts
    findings: list = field(default_factory=list)   # findings.Finding, report order
    _by_row: dict | None = field(default=None, repr=False)
    _values: dict = field(default_factory=dict, repr=False)   # stream -> StreamValues
    _cursor: Any = field(default=None, repr=False)
    _partitions: Any = field(default=None, repr=False)   # scoped.Partitions, on first use

    def __len__(self) -> int:
        return len(self.index)

    def findings_of(self, row: int) -> list:
        """The findings frame `row` takes part in (each lists at most MAX_FRAMES frames)."""
        if self._by_row is None:
            by_row: dict[int, list] = {}
            for f in self.findings:
                for fr in f.frames:
                    by_row.setdefault(fr - 1, []).append(f)
            self._by_row = by_row
        return self._by_row.get(row, [])

    def finding_rows(self, abbrev: str) -> np.ndarray:
        """Rows (frame number - 1) that findings of one kind rest on, for filters."""
        rows = {fr - 1 for f in self.findings if f.id == abbrev for fr in f.frames}
        return np.asarray(sorted(rows), np.int64)

    @property
    def tcp_bits(self) -> np.ndarray:
        """The tcp.analysis.* flag bits per frame row."""
        return self.tcp.bits

    def dissect(self, row: int) -> tuple[Any, Any]:
        """The full tree of one frame as `read` shows it, tcp.analysis items included.

        Dissectors keep per-capture state that is right only when frames are dissected in
        order, so this walks a cursor forward through the capture (without trees) and starts
        over when asked for an earlier frame: callers go in row order (filters do)."""
        if self._cursor is None or row < self._cursor.next:
            self._cursor = _Cursor(self.index)
        return self._cursor.dissect(row)

    def dissect_rows(self, rows: Any, stop: Callable[[], bool] | None = None,
                     skip: Callable[[Any], bool] | None = None) -> Any:
        """(row, tree, packet) for each of `rows` in ascending order, each as `dissect`
        shows it, dissecting only the frames their state depends on (scoped.py): the
        rows' TCP/UDP conversations up to them, not the whole capture. Ends early when
        `stop()` turns true; `skip(packet)` true on a row's packet dissected without a
        tree spares its tree (the row comes with tree None)."""
        from .scoped import dissect_rows
        return dissect_rows(self, rows, stop, skip)

    def possible_rows(self, prefix: str) -> np.ndarray | None:
        """For display filters: the rows a `tls.*` field can be on, a bool per row (None for
        other prefixes: the filter's own table decides). That is the payload of connections
        on TLS ports or that the TLS analysis recognised (its heuristic needs a hello at the
        start), and every row the dissectors decoded (fragments, tunnels...)."""
        if prefix != "tls" or self.tls is None:
            return None
        from dissectors.tls import PORTS
        from .summary import SLOW
        c = self.cols
        tcp = (c.ip_proto == IPPROTO_TCP) & ((c.flags & TRANSPORT) != 0) & (c.plen > 0)
        streams = np.asarray(sorted({h.stream for h in self.tls.handshakes}), np.int64)
        ports = np.asarray(sorted(PORTS), np.uint16)
        known = np.isin(c.stream, streams) | np.isin(c.sport, ports) | np.isin(c.dport, ports)
        return (tcp & known) | ((c.flags & SLOW) != 0)

    def tcp_values(self, stream: int) -> StreamValues:
        """The analysis numbers of one TCP connection (replayed once, then cached)."""
        got = self._values.get(stream)
        if got is None:
            rows = analyzable_rows(self.cols)
            rows = rows[self.cols.stream[rows] == stream] if self.flows is None \
                else self.flows.rows_of(stream)
            got = self._values[stream] = replay(self.index, self.cols, self.tcp, rows)
            if len(self._values) > 256:
                del self._values[next(iter(self._values))]
        return got

    def initial_rtt(self, row: int) -> int:
        """tcp.analysis.initial_rtt as frame `row` shows it (0: not shown)."""
        s = int(self.cols.stream[row])
        if not 0 <= s < len(self.tcp.irtt_ns) or row < self.tcp.irtt_row[s]:
            return 0
        v = self.tcp_values(s)
        i = v.at(row)
        return int(self.tcp.irtt_ns[s]) if i >= 0 and v.shown[i] else 0

    @property
    def nbytes(self) -> int:
        """Memory the per-frame store holds (index arrays, columns, analysis)."""
        index = sum(getattr(self.index, name).nbytes for name in
                    ("offsets", "caplens", "origlens", "ts_ns", "ifaces"))
        return index + self.cols.nbytes + self.tcp.nbytes


class _Cursor:
    """Frames dissected in order with one CaptureState and TCP sequence analysis."""

    def __init__(self, index: Any) -> None:
        from .annotate import SequenceAnnotator
        self.index = index
        self.state = CaptureState()
        self.annotate = SequenceAnnotator()
        self.next = 0

    def _step(self, tree: bool) -> tuple[Any, Any]:
        from dissectors import dissect_frame
        i = self.next
        f = self.index.raw_frame(i)
        ifs = getattr(self.index, "interfaces", [])
        name = (ifs[f.iface].name or "unknown") if getattr(self.index, "format", "") == \
            "pcapng" and 0 <= f.iface < len(ifs) else ""
        root, pkt = dissect_frame(f.data, number=i + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                                  linktype=f.linktype, iface=f.iface, comment=f.comment,
                                  has_ts=f.has_ts, iface_name=name, state=self.state,
                                  tree=tree)
        self.annotate(root, pkt)
        self.state.prev_displayed_ts_ns = f.ts_ns
        self.next = i + 1
        return root, pkt

    def dissect(self, row: int) -> tuple[Any, Any]:
        while self.next < row:
            self._step(tree=False)
        return self._step(tree=True)


def analyzable_rows(cols: SummaryColumns) -> np.ndarray:
    """Rows whose segment the analysis sees, as `tcp_analysis.analyzable` decides for a
    dissected frame: the frame's own TCP header (not one an ICMP error quotes), a known
    segment length, a stream."""
    f = cols.flags
    return np.flatnonzero((f & (TRANSPORT | INNER | LEN_UNKNOWN) == TRANSPORT)
                          & (cols.ip_proto == IPPROTO_TCP) & (cols.stream >= 0))


def _directions(cols: SummaryColumns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direction (1: same source endpoint as the stream's first analyzed segment, else 2)
    and the unordered endpoint pair of each row."""
    ver = cols.ipver[rows].astype(np.uint64)
    src = ver << np.uint64(56) | cols.src[rows].astype(np.uint64) << np.uint64(16) \
        | cols.sport[rows].astype(np.uint64)
    dst = ver << np.uint64(56) | cols.dst[rows].astype(np.uint64) << np.uint64(16) \
        | cols.dport[rows].astype(np.uint64)
    stream = cols.stream[rows]
    _, first = np.unique(stream, return_index=True)
    first_src = np.zeros(int(stream.max()) + 1 if len(stream) else 0, np.uint64)
    first_src[stream[first]] = src[first]
    direction = np.where(first_src[stream] == src, 1, 2).astype(np.uint8)
    return direction, np.stack([np.minimum(src, dst), np.maximum(src, dst)], 1)


def _window_scales(cols: SummaryColumns, rows: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """pkt.tcp.win_scale of each row, by dissectors/tcp.py's rule: a side's shift comes from
    its window-scale option; after a SYN (or SYN/ACK) without the option, or a SYN/ACK
    answering one without it, scaling is off for both (-2); -1 until then. A row shows its
    side's value from before its own options. Only SYNs and option carriers change anything,
    so they are walked in Python and the rest filled in with numpy."""
    n = len(rows)
    flags = cols.tcp_flags[rows]
    has_ws = np.zeros(n, bool)
    shift = np.full(n, -1, np.int64)
    at = np.searchsorted(rows, cols.ws_rows)
    known = (at < n) & (rows[np.minimum(at, n - 1)] == cols.ws_rows) if n else at < 0
    has_ws[at[known]] = True
    shift[at[known]] = np.minimum(cols.ws_shift[known], 14)
    event = np.flatnonzero(has_ws | ((flags & SYN) != 0))
    stream = cols.stream[rows]
    aborted = (cols.flags[rows] & TCP_ABORTED) != 0
    before = np.full(n, -1, np.int8)
    after = np.full((n, 2), -1, np.int8)
    state: dict[int, list[int]] = {}
    for p in event.tolist():
        ws = state.setdefault(int(stream[p]), [-1, -1])
        fwd = int(direction[p]) - 1
        rev = 1 - fwd
        before[p] = ws[fwd]
        if has_ws[p]:
            ws[fwd] = int(shift[p])
        if flags[p] & SYN and not aborted[p]:
            if ws[fwd] == -1:
                ws[fwd] = ws[rev] = -2
            elif flags[p] & ACK and ws[rev] == -2:
                ws[fwd] = -2
        after[p] = ws
    out = before.copy()
    if n == 0:
        return out
    # Fill the other rows from the latest event of their stream, in stream-sorted order.
    order = np.argsort(stream, kind="stable")
    pos = np.arange(n)
    is_event = np.zeros(n, bool)
    is_event[event] = True
    ev_sorted = is_event[order]
    last = np.maximum.accumulate(np.where(ev_sorted, pos, -1))
    s_sorted = stream[order]
    group_start = np.maximum.accumulate(np.where(np.r_[True, s_sorted[1:] != s_sorted[:-1]],
                                                 pos, 0))
    fill = ~ev_sorted & (last >= group_start)
    src_rows = order[last[fill]]
    tgt = order[fill]
    out[tgt] = after[src_rows, direction[tgt].astype(np.int64) - 1]
    return out


def _sacks(cols: SummaryColumns, rows: np.ndarray) -> dict[int, tuple[tuple[int, int], ...]]:
    """Raw SACK blocks by position in `rows`, for the rows that carry them."""
    out: dict[int, tuple[tuple[int, int], ...]] = {}
    if len(cols.sack_rows):
        at = np.searchsorted(rows, cols.sack_rows)
        ok = (at < len(rows)) & (rows[np.minimum(at, len(rows) - 1)] == cols.sack_rows)
        blocks: dict[int, list[tuple[int, int]]] = {}
        for p, left, right in zip(at[ok].tolist(), cols.sack_left[ok].tolist(),
                                  cols.sack_right[ok].tolist()):
            blocks.setdefault(p, []).append((left, right))
        for p, b in blocks.items():
            out[p] = tuple(b)
    return out


@dataclass
class _Part:
    """The flags of some of the analyzable rows (positions into them), from one process."""

    pos: np.ndarray    # int64 positions
    bits: np.ndarray   # uint32
    dup: np.ndarray    # int64 (k, 3): position, dupack_num, dupack_frame
    irtt: np.ndarray   # int64 (k, 3): stream, initial RTT, position that completed it


def _flags(cols: dict[str, np.ndarray], convs: dict[int, tuple[int, int]], pos: np.ndarray,
           cancel: threading.Event | None, progress: Callable[[float], None] | None) -> _Part:
    """Feed the segments at `pos` (frame order) to one TcpAnalyzer without values; every
    stream of an address/port pair must be in the same call, so reused ports are seen."""
    an = ta.TcpAnalyzer(values=False)
    feed = an.feed
    bits: list[int] = []
    dup: list[tuple[int, int, int]] = []
    irtt: dict[int, tuple[int, int]] = {}
    conv_pos = np.asarray(sorted(convs), np.int64)
    step = 1 << 16
    for k0 in range(0, len(pos), step):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        if progress is not None:
            progress(k0 / max(1, len(pos)))
        chunk = pos[k0:k0 + step]
        inputs = [cols[name][chunk].tolist() for name in _FEED]
        keys = chunk.tolist()
        conv_l: list = [None] * len(keys)
        # few rows open a stream: place their keys with numpy, not a lookup per segment
        at = np.searchsorted(chunk, conv_pos)
        hit = at < len(chunk)
        hit[hit] = chunk[at[hit]] == conv_pos[hit]
        for j, k in zip(at[hit].tolist(), conv_pos[hit].tolist()):
            conv_l[j] = convs[k]
        append = bits.append
        for k, fr, t, s, d, fl, sq, ak, w, ws, ln, conv in zip(keys, *inputs, conv_l):
            b = feed(fr, t, s, d, fl, sq, ak, w, ws, ln, conv)
            append(b)
            if b & ta.DUPLICATE_ACK:
                dup.append((k, an.dupack_num, an.dupack_frame))
            if an.initial_rtt_ns and s not in irtt:
                irtt[s] = (an.initial_rtt_ns, k)
    return _Part(pos, np.asarray(bits, np.uint32), np.asarray(dup, np.int64).reshape(-1, 3),
                 np.asarray([(s, v, k) for s, (v, k) in irtt.items()], np.int64).reshape(-1, 3))


def replay(index: FrameSource, cols: SummaryColumns, tcp: TcpColumns,
           rows: np.ndarray) -> StreamValues:
    """One connection's analyzed rows (frame order) through a TcpAnalyzer with values: the
    numbers `read` shows for them, since a connection's analysis depends on it alone."""
    ts = np.asarray(index.ts_ns, np.int64)
    sacks = _sacks(cols, rows)
    inputs = [x.tolist() for x in (rows + 1, ts[rows], cols.stream[rows], tcp.direction[rows],
                                   cols.tcp_flags[rows], cols.seq[rows], cols.ack[rows],
                                   cols.window[rows], tcp.win_scale[rows], cols.plen[rows])]
    an = ta.TcpAnalyzer()
    feed = an.feed
    out: list[tuple[int, ...]] = []
    for k, (fr, t, s, d, fl, sq, ak, w, ws, ln) in enumerate(zip(*inputs)):
        b = feed(fr, t, s, d, fl, sq, ak, w, ws, ln, None, sacks.get(k, ()))
        out.append((bool(b or an.acks_frame or an.initial_rtt_ns), an.acks_frame, an.ack_rtt_ns,
                    an.bytes_in_flight, an.push_bytes_sent, an.rto_ns, an.rto_frame))
    v = np.asarray(out, np.int64).reshape(-1, 7)
    # A malformed TCP layer: its segment counts for the state, but tshark shows nothing.
    keep = (cols.flags[rows] & TCP_ABORTED) == 0
    v[~keep] = 0
    return StreamValues(rows, v[:, 0].astype(bool), v[:, 1].astype(np.uint32), v[:, 2],
                        v[:, 3].astype(np.uint32), v[:, 4].astype(np.uint32), v[:, 5],
                        v[:, 6].astype(np.uint32))


# The analyzer's inputs, per analyzable row, in `feed`'s order after the position.
_FEED = ("frame", "ts", "stream", "direction", "flags", "seq", "ack", "window", "win_scale",
         "len")
PARALLEL_MIN = 200_000   # segments below which a second process is not worth its start
PARENT_SHARE = 0.4       # of the segments, when this process also runs the other analyses


def _split(pairs: np.ndarray, shares: tuple[float, ...]) -> list[np.ndarray]:
    """Positions split into groups of about the given shares of the segments, whole
    address/port pairs per group (largest pairs first, each to the group furthest below
    its share)."""
    key = pairs[:, 0] * np.uint64(0x9E3779B97F4A7C15) ^ pairs[:, 1]
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    group = np.zeros(len(uniq), np.int64)
    load = [0.0] * len(shares)
    for u in np.argsort(-counts, kind="stable").tolist():
        g = min(range(len(shares)), key=lambda k: load[k] / shares[k])
        group[u] = g
        load[g] += int(counts[u])
    which = group[inv.reshape(-1)]
    return [np.flatnonzero(which == g) for g in range(len(shares))]


def _in_child(fn: Callable[[], _Part]) -> Callable[[], _Part] | None:
    """Run fn in a forked process; returns a function that waits for its result (None when
    this system cannot fork). The child shares the parent's memory copy-on-write, so it
    starts with every column already built."""
    if not hasattr(os, "fork"):
        return None
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:   # the child: compute, send, leave without running the parent's cleanup
        code = 1
        try:
            os.close(r)
            with os.fdopen(w, "wb") as out:
                pickle.dump(fn(), out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(w)

    def wait() -> _Part:
        try:
            with os.fdopen(r, "rb") as inp:
                part = pickle.load(inp)
        finally:
            os.waitpid(pid, 0)
        return part

    def kill() -> None:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass

    wait.kill = kill  # type: ignore[attr-defined]
    return wait


def analyze_tcp(index: FrameSource, cols: SummaryColumns,
                cancel: threading.Event | None = None,
                progress: Callable[[float], None] | None = None,
                workers: int | None = None,
                alongside: Callable[[], None] | None = None) -> TcpColumns:
    """Run TcpAnalyzer over every analyzable segment in frame order; per-frame columns.

    Only the flags are computed here (TcpAnalyzer without values: a connection's numbers
    are replayed when asked for, `Capture.tcp_values`). Streams are independent, so on a big
    capture half of the address/port pairs go to a forked process (the analyzer is pure
    Python: one core manages about 150k segments/s).
    """
    n = len(cols)
    rows = analyzable_rows(cols)
    direction, pairs = _directions(cols, rows)
    win_scale = _window_scales(cols, rows, direction)
    stream = cols.stream[rows]
    _, first = np.unique(stream, return_index=True)
    convs = {p: (a, b) for p, a, b in zip(first.tolist(), pairs[first, 0].tolist(),
                                          pairs[first, 1].tolist())}
    feed_cols = {"frame": rows + 1, "ts": np.asarray(index.ts_ns, np.int64)[rows],
                 "stream": stream, "direction": direction, "flags": cols.tcp_flags[rows],
                 "seq": cols.seq[rows], "ack": cols.ack[rows], "window": cols.window[rows],
                 "win_scale": win_scale, "len": cols.plen[rows]}
    if workers is None:
        workers = 2 if len(rows) >= PARALLEL_MIN and (os.cpu_count() or 1) > 1 else 1
    # With other work to do meanwhile (`alongside`), this process takes the smaller share.
    shares = (PARENT_SHARE, 1 - PARENT_SHARE) if alongside is not None else (0.5, 0.5)
    groups = _split(pairs, shares) if workers > 1 else [np.arange(len(rows))]
    child = None
    if len(groups) > 1:
        g1 = groups[1]
        child = _in_child(lambda: _flags(feed_cols, convs, g1, None, None))
        if child is None:
            groups = [np.arange(len(rows))]
    try:
        parts = [_flags(feed_cols, convs, groups[0], cancel, progress)]
        if alongside is not None:
            alongside()
    except BaseException:
        if child is not None:
            child.kill()  # type: ignore[attr-defined]
        raise
    if child is not None:
        parts.append(child())
    return _columns(n, cols, rows, direction, win_scale, parts)


def _columns(n: int, cols: SummaryColumns, rows: np.ndarray, direction: np.ndarray,
             win_scale: np.ndarray, parts: list[_Part]) -> TcpColumns:
    """Scatter the parts' results into per-frame columns."""
    nstreams = int(cols.stream.max()) + 1 if n else 0
    out = TcpColumns(
        bits=np.zeros(n, np.uint32), direction=np.zeros(n, np.uint8),
        win_scale=np.full(n, -1, np.int8), dupack_rows=np.zeros(0, np.int64),
        dupack_num=np.zeros(0, np.uint32), dupack_frame=np.zeros(0, np.uint32),
        irtt_ns=np.zeros(nstreams, np.int64), irtt_row=np.zeros(nstreams, np.int64))
    out.direction[rows] = direction
    out.win_scale[rows] = win_scale
    # A malformed TCP layer: its segment updated the state, but tshark shows no analysis.
    aborted = (cols.flags & TCP_ABORTED) != 0
    dup = []
    for part in parts:
        r = rows[part.pos]
        out.bits[r] = np.where(aborted[r], 0, part.bits)
        dup.append(part.dup[~aborted[rows[part.dup[:, 0]]]])
        out.irtt_ns[part.irtt[:, 0]] = part.irtt[:, 1]
        out.irtt_row[part.irtt[:, 0]] = rows[part.irtt[:, 2]]
    d = np.concatenate(dup)
    d = d[np.argsort(d[:, 0], kind="stable")]
    out.dupack_rows = rows[d[:, 0]]
    out.dupack_num, out.dupack_frame = d[:, 1].astype(np.uint32), d[:, 2].astype(np.uint32)
    return out


def register_analyzers() -> None:
    """Import every analyzer, so its generated fields (tcp.analysis.*) and finding kinds
    (wirelens.*) are registered."""
    from . import annotate, diagnoses, dns, tls  # noqa: F401


@dataclass
class _Cols:
    """The part of the store the DNS and TLS analyses read (index and summary columns)."""

    index: FrameSource
    cols: SummaryColumns


def _explained(tcp_findings: list, tls_findings: list) -> list:
    """Drop the RST diagnoses of connections whose TLS handshake failed: the TLS finding
    (an alert, a rejected certificate) says why the connection was reset, and by whom."""
    from dissectors.fields import Severity
    failed = {f.stream for f in tls_findings if f.level >= Severity.WARN and f.stream >= 0}
    return [f for f in tcp_findings
            if not (f.id.startswith("wirelens.rst.") and f.stream in failed)]


def first_pass(source: str | Path | FrameSource, *, cancel: threading.Event | None = None,
               progress: Progress | None = None, keylog: Any = None) -> Capture:
    """Build the store for a capture file (or an already built index); `keylog` holds TLS
    secrets beside those the capture embeds (analyzer.keylog.KeyLog)."""
    from analyzer.capture.index import FrameIndex

    def report(stage: str, fraction: float) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        if progress is not None:
            progress(stage, fraction)

    if isinstance(source, (str, Path)):
        report("index", 0.0)
        index = FrameIndex(str(source)).build()
        path = str(source)
    else:
        index, path = source, getattr(source, "path", "")
    report("summary", 0.0)
    cols = summarize(index, CaptureState())
    register_analyzers()
    from . import conversations, diagnoses, dns, findings, tcp_flows, tls
    done: dict[str, Any] = {}

    def others() -> None:
        """What needs no TCP flags, run while a second process analyzes TCP."""
        report("conversations", 0.0)
        done["conv"] = conversations.conversations(index, cols)
        report("dns", 0.0)
        done["dns"] = dns.analyze_dns(_Cols(index, cols))
        report("tls", 0.0)
        done["tls"] = tls.analyze_tls(_Cols(index, cols), keylog)

    report("tcp", 0.0)
    tcp = analyze_tcp(index, cols, cancel, lambda f: report("tcp", f), alongside=others)
    if not done:
        others()
    cap = Capture(path, index, cols, tcp, conversations=done["conv"], dns=done["dns"],
                  tls=done["tls"])
    report("findings", 0.0)
    cap.flows = tcp_flows.build(cap)
    found = diagnoses.diagnose(cap, cap.flows)
    found = _explained(found, cap.tls.findings) + cap.dns.findings + cap.tls.findings
    cap.findings = findings.ordered(found)
    report("done", 1.0)
    return cap
