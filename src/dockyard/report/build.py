"""Building the review of two revisions (`dockyard report`): read both sides, check the
head was reproduced, compare, render."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.paths import METRICS_FILE
from dockyard.report.collect import (
    WORKSPACE,
    Snapshot,
    branch,
    flatten,
    pipeline_status,
    read_file,
    snapshots,
)
from dockyard.report.compare import DEFAULT_RTOL, Reproduction, check_reproduced, compare
from dockyard.report.render import render
from dockyard.report.stages import StaleStage, stale_stages
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


def head_name(root: Path, environ: Mapping[str, str]) -> str:
    """What to call the workspace: in GitHub Actions the pull request's branch
    (GITHUB_HEAD_REF; GITHUB_REF_NAME on a push), else the branch checked out, else
    `workspace` (a detached HEAD outside Actions)."""
    for key in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        if environ.get(key):
            return environ[key]
    return branch(root) or WORKSPACE


def pull_request(environ: Mapping[str, str]) -> int | None:
    """The pull request a GitHub Actions run builds (refs/pull/N/merge), if any."""
    match = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", environ.get("GITHUB_REF", ""))
    return int(match.group(1)) if match else None


def stale(root: Path, head: Snapshot) -> list[StaleStage]:
    """The workspace's stages that are not up to date with their code, params or data."""
    return stale_stages(pipeline_status(root), head.lock, head.params)


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
    ci_run: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The markdown comment and the same content as data.

    `rtol`: relative difference below which two values count as unchanged, in the
    comparison and in the reproducibility check. `environ` (default: os.environ) supplies
    the GitHub Actions run the comment links to and the pull request's branch.

    `ci_run`: the record `dockyard ci run --record` wrote (which stages DVC re-ran and which it
    restored); the stages section then says what that run did per stage.

    A workspace head (`head` None) whose pipeline `dvc status` reports out of date gets no
    verdict: its committed metrics are not the results of its code, params and data.
    """
    started = time.perf_counter()
    environ = os.environ if environ is None else environ
    root = Path(root).resolve()
    label = head_name(root, environ) if head is None else None
    base_snap, head_snap = snapshots(root, base, head, label)
    out_of_date = stale(root, head_snap) if head is None else []
    comparison = compare(base_snap, head_snap, alpha, rtol, out_of_date)
    data = comparison.to_dict()
    extras: dict[str, Any] = {
        "run_seconds": run_seconds,
        "plots_url": plots_url,
        "run_url": run_url(environ),
        "pull_request": pull_request(environ),
        "ci_run": ci_run,
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
    data["ci_run"] = ci_run
    data["pull_request"] = extras["pull_request"]
    extras["report_seconds"] = time.perf_counter() - started
    data["report_seconds"] = extras["report_seconds"]
    return render(comparison, extras), data
