"""The explain pane (learning mode): what the selected field or finding means.

For a field: its name, filter name, blurb, value and what it means for a backend; for an
expert item or finding: its explanation, the evidence and the remedy. Packet values go
through safe() and into rich Text, never markup.
"""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from analyzer.engine.findings import SEVERITY_WORDS, Finding
from analyzer.textsafe import safe
from dissectors.fields import FT, display_value
from dissectors.tree import Node

HEAD = Style(bold=True)
LABEL = Style(color="cyan")


def explain_text(node: Node | None, findings: list[Finding]) -> Text:
    """The pane's text for a tree node (and the findings of its frame)."""
    out = Text()
    if node is None:
        out.append("Select a field in the details pane to see what it means.", Style(dim=True))
        return out
    spec = node.spec
    if node.expert is not None:
        e = node.expert
        out.append(safe(e.summary) + "\n", HEAD)
        _line(out, "Filter", e.abbrev)
        _line(out, "Severity", f"{SEVERITY_WORDS.get(e.severity, str(e.severity))} "
                               f"({e.group})")
        found = [f for f in findings if f.id == e.abbrev]
        for f in found:
            _line(out, "Evidence", safe(f.summary))
            if f.flow:
                _line(out, "Flow", safe(f.flow))
            if f.frames:
                _line(out, "Frames", ", ".join(map(str, f.frames[:16])))
            for k, v in f.metrics.items():
                _line(out, k, safe(str(v)))
            _line(out, "Responsible", f"{f.who} (confidence {f.confidence:.0%})")
        explain = next((f.explanation for f in found if f.explanation), "") or e.explain
        remedy = next((f.remedy for f in found if f.remedy), "") or e.remedy
        if explain:
            _line(out, "Why", explain)
        if remedy:
            _line(out, "Do", remedy)
        return out
    if spec is None:
        out.append(safe(node.text()) + "\n", HEAD)
        out.append("A heading that groups the fields below it.", Style(dim=True))
        return out
    out.append(spec.name + "\n", HEAD)
    _line(out, "Filter", spec.abbrev)
    if spec.ftype not in (FT.PROTOCOL, FT.NONE) and node.value is not None:
        _line(out, "Value", safe(display_value(spec, node.value)))
    if node.size:
        _line(out, "Bytes", f"{node.size} at offset {node.pos}"
                            + (f" (data source {node.src})" if node.src else ""))
    if node.generated:
        _line(out, "Generated", "computed by the analyzer, not carried by the packet")
    if spec.blurb:
        _line(out, "About", spec.blurb)
    if spec.explain:
        _line(out, "For a backend", spec.explain)
    elif not spec.blurb:
        out.append("No explanation registered for this field yet.", Style(dim=True))
    return out


def _line(out: Text, label: str, value: str) -> None:
    out.append(f"{label}: ", LABEL)
    out.append(value + "\n")


class ExplainPane(VerticalScroll, can_focus=True):
    """A scrollable explanation of the selected field."""

    def compose(self):
        yield Static(explain_text(None, []), id="explain-text")

    def show(self, node: Node | None, findings: list[Finding]) -> None:
        self.query_one("#explain-text", Static).update(explain_text(node, findings))
        self.scroll_home(animate=False)
