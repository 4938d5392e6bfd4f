"""The seed statistics against scipy, and the verdicts they lead to."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp
from scipy.special import betainc

from dockyard.report.compare import compare_metrics
from dockyard.stats import regularized_beta, summarize, t_ppf, t_sf, welch

SAMPLES = [
    ([0.951, 0.958, 0.949, 0.962, 0.955], [0.961, 0.966, 0.958, 0.970, 0.964]),
    ([0.10, 0.12, 0.11], [0.30, 0.29, 0.33, 0.31]),
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [2.5, 2.4]),
    ([0.5, 0.5001], [0.4999, 0.5]),
]


@pytest.mark.parametrize(("a", "b"), SAMPLES)
def test_welch_matches_scipy(a: list[float], b: list[float]) -> None:
    t, df, p = welch(a, b)
    expected = sp.ttest_ind(b, a, equal_var=False)
    assert t == pytest.approx(expected.statistic, abs=1e-9)
    assert p == pytest.approx(expected.pvalue, abs=1e-9)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    expected_df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    assert df == pytest.approx(expected_df, abs=1e-9)


@pytest.mark.parametrize("values", [s for pair in SAMPLES for s in pair])
def test_summary_and_interval_match_scipy(values: list[float]) -> None:
    summary = summarize(values)
    assert summary["mean"] == pytest.approx(np.mean(values), abs=1e-12)
    assert summary["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert (summary["min"], summary["max"], summary["n"]) == (min(values), max(values), len(values))
    low, high = sp.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sp.sem(values))
    assert summary["ci95_low"] == pytest.approx(low, abs=1e-9)
    assert summary["ci95_high"] == pytest.approx(high, abs=1e-9)


@pytest.mark.parametrize("df", [1, 2, 3.7, 10, 50])
def test_t_distribution_matches_scipy(df: float) -> None:
    for t in (-4.0, -1.3, 0.0, 0.4, 2.2, 9.0):
        assert t_sf(t, df) == pytest.approx(sp.t.sf(t, df), abs=1e-12)
    for p in (0.025, 0.5, 0.9, 0.975):
        assert t_ppf(p, df) == pytest.approx(sp.t.ppf(p, df), abs=1e-9)
    assert regularized_beta(2.5, 0.5, 0.3) == pytest.approx(betainc(2.5, 0.5, 0.3), abs=1e-12)


def test_single_value_has_no_spread() -> None:
    assert summarize([0.9]) == {
        "mean": 0.9,
        "std": None,
        "min": 0.9,
        "max": 0.9,
        "n": 1,
        "ci95_low": None,
        "ci95_high": None,
    }
    with pytest.raises(ValueError):
        welch([0.9], [0.8, 0.85])


def test_verdicts_for_known_cases() -> None:
    same = [0.95, 0.96, 0.955]
    shift_up = [v + 0.05 for v in same]
    rows = {
        r.name: r
        for r in compare_metrics(
            {"test/accuracy": same, "test/log_loss": same, "test/f1_macro": same},
            {"test/accuracy": list(same), "test/log_loss": shift_up, "test/f1_macro": shift_up},
        )
    }
    assert rows["test/accuracy"].status == "same" and rows["test/accuracy"].p_value == 1.0
    assert rows["test/f1_macro"].status == "better" and rows["test/f1_macro"].p_value < 0.05
    assert rows["test/log_loss"].status == "worse"  # lower is better: a rise is worse
    noisy = {
        r.name: r
        for r in compare_metrics(
            {"test/accuracy": [0.90, 0.97, 0.93]}, {"test/accuracy": [0.94, 0.92, 0.96]}
        )
    }
    assert noisy["test/accuracy"].status == "noise" and noisy["test/accuracy"].p_value > 0.05
    single = {
        r.name: r for r in compare_metrics({"test/accuracy": [0.9]}, {"test/accuracy": [0.95]})
    }
    assert single["test/accuracy"].status == "better" and single["test/accuracy"].p_value is None
