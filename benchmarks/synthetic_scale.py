"""Wall time and peak memory of ingest, validate, split and featurize on synthetic data.

Usage: python benchmarks/synthetic_scale.py [--rows 1000000]
Runs each stage's command (what `dvc repro` runs) in a scratch project with
`data=synthetic data.rows=N` and reads each process's peak resident memory from the
kernel (wait4). The table's own in-memory size is printed alongside, since the goal is
memory bounded by the table's size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "validate", "split", "featurize")


def run_stage(stage: str, cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of `python -m dockyard.stages.STAGE`."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", f"dockyard.stages.{stage}"], cwd=cwd, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "conf", project / "conf")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dockyard.cli",
                "compose",
                "data=synthetic",
                f"data.rows={args.rows}",
            ],
            cwd=project,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        results = {stage: run_stage(stage, project) for stage in STAGES}
        import pandas as pd

        table = pd.read_parquet(project / "data/raw/table.parquet")
        table_mb = table.memory_usage(deep=True).sum() / 2**20
        parquet_mb = (project / "data/raw/table.parquet").stat().st_size / 2**20
    print(
        f"data=synthetic data.rows={args.rows:,}: table {table_mb:,.0f} MB in memory, "
        f"{parquet_mb:,.0f} MB as Parquet"
    )
    print(f"{'stage':<12}{'seconds':>9}{'peak RSS MB':>13}{'x table':>9}")
    for stage, (seconds, peak) in results.items():
        print(f"{stage:<12}{seconds:>9.2f}{peak:>13,.0f}{peak / table_mb:>9.2f}")
    total = sum(seconds for seconds, _ in results.values())
    peak = max(peak for _, peak in results.values())
    print(f"{'all four':<12}{total:>9.2f}{peak:>13,.0f}{peak / table_mb:>9.2f}")


if __name__ == "__main__":
    main()
