"""Per-column profiles of a table, and what changed in each column between two versions,
for review: the pull-request comment's data section and `dockyard data profile`.

The statistics are the monitor's (`dockyard.drift`): a reviewer reading "income
changed" sees the test, effect size and Benjamini-Hochberg verdict `dockyard monitor` would
give the same rows as a batch, so data is judged alike in review and in production.

Summaries (missing share, mean, median, std, extremes, category counts) are exact: they
cost one pass per column. The tests and the charts read a seeded sample of SAMPLE_ROWS rows
per side when a table is larger, since a sort per column is what costs and that many rows
already tell a shift of a few hundredths of a standard deviation from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dockyard.drift import (
    CATEGORICAL as DRIFT_CATEGORICAL,
)
from dockyard.drift import (
    DISTRIBUTION,
    MISSING,
    NUMERIC,
    DriftPolicy,
    FeatureDrift,
    adjust_together,
    compare_feature,
)
from dockyard.errors import DockyardError

DATETIME, CATEGORICAL, TEXT = "datetime", "categorical", "text"
# Rows per side the tests and charts read; larger tables are sampled (seeded).
SAMPLE_ROWS = 100_000
SAMPLE_SEED = 0
# Text with more distinct values than this is free text or identifiers: compared by its
# length and missing share, since every added row would otherwise be a "new category".
MAX_LEVELS = 100


class ProfileError(DockyardError):
    """A table cannot be profiled or compared (no rows, no monitor settings)."""

    kind = "profile"


@dataclass(frozen=True)
class ColumnProfile:
    """Exact summaries of one column. Numbers, dates (as ns since the epoch) and text
    lengths fill mean..high; categories fill `counts` (every level, most rows first)."""

    name: str
    kind: str
    rows: int
    missing: int
    distinct: int  # levels of a category, distinct texts; 0 for numbers and dates
    mean: float | None = None
    median: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    def shares(self) -> dict[str, float]:
        """Each level's share of the rows that hold a value."""
        present = self.rows - self.missing
        return {k: n / present for k, n in self.counts.items()} if present else {}


@dataclass
class TableProfile:
    rows: int
    columns: dict[str, ColumnProfile]
    sample: pd.DataFrame = field(repr=False)  # what tests and charts read

    @property
    def sampled(self) -> bool:
        return len(self.sample) < self.rows


def column_kind(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return CATEGORICAL
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DATETIME
    if pd.api.types.is_numeric_dtype(dtype):
        return NUMERIC
    return CATEGORICAL if series.nunique(dropna=True) <= MAX_LEVELS else TEXT


def numbers(series: pd.Series, kind: str) -> np.ndarray:
    """The values the statistics read as floats, NaN where missing: dates as ns since the
    epoch (UTC), text as its length."""
    if kind == DATETIME:
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy(dtype="datetime64[ns]")
        values = stamps.astype(np.int64).astype(np.float64)
        values[np.isnat(stamps)] = np.nan
        return values
    if kind == TEXT:
        return series.astype("string").str.len().to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def profile_column(series: pd.Series, kind: str | None = None) -> ColumnProfile:
    kind = kind or column_kind(series)
    name, rows = str(series.name), len(series)
    if kind == CATEGORICAL:
        counts = series.value_counts(dropna=True)
        missing = int(series.isna().sum())
        levels = {str(k): int(n) for k, n in counts.items()}
        return ColumnProfile(name, kind, rows, missing, len(levels), counts=levels)
    values = numbers(series, kind)
    finite = values[np.isfinite(values)]
    # distinct values are a hash pass per column: worth it only for text (ids, free text)
    distinct = int(series.nunique(dropna=True)) if kind == TEXT else 0
    if finite.size == 0:
        return ColumnProfile(name, kind, rows, rows, distinct)
    return ColumnProfile(
        name,
        kind,
        rows,
        missing=rows - finite.size,  # infinities count as missing, as in the monitor
        distinct=distinct,
        mean=float(finite.mean()),
        median=float(np.median(finite)),
        std=float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        low=float(finite.min()),
        high=float(finite.max()),
    )


def sample_rows(frame: pd.DataFrame, size: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED):
    """At most `size` rows, drawn without replacement from a fixed seed (kept in order)."""
    if len(frame) <= size:
        return frame
    picks = np.sort(np.random.default_rng(seed).choice(len(frame), size, replace=False))
    return frame.take(picks)


def profile_table(
    frame: pd.DataFrame, kinds: dict[str, str] | None = None, sample: int = SAMPLE_ROWS
) -> TableProfile:
    """Every column's summaries; `kinds` fixes a column's kind (both sides of a
    comparison must read a column alike)."""
    kinds = kinds or {}
    columns = {
        str(c): profile_column(frame[c].rename(str(c)), kinds.get(str(c))) for c in frame.columns
    }
    return TableProfile(len(frame), columns, sample_rows(frame, sample))


@dataclass(frozen=True)
class ColumnChange:
    """One column base -> head: the monitor's comparison (None for a column on one side
    only, or whose kind changed) and the categories that appeared or vanished."""

    name: str
    kind: str
    base: ColumnProfile | None
    head: ColumnProfile | None
    drift: FeatureDrift | None
    new_levels: tuple[str, ...] = ()
    vanished_levels: tuple[str, ...] = ()
    target: bool = False

    @property
    def changed(self) -> bool:
        return self.drift is None or self.drift.drifted

    @property
    def score(self) -> float:
        """How far past its threshold the largest drifted signal is (effect / threshold):
        one scale for numbers, categories and missing shares, to order the changes."""
        if self.drift is None:
            return math.inf
        found = [0.0]
        if DISTRIBUTION in self.drift.drifted_by:
            found.append(self.drift.effect / self.drift.threshold)
        if MISSING in self.drift.drifted_by:
            found.append(abs(self.drift.missing.effect) / self.drift.missing.threshold)
        return max(found)

    @property
    def what(self) -> list[str]:
        """What changed, in words."""
        if self.base is None:
            return ["new column"]
        if self.head is None:
            return ["removed column"]
        if self.drift is None:
            return [f"type {self.base.kind} → {self.head.kind}"]
        words = {DISTRIBUTION: "distribution", MISSING: "missing values"}
        if self.kind == CATEGORICAL:
            words[DISTRIBUTION] = "category shares"
        elif self.kind == TEXT:
            words[DISTRIBUTION] = "text length"
        return [words.get(s, s.replace("_", " ")) for s in self.drift.drifted_by]


@dataclass
class TableChange:
    base: TableProfile
    head: TableProfile
    columns: list[ColumnChange]  # changed first (largest score first), then unchanged
    policy: DriftPolicy
    target: str | None = None

    @property
    def changed(self) -> list[ColumnChange]:
        return [c for c in self.columns if c.changed]

    @property
    def unchanged(self) -> list[ColumnChange]:
        return [c for c in self.columns if not c.changed]

    @property
    def tests(self) -> int:
        """The size of the Benjamini-Hochberg family."""
        return sum(
            tested for c in self.columns if c.drift for _, tested in c.drift.signals().values()
        )


def side_kinds(base: pd.DataFrame, head: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Each side's column kinds, alike where they can be: text that outgrew MAX_LEVELS on
    one side is text on both, so no column is tested as categories on one side only."""
    found = [{str(c): column_kind(frame[c]) for c in frame.columns} for frame in (base, head)]
    for name in found[0].keys() & found[1].keys():
        if {found[0][name], found[1][name]} == {CATEGORICAL, TEXT}:
            found[0][name] = found[1][name] = TEXT
    return found[0], found[1]


def compare_tables(
    base: pd.DataFrame,
    head: pd.DataFrame,
    policy: DriftPolicy,
    target: str | None = None,
    sample: int = SAMPLE_ROWS,
) -> TableChange:
    """Every column base -> head, all signals in one Benjamini-Hochberg family, as the
    monitor judges a batch; changed columns first, the largest change first."""
    for side, frame in (("base", base), ("head", head)):
        if len(frame) == 0:
            raise ProfileError(
                f"the {side} table has no rows, so its columns cannot be compared. Check "
                "data.source in conf/data/ at that revision.",
                kind="no-rows",
            )
    kinds = side_kinds(base, head)
    old, new = profile_table(base, kinds[0], sample), profile_table(head, kinds[1], sample)
    both = [c for c in new.columns if c in old.columns and kinds[0][c] == kinds[1][c]]
    tested = adjust_together(
        [_compare_column(old.sample[c], new.sample[c], kinds[1][c], policy, c) for c in both],
        policy,
    )
    drift = dict(zip(both, tested, strict=True))
    changes = []
    for name in list(new.columns) + [c for c in old.columns if c not in new.columns]:
        a, b = old.columns.get(name), new.columns.get(name)
        new_levels = tuple(k for k in b.counts if k not in a.counts) if a and b else ()
        vanished = tuple(k for k in a.counts if k not in b.counts) if a and b else ()
        kind = (b or a).kind
        changes.append(
            ColumnChange(name, kind, a, b, drift.get(name), new_levels, vanished, name == target)
        )
    changes.sort(key=lambda c: (not c.changed, -c.score if c.changed else 0.0))
    return TableChange(old, new, changes, policy, target)


def _compare_column(
    base: pd.Series, head: pd.Series, kind: str, policy: DriftPolicy, name: str
) -> FeatureDrift:
    if kind == CATEGORICAL:
        categories = [s.astype(object) for s in (base, head)]
        return compare_feature(*categories, DRIFT_CATEGORICAL, policy, name)
    as_numbers = [pd.Series(numbers(s, kind)) for s in (base, head)]
    return compare_feature(*as_numbers, NUMERIC, policy, name)


def drift_policy_of(params: dict[str, Any]) -> DriftPolicy:
    """The monitor's settings in a params.yaml (its `monitor` section)."""
    from dockyard.drift import drift_policy

    section = params.get("monitor")
    if not isinstance(section, dict):
        raise ProfileError(
            "params.yaml has no `monitor` section, whose drift settings judge what changed. "
            "Run `dockyard compose` (conf/monitor/default.yaml supplies it) and commit "
            "params.yaml.",
            kind="missing-key",
            key="monitor",
        )
    try:
        return drift_policy(section)
    except KeyError as missing:
        raise ProfileError(
            f"params.yaml's monitor section has no {missing}. Run `dockyard compose` and "
            "commit params.yaml.",
            kind="missing-key",
            key=f"monitor.{missing.args[0]}",
        ) from None


# ----------------------------------------------------------------------------- words


def value_text(value: float | None, kind: str) -> str:
    """A summary value as a reader wants it: dates as dates, numbers to 4 digits."""
    if value is None or not math.isfinite(value):
        return "—"
    if kind == DATETIME:
        stamp = pd.Timestamp(int(value))
        return stamp.strftime("%Y-%m-%d" if stamp == stamp.normalize() else "%Y-%m-%d %H:%M")
    return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.3e}"


def spread_text(value: float | None, kind: str) -> str:
    """A standard deviation; for dates a duration."""
    if value is None or not math.isfinite(value):
        return "—"
    if kind == DATETIME:
        days = value / 86_400e9
        return f"{days:,.3g} d" if days >= 1 else f"{days * 24:,.3g} h"
    return value_text(value, kind)


def summary_parts(column: ColumnProfile, levels: list[str] | None = None) -> list[str]:
    """The summary of one side as short phrases: `levels` are the categories to show
    (the same on both sides, so a reader compares shares side by side)."""
    parts: list[str] = []
    if column.kind == CATEGORICAL:
        shares = column.shares()
        for level in levels if levels is not None else list(shares)[:3]:
            parts.append(f"{level} {shares.get(level, 0.0):.1%}")
        if column.distinct > len(levels or shares):
            parts.append(f"{column.distinct} levels")
    else:
        k = column.kind
        prefix = "length " if k == TEXT else ""
        parts += [
            f"{prefix}mean {value_text(column.mean, k)}",
            f"median {value_text(column.median, k)}",
            f"std {spread_text(column.std, k)}",
            f"{value_text(column.low, k)} to {value_text(column.high, k)}",
        ]
    parts.append(f"{column.missing_share:.1%} missing")
    return parts


def shown_levels(change: ColumnChange, top: int = 3) -> list[str]:
    """The categories a row shows: the largest on either side, new ones first."""
    shares: dict[str, float] = {}
    for side in (change.base, change.head):
        for level, share in (side.shares() if side else {}).items():
            shares[level] = max(shares.get(level, 0.0), share)
    new = [lv for lv in change.new_levels if lv in shares][:top]
    rest = sorted((lv for lv in shares if lv not in new), key=lambda lv: -shares[lv])
    return new + rest[: max(top - len(new), 1)]


def evidence_text(drift: FeatureDrift, kind: str) -> str:
    """The monitor's test and effect size for the distribution, and the missing share's
    when it was tested, each with its BH-adjusted p-value."""
    if kind == CATEGORICAL:
        words = f"χ² {drift.statistic:,.1f}, JS {drift.effect:.3f}"
    else:
        words = f"KS D {drift.statistic:.3f}, W₁/σ {drift.effect:.3f}"
    words += f" (threshold {drift.threshold:g}), p_BH {_p(drift.p_adjusted)}"
    if drift.missing.tested:
        points = drift.missing.effect * 100
        words += (
            f"; missing {points:+.1f} pts (threshold {drift.missing.threshold * 100:g}), "
            f"p_BH {_p(drift.missing.p_adjusted)}"
        )
    return words


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}".replace("e-0", "e-")
