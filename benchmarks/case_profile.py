"""Data profile: `dockyard data profile`'s work on 1,000,000 rows x 30 columns.

Two versions of a raw table (22 float and 2 integer columns, a date, a timestamp, 3 text
categories with non-ASCII levels and a text target; the head has one column shifted by
0.3 sd) are written to Parquet and read back as the validated table is, then profiled:
the head alone (summaries, charts, page) and the head against the base (the same plus the
monitor's tests on a seeded sample and their Benjamini-Hochberg verdicts), page rendered
in memory. Reading the Parquet files is timed apart (results.json).

The baseline is what a skilled pandas user would run for a quick look at the same
columns: `describe()` of the table plus `value_counts()` of every text column, on both
versions for the comparison. It draws nothing and tests nothing, so the ratio is what the
charts, exact medians and tests cost on top. Both run in three back-to-back pairs whose
order alternates; the ratio is the median within-pair time ratio. Goal: the comparison,
1M rows per side, under 10 seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import TABLE_ROWS, Row, row
from timing import alternating

PAIRS = 3
GOAL_SECONDS = 10.0
LEVELS = ["Zürich", "Genève", "Bern", "Lugano", "Köln", "Łódź", "São Paulo", "Malmö"]


def make_table(rows: int, seed: int, shift: float = 0.0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(22):
        columns[f"num_{i}"] = rng.standard_normal(rows) + (shift if i == 0 else 0.0)
    columns["count_0"] = rng.poisson(3, rows)
    columns["count_1"] = rng.integers(0, 1000, rows)
    start = np.datetime64("2024-01-01")
    columns["day"] = start + rng.integers(0, 365, rows).astype("timedelta64[D]")
    columns["seen"] = start + rng.integers(0, 3 * 10**7, rows).astype("timedelta64[s]")
    for j in range(3):
        columns[f"cat_{j}"] = np.array(LEVELS, dtype=object)[rng.integers(0, 8, rows)]
    columns["target"] = np.where(rng.random(rows) < 0.3, "churn", "stays")
    table = pd.DataFrame(columns)
    table.loc[rng.random(rows) < 0.02, "num_1"] = np.nan
    return table


def tables(work: Path, rows: int) -> tuple[Path, Path]:
    folder = work / f"profile-{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    base, head = folder / "base.parquet", folder / "head.parquet"
    if not head.is_file():
        make_table(rows, 1).to_parquet(base, index=False)
        make_table(rows, 2, shift=0.3).to_parquet(head, index=False)
    return base, head


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    import pandas as pd
    from tests.helpers import drift_policy

    from dockyard.report.profile import compare_tables, profile_table
    from dockyard.report.profile_html import Side, render_page

    base_path, head_path = tables(work, TABLE_ROWS)
    started = time.perf_counter()
    base, head = pd.read_parquet(base_path), pd.read_parquet(head_path)
    read_seconds = time.perf_counter() - started
    policy = drift_policy()
    params = {"data": {"name": "bench", "target": "target"}}
    side = Side("head", None, head, params, {})
    old = Side("base", None, base, params, {})

    def ours_profile() -> None:
        render_page(profile_table(head), None, side, None, "target")

    def ours_compare() -> None:
        change = compare_tables(base, head, policy, "target")
        assert [c.name for c in change.changed] == ["num_0"], change.changed
        render_page(change.head, change, side, old, "target")

    def describe(table: pd.DataFrame) -> None:
        table.describe()
        for column in table.select_dtypes(exclude=["number", "datetime"]).columns:
            table[column].value_counts()

    cases: tuple[tuple[str, Callable[[], None], Callable[[], None], str], ...] = (
        (
            "profile page of one table",
            ours_profile,
            lambda: describe(head),
            "pandas describe() + value_counts() of every text column",
        ),
        (
            "profile page, head vs base (tests, verdicts, overlaid charts)",
            ours_compare,
            lambda: (describe(base), describe(head)),
            "pandas describe() + value_counts() of both tables",
        ),
    )
    rows = []
    for name, ours, baseline, label in cases:
        theirs_s, ours_s, ratios = alternating(
            lambda baseline=baseline: seconds_of(baseline),
            lambda ours=ours: seconds_of(ours),
            PAIRS,
        )
        seconds = statistics.median(ours_s)
        rows.append(
            row(
                f"{name}, {len(head):,} rows x {head.shape[1]} columns",
                seconds,
                statistics.median(theirs_s),
                "s",
                statistics.median(ratios),
                f"< {GOAL_SECONDS:g} s",
                seconds < GOAL_SECONDS,
                label,
                dockyard_seconds=ours_s,
                baseline_seconds=theirs_s,
                pair_ratios=ratios,
                read_parquet_seconds=read_seconds,
            )
        )
    return rows


def seconds_of(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
