"""The real pipeline: `dvc repro` / `dvc exp run` in temporary git repositories."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from .helpers import clone_reproduced, compose, error_of, run

pytestmark = pytest.mark.slow

LIGHT_STAGES = ("ingest", "validate", "split", "featurize")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_pipeline_learns_the_digits(reproduced: Path) -> None:
    metrics = json.loads((reproduced / "eval/seeds/0/metrics.json").read_text())
    assert set(metrics) == {"test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"}
    assert metrics["test/accuracy"] >= 0.95
    assert metrics["test/roc_auc"] > 0.99


def test_one_seed_summary_is_that_seeds_values(reproduced: Path) -> None:
    metrics = json.loads((reproduced / "eval/seeds/0/metrics.json").read_text())
    summary = json.loads((reproduced / "eval/metrics.json").read_text())
    for name, value in metrics.items():
        assert summary[name] == {
            "mean": value,
            "std": None,
            "min": value,
            "max": value,
            "n": 1,
            "ci95_low": None,
            "ci95_high": None,
        }


def test_model_card_describes_the_model_and_its_inputs(reproduced: Path) -> None:
    card = json.loads((reproduced / "models/seed-0/model.json").read_text())
    provenance = card["provenance"]
    assert card["format"] == "dockyard-model/1"
    assert card["dataset"] == "digits" and card["keys"] == [] and card["seed"] == 0
    assert card["classes"] == list(range(10)) and len(card["features"]) == 64
    assert card["schema"]["columns"]["target"]["isin"] == list(range(10))
    assert provenance["params_hash"].startswith("sha256:")
    assert provenance["data"]["data/features/train.parquet"] == "sha256:" + sha(
        reproduced / "data/features/train.parquet"
    )
    assert (reproduced / "models/seed-0/transform.json").read_bytes() == (
        reproduced / "data/features/transform.json"
    ).read_bytes()
    assert {"python", "torch", "pytorch-lightning", "dvc"} <= set(provenance["libraries"])
    assert provenance["device"]["type"] == "cpu" and provenance["device"]["deterministic"] is True
    size = json.loads((reproduced / "eval/seeds/0/model.json").read_text())
    assert size["parameters"] == card["parameters"] == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    facts = json.loads((reproduced / "eval/runs/seed-0.json").read_text())
    assert facts["train_seconds"] > 0 and facts["predict_row_ms"] > 0


def test_dvc_reads_the_metrics_and_every_declared_plot(reproduced: Path) -> None:
    summary = json.loads((reproduced / "eval/metrics.json").read_text())
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], reproduced).stdout)
    numbers = {k: {s: v for s, v in stats.items() if v is not None} for k, stats in summary.items()}
    assert shown[""]["data"]["eval/metrics.json"]["data"] == numbers  # DVC drops nulls
    rendered = json.loads(run(["dvc", "plots", "show", "--json"], reproduced).stdout)
    assert "errors" not in rendered
    plots = rendered["data"]
    assert set(plots) == {
        "Training loss",
        "Validation accuracy (classification)",
        "Validation MAE (regression)",
        "Confusion matrix (test)",
        "ROC (test)",
        "Precision-recall (test)",
        "Predicted vs actual (test, regression)",
    }
    confusion = plots["Confusion matrix (test)"][0]["content"]["data"]["values"]
    test_rows = __import__("pandas").read_parquet(reproduced / "data/prepared/test.parquet")
    assert len(confusion) == len(test_rows)


def test_generated_data_stays_out_of_git(reproduced: Path) -> None:
    ignored = run(["git", "check-ignore", "data/raw/table.parquet", "models"], reproduced).stdout
    assert ignored.split() == ["data/raw/table.parquet", "models"]
    tracked = run(["git", "check-ignore", "dvc.lock", "eval/metrics.json"], reproduced, check=False)
    assert tracked.stdout == ""


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
    compose(project, "train.lr=0.002", "train.epochs=5")  # few epochs: the re-run is the point
    status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    assert set(status) == {"train@0"}  # DVC lists the first stale stage; later ones follow
    assert {"changed deps": {"params.yaml": {"train": "modified"}}} in status["train@0"]
    ran = run(["dvc", "repro"], project).stdout
    assert "Running stage 'train@0'" in ran and "Running stage 'evaluate@0'" in ran
    for stage in LIGHT_STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in ran


@pytest.fixture(scope="module")
def second_run(reproduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reproduced project committed, cloned (another commit checked out, an empty cache)
    and the whole pipeline run again there from scratch. Read it, never change it."""
    base = tmp_path_factory.mktemp("second-run")
    project = clone_reproduced(reproduced, base / "origin")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "reproduced"], project)
    clone = base / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], base)
    assert not (clone / "models").exists() and not (clone / ".dvc/cache").exists()
    # real processes throughout (`reproduced` ran through the tests' fork server): the two
    # runs agreeing also says the fork server runs stages as the interpreter does
    run(["dvc", "repro"], clone, forked=False)
    return clone


def test_two_runs_from_scratch_give_identical_results(reproduced: Path, second_run: Path) -> None:
    for path in ("eval/metrics.json", "models/seed-0/model.pt", "data/prepared/test.parquet"):
        assert (second_run / path).read_bytes() == (reproduced / path).read_bytes(), path


def test_a_fresh_clone_reproduces_the_committed_lock_exactly(second_run: Path) -> None:
    """Re-running the pipeline in a fresh clone reproduces identical weights, so dvc.lock must
    not change: nothing run-specific (the commit, timestamps, the host) may live in a hashed
    output."""
    status = run(["git", "status", "--porcelain", "dvc.lock", "eval/metrics.json"], second_run)
    assert status.stdout == ""
    card = json.loads((second_run / "models/seed-0/model.json").read_text())
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
    record = error_of(result)  # the refusing stage's, through DVC's environment
    # several pixel columns fail, so the error is about no one column
    assert (record["kind"], record["column"]) == ("validation", None)
    message = record["message"]
    assert "above the maximum (le: 12" in message  # the failed check, with the new limit
    assert "pixel_" in message and "row " in message
    assert message.splitlines()[0] in output  # what DVC showed the user
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
    assert "Running stage 'split'" not in result.stdout  # a model change leaves the data
    params = (project / "params.yaml").read_text()
    assert "_target_: dockyard.models.nets.SmallCNN" in params and "epochs: 30" in params
    metrics = json.loads((project / "eval/metrics.json").read_text())
    assert metrics["test/accuracy"]["mean"] >= 0.95
    table = run(["dvc", "exp", "show", "--csv"], project).stdout
    experiments = [
        row
        for row in csv.DictReader(io.StringIO(table))
        if row["typ"] != "baseline" and row.get("model.name") == "cnn"
    ]
    assert len(experiments) == 1  # DVC keeps the run as one experiment, with its params
    assert float(experiments[0]["test/accuracy.mean"]) == pytest.approx(
        metrics["test/accuracy"]["mean"]
    )
