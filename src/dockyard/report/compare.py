"""Pure comparisons of two snapshots: are they like for like, and every metric with its
direction, tolerance and seed-noise test. Stages and data live in `stages`, costs in
`costs`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.metrics import higher_is_better
from dockyard.paths import PREPARED_DIR
from dockyard.report.collect import Snapshot
from dockyard.report.costs import Cost, costs
from dockyard.report.stages import DataChange, StageChange, data_changes, stage_changes
from dockyard.stats import DEFAULT_ALPHA, summarize, t_ppf, welch

# Relative difference under which two values count as unchanged: the same run reproduced
# on another CPU or library build differs in the last digits, never in the sixth.
DEFAULT_RTOL = 1e-6
# Differences smaller than this are unchanged whatever the tolerance (values at zero).
ABS_FLOOR = 1e-12
INTERVAL_LEVEL = 0.95

# Every verdict a metric row can carry, in the order the verdict line lists them.
VERDICTS = ("unlike", "better", "worse", "changed", "new", "removed", "noise", "same")
# What must be equal on both sides for better / worse to mean anything: params ...
LIKE_FOR_LIKE_PARAMS = (("dataset", "data.name"), ("target", "data.target"), ("task", "data.task"))


@dataclass
class MetricRow:
    name: str
    base: float | None  # mean over seeds (the value itself for one seed)
    head: float | None
    change: float | None
    relative: float | None  # change / |base|
    higher_is_better: bool | None
    # one of VERDICTS: better | worse | same (within rtol) | changed (direction unknown) |
    # noise (within seed noise) | new | removed | unlike (not like for like: not judged)
    status: str
    base_n: int = 0
    head_n: int = 0
    base_std: float | None = None
    head_std: float | None = None
    p_value: float | None = None  # Welch's t-test, when both sides have two or more seeds
    ci_low: float | None = None  # 95% interval of the change (Welch), same condition
    ci_high: float | None = None


@dataclass
class Mismatch:
    """Something both sides must share for a like-for-like comparison, and differs."""

    what: str  # dataset | target | task | test split | classes
    base: Any
    head: Any
    why: list[str] = field(default_factory=list)  # what changed it, where known


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
    rtol: float = DEFAULT_RTOL
    mismatches: list[Mismatch] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)

    @property
    def noise_estimate(self) -> bool:
        """Some verdicts come from a t-test (both sides ran two or more seeds)."""
        return any(r.p_value is not None for r in self.metrics)

    @property
    def like_for_like(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        def side(s: Snapshot) -> dict[str, Any]:
            return {"label": s.label, "sha": s.sha, "commit": s.ref, "subject": s.subject}

        return {
            "base": side(self.base),
            "head": side(self.head),
            "like_for_like": self.like_for_like,
            "mismatches": [asdict(m) for m in self.mismatches],
            "verdict": verdict(self.metrics),
            "metrics": [asdict(row) for row in self.metrics],
            "params": [{"key": k, "base": b, "head": h} for k, b, h in self.params],
            "stages": [{"stage": s.stage, "reasons": s.reasons, **asdict(s)} for s in self.stages],
            "data": [asdict(d) for d in self.data],
            "rows": {"base": self.rows[0], "head": self.rows[1]},
            "seeds": {"base": self.base.seeds, "head": self.head.seeds},
            "costs": [asdict(c) for c in self.costs],
            "test": {"method": "welch_t", "alpha": self.alpha} if self.noise_estimate else None,
            "rtol": self.rtol,
        }


def compare(
    base: Snapshot, head: Snapshot, alpha: float = DEFAULT_ALPHA, rtol: float = DEFAULT_RTOL
) -> Comparison:
    mismatches = like_for_like(base, head)
    metrics = compare_metrics(base.samples, head.samples, alpha, rtol)
    if mismatches:
        metrics = [unjudged(row) for row in metrics]
    return Comparison(
        base=base,
        head=head,
        metrics=metrics,
        params=compare_params(base.params, head.params),
        stages=stage_changes(base.lock, head.lock),
        data=data_changes(base.lock, head.lock),
        rows=(base.data_report.get("rows"), head.data_report.get("rows")),
        alpha=alpha,
        rtol=rtol,
        mismatches=mismatches,
        costs=costs(base, head),
    )


# ----------------------------------------------------------------------------- like for like


def split_hash(lock: dict[str, Any]) -> str | None:
    """The md5 of the prepared splits: any change of the raw table, seed or split params
    changes it, so equal hashes mean the same test rows."""
    for entry in lock.values():
        for out in entry.get("outs") or []:
            if out.get("path") == PREPARED_DIR:
                return out.get("md5")
    return None


def classes(data_report: dict[str, Any]) -> list[str] | None:
    counts = data_report.get("target_counts")
    return sorted(counts, key=lambda c: (len(c), c)) if isinstance(counts, dict) else None


def like_for_like(base: Snapshot, head: Snapshot) -> list[Mismatch]:
    """What differs between the two sides' data, target, task, test rows or classes.

    A side that does not record something (a first pull request, an old revision) is not
    counted as differing.
    """
    found = []
    for what, key in LIKE_FOR_LIKE_PARAMS:
        old, new = base.params.get(key), head.params.get(key)
        if old is not None and new is not None and old != new:
            found.append(Mismatch(what, old, new))
    old_split, new_split = split_hash(base.lock), split_hash(head.lock)
    if old_split and new_split and old_split != new_split:
        why = [
            key
            for key, _, _ in compare_params(base.params, head.params)
            if key == "seed" or key.startswith("split.") or key.startswith("data.")
        ]
        found.append(Mismatch("test split", old_split, new_split, why))
    old_classes, new_classes = classes(base.data_report), classes(head.data_report)
    if old_classes is not None and new_classes is not None and old_classes != new_classes:
        found.append(Mismatch("classes", old_classes, new_classes))
    return found


def unjudged(row: MetricRow) -> MetricRow:
    """A row of an unlike comparison: its numbers stay, its verdict and test go."""
    if row.status in ("new", "removed"):
        return row
    row.status, row.p_value, row.ci_low, row.ci_high = "unlike", None, None, None
    return row


# ----------------------------------------------------------------------------- metrics


def unchanged(a: float, b: float, rtol: float = DEFAULT_RTOL) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=ABS_FLOOR)


def compare_metrics(
    base: dict[str, list[float]],
    head: dict[str, list[float]],
    alpha: float = DEFAULT_ALPHA,
    rtol: float = DEFAULT_RTOL,
) -> list[MetricRow]:
    """One row per metric from per-seed samples; Welch's t-test when both sides have n >= 2."""
    return [
        metric_row(name, base.get(name, []), head.get(name, []), alpha, rtol)
        for name in sorted(set(base) | set(head))
    ]


def metric_row(
    name: str,
    base: list[float],
    head: list[float],
    alpha: float = DEFAULT_ALPHA,
    rtol: float = DEFAULT_RTOL,
    direction: bool | None = None,
) -> MetricRow:
    """The row of one metric; `direction` defaults to the metric's own (dockyard.metrics)."""
    direction = higher_is_better(name) if direction is None else direction
    # a metric can be undefined for one seed (e.g. ROC AUC on a single-class split)
    base = [v for v in base if math.isfinite(v)]
    head = [v for v in head if math.isfinite(v)]
    row = MetricRow(name, None, None, None, None, direction, "", len(base), len(head))
    if base:
        row.base, row.base_std = math.fsum(base) / len(base), summarize(base)["std"]
    if head:
        row.head, row.head_std = math.fsum(head) / len(head), summarize(head)["std"]
    if row.base is None or row.head is None:
        row.status = "new" if row.base is None else "removed"
        return row
    row.change = row.head - row.base
    row.relative = row.change / abs(row.base) if row.base else None
    if len(base) >= 2 and len(head) >= 2:
        _, df, row.p_value = welch(base, head)
        row.ci_low, row.ci_high = difference_interval(base, head, df)
    if unchanged(row.base, row.head, rtol):
        row.status = "same"
    elif row.p_value is not None and row.p_value >= alpha:
        row.status = "noise"
    elif direction is None:
        row.status = "changed"
    else:
        row.status = "better" if (row.change > 0) == direction else "worse"
    return row


def difference_interval(base: list[float], head: list[float], df: float) -> tuple[float, float]:
    """The 95% interval of mean(head) - mean(base) with Welch's standard error: how large a
    difference the seeds could have missed when the verdict is `within noise`."""
    change = math.fsum(head) / len(head) - math.fsum(base) / len(base)
    se = math.sqrt(sum(summarize(s)["std"] ** 2 / len(s) for s in (base, head)))
    if se == 0.0:
        return change, change
    half = t_ppf(0.5 + INTERVAL_LEVEL / 2, df) * se
    return change - half, change + half


def verdict(rows: list[MetricRow]) -> dict[str, list[str]]:
    """Metric names grouped by verdict, in the order the verdict line reads them."""
    groups: dict[str, list[str]] = {status: [] for status in VERDICTS}
    for row in rows:
        groups[row.status].append(row.name)
    return {status: names for status, names in groups.items() if names}


# ----------------------------------------------------------------------------- params

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


# ----------------------------------------------------------------------------- reproduced


@dataclass
class Reproduction:
    """The workspace's metrics against those committed, within a relative tolerance."""

    rtol: float
    compared: int
    differences: list[dict[str, Any]]  # beyond rtol (or present on one side only)
    largest: dict[str, Any] | None  # the largest difference of all, within rtol or not

    @property
    def reproduced(self) -> bool:
        return not self.differences


def check_reproduced(
    committed: dict[str, Any], reproduced: dict[str, Any], rtol: float = DEFAULT_RTOL
) -> Reproduction:
    """Compare two flattened metrics files ({file.key: value}); numbers within rtol agree."""
    differences, largest, compared = [], None, 0
    for key in sorted(set(committed) | set(reproduced)):
        old, new = committed.get(key), reproduced.get(key)
        entry = {"metric": key, "committed": old, "reproduced": new}
        if _number(old) and _number(new):
            compared += 1
            gap = abs(new - old)
            entry.update(difference=gap, relative=gap / abs(old) if old else None)
            if gap > 0 and (largest is None or gap > largest["difference"]):
                largest = entry
            if not unchanged(old, new, rtol):
                differences.append(entry)
        elif old != new:
            differences.append(entry)
    return Reproduction(rtol, compared, differences, largest)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
