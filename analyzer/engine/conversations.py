"""TCP and UDP conversations, as `tshark -z conv,tcp -z conv,udp` counts them.

Why: "which connections moved how much, in which direction, for how long" is the first
question about a slow or failing service, and the later diagnoses (handshake failures,
resets, one-sided transfers) start from this table. It is built from the summary columns
with numpy alone: one group-by over (protocol, stream id), no Python object per packet.

tshark's rules, observed on the corpus (tshark 4.0):
- one conversation per tcp.stream / udp.stream (a reused port pair is a new conversation);
- endpoint A is the source of the conversation's first frame, B its destination; "->"
  counts frames A->B and "<-" frames B->A; bytes are frame.len (the length on the wire);
- relative start is the earliest frame's time relative to the capture's first frame, and the
  duration runs to the latest frame;
- an ICMP error quoting a TCP/UDP header counts in no conversation, nor does a frame whose
  TCP header the capture cut (tshark stops before its conversation tap);
- a tunnelled frame counts twice: in its inner conversation and in the outer UDP one;
- the table is sorted by total frames, largest first, ties in order of first appearance.
"""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field

import numpy as np

from analyzer.engine.summary import (
    ACK,
    FIN,
    INNER,
    IPPROTO_TCP,
    IPPROTO_UDP,
    RST,
    SHORT,
    SLOW,
    SYN,
    TRANSPORT,
    FrameSource,
    SummaryColumns,
    frame_linktypes,
    is_tunnel,
)
from dissectors import CaptureState, dissect_frame

# How the client (the side that opened the conversation) was decided.
ROLE_SYN = 0      # it sent the first SYN without ACK
ROLE_SYNACK = 1   # no SYN seen: the other side answered with a SYN/ACK
ROLE_FIRST = 2    # no handshake seen: it sent the first frame (endpoint A)
ROLE_PORT = 3     # no handshake seen, and the first frame came from a well-known port
ROLE_NAMES = ("SYN sender", "SYN/ACK receiver", "first sender", "ephemeral port")

_PROTO_NAMES = {IPPROTO_TCP: "TCP", IPPROTO_UDP: "UDP"}


@dataclass
class ConversationTable:
    """One row per conversation, in tshark's display order (total frames, descending).

    Addresses follow SummaryColumns: an IPv4 address as an integer when `ipver` is 4, an
    index into `v6_table` when 6. Direction suffixes: `_ab` is A->B (tshark's "->"), `_ba`
    is B->A ("<-"). Times are nanoseconds relative to the capture's first frame.
    """

    proto: np.ndarray        # uint8: 6 (TCP) or 17 (UDP)
    stream: np.ndarray       # int32: tcp.stream / udp.stream
    ipver: np.ndarray        # uint8
    a_addr: np.ndarray       # uint32
    b_addr: np.ndarray       # uint32
    a_port: np.ndarray       # uint16
    b_port: np.ndarray       # uint16
    frames_ab: np.ndarray    # int64
    frames_ba: np.ndarray    # int64
    bytes_ab: np.ndarray     # int64
    bytes_ba: np.ndarray     # int64
    start_ns: np.ndarray     # int64
    stop_ns: np.ndarray      # int64
    first_row: np.ndarray    # int64: row (frame number - 1) of the first frame
    client_is_a: np.ndarray  # bool: A opened the conversation
    role: np.ndarray         # uint8: ROLE_* (how client_is_a was decided)
    syn_ab: np.ndarray       # int64: TCP segments with SYN, per direction
    syn_ba: np.ndarray
    fin_ab: np.ndarray       # ... with FIN
    fin_ba: np.ndarray
    rst_ab: np.ndarray       # ... with RST
    rst_ba: np.ndarray
    v6_table: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), np.uint8))

    def __len__(self) -> int:
        return len(self.proto)

    @property
    def frames(self) -> np.ndarray:
        return self.frames_ab + self.frames_ba

    @property
    def bytes(self) -> np.ndarray:
        return self.bytes_ab + self.bytes_ba

    @property
    def duration_ns(self) -> np.ndarray:
        return self.stop_ns - self.start_ns

    def address(self, i: int, side: str = "a") -> str:
        """Endpoint address of row i as tshark prints it with -n."""
        v = int(getattr(self, f"{side}_addr")[i])
        if self.ipver[i] == 6:
            return _v6_text(self.v6_table[v].tobytes())
        return _v4_text(v)

    def endpoint(self, i: int, side: str = "a") -> str:
        """"address:port" of one side of row i."""
        return f"{self.address(i, side)}:{int(getattr(self, f'{side}_port')[i])}"


@functools.lru_cache(maxsize=65536)
def _v4_text(v: int) -> str:
    """Cached: a capture has few addresses and many conversations between them."""
    return str(ipaddress.IPv4Address(v))


@functools.lru_cache(maxsize=65536)
def _v6_text(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


def _group_sums(inv: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    out = np.bincount(inv, weights=weights, minlength=n)
    return out.astype(np.int64)


def conversations(index: FrameSource, cols: SummaryColumns,
                  state: CaptureState | None = None) -> ConversationTable:
    """Every TCP and UDP conversation of a capture from its summary columns.

    A row joins the conversation of its stream id. Like tshark, ICMP error rows (flags
    INNER_TCP / INNER_UDP) count in no conversation: the quoted header is not tapped. Nor do
    rows whose TCP/UDP header the capture cut (SHORT): tshark stops before its tap. A
    tunnelled frame (summary.is_tunnel) counts in its innermost conversation, held by the
    summary row, and in the outer UDP conversation carrying the tunnel, which only the
    dissectors see: the slow rows are dissected again (with `state`, fresh by default) to
    find those.
    """
    flags = cols.flags
    own = (flags & (TRANSPORT | INNER | SHORT)) == TRANSPORT
    rows = np.flatnonzero(own & ((cols.ip_proto == IPPROTO_TCP) | (cols.ip_proto == IPPROTO_UDP))
                          & (cols.stream >= 0))
    proto = cols.ip_proto[rows]
    ver, src, dst = cols.ipver[rows], cols.src[rows], cols.dst[rows]
    sport, dport = cols.sport[rows], cols.dport[rows]
    stream = cols.stream[rows].astype(np.int64)
    v6_table = cols.v6_table
    tun = _tunnel_outer(index, cols, state or CaptureState())
    if len(tun.rows):
        v6_table = tun.v6_table
        t_stream = _outer_streams(tun, proto, ver, src, dst, sport, dport, stream)
        rows = np.concatenate([rows, tun.rows])
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        proto = np.concatenate([proto, np.full(len(tun.rows), IPPROTO_UDP, np.uint8)])[order]
        ver = np.concatenate([ver, tun.ver])[order]
        src, dst = np.concatenate([src, tun.src])[order], np.concatenate([dst, tun.dst])[order]
        sport = np.concatenate([sport, tun.sport])[order]
        dport = np.concatenate([dport, tun.dport])[order]
        stream = np.concatenate([stream, t_stream])[order]
    key = proto.astype(np.int64) << 40 | stream
    _keys, f, inv = np.unique(key, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    n = len(f)
    a_addr, b_addr, a_port, b_port = src[f], dst[f], sport[f], dport[f]
    ab = (src == a_addr[inv]) & (sport == a_port[inv]) & (dst == b_addr[inv]) \
        & (dport == b_port[inv])
    slot = inv * 2 + (~ab)           # 2 * conversation + (0: A->B, 1: B->A)
    flen = np.asarray(index.origlens, np.int64)[rows]
    fr = _group_sums(slot, 2 * n).reshape(n, 2)
    by = _group_sums(slot, 2 * n, flen).reshape(n, 2)
    ts = np.asarray(index.ts_ns, np.int64)
    t = ts[rows] - (int(ts[0]) if len(ts) else 0)
    order = np.argsort(inv, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0]) if n else np.zeros(0, int)
    start = np.minimum.reduceat(t[order], bounds) if n else np.zeros(0, np.int64)
    stop = np.maximum.reduceat(t[order], bounds) if n else np.zeros(0, np.int64)

    tf = np.where(proto == IPPROTO_TCP, cols.tcp_flags[rows], 0)
    counts = {name: _group_sums(slot, 2 * n, ((tf & bit) != 0).astype(np.float64)).reshape(n, 2)
              for name, bit in (("syn", SYN), ("fin", FIN), ("rst", RST))}
    client_is_a, role = _roles(inv, n, ab, tf)
    # Without a handshake the first sender is the client, unless it spoke from a well-known
    # port to an ephemeral one (a capture that began mid-exchange): then the other side is.
    flip = (role == ROLE_FIRST) & (a_port < 1024) & (b_port >= 1024)
    client_is_a[flip] = False
    role[flip] = ROLE_PORT

    # tshark: most frames first, ties in order of first appearance
    disp = np.lexsort((rows[f], -(fr[:, 0] + fr[:, 1])))
    return ConversationTable(
        proto=proto[f][disp], stream=stream[f][disp].astype(np.int32),
        ipver=ver[f][disp], a_addr=a_addr[disp], b_addr=b_addr[disp],
        a_port=a_port[disp], b_port=b_port[disp],
        frames_ab=fr[disp, 0], frames_ba=fr[disp, 1],
        bytes_ab=by[disp, 0], bytes_ba=by[disp, 1],
        start_ns=start[disp], stop_ns=stop[disp], first_row=rows[f][disp],
        client_is_a=client_is_a[disp], role=role[disp],
        syn_ab=counts["syn"][disp, 0], syn_ba=counts["syn"][disp, 1],
        fin_ab=counts["fin"][disp, 0], fin_ba=counts["fin"][disp, 1],
        rst_ab=counts["rst"][disp, 0], rst_ba=counts["rst"][disp, 1],
        v6_table=v6_table)


@dataclass
class _Outer:
    """The outer UDP header of tunnelled frames (few: one row per tunnelled frame)."""

    rows: np.ndarray
    ver: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    v6_table: np.ndarray


def _tunnel_outer(index: FrameSource, cols: SummaryColumns, state: CaptureState) -> _Outer:
    """Dissect the slow rows (tunnels never take the fast path) and keep, for each tunnelled
    frame carried over UDP, the outermost IP addresses and UDP ports."""
    lts = frame_linktypes(index)
    v6: dict[bytes, int] = {}    # filled on the first IPv6 tunnel
    v6_new: list[bytes] = []
    out: list[tuple[int, int, int, int, int, int]] = []
    for i in np.flatnonzero((cols.flags & (SLOW | TRANSPORT)) == (SLOW | TRANSPORT)).tolist():
        frame = {"number": i + 1, "ts_ns": int(index.ts_ns[i]), "origlen": int(index.origlens[i]),
                 "linktype": int(lts[i]), "iface": int(index.ifaces[i]) if lts[i] >= 0 else -1,
                 "state": state}
        _root, pkt = dissect_frame(index.frame(i), tree=False, **frame)
        if not is_tunnel(pkt.layers):
            continue
        root, pkt = dissect_frame(index.frame(i), tree=True, **(frame | {"number": 1,
                                                                         "state": CaptureState()}))
        outer = next((x for x in pkt.layers if x in ("ip", "ipv6")), "")
        if root is None or not outer or pkt.layers[pkt.layers.index(outer) + 1] != "udp":
            continue
        vals = root.values()
        try:
            a, b = vals[f"{outer}.src"][0], vals[f"{outer}.dst"][0]
            sp, dp = int(vals["udp.srcport"][0]), int(vals["udp.dstport"][0])
        except (KeyError, IndexError):
            continue
        if outer == "ip":
            out.append((i, 4, int.from_bytes(a, "big"), int.from_bytes(b, "big"), sp, dp))
            continue
        if not v6:
            v6 = {row.tobytes(): k for k, row in enumerate(cols.v6_table)}
        ids = []
        for addr in (bytes(a), bytes(b)):
            if addr not in v6:
                v6[addr] = len(cols.v6_table) + len(v6_new)
                v6_new.append(addr)
            ids.append(v6[addr])
        out.append((i, 6, ids[0], ids[1], sp, dp))
    arr = np.array(out, np.int64).reshape(-1, 6)
    table = cols.v6_table if not v6_new else np.concatenate(
        [cols.v6_table, np.frombuffer(b"".join(v6_new), np.uint8).reshape(-1, 16)])
    return _Outer(arr[:, 0], arr[:, 1].astype(np.uint8), arr[:, 2].astype(np.uint32),
                  arr[:, 3].astype(np.uint32), arr[:, 4].astype(np.uint16),
                  arr[:, 5].astype(np.uint16), table)


def _outer_streams(tun: _Outer, proto: np.ndarray, ver: np.ndarray, src: np.ndarray,
                   dst: np.ndarray, sport: np.ndarray, dport: np.ndarray,
                   stream: np.ndarray) -> np.ndarray:
    """Stream keys for the tunnels' outer UDP headers: the stream of the same address/port
    pair among the ordinary UDP rows (the tunnel's control messages), else a new key."""
    def pair(v: int, s: int, d: int, sp: int, dp: int) -> tuple[int, ...]:
        return (v,) + min((s, sp), (d, dp)) + max((s, sp), (d, dp))

    udp = np.flatnonzero(proto == IPPROTO_UDP)
    known: dict[tuple[int, ...], int] = {}
    if len(tun.rows):
        for j in udp.tolist():
            known.setdefault(pair(int(ver[j]), int(src[j]), int(dst[j]), int(sport[j]),
                                  int(dport[j])), int(stream[j]))
    fresh = 1 << 32
    out = np.empty(len(tun.rows), np.int64)
    for k in range(len(tun.rows)):
        p = pair(int(tun.ver[k]), int(tun.src[k]), int(tun.dst[k]), int(tun.sport[k]),
                 int(tun.dport[k]))
        if p not in known:
            known[p] = fresh
            fresh += 1
        out[k] = known[p]
    return out


def _first_of(inv: np.ndarray, n: int, mask: np.ndarray) -> np.ndarray:
    """Index (into the rows) of each conversation's first row where mask holds, else -1."""
    out = np.full(n, -1, np.int64)
    hit = np.flatnonzero(mask)[::-1]      # reversed: the earliest write wins
    out[inv[hit]] = hit
    return out


def _roles(inv: np.ndarray, n: int, ab: np.ndarray,
           tf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Who opened each conversation: the first SYN's sender, else the side a SYN/ACK
    answered, else endpoint A (it spoke first)."""
    syn = _first_of(inv, n, (tf & (SYN | ACK)) == SYN)
    synack = _first_of(inv, n, (tf & (SYN | ACK)) == (SYN | ACK))
    client_is_a = np.ones(n, bool)
    role = np.full(n, ROLE_FIRST, np.uint8)
    s = synack >= 0
    client_is_a[s] = ~ab[synack[s]]
    role[s] = ROLE_SYNACK
    s = syn >= 0
    client_is_a[s] = ab[syn[s]]
    role[s] = ROLE_SYN
    return client_is_a, role


# -- tshark's text ------------------------------------------------------------------------
_RULE = "=" * 80
_HEAD = (" " * 59 + "|       <-      | |       ->      | |     Total     |    Relative    |"
         "   Duration   |\n" + " " * 59 + "| Frames  Bytes | | Frames  Bytes | | Frames  Bytes |"
         "      Start     |              |\n")


def format_size(n: int) -> str:
    """A byte count as tshark prints it: exact below 10 kB, then truncated SI units."""
    for unit, power in (("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if n // power >= 10:
            return f"{n // power} {unit}"
    return f"{n} bytes"


def _seconds(ns: int) -> float:
    """A time as tshark's nstime_to_sec makes it: seconds plus nanoseconds / 1e9."""
    s, rem = divmod(ns, 1_000_000_000)
    return s + rem / 1e9


def _table(t: ConversationTable, proto: int) -> str:
    out = [_RULE, f"{_PROTO_NAMES[proto]} Conversations", "Filter:<No Filter>"]
    text = "\n".join(out) + "\n" + _HEAD
    lines = []
    for i in np.flatnonzero(t.proto == proto).tolist():
        dur = _seconds(int(t.stop_ns[i])) - _seconds(int(t.start_ns[i]))
        lines.append(
            f"{t.endpoint(i, 'a'):<26s} <-> {t.endpoint(i, 'b'):<26s}"
            f"  {int(t.frames_ba[i]):6d} {format_size(int(t.bytes_ba[i])):<9s}"
            f"  {int(t.frames_ab[i]):6d} {format_size(int(t.bytes_ab[i])):<9s}"
            f"  {int(t.frames_ab[i] + t.frames_ba[i]):6d}"
            f" {format_size(int(t.bytes_ab[i] + t.bytes_ba[i])):<9s}"
            f"  {_seconds(int(t.start_ns[i])):14.9f}   {dur:12.4f}\n")
    return text + "".join(lines) + _RULE + "\n"


def format_tshark(table: ConversationTable) -> str:
    """The text of `tshark -n -z conv,tcp -z conv,udp` (tshark prints the UDP table first)."""
    return _table(table, IPPROTO_UDP) + _table(table, IPPROTO_TCP)
