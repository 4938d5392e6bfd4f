"""What the benchmark cases share: the result row, timing a command, scratch projects and a
description of the machine.

Importing this module puts the repository root and `benchmarks/` on `sys.path`, so a case
module can import `tests.helpers`, `baselines` and `timing` however it was started.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "benchmarks", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.helpers import project_env  # noqa: E402

Row = dict[str, Any]

# Table sizes: large enough that per-call overheads no longer dominate, small enough for the
# whole suite to finish in minutes on two cores.
TRAIN_ROWS = 200_000
TABLE_ROWS = 1_000_000


def row(
    measure: str,
    dockyard: float,
    baseline: float,
    unit: str,
    ratio: float,
    goal: str | None,
    met: bool | None,
    baseline_is: str,
    **details: Any,
) -> Row:
    """One line of the results: dockyard's figure, the same-run baseline and their ratio.

    `goal` is the target in words (None where there is none) and `met` whether this run
    reached it; `details` (raw seconds, pair ratios, sizes) go to results.json only. The
    runner adds the case number (bench.CASES is the one place that numbers the cases)."""
    return {
        "measure": measure,
        "dockyard": float(dockyard),
        "baseline": float(baseline),
        "unit": unit,
        "ratio": float(ratio),
        "goal": goal,
        "met": None if met is None else bool(met),
        "baseline_is": baseline_is,
        **({"details": details} if details else {}),
    }


def timed(args: list[str], cwd: Path) -> float:
    """Wall seconds of a command run to completion in `cwd` (output captured, failure raises)."""
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=project_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def stage_command(stage: str, *args: str) -> list[str]:
    """The command dvc.yaml runs for `stage`, with this interpreter."""
    return [sys.executable, "-m", f"dockyard.stages.{stage}", *args]


def synthetic_project(path: Path, rows: int, stages: tuple[str, ...]) -> Path:
    """A scratch folder with params for `data=synthetic data.rows=ROWS`, `stages` run directly.

    No git and no DVC: the cases that use it measure the stages' own work."""
    path.mkdir(parents=True)
    shutil.copytree(ROOT / "conf", path / "conf")
    subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "compose", "data=synthetic", f"data.rows={rows}"],
        cwd=path,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for stage in stages:
        subprocess.run(stage_command(stage), cwd=path, check=True, stdout=subprocess.DEVNULL)
    return path


def machine() -> dict[str, Any]:
    """Python, CPU count, platform and the versions that decide the figures."""
    import importlib.metadata as md

    versions = {}
    for package in ("dockyard", "torch", "pytorch-lightning", "dvc", "pandas", "pandera"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
    }
