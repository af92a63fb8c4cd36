"""The lab: three network namespaces joined by TAP devices through the user-space forwarder.

    [wlens-cli]                [wlens-mid]: router + dnsmasq               [wlens-srv]
    eth0 10.77.1.1  ==client==  eth0 10.77.1.254 | eth1 10.77.2.254  ==server==  eth0 10.77.2.2
         fd77:1::1     link          fd77:1::fe  |      fd77:2::fe      link          fd77:2::2
                                                                    DNS 10.77.2.53 / fd77:2::53

Both links are TAP pairs bridged by tools/netlab/forwarder.py, so every frame a capture sees
was built, segmented and checksummed by a real Linux stack. The middle namespace is a real
IPv4/IPv6 router (it decrements TTL and sends ICMP errors itself).

A Lab is a context manager. It uses only addresses in 10.77.0.0/16 and fd77::/16 and adds no
route out of its namespaces; on exit, error or Ctrl-C it stops, by PID, every process it
started and deletes its namespaces.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .forwarder import DirectionConfig

REPO = Path(__file__).resolve().parents[2]
NS_CLI, NS_MID, NS_SRV = "wlens-cli", "wlens-mid", "wlens-srv"
NAMESPACES = (NS_CLI, NS_MID, NS_SRV)

CLI4, GW_CLI4, GW_SRV4 = "10.77.1.1", "10.77.1.254", "10.77.2.254"
SRV4, DNS4 = "10.77.2.2", "10.77.2.53"
CLI6, GW_CLI6, GW_SRV6 = "fd77:1::1", "fd77:1::fe", "fd77:2::fe"
SRV6, DNS6 = "fd77:2::2", "fd77:2::53"

# Fixed MAC addresses so re-runs give the same frames (locally administered, 02:...).
MACS = {(NS_CLI, "eth0"): "02:77:00:01:00:01", (NS_MID, "eth0"): "02:77:00:01:00:fe",
        (NS_MID, "eth1"): "02:77:00:02:00:fe", (NS_SRV, "eth0"): "02:77:00:02:00:02"}


@dataclass
class LabConfig:
    """What one scenario needs from the lab."""
    client: DirectionConfig = field(default_factory=DirectionConfig)   # client -> router
    to_client: DirectionConfig = field(default_factory=DirectionConfig)  # router -> client
    seed: int = 1
    drop_syn_to_ports: tuple[int, ...] = ()
    drop_icmp_frag_needed: bool = False
    idle_timeout_s: float = 0.0
    ipv4: bool = True
    ipv6: bool = False
    vlan: int = 0       # >0: mirror the client link, tagged with this 802.1Q id, to mid:span0
    server_mtu: int = 1500          # MTU of the router's server-facing interface
    client_sysctls: dict[str, str] = field(default_factory=dict)
    server_sysctls: dict[str, str] = field(default_factory=dict)


def sh(*argv: str, ns: str | None = None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command (inside `ns` if given) and wait for it, bounded to 60 s."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    return subprocess.run(full, check=check, timeout=60, capture_output=True, text=True, **kw)


class Lab:
    """Namespaces, forwarder and peer processes of one scenario run."""

    def __init__(self, cfg: LabConfig) -> None:
        self.cfg = cfg
        self.tmp = Path(tempfile.mkdtemp(prefix="wlens-lab-"))
        self.procs: list[subprocess.Popen] = []

    # -- life cycle ------------------------------------------------------------
    def __enter__(self) -> Lab:
        for ns in NAMESPACES:
            if ns in sh("ip", "netns", "list").stdout.split():
                print(f"netlab: deleting namespace {ns} left over by an earlier run",
                      file=sys.stderr)
                sh("ip", "netns", "del", ns)
        self._old_sigint = signal.signal(signal.SIGINT, self._interrupted)
        self._old_sigterm = signal.signal(signal.SIGTERM, self._interrupted)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _interrupted(self, signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def close(self) -> None:
        """Stop our processes (newest first, by PID), delete namespaces and temp files."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 5
        for p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.procs.clear()
        fwd_log = self.tmp / "forwarder.log"
        if fwd_log.exists():     # per-direction counters: what the impairments actually did
            for line in fwd_log.read_text(errors="replace").splitlines()[-1:]:
                print(f"   forwarder: {line}", file=sys.stderr)
        for ns in NAMESPACES:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(Path("/etc/netns") / NS_CLI, ignore_errors=True)
        with contextlib.suppress(OSError):      # only if empty: other tools may use it
            Path("/etc/netns").rmdir()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if hasattr(self, "_old_sigint"):
            signal.signal(signal.SIGINT, self._old_sigint)
            signal.signal(signal.SIGTERM, self._old_sigterm)

    # -- topology --------------------------------------------------------------
    def _build(self) -> None:
        c = self.cfg
        base = {"net.ipv6.conf.default.disable_ipv6": "0" if c.ipv6 else "1",
                "net.ipv6.conf.all.disable_ipv6": "0" if c.ipv6 else "1",
                "net.ipv6.conf.default.accept_dad": "0",
                "net.ipv6.conf.default.accept_ra": "0",
                "net.ipv6.conf.default.router_solicitations": "0",
                "net.ipv4.tcp_no_metrics_save": "1",     # no state carried between connections
                "net.ipv4.ip_local_port_range": "40000 40999"}
        if Path("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").exists():
            # Linux >= 6.17 retries SYNs every second 4 times before backing off; keep the
            # classic exponential backoff (1, 2, 4, 8 s) most production kernels still show.
            base["net.ipv4.tcp_syn_linear_timeouts"] = "0"
        extra = {NS_CLI: c.client_sysctls, NS_MID: {"net.ipv4.ip_forward": "1",
                                                    "net.ipv6.conf.all.forwarding": "1"},
                 NS_SRV: c.server_sysctls}
        for ns in NAMESPACES:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            for k, v in {**base, **extra[ns]}.items():
                sh("sysctl", "-qw", f"{k}={v}", ns=ns)
        for (ns, dev), mac in MACS.items():
            sh("ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tap")
            mtu = str(c.server_mtu) if (ns, dev) == (NS_MID, "eth1") else "1500"
            sh("ip", "-n", ns, "link", "set", dev, "address", mac, "mtu", mtu, "up")
        if c.vlan:      # the SPAN port: no address, no IPv6, the kernel never sends on it
            sh("ip", "-n", NS_MID, "tuntap", "add", "dev", "span0", "mode", "tap")
            sh("ip", "-n", NS_MID, "link", "set", "span0", "up")
        self._addr(NS_CLI, "eth0", CLI4, CLI6, 24)
        self._addr(NS_MID, "eth0", GW_CLI4, GW_CLI6, 24)
        self._addr(NS_MID, "eth1", GW_SRV4, GW_SRV6, 24)
        self._addr(NS_SRV, "eth0", SRV4, SRV6, 24)
        self._addr(NS_SRV, "eth0", DNS4, DNS6, 24)
        if c.ipv4:
            sh("ip", "-n", NS_CLI, "route", "add", "default", "via", GW_CLI4)
            sh("ip", "-n", NS_SRV, "route", "add", "default", "via", GW_SRV4)
        if c.ipv6:
            sh("ip", "-n", NS_CLI, "-6", "route", "add", "default", "via", GW_CLI6)
            sh("ip", "-n", NS_SRV, "-6", "route", "add", "default", "via", GW_SRV6)
        self._start_forwarder()

    def _addr(self, ns: str, dev: str, v4: str, v6: str, plen: int) -> None:
        if self.cfg.ipv4:
            sh("ip", "-n", ns, "addr", "add", f"{v4}/{plen}", "dev", dev)
        if self.cfg.ipv6:
            sh("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")

    def _start_forwarder(self) -> None:
        c = self.cfg
        ready = self.tmp / "forwarder.ready"
        conf = {"max_seconds": 240, "ready_file": str(ready), "links": [
            {"a": [NS_CLI, "eth0"], "b": [NS_MID, "eth0"], "seed": c.seed,
             "a_to_b": vars(c.client), "b_to_a": vars(c.to_client),
             "drop_syn_to_ports": list(c.drop_syn_to_ports),
             "drop_icmp_frag_needed": c.drop_icmp_frag_needed,
             "idle_timeout_s": c.idle_timeout_s,
             "mirror": [NS_MID, "span0", c.vlan] if c.vlan else None},
            {"a": [NS_MID, "eth1"], "b": [NS_SRV, "eth0"], "seed": c.seed + 1000}]}
        path = self.tmp / "forwarder.json"
        path.write_text(json.dumps(conf))
        self.forwarder = self.start(None, "-m", "tools.netlab.forwarder", str(path),
                                    log="forwarder", python=True)
        self._wait_for(lambda: ready.exists(), 10, "forwarder")

    # -- processes -------------------------------------------------------------
    def start(self, ns: str | None, *argv: str, log: str, python: bool = False) -> subprocess.Popen:
        """Start a background process (a peer: `python=True` runs `python -m ...`)."""
        cmd = [sys.executable, *argv] if python else list(argv)
        if ns:
            cmd = ["ip", "netns", "exec", ns, *cmd]
        err = open(self.tmp / f"{log}.log", "ab")
        p = subprocess.Popen(cmd, cwd=REPO, stdout=err, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=self.env())
        err.close()
        self.procs.append(p)
        return p

    def run(self, ns: str, *argv: str, timeout: float = 60, python: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a foreground client to completion (bounded by `timeout`); output is returned."""
        cmd = [sys.executable, *argv] if python else list(argv)
        p = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=self.env(env))
        self.procs.append(p)            # until it ends: close() stops it on Ctrl-C
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        self.procs.remove(p)
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)

    def peer(self, ns: str, *args: str, timeout: float = 60,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a client from tools/netlab/peers.py in the foreground."""
        return self.run(ns, "-m", "tools.netlab.peers", *args, timeout=timeout, python=True,
                        env=env)

    def serve(self, *args: str, module: str = "tools.netlab.peers", ns: str = NS_SRV,
              ready_port: int | None = None) -> subprocess.Popen:
        """Start a server (`python -m module args`); wait until `ready_port` listens."""
        p = self.start(ns, "-m", module, *args, log=f"{module.rsplit('.', 1)[-1]}-{args[0]}",
                       python=True)
        if ready_port:
            self.wait_listening(ns, ready_port)
        return p

    @staticmethod
    def env(extra: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment: no proxies, the repo importable, plus `extra`."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO),
               "LANG": "C.UTF-8", "HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(extra or {})
        return env

    def wait_listening(self, ns: str, port: int, proto: str = "t") -> None:
        def up() -> bool:
            out = sh("ss", f"-H{proto}ln", f"sport = :{port}", ns=ns, check=False).stdout
            return bool(out.strip())
        self._wait_for(up, 10, f"listener on port {port} in {ns}")

    def _wait_for(self, pred, seconds: float, what: str) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(0.05)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted(self.tmp.glob("*.log")))
        raise RuntimeError(f"netlab: {what} did not come up\n{logs}")

    # -- capture ---------------------------------------------------------------
    @contextmanager
    def capture(self, ns: str, dev: str, path: Path, settle: float = 0.3) -> Iterator[Path]:
        """tcpdump (full snaplen, nothing filtered) on `dev` in `ns` while the block runs."""
        log = self.tmp / f"tcpdump-{ns}-{dev}.log"
        p = self.start(ns, "tcpdump", "-i", dev, "-n", "-s", "0", "-U", "--immediate-mode",
                       "-Z", "root", "-w", str(path), log=log.stem)
        self._wait_for(lambda: log.exists() and "listening on" in log.read_text(), 10,
                       f"tcpdump on {ns}:{dev}")
        try:
            yield path
            time.sleep(settle)
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def start_dns(self) -> None:
        """The authoritative server (srv namespace) and dnsmasq as the resolver in front of it
        (router namespace); the client's resolv.conf points at the router."""
        addrs = ([DNS4] if self.cfg.ipv4 else []) + ([DNS6] if self.cfg.ipv6 else [])
        self.start(NS_SRV, "-m", "tools.netlab.dnsauth", *addrs, log="dnsauth", python=True)
        self.wait_listening(NS_SRV, 53, "u")
        listen = ([GW_CLI4] if self.cfg.ipv4 else []) + ([GW_CLI6] if self.cfg.ipv6 else [])
        upstream = DNS4 if self.cfg.ipv4 else DNS6
        self.start(NS_MID, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                   "--no-resolv", "--no-hosts", "--bind-interfaces", "--log-queries",
                   "--log-facility=-", f"--pid-file={self.tmp / 'dnsmasq.pid'}",
                   *(f"--listen-address={a}" for a in listen),
                   f"--server=/lab.test/{upstream}", f"--server=/corp.test/{upstream}",
                   log="dnsmasq")
        self.wait_listening(NS_MID, 53, "u")
        self.resolv_conf("".join(f"nameserver {a}\n" for a in listen)
                         + "search svc.lab.test lab.test\noptions timeout:1 attempts:2\n")

    def resolv_conf(self, text: str) -> None:
        """/etc/resolv.conf as seen inside the client namespace (ip netns exec bind-mounts it)."""
        d = Path("/etc/netns") / NS_CLI
        d.mkdir(parents=True, exist_ok=True)
        (d / "resolv.conf").write_text(text)

    def arp_warmup(self) -> None:
        """Resolve neighbours before capturing so a scenario starts with its own traffic."""
        if self.cfg.ipv4:
            sh("ping", "-c1", "-W1", GW_CLI4, ns=NS_CLI, check=False)
            sh("ping", "-c1", "-W1", GW_SRV4, ns=NS_SRV, check=False)
        if self.cfg.ipv6:
            sh("ping", "-6", "-c1", "-W1", GW_CLI6, ns=NS_CLI, check=False)
            sh("ping", "-6", "-c1", "-W1", GW_SRV6, ns=NS_SRV, check=False)
