"""User-space link impairment between pairs of TAP interfaces (the kernel here has no netem).

Each *link* joins two TAP devices (each possibly in a different network namespace) and copies
Ethernet frames between them. Frames read from a TAP without a vnet header have already been
segmented and checksummed by the kernel, so a capture on either TAP sees what a NIC would see
on a real wire. Per direction a frame goes through:

    filters (drop SYNs to a port, drop ICMP "fragmentation needed", MTU cap)
    -> seeded random loss
    -> bottleneck: rate limit with a drop-tail queue bounded in time
    -> propagation delay, plus occasional extra delay (= reordering)

and a link may also act like a stateful middlebox: it remembers TCP flows, forgets one idle
for longer than `idle_timeout_s`, and answers a later segment of a forgotten flow with a RST
to its sender (what NAT gateways and load balancers do).

Run as `python -m tools.netlab.forwarder CONFIG.json`; it stops on SIGTERM/SIGINT or after
`max_seconds`, and prints per-direction counters as JSON on stderr.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8
PROTO_ICMP, PROTO_TCP, PROTO_ICMPV6 = 1, 6, 58
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
WIRE_OVERHEAD = 24          # preamble + FCS + inter-frame gap, counted by the rate limiter
FLOW_TABLE_MAX = 4096       # bound on the middlebox flow table


@dataclass
class DirectionConfig:
    """Impairments of one direction of a link (all off by default)."""
    delay_ms: float = 0.0
    loss: float = 0.0
    rate_mbit: float = 0.0          # 0 = unlimited
    queue_ms: float = 50.0          # drop-tail: max queueing delay at the bottleneck
    reorder: float = 0.0            # probability a frame gets `reorder_extra_ms` more delay
    reorder_extra_ms: float = 5.0
    mtu: int = 0                    # 0 = no cap; else frames with IP length > mtu vanish


@dataclass
class LinkConfig:
    """Two TAP endpoints ("a" and "b" as (netns, device)) and what happens between them."""
    a: tuple[str, str]
    b: tuple[str, str]
    a_to_b: DirectionConfig = field(default_factory=DirectionConfig)
    b_to_a: DirectionConfig = field(default_factory=DirectionConfig)
    seed: int = 1
    drop_syn_to_ports: tuple[int, ...] = ()
    drop_icmp_frag_needed: bool = False
    idle_timeout_s: float = 0.0     # 0 = no middlebox flow tracking
    mirror: tuple[str, str, int] | None = None   # (netns, TAP, VLAN id): SPAN copy of side a


    @classmethod
    def from_dict(cls, d: dict) -> LinkConfig:
        return cls(a=tuple(d["a"]), b=tuple(d["b"]),
                   a_to_b=DirectionConfig(**d.get("a_to_b", {})),
                   b_to_a=DirectionConfig(**d.get("b_to_a", {})),
                   seed=d.get("seed", 1),
                   drop_syn_to_ports=tuple(d.get("drop_syn_to_ports", ())),
                   drop_icmp_frag_needed=d.get("drop_icmp_frag_needed", False),
                   idle_timeout_s=d.get("idle_timeout_s", 0.0),
                   mirror=tuple(d["mirror"]) if d.get("mirror") else None)


# ------------------------------------------------------------------ frame parsing --

@dataclass
class L3Info:
    """The few facts the filters need, parsed from an Ethernet frame (None if not IP)."""
    l3_off: int          # offset of the IP header
    version: int
    ip_len: int          # IP total length (header + payload)
    proto: int           # IPv4 protocol / IPv6 next header (no extension headers followed)
    l4_off: int
    src: bytes
    dst: bytes


def parse_l3(frame: bytes) -> L3Info | None:
    """Find the IP header behind Ethernet and any 802.1Q/802.1ad tags."""
    off = 12
    while len(frame) >= off + 2:
        etype = int.from_bytes(frame[off:off + 2], "big")
        if etype in (ETH_VLAN, ETH_QINQ):
            off += 4
            continue
        off += 2
        if etype == ETH_IPV4 and len(frame) >= off + 20:
            ihl = (frame[off] & 0x0F) * 4
            return L3Info(off, 4, int.from_bytes(frame[off + 2:off + 4], "big"), frame[off + 9],
                          off + ihl, frame[off + 12:off + 16], frame[off + 16:off + 20])
        if etype == ETH_IPV6 and len(frame) >= off + 40:
            return L3Info(off, 6, 40 + int.from_bytes(frame[off + 4:off + 6], "big"),
                          frame[off + 6], off + 40, frame[off + 8:off + 24],
                          frame[off + 24:off + 40])
        return None
    return None


def tcp_ports_flags(frame: bytes, l3: L3Info) -> tuple[int, int, int] | None:
    """(source port, destination port, flags) of a TCP segment, or None."""
    o = l3.l4_off
    if l3.proto != PROTO_TCP or len(frame) < o + 14:
        return None
    sport, dport = struct.unpack_from("!HH", frame, o)
    return sport, dport, frame[o + 13]


def is_frag_needed(frame: bytes, l3: L3Info) -> bool:
    """ICMPv4 type 3 code 4 or ICMPv6 type 2 (Packet Too Big): the PMTU discovery signal."""
    o = l3.l4_off
    if len(frame) < o + 2:
        return False
    if l3.version == 4 and l3.proto == PROTO_ICMP:
        return frame[o] == 3 and frame[o + 1] == 4
    return l3.version == 6 and l3.proto == PROTO_ICMPV6 and frame[o] == 2


def vlan_tag(frame: bytes, vid: int) -> bytes:
    """The frame with an 802.1Q tag (priority 0, VLAN `vid`) after the MAC addresses."""
    return frame[:12] + struct.pack("!HH", ETH_VLAN, vid & 0x0FFF) + frame[12:]


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def make_rst(frame: bytes, l3: L3Info) -> bytes:
    """A RST answering `frame` as if sent by its destination (RFC 9293 3.10.7.1 rules).

    With ACK set on the offending segment the RST carries seq = its ack number; otherwise
    seq 0 and ACK of the segment's end. TTL/hop limit 64: a middlebox's RST usually differs
    in TTL from the real peer's packets, which is how one tells them apart in a capture.
    """
    o = l3.l4_off
    sport, dport, seq, ack = struct.unpack_from("!HHII", frame, o)
    flags = frame[o + 13]
    doff = (frame[o + 12] >> 4) * 4
    seg_len = l3.ip_len - (o - l3.l3_off) - doff + bool(flags & TCP_SYN) + bool(flags & TCP_FIN)
    if flags & TCP_ACK:
        r_seq, r_ack, r_flags = ack, 0, TCP_RST
    else:
        r_seq, r_ack, r_flags = 0, (seq + seg_len) & 0xFFFFFFFF, TCP_RST | TCP_ACK
    tcp = bytearray(struct.pack("!HHIIBBHHH", dport, sport, r_seq, r_ack, 5 << 4, r_flags, 0, 0, 0))
    eth = frame[6:12] + frame[0:6] + frame[12:l3.l3_off]
    if l3.version == 4:
        pseudo = l3.dst + l3.src + struct.pack("!BBH", 0, PROTO_TCP, len(tcp))
        struct.pack_into("!H", tcp, 16, _csum(pseudo + bytes(tcp)))
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64,
                                   PROTO_TCP, 0, l3.dst, l3.src))
        struct.pack_into("!H", ip, 10, _csum(bytes(ip)))
    else:
        pseudo = l3.dst + l3.src + struct.pack("!I3xB", len(tcp), PROTO_TCP)
        struct.pack_into("!H", tcp, 16, _csum(pseudo + bytes(tcp)))
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), PROTO_TCP, 64, l3.dst, l3.src)
    return eth + bytes(ip) + bytes(tcp)


# ------------------------------------------------------------------ impairment model --

class Direction:
    """One direction of a link: decides each frame's fate and when it leaves."""

    def __init__(self, name: str, cfg: DirectionConfig, rng: random.Random) -> None:
        self.name = name
        self.cfg = cfg
        self.rng = rng
        self.byte_time = 8.0 / (cfg.rate_mbit * 1e6) if cfg.rate_mbit > 0 else 0.0
        self.link_free = 0.0
        self.counters = dict(rx=0, lost=0, queue_drop=0, mtu_drop=0, filtered=0,
                             reordered=0, middlebox_rst=0)

    def schedule(self, frame: bytes, now: float) -> float | None:
        """Departure time at the far end, or None if the frame is lost on the way.

        Random draws happen for every frame in a fixed order, so the same frame sequence
        meets the same fate on every run (seeded, deterministic shape).
        """
        c, cfg = self.counters, self.cfg
        lost = self.rng.random() < cfg.loss
        late = self.rng.random() < cfg.reorder
        if lost:
            c["lost"] += 1
            return None
        start = max(self.link_free, now)
        if start - now > cfg.queue_ms / 1e3:
            c["queue_drop"] += 1
            return None
        depart = start + (len(frame) + WIRE_OVERHEAD) * self.byte_time
        self.link_free = depart
        arrive = depart + cfg.delay_ms / 1e3
        if late:
            c["reordered"] += 1
            arrive += cfg.reorder_extra_ms / 1e3
        return arrive


class Link:
    """Both directions of a link plus its filters and middlebox flow table."""

    def __init__(self, cfg: LinkConfig) -> None:
        self.cfg = cfg
        self.ab = Direction("a->b", cfg.a_to_b, random.Random(cfg.seed * 2 + 1))
        self.ba = Direction("b->a", cfg.b_to_a, random.Random(cfg.seed * 2 + 2))
        self.flows: dict[tuple, float] = {}

    def _flow_key(self, l3: L3Info, ports: tuple[int, int, int]) -> tuple:
        ends = sorted([(l3.src, ports[0]), (l3.dst, ports[1])])
        return (ends[0], ends[1])

    def _middlebox(self, frame: bytes, l3: L3Info, ports: tuple[int, int, int],
                   now: float) -> bool:
        """Track the flow; True if the middlebox has forgotten it (frame must be refused)."""
        key = self._flow_key(l3, ports)
        last = self.flows.get(key)
        flags = ports[2]
        if flags & TCP_SYN and not flags & TCP_ACK:
            if len(self.flows) >= FLOW_TABLE_MAX:
                self.flows.pop(next(iter(self.flows)))
            self.flows[key] = now
            return False
        if last is None or now - last > self.cfg.idle_timeout_s:
            self.flows.pop(key, None)
            return not flags & TCP_RST
        self.flows[key] = now
        return False

    def process(self, frame: bytes, a_to_b: bool, now: float) -> list[tuple[float, bool, bytes]]:
        """Fate of a frame read on one side: a list of (time, to_b, frame) to send."""
        d = self.ab if a_to_b else self.ba
        d.counters["rx"] += 1
        cfg = self.cfg
        l3 = parse_l3(frame)
        if l3 is not None:
            ports = tcp_ports_flags(frame, l3)
            if ports and cfg.drop_syn_to_ports and ports[2] & TCP_SYN and not ports[2] & TCP_ACK \
                    and ports[1] in cfg.drop_syn_to_ports:
                d.counters["filtered"] += 1
                return []
            if cfg.drop_icmp_frag_needed and is_frag_needed(frame, l3):
                d.counters["filtered"] += 1
                return []
            if d.cfg.mtu and l3.ip_len > d.cfg.mtu:
                d.counters["mtu_drop"] += 1
                return []
            if ports and cfg.idle_timeout_s and self._middlebox(frame, l3, ports, now):
                d.counters["middlebox_rst"] += 1
                return [(now, not a_to_b, make_rst(frame, l3))]
        when = d.schedule(frame, now)
        return [] if when is None else [(when, a_to_b, frame)]


# ------------------------------------------------------------------ I/O loop --

_libc = ctypes.CDLL(None, use_errno=True)


def open_tap(netns: str, dev: str) -> int:
    """Attach to the persistent TAP `dev` inside `netns` (this process joins that netns)."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), netns)
    finally:
        os.close(fd)
    tap = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH22x", dev.encode(), IFF_TAP | IFF_NO_PI))
    return tap


def run(links: list[LinkConfig], max_seconds: float, ready_file: str | None) -> list[Link]:
    """Forward frames until SIGTERM/SIGINT or `max_seconds`; returns the links (counters)."""
    models = [Link(cfg) for cfg in links]
    ends: dict[int, tuple[Link, bool]] = {}     # fd -> (link, frames read here go a->b)
    out_fd: dict[tuple[int, bool], int] = {}    # (link index, to_b) -> fd
    for i, (cfg, link) in enumerate(zip(links, models)):
        fa, fb = open_tap(*cfg.a), open_tap(*cfg.b)
        ends[fa], ends[fb] = (link, True), (link, False)
        out_fd[(i, True)], out_fd[(i, False)] = fb, fa
    index = {id(link): i for i, link in enumerate(models)}
    # SPAN ports: a tagged copy of every frame as endpoint "a" of the link sends or receives it
    span: dict[int, tuple[int, int]] = {}       # fd of side a -> (mirror fd, VLAN id)
    for i, cfg in enumerate(links):
        if cfg.mirror:
            span[out_fd[(i, False)]] = (open_tap(cfg.mirror[0], cfg.mirror[1]), cfg.mirror[2])
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(os.getpid()))

    ep = select.epoll()
    for fd in ends:
        ep.register(fd, select.EPOLLIN)
    heap: list[tuple[float, int, int, bytes]] = []
    seq = 0
    deadline = time.monotonic() + max_seconds
    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, fd, frame = heapq.heappop(heap)
            _write(fd, frame)
            if fd in span:
                _write(span[fd][0], vlan_tag(frame, span[fd][1]))
        timeout = 0.2 if not heap else max(0.0, min(0.2, heap[0][0] - time.monotonic()))
        try:
            events = ep.poll(timeout)
        except InterruptedError:
            continue
        for fd, _ in events:
            link, a_to_b = ends[fd]
            for _ in range(256):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno == errno.EIO:  # TAP has no carrier yet
                        break
                    raise
                if fd in span:
                    _write(span[fd][0], vlan_tag(frame, span[fd][1]))
                for when, to_b, out in link.process(frame, a_to_b, time.monotonic()):
                    seq += 1
                    heapq.heappush(heap, (when, seq, out_fd[(index[id(link)], to_b)], out))
    return models


def _write(fd: int, frame: bytes) -> None:
    try:
        os.write(fd, frame)
    except OSError as e:          # TAP down or its queue full: the frame is lost, as on a wire
        if e.errno not in (errno.EAGAIN, errno.EIO):
            raise


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        conf = json.load(f)
    links = [LinkConfig.from_dict(d) for d in conf["links"]]
    models = run(links, conf.get("max_seconds", 120.0), conf.get("ready_file"))
    report = [{"link": f"{m.cfg.a[0]}:{m.cfg.a[1]}<->{m.cfg.b[0]}:{m.cfg.b[1]}",
               "a->b": m.ab.counters, "b->a": m.ba.counters} for m in models]
    print(json.dumps(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
