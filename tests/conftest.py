"""pytest fixtures: real git repositories running real DVC (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import make_project, run


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
