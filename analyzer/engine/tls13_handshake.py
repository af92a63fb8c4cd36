"""The server's encrypted TLS 1.3 handshake, read with a key log's handshake secret.

Why: in TLS 1.3 the certificate, the chosen ALPN and the server's Finished travel encrypted
(EncryptedExtensions, Certificate, CertificateVerify, Finished under the server handshake
traffic key). Without them a rejected certificate cannot be explained (expired? wrong
name?). With the session's SERVER_HANDSHAKE_TRAFFIC_SECRET from a key log this module opens
exactly those records and nothing else; decrypting application data is a later issue.

RFC 8446 §7.1-7.3 and §5.2: key and IV come from the secret by HKDF-Expand-Label with the
suite's hash; each record's nonce is the IV XOR its sequence number (0 for the first record
under the key); the additional data is the record header; the plaintext ends with its real
content type followed by zero padding. `cryptography` does the HKDF and the AEAD.
"""
from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# cipher suite -> (AEAD class, key length, hash)
SUITES = {0x1301: (AESGCM, 16, hashes.SHA256), 0x1302: (AESGCM, 32, hashes.SHA384),
          0x1303: (ChaCha20Poly1305, 32, hashes.SHA256), 0x1304: (AESCCM, 16, hashes.SHA256)}
MAX_RECORDS = 16          # the server's first flight fits in a few records


def expand_label(secret: bytes, label: bytes, length: int, hash_cls: type) -> bytes:
    """HKDF-Expand-Label(secret, label, "", length) (RFC 8446 §7.1)."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hash_cls(), length, info).derive(secret)


def decrypt_handshake(suite: int, secret: bytes, records: list[tuple[bytes, bytes]]) -> bytes:
    """The plaintext handshake bytes of the first records (header, body) under the handshake
    key, in order; stops at the first record that is not a handshake or does not decrypt."""
    spec = SUITES.get(suite)
    if spec is None or len(secret) not in (32, 48):
        return b""
    aead_cls, key_len, hash_cls = spec
    try:
        key = expand_label(secret, b"key", key_len, hash_cls)
        iv = expand_label(secret, b"iv", 12, hash_cls)
    except ValueError:
        return b""
    aead = aead_cls(key)
    out = bytearray()
    for seq, (header, body) in enumerate(records[:MAX_RECORDS]):
        nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
        try:
            plain = aead.decrypt(nonce, body, header)
        except (InvalidTag, ValueError):
            break
        plain = plain.rstrip(b"\x00")
        if not plain or plain[-1] != 22:
            break
        out += plain[:-1]
    return bytes(out)


__all__ = ["SUITES", "decrypt_handshake", "expand_label"]
