"""DNS analysis: the sans-IO DnsAnalyzer fed message by message, and analyze_dns over the
lab's samples (sample_pcaps/README.md and facts.json say what each must report)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.rrset
import pytest

from analyzer.capture.index import FrameIndex
from analyzer.engine.dns import DnsAnalyzer, analyze_dns, candidate_rows
from analyzer.engine.findings import Finding, Severity, at_least
from analyzer.engine.summary import summarize
from dissectors.dns import peek_message

SAMPLES = Path(__file__).resolve().parents[1] / "sample_pcaps"
FACTS = json.loads((SAMPLES / "facts.json").read_text())["samples"]
C, S = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 53])


@dataclass
class Store:
    index: FrameIndex
    cols: object


def run(name: str):
    index = FrameIndex(str(SAMPLES / name))
    index.build()
    return analyze_dns(Store(index, summarize(index)))


def by_id(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.id, []).append(f)
    return out


# -- the lab's DNS sample ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def dns_pcap():
    return run("dns.pcap")


def test_dns_pcap_findings_and_numbers(dns_pcap):
    f = by_id(dns_pcap.findings)
    assert set(f) == {"wirelens.dns.nxdomain", "wirelens.dns.nodata", "wirelens.dns.servfail",
                      "wirelens.dns.refused", "wirelens.dns.timeout", "wirelens.dns.truncated",
                      "wirelens.dns.search_expansion"}
    (nx,) = f["wirelens.dns.nxdomain"]
    assert nx.metrics["name"] == "nosuch.lab.test"
    assert nx.metrics["tried"] == ["nosuch.lab.test.svc.lab.test", "nosuch.lab.test.lab.test"]
    assert nx.frames == [3, 4, 5, 6, 7, 8]
    (sf,) = f["wirelens.dns.servfail"]
    assert (sf.metrics["name"], sf.metrics["answers"]) == ("broken.lab.test", 2)
    assert sf.level == Severity.ERROR and sf.who == "server"
    (rf,) = f["wirelens.dns.refused"]
    assert (rf.metrics["name"], rf.metrics["answers"]) == ("example.com", 2)
    (to,) = f["wirelens.dns.timeout"]
    assert (to.metrics["name"], to.metrics["tries"]) == ("silent.lab.test", 2)
    assert to.metrics["lost_s"] == pytest.approx(2.0, abs=0.01)
    assert to.frames == [31, 32]
    (tc,) = f["wirelens.dns.truncated"]
    assert tc.level == Severity.NOTE
    assert tc.metrics["tcp_retry"] and tc.metrics["tcp_answers"] == 40
    assert tc.metrics["edns_payload"] == -1
    assert tc.frames == [37, 38, 42, 44]
    (se,) = f["wirelens.dns.search_expansion"]
    assert (se.metrics["name"], se.metrics["found"]) == ("db", "db.lab.test")
    assert se.metrics["tried"] == ["db.svc.lab.test"]
    assert se.metrics["cost_ms"] == pytest.approx(6.4, abs=0.1)
    (nd,) = f["wirelens.dns.nodata"]
    assert nd.level == Severity.CHAT
    assert (nd.metrics["name"], nd.metrics["type"]) == ("api.lab.test", "AAAA")


def test_dns_pcap_transactions_latency_and_edns(dns_pcap):
    txs = dns_pcap.transactions
    answered = [t for t in txs if t.answered]
    assert len(txs) == 24 and len(answered) == 23
    assert all(5e6 <= t.latency_ns <= 14e6 for t in answered if not t.via_tcp)
    assert dns_pcap.stats["edns_payload_sizes"] == {1200: 2}
    silent = next(t for t in txs if t.name == "silent.lab.test")
    assert (silent.query_frames, silent.retries, silent.answered) == ([31, 32], 1, False)
    tcp = next(t for t in txs if t.via_tcp)
    assert (tcp.name, tcp.answers, tcp.response_frame) == ("many.lab.test", 40, 44)


def test_facts_json_findings_hold(dns_pcap):
    for want in FACTS["dns.pcap"]["findings"]:
        matches = [f for f in dns_pcap.findings if f.id == want["id"] and all(
            f.metrics.get(k) == v for k, v in want.items() if k != "id")]
        assert matches, want


def test_every_finding_explains_itself(dns_pcap):
    for f in dns_pcap.findings:
        d = f.to_json()
        assert d["explanation"] and d["remedy"] and d["summary"], f.id
        assert d["frames"] and d["proto"] == "DNS"


@pytest.mark.parametrize("name", ["demo.pcapng", "vlan.pcap", "ipv6_only.pcap"])
def test_healthy_lookups_report_nothing_above_note(name):
    result = run(name)
    assert result.transactions and all(t.answered for t in result.transactions)
    assert at_least(result.findings, Severity.WARN) == []


def test_candidate_rows_pick_dns_only():
    index = FrameIndex(str(SAMPLES / "dns.pcap"))
    index.build()
    cols = summarize(index)
    rows = candidate_rows(cols)
    # 46 UDP messages and the two TCP segments that carry DNS (not the bare ACKs/FINs)
    assert len(rows) == 48
    assert {int(r) + 1 for r in rows} >= {42, 44}
    assert 39 not in {int(r) + 1 for r in rows}


# -- sans-IO scenarios -------------------------------------------------------------------------
class Feed:
    """Messages to a DnsAnalyzer as a client at C and a server at S would exchange them."""

    def __init__(self) -> None:
        self.a = DnsAnalyzer()
        self.frame = 0

    def send(self, msg: dns.message.Message, t: float, port: int = 40000, tcp: bool = False):
        self.frame += 1
        wire = msg.to_wire()
        m = peek_message(wire, 0, len(wire))
        if m.response:
            return self.a.feed(self.frame, int(t * 1e9), S, 53, C, port, tcp, m)
        return self.a.feed(self.frame, int(t * 1e9), C, port, S, 53, tcp, m)


def q(name: str, rdtype: str = "A", qid: int = 1) -> dns.message.Message:
    m = dns.message.make_query(name, rdtype)
    m.id = qid
    return m


def a(query: dns.message.Message, *addrs: str, rcode: int = 0, tc: bool = False):
    r = dns.message.make_response(query)
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    if addrs:
        r.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN",
                                            query.question[0].rdtype, *addrs))
    return r


def test_retry_with_a_new_id_counts_as_a_try_and_the_answer_is_slow():
    f = Feed()
    f.send(q("api.test", qid=1), 0.0)
    f.send(q("api.test", qid=2), 1.0)          # the stub gave up on id 1 and asked anew
    second = q("api.test", qid=2)
    f.send(a(second, "10.0.0.7"), 1.02)
    res = f.a.result()
    ids = by_id(res.findings)
    (slow,) = ids["wirelens.dns.slow"]
    assert slow.metrics["tries"] == 2
    assert slow.metrics["wait_ms"] == pytest.approx(1020, abs=1)
    assert "wirelens.dns.timeout" not in ids     # answered in the end: slow, not lost


def test_a_late_answer_is_slow_and_a_quick_one_is_not():
    f = Feed()
    m = q("late.test")
    f.send(m, 0.0)
    f.send(a(m, "10.0.0.1"), 1.5)
    m2 = q("quick.test", qid=9)
    f.send(m2, 3.0, port=40001)
    f.send(a(m2, "10.0.0.2"), 3.01, port=40001)
    slow = by_id(f.a.result().findings)["wirelens.dns.slow"]
    assert [s.metrics["name"] for s in slow] == ["late.test"]


def test_truncated_without_tcp_retry_says_so():
    f = Feed()
    m = q("big.test")
    f.send(m, 0.0)
    f.send(a(m, tc=True), 0.01)
    (tc,) = by_id(f.a.result().findings)["wirelens.dns.truncated"]
    assert tc.metrics["tcp_retry"] is False
    assert "no TCP retry seen" in tc.summary


def test_query_at_the_end_of_the_capture_is_not_a_timeout():
    f = Feed()
    f.send(q("pending.test"), 0.0)
    assert "wirelens.dns.timeout" not in by_id(f.a.result().findings)


def test_unsolicited_and_duplicate_answers_are_counted_not_paired():
    f = Feed()
    m = q("x.test", qid=5)
    f.send(a(m, "10.0.0.1"), 0.0)               # nothing asked
    f.send(m, 1.0)
    f.send(a(m, "10.0.0.1"), 1.01)
    tx = f.send(a(m, "10.0.0.1"), 1.02)
    assert tx.duplicates == 1 and tx.response_frame == 3
    assert f.a.result().stats["unsolicited"] == 1


def test_many_failing_names_are_folded():
    f = Feed()
    for i in range(40):
        m = q(f"rnd{i}.example.test", qid=i)
        f.send(m, i * 10.0, port=41000 + i)
        f.send(a(m, rcode=3), i * 10.0 + 0.01, port=41000 + i)
    nx = by_id(f.a.result().findings)["wirelens.dns.nxdomain"]
    assert len(nx) == 21
    assert nx[-1].metrics["names"] == 20 and nx[-1].metrics["zones"] == {"example.test": 20}


def test_mdns_and_llmnr_silence_is_not_a_finding():
    f = Feed()
    m = q("printer.local", qid=0)
    wire = m.to_wire()
    f.a.feed(1, 0, C, 5353, bytes([224, 0, 0, 251]), 5353, False, peek_message(wire, 0, 99))
    f.a.feed(2, 5 * 10**9, C, 5353, bytes([224, 0, 0, 251]), 5353, False,
             peek_message(wire, 0, 99))
    res = f.a.result()
    assert res.transactions[0].proto == "MDNS" and res.findings == []


def test_tcp_message_across_segments_is_read_whole(tmp_path) -> None:
    """A DNS-over-TCP answer split over two segments (and one resent) is one transaction."""
    import struct

    import dns.message

    from analyzer.capture.index import FrameIndex
    from analyzer.engine.dns import analyze_dns
    from analyzer.engine.summary import summarize

    def frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, payload: bytes) -> bytes:
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0, 64, 6, 0,
                         src, dst)
        return ip + tcp + payload

    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    q = dns.message.make_query("big.example", "A")
    q.id = 7
    r = dns.message.make_response(q)
    for n in range(30):
        r.answer.append(dns.rrset.from_text("big.example.", 60, "IN", "A", f"10.1.0.{n}"))
    qw, rw = q.to_wire(), r.to_wire()
    qp, rp = struct.pack("!H", len(qw)) + qw, struct.pack("!H", len(rw)) + rw
    frames = [frame(a, b, 40000, 53, 1000, qp), frame(b, a, 53, 40000, 5000, rp[:100]),
              frame(b, a, 53, 40000, 5000, rp[:100]), frame(b, a, 53, 40000, 5100, rp[100:])]
    path = tmp_path / "dnstcp.pcap"
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for i, f in enumerate(frames):
            out.write(struct.pack("<IIII", i + 1, 0, len(f), len(f)) + f)

    class Store:
        index = FrameIndex(str(path)).build()
        cols = summarize(index)

    result = analyze_dns(Store())
    (tx,) = result.transactions
    assert tx.answers == 30 and tx.name.rstrip(".") == "big.example"
