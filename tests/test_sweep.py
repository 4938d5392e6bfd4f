"""`dockyard sweep`: the search space, the study, and trials that are real DVC experiments.

The fast tests read the space, the objective, the status table and the settings written
into conf/. The slow ones run real sweeps: two workers, one killed with SIGKILL mid-trial,
a later run continuing to the budget, the best trial as a branch, a pruned trial that leaves
no experiment and no run-cache entry, and optuna-dashboard answering over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from dockyard.errors import ConfigError
from dockyard.sweep.best import write_settings
from dockyard.sweep.space import parse_overrides, space_from_arguments
from dockyard.sweep.status import format_table, trial_rows
from dockyard.sweep.study import describe_space, objective_of

from .helpers import configure, error_of, head, make_project, project_env, run

DOCKYARD = [sys.executable, "-m", "dockyard.cli"]


def storage_of(project: Path) -> str:
    (project / ".dvc/tmp/sweep").mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{project / '.dvc/tmp/sweep/studies.db'}"


def load(project: Path, name: str = "sweep") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_of(project))


# ----------------------------------------------------------------------------- the space


def test_the_issues_space_becomes_optuna_distributions():
    space = parse_overrides(
        [
            "train.lr=tag(log,interval(1e-4,1e-1))",
            "model.net.hidden=choice([64],[128,64])",
            "train.batch_size=choice(32,64,128)",
            "model.net.dropout=interval(0,0.5)",
            "train.steps_per_call=range(1,9,2)",
            "train.epochs=20",
        ]
    )
    got = {d.key: d.distribution() for d in space.dimensions}
    assert got == {
        "train.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.net.hidden": CategoricalDistribution(["[64]", "[128,64]"]),
        "train.batch_size": CategoricalDistribution(["32", "64", "128"]),
        "model.net.dropout": FloatDistribution(0.0, 0.5),
        "train.steps_per_call": IntDistribution(1, 7, step=2),
    }
    assert space.fixed == ("train.epochs=20",)


@pytest.mark.parametrize(
    "overrides, kind, key",
    [
        (["train.lr=interval(0.1"], "bad-sweep", "train.lr"),
        (["train.lr=tag(log,choice(0.1,0.2))"], "bad-sweep", "train.lr"),
        (["train.lr=tag(log,interval(0,1))"], "bad-sweep", "train.lr"),
        (["train.lr=interval(1,0.5)"], "bad-sweep", "train.lr"),
        (["train.lr=choice(1,2)", "train.lr=interval(1,2)"], "bad-sweep", "train.lr"),
        (["train.epochs=20"], "empty-sweep", None),
    ],
)
def test_a_space_that_cannot_be_searched_is_refused(overrides, kind, key):
    with pytest.raises(ConfigError) as caught:
        space_from_arguments(overrides)
    assert (caught.value.kind, caught.value.key) == (kind, key)


def test_a_space_file_in_conf_sweep_and_the_command_line_win(tmp_path):
    (tmp_path / "conf/sweep").mkdir(parents=True)
    (tmp_path / "conf/sweep/lr.yaml").write_text(
        "params:\n  train.lr: tag(log, interval(1e-4, 1e-1))\n  train.batch_size: choice(32, 64)\n"
        "overrides: [train.epochs=20]\nobjective: val/accuracy\ntrials: 7\n"
    )
    space = space_from_arguments(["sweep=lr", "train.batch_size=choice(16,32)"], tmp_path)
    assert [d.describe() for d in space.dimensions] == [
        "tag(log, interval(0.0001, 0.1))",
        "choice(16, 32)",
    ]
    assert space.fixed == ("train.epochs=20",)
    assert (space.settings["objective"], space.settings["trials"]) == ("val/accuracy", 7)

    (tmp_path / "conf/sweep/bad.yaml").write_text("params: {}\ntrails: 3\n")
    with pytest.raises(ConfigError) as caught:
        space_from_arguments(["sweep=bad"], tmp_path)
    assert (caught.value.kind, caught.value.key) == ("unknown-key", "trails")
    with pytest.raises(ConfigError) as caught:
        space_from_arguments(["sweep=nowhere"], tmp_path)
    assert caught.value.kind == "unknown-sweep"
    assert "Spaces here: bad, lr." in str(
        caught.value
    )  # the one wording check for kind 'unknown-sweep'


def test_the_objective_is_a_validation_metric_never_a_test_one():
    assert objective_of(None, "classification") == ("val/loss", "minimize")
    assert objective_of("val/accuracy", "classification") == ("val/accuracy", "maximize")
    assert objective_of(None, "regression") == ("val/loss", "minimize")
    with pytest.raises(ConfigError) as caught:
        objective_of("test/accuracy", "classification")
    assert caught.value.kind == "test-objective"
    # the one wording check for kind 'test-objective'
    assert "choosing settings on the test split leaks it" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        objective_of("val/mae", "classification")
    assert (caught.value.kind, caught.value.key) == ("unknown-objective", "objective")


def test_status_lists_the_best_first_then_pruned_running_and_failed(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    dist = {"train.lr": FloatDistribution(1e-4, 1e-1, log=True)}

    def add(state, lr, value=None, steps=None, **attrs):
        study.add_trial(
            create_trial(
                state=state,
                params={"train.lr": lr},
                distributions=dist,
                value=value,
                intermediate_values=steps or {},
                user_attrs=attrs,
            )
        )

    add(TrialState.FAIL, 0.05, error="boom")
    add(TrialState.COMPLETE, 0.01, 0.30, test={"test/accuracy": 0.9}, experiment="e1")
    add(TrialState.PRUNED, 0.0002, steps={1: 2.0, 2: 1.9}, pruned_epoch=2)
    add(TrialState.COMPLETE, 0.003, 0.12, test={"test/accuracy": 0.95}, experiment="e3")
    rows = trial_rows(study)
    assert [(r["trial"], r["state"]) for r in rows] == [
        (3, "COMPLETE"),
        (1, "COMPLETE"),
        (2, "PRUNED"),
        (0, "FAIL"),
    ]
    assert rows[2]["objective"] == 1.9  # a pruned trial shows its last report
    lines = format_table(study, rows).splitlines()
    assert lines[0].split() == [
        "trial",
        "state",
        "params",
        "objective",
        "test/accuracy",
        "seconds",
        "host",
        "experiment",
    ]
    assert lines[2].split()[:5] == ["3", "complete", "train.lr=0.003", "0.1200", "0.9500"]
    assert lines[4].split()[:3] == ["2", "pruned", "@2"]


def test_workers_share_the_cores_and_a_short_budget_has_trials_left_to_prune(monkeypatch):
    from dockyard.models.trial import build_pruner, median_startup
    from dockyard.sweep.run import cpu_count, worker_env

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert "OMP_NUM_THREADS" not in worker_env(1)  # one worker keeps torch's own default
    share = str(max(1, cpu_count() // 2))
    env = worker_env(2)
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == (share, share)
    assert worker_env(4 * cpu_count())["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
    assert worker_env(2)["OMP_NUM_THREADS"] == "3" and "MKL_NUM_THREADS" not in worker_env(2)
    assert [median_startup(b) for b in (None, 3, 8, 12, 16, 100)] == [4, 2, 2, 3, 4, 4]
    pruner = build_pruner("median", 8)
    assert (pruner._n_startup_trials, pruner._n_warmup_steps) == (2, 2)


# ----------------------------------------------------------------------------- conf/


def test_the_best_settings_are_written_where_conf_takes_them_from(project):
    write_settings(
        ["train.lr=0.0031", "model.net.hidden=[32,16]", "seeds=[0,1]", "model=mlp"], project
    )
    run([*DOCKYARD, "compose"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["train"]["lr"] == 0.0031
    assert params["model"]["net"]["hidden"] == [32, 16]
    assert params["seeds"] == [0, 1]
    assert "lr: 0.0031" in (project / "conf/config.yaml").read_text()
    assert "hidden: [32, 16]" in (project / "conf/model/mlp.yaml").read_text()
    assert "  - data: digits" in (project / "conf/config.yaml").read_text()  # layout kept
    write_settings(["model=cnn"], project)
    assert "  - model: cnn" in (project / "conf/config.yaml").read_text()


def test_run_refuses_before_any_trial(project):
    run(["git", "commit", "-qam", "x", "--allow-empty"], project)
    bad = run([*DOCKYARD, "sweep", "run", "train.batch_size=choice(32,many)"], project, False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (error_of(bad)["kind"], error_of(bad)["key"]) == ("wrong-type", "train.batch_size")
    leak = run(
        [*DOCKYARD, "sweep", "run", "train.lr=interval(0.001,0.1)", "--objective", "test/accuracy"],
        project,
        False,
    )
    assert (leak.returncode, error_of(leak)["kind"]) == (2, "test-objective")
    # a width the MLP cannot take is refused by the compose check of each choice
    text = run([*DOCKYARD, "sweep", "run", "model.net.hidden=choice([32],[x])"], project, False)
    assert text.returncode == 2 and "Traceback" not in text.stderr
    assert (error_of(text)["kind"], error_of(text)["key"]) == ("wrong-type", "model.net.hidden")
    for option in ("--workers", "--trials"):  # an explicit 0 is refused, not taken as unset
        zero = run(
            [*DOCKYARD, "sweep", "run", "train.lr=interval(0.001,0.1)", option, "0"],
            project,
            False,
        )
        assert zero.returncode == 2, zero.stdout + zero.stderr
        assert (error_of(zero)["kind"], error_of(zero)["key"]) == ("wrong-type", option[2:])
    (project / "conf/config.yaml").write_text((project / "conf/config.yaml").read_text() + "\n")
    dirty = run([*DOCKYARD, "sweep", "run", "train.lr=interval(0.001,0.1)"], project, False)
    assert (dirty.returncode, error_of(dirty)["kind"]) == (2, "uncommitted-changes")
    missing = run([*DOCKYARD, "sweep", "status", "--study", "nope"], project, False)
    assert (missing.returncode, error_of(missing)["kind"]) == (2, "unknown-study")
    # nothing was started: no trial in any study
    studies = optuna.get_all_study_summaries(storage_of(project))
    assert sum(s.n_trials for s in studies) == 0


# ----------------------------------------------------------------------------- real sweeps

SPACE = """\
params:
  train.lr: tag(log, interval(1e-3, 1e-1))
  model.net.hidden: choice([32], [64, 32])
overrides: [train.epochs=3]
trials: 3
pruner: none
"""


def _curve(project: Path, ref: str) -> dict[int, float]:
    """val/loss by epoch (from 1), read from the experiment's own commit."""
    text = run(
        ["git", "show", f"{ref}:eval/seeds/0/train/plots/metrics/val/loss.tsv"], project
    ).stdout
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    return {int(step) + 1: float(value) for step, value in rows}


def _descendants_in(folder: Path) -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cwd"]):
        cwd = process.info.get("cwd") or ""
        if cwd.startswith(str(folder)):
            found.append(process.info["pid"])
    return found


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory):
    """A project whose study ran 3 trials on 2 workers, one worker killed mid-trial."""
    project = make_project(tmp_path_factory.mktemp("sweep") / "project")
    configure(project, seeds="[0]", epochs=3)
    (project / "conf/sweep").mkdir(exist_ok=True)
    (project / "conf/sweep/small.yaml").write_text(SPACE)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "a search space"], project)
    process = subprocess.Popen(
        [
            *DOCKYARD,
            "sweep",
            "run",
            "sweep=small",
            "--workers",
            "2",
            "--heartbeat",
            "2",
            "--seed",
            "0",
        ],
        cwd=project,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    folder = project / ".dvc/tmp/sweep/sweep"
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        for record in sorted(folder.glob("worker-*.json")):
            held = json.loads(record.read_text())
            trial = load(project).trials
            running = [
                t
                for t in trial
                if t._trial_id == held["trial_id"] and t.state == TrialState.RUNNING
            ]
            started = running and time.time() - running[0].datetime_start.timestamp() > 3
            if started:
                try:
                    os.killpg(held["pid"], signal.SIGKILL)  # the worker, its dvc and its stage
                except ProcessLookupError:  # it finished its last trial meanwhile
                    continue
                killed = (record.stem, running[0].number)
                break
    output, _ = process.communicate(timeout=600)
    return project, process.returncode, output, killed


@pytest.mark.slow
def test_a_killed_worker_fails_its_trial_and_the_others_reach_the_budget(swept):
    project, code, output, killed = swept
    assert killed is not None, output
    worker, number = killed
    assert code == 0, output
    assert "a worker was killed (signal 9)" in output
    study = load(project)
    trials = {t.number: t for t in study.trials}
    assert trials[number].state == TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == number]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    assert retries[0].params == trials[number].params  # retried with the same settings
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert not _descendants_in(project / ".dvc/tmp/sweep/sweep" / worker)


@pytest.mark.slow
def test_every_finished_trial_is_a_dvc_experiment_with_its_params_and_metrics(swept):
    project = swept[0]
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = {}
    for entry in shown:
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs") or []:
                experiments[rev["name"]] = rev["data"]
    complete = [t for t in load(project).trials if t.state == TrialState.COMPLETE]
    assert sorted(experiments) == sorted(t.user_attrs["experiment"] for t in complete)
    for trial in complete:
        data = experiments[trial.user_attrs["experiment"]]
        params = data["params"]["params.yaml"]["data"]
        assert params["train"]["lr"] == pytest.approx(trial.params["train.lr"])
        assert params["model"]["net"]["hidden"] == yaml.safe_load(trial.params["model.net.hidden"])
        assert params["train"]["epochs"] == 3
        metrics = data["metrics"]["eval/metrics.json"]["data"]
        assert trial.user_attrs["test"]["test/accuracy"] == metrics["test/accuracy"]["mean"]
        # the objective, read independently from the experiment's own commit; with no
        # pruner the worker reports the curve afterwards, epoch by epoch
        curve = _curve(project, trial.user_attrs["ref"])
        assert trial.value == pytest.approx(min(curve.values()))
        assert trial.intermediate_values == pytest.approx(curve) and len(curve) == 3


@pytest.mark.slow
def test_a_later_run_continues_the_study_and_status_puts_the_best_first(swept):
    project = swept[0]
    more = run([*DOCKYARD, "sweep", "run", "sweep=small", "--trials", "4"], project)
    study = load(project)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4
    assert "4 of 4 trials done" in more.stdout
    status = run([*DOCKYARD, "sweep", "status"], project).stdout.splitlines()
    assert status[1].split()[:7] == [
        "trial",
        "state",
        "params",
        "val/loss",
        "test/accuracy",
        "seconds",
        "host",
    ]
    assert status[3].split()[0] == str(study.best_trial.number)
    as_json = json.loads(run([*DOCKYARD, "sweep", "status", "--json"], project).stdout)
    assert as_json["objective"] == "val/loss" and as_json["commit"] == head(project)
    assert as_json["trials_table"][0]["trial"] == study.best_trial.number
    # the same study with another space is refused, not mixed
    other = run([*DOCKYARD, "sweep", "run", "train.lr=interval(0.1,0.2)"], project, False)
    assert (other.returncode, error_of(other)["kind"], error_of(other)["key"]) == (
        2,
        "study-mismatch",
        "space",
    )


@pytest.mark.slow
def test_the_best_trial_becomes_a_branch_that_reproduces_it(swept):
    project = swept[0]
    study = load(project)
    best = study.best_trial
    made = run([*DOCKYARD, "sweep", "best", "--branch", "tuned"], project)
    # the trial's own outputs came back (dvc exp apply): nothing trained again
    assert "Stage 'train@0' didn't change, skipping" in made.stdout + made.stderr
    assert run(["git", "rev-parse", "--abbrev-ref", "HEAD"], project).stdout.strip() == "tuned"
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], project).stdout == ""
    run([*DOCKYARD, "compose", "--check"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["train"]["lr"] == pytest.approx(best.params["train.lr"])
    assert params["model"]["net"]["hidden"] == yaml.safe_load(best.params["model.net.hidden"])
    # the same model the trial trained, to the byte
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    exp_lock = yaml.safe_load(
        run(["git", "show", f"{best.user_attrs['ref']}:dvc.lock"], project).stdout
    )
    outs = lock["stages"]["train@0"]["outs"]
    assert outs == exp_lock["stages"]["train@0"]["outs"]
    assert run(["dvc", "status", "--quiet"], project, check=False).returncode == 0


@pytest.mark.slow
def test_the_dashboard_lists_the_study_and_its_trials(swept):
    import httpx

    project = swept[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [*DOCKYARD, "sweep", "dashboard", "--port", str(port), "--storage", storage_of(project)],
        cwd=project,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, studies = time.monotonic() + 60, None
        while time.monotonic() < deadline and studies is None:
            try:
                studies = httpx.get(f"http://127.0.0.1:{port}/api/studies", timeout=5).json()
            except httpx.HTTPError:
                time.sleep(0.3)
        assert studies is not None, server.stdout.read1().decode() if server.stdout else ""
        (summary,) = [s for s in studies["study_summaries"] if s["study_name"] == "sweep"]
        detail = httpx.get(
            f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}?after=0", timeout=10
        ).json()
        assert len(detail["trials"]) == len(load(project).trials)
        page = httpx.get(f"http://127.0.0.1:{port}/dashboard", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_a_pruned_trial_leaves_no_experiment_and_no_run_cache_entry(project):
    """Four finished trials that reached 0.05 at every epoch; a trial with a learning rate
    far too small is then worse than their median after the warm-up and is pruned."""
    configure(project, seeds="[0]", epochs=6)
    run(["git", "commit", "-qam", "six epochs"], project)
    overrides = ["train.lr=choice(1e-05,0.1)"]
    space = parse_overrides(overrides)
    study = optuna.create_study(
        study_name="sweep", storage=storage_of(project), direction="minimize"
    )
    for key, value in {
        **describe_space(space, "val/loss", "minimize", head(project)),
        "pruner": "median",
        "token": "t0",
    }.items():
        study.set_user_attr(key, value)
    dist = {"train.lr": space.dimensions[0].distribution()}
    for _ in range(4):
        study.add_trial(
            create_trial(
                params={"train.lr": "0.1"},
                distributions=dist,
                value=0.05,
                intermediate_values={e: 0.05 for e in range(1, 7)},
            )
        )
    study.enqueue_trial({"train.lr": "1e-05"})
    result = run([*DOCKYARD, "sweep", "run", *overrides, "--trials", "5"], project)
    pruned = load(project).trials[4]
    assert pruned.state == TrialState.PRUNED, result.stdout
    assert pruned.user_attrs["pruned_epoch"] == 2  # n_warmup_steps=2: the first epoch allowed
    assert sorted(pruned.intermediate_values) == [1, 2]
    assert "trial 4 pruned after epoch 2" in result.stdout
    refs = run(["git", "for-each-ref", "refs/exps"], project).stdout
    assert "sweep-t0-4" not in refs
    # the same settings outside the sweep train all six epochs: nothing restored the cut run
    run(["dvc", "exp", "run", "-S", "train.lr=1e-05"], project)
    curve = (project / "eval/seeds/0/train/plots/metrics/val/loss.tsv").read_text()
    assert len(curve.splitlines()) - 1 == 6


def test_a_search_space_is_not_a_config_choice(project):
    (project / "conf/sweep/lr.yaml").write_text("params:\n  train.lr: interval(0.001, 0.1)\n")
    refused = run([*DOCKYARD, "compose", "sweep=lr"], project, check=False)
    assert (refused.returncode, error_of(refused)["kind"]) == (2, "not-a-config-group")
    unknown = run([*DOCKYARD, "compose", "modle=cnn"], project, check=False)
    assert "sweep" not in error_of(unknown)["message"]  # not offered as a group
