"""Prediction: dockyard.models.artifact.predict() on 1,000,000 rows, on the CPU.

The model is case_training's last fit (or a one-epoch fit when that case did not run)
and the rows are case_tables' synthetic table. Two rows, both against a bare
`inference_mode` loop over a ready float32 tensor (`baselines.predict_loop`), in batches
of 65,536:
- predict() on the ready feature matrix: what dockyard's wrapper costs;
- the fitted transform plus predict() from the raw table: what a batch of new rows costs.
Each row runs three back-to-back pairs whose order alternates; the ratio is the median of
dockyard's rows/s over the loop's within each pair.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import baselines
from case_tables import ingested_table, seconds_of
from case_training import prepared_features, short_fit
from common import Row, row
from timing import alternating

BATCH = 65_536
PAIRS = 3


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    import pandas as pd
    import torch

    from dockyard.data.features import FeatureTransform
    from dockyard.models.artifact import predict
    from dockyard.models.nets import build_model
    from dockyard.paths import RAW_TABLE, TRANSFORM_FILE

    if "model" not in state:
        state["model"] = short_fit(work, state)
    net_cfg, weights, width = state["model"]
    net = build_model(net_cfg, width, 2)
    net.load_state_dict(weights)
    net.eval()
    transform = FeatureTransform.load(prepared_features(work, state) / TRANSFORM_FILE)
    table = pd.read_parquet(ingested_table(work, state) / RAW_TABLE)
    x = transform.features(table)
    tensor = torch.from_numpy(x)
    ours, floor, ratios = alternating(
        lambda: seconds_of(lambda: predict(net, x, "classification", batch_size=BATCH)),
        lambda: baselines.predict_loop(net, tensor, BATCH),
        PAIRS,
    )
    full, full_floor, full_ratios = alternating(
        lambda: seconds_of(
            lambda: predict(net, transform.features(table), "classification", batch_size=BATCH)
        ),
        lambda: baselines.predict_loop(net, tensor, BATCH),
        PAIRS,
    )
    return [
        row(
            f"prediction, {len(x):,} rows of features, batch {BATCH:,}, CPU",
            len(x) / statistics.median(ours),
            len(x) / statistics.median(floor),
            "rows/s",
            statistics.median(ratios),
            None,
            None,
            "torch inference_mode loop over a ready float32 tensor",
            dockyard_seconds=ours,
            baseline_seconds=floor,
            pair_ratios=ratios,
        ),
        row(
            f"prediction from the raw table (transform + predict), {len(x):,} rows",
            len(x) / statistics.median(full),
            len(x) / statistics.median(full_floor),
            "rows/s",
            statistics.median(full_ratios),
            None,
            None,
            "the same bare inference loop",
            dockyard_seconds=full,
            baseline_seconds=full_floor,
            pair_ratios=full_ratios,
        ),
    ]
