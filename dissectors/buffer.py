"""A read-only view over one frame's bytes that knows captured versus reported length.

Every read is bounds-checked: reading past what was captured raises `Truncated` (the
capture was cut by snaplen), and callers raise `Malformed` when a length field
contradicts the packet. Nothing else may escape a dissector.
"""
from __future__ import annotations

import struct

_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from
_U16LE = struct.Struct("<H").unpack_from


class DissectError(Exception):
    """Base of the only two exceptions a dissector may raise."""


class Truncated(DissectError):
    """The captured bytes end before the protocol does (snaplen cut, short capture)."""


class Malformed(DissectError):
    """A value in the packet contradicts the packet itself (bad length, impossible field)."""


class Buf:
    """Captured bytes of one frame, with the length the wire actually carried.

    `data` is the captured part; `reported` is the on-the-wire length (frame.len).
    """

    __slots__ = ("data", "reported")

    def __init__(self, data: bytes, reported: int | None = None) -> None:
        self.data = data
        self.reported = len(data) if reported is None else max(reported, len(data))

    def __len__(self) -> int:
        return len(self.data)

    def need(self, off: int, n: int) -> None:
        """Raise unless bytes [off, off+n) were captured: Malformed when they lie beyond
        the frame's reported length too (the packet is short, as Wireshark's
        ReportedBoundsError), Truncated when only the capture cut them (snaplen)."""
        if off < 0 or n < 0 or off + n > len(self.data):
            if off + n > self.reported or off < 0 or n < 0:
                raise Malformed(f"need {n} bytes at offset {off}, frame has {self.reported}")
            raise Truncated(f"need {n} bytes at offset {off}, captured {len(self.data)}")

    def need_within(self, off: int, n: int, end: int) -> None:
        """Like need(), but bytes past `end` (where the lower layer says this packet ends)
        are Malformed: the packet itself is too short, not just the capture."""
        if off + n > end:
            raise Malformed(f"need {n} bytes at offset {off}, packet ends at {end}")
        self.need(off, n)

    def u8(self, off: int) -> int:
        if off < 0 or off >= len(self.data):
            self.need(off, 1)
        return self.data[off]

    def u16(self, off: int) -> int:
        self.need(off, 2)
        return _U16(self.data, off)[0]

    def u32(self, off: int) -> int:
        self.need(off, 4)
        return _U32(self.data, off)[0]

    def u16le(self, off: int) -> int:
        self.need(off, 2)
        return _U16LE(self.data, off)[0]

    def bytes(self, off: int, n: int) -> bytes:
        self.need(off, n)
        return bytes(self.data[off:off + n])

    def rest(self, off: int) -> bytes:
        """Captured bytes from off to the end (possibly empty); never raises."""
        return bytes(self.data[off:]) if 0 <= off < len(self.data) else b""
