"""The documentation a newcomer reads: short, linked, true to the code."""

from __future__ import annotations

import re

from .helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks/README.md"]


def test_readme_reads_in_five_minutes() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_relative_link_points_at_a_file() -> None:
    broken = []
    for doc in DOCS:
        if not doc.is_file():
            continue
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_readme_code_layout_names_every_module() -> None:
    """The module tree in the README lists every source module (and no retired one)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Code layout") : readme.index("## Development")]
    named = set(re.findall(r"[\w]+\.py|[\w]+/", layout))
    src = ROOT / "src/dockyard"
    missing = []
    for path in sorted(src.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        inside = path.relative_to(src).parts
        if len(inside) == 1 or inside[0] in ("stages", "data", "models"):
            if path.name not in named:
                missing.append(str(path.relative_to(src)))
        elif f"{inside[0]}/" not in named:
            missing.append(f"{inside[0]}/")
    assert not missing, f"README's code layout lacks {sorted(set(missing))}"


def test_no_doc_narrates_history() -> None:
    """Docs say why and how, never when: no "an earlier run gave" diaries."""
    pattern = re.compile(r"an earlier run|in an earlier session|was \d+(\.\d+)? s before", re.I)
    for doc in DOCS:
        if doc.is_file():
            assert not pattern.search(doc.read_text(encoding="utf-8")), doc.name
