"""`dockyard report`: comparisons (like for like, tolerance, seed noise, stages, costs) on
Snapshot objects, reading committed files from git, and real pipeline runs (slow).
Rendering is checked in test_report_render.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from scipy import stats as sp

from dockyard.report import build_report, reproducibility, run_url
from dockyard.report.collect import Snapshot, read_committed_outputs
from dockyard.report.compare import compare, compare_metrics
from dockyard.report.render import render, reproducibility_text, verdict_line
from dockyard.report.stages import group_stages, stage_changes, stage_runs
from dockyard.stats import benjamini_hochberg

from .helpers import clone_reproduced, compose, error_of, run
from .markdown_check import check_details, check_tables, check_xycharts, mermaid_errors, tables

LIGHT = ("ingest", "validate", "split", "featurize")
DIGITS = [str(d) for d in range(10)]


def report(project: Path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "dockyard.cli", "report", *args], project, check=check)


def side(label: str, dataset: str, split: str, classes: list[str], **samples) -> Snapshot:
    """A revision that trained on `dataset` with the split whose md5 is `split`."""
    return Snapshot(
        label,
        label[0] * 40,
        samples={f"test/{k}": v for k, v in samples.items()},
        params={"data.name": dataset, "data.target": "target", "data.task": "classification"},
        lock={"split": {"outs": [{"path": "data/prepared", "md5": split * 32 + ".dir"}]}},
        data_report={"target_counts": dict.fromkeys(classes, 10)},
    )


def metric_table(markdown: str) -> dict[str, list[str]]:
    """The metrics table as GitHub shows it: metric -> cell texts."""
    first = next(t for t in tables(markdown) if t.header[0].text == "metric")
    return {row[0].text: [cell.text for cell in row] for row in first.rows}


# ----------------------------------------------------------------------------- metrics


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


# A1: the report never compares apples with oranges


def test_another_table_is_not_judged_against_digits() -> None:
    """The bug: digits base vs a head on another table was reported `improved`."""
    base = side("main", "digits", "1", DIGITS, accuracy=[0.95], log_loss=[0.20])
    head = side("other", "breast_cancer", "2", ["0", "1"], accuracy=[0.97], log_loss=[0.09])
    comparison = compare(base, head)
    line = verdict_line(comparison)
    assert "improved" not in line and "better" not in line and "worse" not in line
    assert "not like for like" in line
    assert "dataset `digits` → `breast_cancer`" in line
    assert "test split differs" in line and "classes differ (10 → 2" in line
    markdown = render(comparison)
    rows = metric_table(markdown)
    assert set(rows) == {"test/accuracy", "test/log_loss"}  # still listed, with numbers
    assert rows["test/accuracy"][1:4] == ["⚠️ not compared", "0.9500", "0.9700"]
    assert "✅" not in markdown and "❌" not in markdown
    assert comparison.to_dict()["verdict"] == {"unlike": ["test/accuracy", "test/log_loss"]}


def test_like_for_like_checks_target_task_split_and_classes() -> None:
    base = side("main", "digits", "1", DIGITS, accuracy=[0.95])
    same = compare(base, side("head", "digits", "1", DIGITS, accuracy=[0.97]))
    assert same.like_for_like and same.metrics[0].status == "better"
    reseeded = side("head", "digits", "2", DIGITS, accuracy=[0.97])
    reseeded.params["seed"] = 1
    base.params["seed"] = 0
    [split] = compare(base, reseeded).mismatches
    assert (split.what, split.why) == ("test split", ["seed"])
    fewer = side("head", "digits", "1", DIGITS[:9], accuracy=[0.97])
    [classes] = compare(base, fewer).mismatches
    assert classes.what == "classes" and "only in base: `9`" in verdict_line(compare(base, fewer))
    other_target = side("head", "digits", "1", DIGITS, accuracy=[0.97])
    other_target.params.update({"data.target": "label", "data.task": "regression"})
    assert [m.what for m in compare(base, other_target).mismatches] == ["target", "task"]
    # a side that records nothing (a first pull request) is not a difference
    assert compare(Snapshot("main", "a" * 40), side("h", "customers", "3", ["a"])).like_for_like


def test_split_method_is_part_of_like_for_like() -> None:
    """A time split tests on the newest rows, a random one on a sample of all: their
    metrics are not comparable. A side without `split.by` split at random."""
    base = side("main", "digits", "1", DIGITS, accuracy=[0.95])
    head = side("head", "digits", "1", DIGITS, accuracy=[0.97])
    head.params["split.by"] = "time"
    [mismatch] = compare(base, head).mismatches
    assert (mismatch.what, mismatch.base, mismatch.head) == ("split method", "random", "time")
    assert "split method `random` → `time`" in verdict_line(compare(base, head))
    assert {r.status for r in compare(base, head).metrics} == {"unlike"}
    head.params["split.by"] = "random"  # written out or left to the default: the same
    assert compare(base, head).like_for_like
    base.params["split.by"] = "time"
    assert [m.what for m in compare(base, head).mismatches] == ["split method"]
    # a side that records no params at all (a first pull request) is not a difference
    assert compare(Snapshot("main", "a" * 40), head).like_for_like


def test_benjamini_hochberg_matches_scipy() -> None:
    p_values = [0.01, 0.04, 0.03, 0.2, 0.005, 0.04, 1.0]
    assert benjamini_hochberg(p_values) == pytest.approx(
        list(sp.false_discovery_control(p_values)), rel=1e-12
    )
    assert benjamini_hochberg([]) == [] and benjamini_hochberg([0.3]) == [0.3]


# A2: reproduced means reproduced within a tolerance


def test_differences_below_the_tolerance_are_unchanged() -> None:
    """The bug: an 8th-decimal difference was `better`, shown as a -0.0000 change."""
    base = {"test/accuracy": [0.95], "test/log_loss": [0.1]}
    head = {"test/accuracy": [0.95 + 3e-8], "test/log_loss": [0.1 - 2e-8]}
    rows = {r.name: r for r in compare_metrics(base, head)}
    assert rows["test/accuracy"].status == "same" and rows["test/log_loss"].status == "same"
    strict = {r.name: r.status for r in compare_metrics(base, head, rtol=1e-9)}
    assert strict == {"test/accuracy": "better", "test/log_loss": "better"}
    seeded = compare_metrics({"test/accuracy": [0.9, 0.95]}, {"test/accuracy": [0.95, 0.9]})
    assert seeded[0].status == "same"  # equal means: unchanged, not "within noise"
    markdown = render(
        compare(Snapshot("main", "a" * 40, samples=base), Snapshot("ws", None, samples=head))
    )
    assert "-0.0000" not in markdown and "+0.0000" not in markdown
    assert "no metric changed (2 compared)" in markdown
    assert "Changes smaller than a relative 1e-6 count as unchanged." in markdown


def test_check_reproduced_within_tolerance(tmp_path: Path) -> None:
    """The bug: `--check-reproduced` warned about an 8th-decimal difference."""
    run(["git", "init", "-q"], tmp_path)
    (tmp_path / "eval").mkdir()
    committed = {"test/accuracy": {"mean": 0.95, "std": None}, "test/log_loss": {"mean": 0.1}}
    (tmp_path / "eval/metrics.json").write_text(json.dumps(committed))
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-qm", "metrics"], tmp_path)
    workspace = {
        "eval/metrics.json": {"test/accuracy.mean": 0.95 + 4e-9, "test/log_loss.mean": 0.1}
    }
    check = reproducibility(tmp_path, workspace)
    text = reproducibility_text(check)
    assert check.reproduced and "differ from" not in text
    assert (
        "✅ reproduced within 1e-6" in text
        and "4e-09 (relative 4.2e-09) in `test/accuracy.mean`" in text
    )
    workspace["eval/metrics.json"]["test/log_loss.mean"] = 0.1001
    drift = reproducibility(tmp_path, workspace)
    assert not drift.reproduced and [d["metric"] for d in drift.differences] == [
        "test/log_loss.mean"
    ]
    drifted = reproducibility_text(drift)
    assert "⚠️ the reproduced metrics differ" in drifted and "more than 1e-6" in drifted
    check_tables(drifted)
    assert reproducibility(tmp_path, workspace, rtol=1e-2).reproduced


def test_reproducibility_counts_metrics_as_the_table_does(tmp_path: Path) -> None:
    """The bug: "the 28 metrics ... match" under a table of 4: it counted summary values."""
    run(["git", "init", "-q"], tmp_path)
    (tmp_path / "eval").mkdir()
    summary = {"mean": 0.9, "std": 0.01, "min": 0.89, "max": 0.91, "n": 3}
    summary.update(ci95_low=0.87, ci95_high=0.93)
    names = ["test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"]
    committed = {name: dict(summary) for name in names}
    (tmp_path / "eval/metrics.json").write_text(json.dumps(committed))
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-qm", "metrics"], tmp_path)
    workspace = {"eval/metrics.json": {f"{n}.{k}": v for n in names for k, v in summary.items()}}
    check = reproducibility(tmp_path, workspace)
    assert (check.metrics, check.compared) == (4, 28)
    assert "the 4 metrics committed on this branch (28 values) match (identical)." in (
        reproducibility_text(check)
    )


# B3: within noise shows what the seeds could have missed


def test_within_noise_interval_matches_scipy() -> None:
    base, head = [0.90, 0.97, 0.93], [0.94, 0.92, 0.96, 0.95]
    [row] = compare_metrics({"test/accuracy": base}, {"test/accuracy": head})
    reference = sp.ttest_ind(head, base, equal_var=False)
    low, high = reference.confidence_interval(0.95)
    assert row.status == "noise" and row.p_value == pytest.approx(reference.pvalue, rel=1e-6)
    assert (row.ci_low, row.ci_high) == (
        pytest.approx(low, rel=1e-6),
        pytest.approx(high, rel=1e-6),
    )


# ----------------------------------------------------------------------------- stages, costs


def _lock(seeds: list[int], lr: float) -> dict:
    """A dvc.lock's stages, in dvc.yaml's order as DVC writes them."""
    lock = {"featurize": {"outs": [{"path": "data/features", "md5": "f.dir"}]}}
    for seed in seeds:
        lock[f"train@{seed}"] = {
            "deps": [{"path": "data/features", "md5": "f.dir"}],
            "params": {"params.yaml": {"train": {"lr": lr}}},
            "outs": [{"path": f"models/seed-{seed}", "md5": f"{lr}-{seed}.dir", "size": 1000}],
        }
    for seed in seeds:
        lock[f"evaluate@{seed}"] = {
            "deps": [{"path": f"models/seed-{seed}", "md5": f"{lr}-{seed}.dir"}],
            "outs": [{"path": f"eval/seeds/{seed}/metrics.json", "md5": f"{lr}{seed}"}],
        }
    lock["aggregate"] = {
        "deps": [{"path": "eval/seeds", "md5": f"{lr}.dir"}],
        "outs": [{"path": "eval/metrics.json", "md5": str(lr)}],
    }
    lock["monitor"] = {"deps": [{"path": "models/seed-0", "md5": f"{lr}-0.dir"}]}
    return lock


def test_stages_in_pipeline_order_with_seeds_grouped() -> None:
    """A foreach's seeds on one row when they re-ran for one reason; stages after what
    they read even when a lock file lists them out of order."""
    base, head = _lock([0, 1, 2, 3, 4], 0.001), _lock([0, 1, 2, 3, 4, 5], 0.01)
    groups = {g.name: g.reason_parts for g in group_stages(stage_changes(base, head))}
    assert list(groups) == [
        "train@0-4",
        "train@5",
        "evaluate@0-4",
        "evaluate@5",
        "aggregate",
        "monitor",
    ]
    assert groups["train@0-4"] == [("params", ["train.lr"])]
    assert groups["train@5"] == [("new stage (not in base)", [])]
    assert groups["evaluate@0-4"] == [("upstream outputs", ["models/seed-N"])]
    scrambled = dict(reversed(list(head.items())))
    order = [c.stage for c in stage_changes(base, scrambled)]
    for seed in range(6):
        assert order.index(f"train@{seed}") < order.index(f"evaluate@{seed}")
        assert order.index(f"evaluate@{seed}") < order.index("aggregate")
    one = {
        g.name: g.reason_parts for g in group_stages(stage_changes(_lock([0], 1), _lock([0], 2)))
    }
    assert one["evaluate@0"] == [("upstream outputs", ["models/seed-0"])]


def test_ci_run_stages_say_re_ran_why_or_restored_from_whose_run() -> None:
    """CI's record (`dockyard ci run`) against both locks: a re-run stage says why, a
    restored one whether it is base's run; seeds sharing both fold onto one row."""
    base, head = _lock([0, 1, 2], 0.001), _lock([0, 1, 2], 0.01)
    outcomes = {"featurize": "pulled", "monitor": "up to date"}
    outcomes |= {f"train@{s}": "ran" for s in range(3)}
    outcomes |= {f"evaluate@{s}": "ran" for s in range(3)} | {"aggregate": "failed"}
    record = {"stages": outcomes, "reproduce_all": False}
    runs = stage_runs(record, base, head, stage_changes(base, head), "main")
    rows = {g.name: g.reason_parts for g in group_stages(runs)}
    assert rows["train@0-2"] == [("re-ran", []), ("params", ["train.lr"])]
    assert rows["evaluate@0-2"] == [("re-ran", []), ("upstream outputs", ["models/seed-N"])]
    assert rows["aggregate"][0] == ("failed", [])
    assert rows["featurize"] == [("restored from main's run", [])]
    assert [r.stage for r in runs if not r.reran] == ["featurize", "monitor"]
    assert rows["monitor"][0][0].startswith("not re-run: its inputs are those this branch's")
    everything = {"stages": dict.fromkeys(base, "ran"), "reproduce_all": True}
    forced = stage_runs(everything, base, base, [], "main")
    assert len(forced) == len(base)
    assert all(
        r.reason_parts == [("re-ran", []), ("forced by --reproduce-all", [])] for r in forced
    )
    other = {**head, "featurize": {**head["featurize"], "params": {"x": 1}}}
    moved = stage_runs(record, base, other, [], "main")
    assert (
        next(r for r in moved if r.stage == "featurize")
        .reason_parts[0][0]
        .startswith("restored from the run-cache")
    )


def test_costs_from_model_summaries_run_facts_and_the_lock() -> None:
    base = Snapshot("main", "a" * 40, seeds=[0, 1], lock=_lock([0, 1], 0.1))  # an old revision
    head = Snapshot(
        "ws",
        None,
        seeds=[0, 1],
        models={s: {"parameters": 5000, "model_bytes": 4096} for s in (0, 1)},
        runs={0: {"train_seconds": 10.0, "predict_row_ms": 0.2}, 1: {"train_seconds": 14.0}},
    )
    costs = {c.name: c for c in compare(base, head).costs}
    assert costs["parameters"].base is None and costs["parameters"].head == 5000
    assert costs["model size on disk"].base == 1000  # from dvc.lock's size of models/seed-N
    assert (
        costs["training time per seed"].head == 12.0 and costs["training time per seed"].head_n == 2
    )
    cost_rows = next(t for t in tables(render(compare(base, head))) if t.header[0].text == "")
    cells = {row[0].text: [c.text for c in row[1:]] for row in cost_rows.rows}
    assert cells["parameters"] == ["—", "5,000", "—"]
    assert cells["model size on disk"] == ["1,000 B", "4.0 KiB", "+3.0 KiB (×4.10)"]
    assert cells["training time per seed"] == ["—", "12.0 s (mean of 2)", "—"]
    assert compare(Snapshot("a", "a" * 40), Snapshot("b", None)).costs == []


def test_run_url_from_the_actions_environment() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    assert run_url(env) == "https://github.com/o/r/actions/runs/42"
    assert run_url({**env, "GITHUB_RUN_ATTEMPT": "2"}).endswith("/runs/42/attempts/2")
    assert run_url({}) is None


# ----------------------------------------------------------------------------- reading git


def test_per_seed_outputs_are_read_from_git(tmp_path: Path) -> None:
    """Per-seed curves, confusion rows, model summaries and timings at a commit; the
    first seed's copies (eval/train, eval/plots) for revisions written before them."""
    files = {
        "eval/seeds/0/train/plots/metrics/val/loss.tsv": "step\tloss\n18\t0.9\n37\t0.5\n",
        "eval/seeds/1/train/plots/metrics/val/loss.tsv": "step\tloss\n18\t0.8\n",
        "eval/seeds/1/plots/confusion.json": json.dumps([{"actual": "a", "predicted": "b"}]),
        "eval/seeds/1/model.json": json.dumps({"parameters": 7, "model_bytes": 9}),
        "eval/runs/seed-0.json": json.dumps({"train_seconds": 1.5}),
        "eval/seeds/0/metrics.json": json.dumps({"test/accuracy": 0.9}),
        "eval/seeds/1/metrics.json": json.dumps({"test/accuracy": 0.8}),
        "dvc.lock": "schema: '2.0'\nstages:\n  split:\n    outs: []\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    run(["git", "init", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-qm", "outputs"], tmp_path)
    sha = run(["git", "rev-parse", "HEAD"], tmp_path).stdout.strip()
    snap = Snapshot("main", sha, seeds=[0, 1])
    read_committed_outputs(tmp_path, snap)
    assert snap.curves == {"val/loss": {0: [0.9, 0.5], 1: [0.8]}}
    assert list(snap.confusion) == [1] and snap.models == {1: {"parameters": 7, "model_bytes": 9}}
    assert snap.runs == {0: {"train_seconds": 1.5}} and snap.samples == {
        "test/accuracy": [0.9, 0.8]
    }
    assert snap.lock == {"split": {"outs": []}}
    old = tmp_path / "old"
    (old / "eval/train/plots/metrics/val").mkdir(parents=True)
    (old / "eval/train/plots/metrics/val/loss.tsv").write_text("step\tloss\n1\t0.7\n2\t0.6\n")
    legacy = Snapshot("workspace", None)
    read_committed_outputs(old, legacy)
    assert legacy.curves == {"val/loss": {0: [0.7, 0.6]}} and legacy.lock == {}


# ----------------------------------------------------------------------------- real repos


@pytest.fixture(scope="session")
def cnn_branch(reproduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: the default run, committed. Branch `cnn`: model=cnn, re-run and committed."""
    target = tmp_path_factory.mktemp("review") / "p"
    return branched(reproduced, target, "cnn", "model=cnn", "train.epochs=20")


def branched(reproduced: Path, target: Path, branch: str, *overrides: str) -> Path:
    """A copy of the reproduced project committed on main, and `branch` re-run with the
    overrides and committed."""
    project = clone_reproduced(reproduced, target)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline run"], project)
    run(["git", "checkout", "-qb", branch], project)
    compose(project, *overrides)
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", f"try {branch}"], project)
    return project


@pytest.mark.slow
def test_model_change_report(cnn_branch: Path) -> None:
    markdown = report(cnn_branch, "--base", "main").stdout
    check_tables(markdown), check_details(markdown)
    assert len(check_xycharts(markdown)) == 2  # val/loss and val/accuracy
    assert mermaid_errors(markdown) == [None, None]
    base = json.loads(run(["git", "show", "main:eval/seeds/0/metrics.json"], cnn_branch).stdout)
    head = json.loads((cnn_branch / "eval/seeds/0/metrics.json").read_text())
    rows = metric_table(markdown)
    assert set(rows) == set(head)
    for name, cells in rows.items():
        change = head[name] - base[name]
        assert cells[4] == f"{change:+.4f}"
        lower_is_better = name == "test/log_loss"
        better = (change > 0) != lower_is_better
        assert cells[1] == ("✅ looks better" if better else "❌ looks worse"), (name, cells)
    assert "1 seed, not tested against noise" in markdown.splitlines()[2]
    assert "| `model.name` | `mlp` | `cnn` |" in markdown
    stages = next(t for t in tables(markdown) if t.header[0].text == "stage")
    reasons = {row[0].text: row[1] for row in stages.rows}
    assert list(reasons)[:3] == ["train@0", "evaluate@0", "aggregate"]
    assert {"model.input", "model.name", "model.net._target_", "train.epochs"} <= set(
        reasons["train@0"].codes
    )
    assert reasons["evaluate@0"].codes == ["models/seed-0"]
    assert not set(LIGHT) & set(reasons)
    assert "Unchanged (not re-run): `ingest`, `validate`, `split`, `featurize`." in markdown
    cost = next(t for t in tables(markdown) if t.header[0].text == "")
    assert all(cell.text != "—" for row in cost.rows for cell in row[1:3])  # all four recorded

    data = json.loads(report(cnn_branch, "--base", "main", "--head", "cnn", "--json").stdout)
    assert data["head"]["label"] == "cnn" and len(data["metrics"]) == len(head)
    assert data["like_for_like"] and {s["stage"] for s in data["stages"]} >= {
        "train@0",
        "aggregate",
    }
    reverse = json.loads(report(cnn_branch, "--base", "cnn", "--head", "main", "--json").stdout)
    flipped = {r["name"]: r["status"] for r in reverse["metrics"]}
    for row in data["metrics"]:
        assert flipped[row["name"]] == {"better": "worse", "worse": "better"}[row["status"]]


@pytest.mark.slow
def test_reproducibility_check(cnn_branch: Path, tmp_path: Path) -> None:
    project = clone_reproduced(cnn_branch, tmp_path / "p")
    ok = report(project, "--base", "main", "--check-reproduced").stdout
    assert "✅ reproduced within 1e-6" in ok
    metrics = json.loads((project / "eval/metrics.json").read_text())
    metrics["test/accuracy"]["mean"] += 1e-9  # another CPU's last digits
    (project / "eval/metrics.json").write_text(json.dumps(metrics))
    assert (
        "✅ reproduced within 1e-6"
        in report(project, "--base", "main", "--check-reproduced").stdout
    )
    metrics["test/accuracy"]["mean"] += 0.01
    (project / "eval/metrics.json").write_text(json.dumps(metrics))
    drift = report(project, "--base", "main", "--check-reproduced").stdout
    assert "⚠️ the reproduced metrics differ" in drift and "| `test/accuracy.mean` |" in drift
    check_tables(drift)


@pytest.mark.slow
def test_another_dataset_is_not_judged(reproduced: Path, tmp_path: Path) -> None:
    """Digits on main, breast cancer on the branch: listed, never `improved`."""
    project = branched(reproduced, tmp_path / "p", "cancer", "data=breast_cancer", "train.epochs=5")
    markdown = report(project, "--base", "main").stdout
    verdict = markdown.splitlines()[2]
    assert "not like for like" in verdict and "dataset `digits` → `breast_cancer`" in verdict
    assert "test split differs" in verdict and "classes differ (10 → 2" in verdict
    assert "✅" not in markdown and "❌" not in markdown and "improved" not in markdown
    assert {cells[1] for cells in metric_table(markdown).values()} == {"⚠️ not compared"}


@pytest.mark.slow
def test_first_pr_and_one_sided_metrics(reproduced: Path, tmp_path: Path) -> None:
    project = clone_reproduced(reproduced, tmp_path / "p")
    # HEAD is the scaffold commit: no metrics, no lock yet.
    first = report(project, "--base", "HEAD").stdout
    assert "🆕 new: `test/accuracy`" in first
    check_tables(first), check_details(first)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "run"], project)
    metrics = json.loads((project / "eval/seeds/0/metrics.json").read_text())
    metrics["test/extra"] = 1.5
    del metrics["test/roc_auc"]
    (project / "eval/seeds/0/metrics.json").write_text(json.dumps(metrics))
    one_sided = report(project, "--base", "HEAD").stdout
    rows = metric_table(one_sided)
    assert rows["test/extra"][1:] == ["🆕 new", "—", "1.5000", "—", "—"]
    assert rows["test/roc_auc"][1] == "🗑️ removed"
    check_tables(one_sided)


def test_unknown_revision_is_a_clear_error(project: Path) -> None:
    result = report(project, "--base", "no-such-branch", check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert (record["type"], record["kind"]) == ("ReportError", "unknown-revision")
    # the one wording check for kind 'unknown-revision'
    assert "Unknown revision 'no-such-branch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_dvc_lock_is_a_clear_error(project: Path) -> None:
    """A dvc.lock that is not YAML, committed or in the workspace: report, data profile and
    register each name the file and the revision, exit 2 with no traceback."""
    (project / "dvc.lock").write_text("schema: '2.0'\nstages: {ingest: [oops\n")
    run(["git", "add", "dvc.lock"], project)
    run(["git", "commit", "-qm", "a hand-edited lock"], project)
    sha = run(["git", "rev-parse", "--short=12", "HEAD"], project).stdout.strip()
    for args, where in ((("--head", "HEAD"), f"at HEAD ({sha})"), ((), "in the workspace")):
        result = report(project, "--base", "HEAD~1", *args, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        record = error_of(result)
        assert (record["type"], record["kind"]) == ("ReportError", "unreadable")
        assert record["path"] == str(project / "dvc.lock")
        assert f"dvc.lock {where} is not valid YAML" in record["message"]
        assert "line 3, column 1" in record["message"]
    profiled = run(
        [sys.executable, "-m", "dockyard.cli", "data", "profile", "--rev", "HEAD", "-o", "p.html"],
        project,
        check=False,
    )
    assert profiled.returncode == 2 and "Traceback" not in profiled.stderr, profiled.stderr
    assert f"dvc.lock at HEAD ({sha}) is not valid YAML" in error_of(profiled)["message"]
    registered = run([sys.executable, "-m", "dockyard.cli", "register"], project, check=False)
    assert registered.returncode == 2 and "Traceback" not in registered.stderr
    assert (error_of(registered)["kind"], error_of(registered)["path"]) == (
        "unreadable",
        str(project / "dvc.lock"),
    )


@pytest.mark.slow
def test_head_not_reproduced_gets_no_verdict(
    reproduced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 7: a committed head whose `dvc repro` failed (a param changed, ingest's output
    deleted) was reported "no metric changed" and "none re-ran". It names what `dvc status`
    reports and gives no verdict; the exit code stays 0. In CI the head is the pull
    request's branch."""
    project = clone_reproduced(reproduced, tmp_path / "p")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline run"], project)
    run(["git", "checkout", "-qb", "stale"], project)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  lr: 0.001\n", "  lr: 0.01\n", 1))
    (project / "data/raw/table.parquet").unlink()  # what a failed ingest leaves
    run(["git", "commit", "-qam", "lr 0.01 (repro failed)"], project)
    monkeypatch.setenv("GITHUB_HEAD_REF", "feature-x")
    result = report(project, "--base", "main")
    assert result.returncode == 0
    markdown = result.stdout
    assert markdown.splitlines()[0] == "## dockyard report: `feature-x` vs `main`"
    verdict = markdown.splitlines()[2]
    assert verdict.startswith("**Verdict:** none: ⚠️ the head's pipeline is not up to date")
    assert "Run `dvc repro`" in verdict
    assert "no metric changed" not in markdown and "none re-ran" not in markdown
    stale = next(t for t in check_tables(markdown) if t.header[1].text == "out of date because")
    reasons = {row[0].text: row[1].text for row in stale.rows}
    assert reasons["ingest"] == "output deleted data/raw/table.parquet"
    assert reasons["validate"] == "upstream output deleted data/raw/table.parquet"
    assert reasons["train@0"] == "params modified train.lr"
    assert list(reasons).index("ingest") < list(reasons).index("train@0")
    assert {cells[1] for cells in metric_table(markdown).values()} == {"⚠️ not judged"}
    _, data = build_report(project, "main", environ={})
    assert data["head"]["label"] == "stale"  # locally: the branch checked out
    assert {"ingest", "validate", "train@0"} <= {s["stage"] for s in data["stale"]}
    assert list(data["verdict"]) == ["stale"]
