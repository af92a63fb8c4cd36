"""TCP: header fields, flags, options, streams, relative numbers, window scaling, Info.

Segments are fed to dissect_tcp the way the IP layer does (addresses in pkt.net_src and
pkt.net_dst, the segment's reported end), so these tests do not depend on the IP
dissectors. Expected values and texts are tshark 4.0.17's on the same bytes (checked with
tshark -V / -T fields while writing these tests), or on the corpus capture named.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dissectors import CaptureState, Malformed, Truncated
from dissectors.buffer import Buf
from dissectors.dispatch import TCP_HEUR, TCP_PORT
from dissectors.fields import REGISTRY, fields_value
from dissectors.packet import Packet
from dissectors.tcp import TcpSegment, dissect_tcp
from dissectors.tree import NULL_TREE, Node

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SYN, ACK, FIN, RST, PSH = 0x002, 0x010, 0x001, 0x004, 0x008

# zeek_http11-get.pcap frame 1, the TCP header (tcpdump -X, from offset 0x22):
#   e9d0 0050 fe21 323a 0000 0000 b002 ffff  ...P.!2:........
#   3bc0 0000 0204 05b4 0103 0304 0101 080a  ;...............
#   164a dd20 0000 0000 0402 0000            .J..........
HTTP_SYN = bytes.fromhex("e9d00050fe21323a00000000b002ffff3bc00000020405b4010303040101080a"
                         "164add200000000004020000")
HTTP_SYN_SRC, HTTP_SYN_DST = bytes.fromhex("8d8ee405"), bytes.fromhex("c096bb2b")
# frame 2, the SYN/ACK
HTTP_SYNACK = bytes.fromhex("0050e9d0a5afce3efe21323ba01238902e500000020405b40402080a2f894259"
                            "164add2001030307")


def seg(sport: int = 1234, dport: int = 80, seq: int = 1000, ack: int = 0, flags: int = SYN,
        win: int = 65535, opts: bytes = b"", data: bytes = b"", urg: int = 0,
        hlen: int | None = None) -> bytes:
    """A TCP segment; options are padded with NOPs to a multiple of 4 unless hlen is given."""
    if hlen is None:
        opts += b"\x01" * (-len(opts) % 4)
        hlen = 20 + len(opts)
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (hlen // 4) << 12 | flags, win, 0,
                       urg) + opts + data


class Result:
    def __init__(self, root: Node | None, pkt: Packet, error: Exception | None) -> None:
        self.root, self.pkt, self.error = root, pkt, error

    def values(self) -> dict[str, list[str]]:
        """abbrev -> values formatted as `tshark -T fields` prints them."""
        out: dict[str, list[str]] = {}
        for abbrev, vals in (self.root.values() if self.root else {}).items():
            spec = REGISTRY[abbrev]
            out[abbrev] = [fields_value(spec, v) for v in vals]
        return out

    def get(self, abbrev: str) -> str:
        return ",".join(self.values().get(abbrev, []))

    @property
    def info(self) -> str:
        return self.pkt.info_text()

    @property
    def experts(self) -> list[str]:
        return self.values().get("_ws.expert.message", []) if self.root else []

    def text(self) -> list[str]:
        """The tree as `tshark -V` indents it (hidden items left out)."""
        lines: list[str] = []

        def walk(n: Node, depth: int) -> None:
            if n.hidden:
                return
            lines.append("    " * depth + n.text())
            for c in n.children or ():
                walk(c, depth + 1)

        for c in (self.root.children or []) if self.root else []:
            walk(c, 0)
        return lines


class Capture:
    """Feeds segments to dissect_tcp in frame order, as the IP layer would."""

    def __init__(self) -> None:
        self.state = CaptureState()
        self.frames: list[tuple[bytes, bytes, bytes, int | None, int | None]] = []

    def send(self, src: bytes, dst: bytes, raw: bytes, *, end: int | None = None,
             captured: int | None = None, tree: bool = True, number: int | None = None,
             layers: tuple[str, ...] = ("frame", "raw", "ip"), in_error: bool = False) -> Result:
        if number is None:
            self.frames.append((src, dst, raw, end, captured))
            number = len(self.frames)
        data = raw if captured is None else raw[:captured]
        buf = Buf(data, len(raw))
        pkt = Packet(number, 0, len(data), len(raw), 228, 0, self.state)
        pkt.net_src, pkt.net_dst, pkt.net_ver = src, dst, len(src) // 4 + 3
        pkt.layers = list(layers)
        pkt.in_error = pkt.fenced = in_error
        root = Node(None, 0, len(raw), label="frame") if tree else None
        error = None
        try:
            dissect_tcp(buf, 0, len(raw) if end is None else end, root or NULL_TREE, pkt)
        except (Truncated, Malformed) as e:
            error = e
        self.state.last_frame = max(self.state.last_frame, number)
        assert "bug" not in pkt.hints
        return Result(root, pkt, error)

    def again(self, number: int, tree: bool = True) -> Result:
        """Dissect frame `number` again, as the details pane does (visited)."""
        src, dst, raw, end, captured = self.frames[number - 1]
        return self.send(src, dst, raw, end=end, captured=captured, tree=tree, number=number)


def one(raw: bytes, **kw) -> Result:
    return Capture().send(A, B, raw, **kw)


# ---------------------------------------------------------------------------------------
# Header fields and Info
# ---------------------------------------------------------------------------------------

def test_syn_from_corpus_fields_tree_and_info():
    r = Capture().send(HTTP_SYN_SRC, HTTP_SYN_DST, HTTP_SYN)
    assert r.error is None
    assert r.pkt.col_protocol == "TCP"
    assert r.info == ("59856 → 80 [SYN] Seq=0 Win=65535 Len=0 MSS=1460 WS=16 TSval=374005024 "
                      "TSecr=0 SACK_PERM")
    assert (r.get("tcp.srcport"), r.get("tcp.dstport"), r.get("tcp.port")) == \
        ("59856", "80", "59856,80")
    assert r.get("tcp.stream") == "0"
    assert (r.get("tcp.seq"), r.get("tcp.seq_raw"), r.get("tcp.nxtseq")) == \
        ("0", "4263588410", "1")
    assert (r.get("tcp.ack"), r.get("tcp.ack_raw")) == ("0", "0")
    assert r.get("tcp.hdr_len") == "44"
    assert r.get("tcp.flags") == "0x0002"
    assert r.get("tcp.flags.syn") == "1" and r.get("tcp.flags.ack") == "0"
    assert r.get("tcp.flags.str") == "··········S·"
    assert (r.get("tcp.window_size_value"), r.get("tcp.window_size")) == ("65535", "65535")
    assert r.get("tcp.window_size_scalefactor") == ""          # never on a SYN
    assert (r.get("tcp.checksum"), r.get("tcp.checksum.status")) == ("0x3bc0", "2")
    assert r.get("tcp.options") == "020405b4010303040101080a164add200000000004020000"
    assert r.get("tcp.option_kind") == "2,1,3,1,1,8,4,0,0"
    assert r.get("tcp.option_len") == "4,3,10,2"
    assert r.get("tcp.options.nop") == "01,01,01"
    assert r.get("tcp.options.eol") == "00,00"
    assert r.get("tcp.options.mss") == "020405b4"
    assert (r.get("tcp.options.mss_val"), r.get("tcp.options.wscale.shift"),
            r.get("tcp.options.wscale.multiplier")) == ("1460", "4", "16")
    assert r.get("tcp.options.sack_perm") == "0402"
    assert (r.get("tcp.options.timestamp.tsval"), r.get("tcp.options.timestamp.tsecr")) == \
        ("374005024", "0")
    assert r.get("tcp.len") == "0"
    assert r.experts == ["Connection establish request (SYN): server port 80"]
    text = r.text()
    assert text[0] == ("Transmission Control Protocol, Src Port: 59856, Dst Port: 80, Seq: 0, "
                       "Len: 0")
    for line in ("    [Stream index: 0]",
                 "    [Conversation completeness: Incomplete (0)]",
                 "    [TCP Segment Len: 0]",
                 "    Sequence Number: 0    (relative sequence number)",
                 "    Sequence Number (raw): 4263588410",
                 "    [Next Sequence Number: 1    (relative sequence number)]",
                 "    Acknowledgment Number: 0",
                 "    1011 .... = Header Length: 44 bytes (11)",
                 "    Flags: 0x002 (SYN)",
                 "        000. .... .... = Reserved: Not set",
                 "        ...0 .... .... = Accurate ECN: Not set",
                 "        .... .... ..1. = Syn: Set",
                 ("            [Expert Info (Chat/Sequence): Connection establish request (SYN): "
                 "server port 80]"),
                 "        [TCP Flags: ··········S·]",
                 "    Checksum: 0x3bc0 [unverified]",
                 "    [Checksum Status: Unverified]",
                 ("    Options: (24 bytes), Maximum segment size, No-Operation (NOP), Window "
                 "scale, No-Operation (NOP), No-Operation (NOP), Timestamps, SACK permitted, End "
                 "of Option List (EOL), End of Option List (EOL)"),
                 "        TCP Option - Maximum segment size: 1460 bytes",
                 "            Kind: Maximum Segment Size (2)",
                 "        TCP Option - Window scale: 4 (multiply by 16)",
                 "            [Multiplier: 16]",
                 "        TCP Option - Timestamps: TSval 374005024, TSecr 0",
                 "            Kind: Time Stamp Option (8)"):
        assert line in text, line


def test_synack_ack_and_data_relative_numbers_and_scaled_window():
    cap = Capture()
    cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, HTTP_SYN)
    r = cap.send(HTTP_SYN_DST, HTTP_SYN_SRC, HTTP_SYNACK)
    assert r.info == ("80 → 59856 [SYN, ACK] Seq=0 Ack=1 Win=14480 Len=0 MSS=1460 SACK_PERM "
                      "TSval=797524569 TSecr=374005024 WS=128")
    assert r.experts == ["Connection establish acknowledge (SYN+ACK): server port 80"]
    assert r.get("tcp.completeness") == "1"
    ack = seg(59856, 80, 0xFE21323B, 0xA5AFCE3F, ACK, win=0x202B,
              opts=bytes.fromhex("0101080a164add662f894259"))
    r = cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, ack)
    assert r.info == "59856 → 80 [ACK] Seq=1 Ack=1 Win=131760 Len=0 TSval=374005094 " \
                     "TSecr=797524569"
    assert (r.get("tcp.window_size_value"), r.get("tcp.window_size"),
            r.get("tcp.window_size_scalefactor")) == ("8235", "131760", "16")
    assert "    [Window size scaling factor: 16]" in r.text()
    assert r.get("tcp.completeness") == "3"
    data = seg(59856, 80, 0xFE21323B, 0xA5AFCE3F, PSH | ACK, win=0x202B, data=b"x" * 137)
    r = cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, data)
    assert r.info == "59856 → 80 [PSH, ACK] Seq=1 Ack=1 Win=131760 Len=137"
    assert (r.get("tcp.len"), r.get("tcp.nxtseq")) == ("137", "138")
    assert r.get("tcp.completeness") == "7"
    assert r.text()[0].endswith("Seq: 1, Ack: 1, Len: 137")
    fin = seg(80, 59856, 0xA5AFCE3F, 0xFE21323B + 137, FIN | ACK, win=114)
    r = cap.send(HTTP_SYN_DST, HTTP_SYN_SRC, fin)
    assert r.info == "80 → 59856 [FIN, ACK] Seq=1 Ack=138 Win=14592 Len=0"
    assert r.get("tcp.nxtseq") == "2"
    assert r.experts == ["Connection finish (FIN)", "This frame initiates the connection closing"]
    assert r.get("tcp.completeness") == "15"
    assert "    [Conversation completeness: Incomplete, DATA (15)]" in r.text()
    fin2 = seg(59856, 80, 0xFE21323B + 137, 0xA5AFCE40, FIN | ACK, win=0x202B)
    r = cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, fin2)
    assert r.experts == ["Connection finish (FIN)", "This frame undergoes the connection closing"]
    assert r.get("tcp.completeness") == "31"
    assert "    [Conversation completeness: Complete, WITH_DATA (31)]" in r.text()


def test_mid_stream_capture_starts_at_one_and_window_scale_unknown():
    cap = Capture()
    r = cap.send(A, B, seg(5000, 8080, 7777, 900000, ACK, win=300, data=b"abc"))
    assert r.info == "5000 → 8080 [ACK] Seq=1 Ack=1 Win=300 Len=3"
    assert r.get("tcp.window_size_scalefactor") == "-1"
    assert "    [Window size scaling factor: -1 (unknown)]" in r.text()
    r = cap.send(B, A, seg(8080, 5000, 900000, 7780, ACK, win=200))
    assert r.info == "8080 → 5000 [ACK] Seq=1 Ack=4 Win=200 Len=0"
    assert r.get("tcp.completeness") == "0"      # a conversation found mid-way stays at 0


def test_window_scaling_off_when_synack_has_no_ws():
    cap = Capture()
    cap.send(A, B, seg(1, 2, 100, 0, SYN, opts=b"\x03\x03\x07"))
    cap.send(B, A, seg(2, 1, 500, 101, SYN | ACK))
    r = cap.send(A, B, seg(1, 2, 101, 501, ACK, win=1000))
    assert (r.get("tcp.window_size"), r.get("tcp.window_size_scalefactor")) == ("1000", "-2")
    assert "    [Window size scaling factor: -2 (no window scaling used)]" in r.text()


def test_window_scale_shift_over_14_is_capped_and_applied():
    # zeek_tcp-window-scale-out-of-range.pcap: shift 255 is used as 14
    cap = Capture()
    r = cap.send(A, B, seg(40000, 80, 1000, 0, SYN, win=8192,
                           opts=b"\x02\x04\x05\xb4\x03\x03\xff"))
    assert r.info == "40000 → 80 [SYN] Seq=0 Win=8192 Len=0 MSS=1460 WS=16384"
    assert r.experts == ["Connection establish request (SYN): server port 80",
                         "Window scale shift exceeds 14"]
    cap.send(B, A, seg(80, 40000, 5000, 1001, SYN | ACK, win=8192,
                       opts=b"\x02\x04\x05\xb4\x03\x03\x07"))
    r = cap.send(A, B, seg(40000, 80, 1001, 5001, ACK, win=512))
    assert r.get("tcp.window_size") == "8388608"
    r = cap.send(B, A, seg(80, 40000, 5001, 1006, ACK, win=65535))
    assert r.get("tcp.window_size") == "8388480"


# ---------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, names, letters", [
    (0x000, "<None>", "············"),
    (0x001, "FIN", "···········F"),
    (0x002, "SYN", "··········S·"),
    (0x004, "RST", "·········R··"),
    (0x008, "PSH", "········P···"),
    (0x010, "ACK", "·······A····"),
    (0x020, "URG", "······U·····"),
    (0x040, "ECE", "·····E······"),
    (0x080, "CWR", "····C·······"),
    (0x100, "AE", "···A········"),
    (0x0FF, "FIN, SYN, RST, PSH, ACK, URG, ECE, CWR", "····CEUAPRSF"),
    (0xC02, "SYN, Reserved", "RR········S·"),
    (0x1C2, "SYN, ECE, CWR, AE", "···ACE····S·"),
])
def test_every_flag_named_and_pictured(flags, names, letters):
    r = one(seg(flags=flags, ack=1 if flags & ACK else 0))
    assert f"[{names}]" in r.info
    assert r.get("tcp.flags") == f"0x{flags:04x}"
    assert r.get("tcp.flags.str") == letters
    assert r.text()[r.text().index(f"    Flags: 0x{flags:03x} ({names})") + 1] == \
        f"        {'1' if flags & 0x800 else '0'}{'1' if flags & 0x400 else '0'}" \
        f"{'1' if flags & 0x200 else '0'}. .... .... = Reserved: " \
        f"{'Set' if flags & 0xE00 else 'Not set'}"
    for abbrev, bit in (("tcp.flags.res", 0xE00), ("tcp.flags.ae", 0x100),
                        ("tcp.flags.cwr", 0x080), ("tcp.flags.ece", 0x040),
                        ("tcp.flags.urg", 0x020), ("tcp.flags.ack", 0x010),
                        ("tcp.flags.push", 0x008), ("tcp.flags.reset", 0x004),
                        ("tcp.flags.syn", 0x002), ("tcp.flags.fin", 0x001)):
        assert r.get(abbrev) == ("1" if flags & bit else "0"), abbrev


def test_all_flags_set_from_corpus():
    # tcpdump_tcp-all-flags-set.pcap: SYN+ACK handling wins, then RST and FIN notes
    r = one(seg(6260, 80, 576462951, 486026015, 0x0FF, win=512))
    assert r.info == "6260 → 80 [FIN, SYN, RST, PSH, ACK, URG, ECE, CWR] Seq=0 Ack=1 Win=512 " \
                     "Urg=0 Len=0"
    assert r.experts == ["Connection reset (RST)",
                         "Connection establish acknowledge (SYN+ACK): server port 6260",
                         "Connection finish (FIN)",
                         "This frame initiates the connection closing"]


def test_accurate_ecn_counter_after_negotiation():
    # tcpdump_tcp-accecn-handshake.pcap: SYN with AE+CWR+ECE, SYN/ACK with CWR only
    cap = Capture()
    cap.send(A, B, seg(16433, 80, 10, 0, 0x1C2))
    r = cap.send(B, A, seg(80, 16433, 20, 11, 0x092))
    assert "[SYN, ACK, CWR]" in r.info
    r = cap.send(A, B, seg(16433, 80, 11, 21, 0x090))
    assert "[ACK, ACE=2]" in r.info
    assert r.get("tcp.flags.ace") == "2" and r.get("tcp.flags.cwr") == ""
    assert r.get("tcp.flags.str") == "···-2-·A····"
    assert "        ...0 10.. .... = ACE: 2" in r.text()
    r = cap.send(B, A, seg(80, 16433, 21, 11, 0x150))
    assert "[ACK, ACE=5]" in r.info


@pytest.mark.parametrize("synack, ace", [(0b000, False), (0b001, False), (0b010, True),
                                         (0b011, True), (0b100, True), (0b101, False),
                                         (0b110, True), (0b111, False)])
def test_accurate_ecn_needs_an_accepting_synack(synack, ace):
    cap = Capture()
    cap.send(A, B, seg(1, 2, 10, 0, 0x1C2))
    cap.send(B, A, seg(2, 1, 20, 11, SYN | ACK | synack << 6))
    r = cap.send(A, B, seg(1, 2, 11, 21, ACK))
    assert ("[ACK, ACE=0]" in r.info) is ace


def test_ack_and_urgent_pointer_notes():
    r = one(seg(flags=RST | 0xE00, ack=5))
    assert r.info == "1234 → 80 [RST, Reserved] Seq=1 Win=65535 Len=0"
    assert r.experts[0] == "The acknowledgment number field is nonzero while the ACK flag " \
                           "is not set"
    r = one(seg(flags=ACK | 0x020, ack=1, urg=7, data=b"hello"))
    assert r.info == "1234 → 80 [ACK, URG] Seq=1 Ack=1 Win=65535 Urg=7 Len=5"
    r = one(seg(flags=ACK, ack=1, urg=7))
    assert r.experts == ["The urgent pointer field is nonzero while the URG flag is not set"]


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------

def test_sack_blocks_relative_to_the_peer_and_dsack():
    cap = Capture()
    cap.send(A, B, seg(5000, 80, 100, 0, SYN))
    cap.send(B, A, seg(80, 5000, 9000, 101, SYN | ACK))
    r = cap.send(A, B, seg(5000, 80, 101, 9001, ACK,
                           opts=b"\x01\x01\x05\x0a" + struct.pack("!II", 9100, 9200)))
    assert r.info == "5000 → 80 [ACK] Seq=1 Ack=1 Win=65535 Len=0 SLE=100 SRE=200"
    assert (r.get("tcp.options.sack_le"), r.get("tcp.options.sack_re"),
            r.get("tcp.options.sack.count")) == ("100", "200", "1")
    assert "        TCP Option - SACK 100-200" in r.text()
    assert "            left edge = 100 (relative)" in r.text()
    assert r.pkt.tcp.sack == [(9100, 9200)]
    # a first block below the ACK is a D-SACK (RFC 2883)
    r = cap.send(A, B, seg(5000, 80, 101, 9001, ACK,
                           opts=b"\x01\x01\x05\x0a" + struct.pack("!II", 8990, 9001)))
    assert r.get("tcp.options.sack.dsack_le") == "4294967286"
    assert "D-SACK Sequence" in r.experts
    assert "            D-SACK Sequence" in r.text()


def test_empty_sack_is_malformed_like_tshark():
    # suricata_raw-tls-tcp-empty-sack.pcap: tshark re-reads a block the option lacks
    r = one(seg(flags=ACK, ack=1, opts=b"\x01\x01\x05\x02"))
    assert isinstance(r.error, Malformed)
    assert r.info.endswith("Len=0")
    assert "            [TCP SACK Count: 0]" in r.text()
    assert "    Options: (4 bytes), No-Operation (NOP), No-Operation (NOP)" in r.text()


def test_fast_open_cookie_request_cookie_and_experimental():
    r = one(seg(opts=b"\x22\x02"))
    assert r.info.endswith("TFO=R")
    assert r.get("tcp.options.tfo.request") == "2202"
    r = one(seg(opts=b"\x22\x0a" + b"\x11" * 8, data=b"GET"))
    assert r.info == "1234 → 80 [SYN] Seq=0 Win=65535 Len=3 TFO=C"
    assert r.get("tcp.options.tfo.cookie") == "11" * 8
    assert "TCP SYN with TFO Cookie" in r.experts
    assert r.pkt.tcp.tfo
    r = one(seg(opts=b"\xfe\x04\xf9\x89"))
    assert r.info.endswith("TFO=R")
    assert "        TCP Option - Experimental: Fast Open" in r.text()
    assert "            Experiment Identifier: Fast Open (0xf989)" in r.text()


def test_synack_accepting_tfo_data():
    cap = Capture()
    cap.send(A, B, seg(55533, 80, 100, 0, SYN, opts=b"\x22\x0a" + b"\x11" * 8, data=b"GET"))
    r = cap.send(B, A, seg(80, 55533, 7, 104, SYN | ACK))
    assert "TCP SYN-ACK accepting TFO data" in r.experts
    cap = Capture()
    cap.send(A, B, seg(55533, 80, 100, 0, SYN, opts=b"\x22\x0a" + b"\x11" * 8, data=b"GET"))
    r = cap.send(B, A, seg(80, 55533, 7, 101, SYN | ACK))
    assert "TCP SYN-ACK ignoring TFO data" in r.experts


@pytest.mark.parametrize("opts, info, line", [
    (b"\x06\x06\x00\x00\x00\x07", "ECHO=7", "        TCP Option - Echo: 7"),
    (b"\x07\x06\x00\x00\x00\x09", "ECHO=9", "            Kind: Echo Reply (7)"),
    (b"\x0b\x06\x00\x00\x00\x05", "CC=5", "            TCP CC Option: 5"),
    (b"\x13\x12" + b"\x11" * 16, "MD5", "        TCP Option - TCP MD5 signature"),
    (b"\x1c\x04\x80\x10", "USER_TO=16", ("            1... .... .... .... = Granularity: "
                                         "Minutes")),
    (b"\xac\x0b\x00\x00\x01\x00\x00\x02\x00\x00\x03", "EE0B=1 ECEB=2 EE1B=3",
     "        TCP Option - Accurate ECN (Order 0): EE0B 1, ECEB 2, EE1B 3"),
    (b"\xae\x08\x00\x00\x01\x00\x00\x02", "EE1B=1 ECEB=2",
     "        TCP Option - Accurate ECN (Order 1): EE1B 1, ECEB 2"),
    (b"\xac\x02", "AccECN", "            Kind: Accurate ECN Order 0 (172)"),
    (b"\xfe\x06\x12\x34\xaa\xbb", "ExID=1234", ("            Experiment Identifier: Unknown "
                                               "(0x1234)")),
    (b"\x63\x04\xab\xcd", "", "            Kind: Unknown (99)"),
    (b"\x09\x02", "", "            Kind: Partial Order Connection Permitted (9)"),
])
def test_option_kinds(opts, info, line):
    r = one(seg(flags=ACK, ack=1, opts=opts))
    assert r.error is None
    assert r.info == ("1234 → 80 [ACK] Seq=1 Ack=1 Win=65535 Len=0" + (" " + info if info
                                                                        else ""))
    assert line in r.text()


def test_option_bytes_fields():
    assert one(seg(flags=ACK, ack=1, opts=b"\x13\x12" + b"\x11" * 16)).get(
        "tcp.options.md5.digest") == "11" * 16
    assert one(seg(flags=ACK, ack=1, opts=b"\x63\x04\xab\xcd")).get(
        "tcp.options.unknown.payload") == "abcd"
    assert one(seg(flags=ACK, ack=1, opts=b"\xfe\x06\x12\x34\xaa\xbb")).get(
        "tcp.options.experimental.data") == "aabb"


def test_ao_info_has_no_space_like_tshark():
    r = one(seg(flags=ACK, ack=1, opts=b"\x1d\x06\x01\x02\xab\xcd"))
    assert r.info == "1234 → 80 [ACK] Seq=1 Ack=1 Win=65535 Len=0TCP AO"
    assert (r.get("tcp.options.ao.keyid"), r.get("tcp.options.ao.mac")) == ("1", "abcd")


def test_accecn_option_turns_on_the_ace_counter_for_later_segments():
    cap = Capture()
    r = cap.send(A, B, seg(1, 2, 10, 5, ACK, opts=b"\xac\x05\x00\x00\x07"))
    assert "[ACK]" in r.info and r.get("tcp.options.acc_ecn.ee0b") == "7"
    r = cap.send(A, B, seg(1, 2, 10, 5, ACK))
    assert "[ACK, ACE=0]" in r.info


def test_mptcp_capable_keys_token_and_dss():
    # tcpdump_tcp-mptcp-v1-options.pcap frames 1-3 and 6
    cap = Capture()
    r = cap.send(A, B, seg(33306, 10004, 1, 0, SYN, opts=b"\x1e\x04\x01\x01"))
    assert r.pkt.col_protocol == "MPTCP" and r.pkt.layers[-1] == "mptcp"
    assert r.get("tcp.options.mptcp.subtype") == "0"
    assert "        Multipath Transmission Control Protocol: Multipath Capable" in r.text()
    assert "                .... ...1 = Use HMAC-SHA256: 1" in r.text()
    assert "                ...0 000. = Reserved: 0x0" in r.text()
    r = cap.send(B, A, seg(10004, 33306, 1000, 2, SYN | ACK,
                           opts=b"\x1e\x0c\x01\x01" + struct.pack("!Q", 3001306557161771836)))
    assert r.get("mptcp.expected_token") == "2740809090"
    assert r.get("mptcp.expected_idsn") == "11713449205243392241"
    r = cap.send(A, B, seg(33306, 10004, 2, 1001, ACK,
                           opts=b"\x1e\x14\x01\x01" + struct.pack("!QQ", 2295531734017261039,
                                                                  3001306557161771836)))
    assert r.get("mptcp.expected_token") == "597671344"
    assert r.get("tcp.options.mptcp.recvkey") == "3001306557161771836"
    r = cap.send(A, B, seg(33306, 10004, 2, 1001, ACK,
                           opts=b"\x1e\x0c\x20\x03" + struct.pack("!Q", 11713449205243392242)))
    assert "            Original MPTCP Data ACK: 11713449205243392242 (64bits)" in r.text()
    assert r.get("mptcp.ack") == "1"
    r = one(seg(flags=ACK, ack=1, opts=b"\x1e\x04\x20\x01"))
    assert isinstance(r.error, Malformed)       # Data ACK announced but absent


def test_four_nops_in_a_row():
    r = one(seg(flags=ACK, ack=1, opts=b"\x01\x01\x01\x01\x02\x04\x05\xb4"))
    assert r.experts == ["4 NOP in a row - a router may have removed some options",
                         "The non-SYN packet does contain a MSS option"]
    assert r.info.endswith("MSS=1460")


def test_syn_without_mss_note_unless_the_walk_stopped():
    assert "The SYN packet does not contain a MSS option" in one(seg(opts=b"\x00" * 4)).experts
    assert one(seg()).experts == ["Connection establish request (SYN): server port 80"]
    r = one(seg(opts=b"\x00\x01\x00\x00"))
    assert "Non-zero header padding" in r.experts
    assert "The SYN packet does not contain a MSS option" not in r.experts


@pytest.mark.parametrize("opts, message", [
    (b"\x02\x01\x00\x00", "Maximum segment size (with too-short option length = 1 byte)"),
    (b"\x01\x01\x08\x0a\x00\x00\x00\x00",
     "Timestamps (option length = 10 bytes says option goes past end of options)"),
    (b"\x01\x01\x01\x08", "Timestamps (length byte past end of options)"),
    (b"\x02\x03\x05\x01", "option length should be 4"),
    (b"\x08\x06\x00\x00\x00\x01\x01\x01", "option length should be 10"),
    (b"\xfe\x02\x01\x01", "option length 2 smaller than 4"),
    (b"\xac\x04\x00\x00", "option length should be 2, 5, 8, or 11 instead of 4"),
    (b"\x05\x06\x00\x00\x23\x8c\x01\x01", "suboption would go past end of option"),
])
def test_malformed_option_lengths_are_notes_not_crashes(opts, message):
    r = one(seg(flags=ACK, ack=1, opts=opts))
    assert message in r.experts
    assert r.info.startswith("1234 → 80 [ACK] Seq=1 Ack=1 Win=65535 Len=0")


def test_options_cut_by_the_snap_length():
    # zeek_tcp-header-truncated-snaplen.pcap frame 1: the Timestamps option is cut
    opts = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + b"\x00" * 8 + b"\x01\x03\x03\x07"
    r = one(seg(flags=SYN | 0x0C0, opts=opts), captured=34)
    assert isinstance(r.error, Truncated)
    assert r.info == "1234 → 80 [SYN, ECE, CWR] Seq=0 Win=65535 Len=0 MSS=1460 SACK_PERM"
    assert "option length should be 10" in r.experts


# ---------------------------------------------------------------------------------------
# Malformed headers
# ---------------------------------------------------------------------------------------

def test_bogus_header_length():
    cap = Capture()
    cap.send(A, B, seg(5000, 80, 105, 0, SYN))
    r = cap.send(A, B, seg(5000, 80, 106, 9001, ACK, hlen=16))
    assert r.error is None
    assert r.info == "5000 → 80 [ACK] Seq=1 Ack=1 Win=65535, bogus TCP header length " \
                     "(16, must be at least 20)"
    assert r.experts == ["Bogus TCP header length (16, must be at least 20)"]
    assert r.get("tcp.len") == "4"


def test_short_segment_is_noted_then_malformed():
    r = one(seg(flags=ACK, ack=9001, seq=106, hlen=40), end=20)
    assert isinstance(r.error, Malformed)
    assert r.info == "1234 → 80 [ACK] Seq=106 Ack=9001 Win=65535"
    assert r.experts[0].startswith("Short segment. Segment/fragment does not contain a full TCP")
    assert r.get("tcp.len") == ""


def test_header_cut_by_capture_or_by_ip_length():
    raw = seg(flags=ACK, ack=1)
    r = one(raw, captured=3)
    assert isinstance(r.error, Truncated) and r.info == ""
    r = one(raw, captured=10)
    assert isinstance(r.error, Truncated) and r.info == "1234 → 80"
    assert r.get("tcp.srcport") == "1234" and r.get("tcp.stream") == ""
    r = one(raw, end=10)
    assert isinstance(r.error, Malformed)
    r = one(raw, captured=17)
    assert isinstance(r.error, Truncated)
    assert r.info == "1234 → 80 [ACK] Seq=1 Ack=1 Win=65535"   # failed at the checksum


def test_rst_payload_is_the_reset_cause_not_handed_off():
    r = one(seg(flags=RST | ACK, ack=1, data=b"reset reason"))
    assert r.get("tcp.reset_cause") == "reset reason"
    assert r.get("tcp.payload") == "" and "data" not in r.pkt.layers


# ---------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------

def test_streams_in_order_of_appearance_both_directions():
    cap = Capture()
    assert cap.send(A, B, seg(1000, 80, 1, 0, SYN)).get("tcp.stream") == "0"
    assert cap.send(A, B, seg(1001, 80, 1, 0, SYN)).get("tcp.stream") == "1"
    assert cap.send(B, A, seg(80, 1000, 9, 2, SYN | ACK)).get("tcp.stream") == "0"
    assert cap.send(B, A, seg(80, 1001, 9, 2, SYN | ACK)).get("tcp.stream") == "1"
    c = bytes([10, 0, 0, 3])
    assert cap.send(c, B, seg(1000, 80, 1, 0, SYN)).get("tcp.stream") == "2"


def test_port_reuse_opens_a_new_stream_but_a_retransmitted_syn_does_not():
    # suricata_tcp-reused-ports-syns.pcap: 23 SYNs with new ISNs on the same ports
    cap = Capture()
    cap.send(A, B, seg(40001, 8000, 100, 0, SYN))
    assert cap.send(A, B, seg(40001, 8000, 100, 0, SYN)).get("tcp.stream") == "0"
    cap.send(B, A, seg(8000, 40001, 500, 101, SYN | ACK))
    cap.send(A, B, seg(40001, 8000, 101, 501, FIN | ACK))
    r = cap.send(A, B, seg(40001, 8000, 7000, 0, SYN))
    assert r.get("tcp.stream") == "1"
    assert r.get("tcp.completeness") == "1"
    assert r.info == "40001 → 8000 [SYN] Seq=0 Win=65535 Len=0"
    r = cap.send(B, A, seg(8000, 40001, 9000, 7001, SYN | ACK))
    assert r.get("tcp.stream") == "1"
    assert r.info == "8000 → 40001 [SYN, ACK] Seq=0 Ack=1 Win=65535 Len=0"
    assert r.pkt.tcp.stream == 1 and r.pkt.tcp.direction == 1   # the higher address


def test_synack_with_a_new_isn_rebases_its_side():
    cap = Capture()
    cap.send(A, B, seg(1, 2, 100, 0, SYN))
    cap.send(B, A, seg(2, 1, 500, 101, SYN | ACK))
    cap.send(A, B, seg(1, 2, 101, 501, ACK, data=b"hi"))
    r = cap.send(B, A, seg(2, 1, 800, 103, SYN | ACK))        # same stream, new base
    assert (r.get("tcp.stream"), r.get("tcp.seq")) == ("0", "0")
    r = cap.send(B, A, seg(2, 1, 801, 103, ACK))
    assert r.get("tcp.seq") == "1"
    # frames before the re-base keep their numbers when dissected again
    assert cap.again(2).get("tcp.seq") == "0"
    assert cap.again(3).get("tcp.ack") == "1"


def test_quoted_segment_inside_an_icmp_error_keeps_raw_numbers():
    # suricata_tcp-window-full-smtp-icmp-fragneeded.pcap frame 26
    cap = Capture()
    cap.send(A, B, seg(1470, 25, 100, 0, SYN))
    cap.send(B, A, seg(25, 1470, 900, 101, SYN | ACK))
    quoted = seg(1470, 25, 2126795847, 2934727550, ACK, win=65073, data=b"x" * 8)
    r = cap.send(A, B, quoted, layers=("frame", "eth", "ethertype", "ip", "icmp", "ip"),
                 in_error=True)
    assert r.get("tcp.stream") == "0"
    assert (r.get("tcp.seq"), r.get("tcp.seq_raw")) == ("2126795847", "")
    assert (r.get("tcp.ack"), r.get("tcp.len"), r.get("tcp.window_size")) == \
        ("2934727550", "", "65073")
    assert r.text()[0] == ("Transmission Control Protocol, Src Port: 1470, Dst Port: 25, "
                           "Seq: 2126795847, Ack: 2934727550")
    assert r.pkt.info == [] and r.pkt.tcp is None        # the outer packet's columns stand


# ---------------------------------------------------------------------------------------
# Re-dissection, summary path, payload hand-off
# ---------------------------------------------------------------------------------------

def _handshake_capture() -> Capture:
    cap = Capture()
    cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, HTTP_SYN)
    cap.send(HTTP_SYN_DST, HTTP_SYN_SRC, HTTP_SYNACK)
    cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, seg(59856, 80, 0xFE21323B, 0xA5AFCE3F, ACK, win=99,
                                             opts=bytes.fromhex("0101080a164add662f894259")))
    cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, seg(59856, 80, 0xFE21323B, 0xA5AFCE3F, PSH | ACK,
                                             data=b"GET / HTTP/1.1\r\n\r\n"))
    cap.send(HTTP_SYN_DST, HTTP_SYN_SRC, seg(80, 59856, 0xA5AFCE3F, 0xFE21323B + 18,
                                             FIN | ACK, win=114))
    cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, seg(59856, 80, 0xFE21323B + 18, 0xA5AFCE40,
                                             FIN | ACK))
    cap.send(A, B, seg(1, 2, 3, 4, 0x1C2))
    return cap


def test_visited_redissection_equals_first_pass():
    cap = _handshake_capture()
    first = [cap.again(n) for n in range(1, len(cap.frames) + 1)]
    fresh = Capture()
    original = [fresh.send(*f[:3]) for f in cap.frames]
    for n in reversed(range(len(cap.frames))):
        again = cap.again(n + 1)
        assert again.text() == original[n].text() == first[n].text()
        assert again.info == original[n].info
        assert again.experts == original[n].experts
    assert len(cap.state.slot("tcp", object).streams) == 2


def test_summary_path_gives_the_same_columns_and_segment():
    cap, lean = Capture(), Capture()
    for src, dst, raw, _, _ in _handshake_capture().frames:
        full = cap.send(src, dst, raw)
        quick = lean.send(src, dst, raw, tree=False)
        assert quick.info == full.info
        assert quick.pkt.col_protocol == full.pkt.col_protocol
        a, b = full.pkt.tcp, quick.pkt.tcp
        assert isinstance(b, TcpSegment)
        assert [getattr(a, k) for k in TcpSegment.__slots__] == \
            [getattr(b, k) for k in TcpSegment.__slots__]
    assert (b.stream, b.flags, b.seq, b.ack, b.len, b.win) == (1, 0x1C2, 0, 4, 0, 65535)


def test_segment_summary_for_analysis():
    cap = Capture()
    cap.send(HTTP_SYN_SRC, HTTP_SYN_DST, HTTP_SYN)
    s = cap.send(HTTP_SYN_DST, HTTP_SYN_SRC, HTTP_SYNACK, tree=False).pkt.tcp
    assert (s.stream, s.direction, s.flags, s.seq, s.ack, s.seq_raw, s.ack_raw) == \
        (0, 1, SYN | ACK, 0, 1, 0xA5AFCE3E, 0xFE21323B)
    assert (s.mss, s.ws_shift, s.sack_perm, s.tsval, s.tsecr, s.len, s.nxtseq) == \
        (1460, 7, True, 797524569, 374005024, 0, 1)
    assert (s.win_raw, s.win, s.hdr_len) == (14480, 14480, 40)


def test_payload_goes_to_the_server_port_then_low_then_high_then_data():
    seen: list[str] = []

    def make(name: str):
        def fn(buf, off, end, tree, pkt):
            seen.append(name)
            pkt.enter(name)
        return fn

    TCP_PORT.register(64001, make("p64001"))
    TCP_PORT.register(64002, make("p64002"))
    try:
        one(seg(64002, 64001, flags=ACK, ack=1, data=b"x"))
        one(seg(64001, 64003, flags=ACK, ack=1, data=b"x"))
        one(seg(64005, 64002, flags=ACK, ack=1, data=b"x"))
        cap = Capture()
        cap.send(A, B, seg(64001, 64002, 1, 0, SYN))           # server port: 64002
        cap.send(A, B, seg(64001, 64002, 2, 5, ACK, data=b"x"))
        assert seen == ["p64001", "p64001", "p64002", "p64002"]
        r = one(seg(64007, 64008, flags=ACK, ack=1, data=b"xyz"))
        assert r.pkt.layers[-1] == "data"
        assert r.get("tcp.payload") == "78797a"
        assert "    TCP payload (3 bytes)" in r.text()
        assert "data" not in one(seg(64007, 64008, flags=ACK, ack=1)).pkt.layers
    finally:
        TCP_PORT._map.pop(64001)
        TCP_PORT._map.pop(64002)


def test_heuristic_before_data():
    def heur(buf, off, end, tree, pkt):
        if buf.data[off:off + 4] != b"MAGI":
            return False
        pkt.enter("magic")
        return True

    TCP_HEUR.register("magic", heur)
    try:
        assert one(seg(64011, 64012, flags=ACK, ack=1, data=b"MAGIC")).pkt.layers[-1] == "magic"
        assert one(seg(64011, 64012, flags=ACK, ack=1, data=b"other")).pkt.layers[-1] == "data"
    finally:
        TCP_HEUR._list.remove(("magic", heur))


# ---------------------------------------------------------------------------------------
# Hostile bytes
# ---------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=80), st.integers(0, 90), st.booleans())
def test_any_bytes_raise_only_truncated_or_malformed(raw, end, tree):
    cap = Capture()
    cap.send(A, B, raw, end=min(end, 90), tree=tree)      # asserts no other exception
    cap.again(1, tree=tree)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=44), st.integers(0, 0xFFF), st.integers(5, 15))
def test_any_options_raise_only_truncated_or_malformed(opts, flags, words):
    raw = seg(flags=flags, hlen=words * 4) + opts
    cap = Capture()
    cap.send(A, B, raw)
    cap.send(B, A, raw, captured=len(raw) // 2)


# ---------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------

TCP_COLUMNS = ["tcp.srcport", "tcp.dstport", "tcp.stream", "tcp.seq_raw", "tcp.ack_raw",
               "tcp.flags", "tcp.window_size_value", "tcp.window_size", "tcp.len",
               "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.sack_perm",
               "tcp.options.timestamp.tsval"]


def _corpus():
    corpus = pytest.importorskip("tests.corpus")
    from dissectors.dispatch import ETHERTYPE
    if ETHERTYPE.get(0x0800) is None:
        pytest.skip("no IPv4 dissector registered yet")
    return corpus


def test_corpus_reused_ports_streams(corpus_dir: Path):
    corpus = _corpus()
    stats = corpus.compare(["suricata_tcp-reused-ports-syns.pcap"], TCP_COLUMNS, corpus_dir)
    for name in TCP_COLUMNS:
        assert not stats[name].mismatches, (name, stats[name].mismatches[:3])


# Lower layers we do not dissect yet (PPPoE, L2TP) hide this file's TCP from us.
NOT_OURS = {"dpkt_dns-a-aaaa-cname-soa-http.pcap"}


def test_corpus_tcp_columns_agree_with_tshark(corpus_dir: Path):
    corpus = _corpus()
    files = [f for f in corpus.all_files(corpus_dir) if f not in NOT_OURS]
    stats = corpus.compare(files, TCP_COLUMNS, corpus_dir)
    for name in TCP_COLUMNS:
        assert stats[name].ratio >= 0.995, (name, stats[name].mismatches[:5])


def test_corpus_info_of_pure_tcp_udp_frames(corpus_dir: Path):
    """Info of frames tshark shows as TCP or UDP only. Segments tshark holds for a higher
    layer's reassembly ("[TCP segment of a reassembled PDU]") need that layer: not counted."""
    corpus = _corpus()
    files = [f for f in corpus.all_files(corpus_dir) if f not in NOT_OURS]
    st = corpus.compare(files, ["_ws.col.Info"], corpus_dir)["_ws.col.Info"]
    wrong = [m for m in st.mismatches if "reassembled PDU" not in m[3]]
    counted = st.total - (len(st.mismatches) - len(wrong))
    assert len(wrong) <= 0.005 * counted, wrong[:5]
