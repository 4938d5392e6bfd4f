"""`dockyard report` and `dockyard ci`: the review of two revisions and the workflow steps
that are not GitHub plumbing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dockyard.cli.common import command
from dockyard.errors import DockyardError


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

    from dockyard.ci import read_record
    from dockyard.report import build_report

    markdown, data = build_report(
        args.root,
        args.base,
        args.head,
        check_reproduced=args.check_reproduced or args.require_reproduced,
        run_seconds=args.run_seconds,
        plots_url=args.plots_url,
        alpha=args.alpha,
        rtol=args.rtol,
        ci_run=read_record(args.ci_run) if args.ci_run else None,
    )
    text = json.dumps(data, indent=2, default=str) + "\n" if args.json else markdown
    if args.output:
        from dockyard.io import write_text

        write_text(text, args.output)
    else:
        sys.stdout.write(text)
    reproduced = (data.get("reproducibility") or {}).get("reproduced", True)
    return 1 if args.require_reproduced and not reproduced else 0


def _summary(path: str | None, text: str) -> None:
    """Append to GitHub's step summary (a file), where a fork's report still shows."""
    if path:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(text.rstrip("\n") + "\n\n")


def _comment(args: argparse.Namespace) -> int:
    from dockyard.github import client_from_env, upsert_comment

    if not Path(args.body_file).is_file():
        raise DockyardError(
            f"--body-file {args.body_file} does not exist: write it first with "
            "`dockyard report ... --output FILE`.",
            kind="missing-file",
            path=args.body_file,
        )
    body = Path(args.body_file).read_text(encoding="utf-8")
    _summary(args.summary, body)
    if args.fork:
        why = (
            f"No comment was posted on {args.repo}#{args.pr}: it comes from a fork, whose "
            "workflow token cannot write comments and which gets no secrets. The report is "
            "above, in this run's summary."
        )
        _summary(args.summary, why)
        print(why)
        return 0
    action, url = upsert_comment(client_from_env(), args.repo, args.pr, body)
    print(f"{action} the dockyard comment on {args.repo}#{args.pr}: {url}")
    return 0


def _ci_failed(args: argparse.Namespace) -> int:
    from dockyard.ci import earlier_report, failure_comment, read_record
    from dockyard.github import MARKER, client_from_env, our_comment, upsert_comment
    from dockyard.report import run_url

    # no record when the run failed before DVC started (a bad override, say)
    missing = {"commit": os.environ.get("GITHUB_SHA"), "stages": {}}
    record = read_record(args.record) if Path(args.record).is_file() else missing
    body = failure_comment(record, "", run_url(os.environ), MARKER)
    _summary(args.summary, body)
    if args.fork:
        print("A fork's pull request: no comment to update; the failure is in the summary.")
        return 0
    client = client_from_env()
    earlier = earlier_report((our_comment(client, args.repo, args.pr) or {}).get("body"), MARKER)
    body = failure_comment(record, earlier, run_url(os.environ), MARKER)
    action, url = upsert_comment(client, args.repo, args.pr, body)
    print(f"{action} the dockyard comment on {args.repo}#{args.pr} with the failure: {url}")
    return 0


def _ci_pull(args: argparse.Namespace) -> int:
    from dockyard.ci import pull_if_configured

    print(pull_if_configured(args.root))
    return 0


def _ci_run(args: argparse.Namespace) -> int:
    from dockyard.ci import reproduce

    return reproduce(
        args.overrides,
        args.root,
        base=args.base,
        reproduce_all=args.reproduce_all,
        record=args.record,
    )


def _ci_push(args: argparse.Namespace) -> int:
    from dockyard.ci import push_if_configured

    print(push_if_configured(args.root))
    return 0


def add_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    report = command(
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
    report.add_argument(
        "--require-reproduced",
        action="store_true",
        help="--check-reproduced, and exit 1 when the metrics were not reproduced (the "
        "scheduled from-scratch run)",
    )
    report.add_argument(
        "--ci-run",
        metavar="RECORD",
        help="the record of `dockyard ci run --record`: the stages section then says, per "
        "stage, whether this run re-ran it (and why) or restored it",
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
    comment = command(
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
    comment.add_argument(
        "--summary", help="also append the report to this file (GitHub's $GITHUB_STEP_SUMMARY)"
    )
    comment.add_argument(
        "--fork",
        action="store_true",
        help="the pull request comes from a fork: post nothing (its token cannot), say why in "
        "the summary and succeed",
    )

    ci = commands.add_parser("ci", help="workflow steps that are not GitHub plumbing")
    ci_commands = ci.add_subparsers(dest="ci_command", metavar="COMMAND", required=True)
    command(
        ci_commands,
        "pull",
        _ci_pull,
        "dvc pull of inputs and run-cache when a remote and credentials exist, else skip",
        parents=[root],
        description="Run `dvc pull --run-cache` for the DVC-tracked inputs when the project has "
        "a DVC remote and credentials are in the environment; otherwise explain why it is "
        "skipped and succeed (forks, bundled data). The branch's own outputs are never pulled.",
    )
    command(
        ci_commands,
        "push",
        _ci_push,
        "dvc push --run-cache on main, when a remote and credentials exist",
        parents=[root],
        description="Push the outputs and DVC's run-cache, so that pull requests restore the "
        "stages they did not change; skips cleanly without a remote or credentials.",
    )
    reproduce = command(
        ci_commands,
        "run",
        _ci_run,
        "dvc repro restoring unchanged stages, or dvc exp run with the given overrides",
        parents=[root],
        description="Reproduce the pipeline. With --base, base's dvc.lock is put in the "
        "workspace and `dvc repro --pull` (with a remote and credentials; plain `dvc repro` "
        "without) restores every stage whose code, params and data match a recorded run and "
        "re-runs the rest; DVC rewrites dvc.lock. --reproduce-all re-runs every stage "
        "(`dvc repro --force`). With overrides it runs `dvc exp run -S ...`, splitting the "
        "string like a shell. --record writes which stages re-ran and which were restored, "
        "for `dockyard report --ci-run`.",
        epilog="examples:\n  dockyard ci run --base origin/main --record ci-run.json\n"
        "  dockyard ci run --reproduce-all --record ci-run.json",
    )
    reproduce.add_argument(
        "--overrides", default="", help="e.g. \"-S model=cnn -S 'seeds=[0, 1, 2]'\""
    )
    reproduce.add_argument("--base", help="restore against this revision's run (origin/main)")
    reproduce.add_argument(
        "--reproduce-all", action="store_true", help="re-run every stage, restoring nothing"
    )
    reproduce.add_argument("--record", help="write what each stage did to this JSON file")
    failed = command(
        ci_commands,
        "failed",
        _ci_failed,
        "update the one comment after a failed run: the stage, the commit, the log",
        description="After `dockyard ci run` failed: replace the verdict of dockyard's comment "
        "with which stage failed on which commit and a link to the workflow run's log, keeping "
        "the previous report folded below. Reads GITHUB_TOKEN like `dockyard comment`.",
    )
    failed.add_argument("--record", required=True, help="the record of `dockyard ci run`")
    failed.add_argument("--repo", required=True, help="OWNER/NAME")
    failed.add_argument("--pr", required=True, type=int, help="pull request number")
    failed.add_argument("--summary", help="also append the notice to this file")
    failed.add_argument(
        "--fork", action="store_true", help="a fork's pull request: only the summary"
    )
