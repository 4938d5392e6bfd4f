"""trainer=ddp for real: two CPU processes (gloo) train one model through `dvc repro`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import compose, make_project, run

pytestmark = pytest.mark.slow


def test_ddp_on_two_cpu_processes_writes_outputs_once(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    compose(
        project,
        "data=breast_cancer",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "train.epochs=3",
        "trainer.enable_progress_bar=false",
    )
    result = run(["dvc", "repro"], project)
    output = result.stdout + result.stderr
    assert "distributed_backend=gloo" in output
    assert "Starting with 2 processes" in output
    # only rank 0 reports and writes: one summary line, one model card
    assert output.count("train (seed 0): best") == 1

    card = json.loads((project / "models/seed-0/model.json").read_text())
    assert card["provenance"]["device"]["devices"] == 2
    assert card["provenance"]["device"]["type"] == "cpu"
    assert card["provenance"]["device"]["precision"] == "32-true"  # auto on a CPU
    assert card["training"]["epochs_run"] == 3

    # the per-epoch curve has one row per epoch: a second writer would repeat them
    curve = (project / "eval/seeds/0/train/plots/metrics/val/loss.tsv").read_text().splitlines()
    assert curve[0] == "step\tloss" and len(curve) == 1 + 3
    steps = [int(line.split("\t")[0]) for line in curve[1:]]
    assert steps == sorted(set(steps))

    metrics = json.loads((project / "eval/seeds/0/metrics.json").read_text())
    assert set(metrics) == {"test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"}
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("test/accuracy", "test/roc_auc"))
    assert metrics["test/accuracy"] > 0.8  # two processes still learn the task
    summary = json.loads((project / "eval/metrics.json").read_text())
    assert set(summary) == set(metrics)
    assert summary["test/accuracy"]["n"] == 1
    assert summary["test/accuracy"]["mean"] == metrics["test/accuracy"]
