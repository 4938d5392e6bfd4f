"""The `dockyard` command: one parser made of the command groups in this package, and the
one path from a user's mistake (a DockyardError) to one paragraph on stderr and exit 2."""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.common import EPILOG
from dockyard.errors import DockyardError, fail


def build_parser() -> argparse.ArgumentParser:
    from dockyard.cli import monitor, project, registry, review, serving, sweep
    from dockyard.cli.common import root_option

    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Declarative, git-first ML pipelines: DVC stages, Hydra configs, "
        "Lightning training, pandera validation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    root = root_option()
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (project, serving, registry, monitor, review, sweep):
        group.add_commands(commands, root)
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
