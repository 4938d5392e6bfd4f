"""What every command group shares: one way to declare a subcommand, and the --root
option."""

from __future__ import annotations

import argparse
from typing import Any

# the examples `dockyard --help` and `dockyard compose --help` end with
EPILOG = """\
examples:
  dockyard compose                         write params.yaml from conf/
  dockyard compose model=cnn train.lr=0.01 the same, with Hydra overrides
  dockyard compose --check                 exit 1 if params.yaml is stale (CI, pre-commit)
  dockyard data add data/x.csv --target y  register your own table (then data=x)
then run the pipeline with `dvc repro`, or compose and run in one step with
`dvc exp run -S model=cnn -S train.lr=0.01`.
"""


def command(
    commands: argparse._SubParsersAction, name: str, handler: Any, help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its description and examples as written."""
    parser = commands.add_parser(
        name, help=help, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )
    parser.set_defaults(handler=handler)
    return parser


def root_option() -> argparse.ArgumentParser:
    """The parent parser that gives a command --root (the project root)."""
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", default=".", help="project root holding dvc.yaml and conf/ (default: .)"
    )
    return root
