"""TLS dissector on byte literals built from the RFCs, through dissect_frame.

Hellos are assembled here field by field (RFC 8446 §4.1.2-4.1.3, RFC 5246 §7.4.1), so every
expected value is visible in the test. Names, labels and Info texts are Wireshark 4.0's
(checked against tshark -V on the corpus captures named in tests/test_tls_corpus.py).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dissectors import CaptureState, Malformed, Truncated, dissect_frame
from dissectors import tls as T
from dissectors.buffer import Buf
from dissectors.fields import REGISTRY, fields_value
from dissectors.tcp_reassembly import TcpReassembly
from dissectors.tree import NULL_TREE
from dissectors.x509 import name_matches, summarize

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def u16(v: int) -> bytes:
    return struct.pack("!H", v)


def vec(width: int, body: bytes) -> bytes:
    return len(body).to_bytes(width, "big") + body


def ext(etype: int, body: bytes) -> bytes:
    return u16(etype) + vec(2, body)


def handshake(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + vec(3, body)


def record(ct: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([ct]) + u16(version) + vec(2, body)


GREASE = 0x0A0A
CH_EXTS = [
    ext(GREASE, b""),
    ext(0, vec(2, b"\x00" + vec(2, b"www.lab.test"))),
    ext(23, b""),
    ext(65281, b"\x00"),
    ext(10, vec(2, u16(GREASE) + u16(29) + u16(23))),
    ext(11, vec(1, b"\x00")),
    ext(35, b""),
    ext(16, vec(2, vec(1, b"h2") + vec(1, b"http/1.1"))),
    ext(5, b"\x01\x00\x00\x00\x00"),
    ext(13, vec(2, u16(0x0403) + u16(0x0804))),
    ext(51, vec(2, u16(29) + vec(2, b"\x11" * 32))),
    ext(45, vec(1, b"\x01")),
    ext(43, vec(1, u16(GREASE) + u16(0x0304) + u16(0x0303))),
    ext(21, b"\x00" * 7),
]
CH_SUITES = [GREASE, 0x1301, 0x1302, 0xC02B, 0x00FF]


def client_hello(exts: list[bytes] = CH_EXTS, random: bytes = b"\x5a" * 32,
                 session_id: bytes = b"\x01" * 32) -> bytes:
    body = u16(0x0303) + random + vec(1, session_id) + \
        vec(2, b"".join(u16(c) for c in CH_SUITES)) + vec(1, b"\x00") + vec(2, b"".join(exts))
    return handshake(1, body)


def server_hello(version_ext: int | None = 0x0304, cipher: int = 0x1302,
                 random: bytes = b"\x33" * 32, extra: list[bytes] = ()) -> bytes:
    exts = list(extra) + ([ext(43, u16(version_ext))] if version_ext else [])
    body = u16(0x0303) + random + vec(1, b"\x01" * 32) + u16(cipher) + b"\x00" + \
        vec(2, b"".join(exts))
    return handshake(2, body)


def tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int,
              payload: bytes, flags: int = 0x18) -> bytes:
    tcp = struct.pack("!HHIIHHHH", sport, dport, seq, ack, 5 << 12 | flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0, 64, 6, 0,
                     src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


class Conn:
    """A TCP connection (handshake done) whose payloads the test sends each way."""

    def __init__(self, port: int = 443) -> None:
        self.state = CaptureState()
        self.n = 0
        self.seq = {True: 1000, False: 5000}
        self.port = port
        self._send(True, b"", 0x02)
        self.seq[True] += 1
        self._send(False, b"", 0x12)
        self.seq[False] += 1
        self._send(True, b"", 0x10)

    def _send(self, from_client: bool, payload: bytes, flags: int = 0x18):
        self.n += 1
        src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
        sp, dp = (40000, self.port) if from_client else (self.port, 40000)
        data = tcp_frame(src, dst, sp, dp, self.seq[from_client], self.seq[not from_client],
                         payload, flags)
        self.seq[from_client] += len(payload)
        root, pkt = dissect_frame(data, number=self.n, ts_ns=self.n * 10**6,
                                  origlen=len(data), linktype=1, state=self.state)
        assert "bug" not in pkt.hints, pkt.hints.get("bug")
        return root, pkt

    def client(self, payload: bytes):
        return self._send(True, payload)

    def server(self, payload: bytes):
        return self._send(False, payload)


def vals(root, abbrev: str) -> list[str]:
    return [fields_value(REGISTRY[abbrev], v) for v in root.values().get(abbrev, [])]


# ------------------------------------------------------------------------- hellos --

def test_client_hello_fields_and_info() -> None:
    c = Conn()
    root, pkt = c.client(record(22, client_hello(), 0x0301))
    assert pkt.col_protocol == "TLSv1" and pkt.info_text() == "Client Hello"
    assert pkt.layers[-1] == "tls"
    assert vals(root, "tls.record.content_type") == ["22"]
    assert vals(root, "tls.record.version") == ["0x0301"]
    assert vals(root, "tls.handshake.type") == ["1"]
    assert vals(root, "tls.handshake.version") == ["0x0303"]
    assert vals(root, "tls.handshake.extensions_server_name") == ["www.lab.test"]
    assert vals(root, "tls.handshake.extensions_alpn_str") == ["h2", "http/1.1"]
    assert vals(root, "tls.handshake.extensions.supported_version") == \
        ["0x0a0a", "0x0304", "0x0303"]
    assert vals(root, "tls.handshake.ciphersuite") == \
        ["0x0a0a", "0x1301", "0x1302", "0xc02b", "0x00ff"]
    assert vals(root, "tls.handshake.extensions_key_share_group") == ["29"]
    assert vals(root, "tls.extension.psk_ke_mode") == ["1"]
    texts = [n.text() for n in root.walk()]
    assert "Cipher Suite: Reserved (GREASE) (0x0a0a)" in texts
    assert "Cipher Suite: TLS_AES_256_GCM_SHA384 (0x1302)" in texts
    assert "Extension: Reserved (GREASE) (len=0)" in texts
    assert "Supported Version: TLS 1.3 (0x0304)" in texts
    assert "TLSv1 Record Layer: Handshake Protocol: Client Hello" in texts


def test_ja3_and_ja4() -> None:
    c = Conn()
    root, _ = c.client(record(22, client_hello(), 0x0301))
    full = "771,4865-4866-49195-255,0-23-65281-10-11-35-16-5-13-51-45-43-21,29-23,0"
    assert vals(root, "tls.handshake.ja3_full") == [full]
    assert vals(root, "tls.handshake.ja3") == [hashlib.md5(full.encode()).hexdigest()]
    ja4 = vals(root, "tls.handshake.ja4")[0]
    # TCP, TLS 1.3, SNI present, 4 ciphers and 13 extensions (GREASE left out), ALPN h2
    assert ja4.startswith("t13d0413h2_")
    # the ciphers as sorted hex, hashed (the JA4 specification)
    assert ja4.split("_")[1] == hashlib.sha256(b"00ff,1301,1302,c02b").hexdigest()[:12]
    raw = vals(root, "tls.handshake.ja4_r")[0]
    assert raw.split("_")[1] == "00ff,1301,1302,c02b"
    # extensions sorted without SNI and ALPN, then the signature algorithms in order
    assert raw.split("_", 2)[2] == "0005,000a,000b,000d,0015,0017,0023,002b,002d,0033," \
                                   "ff01_0403,0804"


def test_server_hello_sets_the_session_version_for_later_records() -> None:
    c = Conn()
    c.client(record(22, client_hello(), 0x0301))
    root, pkt = c.server(record(22, server_hello()) + record(20, b"\x01") +
                         record(23, b"\x99" * 40))
    assert pkt.col_protocol == "TLSv1.3"
    assert pkt.info_text() == "Server Hello, Change Cipher Spec, Application Data"
    # TLS 1.3: the encrypted record shows its opaque type, not a content type
    assert vals(root, "tls.record.content_type") == ["22", "20"]
    assert vals(root, "tls.record.opaque_type") == ["23"]
    assert vals(root, "tls.handshake.extensions.supported_version") == ["0x0304"]
    assert vals(root, "tls.handshake.ja3s_full") == ["771,4866,43"]
    # the client's alert afterwards is shown under the session's version
    _, alert = c.client(record(21, b"\x02\x2a"))
    assert alert.col_protocol == "TLSv1.3"
    assert alert.info_text() == "Alert (Level: Fatal, Description: Bad Certificate)"


def test_hello_retry_request_and_middlebox_ccs() -> None:
    c = Conn()
    c.client(record(22, client_hello(), 0x0301))
    hrr = server_hello(random=T.HRR_RANDOM, extra=[ext(51, u16(23))])
    root, pkt = c.server(record(22, hrr) + record(20, b"\x01"))
    assert pkt.info_text() == "Hello Retry Request, Change Cipher Spec"
    assert vals(root, "tls.handshake.extensions_key_share_selected_group") == ["23"]
    # TLS 1.3's compatibility CCS does not make the next Client Hello "encrypted"
    _, again = c.client(record(20, b"\x01") + record(22, client_hello()))
    assert again.info_text() == "Change Cipher Spec, Client Hello"


def test_tls12_after_change_cipher_spec_is_encrypted() -> None:
    c = Conn()
    c.client(record(22, client_hello(), 0x0301))
    c.server(record(22, server_hello(version_ext=None, cipher=0xC02F)) +
             record(22, handshake(14, b"")))
    _, pkt = c.client(record(22, handshake(16, vec(1, b"\x04" * 65))) + record(20, b"\x01") +
                      record(22, b"\x00" * 40))
    assert pkt.col_protocol == "TLSv1.2"
    assert pkt.info_text() == "Client Key Exchange, Change Cipher Spec, " \
                              "Encrypted Handshake Message"
    root, alert = c.client(record(21, b"\x7f" * 26))
    assert alert.info_text() == "Encrypted Alert"
    assert "tls.alert_message.desc" not in root.values()


def test_server_alert_before_server_hello_uses_the_record_version() -> None:
    c = Conn(port=4413)                # found by the heuristic, not by port
    c.client(record(22, client_hello(), 0x0301))
    root, pkt = c.server(record(21, b"\x02\x46"))
    assert (pkt.col_protocol, pkt.info_text()) == \
        ("TLSv1.2", "Alert (Level: Fatal, Description: Protocol Version)")
    assert vals(root, "tls.alert_message.level") == ["2"]
    assert vals(root, "tls.alert_message.desc") == ["70"]


def test_heuristic_needs_a_hello_first() -> None:
    c = Conn(port=4000)
    _, pkt = c.client(record(23, b"\x00" * 20))
    assert "tls" not in pkt.layers


# ---------------------------------------------------------------- certificates --

def make_cert(cn: str, sans: list[str], days: int = 30) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.DER)


def test_certificate_message_is_summarized() -> None:
    der = make_cert("www.lab.test", ["www.lab.test", "*.api.lab.test"])
    c = Conn()
    c.client(record(22, client_hello(), 0x0301))
    msg = handshake(11, vec(3, vec(3, der)))
    root, pkt = c.server(record(22, server_hello(version_ext=None, cipher=0xC02B)) +
                         record(22, msg))
    assert pkt.info_text() == "Server Hello, Certificate"
    assert vals(root, "tls.handshake.certificate.subject") == ["CN=www.lab.test"]
    assert vals(root, "x509ce.dNSName") == ["www.lab.test", "*.api.lab.test"]
    assert vals(root, "tls.handshake.certificate.self_signed") == ["1"]
    assert vals(root, "tls.handshake.certificate.public_key") == ["EC 256 bits"]
    s = summarize(der)
    assert s is not None and s.valid_at(s.not_before) and not s.valid_at(s.not_after + 1)
    assert name_matches("x.api.lab.test", s.names()) and not name_matches("api.lab.test",
                                                                            s.names())
    assert summarize(b"\x30\x03garbage") is None


def test_strings_from_the_wire_are_made_safe() -> None:
    exts = [ext(0, vec(2, b"\x00" + vec(2, b"evil\x1b[2Jname")))]
    c = Conn()
    root, _ = c.client(record(22, client_hello(exts), 0x0301))
    assert vals(root, "tls.handshake.extensions_server_name") == ["evil\\x1b[2Jname"]


# --------------------------------------------------------------- hostile lengths --

def test_huge_handshake_length_allocates_nothing() -> None:
    c = Conn()
    # a 2^24-1 handshake length in a 9-byte record body: an expert item, no 16 MB buffer
    _root, pkt = c.client(record(22, b"\x01\xff\xff\xff" + b"\x03\x03\x00\x00\x00"))
    assert pkt.info_text() in ("Client Hello", "Encrypted Handshake Message")
    st = c.state.slot("tcp_reassembly", TcpReassembly)
    assert st.pending_bytes == 0


def test_record_length_beyond_the_limit_is_not_a_record() -> None:
    assert T.record_len(b"\x17\x03\x03\xff\xff" + b"\x00" * 10, 0, 15) == 15
    assert T.record_len(b"\x17\x03\x03\x00\x10", 0, 5) == 21
    assert T.record_len(b"\x17\x03", 0, 2) is None


def test_hello_parser_raises_only_dissect_errors_on_truncation() -> None:
    body = client_hello()[4:]
    for cut in range(0, len(body), 7):
        try:
            T.hello(Buf(body[:cut]), 0, cut, NULL_TREE, True)
        except (Truncated, Malformed):
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6),
       st.sampled_from([0x14, 0x15, 0x16, 0x17]))
def test_random_records_never_crash(chunks: list[bytes], ct: int) -> None:
    """Any bytes after a real ClientHello, cut anywhere: no dissector bug, bounded state."""
    c = Conn()
    c.client(record(22, client_hello(), 0x0301))
    for i, chunk in enumerate(chunks):
        payload = bytes([ct, 3, 3]) + chunk if i == 0 else chunk
        if payload:
            c.server(payload)
    st_ = c.state.slot("tcp_reassembly", TcpReassembly)
    assert st_.pending_bytes <= 2000


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_hello_bodies(body: bytes) -> None:
    for client in (True, False):
        try:
            T.hello(Buf(body), 0, len(body), NULL_TREE, client)
        except (Truncated, Malformed):
            pass


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_record_header_split_anywhere(n: int) -> None:
    c = Conn()
    data = record(22, client_hello(), 0x0301)
    _, first = c.client(data[:n])
    assert (first.col_protocol, first.info_text()) == ("TCP", "[TCP segment of a reassembled PDU]")
    root, pkt = c.client(data[n:])
    assert pkt.info_text() == "Client Hello"
    assert vals(root, "tls.handshake.extensions_server_name") == ["www.lab.test"]
