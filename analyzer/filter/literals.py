"""Literal values converted to the type of the field they are compared with, as Wireshark does.

A bare word means different things next to different fields: `10.0.0.0/8` is a network for
`ip.addr`, `00:1b:21` three bytes for a slice, `TCP` the value-string name of 6 for `ip.proto`.
Each converter raises ValueError with the message the user sees.
"""
from __future__ import annotations

import calendar
import ipaddress
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# Value families: how values of a field type are held and compared.
INT, BOOL, FLOAT, RELTIME, ABSTIME, STR, BYTES, ETHER, IPV4, IPV6, PROTO, NONE = (
    "int", "bool", "float", "reltime", "abstime", "str", "bytes", "ether", "ipv4", "ipv6",
    "proto", "none")
NUMERIC = frozenset({INT, BOOL, FLOAT})
BYTES_LIKE = frozenset({BYTES, ETHER, IPV4, IPV6, PROTO})
SLICEABLE = BYTES_LIKE | {STR}


@dataclass(frozen=True)
class Net:
    """An address literal with a prefix length: `==` is membership of the network."""

    addr: bytes
    bits: int

    def contains(self, value: bytes) -> bool:
        if len(value) != len(self.addr):
            return False
        full, rest = divmod(self.bits, 8)
        if value[:full] != self.addr[:full]:
            return False
        if rest:
            mask = (0xFF << (8 - rest)) & 0xFF
            return value[full] & mask == self.addr[full] & mask
        return True


def parse_int(text: str) -> int:
    """Decimal, 0x hex, 0b binary or leading-zero octal, with an optional sign."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    body = s.lstrip("+-")
    low = body.lower()
    try:
        if low.startswith("0x"):
            return sign * int(low, 0)
        if low.startswith("0b"):
            return sign * int(low, 0)
        if len(low) > 1 and low.startswith("0"):
            return sign * int(low[1:], 8)
        if low.isdigit():
            return sign * int(low, 10)
    except ValueError:
        pass
    raise ValueError(f'"{text}" is not a valid number')


def to_int(text: str, strings: Mapping[int, str] | None, field: str) -> int:
    try:
        return parse_int(text)
    except ValueError:
        if strings:
            want = text.lower()
            for k, v in strings.items():
                if v.lower() == want:
                    return k
            raise ValueError(f'"{text}" cannot be found among the possible values for '
                             f'{field}') from None
        raise


_BOOL_WORDS = {"True": 1, "TRUE": 1, "False": 0, "FALSE": 0}


def to_bool(text: str, field: str) -> int:
    if text in _BOOL_WORDS:
        return _BOOL_WORDS[text]
    try:
        return 1 if parse_int(text) else 0
    except ValueError:
        raise ValueError(f'"{text}" cannot be found among the possible values for '
                         f'{field}') from None


def to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a valid floating point number') from None


def to_reltime(text: str) -> int:
    """Seconds (with a fraction) as integer nanoseconds, exactly; no exponent (as tshark)."""
    if "e" in text.lower():
        raise ValueError(f'"{text}" is not a valid time')
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f'"{text}" is not a valid time offset') from None
    if not d.is_finite():
        raise ValueError(f'"{text}" is not a valid time offset')
    return int(d * 1_000_000_000)


_ABS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%b %d, %Y %H:%M:%S", "%Y-%m-%d")
_FRACTION = re.compile(r"^(.*?)(\.\d{1,9})?(\s*(?:UTC|Z))?$")


def to_abstime(text: str) -> int:
    """A date and time as epoch nanoseconds: local time unless it ends in UTC or Z."""
    m = _FRACTION.match(text.strip())
    if m is None:
        raise ValueError(f'"{text}" is not a valid absolute time')
    body, frac, utc = m.group(1), m.group(2) or "", m.group(3)
    body = re.sub(r"\s+", " ", body.strip())
    for fmt in _ABS_FORMATS:
        try:
            tm = time.strptime(body, fmt)
        except ValueError:
            continue
        sec = calendar.timegm(tm) if utc else int(time.mktime(tm))
        ns = int(frac[1:].ljust(9, "0")) if frac else 0
        return sec * 1_000_000_000 + ns
    raise ValueError(f'"{text}" is not a valid absolute time. Example: '
                     '"Nov 12, 1999 08:55:44.123" or "2011-07-04 12:34:56"')


_SEP = re.compile(r"[:.\-]")


def to_bytes(text: str) -> bytes:
    """`aa:bb:cc`, `aa-bb-cc`, `aa.bb.cc`, `aabbcc` or a single byte `a`/`aa`."""
    if _SEP.search(text):
        parts = _SEP.split(text)
        if all(1 <= len(p) <= 2 and _is_hex(p) for p in parts):
            return bytes(int(p, 16) for p in parts)
        if all(len(p) == 4 and _is_hex(p) for p in parts):   # Cisco dotted form aabb.ccdd
            return bytes.fromhex("".join(parts))
    elif _is_hex(text) and (len(text) <= 2 or len(text) % 2 == 0):
        return bytes.fromhex(text.zfill(2) if len(text) <= 2 else text)
    else:
        try:
            v = parse_int(text)     # one byte as a number: 0xff, 0377
        except ValueError:
            v = -1
        if 0 <= v <= 255:
            return bytes([v])
    raise ValueError(f'"{text}" is not a valid byte string')


def _is_hex(s: str) -> bool:
    return bool(s) and all(c in "0123456789abcdefABCDEF" for c in s)


def to_ether(text: str) -> bytes:
    try:
        b = to_bytes(text)
    except ValueError:
        b = b""
    if len(b) != 6:
        raise ValueError(f'"{text}" is not a valid Ethernet address')
    return b


def to_ipv4(text: str) -> bytes | Net:
    addr, slash, bits = text.partition("/")
    try:
        a = ipaddress.IPv4Address(addr).packed
    except ValueError:
        raise ValueError(f'"{addr}" is not a valid hostname or IPv4 address') from None
    if not slash:
        return a
    if not bits.isdigit() or int(bits) > 32:
        raise ValueError(f"Netmask bits in a CIDR IPv4 address should be <= 32, not {bits}")
    return Net(a, int(bits))


def to_ipv6(text: str) -> bytes | Net:
    addr, slash, bits = text.partition("/")
    try:
        a = ipaddress.IPv6Address(addr).packed
    except ValueError:
        raise ValueError(f'"{addr}" is not a valid hostname or IPv6 address') from None
    if not slash:
        return a
    if not bits.isdigit() or int(bits) > 128:
        raise ValueError(f"Prefix in a IPv6 address should be <= 128, not {bits}")
    return Net(a, int(bits))


# family -> converter of a bare word (field name for messages, value strings)
WordConverter = Callable[[str, str, "Mapping[int, str] | None"], Any]
WORD: dict[str, WordConverter] = {
    INT: lambda t, f, s: to_int(t, s, f),
    BOOL: lambda t, f, s: to_bool(t, f),
    FLOAT: lambda t, f, s: to_float(t),
    RELTIME: lambda t, f, s: to_reltime(t),
    ABSTIME: lambda t, f, s: to_abstime(t),
    STR: lambda t, f, s: t,
    BYTES: lambda t, f, s: to_bytes(t),
    PROTO: lambda t, f, s: to_bytes(t),
    ETHER: lambda t, f, s: to_ether(t),
    IPV4: lambda t, f, s: to_ipv4(t),
    IPV6: lambda t, f, s: to_ipv6(t),
}


def from_string(family: str, value: str, field: str,
                strings: Mapping[int, str] | None) -> Any:
    """A quoted string next to a field of `family`."""
    if family == STR:
        return value
    if family in (BYTES, PROTO):
        return value.encode("utf-8", "surrogateescape")
    if family == ABSTIME:
        return to_abstime(value)
    if family == INT and strings:
        return to_int(value, strings, field)
    if family in (ETHER, IPV4, IPV6):
        return WORD[family](value, field, strings)
    kinds = {RELTIME: "Time offset", INT: "Integer", BOOL: "Boolean", FLOAT: "Number"}
    raise ValueError(f'{kinds.get(family, field)} cannot be converted from a string '
                     f'("{value}")')


def from_char(family: str, value: int, field: str) -> Any:
    """A character constant 'c' next to a field of `family`."""
    if family in (INT, FLOAT):
        return value
    if family == BOOL:
        return 1 if value else 0
    if family in (BYTES, PROTO):
        return bytes([value & 0xFF])
    if family == STR:
        return chr(value)
    raise ValueError(f"a character constant cannot be compared with {field}")
