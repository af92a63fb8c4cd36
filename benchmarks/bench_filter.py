#!/usr/bin/env python3
"""Display-filter speed after the first pass, next to tshark -Y on the same file.

    python3 benchmarks/bench_filter.py FILE [--no-tshark] [FILTER ...]

Runs the first pass (timed on its own line: a filter in the TUI or `report -Y` runs after it),
then each filter's `select()` on the store: summary-column filters are answered from the
columns; the others dissect only the rows the columns cannot rule out (per-protocol
pre-filters, the TLS connections the first pass found), in frame order. Prints the time,
packets/s over the whole capture, frames selected and, unless --no-tshark, tshark's time and
frame count for `tshark -n -r FILE -Y FILTER` in the same run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.engine.firstpass import first_pass  # noqa: E402
from analyzer.filter import compile_filter  # noqa: E402

FILTERS = ["tcp.port == 443 && tcp.analysis.retransmission",
           "ip.addr == 10.0.0.0/8 and not tcp.analysis.flags",
           'dns.qry.name contains "api"',
           "tls.handshake.type == 1"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("filters", nargs="*", default=FILTERS)
    ap.add_argument("--no-tshark", action="store_true")
    args = ap.parse_args()
    t = time.perf_counter()
    cap = first_pass(args.file)
    n = len(cap)
    print(f"first pass        {time.perf_counter() - t:8.2f} s  ({n} packets)")
    for text in args.filters:
        flt = compile_filter(text)
        cap._cursor = None        # each filter starts from a fresh dissection cursor
        t = time.perf_counter()
        rows = np.flatnonzero(flt.select(cap))
        dt = time.perf_counter() - t
        line = f"{text:52s} {dt:8.2f} s {n / dt:12,.0f} pkt/s {len(rows):8d} frames"
        if not args.no_tshark:
            t = time.perf_counter()
            out = subprocess.run(["tshark", "-n", "-r", args.file, "-Y", text, "-T", "fields",
                                  "-e", "frame.number"], capture_output=True, text=True,
                                 check=False).stdout.split()
            ts = time.perf_counter() - t
            same = [int(x) for x in out] == (rows + 1).tolist()
            line += f" | tshark {ts:8.2f} s {len(out):8d} frames  {ts / dt:6.1f}x" \
                    f"  {'same frames' if same else 'DIFFERENT frames'}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
