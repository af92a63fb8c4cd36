"""The protocol tree of one frame: layers and fields with their exact byte positions.

A node knows its registered field, its value, where its bytes are (`pos`, `size` in the
data source `src`, 0 = the frame itself, higher = reassembled buffers) and whether it is
generated (computed, shown in [brackets]) or hidden. The hex pane highlights `pos/size`,
`read -V` prints `text()`, and `-T fields` reads `value`.

`NULL_TREE` is a stand-in that accepts every call and records nothing: dissectors run the
same code for the fast summary path, so the summary and the full tree cannot disagree.
"""
from __future__ import annotations

from typing import Any, Iterator

from .fields import (EXPERT_GROUP, EXPERT_MESSAGE, EXPERT_SEVERITY, FT, GROUP_CODES,
                     REGISTRY, SEVERITY_CODES, SEVERITY_NAMES, ExpertSpec, FieldSpec, bitfield_str, display_value)



class Node:
    """One item of the tree (a protocol, a field, a text label or an expert item)."""

    __slots__ = ("spec", "value", "pos", "size", "label", "children", "generated", "hidden",
                 "src", "expert")

    def __init__(self, spec: FieldSpec | None, pos: int, size: int, value: Any = None,
                 label: str | None = None, generated: bool = False, hidden: bool = False,
                 src: int = 0) -> None:
        self.spec = spec
        self.value = value
        self.pos = pos
        self.size = size
        self.label = label
        self.children: list[Node] | None = None
        self.generated = generated
        self.hidden = hidden
        self.src = src
        self.expert: ExpertSpec | None = None

    def __bool__(self) -> bool:
        return True

    # -- building ------------------------------------------------------------------------
    def add(self, spec: FieldSpec, pos: int, size: int, value: Any = None,
            label: str | None = None, *, generated: bool = False, hidden: bool = False) -> "Node":
        """Add a field child and return it (so it can take children of its own)."""
        n = Node(spec, pos, size, value, label, generated, hidden, self.src)
        if self.children is None:
            self.children = [n]
        else:
            self.children.append(n)
        return n

    def add_bits(self, spec: FieldSpec, pos: int, size: int, raw: int, *,
                 generated: bool = False) -> "Node":
        """Add a bitmask field from the raw word: value is masked and shifted, the label
        shows Wireshark's bit picture."""
        value = (raw & spec.bitmask) >> spec.shift
        if spec.ftype == FT.BOOLEAN:
            value = bool(value)
        label = f"{bitfield_str(spec, raw, size * 8)} = {spec.name}: {display_value(spec, value)}"
        return self.add(spec, pos, size, value, label, generated=generated)

    def add_text(self, pos: int, size: int, label: str) -> "Node":
        """A text-only item (subtree heading) with no filterable value."""
        return self.add(None, pos, size, None, label)  # type: ignore[arg-type]

    def add_expert(self, spec: ExpertSpec, pos: int = 0, size: int = 0,
                   message: str | None = None) -> "Node":
        """Attach an expert item; shown as '[Expert Info (Severity/Group): message]'."""
        msg = message or spec.summary
        n = self.add(REGISTRY[spec.abbrev], pos, size, None, msg, generated=True)
        n.expert = spec
        n.add(EXPERT_MESSAGE, pos, size, msg, f"{msg}", generated=True)
        n.add(EXPERT_SEVERITY, pos, size, SEVERITY_CODES[spec.severity],
              f"Severity level: {SEVERITY_NAMES[spec.severity]}", generated=True)
        n.add(EXPERT_GROUP, pos, size, GROUP_CODES.get(spec.group, GROUP_CODES["protocol"]),
              f"Group: {spec.group.capitalize()}", generated=True)
        return n

    def set_size(self, size: int) -> None:
        self.size = size

    def for_source(self, src: int) -> "Node":
        """A view of this node whose new children point into data source `src`.

        Used to dissect a reassembled buffer under an existing layer: the view shares this
        node's children, so what is added through it appears in the tree.
        """
        if self.children is None:
            self.children = []
        v = Node(self.spec, self.pos, self.size, self.value, self.label, self.generated,
                 self.hidden, src)
        v.children = self.children
        return v

    def append_label(self, text: str) -> None:
        self.label = (self.label if self.label is not None else self.text()) + text

    # -- reading -------------------------------------------------------------------------
    def text(self) -> str:
        """The line the details tree shows for this item."""
        if self.label is not None:
            s = self.label
        elif self.spec is None:
            s = ""
        elif self.spec.ftype in (FT.PROTOCOL, FT.NONE):
            s = self.spec.name
        else:
            s = f"{self.spec.name}: {display_value(self.spec, self.value)}"
        if self.expert is not None:
            sev = SEVERITY_NAMES[self.expert.severity]
            return f"[Expert Info ({sev}/{self.expert.group.capitalize()}): {s}]"
        return f"[{s}]" if self.generated else s

    def walk(self) -> Iterator["Node"]:
        """Every node in tree order (depth first, parents before children)."""
        stack = [self]
        while stack:
            n = stack.pop()
            yield n
            if n.children:
                stack.extend(reversed(n.children))

    def find(self, abbrev: str) -> "Node | None":
        for n in self.walk():
            if n.spec is not None and n.spec.abbrev == abbrev:
                return n
        return None

    def values(self) -> dict[str, list[Any]]:
        """abbrev -> values in tree order."""
        out: dict[str, list[Any]] = {}
        for n in self.walk():
            if n.spec is None:
                continue
            out.setdefault(n.spec.abbrev, []).append(n.value if n.spec.ftype != FT.PROTOCOL
                                                     else n.text())
        return out


class _NullTree:
    """Accepts every tree call and keeps nothing: the summary path's tree."""

    __slots__ = ()
    children = None
    label = None

    def __bool__(self) -> bool:
        return False

    def add(self, *a: Any, **k: Any) -> "_NullTree":
        return self

    add_bits = add_text = add_expert = add

    def set_size(self, size: int) -> None:
        pass

    def for_source(self, src: int) -> "_NullTree":
        return self

    def append_label(self, text: str) -> None:
        pass


NULL_TREE: Any = _NullTree()
Tree = Node | _NullTree

__all__ = ["Node", "NULL_TREE", "Tree"]
