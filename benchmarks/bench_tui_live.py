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

--memory SECONDS runs one long capture at 20k packets/s with the default ring (1,000,000
frames) and samples the app's resident memory every 10 s after the first minute;
--eviction-ring N adds a shorter run with --ring-packets N, to show frames leaving the ring.

    sudo python3 benchmarks/bench_tui_live.py [--rates 20000,50000,100000] [--seconds 10]
        [--backend dumpcap|tcpdump|afpacket] [--memory 600] [--eviction-ring 200000]
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

    async def drive() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(80, 24)) as pilot:
            print("READY", flush=True)
            t0 = time.monotonic()
            samples: list[tuple[float, int]] = []
            next_key = next_sample = 0.0
            k = 0
            while not stop.is_set():
                now = time.monotonic() - t0
                if now >= next_key:
                    press(app, KEYS[k % len(KEYS)])
                    k += 1
                    next_key = now + KEY_EVERY_S
                if args.sample and now >= next_sample:
                    worker = store.worker.proc.pid if store.worker is not None and \
                        store.worker.proc is not None else 0
                    samples.append((now, rss_kib(), rss_kib(field="RssAnon"),
                                    rss_kib(field="RssShmem"), rss_kib(str(worker))))
                    next_sample = now + args.sample
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
                       key_max_ms=max(lat) if lat else None, rss=samples,
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


def run(nss: tuple[str, str], rate: int, seconds: float, backend: str | None, ring: int,
        sample: float = 0.0) -> dict:
    argv = ["ip", "netns", "exec", nss[1], sys.executable, str(Path(__file__).resolve()),
            "--inner", "--ring", str(ring), "--sample", str(sample)]
    if backend:
        argv += ["--backend", backend]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    app = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    line = app.stdout.readline()
    if "READY" not in line:
        app.kill()
        raise SystemExit(f"the app did not start: {line} {app.stderr.read()[-2000:]}")
    time.sleep(1.0)
    gen = subprocess.run(["ip", "netns", "exec", nss[0], sys.executable, "-c", GENERATOR,
                          str(rate), str(seconds), "10.99.0.2", str(PORT)],
                         capture_output=True, text=True, check=True)
    sent, gen_s = gen.stdout.split()
    time.sleep(0.5)
    app.stdin.write("stop\n")
    app.stdin.flush()
    out, err = app.communicate(timeout=900)
    result = json.loads(out.strip().splitlines()[-1])
    result.update(sent=int(sent), gen_s=float(gen_s), rate=rate)
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
          + (f" | ERROR {r['error']}" if r.get("error") else ""), flush=True)


def report_memory(r: dict, seconds: float) -> None:
    parts = [x for x in r["rss"] if x[0] >= 60]
    samples = [(x[0], x[1]) for x in parts]
    if not samples:
        print("memory: no samples after the first minute")
        return
    vals = [kib / 1024 for _t, kib in samples]
    lo, hi = min(vals), max(vals)
    print(f"memory over {seconds:.0f} s at 20k pps, ring {r['window']} frames kept "
          f"(frames {r['first_number']}-{r['last_number']} of {r['captured']}): RSS sampled "
          f"every 10 s after the first minute: {len(vals)} samples, first {vals[0]:.1f} MiB, "
          f"last {vals[-1]:.1f} MiB, min {lo:.1f}, max {hi:.1f} MiB, spread "
          f"{100 * (hi - lo) / lo:.1f}% of the minimum", flush=True)
    print("        samples (s, MiB): " + ", ".join(f"{t:.0f}:{kib / 1024:.0f}"
                                                  for t, kib in samples), flush=True)
    anon = [x[2] / 1024 for x in parts]
    shm = [x[3] / 1024 for x in parts]
    worker = [x[4] / 1024 for x in parts]
    print(f"        of which the ring's shared memory {min(shm):.0f}-{max(shm):.0f} MiB, the "
          f"rest of the process {min(anon):.0f}-{max(anon):.0f} MiB; the analysis worker "
          f"process (separate) {min(worker):.0f}-{max(worker):.0f} MiB at the samples",
          flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="20000,50000,100000")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--backend", choices=("dumpcap", "tcpdump", "afpacket"))
    ap.add_argument("--memory", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--eviction-ring", type=int, default=0, metavar="N")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ring", type=int, default=1_000_000, help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=float, default=0.0, help=argparse.SUPPRESS)
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
            r = run(nss, 20000, args.memory, args.backend, 1_000_000, sample=10.0)
            report(r)
            report_memory(r, args.memory)
    finally:
        for ns in nss:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
