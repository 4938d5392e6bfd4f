"""Shared fixtures: real git repositories running real DVC, with the project's own files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default pipeline (digits, mlp), reproduced once for the session. Do not mutate:
    copy it with `clone_reproduced` first."""
    path = make_project(tmp_path_factory.mktemp("reproduced") / "project")
    run(["dvc", "repro"], path)
    return path


def clone_reproduced(reproduced: Path, target: Path) -> Path:
    shutil.copytree(reproduced, target, symlinks=True)
    return target
