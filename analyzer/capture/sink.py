"""Where writers put their bytes: only whole records ever reach the file.

Records are collected and handed to the file in batches of complete records, so whenever the
process stops (Ctrl-C runs close(), a kill loses only the unflushed batch) the file on disk ends
on a record boundary and stays readable.
"""
from __future__ import annotations

import os
from typing import BinaryIO

from .model import CaptureError

BATCH = 256 * 1024


class Sink:
    """A path or binary file object written in whole-record batches."""

    def __init__(self, target: str | os.PathLike | BinaryIO) -> None:
        if isinstance(target, (str, os.PathLike)):
            try:
                self._fh: BinaryIO = open(target, "wb", buffering=0)
            except OSError as e:
                raise CaptureError(f"{os.fspath(target)}: cannot write: "
                                   f"{e.strerror or e}") from None
            self._owned = True
        else:
            self._fh = target
            self._owned = False
        self._pending: list[bytes] = []
        self._size = 0
        self.closed = False

    def _put(self, record: bytes) -> None:
        self._pending.append(record)
        self._size += len(record)
        if self._size >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand every complete record written so far to the file."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            view = memoryview(data)
            while view:
                n = self._fh.write(view)
                # Buffered and most file-like objects take everything (some return None);
                # a raw file may take less, so write the rest.
                view = view[n:] if isinstance(n, int) and 0 < n < len(view) else view[:0]
        flush = getattr(self._fh, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            if self._owned:
                self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
