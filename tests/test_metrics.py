"""dockyard's NumPy metrics against scikit-learn on fixed and random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from dockyard.metrics import (
    CLASSIFICATION,
    classification_metrics,
    higher_is_better,
    pr_points,
    roc_points,
)


def random_case(n_classes: int, seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    logits = rng.normal(size=(n, n_classes)) + 2.0 * np.eye(n_classes)[y] * rng.random((n, 1))
    # coarse rounding creates ties, the tricky case for rank-based AUC
    proba = np.exp(np.round(logits, 1))
    return y, proba / proba.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("n_classes", "seed"), [(2, 0), (2, 1), (3, 2), (10, 3)])
def test_metrics_match_sklearn(n_classes: int, seed: int) -> None:
    y, proba = random_case(n_classes, seed)
    ours = classification_metrics(y, proba, prefix="test")
    pred = proba.argmax(axis=1)
    assert ours["test/accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-12)
    assert ours["test/f1_macro"] == pytest.approx(sk.f1_score(y, pred, average="macro"), abs=1e-12)
    assert ours["test/log_loss"] == pytest.approx(
        sk.log_loss(y, proba, labels=list(range(n_classes))), rel=1e-9
    )
    expected_auc = (
        sk.roc_auc_score(y, proba[:, 1])
        if n_classes == 2
        else sk.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert ours["test/roc_auc"] == pytest.approx(expected_auc, abs=1e-12)


def test_f1_counts_classes_only_seen_in_predictions() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    ours = classification_metrics(y, proba, prefix="t")["t/f1_macro"]
    assert ours == pytest.approx(sk.f1_score(y, proba.argmax(1), average="macro", zero_division=0))


def test_curves_match_sklearn() -> None:
    y, proba = random_case(2, 7)
    positive, score = y == 1, proba[:, 1]
    roc = roc_points(positive, score)
    fpr, tpr, _ = sk.roc_curve(positive, score, drop_intermediate=False)
    np.testing.assert_allclose(roc["fpr"], fpr)
    np.testing.assert_allclose(roc["tpr"], tpr)
    pr = pr_points(positive, score)
    precision, recall, thresholds = sk.precision_recall_curve(positive, score)
    # sklearn lists thresholds ascending and appends the (recall 0, precision 1) end point
    np.testing.assert_allclose(pr["precision"], precision[:-1][::-1])
    np.testing.assert_allclose(pr["recall"], recall[:-1][::-1])
    np.testing.assert_allclose(pr["threshold"], thresholds[::-1])


def test_directions_come_from_metric_definitions() -> None:
    assert higher_is_better("test/accuracy") is True
    assert higher_is_better("test/log_loss") is False
    assert higher_is_better("val/roc_auc") is True
    assert higher_is_better("test/made_up") is None
    assert all(m.description for m in CLASSIFICATION.values())
