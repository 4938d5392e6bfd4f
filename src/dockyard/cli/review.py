"""`dockyard report` and `dockyard ci`: the review of two revisions and the workflow steps
that are not GitHub plumbing."""

from __future__ import annotations

import argparse
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
    from dockyard.github import client_from_env, upsert_comment

    if not Path(args.body_file).is_file():
        raise DockyardError(
            f"--body-file {args.body_file} does not exist: write it first with "
            "`dockyard report ... --output FILE`.",
            kind="missing-file",
            path=args.body_file,
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

    ci = commands.add_parser("ci", help="workflow steps that are not GitHub plumbing")
    ci_commands = ci.add_subparsers(dest="ci_command", metavar="COMMAND", required=True)
    command(
        ci_commands,
        "pull",
        _ci_pull,
        "dvc pull when a remote and credentials are configured, else skip cleanly",
        parents=[root],
        description="Run `dvc pull` when the project has a DVC remote and credentials are in "
        "the environment; otherwise explain why it is skipped and succeed (forks, bundled data).",
    )
    reproduce = command(
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
