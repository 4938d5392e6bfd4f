"""Steps of the pull-request workflow that are not GitHub plumbing, runnable locally.

Pull requests reuse main's runs through DVC's run-cache: main pushes its outputs and run-cache
(`push_if_configured`), and `reproduce` lets `dvc repro --pull` restore every stage whose code,
params and data match a recorded run and re-run only the rest. Which stages DVC restored and
which it ran is read from its own log lines and kept in a small JSON record, for the comment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError
from dockyard.io import write_text

CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_CONNECTION_STRING",
    "DVC_REMOTE_CREDENTIALS",
)
LOCK_FILE = "dvc.lock"

# What `dvc repro` logs per stage (DVC 3): the stage's outcome in this run. The report reads
# these words back (dockyard.report.stages.CI_RAN and its neighbours).
RAN, RESTORED, PULLED, UP_TO_DATE, FAILED = "ran", "restored", "pulled", "up to date", "failed"
_DVC_LINES = (
    (re.compile(r"^Running stage '(?P<stage>[^']+)':"), RAN),
    (re.compile(r"^Stage '(?P<stage>[^']+)' is cached - skipping run"), RESTORED),
    (re.compile(r"^Pulling data for stage: '(?P<stage>[^']+)'"), PULLED),
    (re.compile(r"^Stage '(?P<stage>[^']+)' didn't change, skipping"), UP_TO_DATE),
    (re.compile(r"^ERROR: failed to reproduce '(?P<stage>[^']+)'"), FAILED),
)


def _dvc(root: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, text=True, **kwargs)


def remote_access(root: str | Path = ".") -> tuple[bool, list[str]]:
    """(a DVC remote is configured, the credential variables set). Forks get no secrets."""
    remotes = _dvc(Path(root), "remote", "list", capture_output=True)
    configured = remotes.returncode == 0 and bool(remotes.stdout.strip())
    return configured, [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]


def pull_if_configured(root: str | Path = ".") -> str:
    """Pull the input data (`.dvc`-tracked files) and DVC's run-cache when a remote and
    credentials are present.

    Never the branch's own outputs: those would let `dvc repro` skip every stage on the
    author's word. Main's outputs come per stage in `reproduce` (`dvc repro --pull`), only
    for the stages whose code, params and data match main's run. Pull requests from forks
    get no secrets, and the bundled datasets need no remote: both skip cleanly with a
    message instead of failing the run.
    """
    root = Path(root)
    configured, present = remote_access(root)
    if not configured:
        return "No DVC remote configured: skipping `dvc pull` (stages will run from their sources)."
    if not present:
        return (
            "A DVC remote is configured but no credentials are set (none of "
            f"{', '.join(CREDENTIAL_VARIABLES)}; forks get no secrets): skipping `dvc pull`; "
            "stages no earlier run in the local cache matches will run."
        )
    listed = subprocess.run(
        ["git", "ls-files", "*.dvc"], cwd=root, capture_output=True, text=True
    ).stdout.split()
    if not listed:
        return (
            "No DVC-tracked input files (*.dvc): nothing to pull now; `dockyard ci run` pulls "
            "the run-cache and main's outputs for the stages that match main's run."
        )
    if _dvc(root, "pull", "--run-cache", *listed).returncode != 0:
        raise DockyardError(
            "`dvc pull --run-cache` failed with the configured remote and credentials; see the "
            "output above.",
            kind="dvc-failed",
        )
    return (
        f"Pulled {len(listed)} input(s) and the run-cache from the DVC remote (credentials "
        f"from {', '.join(present)}); stages are restored or re-run by `dockyard ci run`."
    )


def push_if_configured(root: str | Path = ".") -> str:
    """`dvc push --run-cache` on main, so that pull requests restore main's stages."""
    root = Path(root)
    configured, present = remote_access(root)
    if not configured:
        return "No DVC remote configured: nothing to push (pull requests restore nothing)."
    if not present:
        return (
            f"No credentials set (none of {', '.join(CREDENTIAL_VARIABLES)}): skipping "
            "`dvc push --run-cache`."
        )
    if _dvc(root, "push", "--run-cache").returncode != 0:
        raise DockyardError(
            "`dvc push --run-cache` failed with the configured remote and credentials; see "
            "the output above.",
            kind="dvc-failed",
        )
    return "Pushed the outputs and the run-cache to the DVC remote."


def stage_outcomes(lines: list[str]) -> dict[str, str]:
    """Each stage's outcome from `dvc repro`'s log, in the order DVC reached them.

    A stage whose pull failed ("Unable to pull data") logs again when it is run or
    restored: the last word wins. A failed stage is the one DVC names in its error."""
    outcomes: dict[str, str] = {}
    for line in lines:
        for pattern, outcome in _DVC_LINES:
            match = pattern.match(line.strip())
            if match:
                outcomes[match["stage"]] = outcome
    return outcomes


def set_aside_lock(root: Path, base: str) -> bool:
    """Put base's dvc.lock in the workspace; False when base has none (a first pipeline).

    With the branch's own dvc.lock, `dvc repro --pull` would download whatever outputs its
    author pushed and re-run nothing. Against base's, DVC restores exactly the stages whose
    code, params and data match main's run and re-runs the rest; it then writes dvc.lock
    afresh, and `dockyard report --check-reproduced` compares the result with what the
    branch committed."""
    shown = subprocess.run(
        ["git", "show", f"{base}:{LOCK_FILE}"], cwd=root, capture_output=True, text=True
    )
    if shown.returncode != 0:
        return False
    (root / LOCK_FILE).write_text(shown.stdout, encoding="utf-8")
    return True


def restore_from_local_cache(root: Path) -> None:
    """`dvc checkout` of what the local cache holds (a workflow cache keyed on dvc.lock, as
    forks and projects without a remote have), where `dvc repro --pull` would download it.

    DVC keeps no run-cache entry for a stage with a `cache: false` output that is neither a
    metric nor a plot (train, evaluate, aggregate), so such a stage is restored only by
    checking out the outputs dvc.lock records; `dvc repro` then finds it up to date."""
    _dvc(root, "checkout", "--allow-missing", "--quiet", capture_output=True)


def repro_command(overrides: str, reproduce_all: bool, pull: bool) -> list[str]:
    """`dvc repro [--force | --pull]`, or `dvc exp run OVERRIDES` for an experiment.

    Overrides arrive as one string from the workflow's input; shlex splits it the way a
    shell would, so `-S 'seeds=[0, 1, 2]'` stays one argument."""
    try:
        args = shlex.split(overrides)
    except ValueError as error:
        raise DockyardError(
            f"Could not split the overrides {overrides!r}: {error}. Quote values that contain "
            "spaces, e.g. -S 'seeds=[0, 1, 2]'.",
            kind="bad-override",
        ) from None
    if args:
        return ["exp", "run", *(["--force"] if reproduce_all else []), *args]
    if reproduce_all:
        return ["repro", "--force"]
    return ["repro", "--pull"] if pull else ["repro"]


def reproduce(
    overrides: str = "",
    root: str | Path = ".",
    *,
    base: str | None = None,
    reproduce_all: bool = False,
    record: str | Path | None = None,
) -> int:
    """Run the pipeline, restoring what DVC can; write what happened to `record`.

    With `base` (and neither `reproduce_all` nor overrides) base's dvc.lock is put in the
    workspace first (`set_aside_lock`). `--pull` is used only with a remote and credentials:
    without them (forks) DVC restores what the local cache holds. Returns DVC's exit status.
    """
    root = Path(root)
    configured, credentials = remote_access(root)
    command = repro_command(overrides, reproduce_all, pull=configured and bool(credentials))
    restoring = command[:2] in (["repro"], ["repro", "--pull"])
    against = base if base and restoring and set_aside_lock(root, base) else None
    started = time.perf_counter()
    if command == ["repro"]:
        restore_from_local_cache(root)
    print("$ dvc " + " ".join(shlex.quote(a) for a in command), flush=True)
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "dvc", *command],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        for line in process.stdout or []:
            sys.stdout.write(line)
            lines.append(line)
    sys.stdout.flush()
    outcomes = stage_outcomes(lines)
    if process.returncode and FAILED not in outcomes.values():
        running = [stage for stage, outcome in outcomes.items() if outcome == RAN]
        if running:  # DVC names no stage when, say, a command was not found
            outcomes[running[-1]] = FAILED
    if record:
        write_text(
            json.dumps(
                {
                    "command": ["dvc", *command],
                    "base": against,
                    "reproduce_all": reproduce_all,
                    "commit": _head(root),
                    "returncode": process.returncode,
                    "seconds": round(time.perf_counter() - started, 1),
                    "stages": outcomes,
                },
                indent=2,
            )
            + "\n",
            record,
        )
    return process.returncode


def _head(root: Path) -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() or None


def read_record(path: str | Path) -> dict[str, Any]:
    """A record `reproduce` wrote, or a DockyardError saying how to make one."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DockyardError(
            f"Could not read the run record {path}: {error}. `dockyard ci run --record "
            f"{path}` writes it.",
            kind="missing-file",
            path=path,
        ) from None


# ----------------------------------------------------------------------------- a failed run

FAILED_MARKER = "<!-- dockyard-failed -->"
EARLIER_START, EARLIER_END = "<!-- dockyard-earlier -->", "<!-- /dockyard-earlier -->"


def earlier_report(body: str | None, marker: str) -> str:
    """The last complete report in an existing comment: the comment itself, or the report a
    failure notice keeps folded (so that failures in a row do not nest)."""
    if not body:
        return ""
    if FAILED_MARKER in body and EARLIER_START in body:
        return body.split(EARLIER_START, 1)[1].split(EARLIER_END, 1)[0].strip()
    return body.replace(marker, "").strip()


def failure_comment(record: dict[str, Any], earlier: str, run_url: str | None, marker: str) -> str:
    """The one comment after a failed run: which stage failed on which commit, the log,
    and the previous report folded below, so its verdict no longer stands as this push's."""
    failed = [stage for stage, outcome in record.get("stages", {}).items() if outcome == FAILED]
    what = f"stage `{failed[0]}` failed" if failed else "the pipeline run failed"
    commit = record.get("commit") or "this push"
    log = f" ([log]({run_url}))" if run_url else " (see the workflow run's log)"
    lines = [
        marker,
        FAILED_MARKER,
        "## dockyard report: ❌ run failed",
        "",
        f"**Verdict:** none: {what} on commit {commit}{log}, so this push has no results. Fix "
        "it and push again; `dvc repro` reproduces the failure locally.",
        "",
    ]
    if earlier:
        lines += [
            "<details><summary>Earlier results (a previous push; not this commit's)</summary>",
            "",
            EARLIER_START,
            earlier,
            EARLIER_END,
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"
