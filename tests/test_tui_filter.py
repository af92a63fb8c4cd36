"""The filter bar: validation as you type, completion, history, applying (from the bar,
from a details field, from a conversation) and the rows shown agreeing with select()."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from analyzer.filter import compile_filter
from analyzer.tui.app import WirelensApp
from analyzer.tui.conversations_view import ConversationsScreen
from analyzer.tui.details import DetailsTree
from analyzer.tui.filterbar import FieldSuggester, FilterBar, filter_for
from analyzer.tui.packet_list import PacketList
from analyzer.tui.store import FilterSource

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_pcaps" / "demo.pcapng"


async def settle(app, pilot, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    s = app.store
    while time.monotonic() < end and not (not s.indexing and s.stage == "done"
                                          and s.passed == len(s)):
        await pilot.pause(0.05)
    await pilot.pause(0.2)


async def filtered(app, pilot) -> None:
    """Wait for the filter worker to finish."""
    await app.workers.wait_for_complete()
    await pilot.pause(0.1)


def run(body, size=(80, 24)) -> None:
    async def main() -> None:
        app = WirelensApp(DEMO)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await body(app, pilot)
    asyncio.run(main())


def expected(app, text: str) -> list[int]:
    import threading
    mask = compile_filter(text).select(FilterSource(app.store, threading.Event()))
    return np.flatnonzero(mask).tolist()


def typed(text: str) -> list[str]:
    names = {".": "full_stop", " ": "space", "=": "equals_sign", '"': "quotation_mark",
             "!": "exclamation_mark", "|": "vertical_line", "&": "ampersand"}
    return [names.get(c, c) for c in text]


def test_validates_as_you_type_and_applies():
    async def body(app, pilot):
        bar = app.query_one(FilterBar)
        assert not bar.display
        await pilot.press("slash")
        assert bar.display and app.focused is bar.input
        await pilot.press(*typed("tcp.porx"))
        assert bar.input.has_class("-invalid")
        assert "did you mean 'tcp.port'" in str(app.query_one("#filter-error").render())
        await pilot.press("backspace", *typed("t == 80"))
        assert bar.input.has_class("-valid") and not bar.input.has_class("-invalid")
        await pilot.press("enter")
        await filtered(app, pilot)
        pl = app.query_one(PacketList)
        want = expected(app, "tcp.port == 80")
        assert pl.view is not None and pl.view.tolist() == want and len(want) > 10
        assert app.focused is pl and not bar.display
        assert "tcp.port == 80" in str(app.query_one("#status").render())
        await pilot.press("G")
        assert pl.selected_row == want[-1]
        # history: the bar remembers; an empty filter shows everything again
        await pilot.press("slash", "up")
        assert bar.input.value == "tcp.port == 80"
        await pilot.press("ctrl+u", "enter")
        await filtered(app, pilot)
        assert pl.view is None and pl.count == len(app.store)
    run(body)


def test_completion_of_field_names():
    async def main():
        s = FieldSuggester()
        assert await s.get_suggestion("tcp.analysis.retr") == "tcp.analysis.retransmission"
        assert await s.get_suggestion("ip.src == 1.2.3.4 && dns.flags.rc") == \
            "ip.src == 1.2.3.4 && dns.flags.rcode"
        assert await s.get_suggestion("") is None
    asyncio.run(main())


def test_apply_and_prepare_from_the_details_tree():
    async def body(app, pilot):
        await pilot.press("colon", *"39", "enter")            # HTTP response on stream 1
        await pilot.pause(0.3)
        await pilot.press("tab", "down", "down", "down", "down")  # Frame, Eth, IP, TCP
        await pilot.pause(0.1)
        details = app.query_one(DetailsTree)
        assert details.cursor_node.data.spec.abbrev == "tcp"
        await pilot.press("space", "down")                     # open TCP: Source Port
        node = details.cursor_node.data
        assert node.spec.abbrev == "tcp.srcport"
        assert filter_for(node) == "tcp.srcport == 80"
        await pilot.press("f")
        bar = app.query_one(FilterBar)
        assert bar.display and bar.input.value == "tcp.srcport == 80"
        await pilot.press("escape")
        await pilot.press("tab", "shift+tab")                  # back on the details pane
        app.query_one(DetailsTree).focus()
        await pilot.press("enter")
        await filtered(app, pilot)
        pl = app.query_one(PacketList)
        assert pl.view.tolist() == expected(app, "tcp.srcport == 80")
        assert pl.selected_row == 38        # the cursor stays on the frame it was on
    run(body)


def test_conversation_enter_filters_to_the_stream():
    async def body(app, pilot):
        await pilot.press("c")
        assert isinstance(app.screen, ConversationsScreen)
        picked = app.screen.rows[0]
        await pilot.press("enter")
        await filtered(app, pilot)
        pl = app.query_one(PacketList)
        text = f"{picked['proto']}.stream == {picked['stream']}"
        assert app.filter_text == text
        assert pl.view.tolist() == expected(app, text) and pl.count == picked["packets"]
    run(body)


def test_a_string_field_filter_is_quoted():
    async def body(app, pilot):
        root, _, _ = app.store.dissect(0)
        qname = root.find("dns.qry.name")
        assert filter_for(qname) == 'dns.qry.name == "www.lab.test"'
        assert expected(app, filter_for(qname))
    run(body)


def test_escape_cancels_a_running_filter():
    big = Path("/tmp/bench/100k.pcap")
    if not big.is_file():
        import pytest
        pytest.skip("/tmp/bench/100k.pcap not present")

    async def main():
        app = WirelensApp(big)
        async with app.run_test(size=(80, 24)) as pilot:
            while app.store.cap is None:        # the first pass, then a slow filter
                await pilot.pause(0.1)
            app.apply_filter('frame contains "no such bytes anywhere"')
            await pilot.pause(0.5)
            assert app.filter_progress is not None
            await pilot.press("escape")
            await filtered(app, pilot)
            assert app.filter_progress is None and app.filter_text == ""
            assert app.query_one(PacketList).view is None
            app.store.cancel.set()
    asyncio.run(main())


def test_tree_filters_select_what_read_selects(capsys):
    """The bar's filters dissect through the first pass's scoped dissection; the frames
    they select are the ones `read -2 -Y` prints."""
    from analyzer.cli import main as cli
    texts = ['dns.qry.name contains "lab"', "tls.handshake.type == 1", "dns.time > 0",
             "tcp.analysis.ack_rtt > 0.01", "wirelens.conn.refused or tls.alert_message"]
    want = {}
    for text in texts:
        assert cli(["read", "-2", "-r", str(DEMO), "-Y", text, "-T", "fields",
                    "-e", "frame.number"]) == 0
        want[text] = [int(n) - 1 for n in capsys.readouterr().out.split()]

    async def body(app, pilot):
        for text in texts:
            assert expected(app, text) == want[text], text
    run(body)
    assert any(len(v) > 2 for v in want.values())
