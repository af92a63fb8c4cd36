"""The summary pass: every frame's L3/L4 header fields as compact numpy columns.

Why vectorized: dissecting a million frames one at a time in Python runs at 10-100k packets/s,
but the first pass needs addresses, ports, flags, sequence numbers and stream ids of every frame
before any analysis can start. Real traffic is overwhelmingly a few header shapes, so those are
decoded with numpy over the memory-mapped capture, one column at a time: gather the link header
of every frame, then the IP header at each frame's L3 offset, then the transport header at its
L4 offset. Every gathered field is checked against the captured length.

The fast path: Ethernet (with at most one 802.1Q tag), Linux cooked v1/v2, raw IP, BSD
loopback; IPv4 without options or fragmentation, IPv6 with TCP/UDP/ICMPv6 right after the fixed
header; TCP, UDP (not on tunnel ports), ICMP/ICMPv6 echo. The rest (QinQ, IPv4 options, which
can reroute ip.dst, IPv6 extension headers, fragments, ICMP errors and other ICMP messages,
lengths that contradict the packet, other link types) takes the slow path: the Python
dissectors (`dissect_frame(tree=False)`, in frame order) decode those rows and their values are
read back from the Packet into the same columns, so both paths agree on every frame.

Stream ids follow tshark's `tcp.stream` / `udp.stream`: a conversation (the unordered pair of
address/port endpoints) gets the next number when it first appears, and a TCP SYN with a new
initial sequence number on a conversation starts a new stream (a reused port). Memory: 41 bytes
per frame, no Python object per packet.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dissectors import CaptureState, dissect_frame
from dissectors.packet import Packet
from dissectors.tcp import TcpFlow, learn_bases, rebases, reopens

# -- row flags (SummaryColumns.flags) ------------------------------------------------------
DF = 0x0001          # ip.flags.df
MF = 0x0002          # ip.flags.mf
FRAG = 0x0004        # ip.frag_offset != 0
VLAN = 0x0008        # one 802.1Q tag before the network layer
TRANSPORT = 0x0010   # transport header decoded: TCP/UDP ports and columns, ICMP type/code
INNER_TCP = 0x0020   # ports and stream are those of the TCP header an ICMP error quotes
INNER_UDP = 0x0040   # ... of the UDP header an ICMP error quotes
INNER = INNER_TCP | INNER_UDP
LEN_UNKNOWN = 0x0080  # tcp.len unknown: the IP payload is shorter than the TCP header
SLOW = 0x0100        # decoded by the Python dissectors, not the vectorized path
SHORT = 0x0200       # the capture cut the frame short of a header (_ws.short)
MALFORMED_ROW = 0x0400  # a length or value contradicts the packet (_ws.malformed)
TCP_ABORTED = 0x0800  # the TCP layer itself was malformed: tshark shows no analysis for it

# TCP flag bits (tcp.flags, 12 bits)
FIN, SYN, RST, PSH, ACK, URG = 0x001, 0x002, 0x004, 0x008, 0x010, 0x020

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
PROTO_UNKNOWN = 255  # ip_proto when the IP layer could not tell (a later IPv6 fragment)

# Protocol column codes every summary starts with; names met on the slow path are appended.
BASE_PROTOCOLS = ("", "TCP", "UDP", "ICMP", "ICMPv6", "IPv4", "IPv6", "ARP")
_P_TCP, _P_UDP, _P_ICMP, _P_ICMPV6 = 1, 2, 3, 4
# The transport-level Protocol column for a slow row: the deepest of these layers up to and
# including the first ICMP (whose quoted packet does not change the column).
_LAYER_PROTOCOL = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMPv6", "ip": "IPv4",
                   "ipv6": "IPv6", "arp": "ARP"}

# ICMP messages the fast path takes: echo request/reply, whose 8-byte header is all there
# is to check. The others have longer bodies or options to validate, or quote a packet whose
# TCP/UDP header opens a conversation in tshark (errors): the dissectors handle those.
_ICMP_FAST = np.array([0, 8], np.uint8)
_ICMPV6_FAST = np.array([128, 129], np.uint8)
# UDP ports of tunnels (L2TP, GTP-U, Teredo, LISP, VXLAN, Geneve, MPLS/UDP): the inner packet
# has conversations of its own, so their numbering needs the real dissectors.
_TUNNEL_UDP_PORTS = np.array([1701, 2152, 3544, 4341, 4789, 6081, 6635], np.uint16)
# SLL hardware types whose protocol field is not an EtherType (IP GRE, radiotap, netlink).
_SLL_OTHER_HATYPES = np.array([778, 803, 824], np.uint16)

_LINK_W = 22    # bytes gathered for the link header (Ethernet with two tags)
_L3_W = 40      # IPv6 fixed header (the IPv4 fixed part is 20)
_L4_W = 20      # TCP fixed header (UDP 8, ICMP 8)
CHUNK = 1 << 17  # rows decoded together; bounds the temporaries to a few MB


class FrameSource(Protocol):
    """What the summary needs from analyzer.capture's FrameIndex."""

    offsets: np.ndarray
    caplens: np.ndarray
    origlens: np.ndarray
    ts_ns: np.ndarray
    ifaces: np.ndarray
    linktypes: Any

    def __len__(self) -> int: ...
    def frame(self, i: int) -> bytes: ...
    def mmap_view(self) -> np.ndarray: ...


@dataclass
class SummaryColumns:
    """One row per frame (row i = frame number i + 1); no Python object per packet.

    Addresses: `src`/`dst` hold the IPv4 address as an integer when `ipver` is 4, and an index
    into `v6_table` (distinct 16-byte addresses) when it is 6; they are the addresses the
    conversation uses (after an IPv4 source route or IPv6 routing header, the final
    destination). The transport columns of `ip_proto` (TCP: ports, flags, seq/ack, window,
    header length, plen = tcp.len; UDP: ports, plen = udp.length; ICMP/ICMPv6: type, code)
    are valid when `flags & TRANSPORT`. A transport header cut before its stream is known
    (under 16 bytes of TCP, 8 of UDP) leaves them unset; the row is then SHORT or
    MALFORMED_ROW. `stream` is tcp.stream or udp.stream, -1 when the row has neither. An ICMP
    error row keeps its own addresses and ICMP type but takes ports and stream from the TCP
    or UDP header it quotes (flag INNER_TCP / INNER_UDP), as tshark's tcp.stream does.
    `protocol` indexes `protocol_names` (the transport-level Protocol column; application
    analyzers refine it).
    """

    ipver: np.ndarray        # uint8: 0 (no IP), 4, 6
    src: np.ndarray          # uint32
    dst: np.ndarray          # uint32
    ip_proto: np.ndarray     # uint8: transport protocol (after IPv6 extension headers) or 255
    ttl: np.ndarray          # uint8: ip.ttl / ipv6.hlim
    flags: np.ndarray        # uint16: the row flags above
    sport: np.ndarray        # uint16
    dport: np.ndarray        # uint16
    icmp_type: np.ndarray    # uint8 (icmp.type / icmpv6.type)
    icmp_code: np.ndarray    # uint8
    tcp_flags: np.ndarray    # uint16, 12 bits
    seq: np.ndarray          # uint32: tcp.seq_raw
    ack: np.ndarray          # uint32: tcp.ack_raw
    window: np.ndarray       # uint16: tcp.window_size_value (unscaled)
    tcp_hlen: np.ndarray     # uint8: tcp.hdr_len in bytes
    plen: np.ndarray         # uint32: tcp.len or udp.length
    stream: np.ndarray       # int32
    protocol: np.ndarray     # uint8
    v6_table: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), np.uint8))
    protocol_names: list[str] = field(default_factory=lambda: list(BASE_PROTOCOLS))
    # The TCP options the analysis needs, sparse (few rows carry them): rows with a window
    # scale option and its raw shift; SACK blocks, one entry per block, with raw edges.
    ws_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ws_shift: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    sack_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sack_left: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    sack_right: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))

    def __len__(self) -> int:
        return len(self.ipver)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays()) + self.v6_table.nbytes

    def _arrays(self) -> list[np.ndarray]:
        return [v for v in vars(self).values() if isinstance(v, np.ndarray)]

    def address(self, i: int, which: str = "src") -> bytes:
        """The 4- or 16-byte network address of row i (b"" when the row has no IP)."""
        v = int(getattr(self, which)[i])
        ver = int(self.ipver[i])
        if ver == 4:
            return v.to_bytes(4, "big")
        if ver == 6:
            return self.v6_table[v].tobytes()
        return b""

    def protocol_name(self, i: int) -> str:
        return self.protocol_names[int(self.protocol[i])]


def _empty(n: int) -> SummaryColumns:
    u8, u16, u32 = np.uint8, np.uint16, np.uint32
    return SummaryColumns(
        ipver=np.zeros(n, u8), src=np.zeros(n, u32), dst=np.zeros(n, u32),
        ip_proto=np.zeros(n, u8), ttl=np.zeros(n, u8), flags=np.zeros(n, u16),
        sport=np.zeros(n, u16), dport=np.zeros(n, u16), icmp_type=np.zeros(n, u8),
        icmp_code=np.zeros(n, u8), tcp_flags=np.zeros(n, u16), seq=np.zeros(n, u32),
        ack=np.zeros(n, u32), window=np.zeros(n, u16), tcp_hlen=np.zeros(n, u8),
        plen=np.zeros(n, u32), stream=np.full(n, -1, np.int32), protocol=np.zeros(n, u8))


# -- gathering ------------------------------------------------------------------------------
def _gather(mv: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Rows of `width` bytes of the file at each start; bytes past the end of file are zero.

    A strided view of the whole file turns the gather into one fancy index (a row copy per
    frame). Bytes past a frame's caplen belong to the next record: callers check caplen.
    """
    size = len(mv)
    out = np.zeros((len(starts), width), np.uint8)
    if size >= width:
        view = as_strided(mv, shape=(size - width + 1, width), strides=(1, 1), writeable=False)
        ok = (starts >= 0) & (starts <= size - width)
        if ok.all():
            return view[starts]
        out[ok] = view[starts[ok]]
        tail = np.flatnonzero(~ok)
    else:
        tail = np.arange(len(starts))
    for i in tail.tolist():  # the few rows within `width` bytes of the end of file
        s = int(starts[i])
        if 0 <= s < size:
            chunk = mv[s:s + width]
            out[i, :len(chunk)] = chunk
    return out


def _u16(m: np.ndarray, c: int) -> np.ndarray:
    """Big-endian uint16 from byte columns c, c+1 of a gathered matrix."""
    return (m[:, c].astype(np.uint16) << 8) | m[:, c + 1]


def _u32(m: np.ndarray, c: int) -> np.ndarray:
    return m[:, c:c + 4].view(">u4")[:, 0].astype(np.uint32)


# -- TCP options ------------------------------------------------------------------------------
# Options the walk decodes, with the only length each may have (SACK: 1-4 blocks). Rows with
# any other option, or a length that differs, take the slow path, where the dissector shows
# whatever it is.
_OPT_LEN = {2: (4,), 3: (3,), 4: (2,), 5: (10, 18, 26, 34), 8: (10,)}
_OPT_TS_ONLY = np.array([1, 1, 8, 10], np.uint8)   # NOP NOP Timestamps: Linux's usual


@dataclass
class _TcpOpts:
    """Window scale and SACK blocks met by the fast path, gathered per chunk."""

    ws_rows: list[np.ndarray] = field(default_factory=list)
    ws_shift: list[np.ndarray] = field(default_factory=list)
    sack_rows: list[np.ndarray] = field(default_factory=list)
    sack_left: list[np.ndarray] = field(default_factory=list)
    sack_right: list[np.ndarray] = field(default_factory=list)


def _walk_options(O: np.ndarray, olen: np.ndarray, rows: np.ndarray, opts: _TcpOpts) -> np.ndarray:
    """Walk the option bytes of every row at once (at most 40 steps); returns which rows hold
    only options of known shape (EOL padding must be zero), recording window scales and SACK
    blocks for those."""
    k = len(O)
    ok = np.ones(k, bool)
    pos = np.zeros(k, np.int64)
    done = np.zeros(k, bool)
    col = np.arange(O.shape[1])
    inside = col[None, :] < olen[:, None]
    # nonzero[r, j]: a non-zero byte at or after j, before the options end
    nz = (O != 0) & inside
    nonzero = np.flip(np.logical_or.accumulate(np.flip(nz, 1), 1), 1)
    nonzero = np.concatenate([nonzero, np.zeros((k, 1), bool)], 1)
    ws_at: list[np.ndarray] = []
    sack_at: list[tuple[np.ndarray, np.ndarray]] = []
    cols = O.shape[1]
    for _ in range(cols):
        a = np.flatnonzero(ok & ~done & (pos < olen))
        if len(a) == 0:
            break
        p = pos[a]
        kind = O[a, p]
        eol = kind == 0
        ok[a[eol]] = ~nonzero[a[eol], p[eol] + 1]
        done[a[eol]] = True
        pos[a[kind == 1]] += 1
        m = kind > 1
        a, p, kind = a[m], p[m], kind[m]
        length = np.where(p + 1 < olen[a], O[a, np.minimum(p + 1, cols - 1)], 0).astype(np.int64)
        good = p + length <= olen[a]
        for kd, lens in _OPT_LEN.items():
            km = kind == kd
            good &= ~km | np.isin(length, lens)
        good &= np.isin(kind, list(_OPT_LEN))
        ok[a[~good]] = False
        a, p, kind, length = a[good], p[good], kind[good], length[good]
        w = kind == 3
        if w.any():
            ws_at.append(np.stack([a[w], O[a[w], p[w] + 2]]))
        sk = kind == 5
        for b in range(4):
            mb = sk & (length >= 10 + 8 * b)
            if mb.any():
                sack_at.append((a[mb], p[mb] + 2 + 8 * b))
        pos[a] += length
    if ws_at:
        w = np.concatenate(ws_at, 1)
        w = w[:, ok[w[0]]]
        opts.ws_rows.append(rows[w[0]])
        opts.ws_shift.append(w[1].astype(np.uint8))
    for a, at in sack_at:
        m = ok[a]
        a, at = a[m], at[m]
        edge = np.zeros((len(a), 8), np.uint8)
        for j in range(8):
            edge[:, j] = O[a, at + j]
        opts.sack_rows.append(rows[a])
        opts.sack_left.append(edge[:, :4].copy().view(">u4")[:, 0].astype(np.uint32))
        opts.sack_right.append(edge[:, 4:].copy().view(">u4")[:, 0].astype(np.uint32))
    return ok


# -- link layers ------------------------------------------------------------------------------
# A parser maps (link header rows, caplen) to (L3 offset, the IP version the link layer
# announces or 0, one 802.1Q tag seen, row may take the fast path). A row can have its IP
# header located yet not be fast (QinQ): the IPv4 flag bits are still read for it.
LinkResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_VLAN_TPIDS = np.array([0x8100, 0x88A8, 0x9100], np.uint16)


def _ethertype_version(et: np.ndarray) -> np.ndarray:
    return np.where(et == 0x0800, 4, np.where(et == 0x86DD, 6, 0)).astype(np.uint8)


def _link_eth(h: np.ndarray, cap: np.ndarray) -> LinkResult:
    """Ethernet II; fast with at most one 802.1Q tag (QinQ is located, not fast)."""
    et1 = _u16(h, 12)
    tag1 = np.isin(et1, _VLAN_TPIDS)
    et2 = _u16(h, 16)
    tag2 = tag1 & np.isin(et2, _VLAN_TPIDS)
    et = np.where(tag2, _u16(h, 20), np.where(tag1, et2, et1))
    l3 = 14 + 4 * tag1 + 4 * tag2
    ver = _ethertype_version(et)
    ver[cap < l3] = 0
    single = tag1 & ~tag2 & (et1 == 0x8100)
    return l3, ver, single, (ver > 0) & ~tag2 & (~tag1 | single)


def _link_sll(h: np.ndarray, cap: np.ndarray) -> LinkResult:
    """Linux cooked capture v1: 16-byte header, EtherType in its last two bytes."""
    ver = _ethertype_version(_u16(h, 14))
    ver[np.isin(_u16(h, 2), _SLL_OTHER_HATYPES) | (cap < 16)] = 0
    return np.full(len(h), 16), ver, np.zeros(len(h), bool), ver > 0


def _link_sll2(h: np.ndarray, cap: np.ndarray) -> LinkResult:
    """Linux cooked capture v2: 20-byte header, EtherType first."""
    ver = _ethertype_version(_u16(h, 0))
    ver[np.isin(_u16(h, 8), _SLL_OTHER_HATYPES) | (cap < 20)] = 0
    return np.full(len(h), 20), ver, np.zeros(len(h), bool), ver > 0


def _link_null(h: np.ndarray, cap: np.ndarray) -> LinkResult:
    """BSD loopback: a 4-byte address family in the capturing host's byte order."""
    fam = h[:, 0:4].view("<u4")[:, 0]
    fam = np.where(fam & 0xFFFF0000, fam.byteswap(), fam)
    ver = np.where(fam == 2, 4, np.where(np.isin(fam, (24, 28, 30)), 6, 0)).astype(np.uint8)
    ver[cap < 4] = 0
    return np.full(len(h), 4), ver, np.zeros(len(h), bool), ver > 0


def _link_raw(h: np.ndarray, cap: np.ndarray) -> LinkResult:
    """Raw IP: the version nibble picks IPv4 or IPv6."""
    nib = h[:, 0] >> 4
    ver = np.where((nib == 4) | (nib == 6), nib, 0).astype(np.uint8)
    return np.zeros(len(h), np.int64), ver, np.zeros(len(h), bool), ver > 0


def _link_fixed(version: int) -> Callable[[np.ndarray, np.ndarray], LinkResult]:
    """Raw IPv4 / raw IPv6 link types: the version is the link type's, whatever the nibble
    says (a mismatch then fails the IP check and takes the slow path, as tshark complains)."""
    def parse(h: np.ndarray, cap: np.ndarray) -> LinkResult:
        n = len(h)
        return np.zeros(n, np.int64), np.full(n, version, np.uint8), np.zeros(n, bool), \
            np.ones(n, bool)
    return parse


LINK_PARSERS: dict[int, Callable[[np.ndarray, np.ndarray], LinkResult]] = {
    1: _link_eth, 113: _link_sll, 276: _link_sll2, 0: _link_null,
    12: _link_raw, 14: _link_raw, 101: _link_raw, 228: _link_fixed(4), 229: _link_fixed(6),
}


# -- the fast path ----------------------------------------------------------------------------
@dataclass
class _V6Pending:
    """IPv6 addresses met so far, numbered into `v6_table` once every row is known."""

    rows: list[np.ndarray] = field(default_factory=list)
    src: list[np.ndarray] = field(default_factory=list)
    dst: list[np.ndarray] = field(default_factory=list)


def _fast_chunk(cols: SummaryColumns, mv: np.ndarray, lo: int, offsets: np.ndarray,
                cap: np.ndarray, reported: np.ndarray, lts: np.ndarray,
                v6: _V6Pending, opts: _TcpOpts) -> np.ndarray:
    """Decode rows lo..lo+len(offsets) where possible; return the row numbers left over."""
    n = len(offsets)
    l3off = np.zeros(n, np.int64)
    want = np.zeros(n, np.uint8)
    tagged = np.zeros(n, bool)
    link_ok = np.zeros(n, bool)
    for lt in np.unique(lts).tolist():
        parse = LINK_PARSERS.get(lt)
        if parse is None:
            continue
        m = lts == lt
        h = _gather(mv, offsets[m], _LINK_W)
        l3off[m], want[m], tagged[m], link_ok[m] = parse(h, cap[m])

    L = _gather(mv, offsets + l3off, _L3_W)
    ver = L[:, 0] >> 4
    is4 = link_ok & (want == 4) & (ver == 4)
    is6 = link_ok & (want == 6) & (ver == 6)

    # IPv4: no options (source routes change ip.dst), no fragments, lengths that agree
    ihl = (L[:, 0] & 0x0F).astype(np.int64) * 4
    totlen = _u16(L, 2).astype(np.int64)
    frag = _u16(L, 6)
    is4 &= (ihl == 20) & (cap >= l3off + 20) & (totlen >= ihl) \
        & (l3off + totlen <= reported) & ((frag & 0x3FFF) == 0)
    # IPv6: TCP/UDP/ICMPv6 right after the fixed header; no jumbogram
    v6len = _u16(L, 4).astype(np.int64)
    is6 &= (cap >= l3off + 40) & (v6len > 0) & (l3off + 40 + v6len <= reported)

    proto = np.where(is4, L[:, 9], L[:, 6])
    l4off = l3off + np.where(is4, ihl, 40)
    ippl = np.where(is4, totlen - ihl, v6len)
    ip = (is4 | is6) & np.isin(proto, (IPPROTO_TCP, IPPROTO_UDP)) \
        | is4 & (proto == IPPROTO_ICMP) | is6 & (proto == IPPROTO_ICMPV6)

    T = _gather(mv, offsets + l4off, _L4_W)
    room = cap - l4off
    thl = (T[:, 12] >> 4).astype(np.int64) * 4
    tcp = ip & (proto == IPPROTO_TCP) & (room >= 20) & (thl >= 20) & (room >= thl) \
        & (thl <= ippl)
    withopt = np.flatnonzero(tcp & (thl > 20))
    if len(withopt):
        O = _gather(mv, offsets[withopt] + l4off[withopt] + 20, 40)
        olen = thl[withopt] - 20
        walk = ~((olen == 12) & (O[:, :4] == _OPT_TS_ONLY).all(1))
        w = withopt[walk]
        tcp[w[~_walk_options(O[walk], olen[walk], w + lo, opts)]] = False
    ulen = _u16(T, 4).astype(np.int64)
    sport, dport = _u16(T, 0), _u16(T, 2)
    udp = ip & (proto == IPPROTO_UDP) & (room >= 8) & (ulen == ippl) \
        & ~np.isin(sport, _TUNNEL_UDP_PORTS) & ~np.isin(dport, _TUNNEL_UDP_PORTS)
    icmp = ip & (room >= 8) & (
        (proto == IPPROTO_ICMP) & np.isin(T[:, 0], _ICMP_FAST)
        | (proto == IPPROTO_ICMPV6) & np.isin(T[:, 0], _ICMPV6_FAST))
    fast = tcp | udp | icmp

    rows = np.arange(lo, lo + n)[fast]
    f4 = is4[fast]
    cols.ipver[rows] = np.where(f4, 4, 6)
    cols.ip_proto[rows] = proto[fast]
    cols.ttl[rows] = np.where(f4, L[fast, 8], L[fast, 7])
    # Flags from the bytes for every row whose link and IPv4 fixed header were found, slow
    # rows included (fragments are slow, and the Packet does not carry these bits).
    hdr4 = (want == 4) & (ver == 4) & (cap >= l3off + 20)
    fbits = (frag >> 14 & 1) * DF | (frag >> 13 & 1) * MF | ((frag & 0x1FFF) != 0) * FRAG
    cols.flags[lo:lo + n] = np.where(hdr4, fbits, 0) | np.where(tagged, VLAN, 0) \
        | np.where(fast, TRANSPORT, 0)
    cols.src[rows] = np.where(f4, _u32(L, 12)[fast], 0)
    cols.dst[rows] = np.where(f4, _u32(L, 16)[fast], 0)
    if (is6 & fast).any():
        m6 = is6 & fast
        v6.rows.append(np.arange(lo, lo + n)[m6])
        v6.src.append(L[m6, 8:24])
        v6.dst.append(L[m6, 24:40])

    rows_tu = np.arange(lo, lo + n)[tcp | udp]
    cols.sport[rows_tu] = sport[tcp | udp]
    cols.dport[rows_tu] = dport[tcp | udp]
    rt = np.arange(lo, lo + n)[tcp]
    cols.tcp_flags[rt] = _u16(T, 12)[tcp] & 0x0FFF
    cols.seq[rt] = _u32(T, 4)[tcp]
    cols.ack[rt] = _u32(T, 8)[tcp]
    cols.window[rt] = _u16(T, 14)[tcp]
    cols.tcp_hlen[rt] = thl[tcp]
    cols.plen[rt] = (ippl - thl)[tcp]
    cols.plen[np.arange(lo, lo + n)[udp]] = ulen[udp]
    ri = np.arange(lo, lo + n)[icmp]
    cols.icmp_type[ri] = T[icmp, 0]
    cols.icmp_code[ri] = T[icmp, 1]
    cols.protocol[rows] = np.select([tcp[fast], udp[fast], proto[fast] == IPPROTO_ICMP],
                                    [_P_TCP, _P_UDP, _P_ICMP], _P_ICMPV6)
    return np.arange(lo, lo + n)[~fast]


# -- stream numbering --------------------------------------------------------------------------
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


def _group(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group rows by the key (lo, hi): `perm` lists row positions sorted by key, in row order
    within a key; `first[p]` is True where perm position p starts a key.

    The 98-bit key is sorted through a 64-bit mix of it; a hash collision shows up as
    adjacent rows with equal hashes but different keys, and then the exact (slower)
    two-column sort is used instead.
    """
    n = len(lo)
    first = np.ones(n, bool)
    if n == 0:
        return np.zeros(0, np.int64), first
    h = lo * _M1 + hi
    h ^= h >> np.uint64(31)
    h *= _M2
    h ^= h >> np.uint64(29)
    perm = np.argsort(h, kind="stable")
    hs = h[perm]
    del h
    same_hash = hs[1:] == hs[:-1]
    del hs
    same_key = _same_as_previous(lo, hi, perm)
    if np.any(same_hash & ~same_key):
        perm = np.lexsort((np.arange(n), hi, lo))
        same_key = _same_as_previous(lo, hi, perm)
    first[1:] = ~same_key
    return perm, first


def _same_as_previous(lo: np.ndarray, hi: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """In perm order: does each row (after the first) have the same key as the row before?"""
    k = lo[perm]
    same = k[1:] == k[:-1]
    k = hi[perm]
    same &= k[1:] == k[:-1]
    return same


def _next_at(mask: np.ndarray, at: np.ndarray) -> list[int]:
    """For each position in `at`, the first position >= it where mask is set (len(mask) if
    none)."""
    where = np.append(np.flatnonzero(mask), len(mask))
    return where[np.searchsorted(where, at)].tolist()


def _reused_ports(first: np.ndarray, direction: np.ndarray, sets_base: np.ndarray,
                  flags: np.ndarray, seq: np.ndarray, ack: np.ndarray) -> np.ndarray:
    """Where a TCP SYN reopens a conversation as a new stream (positions in key order).

    The rules are dissectors/tcp.py's own functions (tshark 4.0's behaviour, see
    suricata_tcp-reused-ports-syns): `reopens` (a SYN whose sequence number differs from its
    direction's base starts a new stream), `rebases` (a SYN/ACK that differs re-bases its
    direction) and `learn_bases` (a direction's base comes from its first segment or from the
    peer's first ACK, whichever comes first; only rows with `sets_base`, a whole TCP header
    not quoted by an ICMP error, count). SYNs are rare: the loop visits only them, and feeds
    the base rules only the rows that can set a base (a key's first rows per direction).
    """
    start = first.copy()
    cand = np.flatnonzero((flags & SYN).astype(bool) & ~first)
    if len(cand) == 0:
        return start
    firsts = np.flatnonzero(first)
    group = firsts[np.searchsorted(firsts, cand, side="right") - 1]
    at = np.union1d(group, cand)
    has_ack = (flags & ACK) != 0
    keys = at.tolist()
    nxt = [dict(zip(keys, _next_at(sets_base & (direction == d), at))) for d in (0, 1)]
    nxt_ack = [dict(zip(keys, _next_at(sets_base & has_ack & (direction == d), at)))
               for d in (0, 1)]
    cur = -1
    rebased: dict[int, int] = {}    # direction -> base set by a SYN/ACK in the current stream
    for p, g in zip(cand.tolist(), group.tolist()):
        if g > cur:      # the first candidate of a key: its stream began at the key's start
            cur = g
            rebased = {}
        d = int(direction[p])
        flows = (TcpFlow(), TcpFlow())
        fwd = flows[d]
        if d in rebased:
            fwd.base_seq, fwd.base_set = rebased[d], True
        else:
            # The segments that set this side's base, in frame order: its own first one and
            # the peer's first ACK (dissectors/tcp.py learns bases from exactly those).
            for r in sorted(x for x in (nxt[d][cur], nxt_ack[1 - d][cur]) if x < p):
                rd = int(direction[r])
                learn_bases(flows[rd], flows[1 - rd], int(flags[r]), int(seq[r]), int(ack[r]))
        if rebases(fwd, int(flags[p]), int(seq[p])):
            rebased[d] = int(seq[p])
        elif reopens(fwd, int(flags[p]), int(seq[p])):
            start[p] = True
            cur = p
            rebased = {}
    return start


def _number(rows: np.ndarray, perm: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Stream ids for `rows`: streams numbered by their starting row, each row belonging to
    the latest stream of its key that started at or before it."""
    n = len(perm)
    starts_at = np.flatnonzero(start)
    number = np.empty(len(starts_at), np.int32)
    number[np.argsort(rows[perm[starts_at]], kind="stable")] = np.arange(len(starts_at))
    which = np.searchsorted(starts_at, np.arange(n), side="right") - 1
    out = np.empty(n, np.int32)
    out[perm] = number[which]
    return out


def _endpoint(ver: np.ndarray, addr: np.ndarray, port: np.ndarray) -> np.ndarray:
    """(address, port) packed in 49 bits; IPv6 addresses by their `v6_table` index."""
    return (ver == 6).astype(np.uint64) << np.uint64(48) \
        | addr.astype(np.uint64) << np.uint64(16) | port.astype(np.uint64)


def _endpoints(cols: SummaryColumns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ver = cols.ipver[rows]
    return (_endpoint(ver, cols.src[rows], cols.sport[rows]),
            _endpoint(ver, cols.dst[rows], cols.dport[rows]))


def _assign_streams(cols: SummaryColumns, keys: _SlowKeys) -> None:
    """tcp.stream and udp.stream for every row with a decoded TCP or UDP header.

    Rows whose transport was quoted by an ICMP error take part in numbering with the quoted
    packet's key (tshark opens conversations for them too) but never set a base sequence
    number nor reopen a stream.
    """
    own = ((cols.flags & (TRANSPORT | INNER)) == TRANSPORT)
    k_rows = np.asarray(keys.rows, np.int64)
    k_proto = np.asarray(keys.proto, np.uint8)
    for proto in (IPPROTO_TCP, IPPROTO_UDP):
        rows = np.flatnonzero(own & (cols.ip_proto == proto))
        src, dst = _endpoints(cols, rows)
        quoted = np.zeros(len(rows), bool)
        kin = k_proto == proto
        if kin.any():   # merge the quoted packets' keys in, keeping frame order
            rows = np.concatenate([rows, k_rows[kin]])
            order = np.argsort(rows, kind="stable")
            rows = rows[order]
            src = np.concatenate([src, keys.src_ep[kin]])[order]
            dst = np.concatenate([dst, keys.dst_ep[kin]])[order]
            quoted = np.concatenate([quoted, np.ones(int(kin.sum()), bool)])[order]
        if len(rows) == 0:
            continue
        direction = (src > dst).astype(np.uint8)
        perm, first = _group(np.minimum(src, dst), np.maximum(src, dst))
        del src, dst
        if proto == IPPROTO_TCP:
            r = rows[perm]
            sets_base = ~quoted[perm] & ((cols.flags[r] & LEN_UNKNOWN) == 0)
            start = _reused_ports(first, direction[perm], sets_base, cols.tcp_flags[r],
                                  cols.seq[r], cols.ack[r])
        else:
            start = first
        cols.stream[rows] = _number(rows, perm, start)


# -- the slow path ---------------------------------------------------------------------------
@dataclass
class _SlowKeys:
    """Conversation keys of slow rows whose transport is not the row's own (ICMP-quoted)."""

    rows: list[int] = field(default_factory=list)
    proto: list[int] = field(default_factory=list)
    ver: list[int] = field(default_factory=list)
    src: list[bytes] = field(default_factory=list)
    dst: list[bytes] = field(default_factory=list)
    sport: list[int] = field(default_factory=list)
    dport: list[int] = field(default_factory=list)
    src_ep: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    dst_ep: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))


def _addr_rows(addrs: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(addrs), np.uint8).reshape(-1, 16)


def _number_v6(cols: SummaryColumns, v6: _V6Pending, keys: _SlowKeys) -> None:
    """Build `v6_table` from every IPv6 address met and point the columns (and the quoted
    packets' keys) at it."""
    k6 = [i for i, v in enumerate(keys.ver) if v == 6]
    parts = v6.src + v6.dst + [_addr_rows([keys.src[i] for i in k6] + [keys.dst[i] for i in k6])]
    allv6 = np.concatenate(parts) if parts else np.zeros((0, 16), np.uint8)
    ids = np.zeros(len(allv6), np.uint32)
    if len(allv6):
        halves = allv6.view(">u8").astype(np.uint64)
        perm, first = _group(halves[:, 0], halves[:, 1])
        ids[perm] = np.cumsum(first) - 1
        cols.v6_table = allv6[perm[first]]
    rows = np.concatenate(v6.rows) if v6.rows else np.zeros(0, np.int64)
    m = len(rows)
    cols.src[rows] = ids[:m]
    cols.dst[rows] = ids[m:2 * m]
    ver = np.asarray(keys.ver, np.uint8)
    src = np.zeros(len(ver), np.uint32)
    dst = np.zeros(len(ver), np.uint32)
    for i, v in enumerate(keys.ver):
        if v == 4:
            src[i] = int.from_bytes(keys.src[i], "big")
            dst[i] = int.from_bytes(keys.dst[i], "big")
    src[k6] = ids[2 * m:2 * m + len(k6)]
    dst[k6] = ids[2 * m + len(k6):]
    keys.src_ep = _endpoint(ver, src, np.asarray(keys.sport, np.uint16))
    keys.dst_ep = _endpoint(ver, dst, np.asarray(keys.dport, np.uint16))


def _store_options(cols: SummaryColumns, opts: _TcpOpts) -> None:
    """The sparse option columns, in row order (fast and slow rows met separately)."""
    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    rows = cat(opts.ws_rows, np.int64)
    order = np.argsort(rows, kind="stable")
    cols.ws_rows, cols.ws_shift = rows[order], cat(opts.ws_shift, np.uint8)[order]
    rows = cat(opts.sack_rows, np.int64)
    order = np.argsort(rows, kind="stable")
    cols.sack_rows = rows[order]
    cols.sack_left = cat(opts.sack_left, np.uint32)[order]
    cols.sack_right = cat(opts.sack_right, np.uint32)[order]


def _slow_path(cols: SummaryColumns, index: FrameSource, rows: np.ndarray, lts: np.ndarray,
               state: CaptureState, v6: _V6Pending, keys: _SlowKeys, opts: _TcpOpts,
               first_number: int = 1) -> None:
    """Dissect the rows the fast path left, in frame order, and copy their values in.
    Row i is frame number first_number + i (a live capture summarizes batches of frames
    that do not start at frame 1, with one state across them)."""
    ts = index.ts_ns
    origlens = index.origlens
    names = {name: i for i, name in enumerate(cols.protocol_names)}
    v6_rows: list[int] = []
    v6_src: list[bytes] = []
    v6_dst: list[bytes] = []
    for i in rows.tolist():
        data = index.frame(i)
        frame = {"number": first_number + i, "ts_ns": int(ts[i]), "origlen": int(origlens[i]),
                 "linktype": int(lts[i]), "iface": int(index.ifaces[i]) if lts[i] >= 0 else -1,
                 "state": state}
        _root, pkt = dissect_frame(data, tree=False, **frame)
        quoted = pkt.hints.get("icmp_quoted")
        if quoted is not None and not _quote_has_stream(quoted, data, frame):
            quoted = None
        _copy_packet(cols, i, pkt, quoted, keys)
        seg = pkt.tcp
        if seg is not None and cols.flags[i] & (TRANSPORT | INNER) == TRANSPORT:
            if seg.ws_shift >= 0:
                opts.ws_rows.append(np.array([i]))
                opts.ws_shift.append(np.array([seg.ws_shift]))
            for left, right in seg.sack or ():
                opts.sack_rows.append(np.array([i]))
                opts.sack_left.append(np.array([left]))
                opts.sack_right.append(np.array([right]))
        if cols.ipver[i] == 6:
            v6_rows.append(i)
            v6_src.append(pkt.net_src)
            v6_dst.append(pkt.net_dst)
        name = _protocol_of(pkt)
        code = names.get(name)
        if code is None:
            code = len(cols.protocol_names) if len(cols.protocol_names) < 256 else 0
            if code:
                names[name] = code
                cols.protocol_names.append(name)
        cols.protocol[i] = code
    if v6_rows:
        v6.rows.append(np.asarray(v6_rows, np.int64))
        v6.src.append(_addr_rows(v6_src))
        v6.dst.append(_addr_rows(v6_dst))


def _quote_has_stream(quoted: Any, data: bytes, frame: dict[str, Any]) -> bool:
    """Was the TCP/UDP header an ICMP error quotes long enough to join a stream (16 bytes of
    TCP, 8 of UDP)? The dissectors show it as a stream item: ask them with the frame alone
    in a scratch state, where the quote can only open a new stream. ICMP errors are rare."""
    if quoted.proto not in _QUOTED_STREAM or min(quoted.sport, quoted.dport) < 0 \
            or not len(quoted.src) == len(quoted.dst) in (4, 16):
        return False
    root, _ = dissect_frame(data, tree=True, **(frame | {"number": 1, "state": CaptureState()}))
    return root is not None and root.find(_QUOTED_STREAM[quoted.proto]) is not None


def _protocol_of(pkt: Packet) -> str:
    """The transport-level Protocol column of a slow row (see `_LAYER_PROTOCOL`)."""
    name = ""
    for layer in pkt.layers:
        p = _LAYER_PROTOCOL.get(layer)
        if p is not None:
            name = p
            if layer in ("icmp", "icmpv6"):
                break
    return name or pkt.col_protocol


def frame_linktypes(index: FrameSource) -> np.ndarray:
    """Each frame's link type; -1 (no dissector) for frames without a known interface,
    such as pcapng Custom Blocks."""
    linktypes = np.asarray(list(index.linktypes), np.int64)
    ifaces = np.asarray(index.ifaces, np.int64)
    known = ifaces < len(linktypes)
    return np.where(known, linktypes[np.where(known, ifaces, 0)] if len(linktypes) else -1, -1)


# -- the pass ---------------------------------------------------------------------------------
def summarize(index: FrameSource, state: CaptureState | None = None,
              chunk: int = CHUNK) -> SummaryColumns:
    """Summary columns for every frame of a built index: the fast path, then the slow rows
    in frame order through the Python dissectors, then stream numbering.

    `state` is the CaptureState the slow rows are dissected with (a fresh one by default).
    It sees only those rows, so it cannot serve later full dissections of the capture.
    """
    n = len(index)
    cols = _empty(n)
    mv = index.mmap_view()
    offsets = np.asarray(index.offsets, np.int64)
    caplens = np.asarray(index.caplens, np.int64)
    reported = np.maximum(np.asarray(index.origlens, np.int64), caplens)
    lts = frame_linktypes(index)
    v6 = _V6Pending()
    opts = _TcpOpts()
    slow = []
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        slow.append(_fast_chunk(cols, mv, lo, offsets[lo:hi], caplens[lo:hi],
                                reported[lo:hi], lts[lo:hi], v6, opts))
        release = getattr(index, "release", None)
        if release is not None:
            release(lo, hi)   # keep resident memory to the columns, not the whole file
    keys = _SlowKeys()
    slow_rows = np.concatenate(slow) if slow else np.zeros(0, np.int64)
    _slow_path(cols, index, slow_rows, lts, state or CaptureState(), v6, keys, opts)
    _store_options(cols, opts)
    _number_v6(cols, v6, keys)
    _assign_streams(cols, keys)
    return cols


def is_tunnel(layers: list[str]) -> bool:
    """True when a frame carries an IP packet inside another outside an ICMP error's quote
    (L2TP, IP-in-IP, VXLAN...): one summary row holds one conversation, the innermost, so
    the outer tunnel's is not in the columns."""
    seen = 0
    for layer in layers:
        if layer in ("icmp", "icmpv6"):
            break
        seen += layer in ("ip", "ipv6")
    return seen > 1


def _copy_packet(cols: SummaryColumns, i: int, pkt: Packet, quoted: Any,
                 keys: _SlowKeys) -> None:
    """Row i's columns from a dissected Packet (the IPv6 addresses are added by the caller);
    `quoted` is the packet an ICMP error quotes when its TCP/UDP header joined a stream.

    DF/MF/FRAG come from the outermost IPv4 header the dissectors found (`pkt.ip_frag`),
    else stay as the fast path read them; VLAN stays as the fast path read it.
    """
    ver = pkt.net_ver if len(pkt.net_src) == len(pkt.net_dst) == _ADDR_LEN.get(pkt.net_ver) \
        else 0
    if pkt.ip_frag >= 0:
        w = pkt.ip_frag
        frag_bits = (DF if w & 0x4000 else 0) | (MF if w & 0x2000 else 0) | \
            (FRAG if w & 0x1FFF else 0)
    else:
        frag_bits = int(cols.flags[i]) & (DF | MF | FRAG)
    flags = int(cols.flags[i]) & VLAN | (frag_bits if ver == 4 else 0) | SLOW
    flags |= _DAMAGE.get(pkt.damage, 0)
    if pkt.damage == "malformed" and pkt.current == "tcp":
        flags |= TCP_ABORTED
    cols.ipver[i] = ver
    if ver == 4:
        cols.src[i] = int.from_bytes(pkt.net_src, "big")
        cols.dst[i] = int.from_bytes(pkt.net_dst, "big")
    if ver:
        cols.ip_proto[i] = pkt.ip_proto if 0 <= pkt.ip_proto < 256 else PROTO_UNKNOWN
        cols.ttl[i] = pkt.ttl if 0 <= pkt.ttl < 256 else 0
    icmp = pkt.hints.get("icmp")
    if ver and icmp is not None:
        flags |= TRANSPORT
        cols.icmp_type[i] = icmp.type & 0xFF
        cols.icmp_code[i] = icmp.code & 0xFF
    seg = pkt.tcp
    dgram = pkt.udp
    if ver and seg is not None and pkt.srcport >= 0:
        flags |= TRANSPORT
        cols.sport[i], cols.dport[i] = pkt.srcport, pkt.dstport
        cols.tcp_flags[i] = seg.flags & 0x0FFF
        cols.seq[i], cols.ack[i] = seg.seq_raw, seg.ack_raw
        cols.window[i] = seg.win_raw
        cols.tcp_hlen[i] = min(seg.hdr_len, 255)
        if seg.len >= 0:
            cols.plen[i] = seg.len
        else:
            flags |= LEN_UNKNOWN
    elif ver and dgram is not None and pkt.srcport >= 0:
        flags |= TRANSPORT
        cols.sport[i], cols.dport[i] = pkt.srcport, pkt.dstport
        cols.plen[i] = dgram.length
    elif quoted is not None:
        flags |= TRANSPORT | (INNER_TCP if quoted.proto == IPPROTO_TCP else INNER_UDP)
        cols.sport[i], cols.dport[i] = quoted.sport, quoted.dport
        keys.rows.append(i)
        keys.proto.append(quoted.proto)
        keys.ver.append(4 if len(quoted.src) == 4 else 6)
        keys.src.append(quoted.src)
        keys.dst.append(quoted.dst)
        keys.sport.append(quoted.sport)
        keys.dport.append(quoted.dport)
    cols.flags[i] = flags


_ADDR_LEN = {4: 4, 6: 16}
_QUOTED_STREAM = {IPPROTO_TCP: "tcp.stream", IPPROTO_UDP: "udp.stream"}
_DAMAGE = {"short": SHORT, "malformed": MALFORMED_ROW}
