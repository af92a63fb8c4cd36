"""Make strings from packets safe for a terminal or a log.

Every string a packet carries is hostile: an escape sequence in a DNS name or an HTTP header
could move the cursor, recolour the screen or retitle the window. Control characters
(C0, DEL, C1) are replaced by visible escapes, so nothing from the wire is ever interpreted.
"""
from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def safe(s: str) -> str:
    """One line with every control character (including tab and newline) made visible."""
    if s.isprintable():
        return s
    return _CONTROL_ALL.sub(_escape, s)


def safe_block(s: str) -> str:
    """Like safe() but keeps tabs and newlines (for multi-line text such as follow-stream)."""
    return _CONTROL.sub(_escape, s)
