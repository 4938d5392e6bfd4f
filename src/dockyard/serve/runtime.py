"""The two ways to run the network: PyTorch (the model folder as trained) or ONNX Runtime
(the file `dockyard export` writes), each over the model folder read once
(`models.artifact.ModelArtifact`). Both answer with float64 class probabilities
(classification) or scaled predictions (regression), and hold no mutable state between
calls, so concurrent requests may share one runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dockyard.errors import DataError
from dockyard.models.artifact import ModelArtifact
from dockyard.models.onnx import META_WEIGHTS, onnx_path
from dockyard.paths import MODEL_WEIGHTS

RUNTIMES = ("torch", "onnx")


class TorchRuntime:
    name = "torch"

    def __init__(self, model: ModelArtifact, threads: int | None = None, eager: bool = True):
        self.artifact, self.threads, self._ready = model, threads, False
        if eager:  # a server builds it now: weights that do not fit the card fail at start
            self._build()

    def _build(self) -> None:
        """torch imported and the network built, once. Batch prediction waits for the first
        rows that pass their checks: a refused file never pays for importing torch."""
        if self._ready:
            return
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        self.artifact.net  # noqa: B018
        self._ready = True

    def outputs(self, x: np.ndarray) -> np.ndarray:
        self._build()
        return self.artifact.predict(x)


class OnnxRuntime:
    name = "onnx"

    def __init__(
        self,
        model: ModelArtifact,
        path: str | Path | None = None,
        threads: int | None = None,
    ):
        model_dir, task = model.path, model.task
        path = Path(path) if path else onnx_path(model_dir)
        try:
            import onnxruntime as ort
        except ImportError:
            raise DataError(
                "--runtime onnx needs onnxruntime: pip install 'dockyard[onnx]' (or use "
                "--runtime torch).",
                kind="missing-package",
            ) from None
        if not path.is_file():
            raise DataError(
                f"--runtime onnx needs {path}, which does not exist. Write it with "
                f"`dockyard export --model {model_dir} --format onnx`, or use --runtime torch.",
                kind="missing-file",
                path=path,
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise DataError(
                f"{path} could not be loaded by ONNX Runtime ({str(error).splitlines()[0]}). "
                f"Export it again with `dockyard export --model {model_dir} --format onnx`.",
                kind="unreadable",
                path=path,
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        weights_sha256 = model.sha256.get(MODEL_WEIGHTS)
        if weights_sha256 and meta.get(META_WEIGHTS) != weights_sha256:
            raise DataError(
                f"{path} was exported from other weights than {model_dir / MODEL_WEIGHTS} "
                f"holds now (sha256 {meta.get(META_WEIGHTS, 'unknown')[:12]} in the export, "
                f"{weights_sha256[:12]} in the folder): the model was re-trained since. Export "
                f"it again: `dockyard export --model {model_dir} --format onnx`.",
                kind="stale-export",
                path=path,
            )
        self.task = task
        self.input = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        self.output = "probabilities" if task == "classification" else names[0]
        if self.output not in names:
            raise DataError(
                f"{path} has no output {self.output!r} (outputs: {', '.join(names)}): it was "
                f"not written by `dockyard export`. Export it again from {model_dir}.",
                kind="wrong-format",
                path=path,
            )

    def outputs(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0,))
        (out,) = self.session.run([self.output], {self.input: x})
        out = out.astype(np.float64)
        return out if self.task == "classification" else out[:, 0]


def load_runtime(
    name: str,
    model: ModelArtifact,
    *,
    onnx_file: str | Path | None = None,
    threads: int | None = None,
    eager: bool = True,
) -> Any:
    """The runtime `name` over the model folder already read into `model` (`eager`: torch's
    network built now, not at the first rows scored)."""
    if name == "torch":
        return TorchRuntime(model, threads, eager)
    if name == "onnx":
        return OnnxRuntime(model, onnx_file, threads)
    raise DataError(
        f"--runtime is {name!r}, expected one of: {', '.join(RUNTIMES)}.", kind="not-a-choice"
    )
