"""`dockyard monitor`: is the model in the workspace fit for a new batch?

CURRENT defaults to the dataset's newest batch, the reference to the model's training
split (data/prepared/train.parquet), the model to the first seed's (models/seed-N). Its
predictions are compared on the held-out validation and test splits together (the model
fits its own training rows more closely than new ones, and the more held-out rows, the
less the reference's own sampling noise weighs); with labels in the batch, every seed's
model is scored for decay against its test metrics.
Run it before `dvc repro` (as `dockyard retrain` does): once the pipeline has trained on
the batch, the training split holds it and the comparison is diluted, which the output
then says (`in_training`). The monitor stage, which runs after training, compares batches
with each other instead (`monitor.pipeline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dockyard.data.readers import batch_files
from dockyard.errors import DataError
from dockyard.monitor.check import check_batch, score_table, summarise
from dockyard.monitor.performance import decay_report, labelled
from dockyard.monitor.project import (
    dataset_batches,
    load_settings,
    read_batch,
    require_model,
    require_table,
    seed_model,
    seed_test_metrics,
    shown,
    test_split,
    trained_batches,
    training_split,
)
from dockyard.paths import split_path


def monitor_project(
    root: str | Path = ".",
    current: str | Path | None = None,
    reference: str | Path | None = None,
    model: str | Path | None = None,
) -> dict[str, Any]:
    """Compare a batch with the training data of the workspace's model (see above)."""
    from dockyard.models.artifact import read_model
    from dockyard.serve.scoring import Scorer

    root = Path(root)
    cfg, policy = load_settings(root)
    current_path, current_table = _current(root, cfg, current)
    reference_path = Path(reference) if reference else training_split(root)
    reference_table = require_table(reference_path, "the training split")
    seeds = [int(s) for s in cfg.seeds]
    seed = _seed_of(root, Path(model), seeds) if model else seeds[0]
    model_path = require_model(Path(model) if model else seed_model(root, seeds[0]))
    scorer = Scorer(read_model(model_path))
    held_out = [] if reference is not None else _held_out(root)
    result, scored = check_batch(
        reference_table,
        current_table,
        scorer,
        policy,
        pd.concat([table for _, table in held_out], ignore_index=True) if held_out else None,
    )
    result["prediction"]["reference"] = " + ".join(
        shown(path, root) for path in ([p for p, _ in held_out] or [reference_path])
    )
    notes: list[str] = []
    performance = None
    if scorer.target not in current_table.columns:
        notes.append("decay not assessed: the batch carries no labels (no target column)")
    elif seed is None:
        notes.append(
            f"decay not assessed: --model {model} is none of this project's seed models, "
            "whose test metrics (eval/seeds/N/metrics.json) are the baseline"
        )
    else:
        performance, reason = _decay(
            root, seeds, seed, scorer, scored["current"], current_table, policy
        )
        if reason:
            notes.append(reason)
    result["performance"] = performance
    folder = (root / str(cfg.data.input)).resolve()
    in_training = current_path.resolve().parent == folder and current_path.name in (
        trained_batches(root) or []
    )
    if in_training:
        notes.append(
            f"{current_path.name} is already part of the training data (data/validation.json), "
            "so the comparison is diluted: run dockyard monitor before `dvc repro`"
        )
    return {
        "dataset": str(cfg.data.name),
        **result,
        **summarise(result, len(reference_table), len(current_table)),
        "current": {
            "path": shown(current_path, root),
            "batch": current_path.name,
            "rows": len(current_table),
            "in_training": in_training,
        },
        "reference": {"path": shown(reference_path, root), "rows": len(reference_table)},
        "model": shown(model_path, root),
        "policy": policy.to_dict(),
        "notes": notes,
    }


def _decay(root, seeds, seed, scorer, scored, current_table, policy):
    """The performance section, or None with the reason it could not be assessed."""
    from dockyard.models.artifact import read_model
    from dockyard.serve.scoring import Scorer

    test_metrics = seed_test_metrics(root, seeds)
    if seed not in test_metrics:
        return None, f"decay not assessed: eval/seeds/{seed}/metrics.json is missing"
    rows = {seed: labelled(scorer, scored)}
    for other in seeds:
        if other != seed and other in test_metrics and seed_model(root, other).is_dir():
            other_scorer = Scorer(read_model(seed_model(root, other)))
            rows[other] = labelled(other_scorer, score_table(other_scorer, current_table))
    if not len(rows[seed][0]):
        return None, "decay not assessed: no labelled row passed the model's schema"
    test_rows = None  # the sampling gate's bootstrap needs the test split's rows
    if policy.drift.bootstrap and test_split(root).is_file():
        test_table = require_table(test_split(root), "the test split")
        test_rows = labelled(scorer, score_table(scorer, test_table))
    report = decay_report(
        scorer.task,
        rows,
        test_metrics,
        test_rows,
        alpha=policy.alpha,
        replicates=policy.drift.bootstrap,
        seed=policy.drift.seed,
    )
    return report, None


def _held_out(root: Path) -> list[tuple[Path, pd.DataFrame]]:
    """The validation and test splits, those that exist: the rows no model trained on."""
    paths = [root / split_path("val"), test_split(root)]
    return [(path, require_table(path, "a held-out split")) for path in paths if path.is_file()]


def _current(root: Path, cfg: Any, given: str | Path | None) -> tuple[Path, Any]:
    if given is not None:
        path = Path(given)
        if path.is_dir():
            path = batch_files(path)[-1]
        return path, read_batch(path, cfg.data, explicit=True)
    batches = dataset_batches(cfg.data, root)
    if batches is None:
        raise DataError(
            f"No CURRENT batch given, and the dataset {cfg.data.name} is not a folder of "
            f"batches (data.input is {cfg.data.input}). Pass the table to compare: "
            "`dockyard monitor new.csv`, or register a batch folder (dockyard data add FOLDER).",
            kind="not-a-folder",
            key="data.input",
            path=cfg.data.input,
        )
    return batches[-1], read_batch(batches[-1], cfg.data)


def _seed_of(root: Path, model: Path, seeds: list[int]) -> int | None:
    """The seed whose model folder `model` is, if it is one of the project's."""
    for seed in seeds:
        if seed_model(root, seed).resolve() == model.resolve():
            return seed
    return None
