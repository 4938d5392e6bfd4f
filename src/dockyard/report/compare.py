"""Pure comparisons of two snapshots: metrics with direction, params, stages, data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.metrics import higher_is_better
from dockyard.report.collect import Snapshot, flatten
from dockyard.stats import DEFAULT_ALPHA, summarize, welch

# Relative tolerance under which two metric values count as equal (float noise in JSON).
EQUAL_RTOL = 1e-9


@dataclass
class MetricRow:
    name: str
    base: float | None  # mean over seeds (the value itself for one seed)
    head: float | None
    change: float | None
    relative: float | None  # change / |base|
    higher_is_better: bool | None
    # better | worse | same | changed (direction unknown) | noise (within noise) | new | removed
    status: str
    base_n: int = 0
    head_n: int = 0
    base_std: float | None = None
    head_std: float | None = None
    p_value: float | None = None  # Welch's t-test, when both sides have two or more seeds


@dataclass
class StageChange:
    stage: str
    params: list[tuple[str, Any, Any]] = field(default_factory=list)  # key, base, head
    code: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # outputs of earlier stages
    other: list[str] = field(default_factory=list)  # new stage, changed command, ...

    @property
    def reasons(self) -> list[str]:
        reasons = []
        if self.other:
            reasons += self.other
        if self.params:
            reasons.append("params " + ", ".join(key for key, _, _ in self.params))
        if self.code:
            reasons.append("code " + ", ".join(self.code))
        if self.data:
            reasons.append("data " + ", ".join(self.data))
        if self.upstream:
            reasons.append("upstream outputs " + ", ".join(self.upstream))
        return reasons or ["outputs differ (forced re-run or non-deterministic stage)"]


@dataclass
class DataChange:
    path: str
    base_hash: str | None
    head_hash: str | None
    base_size: int | None
    head_size: int | None


@dataclass
class Comparison:
    base: Snapshot
    head: Snapshot
    metrics: list[MetricRow]
    params: list[tuple[str, Any, Any]]
    stages: list[StageChange]
    data: list[DataChange]
    rows: tuple[int | None, int | None]
    alpha: float = DEFAULT_ALPHA

    @property
    def noise_estimate(self) -> bool:
        """Both sides ran two or more seeds, so verdicts come from a t-test."""
        return any(r.p_value is not None for r in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        side = lambda s: {"label": s.label, "sha": s.sha, "subject": s.subject}  # noqa: E731
        return {
            "base": side(self.base),
            "head": side(self.head),
            "verdict": verdict(self.metrics),
            "metrics": [asdict(row) for row in self.metrics],
            "params": [{"key": k, "base": b, "head": h} for k, b, h in self.params],
            "stages": [{"stage": s.stage, "reasons": s.reasons, **asdict(s)} for s in self.stages],
            "data": [asdict(d) for d in self.data],
            "rows": {"base": self.rows[0], "head": self.rows[1]},
            "seeds": {"base": self.base.seeds, "head": self.head.seeds},
            "test": {"method": "welch_t", "alpha": self.alpha} if self.noise_estimate else None,
        }


def compare(base: Snapshot, head: Snapshot, alpha: float = DEFAULT_ALPHA) -> Comparison:
    return Comparison(
        base=base,
        head=head,
        metrics=compare_metrics(base.samples, head.samples, alpha),
        params=compare_params(base.params, head.params),
        stages=stage_changes(base.lock, head.lock),
        data=data_changes(base.lock, head.lock),
        rows=(base.data_report.get("rows"), head.data_report.get("rows")),
        alpha=alpha,
    )


def compare_metrics(
    base: dict[str, list[float]], head: dict[str, list[float]], alpha: float = DEFAULT_ALPHA
) -> list[MetricRow]:
    """One row per metric from per-seed samples; Welch's t-test when both sides have n >= 2."""
    return [
        _metric_row(name, base.get(name, []), head.get(name, []), alpha)
        for name in sorted(set(base) | set(head))
    ]


def _metric_row(name: str, base: list[float], head: list[float], alpha: float) -> MetricRow:
    direction = higher_is_better(name)
    # a metric can be undefined for one seed (e.g. ROC AUC on a single-class split)
    base = [v for v in base if math.isfinite(v)]
    head = [v for v in head if math.isfinite(v)]
    row = MetricRow(name, None, None, None, None, direction, "", len(base), len(head))
    if base:
        row.base = math.fsum(base) / len(base)
        row.base_std = summarize(base)["std"]
    if head:
        row.head = math.fsum(head) / len(head)
        row.head_std = summarize(head)["std"]
    if row.base is None or row.head is None:
        row.status = "new" if row.base is None else "removed"
        return row
    row.change = row.head - row.base
    row.relative = row.change / abs(row.base) if row.base else None
    if len(base) >= 2 and len(head) >= 2:
        row.p_value = welch(base, head)[2]
        equal = math.isclose(row.head, row.base, rel_tol=EQUAL_RTOL, abs_tol=1e-12)
        if row.p_value >= alpha or equal:
            row.status = "noise"  # identical samples included: p = 1
            return row
    elif math.isclose(row.head, row.base, rel_tol=EQUAL_RTOL, abs_tol=1e-12):
        row.status = "same"
        return row
    if direction is None:
        row.status = "changed"
    else:
        row.status = "better" if (row.change > 0) == direction else "worse"
    return row


def verdict(rows: list[MetricRow]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row.status, []).append(row.name)
    return groups


ABSENT = "(absent)"


def compare_params(base: dict[str, Any], head: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Changed params as (key, base, head); a key missing on one side shows as ABSENT."""
    missing = object()
    changed = []
    for key in sorted(set(base) | set(head)):
        old, new = base.get(key, missing), head.get(key, missing)
        if old != new:
            changed.append(
                (key, ABSENT if old is missing else old, ABSENT if new is missing else new)
            )
    return changed


def _entries(items: list[dict] | None) -> dict[str, str | None]:
    return {item["path"]: item.get("md5") or item.get("etag") for item in items or []}


def _inside(path: str, outputs: set[str]) -> bool:
    """Whether `path` is an output, lies inside an output directory, or holds outputs."""
    return any(
        path == out
        or path.startswith(out.rstrip("/") + "/")
        or out.startswith(path.rstrip("/") + "/")
        for out in outputs
    )


def _is_code(path: str) -> bool:
    return path.startswith("src/") or path.endswith(".py")


def stage_changes(base: dict[str, Any], head: dict[str, Any]) -> list[StageChange]:
    """Which stages of head re-ran relative to base, and why (from the two dvc.lock files)."""
    produced = {out["path"] for entry in head.values() for out in entry.get("outs", [])}
    changes = []
    for stage, entry in head.items():
        change = StageChange(stage)
        before = base.get(stage)
        if before is None:
            change.other.append("new stage (not in base)")
            changes.append(change)
            continue
        if before.get("cmd") != entry.get("cmd"):
            change.other.append("command changed")
        old_params = flatten(before.get("params", {}))
        new_params = flatten(entry.get("params", {}))
        for key in sorted(set(old_params) | set(new_params)):
            if old_params.get(key) != new_params.get(key):
                # keys are "params.yaml.<param>"; show the param itself
                name = key.split(".yaml.", 1)[-1]
                change.params.append((name, old_params.get(key), new_params.get(key)))
        old_deps, new_deps = _entries(before.get("deps")), _entries(entry.get("deps"))
        for path in sorted(set(old_deps) | set(new_deps)):
            if old_deps.get(path) != new_deps.get(path):
                if _inside(path, produced):
                    change.upstream.append(path)
                elif _is_code(path):
                    change.code.append(path)
                else:
                    change.data.append(path)
        outs_changed = _entries(before.get("outs")) != _entries(entry.get("outs"))
        if (
            change.other
            or change.params
            or change.code
            or change.data
            or change.upstream
            or (outs_changed)
        ):
            changes.append(change)
    return changes


def data_changes(base: dict[str, Any], head: dict[str, Any]) -> list[DataChange]:
    """Input data (deps no stage produces, not code) whose content differs."""
    produced = {
        out["path"]
        for lock in (base, head)
        for entry in lock.values()
        for out in entry.get("outs", [])
    }

    def inputs(lock: dict[str, Any]) -> dict[str, dict]:
        return {
            dep["path"]: dep
            for entry in lock.values()
            for dep in entry.get("deps", [])
            if not _inside(dep["path"], produced) and not _is_code(dep["path"])
        }

    old, new = inputs(base), inputs(head)
    changes = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, {}), new.get(path, {})
        if a.get("md5") != b.get("md5"):
            changes.append(
                DataChange(path, a.get("md5"), b.get("md5"), a.get("size"), b.get("size"))
            )
    return changes
