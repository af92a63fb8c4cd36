"""Snapshot tests of the main screen and each view at 80x24 and 160x48 (SVGs under
tests/__snapshots__; regenerate with `pytest tests/test_tui_snapshots.py --snapshot-update`
after an intended change, and look at them)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("pytest_textual_snapshot")

from textual.widgets import Input  # noqa: E402

from analyzer.tui import crosscheck  # noqa: E402
from analyzer.tui.app import WirelensApp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path("sample_pcaps") / "demo.pcapng"    # relative: the statistics view shows the path
SIZES = [(80, 24), (160, 48)]
VIEWS = {
    "main": ["j", "j", "j", "j", "j", "tab", "down", "down", "down"],
    "findings": ["e"],
    "conversations": ["c", "b"],
    "help": ["question_mark"],
    "statistics": ["s"],
    "dns": ["D"],
    "tls": ["T"],
    "filter-error": ["slash", "t", "c", "p", "full_stop", "p", "o", "r", "x"],
    "filtered": ["slash", "d", "n", "s", "enter"],
    "follow": ["colon", "3", "9", "enter", "F"],
    "fields": ["R", "t", "c", "p", "full_stop", "f", "l", "a", "g", "s"],
    "timeline": ["colon", "3", "9", "enter", "L", "j", "j", "j", "j"],
    "follow-hex": ["colon", "3", "9", "enter", "F", "x"],
    "follow-udp": ["colon", "1", "enter", "F"],
    "follow-tls": ["colon", "8", "enter", "F"],
    "wireshark": ["colon", "3", "9", "enter", "tab", "W", "down", "down", "down"],
}
NEEDS_TSHARK = {"wireshark"}    # the view shows tshark's own text (4.0 here)


async def settled(pilot) -> None:
    """Wait for the background work (the demo takes well under a second)."""
    app = pilot.app
    end = time.monotonic() + 30
    s = app.store
    while time.monotonic() < end and not (not s.indexing and s.stage == "done"
                                          and s.passed == len(s)):
        await pilot.pause(0.05)
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(VIEWS))
def test_snapshot(snap_compare, view, size, monkeypatch):
    if view in NEEDS_TSHARK and shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    monkeypatch.chdir(ROOT)
    # the picture names the way tshark ran: the same one with and without pyshark installed
    monkeypatch.setattr(crosscheck, "has_pyshark", lambda: False)

    async def before(pilot) -> None:
        await settled(pilot)
        await pilot.press(*VIEWS[view])
        await pilot.app.workers.wait_for_complete()
        # a blinking text cursor would make the picture depend on the moment it is taken
        for screen in pilot.app.screen_stack:
            for inp in screen.query(Input):
                inp.cursor_blink = False
        await pilot.pause(0.3)
    assert snap_compare(WirelensApp(DEMO), terminal_size=size, run_before=before)
