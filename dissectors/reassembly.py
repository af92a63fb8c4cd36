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
Completed datagrams are kept so that a frame dissected again later (`pkt.visited`) gets
the same reassembled payload; they too have a byte budget, oldest dropped first.
"""
from __future__ import annotations

from array import array
from bisect import insort
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

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
    frame completed, `reassembled_in(frame)` where a frame's fragment ended up.
    """

    def __init__(self, *, max_fragments: int = MAX_FRAGMENTS, max_datagram: int = MAX_DATAGRAM,
                 max_pending: int = MAX_PENDING, max_pending_bytes: int = MAX_PENDING_BYTES,
                 timeout_ns: int = TIMEOUT_NS, retain_bytes: int = RETAIN_BYTES) -> None:
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
        dg = _defragment(key, frame, p)
        self._remember(dg)
        return dg

    # -- re-dissection -------------------------------------------------------------------
    def completed(self, frame: int, key: Hashable) -> Datagram | None:
        """The datagram with this key that `frame` completed during the first pass."""
        for dg in self._done.get(frame, ()):
            if dg.key == key:
                return dg
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

    def _remember(self, dg: Datagram) -> None:
        """Keep a completed datagram for re-dissection, within the byte budget."""
        self._done.setdefault(dg.frame, []).append(dg)
        self._done_bytes += len(dg.data)
        for f in dg.fragments:
            if f.frame != dg.frame:
                if f.frame >= len(self._in):
                    self._in.extend([0] * (f.frame + 1 - len(self._in)))
                self._in[f.frame] = dg.frame
        while self._done_bytes > self.retain_bytes and len(self._done) > 1:
            _, old = self._done.popitem(last=False)
            self._done_bytes -= sum(len(d.data) for d in old)


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


def _defragment(key: Hashable, frame: int, p: _Pending) -> Datagram:
    """Build the payload: the first fragment to reach a byte supplies it (see module doc)."""
    total = p.total
    out = bytearray(total)
    placed = 0              # bytes [0, placed) are filled
    head_flags = p.flags
    frags = []
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
                    out[start:end] = data[start - off:end - off]
                    placed = end
        head_flags |= flags
        frags.append(Fragment(fr, off, n, flags))
    return Datagram(key, frame, bytes(out), tuple(frags), head_flags)


__all__ = [
    "CONFLICT",
    "ERRORS",
    "MULTIPLE_TAILS",
    "OVERLAP",
    "TOO_LONG",
    "Datagram",
    "Fragment",
    "Reassembler",
]
