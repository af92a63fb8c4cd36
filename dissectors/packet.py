"""Per-frame dissection context (Wireshark's packet_info) and per-capture state.

`Packet` carries what layers tell each other while one frame is dissected: addresses and
ports for the layers above, the Protocol and Info columns, the protocol path
(`frame.protocols`), and expert items. `CaptureState` holds what outlives a frame: each
protocol keeps its own state object in it (stream tables, reassembly, transactions).
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from .fields import ExpertSpec, Severity

T = TypeVar("T")


class CaptureState:
    """State that spans frames of one capture, owned per protocol by key.

    Dissection runs in frame order during the first pass; `last_frame` is the highest frame
    number dissected so far. A frame at or below it is *visited*: protocols must read what
    they stored for it instead of updating their tables again (Wireshark's fd->visited).
    """

    def __init__(self) -> None:
        self._slots: dict[str, Any] = {}
        self.last_frame = 0
        self.first_ts_ns: int | None = None
        self.prev_ts_ns: int | None = None
        self.prev_displayed_ts_ns: int | None = None

    def slot(self, key: str, factory: Callable[[], T]) -> T:
        """The state object of one protocol, created on first use."""
        s = self._slots.get(key)
        if s is None:
            s = self._slots[key] = factory()
        return s


class Packet:
    """What the layers of one frame tell each other; discarded after the frame."""

    __slots__ = ("number", "ts_ns", "caplen", "length", "linktype", "iface", "state", "visited",
                 "col_protocol", "info", "fenced", "layers", "dl_src", "dl_dst", "net_src", "net_dst", "net_ver",
                 "ip_proto", "ttl", "srcport", "dstport", "ptype", "experts", "max_severity",
                 "current", "tcp", "udp", "in_error", "hints", "sources", "damage", "ip_frag")

    def __init__(self, number: int, ts_ns: int, caplen: int, length: int, linktype: int,
                 iface: int, state: CaptureState) -> None:
        self.number = number
        self.ts_ns = ts_ns
        self.caplen = caplen
        self.length = length
        self.linktype = linktype
        self.iface = iface
        self.state = state
        self.visited = number <= state.last_frame
        self.col_protocol = ""
        self.info: list[str] = []
        self.fenced = False          # columns frozen (inside an ICMP error's quoted packet)
        self.layers: list[str] = []  # frame.protocols
        self.dl_src: bytes = b""     # link-layer addresses (MAC), for the Source column
        self.dl_dst: bytes = b""
        self.net_src: bytes = b""    # network addresses: 4 bytes IPv4, 16 bytes IPv6
        self.net_dst: bytes = b""
        self.net_ver = 0
        self.ip_proto = -1
        self.ttl = -1                # TTL / hop limit of the innermost IP header (ICMP Info)
        self.srcport = -1
        self.dstport = -1
        self.ptype = ""
        self.experts: list[ExpertSpec] = []
        self.max_severity = 0
        self.current = "frame"       # protocol being dissected (for Malformed/Truncated notes)
        self.tcp: Any = None         # the TCP layer's summary, for analysis
        self.udp: Any = None
        self.in_error = False        # dissecting the packet quoted by an ICMP error
        self.hints: dict[str, Any] = {}
        self.damage = ""             # "", "short" (cut by snaplen) or "malformed"
        self.ip_frag = -1            # outermost IPv4 header's flags + fragment offset word
        # extra data sources (reassembled buffers) as (name, bytes); tree nodes with src=i
        # point into sources[i - 1]; src 0 is the frame itself
        self.sources: list[tuple[str, bytes]] = []

    def add_source(self, name: str, data: bytes) -> int:
        """Register a reassembled buffer for the hex pane; returns its `src` index."""
        self.sources.append((name, data))
        return len(self.sources)

    # -- columns -----------------------------------------------------------------------
    def set_protocol(self, name: str) -> None:
        if not self.fenced:
            self.col_protocol = name

    def set_info(self, text: str) -> None:
        if not self.fenced:
            self.info = [text]

    def append_info(self, text: str, sep: str = " ") -> None:
        if not self.fenced:
            if self.info and sep:
                self.info.append(sep)
            self.info.append(text)

    def prepend_info(self, text: str) -> None:
        if not self.fenced:
            self.info.insert(0, text)

    def info_text(self) -> str:
        return "".join(self.info)

    def enter(self, proto: str) -> None:
        """Record that a layer starts (frame.protocols and error attribution)."""
        self.layers.append(proto)
        self.current = proto

    def note(self, spec: ExpertSpec) -> None:
        self.experts.append(spec)
        if spec.severity > self.max_severity:
            self.max_severity = int(spec.severity)


__all__ = ["CaptureState", "Packet", "Severity"]
