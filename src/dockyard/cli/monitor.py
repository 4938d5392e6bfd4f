"""`dockyard monitor`, `dockyard retrain` and `dockyard data append` (thin: parse,
delegate, print); `add_append_parser` adds the last to the `data` group."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dockyard.cli.common import command

EXIT_ALERT = 1  # drift or decay: a workflow can act on it (2 stays a user error)

MONITOR_EPILOG = """\
exit status: 0 no drift and no decay, 1 drift or decay, 2 a usage or data error.

examples:
  dockyard monitor                              the dataset's newest batch vs the training split
  dockyard monitor new.csv --markdown drift.md  any batch file; the section into a file
  dockyard monitor --reference old.parquet --model models/seed-1
"""

RETRAIN_EPILOG = """\
examples:
  dockyard data append shop data/incoming/2024-06-03.csv && git commit -am 'Batch 2024-06-03'
  dockyard retrain                  on drift/decay (monitor.retrain_on): branch, dvc repro, commit
  dockyard retrain --open-pr        also push the branch and open or update the pull request
"""


def _monitor(args: argparse.Namespace) -> int:
    from dockyard.io import write_json, write_text
    from dockyard.monitor.render import render_markdown, verdict_line
    from dockyard.monitor.run import monitor_project

    result = monitor_project(args.root, args.current, args.reference, args.model)
    markdown = render_markdown(result)
    output = args.output if args.output is not None else Path(args.root, _monitor_file())
    if str(output) != "-":
        write_json(result, output)
    if args.markdown:
        write_text(markdown, args.markdown)
        print(verdict_line(result).removeprefix("## "))
    else:
        sys.stdout.write(markdown)
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if str(output) != "-":
        print(f"Wrote {output}.", file=sys.stderr)
    return EXIT_ALERT if result["alerts"] else 0


def _monitor_file() -> str:
    from dockyard.monitor.project import MONITOR_FILE

    return MONITOR_FILE


def _retrain(args: argparse.Namespace) -> int:
    from dockyard.monitor.retrain import retrain

    client = None
    repo = args.repo or os.environ.get("GITHUB_REPOSITORY")
    if args.open_pr:
        from dockyard.github import client_from_env

        client = client_from_env()
    result = retrain(
        args.root,
        base=args.base,
        branch=args.branch,
        open_pr=args.open_pr,
        repo=repo,
        client=client,
        log=lambda line: print(line, flush=True),
    )
    if result.body and args.body_file:
        from dockyard.io import write_text

        write_text(result.body, args.body_file)
    if args.summary and (result.body or result.message):
        with open(args.summary, "a", encoding="utf-8") as handle:
            handle.write(f"{result.message}\n\n{result.body or ''}\n")
    for note in result.notes:
        print(note)
    print(result.message)
    if result.action == "committed":
        print(
            f"Next: git push origin {result.branch} and open a pull request into {args.base}"
            + (f" (the body is in {args.body_file})" if args.body_file else "")
            + ", or run dockyard retrain --open-pr."
        )
    print(json.dumps({"action": result.action, "reasons": result.reasons, "url": result.url}))
    return 0


def _append(args: argparse.Namespace) -> int:
    from dockyard.data.append import append_batch

    done = append_batch(args.name, args.file, root=args.root, as_name=args.as_name)
    window = (
        f"data.window is {done.window}: training uses the newest {done.window}"
        if done.window
        else "data.window is null: training uses every batch"
    )
    print(
        f"Appended {done.batch} ({done.rows:,} rows) to {done.folder}: batch {done.batches}, "
        f"checked against the {done.dataset} schema and recorded by DVC ({done.folder}.dvc). "
        f"{window}."
    )
    print("Next:")
    print(f"  dockyard monitor                 {done.batch} against the model's training data")
    print(f"  git add {done.folder}.dvc && git commit -m 'Batch {done.batch}' && dvc push")
    print("  dockyard retrain                 (or dvc repro) to retrain on it")
    return 0


def add_append_parser(
    data_commands: argparse._SubParsersAction, root: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """`dockyard data append NAME FILE [--as BATCH]`, under `dockyard data`."""
    append = command(
        data_commands,
        "append",
        _append,
        "add a batch file to a dataset kept as a folder of batches (checked, then dvc add)",
        parents=[root],
        description="Check a new batch against the dataset's schema (alone, then as ingest "
        "will read the folder with it) and, only if it passes, copy it into the dataset's "
        "batch folder and record the new version with `dvc add`. Batches are read in name "
        "order, so the new name must sort after every batch there (name batches by date). A "
        "refused batch changes nothing: not the folder, not its .dvc pointer.",
        epilog="example:\n  dockyard data append shop incoming/2024-06-03.csv\n"
        "  git add data/shop.dvc && git commit -m 'Batch 2024-06-03' && dvc push",
    )
    append.add_argument("name", help="the dataset (conf/data/NAME.yaml), e.g. shop")
    append.add_argument("file", help="the batch: a CSV or Parquet file like the others")
    append.add_argument(
        "--as",
        dest="as_name",
        metavar="BATCH",
        help="the batch's file name in the folder (default: the file's own name)",
    )
    return append


def add_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    monitor = command(
        commands,
        "monitor",
        _monitor,
        "drift and decay of a new batch against the model's training data (exit 1 on either)",
        parents=[root],
        description="Compare a batch with the data the model was trained on: every feature "
        "(significance after Benjamini-Hochberg and a practical effect size, with intervals), "
        "the model's predictions, and, when the batch carries labels, the model's metrics "
        "against its test metrics (beyond seed and sampling noise). Writes the result as JSON "
        "(eval/monitor.json) and prints a markdown section.",
        epilog=MONITOR_EPILOG,
    )
    monitor.add_argument(
        "current",
        nargs="?",
        metavar="CURRENT",
        help="the batch (CSV or Parquet; a folder: its newest batch). Default: the newest "
        "batch of the dataset's batch folder",
    )
    monitor.add_argument(
        "--reference", help="the table to compare with (default: data/prepared/train.parquet)"
    )
    monitor.add_argument(
        "--model", help="the model folder (default: models/seed-N of the first seed)"
    )
    monitor.add_argument(
        "--output",
        "-o",
        help="where the JSON result goes (default: eval/monitor.json; '-' writes none)",
    )
    monitor.add_argument("--markdown", help="write the markdown section to this file")
    monitor.add_argument("--summary", help="also append the section to this file (job summary)")

    retrain = command(
        commands,
        "retrain",
        _retrain,
        "retrain on a new batch when the monitor policy says so, as a pull request",
        parents=[root],
        description="Pull the data, run `dockyard monitor` on the dataset's newest batch "
        "(when the model has not trained on it) and, when monitor.retrain_on names what it "
        "found (drift, decay, new_batch), re-run the pipeline on a retrain/DATE branch and "
        "commit it. With --open-pr, push the branch and open the retraining pull request, or "
        "update the one that is open; its body is the monitor section and `dockyard report` "
        "against the base. Reads GITHUB_TOKEN (and GITHUB_API_URL) for the API.",
        epilog=RETRAIN_EPILOG,
    )
    retrain.add_argument(
        "--open-pr", action="store_true", help="push the branch; open or update the PR"
    )
    retrain.add_argument("--branch", help="the branch (default: retrain/YYYY-MM-DD, UTC)")
    retrain.add_argument("--base", default="main", help="the branch to compare with and merge into")
    retrain.add_argument("--repo", help="OWNER/NAME (default: $GITHUB_REPOSITORY)")
    retrain.add_argument("--body-file", help="also write the pull request's body to this file")
    retrain.add_argument("--summary", help="append the outcome to this file (job summary)")
