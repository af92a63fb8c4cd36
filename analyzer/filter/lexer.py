"""Tokens of Wireshark's display-filter language, each with its position for error carets.

Bare words are not classified here: `tcp`, `80`, `10.0.0.0/8` and `00:1b:21` are all WORDs,
and the compiler decides from the registry and the other operand whether a word is a field
or a literal, as Wireshark does. A slice (`[0:3]`, `[-2:]`, `[1-3,5]`) is one token: its
inside has a grammar of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import FilterError

# Comparison operators and their canonical names (Wireshark 4's semantics in the compiler).
CMP_SYMBOLS = {"===": "all_eq", "!==": "any_ne", "==": "eq", "!=": "ne", "~=": "any_ne",
               ">=": "ge", "<=": "le", ">": "gt", "<": "lt", "~": "matches"}
CMP_WORDS = {"eq": "eq", "any_eq": "eq", "ne": "ne", "all_ne": "ne", "all_eq": "all_eq",
             "any_ne": "any_ne", "gt": "gt", "lt": "lt", "ge": "ge", "le": "le",
             "contains": "contains", "matches": "matches"}
LOGIC_SYMBOLS = {"&&": "AND", "||": "OR", "^^": "XOR"}
LOGIC_WORDS = {"and": "AND", "or": "OR", "xor": "XOR", "not": "NOT", "in": "IN"}
ARITH_SYMBOLS = "+-*/%&"
ARITH_WORDS = {"bitwise_and": "&"}

_WORD_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:")
_WORD_CHARS = _WORD_START | set("-/")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
MAX_FILTER = 64 * 1024   # longer text is refused before lexing: bounded work on any input


@dataclass(frozen=True)
class Token:
    kind: str     # WORD STRING CHAR SLICE CMP AND OR XOR NOT IN ARITH LP RP LB RB COMMA DOTDOT END
    value: object
    pos: int
    end: int


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with END; FilterError on a character no token starts with."""
    if len(text) > MAX_FILTER:
        raise FilterError(f"filter longer than {MAX_FILTER} characters", text, MAX_FILTER)
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        three, two = text[i:i + 3], text[i:i + 2]
        if three in CMP_SYMBOLS:
            out.append(Token("CMP", CMP_SYMBOLS[three], i, i + 3))
            i += 3
        elif two in CMP_SYMBOLS:
            out.append(Token("CMP", CMP_SYMBOLS[two], i, i + 2))
            i += 2
        elif two in LOGIC_SYMBOLS:
            out.append(Token(LOGIC_SYMBOLS[two], two, i, i + 2))
            i += 2
        elif c in "<>~":
            out.append(Token("CMP", CMP_SYMBOLS[c], i, i + 1))
            i += 1
        elif c == "!":
            out.append(Token("NOT", c, i, i + 1))
            i += 1
        elif c in ARITH_SYMBOLS:
            out.append(Token("ARITH", c, i, i + 1))
            i += 1
        elif c in "(){},":
            out.append(Token({"(": "LP", ")": "RP", "{": "LB", "}": "RB", ",": "COMMA"}[c],
                             c, i, i + 1))
            i += 1
        elif c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise FilterError("missing ']' after a slice", text, i, n - i)
            out.append(Token("SLICE", text[i + 1:j], i, j + 1))
            i = j + 1
        elif c == '"' or (c in "rR" and text[i + 1:i + 2] == '"'):
            i = _string(text, i, out)
        elif c == "'":
            i = _char(text, i, out)
        elif c in _WORD_START:
            j = i + 1
            while j < n and text[j] in _WORD_CHARS:
                j += 1
            _word(text[i:j], i, out)
            i = j
        else:
            raise FilterError(f"unexpected character {c!r}", text, i)
    out.append(Token("END", None, n, n))
    return out


def _word(w: str, pos: int, out: list[Token]) -> None:
    """A bare word, a keyword, or a range `lo..hi` (split at its `..`)."""
    if ".." in w:
        k = w.index("..")
        if k:
            _word(w[:k], pos, out)
        out.append(Token("DOTDOT", "..", pos + k, pos + k + 2))
        if w[k + 2:]:
            _word(w[k + 2:], pos + k + 2, out)
        return
    low = w.lower()
    if low in CMP_WORDS:
        out.append(Token("CMP", CMP_WORDS[low], pos, pos + len(w)))
    elif low in LOGIC_WORDS:
        out.append(Token(LOGIC_WORDS[low], low, pos, pos + len(w)))
    elif low in ARITH_WORDS:
        out.append(Token("ARITH", ARITH_WORDS[low], pos, pos + len(w)))
    else:
        out.append(Token("WORD", w, pos, pos + len(w)))


def _string(text: str, i: int, out: list[Token]) -> int:
    """A double-quoted string with C escapes, or a raw string r"..." (no escapes)."""
    start = i
    raw = text[i] in "rR"
    i += 2 if raw else 1
    buf: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            out.append(Token("STRING", "".join(buf), start, i + 1))
            return i + 1
        if c == "\\" and i + 1 < n:
            if raw:
                buf.append(text[i:i + 2])
                i += 2
                continue
            ch, i = _escape(text, i)
            buf.append(ch)
            continue
        buf.append(c)
        i += 1
    raise FilterError("unterminated string", text, start, n - start)


def _escape(text: str, i: int) -> tuple[str, int]:
    """One backslash escape at text[i]: (the character, the index after it)."""
    e = text[i + 1]
    if e == "x":
        digits = ""
        j = i + 2
        while j < len(text) and len(digits) < 2 and text[j] in "0123456789abcdefABCDEF":
            digits += text[j]
            j += 1
        if not digits:
            raise FilterError("\\x needs hex digits", text, i, 2)
        return chr(int(digits, 16)), j
    if e in "01234567":
        j = i + 1
        digits = ""
        while j < len(text) and len(digits) < 3 and text[j] in "01234567":
            digits += text[j]
            j += 1
        return chr(int(digits, 8) & 0xFF), j
    if e in _ESCAPES:
        return _ESCAPES[e], i + 2
    raise FilterError(f"unknown escape \\{e}", text, i, 2)


def _char(text: str, i: int, out: list[Token]) -> int:
    """A character constant 'c' or '\\n' or '\\x41': an integer (or a one-byte string)."""
    start = i
    if i + 1 >= len(text):
        raise FilterError("unterminated character constant", text, start)
    if text[i + 1] == "\\" and i + 2 < len(text):
        ch, j = _escape(text, i + 1)
    else:
        ch, j = text[i + 1], i + 2
    if j >= len(text) or text[j] != "'":
        raise FilterError("character constant needs one character and a closing '", text,
                          start, max(1, j - start))
    out.append(Token("CHAR", ord(ch), start, j + 1))
    return j + 1
