"""evaluate: score one seed's model on the test split; write its metrics and plot data.

Runs once per training seed (the evaluate@N stages). eval/seeds/N/metrics.json holds
`test/...` metrics, committed to git (cache: false); the aggregate stage summarises the
seeds into eval/metrics.json. eval/seeds/N/plots/ holds the rows behind the plots
declared in dvc.yaml: for classification the confusion matrix, ROC
and precision-recall curves (micro-averaged one-vs-rest beyond two classes); for
regression predicted vs. actual values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.data.features import FeatureTransform, feature_arrays
from dockyard.errors import DataError, exit_on_user_error
from dockyard.io import write_json
from dockyard.metrics import classification_metrics, pr_points, regression_metrics, roc_points
from dockyard.paths import features_path, model_dir, seed_dir

PLOT_FILES = ("confusion", "roc", "pr", "predictions")


def load_model(
    model_dir: str | Path,
) -> tuple[Any, dict, FeatureTransform]:
    """Rebuild the network from its card, load its weights (weights_only: no pickled code)
    and the transform its inputs go through."""
    import torch

    from dockyard.models.nets import build_model

    model_dir = Path(model_dir)
    card_path, weights_path = (
        model_dir / "model.json",
        model_dir / "model.pt",
    )
    for path in (card_path, weights_path):
        if not path.is_file():
            raise DataError(
                f"Expected the trained model file {path}, but it does not exist. Run "
                "`dvc repro` (the train stage writes it) or `dvc pull` to fetch it."
            )
    card = json.loads(card_path.read_text(encoding="utf-8"))
    net = build_model(card["net"], len(card["features"]), card["outputs"])
    net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    net.eval()
    transform = FeatureTransform.load(model_dir / "transform.json")
    return net, card, transform


def predict(net: Any, x: np.ndarray, task: str, batch_size: int = 65536) -> np.ndarray:
    """Class probabilities (classification) or scaled predictions (regression), float64."""
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            out = net(torch.from_numpy(x[start : start + batch_size])).double()
            chunks.append(torch.softmax(out, dim=1) if task == "classification" else out[:, 0])
    return torch.cat(chunks).numpy() if chunks else np.zeros((0,))


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
    net: Any, card: dict, transform: FeatureTransform, x: np.ndarray, y: np.ndarray
) -> tuple[dict[str, float], dict[str, list[dict]]]:
    if x.shape[1] != len(card["features"]):
        raise DataError(
            f"The test features have {x.shape[1]} columns, the model expects "
            f"{len(card['features'])}. Re-run the pipeline (`dvc repro`)."
        )
    output = predict(net, x, card["task"])
    if card["task"] == "classification":
        labels = y.astype(np.int64)
        return classification_metrics(labels, output, "test"), classification_plots(
            labels, output, card["classes"]
        )
    actual, predicted = transform.decode_target(y), transform.decode_target(output)
    points = [
        {"actual": round(float(a), 6), "predicted": round(float(p), 6)}
        for a, p in zip(actual, predicted, strict=True)
    ]
    return regression_metrics(actual, predicted, "test"), {"predictions": points}


@exit_on_user_error
def main() -> None:
    from dockyard.config import load_params
    from dockyard.stages.train import seed_argument

    seed = seed_argument("Evaluate one seed's model on the test split.")
    if seed is None:
        seed = load_params().seeds[0]
    net, card, transform = load_model(model_dir(seed))
    x, y, _ = feature_arrays(features_path("test"))
    metrics, plots = evaluate(net, card, transform, x, y)
    out = seed_dir(seed)
    write_json(metrics, f"{out}/metrics.json")
    # Every plot declared in dvc.yaml gets a file; those that do not apply to the task stay
    # empty, which `dvc plots` skips quietly instead of reporting a missing file.
    for name in PLOT_FILES:
        write_json(plots.get(name, []), f"{out}/plots/{name}.json", indent=None)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    print(f"evaluate (seed {seed}): {shown} -> {out}/metrics.json")


if __name__ == "__main__":
    main()
