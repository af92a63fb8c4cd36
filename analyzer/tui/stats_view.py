"""Statistics (`s`): the capture at a glance, from the first pass's columns (numpy, no
dissection in this view).

- the protocol hierarchy, as `tshark -z io,phs`: frames and bytes per layer path (eth > ip >
  tcp > tls ...). Each frame counts with the layers the in-order dissection found in it
  (Store.path_of); frames it has not reached yet count with the link, network and transport
  layers the summary columns know, and the view says how many those are;
- packets/s, bytes/s and retransmissions/s over the capture's time span, as sparklines
  (numpy histograms of the timestamps, one bin per column);
- RTT over time: each connection's handshake RTT at its start time, and, where that is cheap
  (up to ACK_RTT_MAX analyzed segments), the ACK RTT samples of every segment, replayed per
  connection in a worker; min / median / p95 beside them;
- totals, the busiest senders and the findings by severity.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from analyzer import columns
from analyzer.engine import tcp_analysis as ta
from analyzer.engine.findings import SEVERITY_WORDS
from analyzer.engine.firstpass import analyzable_rows, replay
from analyzer.engine.summary import SLOW, TRANSPORT, VLAN
from analyzer.reportcmd import capture_info
from analyzer.textsafe import safe

from .store import Store

TOP = 10
# Layers frame.protocols lists that tshark's hierarchy leaves out: pseudo-layers, and headers
# Wireshark shows inside their protocol's tree (IPv6 extension headers, IP options: "a.b").
PHS_HIDDEN = frozenset({"frame", "ethertype"})
# Inside an ICMP error, the quoted IP and transport headers are part of the ICMP tree in
# Wireshark; what they carry (DNS...) still counts, under icmp.
_QUOTED = frozenset({"ip", "ipv6", "tcp", "udp"})
_ICMP = frozenset({"icmp", "icmpv6"})
ACK_RTT_MAX = 300_000   # analyzed TCP segments up to which ACK RTTs are replayed for the view
REFRESH = 1.0           # seconds between hierarchy refreshes while the dissection runs
SYNC_HIERARCHY = 100_000  # frames up to which the hierarchy is counted on the UI thread
BLOCKS = " ▁▂▃▄▅▆▇█"
RESENT = ta.RETRANSMISSION | ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION

# Link layer names by pcap LINKTYPE, as the dissectors enter them (frame.protocols).
_LINK = {1: "eth", 113: "sll", 276: "sll", 0: "null", 108: "null", 101: "raw", 12: "raw",
         14: "raw", 228: "raw", 229: "raw"}
_TRANSPORT = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}


# -- protocol hierarchy ------------------------------------------------------------------------

@dataclass
class PhsNode:
    """One line of the hierarchy: a protocol under its parent path."""

    name: str
    frames: int = 0
    octets: int = 0
    children: dict[str, PhsNode] = field(default_factory=dict)


def frame_linktypes(index: Any, lo: int, hi: int) -> np.ndarray:
    """The link type of frames lo..hi (by their interface; -1 for a custom block)."""
    per_iface = np.asarray(index.linktypes, np.int64)
    ifaces = np.asarray(index.ifaces[lo:hi], np.int64)
    ok = ifaces < len(per_iface)
    return np.where(ok, per_iface[np.where(ok, ifaces, 0)] if len(per_iface) else -1, -1)


def summary_path(cap: Any, row: int, linktype: int) -> tuple[str, ...]:
    """The layers the summary columns know for a frame: link, VLAN, network, transport.
    A frame the summary sent to the slow path (tunnels, stacked tags, PPPoE...) gets its
    link layer only: what sits between is not in the columns."""
    cols = cap.cols
    link = _LINK.get(linktype, "")
    out = [link] if link else []
    if cols.ipver[row] == 0 and cols.protocol_name(row) == "ARP":
        return (*out, "vlan", "arp") if cols.flags[row] & VLAN else (*out, "arp")
    if cols.flags[row] & SLOW:
        return tuple(out)
    if cols.flags[row] & VLAN:
        out.append("vlan")
    ver = int(cols.ipver[row])
    if ver:
        out.append("ip" if ver == 4 else "ipv6")
        name = _TRANSPORT.get(int(cols.ip_proto[row]))
        if name and cols.flags[row] & TRANSPORT:
            out.append(name)
    return tuple(out)


def hierarchy(store: Store) -> tuple[PhsNode, int]:
    """The protocol hierarchy of the whole capture and how many of its frames are counted
    by their summary layers only (the in-order dissection has not reached them)."""
    cap = store.cap
    n = len(cap.index) if cap is not None else len(store)
    lengths = np.asarray(store.index.origlens[:n], np.int64)
    passed = min(store.passed, n)
    ids = store.path_of[:passed].astype(np.int64)
    paths: list[tuple[tuple[str, ...], int, int, int]] = []   # path, first row, frames, bytes
    if passed:
        uniq, first = np.unique(ids, return_index=True)
        frames = np.bincount(ids)
        octets = np.bincount(ids, weights=lengths[:passed])
        for u, r in zip(uniq.tolist(), first.tolist()):
            path = store.layer_paths[u] if u < len(store.layer_paths) else ("other",)
            paths.append((path, r, int(frames[u]), int(octets[u])))
    rest = n - passed
    if rest and cap is not None:
        # the summary's layers of the frames not dissected yet, grouped by their shape
        cols = cap.cols
        lt = frame_linktypes(cap.index, passed, n)
        shape = cols.flags[passed:n].astype(np.int64) & (VLAN | TRANSPORT | SLOW)
        key = (lt << 32) | shape << 16 | cols.ipver[passed:n].astype(np.int64) << 8 \
            | cols.ip_proto[passed:n].astype(np.int64)
        arp = np.array([name == "ARP" for name in cols.protocol_names])[cols.protocol[passed:n]]
        key = np.where(arp, (lt << 32) - 1, key)
        uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
        frames = np.bincount(inv)
        octets = np.bincount(inv, weights=lengths[passed:])
        for k in range(len(uniq)):
            r = passed + int(first[k])
            paths.append((summary_path(cap, r, int(lt[first[k]])), r, int(frames[k]),
                          int(octets[k])))
    root = PhsNode("")
    for path, _first, fr, oc in sorted(paths, key=lambda p: p[1]):
        node = root
        root.frames += fr
        root.octets += oc
        for name in phs_layers(path):
            node = node.children.setdefault(name, PhsNode(name))
            node.frames += fr
            node.octets += oc
    return root, rest


def phs_layers(path: tuple[str, ...]) -> list[str]:
    """A frame's layers as tshark's hierarchy nests them (see PHS_HIDDEN and _QUOTED)."""
    out: list[str] = []
    in_icmp = False
    for name in path:
        if name in PHS_HIDDEN or "." in name or (in_icmp and name in _QUOTED):
            continue
        in_icmp = in_icmp or name in _ICMP
        out.append(name)
    return out


def flatten(root: PhsNode) -> list[tuple[int, PhsNode]]:
    """(depth, node) in display order, depth first."""
    out: list[tuple[int, PhsNode]] = []

    def walk(node: PhsNode, depth: int) -> None:
        for child in node.children.values():
            out.append((depth, child))
            walk(child, depth + 1)
    walk(root, 0)
    return out


def hierarchy_table(root: PhsNode, rest: int) -> Table:
    title = "Protocol hierarchy"
    if rest:
        title += f" ({rest} frames not dissected yet: link/network/transport layers only)"
    t = Table(title=title, box=None, title_justify="left", padding=(0, 1))
    for name in ("Protocol", "Frames", "%", "Bytes", "%"):
        t.add_column(name, justify="left" if name == "Protocol" else "right", no_wrap=True)
    total_f, total_b = max(1, root.frames), max(1, root.octets)
    for depth, node in flatten(root):
        t.add_row("  " * depth + safe(node.name), str(node.frames),
                  f"{100 * node.frames / total_f:.1f}", str(node.octets),
                  f"{100 * node.octets / total_b:.1f}")
    return t


# -- series over time -----------------------------------------------------------------------

@dataclass
class Series:
    """Events over the capture's span [t0, t1] (ns): a rate (count or weight per second per
    bin) or a value (samples whose per-bin median is drawn)."""

    label: str
    ts: np.ndarray
    weights: np.ndarray | None = None
    unit: str = "/s"
    rate: bool = True

    def bins(self, t0: int, t1: int, n: int) -> np.ndarray:
        """One number per bin (nan: no sample in a value series)."""
        span = max(1, t1 - t0)
        if not len(self.ts):
            return np.zeros(n) if self.rate else np.full(n, np.nan)
        at = np.minimum(((self.ts - t0) * n // span).astype(np.int64), n - 1)
        at = np.maximum(at, 0)
        if self.rate:
            w = np.bincount(at, weights=self.weights, minlength=n)
            return w / (span / 1e9 / n)
        order = np.argsort(at, kind="stable")
        a, v = at[order], np.asarray(self.weights, np.float64)[order]
        out = np.full(n, np.nan)
        starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
        for s, e in zip(starts.tolist(), np.r_[starts[1:], len(a)].tolist()):
            out[a[s]] = float(np.median(v[s:e]))
        return out

    def summary(self, t0: int, t1: int) -> str:
        if not len(self.ts):
            return "none"
        if self.rate:
            total = float(np.sum(self.weights)) if self.weights is not None else len(self.ts)
            secs = max(1e-9, (t1 - t0) / 1e9)
            return f"mean {_num(total / secs)}{self.unit}"
        v = np.asarray(self.weights, np.float64)
        return (f"min {_num(v.min())} median {_num(float(np.median(v)))} "
                f"p95 {_num(float(np.percentile(v, 95)))} {self.unit} ({len(v)} samples)")


def _num(x: float) -> str:
    if x >= 1e9:
        return f"{x / 1e9:.1f}G"
    if x >= 1e6:
        return f"{x / 1e6:.1f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    if x < 1:
        return f"{x:.2f}"
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def sparkline(values: np.ndarray) -> str:
    """Block characters, the highest bin full; nan (no sample) is blank."""
    top = np.nanmax(values) if np.any(~np.isnan(values)) else 0.0
    out = []
    for v in values.tolist():
        if v != v or top <= 0:          # nan
            out.append(" ")
        elif v <= 0:
            out.append(BLOCKS[0] if not np.isnan(v) else " ")
        else:
            out.append(BLOCKS[max(1, min(8, int(np.ceil(v / top * 8))))])
    return "".join(out)


class SparkLine(Widget):
    """A heading line (label, peak, summary) and the sparkline across the whole width."""

    DEFAULT_CSS = "SparkLine { height: 2; }"

    def __init__(self, series: Series, t0: int, t1: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.series, self.t0, self.t1 = series, t0, t1

    def set_series(self, series: Series) -> None:
        self.series = series
        self.refresh()

    def render(self) -> Text:
        width = max(8, self.size.width)
        s = self.series
        values = s.bins(self.t0, self.t1, width)
        peak = np.nanmax(values) if np.any(~np.isnan(values)) else 0.0
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(s.label, Style(bold=True))
        out.append(f"  peak {_num(float(peak))}{s.unit if s.rate else ' ' + s.unit}  "
                   f"{s.summary(self.t0, self.t1)}\n", Style(dim=True))
        out.append(sparkline(values), Style(color="cyan"))
        return out


def rate_series(cap: Any) -> list[Series]:
    ts = np.asarray(cap.index.ts_ns, np.int64)
    lengths = np.asarray(cap.index.origlens, np.float64)
    resent = np.flatnonzero((cap.tcp.bits & RESENT) != 0)
    return [Series("Packets/s", ts), Series("Bytes/s", ts, lengths, "B/s"),
            Series("Retransmissions/s", ts[resent])]


def handshake_rtts(cap: Any) -> Series:
    """Each connection's handshake RTT (ms) at its start time."""
    f = cap.flows
    ok = np.flatnonzero(f.present & (f.irtt_ns > 0))
    return Series("Handshake RTT", f.start_ns[ok], f.irtt_ns[ok] / 1e6, "ms", rate=False)


def ack_rtts(cap: Any, cancel: threading.Event | None = None) -> Series | None:
    """Every ACK RTT sample (ms) at its ACK's time, replayed connection by connection; None
    when the capture has more than ACK_RTT_MAX analyzed segments (too slow to be a glance)."""
    rows = analyzable_rows(cap.cols)
    if len(rows) > ACK_RTT_MAX:
        return None
    ts = np.asarray(cap.index.ts_ns, np.int64)
    f = cap.flows
    times, values = [], []
    for s in np.flatnonzero(f.present).tolist():
        if cancel is not None and cancel.is_set():
            return None
        v = replay(cap.index, cap.cols, cap.tcp, f.rows_of(s))
        got = v.ack_rtt_ns > 0
        times.append(ts[v.rows[got]])
        values.append(v.ack_rtt_ns[got] / 1e6)
    t = np.concatenate(times) if times else np.zeros(0, np.int64)
    order = np.argsort(t, kind="stable")
    vals = np.concatenate(values) if values else np.zeros(0)
    return Series("ACK RTT", t[order], vals[order], "ms", rate=False)


# -- totals ---------------------------------------------------------------------------------

def talkers_table(cap: Any) -> Table:
    """The endpoints that sent the most bytes (IPv4 and IPv6 sources)."""
    cols = cap.cols
    ip = np.flatnonzero(cols.ipver != 0)
    t = Table(title=f"Top {TOP} senders", box=None, title_justify="left")
    for name in ("Address", "Frames", "Bytes"):
        t.add_column(name, justify="left" if name == "Address" else "right")
    if not len(ip):
        return t
    key = cols.ipver[ip].astype(np.uint64) << np.uint64(32) | cols.src[ip].astype(np.uint64)
    uniq, inv = np.unique(key, return_inverse=True)
    octets = np.bincount(inv, weights=np.asarray(cap.index.origlens, np.int64)[ip])
    frames = np.bincount(inv)
    first = np.zeros(len(uniq), np.int64)
    first[inv[::-1]] = ip[::-1]
    for u in np.argsort(-octets, kind="stable")[:TOP].tolist():
        addr = columns.address_str(cols.address(int(first[u]), "src"))
        t.add_row(addr, str(int(frames[u])), str(int(octets[u])))
    return t


def summary_text(cap: Any) -> Text:
    info = capture_info(cap)
    conv = cap.conversations
    ntcp = int(np.count_nonzero(conv.proto == 6))
    out = Text()
    out.append(safe(info["file"]) + "\n", Style(bold=True))
    out.append(f"{info['packets']} frames, {int(np.sum(cap.index.origlens, dtype=np.int64))} "
               f"bytes over {info['duration']:.3f} s")
    if info["first"]:
        out.append(f" ({info['first']} to {info['last']})")
    out.append(f"\n{ntcp} TCP and {len(conv) - ntcp} UDP conversations\n")
    counts: dict[str, int] = {}
    for f in cap.findings:
        counts[SEVERITY_WORDS[f.level]] = counts.get(SEVERITY_WORDS[f.level], 0) + 1
    out.append("Findings: " + (", ".join(f"{n} {w}" for w, n in counts.items()) or "none"))
    return out


class TimeAxis(Widget):
    """The sparklines' time axis: start, column width and end, across the whole width."""

    DEFAULT_CSS = "TimeAxis { height: 1; margin-top: 1; }"

    def __init__(self, t0: int, t1: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.t0, self.t1 = t0, t1

    def render(self) -> Text:
        width = max(8, self.size.width)
        span = (self.t1 - self.t0) / 1e9
        left, right = "0 s", f"{span:.3f} s"
        mid = f"time, one column = {span * 1000 / width:.1f} ms"
        gap = width - len(left) - len(right) - len(mid)
        if gap < 2:
            return Text(f"{left} to {right}", Style(dim=True), no_wrap=True)
        return Text(left + " " * (gap // 2) + mid + " " * (gap - gap // 2) + right,
                    Style(dim=True), no_wrap=True)


class StatsScreen(Screen):
    BINDINGS = [Binding("escape,q,s", "app.pop_screen", "Back"),
                Binding("r", "refresh_hierarchy", "Refresh")]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.cap = store.cap
        self.cancel = threading.Event()
        ts = np.asarray(self.cap.index.ts_ns, np.int64)
        self.t0 = int(ts.min()) if len(ts) else 0
        self.t1 = int(ts.max()) if len(ts) else 0
        self._timer = None

    def compose(self) -> ComposeResult:
        cap = self.cap
        with VerticalScroll(id="stats-body"):
            yield Static(summary_text(cap))
            yield Static(id="stats-phs")
            yield TimeAxis(self.t0, self.t1)
            for i, s in enumerate(rate_series(cap)):
                yield SparkLine(s, self.t0, self.t1, id=f"stats-rate{i}")
            yield SparkLine(handshake_rtts(cap), self.t0, self.t1, id="stats-irtt")
            yield SparkLine(Series("ACK RTT", np.zeros(0, np.int64), np.zeros(0), "ms",
                                   rate=False), self.t0, self.t1, id="stats-ackrtt")
            yield Static(talkers_table(cap), classes="stats-gap")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh_hierarchy()
        ack = self.query_one("#stats-ackrtt", SparkLine)
        ack.series.label = "ACK RTT (computing…)"
        self.run_worker(self._ack_rtts, thread=True, exit_on_error=False, group="stats")
        if self.store.passed < len(self.store):
            self._timer = self.set_interval(REFRESH, self.action_refresh_hierarchy)

    def action_refresh_hierarchy(self) -> None:
        """Redraw the hierarchy with what the in-order dissection has reached (counted in a
        worker on a big capture: a million frames take a tenth of a second of numpy)."""
        if len(self.store) <= SYNC_HIERARCHY:
            self._show_hierarchy(*hierarchy(self.store))
            return
        self.run_worker(self._hierarchy, thread=True, exclusive=True, group="phs",
                        exit_on_error=False)

    def _hierarchy(self) -> None:
        root, rest = hierarchy(self.store)
        if not self.cancel.is_set():
            self.app.call_from_thread(self._show_hierarchy, root, rest)

    def _show_hierarchy(self, root: PhsNode, rest: int) -> None:
        self.query_one("#stats-phs", Static).update(hierarchy_table(root, rest))
        if not rest and self._timer is not None:
            self._timer.stop()

    def _ack_rtts(self) -> None:
        series = ack_rtts(self.cap, self.cancel)
        if series is None:
            series = Series(f"ACK RTT (not computed: over {ACK_RTT_MAX} segments)",
                            np.zeros(0, np.int64), np.zeros(0), "ms", rate=False)
        if not self.cancel.is_set():
            self.app.call_from_thread(self.query_one("#stats-ackrtt", SparkLine).set_series,
                                      series)

    def on_unmount(self) -> None:
        self.cancel.set()
