"""`--follow FILE`: read a capture another tool is still writing, like `tail -f`.

The file is wrapped in a stream whose reads wait for more bytes instead of ending, so the
ordinary streaming pcap/pcapng readers parse it exactly as they parse a pipe; a record the
writer has only half written is simply waited for. stop() ends it after the bytes present.
"""
from __future__ import annotations

import os
import sys
import threading

from .model import CaptureError
from .opener import open_capture
from .reader import CaptureReader

POLL_S = 0.05


class GrowingFile:
    """A read-only stream over a file that is still growing; no fileno, so no greedy reads."""

    def __init__(self, path: str, stopped: threading.Event) -> None:
        self.name = path
        self._stopped = stopped
        self._fd = self._open(path)
        self._pos = 0

    def _open(self, path: str) -> int:
        told = False
        while True:
            try:
                return os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                if self._stopped.wait(POLL_S * 4):
                    raise CaptureError(f"{path}: no such file") from None
                if not told:
                    print(f"wirelens: waiting for {path} to appear", file=sys.stderr)
                    told = True
            except OSError as e:
                raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes, waiting while the writer has not written them; b"" once stopped."""
        n = n if n and n > 0 else 1 << 20
        while True:
            data = os.read(self._fd, n)
            if data:
                self._pos += len(data)
                return data
            if os.fstat(self._fd).st_size < self._pos:
                raise OSError(f"{self.name} was truncated while being followed")
            if self._stopped.is_set():
                return b""
            self._stopped.wait(POLL_S)

    read1 = read

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class FollowedCapture:
    """A reader over a growing capture file, with the live captures' stop()."""

    backend = "follow"

    def __init__(self, path: str) -> None:
        self._stopped = threading.Event()
        self._file = GrowingFile(path, self._stopped)
        try:
            self.reader: CaptureReader = open_capture(self._file)
        except BaseException:
            self._file.close()
            raise
        self.format = self.reader.format
        self.interfaces = self.reader.interfaces
        self.secrets = self.reader.secrets
        self.names = self.reader.names

    @property
    def name(self) -> str:
        return self._file.name

    @property
    def error(self) -> str | None:
        return self.reader.error

    def stop(self) -> None:
        """Stop following: frames already in the file are still delivered."""
        self._stopped.set()

    def kernel_drops(self) -> int | None:
        drops = self.reader.drops
        return sum(drops.values()) if drops else None

    def __iter__(self):
        return iter(self.reader)

    def close(self) -> None:
        self._stopped.set()
        self._file.close()
