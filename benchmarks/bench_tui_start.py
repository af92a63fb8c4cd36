"""How soon `wirelens FILE` puts packet rows on a real terminal, from the process's start.

    python3 benchmarks/bench_tui_start.py /tmp/bench/big.pcap [--runs 5] [--size 80x24]
        [--wirelens .venv/bin/wirelens]

Starts `python -m analyzer.cli FILE` (or the given `wirelens` entry point, as `make run`
installs it) in a pseudo-terminal (TERM=xterm-256color) and reads
what it writes, with a time stamp per read. It reports, from the fork:

- first screen: the first frame's row painted before Textual loads (tui/firstpaint.py);
- app rows: the app's own frame that shows the first frame's row (after Textual's start,
  i.e. its switch to the alternate screen);
- hold ended: the terminal was told it may show the app (synchronized output ends);
- key: a `j` sent as soon as the app's rows are there, answered when the app draws the
  second frame's row highlighted (the cursor moved).

Each run is also made with WIRELENS_FIRST_SCREEN=0 (the app alone) for comparison. The load
average is printed first: the machine may be shared.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALT_ON = b"\x1b[?1049h"
SYNC_END = b"\x1b[?2026l"


def one_run(path: str, cols: int, rows: int, first_screen: bool,
            command: list[str]) -> dict[str, float]:
    """Times (s from fork) of what one start of the TUI wrote."""
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT),
               WIRELENS_FIRST_SCREEN="1" if first_screen else "0")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("NO_COLOR", None)
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(command[0], [*command, path], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    got: dict[str, float] = {}
    # the first frame's row: "    1 0.000000 ..." (No. right-aligned in 5 cells, then Time)
    row1 = re.compile(rb" {4}1 0\.0+ ")
    row2_cursor = re.compile(rb"\x1b\[[0-9;]*7[0-9;]*m {4}2 ")
    deadline = t0 + 30
    sent_key = None
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            now = time.perf_counter() - t0
            start = len(out)
            out += chunk
            alts = [m.start() for m in re.finditer(re.escape(ALT_ON), out)]
            app_from = alts[1] if first_screen and len(alts) > 1 else \
                alts[0] if not first_screen and alts else None
            if first_screen and "first screen" not in got and alts and \
                    row1.search(out, alts[0], app_from if app_from is not None else len(out)):
                got["first screen"] = now
            if app_from is not None and "app rows" not in got and row1.search(out, app_from):
                got["app rows"] = now
            if first_screen and "hold ended" not in got and app_from is not None and \
                    out.find(SYNC_END, max(app_from, start - 8)) >= 0 and "app rows" in got:
                got["hold ended"] = now
            if "app rows" in got and sent_key is None and \
                    (not first_screen or "hold ended" in got):
                os.write(fd, b"j")
                sent_key = now
                key_from = len(out)
            if sent_key is not None and row2_cursor.search(out, key_from):
                got["key"] = now - sent_key
                break
    finally:
        try:
            os.write(fd, b"q")
            time.sleep(0.3)
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size", default="80x24")
    ap.add_argument("--wirelens", help="the wirelens command to start (default: this "
                    "Python with -m analyzer.cli)")
    a = ap.parse_args()
    command = [a.wirelens] if a.wirelens else [sys.executable, "-m", "analyzer.cli"]
    cols, rows = (int(x) for x in a.size.split("x"))
    print(f"load average {os.getloadavg()[0]:.2f}, {a.capture}, {cols}x{rows}, "
          f"{' '.join(command)}")
    for first_screen in (True, False):
        runs = [one_run(a.capture, cols, rows, first_screen, command) for _ in range(a.runs)]
        label = "with the first screen" if first_screen else "app alone (WIRELENS_FIRST_SCREEN=0)"
        print(f"{label}:")
        for what in ("first screen", "app rows", "hold ended", "key"):
            vals = [r[what] for r in runs if what in r]
            if vals:
                print(f"  {what:13s} median {statistics.median(vals) * 1000:6.0f} ms  "
                      f"min {min(vals) * 1000:6.0f}  max {max(vals) * 1000:6.0f}  "
                      f"({len(vals)}/{len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
