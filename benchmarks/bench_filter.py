#!/usr/bin/env python3
"""Display-filter speed after the first pass, next to tshark -Y on the same file.

    python3 benchmarks/bench_filter.py FILE [--no-tshark | --tshark-tree-only] [--walk]
                                            [FILTER ...]

Runs the first pass (timed on its own line: a filter in the TUI or `report -Y` runs after it),
then each filter's `select()` on the store. Summary-column filters are answered from the
columns; the others dissect their candidate rows (those the per-protocol pre-filters leave)
through scoped dissection: only the frames the candidates' state depends on (their TCP/UDP
conversations up to them), trees only for the candidates, and for `tls.handshake.*` only for
the frames whose tree-less dissection met a Handshake record.

Per filter: time, packets/s over the whole capture, frames selected; where the time went
(candidate rows, frames dissected, trees built); unless --no-tshark, tshark's time and frame
count for `tshark -n -r FILE -Y FILTER` in the same run and the ratio of packets/s
(--tshark-tree-only: tshark only for the filters that needed dissection, since tshark takes
minutes per filter on a million packets). --walk also times the former way for those
filters: every frame of the capture dissected in order up to the last candidate.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.engine import scoped  # noqa: E402
from analyzer.engine.firstpass import first_pass  # noqa: E402
from analyzer.filter import compile_filter  # noqa: E402
from analyzer.filter import columns  # noqa: E402

FILTERS = ["tcp.port == 443 && tcp.analysis.retransmission",
           "ip.addr == 10.0.0.0/8 and not tcp.analysis.flags",
           'dns.qry.name contains "api"',
           "tls.handshake.type == 1"]

COUNTS = {"frames": 0, "trees": 0}
_dissect = scoped._dissect


def _counting(index, i, state, tree, prev):   # type: ignore[no-untyped-def]
    COUNTS["frames"] += 1
    COUNTS["trees"] += bool(tree)
    return _dissect(index, i, state, tree, prev)


class _Walk:
    """The store without dissect_rows: select() then asks Capture.dissect row by row,
    which walks every frame in order (the way before scoped dissection)."""

    def __init__(self, cap) -> None:   # type: ignore[no-untyped-def]
        self.cap = cap

    def __getattr__(self, name: str):   # type: ignore[no-untyped-def]
        if name == "dissect_rows":
            raise AttributeError(name)
        return getattr(self.cap, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("filters", nargs="*", default=FILTERS)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--tshark-tree-only", action="store_true")
    ap.add_argument("--walk", action="store_true")
    args = ap.parse_args()
    scoped._dissect = _counting
    t = time.perf_counter()
    cap = first_pass(args.file)
    n = len(cap)
    print(f"first pass        {time.perf_counter() - t:8.2f} s  ({n} packets)", flush=True)
    for text in args.filters:
        flt = compile_filter(text)
        sure, never = columns.tri(columns.Env(cap), flt._test)
        candidates = int((~(sure | never)).sum())
        COUNTS.update(frames=0, trees=0)
        t = time.perf_counter()
        rows = np.flatnonzero(flt.select(cap))
        dt = time.perf_counter() - t
        print(f"{text:50s} {dt:8.2f} s {n / dt:12,.0f} pkt/s {len(rows):8d} frames   "
              f"candidates {candidates}, dissected {COUNTS['frames']}, trees "
              f"{COUNTS['trees']}", flush=True)
        if args.walk and candidates:
            cap._cursor = None
            t = time.perf_counter()
            walk = np.flatnonzero(flt.select(_Walk(cap)))
            wt = time.perf_counter() - t
            print(f"{'  the walk over every frame':50s} {wt:8.2f} s {n / wt:12,.0f} pkt/s "
                  f"{len(walk):8d} frames   "
                  f"{'same frames' if walk.tolist() == rows.tolist() else 'DIFFERENT'}",
                  flush=True)
        if args.no_tshark or (args.tshark_tree_only and not candidates):
            continue
        t = time.perf_counter()
        out = subprocess.run(["tshark", "-n", "-r", args.file, "-Y", text, "-T", "fields",
                              "-e", "frame.number"], capture_output=True, text=True,
                             check=False).stdout.split()
        ts = time.perf_counter() - t
        same = [int(x) for x in out] == (rows + 1).tolist()
        print(f"{'  tshark -Y':50s} {ts:8.2f} s {n / ts:12,.0f} pkt/s {len(out):8d} frames   "
              f"wirelens {ts / dt:.1f}x tshark's packets/s, "
              f"{'same frames' if same else 'DIFFERENT frames'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
