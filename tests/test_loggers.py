"""The loggers users already use (`logger` group), run for real and read back with their
own readers: MLflow's client, TensorBoard's event reader, the CSV file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from dockyard.config import compose, validate
from dockyard.models.loggers import hyperparameters

from .helpers import ROOT, configure, make_project, run

SEED = 3  # the training seed; the split's (`seed`) stays 0


def _tensorboard_events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return events


def _tensorboard_scalars(events) -> dict[str, list[float]]:
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _tensorboard_hparams(events) -> tuple[dict[str, object], list[str]]:
    """The HPARAMS tab's data, read with TensorBoard's hparams plugin: the session's
    hyperparameters (as plain values) and the experiment's metric tags."""
    from google.protobuf import json_format
    from tensorboard.plugins.hparams import metadata

    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    values = {k: json_format.MessageToDict(v) for k, v in start.hparams.items()}
    return values, [m.name.tag for m in experiment.metric_infos]


def _curve(project: Path, name: str) -> list[float]:
    rows = (project / f"eval/seeds/{SEED}/train/plots/metrics/{name}.tsv").read_text()
    return [float(line.split("\t")[1]) for line in rows.splitlines()[1:]]


def test_hyperparameters_flatten_the_composed_config() -> None:
    cfg = validate(compose(["data=breast_cancer"], ROOT))
    flat = hyperparameters(cfg)
    assert flat["train.lr"] == 0.001 and flat["train.optimizer.lr"] == 0.001
    assert flat["seeds"] == "[0]"  # lists as JSON text
    # characters MLflow refuses in keys become "_"; long values are cut the same way for all
    assert any(key.startswith("data.schema.columns.") for key in flat)
    assert all(
        set(key) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./ -")
        for key in flat
    )
    assert all(len(str(v)) <= 250 for v in flat.values())


def test_choosing_a_logger_that_is_not_installed_is_refused_at_compose() -> None:
    from dockyard.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        validate(compose(["logger=wandb"], ROOT))
    assert (caught.value.kind, caught.value.key) == ("missing-package", "logger")
    # the one wording check for kind 'missing-package'
    assert str(caught.value) == (
        "params.yaml: logger=wandb needs the 'wandb' package, which is not installed. Install it "
        'with `pip install -e ".[wandb]"` (or `pip install wandb`), or drop wandb from logger.'
    )
    cfg = validate(compose(["logger=[mlflow,tensorboard,csv]"], ROOT))
    assert set(cfg.logger) == {"mlflow", "tensorboard", "csv"}


@pytest.mark.slow
def test_dvc_exp_run_with_loggers_records_the_same_params_and_metrics(tmp_path: Path) -> None:
    """`dvc exp run -S logger=[mlflow,tensorboard,csv]` on the bundled data: each logger's
    run holds the composed params with the run's own training seed, `epoch` once an
    epoch, and the metrics that eval/ holds (TensorBoard's HPARAMS tab included)."""
    from mlflow.tracking import MlflowClient

    project = make_project(tmp_path / "project")
    # in conf/ itself: `dvc exp run -S` composes conf/ afresh
    configure(project, seeds=f"[{SEED}]", epochs=4)
    run(["git", "commit", "-qam", "short"], project)
    run(["dvc", "exp", "run", "-S", "logger=[mlflow,tensorboard,csv]"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["seed"] == 0 and params["seeds"] == [SEED]
    expected = hyperparameters(params)
    expected["split.seed"] = expected.pop("seed")
    expected["seed"] = SEED
    test_metrics = json.loads((project / f"eval/seeds/{SEED}/metrics.json").read_text())
    loggers = json.loads((project / f"eval/runs/seed-{SEED}.json").read_text())["loggers"]
    epochs = len(_curve(project, "val/loss"))

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlruns/mlflow.db")
    mlflow_run = client.get_run(loggers["mlflow"]["run_id"])
    assert mlflow_run.info.run_name == f"seed-{SEED}"
    assert mlflow_run.data.params == {k: str(v) for k, v in expected.items()}
    assert (mlflow_run.data.params["seed"], mlflow_run.data.params["split.seed"]) == ("3", "0")
    for name, value in test_metrics.items():
        assert mlflow_run.data.metrics[name] == pytest.approx(value, rel=1e-12)
    history = [m.value for m in client.get_metric_history(mlflow_run.info.run_id, "val/loss")]
    assert history == pytest.approx(_curve(project, "val/loss"), rel=1e-6)
    epoch = [m.value for m in client.get_metric_history(mlflow_run.info.run_id, "epoch")]
    assert epoch == list(range(epochs))

    events = _tensorboard_events(project / loggers["tensorboard"]["log_dir"])
    scalars = _tensorboard_scalars(events)
    assert scalars["val/loss"] == pytest.approx(_curve(project, "val/loss"), rel=1e-6)
    assert scalars["epoch"] == list(range(epochs))
    for name, value in test_metrics.items():
        assert scalars[name] == [pytest.approx(value, rel=1e-6)]
    hparams = yaml.safe_load(
        (project / loggers["tensorboard"]["log_dir"] / "hparams.yaml").read_text()
    )
    assert hparams == expected
    session, metric_tags = _tensorboard_hparams(events)
    assert (session["seed"], session["split.seed"]) == (SEED, 0)
    assert session["train.lr"] == params["train"]["lr"]
    assert session["model.net._target_"] == params["model"]["net"]["_target_"]
    assert sorted(metric_tags) == sorted(test_metrics)

    with open(project / loggers["csv"]["log_dir"] / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    logged = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert logged == pytest.approx(_curve(project, "val/loss"), rel=1e-6)
    assert float(rows[-1]["test/accuracy"]) == pytest.approx(test_metrics["test/accuracy"])
    assert [int(r["epoch"]) for r in rows if r.get("val/loss")] == list(range(epochs))
    # the loggers' stores stay out of git; dvc.lock does not record them
    ignored = run(["git", "check-ignore", "mlruns", "logs"], project).stdout.split()
    assert ignored == ["mlruns", "logs"]
