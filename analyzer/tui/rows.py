"""Packet-list lines as text, colouring rules and palettes, without Textual or numpy.

The packet list (packet_list.py) and the first screen painted before Textual has loaded
(firstpaint.py) both lay their lines out here, so the first screen and the app's own
first frame put the same text in the same columns.
"""
from __future__ import annotations

from rich.cells import set_cell_size

from analyzer import columns
from dissectors.packet import Packet

HEADINGS = ("No.", "Time", "Source", "Destination", "Protocol", "Length", "Info")
_TIME_WIDTHS = {"ad": 26, "ud": 26, "e": 20, "a": 15, "u": 15}
_RIGHT = (0, 5)                 # No. and Length are right-aligned

# Wireshark's default colouring rules (foreground, background), plus DNS and TLS tints.
_INK = "#12272e"
TRUECOLOR = {
    "bad": ("#ff5f5f", _INK), "bad_tcp": ("#fffc9c", _INK), "icmp_error": ("#b7f774", _INK),
    "rst": ("#fffc9c", "#a40000"), "arp": (_INK, "#faf0d7"), "icmp": (_INK, "#fce0ff"),
    "http": (_INK, "#e4ffc7"), "synfin": (_INK, "#a0a0a0"), "tcp": (_INK, "#e7e6ff"),
    "udp": (_INK, "#daeeff"), "dns": (_INK, "#c4e4ff"), "tls": (_INK, "#d9d2ff"),
}
# The 16-colour fallback: alerts keep a background, ordinary traffic only a foreground.
ANSI16 = {
    "bad": ("bright_red", "black"), "bad_tcp": ("bright_yellow", "black"),
    "icmp_error": ("bright_green", "black"), "rst": ("bright_yellow", "red"),
    "arp": ("black", "yellow"), "icmp": ("black", "magenta"), "http": ("green", None),
    "synfin": ("black", "white"), "tcp": (None, None), "udp": ("cyan", None),
    "dns": ("bright_cyan", None), "tls": ("bright_magenta", None),
}
ALERTS = {"bad", "bad_tcp", "icmp_error", "rst"}

_PROTOCOL_RULES = {"ARP": "arp", "ICMP": "icmp", "ICMPv6": "icmp", "DNS": "dns",
                   "HTTP": "http", "MDNS": "dns", "LLMNR": "dns", "TCP": "tcp", "UDP": "udp"}


def by_protocol(proto: str) -> str:
    """The colouring rule a Protocol column alone decides ("" none): what a row gets before
    the first pass has said anything about its TCP flags."""
    if proto.startswith(("TLS", "SSL")):
        return "tls"
    return _PROTOCOL_RULES.get(proto, "")


def packet_cells(pkt: Packet) -> tuple[str, str, str, str, str]:
    """Source, Destination, Protocol and Info of a dissected frame, and its damage (the
    "malformed" rule)."""
    return (columns.source(pkt), columns.destination(pkt), columns.protocol(pkt),
            columns.info(pkt), pkt.damage)


def column_widths(width: int, captured: int, time_format: str) -> list[int]:
    """Widths of No., Time, Source, Destination, Protocol, Length (0: hidden) and Info for a
    list `width` cells wide over `captured` frames."""
    no = max(5, len(str(captured)))
    t = _TIME_WIDTHS.get(time_format, 10)
    addr = 39 if width >= 180 else 22 if width >= 120 else 15
    length = 6 if width >= 100 else 0     # at 80 columns Info needs the room more
    fixed = [no, t, addr, addr, 8, length]
    info = max(8, width - sum(fixed) - sum(1 for x in fixed if x))
    return fixed + [info]


def line_text(cells: tuple[str, ...], widths: list[int], width: int) -> str:
    """One list line: each cell cut or padded to its width, one space between, the whole
    exactly `width` cells (cells are already terminal-safe)."""
    parts = []
    for i, (text, w) in enumerate(zip(cells, widths)):
        if not w:
            continue
        if i in _RIGHT:
            text = text.rjust(w)
        parts.append(set_cell_size(text, w))
    return set_cell_size(" ".join(parts), width)
