"""A simple reference FrameStore: what select() needs, built the plain way, for tests and
benchmarks until the engine's first pass (analyzer/engine/firstpass.py) is plugged in.

index and summary columns as the engine builds them; tcp_bits from one in-order pass of the
dissectors through SequenceAnnotator (as `read` does); dissect(i) replays the capture in order
with a fresh CaptureState and annotator, so row i's tree carries the tcp.analysis.* items
tshark's single pass would show. Rows must be asked for in ascending order to stay linear
(select() does); asking for an earlier row restarts the replay.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dissectors import CaptureState, dissect_frame
from dissectors.packet import Packet
from dissectors.tree import Node

from ..capture.index import FrameIndex
from ..engine.annotate import SequenceAnnotator
from ..engine.summary import summarize


class ReferenceStore:
    def __init__(self, path: str, findings: dict[str, list[int]] | None = None) -> None:
        self.index = FrameIndex(path)
        self.index.build()
        self.cols = summarize(self.index)
        self._findings = {k: np.asarray(v, np.int64) for k, v in (findings or {}).items()}
        self.tcp_bits = np.zeros(len(self.index), np.uint32)
        self._restart()
        for i in range(len(self.index)):
            _root, _pkt, bits = self._step(tree=False)
            self.tcp_bits[i] = bits
        self._restart()
        self.dissected = 0      # frames dissected with a tree (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self.index)

    def close(self) -> None:
        self.index.close()

    def finding_rows(self, abbrev: str) -> np.ndarray:
        return self._findings.get(abbrev, np.zeros(0, np.int64))

    def _restart(self) -> None:
        self._state = CaptureState()
        self._annotate = SequenceAnnotator()
        self._next = 0

    def _step(self, tree: bool) -> tuple[Node | None, Packet, int]:
        i = self._next
        f = self.index.raw_frame(i)
        iface_name = ""
        if self.index.format == "pcapng" and 0 <= f.iface < len(self.index.interfaces):
            iface_name = self.index.interfaces[f.iface].name or "unknown"
        root, pkt = dissect_frame(f.data, number=i + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                                  linktype=f.linktype, iface=f.iface, comment=f.comment,
                                  has_ts=f.has_ts, iface_name=iface_name, state=self._state,
                                  tree=tree)
        bits = self._annotate(root, pkt)
        self._state.prev_displayed_ts_ns = f.ts_ns
        self._next = i + 1
        return root, pkt, bits

    def dissect(self, i: int) -> tuple[Any, Packet]:
        if i < self._next:
            self._restart()
        while self._next < i:
            self._step(tree=False)
        root, pkt, _bits = self._step(tree=True)
        self.dissected += 1
        return root, pkt
