"""train: fit the configured network with a Lightning Trainer; save weights and a model card.

Runs once per training seed (`python -m dockyard.stages.train --seed N`, the train@N stages
of dvc.yaml). Outputs: models/seed-N/ (weights, card, transform: see
dockyard.models.artifact) and eval/seeds/N/train/ (DVCLive's per-epoch curves), each
written to a temporary place and moved in at the end; the run's seconds and logger run
ids go to eval/runs/seed-N.json, outside every DVC output.
"""

from __future__ import annotations

import tempfile
import time

from omegaconf import OmegaConf

from dockyard.config import (
    PARAMS_FILE,
    default_seed,
    load_params,
    params_hash,
    refuse_silent_switch,
)
from dockyard.data.features import FeatureTransform, feature_arrays
from dockyard.io import staged_dir
from dockyard.models.trial import PRUNED_EXIT
from dockyard.paths import (
    TRANSFORM_FILE,
    features_path,
    model_dir,
    run_facts_path,
    train_log_dir,
)
from dockyard.provenance import data_hashes, record_run_facts
from dockyard.runtime import first_process, output_lock, seed_argument, stage_main

# The params this stage reads (dvc.yaml lists the same keys; a test compares them).
PARAM_KEYS = [
    "data.name",
    "data.target",
    "data.task",
    "data.schema",
    "model",
    "trainer",
    "train",
    "logger",
]


@stage_main
def main() -> None:
    from dockyard.models.artifact import model_card, save_model
    from dockyard.models.loggers import hyperparameters
    from dockyard.models.training import fit

    seed = seed_argument("Train one model (dvc.yaml runs this once per entry of `seeds`).")
    cfg = load_params()
    refuse_silent_switch(cfg.data.name)  # before anything trains
    seed = default_seed(cfg) if seed is None else seed
    transform = FeatureTransform.load(TRANSFORM_FILE)
    train, val = feature_arrays(features_path("train")), feature_arrays(features_path("val"))
    n_outputs = len(transform.classes) if cfg.data.task == "classification" else 1
    if not first_process():  # a DDP worker: trains, writes nothing
        with tempfile.TemporaryDirectory() as scratch:
            fit(cfg, train[:2], val[:2], n_outputs, scratch, seed=seed)
        return

    out, log_dir = model_dir(seed), train_log_dir(seed)
    started = time.perf_counter()
    with output_lock(out, log_dir), staged_dir(log_dir) as staged_log:
        # every extra logger records params.yaml as written
        hparams = hyperparameters(OmegaConf.load(PARAMS_FILE))
        result = fit(cfg, train[:2], val[:2], n_outputs, str(staged_log), seed, hparams)
        if result["pruned_epoch"] is not None:
            stop_pruned(seed, result["pruned_epoch"])
        card = model_card(
            cfg,
            seed=seed,
            result=result,
            features=train[2],
            classes=transform.classes,
            params_hash="sha256:" + params_hash(cfg, PARAM_KEYS),
            data=data_hashes([features_path("train"), features_path("val"), TRANSFORM_FILE]),
        )
        save_model(out, result["state"], card, TRANSFORM_FILE)
    record_run_facts(
        run_facts_path(seed),
        {"train_seconds": round(time.perf_counter() - started, 3), "loggers": result["loggers"]},
    )
    training = card["training"]
    print(
        f"train (seed {seed}): best {training['monitor']} {training['best_score']:.4f} at epoch "
        f"{training['best_epoch']} of {training['epochs_run']} -> {out}/"
    )


def stop_pruned(seed: int, epoch: int) -> None:
    """Exit without outputs: a run its sweep's pruner cut short is no result of its params
    (DVC must neither keep it as an experiment nor restore it from its run-cache)."""
    import sys

    print(
        f"train (seed {seed}): pruned by the sweep after epoch {epoch}; no outputs written.",
        file=sys.stderr,
    )
    raise SystemExit(PRUNED_EXIT)


if __name__ == "__main__":
    main()
