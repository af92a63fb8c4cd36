"""The sample scenarios: each builds a fresh lab, captures one story, and leaves its files.

A scenario is a function `(out_dir) -> dict` registered in SCENARIOS under the base name of
its capture; the dict (client observations) is printed by make_samples for the run log.
What each capture shows, and what wirelens must say about it, is in sample_pcaps/README.md.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from .forwarder import DirectionConfig
from .lab import NS_CLI, NS_MID, NS_SRV, SRV4, Lab, LabConfig, sh
from .tlspeers import make_pki

Scenario = Callable[[Path], dict]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def _json(proc) -> dict:
    """The JSON line a peer client printed (or its error output when it printed none)."""
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"rc": proc.returncode, "stdout": proc.stdout[-500:], "stderr": proc.stderr[-500:]}


def _json_list(proc) -> list:
    """The JSON list a TLS client printed."""
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    if not lines:
        return [{"rc": proc.returncode, "stderr": proc.stderr[-500:]}]
    return json.loads(lines[-1])


def _rtt(ms: float) -> tuple[DirectionConfig, DirectionConfig]:
    """A symmetric path with `ms` of round-trip time on the client link."""
    return DirectionConfig(delay_ms=ms / 2), DirectionConfig(delay_ms=ms / 2)


# ------------------------------------------------------------------ TCP connection setup --

@scenario
def refused(out: Path) -> dict:
    """RST/ACK answers SYNs to closed ports 81 and 8443 while port 80 serves."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "refused.pcap"):
            res = _json(lab.peer(NS_CLI, "connect", SRV4, "81", "80", "8443"))
    return res


@scenario
def syn_dropped(out: Path) -> dict:
    """A firewall silently drops SYNs to port 5432: the client retries with backoff, gives up."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down, drop_syn_to_ports=(5432,))) as lab:
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "syn_dropped.pcap"):
            res = _json(lab.peer(NS_CLI, "connect", SRV4, "80", "5432", "--syncnt", "3",
                                 "--timeout", "30"))
    return res


@scenario
def accept_queue_overflow(out: Path) -> dict:
    """Listen backlog 1 and the server never calls accept(): later connections are dropped."""
    up, down = _rtt(2)
    with Lab(LabConfig(client=up, to_client=down,
                       server_sysctls={"net.ipv4.tcp_synack_retries": "2"})) as lab:
        lab.serve("tcp", "backlog:9000:1", ready_port=9000)
        lab.arp_warmup()
        with lab.capture(NS_SRV, "eth0", out / "accept_queue_overflow.pcap"):
            res = _json(lab.peer(NS_CLI, "backlog", SRV4, "9000", "--conns", "4",
                                 "--hold", "6"))
    return res


# ------------------------------------------------------------------ data transfer --

@scenario
def bulk_lossy(out: Path) -> dict:
    """100 kB download over 8 Mbit/s, 40 ms RTT, 3% seeded loss toward the client.

    Captured at both ends of the same connection: at the receiver (client eth0) and at the
    sender (server eth0), so the two views of one loss event can be compared."""
    up = DirectionConfig(delay_ms=20, rate_mbit=8, queue_ms=30)
    down = DirectionConfig(delay_ms=20, rate_mbit=8, queue_ms=30, loss=0.03)
    with Lab(LabConfig(client=up, to_client=down, seed=7)) as lab:
        lab.serve("tcp", "bulk:5001:100000", ready_port=5001)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "bulk_lossy_receiver.pcap"), \
                lab.capture(NS_SRV, "eth0", out / "bulk_lossy_sender.pcap"):
            res = _json(lab.peer(NS_CLI, "bulk", SRV4, "5001"))
    return res


@scenario
def zero_window(out: Path) -> dict:
    """The client's app stops reading for 2 s with a 4 kB receive buffer: zero window."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.serve("tcp", "bulk:5002:60000", ready_port=5002)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "zero_window.pcap"):
            res = _json(lab.peer(NS_CLI, "slow-read", SRV4, "5002", "--rcvbuf", "4096",
                                 "--pause", "2.0"))
    return res


@scenario
def resets(out: Path) -> dict:
    """Four ways to meet a RST: unread data at close, SO_LINGER 0, middlebox idle timeout,
    data sent to a closed socket."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down, idle_timeout_s=2.0)) as lab:
        lab.serve("tcp", "unread-close:7001", "linger0:7002:3000", "reply-close:7003:200",
                  "echo:7004", ready_port=7004)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "resets.pcap"):
            res = _json(lab.peer(NS_CLI, "resets", SRV4, "--unread", "7001", "--linger", "7002",
                                 "--closed", "7003", "--idle", "7004", "--idle-seconds", "3"))
    return res


@scenario
def server_think_time(out: Path) -> dict:
    """Three keep-alive requests to a backend that thinks 400 ms each on a 20 ms RTT."""
    up, down = _rtt(20)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.serve("http", "--port", "80", "--think-ms", "400", ready_port=80)
        lab.arp_warmup()
        urls = [f"http://{SRV4}/bytes/{n}" for n in (300, 2000, 500)]
        with lab.capture(NS_CLI, "eth0", out / "server_think_time.pcap"):
            res = lab.run(NS_CLI, "curl", "-sS", "-w", "%{time_total}\\n",
                          *(a for u in urls for a in ("-o", "/dev/null", u)))
    return {"curl_time_total": res.stdout.split()}


@scenario
def nagle_delayed_ack(out: Path) -> dict:
    """Write-write-read rounds with Nagle on (port 6001) then with TCP_NODELAY (port 6002)."""
    up, down = _rtt(2)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.serve("tcp", "rpc:6001:100", "rpc:6002:100", ready_port=6002)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "nagle_delayed_ack.pcap"):
            nagle = _json(lab.peer(NS_CLI, "rpc", SRV4, "6001", "--rounds", "8"))
            nodelay = _json(lab.peer(NS_CLI, "rpc", SRV4, "6002", "--rounds", "8", "--nodelay"))
    return {"nagle_ms": nagle, "nodelay_ms": nodelay}


@scenario
def http_new_conn_per_request(out: Path) -> dict:
    """Eight requests, each on its own connection (curl run per request), 30 ms RTT."""
    up, down = _rtt(30)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        t0 = time.monotonic()
        with lab.capture(NS_CLI, "eth0", out / "http_new_conn_per_request.pcap"):
            for i in range(8):
                lab.run(NS_CLI, "curl", "-sS", "-o", "/dev/null", "-H", "Connection: close",
                        f"http://{SRV4}/bytes/{400 + i}")
    return {"seconds": round(time.monotonic() - t0, 2)}


@scenario
def http_keepalive(out: Path) -> dict:
    """The same eight requests on one keep-alive connection (one curl, eight URLs)."""
    up, down = _rtt(30)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        urls = [f"http://{SRV4}/bytes/{400 + i}" for i in range(8)]
        t0 = time.monotonic()
        with lab.capture(NS_CLI, "eth0", out / "http_keepalive.pcap"):
            lab.run(NS_CLI, "curl", "-sS", *(a for u in urls for a in ("-o", "/dev/null", u)))
    return {"seconds": round(time.monotonic() - t0, 2)}


@scenario
def pmtu_blackhole(out: Path) -> dict:
    """A 20 kB upload through a router whose next hop has MTU 1400; a firewall on the client
    link drops the router's ICMP "fragmentation needed", so full-size segments vanish."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down, server_mtu=1400,
                       drop_icmp_frag_needed=True)) as lab:
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "pmtu_blackhole.pcap"):
            res = lab.run(NS_CLI, "sh", "-c",
                          f"head -c 20000 /dev/zero | tr '\\0' x | curl -sS -o /dev/null "
                          f"--max-time 6 -w '%{{http_code}}\\n' --data-binary @- "
                          f"http://{SRV4}/upload", timeout=20)
    return {"curl": (res.stdout + res.stderr).strip()}


# ------------------------------------------------------------------ DNS --

@scenario
def dns(out: Path) -> dict:
    """Every DNS outcome through glibc -> dnsmasq resolver -> authoritative server."""
    up, down = _rtt(4)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        lab.start_dns()
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "dns.pcap"):
            plain = _json(lab.peer(NS_CLI, "resolve", "www.lab.test/4", "nosuch.lab.test/4",
                                   "api.lab.test/6", "broken.lab.test/4", "example.com/4",
                                   "silent.lab.test/4", "many.lab.test/4", "db/4",
                                   timeout=30))
            edns = _json(lab.peer(NS_CLI, "resolve", "many.lab.test/4", "www.lab.test/6",
                                  env={"RES_OPTIONS": "edns0"}))
    return {"plain": plain, "edns0": edns}


# ------------------------------------------------------------------ TLS --

def _tls(out: Path, name: str, mode: str) -> dict:
    """Run the TLS test client in `mode` ("ok" or "fail") against the lab's TLS server,
    capturing at the client as NAME.pcap with the key log as NAME.keylog."""
    up, down = _rtt(10)
    keylog = out / f"{name}.keylog"
    keylog.unlink(missing_ok=True)
    with Lab(LabConfig(client=up, to_client=down)) as lab:
        make_pki(lab.tmp)
        lab.serve("server", "--pki", str(lab.tmp), module="tools.netlab.tlspeers",
                  ready_port=4415)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / f"{name}.pcap"):
            res = lab.run(NS_CLI, "-m", "tools.netlab.tlspeers", "client", mode, SRV4,
                          "--pki", str(lab.tmp), "--keylog", str(keylog), python=True)
    return {"sessions": _json_list(res)}


@scenario
def tls_handshakes(out: Path) -> dict:
    """TLS 1.3 (SNI, ALPN http/1.1) and TLS 1.2 handshakes, each followed by a resumption."""
    return _tls(out, "tls_handshakes", "ok")


@scenario
def tls_failures(out: Path) -> dict:
    """Four handshakes that fail for different reasons: version, cipher, expiry, name."""
    return _tls(out, "tls_failures", "fail")


# ------------------------------------------------------------------ IPv6, VLAN --

@scenario
def ipv6_only(out: Path) -> dict:
    """A lab with no IPv4 at all: AAAA lookup, then HTTP over IPv6 (neighbour discovery shows)."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down, ipv4=False, ipv6=True)) as lab:
        lab.start_dns()
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        with lab.capture(NS_CLI, "eth0", out / "ipv6_only.pcap"):
            res = lab.run(NS_CLI, "curl", "-sS", "-6", "-w", "%{remote_ip} %{http_code}\\n",
                          "-o", "/dev/null", "http://www.lab.test/bytes/3000",
                          "-o", "/dev/null", "http://www.lab.test/bytes/200")
    return {"curl": res.stdout.split("\n")}


@scenario
def vlan(out: Path) -> dict:
    """A DNS lookup and an HTTP request seen on a switch SPAN port of a VLAN 100 trunk.

    This kernel lacks 802.1Q support (no VLAN devices), so the forwarder plays the switch:
    it copies every frame of the client link, tagged with VLAN 100, to the TAP mid:span0."""
    up, down = _rtt(10)
    with Lab(LabConfig(client=up, to_client=down, vlan=100)) as lab:
        lab.start_dns()
        lab.serve("http", "--port", "80", ready_port=80)
        lab.arp_warmup()
        with lab.capture(NS_MID, "span0", out / "vlan.pcap"):
            res = lab.run(NS_CLI, "curl", "-sS", "-4", "-w", "%{remote_ip} %{http_code}\\n",
                          "-o", "/dev/null", "http://www.lab.test/bytes/1000")
    return {"curl": res.stdout.strip()}


# ------------------------------------------------------------------ the demo --

@scenario
def demo(out: Path) -> dict:
    """A short session with a bit of everything; key log embedded in a pcapng DSB."""
    up = DirectionConfig(delay_ms=12, rate_mbit=20, queue_ms=40)
    down = DirectionConfig(delay_ms=12, rate_mbit=20, queue_ms=40, loss=0.02)
    keylog = out / "demo.keylog"
    keylog.unlink(missing_ok=True)
    raw = out / "demo.pcap"
    with Lab(LabConfig(client=up, to_client=down, seed=3)) as lab:
        make_pki(lab.tmp)
        lab.start_dns()
        lab.serve("http", "--port", "80", "--think-ms", "60", ready_port=80)
        lab.serve("tcp", "bulk:5002:40000", "bulk:5003:60000", ready_port=5003)
        lab.serve("server", "--pki", str(lab.tmp), module="tools.netlab.tlspeers",
                  ready_port=4415)
        lab.arp_warmup()
        tls_env = {"SSLKEYLOGFILE": str(keylog)}
        curl = ("curl", "-sS", "--cacert", str(lab.tmp / "ca.pem"),
                "-w", "%{url_effective} %{http_code} %{time_total}\\n")
        with lab.capture(NS_CLI, "eth0", raw):
            runs = [
                lab.run(NS_CLI, *curl, "-o", "/dev/null", "https://www.lab.test/",
                        "-o", "/dev/null", "https://www.lab.test/big", env=tls_env),
                lab.run(NS_CLI, *curl, *(a for n in (800, 1200, 30000) for a in
                        ("-o", "/dev/null", f"http://api.lab.test/bytes/{n}"))),
                lab.run(NS_CLI, *curl, "-o", "/dev/null", "http://api.lab.test:8081/"),
                lab.peer(NS_CLI, "bulk", "api.lab.test", "5003"),
                lab.peer(NS_CLI, "slow-read", "api.lab.test", "5002", "--rcvbuf", "4096",
                         "--pause", "1.5"),
            ]
    embed_keylog(raw, keylog, out / "demo.pcapng")
    raw.unlink()
    return {"runs": [(r.stdout + r.stderr).strip()[-300:] for r in runs]}


def embed_keylog(pcap: Path, keylog: Path, pcapng: Path) -> None:
    """Write `pcap` as pcapng with the TLS key log in a Decryption Secrets Block (editcap)."""
    sh("editcap", "-F", "pcapng", "--inject-secrets", f"tls,{keylog}", str(pcap), str(pcapng))
