"""ONNX export: the trained network as an ONNX graph, for ONNX Runtime or other consumers.

The file goes beside the model folder (models/seed-N.onnx), not into it: the folder is the
train stage's DVC output, and a file added there would change its hash, so `dvc status`
would report the model as modified and `dvc repro` would re-train over it. The transform
stays JSON in the folder; the graph takes the transformed float32 features (`features`,
any number of rows) and gives `logits` and, for classification, `probabilities`. The
file's metadata records the sha256 of the weights it came from, so loading refuses a stale
export after the model is re-trained.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from dockyard.errors import DataError
from dockyard.io import atomic_path
from dockyard.paths import MODEL_TRANSFORM, MODEL_WEIGHTS

FORMATS = ("onnx",)
OPSET = 18

# metadata the export writes into the ONNX file, checked when it is loaded
META_WEIGHTS = "dockyard.weights_sha256"
META_TRANSFORM = "dockyard.transform_sha256"
META_TASK = "dockyard.task"


def onnx_path(model_dir: str | Path) -> Path:
    """Where `dockyard export` writes a model folder's ONNX file: beside the folder (not in
    it, which DVC tracks as the train stage's output)."""
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + ".onnx")


def export_onnx(model_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the model folder's network as ONNX; return the file's path."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise DataError(
            "dockyard export --format onnx needs the onnx and onnxscript packages: "
            "pip install 'dockyard[onnx]'.",
            kind="missing-package",
        ) from None
    import torch

    from dockyard.models.artifact import load_model

    model_dir = Path(model_dir)
    artifact = load_model(model_dir)
    output = Path(output) if output else onnx_path(model_dir)
    if output.suffix.lower() != ".onnx":
        raise DataError(f"--output {output} must end in .onnx.", kind="unknown-format", path=output)
    if output.resolve().parent == model_dir.resolve():
        raise DataError(
            f"--output {output} is inside {model_dir}, the train stage's DVC output: a file "
            "added there changes the folder's hash, and `dvc repro` would re-train over it. "
            f"Write it beside the folder (the default, {onnx_path(model_dir)}).",
            kind="inside-folder",
            path=output,
        )
    width = len(artifact.card["features"])
    wrapped = _WithProbabilities(artifact.net, artifact.task == "classification").eval()
    example = torch.zeros(2, width, dtype=torch.float32)
    names = ["logits", "probabilities"] if artifact.task == "classification" else ["predictions"]
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        rows = torch.export.Dim("rows", min=1)
        try:
            program = torch.onnx.export(
                wrapped,
                (example,),
                dynamo=True,
                input_names=["features"],
                output_names=names,
                dynamic_shapes=({0: rows},),
                opset_version=OPSET,
                verbose=False,
            )
        except Exception as error:  # the exporter raises many types for unsupported code
            raise DataError(
                f"The network in {model_dir} could not be exported to ONNX "
                f"({type(error).__name__}: {str(error).strip().splitlines()[0][:300]}). "
                "Serve it with --runtime torch instead.",
                kind="export-failed",
                path=model_dir,
            ) from None
    proto = program.model_proto
    meta = {
        META_WEIGHTS: artifact.sha256[Path(MODEL_WEIGHTS).name],
        META_TRANSFORM: artifact.sha256[Path(MODEL_TRANSFORM).name],
        META_TASK: artifact.task,
        "dockyard.features": str(width),
        "dockyard.params_hash": str((artifact.card.get("provenance") or {}).get("params_hash")),
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(output) as tmp:
        Path(tmp).write_bytes(proto.SerializeToString())
    return output


def _WithProbabilities(net: Any, classification: bool) -> Any:  # noqa: N802 (a factory)
    import torch

    class WithProbabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> Any:
            logits = self.net(x)
            if classification:
                return logits, torch.softmax(logits, dim=1)
            return logits

    return WithProbabilities()


class _quiet:
    """Silence the exporter's progress and registry chatter for the duration."""

    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "torch.fx")

    def __enter__(self) -> None:
        import contextlib
        import io

        self.levels = {n: logging.getLogger(n).level for n in self.names}
        for name in self.names:
            logging.getLogger(name).setLevel(logging.ERROR)
        self.stdout = contextlib.redirect_stdout(io.StringIO())
        self.stdout.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.stdout.__exit__(*exc)
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
