"""README and docs name only files that exist (a renamed module must take its mentions along)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("adapters", "bench", "connector", "docs", "emulators", "mappings", "systemd", "tests")
_PATH = re.compile(r"`((?:" + "|".join(TOP) + r")/[^`\s]*)`")
# files a reader makes by following the text, not files of the repository
MADE_BY_THE_READER = {"mappings/leads.csv", "bench/sf-1m.json", "tests/cassettes/*_live_tick.yaml"}


def mentioned_paths(text: str) -> set[str]:
    return {m.group(1).rstrip(".,:") for m in _PATH.finditer(text)}


def test_every_repository_path_named_in_the_docs_exists() -> None:
    missing = []
    for doc in DOCS:
        for path in sorted(mentioned_paths(doc.read_text(encoding="utf-8"))):
            if path in MADE_BY_THE_READER or "<" in path:  # <name>: a template, not a file
                continue
            found = list(ROOT.glob(path)) if "*" in path else [ROOT / path]
            if not found or not all(p.exists() for p in found):
                missing.append(f"{doc.name}: {path}")
    assert missing == []


def test_docs_cite_no_notes_outside_the_repository() -> None:
    """design.md and revox-api.md were notes beside the repository, never in it."""
    cited = [
        f"{doc.name}: {name}"
        for doc in DOCS
        for name in ("design.md", "revox-api.md")
        if name in doc.read_text(encoding="utf-8")
    ]
    assert cited == []


def test_code_cites_no_notes_outside_the_repository() -> None:
    """Docstrings and comments point at docs/ in the repository, not at notes beside it."""
    cited = [
        f"{path.relative_to(ROOT)}: {name}"
        for top in ("adapters", "bench", "connector", "emulators", "tests")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path.name != "test_docs.py"
        for name in ("design.md", "revox-api.md", "docs/emulators.md")
        if name in path.read_text(encoding="utf-8")
    ]
    assert cited == []


def test_every_rejection_reason_is_listed_and_documented() -> None:
    from connector import classify, mapping

    assert classify.DUPLICATE_KEY == mapping.DUPLICATE_KEY
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [r for r in mapping.REASONS if f"`{r}`" not in readme] == []
