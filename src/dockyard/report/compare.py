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
from dockyard.report.stages import (
    DataChange,
    StageChange,
    StaleStage,
    data_changes,
    stage_changes,
)
from dockyard.stats import DEFAULT_ALPHA, benjamini_hochberg, summarize, t_ppf, welch

# Relative difference under which two values count as unchanged: the same run reproduced
# on another CPU or library build differs in the last digits, never in the sixth.
DEFAULT_RTOL = 1e-6
# The fields of a metric summarised over seeds (stats.summarize) in a metrics file.
SUMMARY_FIELDS = frozenset(("mean", "std", "min", "max", "n", "ci95_low", "ci95_high"))
# Differences smaller than this are unchanged whatever the tolerance (values at zero).
ABS_FLOOR = 1e-12
INTERVAL_LEVEL = 0.95
# With this many seeds or fewer on a side, a change the test cannot tell from noise is
# inconclusive: such seeds miss all but large changes, so "within noise" would overclaim.
FEW_SEEDS = 3

# Every verdict a metric row can carry, in the order the verdict line lists them.
VERDICTS = (
    "stale",
    "unlike",
    "better",
    "worse",
    "changed",
    "new",
    "removed",
    "noise",
    "same",
)
# What must be equal on both sides for better / worse to mean anything: params (with the
# value a side that has params but not the key means) ...
LIKE_FOR_LIKE_PARAMS = (
    ("dataset", "data.name", None),
    ("target", "data.target", None),
    ("task", "data.task", None),
    ("split method", "split.by", "random"),
)


@dataclass
class MetricRow:
    name: str
    base: float | None  # mean over seeds (the value itself for one seed)
    head: float | None
    change: float | None
    relative: float | None  # change / |base|
    higher_is_better: bool | None
    # one of VERDICTS: better | worse | same (within rtol) | changed (direction unknown) |
    # noise (not told from seed noise; `inconclusive` with FEW_SEEDS or fewer) | new |
    # removed | unlike (not like for like) | stale (head not reproduced): not judged
    status: str
    base_n: int = 0
    head_n: int = 0
    base_std: float | None = None
    head_std: float | None = None
    p_value: float | None = None  # Welch's t-test, when both sides have two or more seeds
    # p_value adjusted over the table's tests (Benjamini-Hochberg); the verdict reads this
    p_adjusted: float | None = None
    ci_low: float | None = None  # 95% interval of the change (Welch), same condition
    ci_high: float | None = None
    # the smallest change of the means these seeds could have told from noise at alpha
    # (the half-width of Welch's 1 - alpha interval), same condition
    detectable: float | None = None

    @property
    def inconclusive(self) -> bool:
        """Not told from noise by too few seeds to call it `within noise`."""
        return self.status == "noise" and min(self.base_n, self.head_n) <= FEW_SEEDS


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
    # stages of the head whose outputs are not up to date with their code, params or data
    stale: list[StaleStage] = field(default_factory=list)

    @property
    def noise_estimate(self) -> bool:
        """Some verdicts come from a t-test (both sides ran two or more seeds)."""
        return any(r.p_value is not None for r in self.metrics)

    @property
    def like_for_like(self) -> bool:
        return not self.mismatches

    @property
    def tests(self) -> int:
        """The size of the table's test family (Benjamini-Hochberg's m)."""
        return sum(1 for r in self.metrics if r.p_adjusted is not None)

    def to_dict(self) -> dict[str, Any]:
        def side(s: Snapshot) -> dict[str, Any]:
            return {"label": s.label, "sha": s.sha, "commit": s.ref, "subject": s.subject}

        return {
            "base": side(self.base),
            "head": side(self.head),
            "like_for_like": self.like_for_like,
            "mismatches": [asdict(m) for m in self.mismatches],
            "stale": [asdict(s) for s in self.stale],
            "verdict": verdict(self.metrics),
            "metrics": [{**asdict(row), "inconclusive": row.inconclusive} for row in self.metrics],
            "params": [{"key": k, "base": b, "head": h} for k, b, h in self.params],
            "stages": [{"stage": s.stage, "reasons": s.reasons, **asdict(s)} for s in self.stages],
            "data": [asdict(d) for d in self.data],
            "rows": {"base": self.rows[0], "head": self.rows[1]},
            "seeds": {"base": sorted(self.base.seeds), "head": sorted(self.head.seeds)},
            "costs": [asdict(c) for c in self.costs],
            "test": {"method": "welch_t", "alpha": self.alpha} if self.noise_estimate else None,
            # the verdicts read p_adjusted: the table's `tests` held to a false discovery
            # rate of alpha together
            "fdr": {"method": "benjamini_hochberg", "tests": self.tests}
            if self.noise_estimate
            else None,
            "rtol": self.rtol,
        }


def compare(
    base: Snapshot,
    head: Snapshot,
    alpha: float = DEFAULT_ALPHA,
    rtol: float = DEFAULT_RTOL,
    stale: list[StaleStage] | None = None,
) -> Comparison:
    """`stale`: the head's out-of-date stages (`dvc status`); with any, nothing is judged."""
    mismatches = like_for_like(base, head)
    metrics = compare_metrics(base.samples, head.samples, alpha, rtol)
    if stale:
        metrics = [unjudged(row, "stale") for row in metrics]
    elif mismatches:
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
        costs=costs(base, head, alpha),
        stale=list(stale or []),
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
    for what, key, default in LIKE_FOR_LIKE_PARAMS:
        old = base.params.get(key, default if base.params else None)
        new = head.params.get(key, default if head.params else None)
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


def unjudged(row: MetricRow, status: str = "unlike") -> MetricRow:
    """A row that gets no verdict (`unlike`, `stale`): its numbers stay, its test goes."""
    if row.status in ("new", "removed"):
        return row
    row.status, row.p_value, row.p_adjusted = status, None, None
    row.ci_low = row.ci_high = row.detectable = None
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
    """One row per metric from per-seed samples; Welch's t-test when both sides have n >= 2,
    the table's tests held to a false discovery rate of alpha together."""
    rows = [
        metric_row(name, base.get(name, []), head.get(name, []), alpha, rtol)
        for name in sorted(set(base) | set(head))
    ]
    return control_fdr(rows, alpha)


def control_fdr(rows: list[MetricRow], alpha: float = DEFAULT_ALPHA) -> list[MetricRow]:
    """Judge the rows' tests as one family (Benjamini-Hochberg): with four to seven metrics
    each tested at alpha, a change to nothing would be called significant somewhere far
    more often than alpha. Unchanged rows (within rtol) are decided without a test and
    are not in the family."""
    tested = [r for r in rows if r.p_value is not None and r.status != "same"]
    for row in rows:
        if row.status == "same":
            row.p_adjusted = None
    for row, adjusted in zip(tested, benjamini_hochberg([r.p_value for r in tested]), strict=True):
        row.p_adjusted = adjusted
        row.status = _judged(row, alpha)
    return rows


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
        row.p_adjusted = row.p_value
        row.ci_low, row.ci_high = difference_interval(base, head, df)
        row.detectable = difference_interval(base, head, df, 1.0 - alpha, half=True)[1]
    row.status = "same" if unchanged(row.base, row.head, rtol) else _judged(row, alpha)
    return row


def _judged(row: MetricRow, alpha: float) -> str:
    """The verdict of a changed row from its (adjusted) p-value and direction."""
    assert row.change is not None
    if row.p_adjusted is not None and row.p_adjusted >= alpha:
        return "noise"
    if row.higher_is_better is None:
        return "changed"
    return "better" if (row.change > 0) == row.higher_is_better else "worse"


def difference_interval(
    base: list[float],
    head: list[float],
    df: float,
    level: float = INTERVAL_LEVEL,
    half: bool = False,
) -> tuple[float, float]:
    """The `level` interval of mean(head) - mean(base) with Welch's standard error: how large
    a difference the seeds could have missed when the verdict is `within noise`. With
    `half`, (0, its half-width): the smallest change of the means that reaches p < 1 - level,
    the smallest change these seeds could have detected."""
    change = math.fsum(head) / len(head) - math.fsum(base) / len(base)
    se = math.sqrt(sum(summarize(s)["std"] ** 2 / len(s) for s in (base, head)))
    width = t_ppf(0.5 + level / 2, df) * se if se > 0.0 else 0.0
    if half:
        return 0.0, width
    return change - width, change + width


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
    compared: int  # values: a summarised metric has several (mean, std, interval, ...)
    differences: list[dict[str, Any]]  # beyond rtol (or present on one side only)
    largest: dict[str, Any] | None  # the largest difference of all, within rtol or not
    metrics: int = 0  # metrics those values belong to, as the metrics table counts them

    @property
    def reproduced(self) -> bool:
        return not self.differences


def check_reproduced(
    committed: dict[str, Any], reproduced: dict[str, Any], rtol: float = DEFAULT_RTOL
) -> Reproduction:
    """Compare two flattened metrics files ({file.key: value}); numbers within rtol agree."""
    differences, largest, compared = [], None, 0
    names = set()
    for key in sorted(set(committed) | set(reproduced)):
        old, new = committed.get(key), reproduced.get(key)
        entry = {"metric": key, "committed": old, "reproduced": new}
        if _number(old) and _number(new):
            compared += 1
            name, _, part = key.rpartition(".")
            names.add(name if name and part in SUMMARY_FIELDS else key)
            gap = abs(new - old)
            entry.update(difference=gap, relative=gap / abs(old) if old else None)
            if gap > 0 and (largest is None or gap > largest["difference"]):
                largest = entry
            if not unchanged(old, new, rtol):
                differences.append(entry)
        elif old != new:
            differences.append(entry)
    return Reproduction(rtol, compared, differences, largest, len(names))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
