"""Pull-request CI restoring main's run: a docs-only pull request's `dockyard ci run`.

main (the bundled digits pipeline, default config) is reproduced from scratch with
`dvc repro` (the baseline), committed, and its outputs and run-cache pushed to a local DVC
remote with `dockyard ci push`, as main's workflow job does; its history goes to a bare git
remote. A clone of it with one docs-only commit then runs what the pull-request job runs:
`dockyard ci pull` and `dockyard ci run --base origin/main` (timed: the figure). Every
stage is restored, so the time is DVC's start-up, the pull from the remote and checking out
main's outputs. The clone's restored dvc.lock is checked equal to main's before the row is
written.

The remote is a folder, which needs no credentials; `DVC_REMOTE_CREDENTIALS` is set so that
`dockyard ci` treats it as a remote it may use, as a workflow with the remote's secrets does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import Row, row, timed
from tests.helpers import make_project, run

GOAL = 0.2
ACCESS = {"DVC_REMOTE_CREDENTIALS": "a local folder needs none"}


def run_case(work: Path, state: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    main = make_project(work / "pr-main")
    run(["dvc", "remote", "add", "-d", "local", str(work / "pr-remote")], main)
    run(["git", "commit", "-qam", "DVC remote"], main)
    scratch = timed(["dvc", "repro"], main)
    run(["git", "add", "-A"], main)
    run(["git", "commit", "-qm", "reproduced"], main)
    dockyard = [sys.executable, "-m", "dockyard.cli"]
    run([*dockyard, "ci", "push"], main, env=ACCESS)
    origin = work / "pr-origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], work)
    run(["git", "push", "-q", str(origin), "main"], main)

    clone = work / "pr-docs"
    run(["git", "clone", "-q", str(origin), str(clone)], work)
    (clone / "NOTES.md").write_text("A docs-only change.\n", encoding="utf-8")
    run(["git", "add", "-A"], clone)
    run(["git", "commit", "-qm", "docs"], clone)
    started = time.perf_counter()
    run([*dockyard, "ci", "pull"], clone, env=ACCESS)
    pulled = time.perf_counter() - started
    record = clone / "ci-run.json"
    command = [*dockyard, "ci", "run", "--base", "origin/main", "--record", str(record)]
    started = time.perf_counter()
    run(command, clone, env=ACCESS)
    restored = time.perf_counter() - started
    outcomes = json.loads(record.read_text())["stages"]
    if (
        "ran" in outcomes.values()
        or (clone / "dvc.lock").read_text() != (main / "dvc.lock").read_text()
    ):
        raise RuntimeError(f"the docs-only pull request re-ran stages: {outcomes}")
    ratio = restored / scratch
    return [
        row(
            "docs-only pull request: dockyard ci run, every stage restored from main's run",
            restored,
            scratch,
            "s",
            ratio,
            f"<= {GOAL}",
            ratio <= GOAL,
            "dvc repro from scratch of the same pipeline (main's run), same machine and run",
            ci_pull_seconds=pulled,
            stages=outcomes,
        )
    ]
