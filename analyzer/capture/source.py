"""Bytes of a capture, read forward: a path, stdin or a file object, plain or gzip-compressed.

Everything is read in chunks with read1() where the object has it, so a frame that arrived on
a pipe is delivered at once instead of waiting for a full buffer, and nothing ever seeks: the
same code serves files, pipes and decompressors. The parsers keep absolute offsets (in the
decompressed stream) so the index can pread frames back later.
"""
from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import sys
import zlib
from typing import BinaryIO, Callable

from .model import CaptureError

CHUNK = 1 << 20

# Errors a damaged gzip stream can raise while we read it.
GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)

# First bytes of common non-capture files, so "not a capture file" can say what it is instead.
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xa1\xb2\xcd\x34", "a modified (Kuznetzov) pcap, which is not supported"),
    (b"\x34\xcd\xb2\xa1", "a modified (Kuznetzov) pcap, which is not supported"),
    (b"XCP\x00", "a NetXRay/Sniffer capture, which is not supported"),
    (b"\x00\x00\x01\xbb", "a snoop-like capture, which is not supported"),
    (b"snoop\x00", "a Solaris snoop capture, which is not supported"),
]


def describe_bytes(head: bytes) -> str:
    """A short human description of what a file that is not a capture starts with."""
    for sig, what in _SIGNATURES:
        if head.startswith(sig):
            return what
    text = head[:16]
    if text and all(32 <= c < 127 or c in (9, 10, 13) for c in text):
        shown = text.decode("ascii").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
        return f'text "{shown}"'
    return "bytes " + " ".join(f"{c:02x}" for c in head[:8])


class _Prefixed:
    """A read-only stream that returns `head` and then the rest of `fh` (for gzip after peeking)."""

    def __init__(self, head: bytes, fh: BinaryIO) -> None:
        self._head = head
        self._fh = fh
        self._read = getattr(fh, "read1", None) or fh.read

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._fh.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._fh.read(n) if n is None or n < 0 else self._read(n)

    read1 = read

    def tell(self) -> int:
        return self._fh.tell()


class Source:
    """A forward-only window over the capture bytes.

    `buf` holds the bytes from absolute offset `base`; parsers index into it and call
    `more(pos, need)` when a record runs past its end. `spool`, when set, receives every byte
    read, in order, so the stream can be kept in a file for random access later.
    """

    def __init__(self, fh: BinaryIO, name: str, closers: list, raw: BinaryIO | None = None,
                 spool: Callable[[bytes], None] | None = None) -> None:
        self.fh = fh
        self.name = name
        self.buf = b""
        self.base = 0
        self.eof = False
        self.spool = spool
        self.failure: BaseException | None = None
        self.failed_at = -1
        # read1 returns what a pipe has at once, so a live capture shows its first frame now;
        # from a regular file (gzip's read1 gives small pieces) we gather a whole chunk.
        read1 = getattr(fh, "read1", None)
        self._read = read1 or fh.read
        self._greedy = _is_regular(raw if raw is not None else fh)
        self._closers = closers
        self._raw = raw if raw is not None else fh

    def _chunk(self, n: int) -> bytes:
        data = self._read(n)
        if data and self.spool is not None:
            self.spool(data)
        return data

    def more(self, pos: int, need: int) -> int:
        """Drop the bytes before `pos` and read until `need` bytes follow it (or the end).

        Returns the new position of that byte (always 0). When the stream fails (damaged
        gzip, I/O error), the bytes read before the failure are kept for the parser and the
        error is raised on the next call, so every complete frame is still delivered.
        """
        if self.failure is not None:
            raise self.failure
        buf = self.buf
        have = len(buf) - pos
        parts = [buf[pos:]] if have > 0 else []
        self.base += pos
        want = max(need, CHUNK) if self._greedy else need
        try:
            while have < want and not self.eof:
                data = self._chunk(max(CHUNK, need - have))
                if not data:
                    self.eof = True
                    break
                parts.append(data)
                have += len(data)
        except GZIP_ERRORS + (OSError,) as e:
            self.failure = e
            self.eof = True
            self.failed_at = self.base + have
        finally:
            self.buf = parts[0] if len(parts) == 1 else b"".join(parts)
        if self.failure is not None and have < need:
            raise self.failure
        return 0

    def raw_pos(self) -> int | None:
        """Bytes consumed from the underlying file (compressed bytes for gzip), if known."""
        try:
            return self._raw.tell()
        except (OSError, AttributeError, ValueError):
            return None

    def close(self) -> None:
        for c in self._closers:
            try:
                c()
            except (OSError, ValueError):
                pass
        self._closers = []


def _is_regular(fh) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fh.fileno()).st_mode)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return False


def _open_path(path: str) -> BinaryIO:
    try:
        fh = open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except OSError as e:
        raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None
    try:
        st = os.fstat(fh.fileno())
    except OSError as e:
        fh.close()
        raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        fh.close()
        raise CaptureError(f"{path}: is a directory, not a capture file")
    return fh


def _peek(read: Callable[[int], bytes], n: int) -> bytes:
    """Read up to n bytes, looping over short reads (pipes), stopping at end of file."""
    parts: list[bytes] = []
    have = 0
    while have < n:
        data = read(n - have)
        if not data:
            break
        parts.append(data)
        have += len(data)
    return b"".join(parts)


def open_source(src, spool: Callable[[bytes], None] | None = None) -> tuple[Source, bytes]:
    """Open a path, "-" (stdin) or a binary file object; undo gzip; return it and its magic.

    The returned Source's buffer already holds the first bytes (at least 4 unless the stream
    is shorter), which the caller uses to pick the format. Raises CaptureError.
    """
    closers: list = []
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if path == "-":
            fh, name = sys.stdin.buffer, "standard input"
        else:
            fh, name = _open_path(path), path
            closers.append(fh.close)
    elif hasattr(src, "read"):
        fh, name = src, getattr(src, "name", None) or "input stream"
        if not isinstance(name, str):
            name = "input stream"
    else:
        raise CaptureError(f"cannot read a capture from {type(src).__name__}")
    raw = fh
    read = getattr(fh, "read1", None) or fh.read
    try:
        head = _peek(read, 16)
    except OSError as e:
        for c in closers:
            c()
        if e.errno == errno.EISDIR:
            raise CaptureError(f"{name}: is a directory, not a capture file") from None
        raise CaptureError(f"{name}: cannot read: {e.strerror or e}") from None
    if not head:
        for c in closers:
            c()
        raise CaptureError(f"{name}: empty file (0 bytes), not a capture file")
    if head[:2] == b"\x1f\x8b":
        gz = gzip.GzipFile(fileobj=_Prefixed(head, fh), mode="rb")
        closers.insert(0, gz.close)
        try:
            head = _peek(gz.read1, 16)
        except GZIP_ERRORS + (OSError,) as e:
            for c in closers:
                c()
            raise CaptureError(f"{name}: damaged gzip data ({_one_line(e)})") from None
        if not head:
            for c in closers:
                c()
            raise CaptureError(f"{name}: gzip-compressed but empty, not a capture file")
        fh = gz
    source = Source(fh, name, closers, raw=raw, spool=spool)
    source.buf = head
    if spool is not None:
        spool(head)
    return source, head


def stream_error(source: Source, e: BaseException) -> str:
    """The one-line error for a stream that failed under the parser (gzip damage, I/O)."""
    if isinstance(e, GZIP_ERRORS):
        return (f"damaged gzip data after byte {source.failed_at} of the decompressed capture "
                f"({_one_line(e)})")
    return f"read error after byte {source.failed_at}: {_one_line(e)}"


def _one_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return " ".join(text.split())
