"""Where the monitor finds things in a dockyard project: the dataset's batches, the
training split, the models of every seed and their test metrics, and which batches the
last pipeline run trained on (data/validation.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dockyard.config import PARAMS_FILE, load_params
from dockyard.data.readers import BATCH_SUFFIXES, batch_files
from dockyard.data.sources import table_file
from dockyard.errors import DataError
from dockyard.monitor.policy import MonitorPolicy, monitor_policy
from dockyard.paths import VALIDATION_REPORT, model_dir, seed_dir, split_path

TABLE_FILE_SOURCE = "dockyard.data.sources.table_file"
# The monitor stage's output and `dockyard monitor`'s default --output (committed, a DVC
# metrics file: dvc.yaml declares the same path).
MONITOR_FILE = "eval/monitor.json"


def load_settings(root: Path) -> tuple[Any, MonitorPolicy]:
    """params.yaml, validated (its monitor section with it), and its monitor policy."""
    cfg = load_params(root / PARAMS_FILE)
    return cfg, monitor_policy(cfg.monitor)


def dataset_batches(data_cfg: Any, root: Path) -> list[Path] | None:
    """The dataset's batch files in order, or None when data.input is not a folder."""
    folder = root / str(data_cfg.input)
    if not folder.is_dir():
        return None
    settings = _source_settings(data_cfg)
    return batch_files(folder, settings["format"], settings["time"], settings["time_format"])


def read_batch(path: Path, data_cfg: Any, explicit: bool = False) -> pd.DataFrame:
    """A batch file read as the dataset's source reads its files (delimiter, columns left
    out); a file the user names (`explicit`) keeps the format its extension says."""
    settings = _source_settings(data_cfg)
    if not path.is_file():
        raise DataError(
            f"{path} does not exist or is not a file. Give a CSV or Parquet batch, or a "
            "folder of them (its newest batch is compared).",
            kind="missing-file",
            path=path,
        )
    fmt = None if explicit else settings["format"]
    if path.suffix.lower() not in BATCH_SUFFIXES and fmt is None:
        raise DataError(
            f"{path} has the extension {path.suffix or '(none)'!r}; the monitor reads CSV "
            f"and Parquet batches ({', '.join(BATCH_SUFFIXES)}).",
            kind="unknown-format",
            path=path,
        )
    return table_file(
        str(path),
        format=fmt,
        delimiter=settings["delimiter"],
        drop_columns=settings["drop_columns"],
    )


def read_batches_of(files: list[Path], data_cfg: Any) -> pd.DataFrame:
    """Several of the dataset's batches stacked, as ingest reads them."""
    from dockyard.data.readers import read_batches

    settings = _source_settings(data_cfg)
    table = read_batches(files, format=settings["format"], delimiter=settings["delimiter"])
    drop = [c for c in settings["drop_columns"] if c in table.columns]
    return table.drop(columns=drop) if drop else table


def _source_settings(data_cfg: Any) -> dict[str, Any]:
    source = data_cfg.source
    if source.get("_target_") != TABLE_FILE_SOURCE:
        return {
            "format": None,
            "delimiter": ",",
            "drop_columns": [],
            "time": None,
            "time_format": None,
        }
    return {
        "time": source.get("time"),
        "time_format": source.get("time_format"),
        "format": source.get("format"),
        "delimiter": source.get("delimiter") or ",",
        "drop_columns": list(source.get("drop_columns") or []),
    }


def trained_batches(root: Path) -> list[str] | None:
    """The batches the last pipeline run trained on (data/validation.json), if it says."""
    path = root / VALIDATION_REPORT
    if not path.is_file():
        return None
    batches = json.loads(path.read_text(encoding="utf-8")).get("batches")
    return list(batches) if isinstance(batches, dict) else None


def training_split(root: Path) -> Path:
    return root / split_path("train")


def test_split(root: Path) -> Path:
    return root / split_path("test")


def seed_model(root: Path, seed: int) -> Path:
    return root / model_dir(seed)


def seed_test_metrics(root: Path, seeds: list[int]) -> dict[int, dict[str, float]]:
    """Test metrics per seed (eval/seeds/N/metrics.json) of the seeds that have them."""
    found = {}
    for seed in seeds:
        path = root / seed_dir(seed) / "metrics.json"
        if path.is_file():
            found[seed] = json.loads(path.read_text(encoding="utf-8"))
    return found


def require_model(path: Path) -> Path:
    if not (path / "model.json").is_file():
        raise DataError(
            f"Expected a trained model in {path} (its model.json), but there is none. Run "
            "`dvc repro` (or `dvc pull` to fetch the trained models), or pass --model DIR.",
            kind="missing-file",
            path=path,
        )
    return path


def require_table(path: Path, what: str) -> pd.DataFrame:
    from dockyard.data.readers import read_table

    if not path.is_file():
        raise DataError(
            f"Expected {what} at {path}, but it does not exist. Run `dvc repro` (or "
            "`dvc pull`) first, or pass --reference FILE.",
            kind="missing-file",
            path=path,
        )
    return read_table(path)


def shown(path: Path, root: Path) -> str:
    """A path as the output shows it: relative to the project root when inside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
