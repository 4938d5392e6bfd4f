"""What the repository recorded at one commit: params, dvc.lock, metrics, the data report.

Everything here is read from git (`git show SHA:path`): the committed metrics files
(`cache: false` outputs), params.yaml and dvc.lock. Nothing is checked out and no code
from that commit runs, so the gate can judge any version, including a hand-pushed tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockyard.io import load_dvc_yaml
from dockyard.paths import METRICS_FILE, SEEDS_DIR, VALIDATION_REPORT, model_summary_path
from dockyard.paths import run_facts_path as _run_facts_path
from dockyard.registry.git import list_dir, show

LOCK_FILE = "dvc.lock"
PARAMS_FILE = "params.yaml"


@dataclass
class Snapshot:
    commit: str
    params: dict[str, Any] = field(default_factory=dict)
    lock: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # eval/metrics.json
    per_seed: dict[int, dict[str, float]] = field(default_factory=dict)  # eval/seeds/N/
    validation: dict[str, Any] | None = None
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # eval/runs/seed-N.json
    model_sizes: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        data = self.params.get("data")
        if isinstance(data, dict) and data.get("task"):
            return str(data["task"])
        if any(k.endswith("/accuracy") for k in self.metrics):
            return "classification"
        if any(k.endswith("/rmse") for k in self.metrics):
            return "regression"
        return None

    def values(self) -> dict[str, list[float]]:
        """metric -> one value per seed (the summary's mean alone when the commit kept no
        per-seed files), what the gate tests."""
        if self.per_seed:
            names = sorted({k for m in self.per_seed.values() for k in m})
            return {
                name: [float(m[name]) for _, m in sorted(self.per_seed.items()) if name in m]
                for name in names
            }
        return {
            name: [float(s["mean"])]
            for name, s in self.metrics.items()
            if isinstance(s, dict) and isinstance(s.get("mean"), int | float)
        }

    def stages(self) -> dict[str, Any]:
        stages = self.lock.get("stages") if isinstance(self.lock, dict) else None
        return stages if isinstance(stages, dict) else {}


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _lock(text: str | None) -> Any:
    """dvc.lock as DVC reads it (YAML 1.2: an unquoted `no` is a string)."""
    if text is None:
        return None
    try:
        return load_dvc_yaml(text)
    except ValueError:
        return None


def _yaml(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def load_snapshot(root: str | Path, commit: str, full: bool = True) -> Snapshot:
    """The commit's records; `full=False` reads only params.yaml, the metrics summary and
    the data report (what a listing needs)."""
    params = _yaml(show(root, commit, PARAMS_FILE))
    lock = _lock(show(root, commit, LOCK_FILE)) if full else None
    metrics = _json(show(root, commit, METRICS_FILE))
    snapshot = Snapshot(
        commit=commit,
        params=params if isinstance(params, dict) else {},
        lock=lock if isinstance(lock, dict) else {},
        metrics=metrics if isinstance(metrics, dict) else {},
        validation=_json(show(root, commit, VALIDATION_REPORT)),
    )
    seeds = snapshot.params.get("seeds") if full else []
    if not isinstance(seeds, list):
        seeds = [int(n) for n in list_dir(root, commit, SEEDS_DIR) if n.isdigit()]
    for seed in seeds:
        per_seed = _json(show(root, commit, f"{SEEDS_DIR}/{seed}/metrics.json"))
        if isinstance(per_seed, dict):
            snapshot.per_seed[int(seed)] = {
                k: float(v) for k, v in per_seed.items() if isinstance(v, int | float)
            }
        run = _json(show(root, commit, _run_facts_path(int(seed))))
        if isinstance(run, dict):
            snapshot.runs[int(seed)] = run
        size = _json(show(root, commit, model_summary_path(int(seed))))
        if isinstance(size, dict):
            snapshot.model_sizes[int(seed)] = size
    return snapshot


# ----------------------------------------------------------------------------- dvc.lock


def lock_stages(root: str | Path, commit: str) -> dict[str, Any]:
    """dvc.lock's stages at a commit ({} when the commit has no lock file)."""
    lock = _lock(show(root, commit, LOCK_FILE))
    stages = lock.get("stages") if isinstance(lock, dict) else None
    return stages if isinstance(stages, dict) else {}


def producer(lock_stages: dict[str, Any], path: str) -> tuple[str, dict[str, Any]] | None:
    """The lock entry of the stage whose outs include `path`: (stage name, entry)."""
    for name, entry in lock_stages.items():
        for out in entry.get("outs") or []:
            if out.get("path") == path:
                return name, entry
    return None


def out_entry(lock_stages: dict[str, Any], path: str) -> dict[str, Any] | None:
    found = producer(lock_stages, path)
    if found is None:
        return None
    return next(o for o in found[1].get("outs") or [] if o.get("path") == path)


def is_code(path: str) -> bool:
    return path.endswith(".py") or path.startswith("src/")


def upstream(lock_stages: dict[str, Any], stage: str) -> list[str]:
    """Every stage `stage` depends on through its deps, nearest last (source first)."""
    order: list[str] = []

    def visit(name: str) -> None:
        for dep in lock_stages.get(name, {}).get("deps") or []:
            found = producer(lock_stages, dep.get("path", ""))
            if found and found[0] not in order and found[0] != name:
                visit(found[0])
                order.append(found[0])

    visit(stage)
    return order


def flat_params(entry: dict[str, Any]) -> dict[str, Any]:
    """A lock entry's params as dotted key -> value (the values the stage ran with)."""
    out: dict[str, Any] = {}
    for values in (entry.get("params") or {}).values():
        if isinstance(values, dict):
            out.update(values)
    return out


def params_hash(entry: dict[str, Any]) -> str:
    """sha256 of the params a stage ran with, as dvc.lock records them (sorted JSON): the
    same value for the same params on any machine, readable without the model."""
    import hashlib

    blob = json.dumps(flat_params(entry), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
