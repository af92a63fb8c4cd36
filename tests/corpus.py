"""Differential comparison with tshark's ground truth in ../shared/corpus.

Used by the corpus tests and by benchmarks/corpus_agreement.py (which prints the table for
closing notes). Every allowed difference is listed in ALLOWED below, with its reason:
anything else that disagrees counts against us.
"""
from __future__ import annotations

import csv
import fnmatch
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"

from analyzer.capture import open_capture  # noqa: E402
from analyzer.engine.annotate import SequenceAnnotator  # noqa: E402
from analyzer.output import FieldsFormat, field_cells  # noqa: E402
from dissectors import REGISTRY, CaptureState, dissect_frame  # noqa: E402

csv.field_size_limit(1 << 30)

# Layers the foundation owns: frames made only of these are "L2-L4 frames" whose Protocol and
# Info columns must match; frame.protocols is compared up to the first layer not listed.
L2L4 = {"eth", "ethertype", "vlan", "sll", "null", "raw", "arp", "ip", "ipv6", "pppoes",
        "pppoed", "ppp", "lcp", "l2tp",
        "ipv6.hopopts", "ipv6.dstopts", "ipv6.routing", "ipv6.fraghdr", "icmp", "icmpv6",
        "tcp", "udp"}

# The corpus columns of the foundation issue (frame, eth, vlan, ip, ipv6, tcp, udp, icmp,
# and the two columns for L2-L4 frames).
L2L4_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols",
    "eth.src", "eth.dst", "eth.type", "vlan.id", "ip.version", "ip.src", "ip.dst", "ip.ttl",
    "ip.id", "ip.flags.df", "ip.flags.mf", "ip.frag_offset", "ip.proto", "ip.checksum",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.hlim", "tcp.srcport", "tcp.dstport",
    "tcp.stream", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value",
    "tcp.window_size", "tcp.len", "tcp.options.mss_val", "tcp.options.wscale.shift",
    "tcp.options.sack_perm", "tcp.options.timestamp.tsval", "udp.srcport", "udp.dstport",
    "udp.length", "icmp.type", "icmp.code", "icmpv6.type", "_ws.col.Protocol", "_ws.col.Info",
]
COLUMN_FIELDS = {"_ws.col.Protocol", "_ws.col.Info"}


@dataclass(frozen=True)
class Allowance:
    """A known, explained difference: file pattern, field, optional frames, why."""

    files: str
    field: str
    reason: str
    frames: frozenset[int] | None = None
    theirs: str = "*"   # a glob tshark's value must match

    def covers(self, file: str, fld: str, frame: int, theirs: str) -> bool:
        return fnmatch.fnmatch(file, self.files) and fnmatch.fnmatch(fld, self.field) and \
            (self.frames is None or frame in self.frames) and \
            fnmatch.fnmatchcase(theirs, self.theirs)


# The one place that lists where we knowingly differ from tshark 4.0, and why.
ALLOWED: list[Allowance] = [
    Allowance("*", "_ws.col.Info", theirs="*[[]TCP segment of a reassembled PDU]",
              reason="tshark marks a segment that an application dissector wirelens does not "
                     "have yet (SSH, HTTP, SMTP, ...) is reassembling; without that dissector "
                     "the segment is plain TCP. TLS segments are reassembled and compared "
                     "without this allowance in tests/test_tls_corpus.py."),
    Allowance("*", "_ws.col.Info", theirs="*[[]Reassembly error, protocol TCP: *",
              reason="tshark's TCP reassembly for an application dissector wirelens does not "
                     "have yet (HTTP) reports overlapping retransmitted data; the TCP analysis "
                     "prefix before it agrees. TLS's are compared in tests/test_tls_corpus.py."),
]


@dataclass
class FieldStats:
    agree: int = 0
    allowed: int = 0
    total: int = 0
    mismatches: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return (self.agree + self.allowed) / self.total if self.total else 1.0


def manifest(corpus: Path = CORPUS) -> list[dict[str, str]]:
    with open(corpus / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return (rows[0], rows[1:]) if rows else ([], [])


def our_cells(pcap: Path, names: list[str]) -> list[list[str]]:
    """Our `-T fields -E occurrence=a -E aggregator=,` cells, frame by frame."""
    fmt = FieldsFormat()
    known = [n if n in REGISTRY else None for n in names]
    out = []
    with open_capture(str(pcap)) as reader:
        state = CaptureState()
        annotate = SequenceAnnotator()
        for n, f in enumerate(reader, 1):
            root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                      linktype=f.linktype, iface=f.iface, comment=f.comment,
                                  has_ts=f.has_ts,
                                      state=state)
            annotate(root, pkt)
            cells = field_cells([k for k in known if k], root, pkt, fmt, "")
            it = iter(cells)
            out.append([next(it) if k else "" for k in known])
    return out


def _protocols_prefix(value: str) -> str:
    out = []
    for layer in value.split(":"):
        if layer not in L2L4:
            break
        out.append(layer)
    return ":".join(out)


def compare(files: list[str], names: list[str], corpus: Path = CORPUS) -> dict[str, FieldStats]:
    """Per-field agreement of our cells with tshark's over the given corpus files.

    Only cells where at least one side has a value count, so empty-equals-empty never
    inflates the figure."""
    stats: dict[str, FieldStats] = defaultdict(FieldStats)
    for file in files:
        header, rows = load_tsv(corpus / "tshark" / f"{file}.tsv")
        col = {h: i for i, h in enumerate(header)}
        ours = our_cells(corpus / "pcaps" / file, names)
        for idx, row in enumerate(rows):
            frame = idx + 1
            mine = ours[idx] if idx < len(ours) else [None] * len(names)
            layers = row[col["frame.protocols"]].split(":")
            pure = all(layer in L2L4 for layer in layers)
            for j, name in enumerate(names):
                theirs = row[col[name]]
                got = mine[j]
                if name in COLUMN_FIELDS and not pure:
                    continue
                if name == "frame.protocols":
                    theirs = _protocols_prefix(theirs)
                    got = _protocols_prefix(got) if got is not None else None
                if not theirs and not got:
                    continue  # absent on both sides: not a cell either of us claims
                st = stats[name]
                st.total += 1
                if got == theirs:
                    st.agree += 1
                elif any(a.covers(file, name, frame, theirs) for a in ALLOWED):
                    st.allowed += 1
                else:
                    st.mismatches.append((file, frame, got if got is not None else "<missing>",
                                          theirs))
    return stats


def all_files(corpus: Path = CORPUS) -> list[str]:
    return [row["file"] for row in manifest(corpus)]
