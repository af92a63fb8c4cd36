#!/usr/bin/env python3
"""Regenerate the display-filter differential suite's expected sets by running tshark.

    python3 tools/filter_expected.py [--corpus DIR]

1. Concatenates a fixed list of corpus captures (Ethernet, VLAN, SLL2, IPv4 options and
   fragments, IPv6, ICMP errors quoting TCP/UDP, TCP analysis cases, MPTCP options) into
   tests/data/filter_corpus.pcapng with `mergecap -a` (about 190 kB, 816 frames).
2. Runs `tshark -n -r that -Y EXPR -T fields -e frame.number` for every expression below and
   stores the matching frame numbers, or the fact that tshark rejects the expression, in
   tests/data/filter_expected.json together with the tshark version.

tests/test_filter_differential.py compares wirelens with these sets (and, where tshark is
installed, can be re-checked by running this script). Expressions avoid fields of
application protocols wirelens does not dissect yet (http, smtp...): tshark would see them
and wirelens not, which is a dissector gap, not a filter one.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
CAPTURE = os.path.join(DATA, "filter_corpus.pcapng")
EXPECTED = os.path.join(DATA, "filter_expected.json")
SOURCES = [
    "zeek_mixed-lan-dns-http-arp-stp.pcap", "arkime_tcp-retrans-fast-spurious-ooo-dupack.pcap",
    "arkime_mixed-ipv6-dns-ssh-icmpv6.pcap", "suricata_tcp-window-full-smtp-icmp-fragneeded.pcap",
    "zeek_sll2-arp-icmp-icmpv6.pcap", "suricata_ipv4-options-all.pcap",
    "zeek_ipv4-fragments-udp.pcap", "zeek_vlan-dot1q-arp-icmp.pcap",
    "tcpdump_tcp-mptcp-v1-options.pcap", "zeek_tcp-options-mss-sack-ts-wscale.pcap",
    "zeek_icmp-destunreach-port-udp.pcap", "tcpdump_ipv6-routing-header.pcap",
    "zeek_tcp-keepalive-http-upgrade.pcap", "dpkt_dns-a-ptr-icmp.pcap",
    "zeek_tcp-syn-then-rst.pcap", "tcpdump_tcp-all-flags-set.pcap",
    "suricata_tcp-reused-ports-syns.pcap", "tcpdump_pptp-bigendian.pcap",
]

EXPRESSIONS = [
    # presence of protocols and fields, generated and expert items
    "tcp", "udp", "ip", "ipv6", "icmp", "icmpv6", "arp", "eth", "vlan", "sll", "frame",
    "tcp.options.mss", "tcp.options.sack_le", "tcp.options.timestamp.tsval", "ip.opt.type",
    "ip.options.timestamp", "ipv6.routing", "tcp.analysis", "tcp.analysis.flags",
    "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission", "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack", "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment",
    "tcp.analysis.window_full", "tcp.analysis.window_update", "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack", "tcp.analysis.zero_window", "tcp.analysis.reused_ports",
    "tcp.analysis.acks_frame", "tcp.analysis.initial_rtt", "_ws.expert && tcp.analysis.flags",
    "_ws.expert.severity == Warning && tcp.analysis.flags", "tcp.analysis.flags && !_ws.expert",
    "tcp.connection.syn", "tcp.connection.rst", "ip.flags.df", "udp.stream",
    # comparison operators, symbolic and word forms
    "tcp.port == 80", "tcp.port eq 80", "tcp.port any_eq 80", "tcp.port != 80",
    "tcp.port ne 80", "tcp.port all_ne 80", "tcp.port ~= 80", "tcp.port !== 80",
    "tcp.port any_ne 80", "tcp.port === 80", "tcp.port all_eq 80", "tcp.srcport > 1024",
    "tcp.srcport gt 1024", "tcp.dstport < 1024", "tcp.dstport lt 1024", "tcp.len >= 1000",
    "tcp.len ge 1000", "tcp.len <= 1", "tcp.len le 1", "udp.length > 100",
    "ip.ttl == 64", "ip.ttl != 64", "ipv6.hlim == 255", "icmp.type == 3", "icmp.type == 8",
    "icmpv6.type == 135", "icmp.code == 4", "ip.len > 1000", "frame.len > 1000",
    "frame.cap_len < 60", "tcp.stream == 3", "tcp.window_size_value == 0",
    "tcp.hdr_len > 20", "tcp.flags == 0x012", "tcp.flags == 0x002", "tcp.seq == 1",
    "tcp.ack == 1", "tcp.nxtseq > 1000", "udp.srcport == 53 || udp.dstport == 53",
    "frame.number == 100", "frame.number > 800",
    # multi-occurrence fields
    "ip.addr == 192.168.1.1", "ip.addr != 192.168.1.1", "ip.addr ~= 192.168.1.1",
    "ip.addr === 192.168.1.1", "eth.addr == ff:ff:ff:ff:ff:ff",
    "eth.addr != ff:ff:ff:ff:ff:ff", "tcp.port == 22", "tcp.port != 22",
    "udp.port in {53, 5353}", "udp.port == 137", "ipv6.addr == ff02::1:3",
    "tcp.options.sack_le > 0", "count(ip.addr) == 4", "count(ip.src) == 2",
    "count(tcp.options.sack_le) >= 2", "ip.src == ip.dst", "ip.src != ip.dst",
    "tcp.srcport == tcp.dstport", "tcp.srcport < tcp.dstport",
    # literals: integers (decimal, hex, octal, binary), chars, floats, strings, bytes
    "tcp.port == 0x50", "tcp.port == 0120", "tcp.port == 0b1010000", "ip.ttl == 0x40",
    "ip.proto == 17", "ip.proto == UDP", "ip.proto == ICMP", "eth.type == IPv6",
    "eth.type == 0x86dd", "tcp.flags.syn == 1", "tcp.flags.syn == 0", "tcp.flags.syn == True",
    "tcp.flags.syn == False", "tcp.flags.reset == 1", "tcp.flags.fin == 1 && tcp.flags.ack == 1",
    "tcp.flags.push == 1", "ip.flags.mf == 1", "ip.frag_offset > 0",
    "frame.time_relative > 100.5", "frame.time_relative <= 0.000001",
    "frame.time_delta > 1", "frame.time_delta >= 0.25", "tcp.analysis.ack_rtt > 0.1",
    "tcp.analysis.initial_rtt < 0.001", "frame.time >= \"2015-01-01 00:00:00\"",
    "frame.time < \"Jan  1, 2010 00:00:00\"", "frame.time_epoch > 1400000000",
    "eth.src == 52:54:00:0c:ee:cf", "eth.dst == 00-60-97-07-69-ea", "eth.src == 0000.8605.80da",
    "eth.dst == 0019 56bb8d70", "eth.dst == 00195 6bb8d70", "eth.dst == 333300000016", "eth.src[0:3] == 52:54:00",
    "eth.addr == 00:24:7e:e0:1d:b5 && eth.addr == 00:13:7f:be:8c:ff", "eth.dst[0] == 33",
    "eth.dst[0:2] == 33-33", "eth.dst[0:2] == 3333", "ip.src[0:2] == c0:a8",
    "ip.dst[-1] == fb", "ip.dst[3] == 0xff", "ip.dst[2:2] == 01:ff", "ip.dst[-2:2] == 01:ff",
    "ip.dst[-1] == ff", "tcp.payload[-1:] == 0a",
    "tcp.payload[0:4] == \"GET \"", "tcp.payload[0:4] == 47:45:54:20",
    "tcp.payload[:4] == \"SSH-\"", "tcp.payload[-2:] == 0d:0a", "tcp.payload[1-3] == \"ET \"",
    "tcp.payload[0] == 'E'", "tcp.payload[4:] contains \"HTTP\"", "tcp.payload[0:2,4] == 47:45:20",
    "frame[12:2] == 08:00", "frame[0:6] == ff:ff:ff:ff:ff:ff", "ip[0] == 45", "ip[9] == 11",
    "ipv6.src[0:2] == fe:80", "tcp.payload contains \"HTTP/1.1\"", "tcp.payload contains 0d:0a:0d:0a",
    "tcp.payload contains \"\\r\\n\\r\\n\"", "tcp.payload contains \"\\x48\\x54\\x54\\x50\"",
    "frame contains \"Host:\"", "frame contains 52:54:00", "tcp.options.sack_perm", "tcp.payload contains 50",
    "tcp.payload matches \"^(GET|POST) \"", "tcp.payload matches \"(?i)^get\"",
    "tcp.payload matches \"HTTP/1\\\\.[01]\"", "tcp.payload matches \"^SSH-2\\\\.0-\"",
    "frame matches \"(?i)mozilla\"", "udp.payload contains 00:01:00:01",
    # CIDR and address families
    "ip.addr == 10.0.0.0/8", "ip.addr == 192.168.0.0/16", "ip.src == 172.16.0.0/12",
    "ip.addr == 192.168.1.0/24 and not ip.addr == 192.168.1.1", "ip.dst == 224.0.0.0/4",
    "ip.addr != 10.0.0.0/8", "ipv6.addr == fe80::/10", "ipv6.dst == ff00::/8",
    "ipv6.src == ::/0", "ip.src > 192.168.0.0", "ip.dst <= 10.255.255.255",
    # in, ranges, not in
    "tcp.port in {80, 443, 8080}", "tcp.port in {20..25}", "tcp.port in {1..1023}",
    "tcp.dstport in {1024..65535}", "ip.ttl in {64, 128, 255}", "tcp.port not in {80, 22}",
    "icmp.type in {0, 8}", "ip.addr in {10.0.0.0/8, 192.168.1.1}", "udp.length in {50..100}",
    # functions
    "len(tcp.payload) > 1000", "len(tcp.payload) == 1", "len(eth.src) == 6",
    "len(tcp.payload) >= 100 && len(tcp.payload) < 200", "count(tcp.options.sack_le) == 1",
    "count(ip.opt.type) > 2", "count(vlan) == 1", "lower(ip.src_host) == \"192.168.1.1\"",
    "upper(frame.interface_name) contains \"ETH\"", "string(tcp.srcport) == \"80\"",
    "string(tcp.srcport) matches \"^8\"", "string(ip.ttl) == \"64\"",
    "string(tcp.flags) == \"18\"", "string(eth.src) == \"52:54:00:0c:ee:cf\"",
    "string(ip.src) == \"192.168.1.1\"", "string(ipv6.src) contains \"fe80::\"",
    "tcp.srcport in {tcp.dstport, 80}", "ip.src in {ip.dst}", "frame.time_relative in {0..1}",
    "frame.time_delta < 0", "tcp.flags.str contains \"S\"", "tcp.seq == tcp.ack",
    # arithmetic
    "tcp.dstport - 1 == 79", "tcp.srcport + tcp.dstport > 60000", "tcp.flags & 0x02",
    "tcp.flags & 0x12 == 0x12", "tcp.flags & 0x04 == 0x04", "-tcp.dstport == -80",
    "tcp.len * 2 > 2800", "tcp.srcport % 2 == 0", "tcp.srcport / 1000 == 4",
    "ip.flags & 0x40", "tcp.flags bitwise_and 0x01",
    # logic and precedence
    "tcp and udp", "tcp or udp", "tcp && tcp.port == 80", "tcp || icmp",
    "not tcp", "!tcp", "not tcp and not udp", "!(tcp || udp)",
    "tcp or udp and icmp", "(tcp or udp) and icmp", "not tcp or udp", "not (tcp or udp)",
    "tcp and not tcp.port == 80 or udp", "tcp.port == 80 or tcp.port == 22 and ip.ttl == 64",
    "(tcp.port == 80 or tcp.port == 22) and ip.ttl == 64", "!tcp.flags.ack && tcp",
    "tcp.flags.syn == 1 and tcp.flags.ack == 0 or tcp.flags.reset == 1",
    "not not tcp", "!(!(udp))", "icmp and ip.src == 192.168.1.1 or arp and arp.opcode == 1",
    "arp.opcode == request", "arp.opcode == 2", "vlan.id == 10", "sll.pkttype == 4",
    # summary-column filters (the fast path must give tree answers)
    "tcp.port == 443 && tcp.analysis.retransmission",
    "ip.addr == 10.0.0.0/8 and not tcp.analysis.flags", "tcp.analysis.flags && !tcp.analysis.window_update",
    "tcp.stream in {0..3} and tcp.len > 0", "udp.stream == 2 || tcp.stream == 2",
    "tcp.analysis.duplicate_ack and tcp.analysis.lost_segment",
    "tcp and not tcp.analysis.flags and tcp.len > 0", "count(tcp.analysis.duplicate_ack) == 2",
    "icmp && tcp", "icmp && udp", "icmp && tcp.port == 25", "udp.port == 53 and icmp",
    "tcp.srcport == 22 or tcp.dstport == 22", "ip.proto == 6 and !tcp",
    # errors tshark also rejects
    "tcp.port ==", "tcp.prot == 80", "tcp.port == 80)", "(tcp.port == 80", "ip.addr == 10.0.2",
    "ip.addr == 10.0.0.0/33", "tcp.port[0] == 0", "tcp.len matches \"7\"", "ip.proto == tcp",
    "tcp.flags.syn == true", "frame.time_relative == \"1.5\"", "len(tcp.payload[0:3]) > 1",
    "tcp.port in {80 443}", "tcp.payload == \"x", "80 == 80", "tcp.analysis.flags == 1",
    "foo.bar", "tcp contains 80 && ip.src[0:1] ==", "string(tcp.flags.syn) == \"1\"",
    "string(tcp.payload) contains \"GET\"", "string(frame.time_delta) == \"0\"",
    "upper(string(eth.dst)) contains \"FF:FF\"", "frame.time_relative >= 1e1",
]
# Accepted by wirelens and rejected by tshark 4.0, deliberately (see the test that says so):
# Wireshark 4.2's xor, sets separated by spaces, a constant on the left of a comparison.
EXTENSIONS = ["tcp xor udp", "tcp ^^ udp", "tcp.port in {80 443}",
              "ip.addr in {192.168.1.0/24 10.0.0.1}", "80 == tcp.srcport",
              "80 - tcp.srcport == 0"]
# Answered differently, deliberately: a bare word that is a protocol wirelens does not have
# is a literal for wirelens (`ff` is Foundation Fieldbus in Wireshark, so tshark compares
# with that protocol and matches nothing).
DIFFERENCES = {"ip.dst[-1] == ff": "ip.dst[-1] == 0xff"}


def tshark_version() -> str:
    out = subprocess.run(["tshark", "-v"], check=False, capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def run_one(expr: str) -> dict:
    p = subprocess.run(["tshark", "-n", "-r", CAPTURE, "-Y", expr, "-T", "fields",
                        "-e", "frame.number"], check=False, capture_output=True, text=True)
    if p.returncode != 0:
        err = [line for line in p.stderr.splitlines() if line.startswith("tshark:")]
        return {"error": err[0] if err else p.stderr.strip()}
    return {"frames": [int(x) for x in p.stdout.split()]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.environ.get("WIRELENS_CORPUS",
                                                       "/work/shared/corpus"))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    pcaps = [os.path.join(args.corpus, "pcaps", name) for name in SOURCES]
    subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", CAPTURE, *pcaps], check=True,
                   capture_output=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_one, EXPRESSIONS))
    doc = {"tshark": tshark_version(), "capture": os.path.basename(CAPTURE),
           "sources": SOURCES, "expressions": dict(zip(EXPRESSIONS, results)),
           "extensions": EXTENSIONS, "differences": DIFFERENCES}
    with open(EXPECTED, "w") as f:
        json.dump(doc, f, indent=0, sort_keys=False)
        f.write("\n")
    bad = sum("error" in r for r in results)
    print(f"{len(EXPRESSIONS)} expressions, {bad} rejected by tshark -> {EXPECTED}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
