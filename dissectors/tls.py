"""TLS and SSL (RFC 5246, RFC 8446, RFC 6101; SSL 2.0 record headers): records, handshake
messages, alerts, with Wireshark's field names and Info column.

Records are PDUs over TCP: `tcp_reassembly.dissect_pdus` hands each whole record here,
however the segments cut it. TLS is found on its registered ports and, on any other port, by
a heuristic on the first payload of a connection (a Handshake record whose first message is a
Client or Server Hello); the connection is then TLS until it ends.

Per connection the dissector remembers three positions (frame and record index): where the
ServerHello fixed the session's version (the Protocol column switches from the record version
to it, as Wireshark's does) and where each side sent ChangeCipherSpec (its later Handshake and
Alert records are encrypted: "Encrypted Handshake Message", "Encrypted Alert"). Comparing
positions instead of updating flags keeps re-dissection of an earlier frame exact.

The handshake parsers fill small summaries (`Hello`, the certificate list) that the TLS
analysis engine uses too, with `NULL_TREE`, so the details pane and the analysis cannot
disagree. Lengths are checked against the message before anything is read or allocated.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Any

from . import tls_names as N
from .buffer import Buf, Malformed
from .dispatch import TCP_HEUR, TCP_PORT
from .fields import FT, Base, Severity, expert, field, protocol
from .packet import Packet
from .tcp_reassembly import dissect_pdus
from .tree import Tree
from .x509 import summarize

MAX_RECORD = (1 << 14) + 2048          # RFC 5246 §6.2.3: the largest ciphertext fragment
MAX_LIST = 1024                        # items kept per list in a Hello summary
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
# the registered ports (the rest is found by the heuristic)
PORTS = (443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 5061)
APP_PROTOCOLS = {b"h2": "HyperText Transfer Protocol 2", b"http/1.1": "Hypertext Transfer Protocol",
                 b"http/1.0": "Hypertext Transfer Protocol"}
PORT_APP_PROTOCOLS = {443: "Hypertext Transfer Protocol"}

_GREASE_VERSIONS = N.GreaseNames(N.VERSIONS)
_GREASE_SUITES = N.GreaseNames(N.CIPHER_SUITES)
_GREASE_EXTS = N.GreaseNames(N.EXTENSIONS)
_GREASE_GROUPS = N.GreaseNames(N.GROUPS)
_GREASE_SIGS = N.GreaseNames(N.SIGNATURE_SCHEMES)

PROTO = protocol("tls", "Transport Layer Security",
                 explain="Encryption between client and server. Its handshake decides the "
                         "version, cipher and certificate; most TLS failures are a handshake "
                         "that ends in an alert.")
RECORD = field("tls.record", "Record Layer", FT.NONE)
CONTENT_TYPE = field("tls.record.content_type", "Content Type", FT.UINT8,
                     strings=N.CONTENT_TYPES, blurb="What the record carries",
                     explain="Handshake (22) sets the connection up, Change Cipher Spec (20) "
                             "switches to encryption, Alert (21) reports an error or the close, "
                             "Application Data (23) is the service's own encrypted traffic.")
OPAQUE_TYPE = field("tls.record.opaque_type", "Opaque Type", FT.UINT8, strings=N.CONTENT_TYPES,
                    blurb="TLS 1.3: the outer type of an encrypted record (always 23)")
RECORD_VERSION = field("tls.record.version", "Version", FT.UINT16, Base.HEX,
                       strings=N.VERSIONS, blurb="Record layer version (legacy in TLS 1.3)")
RECORD_LENGTH = field("tls.record.length", "Length", FT.UINT16,
                      blurb="Bytes in this record after its 5-byte header")
HANDSHAKE = field("tls.handshake", "Handshake Protocol", FT.NONE)
# Set in pkt.hints, with or without a tree, on every frame where a Handshake record (or an
# SSL 2.0 record) is dissected: only those frames can show `tls.handshake.*` fields, which
# lets a display filter on them skip building the other frames' trees (analyzer/filter).
HANDSHAKE_HINT = "tls.handshake"
HS_TYPE = field("tls.handshake.type", "Handshake Type", FT.UINT8, strings=N.HANDSHAKE_TYPES,
                blurb="Which handshake message",
                explain="The handshake's steps: Client Hello, Server Hello, Certificate, key "
                        "exchange, Finished. The last one seen before an alert tells where a "
                        "failed handshake stopped.")
HS_LENGTH = field("tls.handshake.length", "Length", FT.UINT24)
HS_VERSION = field("tls.handshake.version", "Version", FT.UINT16, Base.HEX, strings=N.VERSIONS,
                   blurb="Legacy version in the hello (TLS 1.3 negotiates in supported_versions)")
RANDOM = field("tls.handshake.random", "Random", FT.BYTES)
RANDOM_TIME = field("tls.handshake.random_time", "GMT Unix Time", FT.ABSOLUTE_TIME)
RANDOM_BYTES = field("tls.handshake.random_bytes", "Random Bytes", FT.BYTES)
SESSION_ID_LEN = field("tls.handshake.session_id_length", "Session ID Length", FT.UINT8)
SESSION_ID = field("tls.handshake.session_id", "Session ID", FT.BYTES,
                   explain="A TLS 1.2 client offering a known session id asks to resume; the "
                           "server echoing it agrees (an abbreviated handshake, no "
                           "certificate).")
SUITES_LEN = field("tls.handshake.cipher_suites_length", "Cipher Suites Length", FT.UINT16)
SUITES = field("tls.handshake.ciphersuites", "Cipher Suites", FT.NONE)
SUITE = field("tls.handshake.ciphersuite", "Cipher Suite", FT.UINT16, Base.HEX,
              strings=_GREASE_SUITES, blurb="A cipher suite offered or chosen",
              explain="The client lists what it supports, the server picks one. No overlap "
                      "ends the handshake with a handshake_failure alert.")
COMP_LEN = field("tls.handshake.comp_methods_length", "Compression Methods Length", FT.UINT8)
COMP_METHODS = field("tls.handshake.comp_methods", "Compression Methods", FT.NONE)
COMP = field("tls.handshake.comp_method", "Compression Method", FT.UINT8, strings=N.COMPRESSION)
EXTS_LEN = field("tls.handshake.extensions_length", "Extensions Length", FT.UINT16)
EXT = field("tls.handshake.extension", "Extension", FT.NONE)
EXT_TYPE = field("tls.handshake.extension.type", "Type", FT.UINT16, strings=_GREASE_EXTS,
                 blurb="Which hello extension")
EXT_LEN = field("tls.handshake.extension.len", "Length", FT.UINT16)
EXT_DATA = field("tls.handshake.extension.data", "Data", FT.BYTES)
SNI_LIST_LEN = field("tls.handshake.extensions_server_name_list_len", "Server Name list length",
                     FT.UINT16)
SNI_TYPE = field("tls.handshake.extensions_server_name_type", "Server Name Type", FT.UINT8,
                 strings=N.SNI_TYPES)
SNI_LEN = field("tls.handshake.extensions_server_name_len", "Server Name length", FT.UINT16)
SNI = field("tls.handshake.extensions_server_name", "Server Name", FT.STRING,
            blurb="The host name the client asked for (SNI)",
            explain="The name the client wants; the server picks its certificate by it. A "
                    "certificate that does not cover this name is rejected by the client.")
ALPN_LEN = field("tls.handshake.extensions_alpn_len", "ALPN Extension Length", FT.UINT16)
ALPN_STR_LEN = field("tls.handshake.extensions_alpn_str_len", "ALPN string length", FT.UINT8)
ALPN = field("tls.handshake.extensions_alpn_str", "ALPN Next Protocol", FT.STRING,
             blurb="Application protocol offered (ClientHello) or chosen (ServerHello)",
             explain="h2 or http/1.1: which protocol runs inside TLS. A server choosing none "
                     "the client offered fails with no_application_protocol.")
VERSIONS_LEN = field("tls.handshake.extensions.supported_versions_len",
                     "Supported Versions length", FT.UINT8)
SUPPORTED_VERSION = field("tls.handshake.extensions.supported_version", "Supported Version",
                          FT.UINT16, Base.HEX, strings=_GREASE_VERSIONS,
                          blurb="TLS versions offered (ClientHello) or chosen (ServerHello)",
                          explain="TLS 1.3 is negotiated here: the ServerHello's value is the "
                                  "version actually used.")
GROUPS_LEN = field("tls.handshake.extensions_supported_groups_length",
                   "Supported Groups List Length", FT.UINT16)
GROUP = field("tls.handshake.extensions_supported_group", "Supported Group", FT.UINT16,
              Base.HEX, strings=_GREASE_GROUPS)
POINT_FORMATS_LEN = field("tls.handshake.extensions_ec_point_formats_length",
                          "EC point formats Length", FT.UINT8)
POINT_FORMAT = field("tls.handshake.extensions_ec_point_format", "EC point format", FT.UINT8,
                     strings=N.EC_POINT_FORMATS)
SIGALGS_LEN = field("tls.handshake.sig_hash_alg_len", "Signature Hash Algorithms Length",
                    FT.UINT16)
SIGALG = field("tls.handshake.sig_hash_alg", "Signature Algorithm", FT.UINT16, Base.HEX,
               strings=_GREASE_SIGS)
KEY_SHARE_LEN = field("tls.handshake.extensions_key_share_client_length",
                      "Client Key Share Length", FT.UINT16)
KEY_SHARE_GROUP = field("tls.handshake.extensions_key_share_group", "Group", FT.UINT16,
                        strings=_GREASE_GROUPS)
KEY_SHARE_KE_LEN = field("tls.handshake.extensions_key_share_key_exchange_length",
                         "Key Exchange Length", FT.UINT16)
KEY_SHARE_KE = field("tls.handshake.extensions_key_share_key_exchange", "Key Exchange", FT.BYTES)
KEY_SHARE_SELECTED = field("tls.handshake.extensions_key_share_selected_group",
                           "Selected Group", FT.UINT16, strings=_GREASE_GROUPS,
                           explain="In a HelloRetryRequest: the group the server wants; the "
                                   "client must send a new ClientHello (one more round trip).")
PSK_MODES_LEN = field("tls.extension.psk_ke_modes_length", "PSK Key Exchange Modes Length",
                      FT.UINT8)
PSK_MODE = field("tls.extension.psk_ke_mode", "PSK Key Exchange Mode", FT.UINT8,
                 strings=N.PSK_MODES)
PSK_IDS_LEN = field("tls.handshake.extensions.psk.identities.length", "Identities Length",
                    FT.UINT16)
PSK_ID_LEN = field("tls.handshake.extensions.psk.identity.identity_length", "Identity Length",
                   FT.UINT16)
PSK_ID = field("tls.handshake.extensions.psk.identity.identity", "Identity", FT.BYTES,
               explain="A session ticket the client offers to resume a TLS 1.3 session.")
PSK_AGE = field("tls.handshake.extensions.psk.identity.obfuscated_ticket_age",
                "Obfuscated Ticket Age", FT.UINT32)
PSK_BINDERS_LEN = field("tls.handshake.extensions.psk.binders_len", "PSK Binders length",
                        FT.UINT16)
PSK_BINDER = field("tls.handshake.extensions.psk.binder", "PSK Binder", FT.BYTES)
PSK_SELECTED = field("tls.handshake.extensions.psk.selected_identity", "Selected Identity",
                     FT.UINT16, explain="The server accepted the client's ticket: the session "
                                        "is resumed (no certificate, fewer computations).")
EARLY_DATA_MAX = field("tls.early_data.max_early_data_size", "Maximum Early Data Size",
                       FT.UINT32)
SESSION_TICKET_DATA = field("tls.handshake.extensions.session_ticket", "Session Ticket",
                            FT.BYTES, explain="A TLS 1.2 ticket offered to resume a session.")
STATUS_TYPE = field("tls.handshake.extensions_status_request_type", "Certificate Status Type",
                    FT.UINT8, strings=N.CERT_STATUS_TYPES)
RENEG_LEN = field("tls.handshake.extensions_reneg_info_len",
                  "Renegotiation info extension length", FT.UINT8)
PADDING = field("tls.handshake.extensions_padding_data", "Padding Data", FT.BYTES)
JA3_FULL = field("tls.handshake.ja3_full", "JA3 Fullstring", FT.STRING)
JA3 = field("tls.handshake.ja3", "JA3", FT.STRING,
            blurb="MD5 of the ClientHello's version, ciphers, extensions, groups, formats",
            explain="A fingerprint of the client's TLS library: the same value across "
                    "connections means the same client software.")
JA3S_FULL = field("tls.handshake.ja3s_full", "JA3S Fullstring", FT.STRING)
JA3S = field("tls.handshake.ja3s", "JA3S", FT.STRING,
             blurb="MD5 of the ServerHello's version, cipher and extensions")
JA4 = field("tls.handshake.ja4", "JA4", FT.STRING,
            blurb="JA4 client fingerprint (FoxIO): protocol, version, SNI, counts, ALPN, hashes",
            explain="A readable fingerprint of the client: 't13d1516h2_…' says TCP, TLS 1.3, "
                    "a domain name, 15 ciphers, 16 extensions, ALPN h2.")
JA4_R = field("tls.handshake.ja4_r", "JA4_r", FT.STRING, blurb="JA4 with the raw lists")
CERTS_LEN = field("tls.handshake.certificates_length", "Certificates Length", FT.UINT24)
CERTS = field("tls.handshake.certificates", "Certificates", FT.NONE)
CERT_LEN = field("tls.handshake.certificate_length", "Certificate Length", FT.UINT24)
CERT = field("tls.handshake.certificate", "Certificate", FT.BYTES)
CERT_SUBJECT = field("tls.handshake.certificate.subject", "Subject", FT.STRING,
                     blurb="Who the certificate names")
CERT_ISSUER = field("tls.handshake.certificate.issuer", "Issuer", FT.STRING,
                    blurb="Who signed it",
                    explain="A client that does not trust this issuer rejects the certificate "
                            "(unknown_ca): install the intermediate chain on the server.")
CERT_SAN = field("x509ce.dNSName", "dNSName", FT.STRING,
                 blurb="A host name the certificate is valid for (subjectAltName)")
CERT_NOT_BEFORE = field("tls.handshake.certificate.not_before", "Not Before", FT.ABSOLUTE_TIME)
CERT_NOT_AFTER = field("tls.handshake.certificate.not_after", "Not After", FT.ABSOLUTE_TIME,
                       explain="After this instant clients reject the certificate "
                               "(certificate_expired).")
CERT_KEY = field("tls.handshake.certificate.public_key", "Public Key", FT.STRING)
CERT_SIGALG = field("tls.handshake.certificate.signature_algorithm", "Signature Algorithm",
                    FT.STRING)
CERT_SELF_SIGNED = field("tls.handshake.certificate.self_signed", "Self-signed", FT.BOOLEAN,
                         tfs=("True", "False"),
                         explain="Issuer and subject are the same: clients reject it unless "
                                 "told to trust it explicitly.")
CURVE_TYPE = field("tls.handshake.server_curve_type", "Curve Type", FT.UINT8,
                   strings=N.CURVE_TYPES)
NAMED_CURVE = field("tls.handshake.server_named_curve", "Named Curve", FT.UINT16, Base.HEX,
                    strings=_GREASE_GROUPS)
POINT_LEN = field("tls.handshake.server_point_len", "Pubkey Length", FT.UINT8)
POINT = field("tls.handshake.server_point", "Pubkey", FT.BYTES)
SIG_LEN = field("tls.handshake.sig_len", "Signature Length", FT.UINT16)
SIG = field("tls.handshake.sig", "Signature", FT.BYTES)
CERT_TYPES_COUNT = field("tls.handshake.cert_types_count", "Certificate types count", FT.UINT8)
CERT_TYPE = field("tls.handshake.cert_type", "Certificate type", FT.UINT8,
                  strings=N.CLIENT_CERT_TYPES)
DNAMES_LEN = field("tls.handshake.dnames_len", "Distinguished Names Length", FT.UINT16)
REQ_CONTEXT_LEN = field("tls.handshake.certificate_request_context_length",
                        "Certificate Request Context Length", FT.UINT8)
TICKET_LIFETIME = field("tls.handshake.session_ticket_lifetime_hint", "Session Ticket Lifetime "
                        "Hint", FT.UINT32, explain="How long the client may resume with this "
                                                  "ticket, in seconds.")
TICKET_AGE_ADD = field("tls.handshake.session_ticket_age_add", "Session Ticket Age Add",
                       FT.UINT32)
TICKET_NONCE_LEN = field("tls.handshake.session_ticket_nonce_length", "Session Ticket Nonce "
                         "Length", FT.UINT8)
TICKET_LEN = field("tls.handshake.session_ticket_length", "Session Ticket Length", FT.UINT16)
TICKET = field("tls.handshake.session_ticket", "Session Ticket", FT.BYTES)
VERIFY_DATA = field("tls.handshake.verify_data", "Verify Data", FT.BYTES)
CKE_LEN = field("tls.handshake.client_point_len", "Pubkey Length", FT.UINT8)
CKE = field("tls.handshake.client_point", "Pubkey", FT.BYTES)
ENCRYPTED_HS = field("tls.handshake.encrypted", "Encrypted Handshake Message", FT.BYTES)
CCS = field("tls.change_cipher_spec", "Change Cipher Spec Message", FT.NONE)
ALERT = field("tls.alert_message", "Alert Message", FT.NONE)
ALERT_LEVEL = field("tls.alert_message.level", "Level", FT.UINT8, strings=N.ALERT_LEVELS)
ALERT_DESC = field("tls.alert_message.desc", "Description", FT.UINT8, strings=N.ALERTS,
                   blurb="Why the sender ends or warns",
                   explain="A fatal alert ends the connection. Who sends it matters: a client "
                           "sending bad_certificate or unknown_ca rejected the server's "
                           "certificate; a server sending handshake_failure found no common "
                           "cipher; protocol_version means no common TLS version.")
ENCRYPTED_ALERT = field("tls.alert_message.encrypted", "Encrypted Alert", FT.BYTES)
APP_DATA = field("tls.app_data", "Encrypted Application Data", FT.BYTES,
                 blurb="The service's traffic, encrypted")
APP_DATA_PROTO = field("tls.app_data_proto", "Application Data Protocol", FT.STRING)
CONTINUATION = field("tls.continuation_data", "Continuation Data", FT.BYTES,
                     blurb="Bytes that do not start a TLS record (after a capture gap)")
SSL2_LEN = field("tls.record.ssl2.length", "Length", FT.UINT16)
KEYLOG = field("tls.handshake.keylog", "Key log", FT.STRING,
               blurb="Secrets the key log has for this session (by its ClientHello random)",
               explain="The key log (--tls-keylog or the capture's own secrets) covers this "
                       "session: its traffic can be decrypted.")
FRAGMENT = expert("tls.handshake.fragment", "reassemble", Severity.NOTE,
                  "Handshake message continues beyond this record",
                  explain="A handshake message longer than its record (a large certificate "
                          "chain is split over records). wirelens shows its start here; the "
                          "TLS analysis reads the whole message across records.")

# -- per-connection state ----------------------------------------------------------------------
_NEVER = 1 << 62


def _pos(pkt: Packet) -> int:
    """The position of the record being dissected: frame number and record index."""
    return pkt.number << 12 | min(pkt.hints.get("tls_records", 0), 4095)


class TlsConn:
    """What one TLS connection's later records depend on (positions, never flags)."""

    __slots__ = ("alpn", "ccs", "client_dir", "first", "ssl2", "version", "version_at")

    def __init__(self, first: int) -> None:
        self.first = first           # frame where TLS was recognized
        self.client_dir = 0          # tcp direction of the ClientHello's sender
        self.version = 0             # negotiated version, from the ServerHello
        self.version_at = _NEVER     # position of that ServerHello
        self.ccs = [_NEVER, _NEVER, _NEVER]   # by direction: position of ChangeCipherSpec
        self.alpn = b""              # protocol the ServerHello chose
        self.ssl2 = False            # the connection began with an SSL 2.0 Client Hello


class TlsState:
    """Per-capture TLS state: connections by tcp.stream."""

    def __init__(self) -> None:
        self.conns: dict[int, TlsConn] = {}


# -- summaries shared with the analysis ------------------------------------------------------

class Hello:
    """What a Client or Server Hello says (the analysis and JA3/JA4 read this)."""

    __slots__ = ("alpn", "cipher", "ciphers", "client", "early_data", "exts", "groups", "hrr",
                 "key_shares", "point_formats", "psk", "psk_selected", "random", "session_id",
                 "sigalgs", "sni", "ticket", "version", "versions")

    def __init__(self, client: bool) -> None:
        self.client = client
        self.version = 0
        self.random = b""
        self.session_id = b""
        self.ciphers: list[int] = []
        self.cipher = -1
        self.exts: list[int] = []
        self.sni = ""
        self.alpn: list[bytes] = []
        self.versions: list[int] = []
        self.groups: list[int] = []
        self.point_formats: list[int] = []
        self.sigalgs: list[int] = []
        self.key_shares: list[int] = []
        self.psk = False             # pre_shared_key offered (client) / accepted (server)
        self.psk_selected = -1
        self.early_data = False
        self.ticket = -1             # session_ticket extension length, -1 absent
        self.hrr = False

    @property
    def negotiated(self) -> int:
        """The version a ServerHello chose (supported_versions wins over the legacy field)."""
        return self.versions[0] if self.versions and not self.client else self.version

    def ja3(self) -> str:
        ext = [e for e in self.exts if not N.is_grease(e)]
        if self.client:
            return ",".join([str(self.version),
                             "-".join(str(c) for c in self.ciphers if not N.is_grease(c)),
                             "-".join(map(str, ext)),
                             "-".join(str(g) for g in self.groups if not N.is_grease(g)),
                             "-".join(map(str, self.point_formats))])
        return f"{self.version},{self.cipher},{'-'.join(map(str, ext))}"

    def ja4(self) -> tuple[str, str]:
        """(JA4, JA4_r) of a ClientHello (FoxIO's JA4 specification, TCP)."""
        vers = [v for v in self.versions if not N.is_grease(v)]
        top = max(vers) if vers else self.version
        ver = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
               0x0002: "s2"}.get(top, "00")
        ciphers = [c for c in self.ciphers if not N.is_grease(c)]
        exts = [e for e in self.exts if not N.is_grease(e)]
        alpn = self.alpn[0] if self.alpn else b""
        if not alpn:
            a = "00"
        elif chr(alpn[0]).isalnum() and chr(alpn[-1]).isalnum() and alpn[0] < 128 \
                and alpn[-1] < 128:
            a = chr(alpn[0]) + chr(alpn[-1])
        else:
            h = alpn.hex()
            a = h[0] + h[-1]
        head = f"t{ver}{'d' if 0 in exts else 'i'}{min(len(ciphers), 99):02d}" \
               f"{min(len(exts), 99):02d}{a}"
        cs = ",".join(sorted(f"{c:04x}" for c in ciphers))
        es = ",".join(sorted(f"{e:04x}" for e in exts if e not in (0, 16)))
        sg = ",".join(f"{s:04x}" for s in self.sigalgs)
        ext_part = f"{es}_{sg}" if sg else es
        b = hashlib.sha256(cs.encode()).hexdigest()[:12] if ciphers else "0" * 12
        c = hashlib.sha256(ext_part.encode()).hexdigest()[:12] if exts else "0" * 12
        return f"{head}_{b}_{c}", f"{head}_{cs}_{ext_part}"


def _need(buf: Buf, off: int, n: int, end: int) -> None:
    buf.need_within(off, n, end)


def _u8(buf: Buf, off: int, end: int) -> int:
    _need(buf, off, 1, end)
    return buf.data[off]


def _u16(buf: Buf, off: int, end: int) -> int:
    _need(buf, off, 2, end)
    return buf.data[off] << 8 | buf.data[off + 1]


def _u24(buf: Buf, off: int, end: int) -> int:
    _need(buf, off, 3, end)
    d = buf.data
    return d[off] << 16 | d[off + 1] << 8 | d[off + 2]


def _vec(buf: Buf, off: int, width: int, end: int) -> tuple[int, int]:
    """A length-prefixed vector: (its length, where its bytes start), checked to fit."""
    n = _u8(buf, off, end) if width == 1 else _u16(buf, off, end) if width == 2 \
        else _u24(buf, off, end)
    _need(buf, off + width, n, end)
    return n, off + width


def _str(b: bytes) -> str:
    """A protocol string for display: decoded leniently, control characters made visible."""
    s = b.decode("utf-8", "replace")
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256
                   else f"\\u{ord(c):04x}" for c in s)


# -- extensions ---------------------------------------------------------------------------------
ExtFn = Callable[[Buf, int, int, Tree, Hello], None]


def _ext_sni(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    if off == end:               # the server's empty acknowledgement
        return
    n, p = _vec(buf, off, 2, end)
    if t:
        s = t.add_text(off, end - off, "Server Name Indication extension")
        s.add(SNI_LIST_LEN, off, 2, n)
    else:
        s = t
    stop = p + n
    while p < stop:
        kind = _u8(buf, p, stop)
        ln, q = _vec(buf, p + 1, 2, stop)
        name = _str(buf.data[q:q + ln])
        if t:
            s.add(SNI_TYPE, p, 1, kind)
            s.add(SNI_LEN, p + 1, 2, ln)
            s.add(SNI, q, ln, name)
        if kind == 0 and not h.sni:
            h.sni = name
        p = q + ln


def _ext_alpn(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    n, p = _vec(buf, off, 2, end)
    if t:
        t.add(ALPN_LEN, off, 2, n)
        a = t.add_text(p, n, "ALPN Protocol")
    else:
        a = t
    stop = p + n
    while p < stop:
        ln, q = _vec(buf, p, 1, stop)
        proto = bytes(buf.data[q:q + ln])
        if t:
            a.add(ALPN_STR_LEN, p, 1, ln)
            a.add(ALPN, q, ln, _str(proto))
        if len(h.alpn) < MAX_LIST:
            h.alpn.append(proto)
        p = q + ln


def _u16_list(buf: Buf, p: int, stop: int, t: Tree, spec: Any, out: list[int]) -> None:
    """A list of 16-bit values [p, stop) (already checked to be captured)."""
    if not t:                                  # the summary path: one unpack
        if (stop - p) % 2:
            raise Malformed("odd length in a list of 16-bit values")
        room = MAX_LIST - len(out)
        if room > 0 and stop > p:
            out.extend(struct.unpack_from(f"!{min((stop - p) // 2, room)}H", buf.data, p))
        return
    while p + 1 < stop:
        v = buf.data[p] << 8 | buf.data[p + 1]
        if t:
            t.add(spec, p, 2, v)
        if len(out) < MAX_LIST:
            out.append(v)
        p += 2
    if p < stop:
        raise Malformed("odd length in a list of 16-bit values")


def _ext_versions(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    if not h.client:                     # the server's choice: one version
        v = _u16(buf, off, end)
        t.add(SUPPORTED_VERSION, off, 2, v)
        h.versions = [v]
        return
    n, p = _vec(buf, off, 1, end)
    t.add(VERSIONS_LEN, off, 1, n)
    _u16_list(buf, p, p + n, t, SUPPORTED_VERSION, h.versions)


def _ext_groups(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    n, p = _vec(buf, off, 2, end)
    if t:
        t.add(GROUPS_LEN, off, 2, n)
        t = t.add_text(p, n, f"Supported Groups ({n // 2} groups)")
    _u16_list(buf, p, p + n, t, GROUP, h.groups)


def _ext_sigalgs(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    n, p = _vec(buf, off, 2, end)
    if t:
        t.add(SIGALGS_LEN, off, 2, n)
        t = t.add_text(p, n, f"Signature Hash Algorithms ({n // 2} algorithms)")
    _u16_list(buf, p, p + n, t, SIGALG, h.sigalgs)


def _ext_sigalgs_cert(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    """signature_algorithms_cert and delegated_credentials: a list of signature schemes
    (not the handshake's own, so not in JA4)."""
    n, p = _vec(buf, off, 2, end)
    if t:
        t.add(SIGALGS_LEN, off, 2, n)
    _u16_list(buf, p, p + n, t, SIGALG, [])


def _ext_point_formats(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    n, p = _vec(buf, off, 1, end)
    if t:
        t.add(POINT_FORMATS_LEN, off, 1, n)
        t = t.add_text(p, n, f"Elliptic curves point formats ({n})")
    for i in range(p, p + n):
        v = buf.data[i]
        if t:
            t.add(POINT_FORMAT, i, 1, v)
        if len(h.point_formats) < MAX_LIST:
            h.point_formats.append(v)


def _ext_key_share(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    if not h.client:
        group = _u16(buf, off, end)
        if end - off == 2:                       # HelloRetryRequest: the group wanted
            t.add(KEY_SHARE_SELECTED, off, 2, group)
            h.key_shares.append(group)
            return
        _share(buf, off, end, t, h)
        return
    n, p = _vec(buf, off, 2, end)
    if t:
        t = t.add_text(off, end - off, "Key Share extension")
        t.add(KEY_SHARE_LEN, off, 2, n)
    stop = p + n
    while p < stop:
        p = _share(buf, p, stop, t, h)


def _share(buf: Buf, p: int, stop: int, t: Tree, h: Hello) -> int:
    group = _u16(buf, p, stop)
    ln, q = _vec(buf, p + 2, 2, stop)
    if t:
        e = t.add_text(p, 4 + ln, f"Key Share Entry: Group: {N.name16(N.GROUPS, group)}, "
                                  f"Key Exchange length: {ln}")
        e.add(KEY_SHARE_GROUP, p, 2, group)
        e.add(KEY_SHARE_KE_LEN, p + 2, 2, ln)
        e.add(KEY_SHARE_KE, q, ln, bytes(buf.data[q:q + ln]))
    if len(h.key_shares) < MAX_LIST:
        h.key_shares.append(group)
    return q + ln


def _ext_psk_modes(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    n, p = _vec(buf, off, 1, end)
    t.add(PSK_MODES_LEN, off, 1, n)
    for i in range(p, p + n):
        t.add(PSK_MODE, i, 1, buf.data[i])


def _ext_psk(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    h.psk = True
    if not h.client:
        h.psk_selected = _u16(buf, off, end)
        t.add(PSK_SELECTED, off, 2, h.psk_selected)
        return
    n, p = _vec(buf, off, 2, end)
    t.add(PSK_IDS_LEN, off, 2, n)
    stop = p + n
    while p < stop:
        ln, q = _vec(buf, p, 2, stop)
        _need(buf, q + ln, 4, stop)
        if t:
            i = t.add_text(p, 6 + ln, "PSK Identity")
            i.add(PSK_ID_LEN, p, 2, ln)
            i.add(PSK_ID, q, ln, bytes(buf.data[q:q + ln]))
            i.add(PSK_AGE, q + ln, 4, struct.unpack_from("!I", buf.data, q + ln)[0])
        p = q + ln + 4
    n, p = _vec(buf, stop, 2, end)
    t.add(PSK_BINDERS_LEN, stop, 2, n)
    bstop = p + n
    while p < bstop:
        ln, q = _vec(buf, p, 1, bstop)
        t.add(PSK_BINDER, q, ln, bytes(buf.data[q:q + ln]))
        p = q + ln


def _ext_early_data(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    h.early_data = True
    if end - off == 4:                          # in a NewSessionTicket
        t.add(EARLY_DATA_MAX, off, 4, struct.unpack_from("!I", _bytes(buf, off, 4, end))[0])


def _bytes(buf: Buf, off: int, n: int, end: int) -> bytes:
    _need(buf, off, n, end)
    return bytes(buf.data[off:off + n])


def _ext_ticket(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    h.ticket = end - off
    if t:
        t.add(SESSION_TICKET_DATA, off, end - off, _bytes(buf, off, end - off, end),
              f"Data ({end - off} bytes)")


def _ext_status(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    if off < end:
        t.add(STATUS_TYPE, off, 1, _u8(buf, off, end))


def _ext_reneg(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    n, _p = _vec(buf, off, 1, end)
    if t:
        t.add_text(off, end - off, "Renegotiation Info extension").add(RENEG_LEN, off, 1, n)


def _ext_padding(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    if t:
        t.add(PADDING, off, end - off, _bytes(buf, off, end - off, end))


def _ext_empty(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    """Extensions whose presence is the message (extended_master_secret, ...)."""


_EXTENSIONS: dict[int, ExtFn] = {
    0: _ext_sni, 5: _ext_status, 10: _ext_groups, 11: _ext_point_formats, 13: _ext_sigalgs,
    16: _ext_alpn, 21: _ext_padding, 22: _ext_empty, 23: _ext_empty, 35: _ext_ticket,
    34: _ext_sigalgs_cert, 41: _ext_psk, 42: _ext_early_data, 43: _ext_versions, 45: _ext_psk_modes, 49: _ext_empty,
    50: _ext_sigalgs_cert, 51: _ext_key_share, 65281: _ext_reneg,
}


def _extensions(buf: Buf, off: int, end: int, t: Tree, h: Hello) -> None:
    """The extensions block, when the message has one (it may end before it)."""
    if off >= end:
        return
    n, p = _vec(buf, off, 2, end)
    t.add(EXTS_LEN, off, 2, n)
    stop = p + n
    while p < stop:
        etype = _u16(buf, p, stop)
        ln, q = _vec(buf, p + 2, 2, stop)
        if len(h.exts) < MAX_LIST:
            h.exts.append(etype)
        if t:
            e = t.add(EXT, p, 4 + ln, None,
                      f"Extension: {N.name16(N.EXTENSIONS, etype) if etype in N.EXTENSIONS or N.is_grease(etype) else f'Unknown type {etype}'} (len={ln})")
            e.add(EXT_TYPE, p, 2, etype)
            e.add(EXT_LEN, p + 2, 2, ln)
        else:
            e = t
        fn = _EXTENSIONS.get(etype)
        if fn is not None:
            fn(buf, q, q + ln, e, h)
        elif t and ln:
            e.add(EXT_DATA, q, ln, bytes(buf.data[q:q + ln]))
        p = q + ln


# -- handshake messages -------------------------------------------------------------------------

def hello(buf: Buf, off: int, end: int, t: Tree, client: bool) -> Hello:
    """Parse a Client or Server Hello body [off, end) (shared with the analysis)."""
    h = Hello(client)
    h.version = _u16(buf, off, end)
    t.add(HS_VERSION, off, 2, h.version)
    h.random = _bytes(buf, off + 2, 32, end)
    if t:
        r = t.add(RANDOM, off + 2, 32, h.random)
        if client or h.random != HRR_RANDOM:
            r.add(RANDOM_TIME, off + 2, 4, (struct.unpack_from("!I", h.random)[0], 0))
            r.add(RANDOM_BYTES, off + 6, 28, h.random[4:])
    h.hrr = not client and h.random == HRR_RANDOM
    p = off + 34
    n, q = _vec(buf, p, 1, end)
    h.session_id = bytes(buf.data[q:q + n])
    t.add(SESSION_ID_LEN, p, 1, n)
    if n:
        t.add(SESSION_ID, q, n, h.session_id)
    p = q + n
    if client:
        n, q = _vec(buf, p, 2, end)
        if t:
            t.add(SUITES_LEN, p, 2, n)
            s = t.add(SUITES, q, n, None, f"Cipher Suites ({n // 2} suites)")
        else:
            s = t
        _u16_list(buf, q, q + n, s, SUITE, h.ciphers)
        p = q + n
        n, q = _vec(buf, p, 1, end)
        if t:
            t.add(COMP_LEN, p, 1, n)
            c = t.add(COMP_METHODS, q, n, None,
                      f"Compression Methods ({n} method{'' if n == 1 else 's'})")
            for i in range(q, q + n):
                c.add(COMP, i, 1, buf.data[i])
        p = q + n
    else:
        h.cipher = _u16(buf, p, end)
        t.add(SUITE, p, 2, h.cipher)
        t.add(COMP, p + 2, 1, _u8(buf, p + 2, end))
        p += 3
    _extensions(buf, p, end, t, h)
    if t:
        if client:
            full = h.ja3()
            j4, j4r = h.ja4()
            t.add(JA4, off, 0, j4, generated=True)
            t.add(JA4_R, off, 0, j4r, generated=True)
            t.add(JA3_FULL, off, 0, full, generated=True)
            t.add(JA3, off, 0, hashlib.md5(full.encode(), usedforsecurity=False).hexdigest(),
                  generated=True)
        else:
            full = h.ja3()
            t.add(JA3S_FULL, off, 0, full, generated=True)
            t.add(JA3S, off, 0, hashlib.md5(full.encode(), usedforsecurity=False).hexdigest(),
                  generated=True)
    return h


def encrypted_extensions(buf: Buf, off: int, end: int, t: Tree) -> Hello:
    """A TLS 1.3 EncryptedExtensions body (the server's ALPN choice lives here)."""
    h = Hello(False)
    _extensions(buf, off, end, t, h)
    return h


def certificates(buf: Buf, off: int, end: int, t: Tree, tls13: bool) -> list[bytes]:
    """A Certificate message body: the DER certificates, server's own first."""
    p = off
    if tls13:
        n, q = _vec(buf, p, 1, end)
        t.add(REQ_CONTEXT_LEN, p, 1, n)
        p = q + n
    n, q = _vec(buf, p, 3, end)
    if t:
        t.add(CERTS_LEN, p, 3, n)
        t = t.add(CERTS, q, n, None, f"Certificates ({n} bytes)")
    out = []
    stop = q + n
    while q < stop:
        ln, c = _vec(buf, q, 3, stop)
        der = bytes(buf.data[c:c + ln])
        if len(out) < 16:
            out.append(der)
        if t:
            t.add(CERT_LEN, q, 3, ln)
            summary = summarize(der)
            label = f"Certificate: {der[:36].hex()}{'…' if ln > 36 else ''}"
            if summary is not None and summary.subject:
                label += f" ({summary.subject})"
            node = t.add(CERT, c, ln, der, label)
            if summary is not None:
                _cert_tree(node, c, ln, summary)
        q = c + ln
        if tls13:
            en, eq = _vec(buf, q, 2, stop)
            q = eq + en
    return out


def _cert_tree(node: Tree, c: int, ln: int, s: Any) -> None:
    node.add(CERT_SUBJECT, c, ln, s.subject, generated=True)
    node.add(CERT_ISSUER, c, ln, s.issuer, generated=True)
    for name in s.sans:
        node.add(CERT_SAN, c, ln, name, generated=True)
    node.add(CERT_NOT_BEFORE, c, ln, (s.not_before, 0), generated=True)
    node.add(CERT_NOT_AFTER, c, ln, (s.not_after, 0), generated=True)
    node.add(CERT_KEY, c, ln, f"{s.key_type} {s.key_bits} bits", generated=True)
    node.add(CERT_SIGALG, c, ln, s.signature_algorithm, generated=True)
    node.add(CERT_SELF_SIGNED, c, ln, s.self_signed, generated=True)


def _ske(buf: Buf, off: int, end: int, t: Tree, version: int) -> None:
    """ServerKeyExchange: ECDHE parameters and signature (other key exchanges as bytes)."""
    if not t or off >= end or buf.data[off] != 3:
        if t and off < end:
            t.add(EXT_DATA, off, end - off, _bytes(buf, off, end - off, end))
        return
    t = t.add_text(off, end - off, "EC Diffie-Hellman Server Params")
    t.add(CURVE_TYPE, off, 1, 3)
    t.add(NAMED_CURVE, off + 1, 2, _u16(buf, off + 1, end))
    n, p = _vec(buf, off + 3, 1, end)
    t.add(POINT_LEN, off + 3, 1, n)
    t.add(POINT, p, n, bytes(buf.data[p:p + n]))
    p += n
    if version >= 0x0303 and p + 2 <= end:      # TLS 1.2 names the signature scheme
        t.add(SIGALG, p, 2, _u16(buf, p, end))
        p += 2
    if p < end:
        n, q = _vec(buf, p, 2, end)
        t.add(SIG_LEN, p, 2, n)
        t.add(SIG, q, n, bytes(buf.data[q:q + n]))


def _cert_request(buf: Buf, off: int, end: int, t: Tree, tls13: bool) -> None:
    if not t:
        return
    if tls13:
        n, p = _vec(buf, off, 1, end)
        t.add(REQ_CONTEXT_LEN, off, 1, n)
        _extensions(buf, p + n, end, t, Hello(False))
        return
    n, p = _vec(buf, off, 1, end)
    t.add(CERT_TYPES_COUNT, off, 1, n)
    for i in range(p, p + n):
        t.add(CERT_TYPE, i, 1, buf.data[i])
    p += n
    n, q = _vec(buf, p, 2, end)
    t.add(SIGALGS_LEN, p, 2, n)
    _u16_list(buf, q, q + n, t, SIGALG, [])
    p = q + n
    if p < end:
        n, q = _vec(buf, p, 2, end)
        t.add(DNAMES_LEN, p, 2, n)


def _ticket(buf: Buf, off: int, end: int, t: Tree, tls13: bool) -> None:
    if not t:
        return
    t.add(TICKET_LIFETIME, off, 4, struct.unpack_from("!I", _bytes(buf, off, 4, end))[0])
    p = off + 4
    if tls13:
        t.add(TICKET_AGE_ADD, p, 4, struct.unpack_from("!I", _bytes(buf, p, 4, end))[0])
        n, q = _vec(buf, p + 4, 1, end)
        t.add(TICKET_NONCE_LEN, p + 4, 1, n)
        p = q + n
    n, q = _vec(buf, p, 2, end)
    t.add(TICKET_LEN, p, 2, n)
    t.add(TICKET, q, n, bytes(buf.data[q:q + n]))
    if tls13:
        _extensions(buf, q + n, end, t, Hello(False))


def _handshake(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, conn: TlsConn | None,
               names: list[str]) -> None:
    """The handshake messages of one plaintext Handshake record."""
    p = off
    tls13 = conn is not None and conn.version == 0x0304
    while p + 4 <= end:
        mtype = buf.data[p]
        mlen = _u24(buf, p + 1, end)
        body = p + 4
        stop = min(body + mlen, end)
        name = N.HANDSHAKE_TYPES.get(mtype, f"Unknown ({mtype})")
        m = t.add(HANDSHAKE, p, stop - p, None, f"Handshake Protocol: {name}") if t else t
        m.add(HS_TYPE, p, 1, mtype)
        m.add(HS_LENGTH, p + 1, 3, mlen)
        if body + mlen > end:
            names.append(name)
            _note(m, pkt, FRAGMENT, p + 1, 3)
            return
        if mtype in (1, 2):
            h = hello(buf, body, stop, m, mtype == 1)
            if h.hrr:
                name = "Hello Retry Request"
                if t:
                    m.label = f"Handshake Protocol: {name}"
            _learn(conn, pkt, h)
            if h.client and t:
                labels = pkt.state.slot("tls_keylog", dict).get(h.random)
                if labels:
                    m.add(KEYLOG, body + 2, 32, ", ".join(labels), generated=True)
        elif mtype == 11:
            certificates(buf, body, stop, m, tls13)
        elif mtype == 12:
            _ske(buf, body, stop, m, conn.version if conn is not None else 0x0303)
        elif mtype == 13:
            _cert_request(buf, body, stop, m, tls13)
        elif mtype == 4:
            _ticket(buf, body, stop, m, tls13)
        elif mtype == 8:
            encrypted_extensions(buf, body, stop, m)
        elif mtype == 20 and t:
            m.add(VERIFY_DATA, body, mlen, bytes(buf.data[body:stop]))
        elif mtype == 16 and t and mlen:
            n = buf.data[body]
            if n + 1 == mlen:
                m.add(CKE_LEN, body, 1, n)
                m.add(CKE, body + 1, n, bytes(buf.data[body + 1:stop]))
        names.append(name)
        p = stop


def _learn(conn: TlsConn | None, pkt: Packet, h: Hello) -> None:
    """First pass: who the client is, the negotiated version and ALPN."""
    if conn is None or pkt.visited or pkt.tcp is None:
        return
    if h.client:
        if not conn.client_dir:
            conn.client_dir = pkt.tcp.direction
    elif conn.version_at == _NEVER or h.hrr:
        conn.version = h.negotiated
        conn.version_at = _pos(pkt)
        if h.alpn:
            conn.alpn = h.alpn[0]
        if not conn.client_dir:
            conn.client_dir = 3 - pkt.tcp.direction


def _note(t: Tree, pkt: Packet, spec: Any, pos: int, size: int) -> None:
    t.add_expert(spec, pos, size)
    pkt.note(spec)


# -- records ------------------------------------------------------------------------------------

def record_len(data: bytes, off: int, end: int) -> int | None:
    """The length of the record at `off` (header included), None while the header is
    incomplete; bytes that are no record are taken whole (shown as continuation)."""
    if end - off < 5:
        return None                    # tshark waits for a whole header, whatever it holds
    ct, major, minor = data[off], data[off + 1], data[off + 2]
    if 20 <= ct <= 25 and major == 3 and minor <= 4:
        n = data[off + 3] << 8 | data[off + 4]
        return 5 + n if n <= MAX_RECORD else end - off
    if ct & 0x80 and minor == 1 and data[off + 3] in (0, 3):     # an SSL 2.0 Client Hello
        return 2 + ((ct & 0x7F) << 8 | major)
    return end - off


def ssl2_record_len(data: bytes, off: int, end: int) -> int | None:
    """SSL 2.0 records: a two-byte header (high bit set) or a three-byte one (padded)."""
    if end - off < 3:
        return None
    if data[off] & 0x80:
        return 2 + ((data[off] & 0x7F) << 8 | data[off + 1])
    return 3 + ((data[off] & 0x3F) << 8 | data[off + 1])


def _tls_node(tree: Tree, off: int, end: int) -> Tree:
    """The 'Transport Layer Security' item records go under: one per data source, like
    one call of Wireshark's dissector per buffer."""
    if not tree:
        return tree
    kids = tree.children
    if kids and kids[-1].spec is PROTO and kids[-1].src == tree.src:
        node = kids[-1]
        node.size = max(node.pos + node.size, end) - node.pos
        return node
    return tree.add(PROTO, off, end - off, None)


def dissect_record(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """One TLS record (or bytes that are none), as a PDU from the reassembly."""
    if not pkt.layers or pkt.layers[-1] != "tls":
        pkt.enter("tls")
    idx = pkt.hints.get("tls_records", 0)
    st = pkt.state.slot("tls", TlsState)
    conn = st.conns.get(pkt.tcp.stream) if pkt.tcp is not None else None
    node = _tls_node(tree, off, end)
    data = buf.data
    avail = min(end, len(data))
    try:
        if avail - off >= 5 and 20 <= data[off] <= 25 and data[off + 1] == 3 \
                and data[off + 2] <= 4 and (data[off + 3] << 8 | data[off + 4]) <= MAX_RECORD:
            _v3_record(buf, off, end, node, pkt, conn)
        elif avail - off >= 3 and (data[off] & 0x80 or conn is not None and conn.ssl2) \
                and _ssl2_ok(data, off, avail, conn):
            _v2_record(buf, off, end, node, pkt, conn)
        else:
            _info(pkt, "Continuation Data", conn, 0)
            if node:
                node.add(CONTINUATION, off, avail - off, bytes(data[off:avail]),
                         f"Continuation Data ({end - off} bytes)")
    finally:
        pkt.hints["tls_records"] = idx + 1
    return None


def _ssl2_ok(data: bytes, off: int, avail: int, conn: TlsConn | None) -> bool:
    """An SSL 2.0 record: a v2 Client Hello, or any record of a connection that began so."""
    if conn is not None and conn.ssl2:
        return True
    return data[off + 2] == 1 and avail - off >= 5 and data[off + 3] in (0, 3)


def _info(pkt: Packet, text: str, conn: TlsConn | None, record_version: int) -> None:
    """Protocol column from the session's version (else the record's), Info appended."""
    version = record_version
    if conn is not None and conn.version and conn.version_at <= _pos(pkt):
        version = conn.version
    pkt.set_protocol(N.SHORT_VERSIONS.get(version, "TLS"))
    _append_info(pkt, text)


def _v3_record(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, conn: TlsConn | None) -> None:
    data = buf.data
    ct = data[off]
    version = data[off + 1] << 8 | data[off + 2]
    length = data[off + 3] << 8 | data[off + 4]
    body, stop = off + 5, min(off + 5 + length, end)
    pos = _pos(pkt)
    direction = pkt.tcp.direction if pkt.tcp is not None else 0
    session = conn.version if conn is not None and conn.version_at <= pos else 0
    shown = session or version
    vname = N.SHORT_VERSIONS.get(shown, "TLS")
    tls13 = session == 0x0304
    r = t.add(RECORD, off, stop - off, None, f"{vname} Record Layer") if t else t
    if tls13 and ct == 23:
        r.add(OPAQUE_TYPE, off, 1, ct)
    else:
        r.add(CONTENT_TYPE, off, 1, ct)
    r.add(RECORD_VERSION, off + 1, 2, version)
    r.add(RECORD_LENGTH, off + 3, 2, length)
    if stop < body + length:
        _need(buf, off, 5 + length, end)
    # After its ChangeCipherSpec a side's records are encrypted (TLS 1.3 sends CCS only
    # for middlebox compatibility and encrypts under the Application Data type instead).
    encrypted = conn is not None and direction and conn.ccs[direction] < pos and not tls13
    if ct == 20:
        if conn is not None and not pkt.visited and direction and conn.ccs[direction] == _NEVER:
            conn.ccs[direction] = pos
        r.add(CCS, body, length, None)
        _label(r, f"{vname} Record Layer: Change Cipher Spec Protocol: Change Cipher Spec")
        _info(pkt, "Change Cipher Spec", conn, version)
    elif ct == 21:
        if length == 2 and not encrypted:
            level, desc = data[body], data[body + 1]
            text = f"Alert (Level: {N.ALERT_LEVELS.get(level, f'Unknown ({level})')}, " \
                   f"Description: {N.ALERTS.get(desc, f'Unknown ({desc})')})"
            if t:
                a = r.add(ALERT, body, 2, None, "Alert Message")
                a.add(ALERT_LEVEL, body, 1, level)
                a.add(ALERT_DESC, body + 1, 1, desc)
            _label(r, f"{vname} Record Layer: {text}")
            _info(pkt, text, conn, version)
        else:
            r.add(ENCRYPTED_ALERT, body, length, bytes(data[body:stop]), "Alert Message: "
                  "Encrypted Alert")
            _label(r, f"{vname} Record Layer: Encrypted Alert")
            _info(pkt, "Encrypted Alert", conn, version)
    elif ct == 22:
        pkt.hints[HANDSHAKE_HINT] = True
        names: list[str] = []
        if encrypted or not plain_handshake(data, body, stop):
            r.add(ENCRYPTED_HS, body, length, bytes(data[body:stop]),
                  "Handshake Protocol: Encrypted Handshake Message")
            _label(r, f"{vname} Record Layer: Handshake Protocol: Encrypted Handshake Message")
            _info(pkt, "Encrypted Handshake Message", conn, version)
            return
        try:
            _handshake(buf, body, stop, r, pkt, conn, names)
        finally:
            session = conn.version if conn is not None and conn.version_at <= pos else 0
            shown = session or version
            vname = N.SHORT_VERSIONS.get(shown, "TLS")
            what = names[0] if len(names) == 1 else "Multiple Handshake Messages"
            _label(r, f"{N.SHORT_VERSIONS.get(version, 'TLS') if not session else vname} "
                      f"Record Layer: Handshake Protocol: {what}")
            if names:
                _info(pkt, ", ".join(names), conn, version)
    elif ct == 23:
        proto = _app_proto(conn, pkt)
        r.add(APP_DATA, body, length, bytes(data[body:stop]))
        if proto:
            r.add(APP_DATA_PROTO, body, 0, proto, generated=True)
        _label(r, f"{vname} Record Layer: Application Data Protocol: "
                  f"{proto or 'Application Data'}")
        _info(pkt, "Application Data", conn, version)
    else:
        _label(r, f"{vname} Record Layer: {N.CONTENT_TYPES.get(ct, 'Unknown')}")
        _info(pkt, N.CONTENT_TYPES.get(ct, "Unknown"), conn, version)


def _label(r: Tree, text: str) -> None:
    if r:
        r.label = text


def plain_handshake(data: bytes, body: int, stop: int) -> bool:
    """An unencrypted handshake record starts with a known type whose length fits."""
    if stop - body < 4 or data[body] not in N.HANDSHAKE_TYPES:
        return False
    mlen = data[body + 1] << 16 | data[body + 2] << 8 | data[body + 3]
    return body + 4 + mlen <= stop


def _app_proto(conn: TlsConn | None, pkt: Packet) -> str:
    if conn is not None and conn.alpn:
        return APP_PROTOCOLS.get(conn.alpn, "")
    return PORT_APP_PROTOCOLS.get(pkt.srcport if pkt.srcport in PORT_APP_PROTOCOLS
                                  else pkt.dstport, "")


_SSL2_TYPES = {1: "Client Hello", 2: "Client Master Key", 3: "Client Finished",
               4: "Server Hello", 5: "Server Verify", 6: "Server Finished",
               7: "Request Certificate", 8: "Client Certificate"}


def _v2_record(buf: Buf, off: int, end: int, t: Tree, pkt: Packet, conn: TlsConn | None) -> None:
    """An SSL 2.0 record: handshake messages in clear until the client's master key,
    everything after it encrypted."""
    pkt.hints[HANDSHAKE_HINT] = True
    data = buf.data
    if data[off] & 0x80:          # two-byte header
        length, body = (data[off] & 0x7F) << 8 | data[off + 1], off + 2
    else:                          # three-byte header (padded record)
        length, body = (data[off] & 0x3F) << 8 | data[off + 1], off + 3
    mtype = data[body]
    pos = _pos(pkt)
    encrypted = conn is not None and conn.client_dir and conn.ccs[conn.client_dir] < pos
    r = t.add(RECORD, off, min(end, len(data)) - off, None, "SSLv2 Record Layer") if t else t
    r.add(RECORD_VERSION, off, 0, 0x0002, generated=True)
    if encrypted or mtype not in _SSL2_TYPES:
        r.add(SSL2_LEN, off, body - off, length)
        _label(r, "SSLv2 Record Layer: Encrypted Data")
        _set_v2(pkt, "Encrypted Data")
        return
    r.add(RECORD_LENGTH, off, body - off, length)      # tshark's name for a clear message
    name = _SSL2_TYPES[mtype]
    _label(r, f"SSLv2 Record Layer: {name}")
    r.add(HS_TYPE, body, 1, mtype)
    if mtype in (1, 4):
        vpos = body + 1 if mtype == 1 else body + 3
        r.add(HS_VERSION, vpos, 2, _u16(buf, vpos, end))
    if conn is not None and not pkt.visited and pkt.tcp is not None:
        if mtype == 1 and not conn.client_dir:
            conn.client_dir = pkt.tcp.direction
            conn.ssl2 = True
        elif mtype == 4 and conn.version_at == _NEVER:
            conn.version, conn.version_at = 0x0002, pos
        elif mtype == 2 and conn.client_dir:
            conn.ccs[conn.client_dir] = pos
    _set_v2(pkt, name)


def _set_v2(pkt: Packet, text: str) -> None:
    pkt.set_protocol("SSLv2")
    _append_info(pkt, text)


def _append_info(pkt: Packet, text: str) -> None:
    """The first record's text replaces TCP's Info, later ones follow after ", " (and so
    does the first after tshark's TCP analysis prefixes: Wireshark's fenced column)."""
    if pkt.hints.get("tls_records", 0) == 0 and not pkt.hints.get("tls_info"):
        pkt.set_info(text)
        pkt.hints["tls_info"] = True
        pkt.hints["info_sep"] = ", "
    else:
        pkt.append_info(text, ", ")


# -- entry points -------------------------------------------------------------------------------

def _conn(pkt: Packet) -> TlsConn | None:
    """This frame's TLS connection, created on the first pass when TLS is first seen."""
    if pkt.tcp is None or pkt.tcp.stream < 0:
        return None
    st = pkt.state.slot("tls", TlsState)
    c = st.conns.get(pkt.tcp.stream)
    if c is None and not pkt.visited:
        c = st.conns[pkt.tcp.stream] = TlsConn(pkt.number)
    return c


def dissect_tls(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """TLS on a TCP payload: records reassembled across segments."""
    conn = _conn(pkt)
    dissect_pdus(buf, off, end, tree, pkt,
                 pdu_len=ssl2_record_len if conn is not None and conn.ssl2 else record_len,
                 dissect_pdu=dissect_record)
    start = pkt.hints.pop("pdu_start", None)
    if start is not None and tree and not any(n.spec is PROTO for n in tree.children or ()):
        # Wireshark's TLS dissector adds its layer before it asks TCP for more bytes: an
        # empty "Transport Layer Security" on a frame where a record starts, unless the
        # frame already shows records.
        tree.add(PROTO, start[0], start[1] - start[0], None, PROTO.name)
    return None


def looks_like_hello(data: bytes, off: int, end: int) -> bool:
    """The heuristic: a Handshake record (SSL 3.0 to TLS 1.3) whose first message is a
    Client or Server Hello, with a record length TLS allows."""
    if end - off < 6:
        return False
    return data[off] == 22 and data[off + 1] == 3 and data[off + 2] <= 4 and \
        (data[off + 3] << 8 | data[off + 4]) <= MAX_RECORD and data[off + 5] in (1, 2)


def heuristic_tls(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> bool:
    """TLS on any port: a connection already known as TLS, or a first Hello."""
    if pkt.tcp is None or pkt.tcp.stream < 0:
        return False
    st = pkt.state.slot("tls", TlsState)
    c = st.conns.get(pkt.tcp.stream)
    if c is not None and c.first <= pkt.number:
        dissect_tls(buf, off, end, tree, pkt)
        return True
    if pkt.visited or not looks_like_hello(buf.data, off, min(end, len(buf.data))):
        return False
    dissect_tls(buf, off, end, tree, pkt)
    return True


for _port in PORTS:
    TCP_PORT.register(_port, dissect_tls)
TCP_HEUR.register("tls", heuristic_tls)

__all__ = [
    "HRR_RANDOM",
    "Hello",
    "TlsConn",
    "TlsState",
    "certificates",
    "dissect_record",
    "dissect_tls",
    "encrypted_extensions",
    "hello",
    "looks_like_hello",
    "plain_handshake",
    "record_len",
    "ssl2_record_len",
]
