"""Evaluation metrics in NumPy, each knowing whether higher is better.

The direction lives on the metric's definition (as torchmetrics does with
`higher_is_better`), so reports and comparisons never keep their own list.
Tests check every value against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    compute: Callable[[np.ndarray, np.ndarray], float]
    description: str


def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == y_true))


def f1_macro(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes seen in labels or predictions."""
    y_pred = proba.argmax(axis=1)
    scores = []
    for label in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped away from 0)."""
    eps = np.finfo(proba.dtype).eps
    p = np.clip(proba[np.arange(len(y_true)), y_true], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic, ties counted as half."""
    positive = positive.astype(bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Binary: AUC of the positive class. Multiclass: unweighted one-vs-rest mean."""
    if proba.shape[1] == 2:
        return binary_auc(y_true == 1, proba[:, 1])
    per_class = [binary_auc(y_true == k, proba[:, k]) for k in range(proba.shape[1])]
    return float(np.nanmean(per_class))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Each run of equal values gets the mean of the 1-based ranks it spans.
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(values)]])
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


CLASSIFICATION = {
    m.name: m
    for m in (
        Metric("accuracy", True, accuracy, "share of rows whose top class is right"),
        Metric("f1_macro", True, f1_macro, "per-class F1, unweighted mean"),
        Metric("log_loss", False, log_loss, "mean negative log-likelihood of the true class"),
        Metric("roc_auc", True, roc_auc, "ROC AUC (multiclass: one-vs-rest, macro mean)"),
    )
}


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y_true - y_pred)))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """1 - residual sum of squares / total sum of squares (0 for a constant predictor)."""
    total = np.sum((y_true - np.mean(y_true)) ** 2)
    residual = np.sum((y_true - y_pred) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1.0 - residual / total)


REGRESSION = {
    m.name: m
    for m in (
        Metric("rmse", False, rmse, "root mean squared error, in the target's units"),
        Metric("mae", False, mae, "mean absolute error, in the target's units"),
        Metric("r2", True, r2, "coefficient of determination"),
    )
}
ALL_METRICS = {**CLASSIFICATION, **REGRESSION}


# ----------------------------------------------------------------------------- names
# Every name a metric, a training curve or a monitor is known by lives here; the training
# loop, the stages, dvc.yaml's plots (a test compares them) and the report import these.

TEST_PREFIX = "test"
TRAIN_LOSS = "train/loss"
VAL_LOSS = "val/loss"
VAL_ACCURACY = "val/accuracy"
VAL_MAE = "val/mae"
# The per-epoch curves the training loop logs (DVCLive writes one TSV each, under
# plots/metrics/NAME.tsv); every one exists for every task, header-only when not logged.
CURVES = (TRAIN_LOSS, VAL_LOSS, VAL_ACCURACY, VAL_MAE)
# What each task logs on the validation split, in order: the loss, then its second measure.
VALIDATION_CURVES = {
    "classification": (VAL_LOSS, VAL_ACCURACY),
    "regression": (VAL_LOSS, VAL_MAE),
}
# Lower or higher is better for the curves, as for the test metrics.
CURVE_HIGHER_IS_BETTER = {TRAIN_LOSS: False, VAL_LOSS: False, VAL_ACCURACY: True, VAL_MAE: False}


def curve_file(log_dir: str, name: str) -> str:
    """Where DVCLive writes the curve `name` under a training log folder."""
    return f"{log_dir}/plots/metrics/{name}.tsv"


def curve_column(name: str) -> str:
    """The value column of a curve's TSV file (DVCLive names it after the last part)."""
    return name.rsplit("/", 1)[-1]


def higher_is_better(name: str) -> bool | None:
    """Direction of a metric key such as `test/accuracy`; None when dockyard does not know it."""
    metric = ALL_METRICS.get(name.rsplit("/", 1)[-1])
    return None if metric is None else metric.higher_is_better


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, prefix: str) -> dict[str, float]:
    return {f"{prefix}/{m.name}": m.compute(y_true, proba) for m in CLASSIFICATION.values()}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str) -> dict[str, float]:
    y_true, y_pred = y_true.astype(np.float64), y_pred.astype(np.float64)
    return {f"{prefix}/{m.name}": m.compute(y_true, y_pred) for m in REGRESSION.values()}


# ----------------------------------------------------------------------------- curves


def roc_points(positive: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """(fpr, tpr, threshold) at every distinct score, from the strictest threshold down."""
    tps, fps, thresholds = _cumulative_counts(positive, score)
    tpr = tps / max(tps[-1], 1)
    fpr = fps / max(fps[-1], 1)
    return {
        "fpr": np.concatenate([[0.0], fpr]),
        "tpr": np.concatenate([[0.0], tpr]),
        "threshold": np.concatenate([[np.inf], thresholds]),
    }


def pr_points(positive: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """(recall, precision, threshold) at every distinct score."""
    tps, fps, thresholds = _cumulative_counts(positive, score)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / max(tps[-1], 1)
    return {"recall": recall, "precision": precision, "threshold": thresholds}


def _cumulative_counts(
    positive: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order].astype(np.float64)
    last_of_run = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(positive)[last_of_run]
    fps = (last_of_run + 1) - tps
    return tps, fps, score[last_of_run]
