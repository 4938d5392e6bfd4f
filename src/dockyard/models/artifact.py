"""The model artifact: one folder holding the weights, the card and the fitted transform.

Saving and loading live together here so the two can never disagree on the layout:

- `model.pt`: a plain state dict, loaded with `weights_only=True` (no pickled code runs);
- `model.json`: the card: how to rebuild the network, the task, features and classes, and
  facts about how it was trained that do not change between identical runs (no commit, no
  timestamps, no host name: the folder is hashed by DVC, and a re-run that reproduces the
  same weights must leave `dvc.lock` unchanged; lineage reads the commit from git);
- `transform.json`: the featurize transform the network expects its input through.

A folder is read into one `ModelArtifact`, each file once (`read_model`, or `load_model`
to build the network at once): evaluation, the ONNX export, batch prediction, the HTTP
server and monitoring all take that object, so there is one loader for every path.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
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
_FILES = (MODEL_CARD, MODEL_WEIGHTS, MODEL_TRANSFORM)


class ModelArtifact:
    """A model folder read once: its card, its transform, the digests of its files and the
    network. Every file is read a single time, here; what needs a file's contents or hash
    (the network, the ONNX export check, the version) asks this object. The network is
    built from the weights on first use, so a caller that never runs it (ONNX Runtime)
    never imports torch."""

    def __init__(
        self,
        path: str | Path,
        card: dict[str, Any],
        transform: FeatureTransform,
        *,
        net: Any = None,  # torch.nn.Module, in eval mode
        weights: bytes | None = None,
        sha256: dict[str, str] | None = None,
        md5: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        self.card = card
        self.transform = transform
        self._net = net
        self._weights = weights
        # file name -> hex digest, of the bytes read (md5: DVC's hash, for the version)
        self.sha256 = sha256 or {}
        self.md5 = md5 or {}

    @property
    def task(self) -> str:
        return str(self.card["task"])

    @property
    def classes(self) -> list[Any] | None:
        return self.card.get("classes")

    @property
    def net(self) -> Any:
        """The network in eval mode, built from the weights read with the folder."""
        if self._net is None:
            if self._weights is None:
                raise DataError(f"{self.path / MODEL_WEIGHTS} was not read with its folder.")
            self._net = _build_net(self.card, self._weights, self.path)
            self._weights = None
        return self._net

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
    _require_folder(model_dir)
    return _parse_card((model_dir / MODEL_CARD).read_bytes(), model_dir)


def read_model(model_dir: str | Path) -> ModelArtifact:
    """The model folder as one object, each file read once (no torch: the network is built
    when first used). Batch prediction, the HTTP server and monitoring share it."""
    return _read(Path(model_dir), build_net=False)


def load_model(model_dir: str | Path) -> ModelArtifact:
    """`read_model` with the network built now (weights_only: no pickle), so weights that
    do not match the card fail here. Training's evaluation and the ONNX export use it."""
    return _read(Path(model_dir), build_net=True)


def _read(model_dir: Path, *, build_net: bool) -> ModelArtifact:
    _require_folder(model_dir)
    blobs = {name: (model_dir / name).read_bytes() for name in _FILES}
    card = _parse_card(blobs[MODEL_CARD], model_dir)
    net = _build_net(card, blobs[MODEL_WEIGHTS], model_dir) if build_net else None
    transform = FeatureTransform(**json.loads(blobs[MODEL_TRANSFORM].decode("utf-8")))
    return ModelArtifact(
        model_dir,
        card,
        transform,
        net=net,
        weights=None if build_net else blobs[MODEL_WEIGHTS],
        sha256={name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
        md5={
            name: hashlib.md5(blob, usedforsecurity=False).hexdigest()
            for name, blob in blobs.items()
        },
    )


def _require_folder(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise DataError(
            f"Expected a model folder at {model_dir}, but there is none. Run `dvc repro` (the "
            "train stage writes models/seed-N/) or `dvc pull` to fetch it, or pass --model with "
            "the folder of a trained model.",
            kind="missing-file",
            path=model_dir,
        )
    for name in _FILES:
        if not (model_dir / name).is_file():
            raise DataError(
                f"Expected the model file {model_dir / name}, but it does not exist: "
                f"{model_dir} is not a complete dockyard model folder (it needs "
                f"{MODEL_WEIGHTS}, {MODEL_CARD} and {MODEL_TRANSFORM}). Run `dvc repro` or "
                "`dvc pull` to restore it.",
                kind="missing-file",
                path=model_dir / name,
            )


def _parse_card(blob: bytes, model_dir: Path) -> dict[str, Any]:
    try:
        card = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"{model_dir / MODEL_CARD} is not valid JSON ({error}).",
            kind="unreadable",
            path=model_dir / MODEL_CARD,
        ) from None
    found = card.get("format", FORMAT) if isinstance(card, dict) else None
    if found != FORMAT or not all(key in card for key in _REQUIRED):
        raise DataError(
            f"{model_dir} was written in model format {found!r}, but this dockyard reads "
            f"{FORMAT!r} (with the keys {', '.join(_REQUIRED)}). Re-train it with this version "
            "(`dvc repro`), or use the dockyard version that trained it.",
            kind="unknown-model-format",
            path=model_dir,
        )
    return card


def _build_net(card: dict[str, Any], weights: bytes, model_dir: Path) -> Any:
    """The network the card describes, with its weights (weights_only: no pickle), in eval
    mode."""
    import torch

    from dockyard.models.nets import build_model

    net = build_model(card["net"], len(card["features"]), card["outputs"])
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except (RuntimeError, OSError, ValueError, pickle.UnpicklingError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"{model_dir / MODEL_WEIGHTS} does not hold the weights its card describes "
            f"({first}). Re-train the model (`dvc repro`) or restore it (`dvc checkout`).",
            kind="bad-weights",
            path=model_dir / MODEL_WEIGHTS,
        ) from None
    net.eval()
    return net


def predict(net: Any, x: np.ndarray, task: str, batch_size: int = 65536) -> np.ndarray:
    """Class probabilities (classification) or scaled predictions (regression), float64."""
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            out = net(torch.from_numpy(x[start : start + batch_size])).double()
            chunks.append(torch.softmax(out, dim=1) if task == "classification" else out[:, 0])
    return torch.cat(chunks).numpy() if chunks else np.zeros((0,))
