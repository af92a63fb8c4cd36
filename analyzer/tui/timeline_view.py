"""Connection timeline (`L`): one TCP connection on a text time axis.

What a backend engineer asks of a slow connection: how long did the handshake take, when
did each request go out, how long did the server think before answering, how long did the
answer take to arrive, and where did the connection stall (a closed receive window, a
retransmission timeout, plain idleness)? Who closed it, and how?

Everything comes from the first pass (cap.cols, cap.tcp, cap.flows, cap.findings and the
connection's replayed analysis numbers); the request/response turns and the think times are
those the wirelens.server.slow diagnosis uses (engine.diagnoses.exchanges/think_times). The
timeline is built in a worker (replaying a long connection takes a moment); Enter on an
event goes to its frame.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from analyzer.engine import tcp_analysis as ta
from analyzer.engine.diagnoses import exchanges, server_rtts, think_times
from analyzer.engine.findings import SEVERITY_WORDS
from analyzer.engine.firstpass import replay
from analyzer.engine.summary import ACK, FIN, RST, SYN
from analyzer.engine.tcp_flows import zero_window_stalls
from analyzer.textsafe import safe

from .details import SEVERITY_STYLES

MS = 1_000_000
IDLE_MIN_NS = 200 * MS     # a silence this long is worth a line...
IDLE_RTTS = 10             # ...when it is also this many handshake round trips
MAX_RETRANSMISSIONS = 300  # listed one by one; the rest are counted in one line
MAX_EXCHANGES = 500        # request/response turns listed; the rest are counted
MAX_IDLE = 200             # silences listed
TIME_W = 10                # "  1234.5 " before the axis

# kind -> (glyph on the axis, style); spans repeat their glyph over their duration
KINDS: dict[str, tuple[str, Style]] = {
    "syn": ("│", Style(color="green")), "handshake": ("━", Style(color="green")),
    "request": ("━", Style(color="cyan")), "think": ("┄", Style(color="yellow", bold=True)),
    "transfer": ("━", Style(color="blue")), "zero_window": ("░", Style(color="red")),
    "rto": ("░", Style(color="red", bold=True)), "idle": ("·", Style(dim=True)),
    "retransmission": ("×", Style(color="red")), "fin": ("F", Style(color="magenta")),
    "rst": ("R", Style(color="red", bold=True)), "finding": ("!", Style(color="yellow")),
    "note": (" ", Style(dim=True)),
}
SPANS = {"handshake", "request", "think", "transfer", "zero_window", "rto", "idle"}
RESENT = ta.RETRANSMISSION | ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION


@dataclass
class Event:
    """One line of the timeline: an instant (start == end) or a span, in absolute ns."""

    start: int
    end: int
    kind: str
    label: str
    row: int              # the frame row Enter goes to (-1: none)
    style: Style | None = None


@dataclass
class Timeline:
    stream: int
    title: str
    facts: str
    t0: int
    t1: int
    events: list[Event]


def _ms(ns: float) -> str:
    return f"{ns / MS:.1f} ms"


def build_timeline(cap: Any, stream: int) -> Timeline:
    """The events of one TCP connection, in time order (first pass data only)."""
    f, cols, tcp = cap.flows, cap.cols, cap.tcp
    ts = np.asarray(cap.index.ts_ns, np.int64)
    rows = f.rows_of(stream)
    if not len(rows):
        raise ValueError(f"TCP stream {stream} has no analyzed segments")
    client_dir = int(f.client_dir[stream])
    side = (tcp.direction[rows] != client_dir).astype(np.int8)   # 0 client, 1 server
    who = ("client", "server")
    fl = cols.tcp_flags[rows]
    plen = cols.plen[rows].astype(np.int64)
    bits = tcp.bits[rows]
    t0, t1 = int(ts[rows[0]]), int(ts[rows[-1]])
    ev: list[Event] = []

    # -- handshake
    irtt = int(f.irtt_ns[stream])
    for k in np.flatnonzero(fl & (SYN | RST) == SYN).tolist():
        r = int(rows[k])
        name = "SYN/ACK" if fl[k] & ACK else "SYN"
        ev.append(Event(int(ts[r]), int(ts[r]), "syn", f"{name} from {who[side[k]]}", r))
    done_row = int(tcp.irtt_row[stream]) if stream < len(tcp.irtt_row) and irtt else -1
    if done_row >= 0 and f.first_syn[stream] >= 0:
        syn = int(f.first_syn[stream])
        ev.append(Event(int(ts[done_row]), int(ts[done_row]), "syn",
                        f"ACK from client: handshake RTT {_ms(irtt)}", done_row))
        ev.append(Event(int(ts[syn]), int(ts[done_row]), "handshake",
                        f"Handshake {_ms(ts[done_row] - ts[syn])}", syn))

    # -- request/response turns, as the server-think-time diagnosis sees them
    ex = exchanges(cap, f, rows)
    think = think_times(cap, f, ex, server_rtts(cap, f)) if len(ex) else np.zeros(0, np.int64)
    data = plen > 0
    # bytes and segments per side between two positions, from running sums
    sums = {}
    for sd in (0, 1):
        m = data & (side == sd)
        sums[sd] = (np.r_[0, np.cumsum(np.where(m, plen, 0))], np.r_[0, np.cumsum(m)])
    at = {name: np.searchsorted(rows, getattr(ex, name)) for name in
          ("req_first", "req_last", "resp_first", "resp_last")}
    shown = min(len(ex), MAX_EXCHANGES)
    for k in range(shown):
        a, b, c, d = (int(x) for x in (ex.req_first[k], ex.req_last[k], ex.resp_first[k],
                                       ex.resp_last[k]))
        pa, pb, pc, pd = (int(at[n][k]) for n in ("req_first", "req_last", "resp_first",
                                                   "resp_last"))
        (cb, cs), (sb, ss) = sums[0], sums[1]
        ev.append(Event(int(ts[a]), int(ts[b]), "request",
                        f"Request {k + 1}: {int(cb[pb + 1] - cb[pa])} B, "
                        f"{int(cs[pb + 1] - cs[pa])} seg, {_ms(ts[b] - ts[a])}", a))
        wait = int(ts[c] - ts[b])
        ev.append(Event(int(ts[b]), int(ts[c]), "think",
                        f"Server think {_ms(max(0, int(think[k])))} (answer after "
                        f"{_ms(wait)})", c))
        ev.append(Event(int(ts[c]), int(ts[d]), "transfer",
                        f"Response {k + 1}: {int(sb[pd + 1] - sb[pc])} B, "
                        f"{int(ss[pd + 1] - ss[pc])} seg, transfer {_ms(ts[d] - ts[c])}", c))
    if len(ex) > shown:
        ev.append(Event(int(ts[ex.req_first[shown]]), int(ts[ex.req_first[shown]]), "note",
                        f"… {len(ex) - shown} more request/response turns (median think "
                        f"{_ms(float(np.median(think)))})", int(ex.req_first[shown])))

    # -- stalls: closed windows, retransmission timeouts, silences
    covered: list[tuple[int, int]] = [(e.start, e.end) for e in ev if e.kind == "think"]
    for k in (0, 1):
        for a, b, still in zero_window_stalls(cap, f, stream, k):
            end = int(ts[b])
            covered.append((int(ts[a]), end))
            ev.append(Event(int(ts[a]), end, "zero_window",
                            f"Zero window from the {who[k]} (its receive buffer full) for "
                            f"{_ms(end - ts[a])}" + (" (still closed at the end)" if still
                                                      else ""), int(a)))
    values = replay(cap.index, cols, tcp, rows)
    resent = np.flatnonzero((bits & RESENT) != 0)
    for n, k in enumerate(resent.tolist()):
        r = int(rows[k])
        rto = int(values.rto_ns[k])
        what = "Fast retransmission" if bits[k] & ta.FAST_RETRANSMISSION else \
            "Spurious retransmission" if bits[k] & ta.SPURIOUS_RETRANSMISSION else \
            "Retransmission"
        label = f"{what} by the {who[side[k]]}, {int(plen[k])} B"
        if rto:
            covered.append((int(ts[r]) - rto, int(ts[r])))
            ev.append(Event(int(ts[r]) - rto, int(ts[r]), "rto",
                            f"{label} after a {_ms(rto)} timeout (RTO)", r))
        elif n < MAX_RETRANSMISSIONS:
            ev.append(Event(int(ts[r]), int(ts[r]), "retransmission", label, r))
    if len(resent) > MAX_RETRANSMISSIONS:
        extra = int(np.count_nonzero(values.rto_ns[resent[MAX_RETRANSMISSIONS:]] == 0))
        if extra:
            ev.append(Event(t1, t1, "note", f"… {extra} more retransmissions (filter: "
                                            f"tcp.stream == {stream} && "
                                            f"tcp.analysis.retransmission)", -1))
    idle = max(IDLE_MIN_NS, IDLE_RTTS * irtt)
    tr = ts[rows]
    # a silence inside a think time, a closed window or an RTO is already explained: it is
    # inside a span when the latest end among the spans starting before it reaches its end
    cover = np.asarray(covered, np.int64).reshape(-1, 2)
    cover = cover[np.argsort(cover[:, 0], kind="stable")]
    reach = np.maximum.accumulate(cover[:, 1]) if len(cover) else cover[:, 1]
    gaps = np.flatnonzero(np.diff(tr) >= idle)
    before = np.searchsorted(cover[:, 0], tr[gaps], side="right") - 1
    inside = (before >= 0) & (reach[np.maximum(before, 0)] >= tr[gaps + 1]) if len(cover) \
        else np.zeros(len(gaps), bool)
    for k in gaps[~inside][:MAX_IDLE].tolist():
        a, b = int(tr[k]), int(tr[k + 1])
        ev.append(Event(a, b, "idle", f"Idle {_ms(b - a)}, then the {who[side[k + 1]]} sent",
                        int(rows[k + 1])))

    # -- the end: FINs and RSTs
    for k in np.flatnonzero(fl & (FIN | RST)).tolist():
        r = int(rows[k])
        kind = "rst" if fl[k] & RST else "fin"
        ev.append(Event(int(ts[r]), int(ts[r]), kind,
                        f"{'RST' if kind == 'rst' else 'FIN'} from the {who[side[k]]}", r))

    # -- findings on this connection
    for fd in cap.findings:
        if fd.stream != stream or fd.proto != "tcp" or not fd.frames:
            continue
        r = fd.frames[0] - 1
        ev.append(Event(int(ts[r]), int(ts[r]), "finding",
                        f"{SEVERITY_WORDS[fd.level]}: {fd.summary}", r,
                        SEVERITY_STYLES.get(fd.level)))

    ev.sort(key=lambda e: (e.start, e.end, e.row))
    first = int(f.first_row[stream])
    src = f"{_addr(cols, first, 'src')}:{int(cols.sport[first])}"
    dst = f"{_addr(cols, first, 'dst')}:{int(cols.dport[first])}"
    client, server = (src, dst) if tcp.direction[first] == client_dir else (dst, src)
    title = f"TCP stream {stream}: {client} (client) → {server} (server)"
    zw = int(f.zero_window_ns[stream].sum())
    facts = (f"{len(rows)} packets, {_ms(t1 - t0)}, state {f.state[stream] or '-'}; "
             f"handshake RTT {_ms(irtt) if irtt else '-'}; {len(ex)} request(s)"
             + (f", median think {_ms(float(np.median(think)))}" if len(ex) else "")
             + f"; {len(resent)} retransmission(s); zero window {_ms(zw)}")
    return Timeline(stream, title, facts, t0, t1, ev)


def _addr(cols: Any, row: int, which: str) -> str:
    from analyzer import columns
    return columns.address_str(cols.address(row, which))


def axis_width(width: int) -> int:
    """Columns of the time axis for a line of `width` cells (the label gets the rest)."""
    return max(16, min(64, (width - TIME_W) * 2 // 5))


def _col(t: int, t0: int, span: int, axis: int) -> int:
    return min(axis - 1, max(0, int((t - t0) * (axis - 1) / span))) if span else 0


def ruler(tl: Timeline, axis: int) -> Text:
    """The axis heading: tick times in ms at the start, the middle and the end."""
    span = tl.t1 - tl.t0
    line = [" "] * axis
    out = Text(" " * (TIME_W - 3) + "ms ", Style(dim=True))
    ticks = [0, axis // 2, axis - 1] if axis >= 24 else [0, axis - 1]
    for col in ticks:
        label = f"{span * col / max(1, axis - 1) / MS:.0f}"
        at = col if col == 0 else max(0, min(col - len(label) // 2, axis - len(label)))
        if col == axis - 1:
            at = axis - len(label)
        if all(c == " " for c in line[max(0, at - 1):at + len(label) + 1]):
            line[at:at + len(label)] = label
    out.append("".join(line), Style(dim=True))
    out.append("\n" + " " * TIME_W + "├" + "─" * (axis - 2) + "┤", Style(dim=True))
    return out


def event_line(tl: Timeline, e: Event, axis: int, width: int) -> Text:
    """time since the connection's start | the event on the axis | what it was, cut to
    `width` cells (one line per event, so the axis stays readable)."""
    glyph, style = KINDS[e.kind]
    style = e.style or style
    span = tl.t1 - tl.t0
    out = Text(f"{(e.start - tl.t0) / MS:>{TIME_W - 1}.1f} ", Style(dim=True), no_wrap=True,
               overflow="ellipsis")
    a, b = _col(e.start, tl.t0, span, axis), _col(e.end, tl.t0, span, axis)
    bar = glyph * (b - a + 1) if e.kind in SPANS else glyph
    out.append(" " * a)
    out.append(bar, style)
    out.append(" " * (axis - a - len(bar) + 1))
    room = max(1, width - TIME_W - axis - 1)
    label = safe(e.label)
    if len(label) > room:
        label = label[:room - 1] + "…"
    out.append(label, style if e.kind in ("finding", "rst") else Style())
    return out


class TimelineScreen(Screen):
    """The timeline of one TCP connection; Enter goes to the selected event's frame."""

    BINDINGS = [Binding("escape,q,L", "app.pop_screen", "Back"),
                Binding("enter", "pick", "Go to frame"),
                Binding("j", "move(1)", "Down", show=False),
                Binding("k", "move(-1)", "Up", show=False),
                Binding("g", "edge(0)", "First", show=False),
                Binding("G", "edge(1)", "Last", show=False)]

    def __init__(self, cap: Any, stream: int) -> None:
        super().__init__()
        self.cap = cap
        self.stream = stream
        self.timeline: Timeline | None = None
        self.cancel = threading.Event()
        self._axis: tuple[int, int] = (0, 0)

    def compose(self) -> ComposeResult:
        yield Static(Text(f"TCP stream {self.stream}: building the timeline…"),
                     id="timeline-head")
        yield Static(id="timeline-ruler")
        yield OptionList(id="timeline-list")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.run_worker(self._build, thread=True, exit_on_error=False, group="timeline")

    def _build(self) -> None:
        try:
            tl = build_timeline(self.cap, self.stream)
        except ValueError as e:
            self.app.call_from_thread(self.query_one("#timeline-head", Static).update,
                                      Text(str(e)))
            return
        if not self.cancel.is_set():
            self.app.call_from_thread(self._show, tl)

    def _show(self, tl: Timeline) -> None:
        self.timeline = tl
        head = Text(safe(tl.title), Style(bold=True))
        head.append("\n" + safe(tl.facts))
        self.query_one("#timeline-head", Static).update(head)
        self._fill()

    def _fill(self) -> None:
        tl = self.timeline
        if tl is None:
            return
        olist = self.query_one(OptionList)
        width = olist.scrollable_content_region.width or self.size.width
        axis = axis_width(width)
        if (width, axis) == self._axis and olist.option_count:
            return
        self._axis = (width, axis)
        keep = olist.highlighted
        self.query_one("#timeline-ruler", Static).update(ruler(tl, axis))
        olist.clear_options()
        olist.add_options([Option(event_line(tl, e, axis, width - 1)) for e in tl.events])
        olist.highlighted = keep if keep is not None else 0

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill)

    def action_move(self, step: int) -> None:
        olist = self.query_one(OptionList)
        olist.action_cursor_down() if step > 0 else olist.action_cursor_up()

    def action_edge(self, last: int) -> None:
        olist = self.query_one(OptionList)
        olist.action_last() if last else olist.action_first()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._go(event.option_index)

    def action_pick(self) -> None:
        """Enter (when the list does not take it itself): the highlighted event's frame."""
        self._go(self.query_one(OptionList).highlighted)

    def _go(self, index: int | None) -> None:
        tl = self.timeline
        if tl is None or index is None or not 0 <= index < len(tl.events):
            return
        row = tl.events[index].row
        if row >= 0:
            self.dismiss(row)

    def on_unmount(self) -> None:
        self.cancel.set()
