"""`wirelens report`: what went wrong in a capture, for a person or for a script.

Runs the first pass (index, summary, TCP analysis, conversations, diagnoses) and prints the
findings grouped by severity and conversation, then the conversation table; `--json` prints
one object with the same content (the key names are a contract: add, never rename) and
`--fail-on` turns findings into an exit status for CI.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

import numpy as np

from dissectors.fields import Severity

from .capture import CaptureError
from .engine.findings import SEVERITY_BY_WORD, SEVERITY_WORDS, Finding
from .output import UsageError
from .textsafe import safe

_HEADINGS = {Severity.ERROR: "Errors", Severity.WARN: "Warnings", Severity.NOTE: "Notes",
             Severity.CHAT: "Information"}
_PROTO = {6: "tcp", 17: "udp"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="diagnose a capture: findings and conversations",
                       description="Explain what the traffic in a capture did to its "
                                   "requests: findings by severity, then conversations.")
    p.add_argument("file", metavar="FILE", help="capture file (pcap, pcapng, gzip)")
    p.add_argument("-Y", dest="filter", metavar="FILTER",
                   help="display filter: report only findings and conversations with "
                        "matching frames")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tls-keylog", metavar="FILE",
                   help="TLS key log (NSS format, SSLKEYLOGFILE) for handshake details")
    p.add_argument("--fail-on", choices=("error", "warn", "note"), default=None,
                   help="exit 1 when a finding at or above this severity exists")


def run_report(args: argparse.Namespace) -> int:
    from .engine.firstpass import first_pass
    progress = _Progress(sys.stderr) if sys.stderr.isatty() and not args.json else None
    keys = None
    if args.tls_keylog:
        from . import keylog
        try:
            keys = keylog.load(args.tls_keylog)
        except OSError as e:
            raise UsageError(f"cannot read {args.tls_keylog}: {e.strerror or e}") from None
    try:
        cap = first_pass(args.file, progress=progress, keylog=keys)
    except CaptureError as e:
        raise UsageError(str(e)) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise UsageError(f"{args.file}: {e.strerror}") from None
    finally:
        if progress is not None:
            progress.clear()
    if len(cap) == 0 and getattr(cap.index, "error", None):
        raise UsageError(f"{args.file}: {cap.index.error}")
    findings, conv_rows = cap.findings, range(len(cap.conversations))
    if args.filter:
        findings, conv_rows = _filtered(cap, args.filter)
    out = sys.stdout
    if args.json:
        write_json(report_json(cap, findings, conv_rows), out)
    else:
        write_text(cap, findings, conv_rows, out)
    error = getattr(cap.index, "error", None)
    if error:
        print(f"wirelens: {args.file}: {error}", file=sys.stderr)
    if args.fail_on and any(f.level >= SEVERITY_BY_WORD[args.fail_on] for f in findings):
        return 1
    return 0


def _filtered(cap: Any, text: str) -> tuple[list[Finding], list[int]]:
    """Findings and conversations that have at least one frame the filter matches."""
    from .filter import FilterError, compile_filter
    try:
        flt = compile_filter(text)
    except FilterError as e:
        raise UsageError(str(e)) from None
    match = flt.select(cap)
    rows = np.flatnonzero(match)
    keep_streams = {(int(p), int(s)) for p, s in
                    zip(cap.cols.ip_proto[rows].tolist(), cap.cols.stream[rows].tolist())}
    findings = [f for f in cap.findings if any(match[fr - 1] for fr in f.frames
                                               if 0 < fr <= len(match))
                or (f.stream >= 0 and (6 if f.proto == "tcp" else 17, f.stream) in keep_streams)]
    t = cap.conversations
    conv = [i for i in range(len(t)) if (int(t.proto[i]), int(t.stream[i])) in keep_streams]
    return findings, conv


class _Progress:
    """One self-overwriting status line on a terminal while the first pass runs."""

    def __init__(self, err: TextIO) -> None:
        self.err, self.last = err, 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last > 0.2:
            self.last = now
            self.err.write(f"\r\033[Kanalyzing: {stage} {fraction:.0%}")
            self.err.flush()

    def clear(self) -> None:
        self.err.write("\r\033[K")
        self.err.flush()


# -- the rows -------------------------------------------------------------------------------
def _iso(ns: int) -> str:
    t = time.gmtime(ns // 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ns % 1_000_000_000 // 1000:06d}Z"


def capture_info(cap: Any) -> dict[str, Any]:
    ts = cap.index.ts_ns
    n = len(cap)
    first, last = (int(ts[0]), int(np.max(ts))) if n else (0, 0)
    return {"file": cap.path, "packets": n, "first": _iso(first) if n else None,
            "last": _iso(last) if n else None, "duration": round((last - first) / 1e9, 6)}


def conversation_rows(cap: Any, conv_rows) -> list[dict[str, Any]]:
    """One dict per conversation (TCP facts from the connection table).

    Columns are turned into lists once: indexing numpy scalars row by row cost a second on
    a capture with ten thousand conversations.
    """
    t, fl = cap.conversations, cap.flows
    rows = np.asarray(list(conv_rows), dtype=np.int64)
    if len(rows) == 0:
        return []
    col = {name: getattr(t, name)[rows].tolist() for name in (
        "proto", "stream", "client_is_a", "role", "frames_ab", "frames_ba", "bytes_ab",
        "bytes_ba", "start_ns", "stop_ns")}
    out = []
    for j, i in enumerate(rows.tolist()):
        proto, s, client_is_a = col["proto"][j], col["stream"][j], bool(col["client_is_a"][j])
        a, b = t.endpoint(i, "a"), t.endpoint(i, "b")
        ab, ba = col["bytes_ab"][j], col["bytes_ba"][j]
        row: dict[str, Any] = {
            "stream": s, "proto": _PROTO.get(proto, str(proto)),
            "client": a if client_is_a else b, "server": b if client_is_a else a,
            "role_by": ("SYN", "SYN/ACK", "first packet", "lower port")[col["role"][j]],
            "state": "", "history": "", "packets": col["frames_ab"][j] + col["frames_ba"][j],
            "bytes_c2s": ab if client_is_a else ba, "bytes_s2c": ba if client_is_a else ab,
            "start": round(col["start_ns"][j] / 1e9, 6),
            "duration": round((col["stop_ns"][j] - col["start_ns"][j]) / 1e9, 6),
            "handshake_rtt_ms": None, "retransmissions": 0, "retransmissions_c2s": 0,
            "retransmissions_s2c": 0, "zero_window_ms": 0.0, "rst_from": None,
            "fin_from": None}
        if proto == 6 and s < len(fl) and fl.present[s]:
            _tcp_facts(fl, s, row)
        elif proto == 17:
            row["state"] = "OTH"
        out.append(row)
    return out


def _tcp_facts(fl: Any, s: int, row: dict[str, Any]) -> None:
    """Fill a TCP conversation's row from the connection table (stream s)."""
    row["state"], row["history"] = fl.state[s], fl.history[s]
    if fl.irtt_ns[s] and fl.synacks[s]:
        row["handshake_rtt_ms"] = round(int(fl.irtt_ns[s]) / 1e6, 3)
    c2s, s2c = fl.resent[s].tolist()
    row["retransmissions"], row["retransmissions_c2s"], row["retransmissions_s2c"] = \
        c2s + s2c, c2s, s2c
    fins = [(int(fl.first_fin[s, k]), who) for k, who in ((0, "client"), (1, "server"))
            if fl.first_fin[s, k] >= 0]
    if fins:
        row["fin_from"] = min(fins)[1]
    row["zero_window_ms"] = round(sum(fl.zero_window_ns[s].tolist()) / 1e6, 1)
    if fl.first_rst[s] >= 0:
        row["rst_from"] = ("client", "server")[fl.side(s, int(fl.rst_dir[s]))]


def report_json(cap: Any, findings: list[Finding], conv_rows) -> dict[str, Any]:
    return {"capture": capture_info(cap), "findings": [f.to_json() for f in findings],
            "conversations": conversation_rows(cap, conv_rows)}


def write_json(doc: dict[str, Any], out: TextIO) -> None:
    """One JSON object, a finding or conversation per line.

    json's indenting encoder is pure Python (2.7 s on a 1M-packet capture's report); the C
    encoder per item keeps the output readable line by line at a tenth of the cost.
    """
    out.write("{\n")
    keys = list(doc)
    for n, key in enumerate(keys):
        value = doc[key]
        out.write(f" {json.dumps(key)}: ")
        if isinstance(value, list) and value:
            out.write("[\n")
            out.write(",\n".join("  " + json.dumps(item) for item in value))
            out.write("\n ]")
        else:
            out.write(json.dumps(value))
        out.write(",\n" if n < len(keys) - 1 else "\n")
    out.write("}\n")


# -- text -------------------------------------------------------------------------------------
def write_text(cap: Any, findings: list[Finding], conv_rows, out: TextIO) -> None:
    info = capture_info(cap)
    convs = conversation_rows(cap, conv_rows)
    ntcp = sum(1 for c in convs if c["proto"] == "tcp")
    out.write(f"{safe(info['file'])}: {info['packets']} packets over {info['duration']:.3f} s"
              + (f" ({info['first']} to {info['last']})" if info["packets"] else "")
              + f", {ntcp} TCP and {len(convs) - ntcp} UDP conversations\n")
    counts = {lvl: sum(1 for f in findings if f.level == lvl) for lvl in _HEADINGS}
    out.write("Findings: " + (", ".join(f"{n} {SEVERITY_WORDS[lvl]}" for lvl, n in
                                        counts.items() if n) or "none") + "\n")
    for lvl, title in _HEADINGS.items():
        group = [f for f in findings if f.level == lvl]
        if not group:
            continue
        out.write(f"\n{title} ({len(group)})\n")
        for f in sorted(group, key=lambda f: (f.stream if f.stream >= 0 else 1 << 40, f.id)):
            where = f"stream {f.stream}" if f.stream >= 0 else "capture"
            out.write(f"  {f.id}  [{where}] {safe(f.flow)}\n")
            out.write(f"    {safe(f.summary)}\n")
            out.write(f"    why: {f.explanation or f.spec.explain}\n")
            out.write(f"    do: {f.remedy or f.spec.remedy}\n")
            frames = ", ".join(map(str, f.frames[:12])) + (" ..." if len(f.frames) > 12 else "")
            out.write(f"    responsible: {f.who}, confidence {f.confidence:.0%}, frames {frames}\n")
    out.write(f"\nConversations ({len(convs)})\n")
    head = (f"  {'stream':>6} {'proto':5} {'client':<28} {'server':<28} {'state':6} "
            f"{'packets':>7} {'c->s':>10} {'s->c':>10} {'start':>10} {'dur':>9} {'rtt ms':>7} "
            f"{'rtx':>4} {'zwin ms':>7} {'rst':6} history\n")
    out.write(head)
    for c in convs:
        rtt = f"{c['handshake_rtt_ms']:.1f}" if c["handshake_rtt_ms"] is not None else "-"
        out.write(f"  {c['stream']:>6} {c['proto']:5} {c['client']:<28} {c['server']:<28} "
                  f"{c['state']:6} {c['packets']:>7} {c['bytes_c2s']:>10} {c['bytes_s2c']:>10} "
                  f"{c['start']:>10.3f} {c['duration']:>9.3f} {rtt:>7} {c['retransmissions']:>4} "
                  f"{c['zero_window_ms']:>7.0f} {c['rst_from'] or '-':6} {c['history']}\n")
