"""One sweep worker: a clone of the repository of its own, running trials one at a time.

Each trial is `dvc exp run -n NAME -S KEY=VALUE ...` in the worker's clone, never in the
user's workspace and never two at once in one folder (DVC's experiments race when they
share a workspace). The clone shares the project's DVC cache, so the light stages are
restored from DVC's run-cache and every output lands where `dvc exp show`, `dvc exp apply`
and `dvc exp push` in the project look for it; the finished experiment's git ref is then
fetched into the project. With `--push` it also goes to the team's git and DVC remotes
(`dvc exp push`), which is how trials run on other machines reach every clone.

A worker runs trials through Optuna's own loop (`study.optimize`, one trial at a time), so
Optuna's heartbeat marks the trial of a worker killed mid-run as failed and retries it,
whichever machine notices first.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dockyard.metrics import CURVE_HIGHER_IS_BETTER, curve_column, curve_file
from dockyard.models.trial import TRIAL_ENV, quiet_optuna
from dockyard.paths import METRICS_FILE, train_log_dir

MAX_FAILURES_IN_A_ROW = 3
HOST_ENV = "DOCKYARD_SWEEP_HOST"  # the name `status` shows for this machine (default: hostname)
POLL_SECONDS = 2.0


class TrialFailed(Exception):
    """A trial's `dvc exp run` failed (not pruned): Optuna marks it FAIL and goes on."""


def _run(command: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, **kwargs)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the worker dies (Linux), so a killed worker
    leaves no `dvc exp run` behind; the stage under it stops with its dvc (runtime.py)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def prepare_workspace(spec: dict[str, Any], index: int) -> Path:
    """The worker's clone at the study's commit, sharing the project's DVC cache. Ignored
    files (earlier trials' outputs) are kept: DVC checks them against dvc.lock anyway."""
    root = Path(spec["root"])
    folder = root / spec["sweep_dir"] / spec["study"] / f"worker-{index}"
    fresh = not (folder / ".git").is_dir()
    if fresh:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "clone", "-q", "--no-checkout", str(root), str(folder)], root, check=True)
    commit = spec["commit"]
    moved = _run(["git", "rev-parse", "HEAD"], folder).stdout.strip() != commit
    if _run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], folder).returncode != 0:
        _run(["git", "fetch", "-q", "origin"], folder, check=True)
    _run(["git", "reset", "-q", "--hard", commit], folder, check=True)
    _run(["git", "checkout", "-q", "--detach", commit], folder, check=True)
    if spec.get("team_remote"):
        _run(["git", "remote", "remove", "team"], folder)
        _run(["git", "remote", "add", "team", spec["team_remote"]], folder, check=True)
    _write_local_config(root, folder, spec["cache_dir"])
    # the data the project tracks with DVC (`dockyard data add`) and the outputs its lock
    # names, linked from the shared cache: a fresh clone has only their .dvc pointers (a
    # clone kept from an earlier run at this commit has them already)
    if fresh or moved:
        _run([sys.executable, "-m", "dvc", "checkout", "--quiet", "--allow-missing"], folder)
    return folder


def _write_local_config(root: Path, folder: Path, cache_dir: str) -> None:
    """The project's .dvc/config.local (remote credentials), with the shared cache."""
    from configobj import ConfigObj

    config = ConfigObj(str(root / ".dvc" / "config.local"))
    config.filename = str(folder / ".dvc" / "config.local")
    config.setdefault("cache", {})["dir"] = cache_dir
    config.write()


def seed_curves(workspace: Path, objective: str) -> list[list[tuple[int, float]]]:
    """The objective's validation curve of each of the trial's seeds, in params' order."""
    import yaml

    params = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8"))
    return [curve(workspace, int(seed), objective) for seed in params["seeds"]]


def objective_value(curves: list[list[tuple[int, float]]], objective: str) -> float:
    """The trial's objective: the best value each seed's training reached on the validation
    split (its per-epoch curve), averaged over the trial's seeds."""
    pick = max if CURVE_HIGHER_IS_BETTER[objective] else min
    best = [pick(value for _, value in points) for points in curves]
    return sum(best) / len(best)


def curve(workspace: Path, seed: int, objective: str) -> list[tuple[int, float]]:
    """(epoch, value) of the objective's validation curve for one seed, epochs from 1."""
    path = workspace / curve_file(train_log_dir(seed), objective)
    points = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        with contextlib.suppress(ValueError, IndexError):
            value = float(fields[1])
            if math.isfinite(value):
                points.append((int(float(fields[0])) + 1, value))
    if not points:
        raise TrialFailed(
            f"the trial logged no {curve_column(objective)} in {path.relative_to(workspace)}"
        )
    return points


def test_metrics(workspace: Path) -> dict[str, float]:
    data = json.loads((workspace / METRICS_FILE).read_text(encoding="utf-8"))
    return {k: v["mean"] for k, v in data.items() if isinstance(v, dict) and "mean" in v}


def experiment_ref(workspace: Path, name: str) -> str | None:
    refs = _run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], workspace)
    found = [r for r in refs.stdout.split() if r.endswith(f"/{name}")]
    return found[0] if found else None


def _share(spec: dict[str, Any], workspace: Path, name: str, log: Path) -> str:
    """Fetch the experiment's git ref into the project (its outputs are already in the
    shared cache) and, with --push, push it to the team's remotes. Returns the ref."""
    import fcntl

    ref = experiment_ref(workspace, name)
    if ref is None:
        raise TrialFailed(f"DVC kept no experiment named {name} (see {log})")
    root = Path(spec["root"])
    lock_path = root / spec["sweep_dir"] / "fetch.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # git's ref locks refuse concurrent fetches
        _run(["git", "fetch", "-q", str(workspace), f"+{ref}:{ref}"], root, check=True)
    if spec.get("push"):
        pushed = _run([sys.executable, "-m", "dvc", "exp", "push", "team", name], workspace)
        with open(log, "a", encoding="utf-8") as out:
            out.write(pushed.stdout + pushed.stderr)
        if pushed.returncode != 0:
            raise TrialFailed(f"`dvc exp push team {name}` failed (see {log})")
    return ref


def run_trial(spec: dict[str, Any], workspace: Path, trial: Any, index: int) -> float:
    """One trial as one DVC experiment; returns its objective (Optuna's objective function)."""
    import optuna

    params = {}
    for dimension in spec["dimensions"]:
        params[dimension["key"]] = _suggest(trial, dimension)
    overrides = list(spec["fixed"]) + [f"{k}={_text(v)}" for k, v in params.items()]
    name = f"{spec['study']}-{spec['token']}-{trial.number}"
    host = os.environ.get(HOST_ENV) or socket.gethostname()
    trial.set_user_attr("host", host)
    trial.set_user_attr("worker", f"{host}:{os.getpid()}")
    trial.set_user_attr("overrides", overrides)
    _record_current(spec, index, trial)
    log = (
        Path(spec["root"])
        / spec["sweep_dir"]
        / spec["study"]
        / "logs"
        / f"trial-{trial.number}.log"
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if spec["pruner"] != "none":  # the train stage reports each epoch and may be pruned
        env[TRIAL_ENV] = json.dumps(
            {
                "storage": spec["storage"],
                "study": spec["study"],
                "trial_id": trial._trial_id,
                "objective": spec["objective"],
                "pruner": spec["pruner"],
                "budget": spec["trials"],
            }
        )
    else:
        env.pop(TRIAL_ENV, None)
    command = [sys.executable, "-m", "dvc", "exp", "run", "-n", name]
    for override in overrides:
        command += ["-S", override]
    _say(spec, f"trial {trial.number} started on {host} (worker {index}): {' '.join(overrides)}")
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        result = subprocess.run(
            command,
            cwd=workspace,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
    seconds = time.monotonic() - started
    trial.set_user_attr("seconds", round(seconds, 2))
    if result.returncode != 0:
        pruned = _pruned_epoch(trial)
        if pruned is not None:
            _say(spec, f"trial {trial.number} pruned after epoch {pruned} ({seconds:.1f} s)")
            raise optuna.TrialPruned(f"pruned after epoch {pruned}")
        reason = _last_error(log)
        trial.set_user_attr("error", reason)
        _say(spec, f"trial {trial.number} failed ({seconds:.1f} s): {reason} (log: {log})")
        raise TrialFailed(reason)
    curves = seed_curves(workspace, spec["objective"])
    value = objective_value(curves, spec["objective"])
    if spec["pruner"] == "none":
        # the train stage did not join the study (no Optuna import, no storage writes per
        # epoch): the first seed's curve is reported now, as the stage's reporter would have
        for epoch, reported in curves[0]:
            trial.report(reported, epoch)
    trial.set_user_attr("test", test_metrics(workspace))
    trial.set_user_attr("experiment", name)
    trial.set_user_attr("ref", _share(spec, workspace, name, log))
    _say(
        spec,
        f"trial {trial.number} finished: {spec['objective']} {value:.4f} in {seconds:.1f} s "
        f"(experiment {name})",
    )
    return value


def _pruned_epoch(trial: Any) -> int | None:
    """What the train stage's reporter recorded on this trial (it ran in another process)."""
    frozen = trial.study._storage.get_trial(trial._trial_id)
    epoch = frozen.user_attrs.get("pruned_epoch")
    return None if epoch is None else int(epoch)


def _suggest(trial: Any, d: dict[str, Any]) -> Any:
    key = d["key"]
    if d["kind"] == "choice":
        return trial.suggest_categorical(key, list(d["choices"]))
    if d["kind"] == "int":
        return trial.suggest_int(
            key, int(d["low"]), int(d["high"]), step=int(d["step"] or 1), log=d["log"]
        )
    return trial.suggest_float(key, d["low"], d["high"], step=d["step"], log=d["log"])


def _text(value: Any) -> str:
    from dockyard.sweep.space import format_value

    return value if isinstance(value, str) else format_value(value)


def _last_error(log: Path) -> str:
    lines = [
        line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    errors = [line for line in lines if line.startswith("ERROR") or "dockyard:" in line]
    chosen = errors[-1] if errors else (lines[-1] if lines else "no output")
    return chosen[:300]


def _record_current(spec: dict[str, Any], index: int, trial: Any) -> None:
    """Which trial this worker holds, for `sweep run` to fail it at once if we are killed."""
    path = Path(spec["root"]) / spec["sweep_dir"] / spec["study"] / f"worker-{index}.json"
    path.write_text(json.dumps({"trial_id": trial._trial_id, "pid": os.getpid()}))


def _say(spec: dict[str, Any], line: str) -> None:
    print(f"[{spec['study']}] {line}", flush=True)


def budget_left(study: Any, trials: int) -> tuple[bool, bool]:
    """(run another trial now, wait for others): the budget counts finished trials
    (complete or pruned); running ones may still fail and be retried, so a worker that
    finds the rest of the budget running elsewhere waits for them instead of leaving."""
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    fail_stale_trials(study)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    done = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
    running = states.count(TrialState.RUNNING)
    waiting = states.count(TrialState.WAITING)
    if done >= trials:
        return False, False
    if waiting or done + running < trials:
        return True, False
    return False, running > 0


def work(spec: dict[str, Any], index: int) -> int:
    """Run trials until the study's budget is reached; exit 0, or 1 after repeated failures."""
    import optuna

    from dockyard.models.trial import build_pruner
    from dockyard.sweep.study import open_study

    quiet_optuna()
    study = open_study(spec["study"], spec["storage"], heartbeat=spec["heartbeat"])
    study.pruner = build_pruner(spec["pruner"], spec["trials"])
    seed = spec.get("seed")  # each worker draws its own sequence
    study.sampler = optuna.samplers.TPESampler(
        n_startup_trials=spec["startup_trials"], seed=None if seed is None else seed + index
    )
    workspace = prepare_workspace(spec, index)
    failures = 0
    outcome: list[str] = []

    def objective(trial: Any) -> float:
        try:
            return run_trial(spec, workspace, trial, index)
        except TrialFailed:
            outcome[:] = ["failed"]
            raise

    while True:
        run_now, wait = budget_left(study, spec["trials"])
        if wait:
            time.sleep(POLL_SECONDS)
            continue
        if not run_now:
            return 0
        outcome[:] = []
        study.optimize(objective, n_trials=1, catch=(TrialFailed,))
        failures = failures + 1 if outcome == ["failed"] else 0
        if failures >= MAX_FAILURES_IN_A_ROW:
            _say(spec, f"worker {index} stops: {failures} trials in a row failed (see the logs)")
            return 1


def claim_slot(spec: dict[str, Any]) -> tuple[int, Any]:
    """The first worker folder no live worker on this machine holds (several `sweep run`s
    may serve one study here); the lock is held while this process lives."""
    import fcntl

    folder = Path(spec["root"]) / spec["sweep_dir"] / spec["study"]
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    while True:
        handle = open(folder / f"worker-{index}.lock", "w")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return index, handle
        except BlockingIOError:
            handle.close()
            index += 1


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    from dockyard.errors import DockyardError, fail

    index, _lock = claim_slot(spec)
    try:
        raise SystemExit(work(spec, index))
    except DockyardError as error:
        fail(error)


if __name__ == "__main__":
    main()
