"""Peak memory: ingest, validate, split and featurize on 10,000,000 rows.

Each stage runs as dvc.yaml runs it, one process each, on `data=synthetic` in a scratch
project; its peak resident memory is read from the kernel (wait4's ru_maxrss) and set
beside the table's own size in memory (pandas, deep), since the goal is memory bounded by
the table's size. Each row's details also hold the stage's wall seconds, the table's size
as Parquet and the peak of a bare interpreter that imports pandas and pyarrow.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import Row, row, stage_command, synthetic_project

STAGES = ("ingest", "validate", "split", "featurize")
GOAL = 3.0
# Run from a fresh, small interpreter: a child forked straight from the (large) benchmark
# process would report that process's resident size as its own peak.
_PEAK = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=10_000_000,
        help="rows of the table in the peak-memory case (case_memory)",
    )


def peak_rss(command: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak resident MB) of a command, read from the kernel (wait4)."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, *command], cwd=cwd, capture_output=True, text=True
    ).stdout.split()
    if not out or out[0] != "0":
        raise SystemExit(f"peak memory: {' '.join(command)} failed in {cwd}")
    return float(out[1]), int(out[2]) / 1024


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    import pyarrow.parquet as pq

    from dockyard.paths import RAW_TABLE

    rows_count = args.memory_rows
    project = synthetic_project(work / "memory", rows_count, ())
    _, python_mb = peak_rss([sys.executable, "-c", "import pandas, pyarrow.parquet"], project)
    measured = {stage: peak_rss(stage_command(stage), project) for stage in STAGES}
    table = pq.read_table(project / RAW_TABLE).to_pandas()
    table_mb = table.memory_usage(deep=True).sum() / 2**20
    del table
    parquet_mb = (project / RAW_TABLE).stat().st_size / 2**20
    rows = []
    for stage, (seconds, peak) in measured.items():
        rows.append(
            row(
                f"peak memory: {stage}, {rows_count:,} rows",
                peak,
                table_mb,
                "MB",
                peak / table_mb,
                f"< {GOAL:g}",
                peak / table_mb < GOAL,
                "the table's own size in memory (pandas, deep)",
                seconds=seconds,
                parquet_mb=parquet_mb,
                interpreter_with_pandas_mb=python_mb,
            )
        )
    return rows
