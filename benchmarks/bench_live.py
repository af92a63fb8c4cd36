"""Live capture under load: `wirelens read -i` against a paced UDP generator over a veth.

Two private network namespaces (root) joined by a veth pair carry only the generated
traffic (a veth, not lo: on lo the kernel sees every packet twice and counts both copies in
its drop counter). For each rate it starts `read -i b0 -f "udp port 9999"` in the receiving
namespace (stdout to /dev/null, or `-w FILE` with --mode write), sends UDP datagrams at that
rate for --seconds from one or more Python sender processes in the other, then stops the
capture with SIGINT and reports what `read` printed on stderr (packets captured, kernel drops),
the drop rate, and the rate `read` sustained (frames handled / time from the first datagram
until `read` had drained everything and exited). --memory SECONDS samples the resident memory
of `read -i` over a long capture at 20k pps.

    sudo python3 benchmarks/bench_live.py [--rates 20000,50000,100000] [--seconds 5]
        [--backend dumpcap|tcpdump|afpacket] [--mode print|write|both] [--buffer MiB]
        [--memory 60]
"""
from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT = 9999
PER_SENDER = 50_000     # pps one Python sender process paces reliably

SENDER = r"""
import socket, sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
send, addr, payload = s.sendto, ("DST", PORT), b"x" * 64
sent, start = 0, time.perf_counter()
total = int(rate * seconds)
while sent < total:
    due = min(total, int((time.perf_counter() - start) * rate))
    if due <= sent:
        time.sleep(0.0005)
        continue
    for _ in range(due - sent):
        try:
            send(payload, addr)
        except OSError:
            pass
    sent = due
print(sent, time.perf_counter() - start)
""".replace("PORT", str(PORT)).replace("DST", "10.99.0.2")


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_read(ns: str, backend: str | None, write: Path | None,
               buffer_mib: int = 0) -> subprocess.Popen:
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "analyzer.cli", "read", "-i", "b0",
            "-f", f"udp port {PORT}"]
    if buffer_mib:
        argv += ["-B", str(buffer_mib)]
    if backend:
        argv += ["--capture-with", backend]
    if write is not None:
        argv += ["-w", str(write)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "Capturing on" not in line:
        proc.kill()
        raise SystemExit(f"read -i did not start: {line.strip()} {proc.stderr.read()}")
    return proc


def generate(ns: str, rate: int, seconds: float) -> tuple[int, float]:
    """Send `rate` datagrams/s for `seconds` from enough processes; (sent, elapsed)."""
    k = max(1, math.ceil(rate / PER_SENDER))
    procs = [subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SENDER,
                               str(rate / k), str(seconds)], stdout=subprocess.PIPE, text=True)
             for _ in range(k)]
    sent, elapsed = 0, 0.0
    for p in procs:
        out = p.communicate()[0].split()
        sent += int(out[0])
        elapsed = max(elapsed, float(out[1]))
    return sent, elapsed


def stats(stderr: str) -> tuple[int, int]:
    cap = re.search(r"(\d+) packets? captured", stderr)
    drop = re.search(r"(\d+) packets? dropped", stderr)
    return (int(cap.group(1)) if cap else -1), (int(drop.group(1)) if drop else 0)


def run_rate(nss: tuple[str, str], rate: int, seconds: float, backend: str | None, mode: str,
             buffer_mib: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "live.pcapng" if mode == "write" else None
        proc = start_read(nss[1], backend, out, buffer_mib)
        t0 = time.perf_counter()
        sent, gen_s = generate(nss[0], rate, seconds)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=600)
        total_s = time.perf_counter() - t0
        captured, dropped = stats(err)
        seen = captured + dropped
        lost = sent - seen
        print(f"{mode:5} {rate:>7} pps asked | sent {sent:>7} at {sent / gen_s:>7.0f} pps | "
              f"captured {captured:>7} | kernel drops {dropped:>6} "
              f"({100 * dropped / max(seen, 1):5.2f}%) | unaccounted {lost:>5} | "
              f"read sustained {captured / total_s:>7.0f} pps "
              f"({total_s:.1f} s to drain)", flush=True)


def run_memory(nss: tuple[str, str], seconds: float, backend: str | None,
               buffer_mib: int) -> None:
    """RSS of `read -i` every 10 s over a capture at 20k pps (output to /dev/null)."""
    proc = start_read(nss[1], backend, None, buffer_mib)
    gen = subprocess.Popen(["ip", "netns", "exec", nss[0], sys.executable, "-c", SENDER,
                            "20000", str(seconds)], stdout=subprocess.PIPE, text=True)
    samples = []
    start = time.monotonic()
    while gen.poll() is None:
        time.sleep(min(10, max(0.5, seconds / 20)))
        samples.append((time.monotonic() - start, rss_kib(proc.pid)))
    gen.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    captured, dropped = stats(err)
    first = samples[1][1] if len(samples) > 1 else samples[0][1]
    peak = max(kib for _, kib in samples)
    last = samples[-1][1]
    print(f"memory over {seconds:.0f} s at 20k pps: RSS {first / 1024:.1f} MiB after "
          f"{samples[1][0] if len(samples) > 1 else samples[0][0]:.0f} s, "
          f"{last / 1024:.1f} MiB at the end, peak {peak / 1024:.1f} MiB "
          f"({100 * (peak - first) / first:+.1f}% over the early sample); "
          f"captured {captured}, kernel drops {dropped}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="20000,50000,100000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--backend", choices=("dumpcap", "tcpdump", "afpacket"))
    ap.add_argument("--mode", choices=("print", "write", "both"), default="both")
    ap.add_argument("--buffer", type=int, default=0, metavar="MiB",
                    help="read -B: kernel capture buffer (default: read's own, 32 MiB)")
    ap.add_argument("--memory", type=float, default=0.0, metavar="SECONDS")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_live needs root (a network namespace)", file=sys.stderr)
        return 2
    nss = (f"wlens-bgen-{os.getpid()}", f"wlens-bcap-{os.getpid()}")
    try:
        for ns in nss:
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "a0", "netns", nss[0], "type", "veth", "peer", "name", "b0",
           "netns", nss[1])
        for ns, dev, addr in ((nss[0], "a0", "10.99.0.1/24"), (nss[1], "b0", "10.99.0.2/24")):
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", addr, "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        # The peer's MAC is known up front: no ARP in the measured traffic.
        mac = subprocess.run(["ip", "netns", "exec", nss[1], "cat", "/sys/class/net/b0/address"],
                             capture_output=True, text=True, check=True).stdout.strip()
        sh("ip", "netns", "exec", nss[0], "ip", "neigh", "replace", "10.99.0.2", "lladdr", mac,
           "dev", "a0", "nud", "permanent")
        print(f"backend: {args.backend or 'default (first available)'}; buffer: "
              f"{args.buffer or 'default (32)'} MiB; {args.seconds:.0f} s per rate; UDP 106-byte "
              f"frames over a veth between two netns; load average before: "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        modes = ("print", "write") if args.mode == "both" else (args.mode,)
        for mode in modes:
            for rate in (int(r) for r in args.rates.split(",")):
                run_rate(nss, rate, args.seconds, args.backend, mode, args.buffer)
        if args.memory:
            run_memory(nss, args.memory, args.backend, args.buffer)
    finally:
        for ns in nss:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
