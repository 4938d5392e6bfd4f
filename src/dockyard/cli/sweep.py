"""`dockyard sweep`: run, status, best, dashboard (thin: parse, delegate, print).
`dockyard.cli` adds them with `add_commands`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from dockyard.cli.common import command

STORAGE_ENV = "DOCKYARD_SWEEP_STORAGE"

EXAMPLES = """\
examples:
  dockyard sweep run 'train.lr=tag(log,interval(1e-4,1e-1))' \\
      'model.net.hidden=choice([64],[128,64])' train.epochs=20 --trials 16 --workers 2
  dockyard sweep run sweep=lr_width            the space in conf/sweep/lr_width.yaml
  dockyard sweep status                        every trial, best first
  dockyard sweep best --branch lr-search       the best trial as a commit on a branch
  dockyard sweep dashboard                     optuna-dashboard on http://127.0.0.1:8080
many machines (docs/sweeps.md):
  export DOCKYARD_SWEEP_STORAGE=postgresql://USER:PASSWORD@HOST:5432/DB
  dockyard sweep run ... --study lr-search --push   on each machine, from a clone
  dvc exp pull origin; dockyard sweep status --study lr-search
"""


def _storage(args: argparse.Namespace) -> str:
    from dockyard.sweep.study import default_storage

    return args.storage or os.environ.get(STORAGE_ENV) or default_storage(_root(args))


def _root(args: argparse.Namespace) -> Path:
    from dockyard.registry.git import repo_root

    return repo_root(args.root)


def _study(args: argparse.Namespace):
    from dockyard.sweep.study import DEFAULT_STUDY, check_name, open_study

    return open_study(check_name(args.study or DEFAULT_STUDY), _storage(args))


def _run(args: argparse.Namespace) -> int:
    from dockyard.sweep.run import start

    return start(
        Path(args.root),
        args.overrides,
        trials=args.trials,
        workers=args.workers,
        study_name=args.study,
        storage=args.storage or os.environ.get(STORAGE_ENV),
        push=args.push,
        objective=args.objective,
        pruner=args.pruner,
        heartbeat=args.heartbeat,
        seed=args.seed,
    )


def _status(args: argparse.Namespace) -> int:
    from dockyard.sweep.status import print_status, trial_rows

    study = _study(args)
    if args.json:
        attrs = study.user_attrs
        print(json.dumps({"study": study.study_name, **attrs, "trials_table": trial_rows(study)}))
        return 0
    print_status(study)
    return 0


def _best(args: argparse.Namespace) -> int:
    from dockyard.sweep.best import best_to_branch

    study = _study(args)
    branch = best_to_branch(_root(args), study, args.branch, reproduce=not args.no_repro)
    held = "settings in conf/" + ("" if args.no_repro else " and its reproduced outputs")
    print(
        f"Branch {branch!r} holds the best trial's {held}. Push it and open a pull "
        f"request: git push -u origin {branch}"
    )
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from dockyard.sweep.study import redact

    storage = _storage(args)
    _study(args)  # a clear error for a missing study or storage before the server starts
    from optuna_dashboard import run_server

    print(
        f"optuna-dashboard for {redact(storage)} on http://{args.host}:{args.port}/ "
        "(Ctrl-C stops it)",
        flush=True,
    )
    run_server(storage, host=args.host, port=args.port)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", help="the study's name (default: sweep)")
    parser.add_argument(
        "--storage",
        help=f"the study's database URL (default: ${STORAGE_ENV}, else SQLite in "
        ".dvc/tmp/sweep/studies.db); postgresql://USER:PASSWORD@HOST:PORT/DB for many machines",
    )


def add_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    sweep = command(
        commands,
        "sweep",
        None,
        "hyperparameter search: an Optuna study whose trials are DVC experiments",
        description="Search hyperparameters with an Optuna study (TPE sampling, pruning of "
        "bad trials) whose every trial is a DVC experiment run in a workspace of its own. "
        "Any machine that reaches the study's database joins the search; --push shares each "
        "trial through the team's git and DVC remotes.",
        epilog=EXAMPLES,
    )
    actions = sweep.add_subparsers(dest="sweep_command", metavar="ACTION", required=True)

    run = command(
        actions,
        "run",
        _run,
        "run trials until the study's budget is reached",
        parents=[root],
        description="Run trials of the search until the study holds --trials finished "
        "(complete or pruned) trials. The space is written in Hydra's sweep grammar: "
        "choice(...), interval(...), range(...), tag(log, ...); plain KEY=VALUE overrides "
        "apply to every trial; sweep=NAME reads conf/sweep/NAME.yaml. Every value the space "
        "can draw is checked against the config before the first trial. Trials run on the "
        "last commit, each as `dvc exp run` in a clone of its worker's own, sharing the "
        "project's DVC cache; `dvc exp show` lists them.",
        epilog=EXAMPLES,
    )
    run.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="swept or fixed overrides")
    run.add_argument(
        "--trials",
        type=int,
        help="the study's budget of finished trials "
        "(default: the space file's, the study's, else 20)",
    )
    run.add_argument("--workers", type=int, help="trials at once on this machine (default: 1)")
    _common(run)
    run.add_argument(
        "--push",
        action="store_true",
        help="push each finished trial "
        "(`dvc exp push origin`: git ref and outputs) so every clone can pull it",
    )
    run.add_argument(
        "--objective",
        help="the validation metric to optimize (default: val/loss; "
        "val/accuracy or val/mae by choice; a test metric is refused)",
    )
    run.add_argument("--pruner", help="median (default), halving, hyperband or none")
    run.add_argument(
        "--heartbeat",
        type=int,
        default=30,
        help="seconds between a running "
        "trial's heartbeats; a trial silent for twice this is failed and retried "
        "(default: 30)",
    )
    run.add_argument("--seed", type=int, help="seed of the sampler (default: random)")

    status = command(
        actions,
        "status",
        _status,
        "every trial: state, params, objective, "
        "test metric, duration, host, experiment; best first",
        parents=[root],
    )
    _common(status)
    status.add_argument("--json", action="store_true", help="one JSON object instead of a table")

    best = command(
        actions,
        "best",
        _best,
        "commit the best trial's settings (in conf/) and "
        "outputs on a new branch, ready for a pull request",
        parents=[root],
    )
    best.add_argument("--branch", required=True, help="the new branch's name")
    _common(best)
    best.add_argument(
        "--no-repro",
        action="store_true",
        help="write and commit the settings without reproducing the outputs",
    )

    dashboard = command(
        actions,
        "dashboard",
        _dashboard,
        "serve optuna-dashboard for the study's storage",
        parents=[root],
    )
    _common(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
