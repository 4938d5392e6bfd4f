"""`dockyard compose`, `use` and `data add|append|profile`: conf/ to params.yaml, the
defaults, and the user's own tables."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from dockyard.cli.common import EPILOG, command
from dockyard.errors import DockyardError


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


def _use(args: argparse.Namespace) -> int:
    from dockyard.config import PARAMS_FILE, compose_params, set_default, write_params
    from dockyard.config.defaults import config_groups

    root = Path(args.root)
    changes = []
    for choice in args.choices:
        group, sep, option = choice.partition("=")
        if not sep or not group or not option:
            groups = config_groups(root / "conf")
            raise DockyardError(
                f"Expected GROUP=OPTION (e.g. data=customers), found {choice!r}. The groups "
                f"are the folders under conf/: {', '.join(groups)}.",
                kind="bad-argument",
            )
        previous = set_default(group, option, root)
        changes.append(f"{group}: {previous} -> {option}")
    text = compose_params([], root)
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


def _data_profile(args: argparse.Namespace) -> int:
    from dockyard.report.profile_html import build_page, write_page

    page = build_page(args.root, rev=args.rev, base=args.base)
    path = write_page(page, args.output)
    compared = f", compared with {args.base}" if args.base else ""
    print(f"Wrote {path}: one chart per column of the validated table{compared}.")
    print("Open it in any browser; it is self-contained (no network needed).")
    return 0


def add_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    compose = command(
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
    use = command(
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
    add = command(
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
    profile = command(
        data_commands,
        "profile",
        _data_profile,
        "one self-contained HTML page: a chart per column, summaries, schema checks",
        parents=[root],
        description="Profile the validated table (data/raw/table.parquet, written by "
        "`dvc repro validate`) of a revision: a histogram or bar chart per column, the "
        "summary table and the schema's checks, on one HTML page with inline CSS and SVG "
        "(readable offline). With --base, both versions overlaid and every column judged "
        "by the monitor's drift tests (Benjamini-Hochberg). Tables over 100,000 rows are "
        "charted and tested on a seeded sample; summaries are exact.",
        epilog="examples:\n  dockyard data profile -o profile.html\n"
        "  dockyard data profile --base main -o profile.html\n"
        "  dockyard data profile --rev HEAD --base HEAD~1 -o profile.html",
    )
    profile.add_argument(
        "--rev", help="the revision to profile: commit, branch, tag (default: the workspace)"
    )
    profile.add_argument("--base", help="compare with this revision (e.g. main)")
    profile.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the HTML file to write"
    )
    from dockyard.cli.monitor import add_append_parser

    add_append_parser(data_commands, root)
