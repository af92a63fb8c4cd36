"""The vectorized summary pass agrees with the Python dissectors and with tshark.

Unit tests build frames from byte literals; corpus tests compare every frame of every capture
in ../shared/corpus with the Python dissectors (all columns), with the corpus TSV's tcp.stream,
and with udp.stream (the Python dissectors', or tshark's where they differ).
"""
from __future__ import annotations

import csv
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.engine.summary import (
    ACK,
    DF,
    FIN,
    INNER,
    is_tunnel,
    INNER_TCP,
    INNER_UDP,
    LEN_UNKNOWN,
    MF,
    PSH,
    SHORT,
    SLOW,
    SYN,
    TRANSPORT,
    VLAN,
    SummaryColumns,
    summarize,
)
from dissectors import CaptureState, dissect_frame

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
csv.field_size_limit(1 << 30)


class FrameList:
    """Frames held in memory, shaped like analyzer.capture's FrameIndex."""

    def __init__(self, frames: list[bytes], linktype: int | list[int] = 1,
                 origlens: list[int] | None = None) -> None:
        lts = linktype if isinstance(linktype, list) else [linktype] * len(frames)
        self.linktypes = sorted(set(lts))
        self.ifaces = np.array([self.linktypes.index(lt) for lt in lts], np.uint16)
        self._buf = b"".join(frames)
        self.caplens = np.array([len(f) for f in frames], np.uint32)
        self.offsets = np.concatenate([[0], np.cumsum(self.caplens)[:-1]]).astype(np.int64) \
            if frames else np.zeros(0, np.int64)
        self.origlens = np.array(origlens or [len(f) for f in frames], np.uint32)
        self.ts_ns = np.arange(len(frames), dtype=np.int64) * 1_000_000

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, i: int) -> bytes:
        o = int(self.offsets[i])
        return self._buf[o:o + int(self.caplens[i])]

    def mmap_view(self) -> np.ndarray:
        return np.frombuffer(self._buf, np.uint8)


# -- frame builders ---------------------------------------------------------------------------
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
V4_A, V4_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
V6_A = bytes.fromhex("20010db8000000000000000000000001")
V6_B = bytes.fromhex("20010db8000000000000000000000002")


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"",
        window: int = 65535, options: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, doff << 12 | flags, window, 0, 0) \
        + options + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(proto: int, l4: bytes, src: bytes = V4_A, dst: bytes = V4_B, ttl: int = 64,
         frag: int = 0x4000, total: int | None = None) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total if total is not None else 20 + len(l4),
                       0x1234, frag, ttl, proto, 0, src, dst) + l4


def ipv6(nxt: int, l4: bytes, src: bytes = V6_A, dst: bytes = V6_B, hlim: int = 61) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), nxt, hlim, src, dst) + l4


def eth(payload: bytes, etype: int = 0x0800) -> bytes:
    return MAC_B + MAC_A + struct.pack("!H", etype) + payload


def vlan(payload: bytes, etype: int, vid: int = 100, outer: int = 0x8100) -> bytes:
    return MAC_B + MAC_A + struct.pack("!HHH", outer, vid, etype) + payload


def sll2(payload: bytes, etype: int = 0x0800) -> bytes:
    return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 4, 6, MAC_A + b"\0\0") + payload


def a_to_b(l4: bytes) -> bytes:
    return eth(ipv4(6, l4))


def b_to_a(l4: bytes) -> bytes:
    return eth(ipv4(6, l4, src=V4_B, dst=V4_A))


def row(cols: SummaryColumns, i: int) -> dict:
    return {name: int(getattr(cols, name)[i]) for name in (
        "ipver", "ip_proto", "ttl", "flags", "sport", "dport", "icmp_type", "icmp_code",
        "tcp_flags", "seq", "ack", "window", "tcp_hlen", "plen", "stream")}


# -- unit tests --------------------------------------------------------------------------------
def test_ethernet_ipv4_tcp_syn() -> None:
    # 0000  02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00  ..............E.
    # 0010  00 2c 12 34 40 00 40 06 00 00 0a 00 00 01 0a 00  .,.4@.@.........
    # 0020  00 02 c0 01 00 50 00 00 03 e8 00 00 00 00 60 02  .....P........`.
    # 0030  ff ff 00 00 00 00 02 04 05 b4                    ..........
    frame = eth(ipv4(6, tcp(49153, 80, 1000, 0, SYN, options=bytes.fromhex("020405b4"))))
    cols = summarize(FrameList([frame]))
    assert row(cols, 0) == {
        "ipver": 4, "ip_proto": 6, "ttl": 64, "flags": DF | TRANSPORT, "sport": 49153,
        "dport": 80, "icmp_type": 0, "icmp_code": 0, "tcp_flags": SYN, "seq": 1000, "ack": 0,
        "window": 65535, "tcp_hlen": 24, "plen": 0, "stream": 0}
    assert cols.address(0, "src") == V4_A and cols.address(0, "dst") == V4_B
    assert cols.protocol_name(0) == "TCP"


def test_vlan_ipv6_udp_and_sll2_icmp() -> None:
    frames = [vlan(ipv6(17, udp(5353, 53, b"x" * 12)), 0x86DD),
              sll2(ipv4(1, bytes.fromhex("0800f7ff00010001"), ttl=7))]
    cols = summarize(FrameList(frames, [1, 276]))
    r = row(cols, 0)
    assert (r["ipver"], r["ip_proto"], r["ttl"], r["sport"], r["dport"], r["plen"]) == \
        (6, 17, 61, 5353, 53, 20)
    assert r["flags"] == VLAN | TRANSPORT and r["stream"] == 0
    assert cols.address(0, "src") == V6_A and cols.address(0, "dst") == V6_B
    assert cols.v6_table.shape == (2, 16)
    r = row(cols, 1)
    assert (r["ipver"], r["ip_proto"], r["ttl"], r["icmp_type"], r["stream"]) == (4, 1, 7, 8, -1)
    assert cols.protocol_name(1) == "ICMP" and r["flags"] == DF | TRANSPORT


def test_null_and_raw_link_types() -> None:
    null_v6 = struct.pack("<I", 30) + ipv6(6, tcp(1, 2, 5, 6, ACK | PSH, b"abc"))
    raw_v4 = ipv4(17, udp(53, 4000, b"q" * 4))
    raw6 = ipv6(58, bytes.fromhex("8000 0000 0001 0001".replace(" ", "")))
    cols = summarize(FrameList([null_v6, raw_v4, raw6], [0, 101, 229]))
    assert row(cols, 0)["plen"] == 3 and row(cols, 0)["tcp_flags"] == ACK | PSH
    assert row(cols, 1)["plen"] == 12 and row(cols, 1)["sport"] == 53
    assert row(cols, 2)["icmp_type"] == 128 and cols.protocol_name(2) == "ICMPv6"
    assert not (cols.flags & SLOW).any()


def test_stream_numbering_first_appearance_and_reused_ports() -> None:
    a, b = a_to_b, b_to_a
    frames = [
        a(tcp(1111, 80, 100, 0, SYN)),               # stream 0
        a(tcp(2222, 80, 500, 0, SYN)),               # stream 1
        b(tcp(80, 1111, 900, 101, SYN | ACK)),       # 0
        a(tcp(1111, 80, 100, 0, SYN)),               # 0: a retransmitted SYN
        a(tcp(1111, 80, 101, 901, FIN | ACK)),       # 0
        a(tcp(1111, 80, 7000, 0, SYN)),              # 2: same ports, new ISN
        b(tcp(80, 1111, 40, 7001, SYN | ACK)),       # 2
        eth(ipv4(17, udp(53, 1111))),                # udp 0
        eth(ipv4(17, udp(1111, 53), src=V4_B, dst=V4_A)),  # udp 0 (same pair, reversed)
        eth(ipv4(17, udp(53, 2222))),                # udp 1
        b(tcp(80, 2222, 1, 501, SYN | ACK)),         # 1
    ]
    cols = summarize(FrameList(frames))
    assert cols.stream.tolist() == [0, 1, 0, 0, 0, 2, 2, 0, 0, 1, 1]


def test_syn_after_ack_from_other_side_reopens() -> None:
    """The base sequence of a direction can come from the other side's ACK."""
    a, b = a_to_b, b_to_a
    frames = [b(tcp(80, 1111, 5, 301, ACK)),   # says A's next sequence number is 301
              a(tcp(1111, 80, 300, 0, SYN)),   # base 300: same connection
              a(tcp(1111, 80, 999, 0, SYN))]   # a different ISN: new stream
    assert summarize(FrameList(frames)).stream.tolist() == [0, 0, 1]


@pytest.mark.parametrize("frame,cut,why", [
    (vlan(vlan(ipv4(6, tcp(1, 2, 3, 4, ACK)), 0x0800)[12:], 0x8100, outer=0x88A8), 0, "QinQ"),
    (eth(ipv4(17, udp(1, 2, b"abcdefgh"), frag=0x2000)), 0, "first fragment"),
    (eth(ipv6(0, bytes([17, 0, 0, 0, 0, 0, 0, 0]) + udp(1, 2))), 0, "hop-by-hop header"),
    (eth(ipv4(6, tcp(1, 2, 3, 4, ACK))), 40, "TCP header cut by the capture"),
    (eth(ipv4(17, udp(1, 2), total=60)), 0, "IP longer than the frame"),
    (eth(ipv4(1, bytes.fromhex("0303fcfc00000000") + ipv4(17, udp(9, 53)))), 0, "ICMP error"),
    (eth(b"\x00" * 28, 0x0806), 0, "ARP"),
])
def test_rows_the_fast_path_leaves(frame: bytes, cut: int, why: str) -> None:
    index = FrameList([frame[:cut or len(frame)]], origlens=[len(frame)])
    cols = summarize(index)
    assert cols.flags[0] & SLOW, why
    _check_against_dissectors(index, cols, why)


def test_icmp_error_quoting_udp_opens_a_udp_stream() -> None:
    # tshark gives the quoted UDP header udp.stream 0 (zeek_icmp-destunreach-port-udp)
    quoted = ipv4(17, udp(53, 59207), src=V4_B, dst=V4_A)
    frames = [eth(ipv4(1, bytes.fromhex("0303fcfc00000000") + quoted)),
              eth(ipv4(17, udp(40000, 53)))]
    cols = summarize(FrameList(frames))
    assert cols.flags[0] & INNER and cols.stream.tolist() == [0, 1]


def test_icmp_error_quote_too_short_for_a_stream() -> None:
    """tshark (checked with 4.0 on these frames): a quote with 8 bytes of TCP or 4 of UDP
    shows the ports but joins no stream; 16 bytes of TCP do, with the quoted addresses."""
    error = bytes.fromhex("0303fcfc00000000")
    syn = tcp(1111, 80, 5, 0, SYN)
    frames = [eth(ipv4(1, error + ipv4(6, syn[:8], total=40))),
              eth(ipv4(1, error + ipv4(6, syn[:16], total=40))),
              eth(ipv4(1, error + ipv4(17, udp(53, 4000)[:4], total=28))),
              eth(ipv4(1, error + ipv4(6, syn, src=bytes([10, 0, 0, 9])))),
              eth(ipv4(6, syn))]
    cols = summarize(FrameList(frames))
    assert cols.stream.tolist() == [-1, 0, -1, 1, 0]
    assert [int(f) & INNER for f in cols.flags] == [0, INNER_TCP, 0, INNER_TCP, 0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([0, 1, 12, 101, 113, 228, 229, 276, 147]),
                          st.binary(max_size=120)), max_size=12))
def test_hostile_bytes_never_raise(frames: list[tuple[int, bytes]]) -> None:
    cols = summarize(FrameList([f for _, f in frames], [lt for lt, _ in frames]))
    assert len(cols) == len(frames)
    own = ((cols.flags & TRANSPORT) != 0) & np.isin(cols.ip_proto, (6, 17))
    assert ((cols.stream >= 0) == (own | ((cols.flags & INNER) != 0))).all()


def test_hostile_prefixes_of_a_real_frame() -> None:
    """Every truncation of a valid frame: rows cut inside a header take the slow path."""
    full = vlan(ipv4(6, tcp(1, 2, 3, 4, SYN | ACK, b"data")), 0x0800)
    cuts = [full[:k] for k in range(len(full) + 1)]
    cols = summarize(FrameList(cuts, origlens=[len(full)] * len(cuts)))
    fast = ~(cols.flags & SLOW).astype(bool)
    assert not fast[:18 + 20 + 20].any() and fast[18 + 20 + 20:].all()
    assert (cols.flags[18:58] & SHORT).all()


def test_empty_capture() -> None:
    cols = summarize(FrameList([]))
    assert len(cols) == 0 and cols.nbytes == 0


# -- agreement with the Python dissectors and with tshark --------------------------------------
def _check_against_dissectors(index, cols: SummaryColumns, where: str) -> None:
    """Every row's columns equal what dissect_frame(tree=True) reports for the frame."""
    state = CaptureState()
    lts = index.linktypes
    for i in range(len(index)):
        lt = lts[index.ifaces[i]] if index.ifaces[i] < len(lts) else -1
        root, pkt = dissect_frame(index.frame(i), number=i + 1, ts_ns=int(index.ts_ns[i]),
                                  origlen=int(index.origlens[i]), linktype=int(lt),
                                  state=state)
        assert "bug" not in pkt.hints, (where, i + 1, pkt.hints)
        if is_tunnel(pkt.layers):
            continue   # the row holds the inner transport only (see summary.is_tunnel)
        got = _ours(cols, i)
        expect = _expected(root.values(), pkt)
        assert got == {k: expect.get(k) for k in got}, f"{where} frame {i + 1}"


# Streams are checked against tshark (test_corpus_streams_match_tshark), not here.
_TCP = ("tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
        "tcp.window_size_value", "tcp.len")
_UDP = ("udp.srcport", "udp.dstport", "udp.length")


class _Any:
    """Equal to every value: a column the tree has no item to compare with."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


ANY = _Any()


def _first(values: dict, name: str):
    v = values.get(name)
    return v[0] if v else None


def _expected(v: dict, pkt) -> dict:
    """The summary's view of a dissected frame, from the tree's field values.

    Where the summary deliberately says less than the tree:
    * an IP header cut before both addresses are known is not an IP row;
    * a transport header cut before its stream is known (pkt.tcp / pkt.udp unset) shows its
      ports in the tree but is not a segment; so is an ICMP error's quote without a stream;
    * a TCP header with a bogus length stops the tree after the sequence number, while the
      columns keep every header value the bytes had;
    * an ICMP header cut short shows its type in the tree but is no ICMP message;
    * of a packet quoted by an ICMP error only the ports are compared.
    """
    is_ip = len(pkt.net_src) == len(pkt.net_dst) == {4: 4, 6: 16}.get(pkt.net_ver)
    if not is_ip:
        out = {"ip.src": None, "ip.dst": None, "ip.ttl": None, "ip.proto": -1,
               "icmp.type": None}
    else:
        out = {"ip.src": _first(v, "ip.src") or _first(v, "ipv6.src"),
               "ip.dst": pkt.net_dst if "ipv6.routing" in pkt.layers   # the final one
               else _first(v, "ip.dst") or _first(v, "ipv6.dst"),
               "ip.ttl": _first(v, "ip.ttl") if "ip.ttl" in v else _first(v, "ipv6.hlim"),
               "ip.proto": _first(v, "ip.proto") if "ip.proto" in v else
               pkt.ip_proto if pkt.ip_proto >= 0 else 255,
               "icmp.type": None if "icmp" not in pkt.hints else
               _first(v, "icmp.type") if "icmp.type" in v else _first(v, "icmpv6.type")}
        if "ip.flags.df" in v:
            out["ip.flags.df"] = int(bool(v["ip.flags.df"][0]))
            out["ip.flags.mf"] = int(bool(v["ip.flags.mf"][0]))
    own = pkt.tcp is not None or pkt.udp is not None
    quoted = "icmp_quoted" in pkt.hints and ("tcp.stream" in v or "udp.stream" in v)
    for name in _TCP + _UDP:
        out[name] = _first(v, name) if is_ip and (own or quoted) else None
    if pkt.tcp is not None and "tcp.flags" not in v:   # bogus header length
        for name in ("tcp.ack_raw", "tcp.flags", "tcp.window_size_value"):
            out[name] = ANY
    return out


def _ours(cols: SummaryColumns, i: int) -> dict:
    f = int(cols.flags[i])
    r = row(cols, i)
    out = {"ip.src": cols.address(i, "src") or None, "ip.dst": cols.address(i, "dst") or None,
           "ip.ttl": r["ttl"] if r["ipver"] else None,
           "ip.proto": r["ip_proto"] if r["ipver"] else -1,
           "icmp.type": r["icmp_type"] if f & TRANSPORT and r["ip_proto"] in (1, 58) else None}
    if r["ipver"] == 4:
        out["ip.flags.df"] = int(bool(f & DF))
        out["ip.flags.mf"] = int(bool(f & MF))
    is_tcp = f & INNER_TCP or f & TRANSPORT and not f & INNER and r["ip_proto"] == 6
    is_udp = f & INNER_UDP or f & TRANSPORT and not f & INNER and r["ip_proto"] == 17
    tcp_vals = (r["sport"], r["dport"], r["seq"], r["ack"], r["tcp_flags"], r["window"],
                None if f & LEN_UNKNOWN else r["plen"])
    for name, val in zip(_TCP, tcp_vals):
        out[name] = val if is_tcp else None
    for name, val in zip(_UDP, (r["sport"], r["dport"], r["plen"])):
        out[name] = val if is_udp else None
    if f & INNER:   # quoted: the ports only
        for name in _TCP[2:] + _UDP[2:]:
            del out[name]
    return out


def _corpus_files() -> list[str]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    return sorted(p.name for p in (CORPUS / "pcaps").iterdir())


def _index(path: Path):
    from analyzer.capture.index import FrameIndex
    return FrameIndex(path).build()


def _udp_streams(index, tshark_path: Path | None) -> list[str]:
    """udp.stream of every frame: from tshark when given, else from the Python dissectors."""
    if tshark_path is not None:
        out = subprocess.run(["tshark", "-n", "-r", str(tshark_path), "-T", "fields",
                              "-e", "udp.stream"], capture_output=True, text=True, check=True)
        return [line.split(",")[0] for line in out.stdout.splitlines()]
    state = CaptureState()
    lts = index.linktypes
    streams = []
    for i in range(len(index)):
        lt = lts[index.ifaces[i]] if index.ifaces[i] < len(lts) else -1
        _root, pkt = dissect_frame(index.frame(i), number=i + 1, ts_ns=int(index.ts_ns[i]),
                                   origlen=int(index.origlens[i]), linktype=int(lt),
                                   state=state, tree=False)
        streams.append(str(pkt.udp.stream) if pkt.udp is not None else "")
    return streams


@pytest.mark.parametrize("name", _corpus_files() or ["(corpus absent)"])
def test_corpus_matches_dissectors(name: str) -> None:
    if name == "(corpus absent)":
        pytest.skip("../shared/corpus not present")
    index = _index(CORPUS / "pcaps" / name)
    _check_against_dissectors(index, summarize(index), name)


@pytest.mark.parametrize("name", _corpus_files() or ["(corpus absent)"])
def test_corpus_streams_match_tshark(name: str) -> None:
    """tcp.stream equals the corpus TSV on every frame where both have one; udp.stream
    equals the Python dissectors', or where they differ, tshark's own (when installed).

    Frames whose transport only tshark decodes (PPPoE, tunnels the dissectors lack) are
    skipped: their numbering belongs to those dissectors' tests.
    """
    if name == "(corpus absent)":
        pytest.skip("../shared/corpus not present")
    index = _index(CORPUS / "pcaps" / name)
    cols = summarize(index)
    with open(CORPUS / "tshark" / f"{name}.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) == len(index)
    tcp_rows, udp_rows = _stream_rows(cols)
    for i in tcp_rows:
        assert str(cols.stream[i]) == rows[i]["tcp.stream"].split(",")[0], \
            f"{name} frame {i + 1} tcp.stream"
    theirs = _udp_streams(index, None)
    if any(str(cols.stream[i]) != theirs[i] for i in udp_rows) and shutil.which("tshark"):
        theirs = _udp_streams(index, CORPUS / "pcaps" / name)
    for i in udp_rows:
        assert str(cols.stream[i]) == theirs[i], f"{name} frame {i + 1} udp.stream"


def _stream_rows(cols: SummaryColumns) -> tuple[list[int], list[int]]:
    f = cols.flags
    own = ((f & TRANSPORT) != 0) & ((f & INNER) == 0)
    tcp = own & (cols.ip_proto == 6) | ((f & INNER_TCP) != 0)
    udp = own & (cols.ip_proto == 17) | ((f & INNER_UDP) != 0)
    return np.flatnonzero(tcp).tolist(), np.flatnonzero(udp).tolist()
