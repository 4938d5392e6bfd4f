"""Comparing two revisions of a dockyard project for review (`dockyard report`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dockyard.report.collect import flatten, read_file, snapshots
from dockyard.report.compare import compare
from dockyard.report.render import render
from dockyard.stats import DEFAULT_ALPHA


def reproducibility(root: Path, reproduced: dict[str, dict[str, float]]) -> tuple[str, list]:
    """Do the workspace's (just reproduced) metrics equal the ones committed at HEAD?"""
    differences = []
    for file, values in reproduced.items():
        text = read_file(root, "HEAD", file)
        committed = flatten(json.loads(text)) if text else {}
        for key in sorted(set(values) | set(committed)):
            if values.get(key) != committed.get(key):
                differences.append(
                    {
                        "file": file,
                        "metric": key,
                        "committed": committed.get(key),
                        "reproduced": values.get(key),
                    }
                )
    if not differences:
        return (
            "**Reproducibility:** ✅ the reproduced metrics equal the ones committed on this "
            "branch.",
            differences,
        )
    rows = "\n".join(
        f"| {d['metric']} | {d['committed']} | {d['reproduced']} |" for d in differences
    )
    return (
        "**Reproducibility:** ⚠️ the reproduced metrics differ from the ones committed on this "
        "branch (re-run `dvc repro` and commit, or look for non-determinism):\n\n"
        "| metric | committed | reproduced |\n|---|---|---|\n" + rows
    ), differences


def build_report(
    root: str | Path = ".",
    base: str = "main",
    head: str | None = None,
    *,
    check_reproduced: bool = False,
    run_seconds: float | None = None,
    plots_url: str | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[str, dict[str, Any]]:
    """The markdown comment and the same content as data."""
    started = time.perf_counter()
    root = Path(root).resolve()
    base_snap, head_snap = snapshots(root, base, head)
    comparison = compare(base_snap, head_snap, alpha)
    data = comparison.to_dict()
    extras: dict[str, Any] = {"run_seconds": run_seconds, "plots_url": plots_url}
    if check_reproduced and head is None:
        extras["reproducibility"], data["reproducibility"] = reproducibility(
            root, head_snap.metrics
        )
    extras["report_seconds"] = time.perf_counter() - started
    data["report_seconds"] = extras["report_seconds"]
    return render(comparison, extras), data
