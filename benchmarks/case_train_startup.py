"""Train-stage start-up: every import of one train stage run against `import torch` alone.

Each run is timed by the interpreter itself (`python -X importtime`): the figure is the sum
of the self times of every module imported, so interpreter start-up counts on both sides
alike and training itself counts on neither. The stage runs for real
(`python -X importtime -m dockyard.stages.train`, one epoch on a small synthetic table),
so the imports it makes inside functions (Lightning, DVCLive, Hydra) count as well.

Three baselines, timed with the stage in rounds whose order alternates (forward, then
backward): `import torch` (the goal, at most 1.5 times it); `import torch,
torch._dynamo`, the least any PyTorch training process imports, since every `torch.optim`
optimizer imports `torch._dynamo`; and what the same training written by hand imports
(Lightning, DVCLive's Lightning logger, pandas and pyarrow's Parquet reader, PyYAML for
params.yaml), which says what dockyard itself adds. The evaluate stage, which loads the
trained model without Lightning, is timed in the same rounds against `import torch`, with
the same goal. Each ratio is the median of the ratios within a round. results.json also
holds each stage's import seconds by top-level package (median round), which says where
they go.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from common import Row, row, synthetic_project
from tests.helpers import compose, project_env

ROUNDS = 5
ROWS = 2_000
GOAL = 1.5
TORCH = ("import torch", [sys.executable, "-X", "importtime", "-c", "import torch"])
TORCH_TRAINING = (
    "import torch, torch._dynamo",
    [sys.executable, "-X", "importtime", "-c", "import torch, torch._dynamo"],
)
HAND_WRITTEN_IMPORTS = (
    "import torch, torch._dynamo, pytorch_lightning, dvclive.lightning, pandas, "
    "pyarrow.parquet, yaml"
)
HAND_WRITTEN = (
    "a hand-written Lightning + DVCLive script's imports",
    [sys.executable, "-X", "importtime", "-c", HAND_WRITTEN_IMPORTS],
)
# "import time: <self us> | <cumulative us> | <indent><module>"
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+\d+\s+\|\s*(\S+)\s*$", re.M)


def stage_importtime(stage: str) -> list[str]:
    """The command dvc.yaml runs for `stage`, timed by the interpreter."""
    return [sys.executable, "-X", "importtime", "-m", f"dockyard.stages.{stage}"]


def import_seconds(args: list[str], cwd: Path) -> tuple[float, Counter[str]]:
    """Seconds spent importing in one run of `args` (the sum of every module's self time)
    and the same seconds by top-level package."""
    result = subprocess.run(
        args, cwd=cwd, env=project_env(), capture_output=True, text=True, check=True
    )
    by_package: Counter[str] = Counter()
    for self_us, module in _LINE.findall(result.stderr):
        by_package[module.split(".")[0]] += int(self_us) / 1e6
    return sum(by_package.values()), by_package


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    """Train- and evaluate-stage start-up: their imports against `import torch`."""
    project = synthetic_project(work / "train-startup", ROWS, ("ingest", "split", "featurize"))
    compose(project, "data=synthetic", f"data.rows={ROWS}", "train.epochs=1")
    # train first in the first round: evaluate scores the model it leaves
    order = [("train", stage_importtime("train")), TORCH, TORCH_TRAINING, HAND_WRITTEN]
    order.append(("evaluate", stage_importtime("evaluate")))
    seconds: dict[str, list[float]] = {name: [] for name, _ in order}
    packages: dict[str, list[Counter[str]]] = {"train": [], "evaluate": []}
    for i in range(ROUNDS):
        for name, command in order if i % 2 == 0 else reversed(order):
            total, by_package = import_seconds(command, project)
            seconds[name].append(total)
            if name in packages:
                packages[name].append(by_package)
    comparisons = [
        ("train", TORCH[0], GOAL),
        ("train", TORCH_TRAINING[0], None),
        ("train", HAND_WRITTEN[0], None),
        ("evaluate", TORCH[0], GOAL),
    ]
    rows = []
    for stage, baseline, goal in comparisons:
        ours = seconds[stage]
        ratios = [s / b for s, b in zip(ours, seconds[baseline], strict=True)]
        ratio = statistics.median(ratios)
        median_round = sorted(range(ROUNDS), key=ours.__getitem__)[ROUNDS // 2]
        top = packages[stage][median_round].most_common(15)
        rows.append(
            row(
                f"{stage} stage: import time of one run vs `{baseline}` (median of {ROUNDS})",
                statistics.median(ours),
                statistics.median(seconds[baseline]),
                "s",
                ratio,
                None if goal is None else f"<= {goal}",
                None if goal is None else ratio <= goal,
                f"python -X importtime -c '{dict(order)[baseline][-1]}'; ratio: median of "
                "round ratios",
                dockyard_seconds=ours,
                baseline_seconds=seconds[baseline],
                pair_ratios=ratios,
                stage_seconds_by_package={name: round(s, 3) for name, s in top},
            )
        )
    return rows
