"""Regenerate sample_pcaps/ in the lab: `sudo make samples` (python -m tools.netlab.make_samples).

Usage: make_samples [--out DIR] [--list] [SCENARIO ...]   (default: every scenario)

Needs root (network namespaces, TAP devices, tcpdump) and the Debian packages in
DEBIAN_PACKAGES; missing ones are installed with apt-get when possible. Every scenario runs in
fresh namespaces that are deleted afterwards, and sends traffic only between the lab's own
addresses (10.77.0.0/16, fd77::/16).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .lab import REPO
from .scenarios import SCENARIOS

# Debian packages the lab runs (command -> package). Listed in sample_pcaps/README.md too.
DEBIAN_PACKAGES = {"ip": "iproute2", "ss": "iproute2", "tcpdump": "tcpdump", "ping": "iputils-ping",
                   "curl": "curl", "openssl": "openssl", "dnsmasq": "dnsmasq-base",
                   "editcap": "wireshark-common", "tshark": "tshark"}
SIZE_LIMIT = 200_000
TOTAL_LIMIT = 3_000_000


def ensure_packages() -> None:
    """Install the Debian packages whose commands are missing (apt-get, non-interactive)."""
    missing = sorted({pkg for cmd, pkg in DEBIAN_PACKAGES.items() if not shutil.which(cmd)})
    if not missing:
        return
    if not shutil.which("apt-get"):
        sys.exit(f"make_samples: missing Debian packages {missing} and no apt-get")
    print(f"make_samples: installing {' '.join(missing)}", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, timeout=900)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make_samples", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "sample_pcaps")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    ap.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    args = ap.parse_args(argv)
    if args.list:
        for name, fn in SCENARIOS.items():
            print(f"{name:28} {(fn.__doc__ or '').splitlines()[0]}")
        return 0
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; see --list")
    if os.geteuid() != 0:
        sys.exit("make_samples: needs root (network namespaces, TAP devices, tcpdump)")
    lock = open("/run/wlens-netlab.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit("make_samples: another run is using the lab namespaces; wait for it")
    ensure_packages()
    args.out.mkdir(parents=True, exist_ok=True)
    log = {}
    for name in args.names or list(SCENARIOS):
        t0 = time.monotonic()
        print(f"== {name}", file=sys.stderr, flush=True)
        log[name] = SCENARIOS[name](args.out)
        print(f"   {time.monotonic() - t0:.1f} s  {json.dumps(log[name])[:600]}", file=sys.stderr)
    return check_sizes(args.out)


def check_sizes(out: Path) -> int:
    """Samples are committed: each must stay under 200 kB and all under 3 MB."""
    files = sorted(p for p in out.iterdir() if p.suffix in (".pcap", ".pcapng", ".keylog"))
    total = sum(p.stat().st_size for p in files)
    big = [p.name for p in files if p.stat().st_size > SIZE_LIMIT]
    print(f"samples: {len(files)} files, {total} bytes", file=sys.stderr)
    if big or total > TOTAL_LIMIT:
        print(f"make_samples: too big: {big or 'total'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
