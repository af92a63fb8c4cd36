"""pcapng (draft-ietf-opsawg-pcapng): reader state machine and writer.

A file is a run of blocks: type, total length, body, total length again. A Section Header
Block sets the byte order and restarts interface numbering; Interface Description Blocks give
each interface its link type, snaplen and time resolution; packets come in Enhanced, Simple or
(obsolete) Packet Blocks. Every length is checked before it is trusted.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Callable, Iterator, Sequence

from .model import (CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError, Interface, RawFrame,
                    max_caplen)
from .reader import CaptureReader
from .sink import Sink
from .source import Source

SHB, IDB, PB, SPB, NRB, ISB, EPB, DSB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6, 0x0A
CB_COPY, CB_NOCOPY = 0x00000BAD, 0x40000BAD
MAGIC = b"\x0a\x0d\x0d\x0a"
BOM_LE, BOM_BE = b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"
# No real block is bigger than the largest packet any link type allows plus its options.
MAX_BLOCK = 128 * 1024 * 1024 + 65536
# Smallest total length of each block type (header, fixed body fields, trailer).
MIN_LEN = {SHB: 28, IDB: 20, PB: 32, SPB: 16, NRB: 12, ISB: 24, EPB: 32, DSB: 20,
           CB_COPY: 16, CB_NOCOPY: 16}
BLOCK_NAMES = {SHB: "section header", IDB: "interface description", PB: "packet",
               SPB: "simple packet", NRB: "name resolution", ISB: "interface statistics",
               EPB: "enhanced packet", DSB: "decryption secrets", CB_COPY: "custom",
               CB_NOCOPY: "custom"}
OPT_COMMENT = 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_FCSLEN, IF_TSOFFSET = 2, 3, 9, 13, 14
ISB_IFDROP = 5
NRB_IPV4, NRB_IPV6 = 1, 2


class Damage(Exception):
    """The file stops making sense here; the message is the reader's one-line error."""


def pad4(n: int) -> int:
    return (n + 3) & ~3


def tsresol_ticks(code: int) -> int:
    """if_tsresol option byte -> ticks per second (high bit: power of 2, else power of 10)."""
    return 1 << (code & 0x7F) if code & 0x80 else 10 ** code


class PcapngState:
    """Everything known about the sections read so far; handles the non-EPB blocks.

    Interfaces go into one global list (what RawFrame.iface indexes); `local` maps the
    current section's interface ids onto it. `tsconv[g]` is (multiplier, divisor, offset ns)
    turning interface g's time stamp ticks into nanoseconds.
    """

    def __init__(self, interfaces: list[Interface], drops: dict[int, int],
                 secrets: list[tuple[int, bytes]], names: list[tuple[bytes, str]]) -> None:
        self.interfaces = interfaces
        self.drops = drops
        self.secrets = secrets
        self.names = names
        self.tsconv: list[tuple[int, int, int]] = []
        self.limits: list[int] = []
        self.local: list[int] = []
        self.section = -1
        self.order = "<"
        self._set_order("<")

    def _set_order(self, order: str) -> None:
        self.order = order
        self.u32 = struct.Struct(order + "I").unpack_from
        self.hh = struct.Struct(order + "HH").unpack_from
        self.epb = struct.Struct(order + "IIIII").unpack_from
        self.pb = struct.Struct(order + "HHIIII").unpack_from
        self.ii = struct.Struct(order + "II").unpack_from
        self.iii = struct.Struct(order + "III").unpack_from
        self.hhi = struct.Struct(order + "HHI").unpack_from
        self.q = struct.Struct(order + "q").unpack_from
        self.uq = struct.Struct(order + "Q").unpack_from

    # --- block framing -------------------------------------------------------------------

    def head(self, buf, p: int, at: int) -> tuple[int, int]:
        """(type, total length) of the block at buf[p] (12 bytes present), validated.

        A section header switches the byte order first: its magic says which one.
        """
        if buf[p:p + 4] == MAGIC:
            bom = buf[p + 8:p + 12]
            if bom == BOM_LE:
                order = "<"
            elif bom == BOM_BE:
                order = ">"
            else:
                raise Damage(f"section header at byte {at} has a bad byte-order magic "
                             f"({bytes(bom).hex()})")
            if order != self.order:
                self._set_order(order)
        btype, blen = self.ii(buf, p)
        if blen < MIN_LEN.get(btype, 12) or blen & 3 or blen > MAX_BLOCK:
            if blen & 3:
                why = "not a multiple of 4"
            elif blen > MAX_BLOCK:
                why = f"more than the {MAX_BLOCK}-byte limit"
            else:
                why = "too short"
            what = BLOCK_NAMES.get(btype)
            if what is None:
                raise Damage(f"garbage or damage at byte {at}: no valid block there "
                             f"(type 0x{btype:08x}, length {blen} is {why})")
            raise Damage(f"damaged {what} block at byte {at}: length {blen} is {why}")
        return btype, blen

    def check_trailer(self, buf, p: int, blen: int, at: int) -> None:
        tail = self.u32(buf, p + blen - 4)[0]
        if tail != blen:
            raise Damage(f"damaged block at byte {at}: its trailing length {tail} does not "
                         f"match its leading length {blen}")

    # --- options ---------------------------------------------------------------------------

    def options(self, buf, s: int, e: int) -> Iterator[tuple[int, bytes]]:
        """(code, value) of each option in buf[s:e]; stops at opt_endofopt or a bad length."""
        hh = self.hh
        while s + 4 <= e:
            code, ln = hh(buf, s)
            if code == 0:
                return
            v = s + 4
            if v + ln > e:
                return
            yield code, bytes(buf[v:v + ln])
            s = v + pad4(ln)

    def comment(self, buf, s: int, e: int) -> str | None:
        """The opt_comment text(s) of a packet's options, joined by newlines; None if none."""
        found = [text(v) for code, v in self.options(buf, s, e) if code == OPT_COMMENT]
        return "\n".join(found) if found else None

    # --- blocks ----------------------------------------------------------------------------

    def shb(self, buf, p: int, blen: int, at: int) -> None:
        major, minor = self.hh(buf, p + 12)
        if major != 1:
            raise Damage(f"unsupported pcapng version {major}.{minor} in the section header "
                         f"at byte {at}")
        self.section += 1
        self.local = []

    def idb(self, buf, p: int, blen: int, at: int) -> None:
        linktype, _res, snaplen = self.hhi(buf, p + 8)
        name = desc = ""
        resol, offset, fcslen = 10 ** 6, 0, -1
        for code, v in self.options(buf, p + 16, p + blen - 4):
            if code == IF_NAME:
                name = text(v)
            elif code == IF_DESCRIPTION:
                desc = text(v)
            elif code == IF_TSRESOL and v:
                resol = tsresol_ticks(v[0])
            elif code == IF_TSOFFSET and len(v) >= 8:
                offset = self.q(v, 0)[0]
            elif code == IF_FCSLEN and v:
                fcslen = v[0]
        g = len(self.interfaces)
        self.interfaces.append(Interface(linktype, name, desc, snaplen, resol, offset, fcslen,
                                         self.section, len(self.local)))
        self.local.append(g)
        if 1_000_000_000 % resol == 0:
            conv = (1_000_000_000 // resol, 1, offset * 1_000_000_000)
        else:
            conv = (1_000_000_000, resol, offset * 1_000_000_000)
        self.tsconv.append(conv)
        self.limits.append(max_caplen(linktype))

    def iface(self, lid: int, at: int) -> int:
        """Global interface number of this section's interface `lid`."""
        if lid >= len(self.local):
            raise Damage(f"packet at byte {at} names interface {lid}, but its section has "
                         f"{len(self.local)} interface(s)")
        return self.local[lid]

    def ts(self, g: int, ticks: int) -> int:
        mult, div, off = self.tsconv[g]
        return (ticks * mult if div == 1 else ticks * mult // div) + off

    def isb(self, buf, p: int, blen: int, at: int) -> None:
        lid = self.u32(buf, p + 8)[0]
        if lid >= len(self.local):
            return
        for code, v in self.options(buf, p + 20, p + blen - 4):
            if code == ISB_IFDROP and len(v) >= 8:
                self.drops[self.local[lid]] = self.uq(v, 0)[0]

    def nrb(self, buf, p: int, blen: int, at: int) -> None:
        s, e = p + 8, p + blen - 4
        while s + 4 <= e:
            rtype, rlen = self.hh(buf, s)
            if rtype == 0 or s + 4 + rlen > e:
                return
            value = bytes(buf[s + 4:s + 4 + rlen])
            alen = 4 if rtype == NRB_IPV4 else 16 if rtype == NRB_IPV6 else 0
            if alen and rlen > alen:
                addr = value[:alen]
                for raw in value[alen:].split(b"\0"):
                    if raw:
                        self.names.append((addr, raw.decode("utf-8", "replace")))
            s += 4 + pad4(rlen)

    def dsb(self, buf, p: int, blen: int, at: int) -> None:
        stype, slen = self.ii(buf, p + 8)
        if slen <= blen - 20:
            self.secrets.append((stype, bytes(buf[p + 16:p + 16 + slen])))

    def packet_block(self, btype: int, buf, p: int, blen: int, at: int,
                     base: int) -> RawFrame:
        """A frame from an EPB, PB, SPB or Custom Block (the reader inlines EPBs for speed)."""
        e = p + blen - 4
        if btype == EPB:
            lid, th, tl, cap, orig = self.epb(buf, p + 8)
            d, has_ts = p + 28, True
        elif btype == PB:
            lid, _drops, th, tl, cap, orig = self.pb(buf, p + 8)
            d, has_ts = p + 28, True
        elif btype == SPB:
            g = self.iface(0, at)
            orig = self.u32(buf, p + 8)[0]
            d = p + 12
            snap = self.interfaces[g].snaplen
            cap = min(orig, e - d, snap) if snap else min(orig, e - d)
            return RawFrame(0, cap, orig, self.interfaces[g].linktype, g,
                            bytes(buf[d:d + cap]), base + d, None, False, SPB)
        else:  # custom block: tshark shows the bytes after the PEN as a frame
            pen = self.u32(buf, p + 8)[0]
            d = p + 12
            data = bytes(buf[d:e])
            return RawFrame(0, len(data), len(data), CUSTOM_BLOCK_LINKTYPE, NO_IFACE, data,
                            base + d, None, False, btype, pen)
        g = self.iface(lid, at)
        if cap > e - d:
            raise Damage(f"damaged packet at byte {at}: {cap} captured bytes do not fit in "
                         f"its {blen}-byte block")
        if cap > self.limits[g]:
            raise Damage(f"garbage or damage at byte {at}: a packet claims {cap} captured "
                         f"bytes, more than the {self.limits[g]}-byte limit")
        o = d + pad4(cap)
        comment = self.comment(buf, o, e) if o < e else None
        return RawFrame(self.ts(g, (th << 32) | tl), cap, orig, self.interfaces[g].linktype,
                        g, bytes(buf[d:d + cap]), base + d, comment, has_ts, btype)

    def other_block(self, btype: int, buf, p: int, blen: int, at: int) -> None:
        handler = self.HANDLERS.get(btype)
        if handler is not None:
            handler(self, buf, p, blen, at)

    HANDLERS: dict[int, Callable] = {SHB: shb, IDB: idb, ISB: isb, NRB: nrb, DSB: dsb}


PACKET_BLOCKS = frozenset((EPB, PB, SPB, CB_COPY, CB_NOCOPY))


def cut_short(buf, p: int, base: int, order: str) -> str:
    """The error for a file that ends inside the block at buf[p] (absolute byte base + p)."""
    have = len(buf) - p
    if have < 12:
        return f"file cut short in the middle of a block header at byte {base + p}"
    btype, blen = struct.unpack_from(order + "II", buf, p)
    what = "packet record" if btype in PACKET_BLOCKS else \
        BLOCK_NAMES.get(btype, "unknown") + " block"
    article = "an" if what[0] in "aeiou" else "a"
    return (f"file cut short in the middle of {article} {what} at byte {base + p} "
            f"({have} of {blen} bytes present)")


def text(v: bytes) -> str:
    """A pcapng string option: UTF-8, possibly NUL-terminated."""
    return v.split(b"\0", 1)[0].decode("utf-8", "replace")


class PcapngReader(CaptureReader):
    """Streams the packets of a pcapng file, following sections and interfaces as they come."""

    format = "pcapng"

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.state = PcapngState(self.interfaces, self.drops, self.secrets, self.names)
        name = source.name
        source.more(0, 12)
        buf = source.buf
        if len(buf) < 12:
            raise CaptureError(f"{name}: file cut short in the pcapng section header "
                               f"({len(buf)} bytes)")
        try:
            _t, blen = self.state.head(buf, 0, 0)
            source.more(0, blen)
            buf = source.buf
            if len(buf) < blen:
                raise Damage(f"file cut short in the pcapng section header ({len(buf)} of "
                             f"{blen} bytes)")
            self.state.check_trailer(buf, 0, blen, 0)
            self.state.shb(buf, 0, blen, 0)
        except Damage as e:
            raise CaptureError(f"{name}: {e}") from None
        self._start = blen

    def _frames(self) -> Iterator[RawFrame]:
        try:
            yield from self._walk()
        except Damage as e:
            self.error = str(e)

    def _walk(self) -> Iterator[RawFrame]:
        src = self.source
        st = self.state
        buf = src.buf
        n = len(buf)
        p = self._start
        while True:
            if n - p < 12:
                p = src.more(p, 12)
                buf = src.buf
                n = len(buf)
                if n - p < 12:
                    if n > p:
                        raise Damage(cut_short(buf, p, src.base, st.order))
                    return
            at = src.base + p
            btype, blen = st.head(buf, p, at)
            if n - p < blen:
                p = src.more(p, blen)
                buf = src.buf
                n = len(buf)
                if n - p < blen:
                    raise Damage(cut_short(buf, p, src.base, st.order))
            st.check_trailer(buf, p, blen, at)
            if btype == EPB:
                lid, th, tl, cap, orig = st.epb(buf, p + 8)
                if lid >= len(st.local) or cap > blen - 32 or cap > st.limits[st.local[lid]]:
                    yield st.packet_block(btype, buf, p, blen, at, src.base)  # says why
                    p += blen
                    continue
                g = st.local[lid]
                d = p + 28
                o = d + ((cap + 3) & ~3)
                e = p + blen - 4
                mult, div, off = st.tsconv[g]
                ticks = (th << 32) | tl
                yield RawFrame((ticks * mult if div == 1 else ticks * mult // div) + off, cap,
                               orig, st.interfaces[g].linktype, g, buf[d:d + cap],
                               src.base + d, st.comment(buf, o, e) if o < e else None, True,
                               EPB)
            elif btype in PACKET_BLOCKS:
                yield st.packet_block(btype, buf, p, blen, at, src.base)
            else:
                st.other_block(btype, buf, p, blen, at)
            p += blen


def _block(btype: int, body: bytes, order: str = "<") -> bytes:
    blen = 12 + len(body)
    return struct.pack(order + "II", btype, blen) + body + struct.pack(order + "I", blen)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (pad4(len(value)) - len(value))


def _options(opts: list[bytes]) -> bytes:
    return b"".join(opts) + b"\0\0\0\0" if opts else b""


class PcapngWriter(Sink):
    """Writes pcapng: an SHB, one IDB per (interface, link type) met, EPBs with comments.

    `interfaces` (usually the reader's live list) supplies names and snaplens; time stamps are
    written at nanosecond resolution so they round-trip exactly. `secrets`, when given (the
    reader's list), is copied into Decryption Secrets Blocks ahead of the packets that follow.
    """

    def __init__(self, target: str | BinaryIO, interfaces: Sequence[Interface] = (),
                 secrets: Sequence[tuple[int, bytes]] | None = None,
                 snaplen: int = 262144) -> None:
        super().__init__(target)
        self.interfaces = interfaces
        self.snaplen = snaplen
        self._ids: dict[tuple[int, int], int] = {}
        self._secrets = secrets
        self._secrets_done = 0
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(
            [_option(4, b"wirelens")])
        self._put(_block(SHB, shb))
        self.flush()

    def _idb(self, iface: int, linktype: int) -> int:
        key = (iface, linktype)
        lid = self._ids.get(key)
        if lid is not None:
            return lid
        info = self.interfaces[iface] if 0 <= iface < len(self.interfaces) else None
        opts = []
        snaplen = self.snaplen
        if info is not None:
            snaplen = info.snaplen
            if info.name:
                opts.append(_option(IF_NAME, info.name.encode()))
            if info.description:
                opts.append(_option(IF_DESCRIPTION, info.description.encode()))
            if info.fcslen >= 0:
                opts.append(_option(IF_FCSLEN, bytes((info.fcslen & 0xFF,))))
        opts.append(_option(IF_TSRESOL, b"\x09"))
        self._put(_block(IDB, struct.pack("<HHI", linktype & 0xFFFF, 0, snaplen)
                         + _options(opts)))
        lid = self._ids[key] = len(self._ids)
        return lid

    def _flush_secrets(self) -> None:
        secrets = self._secrets
        while self._secrets_done < len(secrets):
            stype, data = secrets[self._secrets_done]
            self._secrets_done += 1
            pad = b"\0" * (pad4(len(data)) - len(data))
            self._put(_block(DSB, struct.pack("<II", stype, len(data)) + data + pad))

    def write(self, frame: RawFrame) -> None:
        """Append one frame (a copyable Custom Block is written back as one; others dropped)."""
        if self._secrets is not None and self._secrets_done < len(self._secrets):
            self._flush_secrets()
        data = frame.data
        pad = b"\0" * (pad4(len(data)) - len(data))
        if frame.linktype == CUSTOM_BLOCK_LINKTYPE:
            if frame.block_type == CB_COPY:
                self._put(_block(CB_COPY, struct.pack("<I", frame.pen & 0xFFFFFFFF)
                                 + data + pad))
            return
        lid = self._idb(frame.iface, frame.linktype)
        ts = frame.ts_ns
        if ts < 0 or ts >= 1 << 64:
            raise CaptureError(f"time stamp {ts} ns is outside what pcapng can store")
        opts = [_option(OPT_COMMENT, frame.comment.encode())] if frame.comment else []
        body = struct.pack("<IIIII", lid, ts >> 32, ts & 0xFFFFFFFF, len(data),
                           max(frame.origlen, len(data))) + data + pad + _options(opts)
        self._put(_block(EPB, body))
