"""Parse display-filter tokens into a small syntax tree, with Wireshark's precedence.

From loosest to tightest: `or`, `xor`, `and`, `not`, a comparison (`==`, `in`, `contains`...),
bitwise `&`, `+ -`, `* / %`, unary minus, then atoms (words, strings, characters, function
calls, parenthesised expressions) with optional slices. `xor`/`^^` are Wireshark 4.2's
(tshark 4.0 rejects them); everything else is 4.0's grammar.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import FilterError
from .lexer import Token, tokenize

MAX_DEPTH = 40    # nesting bound: deep input is refused, never a RecursionError


@dataclass
class Ast:
    pos: int
    end: int


@dataclass
class Word(Ast):
    text: str          # a field name or a bare literal (the compiler decides)


@dataclass
class Str(Ast):
    value: str


@dataclass
class Char(Ast):
    value: int


@dataclass
class Slice(Ast):
    base: Ast
    spec: str          # the text between the brackets
    spec_pos: int


@dataclass
class Call(Ast):
    name: str
    args: list[Ast]


@dataclass
class Arith(Ast):
    op: str            # + - * / % &
    a: Ast
    b: Ast


@dataclass
class Neg(Ast):
    a: Ast


@dataclass
class Compare(Ast):
    op: str            # eq ne all_eq any_ne gt lt ge le contains matches
    a: Ast
    b: Ast
    op_pos: int
    op_end: int


@dataclass
class SetItem:
    lo: Ast
    hi: Ast | None = None


@dataclass
class In(Ast):
    a: Ast
    items: list[SetItem] = field(default_factory=list)


@dataclass
class Logic(Ast):
    op: str            # AND OR XOR
    a: Ast
    b: Ast


@dataclass
class Not(Ast):
    a: Ast


@dataclass
class Group(Ast):
    """A parenthesised expression (kept so a test inside parentheses stays a test)."""
    a: Ast


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, msg: str, tok: Token | None = None) -> FilterError:
        t = tok or self.tok
        return FilterError(msg, self.text, t.pos, max(1, t.end - t.pos))

    def unexpected(self) -> FilterError:
        t = self.tok
        if t.kind == "END":
            return FilterError("unexpected end of filter", self.text, len(self.text))
        return self.error(f'"{self.text[t.pos:t.end]}" was unexpected in this context')

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("filter nested too deeply")

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> Ast:
        if self.tok.kind == "END":
            raise FilterError("empty filter", self.text, 0)
        node = self.logic(0)
        if self.tok.kind != "END":
            raise self.unexpected()
        return node

    _LEVELS = ("OR", "XOR", "AND")

    def logic(self, level: int) -> Ast:
        if level == len(self._LEVELS):
            return self.negation()
        kind = self._LEVELS[level]
        node = self.logic(level + 1)
        while self.tok.kind == kind:
            self.next()
            rhs = self.logic(level + 1)
            node = Logic(node.pos, rhs.end, kind, node, rhs)
        return node

    def negation(self) -> Ast:
        if self.tok.kind == "NOT":
            t = self.next()
            self.enter()
            a = self.negation()
            self.depth -= 1
            return Not(t.pos, a.end, a)
        return self.test()

    def test(self) -> Ast:
        a = self.arith(0)
        t = self.tok
        if t.kind == "CMP":
            self.next()
            b = self.arith(0)
            return Compare(a.pos, b.end, t.value, a, b, t.pos, t.end)
        if t.kind == "IN" or (t.kind == "NOT" and self.toks[self.i + 1].kind == "IN"):
            negated = t.kind == "NOT"
            self.next()
            if negated:
                self.next()
            node = self.set_of(a)
            return Not(a.pos, node.end, node) if negated else node
        return a

    def set_of(self, a: Ast) -> In:
        if self.tok.kind != "LB":
            raise self.error("'in' needs a set: {a, b, lo..hi}")
        self.next()
        items: list[SetItem] = []
        while True:
            if self.tok.kind == "RB" and items:
                end = self.next().end
                return In(a.pos, end, a, items)
            lo = self.arith(0)
            hi = None
            if self.tok.kind == "DOTDOT":
                self.next()
                hi = self.arith(0)
            items.append(SetItem(lo, hi))
            if self.tok.kind == "COMMA":
                self.next()
            elif self.tok.kind not in ("RB", "WORD", "STRING", "CHAR", "ARITH", "LP"):
                raise self.unexpected()

    _ARITH_LEVELS = ("&", "+-", "*/%")

    def arith(self, level: int) -> Ast:
        if level == len(self._ARITH_LEVELS):
            return self.unary()
        ops = self._ARITH_LEVELS[level]
        node = self.arith(level + 1)
        while self.tok.kind == "ARITH" and self.tok.value in ops:
            op = self.next().value
            rhs = self.arith(level + 1)
            node = Arith(node.pos, rhs.end, str(op), node, rhs)
        return node

    def unary(self) -> Ast:
        if self.tok.kind == "ARITH" and self.tok.value == "-":
            t = self.next()
            self.enter()
            a = self.unary()
            self.depth -= 1
            return Neg(t.pos, a.end, a)
        return self.postfix(self.atom())

    def postfix(self, node: Ast) -> Ast:
        while self.tok.kind == "SLICE":
            t = self.next()
            node = Slice(node.pos, t.end, node, str(t.value), t.pos + 1)
        return node

    def atom(self) -> Ast:
        t = self.tok
        if t.kind == "WORD":
            self.next()
            if self.tok.kind == "LP":
                return self.call(t)
            return Word(t.pos, t.end, str(t.value))
        if t.kind == "STRING":
            self.next()
            return Str(t.pos, t.end, str(t.value))
        if t.kind == "CHAR":
            self.next()
            return Char(t.pos, t.end, int(t.value))  # type: ignore[arg-type]
        if t.kind == "LP":
            self.next()
            self.enter()
            inner = self.logic(0)
            self.depth -= 1
            if self.tok.kind != "RP":
                raise self.error("missing ')'", t) if self.tok.kind == "END" \
                    else self.unexpected()
            end = self.next().end
            return Group(t.pos, end, inner)
        raise self.unexpected()

    def call(self, name: Token) -> Call:
        self.next()   # (
        args: list[Ast] = []
        self.enter()
        while self.tok.kind != "RP":
            args.append(self.arith(0))
            if self.tok.kind == "COMMA":
                self.next()
            elif self.tok.kind != "RP":
                raise self.unexpected()
        self.depth -= 1
        end = self.next().end
        return Call(name.pos, end, str(name.value), args)


def parse(text: str) -> Ast:
    """The syntax tree of a filter, or FilterError pointing at the first problem."""
    return Parser(text).parse()
