"""Scoring: one table in, predictions out, the same way for batch files and HTTP requests.

A `Scorer` is built once per process from a model folder read once into one
`models.artifact.ModelArtifact`: the card, the schema the model was trained under (minus
the target), the fitted transform and a runtime, all from that object. `score` checks a
table (`data.fastcheck`), transforms the good rows (`serve.transform`), runs the network
and returns the output columns: the key columns (or `row`), `prediction` in the user's own
labels, `proba_<class>` per class (or the prediction in the target's units), and the
target when the input carried it. Monitoring scores through the same `Scorer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.config.schema import NUMERIC_DTYPES
from dockyard.data.fastcheck import Checked, CompiledSchema, Failure, to_numbers, to_text
from dockyard.errors import DataError
from dockyard.models.artifact import ModelArtifact, read_model
from dockyard.serve.runtime import load_runtime
from dockyard.serve.transform import CompiledTransform
from dockyard.serve.version import model_version

ROW = "row"
PREDICTION = "prediction"
PROBA = "proba_"


@dataclass
class Scored:
    """The result of scoring one table."""

    columns: dict[str, Any]  # output name -> numpy array or list, in output order
    good: np.ndarray  # row positions that were scored
    failures: list[Failure] = field(default_factory=list)
    bad: np.ndarray | None = None  # row positions refused

    @property
    def rows(self) -> int:
        return len(self.good)


class Scorer:
    """Checks, transforms and scores tables for one model: the inference core batch
    prediction, the HTTP server and monitoring stand on."""

    def __init__(
        self,
        model: ModelArtifact | str | Path,
        *,
        runtime: str = "torch",
        onnx_file: str | Path | None = None,
        threads: int | None = None,
        eager: bool = True,
    ):
        # the folder read once; its card, transform and digests serve everything below
        self.model = model if isinstance(model, ModelArtifact) else read_model(model)
        self.model_dir = self.model.path
        self.card = self.model.card
        self.task = str(self.card["task"])
        self.target = self.card.get("target")
        self.classes = self.card.get("classes")
        self.transform = CompiledTransform(self.model.transform)
        self.schema_cfg, self.schema_source = model_schema(self.card, self.model_dir)
        self.keys = model_keys(self.card, self.schema_cfg)
        features = {k: v for k, v in self.transform.columns.items() if k not in self.keys}
        self.schema = CompiledSchema(
            self.schema_cfg,
            target=self.target,
            extra=features,
            ignored=self.card.get("dropped_columns") or (),
            where="the input",
            fix_in=self.schema_source,
        )
        target_spec = (self.schema_cfg.get("columns") or {}).get(self.target) or {}
        self.target_dtype = str(target_spec.get("dtype") or "")
        self.version = model_version(self.model)
        self.runtime = load_runtime(
            runtime, self.model, onnx_file=onnx_file, threads=threads, eager=eager
        )
        self.version["runtime"] = self.runtime.name
        if self.task == "classification":
            self._labels = np.asarray(self.classes, dtype=object)
            if all(isinstance(c, int) and not isinstance(c, bool) for c in self.classes):
                self._labels = np.asarray(self.classes, dtype=np.int64)
            self.proba_columns = [f"{PROBA}{c}" for c in self.classes]

    def score(self, checked: Checked, carried: dict[str, Any] | None = None, offset: int = 0):
        """Score the rows that passed; `carried` holds the target column when present."""
        x, unseen = self.transform.features(checked)
        failures = checked.failures + unseen
        bad_mask = np.zeros(checked.rows, dtype=bool)
        for failure in failures:
            bad_mask[failure.rows] = True
        good = np.flatnonzero(~bad_mask)
        if len(good) < checked.rows:
            x = x[good]
        outputs = self.runtime.outputs(x) if len(good) else _empty(self)
        columns = self.identity(checked, good, offset)
        if self.task == "classification":
            outputs = outputs.reshape(len(good), len(self.classes))
            columns[PREDICTION] = (
                self._labels[outputs.argmax(axis=1)] if len(good) else (self._labels[:0])
            )
            for j, name in enumerate(self.proba_columns):
                columns[name] = outputs[:, j]
        else:
            columns[PREDICTION] = self.transform.transform.decode_target(outputs)
        if carried and self.target in carried:
            columns[self.target] = self.target_values(carried[self.target], good)
        return Scored(columns, good, failures, np.flatnonzero(bad_mask))

    def failures(self, checked: Checked) -> list[Failure]:
        """What `score` would refuse, without running the network."""
        unseen = self.transform.features(checked)[1] if self.transform.refuse_unknown else []
        return checked.failures + unseen

    def identity(self, checked: Checked, rows: np.ndarray, offset: int) -> dict[str, Any]:
        """Key columns in their declared dtype, or the row number."""
        if not self.keys:
            return {ROW: rows.astype(np.int64) + offset}
        columns = {}
        for key in self.keys:
            dtype = checked.dtypes.get(key, "str")
            if key in checked.texts:
                text = checked.texts[key]
                names = np.asarray([*text.categories, None], dtype=object)
                columns[key] = names[text.codes[rows]]
            else:
                values = checked.number(key)[rows]
                columns[key] = _typed_numbers(values, dtype)
        return columns

    def target_values(self, column: Any, rows: np.ndarray) -> Any:
        """The target as carried, in its declared dtype where it reads as one (else missing)."""
        dtype = self.target_dtype
        if dtype in NUMERIC_DTYPES:
            values = to_numbers(column, "float64")[0][rows]
            return _typed_numbers(values, dtype)
        text = to_text(column)
        names = np.asarray([*text.categories, None], dtype=object)
        return names[text.codes[rows]]


def _empty(scorer: Scorer) -> np.ndarray:
    width = len(scorer.classes) if scorer.task == "classification" else 1
    return np.zeros((0, width)) if scorer.task == "classification" else np.zeros(0)


def _typed_numbers(values: np.ndarray, dtype: str) -> Any:
    """Whole numbers as int64 (a masked array where missing), others float64."""
    if dtype.startswith("int") or dtype == "bool":
        missing = np.isnan(values)
        whole = np.where(missing, 0, values).astype(np.int64)
        if dtype == "bool":
            whole = whole.astype(bool)
        return np.ma.masked_array(whole, mask=missing) if missing.any() else whole
    return values


def model_schema(card: dict[str, Any], model_dir: Path) -> tuple[dict[str, Any], str]:
    """The schema the model was trained under: the card's, else (models trained before the
    card held it) data.schema in the params.yaml of the project holding the folder."""
    if isinstance(card.get("schema"), dict):
        return card["schema"], f"from the card {model_dir / 'model.json'}"
    for folder in [model_dir.resolve(), *model_dir.resolve().parents][:4]:
        params = folder / "params.yaml"
        if params.is_file():
            import yaml

            data = (yaml.safe_load(params.read_text(encoding="utf-8")) or {}).get("data") or {}
            if data.get("target") == card.get("target") and isinstance(data.get("schema"), dict):
                name = data.get("name", "NAME")
                return data["schema"], f"from data.schema in conf/data/{name}.yaml"
    raise DataError(
        f"{model_dir / 'model.json'} holds no schema, and no params.yaml above the folder "
        "names one for its target: there is nothing to check new rows against. Re-train the "
        "model with this dockyard version (`dvc repro`), whose model card holds the schema.",
        kind="missing-schema",
        path=model_dir / "model.json",
    )


def model_keys(card: dict[str, Any], schema_cfg: dict[str, Any]) -> list[str]:
    if isinstance(card.get("keys"), list):
        return [str(k) for k in card["keys"]]
    columns = schema_cfg.get("columns") or {}
    return [str(n) for n, spec in columns.items() if (spec or {}).get("key")]
