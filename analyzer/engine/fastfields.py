"""`read -T fields` served from the summary columns instead of a tree per frame.

Why: building a field tree per frame in Python costs tens of microseconds, so printing a few
header fields of a million frames that way is slower than tshark. The fields scripts ask for
most (frame numbers and times, addresses, ports, flags, sequence numbers, lengths, streams)
are all in the index and the summary columns; they are formatted here a chunk of rows at a
time. Rows the summary pass decoded with the Python dissectors (fragments, ICMP errors,
tunnels, damaged frames) are dissected again, with the summary pass's state, for exactly the
same cells the sequential path prints, except the stream-wide values (stream ids and
relative sequence numbers) that only the columns know for the whole capture.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from dissectors import CaptureState, dissect_frame
from dissectors.fields import ipv4_str, ipv6_str, nsec_str
from dissectors.tcp import TcpFlow, learn_bases, rebases, relative

from ..capture import FrameIndex
from ..output import FieldsFormat, field_cells
from .summary import (INNER, INNER_TCP, INNER_UDP, MALFORMED_ROW, SHORT, SLOW, TRANSPORT,
                      SummaryColumns, is_tunnel, summarize)

IPPROTO_TCP, IPPROTO_UDP = 6, 17
CHUNK = 1 << 15
# Rows whose cells come from the Python dissectors, not the columns.
_TREE_ROWS = SLOW | INNER | SHORT | MALFORMED_ROW
# Fields that depend on the whole capture: the columns know them for every row (stream ids
# also for the TCP/UDP header an ICMP error quotes; its numbers are shown raw).
_STREAMS = {"tcp.stream", "udp.stream"}
_STREAM_WIDE = _STREAMS | {"tcp.seq", "tcp.ack"}

Cells = Callable[["FieldColumns", slice], list[str]]


class FieldColumns:
    """The capture as columns, with the derived per-row values -T fields needs."""

    def __init__(self, index: FrameIndex, cols: SummaryColumns, state: CaptureState) -> None:
        self.index = index
        self.cols = cols
        self.state = state
        self.ts = np.asarray(index.ts_ns, np.int64)
        self.untimed = index.untimed_frames()
        self.is_tcp = ((cols.flags & (TRANSPORT | INNER)) == TRANSPORT) & \
            (cols.ip_proto == IPPROTO_TCP)
        self.is_udp = ((cols.flags & (TRANSPORT | INNER)) == TRANSPORT) & \
            (cols.ip_proto == IPPROTO_UDP)
        transport = (cols.flags & TRANSPORT) != 0
        self.tcp_stream = self.is_tcp | (transport & ((cols.flags & INNER_TCP) != 0))
        self.udp_stream = self.is_udp | (transport & ((cols.flags & INNER_UDP) != 0))
        self._rel: tuple[np.ndarray, np.ndarray] | None = None
        self._v6: list[str] | None = None
        self._v4: dict[int, str] = {}

    @property
    def relative(self) -> tuple[np.ndarray, np.ndarray]:
        """tcp.seq and tcp.ack for every TCP row, by TCP's own base rules (dissectors.tcp)."""
        if self._rel is None:
            c = self.cols
            rows = np.flatnonzero(self.is_tcp)
            seq = c.seq.astype(np.int64)
            ack = c.ack.astype(np.int64)
            # Direction as TCP numbers it: flow 1 when (src, port) sorts above (dst, port).
            fwd1 = (c.src[rows] > c.dst[rows]) | ((c.src[rows] == c.dst[rows]) &
                                                  (c.sport[rows] > c.dport[rows]))
            flows: dict[int, tuple[TcpFlow, TcpFlow]] = {}
            rel_seq = seq.copy()
            rel_ack = ack.copy()
            for i, stream, d1, flags, s, a in zip(rows.tolist(), c.stream[rows].tolist(),
                                                  fwd1.tolist(), c.tcp_flags[rows].tolist(),
                                                  c.seq[rows].tolist(), c.ack[rows].tolist()):
                pair = flows.get(stream)
                if pair is None:
                    pair = flows[stream] = (TcpFlow(), TcpFlow())
                fwd, rev = pair if d1 else (pair[1], pair[0])
                if rebases(fwd, flags, s):
                    fwd.base_seq = s
                learn_bases(fwd, rev, flags, s, a)
                rel_seq[i], rel_ack[i] = relative(fwd.base_seq, rev.base_seq, flags, s, a)
            self._rel = rel_seq, rel_ack
        return self._rel

    def address(self, which: str, rows: slice, version: int) -> list[str]:
        c = self.cols
        vals = getattr(c, which)[rows].tolist()
        vers = c.ipver[rows].tolist()
        if version == 4:
            cache = self._v4
            out = []
            for v, ver in zip(vals, vers):
                if ver != 4:
                    out.append("")
                    continue
                s = cache.get(v)
                if s is None:
                    s = cache[v] = ipv4_str(v)
                out.append(s)
            return out
        if self._v6 is None:
            self._v6 = [ipv6_str(bytes(a)) for a in c.v6_table]
        table = self._v6
        return [table[v] if ver == 6 else "" for v, ver in zip(vals, vers)]


def _ints(arr: np.ndarray, mask: np.ndarray, fmt: str = "{}") -> list[str]:
    f = fmt.format
    return [f(v) if m else "" for v, m in zip(arr.tolist(), mask.tolist())]


def _time(fc: FieldColumns, rows: slice, origin: str) -> list[str]:
    ts = fc.ts[rows]
    if origin == "epoch":
        vals = ts
    elif origin == "first":
        vals = ts - (fc.ts[0] if len(fc.ts) else 0)
    else:
        prev = np.concatenate(([fc.ts[rows.start - 1] if rows.start else
                                (ts[0] if len(ts) else 0)], ts[:-1]))
        vals = ts - prev
    return [nsec_str(v) for v in vals.tolist()]


def _epoch(fc: FieldColumns, rows: slice) -> list[str]:
    """Epoch times; empty for records without a time stamp (pcapng SPB, Custom Block)."""
    cells = _time(fc, rows, "epoch")
    for i in fc.untimed:
        if rows.start <= i < rows.stop:
            cells[i - rows.start] = ""
    return cells


def _port(fc: FieldColumns, rows: slice, proto: str, which: str) -> list[str]:
    mask = (fc.is_tcp if proto == "tcp" else fc.is_udp)[rows]
    return _ints(getattr(fc.cols, which)[rows], mask)


CELLS: dict[str, Cells] = {
    "frame.number": lambda fc, r: [str(i + 1) for i in range(r.start, r.stop)],
    "frame.time_epoch": lambda fc, r: _epoch(fc, r),
    "frame.time_relative": lambda fc, r: _time(fc, r, "first"),
    "frame.time_delta": lambda fc, r: _time(fc, r, "previous"),
    "frame.len": lambda fc, r: [str(v) for v in np.maximum(
        np.asarray(fc.index.origlens)[r], np.asarray(fc.index.caplens)[r]).tolist()],
    "frame.cap_len": lambda fc, r: [str(v) for v in np.asarray(fc.index.caplens)[r].tolist()],
    "ip.src": lambda fc, r: fc.address("src", r, 4),
    "ip.dst": lambda fc, r: fc.address("dst", r, 4),
    "ipv6.src": lambda fc, r: fc.address("src", r, 6),
    "ipv6.dst": lambda fc, r: fc.address("dst", r, 6),
    "ip.proto": lambda fc, r: _ints(fc.cols.ip_proto[r], fc.cols.ipver[r] == 4),
    "tcp.srcport": lambda fc, r: _port(fc, r, "tcp", "sport"),
    "tcp.dstport": lambda fc, r: _port(fc, r, "tcp", "dport"),
    "udp.srcport": lambda fc, r: _port(fc, r, "udp", "sport"),
    "udp.dstport": lambda fc, r: _port(fc, r, "udp", "dport"),
    "tcp.stream": lambda fc, r: _ints(fc.cols.stream[r], fc.tcp_stream[r]),
    "udp.stream": lambda fc, r: _ints(fc.cols.stream[r], fc.udp_stream[r]),
    "tcp.flags": lambda fc, r: _ints(fc.cols.tcp_flags[r], fc.is_tcp[r], "0x{:04x}"),
    "tcp.seq_raw": lambda fc, r: _ints(fc.cols.seq[r], fc.is_tcp[r]),
    "tcp.ack_raw": lambda fc, r: _ints(fc.cols.ack[r], fc.is_tcp[r]),
    "tcp.seq": lambda fc, r: _ints(fc.relative[0][r], fc.is_tcp[r]),
    "tcp.ack": lambda fc, r: _ints(fc.relative[1][r], fc.is_tcp[r]),
    "tcp.len": lambda fc, r: _ints(fc.cols.plen[r], fc.is_tcp[r]),
    "tcp.window_size_value": lambda fc, r: _ints(fc.cols.window[r], fc.is_tcp[r]),
    "udp.length": lambda fc, r: _ints(fc.cols.plen[r], fc.is_udp[r]),
}


def serves(names: list[str], fmt: FieldsFormat) -> bool:
    """True when every field is column-backed and the -E options keep cells simple."""
    return bool(names) and all(n in CELLS for n in names) and fmt.occurrence == "a" \
        and not fmt.quote


def open_columns(path: str) -> FieldColumns | None:
    """Index and summarize a capture for column-served output; None when a frame tunnels
    one transport in another (its outer conversation is not in the columns), so the caller
    takes the per-frame path instead."""
    index = FrameIndex()
    index.open(path)
    try:
        index.build()
        state = CaptureState()
        cols = summarize(index, state)
        for row in np.flatnonzero(cols.flags & SLOW).tolist():
            f = index.raw_frame(row)
            _root, pkt = dissect_frame(f.data, number=row + 1, ts_ns=f.ts_ns,
                                       origlen=f.origlen, linktype=f.linktype, iface=f.iface,
                                       state=state, tree=False)
            if is_tunnel(pkt.layers):
                index.close()
                return None
    except BaseException:
        index.close()
        raise
    return FieldColumns(index, cols, state)


def lines(fc: FieldColumns, names: list[str], fmt: FieldsFormat,
          count: int | None = None) -> Iterator[str]:
    """The `-T fields` output lines, chunk by chunk, from the columns; closes the index."""
    try:
        n = len(fc.index) if count is None else min(count, len(fc.index))
        flags = fc.cols.flags
        sep = fmt.separator
        for lo in range(0, n, CHUNK):
            rows = slice(lo, min(n, lo + CHUNK))
            table = [CELLS[name](fc, rows) for name in names]
            for i in np.flatnonzero(flags[rows] & _TREE_ROWS).tolist():
                _tree_cells(fc, lo + i, names, fmt, table, i)
            yield "".join(sep.join(r) + "\n" for r in zip(*table))
    finally:
        fc.index.close()


def _tree_cells(fc: FieldColumns, row: int, names: list[str], fmt: FieldsFormat,
                table: list[list[str]], i: int) -> None:
    """Replace row i's cells with the Python dissectors' (stream-wide ones excepted)."""
    f = fc.index.raw_frame(row)
    root, pkt = dissect_frame(f.data, number=row + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                              linktype=f.linktype, iface=f.iface, state=fc.state)
    from_columns = _STREAM_WIDE if fc.is_tcp[row] or fc.is_udp[row] else \
        _STREAMS if fc.tcp_stream[row] or fc.udp_stream[row] else set()
    cells = field_cells(names, root, pkt, fmt, "")
    for j, name in enumerate(names):
        if not name.startswith("frame.") and name not in from_columns:
            table[j][i] = cells[j]


__all__ = ["serves", "open_columns", "lines", "FieldColumns"]
