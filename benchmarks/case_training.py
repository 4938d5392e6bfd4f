"""Training throughput: the train stage's fit() against a hand-written PyTorch loop.

Both sides train the same MLP on the same synthetic features for the same epochs, with
one validation pass per epoch and a copy of the best weights, on the same number of
threads. They run in five back-to-back pairs whose order alternates; the ratio is the
median of the ratios within each pair (dockyard's samples/s over the loop's).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import baselines
import numpy as np
from common import TRAIN_ROWS, Row, row, synthetic_project
from timing import alternating

EPOCHS, BATCH, PAIRS = 3, 512, 5


def prepared_features(work: Path, state: dict[str, Any]) -> Path:
    """The scratch project with `data=synthetic` featurized (shared with case_prediction)."""
    if "train_project" not in state:
        state["train_project"] = synthetic_project(
            work / "train", TRAIN_ROWS, ("ingest", "split", "featurize")
        )
    return state["train_project"]


def load_training_inputs(project: Path) -> tuple[Any, Any, Any]:
    """(params, train arrays, validation arrays) as the train stage reads them."""
    from dockyard.config import load_params
    from dockyard.data.features import feature_arrays
    from dockyard.paths import features_path

    with contextlib.chdir(project):
        return (
            load_params(),
            feature_arrays(features_path("train")),
            feature_arrays(features_path("val")),
        )


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    import torch
    from omegaconf import OmegaConf

    from dockyard.models.nets import build_model
    from dockyard.models.training import fit

    cfg, (x, y, names), (x_val, y_val, _) = load_training_inputs(prepared_features(work, state))
    cfg.train.epochs, cfg.train.batch_size = EPOCHS, BATCH
    cfg.train.early_stopping.patience = EPOCHS  # never stops early: both run every epoch
    cfg.trainer.accelerator = "cpu"
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    # One intra-op thread for both sides: on a shared 2-core machine a second thread mostly
    # waits on other tenants, which makes every timing noisier.
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    # The loop gets the arrays as the train stage reads them (pandas hands over column-major
    # features; fit gathers from a row-major copy it makes). BENCH_BASELINE_LAYOUT=row-major
    # hands the loop a row-major copy too, made outside its timing: the loop at its best.
    layout = os.environ.get("BENCH_BASELINE_LAYOUT", "as-read")
    x_loop = np.ascontiguousarray(x) if layout == "row-major" else x

    def dockyard_run() -> float:
        with tempfile.TemporaryDirectory() as logs:
            start = time.perf_counter()
            result = fit(cfg, (x, y), (x_val, y_val), 2, logs, seed=0)
            seconds = time.perf_counter() - start
        state["model"] = (net_cfg, result["state"], x.shape[1])
        return seconds

    def baseline_run() -> float:
        torch.manual_seed(0)
        net = build_model(net_cfg, x.shape[1], 2)
        result = baselines.train_loop(
            net,
            torch.from_numpy(x_loop),
            torch.from_numpy(y),
            torch.from_numpy(x_val),
            torch.from_numpy(y_val),
            epochs=EPOCHS,
            batch_size=BATCH,
            lr=cfg.train.lr,
            weight_decay=cfg.train.weight_decay,
        )
        return result["seconds"]

    # warm-up: Lightning's import and first-call costs are start-up, not throughput
    fit(cfg, (x[:2048], y[:2048]), (x_val[:512], y_val[:512]), 2, str(work / "warm"), seed=0)
    # Load from other tenants drifts over seconds and so falls on both runs of a pair alike:
    # the median of the within-pair ratios is steadier than a ratio of best or median times.
    ours, theirs, pair_ratios = alternating(dockyard_run, baseline_run, PAIRS)
    samples = len(y) * EPOCHS
    ratio = statistics.median(pair_ratios)
    return [
        row(
            f"train throughput, MLP {x.shape[1]}-128-64-2, batch {BATCH}, {EPOCHS} epochs, "
            f"{len(y):,} train rows (median of {PAIRS})",
            samples / statistics.median(ours),
            samples / statistics.median(theirs),
            "samples/s",
            ratio,
            ">= 0.9",
            ratio >= 0.9,
            f"hand-written PyTorch loop slicing tensors (intra-op threads: {threads}; "
            f"features {layout})",
            dockyard_seconds=ours,
            baseline_seconds=theirs,
            pair_ratios=pair_ratios,
            features=len(names),
        )
    ]


def short_fit(work: Path, state: dict[str, Any]) -> tuple[dict[str, Any], Any, int]:
    """(network config, weights, input width) of a one-epoch fit: the prediction case's
    model when this case has not run."""
    from omegaconf import OmegaConf

    from dockyard.models.training import fit

    cfg, (x, y, _), val = load_training_inputs(prepared_features(work, state))
    cfg.train.epochs = 1
    result = fit(cfg, (x, y), val[:2], 2, str(work / "logs"), seed=0)
    return OmegaConf.to_container(cfg.model.net, resolve=True), result["state"], x.shape[1]
