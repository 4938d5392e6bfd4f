"""The registry's commands: register, promote, registry, lineage, bundle (thin: parse,
delegate, print). `dockyard.cli` adds them with `add_commands`."""

from __future__ import annotations

import argparse
import json
import sys

from dockyard.cli.common import command
from dockyard.errors import DockyardError

FLOW = """\
the flow:
  dvc repro && git commit -am 'train'        a reproduced, committed pipeline
  dockyard register                          model@v0.1.0 (tag) + its MODEL_CARD.md
  dockyard promote model v0.1.0 --stage staging
  dockyard promote model v0.1.0 --stage prod  (the gate decides; --dry-run to ask)
  git push origin --tags                     CI re-checks every pushed stage tag
  dockyard predict rows.csv --model model@prod -o scored.parquet
  dockyard lineage model@prod                what produced it
"""


def _out(text: str, output: str | None) -> None:
    if output:
        from dockyard.io import write_text

        write_text(text, output)
    else:
        sys.stdout.write(text)


def _register(args: argparse.Namespace) -> int:
    from dockyard.registry.register import register_model

    result = register_model(
        args.root,
        args.name,
        bump=args.bump or "minor",
        version=args.version,
        message=args.message,
        push=args.push,
    )
    print(
        f"Registered {result.name}@{result.version} on commit {result.commit[:12]} (tag "
        f"{result.tag}). Model card: {result.card}"
    )
    for note in result.notes:
        print(note, file=sys.stderr)
    if not args.push:
        print(f"Share it: git push origin '{result.tag}'")
    print(f"Next: dockyard promote {result.name} {result.version} --stage STAGE")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from dockyard.registry.gate import render_markdown, render_text
    from dockyard.registry.policy import load_policy
    from dockyard.registry.promote import check_tag, promote

    policy = load_policy(args.root)
    if args.check_tag:
        if args.target or args.stage:
            raise DockyardError(
                "--check-tag TAG judges the assignment that tag made; give it alone (without "
                "NAME VERSION --stage).",
                kind="bad-argument",
            )
        checked = check_tag(args.root, policy, args.check_tag)
        if args.json:  # one shape for every tag, so a workflow can read it without guessing
            verdict_data = checked.verdict.to_dict() if checked.verdict else None
            gated = {"tag": checked.tag, "note": checked.note, "gated": verdict_data is not None}
            print(json.dumps({**gated, "verdict": verdict_data}, indent=2, default=str))
        if checked.verdict is None:
            if not args.json:
                print(checked.note)
            _summary(args.summary, f"`{checked.tag}`: {checked.note}\n")
            return 0
        verdict, tag = checked.verdict, None
        if not args.json:
            print(checked.note)
    else:
        name, version = _name_version(args.target, args.version)
        if not args.stage:
            raise DockyardError(
                f"Expected --stage STAGE (one of {', '.join(policy.stages)}), found none.",
                kind="missing-argument",
            )
        result = promote(
            args.root, policy, name, version, args.stage, dry_run=args.dry_run, push=args.push
        )
        verdict, tag = result.verdict, result.tag
        if result.already:
            print(f"{name}@{verdict.version} is already in {args.stage}: nothing to do.")
            return 0
    if not args.json:
        sys.stdout.write(render_text(verdict))
    elif not args.check_tag:
        print(json.dumps({**verdict.to_dict(), "tag": tag}, indent=2, default=str))
    _summary(args.summary, render_markdown(verdict))
    if not verdict.passed:
        failed = verdict.failed()
        reasons = (
            " ".join(r.message for r in failed)
            if args.json
            else f"{len(failed)} rule(s) failed (FAIL above)."
        )
        print(
            f"dockyard: {verdict.artifact}@{verdict.version} may not enter {verdict.stage}: "
            f"{reasons}",
            file=sys.stderr,
        )
        return 1
    if tag:
        print(
            f"Tagged {tag}. Share it: git push origin '{tag}'"
            if not args.push
            else f"Pushed {tag}."
        )
    elif not args.check_tag:
        print("Dry run: the gate passes; nothing was tagged.")
    return 0


def _summary(path: str | None, markdown: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


def _name_version(target: str | None, version: str | None) -> tuple[str, str]:
    if target and "@" in target and version is None:
        name, _, version = target.partition("@")
        return name, version
    if not target or not version:
        raise DockyardError(
            "Expected NAME VERSION (e.g. model v1.2.0) or NAME@VERSION, found "
            f"{' '.join(filter(None, [target, version])) or 'nothing'}.",
            kind="missing-argument",
        )
    return target, version


def _registry(args: argparse.Namespace) -> int:
    from dockyard.registry.listing import registry_view, render_text
    from dockyard.registry.policy import load_policy

    try:
        policy = load_policy(args.root)
    except DockyardError:
        policy = None  # a listing needs no policy; stages then show in GTO's order
    view = registry_view(args.root, policy)
    if args.name:
        if args.name not in view:
            raise DockyardError(
                f"No model named {args.name!r} is registered (registered: "
                f"{', '.join(view) or 'none'}).",
                kind="unknown-model",
            )
        view = {args.name: view[args.name]}
    if args.json:
        print(json.dumps(view, indent=2, default=str))
    else:
        sys.stdout.write(render_text(view, policy.stages if policy else ()))
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from dockyard.registry.card import render_markdown, render_text
    from dockyard.registry.lineage import lineage_for

    lineage = lineage_for(args.spec, args.root, branch=_branch(args.root))
    if args.json:
        text = json.dumps(lineage, indent=2, default=str) + "\n"
    elif args.markdown:
        lineage["model"]["stages"] = []
        text = render_markdown(lineage)
    else:
        text = render_text(lineage)
    _out(text, args.output)
    return 0


def _branch(root: str) -> str:
    from dockyard.registry.policy import load_policy

    try:
        return load_policy(root).branch
    except DockyardError:
        return "main"


def _bundle(args: argparse.Namespace) -> int:
    from dockyard.registry.register import bundle

    files, notes = bundle(args.root, args.spec, args.out, onnx=args.onnx)
    print(f"Bundled {args.spec} into {args.out}: {', '.join(f.name for f in files)}")
    for note in notes:
        print(note, file=sys.stderr)
    return 0


def add_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    register = command(
        commands,
        "register",
        _register,
        "register the workspace's model as the next version (a GTO tag NAME@vX.Y.Z)",
        parents=[root],
        description="Tag the current commit as the next semantic version of a model declared "
        "in dvc.yaml's `artifacts:` (GTO's NAME@vX.Y.Z tag) and write its MODEL_CARD.md into "
        ".dockyard/cards/. Refuses when git has uncommitted changes, when params.yaml is not "
        "what conf/ composes to, when `dvc status` is not clean, or when dvc.lock and the "
        "workspace model disagree: a version is exactly a reproduced commit.",
        epilog=FLOW,
    )
    register.add_argument("name", nargs="?", help="the artifact (default: the only one declared)")
    how = register.add_mutually_exclusive_group()
    how.add_argument(
        "--bump",
        choices=("major", "minor", "patch"),
        help="which part of the greatest version to raise (default: minor; the first version "
        "bumps v0.0.0)",
    )
    how.add_argument("--version", help="the exact version, e.g. v1.0.0")
    register.add_argument("--message", "-m", help="the tag's message (default: a metric summary)")
    register.add_argument("--push", action="store_true", help="push the tag to origin")

    promote = command(
        commands,
        "promote",
        _promote,
        "assign a stage to a version if the promotion gate passes (GTO tag NAME#STAGE#N)",
        parents=[root],
        description="Run the promotion gate (params.yaml's `promotion:` policy) on a version "
        "entering a stage, and tag the assignment when every rule passes. Each failed rule is "
        "printed with its numbers; exit 1 when refused. --check-tag judges an assignment tag "
        "that already exists (CI runs it on every pushed stage tag).",
        epilog="examples:\n  dockyard promote model v1.2.0 --stage staging\n"
        "  dockyard promote model@v1.2.0 --stage prod --dry-run\n"
        "  dockyard promote --check-tag 'model#prod#4' --summary \"$GITHUB_STEP_SUMMARY\"",
    )
    promote.add_argument("target", nargs="?", metavar="NAME", help="the model (or NAME@VERSION)")
    promote.add_argument("version", nargs="?", metavar="VERSION", help="e.g. v1.2.0")
    promote.add_argument("--stage", help="the stage to enter (one of the policy's stages)")
    promote.add_argument("--dry-run", action="store_true", help="print the verdict, tag nothing")
    promote.add_argument("--check-tag", metavar="TAG", help="judge an existing assignment tag")
    promote.add_argument("--json", action="store_true", help="print the verdict as JSON")
    promote.add_argument("--push", action="store_true", help="push the new tag to origin")
    promote.add_argument("--summary", metavar="FILE", help="also append the verdict as markdown")

    registry = command(
        commands,
        "registry",
        _registry,
        "every model version with its stages, dates, commits, metrics and tag history",
        parents=[root],
        description="Show the model registry kept in git tags: for each model, which version "
        "each stage points to, every version (stages, registration date and author, commit, "
        "primary metric) and the history of registrations and assignments. Agrees with "
        "`gto show`.",
    )
    registry.add_argument("name", nargs="?", help="only this model")
    registry.add_argument("--json", action="store_true", help="print it as JSON")

    lineage = command(
        commands,
        "lineage",
        _lineage,
        "what produced a model: commit, params, data hashes, code, environment, metrics, PR",
        parents=[root],
        description="Print the chain that produced a model version (NAME@vX.Y.Z, NAME@STAGE or "
        "a model folder): its commit, the params and their hash, every data file's hash with "
        "row counts, the train stage's code, the environment, the metrics with intervals and "
        "the pull request that merged it. --markdown prints the MODEL_CARD.md.",
        epilog="examples:\n  dockyard lineage model@prod\n"
        "  dockyard lineage model@v1.2.0 --markdown > MODEL_CARD.md\n"
        "  dockyard lineage models/seed-0 --json",
    )
    lineage.add_argument("spec", metavar="MODEL", help="NAME@vX.Y.Z, NAME@STAGE or a folder")
    style = lineage.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="print it as JSON")
    style.add_argument("--markdown", action="store_true", help="print the MODEL_CARD.md")
    lineage.add_argument("--output", "-o", help="write to this file instead of stdout")

    bundle = command(
        commands,
        "bundle",
        _bundle,
        "copy a version's weights, transform, card, MODEL_CARD.md (and ONNX) into a folder",
        parents=[root],
        description="Resolve a version (fetching it with DVC when needed) and write its "
        "release bundle into --out: model.pt, model.json, transform.json, MODEL_CARD.md, "
        "lineage.json, and model.onnx with --onnx.",
    )
    bundle.add_argument("spec", metavar="MODEL", help="NAME@vX.Y.Z or NAME@STAGE")
    bundle.add_argument("--out", required=True, help="a new or empty folder")
    bundle.add_argument(
        "--onnx",
        action="store_true",
        help="also export model.onnx (skipped with a note when the onnx packages are missing)",
    )
