"""Scoring a trained model on the test split: metrics and the rows behind the plots.

For classification the confusion matrix, ROC and precision-recall curves (micro-averaged
one-vs-rest beyond two classes); for regression predicted vs. actual values, in the
target's own units.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dockyard.errors import DataError
from dockyard.metrics import (
    TEST_PREFIX,
    classification_metrics,
    pr_points,
    regression_metrics,
    roc_points,
)
from dockyard.models.artifact import ModelArtifact

# Every plot dvc.yaml declares gets a file; those that do not apply to the task stay empty.
PLOT_FILES = ("confusion", "roc", "pr", "predictions")


def classification_plots(y_true: np.ndarray, proba: np.ndarray, classes: list[Any]) -> dict:
    """Rows for DVC's confusion template and for the ROC / PR curves."""
    y_pred = proba.argmax(axis=1)
    names = [str(c) for c in classes]
    confusion = [
        {"actual": names[a], "predicted": names[p]} for a, p in zip(y_true, y_pred, strict=True)
    ]
    if proba.shape[1] == 2:
        positive, score = y_true == 1, proba[:, 1]
    else:  # micro-average: every (row, class) pair is one binary decision
        positive = (y_true[:, None] == np.arange(proba.shape[1])[None, :]).ravel()
        score = proba.ravel()
    return {
        "confusion": confusion,
        "roc": _rows(roc_points(positive, score)),
        "pr": _rows(pr_points(positive, score)),
    }


def _rows(points: dict[str, np.ndarray]) -> list[dict]:
    keys = list(points)
    return [
        {
            k: (round(float(v), 6) if np.isfinite(v) else None)
            for k, v in zip(keys, row, strict=True)
        }
        for row in zip(*points.values(), strict=True)
    ]


def evaluate(
    model: ModelArtifact, x: np.ndarray, y: np.ndarray
) -> tuple[dict[str, float], dict[str, list[dict]]]:
    """Test metrics and the rows behind the plots, for featurized rows `x` and labels `y`."""
    card = model.card
    if x.shape[1] != len(card["features"]):
        raise DataError(
            f"The test features have {x.shape[1]} columns, the model expects "
            f"{len(card['features'])}. Re-run the pipeline (`dvc repro`).",
            kind="shape-mismatch",
        )
    output = model.predict(x)
    if card["task"] == "classification":
        labels = y.astype(np.int64)
        return classification_metrics(labels, output, TEST_PREFIX), classification_plots(
            labels, output, card["classes"]
        )
    transform = model.transform
    actual, predicted = transform.decode_target(y), transform.decode_target(output)
    points = [
        {"actual": round(float(a), 6), "predicted": round(float(p), 6)}
        for a, p in zip(actual, predicted, strict=True)
    ]
    return regression_metrics(actual, predicted, TEST_PREFIX), {"predictions": points}


def single_row_latency_ms(model: ModelArtifact, row: np.ndarray, repeats: int = 200) -> float:
    """Median milliseconds to predict one featurized row (what a "wider model" costs)."""
    timings = []
    x = np.ascontiguousarray(row.reshape(1, -1), dtype=np.float32)
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1000.0)


def model_size(model: ModelArtifact) -> dict[str, Any]:
    """What the model costs to keep: parameters and bytes on disk (deterministic)."""
    from dockyard.models.nets import count_parameters

    files = [p for p in model.path.iterdir() if p.is_file()]
    return {
        "parameters": count_parameters(model.net),
        "model_bytes": int(sum(p.stat().st_size for p in files)),
        "features": len(model.card["features"]),
        "outputs": int(model.card["outputs"]),
    }
