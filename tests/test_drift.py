"""Drift statistics against scipy, and the verdicts they lead to, by simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp
from scipy.spatial.distance import jensenshannon

from dockyard import drift
from dockyard.drift import (
    adjust_together,
    benjamini_hochberg,
    chi2_homogeneity,
    feature_drift,
    infer_kinds,
    jensen_shannon,
    ks_2samp_sorted,
    table_drift,
    two_proportions,
    wasserstein_sorted,
)
from dockyard.errors import ConfigError, DataError

from .helpers import drift_policy, validated_section

LABELS = [f"c{k}" for k in range(8)]
UNIFORM = np.full(8, 1 / 8)
FIVE_POINTS = np.r_[0.175, np.full(7, 0.825 / 7)]  # c0 from 12.5% to 17.5%, the rest shrink
POLICY = drift_policy()  # conf/monitor/default.yaml
NO_BOOTSTRAP = drift_policy(bootstrap=0)  # verdicts do not depend on the interval


def synthetic_table(
    rows: int, rng: np.random.Generator, shift: float = 0.0, missing: float = 0.0
) -> pd.DataFrame:
    """Shaped like the `synthetic` source: 24 float32 N(0, 1) and 6 categorical columns;
    num_1 and cat_1 lose a `missing` share of their values at random."""
    columns: dict[str, object] = {
        f"num_{i}": rng.standard_normal(rows, dtype=np.float32) + np.float32(shift if i == 0 else 0)
        for i in range(24)
    }
    for j in range(6):
        columns[f"cat_{j}"] = categorical(rng.integers(0, 8, rows)).array
    table = pd.DataFrame(columns)
    if missing:
        table.loc[rng.random(rows) < missing, "num_1"] = np.nan
        table.loc[rng.random(rows) < missing, "cat_1"] = np.nan
    return table


def with_missing(values: np.ndarray, share: float) -> pd.Series:
    """values with exactly round(share * n) of them missing (the first ones)."""
    out = pd.Series(values, dtype=np.float64)
    out.iloc[: round(share * len(out))] = np.nan
    return out


def categorical(codes: np.ndarray) -> pd.Series:
    return pd.Series(pd.Categorical.from_codes(codes.astype(np.int8), categories=LABELS))


# The statistics against scipy ---------------------------------------------------------

SMALL_SIZES = [(1, 1), (1, 6), (5, 7), (20, 20), (50, 80), (37, 700), (300, 1000), (1000, 1000)]


@pytest.mark.parametrize(("m", "n"), SMALL_SIZES)
@pytest.mark.parametrize("shift", [0.0, 0.3, 0.8])
def test_ks_small_samples_are_exact(m: int, n: int, shift: float) -> None:
    rng = np.random.default_rng(m * 1000 + n)
    a, b = np.sort(rng.normal(size=m)), np.sort(rng.normal(shift, size=n))
    d, p = ks_2samp_sorted(a, b)
    expected = sp.ks_2samp(a, b, method="exact")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    # scipy approximates the far tail (it halves there for equal sizes); compare where exact
    if expected.pvalue > 1e-12:
        assert p == pytest.approx(expected.pvalue, rel=1e-8)
    else:
        assert p < 1e-10


def test_ks_with_ties_matches_scipy_and_is_conservative() -> None:
    """Ties (integer data) make the continuous p-value conservative: a permutation test,
    which is exact with ties, must not give a larger p-value (up to Monte Carlo noise)."""
    rng = np.random.default_rng(1)
    a, b = np.sort(rng.integers(0, 5, 60).astype(float)), np.sort(rng.integers(0, 6, 80) * 1.0)
    d, p = ks_2samp_sorted(a, b)
    expected = sp.ks_2samp(a, b, method="exact")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-8)
    pooled, permutations, larger = np.concatenate([a, b]), 2000, 0
    for _ in range(permutations):
        shuffled = rng.permutation(pooled)
        gap, _ = drift._gap_summary(*drift._merge(np.sort(shuffled[:60]), np.sort(shuffled[60:])))
        larger += gap / (60 * 80) >= d - 1e-12
    permutation_p = (larger + 1) / (permutations + 1)
    assert p >= permutation_p - 3 * math.sqrt(permutation_p * (1 - permutation_p) / permutations)


@pytest.mark.parametrize(("m", "n"), [(3000, 3000), (20_000, 50_000), (200_000, 200_000)])
@pytest.mark.parametrize("shift", [0.0, 0.01, 0.03])
def test_ks_large_samples_match_scipy_asymptotic(m: int, n: int, shift: float) -> None:
    rng = np.random.default_rng(m + n)
    a, b = np.sort(rng.normal(size=m)), np.sort(rng.normal(shift, size=n))
    d, p = ks_2samp_sorted(a, b)
    expected = sp.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    # Kolmogorov's limit vs scipy's one-sample distribution at n = m*n/(m+n): a few %
    assert p == pytest.approx(expected.pvalue, rel=0.05)


@pytest.mark.parametrize(("m", "n"), [(1001, 1000), (1001, 1001), (1500, 1500), (700, 1500)])
def test_ks_asymptotic_p_is_not_anti_conservative_beyond_the_exact_range(m: int, n: int) -> None:
    """Just past EXACT_KS_MAX_PRODUCT the asymptotic tail is checked against the exact one
    (itself checked against scipy above) at 40 attainable D with p from 0.2 to 1e-8."""
    assert m * n > drift.EXACT_KS_MAX_PRODUCT
    step, root_en = math.gcd(m, n), math.sqrt(m * n / (m + n))
    for z in np.linspace(1.07, 3.0, 40):  # sqrt(en) * D
        h = math.ceil(z / root_en * m * n / step) * step
        exact = drift._ks_exact_sf(h, m, n)
        assert drift._ks_p(h, m, n) >= exact * (1 - 5e-4), (z, exact)


@pytest.mark.parametrize(("m", "n"), [(1, 1), (7, 3), (100, 100), (1000, 3000)])
def test_wasserstein_matches_scipy(m: int, n: int) -> None:
    rng = np.random.default_rng(m + 7 * n)
    a = np.sort(rng.normal(size=m).astype(np.float32))
    b = np.sort(rng.gamma(2.0, size=n).astype(np.float32))
    assert wasserstein_sorted(a, b) == pytest.approx(sp.wasserstein_distance(a, b), rel=1e-9)
    ties_a, ties_b = np.sort(rng.integers(0, 4, m) * 1.0), np.sort(rng.integers(1, 5, n) * 1.0)
    assert wasserstein_sorted(ties_a, ties_b) == pytest.approx(
        sp.wasserstein_distance(ties_a, ties_b), rel=1e-9, abs=1e-15
    )


@pytest.mark.parametrize("seed", range(5))
def test_jensen_shannon_matches_scipy_base_2(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, 50, 8), rng.integers(0, 50, 8)
    p[seed % 8] = 0  # a level missing on one side
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-7)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


def test_five_point_shift_scores_above_the_categorical_threshold() -> None:
    score = jensenshannon(UNIFORM, FIVE_POINTS, base=2)
    assert score == pytest.approx(0.0596, abs=1e-4)
    assert POLICY.categorical_threshold < score < 0.1  # 0.1 (Evidently's) misses it


@pytest.mark.parametrize("levels", [2, 3, 8, 20])
def test_chi2_homogeneity_matches_scipy(levels: int) -> None:
    rng = np.random.default_rng(levels)
    a, b = rng.integers(1, 200, levels), rng.integers(1, 300, levels)
    statistic, dof, p = chi2_homogeneity(a, b)
    expected = sp.chi2_contingency(np.vstack([a, b]), correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert dof == expected.dof
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_chi2_homogeneity_holds_its_level_where_goodness_of_fit_cries_wolf() -> None:
    """500 vs 500 rows, one distribution: homogeneity rejects ~5% of pairs at 0.05. A
    goodness-of-fit test against the reference's shares (Evidently's chi-square) treats
    them as exact, which doubles the statistic under the null: it rejects with probability
    P(chi2_7 > 14.07 / 2) = 0.43."""
    rng = np.random.default_rng(9)
    pairs, homogeneity, goodness_of_fit = 400, 0, 0
    for _ in range(pairs):
        a, b = rng.multinomial(500, UNIFORM), rng.multinomial(500, UNIFORM)
        homogeneity += chi2_homogeneity(a, b)[2] < 0.05
        goodness_of_fit += sp.chisquare(b, a * b.sum() / a.sum()).pvalue < 0.05
    assert homogeneity <= 0.05 * pairs + 3 * math.sqrt(pairs * 0.05 * 0.95)
    assert goodness_of_fit > 0.25 * pairs


def test_chi2_drops_empty_levels_and_needs_two() -> None:
    with_empty = chi2_homogeneity(np.array([10, 0, 5]), np.array([7, 0, 9]))
    assert with_empty == pytest.approx(chi2_homogeneity(np.array([10, 5]), np.array([7, 9])))
    assert chi2_homogeneity(np.array([10, 0]), np.array([4, 0])) == (0.0, 0, 1.0)


@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b"),
    [(99, 600, 600, 600), (60, 600, 492, 600), (40, 400, 52, 400), (3, 30, 9, 30), (0, 50, 4, 5)],
)
def test_two_proportions_match_scipy(x_a: int, n_a: int, x_b: int, n_b: int) -> None:
    """The pooled z-test is the 2 x 2 chi-square without continuity correction; below
    five expected in a cell the p-value is Fisher's exact test."""
    table = np.array([[x_a, n_a - x_a], [x_b, n_b - x_b]])
    z, p = two_proportions(x_a, n_a, x_b, n_b)
    chi2 = sp.chi2_contingency(table, correction=False)
    assert z * z == pytest.approx(chi2.statistic) and np.sign(z) == np.sign(x_b / n_b - x_a / n_a)
    expected = sp.contingency.expected_freq(table).min()
    reference = chi2.pvalue if expected >= 5 else sp.fisher_exact(table).pvalue
    assert p == pytest.approx(reference, rel=1e-9, abs=1e-300)
    assert two_proportions(0, 10, 0, 20) == (pytest.approx(math.nan, nan_ok=True), 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_benjamini_hochberg_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=25), rng.uniform(0, 0.01, size=5), [0.02, 0.02]])
    assert benjamini_hochberg(p) == pytest.approx(sp.false_discovery_control(p, method="bh"))
    assert benjamini_hochberg([]).size == 0


# Features, tables and what they report -------------------------------------------------


def test_missing_values_and_unseen_categories_are_reported_as_shares() -> None:
    reference = pd.Series([1.0, 2.0, np.nan, 4.0, np.inf, 3.0, 2.5, 1.5])
    current = pd.Series([np.nan, np.nan, 1.0, 2.0])
    result = feature_drift(reference, current, "numeric", POLICY, column="x")
    assert (result.n_reference, result.n_current) == (6, 2)
    assert (result.missing_reference, result.missing_current) == (0.25, 0.5)
    assert result.unseen_current is None
    d, p = ks_2samp_sorted(np.array([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]), np.array([1.0, 2.0]))
    assert (result.statistic, result.p_value) == pytest.approx((d, p))

    words = pd.Series(["a", "b", "a", None, "c", "a"], dtype=object)
    later = pd.Series(["a", "d", "d", None, None, "b", "e", "a"], dtype="string")
    result = feature_drift(words, later, "categorical", POLICY, column="w")
    assert (result.n_reference, result.n_current) == (5, 6)
    assert result.missing_reference == pytest.approx(1 / 6)
    assert result.missing_current == pytest.approx(2 / 8)
    assert result.unseen_current == pytest.approx(3 / 8)  # d, d, e
    expected = sp.chi2_contingency(np.array([[3, 1, 1, 0, 0], [2, 1, 0, 2, 1]]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.effect == pytest.approx(jensenshannon([3, 1, 1, 0, 0], [2, 1, 0, 2, 1], base=2))


def test_pandas_categories_match_on_labels_not_codes() -> None:
    """Different category lists (or orders) on the two sides are aligned by label, and a
    declared category no reference row uses still counts as unseen."""
    reference = pd.Series(pd.Categorical(["x", "y", "y"], categories=["y", "x", "z"]))
    current = pd.Series(pd.Categorical(["z", "y", "x", "x"], categories=["x", "y", "z"]))
    result = feature_drift(reference, current, "categorical", POLICY, column="c")
    assert result.effect == pytest.approx(jensenshannon([2, 1, 0], [1, 2, 1], base=2))
    assert result.unseen_current == pytest.approx(1 / 4)
    same = feature_drift(
        reference.astype(object), current.astype(object), "categorical", POLICY, column="c"
    )
    assert (same.statistic, same.p_value) == pytest.approx((result.statistic, result.p_value))


def test_prediction_drift_on_one_series_is_adjusted_over_itself() -> None:
    rng = np.random.default_rng(3)
    classes = feature_drift(
        pd.Series(rng.choice(3, 5000, p=[0.5, 0.3, 0.2])),
        pd.Series(rng.choice(3, 5000, p=[0.3, 0.3, 0.4])),
        "categorical",
        POLICY,
        column="prediction",
    )
    assert classes.p_adjusted == classes.p_value < 1e-10
    assert classes.drifted
    values = feature_drift(
        pd.Series(rng.normal(size=3000)),
        pd.Series(rng.normal(size=3000)),
        "numeric",
        POLICY,
        column="prediction",
    )
    assert not values.drifted
    assert values.effect_low == 0.0 <= values.effect <= values.effect_high


def test_table_drift_adjusts_across_features_and_reports_json() -> None:
    rng = np.random.default_rng(4)
    reference, current = synthetic_table(3000, rng), synthetic_table(3000, rng, shift=0.5)
    results = table_drift(reference, current, None, POLICY)
    assert [r.column for r in results] == list(reference.columns)
    assert {r.kind for r in results} == {"numeric", "categorical"}
    adjusted = benjamini_hochberg([r.p_value for r in results])
    assert [r.p_adjusted for r in results] == pytest.approx(list(adjusted))
    assert [r.column for r in results if r.drifted] == ["num_0"]
    shifted = results[0]
    assert shifted.effect_low < 0.5 < shifted.effect_high
    assert shifted.effect_name == "wasserstein_normed" and shifted.threshold == 0.1
    text = json.dumps([r.to_dict() for r in results], allow_nan=False)
    assert json.loads(text)[-1]["effect_name"] == "jensen_shannon"


# Missing and out-of-range shares ---------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [(0.165, 1.0), (0.10, 0.82)])
@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_column_going_empty_is_drift_by_its_missing_share(
    before: float, after: float, kind: str
) -> None:
    """A broken feed: the distribution of what is left looks the same (or is gone), but
    the missing share jumps; the feature drifts by `missing`, the others not at all."""
    rng = np.random.default_rng(int(after * 100))
    reference, current = synthetic_table(600, rng), synthetic_table(600, rng)
    column = "num_3" if kind == "numeric" else "cat_3"
    for table, share in ((reference, before), (current, after)):
        table[column] = table[column].astype(object if kind == "categorical" else np.float64)
        table.loc[: round(share * 600) - 1, column] = np.nan
    results = {r.column: r for r in table_drift(reference, current, None, NO_BOOTSTRAP)}
    assert [c for c, r in results.items() if r.drifted] == [column]
    broken = results[column]
    assert broken.drifted_by == ("missing",)
    assert (broken.missing.reference, broken.missing.current) == pytest.approx((before, after))
    assert broken.missing.effect == pytest.approx(after - before)
    assert broken.missing.p_adjusted < 1e-10 and broken.missing.threshold == 0.1
    assert broken.to_dict()["missing"]["drifted"] is True


def test_a_missing_share_change_needs_significance_and_the_effect_floor() -> None:
    rng = np.random.default_rng(11)
    values = [rng.standard_normal(n) for n in (20_000, 20_000, 40, 40)]
    small_shift = feature_drift(
        with_missing(values[0], 0.10), with_missing(values[1], 0.15), "numeric", NO_BOOTSTRAP
    )
    assert small_shift.missing.p_value < 1e-40  # 5 points: real, but under the 10-point floor
    assert not small_shift.drifted and not small_shift.missing.drifted
    few_rows = feature_drift(
        with_missing(values[2], 0.0), with_missing(values[3], 0.125), "numeric", NO_BOOTSTRAP
    )
    assert few_rows.missing.effect == 0.125 and few_rows.missing.p_value > 0.05  # Fisher
    assert not few_rows.drifted
    strict = drift_policy(bootstrap=0, missing_threshold=0.02)
    found = feature_drift(
        with_missing(values[0], 0.10), with_missing(values[1], 0.15), "numeric", strict
    )
    assert found.drifted_by == ("missing",)


def test_a_numeric_column_that_arrives_empty_is_drift_not_a_type_error() -> None:
    """A CSV column with no value at all reads as no type (object None): it is a column
    100% missing, not a column that should have been declared categorical."""
    rng = np.random.default_rng(12)
    reference = pd.DataFrame({"x": rng.standard_normal(300), "y": rng.standard_normal(300)})
    current = pd.DataFrame(
        {"x": pd.Series([None] * 200, dtype=object), "y": rng.standard_normal(200)}
    )
    x, y = table_drift(reference, current, {"x": "numeric", "y": "numeric"}, NO_BOOTSTRAP)
    assert x.drifted_by == ("missing",) and (x.n_current, x.missing.current) == (0, 1.0)
    assert x.p_value == 1.0 and x.p_adjusted == 1.0  # no distribution left to test
    assert not y.drifted
    text = json.dumps(x.to_dict(), allow_nan=False)
    assert json.loads(text)["effect"] is None


def test_values_outside_the_expected_range_are_a_signal_of_their_own() -> None:
    rng = np.random.default_rng(13)
    reference = rng.standard_normal(5000)
    current = rng.standard_normal(5000)
    current[:400] = rng.uniform(3.5, 4.0, 400)  # 8% beyond the range (-3.5, 3.5)
    result = feature_drift(
        pd.Series(reference), pd.Series(current), "numeric", NO_BOOTSTRAP, "x", (-3.5, 3.5)
    )
    outside = np.mean(np.abs(reference) > 3.5), np.mean(np.abs(current) > 3.5)
    assert result.expected_range == (-3.5, 3.5)
    assert (result.out_of_range.reference, result.out_of_range.current) == pytest.approx(outside)
    assert "out_of_range" in result.drifted_by and result.out_of_range.threshold == 0.05
    # a lower bound alone; a few points outside is significant but under the floor
    current[:400] = rng.standard_normal(400)
    current[:100] = -3.9
    one_sided = feature_drift(
        pd.Series(reference), pd.Series(current), "numeric", NO_BOOTSTRAP, "x", (-3.5, None)
    )
    assert one_sided.out_of_range.current == pytest.approx(np.mean(current < -3.5))
    assert one_sided.out_of_range.p_value < 1e-10 and not one_sided.out_of_range.drifted
    assert (
        feature_drift(pd.Series(reference), pd.Series(current), "numeric", POLICY).out_of_range
        is None
    )


def test_every_signal_and_the_predictions_are_one_benjamini_hochberg_family() -> None:
    """Distributions, missing and out-of-range shares, and a prediction compared on other
    rows, adjusted together; a share no row has on either side is no test."""
    rng = np.random.default_rng(14)
    reference, current = synthetic_table(500, rng, missing=0.2), synthetic_table(500, rng)
    ranges = {"num_0": (-2.5, 2.5), "num_5": (None, 9.0)}
    features = drift.compare_table(reference, current, None, NO_BOOTSTRAP, ranges)
    prediction = drift.compare_feature(
        pd.Series(rng.choice(["a", "b"], 900)),
        pd.Series(rng.choice(["a", "b"], 500)),
        "categorical",
        NO_BOOTSTRAP,
        "prediction",
    )
    judged = adjust_together([*features, prediction], NO_BOOTSTRAP)
    raw = [r.p_value for r in [*features, prediction]]
    raw += [r.missing.p_value for r in features if r.column in ("num_1", "cat_1")]
    raw += [features[0].out_of_range.p_value]  # num_5: no value beyond 9 on either side
    adjusted = iter(benjamini_hochberg(raw))
    for r in judged:
        assert r.p_adjusted == pytest.approx(next(adjusted))
    for name in ("num_1", "cat_1"):
        assert next(r for r in judged if r.column == name).missing.p_adjusted == pytest.approx(
            next(adjusted)
        )
    assert judged[0].out_of_range.p_adjusted == pytest.approx(next(adjusted))
    num_5 = next(r for r in judged if r.column == "num_5")
    assert not num_5.out_of_range.tested and num_5.out_of_range.p_adjusted == 1.0
    assert not judged[2].missing.tested  # num_2: no missing value on either side
    assert {r.column for r in judged if r.drifted} == {"num_1", "cat_1"}  # 20% -> 0%


def test_all_missing_or_constant_columns_give_no_false_verdict() -> None:
    reference = pd.DataFrame({"x": [1.0, 1.0, 1.0], "y": [1.0, 2.0, 3.0]})
    current = pd.DataFrame({"x": [1.0, 1.0], "y": [np.nan, np.nan]})
    x, y = table_drift(reference, current, {"x": "numeric", "y": "numeric"}, POLICY)
    assert (x.effect, x.p_value, x.drifted) == (0.0, 1.0, False)
    assert (y.n_current, y.missing_current, y.p_value, y.drifted) == (0, 1.0, 1.0, False)
    assert y.to_dict()["effect"] is None


def test_intervals_are_reproducible_and_independent_of_other_columns() -> None:
    rng = np.random.default_rng(5)
    reference, current = synthetic_table(800, rng), synthetic_table(800, rng, shift=0.3)
    alone = table_drift(reference[["num_0"]], current[["num_0"]], None, POLICY)[0]
    together = table_drift(reference, current, None, POLICY)[0]
    assert (alone.effect_low, alone.effect_high) == (together.effect_low, together.effect_high)
    other_seed = table_drift(reference[["num_0"]], current[["num_0"]], None, drift_policy(seed=1))
    assert other_seed[0].effect_high != alone.effect_high


def test_user_mistakes_raise_errors_that_say_how_to_fix_them() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]})
    with pytest.raises(DataError) as caught:
        table_drift(frame, frame, {"missing": "numeric"}, POLICY)
    assert (caught.value.kind, caught.value.column) == ("missing-column", "missing")
    with pytest.raises(DataError) as caught:
        table_drift(frame, frame, {"s": "numeric"}, POLICY)
    assert (caught.value.kind, caught.value.column) == ("wrong-type", "s")
    assert "Declare it 'categorical'" in str(caught.value)  # the fix
    with pytest.raises(ConfigError) as caught:
        table_drift(frame, frame, {"a": "number"}, POLICY)
    assert (caught.value.kind, caught.value.column) == ("not-a-choice", "a")
    assert "kind 'number'" in str(caught.value)  # the value found
    with pytest.raises(DataError) as caught:
        table_drift(frame, frame.iloc[:0], None, POLICY)
    assert (caught.value.kind, caught.value.column) == ("no-rows", "a")
    # the one wording check for kind 'no-rows'
    assert str(caught.value) == "the current data has no rows, so column 'a' cannot be compared."
    with pytest.raises(ConfigError) as caught:
        validated_section("monitor", fdr=1.5)
    assert (caught.value.kind, caught.value.key) == ("out-of-range", "monitor.fdr")
    # the one wording check for kind 'out-of-range'
    assert str(caught.value).startswith(
        "conf/monitor: 'monitor.fdr' must be a number in (0, 1), found 1.5. Fix it in "
        "conf/monitor/ (or your override)"
    )
    assert infer_kinds(frame) == {"a": "numeric", "s": "categorical"}


# Verdicts by simulation -----------------------------------------------------------------

# Under no drift at all, BH at q bounds P(any feature flagged) by q; the effect gate only
# lowers it. Over R batches the count of batches with a flag is at most Binomial(R, q):
# the bound q*R + 3 sd fails a correct method with probability under 0.5%.
FALSE_ALARM_REPEATS = {200: 40, 2000: 40, 20_000: 20}


@pytest.mark.parametrize("rows", list(FALSE_ALARM_REPEATS))
def test_no_drift_flags_at_most_the_fdr_share_of_batches(rows: int) -> None:
    repeats, q = FALSE_ALARM_REPEATS[rows], NO_BOOTSTRAP.fdr
    rng = np.random.default_rng(rows)
    alarms = 0
    ranges = {f"num_{i}": (-3.0, 3.0) for i in range(24)}  # ~0.3% outside on both sides
    for _ in range(repeats):
        results = table_drift(
            synthetic_table(rows, rng, missing=0.165),
            synthetic_table(rows, rng, missing=0.165),
            None,
            NO_BOOTSTRAP,
            ranges,
        )
        alarms += any(r.drifted for r in results)
    assert alarms <= q * repeats + 3 * math.sqrt(repeats * q * (1 - q))


def test_real_shifts_are_found_at_a_million_rows_and_nothing_else() -> None:
    """A 0.2-sd mean shift and the 5-point categorical shift are found; the unchanged
    columns, whose raw p-values are uniform, are not."""
    rng = np.random.default_rng(6)
    rows = 1_000_000
    reference = pd.DataFrame(
        {
            "num_0": rng.standard_normal(rows, dtype=np.float32),
            "num_1": rng.standard_normal(rows, dtype=np.float32),
            "cat_0": categorical(rng.choice(8, rows, p=UNIFORM)),
            "cat_1": categorical(rng.choice(8, rows, p=UNIFORM)),
        }
    )
    current = pd.DataFrame(
        {
            "num_0": rng.standard_normal(rows, dtype=np.float32) + np.float32(0.2),
            "num_1": rng.standard_normal(rows, dtype=np.float32),
            "cat_0": categorical(rng.choice(8, rows, p=FIVE_POINTS)),
            "cat_1": categorical(rng.choice(8, rows, p=UNIFORM)),
        }
    )
    results = {r.column: r for r in table_drift(reference, current, None, POLICY)}
    assert [c for c, r in results.items() if r.drifted] == ["num_0", "cat_0"]
    assert results["num_0"].effect_low < 0.2 < results["num_0"].effect_high
    assert results["num_0"].effect_high - results["num_0"].effect_low < 0.02
    assert results["cat_0"].effect_low < 0.0596 < results["cat_0"].effect_high
    assert results["num_1"].effect < 0.01 and results["cat_1"].effect < 0.01


def test_a_tiny_real_shift_is_significant_but_not_drift_at_large_n() -> None:
    """What significance alone gets wrong: 0.02 sd at 500,000 rows has p ~ 0."""
    rng = np.random.default_rng(7)
    reference = pd.Series(rng.standard_normal(500_000, dtype=np.float32))
    current = pd.Series(rng.standard_normal(500_000, dtype=np.float32) + np.float32(0.02))
    result = feature_drift(reference, current, "numeric", POLICY, column="x")
    assert result.p_value < 1e-6
    assert result.effect < 0.05 and not result.drifted


# Each interval setting runs 100 repeats; a correct 95% interval falls below 85% coverage
# in 100 repeats with probability well under 0.1%. The width bound keeps an interval from
# covering by being useless.
COVERAGE_REPEATS = 100


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.1, 1.0), (0.3, 1.0), (0.0, 1.3)])
def test_numeric_interval_covers_the_true_effect(shift: float, scale: float) -> None:
    """W1(N(0, 1), N(s, k^2)) over the reference's std (1) is |s| for k = 1 and
    |k - 1| * sqrt(2 / pi) for s = 0."""
    true = shift if scale == 1.0 else (scale - 1) * math.sqrt(2 / math.pi)
    rng = np.random.default_rng(int(shift * 100 + scale * 10))
    covered, width = 0, 0.0
    for repeat in range(COVERAGE_REPEATS):
        result = feature_drift(
            pd.Series(rng.standard_normal(300)),
            pd.Series(rng.normal(shift, scale, 300)),
            "numeric",
            drift_policy(seed=repeat),
            column="x",
        )
        covered += result.effect_low <= true <= result.effect_high
        width += (result.effect_high - result.effect_low) / COVERAGE_REPEATS
    assert covered >= 0.85 * COVERAGE_REPEATS
    assert width < 0.5  # at 300 rows; sd-units


@pytest.mark.parametrize("shares", [UNIFORM, FIVE_POINTS, np.r_[0.3, np.full(7, 0.1)]])
def test_categorical_interval_covers_the_true_effect(shares: np.ndarray) -> None:
    true = jensenshannon(UNIFORM, shares, base=2)
    rng = np.random.default_rng(int(shares[0] * 1000))
    covered, width = 0, 0.0
    for repeat in range(COVERAGE_REPEATS):
        result = feature_drift(
            categorical(rng.choice(8, 300, p=UNIFORM)),
            categorical(rng.choice(8, 300, p=shares)),
            "categorical",
            drift_policy(seed=repeat),
            column="c",
        )
        covered += result.effect_low <= true <= result.effect_high
        width += (result.effect_high - result.effect_low) / COVERAGE_REPEATS
    assert covered >= 0.85 * COVERAGE_REPEATS
    assert width < 0.3  # at 300 rows; JS distance is in [0, 1]


@pytest.mark.slow
def test_no_drift_at_a_million_rows_flags_nothing() -> None:
    rng = np.random.default_rng(8)
    for _ in range(3):
        results = table_drift(
            synthetic_table(1_000_000, rng), synthetic_table(1_000_000, rng), None, POLICY
        )
        assert not any(r.drifted for r in results)
        assert max(r.effect for r in results) < 0.01
