"""The values every capture source produces: frames, interfaces, and the one error type.

Sources never decode packets; they hand over the bytes and the per-record metadata the file
carries, and say in one plain line why they stopped when a file is damaged.
"""
from __future__ import annotations

from typing import NamedTuple

# Link type of a pcapng Custom Block record: tshark 4.0 lists these blocks as frames of their
# own (protocol "data", no interface, no time stamp), so we deliver them too, with this marker.
CUSTOM_BLOCK_LINKTYPE = -1
NO_IFACE = -1

# Largest captured length Wireshark accepts per link type (wtap_max_snaplen_for_encap): a
# record claiming more is damage, not a packet.
MAX_CAPLEN_DEFAULT = 262_144
MAX_CAPLEN = {
    231: 128 * 1024 * 1024,   # D-Bus messages
    249: 128 * 1024 * 1024,   # USBPcap
    279: 8 * 1024 * 1024,     # EBHSCR
}


def max_caplen(linktype: int) -> int:
    """The captured-length sanity limit for one link type."""
    return MAX_CAPLEN.get(linktype, MAX_CAPLEN_DEFAULT)


class CaptureError(Exception):
    """A capture cannot be opened or written; the message is one line meant for the user."""


class RawFrame(NamedTuple):
    """One record of a capture file, undecoded.

    ts_ns is 0 when the record has no time stamp (pcapng Simple Packet Block, Custom Block);
    has_ts says which, because Wireshark then shows no time while still using 0 for deltas.
    block_type is the pcapng block type the frame came from (0 for pcap records) and pen the
    Private Enterprise Number of a Custom Block (-1 otherwise).
    """

    ts_ns: int
    caplen: int
    origlen: int
    linktype: int
    iface: int
    data: bytes
    offset: int = -1
    comment: str | None = None
    has_ts: bool = True
    block_type: int = 0
    pen: int = -1


class Interface(NamedTuple):
    """A capture interface: the file's single one for pcap, one per pcapng IDB.

    tsresol is time stamp ticks per second (10**6 for pcap µs, 1024 for if_tsresol 2^-10);
    tsoffset is seconds added to every time stamp. section and local_id say where a pcapng IDB
    sits (interface ids restart at 0 in each section); fcslen is -1 when unknown.
    """

    linktype: int
    name: str = ""
    description: str = ""
    snaplen: int = 0
    tsresol: int = 1_000_000
    tsoffset: int = 0
    fcslen: int = -1
    section: int = 0
    local_id: int = 0

    @property
    def precision(self) -> int:
        """Decimal places Wireshark shows for this interface's time stamps.

        The whole decimal digits one tick resolves (floor of log10 of ticks per second),
        rounded down to the precisions Wireshark has: 0, 1, 2, 3, 6 or 9 (checked against
        tshark 4.0: 10^-4 and 10^-5 show 3 places, 2^-10 shows 3, 2^-20 shows 6).
        """
        digits = 0
        while 10 ** (digits + 1) <= self.tsresol and digits < 9:
            digits += 1
        return max(p for p in _PRECISIONS if p <= digits)


_PRECISIONS = (0, 1, 2, 3, 6, 9)
