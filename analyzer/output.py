"""tshark's output formats for one dissected frame: `-T fields`, `-V`, `-x` and `-T json`.

Values are formatted by the field registry (`fields_value`), so a field prints the same
wherever it appears; every string is made terminal-safe before it leaves.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from dissectors.fields import FT, REGISTRY, fields_value
from dissectors.packet import Packet
from dissectors.tree import Node

from . import columns
from .textsafe import safe

COLUMN_PREFIX = "_ws.col."


class UsageError(Exception):
    """A command-line mistake: one line for the user, exit status 2."""


def check_fields(names: Iterable[str]) -> None:
    """Reject unknown field names with a 'did you mean' from the registry."""
    for name in names:
        if name not in REGISTRY:
            close = difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=0.7)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UsageError(f"unknown field '{name}'{hint}")


@dataclass
class FieldsFormat:
    """tshark's -E options."""

    header: bool = False
    separator: str = "\t"
    occurrence: str = "a"      # f, l or a
    aggregator: str = ","
    quote: str = ""            # '"', "'" or ''

    @classmethod
    def parse(cls, opts: list[str]) -> "FieldsFormat":
        fmt = cls()
        for opt in opts:
            key, _, val = opt.partition("=")
            if key == "header":
                if val not in ("y", "n"):
                    raise UsageError(f"-E header={val}: expected y or n")
                fmt.header = val == "y"
            elif key == "separator":
                fmt.separator = _special_char(val, "separator")
            elif key == "aggregator":
                fmt.aggregator = _special_char(val, "aggregator")
            elif key == "occurrence":
                if val not in ("f", "l", "a"):
                    raise UsageError(f"-E occurrence={val}: expected f, l or a")
                fmt.occurrence = val
            elif key == "quote":
                if val not in ("d", "s", "n"):
                    raise UsageError(f"-E quote={val}: expected d, s or n")
                fmt.quote = {"d": '"', "s": "'", "n": ""}[val]
            else:
                raise UsageError(f"-E {opt}: unknown option (header, separator, occurrence, "
                                 "aggregator, quote)")
        return fmt


def _special_char(val: str, what: str) -> str:
    if val == "/t":
        return "\t"
    if val == "/s":
        return " "
    if len(val) != 1:
        raise UsageError(f"-E {what}={val}: expected one character, /t or /s")
    return val


def column_value(name: str, pkt: Packet, time_text: str) -> str:
    """Value of a `_ws.col.*` pseudo-field."""
    if name == "No.":
        return str(pkt.number)
    if name == "Time":
        return time_text
    if name == "Source":
        return columns.source(pkt)
    if name == "Destination":
        return columns.destination(pkt)
    if name == "Protocol":
        return columns.protocol(pkt)
    if name == "Length":
        return str(pkt.length)
    return columns.info(pkt)


def field_cells(names: list[str], root: Node | None, pkt: Packet, fmt: FieldsFormat,
                time_text: str) -> list[str]:
    """The `-T fields` cells of one frame: each field's occurrences, aggregated and quoted."""
    values = root.values() if root is not None else {}
    out = []
    for name in names:
        if name.startswith(COLUMN_PREFIX):
            vals = [column_value(name[len(COLUMN_PREFIX):], pkt, time_text)]
        else:
            spec = REGISTRY[name]
            raw = values.get(name)
            vals = [safe(fields_value(spec, v)) for v in raw] if raw else []
        if vals and fmt.occurrence != "a":
            vals = vals[:1] if fmt.occurrence == "f" else vals[-1:]
        cell = fmt.aggregator.join(vals)
        if fmt.quote and vals:
            cell = f"{fmt.quote}{cell}{fmt.quote}"
        out.append(cell)
    return out


def fields_line(names: list[str], root: Node | None, pkt: Packet, fmt: FieldsFormat,
                time_text: str) -> str:
    """One `-T fields` line."""
    return fmt.separator.join(field_cells(names, root, pkt, fmt, time_text))


def tree_text(root: Node) -> str:
    """The `-V` tree: four spaces per level, generated items in brackets, hidden ones out."""
    lines: list[str] = []

    def emit(node: Node, depth: int) -> None:
        if node.hidden:
            return
        lines.append("    " * depth + safe(node.text()))
        for child in node.children or ():
            emit(child, depth + 1)

    for layer in root.children or ():
        emit(layer, 0)
    return "\n".join(lines) + "\n"


def hex_dump(data: bytes) -> str:
    """tshark's `-x` layout: offset, 16 hex bytes, ASCII with dots for the rest."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {hexpart:<47}   {text}")
    return "\n".join(lines) + "\n"


def hex_text(data: bytes, pkt: Packet) -> str:
    """Hex of the frame, plus each reassembled data source under its own heading."""
    if not pkt.sources:
        return hex_dump(data)
    parts = [f"Frame ({len(data)} bytes):\n", hex_dump(data)]
    for name, blob in pkt.sources:
        parts.append(f"{safe(name)} ({len(blob)} bytes):\n")
        parts.append(hex_dump(blob))
    return "".join(parts)


def json_value(node: Node) -> str:
    """A field's value in tshark's JSON: like -T fields, but bytes keep colons."""
    spec = node.spec
    v = node.value
    if spec.ftype in (FT.BYTES, FT.NONE) and isinstance(v, (bytes, bytearray)) and v:
        return safe(bytes(v).hex(":"))
    return safe(fields_value(spec, v))


def tree_json(root: Node) -> dict[str, Any]:
    """tshark's `-T json` layers object: protocols as keys, fields as "abbrev": "value",
    a field with children also gets "abbrev_tree": {...}, text items go by their label,
    expert items as a "_ws.expert" object. Repeated keys become arrays (tshark's
    --no-duplicate-keys form: plain JSON has no duplicate keys)."""

    def fill(node: Node, into: dict[str, Any]) -> None:
        for child in node.children or ():
            if child.expert is not None:
                sub: dict[str, Any] = {child.spec.abbrev: ""}
                fill(child, sub)
                _put(into, "_ws.expert", sub)
                continue
            if child.spec is None:
                key, value = safe(child.text()), ""
            elif child.spec.ftype == FT.PROTOCOL:
                sub = {}
                fill(child, sub)
                _put(into, child.spec.abbrev, sub)
                continue
            else:
                key, value = child.spec.abbrev, json_value(child)
            if child.spec is None and child.children:
                sub = {}
                fill(child, sub)
                _put(into, key, sub)
                continue
            _put(into, key, value)
            if child.children:
                sub = {}
                fill(child, sub)
                _put(into, key + "_tree", sub)

    layers: dict[str, Any] = {}
    fill(root, layers)
    return layers


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    """tshark lists repeated keys as a JSON array."""
    if key in d:
        old = d[key]
        if isinstance(old, list):
            old.append(value)
        else:
            d[key] = [old, value]
    else:
        d[key] = value


def json_packet(root: Node, ts_ns: int, first: bool) -> str:
    """One element of tshark's JSON array (with the leading comma for all but the first)."""
    import time as _time
    day = _time.strftime("%Y-%m-%d", _time.gmtime(ts_ns // 1_000_000_000))
    obj = {"_index": f"packets-{day}", "_type": "doc", "_score": None,
           "_source": {"layers": tree_json(root)}}
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    text = "\n".join("  " + line for line in text.splitlines())
    return ("" if first else ",\n") + text
