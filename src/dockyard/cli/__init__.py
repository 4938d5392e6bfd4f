"""The `dockyard` command line, one module per command group: `project` (compose, use,
data), `serving` (predict, serve, export), `registry`, `monitor` (monitor, retrain),
`review` (report, ci), `sweep` (run, status, best, dashboard); `common` declares a
subcommand; `main` builds the parser and turns a user's mistake into one paragraph and
exit 2. Feature packages hold no argparse."""

from dockyard.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
