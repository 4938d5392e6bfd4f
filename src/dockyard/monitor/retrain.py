"""`dockyard retrain`: from a new batch to a pull request that retrains on it.

The steps, each a function the tests run against a real git repository (and a local
stand-in for GitHub's API):
1. pull the inputs (`dockyard ci pull`), and the trained model and splits of the base
   when a DVC remote has them and they are missing;
2. nothing to do unless the dataset's newest batch is one the model has not trained on
   (data/validation.json lists the batches of the last run);
3. `dockyard monitor` on that batch, before anything retrains: drift, decay;
4. retrain when the policy's `retrain_on` names what was found (drift, decay, or
   new_batch for every new batch): on a branch `retrain/DATE` (or the open retraining
   pull request's branch), `dvc repro`, commit params, dvc.lock, eval/ and the data
   report;
5. with --open-pr: `dvc push` (when a remote is configured), push the branch and open the
   pull request, or update the one that is open; its body is the monitor section on top
   of `dockyard report` against the base.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError
from dockyard.github import RETRAIN_PREFIX
from dockyard.monitor.policy import NEW_BATCH
from dockyard.monitor.project import dataset_batches, load_settings, trained_batches
from dockyard.paths import MODEL_DIR, PREPARED_DIR, VALIDATION_REPORT


@dataclass
class Retrained:
    action: str  # nothing | committed | created | updated
    reasons: list[str]
    message: str
    branch: str | None = None
    url: str | None = None
    monitor: dict[str, Any] | None = None
    body: str | None = None
    notes: list[str] = field(default_factory=list)


def retrain(
    root: str | Path = ".",
    *,
    base: str = "main",
    branch: str | None = None,
    open_pr: bool = False,
    repo: str | None = None,
    client: Any = None,
    today: dt.date | None = None,
    log: Callable[[str], None] = print,
) -> Retrained:
    from dockyard.ci import pull_if_configured
    from dockyard.monitor.render import render_markdown
    from dockyard.monitor.run import monitor_project

    root = Path(root).resolve()
    if branch is not None and not branch.startswith(RETRAIN_PREFIX):
        raise DockyardError(
            f"--branch {branch} must start with {RETRAIN_PREFIX!r}: that prefix is how the one "
            "open retraining pull request is found and updated instead of opening another.",
            kind="bad-name",
        )
    if open_pr and (client is None or not repo):
        raise DockyardError(
            "--open-pr needs the repository (--repo OWNER/NAME, or GITHUB_REPOSITORY) and a "
            "token (GITHUB_TOKEN).",
            kind="missing-argument",
        )
    log(pull_if_configured(root))
    cfg, policy = load_settings(root)
    batches = dataset_batches(cfg.data, root)
    if batches is None:
        raise DockyardError(
            f"dockyard retrain watches a dataset kept as a folder of batches, but "
            f"{cfg.data.name} reads {cfg.data.input}. Register a batch folder "
            "(`dockyard data add FOLDER --target COLUMN --default`) and add batches with "
            "`dockyard data append`.",
            kind="not-a-folder",
            key="data.input",
            path=cfg.data.input,
        )
    newest = batches[-1].name
    if newest in (trained_batches(root) or []):
        return Retrained(
            "nothing",
            [],
            f"Nothing to do: the newest batch {newest} is part of the training data already "
            f"({VALIDATION_REPORT}).",
        )
    _pull_trained(root, [int(s) for s in cfg.seeds], log)
    result = monitor_project(root)
    found = [*result["alerts"], NEW_BATCH]
    reasons = [t for t in policy.retrain_on if t in found]
    section = render_markdown(result)
    if not reasons:
        return Retrained(
            "nothing",
            [],
            f"Nothing to do: {newest} shows {', '.join(result['alerts']) or 'no drift or decay'}"
            f", and monitor.retrain_on ({', '.join(policy.retrain_on) or 'empty'}) does not "
            "retrain on that.",
            monitor=result,
            body=section,
        )
    commit_paths = _commit_paths(root, str(cfg.data.input))
    _refuse_other_changes(root, commit_paths)
    existing = None
    if open_pr:
        from dockyard.github import find_retrain_pull, open_pulls

        existing = find_retrain_pull(open_pulls(client, repo), repo, base)
    if existing:
        branch = str(existing["head"]["ref"])
    branch = branch or f"{RETRAIN_PREFIX}{(today or dt.datetime.now(dt.UTC).date()).isoformat()}"
    title = f"Retrain on {newest} ({', '.join(reasons)})"
    log(f"Retraining on {newest} ({', '.join(reasons)}) on branch {branch}.")
    _git(root, "checkout", "-B", branch)
    _run(root, [sys.executable, "-m", "dvc", "repro"], "`dvc repro` failed (see above)")
    _git(root, "add", "--", *[p for p in commit_paths if (root / p).exists()])
    if _git(root, "diff", "--cached", "--quiet", check=False).returncode != 0:
        _git(root, "commit", "-q", "-m", title)
    from dockyard.report import build_report

    body = section + "\n" + build_report(root, base)[0]
    if not open_pr:
        return Retrained(
            "committed",
            reasons,
            f"Committed the retrained pipeline on {branch}.",
            branch,
            monitor=result,
            body=body,
        )
    notes = [_push_data(root)]
    _git(root, "push", "--force", "origin", f"HEAD:refs/heads/{branch}")
    from dockyard.github import create_pull, update_pull

    if existing:
        pull = update_pull(client, repo, int(existing["number"]), title, body)
        action = "updated"
    else:
        pull = create_pull(client, repo, branch, base, title, body)
        action = "created"
    url = str(pull.get("html_url") or existing and existing.get("html_url") or "")
    return Retrained(
        action,
        reasons,
        f"{action.capitalize()} the retraining pull request {url}",
        branch,
        url,
        result,
        body,
        notes,
    )


def _commit_paths(root: Path, data_input: str) -> list[str]:
    """What a retrain commits: the composed params, the lock, the committed outputs, and
    the batch folder's .dvc pointer (and its .gitignore) when the new batch is not yet
    committed."""
    folder = Path(data_input)
    return [
        "params.yaml",
        "dvc.lock",
        "eval",
        VALIDATION_REPORT,
        f"{data_input}.dvc",
        (folder.parent / ".gitignore").as_posix(),
    ]


def _refuse_other_changes(root: Path, allowed: list[str]) -> None:
    """A retrain commit must hold the code and config it ran with: refuse when tracked
    files other than the retrain's own outputs have uncommitted changes."""
    status = _git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    changed = [line[3:].strip() for line in status]
    other = [
        p for p in changed if not any(p == a or p.startswith(a.rstrip("/") + "/") for a in allowed)
    ]
    if other:
        raise DockyardError(
            f"Uncommitted changes in {', '.join(other[:8])}: a retrain commits only the "
            "pipeline's outputs, so the code and config it ran with must be committed. Commit "
            "or stash them, then run dockyard retrain again.",
            kind="uncommitted-changes",
        )


def _pull_trained(root: Path, seeds: list[int], log: Callable[[str], None]) -> None:
    """The base's trained model and splits, from the DVC remote when they are missing
    here (a fresh CI checkout); the monitor needs them before anything retrains."""
    targets = [f"{MODEL_DIR}/seed-{seeds[0]}", PREPARED_DIR]
    missing = [t for t in targets if not (root / t).exists()]
    if not missing or not _remote_ready(root):
        return
    log(f"Fetching the trained outputs the monitor needs: {', '.join(missing)}")
    _run(
        root,
        [sys.executable, "-m", "dvc", "pull", *missing],
        f"`dvc pull {' '.join(missing)}` failed: push the base's outputs (`dvc push` after "
        "`dvc repro`) so a fresh checkout can monitor against its model",
    )


def _push_data(root: Path) -> str:
    if not _remote_ready(root):
        return "No DVC remote with credentials: the retrained outputs were not pushed."
    _run(root, [sys.executable, "-m", "dvc", "push"], "`dvc push` failed (see above)")
    return "Pushed the retrained outputs to the DVC remote."


def _remote_ready(root: Path) -> bool:
    from dockyard.ci import CREDENTIAL_VARIABLES

    remotes = subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "list"], cwd=root, capture_output=True, text=True
    )
    has_remote = remotes.returncode == 0 and bool(remotes.stdout.strip())
    return has_remote and any(os.environ.get(v) for v in CREDENTIAL_VARIABLES)


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        reason = " ".join((result.stderr or result.stdout).split())
        raise DockyardError(f"`git {' '.join(args)}` failed: {reason}", kind="git-failed")
    return result


def _run(root: Path, command: list[str], failure: str) -> None:
    if subprocess.run(command, cwd=root).returncode != 0:
        raise DockyardError(failure + ".", kind="dvc-failed")
