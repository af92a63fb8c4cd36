"""How fast FrameIndex indexes a capture, and what it keeps per frame.

    python3 benchmarks/bench_index.py [FILE ...]

Without arguments: every capture in ../shared/corpus/pcaps (together) and /tmp/bench/big.pcap
if it exists. For each file it prints frames/s of the index build, the bytes per frame the index
keeps (columns plus sparse extras), and for pcap files the time of the reference "bare Python
walk over the record headers" on the same machine, so numbers from loaded machines compare.
"""
from __future__ import annotations

import mmap
import os
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analyzer.capture import CaptureError, FrameIndex  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pcaps"
BIG = Path("/tmp/bench/big.pcap")


def bare_walk(path: Path) -> float | None:
    """Seconds for the reference loop: unpack each pcap record header and hop to the next."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
                 b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(head)
        if order is None or os.fstat(fh.fileno()).st_size < 24:
            return None
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        unpack = struct.Struct(order + "IIII").unpack_from
        t = time.perf_counter()
        p, end = 24, len(mm)
        while p + 16 <= end:
            _s, _f, cap, _o = unpack(mm, p)
            p += 16 + cap
        dt = time.perf_counter() - t
        mm.close()
        return dt


def index_bytes(idx: FrameIndex) -> int:
    """Bytes the index holds for its frames: the five columns plus the sparse extras."""
    cols = idx._cols
    size = sum(getattr(cols, name).itemsize * len(getattr(cols, name))
               for name in ("offsets", "caplens", "origlens", "ts_ns", "ifaces"))
    return size + 120 * (len(idx._comments) + len(idx._special))


def measure(path: Path) -> tuple[int, float, int, str | None]:
    t = time.perf_counter()
    with FrameIndex(path) as idx:
        idx.build()
        dt = time.perf_counter() - t
        return len(idx), dt, index_bytes(idx), idx.error


def report(label: str, paths: list[Path]) -> None:
    frames = size = 0
    secs = walk = 0.0
    walked = 0
    for path in paths:
        try:
            n, dt, nbytes, _err = measure(path)
        except CaptureError as e:
            print(f"  skip {path.name}: {e}")
            continue
        frames += n
        secs += dt
        size += nbytes
        w = bare_walk(path)
        if w is not None:
            walk += w
            walked += n
    if not frames:
        print(f"{label}: no frames")
        return
    line = (f"{label}: {frames} frames in {secs:.3f} s = {frames / secs:,.0f} frames/s, "
            f"{size / frames:.1f} bytes/frame")
    if walked:
        line += f"; bare header walk {walk:.3f} s ({walked / walk:,.0f} records/s)"
    print(line)


def main(argv: list[str]) -> int:
    if argv:
        for arg in argv:
            report(arg, [Path(arg)])
        return 0
    if CORPUS.is_dir():
        report(f"corpus ({len(list(CORPUS.iterdir()))} files)", sorted(CORPUS.iterdir()))
    if BIG.is_file():
        report(str(BIG), [BIG])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
