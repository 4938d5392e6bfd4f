"""Wall time of the bundled pipeline on this machine: from scratch, per stage, and no-op.

Usage: python benchmarks/pipeline_speed.py [--runs N]
Builds a fresh git + DVC project in a temporary folder (no cache, no run cache), so
"from scratch" means every stage really runs. Prints a table; nothing is asserted:
speed goals are read from here, never from timed unit tests.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import make_project, project_env  # noqa: E402

STAGES = ("ingest", "validate", "split", "featurize", "train", "evaluate", "aggregate")


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=project_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the no-op repro")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project")
        scratch = timed(["dvc", "repro"], project)
        noop = [timed(["dvc", "repro"], project) for _ in range(args.runs)]
        per_stage = {
            stage: timed(
                ["dvc", "repro", "--single-item", "--force", "--no-run-cache", stage], project
            )
            for stage in STAGES
        }
    print(f"{'what':<28}{'seconds':>8}")
    print(f"{'dvc repro from scratch':<28}{scratch:>8.2f}")
    for stage, seconds in per_stage.items():
        print(f"{'  stage ' + stage:<28}{seconds:>8.2f}")
    print(f"{'  sum of stages':<28}{sum(per_stage.values()):>8.2f}")
    print(f"{'no-op dvc repro (median)':<28}{statistics.median(noop):>8.2f}")


if __name__ == "__main__":
    main()
