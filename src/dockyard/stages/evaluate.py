"""evaluate: score the trained model on the test split; write metrics and plot data.

eval/metrics.json holds `test/...` metrics and is committed to git (cache: false in
dvc.yaml) so `dvc metrics diff REV` works on any revision. eval/plots/ holds the rows
behind the confusion matrix, ROC and precision-recall plots declared in dvc.yaml
(for more than two classes the curves are micro-averaged one-vs-rest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import DataError, exit_on_user_error
from dockyard.io import read_table, write_json
from dockyard.metrics import classification_metrics, pr_points, roc_points
from dockyard.paths import METRICS_FILE, MODEL_CARD, MODEL_WEIGHTS, PLOTS_DIR, split_path


def load_model(card_path: str = MODEL_CARD, weights_path: str = MODEL_WEIGHTS) -> tuple[Any, dict]:
    """Rebuild the network from its card and load its weights (weights_only: no pickle code)."""
    import torch

    from dockyard.models.nets import build_model

    for path in (card_path, weights_path):
        if not Path(path).is_file():
            raise DataError(
                f"Expected the trained model file {path}, but it does not exist. Run "
                "`dvc repro` (the train stage writes it) or `dvc pull` to fetch it."
            )
    card = json.loads(Path(card_path).read_text(encoding="utf-8"))
    model = build_model(card["net"], len(card["features"]), len(card["classes"]))
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    model.eval()
    return model, card


def predict_proba(model: Any, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            logits = model(torch.from_numpy(x[start : start + batch_size]))
            chunks.append(torch.softmax(logits.double(), dim=1).numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


def test_arrays(table: pd.DataFrame, card: dict) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in card["features"] if c not in table.columns]
    if missing or card["target"] not in table.columns:
        raise DataError(
            f"The test table lacks column(s) the model was trained on: "
            f"{', '.join(missing or [card['target']])}. Re-run the pipeline (`dvc repro`)."
        )
    x = table[card["features"]].to_numpy(dtype=np.float32, copy=True)
    lookup = {value: index for index, value in enumerate(card["classes"])}
    labels = table[card["target"]].tolist()
    unknown = sorted({v for v in labels if v not in lookup}, key=str)
    if unknown:
        raise DataError(
            f"The test split holds target values {unknown} the model never saw in training "
            f"(it knows {card['classes']})."
        )
    return x, np.array([lookup[v] for v in labels], dtype=np.int64)


def plot_rows(y_true: np.ndarray, proba: np.ndarray, classes: list[Any]) -> dict[str, list[dict]]:
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

    def rows(points: dict[str, np.ndarray]) -> list[dict]:
        keys = list(points)
        return [
            {
                k: (round(float(v), 6) if np.isfinite(v) else None)
                for k, v in zip(keys, values, strict=True)
            }
            for values in zip(*points.values(), strict=True)
        ]

    return {
        "confusion": confusion,
        "roc": rows(roc_points(positive, score)),
        "pr": rows(pr_points(positive, score)),
    }


def evaluate(model: Any, card: dict, table: pd.DataFrame) -> tuple[dict[str, float], dict]:
    x, y = test_arrays(table, card)
    proba = predict_proba(model, x)
    return classification_metrics(y, proba, prefix="test"), plot_rows(y, proba, card["classes"])


@exit_on_user_error
def main() -> None:
    model, card = load_model()
    table = read_table(split_path("test"), produced_by="the split stage")
    metrics, plots = evaluate(model, card, table)
    write_json(metrics, METRICS_FILE)
    for name, rows in plots.items():
        write_json(rows, f"{PLOTS_DIR}/{name}.json", indent=None)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    print(f"evaluate: {shown} -> {METRICS_FILE}")


if __name__ == "__main__":
    main()
