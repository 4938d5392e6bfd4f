"""`dockyard sweep run`: check the search where it is given, then start K workers.

Everything a trial could trip on is checked before the first one starts: the grammar, every
choice and both ends of every range composed against the typed config, the objective, the
pruner, the storage and (with --push) the remotes. Workers are processes of their own, each
with its own clone (sweep/worker.py); this process waits for them, and fails at once the
trial of a worker that dies, so another worker retries it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dockyard.errors import ConfigError, DockyardError
from dockyard.sweep.space import Space, space_from_arguments
from dockyard.sweep.study import (
    DEFAULT_STUDY,
    SWEEP_DIR,
    check_joinable,
    check_name,
    check_pruner,
    default_storage,
    describe_space,
    objective_of,
    open_study,
    redact,
)

DEFAULT_TRIALS = 20
DEFAULT_HEARTBEAT = 30
# results outside the study's commit that a trial recomputes anyway: committed or not,
# they do not change what a trial runs
_RECOMPUTED = ("dvc.lock", "params.yaml", "eval/", "data/validation.json")


def check_space(space: Space, root: Path) -> str:
    """Compose every choice and both ends of every range with the fixed overrides, so a
    value the config refuses is refused now, not in trial 7. Returns the task."""
    from dockyard.config.compose import compose, validate

    def check(overrides: list[str], where: str):
        try:
            return validate(compose(overrides, root), source="the search space")
        except ConfigError as error:
            raise _in_space(error, where) from None

    base = list(space.fixed)
    cfg = check(base, "the fixed overrides " + " ".join(base))
    for dimension in space.dimensions:
        for value in dimension.extremes():
            override = f"{dimension.key}={value}"
            check([*base, override], override)
    return str(cfg.data.task)


def _in_space(error: ConfigError, where: str) -> ConfigError:
    return ConfigError(
        f"The search space can draw {where}, which the config refuses (no trial was "
        f"started): {error}",
        kind=error.kind,
        key=error.key,
        column=error.column,
        path=error.path,
    )


def _uncommitted(root: Path) -> list[str]:
    from dockyard.registry.git import git

    lines = git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    paths = [line[3:].strip() for line in lines if line.strip()]
    return [p for p in paths if not any(p == r or p.startswith(r) for r in _RECOMPUTED)]


def _team_remote(root: Path) -> str:
    from dockyard.registry.git import git

    url = git(root, "remote", "get-url", "origin", check=False).stdout.strip()
    if not url:
        raise ConfigError(
            "--push shares each trial through the team's git remote, but this repository "
            "has no `origin`. Add it (git remote add origin URL), or drop --push to keep the "
            "trials on this machine.",
            kind="no-git-remote",
            key="push",
        )
    return url


def _dvc_facts(root: Path, push: bool) -> str:
    """The project's DVC cache folder (shared by every worker clone); with --push, check a
    default DVC remote exists."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        cache_dir = repo.cache.local_cache_dir  # .dvc/cache (files/md5 and runs/ inside)
        remote = repo.config.get("core", {}).get("remote")
    if push and not remote:
        raise ConfigError(
            "--push sends each trial's outputs to the default DVC remote, and this project "
            "has none. Add one (dvc remote add -d NAME URL) or drop --push.",
            kind="no-dvc-remote",
            key="push",
        )
    return str(cache_dir)


def start(
    root: Path,
    overrides: list[str],
    *,
    trials: int | None,
    workers: int | None,
    study_name: str | None,
    storage: str | None,
    push: bool,
    objective: str | None,
    pruner: str | None,
    heartbeat: int,
    seed: int | None,
) -> int:
    from dockyard.registry.git import head, repo_root

    root = repo_root(root)
    commit = head(root)
    if commit is None:
        raise DockyardError(
            "Trials run on a commit, and this repository has none yet: commit the project "
            "first (git add -A && git commit).",
            kind="no-commit",
        )
    changed = _uncommitted(root)
    if changed:
        raise DockyardError(
            f"Uncommitted changes in {', '.join(changed[:8])}: every trial runs on the last "
            "commit (as on another machine), so these would not be in it. Commit or stash "
            "them, then run `dockyard sweep run` again.",
            kind="uncommitted-changes",
        )
    space = space_from_arguments(overrides, root)
    settings = space.settings
    study_name = check_name(study_name or DEFAULT_STUDY)
    task = check_space(space, root)
    objective, direction = objective_of(objective or settings.get("objective"), task)
    pruner = check_pruner(pruner or settings.get("pruner") or "median")
    workers = _positive(_given(workers, settings.get("workers"), 1), "workers")
    asked = _given(trials, settings.get("trials"))
    if asked is not None:  # refused before a study is opened or created
        _positive(asked, "trials")
    storage = storage or default_storage(root)
    wanted = describe_space(space, objective, direction, commit)
    study = open_study(study_name, storage, create={**wanted, "pruner": pruner})
    check_joinable(study, wanted)
    trials = _positive(
        _given(trials, settings.get("trials"), study.user_attrs.get("trials"), DEFAULT_TRIALS),
        "trials",
    )
    study.set_user_attr("trials", trials)
    spec = {
        "root": str(root),
        "sweep_dir": SWEEP_DIR,
        "study": study_name,
        "storage": storage,
        "token": study.user_attrs["token"],
        "commit": commit,
        "dimensions": [asdict(d) for d in space.dimensions],
        "fixed": list(space.fixed),
        "objective": objective,
        "pruner": pruner,
        "trials": trials,
        "workers": workers,
        "heartbeat": heartbeat,
        "startup_trials": max(4, 2 * len(space.dimensions)),
        "seed": seed,
        "push": push,
        "team_remote": _team_remote(root) if push else None,
        "cache_dir": _dvc_facts(root, push),
    }
    print(
        f"Study {study_name!r} in {redact(storage)}: {direction} {objective} over "
        f"{', '.join(d.key for d in space.dimensions)}; {trials} trials, {workers} "
        f"worker(s), {pruner} pruner, on commit {commit[:12]}.",
        flush=True,
    )
    code = _run_workers(root, spec, workers, study)
    from dockyard.sweep.status import print_status

    print_status(study, limit=5)
    print(
        "Next: `dockyard sweep status` for every trial; `dockyard sweep best --branch NAME` "
        "turns the best into a branch for a pull request."
    )
    return code


def _given(*values: Any) -> Any:
    """The first value that was given: an explicit 0 is a value (refused as such), not
    a missing one."""
    return next((v for v in values if v is not None), None)


def _positive(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"--{key} must be a whole number of at least 1, found {value!r}.",
            kind="wrong-type",
            key=key,
        )
    return value


def _run_workers(root: Path, spec: dict[str, Any], count: int, study: Any) -> int:
    folder = root / SWEEP_DIR / spec["study"]
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / f"spec-{os.getpid()}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = worker_env(count)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "dockyard.sweep.worker", str(spec_path)],
            start_new_session=True,  # a worker and its dvc and stages die together
            env=env,
        )
        for _ in range(count)
    ]
    code = 0
    try:
        for process in processes:
            process.wait()
            if process.returncode < 0:
                print(
                    f"[{spec['study']}] a worker was killed (signal {-process.returncode}); "
                    "its trial is marked failed and will be retried.",
                    flush=True,
                )
                fail_orphaned_trials(folder, study)
            elif process.returncode != 0:
                code = 1
    except KeyboardInterrupt:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait()
        fail_orphaned_trials(folder, study)
        print(f"[{spec['study']}] stopped; `dockyard sweep run` with the same study continues it.")
        code = 130
    finally:
        spec_path.unlink(missing_ok=True)
    return code


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_env(count: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The workers' environment: with several workers on this machine, each trial's torch
    gets its share of the CPUs (cores // workers threads, at least one), as K trials at once
    each spinning a thread per core oversubscribe the machine and all run slower. A thread
    count the user set (OMP_NUM_THREADS or MKL_NUM_THREADS) is kept as it is."""
    env = dict(os.environ if base is None else base)
    if count > 1 and not any(name in env for name in THREAD_VARIABLES):
        share = str(max(1, cpu_count() // count))
        for name in THREAD_VARIABLES:
            env[name] = share
    return env


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def fail_orphaned_trials(folder: Path, study: Any) -> None:
    """Mark failed (and queue a retry of) each running trial whose worker here is gone."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    for record in folder.glob("worker-*.json"):
        held = json.loads(record.read_text(encoding="utf-8"))
        if _alive(int(held["pid"])):
            continue
        frozen = study._storage.get_trial(int(held["trial_id"]))
        if frozen.state != TrialState.RUNNING:
            continue
        try:
            study._storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed = study._storage.get_trial(frozen._trial_id)
        RetryHeartbeatStaleTrialCallback(max_retry=2)(study, failed)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own dead child, not yet reaped) counts as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
