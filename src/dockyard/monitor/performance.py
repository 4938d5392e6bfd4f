"""Decay: is the model worse on a labelled batch than on its test split, beyond the noise?

Two noises stand between a test metric and the same metric on a new batch, and a decay
verdict must clear both:
- seed noise: every seed's model scores the batch, and the per-seed values are compared
  with the per-seed test metrics (eval/seeds/N/metrics.json) by the PR report's own
  verdicts (`report.compare.compare_metrics`: Welch's t-test at `alpha` when both sides
  have two or more seeds). With one seed there is no seed-noise estimate, and the output
  says so;
- sampling noise: the seeds share one batch and one test split, so their spread says
  nothing about how much a few hundred rows move a metric by chance. A bootstrap over the
  rows of both (the first seed's model) gives an interval for current - test, at
  1 - alpha / m for m metrics (Bonferroni: on an unchanged batch the chance that any metric
  is called worse stays near alpha / 2).
A metric decayed when it is worse, the seed test does not call it noise, and the sampling
interval lies wholly on the worse side of zero.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dockyard.metrics import TEST_PREFIX, classification_metrics, regression_metrics
from dockyard.report.compare import compare_metrics
from dockyard.serve.scoring import PREDICTION

# Rows one bootstrap replicate draws at most; larger sides are subsampled and the spread
# rescaled by sqrt(m / n), which holds for metrics that are smooth in the rows' shares.
MAX_BOOTSTRAP_ROWS = 50_000


def labelled(scorer: Any, scored: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(labels, model outputs) of the scored rows whose label the model knows: class
    indices and the probability matrix, or target values and predictions; None when the
    table carried no target."""
    columns = scored.columns
    if scorer.target not in columns:
        return None
    values = columns[scorer.target]
    if isinstance(values, np.ma.MaskedArray):
        present = ~np.ma.getmaskarray(values)
        values = values.data
    else:
        present = np.array([v is not None and v == v for v in values], dtype=bool)
    if scorer.task == "classification":
        index = {c: i for i, c in enumerate(scorer.classes)}
        codes = np.array([index.get(_plain(v), -1) for v in values], dtype=np.int64)
        keep = present & (codes >= 0)
        proba = np.column_stack([columns[c] for c in scorer.proba_columns]).astype(np.float64)
        return codes[keep], proba[keep]
    truth = np.asarray(values, dtype=np.float64)
    keep = present & np.isfinite(truth)
    return truth[keep], np.asarray(columns[PREDICTION], dtype=np.float64)[keep]


def batch_metrics(task: str, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """The evaluate stage's test metrics, named as in eval/seeds/N/metrics.json."""
    if task == "classification":
        return classification_metrics(labels, outputs, TEST_PREFIX)
    return regression_metrics(labels, outputs, TEST_PREFIX)


def decay_report(
    task: str,
    current: dict[int, tuple[np.ndarray, np.ndarray]],
    test_metrics: dict[int, dict[str, float]],
    test_rows: tuple[np.ndarray, np.ndarray] | None,
    *,
    alpha: float,
    replicates: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Per metric: test vs current over the seeds, the sampling interval, the verdict.

    `current` maps each seed to its model's (labels, outputs) on the batch; the first seed
    is the one the sampling interval uses, with `test_rows` its (labels, outputs) on the
    test split (None: no sampling interval)."""
    seeds = [s for s in current if s in test_metrics]
    per_seed = {s: batch_metrics(task, *current[s]) for s in seeds}
    names = sorted(set().union(*per_seed.values()) & set().union(*(test_metrics[s] for s in seeds)))
    test_samples = {
        n: [float(test_metrics[s][n]) for s in seeds if n in test_metrics[s]] for n in names
    }
    current_samples = {n: [per_seed[s][n] for s in seeds] for n in names}
    rows = compare_metrics(test_samples, current_samples, alpha)
    directed = [r.name for r in rows if r.higher_is_better is not None]
    confidence = 1 - alpha / max(len(directed), 1)
    intervals: dict[str, tuple[float, float]] = {}
    if test_rows is not None and replicates > 0 and seeds:
        intervals = _difference_intervals(
            task, current[seeds[0]], test_rows, directed, replicates, confidence, seed
        )
    metrics = []
    for row in rows:
        entry = {
            "name": row.name,
            "higher_is_better": row.higher_is_better,
            "test": row.base,
            "current": row.head,
            "change": row.change,
            "relative": row.relative,
            "test_std": row.base_std,
            "current_std": row.head_std,
            "seeds": row.base_n,
            "status": row.status,
            "p_value": row.p_value,  # Welch over the seeds (two or more per side)
            "seed_interval_low": getattr(row, "ci_low", None),
            "seed_interval_high": getattr(row, "ci_high", None),
        }
        low, high = intervals.get(row.name, (None, None))
        entry.update(interval_low=low, interval_high=high, within="")
        if row.status == "noise":
            entry["within"] = "seed noise"
        elif row.status in ("better", "worse") and low is not None and low <= 0 <= high:
            entry.update(status="noise", within="sampling noise")
        entry["decayed"] = entry["status"] == "worse"
        metrics.append(_finite(entry))
    notes = []
    if len(seeds) < 2:
        notes.append(
            "one seed: no seed-noise estimate (run several seeds, e.g. seeds: [0, 1, 2], for "
            "one); the verdicts rest on the batch's sampling noise alone"
        )
    if not intervals:
        notes.append("no sampling interval (monitor.bootstrap is 0 or the test split is absent)")
    return {
        "seeds": seeds,
        "noise_estimate": len(seeds) >= 2,
        "alpha": alpha,
        "confidence": confidence,
        "rows": int(len(current[seeds[0]][0])) if seeds else 0,
        "metrics": metrics,
        "decayed": [m["name"] for m in metrics if m["decayed"]],
        "notes": notes,
    }


def _difference_intervals(
    task: str,
    current: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    names: list[str],
    replicates: int,
    confidence: float,
    seed: int,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of current - test from row bootstraps of both sides."""
    rng = np.random.default_rng(seed)
    if len(current[0]) == 0 or len(test[0]) == 0:
        return {}
    full = [batch_metrics(task, *side) for side in (current, test)]
    deviations = [
        _deviations(task, side, base, names, replicates, rng)
        for side, base in zip((current, test), full, strict=True)
    ]
    found = {}
    tail = (1 - confidence) / 2
    for name in names:
        diff = (full[0][name] + deviations[0][name]) - (full[1][name] + deviations[1][name])
        diff = diff[np.isfinite(diff)]
        if diff.size:
            low, high = np.quantile(diff, [tail, 1 - tail])
            found[name] = (float(low), float(high))
    return found


def _deviations(
    task: str,
    side: tuple[np.ndarray, np.ndarray],
    base: dict[str, float],
    names: list[str],
    replicates: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each metric minus its value on all rows (m-out-of-n
    beyond MAX_BOOTSTRAP_ROWS, rescaled to n rows)."""
    labels, outputs = side
    n = len(labels)
    m = min(n, MAX_BOOTSTRAP_ROWS)
    scale = math.sqrt(m / n)
    values = {name: np.empty(replicates) for name in names}
    for i in range(replicates):
        rows = rng.integers(0, n, size=m)
        result = batch_metrics(task, labels[rows], outputs[rows])
        for name in names:
            values[name][i] = (result[name] - base[name]) * scale
    return values


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _finite(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in entry.items()
    }
