"""A search over several machines: two clones join one Optuna study in a real PostgreSQL,
each pushing its trials to one bare git remote and the SeaweedFS S3 remote; a third clone
pulls and sees every trial, outputs included (docs/sweeps.md describes this flow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from .helpers import command_env, configure, make_project, run
from .pg_server import postgres_url  # noqa: F401
from .s3_server import s3_env, s3_remote  # noqa: F401

DOCKYARD = [sys.executable, "-m", "dockyard.cli"]
SPACE = ["train.lr=tag(log,interval(1e-3,1e-1))", "train.epochs=3"]


def _experiments(clone: Path) -> dict[str, dict]:
    shown = json.loads(run(["dvc", "exp", "show", "--json"], clone, env=s3_env()).stdout)
    found = {}
    for entry in shown:
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs") or []:
                found[rev["name"]] = rev["data"]
    return found


@pytest.mark.slow
def test_two_machines_share_one_study_and_a_third_clone_sees_every_trial(
    tmp_path,
    s3_remote,  # noqa: F811
    postgres_url,  # noqa: F811
):
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    project = make_project(tmp_path / "project")
    configure(project, seeds="[0]", epochs=3)
    s3_remote.configure_dvc(project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "team remote"], project)
    run(["git", "remote", "add", "origin", str(origin)], project)
    run(["git", "push", "-q", "origin", "main"], project)

    def machine(name: str) -> Path:
        clone = tmp_path / name
        run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
        s3_remote.set_dvc_credentials(clone)
        return clone

    a, b = machine("a"), machine("b")
    command = [
        *DOCKYARD,
        "sweep",
        "run",
        *SPACE,
        "--study",
        "team",
        "--storage",
        postgres_url,
        "--push",
        "--trials",
        "4",
        "--pruner",
        "none",
    ]
    runs = [
        subprocess.Popen(
            command,
            cwd=clone,
            env=command_env({**s3_env(), "DOCKYARD_SWEEP_HOST": host}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for clone, host in ((a, "machine-a"), (b, "machine-b"))
    ]
    outputs = [p.communicate(timeout=900)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs

    study = optuna.load_study(
        study_name="team", storage=postgres_url.replace("postgresql://", "postgresql+psycopg://")
    )
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= 4  # two machines may each start the last trial at once
    assert {t.user_attrs["host"] for t in complete} == {"machine-a", "machine-b"}

    c = machine("c")
    run(["dvc", "exp", "pull", "origin"], c, env=s3_env())
    seen = _experiments(c)
    assert sorted(seen) == sorted(t.user_attrs["experiment"] for t in complete)
    for trial in complete:
        data = seen[trial.user_attrs["experiment"]]
        lr = data["params"]["params.yaml"]["data"]["train"]["lr"]
        assert lr == pytest.approx(trial.params["train.lr"])
        assert (
            data["metrics"]["eval/metrics.json"]["data"]["test/accuracy"]["mean"]
            == trial.user_attrs["test"]["test/accuracy"]
        )
    # the outputs came through the S3 remote: the best trial applies with its model
    best = study.best_trial.user_attrs["experiment"]
    run(["dvc", "exp", "apply", best], c, env=s3_env())
    assert (c / "models/seed-0/model.pt").stat().st_size > 0
    status = run(
        [*DOCKYARD, "sweep", "status", "--study", "team", "--storage", postgres_url], c
    ).stdout
    assert "machine-a" in status and "machine-b" in status
    assert f"{len(complete)} complete" in status
