"""Evaluate a compiled filter over the first pass's per-frame columns, without dissecting.

Each test gets two masks, rows where it is surely true and rows where it is surely false;
the rest are unknown and go to the tree path. A test on fields the columns hold (ports,
addresses, flags, lengths, stream ids, `tcp.analysis.*` bits, `wirelens.*` findings) is
answered exactly on every row whose columns are authoritative. Rows the summary's fast path
did not decode (SLOW: options, fragments, ICMP errors quoting a TCP/UDP header — tshark
shows a `tcp` layer for those —, tunnels; SHORT; MALFORMED) are never answered from columns.

A test on fields only a full dissection has is still surely false on an authoritative row
where the field's protocol cannot occur: `POSSIBLE` maps a field-name prefix to the rows it
can occur on (`dns.*` only on port 53/5353/5355, `tls.*` only on TCP with payload). Other
engineers extend that table as protocols arrive; a prefix not in it can occur anywhere.
A store that knows more (the first pass's TLS analyzer knows which rows carry handshake
records) may offer `possible_rows(prefix) -> bool mask or None`, asked first at each level.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dissectors.fields import EXPERTS
from dissectors.tls import HANDSHAKE_HINT

from ..engine import summary as S
from ..engine.tcp_analysis import FLAG_FIELDS
from . import compiler as C
from . import literals as L

Occ = list[tuple[Any, Any]]     # one (values, present) pair per occurrence of a field
NONAUTH = S.SLOW | S.INNER | S.SHORT | S.MALFORMED_ROW | S.LEN_UNKNOWN
FAST, ALL = "fast", "all"


class Env:
    """The store's columns for one select() call, with derived masks computed once."""

    def __init__(self, store: Any) -> None:
        self.store = store
        cols = store.cols
        self.cols = cols
        self.n = len(cols)
        self.flags = cols.flags
        self.auth = (cols.flags & NONAUTH) == 0
        self.cache: dict[str, Any] = {}
        ip = cols.ipver > 0
        transport = (cols.flags & S.TRANSPORT) != 0
        self.is_ip4 = cols.ipver == 4
        self.is_ip6 = cols.ipver == 6
        self.is_tcp = ip & (cols.ip_proto == S.IPPROTO_TCP) & transport
        self.is_udp = ip & (cols.ip_proto == S.IPPROTO_UDP) & transport
        self.is_icmp = self.is_ip4 & (cols.ip_proto == S.IPPROTO_ICMP) & transport
        self.is_icmp6 = self.is_ip6 & (cols.ip_proto == S.IPPROTO_ICMPV6) & transport
        self._linktypes: np.ndarray | None = None

    def linktypes(self) -> np.ndarray:
        if self._linktypes is None:
            self._linktypes = S.frame_linktypes(self.store.index)
        return self._linktypes

    def once(self, key: str, fn: Callable[[], Any]) -> Any:
        v = self.cache.get(key)
        if v is None:
            v = self.cache[key] = fn()
        return v

    def ones(self) -> np.ndarray:
        return np.ones(self.n, bool)

    def zeros(self) -> np.ndarray:
        return np.zeros(self.n, bool)


def _i64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.int64)


def _frame_len(e: Env) -> Occ:
    ix = e.store.index
    return [(np.maximum(_i64(np.asarray(ix.origlens)), _i64(np.asarray(ix.caplens))), True)]


def _ts(e: Env) -> np.ndarray:
    return e.once("ts", lambda: np.asarray(e.store.index.ts_ns, np.int64)[:e.n])


def _bit(col: str, mask: int, present: str) -> Callable[[Env], Occ]:
    shift = (mask & -mask).bit_length() - 1

    def get(e: Env) -> Occ:
        return [((_i64(getattr(e.cols, col)) & mask) >> shift, getattr(e, present))]
    return get


def _col(col: str, present: str) -> Callable[[Env], Occ]:
    return lambda e: [(_i64(getattr(e.cols, col)), getattr(e, present))]


def _flag(bit: int, present: str) -> Callable[[Env], Occ]:
    return lambda e: [(((e.flags & bit) != 0).astype(np.int64), getattr(e, present))]


def _const(value: int, present: str) -> Callable[[Env], Occ]:
    return lambda e: [(np.int64(value), getattr(e, present))]


def _presence(present: str) -> Callable[[Env], Occ]:
    return lambda e: [(None, getattr(e, present))]


def _ports(kind: str) -> Callable[[Env], Occ]:
    return lambda e: [(_i64(e.cols.sport), getattr(e, kind)), (_i64(e.cols.dport), getattr(e, kind))]


def _analysis(bit: int, times: int = 1) -> Callable[[Env], Occ]:
    return lambda e: [(None, (np.asarray(e.store.tcp_bits) & bit) != 0)] * times


# field -> (family, occurrences getter, scope). Presence of fields in this table on an
# authoritative row equals the tree's, so their present masks also serve as POSSIBLE.
_TCP_FLAGS = {"fin": 0x001, "syn": 0x002, "reset": 0x004, "push": 0x008, "ack": 0x010,
              "urg": 0x020, "ece": 0x040, "cwr": 0x080, "ae": 0x100}
COLUMN_FIELDS: dict[str, tuple[str, Callable[[Env], Occ], str]] = {
    "frame": (L.PROTO, lambda e: [(None, e.ones())], ALL),
    "frame.number": (L.INT, lambda e: [(np.arange(1, e.n + 1, dtype=np.int64), True)], ALL),
    "frame.len": (L.INT, _frame_len, ALL),
    "frame.cap_len": (L.INT, lambda e: [(_i64(np.asarray(e.store.index.caplens)[:e.n]),
                                         True)], ALL),
    "frame.time_epoch": (L.RELTIME, lambda e: [(_ts(e), True)], FAST),
    "frame.time": (L.ABSTIME, lambda e: [(_ts(e), True)], FAST),
    "frame.time_relative": (L.RELTIME, lambda e: [(_ts(e) - (_ts(e)[0] if e.n else 0),
                                                   True)], FAST),
    "ip": (L.PROTO, _presence("is_ip4"), FAST),
    "ip.version": (L.INT, _const(4, "is_ip4"), FAST),
    "ip.src": (L.IPV4, _col("src", "is_ip4"), FAST),
    "ip.dst": (L.IPV4, _col("dst", "is_ip4"), FAST),
    "ip.addr": (L.IPV4, lambda e: [(_i64(e.cols.src), e.is_ip4), (_i64(e.cols.dst), e.is_ip4)],
                FAST),
    "ip.ttl": (L.INT, _col("ttl", "is_ip4"), FAST),
    "ip.proto": (L.INT, _col("ip_proto", "is_ip4"), FAST),
    "ip.flags.df": (L.BOOL, _flag(S.DF, "is_ip4"), FAST),
    "ip.flags.mf": (L.BOOL, _flag(S.MF, "is_ip4"), FAST),
    "ipv6": (L.PROTO, _presence("is_ip6"), FAST),
    "ipv6.src": (L.IPV6, _col("src", "is_ip6"), FAST),
    "ipv6.dst": (L.IPV6, _col("dst", "is_ip6"), FAST),
    "ipv6.addr": (L.IPV6, lambda e: [(_i64(e.cols.src), e.is_ip6),
                                     (_i64(e.cols.dst), e.is_ip6)], FAST),
    "ipv6.hlim": (L.INT, _col("ttl", "is_ip6"), FAST),
    "ipv6.nxt": (L.INT, _col("ip_proto", "is_ip6"), FAST),
    "tcp": (L.PROTO, _presence("is_tcp"), FAST),
    "tcp.srcport": (L.INT, _col("sport", "is_tcp"), FAST),
    "tcp.dstport": (L.INT, _col("dport", "is_tcp"), FAST),
    "tcp.port": (L.INT, _ports("is_tcp"), FAST),
    "tcp.stream": (L.INT, _col("stream", "is_tcp"), FAST),
    "tcp.len": (L.INT, _col("plen", "is_tcp"), FAST),
    "tcp.seq_raw": (L.INT, _col("seq", "is_tcp"), FAST),
    "tcp.ack_raw": (L.INT, _col("ack", "is_tcp"), FAST),
    "tcp.hdr_len": (L.INT, _col("tcp_hlen", "is_tcp"), FAST),
    "tcp.flags": (L.INT, _col("tcp_flags", "is_tcp"), FAST),
    "tcp.window_size_value": (L.INT, _col("window", "is_tcp"), FAST),
    **{f"tcp.flags.{name}": (L.BOOL, _bit("tcp_flags", bit, "is_tcp"), FAST)
       for name, bit in _TCP_FLAGS.items()},
    "udp": (L.PROTO, _presence("is_udp"), FAST),
    "udp.srcport": (L.INT, _col("sport", "is_udp"), FAST),
    "udp.dstport": (L.INT, _col("dport", "is_udp"), FAST),
    "udp.port": (L.INT, _ports("is_udp"), FAST),
    "udp.length": (L.INT, _col("plen", "is_udp"), FAST),
    "udp.stream": (L.INT, _col("stream", "is_udp"), FAST),
    "icmp": (L.PROTO, _presence("is_icmp"), FAST),
    "icmp.type": (L.INT, _col("icmp_type", "is_icmp"), FAST),
    "icmp.code": (L.INT, _col("icmp_code", "is_icmp"), FAST),
    "icmpv6": (L.PROTO, _presence("is_icmp6"), FAST),
    "icmpv6.type": (L.INT, _col("icmp_type", "is_icmp6"), FAST),
    "icmpv6.code": (L.INT, _col("icmp_code", "is_icmp6"), FAST),
    "tcp.analysis.flags": (L.NONE, lambda e: [(None, np.asarray(e.store.tcp_bits) != 0)],
                           ALL),
    # tshark shows a duplicate ACK twice: the flag item and its expert item.
    **{name: (L.NONE, _analysis(bit, 2 if name.endswith("duplicate_ack") else 1), ALL)
       for bit, name in FLAG_FIELDS},
}


def _rows_mask(e: Env, rows: Any) -> np.ndarray:
    m = e.zeros()
    r = np.asarray(rows, np.int64)
    m[r[(r >= 0) & (r < e.n)]] = True
    return m


def column_field(abbrev: str) -> tuple[str, Callable[[Env], Occ], str] | None:
    """The column source of a field, including every registered `wirelens.*` finding."""
    entry = COLUMN_FIELDS.get(abbrev)
    if entry is None and abbrev.startswith("wirelens.") and abbrev in EXPERTS:
        return (L.NONE, lambda e: [(None, _rows_mask(e, e.store.finding_rows(abbrev)))], ALL)
    return entry


# -- where a field can occur on an authoritative row -------------------------------------------
def _ports_in(e: Env, ports: tuple[int, ...]) -> np.ndarray:
    p = np.asarray(ports, np.uint16)
    return (e.is_tcp | e.is_udp) & (np.isin(e.cols.sport, p) | np.isin(e.cols.dport, p))


POSSIBLE: dict[str, Callable[[Env], np.ndarray]] = {
    "eth": lambda e: e.linktypes() == 1,
    "sll": lambda e: np.isin(e.linktypes(), (113, 276)),
    "null": lambda e: np.isin(e.linktypes(), (0, 108)),
    "vlan": lambda e: (e.flags & S.VLAN) != 0,
    "ip": lambda e: e.is_ip4,
    "ip.opt": lambda e: e.zeros(),            # the fast path takes IPv4 without options
    "ip.options": lambda e: e.zeros(),
    "ipv6": lambda e: e.is_ip6,
    "ipv6.hopopts": lambda e: e.zeros(),      # ... and IPv6 without extension headers
    "ipv6.dstopts": lambda e: e.zeros(),
    "ipv6.routing": lambda e: e.zeros(),
    "ipv6.fraghdr": lambda e: e.zeros(),
    "tcp": lambda e: e.is_tcp,
    "tcp.options": lambda e: e.is_tcp & (e.cols.tcp_hlen > 20),
    "tcp.payload": lambda e: e.is_tcp & (e.cols.plen > 0),
    "mptcp": lambda e: e.is_tcp & (e.cols.tcp_hlen > 20),
    "udp": lambda e: e.is_udp,
    "icmp": lambda e: e.is_icmp,
    "icmpv6": lambda e: e.is_icmp6,
    "arp": lambda e: e.zeros(),               # fast rows are IP
    "ieee8021ad": lambda e: e.zeros(),
    "ppp": lambda e: e.zeros(),
    "lcp": lambda e: e.zeros(),
    "pppoed": lambda e: e.zeros(),
    "pppoes": lambda e: e.zeros(),
    "pppoe": lambda e: e.zeros(),
    "l2tp": lambda e: e.zeros(),              # UDP 1701 is a tunnel port: slow rows
    "_ws.malformed": lambda e: e.zeros(),
    "_ws.short": lambda e: e.zeros(),
    "dns": lambda e: _ports_in(e, (53, 5353, 5355)),
    "tls": lambda e: e.is_tcp & (e.cols.plen > 0),
}


# Field-name prefixes whose fields a dissector announces in pkt.hints, with or without a
# tree, on every frame that shows one of them: a frame dissected without a tree and without
# the hint has none, so select() asks for the trees of those frames only.
MARKED: dict[str, str] = {"tls.handshake": HANDSHAKE_HINT}


def marker(abbrev: str) -> str | None:
    """The pkt.hints key announcing `abbrev`, or None."""
    for prefix, key in MARKED.items():
        if abbrev == prefix or abbrev.startswith(prefix + "."):
            return key
    return None


def possible(e: Env, abbrev: str) -> np.ndarray:
    """Authoritative rows where `abbrev` may occur (all rows when nothing is known)."""
    def compute() -> np.ndarray:
        entry = column_field(abbrev)
        if entry is not None:
            if entry[2] == ALL:
                return e.ones()
            m = e.zeros()
            for _vals, present in entry[1](e):
                m |= present
            return m
        name = abbrev
        hook = getattr(e.store, "possible_rows", None)
        while True:
            known = hook(name) if hook is not None else None
            if known is not None:
                return np.asarray(known, bool)
            fn = POSSIBLE.get(name)
            if fn is not None:
                return np.asarray(fn(e), bool)
            if "." not in name:
                return e.ones()
            name = name.rsplit(".", 1)[0]
    return e.once("possible:" + abbrev, compute)


# -- values over columns ------------------------------------------------------------------------
def occurrences(e: Env, v: C.Value) -> tuple[Occ, bool] | None:
    """(occurrences, all-rows scope) of a value, or None if the columns cannot give it."""
    if isinstance(v, C.FieldRef):
        entry = column_field(v.abbrev)
        if entry is None:
            return None
        _family, get, scope = entry
        return e.once("occ:" + v.abbrev, lambda: get(e)), scope == ALL
    if isinstance(v, C.Const):
        val = v.value
        if isinstance(val, (bool, int)):
            return [(np.int64(val), True)], True
        if isinstance(val, bytes) and v.family == L.IPV4:
            return [(np.int64(int.from_bytes(val, "big")), True)], True
        return None
    if isinstance(v, C.ArithOf):
        if v.op in ("/", "%"):
            return None
        a, b = occurrences(e, v.a), occurrences(e, v.b)
        if a is None or b is None or any(x is None for x, _ in a[0] + b[0]):
            return None
        fn = C._ARITH[v.op]
        return [(fn(xa, xb), pa & pb if pa is not True else pb)
                for xa, pa in a[0] for xb, pb in b[0]], a[1] and b[1]
    if isinstance(v, C.NegOf):
        a = occurrences(e, v.a)
        if a is None or v.family != L.INT:
            return None
        return [(-x, p) for x, p in a[0]], a[1]
    if isinstance(v, C.Func) and v.name == "count":
        a = occurrences(e, v.arg)
        if a is None:
            return None
        total = np.zeros(e.n, np.int64)
        for _x, p in a[0]:
            total += np.broadcast_to(np.asarray(p, bool), (e.n,))
        return [(total, True)], a[1]
    return None


def _present(p: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(p, bool), (n,))


_NP_ORDER = {"gt": np.greater, "lt": np.less, "ge": np.greater_equal, "le": np.less_equal}


def _pair_pred(e: Env, op: str, fam: str, x: Any, y: Any) -> np.ndarray | None:
    """Elementwise `x op y` for one pair of occurrences (y may be a literal)."""
    if fam == L.IPV6:
        return None
    if op in ("eq", "ne", "all_eq", "any_ne"):
        if isinstance(y, L.Net):
            mask = ((1 << 32) - 1) ^ ((1 << (32 - y.bits)) - 1)
            return (x & mask) == (int.from_bytes(y.addr, "big") & mask)
        return np.asarray(x == y)
    y = int.from_bytes(y.addr, "big") if isinstance(y, L.Net) else y
    return np.asarray(_NP_ORDER[op](x, y))


def _v6_pred(e: Env, op: str, x: Any, lit: Any) -> np.ndarray:
    """IPv6 column values are rows of v6_table: decide per distinct address, then gather."""
    table = e.cols.v6_table
    addrs = [bytes(r) for r in table]
    if op in ("eq", "ne", "all_eq", "any_ne"):
        hits = np.array([C._eq(a, lit) for a in addrs] or [False], bool)
    else:
        f = C.ORDER[op]
        hits = np.array([f(a, C._key(lit)) for a in addrs] or [False], bool)
    idx = np.clip(np.asarray(x, np.int64), 0, max(0, len(addrs) - 1))
    return hits[idx] if len(addrs) else np.zeros(e.n, bool)


def leaf(e: Env, t: C.Test) -> tuple[np.ndarray, bool] | None:
    """Exact result of one test over columns, and whether it holds on all rows."""
    n = e.n
    if isinstance(t, (C.Presence, C.NonZero)):
        occ = occurrences(e, t.v)
        if occ is None:
            return None
        r = np.zeros(n, bool)
        for x, p in occ[0]:
            if isinstance(t, C.NonZero):
                r |= _present(p, n) & (np.asarray(x) != 0)
            else:
                r |= _present(p, n)
        return r, occ[1]
    if isinstance(t, C.Comparison):
        a = occurrences(e, t.a)
        fam = t.a.family
        if a is None or fam not in (L.INT, L.BOOL, L.RELTIME, L.ABSTIME, L.IPV4, L.IPV6):
            return None
        if isinstance(t.b, C.Const):
            pairs = [(x, p, t.b.value, True) for x, p in a[0]]
            scope = a[1]
            if fam == L.IPV4 and isinstance(t.b.value, bytes):
                pairs = [(x, p, int.from_bytes(t.b.value, "big"), True) for x, p in a[0]]
        else:
            b = occurrences(e, t.b)
            if b is None or fam == L.IPV6 or t.b.family == L.IPV6:
                return None
            pairs = [(xa, pa, xb, pb) for xa, pa in a[0] for xb, pb in b[0]]
            scope = a[1] and b[1]
        op = t.op
        eqop = op in ("eq", "ne", "all_eq", "any_ne")
        hit = np.zeros(n, bool)      # some pair satisfies (eq for the eq family)
        miss = np.zeros(n, bool)     # some present pair does not
        anya = np.zeros(n, bool)
        anyb = np.zeros(n, bool)
        for x, px, y, py in pairs:
            pres = _present(px, n) & _present(py, n)
            anya |= _present(px, n)
            anyb |= _present(py, n)
            pred = _v6_pred(e, op, x, y) if fam == L.IPV6 else _pair_pred(e, op, fam, x, y)
            if pred is None:
                return None
            pred = np.broadcast_to(pred, (n,))
            hit |= pres & pred
            miss |= pres & ~pred
        both = anya & anyb
        if not eqop or op == "eq":
            return hit, scope
        if op == "ne":
            return both & ~hit, scope
        if op == "all_eq":
            return both & ~miss, scope
        return miss, scope          # any_ne
    if isinstance(t, C.InSet):
        a = occurrences(e, t.a)
        if a is None or not t.literal or \
                t.a.family not in (L.INT, L.BOOL, L.RELTIME, L.ABSTIME, L.IPV4):
            return None
        r = np.zeros(n, bool)
        for x, p in a[0]:
            m = np.zeros(n, bool)
            for lo, hi in t.items:
                if t.a.family == L.IPV4:
                    pred = _pair_pred(e, "eq", L.IPV4, x, lo if isinstance(lo, L.Net)
                                      else int.from_bytes(lo, "big"))
                elif hi is None:
                    pred = np.asarray(x == lo)
                else:
                    pred = (x >= lo) & (x <= hi)
                m |= np.broadcast_to(pred, (n,))
            r |= _present(p, n) & m
        return r, a[1]
    return None


def _requires(t: C.Test) -> set[str]:
    if isinstance(t, C.Comparison):
        return t.a.requires() | t.b.requires()
    if isinstance(t, (C.Contains, C.Matches, C.InSet)):
        return t.a.requires()
    if isinstance(t, (C.Presence, C.NonZero)):
        return t.v.requires()
    return set()


def tri(e: Env, t: C.Test) -> tuple[np.ndarray, np.ndarray]:
    """(surely true, surely false) rows of a test."""
    if isinstance(t, C.NotTest):
        tt, ff = tri(e, t.a)
        return ff, tt
    if isinstance(t, C.Xor):
        ta, fa = tri(e, t.a)
        tb, fb = tri(e, t.b)
        return (ta & fb) | (fa & tb), (ta & tb) | (fa & fb)
    if isinstance(t, C.Or):
        ta, fa = tri(e, t.a)
        tb, fb = tri(e, t.b)
        return ta | tb, fa & fb
    if isinstance(t, C.And):
        ta, fa = tri(e, t.a)
        tb, fb = tri(e, t.b)
        return ta & tb, fa | fb
    exact = leaf(e, t)
    if exact is not None:
        r, everywhere = exact
        scope = e.ones() if everywhere else e.auth
        return r & scope, ~r & scope
    false = e.zeros()
    for name in _requires(t):
        false |= ~possible(e, name)
    return e.zeros(), false & e.auth

