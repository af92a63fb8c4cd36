"""Capture sources and sinks: pcap and pcapng readers (files, gzip, stdin), writers, index."""
from .index import FrameIndex
from .model import CUSTOM_BLOCK_LINKTYPE, NO_IFACE, CaptureError, Interface, RawFrame
from .opener import open_capture, open_writer
from .pcap import PcapWriter
from .pcapng import PcapngWriter
from .reader import CaptureReader

__all__ = ["open_capture", "open_writer", "RawFrame", "CaptureError", "Interface",
           "FrameIndex",
           "PcapWriter", "PcapngWriter", "CaptureReader",
           "CUSTOM_BLOCK_LINKTYPE", "NO_IFACE"]
