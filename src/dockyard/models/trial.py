"""A sweep trial's side of training: report the objective each epoch, stop when pruned.

`dockyard sweep run` starts each trial as a `dvc exp run` with DOCKYARD_SWEEP_TRIAL set
(storage URL, study, trial id, objective, pruner, and the seed that reports). The train
stage of that seed adds `TrialReporter` to its Trainer: after each validation epoch it
reports the objective to the Optuna trial and, when the study's pruner says so, stops
training. A pruned stage then exits with PRUNED_EXIT without writing outputs, so DVC keeps
neither an experiment nor a run-cache entry of a run whose length the pruner chose: the
same params reproduce the full run, never the cut one.

Outside a sweep (the variable unset) nothing here is imported.
"""

from __future__ import annotations

import json
import os
from typing import Any

TRIAL_ENV = "DOCKYARD_SWEEP_TRIAL"
PRUNED_EXIT = 3  # the train stage's exit status for a trial its pruner stopped


PRUNERS = ("median", "halving", "hyperband", "none")


def open_storage(url: str, heartbeat: int | None = None, existing: bool = False) -> Any:
    """The study's database. SQLite waits for a busy file instead of failing (several
    workers and their train stages write to it); a plain `postgresql://` URL uses psycopg 3,
    the driver dockyard's `sweep` extra installs."""
    import optuna

    quiet_optuna()
    engine: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        engine["connect_args"] = {"timeout": 60}
    elif url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if heartbeat:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=heartbeat,
            grace_period=2 * heartbeat,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
        )
    # `existing`: a train stage joins a study its sweep made, whose tables and schema
    # version are there already; checking them again costs every trial's start-up
    return optuna.storages.RDBStorage(
        url, engine_kwargs=engine, skip_compatibility_check=existing, skip_table_creation=existing
    )


def median_startup(budget: int | None) -> int:
    """Finished trials the median pruner waits for: 4, or a quarter of a smaller budget (at
    least 2), so that a short search has trials left to prune."""
    if not budget:
        return 4
    return max(2, min(4, int(budget) // 4))


def build_pruner(name: str, budget: int | None = None) -> Any:
    """median (default): stop a trial whose objective is worse than the median of earlier
    trials at the same epoch, once `median_startup(budget)` trials have finished, at epoch 2
    or later; halving: successive halving; hyperband; none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=median_startup(budget), n_warmup_steps=2
        )
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def quiet_optuna() -> None:
    """Optuna's own log lines and experimental-feature warnings (heartbeats are) would
    bury dockyard's one line per trial; its errors still show."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def trial_spec() -> dict[str, Any] | None:
    text = os.environ.get(TRIAL_ENV)
    return json.loads(text) if text else None


def trial_callbacks(seed: int, first_seed: int) -> list[Any]:
    """The reporter for this training run, when it is a sweep trial's first seed (one seed
    reports: Optuna takes one value per epoch)."""
    spec = trial_spec()
    if spec is None or int(first_seed) != int(seed):
        return []
    return [_reporter(spec)]


def _reporter(spec: dict[str, Any]) -> Any:
    import optuna

    from dockyard.models.lightning_import import pl

    quiet_optuna()
    study = optuna.load_study(
        study_name=spec["study"],
        storage=open_storage(spec["storage"], existing=True),
        pruner=build_pruner(spec["pruner"], spec.get("budget")),
    )
    trial = optuna.Trial(study, int(spec["trial_id"]))
    objective = spec["objective"]

    class TrialReporter(pl.Callback):
        """Reports `objective` after each validation epoch; stops the Trainer if pruned."""

        pruned_epoch: int | None = None

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            if trainer.sanity_checking:
                return
            value = trainer.callback_metrics.get(objective)
            if value is None:
                return
            epoch = int(trainer.current_epoch) + 1  # 1-based, as the curves' steps + 1
            trial.report(float(value), epoch)
            if trial.should_prune():
                trial.set_user_attr("pruned_epoch", epoch)
                self.pruned_epoch = epoch
                trainer.should_stop = True

    return TrialReporter()


def pruned_epoch(callbacks: list[Any]) -> int | None:
    """The epoch at which a trial's pruner stopped this run, or None."""
    for callback in callbacks:
        epoch = getattr(callback, "pruned_epoch", None)
        if epoch is not None:
            return int(epoch)
    return None
