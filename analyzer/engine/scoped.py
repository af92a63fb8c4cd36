"""Scoped dissection: the full trees of chosen frames, exactly as one in-order pass over the
whole capture shows them, dissecting only the frames those trees depend on.

Why: a display filter on a field only the full dissection has (`dns.qry.name`,
`tls.handshake.type`) used to walk every frame of the capture without a tree to get the
per-capture dissector state right at each candidate. That costs the whole capture (about
50 us a frame) whatever the candidates. A frame's dissection depends only on earlier frames
that share state with it, and the first pass already knows who shares what:

* TCP: the conversation (address/port pair), including earlier streams on reused ports
  (tcp.stream, relative numbers, window scaling, completeness, reassembly, TLS records and
  DNS over TCP live per stream) and the ICMP errors that quote its segments;
* UDP: the conversation (udp.stream, DNS transactions), ICMP quotes included;
* ICMP echo pairing: the earlier echo messages (kept together with every ICMP row);
* IP reassembly and whatever else the summary's fast path left to the dissectors (SLOW
  rows: fragments, options, unusual headers): every earlier slow row;
* the frame layer: the first and the previous frame's time stamps, passed explicitly.

So the frames dissected for a set of candidate rows are, per partition holding a
candidate, its rows up to the last candidate in it (plus the slow rows up to the last slow
one among those), in frame order with one CaptureState; only candidates get a tree.
Stream numbers come from the first pass (`TcpState.hint` / `UdpState.hint`), because the
frames in between are missing; the TCP sequence analysis comes from the first pass's flag
columns and a replay of the stream up to the candidate (`firstpass.replay`), not from a
SequenceAnnotator that would need every segment.

One case falls back to the walk over every frame: a capture with tunnels (a frame carrying
TCP/UDP inside UDP or IP), whose outer conversations the summary columns do not number.

What can still differ from the walk over every frame: the dissectors' capture-wide memory
bounds see fewer frames here (TCP reassembly drops the oldest pending PDU past 32 MB held
across all connections, ICMP echo pairing forgets requests past 65536 pending, DNS stops
at 4M transactions), so a capture that hits one of them in the full walk can show more
here. tests/test_filter_scoped.py compares both ways on every corpus and sample capture.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from analyzer.capture import CaptureError
from dissectors import CaptureState, dissect_frame
from dissectors.packet import Packet
from dissectors.reassembly import read_back
from dissectors.tcp import TcpState
from dissectors.tree import Node
from dissectors.udp import UdpState

from . import tcp_analysis as ta
from .annotate import SequenceAnnotator
from .summary import (
    INNER,
    INNER_TCP,
    INNER_UDP,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SLOW,
    TRANSPORT,
    is_tunnel,
)

Dissected = tuple[int, Node | None, Packet]
STOP_EVERY = 256    # frames dissected between checks of the caller's stop()


class Partitions:
    """Which rows share dissector state, from the first pass's columns (built once per
    capture; 5 bytes a frame).

    `part[row]` is the row's TCP or UDP partition (-1 none): 2 * group for TCP, where a
    group is the streams of one address/port pair (reused ports), 2 * stream + 1 for UDP.
    `proto[row]` says which transport's stream number the first pass gave the row
    (IPPROTO_TCP, IPPROTO_UDP or 0), `cols.stream[row]` is that number.
    """

    def __init__(self, cap: Any) -> None:
        cols = cap.cols
        flags, stream = cols.flags, cols.stream
        own = (flags & (TRANSPORT | INNER)) == TRANSPORT
        has = stream >= 0
        tcp = has & (own & (cols.ip_proto == IPPROTO_TCP) | ((flags & INNER_TCP) != 0))
        udp = has & (own & (cols.ip_proto == IPPROTO_UDP) | ((flags & INNER_UDP) != 0))
        self.proto = np.where(tcp, IPPROTO_TCP, np.where(udp, IPPROTO_UDP, 0)).astype(np.uint8)
        group = _tcp_groups(cols, own & tcp, stream)
        part = np.full(len(cols), -1, np.int32)
        part[tcp] = 2 * group[stream[tcp]]
        part[udp] = 2 * stream[udp] + 1
        self.part = part
        self.nparts = int(part.max()) + 1 if len(part) else 0
        self._tunnels: bool | None = None
        self._cap = cap

    @property
    def tunnels(self) -> bool:
        """Does any frame carry a transport inside another (dissected once to find out:
        tunnels never take the fast path, and only rows with a transport can hold one)?"""
        if self._tunnels is None:
            cap = self._cap
            state = CaptureState()
            rows = np.flatnonzero((cap.cols.flags & (SLOW | TRANSPORT)) == (SLOW | TRANSPORT))
            self._tunnels = any(is_tunnel(_dissect(cap.index, i, state, False, None)[1].layers)
                                for i in rows.tolist())
        return self._tunnels

    def scope(self, rows: np.ndarray) -> np.ndarray:
        """The rows to dissect, in frame order, for the candidate `rows` (sorted): each
        candidate's partition up to it; the ICMP rows up to the last ICMP candidate (echo
        pairing); and when any of those is a slow row, every slow row up to the last one
        (IP reassembly, and whatever else only the dissectors decoded)."""
        if len(rows) == 0:
            return rows
        cols = self._cap.cols
        parts = [rows]
        pk = self.part[rows]
        has = pk >= 0
        if has.any():
            limit = np.full(self.nparts, -1, np.int64)
            np.maximum.at(limit, pk[has], rows[has])
            member = np.flatnonzero(self.part >= 0)
            parts.append(member[member <= limit[self.part[member]]])
        own = (cols.flags[rows] & (TRANSPORT | INNER)) == TRANSPORT
        icmp = rows[own & np.isin(cols.ip_proto[rows], _ICMP)]
        if len(icmp):
            last = int(icmp[-1])
            f = cols.flags[:last + 1]
            parts.append(np.flatnonzero(((f & (TRANSPORT | INNER)) == TRANSPORT)
                                        & np.isin(cols.ip_proto[:last + 1], _ICMP)))
        out = np.unique(np.concatenate(parts))
        slow = out[(cols.flags[out] & SLOW) != 0]
        if len(slow):
            last = int(slow[-1])
            out = np.union1d(out, np.flatnonzero((cols.flags[:last + 1] & SLOW) != 0))
        return out


_ICMP = (IPPROTO_ICMP, IPPROTO_ICMPV6)


def _tcp_groups(cols: Any, own_tcp: np.ndarray, stream: np.ndarray) -> np.ndarray:
    """Per tcp.stream, a group id shared by the streams of one address/port pair (the
    dissector's conversation key: a stream reusing ports continues its predecessor's
    state). A stream seen only inside ICMP errors is a group of its own."""
    nstreams = int(stream.max()) + 1 if len(stream) else 0
    rows = np.flatnonzero(own_tcp)
    s = stream[rows]
    _, first = np.unique(s, return_index=True)
    r, s = rows[first], s[first]
    ver = cols.ipver[r].astype(np.uint64) << np.uint64(48)
    a = ver | cols.src[r].astype(np.uint64) << np.uint64(16) | cols.sport[r].astype(np.uint64)
    b = ver | cols.dst[r].astype(np.uint64) << np.uint64(16) | cols.dport[r].astype(np.uint64)
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], 1)
    group = np.arange(nstreams, dtype=np.int64)
    if len(pairs):
        _, inv = np.unique(pairs, axis=0, return_inverse=True)
        group[s] = nstreams + inv.reshape(-1)
    return group


class _Recorded:
    """The analyzer outputs of one segment, in the shape SequenceAnnotator reads them."""

    __slots__ = (
        "ack_rtt_ns",
        "acks_frame",
        "bytes_in_flight",
        "dupack_frame",
        "dupack_num",
        "initial_rtt_ns",
        "push_bytes_sent",
        "rto_frame",
        "rto_ns",
    )


class ScopedAnnotator(SequenceAnnotator):
    """tcp.analysis.* and the [Timestamps] of the TCP layer on frames dissected out of
    their full in-order context: flags from the first pass's columns, numbers from a
    replay of the frame's stream up to it (the analysis of a segment depends on its
    stream's earlier segments only), done when a stream's first tree asks, through the
    last of `rows` in that stream (`lazy`: through the asking frame, for callers that need
    few of the trees; a later one replays again)."""

    def __init__(self, cap: Any, rows: np.ndarray, lazy: bool = False) -> None:
        from .firstpass import analyzable_rows
        self.cap = cap
        self.analyzer = _Recorded()   # type: ignore[assignment]
        self.ts = np.asarray(cap.index.ts_ns, np.int64)
        self.lazy = lazy
        self._values: dict[int, Any] = {}
        self._analyzed = analyzable_rows(cap.cols)
        cand = rows[np.isin(rows, self._analyzed)]
        streams = cap.cols.stream[cand].astype(np.int64)
        order = np.lexsort((cand, streams))
        streams, cand = streams[order], cand[order]
        last = np.r_[streams[1:] != streams[:-1], True] if len(streams) else np.zeros(0, bool)
        self._last = dict(zip(streams[last].tolist(), cand[last].tolist()))

    def values(self, stream: int, row: int) -> Any:
        """The replayed numbers of `stream` through at least `row`."""
        from .firstpass import replay
        v = self._values.get(stream)
        if v is not None and len(v.rows) and v.rows[-1] >= row:
            return v
        cap = self.cap
        upto = row if self.lazy else max(row, self._last.get(stream, row))
        srows = cap.flows.rows_of(stream) if cap.flows is not None and \
            0 <= stream < len(cap.flows) else \
            self._analyzed[cap.cols.stream[self._analyzed] == stream]
        v = self._values[stream] = replay(cap.index, cap.cols, cap.tcp, srows[srows <= upto])
        return v

    def __call__(self, root: Node | None, pkt: Packet) -> int:
        if not ta.analyzable(pkt):
            return 0
        row = pkt.number - 1
        v = self.values(pkt.tcp.stream, row)
        i = v.at(row)
        if i < 0:
            return 0
        ts = self.ts
        since_first = int(ts[row] - ts[v.rows[0]])
        since_prev = int(ts[row] - ts[v.rows[i - 1]]) if i else 0
        if not ta.analysis_shown(pkt):
            return 0
        t = self.cap.tcp
        bits = int(t.bits[row])
        a = self.analyzer
        a.acks_frame = int(v.acks_frame[i])
        a.ack_rtt_ns = int(v.ack_rtt_ns[i])
        s = pkt.tcp.stream
        a.initial_rtt_ns = int(t.irtt_ns[s]) if s < len(t.irtt_ns) and \
            row >= t.irtt_row[s] and v.shown[i] else 0
        a.bytes_in_flight = int(v.bytes_in_flight[i])
        a.push_bytes_sent = int(v.push_bytes[i])
        a.rto_ns, a.rto_frame = int(v.rto_ns[i]), int(v.rto_frame[i])
        a.dupack_num = a.dupack_frame = 0
        k = int(np.searchsorted(t.dupack_rows, row))
        if k < len(t.dupack_rows) and t.dupack_rows[k] == row:
            a.dupack_num, a.dupack_frame = int(t.dupack_num[k]), int(t.dupack_frame[k])
        self._info(pkt, bits)
        if root is not None:
            tcp = next((n for n in root.children or () if n.spec is not None
                        and n.spec.abbrev == "tcp"), None)
            if tcp is not None:
                self._timestamps(tcp, since_first, since_prev)
                self._tree(tcp, bits)
        return bits


def _dissect(index: Any, i: int, state: CaptureState, tree: bool,
             prev_ts: int | None) -> tuple[Node | None, Packet]:
    """Frame row i through dissect_frame, as the in-order walk calls it."""
    f = index.raw_frame(i)
    ifs = getattr(index, "interfaces", [])
    name = (ifs[f.iface].name or "unknown") if getattr(index, "format", "") == "pcapng" \
        and 0 <= f.iface < len(ifs) else ""
    return dissect_frame(f.data, number=i + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                         linktype=f.linktype, iface=f.iface, comment=f.comment,
                         has_ts=f.has_ts, iface_name=name, state=state, tree=tree,
                         prev_ts_ns=prev_ts, prev_displayed_ts_ns=prev_ts)


def _frame_reader(index: Any) -> Callable[[int], bytes | None]:
    """Frame number -> its captured bytes, None when they cannot be read."""
    def read(number: int) -> bytes | None:
        try:
            return index.raw_frame(number - 1).data
        except (CaptureError, IndexError, OSError, ValueError):
            return None
    return read


def partitions(cap: Any) -> Partitions:
    """The capture's partitions, built on first use and kept on the capture."""
    got = getattr(cap, "_partitions", None)
    if got is None:
        got = cap._partitions = Partitions(cap)
    return got


def dissect_rows(cap: Any, rows: Any, stop: Callable[[], bool] | None = None,
                 skip: Callable[[Packet], bool] | None = None) -> Iterator[Dissected]:
    """(row, tree, packet) for each of `rows` (ascending), each as the in-order walk over
    the whole capture shows it, tcp.analysis items included. Stops early (without an
    error) when `stop()` turns true; the caller checks it again to tell.

    `skip(packet)`, when given, is asked about each row's packet dissected without a tree
    first: True means its tree is not needed (the row comes with tree None), else the
    frame is dissected again with a tree, now as a visited frame, which reads what its
    first dissection stored and shows the same tree. That holds for every dissector but
    ICMP echo pairing (a visited request knows its reply is missing, an in-order one does
    not know yet), so only fast-path TCP and UDP rows take that way."""
    rows = np.unique(np.asarray(rows, np.int64))
    if len(rows) == 0:
        return
    p = partitions(cap)
    if p.tunnels:
        yield from _walk_all(cap, rows, stop)
        return
    todo = p.scope(rows)
    want = np.zeros(len(todo), bool)
    want[np.searchsorted(todo, rows)] = True
    proto = p.proto[todo]
    twice = want & ((cap.cols.flags[todo] & SLOW) == 0) & (proto != 0) if skip is not None \
        else np.zeros(len(todo), bool)
    annotate = ScopedAnnotator(cap, rows, lazy=skip is not None)
    state = CaptureState()
    # a scope can span most of a capture's TLS traffic: its reassembled PDUs are read
    # back from their frames if needed again, not all kept in memory while this runs
    read_back(state, _frame_reader(cap.index))
    ts = np.asarray(cap.index.ts_ns, np.int64)
    if len(ts):
        state.first_ts_ns = int(ts[0])
    tcp_st = state.slot("tcp", TcpState)
    udp_st = state.slot("udp", UdpState)
    prev = np.where(todo > 0, ts[np.maximum(todo - 1, 0)], -1).tolist()
    index = cap.index
    # A file index's mapped pages count as our memory once read: a scope across the
    # capture would hold most of the file (600 MB for a TLS filter on 1M packets)
    release = getattr(index, "release", None)
    released = int(todo[0])
    for k, (i, tree, again, pr, h, before) in enumerate(zip(
            todo.tolist(), want.tolist(), twice.tolist(), proto.tolist(),
            cap.cols.stream[todo].tolist(), prev)):
        if k % STOP_EVERY == 0:
            if stop is not None and stop():
                return
            if release is not None:
                release(released, i)
                released = i
        tcp_st.hint = h if pr == IPPROTO_TCP else None
        udp_st.hint = h if pr == IPPROTO_UDP else None
        before = before if i else None
        root, pkt = _dissect(index, i, state, tree and not again, before)
        if again:
            if skip(pkt):     # type: ignore[misc]
                yield i, None, pkt
                continue
            root, pkt = _dissect(index, i, state, True, before)
        if tree:
            annotate(root, pkt)
            yield i, root, pkt


def _walk_all(cap: Any, rows: np.ndarray, stop: Callable[[], bool] | None
              ) -> Iterator[Dissected]:
    """Every frame up to the last row asked for, in order, as `read` dissects them."""
    from .firstpass import _Cursor
    cursor = _Cursor(cap.index)
    for i in rows.tolist():
        if stop is not None and stop():
            return
        root, pkt = cursor.dissect(i)
        yield i, root, pkt


__all__ = ["Partitions", "ScopedAnnotator", "dissect_rows", "partitions"]
