"""Wireshark display filters: same syntax, same answers, compiled once.

`compile_filter(text)` returns a DisplayFilter or raises FilterError (message, the text,
a caret line). One compiled filter serves `read -Y` (`match` on each dissected frame, in
order, as tshark's single pass), `report -Y` and the TUI (`select` over a first-pass store:
the columns answer what they can, only the remaining frames are dissected).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .compiler import Ctx, Test, compile_ast
from .errors import FilterCancelled, FilterError
from .parser import parse

ProgressFn = Callable[[int, int], None]
PROGRESS_EVERY = 512   # tree-path rows between progress reports and cancel checks


class FrameStore(Protocol):
    """What select() needs from the first pass (analyzer/engine/firstpass.py provides it)."""

    index: Any          # FrameIndex: ts_ns, origlens, caplens, frame(i), len()
    cols: Any           # SummaryColumns
    tcp_bits: Any       # numpy uint32 per row: tcp_analysis flag bits, 0 where none

    def finding_rows(self, abbrev: str) -> Any: ...
    def dissect(self, i: int) -> tuple[Any, Any]: ...
    # Optional: dissect_rows(rows, stop, skip) -> iterable of (row, tree, packet) in row
    # order, for a store that can dissect a batch of rows cheaper than one by one (the
    # first pass's Capture: only the frames their state depends on); it may end early when
    # stop() is true, and gives tree None where skip(packet without a tree) is true.


class DisplayFilter:
    """A compiled filter. `fields` are the field names it references."""

    def __init__(self, text: str, test: Test) -> None:
        self.text = text
        self._test = test
        self.fields: frozenset[str] = frozenset(test.fields())

    def __repr__(self) -> str:
        return f"DisplayFilter({self.text!r})"

    def match(self, root: Any, pkt: Any, data: bytes | None = None) -> bool:
        """Does one fully dissected frame pass? `data` (the frame's bytes) is needed only
        for protocol-bytes tests such as `frame contains "x"` or `ip[0] == 45`."""
        return self._test.test(Ctx(root, pkt, data, self.fields))

    def select(self, store: FrameStore, progress: ProgressFn | None = None,
               cancel: Any = None) -> Any:
        """A numpy bool per frame row. The columns decide what they can; the other rows are
        dissected (in row order, as a batch through the store's dissect_rows when it has
        one) and tested on their trees. `progress(done, total)` is called
        for the dissected rows; `cancel` (a callable or a threading.Event) stops the work
        with FilterCancelled."""
        import numpy as np

        from . import columns
        env = columns.Env(store)
        sure, never = columns.tri(env, self._test)
        out = np.array(sure, dtype=bool, copy=True)
        todo = np.flatnonzero(~(sure | never))
        total = len(todo)
        findings = _findings_lookup(store, self.fields)
        stop = _cancel_check(cancel)
        batch = getattr(store, "dissect_rows", None)
        frames = batch(todo, stop, self._tree_unneeded()) if batch is not None else \
            ((i, *store.dissect(i)) for i in todo.tolist())
        k = 0
        for i, root, pkt in frames:
            if k % PROGRESS_EVERY == 0:
                if stop():
                    raise FilterCancelled(self.text)
                if progress is not None:
                    progress(k, total)
            k += 1
            if root is None:
                continue            # its packet showed the tree cannot match
            ctx = Ctx(root, pkt, store.index.frame(i), self.fields,
                      findings(i) if findings is not None else None)
            out[i] = self._test.test(ctx)
        if k < total:
            raise FilterCancelled(self.text)   # the store stopped on stop()
        if progress is not None:
            progress(total, total)
        return out

    def _tree_unneeded(self) -> Callable[[Any], bool] | None:
        """For a filter naming only fields that dissectors announce in pkt.hints
        (columns.MARKED) and false on a frame without any of them: a test on a packet
        dissected without a tree, true when its tree cannot match. None otherwise."""
        from .columns import marker
        keys = {marker(name) for name in self.fields}
        if not keys or None in keys or self._test.test(Ctx(None, None, None, self.fields)):
            return None
        hints = tuple(k for k in keys if k is not None)
        return lambda pkt: not any(pkt.hints.get(k) for k in hints)


def _cancel_check(cancel: Any) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


def _findings_lookup(store: FrameStore, fields: frozenset[str]
                     ) -> Callable[[int], Callable[[str], bool]] | None:
    """Per row, a lookup of the `wirelens.*` findings that rest on it (they are not tree
    items: the store knows them)."""
    names = [f for f in fields if f.startswith("wirelens.")]
    if not names:
        return None
    rows = {name: {int(r) for r in store.finding_rows(name)} for name in names}
    return lambda i: (lambda abbrev: i in rows.get(abbrev, ()))


def compile_filter(text: str) -> DisplayFilter:
    """Compile a Wireshark display filter; FilterError says what is wrong and where.
    Every analyzer is imported first, so its generated fields (tcp.analysis.*, the
    wirelens.* findings) are known names."""
    from ..engine.firstpass import register_analyzers
    register_analyzers()
    try:
        return DisplayFilter(text, compile_ast(text, parse(text)))
    except RecursionError:
        raise FilterError("filter nested too deeply", text, 0, len(text)) from None


__all__ = ["DisplayFilter", "FilterCancelled", "FilterError", "FrameStore", "compile_filter"]
