"""The classic libpcap format (draft-ietf-opsawg-pcap): reader and writer.

A 24-byte file header (magic gives byte order and µs/ns time stamps, then version, snaplen and
the link type for every record) followed by records of a 16-byte header and the packet bytes.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from .model import CaptureError, Interface, RawFrame, max_caplen
from .reader import CaptureReader
from .sink import Sink
from .source import Source

# magic bytes as they appear in the file -> (struct byte order, nanosecond time stamps)
MAGICS: dict[bytes, tuple[str, bool]] = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
# Upper bits of the link-type word carry the FCS length (bits 28-31), not the link type.
LINKTYPE_MASK = 0xFFFF


class PcapHeader:
    """The parsed file header; `record` unpacks one record header in the file's byte order."""

    __slots__ = ("order", "nanosecond", "version", "snaplen", "linktype", "fcslen", "record")

    def __init__(self, head: bytes, name: str) -> None:
        if len(head) < FILE_HEADER_LEN:
            raise CaptureError(f"{name}: file cut short in the pcap file header "
                               f"({len(head)} of {FILE_HEADER_LEN} bytes)")
        self.order, self.nanosecond = MAGICS[head[:4]]
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
            self.order + "HHiIII", head, 4)
        if major != 2:
            raise CaptureError(f"{name}: unsupported pcap version {major}.{minor} "
                               "(only 2.x exists)")
        self.version = (major, minor)
        self.snaplen = snaplen
        self.linktype = network & LINKTYPE_MASK
        self.fcslen = (network >> 29) * 2 if network & 0x10000000 else -1
        self.record = struct.Struct(self.order + "IIII").unpack_from


class PcapReader(CaptureReader):
    """Streams the records of a pcap file; one interface, id 0, for all of them."""

    format = "pcap"

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        source.more(0, FILE_HEADER_LEN)
        self.header = PcapHeader(source.buf[:FILE_HEADER_LEN], source.name)
        h = self.header
        self.interfaces.append(Interface(h.linktype, snaplen=h.snaplen,
                                         tsresol=10 ** 9 if h.nanosecond else 10 ** 6,
                                         fcslen=h.fcslen))

    def _frames(self) -> Iterator[RawFrame]:
        h = self.header
        src = self.source
        unpack = h.record
        lt = h.linktype
        limit = max_caplen(lt)
        mult = 1 if h.nanosecond else 1000
        buf = src.buf
        n = len(buf)
        p = FILE_HEADER_LEN
        while True:
            if n - p < RECORD_HEADER_LEN:
                p = src.more(p, RECORD_HEADER_LEN)
                buf = src.buf
                n = len(buf)
                if n - p < RECORD_HEADER_LEN:
                    if n > p:
                        self.error = cut_short(buf, p, src.base, h.order)
                    return
            sec, frac, cap, orig = unpack(buf, p)
            if cap > limit:
                self.error = bad_record(src.base + p, cap, limit)
                return
            q = p + RECORD_HEADER_LEN
            if q + cap > n:
                p = src.more(p, RECORD_HEADER_LEN + cap)
                buf = src.buf
                n = len(buf)
                q = p + RECORD_HEADER_LEN
                if q + cap > n:
                    self.error = cut_short(buf, p, src.base, h.order)
                    return
            e = q + cap
            yield RawFrame(sec * 1_000_000_000 + frac * mult, cap, orig, lt, 0, buf[q:e],
                           src.base + q)
            p = e


def cut_short(buf, p: int, base: int, order: str) -> str:
    """The error for a file that ends inside the record at buf[p] (absolute byte base + p)."""
    have = len(buf) - p
    if have < RECORD_HEADER_LEN:
        return f"file cut short in the middle of a packet record header at byte {base + p}"
    cap = struct.unpack_from(order + "I", buf, p + 8)[0]
    return (f"file cut short in the middle of a packet record at byte {base + p} "
            f"({have - RECORD_HEADER_LEN} of {cap} packet bytes present)")


def bad_record(at: int, cap: int, limit: int) -> str:
    """The error for a record header whose length cannot be real (garbage or damage)."""
    return (f"garbage or damage at byte {at}: a record claims {cap} captured bytes, "
            f"more than the {limit}-byte limit")


class PcapWriter(Sink):
    """Writes a pcap file; every write() adds one whole record, so the file stays readable."""

    def __init__(self, target: str | BinaryIO, linktype: int, snaplen: int = 262144,
                 nanosecond: bool = True) -> None:
        super().__init__(target)
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self._div = 1 if nanosecond else 1000
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._put(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype & LINKTYPE_MASK))
        self.flush()

    def write(self, frame: RawFrame) -> None:
        """Append one frame; a pcap holds a single link type, so others are refused."""
        if frame.linktype != self.linktype:
            raise CaptureError(f"a pcap file holds one link type ({self.linktype}); frame has "
                               f"{frame.linktype}: write a .pcapng file instead")
        sec, ns = divmod(frame.ts_ns, 1_000_000_000)
        if not 0 <= sec <= 0xFFFFFFFF:
            raise CaptureError(f"time stamp {frame.ts_ns} ns is outside what pcap can store")
        data = frame.data
        self._put(struct.pack("<IIII", sec, ns // self._div, len(data),
                              max(frame.origlen, len(data))) + data)
