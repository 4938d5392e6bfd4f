"""The pull-request calls `dockyard retrain` makes (GitHub's REST API, through the thin
client in `dockyard.github`): find the open retraining pull request, create one, update one.

One retraining pull request at a time: a run finds the open one whose head branch starts
with the retrain prefix (from this repository, into the same base) and updates it, so a
week of drifted batches makes one pull request, not seven.
"""

from __future__ import annotations

from typing import Any

from dockyard.github import GitHub

RETRAIN_PREFIX = "retrain/"
# GitHub refuses pull-request bodies longer than this (characters).
MAX_BODY = 65_536


def open_pulls(client: GitHub, repo: str) -> list[dict[str, Any]]:
    pulls: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = client.request("GET", f"/repos/{repo}/pulls?state=open&per_page=100&page={page}")
        pulls += batch or []
        if not batch or len(batch) < 100:
            return pulls
        page += 1


def find_retrain_pull(
    pulls: list[dict[str, Any]], repo: str, base: str, prefix: str = RETRAIN_PREFIX
) -> dict[str, Any] | None:
    """The open pull request from this repository's `prefix...` branch into `base`."""
    for pull in pulls:
        head, into = pull.get("head") or {}, pull.get("base") or {}
        same_repo = ((head.get("repo") or {}).get("full_name") or repo) == repo
        if same_repo and str(head.get("ref", "")).startswith(prefix) and into.get("ref") == base:
            return pull
    return None


def create_pull(
    client: GitHub, repo: str, branch: str, base: str, title: str, body: str
) -> dict[str, Any]:
    payload = {"title": title, "head": branch, "base": base, "body": fit_body(body)}
    return client.request("POST", f"/repos/{repo}/pulls", payload) or {}


def update_pull(client: GitHub, repo: str, number: int, title: str, body: str) -> dict[str, Any]:
    payload = {"title": title, "body": fit_body(body)}
    return client.request("PATCH", f"/repos/{repo}/pulls/{number}", payload) or {}


def fit_body(body: str) -> str:
    """The body cut to GitHub's limit, saying so where it was cut."""
    if len(body) <= MAX_BODY:
        return body
    note = "\n\n… (cut to GitHub's size limit: `dockyard report --base BASE` shows it all)\n"
    return body[: MAX_BODY - len(note)] + note
