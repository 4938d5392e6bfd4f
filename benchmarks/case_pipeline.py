"""Pipeline overhead: what running the stages through DVC adds.

Three rows, each on a fresh git + DVC project of the bundled digits pipeline (no cache,
no run cache):
- `dvc repro` from scratch against the same stage commands run one after another without
  DVC (each stage's own seconds go to results.json);
- a no-op `dvc repro` against `dvc status`, in alternating back-to-back pairs;
- the same no-op comparison on a one-stage pipeline: DVC's own floor. `dvc repro` always
  does more than `dvc status` (it imports networkx and builds the stage graph, parses
  dvc.yaml and dvc.lock a second time to collect its targets, and takes a read-write lock
  per stage), so this ratio is what DVC costs before any pipeline.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from pathlib import Path
from typing import Any

from common import Row, row, stage_command, timed
from tests.helpers import make_project, project_env
from timing import alternating

PIPELINE_STAGES = ("ingest", "validate", "split", "featurize", "train", "evaluate", "aggregate")
SEEDED_STAGES = ("train", "evaluate")
NOOP_PAIRS = 9


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    direct_project = make_project(work / "direct")
    stage_seconds = {
        stage: timed(
            stage_command(stage, *(("--seed", "0") if stage in SEEDED_STAGES else ())),
            direct_project,
        )
        for stage in PIPELINE_STAGES
    }
    direct = sum(stage_seconds.values())
    project = make_project(work / "pipeline")
    state["pipeline"] = project  # reproduced: case_startup runs its light stages here
    scratch = timed(["dvc", "repro"], project)
    noop, status, ratios = noop_pairs(project)
    floor_noop, floor_status, floor_ratios = noop_pairs(one_stage_project(work / "one-stage"))
    ratio = statistics.median(ratios)
    return [
        row(
            "dvc repro from scratch (bundled digits pipeline)",
            scratch,
            direct,
            "s",
            scratch / direct,
            None,
            None,
            "the same stage commands run one after another without DVC",
            stage_seconds=stage_seconds,
        ),
        row(
            f"no-op dvc repro (median of {len(noop)})",
            statistics.median(noop),
            statistics.median(status),
            "s",
            ratio,
            "<= 1.3",
            ratio <= 1.3,
            f"dvc status; ratio: median of {len(ratios)} back-to-back pairs, order alternating",
            noop_seconds=noop,
            status_seconds=status,
            pair_ratios=ratios,
        ),
        row(
            "DVC's floor: no-op dvc repro of a one-stage pipeline",
            statistics.median(floor_noop),
            statistics.median(floor_status),
            "s",
            statistics.median(floor_ratios),
            None,
            None,
            "dvc status of the same pipeline; measured like the row above",
            noop_seconds=floor_noop,
            status_seconds=floor_status,
            pair_ratios=floor_ratios,
        ),
    ]


def noop_pairs(project: Path) -> tuple[list[float], list[float], list[float]]:
    """No-op `dvc repro` and `dvc status` in alternating back-to-back pairs; the ratios
    are repro/status within each pair."""
    status, noop, ratios = alternating(
        lambda: timed(["dvc", "status"], project),
        lambda: timed(["dvc", "repro"], project),
        NOOP_PAIRS,
    )
    return noop, status, ratios


def one_stage_project(path: Path) -> Path:
    """A git + DVC repository whose pipeline is one stage writing one file, reproduced."""
    path.mkdir(parents=True)
    (path / "dvc.yaml").write_text(
        "stages:\n  write:\n    cmd: python -c \"open('out.txt', 'w').write('1')\"\n"
        "    outs:\n      - out.txt\n",
        encoding="utf-8",
    )
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "one stage"],
        ["dvc", "repro", "-q"],
    ):
        subprocess.run(args, cwd=path, env=project_env(), check=True)
    return path
