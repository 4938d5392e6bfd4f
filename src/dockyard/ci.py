"""Steps of the pull-request workflow that are not GitHub plumbing, runnable locally."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dockyard.errors import DockyardError

CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_CONNECTION_STRING",
    "DVC_REMOTE_CREDENTIALS",
)


def pull_if_configured(root: str | Path = ".") -> str:
    """Pull the input data (`.dvc`-tracked files) when a remote and credentials are present.

    Only inputs: pulling the pipeline's outputs too would let `dvc repro` skip every stage,
    and the reproducibility check would compare the committed metrics with themselves.
    Pull requests from forks get no secrets, and the bundled datasets need no remote: both
    skip cleanly with a message instead of failing the run.
    """
    root = Path(root)
    remotes = subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "list"], cwd=root, capture_output=True, text=True
    )
    if remotes.returncode != 0 or not remotes.stdout.strip():
        return "No DVC remote configured: skipping `dvc pull` (stages will run from their sources)."
    present = [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]
    if not present:
        return (
            "A DVC remote is configured but no credentials are set (none of "
            f"{', '.join(CREDENTIAL_VARIABLES)}; forks get no secrets): skipping `dvc pull`."
        )
    listed = subprocess.run(
        ["git", "ls-files", "*.dvc"], cwd=root, capture_output=True, text=True
    ).stdout.split()
    if not listed:
        return "No DVC-tracked input files (*.dvc): nothing to pull; stages build their data."
    result = subprocess.run([sys.executable, "-m", "dvc", "pull", *listed], cwd=root, text=True)
    if result.returncode != 0:
        raise DockyardError(
            "`dvc pull` failed with the configured remote and credentials; see the output above.",
            kind="dvc-failed",
        )
    return (
        f"Pulled {len(listed)} input(s) from the DVC remote (credentials from "
        f"{', '.join(present)}); the pipeline's outputs are left for `dvc repro` to rebuild."
    )


def reproduce(overrides: str = "", root: str | Path = ".") -> int:
    """`dvc repro`, or `dvc exp run OVERRIDES` for an on-demand experiment.

    Overrides arrive as one string from the workflow's input; shlex splits it the way a
    shell would, so `-S 'seeds=[0, 1, 2]'` stays one argument.
    """
    import shlex

    try:
        args = shlex.split(overrides)
    except ValueError as error:
        raise DockyardError(
            f"Could not split the overrides {overrides!r}: {error}. Quote values that contain "
            "spaces, e.g. -S 'seeds=[0, 1, 2]'.",
            kind="bad-override",
        ) from None
    command = ["exp", "run", *args] if args else ["repro"]
    print("$ dvc " + " ".join(shlex.quote(a) for a in command), flush=True)
    return subprocess.run([sys.executable, "-m", "dvc", *command], cwd=root).returncode
