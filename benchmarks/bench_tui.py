"""The TUI's numbers on a big capture: first rows on screen, key latency in the packet
list, resident memory with the capture open.

    python3 benchmarks/bench_tui.py /tmp/bench/big.pcap [--keys N] [--wait S] [--full]
                                    [--every S] [--filter EXPR]...

Runs the real app headless (Textual's run_test, 80x24). Key latency is measured from the
key event's creation to the packet list painting its last line for it, i.e. what a user
waits for, split by what the background was doing. With --full, keys are also pressed
every --every seconds for as long as the in-order dissection runs (not only in a burst at
its start), so the whole phase is sampled; the same while each --filter runs (applied as
the filter bar does, at the end). Every key of 50 ms or more is listed with what
overlapped it: a collection of the garbage collector, a details-pane dissection (its
connection's TCP analysis replayed in a worker), and the load average.

Memory is VmRSS (anonymous and file-backed: the capture's mapped pages), sampled every
0.1 s by a thread from the moment the first pass is done, i.e. its result is handed over
(the first pass's own peak is in its child process, not the UI's): the highest sample in
each phase after it, and once the in-order dissection is done, against the budget (150 B
a packet for the first pass + 80 MB); VmHWM is the process's peak, including the hand-over
of the first pass's result. The load average is printed with every figure: the machine is
shared, and other processes' CPU shows up in the latencies.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import statistics
import sys
import threading
import time
from pathlib import Path

T_START = time.perf_counter()
T_MONO = time.monotonic()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.tui import app as appmod  # noqa: E402
from analyzer.tui.packet_list import PacketList  # noqa: E402
from analyzer.tui.store import Store  # noqa: E402

T_IMPORTED = time.perf_counter()
KEYS = ["j", "j", "pagedown", "G", "k", "g", "pagedown", "pageup", "j", "end", "home"]
SLOW_MS = 50.0


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def schedstat() -> tuple[float, float]:
    """This thread's CPU time and time spent waiting for a CPU (runnable, not running), in
    seconds, from the scheduler's own accounting."""
    try:
        with open("/proc/thread-self/schedstat") as fh:
            run, wait, _ = fh.read().split()
        return int(run) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


Mark = tuple[float, float, float]     # monotonic time, CPU time, time waiting for a CPU


def mark() -> Mark:
    return (time.monotonic(), *schedstat())


def between(a: Mark, b: Mark) -> str:
    return (f"{(b[0] - a[0]) * 1000:.0f} ms (CPU {(b[1] - a[1]) * 1000:.0f}, waiting for a "
            f"CPU {(b[2] - a[2]) * 1000:.0f})")


class TimedList(PacketList):
    """The packet list, noting when the first frame row is painted and how long each key
    took to reach the screen. Each key's time is split where it passed the app (which
    tells the store the user is active) and the list, and each part into the UI thread's
    time on a CPU, waiting for a CPU (other processes), and neither (waiting for the
    interpreter lock, the store, or the next screen refresh)."""

    first_row_at: float | None = None
    sent: Mark | None = None          # the bench is about to press a key
    seen: Mark | None = None          # the app took the key in (store.user_active)
    pending: tuple[float, str, str, Mark, Mark | None, Mark] | None = None
    # (key, phase, start, seconds, load average, frames passed by the in-order dissection,
    #  how the seconds split, as words)
    latencies: list[tuple[str, str, float, float, str, int, str]] = []

    async def _on_key(self, event) -> None:
        sent = TimedList.sent or mark()
        seen = TimedList.seen if TimedList.seen and TimedList.seen[0] >= sent[0] else None
        self.pending = (event.time, event.key, phase_of(self.app), sent, seen, mark())
        await super()._on_key(event)

    def render_line(self, y: int):
        strip = super().render_line(y)
        if y >= 1 and self.count and TimedList.first_row_at is None:
            TimedList.first_row_at = time.perf_counter()
        if self.pending is not None and y == self.size.height - 1:
            t, key, phase, sent, seen, at_list = self.pending
            done = mark()
            split = (f"to the app {between(sent, seen)}, to the list {between(seen, at_list)}"
                     if seen is not None else f"to the list {between(sent, at_list)}") + \
                f", to the screen {between(at_list, done)}"
            self.latencies.append((key, phase, t, done[0] - t, load(), self.app.store.passed,
                                   split))
            self.pending = None
        return strip


def phase_of(app) -> str:
    """What the background is doing; the first pass lasts until its result is handed over
    (store.cap), and the in-order dissection runs from the start alongside it."""
    store = app.store
    if app.filter_progress is not None:
        return "filtering"
    return "indexing" if store.indexing else \
        "first pass" if store.cap is None and store.stage != "cancelled" else \
        "in-order dissection" if store.passed < len(store) else "idle"


class Intervals:
    """Time intervals (monotonic start, seconds, what) of things that can delay a key."""

    def __init__(self) -> None:
        self.items: list[tuple[float, float, str]] = []
        self._gc_start = 0.0

    def gc_callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.monotonic()
        else:
            now = time.monotonic()
            self.items.append((self._gc_start, now - self._gc_start,
                               f"gc gen{info['generation']}"))

    @staticmethod
    def wrap_user_active() -> None:
        """Note when the app tells the store a key came in."""
        original = Store.user_active

        def user_active(store, *args):
            TimedList.seen = mark()
            return original(store, *args)
        Store.user_active = user_active   # type: ignore[method-assign]

    def wrap_dissect(self) -> None:
        """Note every details-tree dissection (tree=True) and the thread it ran in."""
        original = Store.dissect
        items = self.items

        def dissect(store, row, tree=True):
            t = time.monotonic()
            try:
                return original(store, row, tree)
            finally:
                if tree:
                    where = "UI" if threading.current_thread() is threading.main_thread() \
                        else "worker"
                    items.append((t, time.monotonic() - t, f"details dissection ({where})"))
        Store.dissect = dissect   # type: ignore[method-assign]

    def overlapping(self, start: float, seconds: float) -> str:
        hits = [f"{what} {dt * 1000:.0f} ms" for t, dt, what in self.items
                if t < start + seconds and t + dt > start and dt >= 0.002]
        return ", ".join(hits) or "nothing noted"


class RssSampler(threading.Thread):
    """VmRSS every `period` seconds with the phase and the in-order dissection's frame."""

    def __init__(self, app, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.app, self.store, self.period = app, app.store, period
        self.samples: list[tuple[str, float, int, str]] = []   # phase, MB, passed, load
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.period):
            store = self.store
            if store.cap is None:     # the first pass's result is not handed over yet
                continue
            self.samples.append((phase_of(self.app), status_mb().get("VmRSS", 0.0),
                                 store.passed, load()))

    def peak(self, phase: str) -> tuple[float, int, str, int] | None:
        got = [(mb, passed, ld) for ph, mb, passed, ld in self.samples if ph == phase]
        if not got:
            return None
        mb, passed, ld = max(got)
        return mb, passed, ld, len(got)


def status_mb() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile and VmHWM of this process in MB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    return out


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def malloc_mb() -> str:
    """What glibc's malloc holds: bytes in use and bytes free inside its heaps (resident
    until trimmed, so a high figure means fragmentation, not data)."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return "malloc figures unavailable"
    fn.restype = _Mallinfo2
    m = fn()
    return (f"malloc {(m.uordblks + m.hblkhd) / 2**20:.0f} MB in use, "
            f"{m.fordblks / 2**20:.0f} MB free in its heaps (resident until trimmed)")


def budget_mb(n: int) -> float:
    return 150 * n / 2**20 + 80


def verdict(mb: float, n: int) -> str:
    return "within" if mb <= budget_mb(n) else "OVER"


def memory_line(what: str, n: int) -> str:
    m = status_mb()
    rss = m.get("VmRSS", 0.0)
    return (f"resident memory {what}: {rss:.0f} MB ({rss * 2**20 / max(n, 1):.0f} B/packet; "
            f"anon {m.get('RssAnon', 0):.0f} MB, file {m.get('RssFile', 0):.0f} MB, peak "
            f"{m.get('VmHWM', 0):.0f} MB; {malloc_mb()}); budget {budget_mb(n):.0f} MB "
            f"(150 B/packet + 80 MB): {verdict(rss, n)}; {load()}")


async def press(pilot, keys: int, at: int = 0) -> int:
    for i in range(keys):
        TimedList.sent = mark()
        await pilot.press(KEYS[(at + i) % len(KEYS)])
    return at + keys


async def run(path: str, nkeys: int, wait: float, full: bool, every: float,
              filters: list[str]) -> None:
    appmod.PacketList = TimedList   # the app composes this class
    print(f"{load()} at start")
    marks = Intervals()
    gc.callbacks.append(marks.gc_callback)
    marks.wrap_dissect()
    marks.wrap_user_active()
    t0 = time.perf_counter()
    app = appmod.WirelensApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        store = app.store
        sampler = RssSampler(app)
        sampler.start()
        while TimedList.first_row_at is None:
            await pilot.pause(0.005)
        print(f"imports (textual, app): {T_IMPORTED - T_START:.3f} s")
        print(f"first packet rows on screen: {TimedList.first_row_at - t0:.3f} s after the "
              f"app started ({TimedList.first_row_at - T_START:.3f} s after the process "
              f"started); {len(store)} frames indexed by then; {load()}")
        # keys while the background work runs
        k = await press(pilot, nkeys)
        end = time.perf_counter() + wait
        while store.cap is None and store.stage != "cancelled" and \
                time.perf_counter() < end:
            await pilot.pause(0.2)
        t_done = time.perf_counter() - t0
        print(f"index + first pass done: {t_done:.1f} s (stage {store.stage}); in-order "
              f"dissection at frame {store.passed} of {len(store)}; {load()}")
        n = len(store)
        print(memory_line("with the capture open, first pass done", n))
        k = await press(pilot, nkeys, k)
        if full:
            t1 = time.perf_counter()
            while store.passed < len(store) and time.perf_counter() - t1 < wait:
                await pilot.pause(every)
                k = await press(pilot, 1, k)
            await pilot.pause(0.5)
            print(f"in-order dissection done: {time.perf_counter() - t0:.1f} s after start "
                  f"({store.passed} frames); {load()}")
            print(memory_line("once the in-order dissection is done", n))
            k = await press(pilot, nkeys, k)
            await pilot.pause(0.5)
            print(memory_line("after those keys", n))
        for text in filters:
            t1 = time.perf_counter()
            app.apply_filter(text)
            while app.filter_progress is not None and time.perf_counter() - t1 < wait:
                await pilot.pause(every)
                k = await press(pilot, 1, k)
            shown = app.query_one(PacketList).count
            print(f"filter {text!r}: {shown} frames shown after "
                  f"{time.perf_counter() - t1:.1f} s; {load()}")
            print(memory_line("after it", n))
            app.apply_filter("")
            await pilot.pause(0.5)
        sampler.stop.set()
        sampler.join()
        for phase in ("in-order dissection", "idle", "filtering"):
            got = sampler.peak(phase)
            if got is not None:
                mb, passed, ld, count = got
                print(f"highest resident memory while {phase} (first pass done; {count} "
                      f"samples every 0.1 s): {mb:.0f} MB at frame {passed}: "
                      f"{verdict(mb, n)} the budget of {budget_mb(n):.0f} MB; {ld}")
        by_phase: dict[str, list[float]] = {}
        for _key, phase, _t, dt, _ld, _passed, _split in TimedList.latencies:
            by_phase.setdefault(phase, []).append(dt * 1000)
        for phase, vals in by_phase.items():
            vals.sort()
            p90 = vals[min(len(vals) - 1, int(0.9 * len(vals)))]
            over = sum(v >= SLOW_MS for v in vals)
            print(f"key latency while {phase}: n={len(vals)} median {statistics.median(vals):.1f}"
                  f" ms, p90 {p90:.1f} ms, max {vals[-1]:.1f} ms, {over} at {SLOW_MS:.0f} ms "
                  f"or more")
        worst: dict[str, float] = {}
        for key, _phase, _t, dt, _ld, _passed, _split in TimedList.latencies:
            worst[key] = max(worst.get(key, 0.0), dt * 1000)
        print("worst per key: " + ", ".join(f"{k} {v:.1f} ms" for k, v in worst.items()))
        for key, phase, t, dt, ld, passed, split in TimedList.latencies:
            if dt * 1000 >= SLOW_MS:
                print(f"  slow key {key!r} while {phase} (frame {passed}): {dt * 1000:.0f} ms"
                      f" ({split}); {ld}; overlapping: {marks.overlapping(t, dt)}")
        pauses = sorted(((dt, what, t) for t, dt, what in marks.items
                         if what.startswith("gc")), reverse=True)
        if pauses:
            print(f"garbage collections in the UI's process: {len(pauses)}; longest: " +
                  ", ".join(f"{what} {dt * 1000:.0f} ms at {t - T_MONO:.0f} s"
                            for dt, what, t in pauses[:5]))
        store.cancel.set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--keys", type=int, default=11, help="keys pressed in each phase")
    ap.add_argument("--wait", type=float, default=300, help="seconds to wait for the first pass")
    ap.add_argument("--full", action="store_true",
                    help="also wait for the in-order dissection of every frame, pressing a "
                         "key every --every seconds meanwhile, then measure memory and keys "
                         "again")
    ap.add_argument("--every", type=float, default=1.0,
                    help="seconds between keys during the in-order dissection (--full) and "
                         "filters")
    ap.add_argument("--filter", action="append", default=[], metavar="EXPR",
                    help="at the end, apply this display filter as the filter bar does, "
                         "pressing keys meanwhile, and measure (repeatable)")
    args = ap.parse_args()
    asyncio.run(run(args.file, args.keys, args.wait, args.full, args.every, args.filter))


if __name__ == "__main__":
    main()
