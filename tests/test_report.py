"""`dockyard report` on real git repositories with real pipeline runs, and its pieces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dockyard.report.collect import Snapshot
from dockyard.report.compare import compare, compare_metrics
from dockyard.report.render import MARKER, mermaid_chart, render

from .helpers import clone_reproduced, compose, run
from .markdown_check import check_tables, check_xycharts

LIGHT = ("ingest", "validate", "split", "featurize")


def report(project: Path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "dockyard.cli", "report", *args], project, check=check)


def metric_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("test/"):
            rows[cells[0]] = cells
    return rows


# ----------------------------------------------------------------------------- pure parts


def test_direction_comes_from_the_metric() -> None:
    base = {
        "test/accuracy": [0.9],
        "test/log_loss": [0.30],
        "test/rmse": [2.0],
        "test/custom": [1.0],
        "test/r2": [0.5],
        "test/gone": [1.0],
    }
    head = {
        "test/accuracy": [0.8],
        "test/log_loss": [0.25],
        "test/rmse": [2.5],
        "test/custom": [2.0],
        "test/r2": [0.5],
        "test/fresh": [3.0],
    }
    rows = {r.name: r for r in compare_metrics(base, head)}
    assert rows["test/accuracy"].status == "worse"
    assert rows["test/accuracy"].change == pytest.approx(-0.1)
    assert rows["test/log_loss"].status == "better"  # lower is better
    assert rows["test/rmse"].status == "worse"
    assert rows["test/custom"].status == "changed"  # direction unknown
    assert rows["test/r2"].status == "same"
    assert rows["test/gone"].status == "removed" and rows["test/fresh"].status == "new"
    assert rows["test/log_loss"].relative == pytest.approx(-0.05 / 0.30)


def test_rendered_markdown_is_well_formed() -> None:
    base = Snapshot(
        "main",
        "a" * 40,
        samples={"test/accuracy": [0.9]},
        params={"train.lr": 0.001},
        curves={"val/loss": [1.0, 0.5, 0.4]},
        confusion=[{"actual": "a", "predicted": "a"}, {"actual": "b", "predicted": "a"}],
    )
    head = Snapshot(
        "workspace",
        None,
        samples={"test/accuracy": [0.95]},
        params={"train.lr": 0.01},
        curves={"val/loss": [0.9, 0.3]},
        confusion=[{"actual": "a", "predicted": "a"}, {"actual": "b", "predicted": "b"}],
    )
    markdown = render(compare(base, head))
    assert markdown.startswith(MARKER)
    assert check_tables(markdown) >= 4
    assert check_xycharts(markdown) == 1
    assert "| test/accuracy | 0.9000 | 0.9500 | +0.0500 | +5.56% | ✅ better |" in markdown
    assert "| `train.lr` | `0.001` | `0.01` |" in markdown
    assert "head stopped after 2 epochs (held flat)" in markdown
    assert "no noise estimate" in markdown  # a single seed on each side
    seeded = render(
        compare(
            Snapshot("main", "a" * 40, samples={"test/accuracy": [0.90, 0.91, 0.92]}),
            Snapshot("workspace", None, samples={"test/accuracy": [0.95, 0.96, 0.955]}),
        )
    )
    check_tables(seeded)
    assert "| test/accuracy | 0.9100 ± 0.0100 (n=3) | 0.9550 ± 0.0050 (n=3) | +0.0450 |" in seeded
    assert "Welch's t-test" in seeded and "✅ improved: test/accuracy" in seeded


def test_chart_checker_rejects_broken_charts() -> None:
    chart = "\n".join(mermaid_chart("val/loss per epoch", [1.0, 0.5], [0.8, 0.4]))
    assert check_xycharts(chart) == 1
    with pytest.raises(AssertionError):
        check_xycharts(chart.replace("line [1, 0.5]", "line [1, 0.5, 0.2]"))
    with pytest.raises(AssertionError):
        check_tables("| a | b |\n|---|---|\n| 1 |\n")


# ----------------------------------------------------------------------------- real repos


@pytest.fixture(scope="session")
def cnn_branch(reproduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: the default run, committed. Branch `cnn`: model=cnn, re-run and committed."""
    project = clone_reproduced(reproduced, tmp_path_factory.mktemp("review") / "p")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline run"], project)
    run(["git", "checkout", "-qb", "cnn"], project)
    compose(project, "model=cnn", "train.epochs=20")
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "try the CNN"], project)
    return project


@pytest.mark.slow
def test_model_change_report(cnn_branch: Path) -> None:
    markdown = report(cnn_branch, "--base", "main").stdout
    assert check_tables(markdown) >= 3 and check_xycharts(markdown) >= 2
    base = json.loads(run(["git", "show", "main:eval/seeds/0/metrics.json"], cnn_branch).stdout)
    head = json.loads((cnn_branch / "eval/seeds/0/metrics.json").read_text())
    rows = metric_rows(markdown)
    assert set(rows) == set(head)
    for name, cells in rows.items():
        change = head[name] - base[name]
        assert cells[3] == f"{change:+.4f}"
        lower_is_better = name == "test/log_loss"
        expected = "✅ better" if (change > 0) != lower_is_better else "❌ worse"
        assert cells[5] == expected, (name, cells)
    assert "| `model.name` | `mlp` | `cnn` |" in markdown
    assert "`model.net._target_`" in markdown
    stage_rows = {
        line.split("|")[1].strip(" `"): line
        for line in markdown.splitlines()
        if line.startswith("| `")
    }
    assert "params model.gpu_precision, model.input, model.name" in stage_rows["train@0"]
    assert "train.epochs" in stage_rows["train@0"]
    assert "upstream outputs models/seed-0" in stage_rows["evaluate@0"]
    assert "upstream outputs eval/seeds" in stage_rows["aggregate"]
    for stage in LIGHT:
        assert stage not in stage_rows
    assert "Unchanged (not re-run): `ingest`, `validate`, `split`, `featurize`." in markdown

    data = json.loads(report(cnn_branch, "--base", "main", "--head", "cnn", "--json").stdout)
    assert data["head"]["label"] == "cnn" and len(data["metrics"]) == len(head)
    assert {s["stage"] for s in data["stages"]} == {"train@0", "evaluate@0", "aggregate"}
    assert sorted(data["verdict"]) == sorted({r["status"] for r in data["metrics"]})
    reverse = json.loads(report(cnn_branch, "--base", "cnn", "--head", "main", "--json").stdout)
    flipped = {r["name"]: r["status"] for r in reverse["metrics"]}
    for row in data["metrics"]:
        assert flipped[row["name"]] == {"better": "worse", "worse": "better"}[row["status"]]


@pytest.mark.slow
def test_reproducibility_check(cnn_branch: Path, tmp_path: Path) -> None:
    project = clone_reproduced(cnn_branch, tmp_path / "p")
    ok = report(project, "--base", "main", "--check-reproduced").stdout
    assert "✅ the reproduced metrics equal the ones committed" in ok
    metrics = json.loads((project / "eval/metrics.json").read_text())
    metrics["test/accuracy"]["mean"] += 0.01
    (project / "eval/metrics.json").write_text(json.dumps(metrics))
    drift = report(project, "--base", "main", "--check-reproduced").stdout
    assert "⚠️ the reproduced metrics differ" in drift and "| test/accuracy.mean |" in drift
    check_tables(drift)


@pytest.mark.slow
def test_first_pr_and_one_sided_metrics(reproduced: Path, tmp_path: Path) -> None:
    project = clone_reproduced(reproduced, tmp_path / "p")
    # HEAD is the scaffold commit: no metrics, no lock yet.
    first = report(project, "--base", "HEAD").stdout
    assert "🆕 new: test/accuracy" in first
    check_tables(first), check_xycharts(first)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "run"], project)
    metrics = json.loads((project / "eval/seeds/0/metrics.json").read_text())
    metrics["test/extra"] = 1.5
    del metrics["test/roc_auc"]
    (project / "eval/seeds/0/metrics.json").write_text(json.dumps(metrics))
    one_sided = report(project, "--base", "HEAD").stdout
    rows = metric_rows(one_sided)
    assert rows["test/extra"][1:] == ["—", "1.5000", "—", "—", "🆕 new"]
    assert rows["test/roc_auc"][5] == "🗑️ removed"
    check_tables(one_sided)


def test_unknown_revision_is_a_clear_error(project: Path) -> None:
    result = report(project, "--base", "no-such-branch", check=False)
    assert result.returncode == 2
    assert "Unknown revision 'no-such-branch'" in result.stderr
    assert "Traceback" not in result.stderr
