"""The real pipeline: `dvc repro` / `dvc exp run` in temporary git repositories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from .helpers import clone_reproduced, compose, make_project, run

pytestmark = pytest.mark.slow

LIGHT_STAGES = ("ingest", "validate", "split", "featurize")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_pipeline_trains_digits_mlp(reproduced: Path) -> None:
    metrics = json.loads((reproduced / "eval/seeds/0/metrics.json").read_text())
    summary = json.loads((reproduced / "eval/metrics.json").read_text())
    assert set(metrics) == {"test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"}
    for name, value in metrics.items():  # one seed: the summary is that seed's value
        assert summary[name] == {
            "mean": value,
            "std": None,
            "min": value,
            "max": value,
            "n": 1,
            "ci95_low": None,
            "ci95_high": None,
        }
    assert metrics["test/accuracy"] >= 0.95
    assert metrics["test/roc_auc"] > 0.99

    card = json.loads((reproduced / "models/seed-0/model.json").read_text())
    provenance = card["provenance"]
    assert card["dataset"] == "digits" and card["keys"] == [] and card["seed"] == 0
    assert card["schema"]["columns"]["target"]["isin"] == list(range(10))
    assert provenance["params_hash"].startswith("sha256:")
    assert provenance["data"]["data/features/train.parquet"] == "sha256:" + sha(
        reproduced / "data/features/train.parquet"
    )
    assert (reproduced / "models/seed-0/transform.json").read_bytes() == (
        reproduced / "data/features/transform.json"
    ).read_bytes()
    assert {"python", "torch", "pytorch-lightning", "dvc"} <= set(provenance["libraries"])
    assert provenance["device"]["type"] == "cpu"
    assert card["classes"] == list(range(10))

    # DVC sees the metrics, and its plot renderer finds every declared plot's data.
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], reproduced).stdout)
    numbers = {k: {s: v for s, v in stats.items() if v is not None} for k, stats in summary.items()}
    assert shown[""]["data"]["eval/metrics.json"]["data"] == numbers  # DVC drops nulls
    plots = json.loads(run(["dvc", "plots", "show", "--json"], reproduced).stdout)["data"]
    assert set(plots) == {
        "Training loss",
        "Validation accuracy (classification)",
        "Validation MAE (regression)",
        "Confusion matrix (test)",
        "ROC (test)",
        "Precision-recall (test)",
        "Predicted vs actual (test, regression)",
    }
    assert "errors" not in json.loads(run(["dvc", "plots", "show", "--json"], reproduced).stdout)
    confusion = plots["Confusion matrix (test)"][0]["content"]["data"]["values"]
    assert len(confusion) == len(
        __import__("pandas").read_parquet(reproduced / "data/prepared/test.parquet")
    )

    # Generated data stays out of git; metrics, params and the lock file are tracked.
    ignored = run(["git", "check-ignore", "data/raw/table.parquet", "models"], reproduced).stdout
    assert "data/raw/table.parquet" in ignored and "models" in ignored


def test_second_repro_runs_nothing(reproduced: Path, tmp_path: Path) -> None:
    project = clone_reproduced(reproduced, tmp_path / "p")
    # bytecode caches come and go with how Python is run; a stage that depends on a source
    # folder must not re-run for them (.dvcignore)
    cache = project / "src/dockyard/models/__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "stray.cpython-311.pyc").write_bytes(b"not a source file")
    result = run(["dvc", "repro"], project)
    assert "Running stage" not in result.stdout
    assert "Data and pipelines are up to date." in result.stdout


def test_param_change_reruns_only_what_reads_it(reproduced: Path, tmp_path: Path) -> None:
    project = clone_reproduced(reproduced, tmp_path / "p")
    compose(project, "train.lr=0.002")
    status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    assert set(status) == {"train@0"}  # DVC lists the first stale stage; later ones follow
    assert {"changed deps": {"params.yaml": {"train": "modified"}}} in status["train@0"]
    ran = run(["dvc", "repro"], project).stdout
    assert "Running stage 'train@0'" in ran and "Running stage 'evaluate@0'" in ran
    for stage in LIGHT_STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in ran


def test_two_runs_from_scratch_give_identical_results(reproduced: Path, tmp_path: Path) -> None:
    again = make_project(tmp_path / "again")
    run(["dvc", "repro"], again)
    for path in ("eval/metrics.json", "models/seed-0/model.pt", "data/prepared/test.parquet"):
        assert (again / path).read_bytes() == (reproduced / path).read_bytes(), path


def test_a_fresh_clone_reproduces_the_committed_lock_exactly(
    reproduced: Path, tmp_path: Path
) -> None:
    """Re-running the pipeline in a fresh clone (another commit checked out, an empty cache)
    reproduces identical weights, so dvc.lock must not change: nothing run-specific (the
    commit, timestamps, the host) may live in a hashed output."""
    project = clone_reproduced(reproduced, tmp_path / "origin")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "reproduced"], project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    run(["dvc", "repro"], clone)
    assert (
        run(["git", "status", "--porcelain", "dvc.lock", "eval/metrics.json"], clone).stdout == ""
    )
    card = json.loads((clone / "models/seed-0/model.json").read_text())
    assert "git_commit" not in json.dumps(card)


def test_validation_failure_stops_the_pipeline(reproduced: Path, tmp_path: Path) -> None:
    project = clone_reproduced(reproduced, tmp_path / "p")
    lock = (project / "dvc.lock").read_bytes()
    prepared = {p.name: sha(p) for p in (project / "data/prepared").glob("*.parquet")}
    schema = project / "conf/data/digits.yaml"
    schema.write_text(schema.read_text().replace("le: 16", "le: 12"))
    compose(project)

    result = run(["dvc", "repro"], project, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "the digits table failed validation" in output
    assert "above the maximum (le: 12" in output
    assert "pixel_" in output and "row " in output
    assert "Running stage 'split'" not in output
    assert (project / "dvc.lock").read_bytes() == lock
    assert {p.name: sha(p) for p in (project / "data/prepared").glob("*.parquet")} == prepared

    # Nothing lost: the committed state comes back exactly.
    run(["git", "checkout", "--", "conf", "params.yaml"], project)
    run(["dvc", "checkout"], project)
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], project).stdout


def test_exp_run_composes_hydra_overrides_and_cnn_learns(reproduced: Path, tmp_path: Path) -> None:
    project = clone_reproduced(reproduced, tmp_path / "p")
    result = run(["dvc", "exp", "run", "-S", "model=cnn", "-S", "train.epochs=30"], project)
    assert (
        "Stage 'split' didn't change" in result.stdout
        or "Running stage 'split'" not in result.stdout
    )
    params = (project / "params.yaml").read_text()
    assert "_target_: dockyard.models.nets.SmallCNN" in params and "epochs: 30" in params
    metrics = json.loads((project / "eval/metrics.json").read_text())
    assert metrics["test/accuracy"]["mean"] >= 0.95
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    assert len(shown) >= 1
