"""The packet-list columns (No., Time, Source, Destination, Protocol, Length, Info).

Shared by `read`'s default output and the TUI, so both show what tshark's default
columns show. Values come from a dissected frame's Packet context only.
"""
from __future__ import annotations

import time as _time

from dissectors.fields import ether_str, ipv4_str, ipv6_str
from dissectors.packet import Packet

from .textsafe import safe

TIME_FORMATS = ("r", "a", "ad", "adoy", "d", "dd", "e", "u", "ud", "udoy")


def address_str(addr: bytes) -> str:
    if len(addr) == 4:
        return ipv4_str(addr)
    if len(addr) == 16:
        return ipv6_str(addr)
    if len(addr) == 6:
        return ether_str(addr)
    return addr.hex(":")


def source(pkt: Packet) -> str:
    """Wireshark's default Source: the network address when there is one, else the MAC."""
    if pkt.net_src:
        return address_str(pkt.net_src)
    return address_str(pkt.dl_src) if pkt.dl_src else ""


def destination(pkt: Packet) -> str:
    if pkt.net_dst:
        return address_str(pkt.net_dst)
    return address_str(pkt.dl_dst) if pkt.dl_dst else ""


def protocol(pkt: Packet) -> str:
    return safe(pkt.col_protocol)


COL_MAX_INFO_LEN = 4095   # bytes: Wireshark cuts the Info column there (COL_MAX_INFO_LEN - 1)


def info(pkt: Packet) -> str:
    text = pkt.info_text()
    if len(text) > COL_MAX_INFO_LEN // 4:
        text = text.encode()[:COL_MAX_INFO_LEN].decode("utf-8", "ignore")
    return safe(text)


def _frac(ns: int, digits: int) -> str:
    """Fractional seconds of a non-negative nanosecond count, truncated to `digits`."""
    return f"{ns % 1_000_000_000:09d}"[:digits]


def seconds(ns: int, digits: int) -> str:
    """Signed seconds with `digits` decimals, truncated like Wireshark's time columns."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    whole = f"{sign}{ns // 1_000_000_000}"
    return f"{whole}.{_frac(ns, digits)}" if digits else whole


def format_time(fmt: str, ts_ns: int, first_ns: int, prev_ns: int, prev_disp_ns: int,
                digits: int) -> str:
    """One time column value in tshark's `-t` formats (a/ad/adoy in local time)."""
    if fmt == "r":
        return seconds(ts_ns - first_ns, digits)
    if fmt == "d":
        return seconds(ts_ns - prev_ns, digits)
    if fmt == "dd":
        return seconds(ts_ns - prev_disp_ns, digits)
    if fmt == "e":
        return seconds(ts_ns, digits)
    sec = ts_ns // 1_000_000_000
    t = _time.gmtime(sec) if fmt.startswith("u") else _time.localtime(sec)
    clock = _time.strftime("%H:%M:%S", t)
    if digits:
        clock += "." + _frac(ts_ns, digits)
    if fmt in ("a", "u"):
        return clock
    if fmt in ("ad", "ud"):
        return _time.strftime("%Y-%m-%d ", t) + clock
    return _time.strftime("%Y/%j ", t) + clock
