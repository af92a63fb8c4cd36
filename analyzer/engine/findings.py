"""Backend diagnoses ("findings"): what the traffic means for a service, in plain words.

A kind of finding is registered once, like a Wireshark expert item: an ExpertSpec under
`wirelens.*` (so `wirelens.rst.abort` is a field filters and `-e` can name) with a severity,
an explanation of the mechanism, a remedy and the party usually responsible. Analyzers then
produce `Finding` records, one per occurrence (a conversation, a DNS name, a capture), each
with a one-line summary carrying the numbers, the stream and frames it rests on, who is
responsible in this case and how sure we are.

Severity follows Wireshark's scale: error (requests failed), warn (requests were slowed or
are at risk), note (worth knowing, often benign), chat (information). Healthy traffic
produces nothing above note.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dissectors.fields import EXPERTS, ExpertSpec, Severity, expert

SEVERITY_WORDS = {Severity.CHAT: "chat", Severity.NOTE: "note", Severity.WARN: "warn",
                  Severity.ERROR: "error"}
SEVERITY_BY_WORD = {v: k for k, v in SEVERITY_WORDS.items()}
RESPONSIBLE = ("client", "server", "path", "unknown")
MAX_FRAMES = 64   # frames listed per finding (the count is in the metrics)


def kind(abbrev: str, severity: Severity, title: str, *, explain: str, remedy: str,
         responsible: str = "unknown", group: str = "sequence") -> ExpertSpec:
    """Register a kind of finding (`wirelens.<area>.<name>`); its id is a filter field."""
    if not abbrev.startswith("wirelens."):
        raise ValueError(f"finding ids live under wirelens.*: {abbrev!r}")
    if responsible not in RESPONSIBLE:
        raise ValueError(f"responsible must be one of {RESPONSIBLE}")
    return expert(abbrev, group, severity, title, explain=explain, remedy=remedy,
                  responsible=responsible)


def kinds() -> list[ExpertSpec]:
    """Every registered finding kind, by id."""
    return sorted((s for s in EXPERTS.values() if s.abbrev.startswith("wirelens.")),
                  key=lambda s: s.abbrev)


@dataclass
class Finding:
    """One diagnosis. `frames` are frame numbers (1-based, at most MAX_FRAMES, the most
    telling first); `stream` is the tcp.stream / udp.stream (-1 when capture-wide);
    `flow` reads "client -> server" as addresses and ports; `confidence` is 0..1."""

    spec: ExpertSpec
    summary: str
    stream: int = -1
    proto: str = ""
    flow: str = ""
    frames: list[int] = field(default_factory=list)
    responsible: str = ""
    confidence: float = 0.9
    metrics: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None     # overrides the kind's (e.g. a milder case)
    explanation: str = ""                # overrides the kind's with case-specific words
    remedy: str = ""

    def __post_init__(self) -> None:
        self.frames = sorted(set(self.frames))[:MAX_FRAMES]
        if self.responsible and self.responsible not in RESPONSIBLE:
            raise ValueError(f"responsible must be one of {RESPONSIBLE}")

    @property
    def id(self) -> str:
        return self.spec.abbrev

    @property
    def level(self) -> Severity:
        return self.severity if self.severity is not None else self.spec.severity

    @property
    def who(self) -> str:
        return self.responsible or self.spec.responsible

    def to_json(self) -> dict[str, Any]:
        """The object `wirelens report --json` prints (keys are a public contract)."""
        return {"id": self.id, "severity": SEVERITY_WORDS[self.level],
                "summary": self.summary, "explanation": self.explanation or self.spec.explain,
                "remedy": self.remedy or self.spec.remedy, "responsible": self.who,
                "confidence": round(self.confidence, 2),
                "stream": self.stream if self.stream >= 0 else None, "proto": self.proto,
                "flow": self.flow, "frames": list(self.frames), "metrics": dict(self.metrics)}


def at_least(findings: Iterable[Finding], level: Severity) -> list[Finding]:
    """The findings at or above a severity."""
    return [f for f in findings if f.level >= level]


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by stream and first frame: the order a report reads in."""
    return sorted(findings, key=lambda f: (-f.level, f.stream if f.stream >= 0 else 1 << 40,
                                           f.frames[0] if f.frames else 0, f.id))
