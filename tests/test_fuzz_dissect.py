"""Every byte of a packet is hostile: random and mutated frames never make a dissector raise
anything but Truncated/Malformed (which dissect_frame turns into marks), never hit a bug,
and each frame dissects in bounded time."""
from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.capture import open_capture
from dissectors import CaptureState, dissect_frame

from .conftest import CORPUS

LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]
# Real frames to mutate: a few per link type from the corpus (skipped when absent).
SEEDS = ["zeek_http11-get.pcap", "zeek_vlan-dot1q-arp-icmp.pcap",
         "tcpdump_tcp-handshake-nanosec-sll.pcap", "zeek_sll2-arp-icmp-icmpv6.pcap",
         "libpcap_ipv6-all-extension-headers-udp.pcap", "zeek_icmp-destunreach-port-udp.pcap",
         "zeek_ipv4-fragments-udp.pcap", "gopacket_null-loopback-ipv6-http.pcap",
         "tcpdump_linktype-raw101-ipv4-dns.pcap", "zeek_tcp-options-mss-sack-ts-wscale.pcap",
         "zeek_icmpv6-nd-ra-mld-options.pcap", "suricata_ipv4-options-all.pcap"]


def _seed_frames() -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    for name in SEEDS:
        path = CORPUS / "pcaps" / name
        if not path.exists():
            continue
        with open_capture(str(path)) as reader:
            for i, f in enumerate(reader):
                if i >= 6:
                    break
                frames.append((f.linktype, f.data))
    return frames or [(1, bytes.fromhex("ffffffffffff00112233445508004500001c0001000040"
                                        "11f9e27f0000017f000001003500350008ffff"))]


SEED_FRAMES = _seed_frames()
MAX_SECONDS_PER_FRAME = 0.5


def check(linktype: int, data: bytes, state: CaptureState | None = None, number: int = 1,
          origlen: int | None = None) -> None:
    state = state or CaptureState()
    t0 = time.perf_counter()
    for tree in (True, False):
        root, pkt = dissect_frame(data, number=number, ts_ns=0,
                                  origlen=len(data) if origlen is None else origlen,
                                  linktype=linktype, state=state, tree=tree)
        assert "bug" not in pkt.hints, pkt.hints["bug"]
        if root is not None:
            sum(1 for _ in root.walk())
            root.values()
            for n in root.walk():
                n.text()
    assert time.perf_counter() - t0 < MAX_SECONDS_PER_FRAME


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LINKTYPES), st.binary(max_size=200))
def test_random_bytes(linktype, data):
    check(linktype, data)


@st.composite
def mutated(draw):
    linktype, frame = draw(st.sampled_from(SEED_FRAMES))
    data = bytearray(frame)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    origlen = draw(st.sampled_from([len(data), cut, len(data) + 100]))
    return linktype, bytes(data[:cut]), origlen


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_frames(case):
    linktype, data, origlen = case
    check(linktype, data, origlen=max(origlen, len(data)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=2, max_size=25))
def test_mutated_sequences_share_state(cases):
    """Stateful layers (streams, reassembly, echo matching) survive hostile sequences, and
    re-dissecting an already seen frame (the visited path) is safe too."""
    state = CaptureState()
    for n, (linktype, data, origlen) in enumerate(cases, 1):
        check(linktype, data, state, number=n, origlen=max(origlen, len(data)))
    linktype, data, origlen = cases[0]
    check(linktype, data, state, number=1, origlen=max(origlen, len(data)))
