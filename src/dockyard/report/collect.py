"""Everything the report compares, read for one revision (a commit, an experiment or the
workspace): metrics and params through DVC's Python API, the lock file and the small
committed outputs (training curves, confusion rows, data report) straight from git.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockyard.errors import DockyardError
from dockyard.paths import SEEDS_DIR, TRAIN_LOG_DIR, VALIDATION_REPORT

WORKSPACE = "workspace"
CURVES = ("val/loss", "val/accuracy", "val/mae", "train/loss")
CONFUSION_FILE = "eval/plots/confusion.json"


class ReportError(DockyardError):
    """A revision cannot be read (unknown name, not a DVC project)."""


@dataclass
class Snapshot:
    label: str  # what the user called it: main, HEAD, an experiment name, workspace
    sha: str | None  # None for the workspace
    subject: str = ""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # file -> key -> value
    # metric -> one value per training seed (one value when the revision has a single run)
    samples: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # flattened params.yaml
    lock: dict[str, Any] = field(default_factory=dict)  # stage -> lock entry
    curves: dict[str, list[float]] = field(default_factory=dict)
    confusion: list[dict[str, str]] = field(default_factory=list)
    data_report: dict[str, Any] = field(default_factory=dict)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def resolve(root: Path, rev: str) -> tuple[str, str]:
    """(full sha, subject) of a commit-ish or a DVC experiment name."""
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    sha = result.stdout.strip()
    if not sha:
        from dvc.repo import Repo
        from dvc.scm import RevError, resolve_rev

        try:
            sha = resolve_rev(Repo(str(root)).scm, rev)
        except (RevError, Exception):  # noqa: BLE001 - dvc raises several kinds here
            raise ReportError(
                f"Unknown revision {rev!r}: it is neither a git commit, branch or tag nor a "
                "DVC experiment in this repository. Check `git branch -a`, `dvc exp list`, or "
                "fetch the base branch (`git fetch origin main`)."
            ) from None
    subject = _git(root, "log", "-1", "--format=%s", sha).stdout.strip()
    return sha, subject


def read_file(root: Path, sha: str | None, path: str) -> str | None:
    """A committed file's text at `sha` (the workspace when None); None if absent."""
    if sha is None:
        file = root / path
        return file.read_text(encoding="utf-8") if file.is_file() else None
    result = _git(root, "show", f"{sha}:{path}")
    return result.stdout if result.returncode == 0 else None


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _dvc_results(results: dict, rev: str) -> dict[str, Any]:
    """The per-file data DVC returned for one revision; files that failed to load are left out."""
    files = results.get(rev, {}).get("data", {})
    return {name: entry["data"] for name, entry in files.items() if "data" in entry}


def snapshots(root: Path, base: str, head: str | None) -> tuple[Snapshot, Snapshot]:
    """Read both sides with one DVC repository instance (metrics and params in one call)."""
    from dvc.repo import Repo

    if not (root / "dvc.yaml").is_file():
        raise ReportError(f"{root} has no dvc.yaml: run dockyard report in the project root.")
    base_sha, base_subject = resolve(root, base)
    head_sha, head_subject = resolve(root, head) if head else (None, "")
    revs = [base_sha] + ([head_sha] if head_sha else [])
    repo = Repo(str(root))
    metrics = repo.metrics.show(revs=revs)
    params = repo.params.show(revs=revs)
    sides = []
    for label, sha, subject in (
        (base, base_sha, base_subject),
        (head or WORKSPACE, head_sha, head_subject),
    ):
        key = sha or WORKSPACE
        snap = Snapshot(label=label, sha=sha, subject=subject)
        files = _dvc_results(metrics, key)
        for name, values in files.items():
            numbers = {k: float(v) for k, v in flatten(values).items() if _is_number(v)}
            if numbers:
                snap.metrics[name] = numbers
        param_files = _dvc_results(params, key)
        snap.params = flatten(param_files.get("params.yaml", {}))
        seeds = snap.params.get("seeds")
        snap.seeds = [int(s) for s in seeds] if isinstance(seeds, list) else []
        snap.samples = _seed_samples(root, sha, snap.seeds) or _file_samples(files)
        _read_committed_outputs(root, snap)
        sides.append(snap)
    return sides[0], sides[1]


def _seed_samples(root: Path, sha: str | None, seeds: list[int]) -> dict[str, list[float]]:
    """Per-seed test metrics (eval/seeds/N/metrics.json) of the seeds the revision ran."""
    samples: dict[str, list[float]] = {}
    for seed in seeds:
        text = read_file(root, sha, f"{SEEDS_DIR}/{seed}/metrics.json")
        if text is None:
            continue
        for name, value in flatten(json.loads(text)).items():
            if _is_number(value):
                samples.setdefault(name, []).append(float(value))
    return samples


def _file_samples(files: dict[str, Any]) -> dict[str, list[float]]:
    """One value per metric from the metrics files (summaries contribute their mean)."""
    samples: dict[str, list[float]] = {}
    for file, values in files.items():
        for name, value in (values or {}).items():
            if isinstance(value, dict) and _is_number(value.get("mean")):
                number = float(value["mean"])
            elif _is_number(value):
                number = float(value)
            else:
                continue
            key = f"{name} ({file})" if name in samples else name
            samples[key] = [number]
    return samples


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_committed_outputs(root: Path, snap: Snapshot) -> None:
    lock = read_file(root, snap.sha, "dvc.lock")
    snap.lock = (yaml.safe_load(lock) or {}).get("stages", {}) if lock else {}
    for name in CURVES:
        text = read_file(root, snap.sha, f"{TRAIN_LOG_DIR}/plots/metrics/{name}.tsv")
        if text:
            rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
            column = name.rsplit("/", 1)[-1]
            values = [float(row[column]) for row in rows if row.get(column)]
            if values:
                snap.curves[name] = values
    confusion = read_file(root, snap.sha, CONFUSION_FILE)
    snap.confusion = json.loads(confusion) if confusion else []
    report = read_file(root, snap.sha, VALIDATION_REPORT)
    snap.data_report = json.loads(report) if report else {}
