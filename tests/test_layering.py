"""The core never imports the UI: dissectors and analyzer.{capture,engine,filter} stay free
of textual and rich (DESIGN.md section 2), and dissectors never import analyzer."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = [ROOT / "dissectors", ROOT / "analyzer" / "capture", ROOT / "analyzer" / "engine",
        ROOT / "analyzer" / "filter"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_does_not_import_ui():
    offenders = []
    for folder in CORE:
        for path in folder.rglob("*.py") if folder.exists() else ():
            bad = imported_modules(path) & {"textual", "rich"}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_dissectors_are_pure():
    offenders = []
    for path in (ROOT / "dissectors").rglob("*.py"):
        bad = imported_modules(path) & {"analyzer", "socket", "subprocess", "textual", "rich"}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []
