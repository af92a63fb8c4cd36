"""Display-filter language: errors with carets, property tests, the select() driver.

The frame-by-frame answers are checked against tshark in test_filter_differential.py; here:
any string compiles or fails cleanly, error messages point at the right place, the column
pre-filters dissect only the rows a field can occur on, progress and cancel work, and
`wirelens.*` findings are filterable.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.engine.findings import kind
from analyzer.filter import FilterCancelled, FilterError, compile_filter
from analyzer.filter.refstore import ReferenceStore
from dissectors.fields import EXPERTS, Severity

DATA = Path(__file__).resolve().parent / "data"
CAPTURE = DATA / "filter_corpus.pcapng"

PROBE = "wirelens.test.filter_probe"
if PROBE not in EXPERTS:
    kind(PROBE, Severity.NOTE, "Filter test probe", explain="Registered by the filter tests.",
         remedy="None: a test fixture.")


@pytest.fixture(scope="module")
def store():
    s = ReferenceStore(str(CAPTURE), findings={PROBE: [0, 4, 9999]})
    yield s
    s.close()


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message, caret", [
    ("tcp.prot == 80", "unknown field 'tcp.prot' (did you mean 'tcp.port'?)", "^~~~~~~~"),
    ("ip.addr == 10.0.2", '"10.0.2" is not a valid hostname or IPv4 address',
     "           ^~~~~~"),
    ("tcp.port == 80)", '")" was unexpected in this context', "              ^"),
    ("tcp.port ==", "unexpected end of filter", "           ^"),
    ("tcp.len matches \"7\"", "tcp.len (an integer) cannot participate in matches comparison",
     "        ^~~~~~~"),
    ("tcp.port[0] == 1", '"tcp.port" is an integer and cannot be sliced', "^~~~~~~~"),
    ('tcp.payload == "x', "unterminated string", "               ^~"),
    ("ip.proto == tcp", "ip.proto and tcp are not of compatible types", "            ^~~"),
    ("tcp.analysis.flags == 1", "tcp.analysis.flags is a label without a value",
     "^~~~~~~~~~~~~~~~~~"),
])
def test_error_message_and_caret(text, message, caret):
    with pytest.raises(FilterError) as ei:
        compile_filter(text)
    e = ei.value
    assert e.message.startswith(message)
    lines = str(e).split("\n")
    assert lines == [e.message, text, caret]


def test_error_text_as_the_cli_prints_it():
    """`wirelens: <message>` then the filter then the caret: the caret sits under the
    problem in the filter line."""
    with pytest.raises(FilterError) as ei:
        compile_filter("tcp and ip.dts == 1.2.3.4")
    msg, text, caret = str(ei.value).split("\n")
    assert "did you mean 'ip.dst'" in msg
    assert text[caret.index("^"):caret.index("^") + len(caret.strip())] == "ip.dts"


# -- property tests -------------------------------------------------------------------------
VOCAB = ["tcp", "udp", "ip.addr", "tcp.port", "eth.src", "tcp.payload", "frame", "ip.src",
         "tcp.flags", "tcp.flags.syn", "ipv6.addr", "frame.time", "frame.time_relative",
         "len", "count", "lower", "upper", "string", "(", ")", "{", "}", "[", "]", ",", "..",
         ":", "-", "==", "!=", "===", "!==", "~=", ">", "<=", "&", "+", "*", "/", "%", "&&",
         "||", "!", "^^", "and", "or", "not", "xor", "in", "contains", "matches", "80",
         "0x50", "010", "1.5", "10.0.0.0/8", "fe80::/10", "00:1b:21", "aa-bb", "aabbcc",
         '"GET "', '"(?i)get"', "'G'", '"2020-01-01 00:00:00"', "True", "TCP", "[0:3]",
         "[-2:]", "[1-3]", "[:4]", "[0]", "\\", '"', "'", "0:", "-1", "1..1024"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(VOCAB), max_size=12).map(" ".join))
def test_token_soup_compiles_or_fails_cleanly(text):
    try:
        flt = compile_filter(text)
    except FilterError as e:
        assert 0 <= e.pos <= len(text)
        assert str(e).split("\n")[1] == text
        return
    assert isinstance(flt.fields, frozenset)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_string_compiles_or_fails_cleanly(text):
    try:
        compile_filter(text)
    except FilterError as e:
        assert "\n" in str(e)


def test_deep_nesting_is_refused_not_a_crash():
    for text in ("(" * 5000 + "tcp" + ")" * 5000, "!" * 5000 + "tcp", "-" * 5000 + "tcp.port"):
        with pytest.raises(FilterError):
            compile_filter(text)


def test_compiled_filter_lists_its_fields():
    flt = compile_filter('tcp.port == 80 and len(tcp.payload) > 3 or count(ip.addr) == 2')
    assert flt.fields == {"tcp.port", "tcp.payload", "ip.addr"}


# -- select() --------------------------------------------------------------------------------
def _rows(mask: np.ndarray) -> set[int]:
    return set(np.flatnonzero(mask).tolist())


def test_summary_filter_dissects_only_rows_the_columns_cannot_answer(store):
    from analyzer.filter.columns import NONAUTH
    before = store.dissected
    sel = compile_filter("tcp.port == 80 and not tcp.analysis.flags").select(store)
    nonauth = int(np.count_nonzero(store.cols.flags & NONAUTH))
    assert store.dissected - before <= nonauth < len(store) // 4
    assert sel.sum() > 0


@pytest.mark.parametrize("expr, allowed", [
    ("icmp.ident > 0", "icmp"),
    ("ip.opt.type == 68", None),
    ("tcp.options.mss_val == 1460", "tcp.options"),
])
def test_prefilter_dissects_only_where_the_field_can_be(store, expr, allowed):
    """A dissection-only field: rows where its protocol cannot occur are never dissected."""
    from analyzer.filter import columns as C
    env = C.Env(store)
    can = env.zeros() if allowed is None else C.POSSIBLE[allowed](env)
    expected = int(np.count_nonzero(can & env.auth) + np.count_nonzero(~env.auth))
    before = store.dissected
    compile_filter(expr).select(store)
    assert store.dissected - before == expected < len(store)


def test_store_may_narrow_the_prefilter(store):
    """A store's possible_rows(prefix) is asked before the table: only its rows (and the
    rows the columns cannot vouch for) are dissected, and the answer does not change."""
    from analyzer.filter import columns as C
    env = C.Env(store)
    icmp_rows = np.flatnonzero(C.POSSIBLE["icmp"](env) & env.auth)
    keep = np.zeros(len(store), bool)
    keep[icmp_rows[::2]] = True
    flt = compile_filter("icmp.ident >= 0")
    want = flt.select(store)
    store.possible_rows = lambda prefix: keep | (want & env.auth) if prefix == "icmp" else None
    try:
        before = store.dissected
        got = flt.select(store)
        assert store.dissected - before == np.count_nonzero((keep | want) & env.auth) + \
            np.count_nonzero(~env.auth)
    finally:
        del store.possible_rows
    assert (got == want).all()


def test_progress_and_cancel(store):
    seen: list[tuple[int, int]] = []
    compile_filter("frame contains \"GET\"").select(store, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1] == len(store)
    stop = threading.Event()
    stop.set()
    with pytest.raises(FilterCancelled):
        compile_filter("frame contains \"GET\"").select(store, cancel=stop)
    with pytest.raises(FilterCancelled):
        compile_filter("frame contains \"GET\"").select(store, cancel=lambda: True)


def test_findings_are_filterable(store):
    """`wirelens.*` findings come from the store, on the column path and the tree path."""
    assert _rows(compile_filter(PROBE).select(store)) == {0, 4}
    assert _rows(compile_filter(f"{PROBE} && !{PROBE}").select(store)) == set()
    both = compile_filter(f'{PROBE} and frame contains "GET"').select(store)
    get = compile_filter('frame contains "GET"').select(store)
    assert _rows(both) == {0, 4} & _rows(get)


def test_match_without_frame_bytes_is_false_not_an_error(store):
    root, pkt = store.dissect(0)
    assert compile_filter("frame").match(root, pkt)
    assert not compile_filter('frame contains "x"').match(root, pkt)
    assert compile_filter("frame[0:1]").match(root, pkt, store.index.frame(0)) is True
