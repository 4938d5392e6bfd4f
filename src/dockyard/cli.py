"""The `dockyard` command. Thin: parses arguments and delegates to the modules."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from dockyard.errors import DockyardError, fail

EPILOG = """\
examples:
  dockyard compose                         write params.yaml from conf/
  dockyard compose model=cnn train.lr=0.01 the same, with Hydra overrides
  dockyard compose --check                 exit 1 if params.yaml is stale (CI, pre-commit)
then run the pipeline with `dvc repro`, or compose and run in one step with
`dvc exp run -S model=cnn -S train.lr=0.01`.
"""


def _compose(args: argparse.Namespace) -> int:
    from dockyard.config import PARAMS_FILE, compose_params, write_params

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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Declarative, git-first ML pipelines: DVC stages, Hydra configs, "
        "Lightning training, pandera validation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    compose = commands.add_parser(
        "compose",
        help="compose conf/ (Hydra) into params.yaml, the file every stage reads",
        description="Compose the Hydra config groups under conf/ into params.yaml, validated "
        "against dockyard's structured config. params.yaml is left untouched when anything "
        "is wrong. DVC composes the same way for `dvc exp run -S KEY=VALUE`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    compose.add_argument(
        "--root", default=".", help="project root holding conf/ and params.yaml (default: .)"
    )
    compose.set_defaults(handler=_compose)
    return parser


def _version() -> str:
    from dockyard import __version__

    return f"dockyard {__version__}"


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except DockyardError as error:
        fail(error)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
