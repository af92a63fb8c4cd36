"""`wirelens read` against tshark on the same file, in the same run.

Measures (issue: foundation):
  * -T fields with the issue's nine fields: packets/s for wirelens and tshark, and the ratio;
  * time to the first line of `wirelens read -r FILE`;
  * peak RSS of each `read` run (flat memory: it must not grow with the file).

    python3 benchmarks/bench_read.py /tmp/bench/big.pcap [--no-tshark] \
        [--flat /tmp/bench/10k.pcap /tmp/bench/100k.pcap]

The default text output dissects every frame in Python (its throughput is printed for the
--flat files, whose peak RSS shows memory staying flat as files grow); -T fields with
column-backed fields runs from the index and summary columns.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["frame.number", "frame.time_relative", "ip.src", "ip.dst", "tcp.srcport",
          "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.len"]
WIRELENS = [sys.executable, "-m", "analyzer.cli"]


# As a user runs it: byte-code caches allowed (this workplace sets PYTHONDONTWRITEBYTECODE,
# which would recompile every module on each start and dominate the first-line latency).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPATH"] = str(ROOT)


def run(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, output lines and peak RSS (KiB) of one command, output counted not kept."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                            env=ENV)
    lines = 0
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
        lines += chunk.count(b"\n")
    _, _, usage = os.wait4(proc.pid, 0)   # this child's own peak RSS
    proc.returncode = 0
    wall = time.perf_counter() - t0
    return wall, lines, usage.ru_maxrss


def first_line(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                            env=ENV)
    assert proc.stdout is not None
    proc.stdout.readline()
    t = time.perf_counter() - t0
    proc.kill()
    proc.wait()
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("file")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--flat", nargs="*", default=[],
                    help="files of growing size for the text read's peak RSS")
    args = ap.parse_args()
    efields = [x for f in FIELDS for x in ("-e", f)]
    print(f"file: {args.file} ({os.path.getsize(args.file) / 1e6:.0f} MB)")
    lat = min(first_line([*WIRELENS, "read", "-r", args.file]) for _ in range(3))
    print(f"wirelens read: first line after {lat * 1000:.0f} ms (best of 3)")
    for path in args.flat:
        wall, n, rss = run([*WIRELENS, "read", "-r", path])
        print(f"wirelens read (text) {path}: {n} lines in {wall:.1f} s = {n / wall:,.0f} "
              f"pkt/s, peak RSS {rss / 1024:.0f} MB")
    wall, n, rss = run([*WIRELENS, "read", "-r", args.file, "-T", "fields", *efields])
    ours = n / wall
    print(f"wirelens read -T fields: {n} lines in {wall:.1f} s = {ours:,.0f} pkt/s, "
          f"peak RSS {rss / 1024:.0f} MB")
    if not args.no_tshark and shutil.which("tshark"):
        wall, n, rss = run(["tshark", "-n", "-r", args.file, "-T", "fields", *efields])
        theirs = n / wall
        print(f"tshark -T fields: {n} lines in {wall:.1f} s = {theirs:,.0f} pkt/s, "
              f"peak RSS {rss / 1024:.0f} MB")
        print(f"ratio wirelens/tshark: {ours / theirs:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
