"""Dispatch tables: which dissector handles a payload, as data rather than if-chains.

A dissector has the signature `fn(buf, off, end, tree, pkt) -> int | None`: `off` is where
its bytes start in the frame, `end` where the lower layer says they end (may lie beyond what
was captured), `tree` the parent node to add to, `pkt` the frame's context. It returns how
many bytes it used when that can be less than `end - off` (so Ethernet can show padding and
trailers), else None. Tables are
filled by each protocol module at import time (`ETHERTYPE.register(0x0800, dissect_ip)`).
"""
from __future__ import annotations

from typing import Callable, Hashable

from .buffer import Buf
from .packet import Packet
from .tree import Tree

Dissector = Callable[[Buf, int, int, Tree, Packet], int | None]
# A heuristic returns False, without touching tree or pkt, when the bytes are not its protocol.
Heuristic = Callable[[Buf, int, int, Tree, Packet], bool]


class Table:
    """Key -> dissector (Wireshark's dissector_table)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._map: dict[Hashable, Dissector] = {}

    def register(self, key: Hashable, fn: Dissector) -> None:
        self._map[key] = fn

    def get(self, key: Hashable) -> Dissector | None:
        return self._map.get(key)


class HeuristicList:
    """Ordered heuristics tried on a payload that no port claims (or before ports)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._list: list[tuple[str, Heuristic]] = []

    def register(self, proto: str, fn: Heuristic) -> None:
        self._list.append((proto, fn))

    def try_all(self, buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> bool:
        for _proto, fn in self._list:
            if fn(buf, off, end, tree, pkt):
                return True
        return False


LINKTYPE = Table("wtap_encap")   # pcap link type -> L2 dissector
ETHERTYPE = Table("ethertype")   # EtherType -> dissector
IP_PROTO = Table("ip.proto")     # IP protocol number (v4 and v6 next header) -> dissector
TCP_PORT = Table("tcp.port")
UDP_PORT = Table("udp.port")
TCP_HEUR = HeuristicList("tcp")
UDP_HEUR = HeuristicList("udp")
