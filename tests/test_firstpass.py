"""The first pass's TCP analysis columns equal what `read` shows frame by frame.

`read` dissects every frame in order and feeds the dissector's segment to TcpAnalyzer; the first
pass feeds the same analyzer from the summary columns (directions, window scaling and SACK
blocks prepared with numpy). Both must give every frame the same flags and numbers, on every
corpus capture and every sample."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyzer.capture import open_capture
from analyzer.engine import tcp_analysis as ta
from analyzer.engine.annotate import SequenceAnnotator
from analyzer.engine.firstpass import first_pass
from dissectors import CaptureState, dissect_frame

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_pcaps").glob("*.pcap*"))


def _sequential(path: Path) -> list[tuple[int, ...]]:
    """Per frame, as `read` computes it: (flags, acks_frame, ack_rtt, bytes_in_flight,
    push_bytes_sent, dupack_num, dupack_frame, rto, rto_frame, initial_rtt)."""
    out = []
    state = CaptureState()
    annotate = SequenceAnnotator()
    an = annotate.analyzer
    with open_capture(str(path)) as reader:
        for n, f in enumerate(reader, 1):
            _root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                       linktype=f.linktype, iface=f.iface, state=state,
                                       tree=False)
            bits = annotate(None, pkt)
            if not (ta.analyzable(pkt) and ta.analysis_shown(pkt)):
                out.append((0,) * 10)
                continue
            out.append((bits, an.acks_frame, an.ack_rtt_ns, an.bytes_in_flight,
                        an.push_bytes_sent, an.dupack_num if bits & ta.DUPLICATE_ACK else 0,
                        an.dupack_frame if bits & ta.DUPLICATE_ACK else 0, an.rto_ns,
                        an.rto_frame, an.initial_rtt_ns))
    return out


def _columns(path: Path) -> list[tuple[int, ...]]:
    """The same from the first pass: flags from its columns, the numbers from replaying
    each connection."""
    cap = first_pass(path)
    t = cap.tcp
    dup = dict(zip(t.dupack_rows.tolist(), zip(t.dupack_num.tolist(), t.dupack_frame.tolist())))
    out = []
    for i in range(len(cap)):
        s = int(cap.cols.stream[i])
        acks = rtt = bif = push = rto = rto_frame = 0
        if t.direction[i] and s >= 0:
            v = cap.tcp_values(s)
            k = v.at(i)
            if k >= 0:
                acks, rtt, bif, push = (int(v.acks_frame[k]), int(v.ack_rtt_ns[k]),
                                        int(v.bytes_in_flight[k]), int(v.push_bytes[k]))
                rto, rto_frame = int(v.rto_ns[k]), int(v.rto_frame[k])
        d = dup.get(i, (0, 0))
        out.append((int(t.bits[i]), acks, rtt, bif, push, *d, rto, rto_frame,
                    cap.initial_rtt(i) if t.direction[i] else 0))
    return out


def _compare(path: Path) -> None:
    want, got = _sequential(path), _columns(path)
    assert len(want) == len(got)
    bad = [(i + 1, w, g) for i, (w, g) in enumerate(zip(want, got)) if w != g]
    assert not bad, f"{path.name}: {len(bad)} frames differ, first {bad[:3]}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_equal_sequential(path: Path) -> None:
    _compare(path)


def test_corpus_equal_sequential(corpus_dir: Path) -> None:
    failures = []
    for path in sorted((corpus_dir / "pcaps").iterdir()):
        try:
            _compare(path)
        except AssertionError as e:
            failures.append(str(e).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_window_scale_and_sack_columns_match_the_dissector(corpus_dir: Path) -> None:
    """The summary's sparse option columns hold what the TCP dissector decoded."""
    from analyzer.capture.index import FrameIndex
    from analyzer.engine.summary import summarize
    checked = 0
    for path in sorted((corpus_dir / "pcaps").iterdir()):
        index = FrameIndex(str(path)).build()
        cols = summarize(index)
        ws = dict(zip(cols.ws_rows.tolist(), cols.ws_shift.tolist()))
        sack: dict[int, list[tuple[int, int]]] = {}
        for r, left, right in zip(cols.sack_rows.tolist(), cols.sack_left.tolist(),
                                  cols.sack_right.tolist()):
            sack.setdefault(r, []).append((left, right))
        state = CaptureState()
        with open_capture(str(path)) as reader:
            for n, f in enumerate(reader, 1):
                _root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns,
                                           origlen=f.origlen, linktype=f.linktype,
                                           iface=f.iface, state=state, tree=False)
                if not ta.analyzable(pkt):
                    continue
                checked += 1
                seg = pkt.tcp
                assert ws.get(n - 1, -1) == seg.ws_shift, (path.name, n)
                assert sack.get(n - 1, []) == list(seg.sack or []), (path.name, n)
    assert checked > 3_000


def test_direction_and_window_scale_columns() -> None:
    cap = first_pass(ROOT / "sample_pcaps" / "zero_window.pcap")
    t = cap.tcp
    tcp = np.flatnonzero(cap.cols.ip_proto == 6)
    assert set(t.direction[tcp].tolist()) == {1, 2}
    # SYN and SYN/ACK show "unknown", everything after the handshake a real shift
    assert t.win_scale[tcp[0]] == -1 and t.win_scale[tcp[1]] == -1
    assert (t.win_scale[tcp[2:]] >= 0).all()
    assert cap.nbytes / len(cap) < 150


@pytest.mark.parametrize("name", ["bulk_lossy_receiver.pcap", "bulk_lossy_sender.pcap",
                                  "demo.pcapng"])
def test_two_processes_give_the_same_columns(name: str) -> None:
    """Big captures split the address/port pairs over a forked process: same results."""
    from analyzer.capture.index import FrameIndex
    from analyzer.engine.firstpass import analyze_tcp
    from analyzer.engine.summary import summarize
    index = FrameIndex(str(ROOT / "sample_pcaps" / name)).build()
    cols = summarize(index)
    one, two = analyze_tcp(index, cols, workers=1), analyze_tcp(index, cols, workers=2)
    for key, value in vars(one).items():
        assert np.array_equal(value, getattr(two, key)), key
    assert np.count_nonzero(one.bits) > 10


def test_dissect_any_frame_like_read() -> None:
    """Capture.dissect gives the tree `read -V` shows, analysis items included, in any order."""
    from analyzer.output import tree_text
    path = ROOT / "sample_pcaps" / "bulk_lossy_receiver.pcap"
    cap = first_pass(path)
    want = {}
    state = CaptureState()
    annotate = SequenceAnnotator()
    with open_capture(str(path)) as reader:
        for n, f in enumerate(reader, 1):
            root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                      linktype=f.linktype, iface=f.iface, state=state)
            annotate(root, pkt)
            state.prev_displayed_ts_ns = f.ts_ns
            want[n - 1] = tree_text(root)
    rtx = np.flatnonzero(cap.tcp.bits & ta.RETRANSMISSION).tolist()
    assert rtx
    for row in [rtx[-1], 3, rtx[0], len(cap) - 1]:
        root, _pkt = cap.dissect(row)
        assert tree_text(root) == want[row]
