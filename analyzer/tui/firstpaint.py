"""The first screen of `wirelens FILE`, painted before Textual and numpy are imported.

Importing Textual, numpy and the app costs about half a second, longer than a user should
stare at an empty terminal. So the command first reads the capture's opening frames
itself, dissects them as the packet list does (the same dissectors, the same column text,
the same layout: rows.py) and paints them where the packet list will show them, on the
alternate screen. The app's first frame then replaces this screen.

The handover: Textual clears the alternate screen when it starts. A terminal with
synchronized output (mode 2026) is asked to hold its display from the end of this paint
until the app's first frame is drawn (WirelensApp ends the hold), so the swap is one
step; a terminal without it ignores the request and shows a short blank instead.

This screen takes no keys. It turns echo and line editing off, so keys typed meanwhile
wait unseen in the terminal for the app, and gives the terminal's settings back before
Textual saves them (Textual restores what it saved when it exits).
"""
from __future__ import annotations

import os
import signal
import sys
import termios

from analyzer.capture import CaptureError, open_capture
from analyzer.columns import format_time
from dissectors import CaptureState, dissect_frame

from .rows import ANSI16, HEADINGS, TRUECOLOR, by_protocol, column_widths, line_text, \
    packet_cells

SYNC_BEGIN, SYNC_END = "\x1b[?2026h", "\x1b[?2026l"
_ALT_ON, _ALT_OFF = "\x1b[?1049h", "\x1b[?1049l"
_HIDE, _SHOW = "\x1b[?25l", "\x1b[?25h"
MIN_SIZE = (40, 12)
_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


class FirstScreen:
    """A painted first screen, until the app takes the terminal over."""

    def __init__(self, tty_in: int, saved: list,
                 cells: dict[int, tuple[str, str, str, str, str]]) -> None:
        self.tty_in = tty_in
        self.saved = saved
        self.cells = cells          # the painted rows' packet cells, by row (0-based)
        self.handed = False
        self.released = False

    def handover(self) -> None:
        """Give the terminal's own settings back, just before Textual saves them."""
        if not self.handed:
            self.handed = True
            termios.tcsetattr(self.tty_in, termios.TCSANOW, self.saved)

    def release(self) -> None:
        """End the display hold (the app has drawn, or has already gone)."""
        if not self.released:
            self.released = True
            _write(SYNC_END)

    def abandon(self) -> None:
        """The app did not start (a bad file, Ctrl-C during imports): put the terminal
        back as it was."""
        if not self.handed:
            self.handover()
            self.released = True
            _write(SYNC_END + _SHOW + _ALT_OFF)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def colour_mode(env: dict[str, str] | os._Environ = os.environ) -> str:
    """truecolor, 256, ansi16 or none, from the environment as Rich decides it."""
    term = env.get("TERM", "").lower()
    if env.get("NO_COLOR") or term in ("dumb", "unknown"):
        return "none"
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    return "256" if "256color" in term else "ansi16"


def _sgr_colour(colour: str | None, mode: str, background: bool) -> str:
    if colour is None:
        return ""
    if colour.startswith("#"):
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        if mode == "truecolor":
            return f"{48 if background else 38};2;{r};{g};{b}"
        # the 6x6x6 cube of the 256-colour palette
        cube = 16 + 36 * round(r / 51) + 6 * round(g / 51) + round(b / 51)
        return f"{48 if background else 38};5;{cube}"
    bright = colour.startswith("bright_")
    base = _NAMES.index(colour.removeprefix("bright_"))
    return str((100 if bright else 40) + base if background else (90 if bright else 30) + base)


def rule_sgr(rule: str, mode: str) -> str:
    """The SGR parameters of a colouring rule in a colour mode (the packet list's palette)."""
    if mode == "none":
        return "1" if rule in ("bad", "bad_tcp", "icmp_error", "rst") else ""
    fg, bg = (TRUECOLOR if mode in ("truecolor", "256") else ANSI16).get(rule, (None, None))
    return ";".join(p for p in (_sgr_colour(fg, mode, False), _sgr_colour(bg, mode, True)) if p)


def _styled(text: str, sgr: str) -> str:
    return f"\x1b[0;{sgr}m{text}\x1b[0m" if sgr else f"\x1b[0m{text}"


def screen_lines(path: str, width: int, height: int, mode: str,
                 cells: dict[int, tuple[str, str, str, str, str]] | None = None
                 ) -> list[str] | None:
    """The first screen's lines for a `width` x `height` terminal (None: nothing to show).
    `cells`, if given, receives each painted row's packet cells (see Store.seed_rows)."""
    list_height = max(6, (height - 1) // 2)      # wirelens.tcss: the list and the panes share
    try:
        reader = open_capture(path)
    except (CaptureError, OSError):
        return None                              # the app says what is wrong
    rows: list[tuple[tuple[str, ...], str]] = []
    state = CaptureState()
    with reader:
        first = prev = None
        for number, f in enumerate(reader, 1):
            ifs = reader.interfaces
            iface = ifs[f.iface] if 0 <= f.iface < len(ifs) else None
            _, pkt = dissect_frame(
                f.data, number=number, ts_ns=f.ts_ns, origlen=f.origlen, linktype=f.linktype,
                iface=f.iface, comment=f.comment, has_ts=f.has_ts, state=state, tree=False,
                iface_name=(iface.name or "unknown") if iface and reader.format == "pcapng"
                else "")
            first = f.ts_ns if first is None else first
            t = format_time("r", f.ts_ns, first, prev if prev is not None else f.ts_ns,
                            prev if prev is not None else f.ts_ns,
                            iface.precision if iface else 6)
            prev = f.ts_ns
            packet = packet_cells(pkt)
            if cells is not None:
                cells[number - 1] = packet
            src, dst, proto, info, damage = packet
            rows.append(((str(number), t, src, dst, proto, str(f.origlen), info),
                         "bad" if damage == "malformed" else by_protocol(proto)))
            if number >= list_height - 1:
                break
    if not rows:
        return None
    widths = column_widths(width, len(rows), "r")
    lines = [_styled(line_text(HEADINGS, widths, width), "1;7")]
    for i, (texts, rule) in enumerate(rows):
        sgr = rule_sgr(rule, mode)
        if i == 0:                                # the cursor starts on the first frame
            sgr = ";".join(p for p in (sgr, "1;7") if p)
        lines.append(_styled(line_text(texts, widths, width), sgr))
    status = line_text((f" {os.path.basename(path)}  starting…",), [width], width)
    return lines + [""] * (height - 2 - len(lines)) + [_styled(status, "7")]


def paint(path: str) -> FirstScreen | None:
    """Paint the first screen on this terminal, or do nothing (None) when it has no
    terminal, the user asked for none (WIRELENS_FIRST_SCREEN=0) or the file has no frames."""
    if os.environ.get("WIRELENS_FIRST_SCREEN", "1") == "0" or \
            not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    try:
        width, height = os.get_terminal_size(sys.stdout.fileno())
        saved = termios.tcgetattr(sys.stdin.fileno())
    except OSError:
        return None
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        return None                  # too small to lay out like the app: it alone draws
    mode = colour_mode()
    if mode == "none" and os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return None
    cells: dict[int, tuple[str, str, str, str, str]] = {}
    lines = screen_lines(path, width, height, mode, cells)
    if lines is None:
        return None
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)      # keys wait, unechoed, for the app
    out = [_ALT_ON, _HIDE, "\x1b[H\x1b[2J"]
    out += [f"\x1b[{y + 1};1H{line}" for y, line in enumerate(lines) if line]
    out.append(SYNC_BEGIN)           # hold this screen until the app's first frame
    screen = FirstScreen(sys.stdin.fileno(), saved, cells)
    try:
        # Ctrl-C waits until the terminal is in a state abandon() knows how to undo
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, quiet)
            _write("".join(out))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return screen
    except BaseException:
        screen.abandon()
        raise
