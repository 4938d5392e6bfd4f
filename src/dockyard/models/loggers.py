"""Experiment loggers: DVCLive always, plus the ones users already use (`logger` group).

DVCLive writes the per-epoch curves that `dvc plots` and the pull-request report read, so
it is always on. `-S logger=mlflow` (or `tensorboard`, `csv`, `wandb`, or a list such as
`logger=[mlflow,csv]`) adds Lightning's own loggers next to it. Every logger receives the
same hyperparameters (the composed config, flattened by `hyperparameters`, with the run's
own training seed as `seed`: `run_hyperparameters`) and the same metrics: the curves
during training (`epoch` once an epoch), and the test metrics, which the evaluate stage
adds to the same run afterwards (`log_test_metrics`), using the run identifiers the train
stage recorded. TensorBoard gets the hyperparameters again then, with the test metrics:
its HPARAMS tab pairs the two, so a session without metrics shows nothing.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Lightning's MLflow logger cuts values to 250 characters; every logger gets the same cut.
MAX_VALUE_CHARS = 250
_KEY_UNSAFE = re.compile(r"[^0-9A-Za-z_./ -]")
# The Lightning functions from which DVCLive's logger writes its files (dvclive.lightning)
_DVCLIVE_SYNC_POINTS = frozenset(
    ("update_train_step_metrics", "update_train_epoch_metrics", "log_eval_end_metrics")
)


def hyperparameters(cfg: DictConfig | dict) -> dict[str, Any]:
    """The composed config as flat `a.b.c` keys (characters MLflow refuses become `_`),
    lists as JSON text, values cut to MAX_VALUE_CHARS: what every logger records."""
    data = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
    flat: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{prefix}{_KEY_UNSAFE.sub('_', str(key))}.")
            return
        if isinstance(value, list | tuple):
            value = json.dumps(value)
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS]
        flat[prefix[:-1]] = value

    walk(data, "")
    return flat


def run_hyperparameters(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """What one training run records: `seed` is the seed this run trained with; the
    config's own `seed`, which seeds the split and is the same in every run of a
    multi-seed experiment, is recorded as `split.seed`."""
    recorded = dict(params)
    if "seed" in recorded:
        recorded["split.seed"] = recorded.pop("seed")
    recorded["seed"] = seed
    return recorded


def _epoch_once(logger: Any) -> None:
    """Lightning adds `epoch` to each metrics call it makes, and it makes two an epoch
    (validation end, training-epoch end): pass each epoch value on once. The logger's
    own `log_metrics` is wrapped on the instance, so any logger class keeps working."""
    log_metrics = logger.log_metrics
    last: list[Any] = []

    def once(metrics: dict[str, Any], step: int | None = None) -> None:
        if "epoch" in metrics:
            if last == [metrics["epoch"]]:
                metrics = {key: value for key, value in metrics.items() if key != "epoch"}
            else:
                last[:] = [metrics["epoch"]]
        if metrics:
            log_metrics(metrics=metrics, step=step)

    logger.log_metrics = once


def _lightning_syncs() -> bool:
    """Whether the caller runs inside one of `_DVCLIVE_SYNC_POINTS`: DVCLive's own test,
    answered from the frames' code names."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in _DVCLIVE_SYNC_POINTS:
            return True
        frame = frame.f_back
    return False


def dvclive_logger(log_dir: str) -> Any:
    """DVCLive's logger (per-epoch curves for `dvc plots`), or None where dvclive is not
    installed (e.g. a bare GPU machine running benchmarks/gpu_check.sh).

    DVCLive's Lightning logger decides whether to write its files with `inspect.stack()`,
    which reads the source of every frame, twice an epoch. The subclass asks the same
    question by walking the frames' code names; the files written are the same (a test
    compares them)."""
    try:
        from dvclive.fabric import DVCLiveLogger as FabricLogger
        from dvclive.lightning import DVCLiveLogger
    except ImportError:
        print("train: dvclive is not installed; per-epoch curves are not written")
        return None
    from pytorch_lightning.utilities import rank_zero_only

    class Logger(DVCLiveLogger):
        @rank_zero_only
        def log_metrics(self, metrics: Any, step: int | None = None, sync: bool = False) -> None:
            FabricLogger.log_metrics(self, metrics, step, sync or _lightning_syncs())

    return Logger(dir=log_dir, dvcyaml=False, save_dvc_exp=False, report=None)


@dataclass
class Loggers:
    """The Lightning loggers of one training run, and how to find their runs again."""

    lightning: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # name -> logger (not DVCLive)

    def finish(self) -> dict[str, dict[str, Any]]:
        """Where each extra logger's run lives (run id, folder), for `log_test_metrics`."""
        runs: dict[str, dict[str, Any]] = {}
        for name, logger in self.extra.items():
            kind = _kind(logger)
            if kind == "mlflow":
                runs[name] = {
                    "kind": kind,
                    "run_id": logger.run_id,
                    "tracking_uri": logger._tracking_uri,
                }
            elif kind in ("tensorboard", "csv"):
                runs[name] = {"kind": kind, "log_dir": str(logger.log_dir)}
            elif kind == "wandb":
                runs[name] = {"kind": kind, "run_id": logger.experiment.id, "dir": logger.save_dir}
        return runs


def _kind(logger: Any) -> str:
    name = type(logger).__name__.lower()
    for kind in ("mlflow", "tensorboard", "csv", "wandb"):
        if kind in name:
            return kind
    return "other"


def build_loggers(
    cfg: DictConfig, log_dir: str, seed: int, hparams: dict[str, Any] | None = None
) -> Loggers:
    """DVCLive's logger plus every entry of `logger`, each given the same hyperparameters
    (`hparams`: the train stage passes params.yaml as written; by default the config),
    with this run's `seed`."""
    from hydra.utils import instantiate

    loggers = Loggers()
    live = dvclive_logger(log_dir)
    if live is not None:
        loggers.lightning.append(live)
    entries = OmegaConf.to_container(cfg.logger, resolve=True) if "logger" in cfg else {}
    params = run_hyperparameters(hparams if hparams is not None else hyperparameters(cfg), seed)
    for name, entry in (entries or {}).items():
        _prepare_store(entry)
        logger = instantiate(entry, **_run_name(entry, seed))
        logger.log_hyperparams(params)
        if _kind(logger) != "csv":  # a CSV row per call: each row keeps its epoch
            _epoch_once(logger)
        loggers.lightning.append(logger)
        loggers.extra[name] = logger
    return loggers


def _prepare_store(entry: dict[str, Any]) -> None:
    """Create the folder of a local SQLite tracking store (MLflow does not)."""
    uri = str(entry.get("tracking_uri") or "")
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _run_name(entry: dict[str, Any], seed: int) -> dict[str, Any]:
    """Name each run after its seed, in the argument the logger class takes for it."""
    target = str(entry.get("_target_", "")).lower()
    if "mlflow" in target and entry.get("run_name") is None:
        return {"run_name": f"seed-{seed}"}
    if ("tensorboard" in target or "csv" in target) and entry.get("name") is None:
        return {"name": f"seed-{seed}"}
    if "wandb" in target and entry.get("name") is None:
        return {"name": f"seed-{seed}"}
    return {}


def log_test_metrics(runs: dict[str, dict[str, Any]], metrics: dict[str, float]) -> None:
    """Add the test metrics to the runs training opened (the evaluate stage calls this)."""
    for run in runs.values():
        kind = run.get("kind")
        if kind == "mlflow":
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=run["tracking_uri"])
            for key, value in metrics.items():
                client.log_metric(run["run_id"], key, float(value))
        elif kind == "tensorboard":
            _tensorboard_test_metrics(Path(run["log_dir"]), metrics)
        elif kind == "csv":
            _append_csv(Path(run["log_dir"]) / "metrics.csv", metrics)
        elif kind == "wandb":
            import wandb

            with wandb.init(id=run["run_id"], resume="allow", dir=run["dir"], mode="offline") as r:
                r.summary.update({k: float(v) for k, v in metrics.items()})


def _tensorboard_test_metrics(log_dir: Path, metrics: dict[str, float]) -> None:
    """The test metrics as scalars and, with the hyperparameters Lightning saved beside
    the events (hparams.yaml), as the run's HPARAMS session."""
    import yaml
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    saved = log_dir / "hparams.yaml"
    params = yaml.safe_load(saved.read_text(encoding="utf-8")) if saved.is_file() else None
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        if isinstance(params, dict):
            values = {k: v for k, v in params.items() if isinstance(v, bool | int | float | str)}
            for summary in hparams(values, {k: float(v) for k, v in metrics.items()}):
                writer.file_writer.add_summary(summary)
        for key, value in metrics.items():
            writer.add_scalar(key, float(value), 0)


def _append_csv(path: Path, metrics: dict[str, float]) -> None:
    """One more row in Lightning's metrics.csv, holding the test metrics (new columns added)."""
    import csv

    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    columns += [key for key in metrics if key not in columns]
    rows.append(dict(metrics))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
