"""TLS handshakes per connection, and what went wrong with them (the first pass's TLS part).

Why: "the service is slow / the client cannot connect" is often a TLS handshake that failed
(an alert: no common version or cipher, a certificate the client refused) or one that cost
too many round trips (no resumption, a HelloRetryRequest, a slow server). This pass finds
TLS connections in the summary columns with numpy, then reads only what it needs: the
plaintext handshake messages in full (parsed by the TLS dissector's own code, so the
details pane and the analysis agree), and after the handshake only the 5-byte record
headers, jumping from one header to the next by sequence number (an encrypted alert is a
type-21 record after ChangeCipherSpec). The work is bounded by records, not by packets.

One `TlsHandshake` per connection (bounded by connections), and `Finding`s:
fatal alerts (who sent them and what they mean), certificates rejected by the client,
version and cipher mismatches, expired certificates and names that do not match the SNI,
churn of full handshakes to one server, slow server first flights; resumption is
information. The side responsible is said plainly: a client refusing a certificate is the
server's certificate problem, not the server aborting.
"""
from __future__ import annotations

import hashlib
import ipaddress
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzer.engine.findings import Finding, kind
from analyzer.engine.summary import (
    ACK,
    FIN,
    INNER,
    IPPROTO_TCP,
    RST,
    SYN,
    TRANSPORT,
    SummaryColumns,
    frame_linktypes,
)
from analyzer.engine.tls13_handshake import decrypt_handshake
from analyzer.keylog import KeyLog, from_secrets
from analyzer.textsafe import safe
from dissectors import tls_names as N
from dissectors.buffer import Buf, DissectError
from dissectors.fields import Severity
from dissectors.tls import (
    MAX_RECORD,
    Hello,
    certificates,
    encrypted_extensions,
    hello,
    plain_handshake,
)
from dissectors.tree import NULL_TREE
from dissectors.x509 import CertSummary, name_matches, summarize

MAX_RECORDS = 200_000          # record headers walked per direction
MAX_HANDSHAKE_BYTES = 1 << 18  # plaintext handshake bytes kept per direction
CHURN_MIN = 20                 # full handshakes to one server before churn is reported
SLOW_MIN_NS = 100_000_000      # a server first flight this much later than an RTT is slow
_L3_OFFSET = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4, 12: 0, 14: 0, 101: 0, 228: 0, 229: 0}
_VLAN = 0x0008

ALERT = kind("wirelens.tls.alert", Severity.ERROR, "TLS fatal alert",
             explain="One side ended the TLS connection with a fatal alert: the request on "
                     "it failed. The alert's description says why, and who sent it says "
                     "which side refused.",
             remedy="Read the description: the side that sent it logs the reason too.",
             group="protocol")
CERT_REJECTED = kind("wirelens.tls.cert_rejected", Severity.ERROR,
                     "Client rejected the server's certificate",
                     explain="The client aborted right after the server's certificate "
                             "(bad_certificate, unknown_ca, certificate_unknown...): it does not "
                             "trust the chain, the name or the dates. The server did nothing "
                             "wrong in the protocol; its certificate is the problem.",
                     remedy="Check the chain the server sends (intermediates included), the "
                            "names it covers and its validity; or the client's trust store.",
                     responsible="server", group="security")
VERSION_MISMATCH = kind("wirelens.tls.version_mismatch", Severity.ERROR,
                        "No common TLS version",
                        explain="The client offered TLS versions the server does not accept "
                                "(protocol_version alert): the connection fails before any "
                                "request.",
                        remedy="Enable a common version: update the old side, or allow the "
                               "version on the server if policy permits.",
                        responsible="unknown", group="protocol")
NO_COMMON_CIPHER = kind("wirelens.tls.no_common_cipher", Severity.ERROR,
                        "No common cipher suite",
                        explain="The server found nothing acceptable in the client's cipher "
                                "suites (or groups) and answered the ClientHello with a "
                                "handshake_failure alert.",
                        remedy="Compare the client's offered suites (in the ClientHello) with "
                               "the server's configured list and enable one in common.",
                        responsible="unknown", group="protocol")
CERT_EXPIRED = kind("wirelens.tls.cert_expired", Severity.ERROR,
                    "Server certificate expired",
                    explain="The server presents a certificate outside its validity period at "
                            "capture time; clients that verify refuse it "
                            "(certificate_expired).",
                    remedy="Renew the certificate and reload the server; automate renewal.",
                    responsible="server", group="security")
HOSTNAME_MISMATCH = kind("wirelens.tls.hostname_mismatch", Severity.ERROR,
                         "Certificate does not cover the requested name",
                         explain="The name the client asked for (SNI) is not among the "
                                 "certificate's names (subjectAltName, else CN); verifying "
                                 "clients refuse it.",
                         remedy="Serve a certificate that covers the name (or fix the name the "
                                "client uses, or the server's SNI routing).",
                         responsible="server", group="security")
CHURN = kind("wirelens.tls.full_handshake_churn", Severity.WARN,
             "Many full TLS handshakes, no resumption",
             explain="Clients open many new TLS connections to this server and never resume a "
                     "session: every connection pays the full handshake (round trips, "
                     "certificate, key exchange CPU).",
             remedy="Reuse connections (keep-alive, pooling) and enable session tickets or "
                    "session caching on the server.",
             responsible="client", group="sequence")
SLOW = kind("wirelens.tls.slow_handshake", Severity.WARN, "Slow TLS handshake",
            explain="The server's first flight (ServerHello) came much later than the network "
                    "round trip: the server spent the time (key exchange CPU, a slow "
                    "certificate or OCSP lookup, an overloaded TLS terminator).",
            remedy="Check the TLS terminator's CPU and its certificate/OCSP setup.",
            responsible="server", group="sequence")
RESUMED = kind("wirelens.tls.resumed", Severity.CHAT, "TLS session resumed",
               explain="The connection resumed an earlier session (session id, ticket or "
                       "TLS 1.3 PSK): no certificate, fewer round trips or less CPU.",
               remedy="Nothing to do: resumption is working.", group="sequence")

# what a fatal alert means for the service, by description (RFC 8446 §6.2, RFC 5246 §7.2.2)
ALERT_MEANINGS = {
    10: "a message arrived out of order: a TLS implementation bug or a middlebox that "
        "rewrote the stream",
    20: "a record failed its integrity check: corruption on the path or mismatched keys",
    22: "a record was longer than allowed",
    40: "the sender found no acceptable set of parameters (cipher, group, signature)",
    42: "the peer's certificate was refused (often a name that does not match, with OpenSSL)",
    43: "the certificate's type is not supported",
    44: "the certificate was revoked by its issuer",
    45: "the certificate has expired (or is not valid yet)",
    46: "the certificate was refused for an unspecified reason",
    47: "a field in the handshake was out of range or inconsistent",
    48: "the certificate chain does not lead to a CA the sender trusts",
    49: "the sender refused access (for example client certificate policy)",
    50: "a message could not be parsed",
    51: "a signature or Finished check failed: wrong key or a tampered handshake",
    70: "no TLS version both sides accept",
    71: "the peer's parameters are weaker than the sender requires",
    80: "the sender hit an internal error (a bug or resource exhaustion on that side)",
    86: "a downgrade retry was refused (the client fell back to an older version)",
    109: "a required extension was missing",
    110: "an extension was sent that the sender never asked for",
    112: "the server has no certificate for the requested name (SNI)",
    115: "the pre-shared key identity is unknown",
    116: "the server requires a client certificate (mutual TLS) and got none",
    120: "no application protocol (ALPN) in common",
}
# AEAD cipher suites (GCM, ChaCha20-Poly1305, CCM, TLS 1.3): what a current client offers
_AEAD_SUITES = frozenset(c for c, n in N.CIPHER_SUITES.items()
                         if "GCM" in n or "CHACHA20" in n or "CCM" in n or c >> 8 == 0x13)
# client alerts that mean "your certificate is not acceptable"
_CERT_ALERTS = {42, 43, 44, 45, 46, 48, 116}


@dataclass
class TlsAlert:
    frame: int
    sender: str            # "client" or "server"
    level: int             # 1 warning, 2 fatal, 0 unknown (encrypted)
    description: int       # -1 when encrypted

    @property
    def name(self) -> str:
        if self.description < 0:
            return "encrypted alert"
        return N.ALERT_IDS.get(self.description, f"alert {self.description}")


@dataclass
class TlsHandshake:
    """One TLS connection's handshake, in a few hundred bytes."""

    stream: int
    client: str
    server: str
    version: str = ""
    version_code: int = 0
    cipher: str = ""
    cipher_code: int = -1
    sni: str = ""
    alpn_offered: list[str] = field(default_factory=list)
    versions_offered: list[int] = field(default_factory=list)   # highest first
    ciphers_offered: list[int] = field(default_factory=list)    # GREASE removed, at most 64
    alpn: str = ""                 # chosen (visible in clear up to TLS 1.2)
    resumed: str = ""              # "", "session id", "ticket", "psk"
    hrr: bool = False
    early_data: bool = False       # 0-RTT offered by the client
    certificate: CertSummary | None = None
    chain_length: int = 0
    alerts: list[TlsAlert] = field(default_factory=list)
    handshake_ms: float | None = None
    server_hello_ms: float | None = None   # ClientHello to ServerHello (server's first flight)
    handshake_rtts: float | None = None
    rtt_ms: float | None = None
    ja3: str = ""
    ja4: str = ""
    keys: tuple[str, ...] = ()     # key log labels known for this session
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    frames: dict[str, int] = field(default_factory=dict)   # step -> frame number
    silent_close: str = ""         # "FIN"/"RST": the client left after the server's flight
    silent_close_ms: float = 0.0   # ... this long after the server's last handshake record

    @property
    def complete(self) -> bool:
        return self.handshake_ms is not None


@dataclass
class TlsResult:
    findings: list[Finding] = field(default_factory=list)
    handshakes: list[TlsHandshake] = field(default_factory=list)


# -- reading a direction's bytes ---------------------------------------------------------------

class _Bytes:
    """One direction of a TCP stream as a byte sequence, read frame by frame on demand."""

    def __init__(self, store: Any, rows: np.ndarray, offs: np.ndarray, lens: np.ndarray,
                 l3: np.ndarray) -> None:
        order = np.lexsort((rows, offs))
        # plain lists: bisect on them beats numpy calls for one lookup at a time
        self.rows = rows[order].tolist()
        self.offs = offs[order].tolist()
        self.lens = lens[order].tolist()
        self.l3 = l3[order].tolist()
        self.ends = [o + n for o, n in zip(self.offs, self.lens)]
        self.store = store
        self._cache: dict[int, bytes] = {}

    def _payload(self, k: int) -> bytes:
        p = self._cache.get(k)
        if p is None:
            if len(self._cache) > 64:
                self._cache.clear()
            p = self._cache[k] = _payload(self.store, self.rows[k], self.l3[k], self.lens[k])
        return p

    def _find(self, pos: int) -> int:
        """The segment holding byte `pos` (the earliest sent among overlapping ones)."""
        k = bisect_right(self.offs, pos) - 1
        ends = self.ends
        for j in range(k, max(k - 8, -1), -1):
            if ends[j] > pos:
                k = j
        return k if k >= 0 and self.offs[k] <= pos < ends[k] else -1

    def header(self, pos: int) -> tuple[bytes, int] | None:
        """The 5 bytes of a record header at `pos` and the row holding its first byte."""
        k = self._find(pos)
        if k < 0:
            return None
        start = pos - self.offs[k]
        piece = self._payload(k)[start:start + 5]
        if len(piece) < 5:
            rest = self.read(pos + len(piece), 5 - len(piece))
            if rest is None:
                return None
            piece += rest
        return piece, self.rows[k]

    def read(self, pos: int, n: int) -> bytes | None:
        """Bytes [pos, pos+n), or None when the capture has a hole or ends before."""
        out = b""
        while n > 0:
            k = self._find(pos)
            if k < 0:
                return None
            p = self._payload(k)
            start = pos - self.offs[k]
            piece = p[start:start + n]
            if not piece:
                return None
            out += piece
            pos += len(piece)
            n -= len(piece)
        return out


def _payload(store: Any, row: int, l3: int, plen: int) -> bytes:
    """The TCP payload of a row: the IP packet's end (from its length field, so Ethernet
    padding is excluded) minus the payload length."""
    data = store.index.frame(row)
    if l3 < 0 or l3 + 20 > len(data):
        return b""
    ver = data[l3] >> 4
    if ver == 4:
        end = l3 + (data[l3 + 2] << 8 | data[l3 + 3])
    elif ver == 6:
        end = l3 + 40 + (data[l3 + 4] << 8 | data[l3 + 5])
    else:
        return b""
    end = min(end, len(data))
    return bytes(data[max(end - plen, 0):end])


# -- per connection -----------------------------------------------------------------------------

class _Dir:
    """What the walk found in one direction."""

    def __init__(self) -> None:
        self.hs = bytearray()            # plaintext handshake bytes
        self.hs_frames: list[tuple[int, int]] = []   # (offset in hs, row) per record
        self.ccs_row = -1
        self.encrypted_rows: list[int] = []   # first few rows with encrypted records
        self.record_rows: list[int] = []      # rows of the first records (bounded)
        self.alerts: list[tuple[int, int, int]] = []   # (row, level, desc); desc -1 encrypted
        self.sealed: list[tuple[bytes, bytes]] = []    # first encrypted records, when kept
        self.sealed_row = -1


def _walk(b: _Bytes, keep_sealed: bool = False) -> _Dir:
    """Record headers in sequence order; handshake bodies kept until encryption starts."""
    d = _Dir()
    pos = 0
    for _ in range(MAX_RECORDS):
        got = b.header(pos)
        if got is None:
            break
        hdr, row = got
        ct, major, length = hdr[0], hdr[1], hdr[3] << 8 | hdr[4]
        if not 20 <= ct <= 24 or major != 3 or length > MAX_RECORD:
            break
        if len(d.record_rows) < 64:
            d.record_rows.append(row)
        after_ccs = d.ccs_row >= 0
        body = None
        if ct == 22 and len(d.hs) < MAX_HANDSHAKE_BYTES:
            body = b.read(pos + 5, length)
            if body is None:
                break
            # after CCS a TLS 1.2 handshake record is encrypted; TLS 1.3's compatibility CCS
            # is followed by plaintext hellos (HelloRetryRequest)
            if after_ccs and not plain_handshake(body, 0, len(body)):
                body = None
        if body is not None:
            d.hs_frames.append((len(d.hs), row))
            d.hs += body
        elif ct == 20 and d.ccs_row < 0:
            d.ccs_row = row
        elif ct == 21:
            body = b.read(pos + 5, length) if length == 2 and not after_ccs else None
            if body is not None:
                d.alerts.append((row, body[0], body[1]))
            else:
                d.alerts.append((row, 0, -1))
        elif ct in (22, 23):
            if len(d.encrypted_rows) < 8:
                d.encrypted_rows.append(row)
            if keep_sealed and ct == 23 and len(d.sealed) < 16:
                body = b.read(pos + 5, length)
                if body is None:
                    break
                d.sealed.append((hdr, body))
                if d.sealed_row < 0:
                    d.sealed_row = row
        pos += 5 + length
    return d


def _messages(d: _Dir) -> list[tuple[int, int, int, int]]:
    """(type, body offset, body end, row) of each complete plaintext handshake message."""
    out = []
    hs, p = d.hs, 0
    while p + 4 <= len(hs) and len(out) < 64:
        mtype = hs[p]
        mlen = hs[p + 1] << 16 | hs[p + 2] << 8 | hs[p + 3]
        if mtype not in N.HANDSHAKE_TYPES or p + 4 + mlen > len(hs):
            break
        row = next((r for o, r in reversed(d.hs_frames) if o <= p), -1)
        out.append((mtype, p + 4, p + 4 + mlen, row))
        p += 4 + mlen
    return out


def _client_random(d: _Dir) -> bytes:
    """The random of the ClientHello at the start of the client's handshake bytes."""
    hs = d.hs
    return bytes(hs[6:38]) if len(hs) >= 38 and hs[0] == 1 else b""


def _parse_hello(buf: Buf, a: int, b: int, client: bool) -> Hello | None:
    try:
        return hello(buf, a, b, NULL_TREE, client)
    except DissectError:
        return None


def _endpoint(cols: SummaryColumns, row: int, side: str) -> str:
    v = int(getattr(cols, side)[row])
    port = int((cols.sport if side == "src" else cols.dport)[row])
    if int(cols.ipver[row]) == 6:
        return f"[{ipaddress.IPv6Address(cols.v6_table[v].tobytes())}]:{port}"
    return f"{ipaddress.IPv4Address(v)}:{port}"


class _Conn:
    """The analysis of one candidate stream."""

    def __init__(self, store: Any, cols: SummaryColumns, stream: int, rows: np.ndarray,
                 l3: np.ndarray, ts: np.ndarray, keylog: KeyLog,
                 syn_ack: tuple[int, int] | None,
                 certs: dict[bytes, CertSummary | None], closes: list[int]) -> None:
        self.store, self.cols, self.ts, self.syn_ack = store, cols, ts, syn_ack
        self.certs = certs
        first = int(rows[0])
        src, sport = cols.src[rows], cols.sport[rows]
        is_client = (src == cols.src[first]) & (sport == cols.sport[first]) & \
            (cols.ipver[rows] == cols.ipver[first])
        self.hs = TlsHandshake(stream, _endpoint(cols, first, "src"), _endpoint(cols, first, "dst"))
        client = self._direction(rows, l3, is_client, False)
        # the server's encrypted handshake is kept only when the key log can open it
        rnd = _client_random(client)
        secret = keylog.for_random(rnd).get("SERVER_HANDSHAKE_TRAFFIC_SECRET") if rnd else None
        self.dirs = [client, self._direction(rows, l3, ~is_client, secret is not None)]
        self._handshake(keylog)
        self._silent_close(closes, cols.src[first], cols.sport[first])

    def _direction(self, rows: np.ndarray, l3: np.ndarray, mask: np.ndarray,
                   keep_sealed: bool) -> _Dir:
        r = rows[mask]
        if not len(r):
            return _Dir()
        cols = self.cols
        seq = cols.seq[r].astype(np.int64)
        offs = (seq - int(seq[0])) & 0xFFFFFFFF
        offs = np.where(offs >= 1 << 31, offs - (1 << 32), offs)
        return _walk(_Bytes(self.store, r, offs, cols.plen[r].astype(np.int64), l3[mask]),
                     keep_sealed)

    def _frame(self, row: int) -> int:
        return row + 1

    def _summary(self, der: bytes) -> CertSummary | None:
        """One parse per distinct certificate: servers send the same one to every client."""
        key = hashlib.sha256(der).digest()
        if key not in self.certs:
            self.certs[key] = summarize(der)
        return self.certs[key]

    def _handshake(self, keylog: KeyLog) -> None:
        h = self.hs
        cd, sd = self.dirs
        ch = sh = None
        cbuf, sbuf = Buf(bytes(cd.hs)), Buf(bytes(sd.hs))
        for mtype, a, b, row in _messages(cd):
            if mtype != 1:
                continue
            parsed = _parse_hello(cbuf, a, b, True)
            if parsed is None:
                continue
            if ch is None:
                ch = parsed
                h.frames["client_hello"] = self._frame(row)
            else:                       # the ClientHello answering a HelloRetryRequest
                h.frames.setdefault("client_hello_2", self._frame(row))
        cert_row = -1
        for mtype, a, b, row in _messages(sd):
            if mtype == 2:
                parsed = _parse_hello(sbuf, a, b, False)
                if parsed is None:
                    continue
                if parsed.hrr:
                    h.hrr = True
                    h.frames["hello_retry_request"] = self._frame(row)
                    continue
                if sh is None:
                    sh = parsed
                    h.frames["server_hello"] = self._frame(row)
            elif mtype == 11 and h.certificate is None:
                try:
                    ders = certificates(sbuf, a, b, NULL_TREE, False)
                except DissectError:
                    ders = []
                h.chain_length = len(ders)
                h.certificate = self._summary(ders[0]) if ders else None
                cert_row = row
                h.frames["certificate"] = self._frame(row)
            elif mtype == 14:
                h.frames.setdefault("server_hello_done", self._frame(row))
        if ch is not None:
            h.sni = safe(ch.sni)
            h.alpn_offered = [safe(a.decode("utf-8", "replace")) for a in ch.alpn[:16]]
            h.early_data = h.early_data or ch.early_data
            vers = [v for v in ch.versions if not N.is_grease(v)] or [ch.version]
            h.versions_offered = sorted(set(vers), reverse=True)[:8]
            h.ciphers_offered = [c for c in ch.ciphers if not N.is_grease(c)][:64]
            full = ch.ja3()
            h.ja3 = hashlib.md5(full.encode(), usedforsecurity=False).hexdigest()
            h.ja4 = ch.ja4()[0]
            h.secrets = dict(keylog.for_random(ch.random))
            h.keys = tuple(sorted(h.secrets))
        if sh is not None:
            v = sh.negotiated
            h.version_code = v
            h.version = N.VERSIONS.get(v, f"0x{v:04x}")
            h.cipher_code = sh.cipher
            h.cipher = N.CIPHER_SUITES.get(sh.cipher, f"0x{sh.cipher:04x}")
            if sh.alpn:
                h.alpn = safe(sh.alpn[0].decode("utf-8", "replace"))
            h.resumed = self._resumption(ch, sh, cert_row)
            secret = h.secrets.get("SERVER_HANDSHAKE_TRAFFIC_SECRET")
            if v == 0x0304 and secret and sd.sealed:
                self._sealed_flight(sh.cipher, secret)
        self._alerts()
        self._timing(sh is not None)

    def _silent_close(self, closes: list[int], client_src: Any, client_port: Any) -> None:
        """The client closed (FIN or RST, no alert) once the server's first flight was in,
        without sending its own next flight: TLS 1.2 clients answer a complete flight
        (ServerHelloDone) with ClientKeyExchange or Certificate, TLS 1.3 clients with an
        encrypted Finished. Leaving instead is how some TLS stacks reject a certificate."""
        h = self.hs
        cd, sd = self.dirs
        if h.alerts or h.resumed or "server_hello" not in h.frames:
            return
        if h.version_code == 0x0304:
            if not sd.encrypted_rows or cd.encrypted_rows:
                return
            anchor = max(r for r in sd.record_rows + sd.encrypted_rows)
        else:
            done = h.frames.get("server_hello_done")
            if done is None or "certificate" not in h.frames:
                return
            anchor = done - 1
            if any(r > anchor for r in cd.record_rows) or cd.ccs_row > anchor:
                return
        cols = self.cols
        for r in closes:
            if r <= anchor:
                continue
            if cols.src[r] != client_src or cols.sport[r] != client_port:
                return           # the server closed first: not the client's refusal
            h.silent_close = "RST" if int(cols.tcp_flags[r]) & RST else "FIN"
            h.silent_close_ms = round((int(self.ts[r]) - int(self.ts[anchor])) / 1e6, 3)
            h.frames["client_close"] = self._frame(r)
            return

    def _sealed_flight(self, cipher: int, secret: bytes) -> None:
        """TLS 1.3 with the key log: the server's chosen ALPN and certificate."""
        h, sd = self.hs, self.dirs[1]
        plain = _Dir()
        plain.hs = bytearray(decrypt_handshake(cipher, secret, sd.sealed))
        plain.hs_frames = [(0, sd.sealed_row)]
        buf = Buf(bytes(plain.hs))
        for mtype, a, b, row in _messages(plain):
            try:
                if mtype == 8:
                    ee = encrypted_extensions(buf, a, b, NULL_TREE)
                    if ee.alpn:
                        h.alpn = safe(ee.alpn[0].decode("utf-8", "replace"))
                elif mtype == 11 and h.certificate is None:
                    ders = certificates(buf, a, b, NULL_TREE, True)
                    h.chain_length = len(ders)
                    h.certificate = self._summary(ders[0]) if ders else None
                    h.frames["certificate"] = self._frame(row)
            except DissectError:
                return

    def _resumption(self, ch: Hello | None, sh: Hello, cert_row: int) -> str:
        if sh.negotiated == 0x0304:
            return "psk" if sh.psk else ""
        _cd, sd = self.dirs
        # TLS 1.2 abbreviated handshake: the server's CCS follows its ServerHello with no
        # Certificate; the client offered a ticket or a known session id.
        if cert_row >= 0 or sd.ccs_row < 0 or ch is None:
            return ""
        if ch.ticket > 0:
            return "ticket"
        if ch.session_id and ch.session_id == sh.session_id:
            return "session id"
        return "ticket" if ch.ticket == 0 else ""

    def _alerts(self) -> None:
        for side, d in (("client", self.dirs[0]), ("server", self.dirs[1])):
            for row, level, desc in d.alerts[:16]:
                self.hs.alerts.append(TlsAlert(self._frame(row), side, level, desc))
        self.hs.alerts.sort(key=lambda a: a.frame)

    def _timing(self, have_sh: bool) -> None:
        """ClientHello to the server's Finished: the server's first record after its CCS
        (TLS 1.2), or the end of the server's first flight before the client's first
        encrypted record (TLS 1.3)."""
        h = self.hs
        cd, sd = self.dirs
        start = h.frames.get("client_hello")
        if start is None or not have_sh:
            return
        end_row = -1
        if h.version_code == 0x0304:
            if cd.encrypted_rows:
                first_client = cd.encrypted_rows[0]
                before = [r for r in sd.record_rows if r < first_client]
                end_row = max(before) if before else -1
        elif sd.ccs_row >= 0:
            after = [r for r in sd.record_rows if r > sd.ccs_row] + sd.encrypted_rows
            end_row = min(after) if after else sd.ccs_row
        rtt = None
        if self.syn_ack is not None and 0 <= self.syn_ack[0] < self.syn_ack[1]:
            rtt = int(self.ts[self.syn_ack[1]]) - int(self.ts[self.syn_ack[0]])
            h.rtt_ms = round(rtt / 1e6, 3)
        sh = h.frames.get("server_hello")
        if sh is not None:
            h.server_hello_ms = round((int(self.ts[sh - 1]) - int(self.ts[start - 1])) / 1e6, 3)
        if end_row >= 0:
            h.frames["handshake_done"] = end_row + 1
            ms = (int(self.ts[end_row]) - int(self.ts[start - 1])) / 1e6
            h.handshake_ms = round(ms, 3)
            if rtt:
                h.handshake_rtts = round(ms / (rtt / 1e6), 2)


def _handshake_rows(cols: SummaryColumns, tcp: np.ndarray, is_cand: np.ndarray) -> \
        dict[int, tuple[int, int]]:
    """Per candidate stream: the row of its first SYN and of the first ACK after its first
    SYN/ACK, all with numpy (tshark's iRTT is the time between them)."""
    f = cols.tcp_flags & (SYN | ACK)
    stream = cols.stream
    want = tcp & is_cand[np.maximum(stream, 0)] & (stream >= 0)
    rows = np.nonzero(want & (f != 0))[0]
    fr, st = f[rows], stream[rows]
    syn = _first_rows(st[fr == SYN], rows[fr == SYN], len(is_cand))
    synack = _first_rows(st[fr == SYN | ACK], rows[fr == SYN | ACK], len(is_cand))
    acks, ack_st = rows[fr == ACK], st[fr == ACK]
    after = acks > synack[ack_st]
    ack = _first_rows(ack_st[after & (synack[ack_st] >= 0)], acks[after & (synack[ack_st] >= 0)],
                      len(is_cand))
    ok = np.nonzero((syn >= 0) & (synack >= 0))[0]
    return {int(s): (int(syn[s]), int(ack[s])) for s in ok}


def _first_rows(streams: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """stream -> its first row among `rows` (in row order), -1 where none: O(n), no sort
    (assigning in reverse leaves the first occurrence)."""
    out = np.full(n, -1, np.int64)
    out[streams[::-1]] = rows[::-1]
    return out


# -- the pass -----------------------------------------------------------------------------------

def analyze_tls(store: Any, keylog: KeyLog | None = None) -> TlsResult:
    """TLS handshakes and findings of a capture (`store.index`, `store.cols`). Secrets come
    from `keylog` (e.g. --tls-keylog) and from the capture's own Decryption Secrets Blocks."""
    cols: SummaryColumns = store.cols
    index = store.index
    n = len(cols)
    result = TlsResult()
    if not n:
        return result
    keys = from_secrets(list(getattr(index, "secrets", []) or []))
    if keylog is not None:
        keys.merge(keylog)
    tcp = (cols.ip_proto == IPPROTO_TCP) & (cols.flags & TRANSPORT != 0) & \
        (cols.flags & INNER == 0) & (cols.stream >= 0)
    pay_rows = np.nonzero(tcp & (cols.plen > 0))[0]
    if not len(pay_rows):
        return result
    lts = frame_linktypes(index)
    streams = cols.stream[pay_rows]
    nstreams = int(cols.stream.max()) + 1
    first = _first_rows(streams, np.arange(len(pay_rows)), nstreams)
    heads = np.nonzero(first >= 0)[0]
    firsts = first[heads]
    l3_first = _l3_offsets(cols, lts, pay_rows[firsts])
    is_cand = np.zeros(nstreams, bool)
    for s, k, l3 in zip(heads.tolist(), firsts.tolist(), l3_first.tolist()):
        row = int(pay_rows[k])
        head = _payload(store, row, l3, int(cols.plen[row]))
        if len(head) >= 5 and 20 <= head[0] <= 23 and head[1] == 3 and head[2] <= 4:
            is_cand[s] = True
    if not is_cand.any():
        return result
    ts = np.asarray(index.ts_ns, np.int64)
    syn_ack = _handshake_rows(cols, tcp, is_cand)
    closes = _close_rows(cols, tcp, is_cand)
    keep = is_cand[streams]
    rows_c, streams_c = pay_rows[keep], streams[keep]
    l3_c = _l3_offsets(cols, lts, rows_c)
    certs: dict[bytes, CertSummary | None] = {}
    order = np.argsort(streams_c, kind="stable")
    sorted_streams = streams_c[order]
    bounds = np.searchsorted(sorted_streams, np.nonzero(is_cand)[0])
    ends = np.append(bounds[1:], len(order))
    for s, lo, hi in zip(np.nonzero(is_cand)[0].tolist(), bounds.tolist(), ends.tolist()):
        ks = order[lo:hi]
        conn = _Conn(store, cols, s, rows_c[ks], l3_c[ks], ts, keys, syn_ack.get(s), certs,
                     closes.get(s, []))
        result.handshakes.append(conn.hs)
    ts0 = int(ts[0]) if len(ts) else 0
    for h in result.handshakes:
        result.findings.extend(_findings(h, ts0))
    result.findings.extend(_churn(result.handshakes))
    return result


def _close_rows(cols: SummaryColumns, tcp: np.ndarray, is_cand: np.ndarray) -> \
        dict[int, list[int]]:
    """Per candidate stream: its first few FIN or RST rows, in frame order."""
    stream = cols.stream
    rows = np.nonzero(tcp & is_cand[np.maximum(stream, 0)] &
                      ((cols.tcp_flags & (FIN | RST)) != 0))[0]
    out: dict[int, list[int]] = {}
    for s, r in zip(stream[rows].tolist(), rows.tolist()):
        got = out.setdefault(s, [])
        if len(got) < 4:
            got.append(r)
    return out


def _l3_offsets(cols: SummaryColumns, lts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Where the IP header starts in each row (-1 for link types the fast path lacks)."""
    base = np.full(len(rows), -1, np.int64)
    lt = lts[rows]
    for code, off in _L3_OFFSET.items():
        base[lt == code] = off
    vlan = (cols.flags[rows] & _VLAN) != 0
    return np.where((base >= 0) & vlan, base + 4, base)


# -- findings -----------------------------------------------------------------------------------

def _flow(h: TlsHandshake) -> str:
    return f"{h.client} -> {h.server}"


def _finding(spec: Any, h: TlsHandshake, summary: str, frames: list[int], who: str = "",
             **metrics: Any) -> Finding:
    return Finding(spec, summary, stream=h.stream, proto="TLS", flow=_flow(h), frames=frames,
                   responsible=who, metrics=metrics)


def _findings(h: TlsHandshake, capture_ts_ns: int) -> list[Finding]:
    out: list[Finding] = []
    sni = h.sni or "(no SNI)"
    cert = h.certificate
    fatal = next((a for a in h.alerts if a.level == 2), None)
    # a client's certificate alert is explained by what the certificate shows, if it shows it
    refused = fatal if fatal is not None and fatal.sender == "client" and \
        fatal.description in _CERT_ALERTS else None
    why = f"; the client refused it ({refused.name}, {refused.description})" if refused else ""
    extra: dict[str, Any] = {"alert": refused.description, "sender": "client"} if refused else {}
    frames = [h.frames.get("client_hello", 0), h.frames.get("certificate", 0)] + \
        ([refused.frame] if refused else [])
    if h.silent_close:
        why = f"; the client then closed the connection ({h.silent_close}) without an alert"
        extra = {"close": h.silent_close, "sender": "client"}
        frames = [f for f in frames if f] + [h.frames["client_close"]]
    explained = False
    if cert is not None:
        now = capture_ts_ns // 1_000_000_000
        if not cert.valid_at(now):
            out.append(_finding(CERT_EXPIRED, h, f"certificate for {cert.common_name or cert.subject}"
                                                 f" valid {_day(cert.not_before)} to "
                                                 f"{_day(cert.not_after)}, outside the capture "
                                                 f"time{why}", frames, "server",
                                not_after=cert.not_after, **extra))
            explained = True
        if h.sni and not name_matches(h.sni, cert.names()):
            out.append(_finding(HOSTNAME_MISMATCH, h,
                                f"SNI {h.sni} not in the certificate's names "
                                f"({', '.join(cert.names()[:4]) or 'none'}){why}",
                                frames, "server", sni=h.sni, names=list(cert.names()[:16]),
                                **extra))
            explained = True
    if fatal is not None and not (explained and refused is fatal):
        out.append(_alert_finding(h, fatal, sni))
    if h.silent_close and not explained:
        out.append(_silent_rejection(h, sni, frames))
    if h.resumed:
        out.append(_finding(RESUMED, h, f"{h.version} session to {sni} resumed by {h.resumed}",
                            [h.frames.get("client_hello", 0)], "", resumed=h.resumed))
    slow = _slow(h)
    if slow is not None:
        out.append(slow)
    return out


def _silent_rejection(h: TlsHandshake, sni: str, frames: list[int]) -> Finding:
    """A client that leaves after the server's complete first flight, without a word, most
    often did not accept the certificate (some stacks send no alert); it may also have been
    cancelled, hence the lower confidence."""
    seen = "certificate" if h.version_code != 0x0304 else "first flight (certificate encrypted)"
    f = _finding(CERT_REJECTED, h, f"client closed the connection to {sni} ({h.silent_close}) "
                                   f"{h.silent_close_ms:g} ms after the server's {seen}, "
                                   f"without an alert and without finishing the handshake",
                 frames, "server", close=h.silent_close, sender="client",
                 after_ms=h.silent_close_ms)
    f.confidence = 0.6
    f.explanation = "The client closed the connection as soon as the server's certificate " \
                    "arrived, without sending an alert or its side of the handshake. Some " \
                    "TLS stacks reject a certificate this way (untrusted chain, wrong name, " \
                    "expired); a client cancelled at that very moment looks the same."
    return f


def _day(ts: int) -> str:
    import time
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _alert_finding(h: TlsHandshake, a: TlsAlert, sni: str) -> Finding:
    """The most specific finding a fatal alert supports."""
    frames = [h.frames.get("client_hello", 0), a.frame]
    if a.description == 70:
        offered = ", ".join(N.VERSIONS.get(v, f"0x{v:04x}") for v in h.versions_offered)
        # A client offering TLS 1.2 or newer is current: the refusal is the server's policy.
        who = "server" if h.versions_offered and h.versions_offered[0] >= 0x0303 else "client"
        if a.sender == "client":
            who = "server"
        return _finding(VERSION_MISMATCH, h, f"{a.sender} sent protocol_version (70) to {sni}: "
                                             f"no TLS version both sides accept (client "
                                             f"offered {offered or 'nothing'})",
                        frames, who, alert=70, sender=a.sender, offered=offered)
    if a.description in (40, 71) and a.sender == "server" and "server_hello" not in h.frames:
        # Only obsolete suites offered (no AEAD): the client must change; else the server.
        modern = any(c in _AEAD_SUITES for c in h.ciphers_offered)
        return _finding(NO_COMMON_CIPHER, h, f"server answered the ClientHello for {sni} with "
                                             f"{a.name} ({a.description}): none of the "
                                             f"client's {len(h.ciphers_offered)} cipher suites "
                                             f"(or groups) is acceptable to it",
                        frames, "server" if modern else "client", alert=a.description,
                        sender=a.sender,
                        offered=[N.CIPHER_SUITES.get(c, f"0x{c:04x}")
                                 for c in h.ciphers_offered[:16]])
    if a.description == 45 and a.sender == "client":
        return _finding(CERT_EXPIRED, h, f"client refused the certificate for {sni}: "
                                         f"certificate_expired (45)", frames, "server",
                        alert=45, sender="client")
    if a.description in _CERT_ALERTS and a.sender == "client":
        return _finding(CERT_REJECTED, h, f"client refused the server's certificate for {sni}: "
                                          f"{a.name} ({a.description})", frames, "server",
                        alert=a.description, sender="client")
    meaning = ALERT_MEANINGS.get(a.description, "")
    f = _finding(ALERT, h, f"{a.sender} sent fatal alert {a.name} ({a.description}) on the "
                           f"connection to {sni}" + (f": {meaning}" if meaning else ""),
                 frames, a.sender, alert=a.description, sender=a.sender)
    if meaning:
        f.explanation = f"The {a.sender} ended the TLS connection with {a.name}: {meaning}. " \
                        f"The request on this connection failed."
    return f


def _slow(h: TlsHandshake) -> Finding | None:
    """The server's first flight came well after one round trip: the time beyond the RTT
    is the server's (at the client the wait includes one RTT, at the server none)."""
    if h.rtt_ms is None or h.server_hello_ms is None:
        return None
    excess = h.server_hello_ms - h.rtt_ms
    if excess * 1e6 < max(SLOW_MIN_NS, 2 * h.rtt_ms * 1e6):
        return None
    return _finding(SLOW, h, f"ServerHello {h.server_hello_ms:.0f} ms after the ClientHello "
                             f"on a {h.rtt_ms:.1f} ms round trip ({h.sni or 'no SNI'})",
                    [h.frames["client_hello"], h.frames["server_hello"]], "server",
                    server_hello_ms=h.server_hello_ms, rtt_ms=h.rtt_ms)


def _churn(handshakes: list[TlsHandshake]) -> list[Finding]:
    by_server: dict[str, list[TlsHandshake]] = {}
    for h in handshakes:
        if h.version_code:
            by_server.setdefault(h.server, []).append(h)
    out = []
    for server, hs in by_server.items():
        full = [h for h in hs if not h.resumed]
        if len(full) >= CHURN_MIN and len(full) == len(hs):
            first = full[0]
            out.append(Finding(CHURN, f"{len(full)} full TLS handshakes to {server} "
                                      f"({first.sni or 'no SNI'}), none resumed",
                               stream=first.stream, proto="TLS", flow=f"* -> {server}",
                               frames=[h.frames.get("client_hello", 0) for h in full[:64]],
                               metrics={"full_handshakes": len(full)}))
    return out


__all__ = ["TlsAlert", "TlsHandshake", "TlsResult", "analyze_tls"]
