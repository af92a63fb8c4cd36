"""DNS analysis: lookups paired with their answers, and what went wrong with them.

The first pass calls `analyze_dns(store)`. It picks the DNS rows out of the summary columns
with numpy (UDP/TCP port 53, mDNS 5353, LLMNR 5355), reads only those frames, parses header
and question with the dissector's own reader (`dissectors.dns.peek_message`, no tree) and
feeds a sans-IO `DnsAnalyzer`: no clock, no I/O, one `feed()` per message in capture order.

Pairing: a query opens a transaction keyed by (transport, client address and port, id); a
query with the same key, name and type while it is unanswered and less than 10 s old is a
retry of it; an answer closes it. Lookups then group the transactions of one client and one
query type whose names share their leading labels and follow each other within a few
seconds: that is what a stub resolver does when it walks its search list or retries with a
new id. The findings come from the transactions (SERVFAIL, REFUSED, no answer, slow,
truncated) and from the lookups (NXDOMAIN for good, search-list expansion, NODATA).

Only unicast DNS (port 53) produces findings: unanswered mDNS and LLMNR queries are normal.
State is one small record per query transaction, never per packet.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dissectors import CaptureState, dissect_frame
from dissectors.buffer import Buf
from dissectors.dns import MessageSummary, peek_message, tcp_pdus, type_name
from dissectors.fields import Severity, ipv4_str, ipv6_str

from ..textsafe import safe
from .findings import Finding, kind
from .summary import (
    INNER,
    IPPROTO_TCP,
    IPPROTO_UDP,
    LINK_PARSERS,
    SLOW,
    TRANSPORT,
    _gather,
    frame_linktypes,
)

DNS_PORT, MDNS_PORT, LLMNR_PORT = 53, 5353, 5355
PORTS = (DNS_PORT, MDNS_PORT, LLMNR_PORT)
RETRY_WINDOW_NS = 10 * 10**9      # a repeated query this soon after the last is a retry
CHAIN_GAP_NS = 5 * 10**9          # next name of a search-list walk within this time
SLOW_NS = 10**9                   # an answer later than this is slow
TCP_RETRY_WINDOW_NS = 5 * 10**9   # a TCP query after a truncated UDP answer within this
MIN_WAIT_NS = 10**9               # a query this close to the capture's end may yet be answered
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5

# -- finding kinds --------------------------------------------------------------------------
NXDOMAIN_KIND = kind(
    "wirelens.dns.nxdomain", Severity.WARN, "DNS name does not exist (NXDOMAIN)",
    explain="The resolver answered that the name does not exist, after the stub resolver "
            "tried every search-list variant. The application gets 'unknown host' and the "
            "request fails before any connection is made. Typical causes: a typo or a stale "
            "name in configuration, a record that was deleted or never created, a split-"
            "horizon zone that does not have the name on this side, or a service name used "
            "outside the cluster that defines it.",
    remedy="Check the exact name the client asks for (the Info column shows it); create the "
           "record or fix the configured name. If the name was created recently, negative "
           "caching keeps the NXDOMAIN for the zone's SOA minimum TTL.",
    responsible="client")
SERVFAIL_KIND = kind(
    "wirelens.dns.servfail", Severity.ERROR, "DNS server failure (SERVFAIL)",
    explain="The resolver could not produce an answer: the authoritative servers for the "
            "zone did not answer it or answered badly, DNSSEC validation failed, or the "
            "resolver itself is overloaded. Clients usually retry once, then fail the lookup.",
    remedy="Ask the same resolver directly (dig @resolver name) and the zone's authoritative "
           "servers (dig +trace); check the resolver's logs for upstream timeouts or "
           "validation errors.",
    responsible="server")
REFUSED_KIND = kind(
    "wirelens.dns.refused", Severity.ERROR, "DNS query refused (REFUSED)",
    explain="The server will not answer this client for this name: it is not a recursive "
            "resolver for it (it only serves its own zones), or its access list does not "
            "include the client's address.",
    remedy="Point the client at a resolver that serves it (/etc/resolv.conf, the DHCP or "
           "cluster DNS settings), or allow the client's network on the server.",
    responsible="server")
TIMEOUT_KIND = kind(
    "wirelens.dns.timeout", Severity.ERROR, "DNS query never answered",
    explain="The client asked and no answer came back, not even after its retries. Each try "
            "waits the resolver timeout (glibc: 5 s by default, often 1-2 s) before the next, "
            "so the application stalls for seconds and may then fail. Causes: the resolver "
            "is down or overloaded, a firewall drops UDP/53, or the answer is lost (large "
            "answers fragmented over a path that drops fragments).",
    remedy="Check that the resolver is up and reachable on UDP and TCP port 53 from this "
           "host; lower the client's timeout and add a second resolver (options timeout:1 "
           "attempts:2) so one bad server costs less.",
    responsible="server")
SLOW_KIND = kind(
    "wirelens.dns.slow", Severity.WARN, "Slow DNS answer",
    explain="The answer came, but late: more than a second after the first try, or only "
            "after the client retried. Every new connection to the name waits this long.",
    remedy="Look at the resolver's upstream latency and cache hit rate; cache lookups in the "
           "client (nscd, systemd-resolved, a sidecar cache) or raise record TTLs.",
    responsible="server")
TRUNCATED_KIND = kind(
    "wirelens.dns.truncated", Severity.NOTE, "DNS answer truncated (TC=1)",
    explain="The answer did not fit in the UDP datagram, so the server sent it cut (TC flag) "
            "and the client had to ask again over TCP: one more round trip plus a TCP "
            "handshake. If TCP/53 is blocked the lookup fails. Queries without EDNS are "
            "limited to 512 bytes.",
    remedy="Let the client use EDNS with a payload size of 1232 (options edns0); keep large "
           "record sets small; make sure TCP/53 is open.",
    responsible="client")
SEARCH_KIND = kind(
    "wirelens.dns.search_expansion", Severity.NOTE, "Name found only via the search list",
    explain="The stub resolver tried other names first (the name with search-list suffixes "
            "appended, or the name as given) and each failed with NXDOMAIN before the name "
            "that resolves: every lookup pays those extra round trips. Common with short "
            "names and 'ndots' (Kubernetes: ndots:5 tries four suffixes first).",
    remedy="Use the fully qualified name with a trailing dot (db.lab.test.), lower ndots, or "
           "shorten the search list.",
    responsible="client")
NODATA_KIND = kind(
    "wirelens.dns.nodata", Severity.CHAT, "DNS name exists without that record type (NODATA)",
    explain="The name exists but has no record of the asked type (NOERROR with an empty "
            "answer), for example AAAA of an IPv4-only host. This is information, not a "
            "failure: the client uses the other address family.",
    remedy="Nothing, unless the client needed this type (then add the record).",
    responsible="unknown")


# -- data -----------------------------------------------------------------------------------
@dataclass(slots=True)
class DnsTransaction:
    """One question and its answer (or none). Times in ns since the epoch; frames 1-based."""

    proto: str                  # "DNS", "MDNS", "LLMNR"
    client_ip: bytes            # 4 or 16 bytes
    client_port: int
    server_ip: bytes
    server_port: int
    name: str
    qtype: int
    id: int
    via_tcp: bool
    first_ts: int
    query_frames: list[int]
    last_query_ts: int
    edns_payload: int = -1      # the query's EDNS UDP payload size (-1: no EDNS)
    stream: int = -1
    response_frame: int = 0
    response_ts: int = 0
    rcode: int = -1             # -1: no answer
    answers: int = 0
    truncated: bool = False
    duplicates: int = 0         # extra answers to the same query

    @property
    def client(self) -> str:
        """'address:port' (IPv6 in brackets)."""
        return _endpoint(self.client_ip, self.client_port)

    @property
    def server(self) -> str:
        return _endpoint(self.server_ip, self.server_port)

    @property
    def client_addr(self) -> str:
        return _addr(self.client_ip)

    @property
    def answered(self) -> bool:
        return self.response_frame > 0

    @property
    def latency_ns(self) -> int:
        """From the first try to the answer; -1 when unanswered."""
        return self.response_ts - self.first_ts if self.answered else -1

    @property
    def retries(self) -> int:
        return len(self.query_frames) - 1

    @property
    def type_text(self) -> str:
        return type_name(self.qtype) if self.qtype >= 0 else "?"

    @property
    def positive(self) -> bool:
        """An answer that ends the lookup with data."""
        return self.rcode == NOERROR and self.answers > 0 and not self.truncated

    @property
    def nodata(self) -> bool:
        return self.rcode == NOERROR and self.answers == 0 and not self.truncated


@dataclass
class DnsResult:
    """What the first pass keeps from DNS: findings and one record per transaction."""

    findings: list[Finding]
    transactions: list[DnsTransaction]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Lookup:
    """Transactions of one client and query type that belong to one name resolution."""

    labels: list[str]           # leading labels every name shares
    items: list[DnsTransaction]
    last_ts: int
    done: bool = False


# -- the analyzer ---------------------------------------------------------------------------
_ADDR_TEXT: dict[bytes, str] = {}


def _addr(addr: bytes) -> str:
    """An address as text (cached: a capture has few DNS clients and servers)."""
    text = _ADDR_TEXT.get(addr)
    if text is None:
        text = ipv6_str(addr) if len(addr) == 16 else ipv4_str(addr) if len(addr) == 4 \
            else "?"
        if len(_ADDR_TEXT) < 65536:
            _ADDR_TEXT[addr] = text
    return text


def _endpoint(addr: bytes, port: int) -> str:
    return f"[{_addr(addr)}]:{port}" if len(addr) == 16 else f"{_addr(addr)}:{port}"


_PROTO_BY_PORT = {DNS_PORT: "DNS", MDNS_PORT: "MDNS", LLMNR_PORT: "LLMNR"}


class DnsAnalyzer:
    """Sans-IO pairing of DNS messages: feed them in capture order, then `result()`."""

    def __init__(self) -> None:
        self.transactions: list[DnsTransaction] = []
        self._open: dict[tuple[bool, bytes, int, int], DnsTransaction] = {}
        self.unsolicited = 0
        self.last_ts = 0

    def feed(self, frame: int, ts_ns: int, src: bytes, sport: int, dst: bytes, dport: int,
             via_tcp: bool, msg: MessageSummary, stream: int = -1) -> DnsTransaction | None:
        """One message from src:sport to dst:dport; returns the transaction it opened,
        retried or answered (None for an unsolicited answer or an update/notify)."""
        self.last_ts = max(self.last_ts, ts_ns)
        if msg.opcode != 0:
            return None
        if not msg.response:
            key = (via_tcp, src, sport, msg.id)
            tx = self._open.get(key)
            if tx is not None and not tx.answered and tx.name == msg.qname \
                    and tx.qtype == msg.qtype and ts_ns - tx.last_query_ts < RETRY_WINDOW_NS:
                tx.query_frames.append(frame)
                tx.last_query_ts = ts_ns
                return tx
            tx = DnsTransaction(
                _PROTO_BY_PORT.get(dport) or _PROTO_BY_PORT.get(sport, "DNS"), src, sport,
                dst, dport, msg.qname, msg.qtype, msg.id, via_tcp, ts_ns, [frame], ts_ns,
                msg.edns_payload, stream)
            self._open[key] = tx
            self.transactions.append(tx)
            return tx
        tx = self._open.get((via_tcp, dst, dport, msg.id))
        if tx is None or (msg.qname and msg.qname.lower() != tx.name.lower()):
            self.unsolicited += 1
            return None
        if tx.answered:
            tx.duplicates += 1
            return tx
        tx.response_frame, tx.response_ts = frame, ts_ns
        tx.rcode, tx.answers, tx.truncated = msg.rcode, msg.answers, msg.truncated
        return tx

    def result(self) -> DnsResult:
        txs = self.transactions
        dns_txs = [t for t in txs if t.proto == "DNS"]
        lookups = _lookups(dns_txs)
        findings: list[Finding] = []
        findings += _rcode_findings(dns_txs, SERVFAIL, SERVFAIL_KIND, "SERVFAIL")
        findings += _rcode_findings(dns_txs, REFUSED, REFUSED_KIND, "REFUSED")
        findings += _timeouts(lookups, self.last_ts)
        findings += _slow(lookups)
        findings += _truncated(dns_txs)
        findings += _lookup_findings(lookups)
        return DnsResult(_fold(findings), txs, _stats(txs, self.unsolicited))


# -- lookups --------------------------------------------------------------------------------
def _labels(name: str) -> list[str]:
    return name.lower().rstrip(".").split(".") if name else []


def _common(a: list[str], b: list[str]) -> list[str]:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def _lookups(txs: list[DnsTransaction]) -> list[_Lookup]:
    """Group each client's transactions per query type into name resolutions: a new
    transaction joins the open lookup when it follows within CHAIN_GAP_NS, the lookup has
    no positive answer yet, and the names share their leading labels."""
    out: list[_Lookup] = []
    current: dict[tuple[bytes, int], _Lookup] = {}
    for tx in sorted(txs, key=lambda t: t.first_ts):
        key = (tx.client_ip, tx.qtype)
        labels = _labels(tx.name)
        lk = current.get(key)
        if lk is not None and not lk.done and tx.first_ts - lk.last_ts <= CHAIN_GAP_NS:
            common = _common(labels, lk.labels)
            if common:
                lk.labels = common
                lk.items.append(tx)
                lk.last_ts = max(lk.last_ts, tx.last_query_ts, tx.response_ts)
                lk.done = tx.positive
                continue
        lk = _Lookup(labels, [tx], max(tx.last_query_ts, tx.response_ts), tx.positive)
        current[key] = lk
        out.append(lk)
    return out


def _next_ts(lk: _Lookup, tx: DnsTransaction) -> int:
    """When the client moved on after `tx`: its next transaction in the lookup, or 0."""
    later = [t.first_ts for t in lk.items if t.first_ts > tx.last_query_ts]
    return min(later) if later else 0


# -- findings -------------------------------------------------------------------------------
class _Group:
    """Occurrences of one finding (kind, name, type, server) gathered before summarising."""

    __slots__ = ("frames", "items", "streams")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.frames: list[int] = []
        self.streams: set[int] = set()


def _group(pairs: Iterable[tuple[tuple, Any, list[int], int]]) -> dict[tuple, _Group]:
    groups: dict[tuple, _Group] = {}
    for key, item, frames, stream in pairs:
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group()
        g.items.append(item)
        g.frames.extend(frames)
        g.streams.add(stream)
    return groups


def _stream(g: _Group) -> int:
    return next(iter(g.streams)) if len(g.streams) == 1 else -1


def _ms(ns: int) -> float:
    return round(ns / 1e6, 1)


def _frames(tx: DnsTransaction) -> list[int]:
    return tx.query_frames + ([tx.response_frame] if tx.answered else [])


def _rcode_findings(txs: list[DnsTransaction], rcode: int, spec, word: str) -> list[Finding]:
    groups = _group(((t.name.lower(), t.qtype, t.server), t, _frames(t), t.stream)
                    for t in txs if t.rcode == rcode)
    out = []
    for (_, _, server), g in groups.items():
        t0 = g.items[0]
        n = len(g.items)
        clients = sorted({t.client_addr for t in g.items})
        out.append(Finding(
            spec, f"{word} for {safe(t0.name)} {t0.type_text} from {server}"
                  f" ({n} answer{'s' if n != 1 else ''})",
            stream=_stream(g), proto="DNS", flow=f"{t0.client} -> {server}", frames=g.frames,
            metrics={"name": t0.name, "type": t0.type_text, "answers": n, "server": server,
                     "clients": clients,
                     "latency_ms": [_ms(t.latency_ns) for t in g.items]}))
    return out


def _timeouts(lookups: list[_Lookup], capture_end: int) -> list[Finding]:
    """Unanswered queries, with the client's tries (retries of one transaction and new
    transactions for the same name) and the time the client lost waiting."""
    pairs = []
    for lk in lookups:
        run: list[DnsTransaction] = []
        for tx in lk.items + [None]:  # type: ignore[list-item]
            if tx is not None and not tx.answered and (not run or run[0].name == tx.name):
                run.append(tx)
                continue
            if run:
                last = run[-1]
                moved_on = _next_ts(lk, last)
                # answered later under the same name: slow (see _slow), not lost
                answered_later = tx is not None and tx.name == last.name and tx.answered
                if not answered_later and (moved_on or
                                           capture_end - last.last_query_ts >= MIN_WAIT_NS):
                    tries = sum(len(t.query_frames) for t in run)
                    lost = (moved_on or last.last_query_ts) - run[0].first_ts
                    item = (run, tries, lost, bool(moved_on))
                    pairs.append(((run[0].name.lower(), run[0].qtype, run[0].server), item,
                                  [f for t in run for f in t.query_frames], run[0].stream))
                run = [tx] if tx is not None and not tx.answered else []
    out = []
    for (_, _, server), g in _group(pairs).items():
        first = g.items[0][0][0]
        tries = sum(i[1] for i in g.items)
        lost = sum(i[2] for i in g.items)
        n = len(g.items)
        summary = (f"{safe(first.name)} {first.type_text}: no answer from {server} after "
                   f"{tries} tr{'ies' if tries != 1 else 'y'}, " +
                   (f"{lost / 1e9:.1f} s lost" if lost >= 50_000_000 else
                    "and the client went on without waiting"))
        if n > 1:
            summary += f" ({n} lookups)"
        out.append(Finding(
            TIMEOUT_KIND, summary, stream=_stream(g), proto="DNS",
            flow=f"{first.client} -> {server}", frames=g.frames,
            metrics={"name": first.name, "type": first.type_text, "tries": tries,
                     "lost_s": round(lost / 1e9, 3), "lookups": n, "server": server,
                     "gave_up": all(i[3] for i in g.items)}))
    return out


def _slow(lookups: list[_Lookup]) -> list[Finding]:
    """Answers after more than SLOW_NS, or only after the client retried: the time from
    the lookup's first try of that name to the answer."""
    pairs = []
    for lk in lookups:
        for tx in lk.items:
            if not tx.answered:
                continue
            earlier = [t for t in lk.items if t.name == tx.name and not t.answered
                       and t.first_ts < tx.first_ts]
            start = min([tx.first_ts] + [t.first_ts for t in earlier])
            tries = len(tx.query_frames) + sum(len(t.query_frames) for t in earlier)
            wait = tx.response_ts - start
            if wait > SLOW_NS or tries > 1 and tx.rcode in (NOERROR, NXDOMAIN):
                frames = [f for t in earlier for f in t.query_frames] + _frames(tx)
                pairs.append(((tx.name.lower(), tx.qtype, tx.server), (tx, wait, tries),
                              frames, tx.stream))
    out = []
    for (_, _, server), g in _group(pairs).items():
        tx, _, _ = g.items[0]
        worst = max(i[1] for i in g.items)
        tries = max(i[2] for i in g.items)
        out.append(Finding(
            SLOW_KIND, f"{safe(tx.name)} {tx.type_text} answered by {server} after "
                       f"{worst / 1e9:.3f} s" + (f" and {tries} tries" if tries > 1 else ""),
            stream=_stream(g), proto="DNS", flow=f"{tx.client} -> {server}", frames=g.frames,
            metrics={"name": tx.name, "type": tx.type_text, "wait_ms": _ms(worst),
                     "tries": tries, "answers": len(g.items), "server": server}))
    return out


def _truncated(txs: list[DnsTransaction]) -> list[Finding]:
    """TC=1 answers over UDP, and whether the client asked again over TCP."""
    by_client: dict[tuple[bytes, str, int], list[DnsTransaction]] = {}
    for t in txs:
        if t.via_tcp:
            by_client.setdefault((t.client_ip, t.name.lower(), t.qtype), []).append(t)
    pairs = []
    for t in txs:
        if not (t.truncated and not t.via_tcp and t.answered):
            continue
        retry = next((r for r in by_client.get((t.client_ip, t.name.lower(), t.qtype), [])
                      if 0 <= r.first_ts - t.response_ts <= TCP_RETRY_WINDOW_NS), None)
        frames = _frames(t) + (_frames(retry) if retry else [])
        pairs.append(((t.name.lower(), t.qtype, t.server), (t, retry), frames, t.stream))
    out = []
    for (_, _, server), g in _group(pairs).items():
        t, retry = g.items[0]
        edns = f"EDNS payload {t.edns_payload}" if t.edns_payload >= 0 else \
            "no EDNS in the query (512-byte limit)"
        if retry is not None and retry.answered:
            how = (f"retried over TCP {_ms(retry.first_ts - t.response_ts)} ms later, "
                   f"{retry.answers} answers in {_ms(retry.response_ts - t.first_ts)} ms "
                   "in all")
        elif retry is not None:
            how = "retried over TCP, no answer there"
        else:
            how = "no TCP retry seen"
        out.append(Finding(
            TRUNCATED_KIND, f"{safe(t.name)} {t.type_text}: UDP answer from {server} "
                            f"truncated ({edns}); {how}",
            stream=_stream(g), proto="DNS", flow=f"{t.client} -> {server}", frames=g.frames,
            metrics={"name": t.name, "type": t.type_text, "edns_payload": t.edns_payload,
                     "tcp_retry": retry is not None,
                     "tcp_answers": retry.answers if retry is not None else 0,
                     "tcp_retry_ms": _ms(retry.first_ts - t.response_ts) if retry else None,
                     "count": len(g.items), "server": server}))
    return out


def _lookup_findings(lookups: list[_Lookup]) -> list[Finding]:
    """Per name resolution: NXDOMAIN for good, found via the search list, or NODATA."""
    nx, search, nodata = [], [], []
    for lk in lookups:
        first = lk.items[0]
        found = next((t for t in lk.items if t.positive), None)
        base = ".".join(lk.labels) or first.name
        frames = [f for t in lk.items for f in _frames(t)]
        if found is not None and found is not first:
            failed = [t for t in lk.items if t.first_ts < found.first_ts and t.answered
                      and t.rcode == NXDOMAIN]
            if failed:
                search.append(((base, found.name.lower(), first.qtype), (lk, found, failed),
                               frames, -1))
        elif found is None and first.rcode == NXDOMAIN:
            nx.append(((first.name.lower(), first.qtype), lk, frames, -1))
        elif found is None and first.nodata:
            nodata.append(((first.name.lower(), first.qtype), lk, frames, -1))
    out = []
    for g in _group(nx).values():
        lk = g.items[0]
        first = lk.items[0]
        tried = list(dict.fromkeys(t.name for lk2 in g.items for t in lk2.items[1:]
                                   if t.name != first.name))
        queries = sum(len(lk2.items) for lk2 in g.items)
        spent = max(0, lk.last_ts - first.first_ts)
        text = f"{safe(first.name)} {first.type_text} does not exist (NXDOMAIN): {queries} " \
               f"quer{'y' if queries == 1 else 'ies'} in {_ms(spent)} ms"
        if tried:
            text += f"; also tried {', '.join(safe(n) for n in tried)}"
        if len(g.items) > 1:
            text += f" ({len(g.items)} lookups)"
        out.append(Finding(
            NXDOMAIN_KIND, text, proto="DNS", flow=f"{first.client} -> {first.server}",
            frames=g.frames,
            metrics={"name": first.name, "type": first.type_text, "lookups": len(g.items),
                     "tried": tried, "server": first.server}))
    for (base, _, _), g in _group(search).items():
        lk, found, failed = g.items[0]
        cost = found.first_ts - lk.items[0].first_ts
        tried = [t.name for t in failed]
        out.append(Finding(
            SEARCH_KIND, f"{safe(base)} resolved as {safe(found.name)} after "
                         f"{len(failed)} NXDOMAIN{'s' if len(failed) != 1 else ''} "
                         f"({', '.join(safe(n) for n in tried)}): {_ms(cost)} ms lost",
            proto="DNS", flow=f"{found.client} -> {found.server}", frames=g.frames,
            metrics={"name": base, "found": found.name, "type": found.type_text,
                     "tried": tried, "nxdomains": len(failed), "cost_ms": _ms(cost),
                     "lookups": len(g.items)}))
    for g in _group(nodata).values():
        lk = g.items[0]
        first = lk.items[0]
        out.append(Finding(
            NODATA_KIND, f"{safe(first.name)} has no {first.type_text} record (NODATA), "
                         f"{len(lk.items)} quer{'y' if len(lk.items) == 1 else 'ies'}",
            proto="DNS", flow=f"{first.client} -> {first.server}", frames=g.frames,
            metrics={"name": first.name, "type": first.type_text, "lookups": len(g.items),
                     "search_tries": sum(len(lk2.items) - 1 for lk2 in g.items)}))
    return out


MAX_PER_KIND = 20   # findings of one kind listed name by name; the rest are folded


def _fold(findings: list[Finding]) -> list[Finding]:
    """Keep a report readable when one kind hits many names (a client asking thousands of
    random names, a resolver down for everything): the MAX_PER_KIND names with the most
    frames stay, the others become one finding that counts them."""
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        by_kind.setdefault(f.id, []).append(f)
    out: list[Finding] = []
    for fs in by_kind.values():
        if len(fs) <= MAX_PER_KIND + 1:
            out += fs
            continue
        fs.sort(key=lambda f: (-len(f.frames), f.frames[0] if f.frames else 0))
        keep, rest = fs[:MAX_PER_KIND], fs[MAX_PER_KIND:]
        names = [str(f.metrics.get("name", "")) for f in rest]
        zones: dict[str, int] = {}
        for n in names:
            zone = ".".join(n.rstrip(".").split(".")[-2:])
            zones[zone] = zones.get(zone, 0) + 1
        top = sorted(zones.items(), key=lambda kv: -kv[1])[:5]
        spec = rest[0].spec
        out += keep
        out.append(Finding(
            spec, f"{spec.summary}: {len(rest)} more names (by zone: "
                  + ", ".join(f"{safe(z)} {n}" for z, n in top) + ")",
            proto="DNS", frames=[f.frames[0] for f in rest if f.frames],
            metrics={"names": len(rest), "examples": names[:10], "zones": dict(top)}))
    return out


def _stats(txs: list[DnsTransaction], unsolicited: int) -> dict[str, Any]:
    lat = sorted(t.latency_ns for t in txs if t.answered)
    edns: dict[int, int] = {}
    for t in txs:
        if t.edns_payload >= 0:
            edns[t.edns_payload] = edns.get(t.edns_payload, 0) + 1
    return {
        "queries": len(txs), "answered": sum(t.answered for t in txs),
        "unanswered": sum(not t.answered for t in txs), "unsolicited": unsolicited,
        "via_tcp": sum(t.via_tcp for t in txs),
        "latency_ms_min": _ms(lat[0]) if lat else None,
        "latency_ms_median": _ms(lat[len(lat) // 2]) if lat else None,
        "latency_ms_max": _ms(lat[-1]) if lat else None,
        "edns_payload_sizes": edns,
    }


# -- the first-pass entry point -------------------------------------------------------------
def candidate_rows(cols: Any) -> np.ndarray:
    """Rows whose own transport header is TCP or UDP with a DNS, mDNS or LLMNR port and a
    payload (for TCP)."""
    hit = np.zeros(len(cols.sport), bool)
    for port in PORTS:
        hit |= (cols.sport == port) | (cols.dport == port)
    rows = np.flatnonzero(hit)
    flags, proto = cols.flags[rows], cols.ip_proto[rows]
    keep = (flags & TRANSPORT != 0) & (flags & INNER == 0) & (
        (proto == IPPROTO_UDP) | (proto == IPPROTO_TCP) & (cols.plen[rows] > 0))
    return rows[keep]


def _payload_offsets(index: Any, cols: Any, rows: np.ndarray) -> np.ndarray:
    """Start of the transport payload of each fast-path row (-1 where unknown): the fast
    path only takes IPv4 without options and IPv6 without extension headers, so the
    transport header is 20 or 40 bytes after the link header."""
    out = np.full(len(rows), -1, np.int64)
    if not len(rows):
        return out
    lts = frame_linktypes(index)[rows]
    offsets = np.asarray(index.offsets)[rows].astype(np.int64)
    caps = np.asarray(index.caplens)[rows].astype(np.int64)
    mv = index.mmap_view()
    for lt in np.unique(lts).tolist():
        parse = LINK_PARSERS.get(lt)
        if parse is None:
            continue
        m = lts == lt
        l3off, _ver, _tag, _ok = parse(_gather(mv, offsets[m], 22), caps[m])
        l4 = l3off + np.where(cols.ipver[rows[m]] == 4, 20, 40)
        hdr = np.where(cols.ip_proto[rows[m]] == IPPROTO_TCP,
                       cols.tcp_hlen[rows[m]].astype(np.int64), 8)
        out[m] = l4 + hdr
    return out


def _udp_message(data: bytes) -> list[MessageSummary]:
    msg = peek_message(data, 0, len(data), responses=False)
    return [msg] if msg is not None else []


class _TcpStitch:
    """DNS over TCP per direction: payloads joined in sequence order, so a message that
    spans segments is read whole in the frame that completes it (as the dissector shows
    it); resent bytes are skipped. At most one pending message per direction."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, int], tuple[int, bytes]] = {}   # -> (next seq, bytes)

    def messages(self, key: tuple[int, int], seq: int, payload: bytes) -> list[MessageSummary]:
        nxt, held = self.pending.pop(key, (None, b""))
        if nxt is not None:
            ahead = (seq - nxt) & 0xFFFFFFFF
            if ahead >= 0x80000000:                 # resent bytes: keep waiting
                self.pending[key] = (nxt, held)
                return []
            if ahead:                               # a gap: the held message is lost
                held = b""
        data = held + payload
        pdus, missing = tcp_pdus(Buf(data), 0, len(data))
        end = pdus[-1][1] if pdus else 0
        if missing and len(data) - end + missing <= 0x10002:
            self.pending[key] = ((seq + len(payload)) & 0xFFFFFFFF, data[end:])
        return [m for s, e in pdus if (m := peek_message(data, s + 2, e, False)) is not None]


def _slow_messages(index: Any, rows: Iterable[int]) -> dict[int, list[tuple[bytes, int, int]]]:
    """DNS messages of rows the vectorized summary could not decode (IP options, extension
    headers, fragments...): the dissectors find them; their layer nodes give the bytes."""
    state = CaptureState()
    found: dict[int, list[tuple[bytes, int, int]]] = {}
    lts = frame_linktypes(index)
    ts = index.ts_ns
    for i in rows:
        data = index.frame(i)
        root, pkt = dissect_frame(data, number=i + 1, ts_ns=int(ts[i]),
                                  origlen=int(index.origlens[i]), linktype=int(lts[i]),
                                  state=state)
        msgs = []
        for layer in root.children or ():
            if layer.spec is None or layer.spec.abbrev not in ("dns", "mdns", "llmnr"):
                continue
            src = data if layer.src == 0 else pkt.sources[layer.src - 1][1]
            id_node = layer.find("dns.id")
            if id_node is not None:
                msgs.append((src, id_node.pos, layer.pos + layer.size))
        found[i] = msgs
    return found


def _addresses(cols: Any, rows: np.ndarray, which: str) -> list[bytes]:
    """The network address of each row as bytes (4 for IPv4, 16 for IPv6)."""
    vals = getattr(cols, which)[rows].tolist()
    vers = cols.ipver[rows].tolist()
    table = cols.v6_table
    return [v.to_bytes(4, "big") if ver == 4 else table[v].tobytes() if ver == 6 else b""
            for v, ver in zip(vals, vers)]


def analyze_dns(store: Any) -> DnsResult:
    """The DNS part of the first pass: pick DNS rows from the summary columns, read those
    frames' payloads only, and return the findings and transactions."""
    index, cols = store.index, store.cols
    rows = candidate_rows(cols)
    slow_mask = (cols.flags[rows] & SLOW).astype(bool)
    starts = _payload_offsets(index, cols, rows)
    starts[slow_mask] = -1
    slow = _slow_messages(index, rows[slow_mask].tolist())
    analyzer = DnsAnalyzer()
    stitch = _TcpStitch()
    mv = index.mmap_view()
    seqs = cols.seq[rows].tolist()
    columns = zip(rows.tolist(), starts.tolist(), (cols.ip_proto[rows] == IPPROTO_TCP).tolist(),
                  cols.plen[rows].tolist(), np.asarray(index.offsets)[rows].tolist(),
                  np.asarray(index.caplens)[rows].tolist(), np.asarray(index.ts_ns)[rows].tolist(),
                  cols.sport[rows].tolist(), cols.dport[rows].tolist(),
                  cols.stream[rows].tolist(), _addresses(cols, rows, "src"),
                  _addresses(cols, rows, "dst"))
    for k, (i, start, tcp, plen, off, cap, ts, sport, dport, stream, src, dst) in \
            enumerate(columns):
        if start < 0:
            msgs = [m for data, s, e in slow.get(i, ())
                    if (m := peek_message(data, s, e, responses=False))]
        else:
            stop = min(start + (plen if tcp else plen - 8), cap)
            if stop <= start:
                continue
            payload = mv[off + start:off + stop].tobytes()
            msgs = stitch.messages((stream, sport), seqs[k], payload) if tcp else \
                _udp_message(payload)
        for msg in msgs:
            analyzer.feed(i + 1, ts, src, sport, dst, dport, tcp, msg, stream)
    return analyzer.result()


__all__ = ["DnsAnalyzer", "DnsResult", "DnsTransaction", "analyze_dns", "candidate_rows"]
