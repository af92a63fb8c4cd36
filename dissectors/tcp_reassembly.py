"""Reassembly of application PDUs that span TCP segments (Wireshark's tcp_dissect_pdus).

An application dissector over TCP (TLS now; DNS over TCP and HTTP later) calls
`dissect_pdus` with its payload and two functions: `pdu_len` reads a PDU header and says how
long the PDU is, `dissect_pdu` dissects one whole PDU. Several PDUs in one segment are
dissected one after the other; a PDU that runs past the segment is buffered per direction,
in sequence order, and dissected from a reassembled buffer in the frame whose bytes complete
it. That frame shows "[N Reassembled TCP Segments (X bytes): #a(n), #b(m)]" and the earlier
ones "[TCP segment of a reassembled PDU]", with tcp.reassembled_in once it is known, as tshark
4.0 shows them.

Use (DNS over TCP, RFC 1035 §4.2.2: a 2-byte length before each message):

    def _dns_len(data, off, end):
        return None if end - off < 2 else 2 + (data[off] << 8 | data[off + 1])

    def dissect_dns_tcp(buf, off, end, tree, pkt):
        dissect_pdus(buf, off, end, tree, pkt, pdu_len=_dns_len, dissect_pdu=_dns_message)

`pdu_len(data, off, end)` returns the whole PDU's length from its header, or None while
the header itself is incomplete (the next segment is then awaited); bytes that cannot be
a header should be taken whole (return end - off) so the application shows them as
continuation. `dissect_pdu(buf, off, end, tree, pkt)` gets exactly one PDU; for a
reassembled one `buf` holds only that PDU (offset 0) and `tree` points into its own data
source. Both run on the summary path too (tree is NULL_TREE) and must set the columns.

Sequence order, as tshark 4.0 with its default preferences: a segment whose bytes were all
seen already in this direction (a retransmission) is not handed to the application again,
and a retransmission inside a PDU already reassembled is reported as tshark does ("New
fragment overlaps old data"); a segment that falls inside a PDU still being collected is
placed at its offset even when it arrives out of order, so a PDU whose segment was lost and
retransmitted later still completes (in the frame that fills the last hole) and the stream
stays in step; a segment that starts after a hole elsewhere is dissected from its own start
(the application sees a continuation it cannot parse, as in tshark). A segment partly old and
partly new gives only its new bytes to the application.

Bounded memory, because every byte is hostile: one PDU may not exceed `MAX_PDU` bytes (a
longer announced length is not buffered: the bytes present are dissected as they are); a
direction holds at most `MAX_PENDING_PDUS` incomplete PDUs (the oldest is dropped) of at most
`MAX_PARTS` segments each (a PDU with more is dropped, its segments stay plain); the
bytes buffered across all directions are capped by `MAX_PENDING_BYTES` (the oldest pending
PDU is dropped, its segments then show as plain segments). Per-frame results are three
compact arrays, so a frame dissected again (`pkt.visited`) shows exactly what it showed on
the first pass, and so does its reassembled PDU: with a `reread` function (a caller that can
read frames again, such as the TUI), every PDU is remembered by where its bytes lie in the
segments' frames (reassembly.FrameRuns, a few bytes a segment), only the most recently used
`cache_bytes` of PDUs stay in memory, and an evicted one is read back from its frames when
its frame is dissected again. PDUs that cannot be read back (their bytes came from a
reassembled IP datagram), and every PDU without `reread`, are kept within `RETAIN_BYTES`
(oldest dropped: a later re-dissection of its frame shows the segments without the PDU).
"""
from __future__ import annotations

from array import array
from bisect import insort
from collections import OrderedDict
from collections.abc import Callable

from .buffer import Buf
from .fields import FT, Severity, expert, field
from .packet import Packet
from .reassembly import FrameRuns, Reread
from .tree import Tree

# (bytes, offset, end) -> PDU length in bytes, or None when the header itself is incomplete
PduLen = Callable[[bytes, int, int], "int | None"]
# the application dissector for one whole PDU: fn(buf, off, end, tree, pkt)
DissectPdu = Callable[[Buf, int, int, Tree, Packet], "int | None"]

MAX_PDU = 1 << 20              # one PDU; TLS records are under 18.5 kB, DNS under 64 kB
MAX_PARTS = 1024               # segments of one PDU
MAX_PENDING_PDUS = 4           # incomplete PDUs per direction (holes keep older ones open)
MAX_PENDING_BYTES = 32 << 20   # bytes buffered for incomplete PDUs across the capture
RETAIN_BYTES = 64 << 20        # bytes of reassembled PDUs kept that cannot be read back
CACHE_BYTES = 1 << 20          # with `reread`: bytes of PDUs kept that can be read back
SEGMENT_INFO = "[TCP segment of a reassembled PDU]"
OVERLAP_INFO = "[Reassembly error, protocol TCP: New fragment overlaps old data (retransmission?)]"

REASSEMBLED_IN = field("tcp.reassembled_in", "Reassembled PDU in frame", FT.FRAMENUM,
                       blurb="The frame where the PDU this segment belongs to is complete",
                       explain="This segment carries part of a larger message (for example a "
                               "TLS record); the whole message is dissected in that frame.")
SEGMENT_DATA = field("tcp.segment_data", "TCP segment data", FT.BYTES,
                     blurb="Payload bytes that belong to a PDU reassembled elsewhere")
SEGMENTS = field("tcp.segments", "Reassembled TCP Segments", FT.NONE,
                 blurb="The segments a reassembled PDU was made of")
SEGMENT = field("tcp.segment", "TCP Segment", FT.FRAMENUM,
                blurb="A frame whose payload is part of this reassembled PDU")
SEGMENT_COUNT = field("tcp.segment.count", "Segment count", FT.UINT32,
                      explain="How many segments one application message needed. Large "
                              "messages (certificate chains, responses) always span several.")
REASSEMBLED_LENGTH = field("tcp.reassembled.length", "Reassembled TCP length", FT.UINT32)
REASSEMBLED_DATA = field("tcp.reassembled.data", "Reassembled TCP Data", FT.BYTES)
REASSEMBLY_ERROR = expert("_ws.malformed.reassembly", "malformed", Severity.ERROR,
                          "New fragment overlaps old data (retransmission?)",
                          explain="A segment resent bytes inside a message that was already "
                                  "reassembled. Usually a retransmission after a lost ACK; "
                                  "harmless by itself.")

_RETRANS = -2   # _head value: every byte of the segment was seen before
_RETRANS_OVERLAP = -3   # ... inside a PDU already reassembled from several segments
_INCOMPLETE = 1 << 30   # _head flag: its head bytes went into a PDU still incomplete
_UNSET = -1


class _Pdu:
    """A PDU being collected in one direction: its first sequence number, its length once
    known (`want`, -1 until the header is complete) and the pieces received so far, placed by
    offset (an out-of-order segment inside the PDU fills a hole)."""

    __slots__ = ("held", "parts", "seq", "want")

    def __init__(self, seq: int, want: int) -> None:
        self.seq = seq
        self.want = want
        # (offset, bytes, frame, offset of the bytes in the frame or -1), sorted by offset
        self.parts: list[tuple[int, bytes, int, int]] = []
        self.held = 0

    def prefix(self) -> int:
        """How many bytes from the PDU's start are present without a hole."""
        reach = 0
        for o, b, _fr, _at in self.parts:
            if o > reach:
                break
            reach = max(reach, o + len(b))
        return reach

    def add(self, rel: int, data: bytes, frame: int, at: int) -> bool:
        """Place a piece (`at`: where it is in its frame's bytes, -1 when it is not); False
        when every byte of it was there already."""
        stop = rel + len(data)
        reach = rel                       # the piece is new unless the parts cover it all
        for o, b, _fr, _at in self.parts:      # sorted by offset
            if o > reach:
                break
            reach = max(reach, o + len(b))
        if reach >= stop:
            return False
        insort(self.parts, (rel, data, frame, at), key=lambda p: p[0])
        self.held += len(data)
        return True

    def assemble(self, size: int) -> tuple[bytes, list[tuple[int, int, int]]]:
        """The PDU's bytes (the first piece to cover a byte wins) and, per frame in offset
        order, the run it supplied: (frame, offset in the frame or -1, bytes)."""
        out = bytearray(size)
        placed = 0
        runs: list[tuple[int, int, int]] = []
        for o, b, fr, at in self.parts:
            end = min(o + len(b), size)
            if end > placed:
                out[placed:end] = b[placed - o:end - o]
                runs.append((fr, at + placed - o if at >= 0 else -1, end - placed))
                placed = end
        return bytes(out), runs


class _Done:
    """A reassembled PDU kept in memory: its bytes and (frame, bytes it supplied) in order."""

    __slots__ = ("data", "parts")

    def __init__(self, data: bytes, parts: tuple[tuple[int, int], ...]) -> None:
        self.data = data
        self.parts = parts


class TcpReassembly:
    """Per-capture state (kept in `pkt.state.slot("tcp_reassembly", TcpReassembly)`; a
    caller that can read frames again creates it first with `reread`, see the module doc)."""

    def __init__(self, reread: Reread | None = None, cache_bytes: int = CACHE_BYTES) -> None:
        # (stream, direction) -> [highest sequence number seen + 1, pending PDU or None,
        # (first, end) sequence numbers of the last PDU reassembled from several segments]
        self.dirs: dict[tuple[int, int], list] = {}
        self.pending: OrderedDict[tuple[int, int], int] = OrderedDict()  # dir -> bytes held
        self.pending_bytes = 0
        self.head = array("i")       # frame -> payload bytes that finished/continued a PDU
        self.done = array("i")       # frame -> id of the PDU it completed, -1 none
        self.rin = array("I")        # frame -> frame that completed its PDU, 0 unknown
        # PDU id -> PDU that cannot be read back, oldest first
        self.kept: OrderedDict[int, _Done] = OrderedDict()
        self.kept_bytes = 0
        self.next_id = 0
        self.reread = reread
        self.cache_bytes = cache_bytes
        self.runs = FrameRuns() if reread is not None else None   # PDU id -> its runs
        self.cache: OrderedDict[int, bytes] = OrderedDict()  # PDU id -> bytes, least used first
        self.cache_used = 0

    # -- per-frame records -----------------------------------------------------------------
    def _grow(self, frame: int) -> None:
        n = frame + 1 - len(self.head)
        if n > 0:
            self.head.extend([_UNSET] * n)
            self.done.extend([-1] * n)
            self.rin.extend([0] * n)

    def record(self, frame: int, head: int, done: int) -> None:
        self._grow(frame)
        self.head[frame] = head
        self.done[frame] = done

    def recall(self, frame: int) -> tuple[int, int, int]:
        """(head, done id, reassembled in) stored for a frame on the first pass."""
        if frame < len(self.head):
            return self.head[frame], self.done[frame], self.rin[frame]
        return _UNSET, -1, 0

    def keep(self, data: bytes, runs: list[tuple[int, int, int]], frame: int) -> int:
        """Remember a PDU completed in `frame` from these runs (Pdu.assemble); its id."""
        pid = self.next_id
        self.next_id += 1
        for fr, _at, _n in runs:
            if fr != frame:
                self._grow(fr)
                self.rin[fr] = frame
        if self.runs is not None:
            self.runs.add(runs, data)
            if self.runs.span(pid):
                self._cache(pid, data)
                return pid
        self.kept[pid] = _Done(data, tuple((fr, n) for fr, _at, n in runs))
        self.kept_bytes += len(data)
        while self.kept_bytes > RETAIN_BYTES and len(self.kept) > 1:
            _, old = self.kept.popitem(last=False)
            self.kept_bytes -= len(old.data)
        return pid

    def _cache(self, pid: int, data: bytes) -> None:
        self.cache[pid] = data
        self.cache_used += len(data)
        while self.cache_used > self.cache_bytes:
            _, old = self.cache.popitem(last=False)
            self.cache_used -= len(old)

    def pdu(self, pid: int) -> tuple[bytes, tuple[tuple[int, int], ...]] | None:
        """A PDU's bytes and (frame, bytes it supplied) in order, read back from its frames
        when it is no longer in memory; None when it is gone."""
        done = self.kept.get(pid)
        if done is not None:
            return done.data, done.parts
        runs = self.runs
        if runs is None or self.reread is None or not 0 <= pid < len(runs):
            return None
        data = self.cache.get(pid)
        if data is None:
            data = runs.read(pid, self.reread)
            if data is None:
                return None
            self._cache(pid, data)
        else:
            self.cache.move_to_end(pid)
        return data, tuple((runs.frame[k], runs.size[k]) for k in runs.span(pid))

    # -- pending budget -----------------------------------------------------------------------
    def hold(self, key: tuple[int, int], n: int) -> None:
        self.pending[key] = self.pending.get(key, 0) + n
        self.pending.move_to_end(key)
        self.pending_bytes += n
        while self.pending_bytes > MAX_PENDING_BYTES and self.pending:
            old, held = self.pending.popitem(last=False)
            self.pending_bytes -= held
            d = self.dirs.get(old)
            if d is not None:
                d[1] = []

    def release(self, key: tuple[int, int], pdu: _Pdu) -> None:
        """Forget one pending PDU's bytes."""
        held = self.pending.get(key)
        if held is None:
            return
        left = held - pdu.held
        self.pending_bytes -= min(pdu.held, held)
        if left > 0:
            self.pending[key] = left
        else:
            del self.pending[key]


def dissect_pdus(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, *,
                 pdu_len: PduLen, dissect_pdu: DissectPdu, keep_tcp_info: bool = False) -> None:
    """Dissect the PDUs in one TCP payload [off, end), reassembling those that span segments.

    Without a usable TCP segment summary (inside an ICMP error, a cut segment) the payload is
    dissected as it is, PDU after PDU, with no state kept. A frame that only starts a PDU
    shows "[TCP segment of a reassembled PDU]" as its Info (TLS: Wireshark's desegment_len
    path), or after the TCP summary with `keep_tcp_info` (DNS: its tcp_dissect_pdus path).
    """
    before = pkt.info_text() if keep_tcp_info else ""
    _dissect_pdus(buf, off, end, tree, pkt, pdu_len, dissect_pdu)
    if before and pkt.info_text() == SEGMENT_INFO:
        pkt.set_info(f"{before} {SEGMENT_INFO}")


def _dissect_pdus(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, pdu_len: PduLen,
                  dissect_pdu: DissectPdu) -> None:
    seg = pkt.tcp
    data = buf.data
    if seg is None or seg.len < 0 or seg.stream < 0 or pkt.in_error or len(data) < end:
        _direct(buf, off, end, tree, pkt, pdu_len, dissect_pdu)
        return
    st: TcpReassembly = pkt.state.slot("tcp_reassembly", TcpReassembly)
    if pkt.visited:
        _replay(st, buf, off, end, tree, pkt, pdu_len, dissect_pdu)
        return
    key = (seg.stream, seg.direction)
    seq, n = seg.seq, end - off
    d = st.dirs.get(key)
    if d is None:
        d = st.dirs[key] = [seq, [], (0, 0)]
    hw, pend = d[0], d[1]
    d[0] = max(hw, seq + n)
    start, done = off, -1
    pdu = next((p for p in pend if _holds(p, seq)), None)
    if pdu is not None:
        take, done, whole, runs = _add(st, key, d, pdu, buf, off, end, pkt, pdu_len)
        if take < 0:                                    # nothing new: a retransmission
            st.record(pkt.number, _RETRANS, -1)
            _retransmission(tree, pkt, off, end, buf, False)
            return
        start = off + take
        # recorded before dissecting, so a frame whose PDU turns out malformed replays alike
        st.record(pkt.number, take | (_INCOMPLETE if done < 0 else 0), done)
        if whole is not None:
            _dissect_reassembled(whole, tuple((fr, n) for fr, _at, n in runs), tree, pkt,
                                 dissect_pdu)
        if start >= end:
            if done < 0:
                _segment_only(tree, pkt, off, end, buf)
            return
        if done < 0:                     # its head went into a PDU still incomplete
            pkt.append_info(SEGMENT_INFO)
    elif seq + n <= hw:
        # Every byte seen before: a retransmission (or a late out-of-order segment). Inside
        # a PDU already reassembled (past its first segment) tshark reports the overlap.
        first, last = d[2]
        overlap = first < seq and seq + n <= last
        st.record(pkt.number, _RETRANS_OVERLAP if overlap else _RETRANS, -1)
        _retransmission(tree, pkt, off, end, buf, overlap)
        return
    elif seq < hw:
        start = off + (hw - seq)      # old bytes at the front: only the new ones go on
    if seq > hw:
        # A hole: a PDU whose header was incomplete cannot continue past it.
        for p in [p for p in pend if p.want < 0]:
            st.release(key, p)
            pend.remove(p)
    if pdu is None:
        st.record(pkt.number, start - off, done)
    tail = _loop(buf, start, end, tree, pkt, pdu_len, dissect_pdu, start > off or done >= 0)
    if tail >= 0:
        p = _Pdu(seq + (tail - off), _want(pdu_len, data, tail, end))
        p.add(0, bytes(data[tail:end]), pkt.number, _in_frame(buf, pkt, tail))
        if len(pend) >= MAX_PENDING_PDUS:
            st.release(key, pend.pop(0))
        pend.append(p)
        st.hold(key, end - tail)


def _holds(p: _Pdu, seq: int) -> bool:
    """Whether a segment starting at `seq` continues this pending PDU."""
    if p.want < 0:
        return seq == p.seq + p.prefix()
    return p.seq <= seq < p.seq + p.want


def _add(st: TcpReassembly, key: tuple[int, int], d: list, pdu: _Pdu, buf: Buf, off: int,
         end: int, pkt: Packet, pdu_len: PduLen
         ) -> tuple[int, int, bytes | None, list[tuple[int, int, int]]]:
    """Put this segment's bytes into the pending PDU; keep the PDU when it is complete.

    Returns (payload bytes that went into the PDU, or -1 when none was new; the id of the
    PDU completed here, or -1; its bytes and runs when completed)."""
    data = buf.data
    seq = pkt.tcp.seq
    rel = seq - pdu.seq
    if pdu.want < 0:
        take = min(end - off, MAX_PDU - rel)
    else:
        take = min(end - off, pdu.want - rel)
    if take <= 0 or not pdu.add(rel, bytes(data[off:off + take]), pkt.number,
                                _in_frame(buf, pkt, off)):
        return -1, -1, None, []
    st.hold(key, take)
    if pdu.want < 0:
        have = pdu.prefix()
        head, _ = pdu.assemble(have)
        pdu.want = _want(pdu_len, head, 0, have)
        if 0 <= pdu.want < have:                    # the segment runs past the PDU
            take -= have - pdu.want
    if len(pdu.parts) > MAX_PARTS:
        st.release(key, pdu)
        d[1].remove(pdu)
        return take, -1, None, []
    if pdu.want < 0 or pdu.prefix() < pdu.want:
        return take, -1, None, []
    st.release(key, pdu)
    d[1].remove(pdu)
    d[2] = (pdu.seq, pdu.seq + pdu.want)
    whole, runs = pdu.assemble(pdu.want)
    return take, st.keep(whole, runs, pkt.number), whole, runs


def _in_frame(buf: Buf, pkt: Packet, off: int) -> int:
    """Where buf[off] is in the frame's captured bytes: `off`, unless buf is a reassembled
    buffer (every reassembling dissector registers its buffer as a packet source): -1."""
    return -1 if any(buf.data is b for _name, b in pkt.sources) else off


def _want(pdu_len: PduLen, data: bytes, off: int, end: int) -> int:
    """The PDU length its header announces, capped; -1 while the header is incomplete."""
    n = pdu_len(data, off, end)
    if n is None:
        return -1
    return max(1, min(n, MAX_PDU))


def _loop(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, pdu_len: PduLen,
          dissect_pdu: DissectPdu, dissected: bool) -> int:
    """Dissect the whole PDUs in [off, end); return where an incomplete one starts, or -1."""
    data = buf.data
    pos = off
    while pos < end:
        n = pdu_len(data, pos, end)
        if n is not None and n > MAX_PDU:
            n = end - pos                     # too long to buffer: show what is here
        if n is None or pos + n > end:
            _start_segment(tree, pkt, pos, end, buf, dissected or pos > off)
            return pos
        dissect_pdu(buf, pos, pos + max(n, 1), tree, pkt)
        pos += max(n, 1)
    return -1


def _direct(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, pdu_len: PduLen,
            dissect_pdu: DissectPdu) -> None:
    """No reassembly possible: every PDU as far as the bytes go (the last may be cut)."""
    data = buf.data
    pos = off
    while pos < end:
        n = pdu_len(data, pos, end)
        if n is None or n > end - pos:
            n = end - pos
        dissect_pdu(buf, pos, pos + max(n, 1), tree, pkt)
        pos += max(n, 1)


def _replay(st: TcpReassembly, buf: Buf, off: int, end: int, tree: Tree, pkt: Packet,
            pdu_len: PduLen, dissect_pdu: DissectPdu) -> None:
    """A visited frame: show what the first pass found, from the per-frame records."""
    head, done, rin = st.recall(pkt.number)
    if head in (_RETRANS, _RETRANS_OVERLAP):
        _retransmission(tree, pkt, off, end, buf, head == _RETRANS_OVERLAP)
        return
    if head == _UNSET:
        _direct(buf, off, end, tree, pkt, pdu_len, dissect_pdu)
        return
    incomplete = bool(head & _INCOMPLETE)
    head &= ~_INCOMPLETE
    if done >= 0:
        got = st.pdu(done)
        if got is not None:
            _dissect_reassembled(*got, tree, pkt, dissect_pdu)
    if head >= end - off:
        if done < 0:
            _segment_only(tree, pkt, off, end, buf, rin)
        return
    if incomplete:
        pkt.append_info(SEGMENT_INFO)
    tail = _loop(buf, off + head, end, tree, pkt, pdu_len, dissect_pdu, head > 0 or done >= 0)
    if tail >= 0 and rin and tree:
        _tcp_node(tree).add(REASSEMBLED_IN, tail, 0, rin, f"Reassembled PDU in frame: {rin}",
                            generated=True)


# -- what the frames show ---------------------------------------------------------------------

def _tcp_node(tree: Tree) -> Tree:
    """The frame's TCP layer item (the last one: tunnels put the inner TCP last)."""
    for n in reversed(tree.children or ()):
        if n.spec is not None and n.spec.abbrev == "tcp":
            return n
    return tree


def _segment_only(tree: Tree, pkt: Packet, off: int, end: int, buf: Buf, rin: int = 0) -> None:
    """A segment in the middle of a PDU: the application dissector is not called."""
    pkt.append_info(SEGMENT_INFO)
    if tree:
        t = _tcp_node(tree)
        if rin:
            t.add(REASSEMBLED_IN, off, 0, rin, f"Reassembled PDU in frame: {rin}",
                  generated=True)
        size = end - off
        t.add(SEGMENT_DATA, off, size, buf.rest(off)[:size], f"TCP segment data ({size} bytes)")


def _start_segment(tree: Tree, pkt: Packet, pos: int, end: int, buf: Buf,
                   dissected: bool) -> None:
    """The first bytes of a PDU that continues in later segments. When nothing else in the
    frame was dissected, the frame is shown as plain TCP (tshark's desegment_offset 0)."""
    if not dissected:
        pkt.set_protocol("TCP")
        pkt.set_info(SEGMENT_INFO)
    pkt.hints["pdu_start"] = (pos, end)    # the caller may show its layer (see tls.py)
    if tree:
        size = end - pos
        _tcp_node(tree).add(SEGMENT_DATA, pos, size, buf.rest(pos)[:size],
                            f"TCP segment data ({size} bytes)")


def _dissect_reassembled(whole: bytes, parts: tuple[tuple[int, int], ...], tree: Tree,
                         pkt: Packet, dissect_pdu: DissectPdu) -> None:
    """Dissect a reassembled PDU from its own data source, after the segment list."""
    if tree:
        src = pkt.add_source(f"Reassembled TCP ({len(whole)} bytes)", whole)
        sub = tree.for_source(src)
        listing = ", ".join(f"#{fr}({n})" for fr, n in parts)
        s = sub.add(SEGMENTS, 0, len(whole), None,
                    f"{len(parts)} Reassembled TCP Segments ({len(whole)} bytes): {listing}",
                    generated=True)
        pos = 0
        for fr, n in parts:
            s.add(SEGMENT, pos, n, fr, f"Frame: {fr}, payload: {pos}-{pos + n - 1} "
                                       f"({n} bytes)", generated=True)
            pos += n
        s.add(SEGMENT_COUNT, 0, 0, len(parts), generated=True)
        s.add(REASSEMBLED_LENGTH, 0, 0, len(whole), generated=True)
        s.add(REASSEMBLED_DATA, 0, len(whole), whole, generated=True)
    else:
        sub = tree
    dissect_pdu(Buf(whole), 0, len(whole), sub, pkt)


def _retransmission(tree: Tree, pkt: Packet, off: int, end: int, buf: Buf,
                    overlap: bool) -> None:
    """Bytes seen before are not dissected again; the TCP layer shows them as data."""
    if overlap:
        pkt.append_info(OVERLAP_INFO, "")
        pkt.note(REASSEMBLY_ERROR)
    if tree:
        t = _tcp_node(tree)
        if overlap:
            t.add_expert(REASSEMBLY_ERROR, off, end - off)
        size = end - off
        t.add(SEGMENT_DATA, off, size, buf.rest(off)[:size],
              f"Retransmitted TCP segment data ({size} bytes)")


__all__ = [
    "CACHE_BYTES",
    "MAX_PDU",
    "MAX_PENDING_BYTES",
    "RETAIN_BYTES",
    "SEGMENT_INFO",
    "TcpReassembly",
    "dissect_pdus",
]
