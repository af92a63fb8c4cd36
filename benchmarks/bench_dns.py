"""DNS part of the first pass: how long `analyze_dns` takes on a capture, after the index and
the summary columns exist (they are the rest of the first pass and are timed by
bench_index.py / bench_summary.py).

    python3 benchmarks/bench_dns.py [/tmp/bench/big.pcap] [--repeat 3]

Prints the DNS rows picked, the transactions and findings, and the best wall and CPU time
of `analyze_dns` over the repeats (CPU time is the steadier figure on a shared machine).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.capture.index import FrameIndex
from analyzer.engine.dns import analyze_dns, candidate_rows
from analyzer.engine.summary import summarize


@dataclass
class Store:
    index: FrameIndex
    cols: object


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture", nargs="?", default="/tmp/bench/big.pcap")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    index = FrameIndex(args.capture)
    index.build()
    cols = summarize(index)
    prep = time.perf_counter() - t0
    store = Store(index, cols)
    best = cpu = float("inf")
    result = None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        result = analyze_dns(store)
        best = min(best, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    assert result is not None
    rows = len(candidate_rows(cols))
    print(f"capture            {args.capture}: {len(index)} frames "
          f"(index + summary {prep:.1f} s, not part of the figure)")
    print(f"DNS rows           {rows}")
    print(f"transactions       {len(result.transactions)}")
    print(f"findings           {dict(Counter(f.id for f in result.findings))}")
    print(f"analyze_dns        {best * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms CPU, best of "
          f"{args.repeat} ({cpu / max(rows, 1) * 1e6:.1f} us CPU per DNS row)")


if __name__ == "__main__":
    main()
