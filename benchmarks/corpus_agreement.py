"""Print per-field agreement with tshark over ../shared/corpus (figures for closing notes).

    python3 benchmarks/corpus_agreement.py [FIELD_GLOB ...] [--show N]
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus import L2L4_FIELDS, all_files, compare  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("globs", nargs="*", default=["*"])
    ap.add_argument("--show", type=int, default=3, help="mismatches to print per field")
    ap.add_argument("--files", default="*", help="corpus file glob")
    args = ap.parse_args()
    names = [f for f in L2L4_FIELDS if any(fnmatch.fnmatch(f, g) for g in args.globs)]
    files = [f for f in all_files() if fnmatch.fnmatch(f, args.files)]
    stats = compare(files, names)
    agree = allowed = total = 0
    for name in names:
        st = stats[name]
        agree, allowed, total = agree + st.agree, allowed + st.allowed, total + st.total
        print(f"{name:34s} {st.agree:6d}/{st.total:<6d} {100 * st.ratio:7.3f}%"
              f"{f'  ({st.allowed} allowed)' if st.allowed else ''}")
        for m in st.mismatches[:args.show]:
            print(f"    {m[0]} #{m[1]}: ours={m[2][:90]!r} tshark={m[3][:90]!r}")
    pct = 100 * (agree + allowed) / total if total else 100.0
    print(f"{'ALL':34s} {agree + allowed:6d}/{total:<6d} {pct:7.3f}% over {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
