"""A client that rejects the server's certificate by closing without an alert.

Some TLS stacks (and applications that check the certificate themselves) leave right after
the server's first flight without a word. The captures are built here: a real handshake run
through ssl.MemoryBIO (TLS 1.2 and 1.3, a self-signed certificate made with cryptography),
its records wrapped in Ethernet/IPv4/TCP frames the way a capture on the client would show
them, then the client's FIN or RST.
"""
from __future__ import annotations

import datetime
import ssl
import struct
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from analyzer.engine.firstpass import first_pass

CLIENT, SERVER = (b"\x0a\x00\x00\x01", 40000), (b"\x0a\x00\x00\x02", 443)
MSS = 1400
START_US = int(time.time()) * 1_000_000   # inside the certificate's validity


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.test")]), False)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp / "cert.pem", tmp / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def _hello_and_flight(tmp: Path, version: ssl.TLSVersion) -> tuple[bytes, bytes]:
    """The client's ClientHello and the server's whole answer to it."""
    crt, pem = _certificate(tmp)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(crt, pem)
    sctx.maximum_version = version
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname, cctx.verify_mode = False, ssl.CERT_NONE
    cin, cout, sin, sout = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(cin, cout, server_hostname="api.test")
    server = sctx.wrap_bio(sin, sout, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = cout.read()
    sin.write(hello)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return hello, sout.read()


def _frame(src, dst, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0x4000, 64,
                     6, 0, src[0], dst[0])
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload


def _capture(path: Path, hello: bytes, flight: bytes, close: int) -> None:
    """SYN, SYN/ACK, ACK, hello, the server's flight in MSS pieces, the client's ACK, then
    the client's FIN (0x11) or RST (0x14) 3 ms later; 20 ms RTT, times in µs."""
    c, s = 1000, 5000
    frames: list[tuple[int, bytes]] = [
        (0, _frame(CLIENT, SERVER, c, 0, 0x02)),
        (20_000, _frame(SERVER, CLIENT, s, c + 1, 0x12)),
        (20_100, _frame(CLIENT, SERVER, c + 1, s + 1, 0x10)),
        (20_200, _frame(CLIENT, SERVER, c + 1, s + 1, 0x18, hello))]
    c += 1 + len(hello)
    s += 1
    t = 41_000
    for i in range(0, len(flight), MSS):
        piece = flight[i:i + MSS]
        frames.append((t, _frame(SERVER, CLIENT, s, c, 0x18, piece)))
        s += len(piece)
        t += 50
    frames.append((t + 100, _frame(CLIENT, SERVER, c, s, 0x10)))
    frames.append((t + 3_000, _frame(CLIENT, SERVER, c, s, close)))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for us, data in frames:
        ts = START_US + us
        out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data)))
        out.append(data)
    path.write_bytes(b"".join(out))


@pytest.mark.parametrize("close,word", [(0x11, "FIN"), (0x14, "RST")])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_client_leaving_after_the_certificate_rejected_it(tmp_path: Path, version, close,
                                                          word) -> None:
    hello, flight = _hello_and_flight(tmp_path, version)
    pcap = tmp_path / "silent.pcap"
    _capture(pcap, hello, flight, close)
    cap = first_pass(pcap)
    (h,) = cap.tls.handshakes
    assert h.version == ("TLS 1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLS 1.3")
    assert h.silent_close == word and 2.5 <= h.silent_close_ms <= 3.5
    rejected = [f for f in cap.findings if f.id == "wirelens.tls.cert_rejected"]
    assert len(rejected) == 1
    f = rejected[0]
    assert f.responsible == "server" and f.confidence < 0.9
    assert f"({word})" in f.summary and "without an alert" in f.summary
    assert h.frames["client_close"] == len(cap) in f.frames
    # the RST is the TLS failure's, not an unexplained abort
    assert not [g for g in cap.findings if g.id.startswith("wirelens.rst.")]


def test_client_that_goes_on_is_not_a_rejection(tmp_path: Path) -> None:
    """The same capture cut before the close, then with the client's next flight: nothing."""
    hello, flight = _hello_and_flight(tmp_path, ssl.TLSVersion.TLSv1_2)
    pcap = tmp_path / "open.pcap"
    _capture(pcap, hello, flight, 0x10)          # a plain ACK where the FIN was
    cap = first_pass(pcap)
    assert not cap.tls.handshakes[0].silent_close
    assert not [f for f in cap.findings if f.id == "wirelens.tls.cert_rejected"]


def test_server_closing_first_is_not_the_clients_rejection(tmp_path: Path) -> None:
    hello, flight = _hello_and_flight(tmp_path, ssl.TLSVersion.TLSv1_2)
    pcap = tmp_path / "server_fin.pcap"
    _capture(pcap, hello, flight, 0x11)
    data = bytearray(pcap.read_bytes())
    # turn the last frame around: the server sends the FIN (swap addresses and ports)
    last = len(data) - (14 + 20 + 20)
    ip, tcp = last + 14, last + 34
    data[ip + 12:ip + 16], data[ip + 16:ip + 20] = data[ip + 16:ip + 20], data[ip + 12:ip + 16]
    data[tcp:tcp + 2], data[tcp + 2:tcp + 4] = data[tcp + 2:tcp + 4], data[tcp:tcp + 2]
    pcap.write_bytes(bytes(data))
    cap = first_pass(pcap)
    assert not cap.tls.handshakes[0].silent_close
    assert not [f for f in cap.findings if f.id == "wirelens.tls.cert_rejected"]


def test_an_expired_certificate_explains_the_silent_close(tmp_path: Path, monkeypatch) -> None:
    """Captured two years after the certificate's dates: the expiry is the finding, and it
    says how the client reacted."""
    monkeypatch.setattr(sys.modules[__name__], "START_US", START_US + 2 * 365 * 86400 * 10**6)
    hello, flight = _hello_and_flight(tmp_path, ssl.TLSVersion.TLSv1_2)
    pcap = tmp_path / "expired.pcap"
    _capture(pcap, hello, flight, 0x11)
    findings = first_pass(pcap).findings
    ids = [f.id for f in findings]
    (f,) = [f for f in findings if f.id == "wirelens.tls.cert_expired"]
    assert "wirelens.tls.cert_rejected" not in ids
    assert "closed the connection (FIN) without an alert" in f.summary
    assert f.metrics["close"] == "FIN"
