"""Pure comparisons of two snapshots: metrics with direction, params, stages, data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.metrics import higher_is_better
from dockyard.report.collect import Snapshot, flatten

# Relative tolerance under which two metric values count as equal (float noise in JSON).
EQUAL_RTOL = 1e-9


@dataclass
class MetricRow:
    file: str
    name: str
    base: float | None
    head: float | None
    change: float | None
    relative: float | None  # change / |base|
    higher_is_better: bool | None
    status: str  # better | worse | same | changed (direction unknown) | new | removed


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
        }


def compare(base: Snapshot, head: Snapshot) -> Comparison:
    return Comparison(
        base=base,
        head=head,
        metrics=compare_metrics(base.metrics, head.metrics),
        params=compare_params(base.params, head.params),
        stages=stage_changes(base.lock, head.lock),
        data=data_changes(base.lock, head.lock),
        rows=(base.data_report.get("rows"), head.data_report.get("rows")),
    )


def compare_metrics(
    base: dict[str, dict[str, float]], head: dict[str, dict[str, float]]
) -> list[MetricRow]:
    rows = []
    for file in sorted(set(base) | set(head)):
        old, new = base.get(file, {}), head.get(file, {})
        for name in sorted(set(old) | set(new)):
            rows.append(_metric_row(file, name, old.get(name), new.get(name)))
    return rows


def _metric_row(file: str, name: str, base: float | None, head: float | None) -> MetricRow:
    direction = higher_is_better(name)
    if base is None or head is None:
        status = "new" if base is None else "removed"
        return MetricRow(file, name, base, head, None, None, direction, status)
    change = head - base
    relative = change / abs(base) if base else None
    if math.isclose(head, base, rel_tol=EQUAL_RTOL, abs_tol=1e-12):
        status = "same"
    elif direction is None:
        status = "changed"
    else:
        status = "better" if (change > 0) == direction else "worse"
    return MetricRow(file, name, base, head, change, relative, direction, status)


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
    """Whether `path` is one of `outputs` or lies inside an output directory."""
    return any(path == out or path.startswith(out.rstrip("/") + "/") for out in outputs)


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
