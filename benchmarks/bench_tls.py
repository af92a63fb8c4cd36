"""Cost of the TLS part of the first pass, and of dissecting TLS frames one by one.

    python3 benchmarks/bench_tls.py FILE [--repeat N] [--dissect N]

Builds the index and the summary columns (not timed here: bench_summary.py measures them),
then times `analyze_tls` (best of --repeat runs): TLS connections found, handshakes with a
version, findings by kind, time and time per connection. --dissect N also times the full
dissection (tree) of the first N frames of the file in order, TLS reassembly included, in
frames/s, as `read -V` and the details pane pay it.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.capture import open_capture
from analyzer.capture.index import FrameIndex
from analyzer.engine.summary import SummaryColumns, summarize
from analyzer.engine.tls import analyze_tls
from dissectors import CaptureState, dissect_frame


@dataclass
class Store:
    index: FrameIndex
    cols: SummaryColumns


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dissect", type=int, default=0, metavar="N")
    args = ap.parse_args()
    index = FrameIndex(args.file).build()
    cols = summarize(index)
    store = Store(index, cols)
    best = float("inf")
    result = None
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        result = analyze_tls(store)
        best = min(best, time.perf_counter() - t0)
    hs = result.handshakes
    print(f"file                {args.file}  ({len(index)} packets)")
    print(f"TLS connections     {len(hs)}  ({sum(1 for h in hs if h.version)} with a "
          f"ServerHello, {sum(1 for h in hs if h.complete)} complete)")
    print(f"analyze_tls         {best * 1000:8.1f} ms  (best of {args.repeat}), "
          f"{best * 1e6 / max(len(hs), 1):.0f} us per connection")
    kinds = Counter(f.id for f in result.findings)
    for k, v in sorted(kinds.items()):
        print(f"  {k:40s} {v}")
    if args.dissect:
        with open_capture(args.file) as reader:
            state = CaptureState()
            t0 = time.perf_counter()
            n = 0
            for f in reader:
                n += 1
                dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                              linktype=f.linktype, state=state)
                if n >= args.dissect:
                    break
            dt = time.perf_counter() - t0
        print(f"full dissection     {n} frames in {dt:.2f} s = {n / dt:,.0f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
