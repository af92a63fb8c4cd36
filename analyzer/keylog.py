"""TLS key logs (NSS format, SSLKEYLOGFILE) from a file or a pcapng Decryption Secrets Block.

Why keep them: a key log is what lets Wireshark (and later wirelens) decrypt a capture; the
TLS analysis attaches the secrets to the session whose ClientHello random they name, so the
session record says which connections are decryptable. Decryption itself is a later issue.

Format (one secret a line, `#` comments): `LABEL <client_random hex> <secret hex>`, e.g.
`CLIENT_RANDOM` (TLS 1.2 master secret) or `SERVER_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
Lines that do not parse are counted and skipped, never fatal: key logs are often
concatenated from several programs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DSB_TLS_KEY_LOG = 0x544C534B      # pcapng Decryption Secrets Block type "TLSK"
MAX_BYTES = 64 << 20              # a key log larger than this is not read
_LINE = re.compile(rb"([A-Z0-9_]{1,64}) ([0-9a-fA-F]{16,128}) ([0-9a-fA-F]{2,256})")
LABELS = frozenset({
    "CLIENT_RANDOM", "RSA", "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
    "EARLY_EXPORTER_SECRET", "EXPORTER_SECRET"})


@dataclass
class KeyLog:
    """Secrets by client random (32 bytes): {label: secret}. `skipped` counts bad lines."""

    secrets: dict[bytes, dict[str, bytes]] = field(default_factory=dict)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.secrets)

    def for_random(self, client_random: bytes) -> dict[str, bytes]:
        """The secrets of the session whose ClientHello carried this random."""
        return self.secrets.get(bytes(client_random), {})

    def add_text(self, data: bytes) -> None:
        """Add the lines of an NSS key log."""
        for raw in data[:MAX_BYTES].splitlines():
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            m = _LINE.fullmatch(line)
            if m is None or m.group(1).decode() not in LABELS:
                self.skipped += 1
                continue
            label, rnd, secret = m.group(1).decode(), bytes.fromhex(m.group(2).decode()), \
                bytes.fromhex(m.group(3).decode())
            if label == "RSA":                    # keyed by encrypted premaster, not random
                self.skipped += 1
                continue
            self.secrets.setdefault(rnd, {})[label] = secret

    def merge(self, other: KeyLog) -> None:
        for rnd, labels in other.secrets.items():
            self.secrets.setdefault(rnd, {}).update(labels)
        self.skipped += other.skipped


def load(path: str | Path) -> KeyLog:
    """Read a key log file; raises OSError when it cannot be read."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    kl = KeyLog()
    kl.add_text(data)
    return kl


def from_secrets(secrets: list[tuple[int, bytes]]) -> KeyLog:
    """The TLS key logs a pcapng carried in Decryption Secrets Blocks."""
    kl = KeyLog()
    for stype, data in secrets:
        if stype == DSB_TLS_KEY_LOG:
            kl.add_text(bytes(data))
    return kl


def labels_by_random(kl: KeyLog) -> dict[bytes, tuple[str, ...]]:
    """What the dissector may know (client random -> labels), without the secrets."""
    return {rnd: tuple(sorted(v)) for rnd, v in kl.secrets.items()}


__all__ = ["DSB_TLS_KEY_LOG", "KeyLog", "from_secrets", "labels_by_random", "load"]
