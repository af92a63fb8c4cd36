#!/usr/bin/env python3
"""Display-filter speed after the first pass, next to tshark -Y on the same file.

    python3 benchmarks/bench_filter.py [--capture /tmp/bench/big.pcap]
                                       [--dissect-capture /tmp/bench/100k.pcap] [--no-tshark]

Prints, per filter, wirelens select() time and packets/s, the frames selected, and (unless
--no-tshark) tshark's time and frame count for `tshark -n -r FILE -Y FILTER`.

The store: FrameIndex + summary columns as the engine builds them; tcp_bits from an in-order
dissection pass with SequenceAnnotator (slow in Python, cached in /tmp, not part of any
figure: the engine's first pass owns it); dissect(i) dissects row i with a
CaptureState that sees only the rows asked for, in ascending order (the engine's store
keeps the whole capture's state; stream numbers differ, dissection cost does not). Filters
on fields this branch has no dissector for (dns.*, tls.*) are reported as such, and a
stand-in with the same pre-filter shape is timed instead: `udp.payload contains "api"`
with the columns narrowing it to UDP ports 53/5353/5355 (the rows the `dns` pre-filter lets
through) and `tcp.payload[0] == 16` (dissects TCP rows with payload, as tls.* does).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from analyzer.capture.index import FrameIndex
from analyzer.engine.annotate import SequenceAnnotator
from analyzer.engine.summary import summarize
from analyzer.filter import FilterError, compile_filter
from dissectors import CaptureState, dissect_frame

SUMMARY = ["tcp.port == 443 && tcp.analysis.retransmission",
           "ip.addr == 10.0.0.0/8 and not tcp.analysis.flags"]
DISSECT = [('dns.qry.name contains "api"',
            'udp.port in {53, 5353, 5355} and udp.payload contains "api"'),
           ("tls.handshake.type == 1", "tcp.payload[0] == 16")]


class BenchStore:
    def __init__(self, path: str) -> None:
        t = time.perf_counter()
        self.index = FrameIndex(path)
        self.index.build()
        self.cols = summarize(self.index)
        self.first_pass_s = time.perf_counter() - t
        self.tcp_bits = self._bits(path)
        self.dissected = 0
        self._state = CaptureState()   # sees only the rows dissected, in ascending order

    def _bits(self, path: str) -> np.ndarray:
        st = os.stat(path)
        cache = f"/tmp/wirelens_bench_bits_{os.path.basename(path)}_{st.st_size}.npy"
        if os.path.exists(cache):
            return np.load(cache)
        state, annotate = CaptureState(), SequenceAnnotator()
        bits = np.zeros(len(self.index), np.uint32)
        for i, f in enumerate(self.index.frames()):
            root, pkt = dissect_frame(f.data, number=i + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                                      linktype=f.linktype, iface=f.iface, state=state,
                                      tree=False)
            bits[i] = annotate(root, pkt)
        np.save(cache, bits)
        return bits

    def finding_rows(self, abbrev: str) -> np.ndarray:
        return np.zeros(0, np.int64)

    def dissect(self, i: int):
        f = self.index.raw_frame(i)
        self.dissected += 1
        return dissect_frame(f.data, number=i + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                             linktype=f.linktype, iface=f.iface, state=self._state)


def tshark(path: str, expr: str) -> tuple[float, int]:
    t = time.perf_counter()
    p = subprocess.run(["tshark", "-n", "-r", path, "-Y", expr, "-T", "fields",
                        "-e", "frame.number"], check=False, capture_output=True, text=True)
    return time.perf_counter() - t, len(p.stdout.split())


def ours(store: BenchStore, expr: str) -> tuple[float, int, int]:
    flt = compile_filter(expr)
    store._state = CaptureState()     # each select() asks for rows in ascending order
    before = store.dissected
    t = time.perf_counter()
    sel = flt.select(store)
    return time.perf_counter() - t, int(sel.sum()), store.dissected - before


def report(store: BenchStore, path: str, expr: str, label: str, run_tshark: bool) -> None:
    n = len(store.index)
    secs, hits, dis = ours(store, expr)
    line = f"{label:<62} wirelens {secs:7.2f} s {n / secs:>11,.0f} pkt/s  {hits:>7} frames " \
           f"({dis} dissected)"
    if run_tshark:
        ts, th = tshark(path, expr)
        line += f" | tshark {ts:6.1f} s {n / ts:>9,.0f} pkt/s {th:>7} frames | " \
                f"{ts / secs:6.1f}x"
    print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", default="/tmp/bench/big.pcap")
    ap.add_argument("--dissect-capture", default="/tmp/bench/100k.pcap",
                    help="file for the stand-in that dissects every TCP row with payload")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--only-dissect", action="store_true",
                    help="skip the summary-field filters")
    args = ap.parse_args()
    run_tshark = not args.no_tshark
    store = BenchStore(args.capture)
    print(f"{args.capture}: {len(store.index):,} frames; index+summary "
          f"{store.first_pass_s:.1f} s (first pass, not in the figures below)", flush=True)
    for expr in [] if args.only_dissect else SUMMARY:
        report(store, args.capture, expr, expr, run_tshark)
    for real, stand_in in DISSECT:
        try:
            compile_filter(real)
        except FilterError as e:
            print(f"{real:<62} not on this branch: {e.message}", flush=True)
        path = args.capture if stand_in.startswith("udp") else args.dissect_capture
        st = store if path == args.capture else BenchStore(path)
        report(st, path, stand_in, f"{stand_in} [{os.path.basename(path)}]", run_tshark)
        if run_tshark:
            ts, th = tshark(path, real)
            label = "  tshark with " + real
            print(f"{label:<62} tshark {ts:6.1f} s "
                  f"{len(st.index) / ts:>9,.0f} pkt/s {th:>7} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
