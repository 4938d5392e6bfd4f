"""The few git questions the registry asks, answered by the git command line.

Files are read at a commit (`git show SHA:path`) and never checked out, so the gate and
lineage can inspect any version without touching the workspace or running its code.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import DockyardError


def git(root: str | Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise DockyardError(
            f"Could not run git ({error}); install git and try again.", kind="git-failed"
        ) from None
    if check and result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise DockyardError(
            f"`git {' '.join(args)}` failed in {root}: {message[0] if message else 'no output'}. "
            "Run dockyard from inside the project's git repository.",
            kind="git-failed",
        )
    return result


def repo_root(root: str | Path) -> Path:
    result = git(root, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise DockyardError(
            f"{Path(root).resolve()} is not inside a git repository. The model registry lives in "
            "git tags: run dockyard from the project root (git init; git commit first).",
            kind="not-a-repo",
            path=Path(root).resolve(),
        )
    return Path(result.stdout.strip())


def head(root: str | Path) -> str | None:
    result = git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return result.stdout.strip() or None


def resolve_commit(root: str | Path, rev: str) -> str | None:
    result = git(root, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
    return result.stdout.strip() or None


def show(root: str | Path, commit: str, path: str) -> str | None:
    """A file's text at a commit, or None when it does not exist there."""
    result = git(root, "show", f"{commit}:{path}", check=False)
    return result.stdout if result.returncode == 0 else None


def list_dir(root: str | Path, commit: str, path: str) -> list[str]:
    """Names directly inside a folder at a commit ([] when there is none)."""
    result = git(root, "ls-tree", "--name-only", f"{commit}:{path}", check=False)
    return result.stdout.split() if result.returncode == 0 else []


def dirty_paths(root: str | Path) -> list[str]:
    """Tracked changes and untracked files that git does not ignore."""
    lines = git(root, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    return [line[3:] for line in lines if line.strip()]


def is_ancestor(root: str | Path, commit: str, ref: str) -> bool:
    return git(root, "merge-base", "--is-ancestor", commit, ref, check=False).returncode == 0


def branch_refs(root: str | Path, branch: str) -> list[str]:
    """The refs that stand for `branch` here: the local branch and origin's copy."""
    refs = []
    for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
        if git(root, "rev-parse", "--verify", "-q", ref, check=False).returncode == 0:
            refs.append(ref.removeprefix("refs/heads/").removeprefix("refs/remotes/"))
    return refs


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    subject: str
    author: str
    date: str


def commit_info(root: str | Path, commit: str) -> CommitInfo:
    out = git(root, "show", "-s", "--format=%H%x00%s%x00%an <%ae>%x00%cI", commit).stdout
    sha, subject, author, date = out.rstrip("\n").split("\x00")
    return CommitInfo(sha=sha, subject=subject, author=author, date=date)


# "Merge pull request #12 from owner/branch" (merge commits) or "Title (#12)" (squash).
_PR_MERGE = re.compile(r"^Merge pull request #(\d+)")
_PR_SQUASH = re.compile(r"\(#(\d+)\)\s*$")


def pull_request_number(subject: str) -> int | None:
    found = _PR_MERGE.match(subject) or _PR_SQUASH.search(subject)
    return int(found.group(1)) if found else None


def find_pull_request(root: str | Path, commit: str, branch: str) -> tuple[int, str] | None:
    """The pull request that brought `commit` into `branch`, from commit messages only:
    the commit's own subject (a merge or squash commit), else the merge commit that brought
    it in (the first on the way to the branch whose first parent lacks it). Returns
    (number, merge commit sha); None for a commit made on the branch itself."""
    own = git(root, "show", "-s", "--format=%s", commit, check=False).stdout.strip()
    number = pull_request_number(own)
    if number is not None:
        return number, commit
    for ref in branch_refs(root, branch):
        merges = git(
            root,
            "log",
            "--merges",
            "--ancestry-path",
            "--reverse",
            "--format=%H%x00%s",
            f"{commit}..{ref}",
            check=False,
        ).stdout.splitlines()
        for line in merges:
            sha, _, subject = line.partition("\x00")
            if is_ancestor(root, commit, f"{sha}^1"):
                continue  # the commit was already on the branch: this merge brought others
            number = pull_request_number(subject)
            return (number, sha) if number is not None else None
    return None


def github_url(root: str | Path) -> str | None:
    """https://github.com/OWNER/NAME from origin's URL (ssh or https), else None."""
    result = git(root, "remote", "get-url", "origin", check=False)
    url = result.stdout.strip()
    found = re.match(r"^(?:https://|git@|ssh://git@)github\.com[:/]([^/]+)/(.+?)(?:\.git)?/?$", url)
    return f"https://github.com/{found.group(1)}/{found.group(2)}" if found else None
