"""The first screen painted before Textual loads (analyzer/tui/firstpaint.py): the same
rows in the same places as the app's packet list, the packet list's colours, and a
terminal given back as it was however the program ends."""
from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from analyzer.tui.app import WirelensApp
from analyzer.tui.firstpaint import colour_mode, rule_sgr, screen_lines
from analyzer.tui.packet_list import PacketList

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_pcaps" / "demo.pcapng"
_SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_first_screen_shows_what_the_packet_list_shows(size):
    """Row for row and column for column, the app's packet list (once it has dissected the
    same frames) has the text the first screen painted, at the same height."""
    width, height = size
    lines = screen_lines(str(DEMO), width, height, "truecolor")
    assert lines is not None and len(lines) == height - 1

    async def main() -> list[str]:
        app = WirelensApp(DEMO)
        async with app.run_test(size=size) as pilot:
            while app.store.passed < 64 or app.store.indexing:
                await pilot.pause(0.05)
            await pilot.pause(0.2)
            plist = app.query_one(PacketList)
            assert plist.region.y == 0
            return [plist.render_line(y).text for y in range(plist.region.height)]
    shown = asyncio.run(main())
    painted = [_SGR.sub("", line) for line in lines[:len(shown)]]
    assert len(shown) > 5
    assert painted == shown
    assert lines[len(shown):-1] == [""] * (height - 2 - len(shown))   # the panes: blank
    assert "demo.pcapng" in lines[-1]


def test_first_screen_colours_are_the_packet_lists():
    assert rule_sgr("dns", "truecolor") == "38;2;18;39;46;48;2;196;228;255"
    assert rule_sgr("rst", "ansi16") == "93;41"
    assert rule_sgr("udp", "ansi16") == "36"
    assert rule_sgr("tcp", "ansi16") == ""
    assert rule_sgr("dns", "256").startswith("38;5;") and ";48;5;" in rule_sgr("dns", "256")
    assert rule_sgr("rst", "none") == "1" and rule_sgr("dns", "none") == ""
    assert colour_mode({"TERM": "xterm-256color", "NO_COLOR": "1"}) == "none"
    assert colour_mode({"TERM": "xterm", "COLORTERM": "truecolor"}) == "truecolor"
    assert colour_mode({"TERM": "screen-256color"}) == "256"
    assert colour_mode({"TERM": "xterm"}) == "ansi16"
    assert colour_mode({"TERM": "dumb"}) == "none"


def test_no_first_screen_for_what_is_not_a_capture(tmp_path):
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"not a capture at all")
    assert screen_lines(str(bad), 80, 24, "truecolor") is None
    assert screen_lines(str(tmp_path / "missing.pcap"), 80, 24, "truecolor") is None


def _spawn(env_extra: dict[str, str]) -> tuple[int, int]:
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT), **env_extra)
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execvpe(sys.executable, [sys.executable, "-m", "analyzer.cli", str(DEMO)], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    return pid, fd


def _read_until(fd: int, out: bytearray, done, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if done(bytes(out)):
            return True
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                out += os.read(fd, 1 << 16)
            except OSError:
                return done(bytes(out))
    return done(bytes(out))


def _finish(pid: int, fd: int, out: bytearray) -> int:
    _read_until(fd, out, lambda b: False, timeout=0.5)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            _read_until(fd, out, lambda b: False, timeout=0.2)
            return status
        _read_until(fd, out, lambda b: False, timeout=0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("wirelens did not exit")


FIRST_ROW = re.compile(rb" {4}1 0\.0+ ")


def test_in_a_terminal_the_first_rows_come_before_the_app_and_the_terminal_is_restored():
    pid, fd = _spawn({"WIRELENS_FIRST_SCREEN": "1"})
    before = termios.tcgetattr(fd)
    out = bytearray()
    try:
        # Textual's own switch to the alternate screen is the second one
        assert _read_until(fd, out, lambda b: b.count(b"\x1b[?1049h") >= 2)
        first_alt = out.index(b"\x1b[?1049h")
        app_alt = out.index(b"\x1b[?1049h", first_alt + 1)
        assert FIRST_ROW.search(out, first_alt, app_alt)          # rows before the app
        assert out.index(b"\x1b[?2026h", first_alt) < app_alt    # the hold asked for
        # the app's rows, and the hold given up
        assert _read_until(fd, out, lambda b: FIRST_ROW.search(b, app_alt) is not None
                           and b.find(b"\x1b[?2026l", app_alt) >= 0)
        os.write(fd, b"q")
    finally:
        status = _finish(pid, fd, out)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
        assert out.rfind(b"\x1b[?1049l") > out.rfind(b"\x1b[?1049h")   # main screen again
        assert termios.tcgetattr(fd) == before       # echo and line editing are back
    finally:
        os.close(fd)


def test_interrupted_while_starting_the_terminal_is_restored():
    """Ctrl-C while the app's modules load (or just after): the first screen is taken down
    and the terminal's settings are back, whichever part of start-up the signal hit."""
    pid, fd = _spawn({"WIRELENS_FIRST_SCREEN": "1"})
    before = termios.tcgetattr(fd)
    out = bytearray()
    try:
        assert _read_until(fd, out, lambda b: FIRST_ROW.search(b) is not None)
        os.kill(pid, signal.SIGINT)
    finally:
        status = _finish(pid, fd, out)
    try:
        assert os.waitstatus_to_exitcode(status) != 0 or \
            out.rfind(b"\x1b[?1049l") > out.rfind(b"\x1b[?1049h")
        assert out.rfind(b"\x1b[?1049l") > out.rfind(b"\x1b[?1049h")
        assert out.rfind(b"\x1b[?25h") > out.rfind(b"\x1b[?25l")          # cursor shown
        assert termios.tcgetattr(fd) == before
        assert b"Traceback" not in out
    finally:
        os.close(fd)


def test_keys_typed_on_the_first_screen_reach_the_app():
    """`jj` typed while the app is still loading moves its cursor to the third frame."""
    pid, fd = _spawn({"WIRELENS_FIRST_SCREEN": "1"})
    out = bytearray()
    cursor_on_3 = re.compile(rb"\x1b\[(?:[0-9]+;)*7(?:;[0-9]+)*m {4}3 0\.")
    try:
        assert _read_until(fd, out, lambda b: FIRST_ROW.search(b) is not None)
        typed_at = len(out)
        assert out.count(b"\x1b[?1049h") == 1              # the app has not started yet
        os.write(fd, b"jj")
        assert _read_until(fd, out, lambda b: cursor_on_3.search(b, typed_at) is not None)
        assert b"jj" not in out[typed_at:]                 # not echoed over the screen
        os.write(fd, b"q")
    finally:
        status = _finish(pid, fd, out)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_first_screen_loads_none_of_the_heavy_modules():
    """What makes the first screen quick: neither Textual, numpy, dnspython nor cryptography
    is imported to paint it (a fresh interpreter, the big sample captures)."""
    import subprocess
    code = ("import sys; from analyzer.tui import firstpaint\n"
            "for name in ('demo.pcapng', 'tls_handshakes.pcap', 'dns.pcap'):\n"
            "    assert firstpaint.screen_lines('sample_pcaps/' + name, 80, 24, '256')\n"
            "print(sorted(m for m in ('textual', 'numpy', 'dns', 'cryptography')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
