"""The TUI on a live capture (`wirelens -i`), and the incremental first pass under it.

Without privileges: the incremental pass must build, batch by batch and across ring
evictions, exactly the columns, stream numbers, TCP analysis and findings the file pass
builds; the follower must index a file that grows in arbitrary pieces; the dissectors'
per-frame arrays must forget old frames without changing what newer frames show; and the
app, following a growing file, must follow new packets, count "N new" after the user moves
up, and keep the last --ring-packets frames with their original numbers.

With root and `ip netns` (skipped otherwise), in a private namespace whose loopback carries
only our traffic: the app sees the packets tcpdump sees, the capture filter applies, -c and
-a stop, q and Ctrl-C in a real terminal leave a -w file that tshark reads with every
packet, and a user without capture rights gets the one-line message with the fixes.

The app runs in the namespace through `python tests/test_tui_live.py drive ...`, a small
driver that answers commands on stdin (press a key, wait for packets, report the state).
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analyzer.capture import open_capture  # noqa: E402
from analyzer.capture.index import FrameIndex  # noqa: E402
from analyzer.capture.tail import TailIndexer  # noqa: E402
from analyzer.engine.firstpass import analyzable_rows, first_pass  # noqa: E402
from analyzer.engine.incremental import (SUMMARY_COLUMNS, CaptureFile, FrameRing,  # noqa: E402
                                         IncrementalPass)
from analyzer.engine import tcp_analysis as ta  # noqa: E402

SAMPLES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))
PORT, OTHER_PORT = 5555, 5556


# --- the incremental pass against the file pass ----------------------------------------------

def incremental(path: Path, ring_size: int, seed: int) -> tuple:
    """Feed a capture's frames to an IncrementalPass in random batches, analyzing and
    taking snapshots (which move the ring) at random points; return the last snapshot."""
    rnd = random.Random(seed)
    idx = FrameIndex(str(path)).build()
    ring = FrameRing(ring_size)
    eng = IncrementalPass(ring, CaptureFile(str(path)), idx.interfaces, idx.format)
    pos, n = 0, len(idx)
    while pos < n:
        k = rnd.randint(1, 200)
        if ring.protect + ring.capacity - ring.indexed < k:    # the UI would move on
            ring.move(base=eng.snapshot(str(path)).base)
        ring.append(idx.offsets[pos:pos + k].copy(), idx.caplens[pos:pos + k].copy(),
                    idx.origlens[pos:pos + k].copy(), idx.ts_ns[pos:pos + k].copy(),
                    idx.ifaces[pos:pos + k].copy())
        pos += k
        while eng.step(rnd.randint(1, 300)):
            pass
        if rnd.random() < 0.3:
            ring.move(base=eng.snapshot(str(path)).base)
    snap = eng.snapshot(str(path))
    return snap, n


def compare(snap, ref, whole: bool) -> None:
    lo = snap.base
    for name in SUMMARY_COLUMNS:
        if name in ("src", "dst"):
            continue        # IPv6 addresses are numbered per table: compared as addresses
        assert np.array_equal(getattr(snap.cols, name), getattr(ref.cols, name)[lo:]), name
    for i in range(len(snap.cols)):
        for side in ("src", "dst"):
            assert snap.cols.address(i, side) == ref.cols.address(lo + i, side)
    for name in ("ws_rows", "sack_rows"):
        rows = getattr(ref.cols, name)
        assert np.array_equal(getattr(snap.cols, name), rows[rows >= lo] - lo), name
    for name in ("bits", "direction", "win_scale"):
        assert np.array_equal(getattr(snap.tcp, name), getattr(ref.tcp, name)[lo:]), name
    if not whole:
        return
    assert np.array_equal(snap.tcp.dupack_rows, ref.tcp.dupack_rows)
    assert np.array_equal(snap.tcp.dupack_frame, ref.tcp.dupack_frame)
    assert np.array_equal(snap.tcp.irtt_ns, ref.tcp.irtt_ns)
    assert np.array_equal(snap.tcp.irtt_row, ref.tcp.irtt_row)
    for s in np.unique(ref.cols.stream[analyzable_rows(ref.cols)]).tolist():
        a, b = snap.tcp_values(s), ref.tcp_values(s)
        reused = (ref.tcp.bits[b.rows] & ta.REUSED_PORTS) != 0
        # The file pass replays a connection alone, without the address pair that makes a
        # SYN "reused ports", so it hides the analysis tshark shows on those segments.
        assert np.array_equal(a.shown[~reused], b.shown[~reused]), s
        for name in ("rows", "acks_frame", "ack_rtt_ns", "bytes_in_flight", "push_bytes",
                     "rto_ns", "rto_frame"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), (s, name)
    assert [(f.id, f.stream, f.frames) for f in snap.findings] == \
        [(f.id, f.stream, f.frames) for f in ref.findings]
    assert np.array_equal(snap.conversations.stream, ref.conversations.stream)
    assert np.array_equal(snap.conversations.frames_ab, ref.conversations.frames_ab)
    assert np.array_equal(snap.conversations.bytes_ba, ref.conversations.bytes_ba)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_incremental_pass_equals_first_pass(path):
    snap, n = incremental(path, ring_size=1 << 20, seed=1)
    assert snap.base == 0 and len(snap.cols) == n
    compare(snap, first_pass(str(path)), whole=True)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_incremental_pass_keeps_the_last_frames_of_a_ring(path):
    """A ring of a third of the capture: the window is its last third, with the columns,
    stream numbers and flags the whole file gives those frames (numbering continues)."""
    ref = first_pass(str(path))
    size = max(1, len(ref.cols) // 3)
    snap, n = incremental(path, ring_size=size, seed=2)
    assert snap.base == n - size and len(snap.cols) == size
    compare(snap, ref, whole=False)


def test_incremental_pass_on_the_corpus(corpus_dir):
    """Every corpus capture, fed in random batches, gives the file pass's store."""
    checked = 0
    for path in sorted((corpus_dir / "pcaps").iterdir()):
        if path.stat().st_size > 4 << 20:
            continue
        snap, n = incremental(path, ring_size=1 << 20, seed=3)
        compare(snap, first_pass(str(path)), whole=True)
        checked += 1
    assert checked > 50


def test_slow_path_state_keeps_only_the_frames_of_the_ring(tmp_path, monkeypatch):
    """A frame for the slow path now and then (an IPv4 header with options): the slow
    path's per-frame records, indexed by frame number, would otherwise grow with every
    frame captured (each slow frame extends them to its number). Those of frames that
    left the ring are let go; the window is still what the file pass gives its frames."""
    from analyzer.engine import incremental as inc
    monkeypatch.setattr(inc, "FORGET_EVERY", 64)
    path = tmp_path / "options.pcap"
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    n = 6000
    for i in range(n):
        data = _udp_frame(i)
        if i % 7 == 3:       # the same datagram with four option bytes (NOP NOP NOP EOL)
            ip = bytearray(data[14:34])
            ip[0], ip[3] = 0x46, ip[3] + 4
            data = data[:14] + bytes(ip) + b"\x01\x01\x01\x00" + data[34:]
        records.append(struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000,
                                   len(data), len(data)) + data)
    path.write_bytes(b"".join(records))
    idx = FrameIndex(str(path)).build()
    ring = FrameRing(300)
    eng = IncrementalPass(ring, CaptureFile(str(path)), idx.interfaces, idx.format)
    for pos in range(0, n, 100):
        if ring.protect + ring.capacity - ring.indexed < 100:
            ring.move(base=eng.snapshot(str(path)).base)
        ring.append(idx.offsets[pos:pos + 100].copy(), idx.caplens[pos:pos + 100].copy(),
                    idx.origlens[pos:pos + 100].copy(), idx.ts_ns[pos:pos + 100].copy(),
                    idx.ifaces[pos:pos + 100].copy())
        while eng.step():
            pass
        ring.move(base=eng.snapshot(str(path)).base)
    snap = eng.snapshot(str(path))
    ref = first_pass(str(path))
    assert snap.base == n - 300 and (ref.cols.flags[3::7] & 0x0100).all()   # slow rows
    compare(snap, ref, whole=False)
    last = max(i for i in range(n) if i % 7 == 3) + 1           # the last slow frame
    kept = eng.state._slots["udp"].frame_stream
    assert len(kept) == last + 1 and len(kept.data) <= 300 + 64 + 100
    assert kept[last] == 0 and kept[4] == -1      # a recent slow frame's stream; forgotten


@pytest.mark.parametrize("name", ["demo.pcapng", "bulk_lossy_sender.pcap"])
def test_analysis_worker_gives_what_the_process_computes(name):
    """The snapshot analyses in the worker process (on the ring's shared memory, a window
    that wraps around the ring's end) equal the same analyses in this process."""
    from analyzer.engine.incremental import AnalysisWorker
    path = ROOT / "sample_pcaps" / name
    idx = FrameIndex(str(path)).build()
    n = len(idx)
    ring = FrameRing(n // 2)
    if not ring._maps:
        pytest.skip("no shared memory ring here")
    eng = IncrementalPass(ring, CaptureFile(str(path)), idx.interfaces, idx.format)
    # The file again and again (its copies are new frames) until the window, the last
    # n // 2 frames, runs across the ring's end.
    target = ring.capacity + ring.size // 2
    while ring.indexed < target:
        a = ring.indexed % n
        k = min(50, n - a, target - ring.indexed)
        if ring.protect + ring.capacity - ring.indexed < k:
            ring.move(base=eng.snapshot(str(path)).base)
        ring.append(idx.offsets[a:a + k].copy(), idx.caplens[a:a + k].copy(),
                    idx.origlens[a:a + k].copy(), idx.ts_ns[a:a + k].copy(),
                    idx.ifaces[a:a + k].copy())
        while eng.step():
            pass
    worker = AnalysisWorker(ring)
    try:
        here = eng.snapshot(str(path))
        there = eng.snapshot(str(path), worker=worker)
        assert worker.proc is not None            # it answered
    finally:
        worker.close()
    lo = here.base
    assert lo % ring.capacity + len(here.cols) > ring.capacity    # the window wraps
    assert [(f.id, f.stream, f.frames, f.summary) for f in here.findings] == \
        [(f.id, f.stream, f.frames, f.summary) for f in there.findings]
    assert len(here.findings) and all(f.spec is not None for f in there.findings)
    for name_ in ("stream", "frames_ab", "frames_ba", "bytes_ab", "start_ns"):
        assert np.array_equal(getattr(here.conversations, name_),
                              getattr(there.conversations, name_))
    assert here.flows.state == there.flows.state


def _rss_anon_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon")


def test_analysis_worker_holds_nothing_between_snapshots(tmp_path):
    """The worker's own memory after answering stays where it was after its first answers,
    snapshot after snapshot, while a window of 40k frames moves along 200k: nothing of a
    window (its analyses' temporaries, the objects of its results) outlives the answer."""
    from analyzer.engine.incremental import AnalysisWorker
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc")
    path = tmp_path / "long.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    n, step = 200_000, 10_000
    _append(path, 0, n)
    idx = FrameIndex(str(path)).build()
    ring = FrameRing(40_000)
    if not ring._maps:
        pytest.skip("no shared memory ring here")
    eng = IncrementalPass(ring, CaptureFile(str(path)), idx.interfaces, idx.format)
    worker = AnalysisWorker(ring)
    anon = []
    try:
        for a in range(0, n, step):
            ring.append(idx.offsets[a:a + step].copy(), idx.caplens[a:a + step].copy(),
                        idx.origlens[a:a + step].copy(), idx.ts_ns[a:a + step].copy(),
                        idx.ifaces[a:a + step].copy())
            while eng.step():
                pass
            snap = eng.snapshot(str(path), worker=worker)
            assert worker.proc is not None and len(snap.conversations.stream) == 1
            ring.move(base=snap.base)
            anon.append(_rss_anon_kib(worker.proc.pid))
    finally:
        worker.close()
    assert snap.base == n - 40_000
    settled = anon[4]       # after the windows grew to the ring's size
    assert max(anon[4:]) - settled < 2048, anon


def _add(ring: FrameRing, k: int) -> None:
    a = ring.indexed
    z = np.zeros(k, np.int64)
    ring.append(np.arange(a, a + k, dtype=np.int64), z.astype(np.uint32), z.astype(np.uint32),
                z, z.astype(np.uint16))


def test_ring_windows_that_wrap_are_views_and_protected_rows_wait():
    ring = FrameRing(100)
    cap = ring.capacity
    _add(ring, cap - 10)
    ring.move(base=cap - 50)
    _add(ring, 30)                             # rows cap-10 .. cap+19 wrap around
    w = ring.view("offsets", cap - 50, cap + 20)
    assert w.tolist() == list(range(cap - 50, cap + 20))
    if ring._maps:                              # the mirror: one view, no copy
        assert np.shares_memory(w, ring.cols["offsets"])
    assert not ring.readable(10) and ring.readable(cap - 50)
    # The window starts at cap - 50: the follower may not write over it.
    done = threading.Event()
    writer = threading.Thread(target=lambda: (_add(ring, cap), done.set()))
    writer.start()
    time.sleep(0.3)
    assert not done.is_set() and ring.indexed == 2 * cap - 50
    assert ring.view("offsets", cap - 50, cap - 40).tolist() == list(range(cap - 50, cap - 40))
    ring.move(base=2 * cap)                     # the window moves on: it may go on
    writer.join(5)
    assert done.is_set() and ring.indexed == 2 * cap + 20
    assert ring.view("offsets", cap + 20, 2 * cap + 20).tolist() == \
        list(range(cap + 20, 2 * cap + 20))


# --- the dissectors' per-frame memory --------------------------------------------------------

def test_forget_frames_keeps_what_newer_frames_show():
    """Dissect in order, forgetting frames before a point now and then; frames after it
    then show what they show without forgetting, and the arrays stay short."""
    from analyzer import columns
    from analyzer.tui.live_store import forget_frames, fresh_state
    from dissectors import CaptureState, dissect_frame
    path = ROOT / "sample_pcaps" / "demo.pcapng"
    frames = list(open_capture(path))
    plain, trimmed = CaptureState(), fresh_state(1)

    def dis(state, i, tree=False):
        f = frames[i]
        return dissect_frame(f.data, number=i + 1, ts_ns=f.ts_ns, origlen=f.origlen,
                             linktype=f.linktype, iface=f.iface, state=state, tree=tree)
    for i in range(len(frames)):
        dis(plain, i)
        dis(trimmed, i)
        if i % 40 == 39:
            forget_frames(trimmed, i - 20)
    keep = len(frames) - 60
    forget_frames(trimmed, keep + 1)
    for i in range(keep, len(frames)):
        a, b = dis(plain, i, tree=True)[1], dis(trimmed, i, tree=True)[1]
        assert columns.info(a) == columns.info(b), i + 1
    tcp = trimmed._slots["tcp"]
    assert len(tcp.frame_stream.data) <= len(frames) - keep + 1
    assert tcp.frame_stream[3] == -1      # forgotten frames read as never stored


def test_fresh_state_deep_into_a_capture_allocates_nothing_below():
    from analyzer.tui.live_store import fresh_state
    from dissectors import dissect_frame
    f = next(iter(open_capture(ROOT / "sample_pcaps" / "refused.pcap")))
    state = fresh_state(50_000_001)
    dissect_frame(f.data, number=50_000_001, ts_ns=f.ts_ns, origlen=f.origlen,
                  linktype=f.linktype, state=state, tree=False)
    assert len(state._slots["tcp"].frame_stream.data) < 4


# --- following a growing file ------------------------------------------------------------------

def _grow(src: Path, dst: Path, done: threading.Event, pause: float = 0.002) -> None:
    """Copy src into dst in random pieces (records cut anywhere), as a writer would."""
    data = src.read_bytes()
    rnd = random.Random(7)
    with open(dst, "wb", buffering=0) as out:
        p = 0
        while p < len(data):
            k = rnd.randint(1, 700)
            out.write(data[p:p + k])
            p += k
            time.sleep(pause)
    done.set()


@pytest.mark.parametrize("name", ["demo.pcapng", "bulk_lossy_sender.pcap"])
def test_tail_indexer_follows_a_file_written_in_pieces(tmp_path, name):
    src = ROOT / "sample_pcaps" / name
    dst = tmp_path / name
    dst.write_bytes(b"")
    stopped = threading.Event()
    got: list[np.ndarray] = []
    writer = threading.Thread(target=_grow, args=(src, dst, stopped))
    writer.start()
    tail = TailIndexer(str(dst), lambda off, cap, orig, ts, ifs: got.append(
        np.stack([off, cap.astype(np.int64), orig.astype(np.int64), ts])), stopped)
    tail.run()
    writer.join()
    assert tail.error is None
    ref = FrameIndex(str(src)).build()
    rows = np.concatenate(got, 1)
    assert len(got) > 3                     # it delivered as the file grew
    assert rows[0].tolist() == ref.offsets.tolist()
    assert rows[3].tolist() == ref.ts_ns.tolist()
    assert rows[1].tolist() == ref.caplens.tolist()


# --- the app following a growing file (no privileges) -----------------------------------------

def _udp_frame(i: int) -> bytes:
    payload = b"q%05d" % i
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), i & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    udp = struct.pack("!HHHH", 40000, PORT, 8 + len(payload), 0)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp + payload


def _append(path: Path, first: int, count: int) -> None:
    with open(path, "ab") as fh:
        for i in range(first, first + count):
            data = _udp_frame(i)
            fh.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000,
                                 len(data), len(data)) + data)


def _send_key(app, key: str) -> None:
    from textual import events
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)


async def _until(pilot, cond, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.1)


def test_app_follows_counts_new_and_keeps_the_ring(tmp_path):
    """A file another tool writes, in the live app: rows follow the newest packet; after
    moving up the heading counts the new ones and End follows again; a ring of 50 keeps
    frames numbered as captured; Ctrl-C stops following the file, q quits."""
    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from analyzer.tui.packet_list import PacketList
    path = tmp_path / "growing.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    _append(path, 0, 40)
    store = LiveStore(None, str(path), name=str(path), ring_packets=50)

    async def main() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(100, 30)) as pilot:
            plist = app.query_one(PacketList)
            await _until(pilot, lambda: len(store) == 40)
            await pilot.pause(0.3)
            assert plist.following and plist.cursor == 39
            assert plist.row_at(plist.cursor) == 39
            _send_key(app, "k")
            _send_key(app, "k")
            await pilot.pause(0.3)
            assert not plist.following and plist.cursor == 37
            _append(path, 40, 30)               # 70 frames: the ring keeps 21..70
            await _until(pilot, lambda: store.captured == 70 and store.base == 20)
            await pilot.pause(0.4)
            assert len(store) == 50
            assert store.row(0).number == 21 and store.row(49).number == 70
            assert plist.new_count == 30
            assert "30 new" in plist.render_line(0).text
            assert plist.cursor == 17           # still on frame 38
            assert store.row(plist.row_at(plist.cursor)).number == 38
            _send_key(app, "end")
            await pilot.pause(0.3)
            assert plist.following and plist.new_count == 0 and plist.cursor == 49
            await _until(pilot, lambda: store.passed == 50)
            assert "40000 → 5555" in store.row(49).info
            assert store.cap is not None and len(store.cap.cols) == 50
            _send_key(app, "ctrl+c")
            await _until(pilot, lambda: store.finished.is_set())
            assert not store.capturing
            await pilot.press("q")
    try:
        asyncio.run(main())
    finally:
        store.close()
        store.join()


def test_keys_while_the_window_moves_fast(tmp_path):
    """Keys pressed while frames arrive and leave a small ring every tick: the selection,
    the details and the list follow the frames, nothing points past the window."""
    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from analyzer.tui.packet_list import PacketList
    path = tmp_path / "busy.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    store = LiveStore(None, str(path), name=str(path), ring_packets=60)
    keys = ["k", "j", "pageup", "G", "k", "home", "pagedown", "end", "k", "k", "j", "g"]

    async def main() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(80, 24)) as pilot:
            n = 0
            for i in range(60):
                _append(path, n, 40)
                n += 40
                _send_key(app, keys[i % len(keys)])
                await pilot.pause(0.05)
            await _until(pilot, lambda: store.captured == n and store.base == n - 60)
            await pilot.pause(0.5)
            plist = app.query_one(PacketList)
            assert app.selected is None or app.selected < len(store)
            assert plist.count == 60 and 0 <= plist.cursor < 60
            _send_key(app, "k")
            await pilot.pause(0.5)
            assert store.row(app.selected).number == plist.cursor + store.base + 1
            # A Selected message posted before the window moved names a shifted row: the
            # list's current row is the one taken, and a row past the window shows nothing.
            app.on_packet_list_selected(PacketList.Selected(plist.cursor + 30))
            assert app.selected == plist.row_at(plist.cursor)
            app.selected = len(store) + 5
            app._show_details()
            assert app.selected is None
            await pilot.press("q")
    try:
        asyncio.run(main())
    finally:
        store.close()
        store.join()


def test_painted_lines_stay_out_of_rich_caches(tmp_path):
    """The screen cuts every list line where the scrollbar begins; a line cut inside a
    segment whose text has a character outside rich's single-width set (Info's →, …) goes
    through rich's cache of 16k cut segments, which kept the last 16k lines shown alive
    (16 MB that took the first minutes of a live capture to fill). The list's lines end a
    segment there: hundreds of new lines painted add (almost) nothing to that cache."""
    from rich.segment import Segment

    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from analyzer.tui.packet_list import PacketList
    path = tmp_path / "busy.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    store = LiveStore(None, str(path), name=str(path), ring_packets=200)
    painted: set[str] = set()

    async def main() -> int:
        app = LiveApp(store)
        async with app.run_test(size=(80, 24)) as pilot:
            plist = app.query_one(PacketList)
            await pilot.pause(0.3)
            before = Segment._split_cells.cache_info().currsize
            n = 0
            for i in range(40):
                _append(path, n, 25)
                n += 25
                await _until(pilot, lambda: store.passed == min(n, 200))
                await pilot.pause(0.15)
                painted.update(line.text for line in app.screen._compositor.render_strips()
                               if "→" in line.text)
                if i % 10 == 9:
                    _send_key(app, "k")           # a selected row: its details too
                    await pilot.pause(0.2)
                    _send_key(app, "end")
            assert plist.count >= 200 and plist.scrollable_content_region.width < 80
            grown = Segment._split_cells.cache_info().currsize - before
            await pilot.press("q")
            return grown
    try:
        grown = asyncio.run(main())
    finally:
        store.close()
        store.join()
    assert len(painted) > 150
    assert grown < 20, grown


def test_app_views_work_on_the_window(tmp_path):
    """Findings, conversations, statistics, DNS, TLS, timeline, follow stream and a filter,
    on the window of a live capture whose ring has already let frames go."""
    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from analyzer.tui.packet_list import PacketList
    src = ROOT / "sample_pcaps" / "demo.pcapng"
    dst = tmp_path / "demo.pcapng"
    dst.write_bytes(src.read_bytes())
    store = LiveStore(None, str(dst), name="demo.pcapng", ring_packets=150)

    async def main() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(120, 40)) as pilot:
            store.stop_capture()
            await _until(pilot, lambda: store.finished.is_set() and store.passed == 150
                         and store.cap is not None and store.base > 0)
            plist = app.query_one(PacketList)
            for key in ("e", "c", "s", "D", "T"):
                await pilot.press(key)
                await pilot.pause(0.3)
                assert type(app.screen).__name__ != "Screen", key
                await pilot.press("escape")
                await pilot.pause(0.2)
            tcp_rows = np.flatnonzero(store.cap.cols.ip_proto == 6)
            plist.go_row(int(tcp_rows[-1]))
            await pilot.pause(0.4)
            for key in ("F", "L"):
                await pilot.press(key)
                await pilot.pause(0.4)
                assert type(app.screen).__name__ != "Screen", key
                await pilot.press("escape")
                await pilot.pause(0.2)
            app.apply_filter("tcp")
            await _until(pilot, lambda: app.filter_progress is None and app.filter_text)
            assert plist.count == len(tcp_rows)
            await pilot.press("q")
    try:
        asyncio.run(main())
    finally:
        store.close()
        store.join()


def test_stream_numbers_after_the_in_order_dissection_restarts(tmp_path):
    """A ring too small for the in-order dissection to keep up: it starts again on fresh
    state, yet every frame's tcp.stream / udp.stream in the tree is the engine's (tshark's)."""
    from analyzer.tui.live_store import LiveStore
    src = ROOT / "sample_pcaps" / "http_new_conn_per_request.pcap"
    dst = tmp_path / "churn.pcap"
    dst.write_bytes(src.read_bytes())
    store = LiveStore(None, str(dst), name="churn.pcap", ring_packets=20)
    store.user_active(3600)           # the in-order dissection rests (as while keys come)
    store.start()
    store.stop_capture()
    try:
        # generous deadlines: in a loaded full run the snapshot worker process starts slowly
        end = time.monotonic() + 90
        while time.monotonic() < end and store.base == 0:
            store.refresh()           # the window moves past where it rests
            time.sleep(0.05)
        assert store.base > 0, "the window never moved past the resting dissection"
        store.user_active(0)
        end = time.monotonic() + 90
        while time.monotonic() < end and not (store.finished.is_set() and store.passed ==
                                               len(store) > 0):
            store.refresh()
            time.sleep(0.05)
        store.refresh()
        assert store.restarts >= 1 and store.passed == len(store) == 20
        cols = store.cap.cols
        for row in range(len(store)):
            root, pkt, _ = store.dissect(row)
            for name in ("tcp.stream", "udp.stream"):
                node = root.find(name)
                if node is not None:
                    assert node.value == int(cols.stream[row]), (row, name)
    finally:
        store.close()
        store.join()


@pytest.mark.parametrize("name", ["bulk_lossy_sender.pcap", "resets.pcap", "dns.pcap"])
def test_app_rows_match_read_on_a_growing_file(tmp_path, name):
    """Every row of the live app (a file growing in pieces) reads as `wirelens read` prints
    it: addresses, protocol and Info with the TCP analysis prefixes."""
    from analyzer import columns
    from analyzer.engine.annotate import SequenceAnnotator
    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from dissectors import CaptureState, dissect_frame
    src = ROOT / "sample_pcaps" / name
    state, annotate, want = CaptureState(), SequenceAnnotator(), []
    for n, f in enumerate(open_capture(src), 1):
        root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                  linktype=f.linktype, state=state, tree=False)
        annotate(root, pkt)
        state.prev_displayed_ts_ns = f.ts_ns
        want.append((n, columns.source(pkt), columns.destination(pkt), columns.protocol(pkt),
                     columns.info(pkt)))
    dst = tmp_path / name
    dst.write_bytes(b"")
    done = threading.Event()
    writer = threading.Thread(target=_grow, args=(src, dst, done, 0.0005))
    writer.start()
    store = LiveStore(None, str(dst), name=name)

    async def main() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(100, 30)) as pilot:
            await _until(pilot, done.is_set)
            store.stop_capture()
            await _until(pilot, lambda: store.finished.is_set() and len(store) == len(want)
                         and store.passed == len(want) and store.cap is not None
                         and len(store.cap.cols) == len(want))
            await pilot.pause(0.3)
            got = [(r.number, r.source, r.destination, r.protocol, r.info)
                   for r in (store.row(i) for i in range(len(store)))]
            assert got == want
            await pilot.press("q")
    try:
        asyncio.run(main())
    finally:
        writer.join()
        store.close()
        store.join()


# --- live, in a network namespace (root) -------------------------------------------------------

def _can_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.fixture(scope="module")
def netns():
    if not _can_netns():
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"wlens-tuilive-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _env(term: str = "xterm") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["TERM"] = term
    env.pop("COLORTERM", None)
    return env


def _send(ns: str, port: int, count: int) -> None:
    code = ("import socket\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"for i in range({count}): s.sendto(b'x'*32,('127.0.0.1',{port}))\n")
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                   timeout=60)


def _tcpdump(ns: str, path: Path, bpf: str) -> subprocess.Popen:
    p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", "lo", "-U", "-n",
                          "-w", str(path), bpf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "listening on" in p.stderr.readline():
            return p
    raise AssertionError("tcpdump did not start")


def _frames(path: Path) -> list:
    with open_capture(path) as r:
        frames = list(r)
        assert r.error is None, r.error
    return frames


def _backend(name: str) -> str:
    from analyzer.capture.live import available_backends
    if name not in available_backends():
        pytest.skip(f"{name} not installed")
    return name


class Driver:
    """The app in the namespace, driven by commands (see drive())."""

    def __init__(self, ns: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()),
             "drive", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())
        ready = self.proc.stdout.readline()
        if not ready.startswith("{"):
            self.proc.kill()
            raise AssertionError(f"the driver did not start: {ready} {self.proc.stderr.read()}")

    def __call__(self, *command: str) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()[-3000:]
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self("quit")
            except (AssertionError, BrokenPipeError, ValueError):
                pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.mark.parametrize("backend", ["dumpcap", "tcpdump", "afpacket"])
def test_tui_sees_what_tcpdump_sees_and_the_filter_applies(netns, tmp_path, backend):
    _backend(backend)
    if not shutil.which("tcpdump"):
        pytest.skip("tcpdump is the reference")
    bpf = f"udp port {PORT}"
    out = tmp_path / "live.pcap"
    ref = tmp_path / "ref.pcap"
    d = Driver(netns, "-i", "lo", "-f", bpf, "-w", str(out), "--capture-with", backend)
    try:
        tcpdump = _tcpdump(netns, ref, bpf)
        _send(netns, PORT, 400)
        _send(netns, OTHER_PORT, 150)
        _send(netns, PORT, 100)
        state = d("wait", "500")
        assert state["captured"] == 500
        state = d("stop")
        time.sleep(1.5)
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(20)
        reference = _frames(ref)
        assert len(reference) == 500
        assert state["captured"] == len(reference) and state["count"] == 500
        assert state["last_number"] == 500 and not state["capturing"]
        assert all(f"→ {PORT} Len=32" in info for info in state["infos"]), state["infos"]
        assert [f.data for f in _frames(out)] == [f.data for f in reference]
        assert state["error"] is None
    finally:
        d.close()


def test_tui_count_and_duration_stop_the_capture(netns, tmp_path):
    d = Driver(netns, "-i", "lo", "-f", f"udp port {PORT}", "-c", "7")
    try:
        _send(netns, PORT, 30)
        state = d("finished")
        assert state["captured"] == 7 and not state["capturing"]
    finally:
        d.close()
    start = time.monotonic()
    d = Driver(netns, "-i", "lo", "-f", f"udp port {PORT}", "-a", "duration:2",
               "-w", str(tmp_path / "d.pcapng"))
    try:
        _send(netns, PORT, 20)
        state = d("finished")
        assert not state["capturing"] and state["captured"] == 20
        assert time.monotonic() - start < 20
        assert len(_frames(tmp_path / "d.pcapng")) == 20
    finally:
        d.close()


def test_tui_ring_follow_and_new_packets_live(netns):
    """--ring-packets 50 on a live capture: the window holds the newest 50 frames with
    their capture numbers; moving up stops following and counts what arrives; End follows."""
    d = Driver(netns, "-i", "lo", "-f", f"udp port {PORT}", "--ring-packets", "50")
    try:
        _send(netns, PORT, 120)
        state = d("wait", "120")
        assert state["count"] == 50 and state["first_number"] == 71
        assert state["last_number"] == 120 and state["following"]
        assert state["cursor_number"] == 120
        state = d("press", "k", "k", "k")
        assert not state["following"] and state["cursor_number"] == 117
        _send(netns, PORT, 30)
        state = d("wait", "150")
        assert state["new"] == 30 and "30 new" in state["heading"]
        assert state["first_number"] == 101 and state["cursor_number"] == 117
        state = d("press", "G")
        assert state["following"] and state["new"] == 0 and state["cursor_number"] == 150
    finally:
        d.close()


def _pty_run(argv: list[str], keys: list[tuple[float, bytes]], ns_traffic=None,
             timeout: float = 60, term: str = "xterm") -> tuple[int, str]:
    """Run argv on a real terminal (80x24, TERM=term): wait, send the keys; returns the
    exit status and what was written to the terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                            env=_env(term), start_new_session=True)
    os.close(slave)
    out = bytearray()

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            out.extend(data)
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        for delay, key in keys:
            time.sleep(delay)
            if ns_traffic is not None and key == b"<traffic>":
                ns_traffic()
                continue
            if proc.poll() is None:
                os.write(master, key)
        rc = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(2)
        os.close(master)
    return rc, re.sub(r"\x1b\[[0-9;?<>=$]*[a-zA-Z~]", " ", out.decode("utf-8", "replace"))


@pytest.mark.parametrize("keys,term", [(b"q", "xterm"), (b"\x03q", "xterm"),
                                       (b"q", "screen"), (b"\x03q", "tmux-256color")],
                         ids=["q-xterm", "ctrl-c-then-q-xterm", "q-screen", "ctrl-c-then-q-tmux"])
def test_quitting_in_a_terminal_leaves_every_packet_in_the_file(netns, tmp_path, keys, term):
    if not shutil.which("tcpdump") or not shutil.which("tshark"):
        pytest.skip("tcpdump is the reference, tshark the reader")
    out = tmp_path / "tui.pcapng"
    ref = tmp_path / "ref.pcap"
    bpf = f"udp port {PORT}"
    tcpdump = _tcpdump(netns, ref, bpf)

    def traffic() -> None:
        _send(netns, PORT, 300)
        _send(netns, OTHER_PORT, 50)
    script = [(3.0, b"<traffic>")] + [(0.5 if i else 1.5, bytes([k])) for i, k in
                                      enumerate(keys)]
    rc, screen = _pty_run(["ip", "netns", "exec", netns, sys.executable, "-m", "analyzer.cli",
                           "-i", "lo", "-f", bpf, "-w", str(out)], script, traffic, term=term)
    time.sleep(1.5)
    tcpdump.send_signal(signal.SIGINT)
    tcpdump.wait(20)
    assert rc == 0, screen[-2000:]
    assert "No." in screen and "Capturing on" not in screen      # the TUI, not `read`
    assert "300 pkts" in screen                                  # it saw them live
    assert "300 packets captured" in screen
    counted = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "udp.dstport"],
                             capture_output=True, text=True)
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.split() == [str(PORT)] * 300
    assert [f.data for f in _frames(out)] == [f.data for f in _frames(ref)]


def test_unprivileged_user_gets_the_message_before_the_tui(netns):
    """`wirelens -i lo` on a terminal as `nobody`: the one line with the fixes, exit 2.
    nobody cannot read this Python's own packages, so the system Python runs it with the
    one third-party package the CLI needs (dnspython) copied where nobody can read it."""
    system_python = "/usr/bin/python3"
    if not shutil.which("setpriv") or not os.path.exists(system_python):
        pytest.skip("needs setpriv and a system python3")
    import dns
    libs = tempfile.mkdtemp(prefix="wirelens-nobody-")
    try:
        shutil.copytree(os.path.dirname(dns.__file__), os.path.join(libs, "dns"))
        for base, dirs, files in os.walk(libs):
            os.chmod(base, 0o755)
            for f in files:
                os.chmod(os.path.join(base, f), 0o644)
        rc, screen = _pty_run(
            ["ip", "netns", "exec", netns, "setpriv", "--reuid=65534", "--regid=65534",
             "--clear-groups", "env", f"PYTHONPATH={ROOT}{os.pathsep}{libs}", system_python,
             "-m", "analyzer.cli", "-i", "lo"], [])
    finally:
        shutil.rmtree(libs, ignore_errors=True)
    if "No module named" in screen:
        pytest.skip(f"the system python cannot run wirelens: {screen.strip()[-200:]}")
    lines = [ln.strip() for ln in screen.splitlines() if ln.strip()]
    assert rc == 2, screen
    assert len(lines) == 1, lines
    assert lines[0].startswith("wirelens: no permission to capture on lo")
    for fix in ("wireshark group", "setcap cap_net_raw,cap_net_admin", "sudo"):
        assert fix in lines[0]


def test_redirected_wirelens_i_still_prints(netns):
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m",
                             "analyzer.cli", "-i", "lo", "-f", f"udp port {PORT}", "-c", "3",
                             "--ring-packets", "10"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())
    deadline = time.monotonic() + 20
    while "Capturing on" not in proc.stderr.readline():
        assert time.monotonic() < deadline
    _send(netns, PORT, 5)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(out.splitlines()) == 3 and f"→ {PORT} Len=32" in out


# --- the driver (runs inside the namespace) -----------------------------------------------------

def drive(argv: list[str]) -> int:
    """Start the live app as `wirelens` does, then answer JSON commands on stdin:
    ["wait", N] packets captured, ["press", key...], ["stop"] (Ctrl-C, then everything
    analyzed), ["finished"] (the capture ended by itself), ["state"], ["quit"]."""
    from analyzer.capture import CaptureError
    from analyzer.capture.live import (LiveOptions, open_file_capture, parse_autostop,
                                       stop_after)
    from analyzer.tui.live_app import LiveApp
    from analyzer.tui.live_store import LiveStore
    from analyzer.tui.packet_list import PacketList
    opts = {"-f": "", "-w": None, "-c": None, "-a": None, "--capture-with": None,
            "--ring-packets": "1000000", "-i": "lo"}
    for k in range(0, len(argv), 2):
        opts[argv[k]] = argv[k + 1]
    duration, _ = parse_autostop([opts["-a"]] if opts["-a"] else [])
    spool = None
    path = opts["-w"]
    if path is None:
        spool = tempfile.mkdtemp(prefix="wirelens-test-")
        path = os.path.join(spool, "spool")
    try:
        capture = open_file_capture(LiveOptions(opts["-i"], opts["-f"],
                                                backend=opts["--capture-with"]), path,
                                    int(opts["-c"]) if opts["-c"] else None)
    except CaptureError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 2
    if duration:
        stop_after(duration, capture.stop)
    store = LiveStore(capture, path, name="lo.pcapng", ring_packets=int(opts["--ring-packets"]),
                      bpf=opts["-f"], spool=spool is not None)
    lines: list[str] = []
    got = threading.Event()

    def read() -> None:
        for line in sys.stdin:
            lines.append(line)
            got.set()
    threading.Thread(target=read, daemon=True).start()

    async def main() -> None:
        app = LiveApp(store)
        async with app.run_test(size=(100, 30)) as pilot:
            plist = app.query_one(PacketList)

            def state() -> dict:
                row = plist.row_at(plist.cursor) if plist.count else None
                rows = [store.row(r) for r in range(len(store))][-600:]
                return {"captured": store.captured, "count": len(store), "base": store.base,
                        "first_number": store.base + 1, "last_number": store.base + len(store),
                        "following": plist.following, "new": plist.new_count,
                        "heading": plist.render_line(0).text, "capturing": store.capturing,
                        "cursor_number": store.base + row + 1 if row is not None else None,
                        "infos": [r.info for r in rows], "error": store.error or capture.error}

            async def until(cond, timeout: float = 30.0) -> None:
                end = time.monotonic() + timeout
                while not cond() and time.monotonic() < end:
                    await pilot.pause(0.1)
                await pilot.pause(0.5)          # a tick or two for the screen
            print(json.dumps(state()), flush=True)
            while True:
                while not lines:
                    got.clear()
                    await pilot.pause(0.05)
                cmd = json.loads(lines.pop(0))
                if cmd[0] == "quit":
                    await pilot.press("q")
                    break
                if cmd[0] == "wait":
                    await until(lambda: store.captured >= int(cmd[1]) and
                                len(store) == min(store.captured, store.ring.size))
                elif cmd[0] == "press":
                    for key in cmd[1:]:
                        _send_key(app, key)
                        await pilot.pause(0.1)
                    await pilot.pause(0.4)
                elif cmd[0] == "stop":
                    _send_key(app, "ctrl+c")
                    await until(lambda: store.finished.is_set() and store.passed == len(store),
                                60)
                elif cmd[0] == "finished":
                    await until(lambda: store.finished.is_set() and store.passed == len(store),
                                60)
                print(json.dumps(state()), flush=True)
    try:
        asyncio.run(main())
    finally:
        store.close()
        capture.done.wait(15)
        capture.close()
        store.join()
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        sys.exit(drive(sys.argv[2:]))
