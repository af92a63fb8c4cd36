"""Bounded reassembly of IP fragments, shared by IPv4 (RFC 791 §3.2, RFC 815) and IPv6
(RFC 8200 §4.5).

Fragments are collected per datagram key (the caller's choice: IPv4 uses source,
destination, identification and protocol; IPv6 source, destination and identification).
A datagram is complete when the last fragment (More Fragments clear) has fixed its
length and the fragments seen so far cover every byte up to it without a hole.

Overlaps follow Wireshark's rules, so the bytes we hand to the next dissector are the
ones tshark shows: fragments are ordered by offset (earlier arrivals first among equal
offsets), the first fragment to cover a byte wins, and a later fragment that covers bytes
already placed is flagged *overlap*, plus *conflict* if its bytes differ. A fragment that
runs past the datagram's end is *too long*; a second last-fragment that disagrees on the
length is *multiple tails*.

Everything is bounded because every byte is hostile: fragments per datagram, bytes per
datagram (65535, the largest IP datagram), bytes held across pending datagrams, pending
datagrams at once, and their age (a datagram whose fragments stop arriving is dropped).
Completed datagrams are remembered so that a frame dissected again later (`pkt.visited`)
gets the same reassembled payload. Kept in memory, they have a byte budget, oldest dropped
first. A caller that can read frames again (the TUI) gives a `reread` function instead: a
datagram is then remembered by where its bytes lie in its fragments' frames (FrameRuns,
shared with TCP reassembly) and its fragment list, in compact arrays; only the most
recently used `cache_bytes` of datagrams stay in memory, and the others are read back
from their frames when asked for.
"""
from __future__ import annotations

import zlib
from array import array
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

# Per-fragment and per-datagram problem flags (Wireshark's FD_* flags, same meaning).
OVERLAP = 1        # covers bytes another fragment already supplied
CONFLICT = 2       # ... and its bytes differ from them
MULTIPLE_TAILS = 4  # a second "last fragment" ends the datagram somewhere else
TOO_LONG = 8       # runs past the end the last fragment set
ERRORS = CONFLICT | MULTIPLE_TAILS | TOO_LONG  # shown as defragmentation errors

MAX_DATAGRAM = 65535          # no IP datagram payload can be longer
MAX_FRAGMENTS = 1024          # fragments of one datagram (64 KiB in 64-byte pieces)
MAX_PENDING = 4096            # datagrams being reassembled at once
MAX_PENDING_BYTES = 32 << 20  # bytes held across all pending datagrams
TIMEOUT_NS = 120 * 10**9      # a datagram with no new fragment for this long is dropped
RETAIN_BYTES = 64 << 20       # bytes of completed datagrams kept for re-dissection
CACHE_BYTES = 1 << 20         # with `reread`: bytes of datagrams kept that can be read back

# frame number -> that frame's captured bytes, or None when they cannot be read (given by a
# caller that can read the capture again, such as the TUI's store; it never raises)
Reread = Callable[[int], "bytes | None"]


class FrameRuns:
    """Where the bytes of each reassembled buffer lie in the captured frames, so a buffer
    dropped from memory can be rebuilt by reading those frames again.

    Why: keeping every reassembled buffer for re-dissection costs as much memory as the
    reassembled traffic (tens of MB on a big capture); remembering where its bytes came
    from costs 12 bytes per piece, in arrays. An item is a buffer made of runs, in buffer
    order, each `size` bytes at offset `at` of frame `frame`'s captured bytes. An item with
    a piece that is not in its frame's bytes (it came from another reassembled buffer) has
    no runs: it cannot be rebuilt. A CRC-32 per item checks each rebuild, so a wrong offset
    or a changed file shows nothing rather than other bytes.
    """

    __slots__ = ("at", "crc", "first", "frame", "size")

    def __init__(self) -> None:
        self.first = array("I")     # item -> its first run (its runs end where the next's begin)
        self.crc = array("I")       # item -> CRC-32 of its bytes
        self.frame = array("I")     # run -> frame number
        self.at = array("I")        # run -> offset in that frame's captured bytes
        self.size = array("I")      # run -> bytes

    def __len__(self) -> int:
        return len(self.first)

    def add(self, runs: Sequence[tuple[int, int, int]], data: bytes) -> int:
        """Record a buffer made of these (frame, offset in it or -1 if not in it, size)
        runs in order; its id (ids count from 0 in the order of the calls)."""
        item = len(self.first)
        self.first.append(len(self.frame))
        readable = all(at >= 0 for _fr, at, _n in runs)
        self.crc.append(zlib.crc32(data) if readable else 0)
        if readable:
            for fr, at, n in runs:
                self.frame.append(fr)
                self.at.append(at)
                self.size.append(n)
        return item

    def span(self, item: int) -> range:
        """The item's runs (empty when it cannot be rebuilt)."""
        end = self.first[item + 1] if item + 1 < len(self.first) else len(self.frame)
        return range(self.first[item], end)

    def read(self, item: int, reread: Reread) -> bytes | None:
        """The item's bytes read back from its frames; None when they cannot be."""
        span = self.span(item)
        if not span:
            return None
        out = bytearray()
        for k in span:
            data = reread(self.frame[k])
            at, n = self.at[k], self.size[k]
            if data is None or at + n > len(data):
                return None
            out += data[at:at + n]
        whole = bytes(out)
        return whole if zlib.crc32(whole) == self.crc[item] else None


@dataclass(frozen=True, slots=True)
class Fragment:
    """One fragment of a completed datagram, as the fragment list shows it."""

    frame: int
    offset: int
    length: int
    flags: int


@dataclass(frozen=True, slots=True)
class Datagram:
    """A reassembled datagram: its payload and the fragments it was made of, in offset order."""

    key: Hashable
    frame: int                  # the frame whose fragment completed it
    data: bytes
    fragments: tuple[Fragment, ...]
    flags: int                  # union of the fragments' flags


class _Pending:
    """A datagram still being collected: fragments sorted by (offset, arrival)."""

    __slots__ = ("flags", "frags", "held", "last_ts", "seq", "total")

    def __init__(self, ts_ns: int) -> None:
        # (offset, arrival sequence, frame, data, flags): sortable without comparing bytes
        self.frags: list[tuple[int, int, int, bytes, int]] = []
        self.total = -1          # datagram length, known once a last fragment arrived
        self.held = 0
        self.flags = 0
        self.last_ts = ts_ns
        self.seq = 0


class Reassembler:
    """Per-capture fragment reassembly for one protocol (kept in `pkt.state.slot`).

    First pass: `add` each fragment in frame order; it returns the `Datagram` when that
    fragment completes one. Re-dissection: `completed(frame, key)` gives the datagram a
    frame completed, `reassembled_in(frame)` where a frame's fragment ended up. With
    `reread`, datagrams are read back from their frames (see the module doc); a caller
    creates the slot with it before the first frame.
    """

    def __init__(self, *, max_fragments: int = MAX_FRAGMENTS, max_datagram: int = MAX_DATAGRAM,
                 max_pending: int = MAX_PENDING, max_pending_bytes: int = MAX_PENDING_BYTES,
                 timeout_ns: int = TIMEOUT_NS, retain_bytes: int = RETAIN_BYTES,
                 reread: Reread | None = None, cache_bytes: int = CACHE_BYTES) -> None:
        self.max_fragments = max_fragments
        self.max_datagram = max_datagram
        self.max_held = 2 * max_datagram   # bytes held for one datagram, duplicates included
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.timeout_ns = timeout_ns
        self.retain_bytes = retain_bytes
        self._pending: OrderedDict[Hashable, _Pending] = OrderedDict()  # oldest activity first
        self._pending_bytes = 0
        # completing frame -> datagrams it completed (usually one), oldest first for eviction
        self._done: OrderedDict[int, list[Datagram]] = OrderedDict()
        self._done_bytes = 0
        # frame number -> frame that completed the datagram its fragment belongs to (0: none)
        self._in = array("I")
        self.reread = reread
        self.cache_bytes = cache_bytes
        # With reread, each datagram that can be read back (an id of `_runs`): the frame
        # that completed it (ascending), its key's hash, flags and first fragment; and per
        # fragment its frame, offset in the datagram, length and flags.
        self._runs = FrameRuns() if reread is not None else None
        self._dg_frame, self._dg_key = array("I"), array("q")
        self._dg_flags, self._dg_first = array("B"), array("I")
        self._fr_frame, self._fr_offset = array("I"), array("I")
        self._fr_len, self._fr_flags = array("I"), array("B")
        self._cache: OrderedDict[int, bytes] = OrderedDict()   # id -> bytes, least used first
        self._cache_used = 0

    # -- first pass ------------------------------------------------------------------------
    def add(self, key: Hashable, frame: int, ts_ns: int, offset: int, data: bytes,
            more: bool) -> Datagram | None:
        """Add one fragment (payload bytes at byte `offset`); return the datagram it completes.

        A fragment that cannot belong to a valid datagram (ends past 64 KiB) is ignored,
        and a datagram that exceeds its fragment or byte budget is dropped.
        """
        self._expire(ts_ns)
        end = offset + len(data)
        if offset < 0 or end > self.max_datagram:
            return None
        p = self._pending.get(key)
        if p is None:
            p = self._pending[key] = _Pending(ts_ns)
            if len(self._pending) > self.max_pending:
                self._drop(next(iter(self._pending)))
        else:
            self._pending.move_to_end(key)
            p.last_ts = ts_ns
        flags = 0
        if not more:
            if p.total < 0:
                p.total = end
            elif p.total != end:
                flags = MULTIPLE_TAILS
                p.flags |= MULTIPLE_TAILS
        p.seq += 1
        insort(p.frags, (offset, p.seq, frame, data, flags))
        p.held += len(data)
        self._pending_bytes += len(data)
        if len(p.frags) > self.max_fragments or p.held > self.max_held:
            self._drop(key)
            return None
        while self._pending_bytes > self.max_pending_bytes and self._pending:
            oldest = next(iter(self._pending))
            self._drop(oldest)
            if oldest == key:
                return None
        if p.total < 0 or not _covers(p.frags, p.total):
            return None
        self._drop(key)
        dg, pieces = _defragment(key, frame, p)
        self._remember(dg, pieces)
        return dg

    # -- re-dissection -------------------------------------------------------------------
    def completed(self, frame: int, key: Hashable) -> Datagram | None:
        """The datagram with this key that `frame` completed during the first pass."""
        for dg in self._done.get(frame, ()):
            if dg.key == key:
                return dg
        runs, reread = self._runs, self.reread
        if runs is not None and reread is not None:
            h = hash(key)
            i = bisect_left(self._dg_frame, frame)
            while i < len(self._dg_frame) and self._dg_frame[i] == frame:
                if self._dg_key[i] == h:
                    return self._read_back(i, key, runs, reread)
                i += 1
        return None

    def reassembled_in(self, frame: int) -> int:
        """The frame that completed the datagram `frame`'s fragment belongs to, or 0."""
        return self._in[frame] if frame < len(self._in) else 0

    # -- internals -----------------------------------------------------------------------
    def _expire(self, now_ns: int) -> None:
        """Drop datagrams whose last fragment is older than the timeout (oldest first)."""
        while self._pending:
            key, p = next(iter(self._pending.items()))
            if now_ns - p.last_ts <= self.timeout_ns:
                return
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        p = self._pending.pop(key, None)
        if p is not None:
            self._pending_bytes -= p.held

    def _remember(self, dg: Datagram, pieces: list[tuple[int, bytes]]) -> None:
        """Remember a completed datagram for re-dissection: where its bytes (`pieces`, per
        fragment frame in order) lie in the frames, or itself within the byte budget."""
        for f in dg.fragments:
            if f.frame != dg.frame:
                if f.frame >= len(self._in):
                    self._in.extend([0] * (f.frame + 1 - len(self._in)))
                self._in[f.frame] = dg.frame
        if self._runs is not None and self.reread is not None:
            runs = [(fr, _find(self.reread, fr, piece), len(piece)) for fr, piece in pieces]
            if all(at >= 0 for _fr, at, _n in runs):
                item = self._runs.add(runs, dg.data)
                self._dg_frame.append(dg.frame)
                self._dg_key.append(hash(dg.key))
                self._dg_flags.append(dg.flags)
                self._dg_first.append(len(self._fr_frame))
                for f in dg.fragments:
                    self._fr_frame.append(f.frame)
                    self._fr_offset.append(f.offset)
                    self._fr_len.append(f.length)
                    self._fr_flags.append(f.flags)
                self._cache_put(item, dg.data)
                return
        self._done.setdefault(dg.frame, []).append(dg)
        self._done_bytes += len(dg.data)
        while self._done_bytes > self.retain_bytes and len(self._done) > 1:
            _, old = self._done.popitem(last=False)
            self._done_bytes -= sum(len(d.data) for d in old)

    def _cache_put(self, item: int, data: bytes) -> None:
        self._cache[item] = data
        self._cache_used += len(data)
        while self._cache_used > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cache_used -= len(old)

    def _read_back(self, i: int, key: Hashable, runs: FrameRuns, reread: Reread
                   ) -> Datagram | None:
        """Datagram `i` of the arrays, its bytes from the cache or read from its frames."""
        data = self._cache.get(i)
        if data is None:
            data = runs.read(i, reread)
            if data is None:
                return None
            self._cache_put(i, data)
        else:
            self._cache.move_to_end(i)
        end = self._dg_first[i + 1] if i + 1 < len(self._dg_first) else len(self._fr_frame)
        frags = tuple(Fragment(self._fr_frame[k], self._fr_offset[k], self._fr_len[k],
                               self._fr_flags[k]) for k in range(self._dg_first[i], end))
        return Datagram(key, self._dg_frame[i], data, frags, self._dg_flags[i])


def read_back(state: Any, reread: Reread) -> None:
    """Make a capture's reassembly (TCP PDUs, IPv4 and IPv6 datagrams) read what it
    reassembled back through `reread` instead of keeping it all in memory. Call it on a
    fresh CaptureState, before the first frame: it creates their state slots."""
    from .tcp_reassembly import TcpReassembly
    state.slot("tcp_reassembly", lambda: TcpReassembly(reread=reread))
    for key in ("ip.reassembly", "ipv6.reassembly"):      # ipv4.py's and ipv6.py's slots
        state.slot(key, lambda: Reassembler(reread=reread))


def _find(reread: Reread, frame: int, piece: bytes) -> int:
    """Where these bytes are in the frame's captured bytes, -1 when they are not."""
    data = reread(frame)
    return data.find(piece) if data is not None else -1


def _covers(frags: list[tuple[int, int, int, bytes, int]], total: int) -> bool:
    """True when the fragments, in offset order, leave no hole before `total`."""
    reach = 0
    for off, _seq, _frame, data, _flags in frags:
        if off > reach:
            return False
        end = off + len(data)
        if end > reach:
            reach = end
            if reach >= total:
                return True
    return reach >= total


def _defragment(key: Hashable, frame: int, p: _Pending
                ) -> tuple[Datagram, list[tuple[int, bytes]]]:
    """Build the payload: the first fragment to reach a byte supplies it (see module doc);
    also the bytes each fragment supplied, as (frame, bytes) in order."""
    total = p.total
    out = bytearray(total)
    placed = 0              # bytes [0, placed) are filled
    head_flags = p.flags
    frags = []
    pieces: list[tuple[int, bytes]] = []
    for off, _seq, fr, data, flags in p.frags:
        n = len(data)
        if n:
            if off >= total:
                flags |= TOO_LONG
            else:
                if off < placed:
                    flags |= OVERLAP
                    cmp = min(n, placed - off)
                    if out[off:off + cmp] != data[:cmp]:
                        flags |= CONFLICT
                if off + n > total:
                    flags |= TOO_LONG
                end = min(off + n, total)
                if end > placed:
                    start = max(placed, off)
                    piece = data[start - off:end - off]
                    out[start:end] = piece
                    pieces.append((fr, piece))
                    placed = end
        head_flags |= flags
        frags.append(Fragment(fr, off, n, flags))
    return Datagram(key, frame, bytes(out), tuple(frags), head_flags), pieces


__all__ = [
    "CACHE_BYTES",
    "CONFLICT",
    "ERRORS",
    "MULTIPLE_TAILS",
    "OVERLAP",
    "TOO_LONG",
    "Datagram",
    "Fragment",
    "FrameRuns",
    "Reassembler",
    "Reread",
    "read_back",
]
