"""Small-sample statistics for seed-repeated runs: summaries, t intervals, Welch's t-test.

Written out here (Student's t CDF through the regularised incomplete beta function)
so light stages and the report need no scipy import; tests check every value against
scipy.stats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

DEFAULT_ALPHA = 0.05


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    x = df / (df + t * t)
    if x > 0.5:  # |t| small: the complementary form keeps precision near t = 0
        tail = 0.5 * (1.0 - regularized_beta(0.5, df / 2.0, t * t / (df + t * t)))
    else:
        tail = 0.5 * regularized_beta(df / 2.0, 0.5, x)
    return tail if t > 0 else 1.0 - tail


def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on the CDF; plenty for intervals)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    low, high = -1e3, 1e3
    for _ in range(200):
        middle = (low + high) / 2.0
        if 1.0 - t_sf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def summarize(values: Sequence[float], level: float = 0.95) -> dict[str, float | int | None]:
    """mean, sample std (n-1), min, max, n and a t-based confidence interval for the mean."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = math.fsum(values) / n
    summary: dict[str, float | int | None] = {
        "mean": mean,
        "std": None,
        "min": min(values),
        "max": max(values),
        "n": n,
        "ci95_low": None,
        "ci95_high": None,
    }
    if n >= 2:
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        half = t_ppf(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
        summary.update(std=std, ci95_low=mean - half, ci95_high=mean + half)
    return summary


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Welch's unequal-variance t-test of mean(b) - mean(a): (t, df, two-sided p)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two values per side")
    ma, mb = math.fsum(a) / len(a), math.fsum(b) / len(b)
    va = math.fsum((v - ma) ** 2 for v in a) / (len(a) - 1)
    vb = math.fsum((v - mb) ** 2 for v in b) / (len(b) - 1)
    sa, sb = va / len(a), vb / len(b)
    if sa + sb == 0.0:
        if ma == mb:
            return 0.0, float(len(a) + len(b) - 2), 1.0
        return math.copysign(math.inf, mb - ma), float(len(a) + len(b) - 2), 0.0
    t = (mb - ma) / math.sqrt(sa + sb)
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    return t, df, min(1.0, 2.0 * t_sf(abs(t), df))


def summarize_seeds(per_seed: dict[int, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """metric -> {mean, std, min, max, n, ci95_low, ci95_high} over the seeds given."""
    names = sorted({name for metrics in per_seed.values() for name in metrics})
    return {name: summarize([m[name] for m in per_seed.values() if name in m]) for name in names}


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, in the order given: comparing each with alpha
    keeps the expected share of false discoveries among the family's rejections <= alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # from the largest p down: q_(k) = min_{j >= k} p_(j) m / j
        index = order[rank - 1]
        running = min(running, p_values[index] * m / rank)
        adjusted[index] = running
    return adjusted
