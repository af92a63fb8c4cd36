"""Differential test of TLS against tshark 4.0.17 on the corpus (../shared/corpus).

Every frame of a TCP stream that tshark dissects as TLS anywhere is compared on the corpus's
tls.* columns, the Protocol and the Info column (so segments of reassembled records, "[TCP
segment of a reassembled PDU]", count too). No allowance is used: the only capture left out is
`gopacket_pcapng-tls12-https-with-dsb-keys.pcapng`, which embeds its key log in a Decryption
Secrets Block that tshark applies by itself: its ground truth shows decrypted Finished
messages, a Close Notify inside an encrypted alert and HTTP reassembled inside TLS, which
only decryption (a later issue) can reproduce.
"""
from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.corpus import load_tsv, manifest, our_cells

TLS_FIELDS = ["tls.record.content_type", "tls.record.version", "tls.handshake.type",
              "tls.handshake.version", "tls.handshake.extensions_server_name",
              "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite",
              "tls.handshake.extensions.supported_version", "tls.alert_message.desc"]
COLUMNS = ["_ws.col.Protocol", "_ws.col.Info"]
DECRYPTED_BY_TSHARK = {"gopacket_pcapng-tls12-https-with-dsb-keys.pcapng"}
TARGET = 0.995


def _tls_files(corpus: Path) -> list[str]:
    out = []
    for row in manifest(corpus):
        f = row["file"]
        header, rows = load_tsv(corpus / "tshark" / f"{f}.tsv")
        col = header.index("frame.protocols")
        if any("tls" in r[col].split(":") for r in rows) and f not in DECRYPTED_BY_TSHARK:
            out.append(f)
    return out


@pytest.fixture(scope="module")
def comparison(corpus_dir: Path) -> tuple[Counter, list[tuple], list[tuple]]:
    """Per-field (agree, total), the mismatches, and frames we call TLS that tshark does not."""
    counts: Counter = Counter()
    bad: list[tuple] = []
    false_tls: list[tuple] = []
    names = TLS_FIELDS + COLUMNS + ["frame.protocols"]
    for f in [r["file"] for r in manifest(corpus_dir)]:
        header, rows = load_tsv(corpus_dir / "tshark" / f"{f}.tsv")
        ix = {h: i for i, h in enumerate(header)}
        tls_streams = {r[ix["tcp.stream"]] for r in rows
                       if "tls" in r[ix["frame.protocols"]].split(":")}
        ours = our_cells(corpus_dir / "pcaps" / f, names)
        for i, r in enumerate(rows):
            mine = dict(zip(names, ours[i]))
            theirs_tls = "tls" in r[ix["frame.protocols"]].split(":")
            if "tls" in mine["frame.protocols"].split(":") and not theirs_tls and \
                    f not in DECRYPTED_BY_TSHARK:
                false_tls.append((f, i + 1))
            stream = r[ix["tcp.stream"]]
            if f in DECRYPTED_BY_TSHARK or not stream or stream not in tls_streams:
                continue
            for name in TLS_FIELDS + COLUMNS:
                a, b = mine[name], r[ix[name]]
                if not a and not b:
                    continue
                counts[name, "total"] += 1
                if a == b:
                    counts[name, "agree"] += 1
                else:
                    bad.append((f, i + 1, name, a, b))
    return counts, bad, false_tls


def test_tls_cells_agree_with_tshark(comparison) -> None:
    counts, bad, _ = comparison
    agree = sum(v for (name, kind), v in counts.items() if kind == "agree")
    total = sum(v for (name, kind), v in counts.items() if kind == "total")
    assert total > 1500          # the corpus has ~1800 such cells: the test really compares
    assert agree / total >= TARGET, bad[:20]


@pytest.mark.parametrize("name", TLS_FIELDS + COLUMNS)
def test_each_tls_column_agrees(comparison, name: str) -> None:
    counts, bad, _ = comparison
    total = counts[name, "total"]
    if not total:
        pytest.skip(f"no {name} cells in the corpus")
    assert counts[name, "agree"] / total >= TARGET, [b for b in bad if b[2] == name][:10]


def test_no_tls_where_tshark_sees_none(comparison) -> None:
    _, _, false_tls = comparison
    assert not false_tls


def test_every_tls_capture_is_found(corpus_dir: Path) -> None:
    """The captures with TLS include the non-443 one (found by the heuristic)."""
    files = _tls_files(corpus_dir)
    assert "zeek_tls12-alert-unrecognized-name.pcap" in files and len(files) >= 18


@pytest.mark.parametrize("name", ["zeek_tls12-https-decryptable.pcap",
                                  "arkime_tls-client-hello-split-segments.pcap",
                                  "zeek_tls13-hello-retry-request.pcap",
                                  "suricata_raw-tls-tcp-empty-sack.pcap",
                                  "zeek_tls-sslv2-hello.pcap"])
def test_random_access_shows_the_first_pass(corpus_dir: Path, name: str) -> None:
    """Frames dissected again after the first pass (the details pane, in any order) show the
    same TLS fields and columns, from what the first pass stored."""
    from analyzer.capture import open_capture
    from analyzer.output import FieldsFormat, field_cells
    from dissectors import CaptureState, dissect_frame

    names = TLS_FIELDS + COLUMNS + ["tcp.reassembled_in", "tcp.segment"]
    fmt = FieldsFormat()
    with open_capture(str(corpus_dir / "pcaps" / name)) as reader:
        frames = [(f.data, f.ts_ns, f.origlen, f.linktype) for f in reader]
    state = CaptureState()

    def cells(n: int) -> list[str]:
        data, ts, origlen, lt = frames[n - 1]
        root, pkt = dissect_frame(data, number=n, ts_ns=ts, origlen=origlen, linktype=lt,
                                  state=state)
        assert "bug" not in pkt.hints
        return field_cells(names, root, pkt, fmt, "")

    first = [cells(n) for n in range(1, len(frames) + 1)]
    gained = 0
    for n in reversed(range(1, len(frames) + 1)):
        again = cells(n)
        assert again[:-2] == first[n - 1][:-2], n
        assert again[-1] == first[n - 1][-1], n
        # tcp.reassembled_in is known once the PDU completed: later views add it
        gained += bool(again[-2]) and not first[n - 1][-2]
    reassembled = any(c[-1] for c in first)
    assert bool(gained) == reassembled


# More of Wireshark's TLS fields, checked against tshark itself when it is installed
# (tls.handshake.sig_hash_alg is left out: tshark also lists the signature schemes of the
# Signed Certificate Timestamps embedded in certificates, which wirelens does not parse).
LIVE_FIELDS = ["tls.handshake.ja3", "tls.handshake.ja3_full", "tls.handshake.ja3s",
               "tls.handshake.ja3s_full", "tls.handshake.extension.type",
               "tls.handshake.extension.len", "tls.handshake.session_id",
               "tls.handshake.extensions_supported_group", "tls.handshake.comp_method",
               "tls.handshake.certificate_length", "tls.handshake.extensions_key_share_group",
               "tls.record.length", "tls.handshake.length", "tls.alert_message.level",
               "tls.handshake.extensions_ec_point_format", "tls.extension.psk_ke_mode",
               "tls.handshake.session_ticket_lifetime_hint", "tls.handshake.server_named_curve",
               "tls.handshake.random", "tcp.segment", "tcp.segment.count",
               "tcp.reassembled.length", "tls.handshake.extensions_server_name_len",
               "tls.handshake.extensions_alpn_len", "tls.handshake.cipher_suites_length",
               "tls.handshake.extensions_length", "tls.handshake.sig_len"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_more_tls_fields_agree_with_live_tshark(corpus_dir: Path) -> None:
    samples = Path(__file__).resolve().parents[1] / "sample_pcaps"
    paths = [corpus_dir / "pcaps" / f for f in _tls_files(corpus_dir)] + \
        [samples / "tls_handshakes.pcap", samples / "tls_failures.pcap"]
    agree = total = 0
    bad = []
    for path in paths:
        args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a",
                "-E", "aggregator=,"]
        for f in LIVE_FIELDS:
            args += ["-e", f]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
        theirs = [line.split("\t") for line in out.stdout.splitlines()]
        ours = our_cells(path, LIVE_FIELDS)
        assert len(theirs) == len(ours)
        for n, (a, b) in enumerate(zip(ours, theirs), 1):
            for name, x, y in zip(LIVE_FIELDS, a, b):
                if x or y:
                    total += 1
                    agree += x == y
                    if x != y:
                        bad.append((path.name, n, name, x, y))
    assert total > 500
    assert agree / total >= TARGET, bad[:10]
