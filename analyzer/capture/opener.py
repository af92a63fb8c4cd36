"""Entry points: open a capture for reading, open a writer shaped like a reader."""
from __future__ import annotations

import os
from typing import BinaryIO, Callable

from .model import CaptureError
from .pcap import MAGICS, PcapReader, PcapWriter
from .pcapng import MAGIC as PCAPNG_MAGIC, PcapngReader, PcapngWriter
from .reader import CaptureReader
from .source import GZIP_ERRORS, Source, _one_line, describe_bytes, open_source


def reader_for(source: Source, head: bytes) -> CaptureReader:
    """The reader for the format `head` (the first bytes) announces, or CaptureError."""
    magic = head[:4]
    if magic in MAGICS:
        cls = PcapReader
    elif magic == PCAPNG_MAGIC:
        cls = PcapngReader
    elif len(head) < 4:
        raise CaptureError(f"{source.name}: only {len(head)} byte(s), not a capture file")
    else:
        raise CaptureError(f"{source.name}: not a pcap or pcapng capture file; it starts "
                           f"with {describe_bytes(head)}")
    try:
        return cls(source)
    except GZIP_ERRORS as e:
        raise CaptureError(f"{source.name}: damaged gzip data ({_one_line(e)})") from None
    except OSError as e:
        raise CaptureError(f"{source.name}: cannot read: {_one_line(e)}") from None


def open_capture(src: str | os.PathLike | BinaryIO,
                 spool: Callable[[bytes], None] | None = None) -> CaptureReader:
    """Open a pcap or pcapng capture (plain or gzip) from a path, "-" (stdin) or file object.

    Reads only the file header; frames come lazily from iteration. Raises CaptureError with
    a one-line message when the input cannot be a capture. `spool`, if given, receives every
    (decompressed) byte read, in order.
    """
    source, head = open_source(src, spool)
    try:
        return reader_for(source, head)
    except BaseException:
        source.close()
        raise


def open_writer(path: str | os.PathLike | BinaryIO, like: CaptureReader | None = None):
    """A writer in the reader's format: pcapng for pcapng input (or a .pcapng name), else pcap."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else ""
    fmt = like.format if like is not None else "pcap"
    if name.endswith((".pcapng", ".pcapng.gz", ".ntar")):
        fmt = "pcapng"
    if fmt == "pcapng":
        if like is None:
            return PcapngWriter(path)
        return PcapngWriter(path, like.interfaces, like.secrets)
    if like is None or not like.interfaces:
        raise CaptureError("a pcap writer needs the link type of the input")
    iface = like.interfaces[0]
    nano = iface.tsresol > 1_000_000
    return PcapWriter(path, iface.linktype, snaplen=iface.snaplen or 262144, nanosecond=nano)
