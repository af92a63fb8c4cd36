"""Speed and memory of the full first pass, side by side with tshark on the same file.

    python3 benchmarks/bench_firstpass.py FILE [--tshark] [--report] [--workers N]

Prints the time of each stage (index, summary, TCP analysis, conversations, findings), packets/s
of the whole pass, the bytes per packet the store keeps afterwards (index + summary columns +
TCP analysis columns + per-connection table), and the peak RSS. --tshark times
`tshark -n -r FILE -q -z conv,tcp` in the same run; --report times `wirelens report FILE --json`
end to end as a user runs it (a fresh process).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.engine import firstpass  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--tshark", action="store_true")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes for the TCP analysis (default: 2 on big captures)")
    args = ap.parse_args()

    if args.workers is not None:
        real = firstpass.analyze_tcp

        def fixed(*a, **k):
            return real(*a, **(k | {"workers": args.workers}))
        firstpass.analyze_tcp = fixed
    marks: list[tuple[str, float]] = []

    def progress(stage: str, fraction: float) -> None:
        if fraction == 0.0 or stage == "done":
            if not marks or marks[-1][0] != stage:
                marks.append((stage, time.perf_counter()))

    t0 = time.perf_counter()
    cap = firstpass.first_pass(args.file, progress=progress)
    total = time.perf_counter() - t0
    n = len(cap)
    print(f"file              {args.file}  ({n} packets)")
    for (stage, t), nxt in zip(marks, marks[1:] + [("", t0 + total)]):
        print(f"  {stage:14s}  {nxt[1] - t:7.3f} s")
    pps = n / total if total else float("inf")
    flows = cap.flows
    flow_bytes = sum(v.nbytes for v in vars(flows).values() if isinstance(v, np.ndarray))
    per = (cap.nbytes + flow_bytes) / max(1, n)
    print(f"first pass        {total:7.3f} s  {pps:12,.0f} packets/s")
    print(f"store             {per:.1f} bytes/packet (index + columns + TCP analysis "
          f"{cap.nbytes / max(1, n):.1f}, connections {flow_bytes / max(1, n):.1f})")
    print(f"findings          {len(cap.findings)}   TCP streams {len(flows)}")
    print(f"peak RSS          {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.tshark and shutil.which("tshark"):
        t = time.perf_counter()
        subprocess.run(["tshark", "-n", "-r", args.file, "-q", "-z", "conv,tcp"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        dt = time.perf_counter() - t
        print(f"tshark conv,tcp   {dt:7.3f} s  {n / dt:12,.0f} packets/s   "
              f"(wirelens {dt / total:.1f}x faster)")
    if args.report:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "analyzer.cli", "report", args.file, "--json"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           check=False)
        print(f"wirelens report   {time.perf_counter() - t:7.3f} s  (exit {r.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
