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
    """`dvc pull` when the project has a default remote and credentials are present.

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
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "pull", "--allow-missing"], cwd=root, text=True
    )
    if result.returncode != 0:
        raise DockyardError(
            "`dvc pull` failed with the configured remote and credentials; see the output above."
        )
    return f"Pulled from the DVC remote (credentials from {', '.join(present)})."
