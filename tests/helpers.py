"""What tests and benchmarks share: real git + DVC projects, commands run in them, and the
tables the tests generate (never stored in the repository, never seen by the code).

Benchmarks import this module (not conftest.py, which only holds pytest fixtures).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# What a dockyard project consists of (generated outputs are left out on purpose).
PROJECT_FILES = [
    "dvc.yaml",
    "params.yaml",
    "conf",
    "src",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
]


def project_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_AUTHOR_NAME="dockyard tests",
        GIT_AUTHOR_EMAIL="tests@dockyard.invalid",
        GIT_COMMITTER_NAME="dockyard tests",
        GIT_COMMITTER_EMAIL="tests@dockyard.invalid",
        DVC_NO_ANALYTICS="1",
        PYTHONWARNINGS="ignore",
    )
    return env


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=project_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr}"
        )
    return result


def make_project(path: Path) -> Path:
    """A fresh git + DVC repository holding dockyard's pipeline, committed once."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source, target = ROOT / name, path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, target)
    run(["git", "init", "-q", "-b", "main"], path)
    config = (path / ".dvc/config").read_text()
    run(["dvc", "init", "-q", "--force"], path)
    (path / ".dvc/config").write_text(config)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "dockyard project"], path)
    return path


def compose(project: Path, *overrides: str) -> None:
    run([sys.executable, "-m", "dockyard.cli", "compose", *overrides], project)


def clone_reproduced(reproduced: Path, target: Path) -> Path:
    shutil.copytree(reproduced, target, symlinks=True)
    return target


def customers(rows: int = 1500, seed: int = 7) -> pd.DataFrame:
    """Mixed numeric and text columns, ~4% missing in two of them, string labels.

    The label follows a noisy rule over plan, income, score and age, so a model can beat
    the majority class by a wide margin.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = rng.normal(50, 15, rows).round(2)
    score = rng.uniform(0, 1, rows).round(3)
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    upgrade = (plan == "pro") * 1.5 + (income - 50) / 10
    churn = (score < 0.3) * 2.0 + (age > 60) * 1.0 - (plan == "pro")
    utility = np.stack([np.zeros(rows), upgrade, churn], axis=1)
    utility += rng.gumbel(size=(rows, 3)) * 0.5
    label = np.array(["stay", "upgrade", "churn"])[utility.argmax(axis=1)]
    table = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "score": score,
            "region": region,
            "plan": plan,
            "label": label,
        }
    )
    table.loc[rng.random(rows) < 0.04, "income"] = np.nan
    table.loc[rng.random(rows) < 0.04, "region"] = None
    return table
