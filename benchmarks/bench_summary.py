"""Speed and memory of the first pass's front half: frame index + summary columns.

    python3 benchmarks/bench_summary.py FILE [--tshark]

Prints packets/s for building the index, for the summary pass and for both, the bytes per
packet the index and the columns keep, how many rows took the slow path, and the peak RSS.
--tshark also times `tshark -n -r FILE -q -z conv,tcp` on the same file for comparison (slow on
big files: tens of seconds per million packets).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.capture.index import FrameIndex
from analyzer.engine.summary import SLOW, summarize


def _index_bytes(index) -> int:
    return sum(getattr(index, name).nbytes
               for name in ("offsets", "caplens", "origlens", "ts_ns", "ifaces"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--tshark", action="store_true", help="also time tshark -z conv,tcp")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="run the summary once more under tracemalloc for its peak allocation")
    args = ap.parse_args()

    t0 = time.perf_counter()
    index = FrameIndex(args.file).build()
    t1 = time.perf_counter()
    cols = summarize(index)
    t2 = time.perf_counter()
    n = len(index)
    if n == 0:
        print("no packets")
        return 0
    per = lambda dt: n / dt if dt > 0 else float("inf")
    idx_b = _index_bytes(index)
    print(f"file              {args.file}  ({n} packets)")
    print(f"index build       {t1 - t0:7.3f} s  {per(t1 - t0):12,.0f} packets/s")
    print(f"summary           {t2 - t1:7.3f} s  {per(t2 - t1):12,.0f} packets/s")
    print(f"index + summary   {t2 - t0:7.3f} s  {per(t2 - t0):12,.0f} packets/s")
    print(f"bytes/packet      index {idx_b / n:.1f} + columns {cols.nbytes / n:.1f} "
          f"= {(idx_b + cols.nbytes) / n:.1f}")
    print(f"slow-path rows    {int(np.count_nonzero(cols.flags & SLOW))}")
    print(f"streams           tcp {_count(cols, 6)}  udp {_count(cols, 17)}")
    print(f"peak RSS          {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
          f" (the mapped capture's pages count too)")
    if args.tracemalloc:
        del cols
        tracemalloc.start()
        summarize(index)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"summary peak      {peak / 2**20:.0f} MB allocated ({peak / n:.0f} bytes/packet)")
    if args.tshark and shutil.which("tshark"):
        t = time.perf_counter()
        subprocess.run(["tshark", "-n", "-r", args.file, "-q", "-z", "conv,tcp"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        dt = time.perf_counter() - t
        print(f"tshark conv,tcp   {dt:7.3f} s  {per(dt):12,.0f} packets/s")
    return 0


def _count(cols, proto: int) -> int:
    s = cols.stream[cols.ip_proto == proto]
    return int(s.max()) + 1 if len(s) and s.max() >= 0 else 0


if __name__ == "__main__":
    sys.exit(main())
