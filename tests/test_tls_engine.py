"""TLS analysis (analyzer/engine/tls.py) on the lab's samples and the corpus captures with keys.

The samples' facts are in sample_pcaps/README.md: tls_handshakes.pcap (TLS 1.3 and 1.2, the
2nd and 4th connections resumed), tls_failures.pcap (four handshakes failing four ways, each
alert's sender named), demo.pcapng (TLS 1.3 with SNI/ALPN and its key log in a DSB).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from analyzer import keylog
from analyzer.capture.index import FrameIndex
from analyzer.engine.findings import at_least
from analyzer.engine.summary import SummaryColumns, summarize
from analyzer.engine.tls import TlsResult, analyze_tls
from dissectors.fields import Severity

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"


@dataclass
class Store:
    index: FrameIndex
    cols: SummaryColumns


def run(path: Path, keys: keylog.KeyLog | None = None) -> TlsResult:
    index = FrameIndex(path).build()
    return analyze_tls(Store(index, summarize(index)), keys)


def test_handshakes_sample() -> None:
    r = run(SAMPLES / "tls_handshakes.pcap", keylog.load(SAMPLES / "tls_handshakes.keylog"))
    hs = sorted(r.handshakes, key=lambda h: h.frames["client_hello"])
    assert [(h.version, h.server.rsplit(":", 1)[1]) for h in hs] == \
        [("TLS 1.3", "443"), ("TLS 1.3", "443"), ("TLS 1.2", "4412"), ("TLS 1.2", "4412")]
    assert [h.cipher for h in hs] == ["TLS_AES_256_GCM_SHA384"] * 2 + \
        ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"] * 2
    assert {h.sni for h in hs} == {"www.lab.test"}
    assert all(h.alpn_offered == ["http/1.1"] for h in hs)
    # TLS 1.3 chooses ALPN encrypted: read with the key log's handshake secret
    assert [h.alpn for h in hs] == ["http/1.1"] * 4
    assert [h.resumed for h in hs] == ["", "psk", "", "ticket"]
    # a certificate only in the full handshakes (the 1.3 one opened with the key log)
    assert [h.certificate is not None for h in hs] == [True, False, True, False]
    assert hs[2].certificate.names() == ("www.lab.test",)
    # handshake times: about one RTT for TLS 1.3 and the resumed 1.2, two for full 1.2
    assert 0.8 <= hs[0].handshake_rtts <= 1.5
    assert 1.7 <= hs[2].handshake_rtts <= 3.0
    assert 0.8 <= hs[3].handshake_rtts <= 1.5
    assert all(h.handshake_ms and h.handshake_ms > h.rtt_ms * 0.8 for h in hs)
    # every session is in the key log
    assert [h.keys[:1] for h in hs] == [("CLIENT_HANDSHAKE_TRAFFIC_SECRET",)] * 2 + \
        [("CLIENT_RANDOM",)] * 2
    assert all(h.secrets for h in hs)
    # findings: resumption is information, nothing else
    assert sorted((f.id, f.stream) for f in r.findings) == \
        [("wirelens.tls.resumed", hs[1].stream), ("wirelens.tls.resumed", hs[3].stream)]
    assert not at_least(r.findings, Severity.NOTE)


def _by_port(r: TlsResult) -> dict:
    out = {f.flow.rsplit(":", 1)[1]: f for f in r.findings}
    assert set(out) == {"443", "4413", "4414", "4415"} and len(r.findings) == 4
    assert all(f.level == Severity.ERROR for f in r.findings)
    return out


def test_failures_sample() -> None:
    """Without keys: what the alerts say (TLS 1.3 hides the certificates)."""
    r = run(SAMPLES / "tls_failures.pcap")
    by_port = _by_port(r)
    v, c, e, n = by_port["4413"], by_port["4414"], by_port["4415"], by_port["443"]
    assert (v.id, v.metrics["alert"], v.metrics["sender"], v.who) == \
        ("wirelens.tls.version_mismatch", 70, "server", "server")
    assert (c.id, c.metrics["alert"], c.metrics["sender"], c.who) == \
        ("wirelens.tls.no_common_cipher", 40, "server", "server")
    assert (e.id, e.metrics["alert"], e.metrics["sender"], e.who) == \
        ("wirelens.tls.cert_expired", 45, "client", "server")
    # api.lab.test against a certificate for www.lab.test: the client refuses it; the server
    # is responsible for its certificate, but it did not abort
    assert (n.id, n.metrics["alert"], n.metrics["sender"], n.who) == \
        ("wirelens.tls.cert_rejected", 42, "client", "server")
    assert "api.lab.test" in n.summary and "client refused" in n.summary
    assert "client refused" in e.summary and "server sent" in v.summary
    hs = {h.server.rsplit(":", 1)[1]: h for h in r.handshakes}
    assert hs["4413"].versions_offered == [0x0303] and not hs["4413"].complete
    assert hs["4415"].version == "TLS 1.3" and hs["4415"].alerts[0].name == "certificate_expired"
    assert hs["443"].certificate is None


def test_failures_sample_with_its_key_log() -> None:
    """With the key log the TLS 1.3 certificates are read: the reasons become exact."""
    r = run(SAMPLES / "tls_failures.pcap", keylog.load(SAMPLES / "tls_failures.keylog"))
    by_port = _by_port(r)
    e, n = by_port["4415"], by_port["443"]
    assert (e.id, e.metrics["alert"], e.metrics["sender"]) == \
        ("wirelens.tls.cert_expired", 45, "client")
    assert "outside the capture time" in e.summary
    assert (n.id, n.metrics["alert"], n.metrics["sender"], n.who) == \
        ("wirelens.tls.hostname_mismatch", 42, "client", "server")
    assert n.metrics["sni"] == "api.lab.test" and n.metrics["names"] == ["www.lab.test"]
    hs = {h.server.rsplit(":", 1)[1]: h for h in r.handshakes}
    assert hs["443"].certificate.names() == ("www.lab.test",) and hs["443"].alpn == "http/1.1"
    assert by_port["4413"].id == "wirelens.tls.version_mismatch"
    assert by_port["4414"].id == "wirelens.tls.no_common_cipher"


def test_demo_sample_keys_from_the_dsb() -> None:
    r = run(SAMPLES / "demo.pcapng")
    (h,) = r.handshakes
    assert (h.version, h.sni, h.alpn_offered) == ("TLS 1.3", "www.lab.test", ["h2", "http/1.1"])
    assert h.alpn == "http/1.1"                     # chosen, read with the DSB's secrets
    assert h.cipher == "TLS_AES_256_GCM_SHA384"
    assert "SERVER_HANDSHAKE_TRAFFIC_SECRET" in h.keys      # from the embedded key log
    assert 0.8 <= h.handshake_rtts <= 1.5
    assert not at_least(r.findings, Severity.NOTE)


def test_no_tls_no_work() -> None:
    r = run(SAMPLES / "refused.pcap")
    assert r.handshakes == [] and r.findings == []


@pytest.mark.parametrize("name", ["zeek_tls12-https-decryptable.pcap",
                                  "zeek_tls12-https-decryptable-2.pcap",
                                  "scapy_tls12-and-tls13-decryptable.pcap"])
def test_corpus_key_logs_attach_to_their_sessions(corpus_dir: Path, name: str) -> None:
    keys = keylog.load(corpus_dir / "keys" / (name.rsplit(".", 1)[0] + ".keylog"))
    assert len(keys) >= 1 and keys.skipped == 0
    r = run(corpus_dir / "pcaps" / name, keys)
    covered = [h for h in r.handshakes if h.keys]
    assert covered, "no session matched its key log"
    assert all(set(h.secrets) == set(h.keys) for h in covered)


def test_corpus_dsb_keys(corpus_dir: Path) -> None:
    r = run(corpus_dir / "pcaps" / "gopacket_pcapng-tls12-https-with-dsb-keys.pcapng")
    assert any(h.keys == ("CLIENT_RANDOM",) for h in r.handshakes)


def test_keylog_parsing() -> None:
    kl = keylog.KeyLog()
    rnd = "ab" * 32
    kl.add_text(f"# comment\nCLIENT_RANDOM {rnd} {'cd' * 48}\nGARBAGE x y\n"
                f"SERVER_HANDSHAKE_TRAFFIC_SECRET {rnd} {'ef' * 32}\n\n".encode())
    assert kl.skipped == 1
    assert sorted(kl.for_random(bytes.fromhex(rnd))) == ["CLIENT_RANDOM",
                                                         "SERVER_HANDSHAKE_TRAFFIC_SECRET"]
    assert keylog.from_secrets([(keylog.DSB_TLS_KEY_LOG, f"CLIENT_RANDOM {rnd} {'00' * 48}"
                                 .encode()), (0x1234, b"other")]).for_random(
        bytes.fromhex(rnd)) == {"CLIENT_RANDOM": bytes(48)}


def test_corpus_tls13_certificate_read_with_its_key_log(corpus_dir: Path) -> None:
    name = "scapy_tls12-and-tls13-decryptable"
    r = run(corpus_dir / "pcaps" / f"{name}.pcap", keylog.load(corpus_dir / "keys" /
                                                                f"{name}.keylog"))
    (h13,) = [h for h in r.handshakes if h.version == "TLS 1.3"]
    assert h13.certificate is not None and "Scapy Test Server" in h13.certificate.subject
    without = run(corpus_dir / "pcaps" / f"{name}.pcap")
    assert [h.certificate for h in without.handshakes if h.version == "TLS 1.3"] == [None]


def test_wrong_secret_opens_nothing() -> None:
    from analyzer.engine.tls13_handshake import decrypt_handshake
    header = bytes([23, 3, 3, 0, 40])
    assert decrypt_handshake(0x1301, b"\x00" * 32, [(header, b"\x01" * 40)]) == b""
    assert decrypt_handshake(0x9999, b"\x00" * 32, [(header, b"\x01" * 40)]) == b""


def test_other_fatal_alerts_say_who_and_what() -> None:
    from analyzer.engine.tls import TlsAlert, TlsHandshake, _findings
    h = TlsHandshake(3, "10.0.0.1:40000", "10.0.0.2:443", sni="x.test",
                     frames={"client_hello": 4, "server_hello": 6})
    h.alerts = [TlsAlert(9, "server", 2, 116)]
    (f,) = _findings(h, 0)
    assert (f.id, f.who, f.metrics["sender"]) == ("wirelens.tls.alert", "server", "server")
    assert "certificate_required" in f.summary and "mutual TLS" in f.to_json()["explanation"]
    h.alerts = [TlsAlert(9, "client", 1, 112)]          # a warning is not a finding
    assert _findings(h, 0) == []
