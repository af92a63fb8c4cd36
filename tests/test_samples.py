"""The lab's sample captures (sample_pcaps/) and the lab's forwarder logic.

Every sample must read through analyzer.capture + dissectors without a dissector bug, and the
facts in sample_pcaps/facts.json (the machine-readable half of sample_pcaps/README.md) must
hold. A fact counts the frames whose fields have given values, in tshark's `-T fields` text:

    {"about": "RST/ACK from the server", "where": {"tcp.flags.reset": "1",
     "ip.src": "10.77.2.2"}, "count": 2}

Facts are checked against our dissectors when every field they name is registered (facts on
fields no dissector declares yet wait for theirs), and against tshark when it is installed, so
facts.json itself is verified too. The analysis issues extend facts.json with their findings.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from analyzer.capture import open_capture
from analyzer.output import FieldsFormat, field_cells
from dissectors import REGISTRY, CaptureState, dissect_frame
from tools.netlab.forwarder import (DirectionConfig, Link, LinkConfig, _csum, make_rst,
                                    parse_l3, tcp_ports_flags, vlan_tag)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_pcaps"
FACTS: dict[str, dict] = json.loads((SAMPLES / "facts.json").read_text())["samples"]
CAPTURE_SUFFIXES = (".pcap", ".pcapng")
FACT_CASES = [(name, i) for name, s in FACTS.items() for i in range(len(s["facts"]))]
# Facts that count what only decrypted TLS shows (the server's ALPN inside TLS 1.3's
# EncryptedExtensions); wirelens keeps the key logs but decrypts in a later issue.
NEEDS_DECRYPTION = {("demo.pcapng", "ALPN: offered h2,http/1.1 (ClientHello), http/1.1 chosen "
                                    "(decrypted EncryptedExtensions)")}


def _fields(fact: dict) -> list[str]:
    return list(fact["where"])


@functools.lru_cache(maxsize=None)
def _ours(name: str) -> tuple[list[dict], list[str]]:
    """Per frame, {field: tshark-style text} for every registered field the facts name, plus
    the dissector bugs met (pkt.hints["bug"])."""
    names = sorted({f for fact in FACTS[name]["facts"] for f in _fields(fact) if f in REGISTRY})
    fmt, rows, bugs = FieldsFormat(), [], []
    with open_capture(str(SAMPLES / name)) as reader:
        state = CaptureState()
        for n, f in enumerate(reader, 1):
            root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                      linktype=f.linktype, iface=f.iface, comment=f.comment,
                                      state=state)
            if "bug" in pkt.hints:
                bugs.append(f"frame {n}: {pkt.hints['bug']}")
            rows.append(dict(zip(names, field_cells(names, root, pkt, fmt, ""))))
    return rows, bugs


@functools.lru_cache(maxsize=None)
def _tshark(name: str) -> list[dict]:
    names = sorted({f for fact in FACTS[name]["facts"] for f in _fields(fact)})
    args = ["tshark", "-n", "-r", str(SAMPLES / name), "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for f in names:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return [dict(zip(names, line.split("\t"))) for line in out.splitlines()]


def _count(rows: list[dict], fact: dict) -> int:
    return sum(all(want in row.get(f, "").split(",") for f, want in fact["where"].items())
               for row in rows)


def _check(count: int, fact: dict) -> None:
    if "count" in fact:
        assert count == fact["count"], fact["about"]
    assert count >= fact.get("min", 0), fact["about"]
    assert count <= fact.get("max", count), fact["about"]


# ------------------------------------------------------------------ the samples --

def test_every_capture_has_facts_and_every_fact_a_capture() -> None:
    on_disk = {p.name for p in SAMPLES.iterdir() if p.suffix in CAPTURE_SUFFIXES}
    assert on_disk == set(FACTS)


def test_sizes() -> None:
    files = [p for p in SAMPLES.iterdir() if p.suffix in CAPTURE_SUFFIXES + (".keylog",)]
    assert all(p.stat().st_size <= 200_000 for p in files), [p.name for p in files]
    assert sum(p.stat().st_size for p in files) <= 3_000_000


@pytest.mark.parametrize("name", sorted(FACTS))
def test_reads_cleanly(name: str) -> None:
    """Every frame dissects without a dissector bug, and the frame count is the README's."""
    rows, bugs = _ours(name)
    assert not bugs
    assert len(rows) == FACTS[name]["frames"]


@pytest.mark.parametrize("name", sorted(FACTS))
def test_link_type_and_keylog(name: str) -> None:
    """Ethernet captures; TLS captures have their key log beside them (or embedded)."""
    sample = FACTS[name]
    with open_capture(str(SAMPLES / name)) as reader:
        linktypes = {f.linktype for f in reader}
        secrets = reader.secrets
    assert linktypes == {1}
    if sample.get("keylog"):
        keylog = (SAMPLES / sample["keylog"]).read_bytes()
        lines = [ln for ln in keylog.decode().splitlines() if ln and not ln.startswith("#")]
        assert lines and all(re.fullmatch(r"[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,128}", ln)
                             for ln in lines)     # NSS key log format (SSLKEYLOGFILE)
        if name.endswith(".pcapng"):
            assert (0x544C534B, keylog) in [(t, bytes(d)) for t, d in secrets]


@pytest.mark.parametrize("name,index", FACT_CASES)
def test_fact_with_wirelens(name: str, index: int) -> None:
    fact = FACTS[name]["facts"][index]
    missing = [f for f in _fields(fact) if f not in REGISTRY]
    if missing:
        pytest.skip(f"no dissector declares {missing} yet")
    if (name, fact["about"]) in NEEDS_DECRYPTION:
        pytest.skip("needs TLS decryption (a later issue)")
    rows, _ = _ours(name)
    _check(_count(rows, fact), fact)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name,index", FACT_CASES)
def test_fact_with_tshark(name: str, index: int) -> None:
    """The facts are true of the captures, as Wireshark sees them."""
    fact = FACTS[name]["facts"][index]
    _check(_count(_tshark(name), fact), fact)


# ------------------------------------------------------------------ the forwarder --

def _frames(name: str) -> list[bytes]:
    with open_capture(str(SAMPLES / name)) as reader:
        return [bytes(f.data) for f in reader]


def _syn_to(port: int) -> bytes:
    """A real SYN from refused.pcap (the kernel's bytes) to `port`."""
    for fr in _frames("refused.pcap"):
        l3 = parse_l3(fr)
        pf = l3 and tcp_ports_flags(fr, l3)
        if pf and pf[1] == port and pf[2] == 0x02:
            return fr
    raise AssertionError(f"no SYN to {port}")


def test_parse_l3_sees_through_vlan_tags() -> None:
    syn = _syn_to(80)
    for frame in (syn, vlan_tag(syn, 100), vlan_tag(vlan_tag(syn, 7), 100)):
        l3 = parse_l3(frame)
        assert l3 and l3.version == 4 and l3.proto == 6
        assert tcp_ports_flags(frame, l3)[1:] == (80, 0x02)
    assert vlan_tag(syn, 100)[12:16] == bytes.fromhex("81000064")


def test_filters_drop_syn_to_port_and_mtu() -> None:
    link = Link(LinkConfig(a=("x", "a"), b=("y", "b"), drop_syn_to_ports=(81,),
                           a_to_b=DirectionConfig(mtu=40)))
    assert link.process(_syn_to(81), True, 0.0) == []
    assert link.ab.counters["filtered"] == 1
    assert link.process(_syn_to(80), True, 0.0) == []          # IP length 60 > MTU 40
    assert link.ab.counters["mtu_drop"] == 1
    assert link.process(_syn_to(80), False, 0.0) != []         # the cap is per direction


def test_seeded_loss_is_repeatable() -> None:
    def fates(seed: int) -> list[bool]:
        link = Link(LinkConfig(a=("x", "a"), b=("y", "b"), seed=seed,
                               a_to_b=DirectionConfig(loss=0.3)))
        return [bool(link.process(_syn_to(80), True, i * 0.01)) for i in range(200)]
    assert fates(5) == fates(5)
    assert fates(5) != fates(6)
    assert 100 < sum(fates(5)) < 180


def test_rate_limit_queues_then_drops_tail() -> None:
    d = Link(LinkConfig(a=("x", "a"), b=("y", "b"),
                        a_to_b=DirectionConfig(rate_mbit=1, queue_ms=5, delay_ms=10))).ab
    frame = bytes(1476)                              # 1500 bytes on the wire: 12 ms at 1 Mbit/s
    first, second, third = (d.schedule(frame, 0.0) for _ in range(3))
    assert first == pytest.approx(0.012 + 0.010)
    assert second is None and third is None          # queue would exceed 5 ms: tail drop
    assert d.counters["queue_drop"] == 2


def test_middlebox_forgets_idle_flow_and_resets_sender() -> None:
    frames = [f for f in _frames("refused.pcap") if (l3 := parse_l3(f)) and
              (pf := tcp_ports_flags(f, l3)) and 80 in pf[:2]]
    syn, synack, ack = frames[:3]
    link = Link(LinkConfig(a=("x", "a"), b=("y", "b"), idle_timeout_s=2.0))
    assert link.process(syn, True, 0.0)
    assert link.process(synack, False, 0.1)
    assert link.process(ack, True, 1.0)             # idle 0.9 s: still known
    out = link.process(ack, True, 3.5)              # idle 2.5 s: forgotten
    assert len(out) == 1 and out[0][1] is False      # answered toward the sender, not forwarded
    rst = out[0][2]
    l3, l3_ack = parse_l3(rst), parse_l3(ack)
    assert (l3.src, l3.dst) == (l3_ack.dst, l3_ack.src)
    sport, dport, seq = struct.unpack_from("!HHI", rst, l3.l4_off)
    a_sport, a_dport, _, a_ack = struct.unpack_from("!HHII", ack, l3_ack.l4_off)
    assert (sport, dport, seq) == (a_dport, a_sport, a_ack)
    assert rst[l3.l4_off + 13] == 0x04                 # RST only: seq = the segment's ack
    assert _csum(rst[l3.l3_off:l3.l4_off]) == 0        # IPv4 header checksum verifies
    pseudo = l3.src + l3.dst + struct.pack("!BBH", 0, 6, len(rst) - l3.l4_off)
    assert _csum(pseudo + rst[l3.l4_off:]) == 0        # TCP checksum verifies
    root, pkt = dissect_frame(rst, number=1, ts_ns=0, origlen=len(rst), linktype=1,
                              state=CaptureState())
    assert "bug" not in pkt.hints and root.values()["tcp.flags.reset"] == [True]


def test_make_rst_answers_a_syn_with_rst_ack() -> None:
    syn = _syn_to(81)
    rst = make_rst(syn, parse_l3(syn))
    l3 = parse_l3(rst)
    _, _, seq, ack = struct.unpack_from("!HHII", rst, l3.l4_off)
    syn_seq = struct.unpack_from("!I", syn, parse_l3(syn).l4_off + 4)[0]
    assert rst[l3.l4_off + 13] == 0x14 and seq == 0 and ack == (syn_seq + 1) & 0xFFFFFFFF

