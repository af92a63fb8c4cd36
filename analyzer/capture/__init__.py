"""Capture sources and sinks: pcap and pcapng readers (files, gzip, stdin), writers, index,
live captures (dumpcap, tcpdump, AF_PACKET) and followed growing files.

FrameIndex (numpy) is imported on first use: streaming `read` never needs it, and numpy's
import alone would delay the first printed line. The live and follow sources are imported
on first use too: reading a file needs neither.
"""
import importlib
from typing import Any

from .model import CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError, Interface, RawFrame
from .opener import open_capture, open_writer
from .pcap import PcapWriter
from .pcapng import PcapngWriter
from .reader import CaptureReader

_LAZY = {"FrameIndex": ".index", "open_live": ".live", "LiveOptions": ".live",
         "LiveCapture": ".live", "PermissionDenied": ".live", "list_interfaces": ".live",
         "FollowedCapture": ".follow"}

__all__ = ["open_capture", "open_writer", "RawFrame", "CaptureError", "Interface",
           "FrameIndex", "open_live", "LiveOptions", "LiveCapture", "PermissionDenied",
           "list_interfaces", "FollowedCapture",
           "PcapWriter", "PcapngWriter", "CaptureReader",
           "CUSTOM_BLOCK_LINKTYPE", "NO_IFACE"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module, __name__), name)
