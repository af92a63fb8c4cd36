"""A small authoritative DNS server for the lab zone `lab.test` (dnspython, UDP + TCP).

It sits behind the lab's resolver (dnsmasq in the router namespace) and gives each name a
known behaviour, so one capture can show every DNS outcome a backend meets:

    www.lab.test     A + AAAA                  api.lab.test   A only (AAAA -> NODATA)
    db.lab.test      A (reached via the search list from "db")
    many.lab.test    40 A records (does not fit 512 bytes: truncated over UDP without EDNS)
    broken.lab.test  SERVFAIL                  silent.lab.test  never answered
    anything else in lab.test -> NXDOMAIN;     names outside lab.test -> REFUSED

`python -m tools.netlab.dnsauth ADDRESS...`; stops after --max-seconds.
"""
from __future__ import annotations

import argparse
import signal
import socket
import struct
import sys
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = dns.name.from_text("lab.test.")
TTL = 60
RECORDS: dict[tuple[str, str], list[str]] = {
    ("www.lab.test.", "A"): ["10.77.2.2"],
    ("www.lab.test.", "AAAA"): ["fd77:2::2"],
    ("api.lab.test.", "A"): ["10.77.2.2"],
    ("db.lab.test.", "A"): ["10.77.2.5"],
    ("many.lab.test.", "A"): [f"10.77.3.{i}" for i in range(1, 41)],
}
RCODE_NAMES = {"broken.lab.test.": dns.rcode.SERVFAIL}
SILENT_NAMES = {"silent.lab.test."}
MAX_UDP_NO_EDNS = 512


def answer(query: dns.message.Message) -> dns.message.Message | None:
    """The response to one query, or None for names that are never answered."""
    if len(query.question) != 1:
        resp = dns.message.make_response(query)
        resp.set_rcode(dns.rcode.FORMERR)
        return resp
    q = query.question[0]
    name = q.name.to_text().lower()
    if name in SILENT_NAMES:
        return None
    resp = dns.message.make_response(query)
    resp.flags |= dns.flags.AA
    if not q.name.is_subdomain(ZONE):
        resp.flags &= ~dns.flags.AA
        resp.set_rcode(dns.rcode.REFUSED)
        return resp
    if name in RCODE_NAMES:
        resp.set_rcode(RCODE_NAMES[name])
        return resp
    rtype = dns.rdatatype.to_text(q.rdtype)
    if (name, rtype) in RECORDS:
        resp.answer.append(dns.rrset.from_text_list(name, TTL, "IN", rtype, RECORDS[(name, rtype)]))
    elif not any(n == name for n, _ in RECORDS):
        resp.set_rcode(dns.rcode.NXDOMAIN)          # no such name
    if not resp.answer:                             # NXDOMAIN and NODATA carry the SOA
        resp.authority.append(dns.rrset.from_text(
            ZONE, TTL, "IN", "SOA", "ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60"))
    return resp


def to_udp_wire(resp: dns.message.Message, query: dns.message.Message) -> bytes:
    """Wire form for UDP: if it does not fit the client's size, send it truncated (TC=1)."""
    limit = max(query.payload, MAX_UDP_NO_EDNS) if query.edns >= 0 else MAX_UDP_NO_EDNS
    wire = resp.to_wire()
    if len(wire) <= limit:
        return wire
    resp.answer, resp.authority, resp.additional = [], [], []
    resp.flags |= dns.flags.TC
    return resp.to_wire()


def serve_udp(sock: socket.socket) -> None:
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            query = dns.message.from_wire(data)
        except Exception:      # any undecodable packet is ignored, as a real server does
            continue
        resp = answer(query)
        if resp is not None:
            sock.sendto(to_udp_wire(resp, query), peer)


def serve_tcp(sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=_tcp_conn, args=(conn,), daemon=True).start()


def _tcp_conn(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(5)
        try:
            while hdr := conn.recv(2, socket.MSG_WAITALL):
                (n,) = struct.unpack("!H", hdr)
                query = dns.message.from_wire(conn.recv(n, socket.MSG_WAITALL))
                resp = answer(query)
                if resp is None:
                    return
                wire = resp.to_wire()
                conn.sendall(struct.pack("!H", len(wire)) + wire)
        except (OSError, dns.exception.DNSException):
            return


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="tools.netlab.dnsauth")
    ap.add_argument("addresses", nargs="+")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(0))
    signal.alarm(int(args.max_seconds))
    threads = []
    for addr in args.addresses:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, 53))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, 53))
        t.listen(16)
        threads += [threading.Thread(target=serve_udp, args=(u,), daemon=True),
                    threading.Thread(target=serve_tcp, args=(t,), daemon=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
