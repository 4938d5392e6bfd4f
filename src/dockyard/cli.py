"""The `dockyard` command. Thin: parses arguments and delegates to the modules."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError, fail

EPILOG = """\
examples:
  dockyard compose                         write params.yaml from conf/
  dockyard compose model=cnn train.lr=0.01 the same, with Hydra overrides
  dockyard compose --check                 exit 1 if params.yaml is stale (CI, pre-commit)
  dockyard data add data/x.csv --target y  register your own table (then data=x)
then run the pipeline with `dvc repro`, or compose and run in one step with
`dvc exp run -S model=cnn -S train.lr=0.01`.
"""


def _compose(args: argparse.Namespace) -> int:
    from dockyard.config import (
        PARAMS_FILE,
        compose_params,
        dataset_notice,
        default_option,
        write_params,
    )

    root = Path(args.root)
    params_path = root / PARAMS_FILE
    text = compose_params(args.overrides, root)
    _check_policies(text)
    if args.check:
        current = params_path.read_text(encoding="utf-8") if params_path.is_file() else ""
        if current == text:
            print(f"{params_path} is up to date with conf/.")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{params_path} (committed)",
            tofile="fresh composition of conf/",
        )
        sys.stdout.writelines(diff)
        overrides = " ".join(args.overrides)
        print(
            f"\n{params_path} is stale: it differs from what conf/ composes to (above). "
            f"Run `dockyard compose{' ' + overrides if overrides else ''}` and commit the result.",
            file=sys.stderr,
        )
        return 1
    write_params(text, params_path)
    summary = ", ".join(args.overrides) if args.overrides else "no overrides"
    print(f"Wrote {params_path} from conf/ ({summary}). Next: dvc repro")
    dataset = next(
        (o.split("=", 1)[1] for o in args.overrides if o.lstrip("+~").startswith("data=")),
        None,
    )
    notice = None if dataset else dataset_notice(default_option("data", root) or "", root)
    if notice:
        print(notice, file=sys.stderr)
    return 0


def _check_policies(params_text: str) -> None:
    """The sections only the registry and the monitor read, checked where they are given:
    a policy compose accepts never fails `dockyard promote` or `dockyard monitor` later."""
    import yaml

    from dockyard.monitor.policy import check_monitor_policy, check_window
    from dockyard.registry.policy import check_policy

    params = yaml.safe_load(params_text) or {}
    check_policy(params.get("promotion") or {}, source="conf/promotion (params.yaml: promotion)")
    check_monitor_policy(params.get("monitor") or {}, source="conf/monitor (params.yaml: monitor)")
    check_window(params.get("data") or {}, source="conf/data (params.yaml: data)")


def _use(args: argparse.Namespace) -> int:
    from dockyard.config import PARAMS_FILE, compose_params, set_default, write_params

    root = Path(args.root)
    changes = []
    for choice in args.choices:
        group, sep, option = choice.partition("=")
        if not sep or not group or not option:
            raise DockyardError(
                f"Expected GROUP=OPTION (e.g. data=customers), found {choice!r}. The groups "
                "are the folders under conf/: data, model, trainer, logger."
            )
        previous = set_default(group, option, root)
        changes.append(f"{group}: {previous} -> {option}")
    text = compose_params([], root)
    _check_policies(text)
    write_params(text, root / PARAMS_FILE)
    print(f"conf/config.yaml defaults: {'; '.join(changes)}. Rewrote params.yaml.")
    print("Commit both (git add conf/config.yaml params.yaml); then `dvc repro`.")
    return 0


def _data_add(args: argparse.Namespace) -> int:
    from dockyard.data.register import add_dataset

    result = add_dataset(
        args.path,
        args.target,
        name=args.name,
        task=args.task,
        root=args.root,
        force=args.force,
        time=args.time,
    )
    if args.default:
        from dockyard.config import PARAMS_FILE, compose_params, set_default, write_params

        set_default("data", result.name, args.root)
        write_params(compose_params([], args.root), Path(args.root) / PARAMS_FILE)
    config = result.config_path.relative_to(Path(args.root).resolve()).as_posix()
    print(
        f"Registered {result.data_path}: {result.rows:,} rows x {result.columns} columns, "
        f"tracked by DVC ({result.data_path}.dvc)."
    )
    print(f"Task: {result.task} ({result.task_reason}).")
    print(f"Wrote {config}: source, target and an inferred schema. Review it before training.")
    for note in result.notes:
        print(f"Note: {note}.")
    ignore = (Path(result.data_path).parent / ".gitignore").as_posix()
    if args.default:
        print(f"Made data={result.name} the default in conf/config.yaml; rewrote params.yaml.")
        print("Next:")
        print(f"  git add {config} {result.data_path}.dvc {ignore} conf/config.yaml params.yaml")
        print(f"  git commit -m 'Train on {result.name}'")
        print("  dvc repro                          (every dvc exp run -S ... keeps this data)")
        return 0
    print("Next:")
    print(f"  git add {config} {result.data_path}.dvc {ignore}")
    print(f"  git commit -m 'Add {result.name} data'")
    print(f"  dockyard use data={result.name}         (make it the default, then commit)")
    print(f"  or try it once: dvc exp run -S data={result.name}")
    return 0


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _report(args: argparse.Namespace) -> int:
    import json

    from dockyard.report import build_report

    markdown, data = build_report(
        args.root,
        args.base,
        args.head,
        check_reproduced=args.check_reproduced,
        run_seconds=args.run_seconds,
        plots_url=args.plots_url,
        alpha=args.alpha,
        rtol=args.rtol,
    )
    text = json.dumps(data, indent=2, default=str) + "\n" if args.json else markdown
    if args.output:
        from dockyard.io import write_text

        write_text(text, args.output)
    else:
        sys.stdout.write(text)
    return 0


def _comment(args: argparse.Namespace) -> int:
    from dockyard.errors import DockyardError
    from dockyard.github import client_from_env, upsert_comment

    if not Path(args.body_file).is_file():
        raise DockyardError(
            f"--body-file {args.body_file} does not exist: write it first with "
            "`dockyard report ... --output FILE`."
        )
    body = Path(args.body_file).read_text(encoding="utf-8")
    action, url = upsert_comment(client_from_env(), args.repo, args.pr, body)
    print(f"{action} the dockyard comment on {args.repo}#{args.pr}: {url}")
    return 0


def _ci_pull(args: argparse.Namespace) -> int:
    from dockyard.ci import pull_if_configured

    print(pull_if_configured(args.root))
    return 0


def _ci_run(args: argparse.Namespace) -> int:
    from dockyard.ci import reproduce

    return reproduce(args.overrides, args.root)


def _command(
    commands: argparse._SubParsersAction, name: str, handler: Any, help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its description and examples as written."""
    parser = commands.add_parser(
        name, help=help, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )
    parser.set_defaults(handler=handler)
    return parser


def _project_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    compose = _command(
        commands,
        "compose",
        _compose,
        "compose conf/ (Hydra) into params.yaml, the file every stage reads",
        parents=[root],
        description="Compose the Hydra config groups under conf/ into params.yaml, validated "
        "against dockyard's structured config. params.yaml is left untouched when anything "
        "is wrong. DVC composes the same way for `dvc exp run -S KEY=VALUE`.",
        epilog=EPILOG,
    )
    compose.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra overrides: group=option (model=cnn) or key=value (train.lr=0.01)",
    )
    compose.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 (showing a diff) if params.yaml differs from a fresh "
        "composition with the given overrides",
    )
    use = _command(
        commands,
        "use",
        _use,
        "make an option the default of its config group (e.g. your own data)",
        parents=[root],
        description="Set the defaults list of conf/config.yaml, so every composition starts "
        "from the option you name: `dockyard compose`, `dvc repro` after it, and every "
        "`dvc exp run -S ...` (DVC composes conf/ itself, from these defaults). Rewrites "
        "params.yaml; commit both files.",
        epilog="examples:\n  dockyard use data=customers\n  dockyard use model=cnn data=digits",
    )
    use.add_argument("choices", nargs="+", metavar="GROUP=OPTION", help="e.g. data=customers")

    data = commands.add_parser(
        "data", help="register your own tables", description="Register and version your data."
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    add = _command(
        data_commands,
        "add",
        _data_add,
        "put a CSV/Parquet file under DVC and draft conf/data/NAME.yaml with its schema",
        parents=[root],
        description="Put a CSV or Parquet file under DVC (`dvc add`), infer a schema draft "
        "(dtypes, dates and timestamps, nullable columns, the sign of non-negative columns, "
        "observed ranges as soft expectations, categories of low-cardinality text, target "
        "classes) and write conf/data/NAME.yaml for you to review. With "
        "--default it also becomes the dataset every run trains on.",
        epilog="example:\n  dockyard data add data/customers.csv --target churn --default\n"
        "  git add conf data params.yaml && git commit -m 'Train on customers'\n  dvc repro",
    )
    add.add_argument("path", help="the file, inside the repository (.csv or .parquet)")
    add.add_argument("--target", required=True, help="the column to predict")
    add.add_argument("--name", help="dataset name for data=NAME (default: the file's stem)")
    add.add_argument(
        "--task",
        choices=("classification", "regression"),
        help="default: inferred (text or few-integer target -> classification)",
    )
    add.add_argument(
        "--default",
        action="store_true",
        help="also make it the default dataset (dockyard use data=NAME) and rewrite params.yaml",
    )
    add.add_argument(
        "--time",
        metavar="COLUMN",
        help="the datetime column that orders the rows (time: true; split.by=time and batch "
        "order use it); default: the one date/time column without missing values",
    )
    add.add_argument("--force", action="store_true", help="replace an existing conf/data/NAME.yaml")
    from dockyard.monitor.commands import add_append_parser

    add_append_parser(data_commands, root)


def _review_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    report = _command(
        commands,
        "report",
        _report,
        "compare two revisions: metrics, params, re-run stages, data, curves (markdown)",
        parents=[root],
        description="Compare the pipeline at two revisions (commits, branches or DVC "
        "experiments; head defaults to the workspace) and print the GitHub-flavoured markdown "
        "comment CI posts on pull requests: a verdict, every metric with its signed change and "
        "better/worse marker, changed params, which stages re-ran and why, data changes, "
        "training curves and a per-class confusion summary.",
        epilog="examples:\n  dockyard report --base main\n"
        "  dockyard report --base main --head my-branch --json\n"
        "  dockyard report --base exp-1a2b3 --head exp-4c5d6",
    )
    report.add_argument("--base", required=True, help="the revision to compare against")
    report.add_argument("--head", help="the revision under review (default: the workspace)")
    report.add_argument("--json", action="store_true", help="print the content as JSON")
    report.add_argument("--output", "-o", help="write to this file instead of stdout")
    report.add_argument(
        "--check-reproduced",
        action="store_true",
        help="also say whether the workspace metrics equal those committed at HEAD, within "
        "--rtol (CI runs this after `dvc repro`)",
    )
    report.add_argument("--run-seconds", type=float, help="pipeline run time, for the footer")
    report.add_argument("--plots-url", help="link to the `dvc plots diff` HTML, for the comment")
    report.add_argument(
        "--alpha",
        type=_probability,
        default=0.05,
        help="significance level of the seed-noise test (Welch's t-test; default 0.05)",
    )
    report.add_argument(
        "--rtol",
        type=_probability,
        default=1e-6,
        help="relative difference below which two metric values count as unchanged "
        "(floating point on another CPU; default 1e-6)",
    )
    comment = _command(
        commands,
        "comment",
        _comment,
        "create or update dockyard's one comment on a pull request (CI)",
        description="Post the report on a pull request: the comment carrying dockyard's hidden "
        "marker is updated in place, so every push edits one comment instead of adding "
        "another. Reads the token from GITHUB_TOKEN (and GITHUB_API_URL for GitHub Enterprise).",
    )
    comment.add_argument("--repo", required=True, help="OWNER/NAME")
    comment.add_argument("--pr", required=True, type=int, help="pull request number")
    comment.add_argument("--body-file", required=True, help="markdown from dockyard report")

    ci = commands.add_parser("ci", help="workflow steps that are not GitHub plumbing")
    ci_commands = ci.add_subparsers(dest="ci_command", metavar="COMMAND", required=True)
    _command(
        ci_commands,
        "pull",
        _ci_pull,
        "dvc pull when a remote and credentials are configured, else skip cleanly",
        parents=[root],
        description="Run `dvc pull` when the project has a DVC remote and credentials are in "
        "the environment; otherwise explain why it is skipped and succeed (forks, bundled data).",
    )
    reproduce = _command(
        ci_commands,
        "run",
        _ci_run,
        "dvc repro, or dvc exp run with the given overrides",
        parents=[root],
        description="Reproduce the pipeline (`dvc repro`), or run an experiment with overrides "
        "(`dvc exp run -S ...`), splitting the overrides string like a shell.",
    )
    reproduce.add_argument(
        "--overrides", default="", help="e.g. \"-S model=cnn -S 'seeds=[0, 1, 2]'\""
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Declarative, git-first ML pipelines: DVC stages, Hydra configs, "
        "Lightning training, pandera validation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", default=".", help="project root holding dvc.yaml and conf/ (default: .)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _project_commands(commands, root)
    from dockyard.monitor.commands import add_commands as monitor_commands
    from dockyard.registry.commands import add_commands as registry_commands
    from dockyard.serve.commands import add_commands as serve_commands

    serve_commands(commands)
    registry_commands(commands, root)
    monitor_commands(commands, root)
    _review_commands(commands, root)
    return parser


def _version() -> str:
    from dockyard import __version__

    return f"dockyard {__version__}"


# The exit status of a process killed by SIGPIPE, as a shell reports it (128 + 13).
BROKEN_PIPE_EXIT = 141


def main(argv: list[str] | None = None) -> None:
    """Run one command. When the reader of stdout goes away (`dockyard ... | head`), exit
    quietly with 141, as a command killed by SIGPIPE would: whether the write that found
    the pipe closed came mid-command or at the final flush depends only on buffering."""
    try:
        try:
            code = _run(argv)
        finally:
            sys.stdout.flush()  # here, not at interpreter exit, where it cannot be caught
    except BrokenPipeError:
        _discard_stdout()
        raise SystemExit(BROKEN_PIPE_EXIT) from None
    raise SystemExit(code)


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DockyardError as error:
        fail(error)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered goes nowhere at exit instead of
    raising BrokenPipeError again (Python's documented recipe)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    main()
