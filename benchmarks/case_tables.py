"""Table throughput: validation and featurize on 1,000,000 rows x 30 columns.

The baselines are direct numpy code doing the same work: `baselines.check_table` checks
the same schema rules, and the featurize baseline computes the same statistics, matrix
and labels (`baselines.featurize`, checked equal to dockyard's matrix before timing).
Both sides run in three back-to-back pairs whose order alternates; the ratio is the median
of dockyard's time over the numpy code's within each pair, so lower is better.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import baselines
from common import TABLE_ROWS, Row, row, synthetic_project
from timing import alternating

PAIRS = 3
GOAL = 3.0


def ingested_table(work: Path, state: dict[str, Any]) -> Path:
    """The scratch project with `data=synthetic` ingested at TABLE_ROWS (case_prediction
    reads the same table)."""
    if "table_project" not in state:
        state["table_project"] = synthetic_project(work / "tables", TABLE_ROWS, ("ingest",))
    return state["table_project"]


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    import numpy as np
    import pandas as pd
    from omegaconf import OmegaConf

    from dockyard.config import load_params
    from dockyard.data.features import fit_transform
    from dockyard.data.schemas import validate_table
    from dockyard.paths import RAW_TABLE

    with contextlib.chdir(ingested_table(work, state)):
        cfg = load_params()
        table = pd.read_parquet(RAW_TABLE)
    schema = OmegaConf.to_container(cfg.data.schema, resolve=True)
    policy = OmegaConf.to_container(cfg.featurize, resolve=True)
    assert baselines.check_table(table, schema) == []
    transform = fit_transform(table, target="target", task="classification", policy=policy)
    assert (baselines.featurize(table, transform) == transform.features(table)).all()

    def ours_validate() -> None:
        validate_table(table, schema, where="bench", fix_in="bench", target="target")

    def ours_featurize() -> None:
        fitted = fit_transform(table, target="target", task="classification", policy=policy)
        fitted.features(table)
        fitted.labels(table)

    def numpy_featurize() -> None:
        # the statistics a fit needs, then the same matrix and labels
        for column in transform.numeric:
            values = table[column].to_numpy(dtype="float64")
            present = values[~pd.isna(values)]
            median = float(np.median(present))
            filled = np.where(pd.isna(values), median, values)
            filled.mean(), filled.std()
        for column in transform.categorical:
            np.unique(table[column].cat.codes.to_numpy())
        baselines.featurize(table, transform)
        table["target"].to_numpy(dtype="int64")

    comparisons: tuple[tuple[str, Callable[[], Any], Callable[[], Any], str], ...] = (
        (
            "validation",
            ours_validate,
            lambda: baselines.check_table(table, schema),
            "numpy checks of the same rules",
        ),
        (
            "featurize (fit + transform)",
            ours_featurize,
            numpy_featurize,
            "numpy: the same statistics, matrix and labels",
        ),
    )
    rows = []
    for name, ours, floor, label in comparisons:
        # pair ratios ours/floor in seconds: how many times the numpy code's time
        floor_s, ours_s, ratios = alternating(
            lambda floor=floor: seconds_of(floor), lambda ours=ours: seconds_of(ours), PAIRS
        )
        ratio = statistics.median(ratios)
        rows.append(
            row(
                f"{name}, {len(table):,} rows x {table.shape[1] - 1} columns",
                len(table) / statistics.median(ours_s),
                len(table) / statistics.median(floor_s),
                "rows/s",
                ratio,
                f"<= {GOAL:g} (time ratio)",
                ratio <= GOAL,
                label,
                dockyard_seconds=ours_s,
                baseline_seconds=floor_s,
                pair_ratios=ratios,
            )
        )
    return rows


def seconds_of(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
