"""Per-connection TCP facts: who is client and server, handshake, data, loss, windows, closes.

Why: the diagnoses ask connection-level questions ("did the handshake complete?", "who sent
the RST, after what?") and the report prints a row per connection, Zeek-style (conn_state,
history). Everything here is a numpy group-by over the first pass's columns, indexed by
tcp.stream, so a million packets cost a few vectorized passes and no Python per packet; the
diagnoses then look at the rows of the few connections that need a closer look through
`rows_of`.

Zeek's conn_state and history (docs.zeek.org, "conn.log"): the originator is the client.
History letters, uppercase from the client, lowercase from the server, in order of first
appearance: s SYN, h SYN/ACK, a pure ACK, d data, f FIN, r RST, t retransmitted data,
w zero window, g content gap (a segment the capture missed); t, w and g are repeated when
their count reaches 10, 100, 1000 as Zeek does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import tcp_analysis as ta
from .firstpass import Capture, analyzable_rows
from .summary import ACK, FIN, RST, SYN

ROLE_SYN, ROLE_SYNACK, ROLE_FIRST = 0, 1, 2
ROLE_WORDS = ("sent the first SYN", "was answered with a SYN/ACK", "sent the first packet")
_BIG = np.iinfo(np.int64).max


@dataclass
class StreamTable:
    """One entry per tcp.stream id. Direction values follow TcpColumns.direction (1/2);
    `client_dir` says which of them the client sends. Rows are frame rows (frame - 1);
    -1 means none. Times are absolute nanoseconds."""

    present: np.ndarray          # bool: the stream has analyzed segments
    client_dir: np.ndarray       # uint8
    role: np.ndarray             # uint8: ROLE_*
    first_row: np.ndarray
    last_row: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    syns: np.ndarray             # SYNs (without ACK) from the client
    synacks: np.ndarray          # SYN/ACKs from the server
    first_syn: np.ndarray        # row
    first_synack: np.ndarray     # row
    pkts: np.ndarray             # (S, 2): client->server, server->client
    bytes: np.ndarray            # (S, 2): frame bytes
    payload: np.ndarray          # (S, 2): TCP payload bytes
    data_segs: np.ndarray        # (S, 2): segments with payload
    retrans: np.ndarray          # (S, 2): data segments flagged as retransmissions
    resent: np.ndarray           # (S, 2): ... as retransmissions or out-of-order
    fast_retrans: np.ndarray     # (S, 2)
    zero_windows: np.ndarray     # (S, 2): zero-window segments from that side (receiver)
    zero_window_ns: np.ndarray   # (S, 2): time that side's window stayed closed
    first_rst: np.ndarray        # row of the first RST
    rst_dir: np.ndarray          # uint8: its direction (0: none)
    first_fin: np.ndarray        # (S, 2) rows
    irtt_ns: np.ndarray          # handshake RTT seen from the capture point (0: unknown)
    order: np.ndarray            # analyzed rows sorted by stream, frame order within
    bounds: np.ndarray           # stream s is order[bounds[s]:bounds[s + 1]]
    state: list[str]
    history: list[str]

    def __len__(self) -> int:
        return len(self.present)

    def rows_of(self, s: int) -> np.ndarray:
        """The analyzed rows of stream s, in frame order."""
        return self.order[self.bounds[s]:self.bounds[s + 1]]

    def side_rows(self, s: int, side: int, direction: np.ndarray) -> np.ndarray:
        """Rows of stream s sent by the client (side 0) or the server (side 1);
        `direction` is TcpColumns.direction."""
        rows = self.rows_of(s)
        want = self.client_dir[s] if side == 0 else 3 - self.client_dir[s]
        return rows[direction[rows] == want]

    def side(self, s: int, direction: int) -> int:
        """0 for the client's direction, 1 for the server's."""
        return 0 if direction == self.client_dir[s] else 1


def _first(key: np.ndarray, mask: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, _BIG, np.int64)
    np.minimum.at(out, key[mask], rows[mask])
    return np.where(out == _BIG, -1, out)


def build(cap: Capture) -> StreamTable:
    cols, tcp = cap.cols, cap.tcp
    rows = analyzable_rows(cols)
    n = int(cols.stream.max()) + 1 if len(cols) and len(rows) else 0
    stream = cols.stream[rows].astype(np.int64)
    d = tcp.direction[rows]
    fl = cols.tcp_flags[rows]
    plen = cols.plen[rows].astype(np.int64)
    bits = tcp.bits[rows]
    ts_all = np.asarray(cap.index.ts_ns, np.int64)
    ts = ts_all[rows]
    flen = np.asarray(cap.index.origlens, np.int64)[rows]

    present = np.bincount(stream, minlength=n) > 0
    syn = (fl & (SYN | ACK)) == SYN
    synack = (fl & (SYN | ACK)) == (SYN | ACK)
    first_syn_any = _first(stream, syn, rows, n)
    first_synack_any = _first(stream, synack, rows, n)
    # The client: the first SYN's sender, else the side a SYN/ACK answered, else direction 1.
    client_dir = np.ones(n, np.uint8)
    role = np.full(n, ROLE_FIRST, np.uint8)
    dir_of = np.zeros(len(cols), np.uint8)
    dir_of[rows] = d
    has = first_synack_any >= 0
    client_dir[has] = 3 - dir_of[first_synack_any[has]]
    role[has] = ROLE_SYNACK
    has = first_syn_any >= 0
    client_dir[has] = dir_of[first_syn_any[has]]
    role[has] = ROLE_SYN
    side = (d != client_dir[stream]).astype(np.int64)     # 0 client->server, 1 back
    slot = stream * 2 + side

    def per_side(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(slot, weights=weights, minlength=2 * n).astype(np.int64).reshape(n, 2)

    data = plen > 0
    retr = data & ((bits & ta.RETRANSMISSION) != 0)
    first_fin = np.stack([_first(stream, ((fl & FIN) != 0) & (side == k), rows, n)
                          for k in (0, 1)], 1)
    first_rst = _first(stream, (fl & RST) != 0, rows, n)
    order = np.argsort(stream, kind="stable")
    bounds = np.searchsorted(stream[order], np.arange(n + 1))
    start = np.full(n, _BIG, np.int64)
    np.minimum.at(start, stream, ts)
    end = np.zeros(n, np.int64)
    np.maximum.at(end, stream, ts)
    irtt = np.zeros(n, np.int64)
    m = min(n, len(tcp.irtt_ns))
    irtt[:m] = tcp.irtt_ns[:m]
    t = StreamTable(
        present=present, client_dir=client_dir, role=role,
        first_row=_first(stream, np.ones(len(rows), bool), rows, n),
        last_row=np.where(present, _last(stream, rows, n), -1),
        start_ns=np.where(present, start, 0), end_ns=end,
        syns=np.bincount(stream[syn & (side == 0)], minlength=n),
        synacks=np.bincount(stream[synack & (side == 1)], minlength=n),
        first_syn=_first(stream, syn & (side == 0), rows, n),
        first_synack=_first(stream, synack & (side == 1), rows, n),
        pkts=per_side(), bytes=per_side(flen.astype(np.float64)),
        payload=per_side(plen.astype(np.float64)), data_segs=per_side(data.astype(np.float64)),
        retrans=per_side(retr.astype(np.float64)),
        resent=per_side((data & ((bits & (ta.RETRANSMISSION | ta.OUT_OF_ORDER)) != 0))
                        .astype(np.float64)),
        fast_retrans=per_side((retr & ((bits & ta.FAST_RETRANSMISSION) != 0)).astype(np.float64)),
        zero_windows=per_side(((bits & ta.ZERO_WINDOW) != 0).astype(np.float64)),
        zero_window_ns=np.zeros((n, 2), np.int64),
        first_rst=first_rst, rst_dir=np.where(first_rst >= 0, dir_of[np.maximum(first_rst, 0)], 0)
        .astype(np.uint8),
        first_fin=first_fin, irtt_ns=irtt, order=rows[order], bounds=bounds,
        state=[], history=[])
    for s in np.flatnonzero(t.zero_windows.sum(1) > 0).tolist():
        for k in (0, 1):
            t.zero_window_ns[s, k] = sum(int(ts_all[b] - ts_all[a])
                                         for a, b, _open in zero_window_stalls(cap, t, s, k))
    t.state = _states(t)
    t.history = _histories(t, stream, side, fl, plen, bits, rows, n)
    return t


def zero_window_stalls(cap: Capture, t: StreamTable, s: int,
                       side: int) -> list[tuple[int, int, bool]]:
    """The periods side's window stayed at zero in stream s: (first zero-window row, the
    row that reopened it, still closed at the end of the capture)."""
    rows = t.side_rows(s, side, cap.tcp.direction)
    zero = (cap.tcp.bits[rows] & ta.ZERO_WINDOW) != 0
    win, fl = cap.cols.window[rows], cap.cols.tcp_flags[rows]
    out, start = [], -1
    for r, z, w, f in zip(rows.tolist(), zero.tolist(), win.tolist(), fl.tolist()):
        if z and start < 0:
            start = r
        elif w and start >= 0 and not f & (SYN | RST):
            out.append((start, r, False))
            start = -1
    if start >= 0:
        out.append((start, int(t.last_row[s]), True))
    return out


def _last(stream: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -1, np.int64)
    np.maximum.at(out, stream, rows)
    return out


def _states(t: StreamTable) -> list[str]:
    """Zeek's conn_state per stream, from who sent SYN, SYN/ACK, FIN and RST first."""
    out = []
    for s in range(len(t)):
        if not t.present[s]:
            out.append("")
            continue
        syn, synack = t.syns[s] > 0, t.synacks[s] > 0
        rst_by = -1 if t.first_rst[s] < 0 else t.side(s, int(t.rst_dir[s]))
        fin_c, fin_s = t.first_fin[s, 0] >= 0, t.first_fin[s, 1] >= 0
        if rst_by >= 0:
            if syn and synack:
                state = "RSTO" if rst_by == 0 else "RSTR"
            elif syn:
                state = "RSTOS0" if rst_by == 0 else "REJ"
            elif synack:
                state = "RSTRH" if rst_by == 1 else "RSTO"
            else:
                state = "RSTO" if rst_by == 0 else "RSTR"
        elif syn and synack:
            state = "SF" if fin_c and fin_s else "S2" if fin_c else "S3" if fin_s else "S1"
        elif syn:
            state = "SH" if fin_c else "S0"
        elif synack:
            state = "SHR" if fin_s else "OTH"
        else:
            state = "OTH"
        out.append(state)
    return out


_LETTERS = (("s", None), ("h", None), ("a", None), ("d", None), ("f", None), ("r", None),
            ("t", (1, 10, 100, 1000)), ("w", (1, 10, 100, 1000)), ("g", (1, 10, 100, 1000)))


def _histories(t: StreamTable, stream: np.ndarray, side: np.ndarray, fl: np.ndarray,
               plen: np.ndarray, bits: np.ndarray, rows: np.ndarray, n: int) -> list[str]:
    """Zeek's history string per stream (see the module docstring)."""
    masks = {
        "s": (fl & (SYN | ACK)) == SYN,
        "h": (fl & (SYN | ACK)) == (SYN | ACK),
        "a": ((fl & (SYN | FIN | RST | ACK)) == ACK) & (plen == 0),
        "d": plen > 0,
        "f": (fl & FIN) != 0,
        "r": (fl & RST) != 0,
        "t": (plen > 0) & ((bits & ta.RETRANSMISSION) != 0),
        "w": (bits & ta.ZERO_WINDOW) != 0,
        "g": (bits & ta.LOST_SEGMENT) != 0,
    }
    events: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    for letter, counts in _LETTERS:
        m = masks[letter]
        for k in (0, 1):
            mk = m & (side == k)
            if not mk.any():
                continue
            ch = letter.upper() if k == 0 else letter
            if counts is None:
                first = _first(stream, mk, rows, n)
                for s in np.flatnonzero(first >= 0).tolist():
                    events[s].append((int(first[s]), ch))
                continue
            idx = np.flatnonzero(mk)
            st = stream[idx]
            o = np.argsort(st, kind="stable")
            st, r = st[o], rows[idx][o]
            starts = np.searchsorted(st, st, side="left")
            rank = np.arange(len(st)) - starts + 1
            for c in counts:
                hit = rank == c
                for s, row in zip(st[hit].tolist(), r[hit].tolist()):
                    events[s].append((row, ch))
    return ["".join(ch for _row, ch in sorted(ev)) for ev in events]
