"""The pull-request workflow's pieces: workflow lint, the one comment, the optional pull."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.errors import ERROR_FILE_ENV
from dockyard.github import MARKER, GitHub, GitHubError, upsert_comment

from .helpers import ROOT, FakeGitHub, error_of, project_env, run

WORKFLOWS = ROOT / ".github/workflows"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make test` (the dev extra provides it)")
    return found


@pytest.mark.slow  # an external linter
def test_actionlint_reports_nothing() -> None:
    result = subprocess.run(
        [tool("actionlint"), *sorted(map(str, WORKFLOWS.glob("*.yml")))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.mark.slow  # an external linter
def test_zizmor_reports_nothing() -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", str(WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_workflows_follow_the_security_rules() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "pull_request_target" not in text
        assert "permissions: {}" in text  # nothing by default; jobs ask for what they need
        for line in text.splitlines():
            if "uses:" in line:
                ref = line.split("uses:")[1].split("#")[0].strip()
                assert len(ref.split("@")[1]) == 40, f"{path.name}: not pinned to a SHA: {ref}"
        run_blocks = [chunk for chunk in text.split("run:")[1:]]
        for block in run_blocks:
            script = block.split("\n      - ")[0]
            assert "${{" not in script, f"{path.name}: expression inside a run script: {script}"


# ----------------------------------------------------------------------------- GitHub seam


@pytest.fixture
def github():
    with FakeGitHub(MARKER) as server:
        yield server


def test_one_comment_created_then_updated_in_place(github: FakeGitHub) -> None:
    client = GitHub("t0ken", github.url)
    action, url = upsert_comment(client, "acme/ml", 7, f"{MARKER}\nfirst report")
    assert action == "created"
    assert len(github.comments) == 131
    action, url2 = upsert_comment(client, "acme/ml", 7, f"{MARKER}\nsecond report")
    assert (action, url2) == ("updated", url)
    ours = [c for c in github.comments if c["user"]["type"] == "Bot"]
    assert len(ours) == 1 and ours[0]["body"].endswith("second report")
    assert github.comments[3]["body"].endswith("fake report: everything is better")
    humans = github.comments[:3] + github.comments[4:130]
    assert all(c["body"] == f"human comment {c['id']}" for c in humans)
    pages = [path for method, path in github.requests if method == "GET"]
    assert any("page=2" in p for p in pages)  # found on the second page of 100


def test_comment_command_and_forbidden_token(github: FakeGitHub, tmp_path: Path) -> None:
    body = tmp_path / "report.md"
    body.write_text("no marker yet\n")
    env = {**project_env(), "GITHUB_TOKEN": "t0ken", "GITHUB_API_URL": github.url}
    command = [
        sys.executable,
        "-m",
        "dockyard.cli",
        "comment",
        "--repo",
        "acme/ml",
        "--pr",
        "7",
        "--body-file",
        str(body),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "created the dockyard comment" in result.stdout
    assert github.comments[-1]["body"].startswith(MARKER)  # marker added when missing
    github.comments.pop()
    github.forbidden = True
    with pytest.raises(GitHubError) as caught:
        upsert_comment(GitHub("t0ken", github.url), "acme/ml", 7, "x")
    assert (caught.value.kind, caught.value.status) == ("http-error", 403)
    # the one wording check for kind 'http-error'
    assert " answered 403: " in str(caught.value)
    assert str(caught.value).endswith(
        "A 403 on a pull request from a fork is expected (its token is read-only); otherwise "
        "check the workflow's `pull-requests: write` permission."
    )
    with pytest.raises(GitHubError) as caught:
        upsert_comment(GitHub("t0ken", "http://127.0.0.1:9"), "acme/ml", 7, "x")
    assert (caught.value.kind, caught.value.status) == ("unreachable", None)
    # the one wording check for kind 'unreachable'
    assert str(caught.value).startswith("Could not reach the GitHub API at http://127.0.0.1:9: ")
    errors = tmp_path / "errors.jsonl"
    missing = subprocess.run(
        command,
        env={**env, "GITHUB_TOKEN": "", ERROR_FILE_ENV: str(errors)},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert json.loads(errors.read_text().splitlines()[-1])["kind"] == "missing-token"
    # the one wording check for kind 'missing-token'
    assert missing.stderr.startswith("dockyard: error: No GitHub token: set GITHUB_TOKEN ")


# ----------------------------------------------------------------------------- optional pull


def test_ci_pull_skips_without_remote_or_credentials(project: Path) -> None:
    command = [sys.executable, "-m", "dockyard.cli", "ci", "pull"]
    assert "No DVC remote configured" in run(command, project).stdout
    run(["dvc", "remote", "add", "-d", "store", "s3://bucket/x"], project)
    env = {k: v for k, v in project_env().items() if not k.startswith(("AWS_", "AZURE_"))}
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "no credentials are set" in result.stdout


def test_ci_run_refuses_unbalanced_quotes(tmp_path: Path) -> None:
    result = run(
        [sys.executable, "-m", "dockyard.cli", "ci", "run", "--overrides", "-S 'seeds=[0, 1"],
        tmp_path,
        check=False,
    )
    assert result.returncode == 2 and error_of(result)["kind"] == "bad-override"


def test_ci_run_splits_overrides_like_a_shell() -> None:
    import shlex

    assert shlex.split("-S model=cnn -S 'seeds=[0, 1, 2]'") == [
        "-S",
        "model=cnn",
        "-S",
        "seeds=[0, 1, 2]",
    ]


def test_report_alpha_must_be_a_probability(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "report", "--base", "main", "--alpha", "1.5"],
        cwd=tmp_path,
        env=project_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "between 0 and 1" in result.stderr
