"""The model artifact: one folder holding the weights, the card and the fitted transform.

Saving and loading live together here so the two can never disagree on the layout:

- `model.pt`: a plain state dict, loaded with `weights_only=True` (no pickled code runs);
- `model.json`: the card: how to rebuild the network, the task, features and classes, and
  facts about how it was trained that do not change between identical runs (no commit, no
  timestamps, no host name: the folder is hashed by DVC, and a re-run that reproduces the
  same weights must leave `dvc.lock` unchanged; lineage reads the commit from git);
- `transform.json`: the featurize transform the network expects its input through.

Training, evaluation, batch prediction and the HTTP server all load models through
`load_model`, so there is one loader for every path.
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.data.features import FeatureTransform
from dockyard.errors import DataError
from dockyard.io import staged_dir
from dockyard.paths import MODEL_CARD, MODEL_TRANSFORM, MODEL_WEIGHTS

# The card layout this version writes and reads; bumped when a change breaks loading.
FORMAT = "dockyard-model/1"
_REQUIRED = ("task", "features", "outputs", "net")


@dataclass
class ModelArtifact:
    """A loaded model: the network in eval mode, its card and its transform."""

    net: Any  # torch.nn.Module
    card: dict[str, Any]
    transform: FeatureTransform
    path: Path

    @property
    def task(self) -> str:
        return str(self.card["task"])

    @property
    def classes(self) -> list[Any] | None:
        return self.card.get("classes")

    def predict(self, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Class probabilities (classification) or scaled predictions (regression)."""
        return predict(self.net, x, self.task, batch_size)


def model_card(
    cfg: Any,
    *,
    seed: int,
    result: dict[str, Any],
    features: list[str],
    classes: list[Any] | None,
    params_hash: str,
    data: dict[str, str],
) -> dict[str, Any]:
    """The card of a model `fit` trained: everything needed to rebuild and use it (the
    network, features, classes, the dataset's schema and key columns for checking new
    rows) and how it was trained, without anything that changes between identical runs."""
    from omegaconf import OmegaConf

    from dockyard.provenance import library_versions

    schema = OmegaConf.to_container(cfg.data.schema, resolve=True)
    return {
        "dataset": cfg.data.name,
        "task": cfg.data.task,
        "target": cfg.data.target,
        "keys": [name for name, spec in schema["columns"].items() if spec.get("key")],
        "schema": schema,
        # columns the training file has and the source leaves out (data.source.drop_columns):
        # accepted and ignored in new rows, so a row shaped like the training file scores
        "dropped_columns": [str(c) for c in (cfg.data.source.get("drop_columns") or [])],
        "features": features,
        "outputs": 1 if cfg.data.task == "regression" else len(classes or []),
        "classes": classes,
        "net": result["net"],
        "parameters": result["parameters"],
        "seed": seed,
        "training": result["training"],
        "provenance": {
            "params_hash": params_hash,
            "data": data,
            "libraries": library_versions(),
            "device": result["device"],
        },
    }


def save_model(
    out_dir: str | Path, state: dict[str, Any], card: dict[str, Any], transform_file: str | Path
) -> Path:
    """Write weights, card and transform into `out_dir`, all or nothing: the files are
    written to a sibling folder that replaces `out_dir` only once every file is complete."""
    import torch

    out_dir = Path(out_dir)
    card = {"format": FORMAT, **card}
    # Saved through a buffer: torch.save names the archive's root folder after the file,
    # and a temporary file's random name would make identical weights differ byte for byte.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with staged_dir(out_dir) as tmp:
        (tmp / MODEL_WEIGHTS).write_bytes(buffer.getvalue())
        shutil.copyfile(transform_file, tmp / MODEL_TRANSFORM)
        (tmp / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return out_dir


def read_card(model_dir: str | Path) -> dict[str, Any]:
    """The card of a model folder, checked for a layout this version can load (no torch)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise DataError(
            f"Expected a model folder at {model_dir}, but there is none. Run `dvc repro` (the "
            "train stage writes models/seed-N/) or `dvc pull` to fetch it, or pass --model with "
            "the folder of a trained model."
        )
    for name in (MODEL_CARD, MODEL_WEIGHTS, MODEL_TRANSFORM):
        if not (model_dir / name).is_file():
            raise DataError(
                f"Expected the model file {model_dir / name}, but it does not exist: "
                f"{model_dir} is not a complete dockyard model folder (it needs "
                f"{MODEL_WEIGHTS}, {MODEL_CARD} and {MODEL_TRANSFORM}). Run `dvc repro` or "
                "`dvc pull` to restore it."
            )
    try:
        card = json.loads((model_dir / MODEL_CARD).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{model_dir / MODEL_CARD} is not valid JSON ({error}).") from None
    found = card.get("format", FORMAT) if isinstance(card, dict) else None
    if found != FORMAT or not all(key in card for key in _REQUIRED):
        raise DataError(
            f"{model_dir} was written in model format {found!r}, but this dockyard reads "
            f"{FORMAT!r} (with the keys {', '.join(_REQUIRED)}). Re-train it with this version "
            "(`dvc repro`), or use the dockyard version that trained it."
        )
    return card


def load_model(model_dir: str | Path) -> ModelArtifact:
    """Rebuild the network from its card and load its weights (weights_only: no pickle)."""
    import torch

    from dockyard.models.nets import build_model

    model_dir = Path(model_dir)
    card = read_card(model_dir)
    net = build_model(card["net"], len(card["features"]), card["outputs"])
    try:
        state = torch.load(model_dir / MODEL_WEIGHTS, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except (RuntimeError, OSError, ValueError, pickle.UnpicklingError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"{model_dir / MODEL_WEIGHTS} does not hold the weights its card describes "
            f"({first}). Re-train the model (`dvc repro`) or restore it (`dvc checkout`)."
        ) from None
    net.eval()
    transform = FeatureTransform.load(model_dir / MODEL_TRANSFORM)
    return ModelArtifact(net=net, card=card, transform=transform, path=model_dir)


def predict(net: Any, x: np.ndarray, task: str, batch_size: int = 65536) -> np.ndarray:
    """Class probabilities (classification) or scaled predictions (regression), float64."""
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            out = net(torch.from_numpy(x[start : start + batch_size])).double()
            chunks.append(torch.softmax(out, dim=1) if task == "classification" else out[:, 0])
    return torch.cat(chunks).numpy() if chunks else np.zeros((0,))
