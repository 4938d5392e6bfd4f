"""The tests' fork server (tests/forkserver.py) runs a command as a real process does: the
same exit status, output and error records, in the command's own directory and
environment; what it cannot run the same way runs as a real process.

test_pipeline.py's two runs from scratch compare a whole pipeline run through the server
with one run as real processes, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import helpers
from .helpers import project_env, run

pytestmark = pytest.mark.skipif(
    helpers.FORK_SERVER is None or os.environ.get("DOCKYARD_TESTS_REAL_PROCESSES") == "1",
    reason="the fork server is off (DOCKYARD_TESTS_REAL_PROCESSES=1)",
)


def both(args: list[str], cwd: Path, **env: str):
    """The command run through the fork server, then as a real process; the first must
    have been run by the server."""
    before = len(helpers.FORK_SERVER.commands())
    forked = run(args, cwd, check=False, env=env)
    assert len(helpers.FORK_SERVER.commands()) == before + 1, "the server did not run it"
    real = run(args, cwd, check=False, env=env, forked=False)
    assert len(helpers.FORK_SERVER.commands()) == before + 1
    return forked, real


def same(forked, real) -> None:
    assert (forked.returncode, forked.stdout, forked.stderr, forked.errors) == (
        real.returncode,
        real.stdout,
        real.stderr,
        real.errors,
    )


def test_a_refused_setting_exits_alike(project: Path) -> None:
    forked, real = both([sys.executable, "-m", "dockyard.cli", "compose", "train.lr=-1"], project)
    same(forked, real)
    assert forked.returncode == 2 and forked.errors[-1]["key"] == "train.lr"
    assert "Traceback" not in forked.stderr


def test_dvc_output_and_failures_are_the_same(project: Path) -> None:
    forked, real = both(["dvc", "stage", "list"], project)
    same(forked, real)
    assert forked.returncode == 0 and "train@0" in forked.stdout
    forked, real = both(["dvc", "repro", "no-such-stage"], project)
    same(forked, real)
    assert forked.returncode == 255 and "no-such-stage" in forked.stderr


def test_a_command_sees_its_own_directory_and_environment(project: Path) -> None:
    """A stage run by hand in the project reads params.yaml from its working directory and
    writes its error record where the environment says."""
    args = [sys.executable, "-m", "dockyard.stages.split"]  # nothing ingested: refused
    forked, real = both(args, project, DOCKYARD_SOME_VARIABLE="1")
    same(forked, real)
    assert forked.returncode == 2 and forked.errors[-1]["path"].endswith("table.parquet")


def test_a_stage_started_by_name_goes_through_the_shim_and_keeps_its_status(
    project: Path,
) -> None:
    """`python -m dockyard.stages.NAME` from a shell, as DVC starts it, with the shim on
    PATH: the server runs it, with the shell's own streams, and its status comes back."""
    env = helpers.FORK_SERVER.stage_env({**project_env(), "PYTHONWARNINGS": "ignore"})
    command = "python -m dockyard.stages.split; echo status=$?"
    before = len(helpers.FORK_SERVER.commands())
    shimmed = subprocess.run(
        command, shell=True, cwd=project, env=env, capture_output=True, text=True
    )
    assert len(helpers.FORK_SERVER.commands()) == before + 1
    assert helpers.FORK_SERVER.commands()[-1][-2:] == ["-m", "dockyard.stages.split"]
    real = subprocess.run(
        command, shell=True, cwd=project, env=project_env(), capture_output=True, text=True
    )
    assert shimmed.stdout == real.stdout == "status=2\n"
    assert shimmed.stderr == real.stderr and "table.parquet" in shimmed.stderr
    # anything else the shim hands to the interpreter itself
    version = subprocess.run(
        ["python", "-c", "import sys; print(sys.executable)"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == sys.executable
    assert len(helpers.FORK_SERVER.commands()) == before + 1


def test_an_environment_the_interpreter_reads_at_start_gets_a_real_process(
    project: Path,
) -> None:
    before = len(helpers.FORK_SERVER.commands())
    result = run(["dvc", "stage", "list"], project, env={"PYTHONHASHSEED": "123"})
    assert result.returncode == 0 and "train@0" in result.stdout
    assert len(helpers.FORK_SERVER.commands()) == before
