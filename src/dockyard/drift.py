"""Drift statistics: is a current table distributed like the reference, feature by feature?

A feature is declared drifted only when two gates agree, because each alone cries wolf:
- significance after Benjamini-Hochberg across every test of one comparison together: a
  two-sample Kolmogorov-Smirnov test for numbers, a chi-square test of homogeneity on the
  2 x k table for categories (both samples are noisy, so a goodness-of-fit test against
  the reference's frequencies would flag a few hundred unchanged rows);
- a practical effect size above a threshold: at a million rows every column differs
  "significantly" from any other sample, so significance alone flags everything.
Effect sizes are the Wasserstein distance divided by the reference's standard deviation
for numbers and the Jensen-Shannon distance (base 2, so in [0, 1]) for categories, each
with a bootstrap interval.

Missing values (NaN, None, and infinities for numbers) are left out of the distribution
tests, and a broken feed shows as missing values, so each column's share of missing rows
is a signal of its own: a two-proportion test beside the others in the same
Benjamini-Hochberg family, with the difference in share (in points) as its effect. So is,
for a number with an expected range (the schema's soft `expect`, else its hard `ge`/`le`),
the share of its values outside that range. A share test with no such row on either side
cannot reject anything and is left out of the family (Tarone's rule at its simplest), so
clean columns cost the distribution tests no power. A feature drifts when any of its
signals does; `drifted_by` says which.

Everything is vectorised NumPy: a numeric column costs two sorts and a linear merge, a
categorical one a bincount of its codes, and a bootstrap replicate O(bins) or O(levels)
whatever the row count. scipy.special supplies only the Kolmogorov and chi-square tails;
tests check every statistic against scipy.stats.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from dockyard.errors import ConfigError, DataError

NUMERIC, CATEGORICAL = "numeric", "categorical"
# The signals a feature drifts by (FeatureDrift.drifted_by)
DISTRIBUTION, MISSING, OUT_OF_RANGE = "distribution", "missing", "out_of_range"
# A number's expected range: (low, high), None for an open side
Range = tuple[float | None, float | None]
EFFECT_NAMES = {NUMERIC: "wasserstein_normed", CATEGORICAL: "jensen_shannon"}
# Up to this product of the sample sizes the KS p-value is exact (a Python loop over the
# smaller sample's lattice rows); beyond it the asymptotic Kolmogorov tail, which is
# anti-conservative for small samples but not from here on (tests check both with scipy).
EXACT_KS_MAX_PRODUCT = 1_000_000
# A side with no values left after dropping missing ones has nothing to test.
_UNTESTED = dict(
    effect=math.nan, effect_low=math.nan, effect_high=math.nan, statistic=math.nan, p_value=1.0
)
# Two-sided Fisher test: outcomes as likely as the observed one within this relative
# tolerance count as "as extreme" (R's fisher.test uses the same), against rounding in
# the log-factorials.
_FISHER_TOLERANCE = 1e-7
# The pooled z-test is used when every expected cell count reaches this (Cochran's rule).
_Z_MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class DriftPolicy:
    """When a difference counts as drift, and how the effect-size interval is estimated.

    The values live in conf/monitor/ (dockyard.config checks them; `monitor.policy`
    builds this from the validated section); what each one means and why:

    fdr: Benjamini-Hochberg false-discovery rate across the features of one table. With
      no drift at all it bounds the chance that any feature is flagged.
    numeric_threshold: Wasserstein distance / reference std. A mean shift of s standard
      deviations scores exactly s; 0.1 is half of a "small" (Cohen's d = 0.2) shift, so a
      0.2-sd shift clears it with room for estimation noise, while a 0.1-sd shift is the
      borderline by definition.
    categorical_threshold: Jensen-Shannon distance, base 2. 0.04 is the JS distance
      between N(0, 1) and N(0.1, 1), the same borderline as the numeric threshold. Eight
      levels at 12.5% with one rising to 17.5% (the rest shrinking in proportion) score
      0.060, so that shift is found; a fixed 0.1 (Evidently's default) misses it.
    missing_threshold: change in a column's share of missing rows (0.1 = 10 points), in
      either direction: a feed that breaks turns a column (partly) empty, a change the
      distribution tests cannot see, since they leave missing values out.
    out_of_range_threshold: change in the share of a number's values outside its
      expected range. A same-distribution batch has almost none beyond the extremes of
      the sample the range was drafted from, so a few points already mean another
      source, unit or sentinel value.
    bootstrap: replicates for the effect's interval (0 = no interval); 500 leave about a
      dozen beyond the 97.5% quantile the interval reads. Each costs O(bins) for numbers
      and O(levels) for categories, whatever the row count.
    bins: pooled-quantile bins the numeric bootstrap resamples. The interval's spread
      comes from CDF fluctuations wider than a bin, so a hundred-odd bins suffice; the
      cost is linear in bins.
    confidence: coverage of the effect's interval.
    seed: the bootstrap's seed; each column draws from (seed, its name), so a column's
      interval does not depend on which other columns are tested.
    """

    fdr: float
    numeric_threshold: float
    categorical_threshold: float
    missing_threshold: float
    out_of_range_threshold: float
    bootstrap: int
    bins: int
    confidence: float
    seed: int

    def threshold(self, kind: str) -> float:
        return self.numeric_threshold if kind == NUMERIC else self.categorical_threshold


# The settings of the `monitor` section that DriftPolicy takes (the rest: alpha, retrain_on).
DRIFT_KEYS = (
    "fdr",
    "numeric_threshold",
    "categorical_threshold",
    "missing_threshold",
    "out_of_range_threshold",
    "bootstrap",
    "bins",
    "confidence",
    "seed",
)


def drift_policy(section: Any) -> DriftPolicy:
    """The drift statistics' settings of a validated `monitor` section (a mapping or an
    OmegaConf node, e.g. `load_params().monitor`)."""
    return DriftPolicy(**{key: section[key] for key in DRIFT_KEYS})


@dataclass(frozen=True)
class ShareShift:
    """A share of rows on both sides: missing values (of all rows) or values outside the
    expected range (of the values present), compared by a two-proportion test."""

    reference: float
    current: float
    effect: float  # current - reference (signed); the verdict reads its size
    threshold: float
    statistic: float  # z of the pooled two-proportion test (NaN: nothing to test)
    p_value: float
    p_adjusted: float
    tested: bool  # False when neither side has such a row: not in the BH family
    drifted: bool


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison. The distribution drifts when p_adjusted <= fdr and
    effect > threshold; `missing` and `out_of_range` are judged alike on their own
    shares, and the feature drifts (`drifted`) when any of them does (`drifted_by`)."""

    column: str
    kind: str
    effect_name: str
    effect: float
    effect_low: float
    effect_high: float
    threshold: float
    statistic: float  # KS D or chi-square
    p_value: float
    p_adjusted: float  # Benjamini-Hochberg over every test of the comparison
    drifted: bool
    n_reference: int  # non-missing values tested
    n_current: int
    unseen_current: float | None  # share of current rows in a category absent from reference
    missing: ShareShift
    # numbers with an expected range: the share outside it
    expected_range: Range | None = None
    out_of_range: ShareShift | None = None
    drifted_by: tuple[str, ...] = ()

    @property
    def missing_reference(self) -> float:
        return self.missing.reference

    @property
    def missing_current(self) -> float:
        return self.missing.current

    def signals(self) -> dict[str, tuple[float, bool]]:
        """p-value and whether it is tested, per signal, in a fixed order."""
        found = {DISTRIBUTION: (self.p_value, self.n_reference > 0 and self.n_current > 0)}
        found[MISSING] = (self.missing.p_value, self.missing.tested)
        if self.out_of_range is not None:
            found[OUT_OF_RANGE] = (self.out_of_range.p_value, self.out_of_range.tested)
        return found

    def to_dict(self) -> dict[str, object]:
        """Plain values for JSON (which has no NaN or infinity: those become None)."""
        return _plain(dataclasses.asdict(self))


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Adjusted p-values: reject at FDR q exactly where the adjusted value is <= q."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    result = np.empty(m)
    result[order] = adjusted
    return result


def ks_2samp_sorted(a_sorted: np.ndarray, b_sorted: np.ndarray) -> tuple[float, float]:
    """Two-sided two-sample KS (D, p) of two sorted samples without missing values."""
    h, _ = _gap_summary(*_merge(a_sorted, b_sorted))
    return h / (a_sorted.size * b_sorted.size), _ks_p(h, a_sorted.size, b_sorted.size)


def wasserstein_sorted(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    """First Wasserstein distance between two sorted samples: the area between their CDFs."""
    _, area = _gap_summary(*_merge(a_sorted, b_sorted))
    return area / (a_sorted.size * b_sorted.size)


def jensen_shannon(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (square root of the divergence, base 2: in [0, 1])."""
    return float(_js_rows(np.asarray(p_counts, float), np.asarray(q_counts, float)))


def chi2_homogeneity(counts_a: np.ndarray, counts_b: np.ndarray) -> tuple[float, int, float]:
    """Chi-square test that two samples share one categorical distribution: (stat, dof, p).

    Levels absent from both samples carry no information and are dropped; with fewer
    than two levels left there is nothing to compare (statistic 0, p = 1).
    """
    table = np.vstack([counts_a, counts_b]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or rows.min() == 0:
        return 0.0, max(table.shape[1] - 1, 0), 1.0
    expected = np.outer(rows, table.sum(axis=0)) / rows.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    return statistic, dof, float(special.chdtrc(dof, statistic))


def two_proportions(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float, float]:
    """Two-sided test that x_a of n_a and x_b of n_b come from one share: (z, p).

    The pooled z-test (the 2 x 2 chi-square without continuity correction) when every
    expected cell count is at least 5; Fisher's exact test below that, where the normal
    tail would be anti-conservative (a handful of missing values among a few dozen rows).
    z is reported either way (NaN when both shares are 0 or both 1).
    """
    total, events = n_a + n_b, x_a + x_b
    if n_a == 0 or n_b == 0 or events in (0, total):
        return math.nan, 1.0
    pooled = events / total
    z = (x_b / n_b - x_a / n_a) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if min(n_a, n_b) * min(events, total - events) / total >= _Z_MIN_EXPECTED:
        return z, float(special.chdtrc(1, z * z))
    return z, _fisher_two_sided(x_a, n_a, events, total)


def _fisher_two_sided(x_a: int, n_a: int, events: int, total: int) -> float:
    """P(a table with these margins is at most as likely as the observed one)."""
    support = np.arange(max(0, events - (total - n_a)), min(events, n_a) + 1)
    log_pmf = (
        -special.gammaln(support + 1)
        - special.gammaln(n_a - support + 1)
        - special.gammaln(events - support + 1)
        - special.gammaln(total - n_a - events + support + 1)
    )
    observed = log_pmf[x_a - support[0]]
    extreme = log_pmf <= observed + math.log1p(_FISHER_TOLERANCE)
    top = log_pmf.max()
    return float(min(1.0, np.exp(log_pmf[extreme] - top).sum() / np.exp(log_pmf - top).sum()))


def infer_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """numeric for number columns (not booleans), categorical for everything else."""
    return {
        str(name): NUMERIC
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        else CATEGORICAL
        for name, dtype in frame.dtypes.items()
    }


def compare_feature(
    reference: pd.Series,
    current: pd.Series,
    kind: str,
    policy: DriftPolicy,
    column: str | None = None,
    expected_range: Range | None = None,
) -> FeatureDrift:
    """Every signal of one series, each p-value unadjusted and no verdict yet: the
    comparisons `adjust_together` judges as one family. `expected_range` (numbers only)
    adds the share of values outside it as a signal."""
    name = column if column is not None else str(reference.name)
    if kind not in EFFECT_NAMES:
        raise ConfigError(
            f"column {name!r} has kind {kind!r}, but drift kinds are {NUMERIC!r} and "
            f"{CATEGORICAL!r}. Fix the column's kind where the monitor's kinds are declared.",
            kind="not-a-choice",
            column=name,
        )
    for side, series in (("reference", reference), ("current", current)):
        if len(series) == 0:
            raise DataError(
                f"the {side} data has no rows, so column {name!r} cannot be compared.",
                kind="no-rows",
                column=name,
            )
    rng = np.random.default_rng([policy.seed, zlib.crc32(name.encode())])
    if kind == NUMERIC:
        bounded = expected_range is not None and any(v is not None for v in expected_range)
        fields = _numeric(
            reference, current, policy, rng, name, expected_range if bounded else None
        )
    else:
        fields = _categorical(reference, current, policy, rng, name)
    fields |= dict(threshold=policy.threshold(kind), p_adjusted=fields["p_value"], drifted=False)
    return FeatureDrift(column=name, kind=kind, effect_name=EFFECT_NAMES[kind], **fields)


def feature_drift(
    reference: pd.Series,
    current: pd.Series,
    kind: str,
    policy: DriftPolicy,
    column: str | None = None,
    expected_range: Range | None = None,
) -> FeatureDrift:
    """One series compared on its own, its signals adjusted over themselves (with a
    single test the adjusted p-value is the raw one); `table_drift` and the monitor
    adjust across everything they compare instead."""
    result = compare_feature(reference, current, kind, policy, column, expected_range)
    return adjust_together([result], policy)[0]


def compare_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str] | None,
    policy: DriftPolicy,
    ranges: Mapping[str, Range] | None = None,
) -> list[FeatureDrift]:
    """`compare_feature` for every column in `kinds` (default: `infer_kinds(reference)`),
    with its expected range from `ranges`; unadjusted."""
    kinds = dict(kinds) if kinds is not None else infer_kinds(reference)
    ranges = ranges or {}
    by_name = [{str(c): c for c in frame.columns} for frame in (reference, current)]
    absent = [c for c in kinds if any(c not in names for names in by_name)]
    if absent:
        raise DataError(
            f"drift needs columns {absent} in both tables; reference has {list(by_name[0])}, "
            f"current has {list(by_name[1])}. Add the columns or remove them from the "
            "monitored kinds.",
            kind="missing-column",
            column=absent[0],
        )
    return [
        compare_feature(
            reference[by_name[0][c]], current[by_name[1][c]], kind, policy, c, ranges.get(c)
        )
        for c, kind in kinds.items()
    ]


def table_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str] | None,
    policy: DriftPolicy,
    ranges: Mapping[str, Range] | None = None,
) -> list[FeatureDrift]:
    """Every column in `kinds` (default: `infer_kinds(reference)`), all signals
    BH-adjusted together."""
    return adjust_together(compare_table(reference, current, kinds, policy, ranges), policy)


def adjust_together(results: Sequence[FeatureDrift], policy: DriftPolicy) -> list[FeatureDrift]:
    """Benjamini-Hochberg over every tested signal of `results` (distributions, missing
    shares, out-of-range shares; a model's predictions among them), then the verdicts.
    Untested signals keep p_adjusted = 1 and take no place in the family."""
    tested = [
        (i, signal, p)
        for i, result in enumerate(results)
        for signal, (p, is_tested) in result.signals().items()
        if is_tested
    ]
    adjusted = benjamini_hochberg([p for _, _, p in tested])
    found: dict[tuple[int, str], float] = {
        (i, signal): float(q) for (i, signal, _), q in zip(tested, adjusted, strict=True)
    }
    return [
        _verdict(result, {s: found.get((i, s), 1.0) for s in result.signals()}, policy)
        for i, result in enumerate(results)
    ]


def _verdict(result: FeatureDrift, adjusted: dict[str, float], policy: DriftPolicy) -> FeatureDrift:
    significant = {signal: q <= policy.fdr for signal, q in adjusted.items()}
    distribution = significant[DISTRIBUTION] and result.effect > result.threshold
    shares: dict[str, ShareShift] = {}
    for signal in (MISSING, OUT_OF_RANGE):
        share = result.missing if signal == MISSING else result.out_of_range
        if share is not None:
            drifted = significant[signal] and abs(share.effect) > share.threshold
            shares[signal] = dataclasses.replace(
                share, p_adjusted=adjusted[signal], drifted=bool(share.tested and drifted)
            )
    drifted_by = ((DISTRIBUTION,) if distribution else ()) + tuple(
        signal for signal, share in shares.items() if share.drifted
    )
    return dataclasses.replace(
        result,
        p_adjusted=adjusted[DISTRIBUTION],
        missing=shares[MISSING],
        out_of_range=shares.get(OUT_OF_RANGE),
        drifted=bool(drifted_by),
        drifted_by=drifted_by,
    )


def _share_shift(x_a: int, n_a: int, x_b: int, n_b: int, threshold: float) -> ShareShift:
    """x_a of n_a reference rows against x_b of n_b current rows; untested (no place in
    the family) when the share is 0 on both sides, or 1 on both, or a side has no rows."""
    reference = x_a / n_a if n_a else math.nan
    current = x_b / n_b if n_b else math.nan
    z, p_value = two_proportions(x_a, n_a, x_b, n_b)
    return ShareShift(
        reference=reference,
        current=current,
        effect=current - reference,
        threshold=threshold,
        statistic=z,
        p_value=p_value,
        p_adjusted=p_value,
        tested=bool(n_a and n_b and 0 < x_a + x_b < n_a + n_b),
        drifted=False,
    )


# Numbers ------------------------------------------------------------------------------


def _numeric(reference, current, policy, rng, name, expected_range) -> dict[str, object]:
    a, missing_a = _finite_sorted(_numeric_values(reference, name))
    b, missing_b = _finite_sorted(_numeric_values(current, name))
    a, b = a.astype(np.result_type(a, b), copy=False), b.astype(np.result_type(a, b), copy=False)
    fields: dict[str, object] = dict(
        n_reference=a.size,
        n_current=b.size,
        unseen_current=None,
        missing=_share_shift(
            missing_a, len(reference), missing_b, len(current), policy.missing_threshold
        ),
    )
    if expected_range is not None:
        low, high = (None if v is None else float(v) for v in expected_range)
        fields["expected_range"] = (low, high)
        fields["out_of_range"] = _share_shift(
            _outside(a, low, high),
            a.size,
            _outside(b, low, high),
            b.size,
            policy.out_of_range_threshold,
        )
    if a.size == 0 or b.size == 0:
        return fields | _UNTESTED
    values, gap = _merge(a, b)
    h, area = _gap_summary(values, gap)
    scale, scale_is_reference = _scale(a, b)
    effect = area / (a.size * b.size) / scale if scale > 0 else 0.0
    p_value = _ks_p(h, a.size, b.size)
    if scale == 0:  # both samples are the same constant
        low, high = 0.0, 0.0
    else:
        shifts = _numeric_shifts(a, b, values, scale, scale_is_reference, policy, rng)
        low, high = _interval(effect, shifts, p_value, policy.confidence, upper=math.inf)
    return fields | dict(
        effect=effect,
        effect_low=low,
        effect_high=high,
        statistic=h / (a.size * b.size),
        p_value=p_value,
    )


def _outside(sorted_values: np.ndarray, low: float | None, high: float | None) -> int:
    """How many of the sorted values lie below low or above high."""
    below = 0 if low is None else int(np.searchsorted(sorted_values, low, side="left"))
    above = 0
    if high is not None:
        above = sorted_values.size - int(np.searchsorted(sorted_values, high, side="right"))
    return below + above


def _numeric_values(series: pd.Series, name: str) -> np.ndarray:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return series.to_numpy()
    if not pd.api.types.is_numeric_dtype(dtype):
        if series.isna().all():  # a column that arrived empty reads as no type at all
            return np.full(len(series), np.nan)
        raise DataError(
            f"column {name!r} is monitored as numeric but holds {dtype} values. Declare it "
            f"{CATEGORICAL!r} or convert it to numbers before monitoring.",
            kind="wrong-type",
            column=name,
        )
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _finite_sorted(values: np.ndarray) -> tuple[np.ndarray, int]:
    finite = np.isfinite(values)
    missing = values.size - int(np.count_nonzero(finite))
    return np.sort(values[finite] if missing else values), missing


def _scale(a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    """The reference's std; a constant reference has none, so the pooled std stands in."""
    scale = float(np.std(a, dtype=np.float64))
    if scale > 0:
        return scale, True
    return float(np.std(np.concatenate([a, b]), dtype=np.float64)), False


def _merge(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled sorted values and n_b*count_a - n_a*count_b up to each pooled position.

    A stable argsort of two sorted runs is a single O(n) merge (timsort); the CDF gap,
    kept in integers, gives KS D (its largest magnitude) and W1 (its area) exactly.
    """
    pooled = np.concatenate([a, b])
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    count_a = np.cumsum(order < a.size)
    gap = count_a * (a.size + b.size) - np.arange(1, pooled.size + 1) * a.size
    return values, gap


def _gap_summary(values: np.ndarray, gap: np.ndarray) -> tuple[int, float]:
    """(D, W1) * n_a * n_b: the largest gap where a run of tied values ends, and its area."""
    widths = np.diff(values.astype(np.float64))
    size = np.abs(gap[:-1])
    h = int(np.max(size, where=widths > 0, initial=0))
    return h, float(np.sum(size * widths))  # not np.dot: BLAS threads cost more than this


def _ks_p(h: int, n_a: int, n_b: int) -> float:
    if h <= 0:
        return 1.0
    if n_a * n_b <= EXACT_KS_MAX_PRODUCT:
        return _ks_exact_sf(h, n_a, n_b)
    en = n_a * n_b / (n_a + n_b)
    return float(min(1.0, special.kolmogorov(math.sqrt(en) * h / (n_a * n_b))))


def _ks_exact_sf(h: int, m: int, n: int) -> float:
    """P(D * m * n >= h) for continuous samples of sizes m and n.

    Pooled in order, the samples trace a lattice path from (0, 0) to (m, n); D * m * n
    >= h exactly when the path touches |i*n - j*m| >= h. Paths are counted row by row
    inside that band (which only moves right); each path leaving it is weighted by the
    ways to finish, so the tail is a sum of positive terms, accurate even for tiny p.
    Ties make the true p-value smaller, so this one is conservative then.
    """
    if m > n:
        m, n = n, m
    rows = np.arange(m + 1)
    lows = np.maximum(0, (rows * n - h) // m + 1).tolist()  # the band's cells in each row
    highs = np.minimum(n, (rows * n + h - 1) // m).tolist()
    row = np.zeros(n + 1)
    lo, hi = lows[0], highs[0]
    row[lo : hi + 1] = 1.0
    log_scale = 0.0
    exits: list[tuple[int, int, np.ndarray, float]] = []  # (i, first j, paths, log scale)
    for i in range(m + 1):
        if i > 0:
            new_lo, new_hi = lows[i], highs[i]
            stop = hi + 1 if new_lo > new_hi else min(hi + 1, new_lo)
            if lo < stop:  # a step up from these cells leaves the band
                exits.append((i, lo, row[lo:stop].copy(), log_scale))
                row[lo:stop] = 0.0
            if new_lo > new_hi:
                break
            lo, hi = new_lo, new_hi
            row[lo : hi + 1].cumsum(out=row[lo : hi + 1])
        if hi < n:  # a step right from the band's last cell leaves it
            exits.append((i, hi + 1, row[hi : hi + 1].copy(), log_scale))
        if row[hi] > 1e200:  # the running sums are the row's largest counts: rescale
            log_scale += math.log(row[hi])
            row[lo : hi + 1] /= row[hi]
    if not exits:
        return 0.0
    sizes = [paths.size for _, _, paths, _ in exits]
    i = np.repeat([e[0] for e in exits], sizes)
    j = np.concatenate([np.arange(first, first + paths.size) for _, first, paths, _ in exits])
    with np.errstate(divide="ignore"):  # cells no path reaches weigh exp(-inf) = 0
        log_paths = np.log(np.concatenate([e[2] for e in exits]))
    log_paths += np.repeat([e[3] for e in exits], sizes)
    log_finish = special.gammaln(m - i + n - j + 1) - special.gammaln(m - i + 1)
    log_finish -= special.gammaln(n - j + 1)
    log_total = math.lgamma(m + n + 1) - math.lgamma(m + 1) - math.lgamma(n + 1)
    return min(1.0, float(np.exp(log_paths + log_finish - log_total).sum()))


def _numeric_shifts(a, b, values, scale, scale_is_reference, policy, rng) -> np.ndarray:
    """Bootstrap replicates of W1 / std minus their estimate, from shared binned counts.

    Both samples are cut at the same pooled quantiles (CDFs linear inside each bin) and
    the bin counts resampled from multinomials, so a replicate costs O(bins) at any row
    count; the reference's std is re-estimated from the same resampled counts.
    """
    if policy.bootstrap == 0:
        return np.empty(0)
    picks = np.linspace(0, values.size - 1, policy.bins + 1).round().astype(np.intp)
    edges = np.unique(values[picks])
    cells_a = np.diff(np.searchsorted(a, edges, side="right"), prepend=0)
    cells_b = np.diff(np.searchsorted(b, edges, side="right"), prepend=0)
    edges = edges.astype(np.float64)
    replicate_a = rng.multinomial(a.size, cells_a / a.size, size=policy.bootstrap)
    replicate_b = rng.multinomial(b.size, cells_b / b.size, size=policy.bootstrap)
    base = _binned_w1(edges, cells_a / a.size, cells_b / b.size)
    w1 = _binned_w1(edges, replicate_a / a.size, replicate_b / b.size)
    if scale_is_reference:
        ratio = _binned_std(edges, replicate_a / a.size) / _binned_std(edges, cells_a / a.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            replicates = w1 / (scale * ratio)
    else:
        replicates = w1 / scale
    return replicates - base / scale


def _binned_w1(edges: np.ndarray, mass_a: np.ndarray, mass_b: np.ndarray) -> np.ndarray:
    """Area between two CDFs known at the edges and linear between them (last axis)."""
    gap = np.cumsum(mass_a, axis=-1) - np.cumsum(mass_b, axis=-1)
    g0, g1 = gap[..., :-1], gap[..., 1:]
    a0, a1 = np.abs(g0), np.abs(g1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = (g0 * g0 + g1 * g1) / (2 * (a0 + a1))
    area = np.where(g0 * g1 >= 0, (a0 + a1) / 2, crossing)
    return (area * np.diff(edges)).sum(axis=-1)


def _binned_std(edges: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Std of an atom at edges[0] plus mass spread evenly inside each later bin."""
    e = edges - edges[len(edges) // 2]
    lo, hi = e[:-1], e[1:]
    means = np.r_[e[0], (lo + hi) / 2]
    squares = np.r_[e[0] ** 2, (lo * lo + lo * hi + hi * hi) / 3]
    mean = (mass * means).sum(axis=-1)
    return np.sqrt(np.maximum((mass * squares).sum(axis=-1) - mean * mean, 0.0))


def _interval(
    estimate: float, shifts: np.ndarray, p_value: float, confidence: float, upper: float
) -> tuple[float, float]:
    """estimate -/+ q, q the upper (1 + confidence) / 2 quantile of the bootstrap shifts;
    from 0 whenever the test cannot tell the samples apart at 1 - confidence.

    Distances estimated from samples are biased upward (by Jensen's inequality), by an
    amount the bootstrap misjudges: too little at zero, too much for a small smooth
    shift, whose resampled CDF gaps change sign more often than the true one. Subtracting
    q (the basic interval's lower end) and adding q (the percentile interval's upper end)
    covers in both regimes, and reaching 0 when the test does not reject inverts that
    test at effect 0. tests/test_drift.py checks the coverage by simulation.
    """
    shifts = shifts[np.isfinite(shifts)]
    if shifts.size == 0:
        return math.nan, math.nan
    q = float(np.quantile(shifts, (1 + confidence) / 2))
    low = 0.0 if p_value > 1 - confidence else max(0.0, estimate - q)
    return low, min(upper, estimate + max(q, 0.0))


# Categories ---------------------------------------------------------------------------


def _categorical(reference, current, policy, rng, name) -> dict[str, object]:
    counts_a, missing_a = _codes_and_counts(reference)
    counts_b, missing_b = _codes_and_counts(current)
    levels_a, levels_b = counts_a.index, counts_b.index
    where = pd.Index(levels_a).get_indexer(levels_b)
    new = where < 0
    where[new] = len(levels_a) + np.arange(int(new.sum()))
    a = np.zeros(len(levels_a) + int(new.sum()), dtype=np.int64)
    b = np.zeros_like(a)
    a[: len(levels_a)] = counts_a.to_numpy()
    b[where] = counts_b.to_numpy()
    n_a, n_b = int(a.sum()), int(b.sum())
    fields: dict[str, object] = dict(
        n_reference=n_a,
        n_current=n_b,
        unseen_current=float(b[a == 0].sum()) / len(current),
        missing=_share_shift(
            missing_a, len(reference), missing_b, len(current), policy.missing_threshold
        ),
    )
    if n_a == 0 or n_b == 0:
        return fields | _UNTESTED
    effect = jensen_shannon(a, b)
    statistic, _, p_value = chi2_homogeneity(a, b)
    shifts = np.empty(0)
    if policy.bootstrap:  # the observed shares are the multinomials' probabilities
        seen = (a + b) > 0
        pa, pb = a[seen] / n_a, b[seen] / n_b
        shifts = (
            _js_rows(
                rng.multinomial(n_a, pa, size=policy.bootstrap) / n_a,
                rng.multinomial(n_b, pb, size=policy.bootstrap) / n_b,
            )
            - effect
        )
    low, high = _interval(effect, shifts, p_value, policy.confidence, upper=1.0)
    return fields | dict(
        effect=effect, effect_low=low, effect_high=high, statistic=statistic, p_value=p_value
    )


def _codes_and_counts(series: pd.Series) -> tuple[pd.Series, int]:
    """Count per level (pandas categories via their codes, other values factorized)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, levels = series.cat.codes.to_numpy(), series.cat.categories
    else:
        codes, levels = pd.factorize(series, use_na_sentinel=True)
    counts = np.bincount(codes.astype(np.intp) + 1, minlength=len(levels) + 1)
    return pd.Series(counts[1:], index=levels), int(counts[0])


def _js_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) along the last axis; inputs are normalised here."""
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / m), 0.0) + np.where(q > 0, q * np.log2(q / m), 0.0)
    return np.sqrt(np.maximum(terms.sum(axis=-1) / 2, 0.0))
