"""Type-check a filter's syntax tree against the field registry and compile it to callables.

Every value expression compiles to an object whose `values(ctx)` returns the list of values
one frame has for it (a field occurs zero or more times), and every test to an object whose
`test(ctx)` returns a bool. Wireshark 4 semantics on those lists:

- `==`, `>`, `contains`, `matches`, `in`, `~=`/`!==`: true when *some* value satisfies it;
- `!=`: true when every value differs (`not any equal`), `===`: when every value equals;
- any comparison on a field the frame lacks is false; `count()` is always a value.

The same compiled objects are read by `columns.py` to evaluate over the summary columns.
"""
from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from typing import Any

from dissectors.fields import FT, REGISTRY, FieldSpec
from dissectors.tree import Node

from . import literals as L
from . import parser as P
from .errors import FilterError

FAMILY = {FT.UINT8: L.INT, FT.UINT16: L.INT, FT.UINT24: L.INT, FT.UINT32: L.INT,
          FT.UINT64: L.INT, FT.INT32: L.INT, FT.INT64: L.INT, FT.FRAMENUM: L.INT,
          FT.BOOLEAN: L.BOOL, FT.DOUBLE: L.FLOAT, FT.RELATIVE_TIME: L.RELTIME,
          FT.ABSOLUTE_TIME: L.ABSTIME, FT.STRING: L.STR, FT.BYTES: L.BYTES, FT.ETHER: L.ETHER,
          FT.IPv4: L.IPV4, FT.IPv6: L.IPV6, FT.PROTOCOL: L.PROTO, FT.NONE: L.NONE}
_TYPE_NAMES = {L.INT: "an integer", L.BOOL: "a boolean", L.FLOAT: "a floating point number",
               L.RELTIME: "a time offset", L.ABSTIME: "a date and time", L.STR: "a string",
               L.BYTES: "a byte sequence", L.ETHER: "an Ethernet address",
               L.IPV4: "an IPv4 address", L.IPV6: "an IPv6 address", L.PROTO: "a protocol",
               L.NONE: "a label"}


# ---------------------------------------------------------------------------------------
# Per-frame evaluation context
# ---------------------------------------------------------------------------------------
class Ctx:
    """One dissected frame as the compiled filter sees it: the nodes of the fields it names,
    collected in one walk; `findings` answers `wirelens.*` from the store (select())."""

    __slots__ = ("data", "findings", "nodes", "pkt", "root", "wanted")

    def __init__(self, root: Node | None, pkt: Any, data: bytes | None,
                 wanted: frozenset[str], findings: Callable[[str], bool] | None = None) -> None:
        self.root = root
        self.pkt = pkt
        self.data = data
        self.wanted = wanted
        self.nodes: dict[str, list[Node]] | None = None
        self.findings = findings

    def get(self, abbrev: str) -> list[Node]:
        if self.nodes is None:
            nodes: dict[str, list[Node]] = {}
            wanted = self.wanted
            if self.root is not None:
                for n in self.root.walk():
                    spec = n.spec
                    if spec is not None and spec.abbrev in wanted:
                        nodes.setdefault(spec.abbrev, []).append(n)
            self.nodes = nodes
        return self.nodes.get(abbrev, [])

    def layer_bytes(self, n: Node) -> bytes:
        """The bytes a protocol item covers (from the frame or a reassembled source)."""
        if n.src == 0:
            src = self.data
        else:
            sources = getattr(self.pkt, "sources", None) or []
            src = sources[n.src - 1][1] if n.src - 1 < len(sources) else None
        if src is None:
            return b""
        return bytes(src[n.pos:n.pos + n.size])


def _node_value(family: str, n: Node, ctx: Ctx) -> Any:
    v = n.value
    if family in (L.INT, L.FLOAT):
        return v if v is not None else 0
    if family == L.BOOL:
        return 1 if v else 0
    if family == L.RELTIME:
        return v if isinstance(v, int) else round(float(v or 0) * 1e9)
    if family == L.ABSTIME:
        if isinstance(v, tuple):
            return v[0] * 1_000_000_000 + v[1]
        return round(float(v or 0) * 1e9)
    if family == L.STR:
        return str(v) if v is not None else ""
    if family == L.PROTO:
        return ctx.layer_bytes(n)
    if family == L.IPV4 and isinstance(v, int):
        return v.to_bytes(4, "big")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    return v


# ---------------------------------------------------------------------------------------
# Value expressions
# ---------------------------------------------------------------------------------------
class Value:
    family: str = L.NONE
    spec: FieldSpec | None = None

    def values(self, ctx: Ctx) -> list[Any]:
        raise NotImplementedError

    def requires(self) -> set[str]:
        """Fields that must be present for this expression to have any value."""
        return set()

    def fields(self) -> set[str]:
        return self.requires()


class FieldRef(Value):
    """A registered field; `source` is the tree field it is read from when that differs
    (a pseudo-field such as `_ws.expert`)."""

    def __init__(self, spec: FieldSpec, source: str | None = None) -> None:
        self.spec = spec
        self.abbrev = source or spec.abbrev
        self.family = FAMILY[spec.ftype]

    def values(self, ctx: Ctx) -> list[Any]:
        nodes = ctx.get(self.abbrev)
        fam = self.family
        out = [_node_value(fam, n, ctx) for n in nodes]
        if not out and ctx.findings is not None and ctx.findings(self.abbrev):
            out = [None]
        return out

    def requires(self) -> set[str]:
        return {self.abbrev}


class Const(Value):
    def __init__(self, value: Any, family: str) -> None:
        self.value = value
        self.family = family

    def values(self, ctx: Ctx) -> list[Any]:
        return [self.value]


class SliceOf(Value):
    """`f[i:n]`, `f[i-j]`, `f[i]`, `f[:n]`, `f[i:]`, comma-joined: bytes; a value too short
    for a range has no slice (Wireshark drops it)."""

    family = L.BYTES

    def __init__(self, base: Value, ranges: list[tuple[int, int | None]]) -> None:
        self.base = base
        self.ranges = ranges   # (start, length or None = to the end)

    def values(self, ctx: Ctx) -> list[Any]:
        out = []
        for v in self.base.values(ctx):
            b = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v
            s = self.cut(b)
            if s is not None:
                out.append(s)
        return out

    def cut(self, b: bytes) -> bytes | None:
        parts = []
        n = len(b)
        for start, length in self.ranges:
            lo = start + n if start < 0 else start
            hi = n if length is None else lo + length
            if lo < 0 or hi > n or lo > hi:
                return None
            parts.append(b[lo:hi])
        return b"".join(parts)

    def requires(self) -> set[str]:
        return self.base.requires()


class Func(Value):
    def __init__(self, name: str, arg: Value, fn: Callable[[list[Any]], list[Any]],
                 family: str) -> None:
        self.name = name
        self.arg = arg
        self.fn = fn
        self.family = family

    def values(self, ctx: Ctx) -> list[Any]:
        return self.fn(self.arg.values(ctx))

    def requires(self) -> set[str]:
        return set() if self.name == "count" else self.arg.requires()

    def fields(self) -> set[str]:
        return self.arg.fields()


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "&": operator.and_,
          "/": lambda a, b: (a // b if (a >= 0) == (b >= 0) else -(-a // b)) if b else None,
          "%": lambda a, b: (a - b * int(a / b)) if b else None}


class ArithOf(Value):
    """Integer arithmetic over every pair of operand values (C semantics for / and %)."""

    family = L.INT

    def __init__(self, op: str, a: Value, b: Value) -> None:
        self.op = op
        self.a = a
        self.b = b
        self.fn = _ARITH[op]

    def values(self, ctx: Ctx) -> list[Any]:
        fn = self.fn
        out = []
        bs = self.b.values(ctx)
        for x in self.a.values(ctx):
            for y in bs:
                r = fn(x, y)
                if r is not None:
                    out.append(r)
        return out

    def requires(self) -> set[str]:
        return self.a.requires() | self.b.requires()

    def fields(self) -> set[str]:
        return self.a.fields() | self.b.fields()


class NegOf(Value):
    family = L.INT

    def __init__(self, a: Value) -> None:
        self.a = a
        self.family = a.family

    def values(self, ctx: Ctx) -> list[Any]:
        return [-v for v in self.a.values(ctx)]

    def requires(self) -> set[str]:
        return self.a.requires()

    def fields(self) -> set[str]:
        return self.a.fields()


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------
class Test:
    def test(self, ctx: Ctx) -> bool:
        raise NotImplementedError

    def fields(self) -> set[str]:
        return set()


class Presence(Test):
    def __init__(self, v: Value) -> None:
        self.v = v

    def test(self, ctx: Ctx) -> bool:
        return bool(self.v.values(ctx))

    def fields(self) -> set[str]:
        return self.v.fields()


class NonZero(Test):
    """A bare arithmetic expression (`tcp.flags & 0x02`): some value is not zero."""

    def __init__(self, v: Value) -> None:
        self.v = v

    def test(self, ctx: Ctx) -> bool:
        return any(self.v.values(ctx))

    def fields(self) -> set[str]:
        return self.v.fields()


def _eq(a: Any, b: Any) -> bool:
    if isinstance(b, L.Net):
        return b.contains(a)
    if isinstance(a, L.Net):
        return a.contains(b)
    return a == b


def _key(x: Any) -> Any:
    return x.addr if isinstance(x, L.Net) else x


ORDER = {"gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le}


class Comparison(Test):
    def __init__(self, op: str, a: Value, b: Value) -> None:
        self.op = op
        self.a = a
        self.b = b

    def test(self, ctx: Ctx) -> bool:
        xs = self.a.values(ctx)
        if not xs:
            return False
        ys = self.b.values(ctx)
        if not ys:
            return False
        op = self.op
        if op == "eq":
            return any(_eq(x, y) for x in xs for y in ys)
        if op == "ne":
            return not any(_eq(x, y) for x in xs for y in ys)
        if op == "all_eq":
            return all(_eq(x, y) for x in xs for y in ys)
        if op == "any_ne":
            return any(not _eq(x, y) for x in xs for y in ys)
        f = ORDER[op]
        return any(f(_key(x), _key(y)) for x in xs for y in ys)

    def fields(self) -> set[str]:
        return self.a.fields() | self.b.fields()


class Contains(Test):
    def __init__(self, a: Value, needle: Any) -> None:
        self.a = a
        self.needle = needle

    def test(self, ctx: Ctx) -> bool:
        nd = self.needle
        for x in self.a.values(ctx):
            if isinstance(x, str) and isinstance(nd, bytes):
                x = x.encode("utf-8", "surrogateescape")
            if nd in x:
                return True
        return False

    def fields(self) -> set[str]:
        return self.a.fields()


class Matches(Test):
    def __init__(self, a: Value, regex: re.Pattern[str]) -> None:
        self.a = a
        self.regex = regex

    def test(self, ctx: Ctx) -> bool:
        search = self.regex.search
        for x in self.a.values(ctx):
            s = x.decode("latin-1") if isinstance(x, bytes) else x
            if search(s) is not None:
                return True
        return False

    def fields(self) -> set[str]:
        return self.a.fields()


IS_FIELD = object()   # marks a set member that is a field (its values are members)


class InSet(Test):
    def __init__(self, a: Value, items: list[tuple[Any, Any]]) -> None:
        self.a = a
        self.items = items   # (value, None), (lo, hi) or (Value, IS_FIELD)
        self.literal = all(hi is not IS_FIELD for _lo, hi in items)

    def test(self, ctx: Ctx) -> bool:
        items = self.items
        if not self.literal:
            items = [(v, None) for lo, hi in items
                     for v in (lo.values(ctx) if hi is IS_FIELD else [lo])] + \
                [(lo, hi) for lo, hi in items if hi is not None and hi is not IS_FIELD]
        for x in self.a.values(ctx):
            for lo, hi in items:
                if hi is None:
                    if _eq(x, lo):
                        return True
                elif _key(lo) <= x <= _key(hi):
                    return True
        return False

    def fields(self) -> set[str]:
        out = self.a.fields()
        for lo, hi in self.items:
            if hi is IS_FIELD:
                out |= lo.fields()
        return out


class And(Test):
    def __init__(self, a: Test, b: Test) -> None:
        self.a, self.b = a, b

    def test(self, ctx: Ctx) -> bool:
        return self.a.test(ctx) and self.b.test(ctx)

    def fields(self) -> set[str]:
        return self.a.fields() | self.b.fields()


class Or(And):
    def test(self, ctx: Ctx) -> bool:
        return self.a.test(ctx) or self.b.test(ctx)


class Xor(And):
    def test(self, ctx: Ctx) -> bool:
        return self.a.test(ctx) != self.b.test(ctx)


class NotTest(Test):
    def __init__(self, a: Test) -> None:
        self.a = a

    def test(self, ctx: Ctx) -> bool:
        return not self.a.test(ctx)

    def fields(self) -> set[str]:
        return self.a.fields()


# ---------------------------------------------------------------------------------------
# The compiler
# ---------------------------------------------------------------------------------------
def _suggest(name: str) -> str:
    """'unknown field' with the registry's closest name, as `read -e` says it."""
    from ..output import UsageError, check_fields
    try:
        check_fields([name])
    except UsageError as e:
        return str(e)
    return f"unknown field '{name}'"


_STRINGABLE = frozenset({L.INT, L.STR, L.ETHER, L.IPV4, L.IPV6})


def _as_text(v: Any) -> str:
    """string(): integers in decimal, addresses in their usual notation (Wireshark 4.0)."""
    if isinstance(v, bytes):
        if len(v) == 4:
            return ".".join(str(b) for b in v)
        if len(v) == 16:
            return str(ipaddress.IPv6Address(v))
        return v.hex(":")
    return str(v)


class Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def err(self, msg: str, node: P.Ast) -> FilterError:
        return FilterError(msg, self.text, node.pos, max(1, node.end - node.pos))

    # -- tests -------------------------------------------------------------------------------
    def test(self, node: P.Ast) -> Test:
        if isinstance(node, P.Group):
            return self.test(node.a)
        if isinstance(node, P.Logic):
            cls = {"AND": And, "OR": Or, "XOR": Xor}[node.op]
            return cls(self.test(node.a), self.test(node.b))
        if isinstance(node, P.Not):
            return NotTest(self.test(node.a))
        if isinstance(node, P.Compare):
            return self.compare(node)
        if isinstance(node, P.In):
            return self.in_set(node)
        if isinstance(node, P.Word):
            return Presence(self.field(node))
        if isinstance(node, (P.Slice, P.Call)):
            return Presence(self.value(node))
        if isinstance(node, (P.Arith, P.Neg)):
            v = self.value(node)
            return NonZero(v)
        raise self.err(f'"{self.text[node.pos:node.end]}" is not a test: it needs a field '
                       'or a comparison', node)

    def field(self, node: P.Word) -> FieldRef:
        pseudo = PSEUDO_FIELDS.get(node.text)
        if pseudo is not None:
            return FieldRef(pseudo[0], pseudo[1])
        spec = REGISTRY.get(node.text)
        if spec is None:
            raise self.err(_suggest(node.text), node)
        return FieldRef(spec)

    def is_literal(self, node: P.Ast) -> bool:
        if isinstance(node, P.Group):
            return self.is_literal(node.a)
        if isinstance(node, P.Word):
            return node.text not in REGISTRY and node.text not in PSEUDO_FIELDS
        if isinstance(node, P.Neg):
            return self.is_literal(node.a)
        return isinstance(node, (P.Str, P.Char))

    def compare(self, node: P.Compare) -> Test:
        a, b, op = node.a, node.b, node.op
        if self.is_literal(a) and not self.is_literal(b):
            a, b = b, a
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        if self.is_literal(a):
            bad = a if isinstance(a, P.Word) else b
            if isinstance(bad, P.Word):
                raise self.err(_suggest(bad.text), bad)
            raise self.err("a comparison needs a field on one side", node)
        left = self.value(a)
        if left.family == L.NONE:
            raise self.err(f"{self.text[a.pos:a.end]} is a label without a value: test it "
                           "alone, without a comparison", a)
        if op == "contains":
            return Contains(left, self.contains_arg(left, b))
        if op == "matches":
            if left.family not in (L.STR, L.BYTES, L.PROTO):
                raise FilterError(f"{self.text[a.pos:a.end]} ({_TYPE_NAMES[left.family]}) "
                                  "cannot participate in matches comparison", self.text,
                                  node.op_pos, node.op_end - node.op_pos)
            return Matches(left, self.regex(b))
        if self.is_literal(b):
            right: Value = Const(self.literal(b, left), left.family)
        else:
            right = self.value(b)
            if not _compatible(left.family, right.family):
                raise self.err(f"{self.text[a.pos:a.end]} and {self.text[b.pos:b.end]} are "
                               "not of compatible types", b)
        if op in ORDER and left.family == L.PROTO:
            raise self.err("protocols cannot be ordered", node)
        return Comparison(op, left, right)

    def in_set(self, node: P.In) -> Test:
        left = self.value(node.a)
        if left.family in (L.NONE, L.PROTO):
            raise self.err(f"{self.text[node.a.pos:node.a.end]} cannot be tested with 'in'",
                           node.a)
        items: list[tuple[Any, Any]] = []
        for it in node.items:
            if not self.is_literal(it.lo) and it.hi is None:
                member = self.value(it.lo)
                if not _compatible(left.family, member.family):
                    raise self.err(f"{self.text[it.lo.pos:it.lo.end]} is not of a type "
                                   "compatible with the tested value", it.lo)
                items.append((member, IS_FIELD))
                continue
            if not self.is_literal(it.lo) or (it.hi is not None and not self.is_literal(it.hi)):
                bad = it.lo if not self.is_literal(it.lo) else it.hi
                raise self.err("range bounds must be values", bad)  # type: ignore[arg-type]
            lo = self.literal(it.lo, left)
            hi = self.literal(it.hi, left) if it.hi is not None else None
            if hi is not None and left.family not in (L.INT, L.FLOAT, L.RELTIME, L.ABSTIME,
                                                       L.BOOL):
                raise self.err("ranges need numbers or times", it.lo)
            items.append((lo, hi))
        return InSet(left, items)

    def contains_arg(self, left: Value, b: P.Ast) -> Any:
        if left.family not in L.SLICEABLE:
            raise self.err(f"{_TYPE_NAMES[left.family].capitalize()} cannot be tested with "
                           "contains", b)
        if not self.is_literal(b):
            raise self.err("contains needs a value on its right", b)
        fam = L.STR if left.family == L.STR else L.BYTES
        try:
            if isinstance(b, P.Str):
                return b.value if fam == L.STR else b.value.encode("utf-8", "surrogateescape")
            if isinstance(b, P.Char):
                return chr(b.value) if fam == L.STR else bytes([b.value & 0xFF])
            if isinstance(b, P.Word):
                return b.text if fam == L.STR else L.to_bytes(b.text)
        except ValueError as e:
            raise self.err(str(e), b) from None
        raise self.err("contains needs a string or bytes", b)

    def regex(self, b: P.Ast) -> re.Pattern[str]:
        if not isinstance(b, P.Str):
            raise self.err("matches needs a quoted regular expression", b)
        try:
            return re.compile(b.value, re.DOTALL)
        except (re.error, OverflowError, RecursionError) as e:
            raise self.err(f"invalid regular expression: {e}", b) from None

    # -- values ------------------------------------------------------------------------------
    def value(self, node: P.Ast) -> Value:
        if isinstance(node, P.Group):
            return self.value(node.a)
        if isinstance(node, P.Word):
            return self.field(node)
        if isinstance(node, P.Slice):
            base = self.value(node.base)
            if base.family not in L.SLICEABLE:
                raise self.err(f'"{self.text[node.base.pos:node.base.end]}" is '
                               f"{_TYPE_NAMES[base.family]} and cannot be sliced", node.base)
            return SliceOf(base, self.ranges(node))
        if isinstance(node, P.Call):
            return self.call(node)
        if isinstance(node, (P.Arith, P.Neg)):
            return self.arith(node)
        if isinstance(node, (P.Str, P.Char)):
            raise self.err("a value cannot stand alone here: compare it with a field", node)
        raise self.err(f'"{self.text[node.pos:node.end]}" cannot be used as a value', node)

    def arith(self, node: P.Ast) -> Value:
        if isinstance(node, P.Neg):
            if self.is_literal(node.a):
                raise self.err("constant expression: needs a field", node)
            v = self.value(node.a)
            if v.family not in (L.INT, L.FLOAT, L.RELTIME):
                raise self.err("unary minus needs a number", node)
            return NegOf(v)
        assert isinstance(node, P.Arith)
        a_lit, b_lit = self.is_literal(node.a), self.is_literal(node.b)
        if a_lit and b_lit:
            raise self.err("constant expression: needs a field", node)
        if a_lit:
            b = self.value(node.b)
            a: Value = Const(self.literal(node.a, b), L.INT)
        else:
            a = self.value(node.a)
            b = Const(self.literal(node.b, a), L.INT) if b_lit else self.value(node.b)
        for side, v in ((node.a, a), (node.b, b)):
            if v.family not in (L.INT, L.BOOL):
                raise self.err(f"{self.text[side.pos:side.end]} is "
                               f"{_TYPE_NAMES[v.family]}: arithmetic needs integers", side)
        return ArithOf(node.op, a, b)

    def literal(self, node: P.Ast, like: Value) -> Any:
        fam = like.family if like.family != L.BOOL or like.spec is not None else L.INT
        if isinstance(like, (ArithOf, NegOf)):
            fam = L.INT
        name = like.spec.abbrev if like.spec is not None else "the value"
        strings = like.spec.strings if like.spec is not None and isinstance(like, FieldRef) \
            else None
        try:
            if isinstance(node, P.Group):
                return self.literal(node.a, like)
            if isinstance(node, P.Neg):
                v = self.literal(node.a, like)
                if not isinstance(v, (int, float)) or fam not in (L.INT, L.FLOAT, L.RELTIME):
                    raise ValueError("only numbers can be negated")
                return -v
            if isinstance(node, P.Str):
                return L.from_string(fam, node.value, name, strings)
            if isinstance(node, P.Char):
                return L.from_char(fam, node.value, name)
            if isinstance(node, P.Word):
                conv = L.WORD.get(fam)
                if conv is None:
                    raise ValueError(f"{name} cannot be compared with a value")
                return conv(node.text, name, strings)
        except ValueError as e:
            raise self.err(str(e), node) from None
        raise self.err("expected a value", node)

    def ranges(self, node: P.Slice) -> list[tuple[int, int | None]]:
        out: list[tuple[int, int | None]] = []
        spec = node.spec
        if not spec.strip():
            raise FilterError("empty slice", self.text, node.spec_pos - 1, len(spec) + 2)
        pos = node.spec_pos
        for part in spec.split(","):
            r = _range(part)
            if r is None:
                raise FilterError(f'"{part.strip()}" is not a valid slice range (i:n, i-j, '
                                  "i, :n, i:)", self.text, pos, max(1, len(part)))
            out.append(r)
            pos += len(part) + 1
        return out

    def call(self, node: P.Call) -> Value:
        name = node.name
        if name not in _FUNCS:
            raise self.err(f"unknown function {name}() (len, count, lower, upper, string)",
                           node)
        if len(node.args) != 1:
            raise self.err(f"{name}() takes one argument", node)
        arg_node = node.args[0]
        if not isinstance(arg_node, P.Word):
            raise self.err(f"Only fields can be used as parameter for {name}()", arg_node)
        if self.is_literal(arg_node):
            bad = arg_node
            if isinstance(bad, P.Word):
                raise self.err(_suggest(bad.text), bad)
            raise self.err(f"{name}() needs a field", bad)
        arg = self.value(arg_node)
        if name == "len":
            if arg.family not in L.SLICEABLE:
                raise self.err(f"len() needs a byte or string field, not "
                               f"{_TYPE_NAMES[arg.family]}", arg_node)
            return Func(name, arg, lambda vs: [len(v.encode("utf-8", "surrogateescape"))
                                               if isinstance(v, str) else len(v) for v in vs],
                        L.INT)
        if name == "count":
            return Func(name, arg, lambda vs: [len(vs)], L.INT)
        if name in ("lower", "upper"):
            if arg.family != L.STR:
                raise self.err(f"{name}() needs a string field", arg_node)
            fn = str.lower if name == "lower" else str.upper
            return Func(name, arg, lambda vs: [fn(v) for v in vs], L.STR)
        if arg.family not in _STRINGABLE:
            raise self.err(f'String conversion for field "{self.text[arg_node.pos:arg_node.end]}"'
                           " is not supported", arg_node)
        return Func(name, arg, lambda vs: [_as_text(v) for v in vs], L.STR)


# Wireshark names the tree has no item of its own for: (spec, the item to read instead).
# Every expert item carries one `_ws.expert.message`, so it stands for the expert item.
PSEUDO_FIELDS = {"_ws.expert": (FieldSpec("_ws.expert", "Expert Info", FT.PROTOCOL),
                                "_ws.expert.message")}
_FUNCS = ("len", "count", "lower", "upper", "string")
_RANGE = re.compile(r"^\s*(-?\d+)?\s*(?:(:)\s*(\d+)?|(-)\s*(-?\d+))?\s*$")


def _range(part: str) -> tuple[int, int | None] | None:
    """One slice range: `i:n` (start, length), `i-j` (inclusive), `i`, `:n`, `i:`."""
    m = _RANGE.match(part)
    if m is None or (m.group(1) is None and m.group(2) is None):
        return None
    start = int(m.group(1)) if m.group(1) is not None else 0
    if len(part) > 24:
        return None
    if m.group(2):
        return (start, int(m.group(3)) if m.group(3) is not None else None)
    if m.group(4):
        if m.group(1) is None:
            return None
        end = int(m.group(5))
        if (start < 0) != (end < 0) or end < start:
            return None
        return (start, end - start + 1)
    return (start, 1)


def _compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    if a in L.NUMERIC and b in L.NUMERIC:
        return True
    return a in L.BYTES_LIKE and b in L.BYTES_LIKE and L.PROTO not in (a, b) or \
        {a, b} == {L.BYTES, L.PROTO}


def compile_ast(text: str, ast: P.Ast) -> Test:
    return Compiler(text).test(ast)

