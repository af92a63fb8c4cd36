"""Capture sources and sinks: pcap and pcapng readers (files, gzip, stdin), writers, index.

FrameIndex (numpy) is imported on first use: streaming `read` never needs it, and numpy's
import alone would delay the first printed line.
"""
from typing import Any

from .model import CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError, Interface, RawFrame
from .opener import open_capture, open_writer
from .pcap import PcapWriter
from .pcapng import PcapngWriter
from .reader import CaptureReader

__all__ = ["open_capture", "open_writer", "RawFrame", "CaptureError", "Interface",
           "FrameIndex",
           "PcapWriter", "PcapngWriter", "CaptureReader",
           "CUSTOM_BLOCK_LINKTYPE", "NO_IFACE"]


def __getattr__(name: str) -> Any:
    if name == "FrameIndex":
        from .index import FrameIndex
        return FrameIndex
    raise AttributeError(name)
