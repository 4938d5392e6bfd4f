"""Stage start-up: each light stage, start to finish, on the bundled digits table.

A light stage is what `dvc repro` waits on most often, and on a small table its time is
almost all interpreter start-up and imports. The baseline is the least any such stage
needs, `python -c 'import pandas, pyarrow.parquet'`, timed with the stage in five
back-to-back pairs whose order alternates (the ratio is the median of the pair ratios).
The goal is absolute: under a second, and no torch import (read from
`python -X importtime`), since a light stage never needs torch.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import Row, row, stage_command, timed
from tests.helpers import make_project, project_env
from tests.helpers import run as run_command
from timing import alternating

LIGHT_STAGES = ("ingest", "validate", "split", "featurize", "aggregate")
PAIRS = 5
FLOOR_COMMAND = [sys.executable, "-c", "import pandas, pyarrow.parquet"]


def imports_torch(stage: str, cwd: Path) -> bool:
    """Whether `python -m dockyard.stages.STAGE` imports torch or Lightning."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"dockyard.stages.{stage}"],
        cwd=cwd,
        env=project_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(
        re.search(r"\|\s*(torch|pytorch_lightning|lightning)(\.|\s*$)", result.stderr, re.M)
    )


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    project = state.get("pipeline")
    if project is None:  # case_pipeline did not run: reproduce a project here
        project = make_project(work / "startup")
        run_command(["dvc", "repro"], project)
    rows = []
    for stage in LIGHT_STAGES:
        floor, ours, ratios = alternating(
            lambda: timed(FLOOR_COMMAND, project),
            lambda stage=stage: timed(stage_command(stage), project),
            PAIRS,
        )
        torch_imported = imports_torch(stage, project)
        seconds = statistics.median(ours)
        rows.append(
            row(
                f"start-up + run: {stage} (median of {PAIRS})",
                seconds,
                statistics.median(floor),
                "s",
                statistics.median(ratios),
                "< 1 s, no torch",
                seconds < 1.0 and not torch_imported,
                "python -c 'import pandas, pyarrow.parquet'; ratio: median of pair ratios",
                imports_torch=torch_imported,
                dockyard_seconds=ours,
                baseline_seconds=floor,
                pair_ratios=ratios,
            )
        )
    return rows
