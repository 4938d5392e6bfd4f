"""Watching the model after it ships: `dockyard monitor` (drift, predictions, decay, exit
status), the monitor stage, and `dockyard retrain` opening one pull request against a
local stand-in for GitHub's API, in real git + DVC projects trained on a batch folder."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from dockyard.data.sources import synthetic
from dockyard.drift import benjamini_hochberg
from dockyard.github import MARKER, GitHub, create_pull, find_retrain_pull, open_pulls, update_pull
from dockyard.monitor.check import expected_ranges
from dockyard.monitor.performance import decay_report

from .helpers import (
    FakeGitHub,
    clone_reproduced,
    error_of,
    make_project,
    run,
    validated_section,
)

FOLDER = "data/shop"
SHAPE = dict(numeric=4, categorical=2, positive_rate=0.25)


def dockyard(*args: str, cwd: Path, check: bool = True, env: dict | None = None):
    """The monitor's commands (the `dockyard` command); exit 1 (drift, decay) is no failure.
    `result.errors` holds the dockyard errors it exited on (tests.helpers.run)."""
    command = [sys.executable, "-m", "dockyard.cli", *args]
    result = run(command, cwd, check=False, env=env)
    if check and result.returncode not in (0, 1):
        raise AssertionError(f"{command} exited {result.returncode}\n{result.stderr}")
    return result


def batch(path: Path, seed: int, drift: float = 0.0, rows: int = 600) -> Path:
    """A day of the synthetic source, as the CSV file a user would receive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic(rows=rows, seed=seed, drift=drift, **SHAPE).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's flow: a folder of two daily batches registered as the default dataset,
    trained (tiny: three epochs) and committed. Copy before use."""
    project = make_project(tmp_path_factory.mktemp("shop") / "project")
    for day, seed in (("2024-06-01", 0), ("2024-06-02", 1)):
        batch(project / FOLDER / f"{day}.csv", seed)
    py = [sys.executable, "-m", "dockyard.cli"]
    run([*py, "data", "add", FOLDER, "--target", "target", "--default"], project)
    run([*py, "compose", "train.epochs=3", "train.lr=0.01"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Register shop"], project)  # as the README: commit, repro
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Train on shop"], project)
    return project


def appended(project: Path, day: str, seed: int, drift: float = 0.0) -> None:
    incoming = batch(project.parent / "incoming" / f"{day}.csv", seed, drift)
    dockyard("data", "append", "shop", str(incoming), cwd=project)
    run(["git", "add", f"{FOLDER}.dvc"], project)
    run(["git", "commit", "-qm", f"Batch {day}"], project)


# ----------------------------------------------------------------------------- monitor


@pytest.mark.slow
def test_a_batch_like_the_training_data_exits_0(shop: Path, tmp_path: Path) -> None:
    same = batch(tmp_path / "same.csv", seed=11)
    result = dockyard("monitor", str(same), "--output", str(tmp_path / "m.json"), cwd=shop)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("## Drift monitor: ✅ no drift, no decay")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["status"] == "ok" and data["alerts"] == []
    assert {f["column"] for f in data["features"]} == {
        "num_0",
        "num_1",
        "num_2",
        "num_3",
        "cat_0",
        "cat_1",
    }
    assert not any(f["drifted"] for f in data["features"])
    assert data["reference"]["path"] == "data/prepared/train.parquet"
    # predictions against every row no model trained on, in the features' BH family
    assert data["prediction"]["reference"] == (
        "data/prepared/val.parquet + data/prepared/test.parquet"
    )
    held_out = sum(
        len(pd.read_parquet(shop / f"data/prepared/{s}.parquet")) for s in ("val", "test")
    )
    assert data["prediction"]["n_reference"] == held_out
    family = [f["p_value"] for f in data["features"] if f["n_current"]]
    family += [
        f[s]["p_value"]
        for f in data["features"]
        for s in ("missing", "out_of_range")
        if (f.get(s) or {}).get("tested")
    ]
    family.append(data["prediction"]["p_value"])
    assert data["prediction"]["p_adjusted"] == pytest.approx(benjamini_hochberg(family)[-1])
    assert data["policy"]["missing_threshold"] == 0.1
    assert data["performance"]["decayed"] == [] and data["performance"]["seeds"] == [0]
    assert any("no seed-noise estimate" in n for n in data["performance"]["notes"])


@pytest.mark.slow
def test_a_drifted_batch_names_the_features_and_exits_1(shop: Path, tmp_path: Path) -> None:
    project = clone_reproduced(shop, tmp_path / "p")
    appended(project, "2024-06-03", seed=12, drift=0.5)
    markdown = tmp_path / "drift.md"
    result = dockyard("monitor", "--markdown", str(markdown), cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("Drift monitor: ⚠️ drift in 4 of 6 features")
    data = json.loads((project / "eval/monitor.json").read_text())
    assert data["status"].startswith("drift") and data["current"]["batch"] == "2024-06-03.csv"
    drifted = {f["column"]: f for f in data["features"] if f["drifted"]}
    assert set(drifted) == {"num_0", "num_1", "num_2", "num_3"}  # drift moves the numbers
    # the effect is the Wasserstein distance over the reference's std (scipy as reference)
    reference = pd.read_parquet(project / "data/prepared/train.parquet")
    current = pd.read_csv(project / FOLDER / "2024-06-03.csv")
    for column, found in drifted.items():
        expected = sp.wasserstein_distance(reference[column], current[column])
        expected /= reference[column].std(ddof=0)
        assert found["effect"] == pytest.approx(expected, rel=1e-9)
        assert found["effect_low"] > found["threshold"] and found["p_adjusted"] < 1e-4
    text = markdown.read_text()
    assert "| `num_0` | numeric |" in text and "⚠️ drift" in text
    assert "Performance on the batch's 600 labelled rows" in text


@pytest.mark.slow
def test_a_broken_feed_is_drift_named_by_column_and_exits_1(shop: Path, tmp_path: Path) -> None:
    """num_1 arrives empty (a CSV column without a value) and cat_0 82% empty: exit 1
    naming both, by their missing shares; never the type error (exit 2) an empty numeric
    column used to get."""
    broken = synthetic(rows=600, seed=14, **SHAPE)
    broken["num_1"] = None
    broken.loc[: round(0.82 * 600) - 1, "cat_0"] = None
    broken.to_csv(tmp_path / "broken.csv", index=False)
    assert ",," in (tmp_path / "broken.csv").read_text()
    result = dockyard(
        "monitor",
        str(tmp_path / "broken.csv"),
        "-o",
        str(tmp_path / "m.json"),
        cwd=shop,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drift in 2 of 6 features (`num_1`, `cat_0`)" in result.stdout.splitlines()[0]
    features = {f["column"]: f for f in json.loads((tmp_path / "m.json").read_text())["features"]}
    assert [c for c, f in features.items() if f["drifted"]] == ["num_1", "cat_0"]
    assert features["num_1"]["drifted_by"] == ["missing"] and features["num_1"]["n_current"] == 0
    assert (features["num_1"]["missing"]["reference"], features["num_1"]["missing"]["current"]) == (
        0.0,
        1.0,
    )
    assert features["cat_0"]["missing"]["current"] == pytest.approx(0.82, abs=1 / 600)
    assert "| `num_1` | numeric |" in result.stdout and "⚠️ drift (missing)" in result.stdout


@pytest.mark.slow
def test_wrong_labels_are_decay_and_exit_1(shop: Path, tmp_path: Path) -> None:
    flipped = synthetic(rows=600, seed=13, **SHAPE)
    flipped["target"] = 1 - flipped["target"]  # the world changed, the features did not
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    result = dockyard("monitor", str(tmp_path / "flipped.csv"), "-o", "-", cwd=shop)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "decay in `test/accuracy`" in result.stdout.splitlines()[0]
    assert "❌ decay" in result.stdout


@pytest.mark.slow
def test_monitor_errors_are_one_paragraph(shop: Path, tmp_path: Path) -> None:
    broken = synthetic(rows=50, seed=3, **SHAPE).drop(columns="num_2")
    broken.to_csv(tmp_path / "broken.csv", index=False)
    # args: (kind, column, path) of the error
    cases = [
        ([str(tmp_path / "broken.csv")], ("missing-column", "num_2", None)),
        ([str(tmp_path / "none.csv")], ("missing-file", None, str(tmp_path / "none.csv"))),
        (["--model", str(tmp_path)], ("missing-file", None, str(tmp_path))),
    ]
    for args, expected in cases:
        result = dockyard("monitor", *args, "-o", "-", cwd=shop, check=False)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1, "one paragraph"
        record = error_of(result)
        assert message == f"dockyard: error: {record['message']}"
        kind, column, path = expected
        assert record["kind"] == kind and record["column"] == column
        if path is not None:
            assert record["path"] == path


def test_single_file_datasets_need_a_current_batch(project: Path) -> None:
    result = dockyard("monitor", cwd=project, check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert (record["kind"], record["key"]) == ("not-a-folder", "data.input")


def test_expected_ranges_prefer_the_soft_expectation_to_the_hard_limits() -> None:
    schema = {
        "columns": {
            "fee": {"dtype": "float64", "ge": 0, "expect": {"ge": 1.5, "le": 80.0}},
            "visits": {"dtype": "int64", "ge": 0},
            "spend": {"dtype": "float64", "ge": 0, "le": 1e6, "expect": {"le": 950}},
            "name": {"dtype": "str"},
            "num_.*": {"dtype": "float64", "regex": True, "ge": -5, "le": 5},
        }
    }
    columns = ["fee", "visits", "spend", "name", "num_3", "other"]
    assert expected_ranges(schema, columns) == {
        "fee": (1.5, 80.0),
        "visits": (0.0, None),
        "spend": (0.0, 950.0),
        "num_3": (-5.0, 5.0),
    }


# ----------------------------------------------------------------------------- policy


def test_monitor_policy_is_checked_with_one_paragraph() -> None:
    from dockyard.config import load_params
    from dockyard.errors import ConfigError
    from dockyard.monitor.policy import monitor_policy

    from .helpers import ROOT

    policy = monitor_policy(validated_section("monitor", categorical_threshold=0.05))
    assert policy.drift.categorical_threshold == 0.05 and policy.retrain_on == ("drift", "decay")
    assert monitor_policy(load_params(ROOT / "params.yaml").monitor).drift.bootstrap == 500
    # change: (kind, key, what the message says beyond them: values, ranges)
    bad = [
        ({"fdr": 1.5}, "out-of-range", "monitor.fdr", ["(0, 1)", "1.5"]),
        ({"numeric_threshold": -1}, "out-of-range", "monitor.numeric_threshold", ["[0, inf)"]),
        ({"retrain_on": ["drift", "weekly"]}, "not-a-choice", "monitor.retrain_on", ["'weekly'"]),
        ({"retrain_on": "drift"}, "wrong-type", "monitor.retrain_on", []),
        ({"bootstrap": 2.5}, "wrong-type", "monitor.bootstrap", []),
        ({"bins": 1}, "out-of-range", "monitor.bins", ["2 or more, found 1"]),
        ({"fdr_rate": 0.1}, "unknown-key", "monitor.fdr_rate", []),
    ]
    for change, kind, key, fragments in bad:
        with pytest.raises(ConfigError) as caught:
            validated_section("monitor", **change)
        assert (caught.value.kind, caught.value.key) == (kind, key)
        for fragment in fragments:
            assert fragment in str(caught.value)
        assert "conf/" in str(caught.value)  # where to fix it
    with pytest.raises(ConfigError) as caught:
        validated_section("monitor", alpha="???")  # OmegaConf's mark of a missing value
    assert (caught.value.kind, caught.value.key) == ("missing-value", "monitor.alpha")


# ----------------------------------------------------------------------------- decay, pure


def test_decay_needs_seed_noise_and_sampling_noise_both_cleared() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    labels = rng.integers(0, 2, n)

    def outputs(noise: float) -> np.ndarray:
        p = np.clip(0.5 + (labels - 0.5) * 0.6 + rng.normal(0, noise, n), 0.01, 0.99)
        return np.column_stack([1 - p, p])

    def test_metrics(seed: int) -> dict[str, float]:
        from dockyard.monitor.performance import batch_metrics

        return batch_metrics("classification", labels, outputs(0.2 + 0.01 * seed))

    tests = {s: test_metrics(s) for s in range(3)}
    same = {s: (labels, outputs(0.2 + 0.01 * s)) for s in range(3)}
    report = decay_report(
        "classification", same, tests, (labels, outputs(0.2)), alpha=0.05, replicates=200
    )
    assert report["decayed"] == [] and report["noise_estimate"] is True
    worse = {s: (labels, outputs(0.6 + 0.01 * s)) for s in range(3)}
    report = decay_report(
        "classification", worse, tests, (labels, outputs(0.2)), alpha=0.05, replicates=200
    )
    assert "test/accuracy" in report["decayed"]
    row = next(m for m in report["metrics"] if m["name"] == "test/accuracy")
    test_values = [tests[s]["test/accuracy"] for s in range(3)]
    from dockyard.monitor.performance import batch_metrics

    current_values = [batch_metrics("classification", *worse[s])["test/accuracy"] for s in range(3)]
    expected = sp.ttest_ind(current_values, test_values, equal_var=False).pvalue
    assert row["p_value"] == pytest.approx(expected, rel=1e-6)  # the report's Welch test
    assert row["interval_high"] < 0  # current - test, wholly worse
    one = decay_report(
        "classification", {0: worse[0]}, {0: tests[0]}, None, alpha=0.05, replicates=0
    )
    assert one["noise_estimate"] is False and one["metrics"][0]["p_value"] is None
    assert any("no seed-noise estimate" in n for n in one["notes"])


# ----------------------------------------------------------------------------- GitHub


@pytest.fixture
def github():
    with FakeGitHub(MARKER) as server:
        yield server


def test_one_retraining_pull_request_is_found_and_updated(github: FakeGitHub) -> None:
    client = GitHub("t0ken", github.url)
    assert find_retrain_pull(open_pulls(client, "acme/ml"), "acme/ml", "main") is None
    created = create_pull(client, "acme/ml", "retrain/2024-06-03", "main", "Retrain", "x" * 70000)
    assert len(created["body"]) <= 65536 and "size limit" in created["body"]
    found = find_retrain_pull(open_pulls(client, "acme/ml"), "acme/ml", "main")
    assert found["number"] == created["number"]
    assert find_retrain_pull(open_pulls(client, "acme/ml"), "acme/ml", "release") is None
    update_pull(client, "acme/ml", found["number"], "Retrain again", "new body")
    ours = [p for p in github.pulls if p["head"]["ref"].startswith("retrain/")]
    assert [p["body"] for p in ours if p["head"]["repo"]["full_name"] == "acme/ml"] == ["new body"]
    assert github.pulls[0]["body"] == "mine"


# ----------------------------------------------------------------------------- retrain


@pytest.mark.slow
def test_retrain_opens_one_pull_request_and_updates_it(
    shop: Path, tmp_path: Path, github: FakeGitHub
) -> None:
    project = clone_reproduced(shop, tmp_path / "p")
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], project)
    run(["git", "push", "-q", "origin", "main"], project)
    env = {"GITHUB_TOKEN": "t0ken", "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/ml"}

    appended(project, "2024-06-03", seed=21)  # like the training data
    quiet = dockyard("retrain", "--open-pr", cwd=project, env=env)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "Nothing to do: 2024-06-03.csv shows no drift or decay" in quiet.stdout
    assert run(["git", "branch", "--show-current"], project).stdout.strip() == "main"

    appended(project, "2024-06-04", seed=22, drift=0.5)
    summary = tmp_path / "summary.md"
    first = dockyard("retrain", "--open-pr", "--summary", str(summary), cwd=project, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    outcome = json.loads(first.stdout.strip().splitlines()[-1])
    assert outcome["action"] == "created" and outcome["reasons"] == ["drift"]
    pull = github.pulls[-1]
    branch = pull["head"]["ref"]
    assert branch.startswith("retrain/") and pull["base"]["ref"] == "main"
    assert pull["body"].startswith("## Drift monitor: ⚠️ drift in 4 of 6 features")
    assert "## dockyard report" in pull["body"] and "2024-06-04.csv" in pull["title"]
    assert "## Drift monitor" in summary.read_text()
    pushed = run(["git", "log", "-1", "--format=%s", branch], origin).stdout.strip()
    assert pushed == pull["title"]
    files = run(["git", "show", "--name-only", "--format=", branch], origin).stdout.split()
    assert {"dvc.lock", "eval/monitor.json", "data/validation.json"} <= set(files)
    report = json.loads(run(["git", "show", f"{branch}:data/validation.json"], origin).stdout)
    assert list(report["batches"])[-1] == "2024-06-04.csv"
    # the monitor stage on the branch: the newest batch against the batches before it
    stage = json.loads(run(["git", "show", f"{branch}:eval/monitor.json"], origin).stdout)
    assert stage["status"].startswith("drift") and stage["reference"]["batches"] == [
        "2024-06-01.csv",
        "2024-06-02.csv",
        "2024-06-03.csv",
    ]

    again = dockyard("retrain", "--open-pr", cwd=project, env=env)
    assert "Nothing to do: the newest batch 2024-06-04.csv is part of the training data" in (
        again.stdout
    )

    run(["git", "checkout", "-q", "main"], project)
    run(["dvc", "checkout", "-q"], project)
    appended(project, "2024-06-05", seed=23, drift=0.8)
    second = dockyard("retrain", "--open-pr", cwd=project, env=env)
    assert json.loads(second.stdout.strip().splitlines()[-1])["action"] == "updated"
    ours = [
        p
        for p in github.pulls
        if p["head"]["repo"]["full_name"] == "acme/ml" and p["head"]["ref"].startswith("retrain/")
    ]
    assert len(ours) == 1 and "2024-06-05.csv" in ours[0]["title"]
    assert [m for m, _ in github.requests].count("POST") == 1
    assert (
        list(
            json.loads(run(["git", "show", f"{branch}:data/validation.json"], origin).stdout)[
                "batches"
            ]
        )[-1]
        == "2024-06-05.csv"
    )


@pytest.mark.slow
def test_retrain_refuses_uncommitted_code(shop: Path, tmp_path: Path) -> None:
    project = clone_reproduced(shop, tmp_path / "p")
    appended(project, "2024-06-03", seed=31, drift=0.5)
    with open(project / "conf/config.yaml", "a") as handle:
        handle.write("# an edit\n")
    result = dockyard("retrain", cwd=project, check=False)
    assert result.returncode == 2
    assert error_of(result)["kind"] == "uncommitted-changes"
    # the one wording check for kind 'uncommitted-changes'
    assert (
        "Uncommitted changes in conf/config.yaml: a retrain commits only the pipeline's outputs"
        in result.stderr
    )
    assert run(["git", "branch", "--show-current"], project).stdout.strip() == "main"
    shutil.rmtree(project)
