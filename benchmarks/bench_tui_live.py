"""The live TUI under load: packets into `wirelens -i` at a paced rate, over a veth.

Two private network namespaces (root) joined by a veth pair carry only the generated
traffic. For each rate, the real app (LiveApp on a LiveStore, as `wirelens -i b0 -f "udp
port 9999"` builds it) runs headless (Textual's run_test, 80x24) inside the receiving
namespace while a UDP generator in the other sends 106-byte frames at that rate with
sendmmsg (a C loop in the kernel, so the generator barely competes for the 2 CPUs). Keys
are pressed all along (four a second, delivered as the terminal driver delivers them); each
key's latency is measured from the key event's creation to the packet list painting its last
line for it (as bench_tui.py does); keys before the first packet (the app warming up) are
reported apart. After the traffic, Ctrl-C stops the capture and the app is asked what it saw:

- sent, captured into the TUI, kernel drops (the capture tool's own count), unaccounted,
  and the drop rate = (sent - captured) / sent;
- key latency while capturing (median, 95th percentile, max);
- how far the analysis and the in-order dissection were behind when the traffic stopped,
  and how long the app took to catch up.

--memory SECONDS runs one long capture at 20k packets/s (--memory-rate) with the default
ring (1,000,000 frames). The resident memory of the app's process and of its analysis
worker (a child process) are sampled every second from outside, with the load average:
the UI process's RSS every 10 s after the first minute (it must stay flat within 10%), and
per minute the highest RSS of each process and of both together (RSS counts the ring, which
both map, twice; PSS counts it once). --diagnose FILE (debug) has the app write what its
memory is made of every 10 s (see Diagnosis), with --tracemalloc N allocation tracebacks.
--eviction-ring N adds a shorter run with --ring-packets N, to show frames leaving the ring.

    sudo python3 benchmarks/bench_tui_live.py [--rates 20000,50000,100000] [--seconds 10]
        [--backend dumpcap|tcpdump|afpacket] [--memory 600] [--memory-rate 20000]
        [--eviction-ring 200000] [--diagnose FILE [--tracemalloc FRAMES]]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PORT = 9999
KEYS = ["k", "k", "j", "pageup", "pagedown", "G", "k", "g", "G", "j", "end", "home", "G"]
KEY_EVERY_S = 0.25

GENERATOR = r"""
import ctypes, socket, struct, sys, time
rate, seconds, dst, port = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
libc = ctypes.CDLL("libc.so.6", use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
K = 64
payload = ctypes.create_string_buffer(b"x" * 64, 64)
sa = ctypes.create_string_buffer(struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
                                 + socket.inet_aton(dst) + bytes(8), 16)
iov = iovec(ctypes.cast(payload, ctypes.c_void_p), 64)
msgs = (mmsghdr * K)()
for m in msgs:
    m.hdr.name, m.hdr.namelen = ctypes.cast(sa, ctypes.c_void_p), 16
    m.hdr.iov, m.hdr.iovlen = ctypes.pointer(iov), 1
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
total, sent, start = int(rate * seconds), 0, time.perf_counter()
while sent < total:
    due = min(total, int((time.perf_counter() - start) * rate))
    if due <= sent:
        time.sleep(0.0002)
        continue
    r = libc.sendmmsg(s.fileno(), msgs, min(K, due - sent), 0)
    if r > 0:
        sent += r
    else:
        time.sleep(0.0001)
print(sent, time.perf_counter() - start)
"""


# --- inside the capture namespace: the app ------------------------------------------------

def rss_kib(pid: str = "self", field: str = "VmRSS") -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Diagnosis:
    """--diagnose FILE: what the app's memory is made of, as JSON lines appended to FILE
    every 10 s (debug only: tracemalloc slows the app down). Anonymous memory split into
    the brk heap and other anonymous maps, glibc's own count of what is in use and free
    (mallinfo2), CPython's allocated blocks, the collector's objects, and tracemalloc's
    biggest differences against its first snapshot after the first minute."""

    def __init__(self, path: str, store, frames: int) -> None:
        import ctypes
        import tracemalloc

        class Mallinfo2(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost")]
        self.libc = ctypes.CDLL("libc.so.6")
        self.libc.mallinfo2.restype = Mallinfo2
        self.path, self.store, self.tm = path, store, tracemalloc
        self.base_snap = None
        self.caches: dict[str, object] = {}
        if frames:
            tracemalloc.start(frames)

    def find_caches(self) -> None:
        """functools caches of the libraries and ours, by name (module-level functions and
        methods), to see which ones fill up."""
        for mod in list(sys.modules.values()):
            name = getattr(mod, "__name__", "")
            if not name.startswith(("rich", "textual", "analyzer", "dissectors")):
                continue
            for attr, obj in list(vars(mod).items()):
                found = [(attr, obj)]
                if isinstance(obj, type) and obj.__module__ == name:
                    found += [(f"{attr}.{k}", getattr(v, "__func__", v))
                              for k, v in vars(obj).items()]
                for label, f in found:
                    if hasattr(f, "cache_info"):
                        self.caches[f"{name}.{label}"] = f

    @staticmethod
    def smaps() -> dict[str, int]:
        """Resident KiB of the brk heap, other anonymous maps, and each named kind."""
        out = {"heap": 0, "anon_maps": 0, "shmem": 0, "file": 0, "stack": 0}
        name = ""
        for line in Path("/proc/self/smaps").read_text().splitlines():
            head = line.split()
            if not head[0].endswith(":") or "-" in head[0]:
                name = head[5] if len(head) > 5 else ""
                continue
            if head[0] == "Rss:":
                kib = int(head[1])
                if name == "[heap]":
                    out["heap"] += kib
                elif name.startswith("[stack"):
                    out["stack"] += kib
                elif name == "":
                    out["anon_maps"] += kib
                elif name.startswith("/memfd:"):
                    out["shmem"] += kib
                else:
                    out["file"] += kib
        return out

    def sample(self, t: float) -> None:
        import gc
        from collections import Counter
        mi = self.libc.mallinfo2()
        objects = gc.get_objects()
        types = Counter(type(o).__qualname__ for o in objects).most_common(15)
        st = self.store
        rec = {"t": round(t), "rss": rss_kib(), "anon": rss_kib(field="RssAnon"),
               **self.smaps(), "blocks": sys.getallocatedblocks(),
               "malloc_arena": mi.arena >> 10, "malloc_mmap": mi.hblkhd >> 10,
               "malloc_used": mi.uordblks >> 10, "malloc_free": mi.fordblks >> 10,
               "gc_objects": len(objects), "types": types, "restarts": st.restarts,
               "rows_cached": len(st._rows), "next": st.next, "base": st.base,
               "indexed": st.ring.indexed, "threads": threading.active_count()}
        del objects
        if not self.caches:
            self.find_caches()
        sizes = sorted(((f.cache_info().currsize, name) for name, f in self.caches.items()),
                       reverse=True)
        rec["caches"] = [(name, n) for n, name in sizes[:8]]
        if self.tm.is_tracing() and t >= 60:
            snap = self.tm.take_snapshot()
            if self.base_snap is None:
                self.base_snap = snap
            else:
                diff = snap.compare_to(self.base_snap, "traceback")[:12]
                rec["tracemalloc"] = [
                    {"kib": d.size_diff >> 10, "count": d.count_diff,
                     "where": [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}"
                               for f in d.traceback]} for d in diff]
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")


def inner(args: argparse.Namespace) -> int:
    """Run the app on b0 until the outer process writes a line on stdin; print JSON. Keys
    are counted from the first packet on (the ones before are the app warming up)."""
    from textual import events

    from analyzer.capture.live import LiveOptions, open_file_capture
    from analyzer.tui import app as appmod
    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from analyzer.tui.packet_list import PacketList

    class TimedList(PacketList):
        pending: tuple[float, str] | None = None
        latencies: list[tuple[str, float]] = []

        async def _on_key(self, event) -> None:
            self.pending = (event.time, event.key)
            await super()._on_key(event)

        def render_line(self, y: int):
            strip = super().render_line(y)
            if self.pending is not None and y == self.size.height - 1:
                t, key = self.pending
                # keys before the first packet are the app warming up, reported apart
                (self.latencies if store.captured else warmup).append(
                    (key, time.monotonic() - t))
                self.pending = None
            return strip

    warmup: list[tuple[str, float]] = []

    appmod.PacketList = TimedList

    def press(app, key: str) -> None:
        """A key as the terminal driver delivers it (Pilot.press would also wait for the
        app to be idle, which a capturing app never is)."""
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)
    spool = tempfile.mkdtemp(prefix="wirelens-bench-")
    path = os.path.join(spool, "spool")
    bpf = f"udp port {PORT}"
    capture = open_file_capture(LiveOptions("b0", bpf, backend=args.backend), path)
    store = LiveStore(capture, path, name="b0.pcapng", ring_packets=args.ring, bpf=bpf,
                      spool=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    out: dict = {}
    diag = Diagnosis(args.diagnose, store, args.tracemalloc) if args.diagnose else None

    async def drive() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(80, 24)) as pilot:
            print("READY", flush=True)
            t0 = time.monotonic()
            next_key = next_diag = 0.0
            k = 0
            while not stop.is_set():
                now = time.monotonic() - t0
                if now >= next_key:
                    press(app, KEYS[k % len(KEYS)])
                    k += 1
                    next_key = now + KEY_EVERY_S
                if diag is not None and now >= next_diag:
                    diag.sample(now)
                    next_diag = now + 10.0
                await pilot.pause(0.05)
            t_stop = time.monotonic()
            behind = store.ring.indexed - store.ring.analyzed
            dissect_behind = store.ring.indexed - store.next
            press(app, "ctrl+c")
            while not store.finished.is_set() and time.monotonic() - t_stop < 300:
                await pilot.pause(0.2)
            await pilot.pause(0.5)      # a tick takes in the last snapshot
            caught_up = time.monotonic() - t_stop
            while not capture.done.is_set() and time.monotonic() - t_stop < 30:
                await pilot.pause(0.1)
            lat = [dt * 1000 for _key, dt in TimedList.latencies]
            out.update(captured=store.captured, drops=store.kernel_drops(),
                       analyzed=store.ring.analyzed, behind_at_stop=behind,
                       dissect_behind_at_stop=dissect_behind, caught_up_s=caught_up,
                       dissect_restarts=store.restarts, window=len(store), base=store.base,
                       first_number=store.base + 1, last_number=store.base + len(store),
                       refreshes=store.refreshes, refresh_s=store.refresh_s,
                       trim_ms=store.trim_s * 1000,
                       keys=len(lat), key_median_ms=statistics.median(lat) if lat else None,
                       key_p95_ms=sorted(lat)[int(0.95 * (len(lat) - 1))] if lat else None,
                       key_max_ms=max(lat) if lat else None,
                       slowest=sorted(((round(dt * 1000), key) for key, dt in
                                       TimedList.latencies), reverse=True)[:4],
                       warmup=[round(dt * 1000) for _key, dt in warmup],
                       rss_end_kib=rss_kib(), error=store.error or capture.error)
            await pilot.press("q")

    try:
        asyncio.run(drive())
    finally:
        store.close()
        capture.done.wait(15)
        capture.close()
        store.join()
        shutil.rmtree(spool, ignore_errors=True)
    print(json.dumps(out), flush=True)
    return 0


# --- outside: namespaces, generator, report -------------------------------------------------

def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def memory_kib(pid: int) -> dict[str, int]:
    """A process's resident memory (KiB): all of it, anonymous, shared (the ring), and its
    proportional share (PSS: pages it shares with the other process count half)."""
    out = {"rss": rss_kib(str(pid)), "anon": rss_kib(str(pid), "RssAnon"),
           "shmem": rss_kib(str(pid), "RssShmem"), "pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def worker_of(pid: int) -> int:
    """The app's analysis worker process (a child running incremental --worker), or 0."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--worker" in argv:
                return int(child)
    return 0


class Sampler(threading.Thread):
    """From outside (so the app's interpreter is not disturbed): the app's and its
    analysis worker's memory and the load average, every second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        worker = 0
        while not self.done.wait(max(0.0, len(self.samples) + 1 - (time.monotonic() - t0))):
            if not worker or not Path(f"/proc/{worker}").exists():
                worker = worker_of(self.pid)
            self.samples.append({"t": time.monotonic() - t0, "ui": memory_kib(self.pid),
                                 "worker": memory_kib(worker) if worker else None,
                                 "load": os.getloadavg()[0]})


def run(nss: tuple[str, str], rate: int, seconds: float, backend: str | None, ring: int,
        sample: bool = False, diagnose: str = "", tracemalloc: int = 0) -> dict:
    argv = ["ip", "netns", "exec", nss[1], sys.executable, str(Path(__file__).resolve()),
            "--inner", "--ring", str(ring)]
    if diagnose:
        argv += ["--diagnose", diagnose, "--tracemalloc", str(tracemalloc)]
    if backend:
        argv += ["--backend", backend]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    app = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    line = app.stdout.readline()
    if "READY" not in line:
        app.kill()
        raise SystemExit(f"the app did not start: {line} {app.stderr.read()[-2000:]}")
    sampler = Sampler(app.pid)
    if sample:
        sampler.start()
    time.sleep(1.0)
    gen = subprocess.run(["ip", "netns", "exec", nss[0], sys.executable, "-c", GENERATOR,
                          str(rate), str(seconds), "10.99.0.2", str(PORT)],
                         capture_output=True, text=True, check=True)
    sent, gen_s = gen.stdout.split()
    time.sleep(0.5)
    app.stdin.write("stop\n")
    app.stdin.flush()
    sampler.done.set()      # the traffic has stopped: the rest is the app catching up
    out, err = app.communicate(timeout=900)
    result = json.loads(out.strip().splitlines()[-1])
    result.update(sent=int(sent), gen_s=float(gen_s), rate=rate, memory=sampler.samples,
                  load=os.getloadavg()[0])
    if app.returncode:
        result["error"] = err[-500:]
    return result


def report(r: dict) -> None:
    sent, captured = r["sent"], r["captured"]
    lost = sent - captured
    drops = r["drops"] if r["drops"] is not None else 0
    print(f"{r['rate']:>7} pps asked | sent {sent:>8} at {sent / r['gen_s']:>7.0f} pps | "
          f"in the TUI {captured:>8} | kernel drops {drops:>6} | unaccounted "
          f"{lost - drops:>5} | drop rate {100 * lost / max(sent, 1):.3f}%", flush=True)
    print(f"        keys: n={r['keys']} median {r['key_median_ms']:.1f} ms, p95 "
          f"{r['key_p95_ms']:.1f} ms, max {r['key_max_ms']:.1f} ms (slowest {r['slowest']}; "
          f"before the first packet, warming up: {r['warmup']} ms) | at stop the analysis "
          f"was {r['behind_at_stop']} frames behind, the in-order dissection "
          f"{r['dissect_behind_at_stop']} ({r['dissect_restarts']} restarts); all analyzed "
          f"{r['caught_up_s']:.1f} s after | window: frames {r['first_number']}-"
          f"{r['last_number']} | last snapshot took {r['refresh_s'] * 1000:.0f} ms, "
          f"the longest heap trim {r['trim_ms']:.1f} ms"
          + f" | load average at the end {r['load']:.2f}"
          + (f" | ERROR {r['error']}" if r.get("error") else ""), flush=True)


def _spread(vals: list[float]) -> str:
    lo, hi = min(vals), max(vals)
    return f"min {lo:.1f}, max {hi:.1f} MiB, spread {100 * (hi - lo) / lo:.1f}% of the minimum"


def report_memory(r: dict, seconds: float) -> None:
    """The long capture's memory: the UI process every 10 s after the first minute (the
    figure that must stay flat within 10%), and per minute the highest of each process and
    of both together, as RSS and as PSS (which counts the ring, mapped by both, once)."""
    mib = 1 / 1024
    after = [m for m in r["memory"] if m["t"] >= 60]
    if not after:
        print("memory: no samples after the first minute")
        return
    tens = after[::10]
    vals = [m["ui"]["rss"] * mib for m in tens]
    print(f"memory over {seconds:.0f} s at {r['rate']} pps, ring {r['window']} frames kept "
          f"(frames {r['first_number']}-{r['last_number']} of {r['captured']}): UI process RSS "
          f"every 10 s after the first minute: {len(vals)} samples, first {vals[0]:.1f} MiB, "
          f"last {vals[-1]:.1f} MiB, {_spread(vals)}; every 1 s: "
          f"{_spread([m['ui']['rss'] * mib for m in after])}", flush=True)
    print("        samples (s:MiB): " + ", ".join(
        f"{m['t']:.0f}:{m['ui']['rss'] * mib:.0f}" for m in tens), flush=True)
    print(f"        of which the ring's shared memory "
          f"{min(m['ui']['shmem'] for m in after) * mib:.0f}-"
          f"{max(m['ui']['shmem'] for m in after) * mib:.0f} MiB, the rest of the process "
          f"(anonymous) {_spread([m['ui']['anon'] * mib for m in after])}", flush=True)
    print("        per minute, the highest of its 1-s samples (MiB; the worker's anonymous "
          "memory lowest-highest: idle between snapshots, then analysing one; it maps the "
          "ring too, so RSS counts the ring twice, PSS once):", flush=True)
    print("        minute |  UI rss  anon |  worker rss     anon | UI+worker rss   pss | "
          "load avg", flush=True)
    minutes: dict[int, list[dict]] = {}
    for m in r["memory"]:
        minutes.setdefault(int(m["t"] // 60), []).append(m)
    totals = []
    for k, ms in sorted(minutes.items()):
        w = [m["worker"] or {"rss": 0, "anon": 0, "pss": 0} for m in ms]
        both_rss = max(m["ui"]["rss"] + x["rss"] for m, x in zip(ms, w)) * mib
        both_pss = max(m["ui"]["pss"] + x["pss"] for m, x in zip(ms, w)) * mib
        whole = len(ms) >= 50
        if k >= 1 and whole:
            totals.append((both_rss, both_pss, max(x["rss"] for x in w) * mib,
                           max(m["ui"]["rss"] for m in ms) * mib))
        print(f"        {k + 1:>6} | {max(m['ui']['rss'] for m in ms) * mib:>7.0f} "
              f"{max(m['ui']['anon'] for m in ms) * mib:>5.0f} | "
              f"{max(x['rss'] for x in w) * mib:>11.0f} "
              f"{min(x['anon'] for x in w) * mib:>3.0f}-{max(x['anon'] for x in w) * mib:<4.0f} | "
              f"{both_rss:>13.0f} {both_pss:>5.0f} | {min(m['load'] for m in ms):.1f}-"
              f"{max(m['load'] for m in ms):.1f}" + ("" if whole else f" ({len(ms)} s only)"),
              flush=True)
    if totals:
        print(f"        whole minutes after the first, per-minute highest: UI RSS "
              f"{_spread([t[3] for t in totals])}; worker RSS {_spread([t[2] for t in totals])}; "
              f"UI+worker RSS {_spread([t[0] for t in totals])}; UI+worker PSS "
              f"{_spread([t[1] for t in totals])}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="20000,50000,100000")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--backend", choices=("dumpcap", "tcpdump", "afpacket"))
    ap.add_argument("--memory", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--eviction-ring", type=int, default=0, metavar="N")
    ap.add_argument("--memory-rate", type=int, default=20000, metavar="PPS")
    ap.add_argument("--diagnose", default="", metavar="FILE",
                    help="debug: JSON lines on what the app's memory is made of (see Diagnosis)")
    ap.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                    help="with --diagnose: trace allocations with this many frames")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ring", type=int, default=1_000_000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        return inner(args)
    if os.geteuid() != 0:
        print("bench_tui_live needs root (network namespaces)", file=sys.stderr)
        return 2
    nss = (f"wlens-tgen-{os.getpid()}", f"wlens-tcap-{os.getpid()}")
    try:
        for ns in nss:
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "a0", "netns", nss[0], "type", "veth", "peer", "name", "b0",
           "netns", nss[1])
        for ns, dev, addr in ((nss[0], "a0", "10.99.0.1/24"), (nss[1], "b0", "10.99.0.2/24")):
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", addr, "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        mac = subprocess.run(["ip", "netns", "exec", nss[1], "cat", "/sys/class/net/b0/address"],
                             capture_output=True, text=True, check=True).stdout.strip()
        sh("ip", "netns", "exec", nss[0], "ip", "neigh", "replace", "10.99.0.2", "lladdr", mac,
           "dev", "a0", "nud", "permanent")
        print(f"backend: {args.backend or 'default (first available)'}; {args.seconds:.0f} s "
              f"per rate; UDP 106-byte frames over a veth between two netns; the app headless "
              f"at 80x24; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
              f"CPUs", flush=True)
        for rate in (int(r) for r in args.rates.split(",") if r):
            report(run(nss, rate, args.seconds, args.backend, 1_000_000))
        if args.eviction_ring:
            r = run(nss, 20000, args.seconds, args.backend, args.eviction_ring)
            report(r)
            print(f"        eviction: ring {args.eviction_ring}: the TUI holds frames "
                  f"{r['first_number']}-{r['last_number']} of {r['captured']} captured",
                  flush=True)
        if args.memory:
            r = run(nss, args.memory_rate, args.memory, args.backend, 1_000_000, sample=True,
                    diagnose=os.path.abspath(args.diagnose) if args.diagnose else "",
                    tracemalloc=args.tracemalloc)
            report(r)
            report_memory(r, args.memory)
    finally:
        for ns in nss:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
