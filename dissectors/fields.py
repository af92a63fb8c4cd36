"""The field registry: every field and expert item is declared once, with Wireshark's name.

The model is Wireshark's `hf_register_info`: a filter name (`abbrev`), a display name,
a type, a display base, an optional bitmask and value strings, a blurb, and — beyond
Wireshark — an `explain` text saying what the field means for a backend engineer.
The registry feeds the details tree, hex highlighting, filter validation and completion,
the field reference, and `read -T fields -e`.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Mapping


class FT(IntEnum):
    """Field types, after Wireshark's ftenum (only the ones we use)."""

    NONE = 0        # presence only (labels, analysis flags)
    PROTOCOL = 1    # a protocol layer
    BOOLEAN = 2
    UINT8 = 3
    UINT16 = 4
    UINT24 = 5
    UINT32 = 6
    UINT64 = 7
    INT32 = 8
    INT64 = 9
    DOUBLE = 10
    ABSOLUTE_TIME = 11
    RELATIVE_TIME = 12
    STRING = 13
    BYTES = 14
    ETHER = 15
    IPv4 = 16
    IPv6 = 17
    FRAMENUM = 18


UINT_WIDTH = {FT.UINT8: 2, FT.UINT16: 4, FT.UINT24: 6, FT.UINT32: 8, FT.UINT64: 16,
              FT.INT32: 8, FT.INT64: 16}
INTEGER_TYPES = frozenset(UINT_WIDTH) | {FT.FRAMENUM}


class Base(IntEnum):
    NONE = 0
    DEC = 1
    HEX = 2
    DEC_HEX = 3
    HEX_DEC = 4
    OCT = 5


class Severity(IntEnum):
    """Expert severities, ordered like Wireshark's (chat < note < warn < error)."""

    CHAT = 1
    NOTE = 2
    WARN = 3
    ERROR = 4


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One registered field (Wireshark: header_field_info)."""

    abbrev: str
    name: str
    ftype: FT
    base: Base = Base.NONE
    bitmask: int = 0
    strings: Mapping[int, str] | None = None
    blurb: str = ""
    explain: str = ""
    # true/false labels for booleans ("Set"/"Not set" by default)
    tfs: tuple[str, str] = ("Set", "Not set")

    @property
    def shift(self) -> int:
        m = self.bitmask
        return (m & -m).bit_length() - 1 if m else 0

    @property
    def protocol(self) -> str:
        return self.abbrev.split(".", 1)[0]

    def value_str(self, value: Any) -> str:
        """The value as the details tree shows it after the colon."""
        return display_value(self, value)


@dataclass(frozen=True, eq=False)
class ExpertSpec:
    """One registered expert item or finding (Wireshark: ei_register_info).

    Findings are filterable by `abbrev`, like `tcp.analysis.retransmission`.
    """

    abbrev: str
    group: str
    severity: Severity
    summary: str
    explain: str = ""
    remedy: str = ""
    responsible: str = "unknown"   # client, server, path, unknown


REGISTRY: dict[str, FieldSpec] = {}
EXPERTS: dict[str, ExpertSpec] = {}


def field(abbrev: str, name: str, ftype: FT, base: Base = Base.NONE, *, bitmask: int = 0,
          strings: Mapping[int, str] | None = None, blurb: str = "", explain: str = "",
          tfs: tuple[str, str] = ("Set", "Not set")) -> FieldSpec:
    """Register a field once at module import; re-registering a name is a programming error."""
    if abbrev in REGISTRY:
        raise ValueError(f"field {abbrev!r} registered twice")
    if ftype in INTEGER_TYPES and base == Base.NONE:
        base = Base.DEC
    spec = FieldSpec(abbrev, name, ftype, base, bitmask, strings, blurb, explain, tfs)
    REGISTRY[abbrev] = spec
    return spec


def protocol(abbrev: str, name: str, *, explain: str = "") -> FieldSpec:
    """Register a protocol (an FT_PROTOCOL field whose filter name is the bare abbrev)."""
    return field(abbrev, name, FT.PROTOCOL, explain=explain)


def expert(abbrev: str, group: str, severity: Severity, summary: str, *, explain: str = "",
           remedy: str = "", responsible: str = "unknown") -> ExpertSpec:
    """Register an expert item; it is also a presence field so filters can name it."""
    if abbrev in EXPERTS:
        raise ValueError(f"expert {abbrev!r} registered twice")
    spec = ExpertSpec(abbrev, group, severity, summary, explain, remedy, responsible)
    EXPERTS[abbrev] = spec
    if abbrev not in REGISTRY:
        field(abbrev, summary, FT.NONE, blurb=summary, explain=explain)
    return spec


SEVERITY_NAMES = {Severity.CHAT: "Chat", Severity.NOTE: "Note", Severity.WARN: "Warning",
                  Severity.ERROR: "Error"}
# Wireshark's numeric codes (PI_CHAT..., PI_SEQUENCE...), which tshark prints for these fields.
SEVERITY_CODES = {Severity.CHAT: 0x00200000, Severity.NOTE: 0x00400000,
                  Severity.WARN: 0x00600000, Severity.ERROR: 0x00800000}
GROUP_CODES = {"checksum": 0x01000000, "sequence": 0x02000000, "response": 0x03000000,
               "request": 0x04000000, "undecoded": 0x05000000, "reassemble": 0x06000000,
               "malformed": 0x07000000, "debug": 0x08000000, "protocol": 0x09000000,
               "security": 0x0A000000, "comment": 0x0B000000, "decryption": 0x0C000000,
               "assumption": 0x0D000000, "deprecated": 0x0E000000}
# Wireshark's expert sub-items, shown under every expert item and filterable.
EXPERT_MESSAGE = field("_ws.expert.message", "Message", FT.STRING)
EXPERT_SEVERITY = field("_ws.expert.severity", "Severity level", FT.UINT32,
                        strings={SEVERITY_CODES[k]: v for k, v in SEVERITY_NAMES.items()})
EXPERT_GROUP = field("_ws.expert.group", "Group", FT.UINT32,
                     strings={v: k.capitalize() for k, v in GROUP_CODES.items()})


# ---------------------------------------------------------------------------------------
# Value formatting
# ---------------------------------------------------------------------------------------

def ether_str(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def ipv4_str(v: int | bytes) -> str:
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"
    return f"{v >> 24 & 255}.{v >> 16 & 255}.{v >> 8 & 255}.{v & 255}"


def ipv6_str(b: bytes) -> str:
    return str(ipaddress.IPv6Address(bytes(b)))


def time_abs_str(ts: float | tuple[int, int]) -> str:
    """tshark's FT_ABSOLUTE_TIME: 'Mar  7, 2013 21:42:06.869344000 UTC'."""
    import time as _time
    sec, nsec = _split_ts(ts)
    t = _time.gmtime(sec)
    return f"{_time.strftime('%b', t)} {t.tm_mday:2d}, {t.tm_year} " \
           f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{nsec:09d} UTC"


def _split_ts(ts: float | tuple[int, int]) -> tuple[int, int]:
    if isinstance(ts, tuple):
        return ts
    sec = int(ts // 1)
    return sec, int(round((ts - sec) * 1e9))


def nsec_str(ns: int) -> str:
    """Seconds with 9 decimals from integer nanoseconds, exactly as tshark prints times."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def _int_fields_str(spec: FieldSpec, v: int) -> str:
    base = spec.base
    if base in (Base.HEX, Base.HEX_DEC):
        width = UINT_WIDTH.get(spec.ftype, 0)
        return f"0x{v:0{width}x}"
    if base == Base.OCT:
        return f"0{v:o}"
    return str(v)


def fields_value(spec: FieldSpec, value: Any) -> str:
    """One value formatted the way `tshark -T fields` prints it (tshark 4.0 conventions)."""
    ft = spec.ftype
    if ft in INTEGER_TYPES:
        return _int_fields_str(spec, value)
    if ft == FT.BOOLEAN:
        return "1" if value else "0"
    if ft == FT.NONE:
        # Presence-only items print their bytes in hex, or 1 when they cover no bytes.
        return value.hex() if isinstance(value, (bytes, bytearray)) and value else "1"
    if ft == FT.BYTES:
        return bytes(value).hex()
    if ft == FT.ETHER:
        return ether_str(value)
    if ft == FT.IPv4:
        return ipv4_str(value)
    if ft == FT.IPv6:
        return ipv6_str(value)
    if ft == FT.ABSOLUTE_TIME:
        return time_abs_str(value)
    if ft == FT.RELATIVE_TIME:
        return nsec_str(value) if isinstance(value, int) else f"{value:.9f}"
    if ft == FT.DOUBLE:
        return f"{float(value):.15g}"   # tshark prints doubles with DBL_DIG digits
    if ft == FT.STRING:
        return str(value)
    if ft == FT.PROTOCOL:
        return str(value) if value is not None else ""
    return str(value)


def display_value(spec: FieldSpec, value: Any) -> str:
    """The value as the details tree shows it (names from value strings, hex with decimal)."""
    ft = spec.ftype
    if ft == FT.BOOLEAN:
        return spec.tfs[0] if value else spec.tfs[1]
    if ft in INTEGER_TYPES:
        if spec.base == Base.HEX:
            raw = _int_fields_str(spec, value)
        elif spec.base == Base.DEC_HEX:
            raw = f"{value} (0x{value:0{UINT_WIDTH.get(spec.ftype, 0)}x})"
        elif spec.base == Base.HEX_DEC:
            raw = f"{_int_fields_str(spec, value)} ({value})"
        else:
            raw = str(value)
        if spec.strings is not None:
            name = spec.strings.get(value)
            return f"{name} ({raw})" if name is not None else f"Unknown ({raw})"
        return raw
    if ft == FT.BYTES:
        b = bytes(value)
        return b.hex() if len(b) <= 36 else b[:36].hex() + "…"
    if ft == FT.RELATIVE_TIME:
        return fields_value(spec, value) + " seconds"
    if ft == FT.NONE:
        return ""
    return fields_value(spec, value)



def bitfield_str(spec: FieldSpec, raw: int, width_bits: int) -> str:
    """Wireshark's bit picture for a masked field: '.... ..1. = Syn: Set'."""
    bits = []
    for i in range(width_bits - 1, -1, -1):
        bits.append(("1" if raw >> i & 1 else "0") if spec.bitmask >> i & 1 else ".")
        if i % 4 == 0 and i:
            bits.append(" ")
    return "".join(bits)


__all__ = ["FT", "Base", "Severity", "FieldSpec", "ExpertSpec", "REGISTRY", "EXPERTS", "field",
           "protocol", "expert", "fields_value", "display_value", "ether_str",
           "ipv4_str", "ipv6_str", "nsec_str", "time_abs_str", "bitfield_str"]
