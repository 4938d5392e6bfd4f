"""Searches: `dockyard sweep` against DVC's own queue, against one worker, and per trial.

Each measurement runs on a fresh copy of one prepared project (the bundled digits pipeline,
reproduced once, so its run-cache holds the light stages and no trial): no run-cache entry of
one measurement serves another. Three rows, each the median of --sweep-repeats runs:
- the same budget against DVC's way: a 16-point grid (4 learning rates x 4 widths) through
  `dvc exp run --queue` and `dvc queue start -j 2` (its workers given the same share of the
  cores as the sweep's: OMP_NUM_THREADS = cores / 2), against `dockyard sweep run` over the same
  choices with TPE and the median pruner, 8 trials on 2 workers; dockyard's wall time as a
  share of the grid's, and the best validation accuracy each found (the best epoch of each
  trial, read from the experiments' own curve files);
- finished trials per hour on 2 workers against 1 (same continuous space, no pruning);
- per-trial wall time of `dockyard sweep run` (one worker) against bare `dvc exp run -S ...`
  of the same settings one after another in a project copy: the sweep's wall time less its
  one-off set-up (the same command run again once the budget is met, its worker clone
  removed first: its checks, starting the worker, cloning and checking out), divided by the
  trials; the set-up and the trials' own `dvc exp run` seconds are recorded beside.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import Row, row
from tests.helpers import configure, make_project, project_env

DOCKYARD = [sys.executable, "-m", "dockyard.cli"]
LRS = ("0.0003", "0.001", "0.003", "0.01")
WIDTHS = ("[32]", "[64]", "[128,64]", "[256,128]")
EPOCHS = 12
GRID_TRIALS, SWEEP_TRIALS = len(LRS) * len(WIDTHS), 8
THROUGHPUT_TRIALS, OVERHEAD_TRIALS = 6, 4
ROWS = ("grid", "workers", "overhead")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sweep-repeats",
        type=int,
        default=3,
        help="repeats of each sweep measurement (case 12; median reported)",
    )
    parser.add_argument(
        "--sweep-rows",
        default=",".join(ROWS),
        help="which of case 12's rows to measure, comma-separated: grid (against DVC's "
        "queue), workers (2 against 1), overhead (per trial against bare `dvc exp run`)",
    )


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=project_env(), check=True, capture_output=True, text=True
    )


def _timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    _run(args, cwd)
    return time.perf_counter() - start


def _prepared(work: Path) -> Path:
    project = make_project(work / "sweep-base")
    configure(project, seeds="[0]", epochs=EPOCHS)
    _run(["git", "commit", "-qam", f"{EPOCHS} epochs"], project)
    _run(["dvc", "repro"], project)
    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-qm", "reproduced"], project)
    return project


def _copy(base: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target, symlinks=True)
    return target


def _best_val_accuracy(project: Path) -> float:
    """The best epoch's validation accuracy over every experiment of the project."""
    refs = _run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], project).stdout
    best = 0.0
    for ref in refs.split():
        if "/exec/" in ref or ref.endswith("stash"):
            continue
        shown = subprocess.run(
            ["git", "show", f"{ref}:eval/seeds/0/train/plots/metrics/val/accuracy.tsv"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        values = [float(line.split("\t")[1]) for line in shown.stdout.splitlines()[1:] if line]
        best = max([best, *values])
    return best


def _grid(project: Path) -> float:
    """Seconds from `dvc queue start -j 2` until no experiment is queued or running. The
    command itself stays with its workers (an idle one waits for more), so it is started in
    the background and stopped once the queue is done."""
    _run(
        [
            "dvc", "exp", "run", "--queue",
            "-S", f"train.lr={','.join(LRS)}",
            "-S", f"model.net.hidden={','.join(WIDTHS)}",
        ],
        project,
    )  # fmt: skip
    from dockyard.sweep.run import worker_env

    start = time.perf_counter()
    workers = subprocess.Popen(
        ["dvc", "queue", "start", "-j", "2"],
        cwd=project,
        env=worker_env(2, project_env()),  # the share of the cores `sweep run` gives each
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        time.sleep(1.0)
        polled = subprocess.run(["dvc", "queue", "status"], cwd=project, env=project_env(),
                                capture_output=True, text=True)  # fmt: skip
        if polled.returncode != 0:  # a worker starting up can make it fail for a moment
            print(f"case 12: `dvc queue status` failed, polling on: {polled.stderr.strip()}",
                  file=sys.stderr, flush=True)  # fmt: skip
            continue
        status = polled.stdout
        states = [line.split()[-1] for line in status.splitlines() if line.split()]
        tasks = [s for s in states if s in ("Queued", "Running", "Success", "Failed")]
        done = sum(s in ("Success", "Failed") for s in tasks)
        if len(tasks) >= GRID_TRIALS and done == len(tasks):
            break
    seconds = time.perf_counter() - start
    subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=project, env=project_env(),
                   capture_output=True)  # fmt: skip
    try:
        workers.wait(timeout=60)
    except subprocess.TimeoutExpired:
        workers.kill()
    if "Failed" in status:
        raise RuntimeError(f"the DVC queue had failed experiments:\n{status}")
    return seconds


def _sweep(project: Path, space: list[str], trials: int, workers: int, *extra: str) -> float:
    return _timed(
        [
            *DOCKYARD,
            "sweep",
            "run",
            *space,
            "--trials",
            str(trials),
            "--workers",
            str(workers),
            *extra,
        ],
        project,
    )


def _study_best(project: Path) -> dict[str, Any]:
    return json.loads(_run([*DOCKYARD, "sweep", "status", "--json"], project).stdout)


def run(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    base = _prepared(work)
    repeats = max(1, args.sweep_repeats)
    wanted = set(args.sweep_rows.split(","))
    unknown = wanted - set(ROWS)
    if unknown:
        raise SystemExit(f"--sweep-rows: unknown {sorted(unknown)}; choose from {list(ROWS)}")
    grid_s, sweep_s, grid_best, sweep_best = [], [], [], []
    one_s, two_s, bare_s, ours_s, setup_s, trial_s = [], [], [], [], [], []
    choices = [f"train.lr=choice({','.join(LRS)})", f"model.net.hidden=choice({','.join(WIDTHS)})"]
    continuous = ["train.lr=tag(log,interval(1e-4,3e-2))"]
    for repeat in range(repeats):
        said = [f"case 12, repeat {repeat + 1}:"]
        if "grid" in wanted:
            grid = _copy(base, work / "grid")
            grid_s.append(_grid(grid))
            grid_best.append(_best_val_accuracy(grid))
            ours = _copy(base, work / "ours")
            sweep_s.append(
                _sweep(
                    ours,
                    choices,
                    SWEEP_TRIALS,
                    2,
                    "--objective",
                    "val/accuracy",
                    "--seed",
                    str(repeat),
                )  # fmt: skip
            )
            sweep_best.append(_best_val_accuracy(ours))
            said.append(
                f"grid {grid_s[-1]:.0f} s (best {grid_best[-1]:.4f}), sweep {sweep_s[-1]:.0f} s "
                f"(best {sweep_best[-1]:.4f});"
            )
        if "workers" in wanted:
            one = _copy(base, work / "one")
            one_s.append(
                _sweep(
                    one, continuous, THROUGHPUT_TRIALS, 1, "--pruner", "none", "--seed", str(repeat)
                )  # fmt: skip
            )
            two = _copy(base, work / "two")
            two_s.append(
                _sweep(
                    two, continuous, THROUGHPUT_TRIALS, 2, "--pruner", "none", "--seed", str(repeat)
                )  # fmt: skip
            )
            said.append(f"1 worker {one_s[-1]:.0f} s, 2 workers {two_s[-1]:.0f} s;")
        if "overhead" in wanted:
            swept = _copy(base, work / "overhead")
            whole = _sweep(swept, continuous, OVERHEAD_TRIALS, 1, "--pruner", "none",
                           "--seed", str(100 + repeat))  # fmt: skip
            # the one-off set-up: the same command again once the budget is met, its worker
            # clone removed first (its checks, starting the worker, cloning and checking out)
            shutil.rmtree(swept / ".dvc/tmp/sweep/sweep/worker-0")
            setup = _sweep(swept, continuous, OVERHEAD_TRIALS, 1, "--pruner", "none")
            setup_s.append(setup)
            ours_s.append((whole - setup) / OVERHEAD_TRIALS)
            table = _study_best(swept)["trials_table"]
            trial_s.append(statistics.median(r["seconds"] for r in table))
            settings = [r["params"]["train.lr"] for r in table]
            bare = _copy(base, work / "bare")
            bare_s.append(
                sum(
                    _timed(["dvc", "exp", "run", "-S", f"train.lr={lr!r}"], bare) for lr in settings
                )
                / len(settings)
            )
            said.append(
                f"per trial {ours_s[-1]:.1f} s vs bare {bare_s[-1]:.1f} s (set-up "
                f"{setup_s[-1]:.1f} s; the trials' own `dvc exp run`, median {trial_s[-1]:.1f} s)"
            )
        print(" ".join(said), file=sys.stderr, flush=True)
    rows = []
    if "grid" in wanted:
        grid_med, sweep_med = statistics.median(grid_s), statistics.median(sweep_s)
        gap = statistics.median(g - s for g, s in zip(grid_best, sweep_best, strict=True))
        share = sweep_med / grid_med
        rows.append(
            row(
                f"sweep, TPE + median pruning, {SWEEP_TRIALS} trials on 2 workers: wall time",
                sweep_med,
                grid_med,
                "s",
                share,
                "<= 0.5x the grid's time, best val accuracy within 0.005",
                share <= 0.5 and gap <= 0.005,
                f"DVC's queue: the {GRID_TRIALS}-point grid of the same choices, "
                "`dvc queue start -j 2`",
                grid_best=grid_best,
                sweep_best=sweep_best,
                grid_seconds=grid_s,
                sweep_seconds=sweep_s,
                accuracy_gap_median=gap,
                repeats=repeats,
            )
        )
    if "workers" in wanted:
        one_rate = THROUGHPUT_TRIALS * 3600 / statistics.median(one_s)
        two_rate = THROUGHPUT_TRIALS * 3600 / statistics.median(two_s)
        rows.append(
            row(
                f"finished trials per hour, 2 workers ({THROUGHPUT_TRIALS} trials)",
                two_rate,
                one_rate,
                "trials/h",
                two_rate / one_rate,
                ">= 1.6x",
                two_rate / one_rate >= 1.6,
                "the same sweep on 1 worker",
                one_seconds=one_s,
                two_seconds=two_s,
                repeats=repeats,
            )
        )
    if "overhead" in wanted:
        per_trial, bare_trial = statistics.median(ours_s), statistics.median(bare_s)
        rows.append(
            row(
                f"per-trial wall time of `dockyard sweep run` ({OVERHEAD_TRIALS} trials, 1 worker)",
                per_trial,
                bare_trial,
                "s",
                per_trial / bare_trial,
                "<= 1.10x",
                per_trial / bare_trial <= 1.10,
                "bare `dvc exp run -S train.lr=...` of the same settings, one after another",
                sweep_per_trial=ours_s,
                bare_per_trial=bare_s,
                setup_seconds=setup_s,
                trial_dvc_exp_run_median=trial_s,
                repeats=repeats,
            )
        )
    return rows
