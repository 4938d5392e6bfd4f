"""Comparing two revisions of a dockyard project for review (`dockyard report`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.paths import METRICS_FILE
from dockyard.report.collect import flatten, read_file, snapshots
from dockyard.report.compare import DEFAULT_RTOL, Reproduction, check_reproduced, compare
from dockyard.report.render import render
from dockyard.stats import DEFAULT_ALPHA


def reproducibility(
    root: Path, reproduced: dict[str, dict[str, float]], rtol: float = DEFAULT_RTOL
) -> Reproduction:
    """Do the workspace's (just reproduced) metrics match the ones committed at HEAD?"""
    committed: dict[str, Any] = {}
    workspace: dict[str, Any] = {}
    for file, values in reproduced.items():
        text = read_file(root, "HEAD", file)
        committed.update(
            {f"{file}:{k}": v for k, v in flatten(json.loads(text)).items()} if text else {}
        )
        workspace.update({f"{file}:{k}": v for k, v in values.items()})
    committed = {k: v for k, v in committed.items() if v is not None}
    result = check_reproduced(committed, workspace, rtol)
    # one metrics file (eval/metrics.json) is the usual case: name metrics without it
    if set(reproduced) <= {METRICS_FILE}:
        for entry in result.differences + ([result.largest] if result.largest else []):
            entry["metric"] = entry["metric"].split(":", 1)[-1]
    return result


def run_url(environ: Mapping[str, str]) -> str | None:
    """The GitHub Actions run that is building this report (None outside Actions)."""
    server, repo, run = (
        environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repo and run):
        return None
    attempt = environ.get("GITHUB_RUN_ATTEMPT")
    url = f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return f"{url}/attempts/{attempt}" if attempt and attempt != "1" else url


def build_report(
    root: str | Path = ".",
    base: str = "main",
    head: str | None = None,
    *,
    check_reproduced: bool = False,
    run_seconds: float | None = None,
    plots_url: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    rtol: float = DEFAULT_RTOL,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The markdown comment and the same content as data.

    `rtol`: relative difference below which two values count as unchanged, in the
    comparison and in the reproducibility check. `environ` (default: os.environ) supplies
    the GitHub Actions run the comment links to.
    """
    started = time.perf_counter()
    root = Path(root).resolve()
    base_snap, head_snap = snapshots(root, base, head)
    comparison = compare(base_snap, head_snap, alpha, rtol)
    data = comparison.to_dict()
    extras: dict[str, Any] = {
        "run_seconds": run_seconds,
        "plots_url": plots_url,
        "run_url": run_url(os.environ if environ is None else environ),
    }
    if check_reproduced and head is None:
        check = reproducibility(root, head_snap.metrics, rtol)
        extras["reproducibility"] = check
        data["reproducibility"] = {
            "reproduced": check.reproduced,
            "rtol": rtol,
            "compared": check.compared,
            "largest": check.largest,
            "differences": check.differences,
        }
    data["links"] = {"run": extras["run_url"], "plots": plots_url}
    extras["report_seconds"] = time.perf_counter() - started
    data["report_seconds"] = extras["report_seconds"]
    return render(comparison, extras), data
