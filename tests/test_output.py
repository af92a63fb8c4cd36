"""Output formatting shared by `read` and the TUI: tshark's value, column and dump formats."""
from __future__ import annotations

import pytest

from analyzer import columns
from analyzer.output import FieldsFormat, UsageError, check_fields, hex_dump
from analyzer.textsafe import safe, safe_block
from dissectors.fields import FT, Base, FieldSpec, fields_value


def spec(ftype: FT, base: Base = Base.NONE) -> FieldSpec:
    return FieldSpec("x.test", "Test", ftype, base)


@pytest.mark.parametrize("ftype, base, value, text", [
    (FT.UINT16, Base.HEX, 0x0800, "0x0800"),        # eth.type
    (FT.UINT16, Base.HEX, 0x12, "0x0012"),          # tcp.flags keeps 4 digits
    (FT.UINT8, Base.HEX, 0x4, "0x04"),
    (FT.UINT32, Base.DEC, 4263588410, "4263588410"),
    (FT.BOOLEAN, Base.NONE, True, "1"),
    (FT.BOOLEAN, Base.NONE, False, "0"),
    (FT.NONE, Base.NONE, None, "1"),                # presence-only flags print 1
    (FT.NONE, Base.NONE, b"\x04\x02", "0402"),      # ... or their bytes (tcp.options.sack_perm)
    (FT.ETHER, Base.NONE, bytes.fromhex("c8bcc896d2a0"), "c8:bc:c8:96:d2:a0"),
    (FT.IPv4, Base.NONE, bytes([141, 142, 228, 5]), "141.142.228.5"),
    (FT.IPv6, Base.NONE, bytes(15) + b"\x01", "::1"),
    (FT.RELATIVE_TIME, Base.NONE, 1362692526869344000, "1362692526.869344000"),
    (FT.RELATIVE_TIME, Base.NONE, -1500, "-0.000001500"),
])
def test_fields_value_like_tshark(ftype, base, value, text):
    assert fields_value(spec(ftype, base), value) == text


def test_time_columns():
    first = 1_000_000_000_123_456_789
    ts = first + 2_500_000_000
    assert columns.format_time("r", ts, first, first, first, 6) == "2.500000"
    assert columns.format_time("r", ts, first, first, first, 9) == "2.500000000"
    assert columns.format_time("d", ts, first, ts - 1000, first, 9) == "0.000001000"
    assert columns.format_time("e", ts, first, first, first, 6) == "1000000002.623456"
    assert columns.format_time("ud", 0, 0, 0, 0, 6) == "1970-01-01 00:00:00.000000"
    assert columns.format_time("r", first - 500_000_000, first, first, first, 6) == "-0.500000"


def test_hex_dump_matches_tshark_layout():
    data = bytes.fromhex("0010db88d2efc8bcc896d2a008004500") + b"GET "
    assert hex_dump(data) == (
        "0000  00 10 db 88 d2 ef c8 bc c8 96 d2 a0 08 00 45 00   ..............E.\n"
        "0010  47 45 54 20                                       GET \n")


def test_fields_format_options():
    fmt = FieldsFormat.parse(["header=y", "separator=,", "occurrence=f", "quote=d",
                              "aggregator=/s"])
    assert (fmt.header, fmt.separator, fmt.occurrence, fmt.quote, fmt.aggregator) == \
        (True, ",", "f", '"', " ")
    with pytest.raises(UsageError):
        FieldsFormat.parse(["separator=ab"])
    with pytest.raises(UsageError):
        FieldsFormat.parse(["bogus=1"])


def test_unknown_field_suggests_a_name():
    import dissectors  # noqa: F401  (registers the fields)
    with pytest.raises(UsageError, match="did you mean 'eth.src'"):
        check_fields(["eth.srcc"])
    check_fields(["eth.src", "frame.number"])


def test_terminal_escapes_are_made_inert():
    evil = "ok\x1b]0;pwned\x07\x1b[2J\r\nnext\u202e"
    out = safe(evil)
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\n" not in out
    assert "\u202e" not in out
    assert out.startswith("ok\\x1b]0;pwned\\x07")
    assert safe_block("a\tb\nc\x1b") == "a\tb\nc\\x1b"
