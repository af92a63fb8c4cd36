"""The TUI's numbers on a big capture: first rows on screen, key latency in the packet
list, resident memory with the capture open.

    python3 benchmarks/bench_tui.py /tmp/bench/big.pcap [--keys N] [--wait S] [--full]

Runs the real app headless (Textual's run_test, 80x24). Key latency is measured from the
key event's creation to the packet list painting its last line for it, i.e. what a user
waits for, split by what the background was doing. Memory is VmRSS (anonymous and
file-backed: the capture's mapped pages) once the first pass is done and, with --full, once
the in-order dissection is, against the budget (150 B a packet for the first pass + 80 MB);
VmHWM is the peak. The load average is printed first: the machine is shared, and other
processes' CPU shows up in the latencies.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.tui import app as appmod  # noqa: E402
from analyzer.tui.packet_list import PacketList  # noqa: E402

T_IMPORTED = time.perf_counter()
KEYS = ["j", "j", "pagedown", "G", "k", "g", "pagedown", "pageup", "j", "end", "home"]


class TimedList(PacketList):
    """The packet list, noting when the first frame row is painted and how long each key
    took to reach the screen."""

    first_row_at: float | None = None
    pending: tuple[float, str, str] | None = None
    latencies: list[tuple[str, str, float]] = []

    async def _on_key(self, event) -> None:
        store = self.app.store
        phase = "indexing" if store.indexing else \
            "first pass" if store.stage != "done" else \
            "in-order dissection" if store.passed < len(store) else "idle"
        self.pending = (event.time, event.key, phase)
        await super()._on_key(event)

    def render_line(self, y: int):
        strip = super().render_line(y)
        if y >= 1 and self.count and TimedList.first_row_at is None:
            TimedList.first_row_at = time.perf_counter()
        if self.pending is not None and y == self.size.height - 1:
            t, key, phase = self.pending
            self.latencies.append((key, phase, time.monotonic() - t))
            self.pending = None
        return strip


def status_mb() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile and VmHWM of this process in MB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    return out


def memory_line(what: str, n: int) -> str:
    m = status_mb()
    budget = 150 * n / 2**20 + 80
    rss = m.get("VmRSS", 0.0)
    return (f"resident memory {what}: {rss:.0f} MB ({rss * 2**20 / max(n, 1):.0f} B/packet; "
            f"anon {m.get('RssAnon', 0):.0f} MB, file {m.get('RssFile', 0):.0f} MB, peak "
            f"{m.get('VmHWM', 0):.0f} MB); budget {budget:.0f} MB (150 B/packet + 80 MB): "
            f"{'within' if rss <= budget else 'OVER'}")


async def run(path: str, nkeys: int, wait: float, full: bool) -> None:
    appmod.PacketList = TimedList   # the app composes this class
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    t0 = time.perf_counter()
    app = appmod.WirelensApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        store = app.store
        while TimedList.first_row_at is None:
            await pilot.pause(0.005)
        print(f"imports (textual, app): {T_IMPORTED - T_START:.3f} s")
        print(f"first packet rows on screen: {TimedList.first_row_at - t0:.3f} s after the "
              f"app started ({TimedList.first_row_at - T_START:.3f} s after the process "
              f"started); {len(store)} frames indexed by then")
        # keys while the background work runs
        for i in range(nkeys):
            await pilot.press(KEYS[i % len(KEYS)])
        end = time.perf_counter() + wait
        while store.stage not in ("done", "cancelled") and time.perf_counter() < end:
            await pilot.pause(0.2)
        t_done = time.perf_counter() - t0
        print(f"index + first pass done: {t_done:.1f} s (stage {store.stage}); in-order "
              f"dissection at frame {store.passed} of {len(store)}")
        n = len(store)
        print(memory_line("with the capture open, first pass done", n))
        for i in range(nkeys):
            await pilot.press(KEYS[i % len(KEYS)])
        if full:
            t1 = time.perf_counter()
            while store.passed < len(store) and time.perf_counter() - t1 < wait:
                await pilot.pause(0.5)
            await pilot.pause(0.5)
            print(f"in-order dissection done: {time.perf_counter() - t0:.1f} s after start "
                  f"({store.passed} frames)")
            print(memory_line("once the in-order dissection is done", n))
            for i in range(nkeys):
                await pilot.press(KEYS[i % len(KEYS)])
        by_phase: dict[str, list[float]] = {}
        for key, phase, dt in TimedList.latencies:
            by_phase.setdefault(phase, []).append(dt * 1000)
        for phase, vals in by_phase.items():
            vals.sort()
            p90 = vals[min(len(vals) - 1, int(0.9 * len(vals)))]
            over = sum(v >= 50 for v in vals)
            print(f"key latency while {phase}: n={len(vals)} median {statistics.median(vals):.1f}"
                  f" ms, p90 {p90:.1f} ms, max {vals[-1]:.1f} ms, {over} at 50 ms or more")
        worst = {}
        for key, phase, dt in TimedList.latencies:
            worst[key] = max(worst.get(key, 0.0), dt * 1000)
        print("worst per key: " + ", ".join(f"{k} {v:.1f} ms" for k, v in worst.items()))
        store.cancel.set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--keys", type=int, default=11, help="keys pressed in each phase")
    ap.add_argument("--wait", type=float, default=300, help="seconds to wait for the first pass")
    ap.add_argument("--full", action="store_true",
                    help="also wait for the in-order dissection of every frame, then measure "
                         "memory and keys again")
    args = ap.parse_args()
    asyncio.run(run(args.file, args.keys, args.wait, args.full))


if __name__ == "__main__":
    main()
