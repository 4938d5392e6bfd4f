"""Wall time of `dvc repro` from scratch with one training seed vs. five.

Usage: python benchmarks/seeds_cost.py
Two fresh projects (no cache, no run cache), identical except for `seeds`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import compose, make_project, project_env  # noqa: E402


def repro_seconds(seeds: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "p")
        compose(project, f"seeds={seeds}")
        start = time.perf_counter()
        subprocess.run(
            ["dvc", "repro"], cwd=project, env=project_env(), check=True, capture_output=True
        )
        return time.perf_counter() - start


def main() -> None:
    one = repro_seconds("[0]")
    five = repro_seconds("[0,1,2,3,4]")
    print(f"dvc repro from scratch, seeds=[0]:           {one:6.1f} s")
    print(f"dvc repro from scratch, seeds=[0,1,2,3,4]:   {five:6.1f} s  ({five / one:.2f}x)")


if __name__ == "__main__":
    main()
