"""The Optuna study behind a search: where it lives, what it searches, how it is joined.

A study records, when it is created, its space, objective, pruner, budget and the commit its
trials run on. Any machine that reaches the database joins it with `sweep run --study NAME
--storage URL`; joining with another space, objective or commit is refused, since trials
from two searches in one study would be compared as one.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from dockyard.errors import ConfigError
from dockyard.metrics import CURVE_HIGHER_IS_BETTER, TEST_PREFIX, VALIDATION_CURVES
from dockyard.models.trial import PRUNERS, open_storage, quiet_optuna
from dockyard.sweep.space import Space

DEFAULT_STUDY = "sweep"
SWEEP_DIR = ".dvc/tmp/sweep"  # ignored by git (.dvc/.gitignore) and never tracked by DVC
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_storage(root: str | Path) -> str:
    """SQLite in the repository's ignored DVC temp folder: one machine, K local workers."""
    folder = Path(root).resolve() / SWEEP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'studies.db'}"


def check_name(study: str) -> str:
    if not _NAME.match(study) or ".." in study or study.endswith((".", ".lock")):
        raise ConfigError(
            f"Study name {study!r} cannot name DVC experiments (git refs): use letters, "
            "digits, '.', '_' and '-', starting with a letter or digit, e.g. lr-search.",
            kind="bad-study-name",
            key="study",
        )
    return study


def objective_of(name: str | None, task: str) -> tuple[str, str]:
    """The objective metric and its direction: the task's `val/loss` by default, or any
    metric the train stage logs on the validation split. A test metric is refused."""
    choices = VALIDATION_CURVES[task]
    name = name or choices[0]
    if name.startswith(f"{TEST_PREFIX}/"):
        raise ConfigError(
            f"The objective {name!r} is a test metric: choosing settings on the test split "
            f"leaks it into the choice, and the test score then overstates how the model "
            f"does on new data. Pick a validation metric: {', '.join(choices)} (each trial's "
            "test metrics are still recorded beside it).",
            kind="test-objective",
            key="objective",
        )
    if name not in choices:
        raise ConfigError(
            f"Unknown objective {name!r} for a {task} task: the train stage logs "
            f"{', '.join(choices)} on the validation split each epoch.",
            kind="unknown-objective",
            key="objective",
        )
    return name, "maximize" if CURVE_HIGHER_IS_BETTER[name] else "minimize"


def check_pruner(name: str) -> str:
    if name not in PRUNERS:
        raise ConfigError(
            f"Unknown pruner {name!r}: choose one of {', '.join(PRUNERS)} (median stops a "
            "trial worse than the median of earlier trials at the same epoch).",
            kind="unknown-pruner",
            key="pruner",
        )
    return name


def open_study(
    name: str,
    storage_url: str,
    *,
    heartbeat: int | None = None,
    create: dict[str, Any] | None = None,
) -> Any:
    """Load study `name`, or create it with the attributes in `create` (which a joining run
    must match). Without `create`, a missing study is an error naming the ones there are."""
    import optuna

    quiet_optuna()
    storage = _storage(storage_url, heartbeat)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if name not in existing:
        if create is None:
            raise ConfigError(
                f"There is no study {name!r} in {redact(storage_url)}. "
                + (
                    f"Studies there: {', '.join(sorted(existing))}."
                    if existing
                    else "Start one with `dockyard sweep run ... --study NAME`."
                ),
                kind="unknown-study",
                key="study",
            )
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=create["direction"],
            load_if_exists=True,
        )
        if "space" not in study.user_attrs:  # another worker may have created it first
            for key, value in create.items():
                study.set_user_attr(key, value)
            study.set_user_attr("token", secrets.token_hex(2))
        return study
    return optuna.load_study(study_name=name, storage=storage)


def check_joinable(study: Any, wanted: dict[str, Any]) -> None:
    """Refuse to add trials of another search to an existing study."""
    have = study.user_attrs
    for key, what in (
        ("space", "searches another space"),
        ("objective", "optimizes another objective"),
        ("commit", "runs its trials on another commit"),
    ):
        if key in have and have[key] != wanted[key]:
            fix = (
                f"check out {have[key][:12]} to join it"
                if key == "commit"
                else "run the same space and objective to join it"
            )
            raise ConfigError(
                f"Study {study.study_name!r} {what}: it has {have[key]!r}, this run asks for "
                f"{wanted[key]!r}. Give this search its own --study NAME, or {fix}.",
                kind="study-mismatch",
                key=key,
            )


def redact(url: str) -> str:
    """A storage URL without its password, for messages and tables."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def _storage(url: str, heartbeat: int | None, attempts: int = 5) -> Any:
    """The storage, retried a few times: machines joining a new study at once race to
    create Optuna's tables, and PostgreSQL refuses the second CREATE TABLE of a name."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return open_storage(url, heartbeat)
        except Exception as error:  # the driver's own error names the cause (refused, auth)
            last = error
            if attempt < attempts - 1:
                time.sleep(0.5 * (attempt + 1) + random.random())
    raise ConfigError(
        f"Cannot open the study storage {redact(url)} ({attempts} attempts): "
        f"{str(last).splitlines()[0]} Check the URL (sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DB), that the server is up and reachable, and "
        "that the `sweep` extra is installed (pip install 'dockyard[sweep]').",
        kind="storage-unreachable",
        key="storage",
    ) from None


def describe_space(space: Space, objective: str, direction: str, commit: str) -> dict:
    return {
        "space": space.describe(),
        "objective": objective,
        "direction": direction,
        "commit": commit,
    }
