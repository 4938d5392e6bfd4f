"""Repeated seeds end to end: per-seed caching, noise-aware verdicts, queued sweeps.

The runs are the session's project history (conftest.history): `main` trained three seeds
(10 epochs each), and the `harmful` branch the same with a learning rate of 1.0."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from .helpers import at, compose, run

pytestmark = pytest.mark.slow


def report_json(project: Path, *args: str) -> dict:
    result = run([sys.executable, "-m", "dockyard.cli", "report", *args, "--json"], project)
    return json.loads(result.stdout)


def commit(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message], project)


@pytest.fixture
def three_seeds(history: SimpleNamespace) -> Path:
    """The history's project on main (three seeds); read it, never change it."""
    return history.project


def copy_of_main(history: SimpleNamespace, tmp_path: Path) -> Path:
    project = history.copy(tmp_path / "copy")
    at(project, "main")
    return project


def test_summary_has_every_statistic(three_seeds: Path) -> None:
    summary = json.loads((three_seeds / "eval/metrics.json").read_text())
    values = [
        json.loads((three_seeds / f"eval/seeds/{s}/metrics.json").read_text())["test/accuracy"]
        for s in (0, 1, 2)
    ]
    accuracy = summary["test/accuracy"]
    assert accuracy["n"] == 3 and accuracy["mean"] == pytest.approx(sum(values) / 3)
    assert accuracy["min"] == min(values) and accuracy["max"] == max(values)
    assert accuracy["ci95_low"] < accuracy["mean"] < accuracy["ci95_high"]
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], three_seeds).stdout)
    assert shown[""]["data"]["eval/metrics.json"]["data"]["test/accuracy"]["n"] == 3
    assert len(set(values)) > 1  # the seeds really differ


def test_adding_a_seed_runs_only_that_seed(history: SimpleNamespace, tmp_path: Path) -> None:
    project = copy_of_main(history, tmp_path)
    compose(project, "seeds=[0,1,2,3]")
    status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    assert "train@3" in status and "evaluate@3" in status and "aggregate" in status
    assert not {"train@0", "train@1", "train@2", "evaluate@0"} & set(status)
    ran = run(["dvc", "repro"], project).stdout
    assert "Running stage 'train@3'" in ran
    for seed in (0, 1, 2):
        assert f"Stage 'train@{seed}' didn't change, skipping" in ran
    assert json.loads((project / "eval/metrics.json").read_text())["test/accuracy"]["n"] == 4


def test_harmful_change_is_worse_and_reseeding_is_noise(
    history: SimpleNamespace, tmp_path: Path
) -> None:
    project = copy_of_main(history, tmp_path)
    hurt = report_json(project, "--base", "main", "--head", "harmful")
    rows = {r["name"]: r for r in hurt["metrics"]}
    assert rows["test/accuracy"]["status"] == "worse" and rows["test/accuracy"]["p_value"] < 0.05
    assert rows["test/log_loss"]["status"] == "worse"  # it went up: lower is better
    assert hurt["test"] == {"method": "welch_t", "alpha": 0.05}
    at(project, "harmful")
    markdown = run(
        [sys.executable, "-m", "dockyard.cli", "report", "--base", "main"], project
    ).stdout
    assert "❌ regressed: " in markdown and "test/accuracy" in markdown.split("regressed")[1]
    assert "(n=3)" in markdown and "Welch's t-test" in markdown

    at(project, "main")
    run(["git", "checkout", "-qb", "reseed"], project)
    compose(project, "seeds=[3,4,5]")
    run(["dvc", "repro"], project)
    commit(project, "other seeds")
    reseeded = report_json(project, "--base", "main", "--head", "reseed")
    statuses = {r["name"]: r["status"] for r in reseeded["metrics"]}
    assert set(statuses.values()) == {"noise"}, reseeded["metrics"]
    assert reseeded["verdict"] == {"noise": sorted(statuses)}


def test_queued_sweep_with_two_workers(history: SimpleNamespace, tmp_path: Path) -> None:
    """A grid over the learning rate, queued, run by two workers at once."""
    project = copy_of_main(history, tmp_path)
    run(
        [
            "dvc",
            "exp",
            "run",
            "--queue",
            "-S",
            "train.lr=0.001,0.01",
            "-S",
            "model=linear",
            "-S",
            "seeds=[0]",
            "-S",
            "train.epochs=3",
        ],
        project,
    )
    run(["dvc", "queue", "start", "-j", "2"], project)
    deadline = time.monotonic() + 420

    def finished_refs() -> int:  # git alone: cheap to ask every second, unlike the queue
        refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], project)
        return sum(
            "/celery/" not in ref and "/exec/" not in ref and not ref.endswith("stash")
            for ref in refs.stdout.split()
        )

    polls = 0
    while time.monotonic() < deadline:
        polls += 1
        if finished_refs() < 2 and polls % 10:  # the queue itself every 10 s meanwhile
            time.sleep(1)
            continue
        # `dvc queue status` has no JSON form; its task table is enough for a test
        status = run(["dvc", "queue", "status"], project).stdout
        if "Queued" not in status and "Running" not in status and "Success" in status:
            break
        time.sleep(1)
    run(["dvc", "queue", "stop"], project, check=False)
    assert status.count("Success") == 2 and "Failed" not in status, status
    names = run(["dvc", "exp", "list", "--name-only"], project).stdout.split()
    assert len(names) == 2
    table = run(
        ["dvc", "exp", "show", "--sort-by", "test/accuracy.mean", "--sort-order", "desc", "--csv"],
        project,
    ).stdout
    assert sum(name in table for name in names) == 2
    compared = report_json(project, "--base", names[0], "--head", names[1])
    assert compared["base"]["label"] == names[0] and compared["params"]
