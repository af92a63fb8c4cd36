"""X.509 certificates from a TLS Certificate message, read with `cryptography`.

Why a library: DER parsing of certificates is exactly what `cryptography.x509` does well;
TLS only needs a summary of each certificate (who it names, who signed it, when it is valid,
its key and signature) to explain a rejected handshake. Every string from the certificate
goes through analyzer-independent sanitising before it is shown (see `_clean`), and a
certificate `cryptography` cannot parse gives None, never an exception.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # cryptography itself is imported on the first certificate: start-up time
    from cryptography import x509

MAX_CERT = 1 << 16     # a certificate larger than 64 kB is not parsed (still shown as bytes)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _clean(s: str) -> str:
    """Control characters made visible: certificate strings are attacker-chosen."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", s)


@dataclass(frozen=True)
class CertSummary:
    """What a backend engineer needs from one certificate."""

    subject: str
    issuer: str
    common_name: str
    sans: tuple[str, ...]          # DNS names and IP addresses, as text
    not_before: int                # seconds since the epoch
    not_after: int
    key_type: str                  # RSA, EC, Ed25519, Ed448, DSA, unknown
    key_bits: int
    signature_algorithm: str
    self_signed: bool

    def valid_at(self, ts: int) -> bool:
        return self.not_before <= ts <= self.not_after

    def names(self) -> tuple[str, ...]:
        """The names the certificate is valid for: SANs, else the subject CN (RFC 6125)."""
        return self.sans if self.sans else ((self.common_name,) if self.common_name else ())


def _epoch(t: _dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return int(t.timestamp())


def _key(cert: x509.Certificate) -> tuple[str, int]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    try:
        k = cert.public_key()
    except Exception:   # noqa: BLE001 - unsupported or corrupt keys are only "unknown"
        return "unknown", 0
    if isinstance(k, rsa.RSAPublicKey):
        return "RSA", k.key_size
    if isinstance(k, ec.EllipticCurvePublicKey):
        return "EC", k.curve.key_size
    if isinstance(k, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(k, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(k, dsa.DSAPublicKey):
        return "DSA", k.key_size
    return "unknown", 0


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names = [_clean(n) for n in ext.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return tuple(names[:256])


def summarize(der: bytes) -> CertSummary | None:
    """The summary of one DER certificate, or None when it cannot be parsed."""
    if len(der) > MAX_CERT:
        return None
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    try:
        cert = x509.load_der_x509_certificate(der)
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = _clean(str(cns[0].value)) if cns else ""
        key_type, bits = _key(cert)
        try:
            sig = cert.signature_algorithm_oid._name
        except Exception:   # noqa: BLE001
            sig = "unknown"
        try:
            sans = _sans(cert)
        except Exception:   # noqa: BLE001 - a malformed extension leaves the SANs unknown
            sans = ()
        return CertSummary(
            subject=_clean(cert.subject.rfc4514_string()), issuer=_clean(cert.issuer.rfc4514_string()),
            common_name=cn, sans=sans,
            not_before=_epoch(cert.not_valid_before_utc), not_after=_epoch(cert.not_valid_after_utc),
            key_type=key_type, key_bits=bits, signature_algorithm=_clean(str(sig)),
            self_signed=cert.subject == cert.issuer)
    except Exception:   # noqa: BLE001 - cryptography raises several types on hostile DER
        return None


def name_matches(host: str, names: tuple[str, ...]) -> bool:
    """RFC 6125 host name check: exact (case-insensitive) or one left-most wildcard label."""
    host = host.rstrip(".").lower()
    for n in names:
        n = n.rstrip(".").lower()
        if n == host:
            return True
        if n.startswith("*.") and "." in host and host.split(".", 1)[1] == n[2:] \
                and host.split(".", 1)[0]:
            return True
    return False


__all__ = ["MAX_CERT", "CertSummary", "name_matches", "summarize"]
