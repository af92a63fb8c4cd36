"""Pilot tests of the TUI: every binding of the main screen and each view, escape
sequences from packets rendered inert, and a big file staying responsive while indexing."""
from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import pytest

from analyzer.tui.app import WirelensApp
from analyzer.tui.conversations_view import ConversationsScreen
from analyzer.tui.details import DetailsTree
from analyzer.tui.explain import ExplainPane
from analyzer.tui.fieldref_view import FieldRefScreen
from analyzer.tui.findings_view import FindingsScreen
from analyzer.tui.goto import GoToScreen
from analyzer.tui.help_view import HelpScreen
from analyzer.tui.hexview import HexView
from analyzer.tui.packet_list import PacketList, colour_mode, rule_styles

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_pcaps" / "demo.pcapng"
RESETS = ROOT / "sample_pcaps" / "resets.pcap"


def screen_text(app) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def settle(app, pilot, timeout: float = 20.0) -> None:
    """Wait until the background work is over and the details pane has its frame."""
    end = time.monotonic() + timeout
    s = app.store
    while time.monotonic() < end:
        await pilot.pause(0.05)
        if not s.indexing and s.stage == "done" and s.passed == len(s):
            break
    await pilot.pause(0.2)


def run(path: Path, body, size=(80, 24)) -> None:
    async def main() -> None:
        app = WirelensApp(path)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await body(app, pilot)
    asyncio.run(main())


def test_moving_keys():
    async def body(app, pilot):
        pl = app.query_one(PacketList)
        assert app.focused is pl and pl.cursor == 0
        await pilot.press("j", "j", "down")
        assert pl.cursor == 3
        await pilot.press("k", "up")
        assert pl.cursor == 1
        await pilot.press("G")
        assert pl.cursor == len(app.store) - 1
        await pilot.press("g")
        assert pl.cursor == 0
        await pilot.press("end")
        assert pl.cursor == len(app.store) - 1
        await pilot.press("home", "pagedown")
        page = pl.cursor
        assert page > 3
        await pilot.press("pagedown", "pageup")
        assert pl.cursor == page
        # the last row is on screen after G
        await pilot.press("G")
        await pilot.pause(0.2)
        assert f"{len(app.store):>5}" in screen_text(app)
    run(DEMO, body)


def test_selection_fills_details_hex_and_explain():
    async def body(app, pilot):
        await pilot.press("j", "j", "j", "j", "j")   # frame 6
        await pilot.pause(0.3)
        details = app.query_one(DetailsTree)
        assert details.frame_root is not None
        assert details.root.children[0].label.plain.startswith("Frame 6:")
        await pilot.press("tab")
        assert app.focused is details
        await pilot.press("down", "down", "down")    # Frame, Ethernet, IPv4
        await pilot.pause(0.1)
        hexv = app.query_one(HexView)
        assert hexv.span == (14, 34)
        text = screen_text(app)
        assert "Filter: ip" in text
        await pilot.press("E")                       # expand all
        assert all(c.is_expanded for c in details.root.children if c.children)
        await pilot.press("C")
        assert not any(c.is_expanded for c in details.root.children)
        await pilot.press("tab")
        assert app.focused is hexv
        await pilot.press("tab")
        assert isinstance(app.focused, ExplainPane)
        await pilot.press("shift+tab", "shift+tab", "shift+tab")
        assert isinstance(app.focused, PacketList)
    run(DEMO, body)


def test_clicking_a_byte_selects_its_field():
    async def body(app, pilot):
        await pilot.press("j", "j", "j", "j", "j")
        await pilot.pause(0.3)
        hexv = app.query_one(HexView)
        # second hex line, first byte: offset 8 (8 bytes a line at 80 columns) = ip...?
        app.on_hex_view_byte_clicked(HexView.ByteClicked(0, 23))   # IPv4 protocol byte
        await pilot.pause(0.2)
        node = app.query_one(DetailsTree).cursor_node.data
        assert node.spec.abbrev == "ip.proto"
        assert hexv.span == (23, 24)
        # a real click: hex pane line 2 (bytes 8-15 at 80 columns), the last byte's digits
        assert hexv.per_line == 8
        await pilot.click(HexView, offset=(5 + 3 * 7 + 1, 2))
        await pilot.pause(0.2)
        assert app.query_one(DetailsTree).cursor_node.data.pos <= 15 < \
            app.query_one(DetailsTree).cursor_node.data.pos + \
            app.query_one(DetailsTree).cursor_node.data.size
        assert hexv.span[0] <= 15 < hexv.span[1]
    run(DEMO, body)


def test_mark_jump_goto_and_findings_keys():
    async def body(app, pilot):
        pl = app.query_one(PacketList)
        await pilot.press("j", "j", "m", "G", "m")
        assert pl.marks == {2, len(app.store) - 1}
        await pilot.press("g", "apostrophe")
        assert pl.cursor == 2
        await pilot.press("apostrophe")
        assert pl.cursor == len(app.store) - 1
        await pilot.press("colon")
        assert isinstance(app.screen, GoToScreen)
        await pilot.press("1", "7", "enter")
        assert pl.cursor == 16
        await pilot.press("ctrl+g")
        await pilot.press("escape")
        assert not isinstance(app.screen, GoToScreen) and pl.cursor == 16
        rows = app.store.findings_rows().tolist()
        await pilot.press("g", "n")
        assert pl.cursor == rows[0] if rows[0] > 0 else rows[1]
        await pilot.press("G", "N")
        assert pl.cursor == max(r for r in rows if r < len(app.store) - 1)
        await pilot.press("t")
        assert pl.time_format == "d"
    run(DEMO, body)


def test_views():
    async def body(app, pilot):
        pl = app.query_one(PacketList)
        await pilot.press("e")
        assert isinstance(app.screen, FindingsScreen)
        first = app.screen.findings[0]
        await pilot.press("enter")
        assert not isinstance(app.screen, FindingsScreen)
        assert pl.selected_row == first.frames[0] - 1
        await pilot.press("c")
        assert isinstance(app.screen, ConversationsScreen)
        await pilot.press("b")
        rows = app.screen.rows
        assert [r["bytes"] for r in rows] == sorted((r["bytes"] for r in rows), reverse=True)
        picked = rows[0]
        await pilot.press("enter")
        row = pl.selected_row
        cols = app.store.cap.cols
        assert int(cols.stream[row]) == picked["stream"]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Conversations" in text and "?" in text and "question_mark" not in text
        await pilot.press("escape", "R")
        assert isinstance(app.screen, FieldRefScreen)
        await pilot.press(*"tcp", "full_stop", *"analysis", "full_stop", *"retr")
        await pilot.pause(0.2)
        assert "tcp.analysis.retransmission" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]
        await pilot.press("q")
    run(DEMO, body)


def test_colour_modes(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_mode("truecolor") == "truecolor"
    assert colour_mode("standard") == "ansi16"
    monkeypatch.setenv("NO_COLOR", "1")
    assert colour_mode("truecolor") == "none"
    styles = rule_styles("none")
    assert all(s.color is None and s.bgcolor is None for s in styles.values())
    assert all(s.bgcolor is None or s.bgcolor.number is not None
               for s in rule_styles("ansi16").values())


def _dns_query(name: bytes) -> bytes:
    """Ethernet/IPv4/UDP/DNS query whose name label carries raw bytes."""
    qname = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
    dns = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + b"\0\x01\0\x01"
    udp = struct.pack(">HHHH", 40000, 53, 8 + len(dns), 0) + dns
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip


def test_escape_sequences_from_packets_render_inert(tmp_path):
    evil = b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred.example"
    frame = _dns_query(evil)
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame
    path = tmp_path / "evil.pcap"
    path.write_bytes(head + rec)

    async def body(app, pilot):
        await pilot.press("tab", "E")
        await pilot.pause(0.3)
        strips = app.screen._compositor.render_strips()
        raw = "".join(seg.text for strip in strips for seg in strip)
        assert "\x1b" not in raw and "\x07" not in raw
        # shown as visible escapes instead (DNS names escape like Wireshark: \033)
        assert "\\033]0;pwned" in raw or "\\x1b]0;pwned" in raw
        assert "red.example" in raw
    run(path, body, size=(160, 48))


class _TimedList(PacketList):
    """Notes, per key, the time from the key event to the list painting its last line."""

    latencies: list[float] = []
    pending: float | None = None

    async def _on_key(self, event) -> None:
        self.pending = event.time
        await super()._on_key(event)

    def render_line(self, y: int):
        strip = super().render_line(y)
        if self.pending is not None and y == self.size.height - 1:
            self.latencies.append(time.monotonic() - self.pending)
            self.pending = None
        return strip


def test_big_file_stays_responsive_while_indexing(monkeypatch):
    big = Path("/tmp/bench/100k.pcap")
    if not big.is_file():
        pytest.skip("/tmp/bench/100k.pcap not present")
    import analyzer.tui.app as appmod
    monkeypatch.setattr(appmod, "PacketList", _TimedList)

    async def main():
        app = WirelensApp(big)
        async with app.run_test(size=(80, 24)) as pilot:
            pl = app.query_one(PacketList)
            while pl.count == 0:
                await pilot.pause(0.01)
            busy = 0
            for key in ["j", "j", "pagedown", "G", "g", "pagedown", "k"]:
                if app.store.indexing or app.store.stage != "done":
                    busy += 1
                await pilot.press(key)
            assert busy > 0          # keys were pressed while background work ran
            lat = sorted(_TimedList.latencies)
            assert len(lat) >= 5
            assert lat[len(lat) // 2] < 0.25 and lat[-1] < 1.5, lat
            s = app.store
            running = s.indexing or s.stage != "done" or s.passed < len(s)
            await pilot.press("escape")             # cancels what is still running
            assert app.store.cancel.is_set() == running
            t0 = time.perf_counter()
            while app.store.stage not in ("done", "cancelled") and \
                    time.perf_counter() - t0 < 10:
                await pilot.pause(0.05)
            assert app.store.stage in ("done", "cancelled")
            await pilot.press("q")
    asyncio.run(main())


def test_command_palette_lists_the_views():
    async def body(app, pilot):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"View: Findings", "View: Conversations", "Go: Frame number"} <= set(titles)
        await pilot.press("ctrl+p")
        await pilot.press(*"conversations")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConversationsScreen)
    run(DEMO, body)


def test_cli_opens_the_tui_on_a_terminal(monkeypatch, capsys):
    import sys

    import analyzer.tui.app as appmod
    from analyzer import cli
    opened: list[str] = []
    monkeypatch.setattr(appmod.WirelensApp, "run",
                        lambda self: opened.append(self.store.path))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert cli.main([]) == 0 and opened[-1] == str(DEMO)
    assert cli.main([str(RESETS)]) == 0 and opened[-1] == str(RESETS)
    assert cli.main([str(ROOT / "no-such.pcap")]) == 2
    assert "no such file" in capsys.readouterr().err
    # `read` stays the batch path
    assert cli.main(["read", "-r", str(RESETS), "-c", "1"]) == 0
    assert capsys.readouterr().out.startswith("    1 ")


def test_save_writes_the_marked_frames(tmp_path):
    out = tmp_path / "marked.pcapng"

    async def body(app, pilot):
        await pilot.press("j", "m", "j", "j", "m", "w")
        inp = app.screen.query_one("#save-input")
        inp.value = str(out)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
    run(DEMO, body)
    from analyzer.capture.index import FrameIndex
    src, got = FrameIndex(str(DEMO)).build(), FrameIndex(str(out)).build()
    assert len(got) == 2
    assert [got.frame(0), got.frame(1)] == [src.frame(1), src.frame(3)]


def test_follow_stream():
    async def body(app, pilot):
        await pilot.press("colon", "3", "9", "enter")    # HTTP on tcp.stream 1
        await pilot.press("F")
        from analyzer.tui.follow_view import FollowScreen
        assert isinstance(app.screen, FollowScreen)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "TCP stream 1" in text and "GET /" in text and "HTTP/1.1 200" in text
        await pilot.press("escape", "colon", "1", "enter", "F")   # a DNS frame: UDP
        assert isinstance(app.screen, FollowScreen) and app.screen.proto == "udp"
    run(DEMO, body)


def test_statistics_view():
    async def body(app, pilot):
        await pilot.press("s")
        from analyzer.tui.stats_view import StatsScreen
        assert isinstance(app.screen, StatsScreen)
        text = screen_text(app)
        n = len(app.store)
        assert f"{n} frames" in text and "Protocol hierarchy" in text and "tcp" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, StatsScreen)
    run(DEMO, body)


def test_a_failing_background_job_is_reported(monkeypatch):
    from analyzer.tui.store import Store

    def broken(self, on_progress=None):
        raise RuntimeError("boom")
    monkeypatch.setattr(Store, "analyze", broken)

    async def main():
        app = WirelensApp(RESETS)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(40):
                await pilot.pause(0.05)
                if app.store.error:
                    break
            assert "analysis failed" in app.store.error and "boom" in app.store.error
            assert "analysis failed" in str(app.query_one("#status").render())
            await pilot.press("j")                       # the list still works
            assert app.query_one(PacketList).cursor == 1
    asyncio.run(main())


def test_dns_transactions_view():
    async def main():
        app = WirelensApp(ROOT / "sample_pcaps" / "dns.pcap")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("D")
            from analyzer.tui.dns_view import DnsScreen
            assert isinstance(app.screen, DnsScreen)
            txs = app.screen.txs
            assert len(txs) == len(app.store.cap.dns.transactions) > 0
            await pilot.press("l")                   # slowest (and unanswered) first
            assert txs[0].response_frame == 0 or all(
                t.response_ts - t.first_ts <= txs[0].response_ts - txs[0].first_ts
                for t in txs if t.response_frame)
            assert "No such name" in screen_text(app)
            target = app.screen.txs[0].query_frames[0] - 1
            await pilot.press("enter")
            assert app.query_one(PacketList).selected_row == target
    asyncio.run(main())


def test_tls_handshakes_view():
    async def body(app, pilot):
        await pilot.press("T")
        from analyzer.tui.tls_view import TlsScreen
        assert isinstance(app.screen, TlsScreen)
        h = app.screen.hs[0]
        assert "www.lab.test" in screen_text(app) and h.version in screen_text(app)
        await pilot.press("enter")
        assert app.query_one(PacketList).selected_row == min(h.frames.values()) - 1
    run(DEMO, body)
