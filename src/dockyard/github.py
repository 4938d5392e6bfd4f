"""The whole boundary with GitHub's REST API: dockyard's one PR comment (found by the
hidden marker this module owns) and the retraining pull request.

Only what cannot run locally lives here (HTTP to the API); finding the comment or the open
retraining pull request and deciding create-vs-update are plain functions the tests
exercise against a local HTTP server speaking the same endpoints. One retraining pull
request at a time: a run finds the open one whose head branch starts with the retrain
prefix (from this repository, into the same base) and updates it, so a week of drifted
batches makes one pull request, not seven.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from dockyard.errors import DockyardError

API = "https://api.github.com"
# The hidden first line of dockyard's PR comment: how a later run finds it to update it.
MARKER = "<!-- dockyard-report -->"
RETRAIN_PREFIX = "retrain/"
# GitHub refuses pull-request bodies longer than this (characters).
MAX_BODY = 65_536


class GitHubError(DockyardError):
    """The API refused a request (missing token, no permission, unknown repository or PR).

    `status` is the HTTP status the API answered with (None when it did not answer), as an
    httpx error carries its response."""

    kind = "github"

    def __init__(self, message: str, *, status: int | None = None, **about: Any) -> None:
        super().__init__(message, **about)
        self.status = status


class GitHub:
    def __init__(self, token: str, api_url: str = API) -> None:
        if not token:
            raise GitHubError(
                "No GitHub token: set GITHUB_TOKEN (in Actions: `env: GITHUB_TOKEN: "
                "${{ github.token }}` with `pull-requests: write` permission).",
                kind="missing-token",
            )
        self.token = token
        self.api_url = api_url.rstrip("/")

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "dockyard",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.URLError as error:
            if not isinstance(error, urllib.error.HTTPError):
                raise GitHubError(
                    f"Could not reach the GitHub API at {self.api_url}: {error.reason}.",
                    kind="unreachable",
                ) from None
            raise self._http_error(method, path, error) from None
        except TimeoutError:
            raise GitHubError(
                f"The GitHub API at {self.api_url} did not answer in 30 s.", kind="timeout"
            ) from None
        return json.loads(payload) if payload else {}

    @staticmethod
    def _http_error(method: str, path: str, error: urllib.error.HTTPError) -> GitHubError:
        detail = error.read().decode(errors="replace")[:300]
        return GitHubError(
            f"GitHub API {method} {path} answered {error.code}: {detail}. A 403 on a pull "
            "request from a fork is expected (its token is read-only); otherwise check the "
            "workflow's `pull-requests: write` permission.",
            kind="http-error",
            status=error.code,
        )


def find_comment(comments: list[dict[str, Any]], marker: str = MARKER) -> dict[str, Any] | None:
    """The first comment carrying dockyard's hidden marker that a bot wrote.

    Only bot accounts count (Actions' token posts as github-actions[bot]): a person who
    pastes the marker into their own comment must not get the report written into it.
    """
    return next(
        (
            c
            for c in comments
            if marker in (c.get("body") or "") and (c.get("user") or {}).get("type") == "Bot"
        ),
        None,
    )


def our_comment(client: GitHub, repo: str, number: int) -> dict[str, Any] | None:
    """dockyard's comment on the pull request (every page of comments searched), if any."""
    comments: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = client.request(
            "GET", f"/repos/{repo}/issues/{number}/comments?per_page=100&page={page}"
        )
        comments += batch or []
        if not batch or len(batch) < 100:
            break
        page += 1
    return find_comment(comments)


def upsert_comment(client: GitHub, repo: str, number: int, body: str) -> tuple[str, str]:
    """Update dockyard's comment on the PR in place, or create it; return (action, url)."""
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    existing = our_comment(client, repo, number)
    if existing:
        updated = client.request(
            "PATCH", f"/repos/{repo}/issues/comments/{existing['id']}", {"body": body}
        )
        return "updated", (updated or {}).get("html_url", "")
    created = client.request("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})
    return "created", (created or {}).get("html_url", "")


def client_from_env() -> GitHub:
    return GitHub(os.environ.get("GITHUB_TOKEN", ""), os.environ.get("GITHUB_API_URL", API))


# ----------------------------------------------------------------------------- pull requests


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
