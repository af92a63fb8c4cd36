"""What every capture reader offers, whatever the format underneath."""
from __future__ import annotations

from typing import Iterator

from .model import Interface, RawFrame
from .source import GZIP_ERRORS, Source, stream_error


class CaptureReader:
    """A forward, lazy stream of RawFrames plus what the file says about itself.

    Iterating never raises: when the file is damaged, iteration stops after the last good
    frame and `error` holds one line saying what was wrong and where.
    """

    format = ""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.interfaces: list[Interface] = []
        self.error: str | None = None
        self.drops: dict[int, int] = {}
        self.secrets: list[tuple[int, bytes]] = []
        self.names: list[tuple[bytes, str]] = []
        self._it: Iterator[RawFrame] | None = None

    @property
    def name(self) -> str:
        return self.source.name

    def _frames(self) -> Iterator[RawFrame]:
        raise NotImplementedError

    def _guarded(self) -> Iterator[RawFrame]:
        """Run the format's generator, turning read failures into `error`."""
        try:
            yield from self._frames()
        except GZIP_ERRORS + (OSError,) as e:
            self.error = stream_error(self.source, e)
        except MemoryError:
            self.error = "out of memory while reading a record"

    def __iter__(self) -> Iterator[RawFrame]:
        # The generator itself, so a for loop pays no extra call per frame.
        if self._it is None:
            self._it = self._guarded()
        return self._it

    def __next__(self) -> RawFrame:
        return next(iter(self))

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "CaptureReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
