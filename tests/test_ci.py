"""The pull-request workflow's pieces: workflow lint, the one comment, the optional pull, and
pull requests restoring main's stages from DVC's run-cache on a real S3 remote."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dockyard.ci import (
    EARLIER_START,
    FAILED,
    PULLED,
    RAN,
    RESTORED,
    UP_TO_DATE,
    earlier_report,
    failure_comment,
    repro_command,
    stage_outcomes,
)
from dockyard.errors import ERROR_FILE_ENV
from dockyard.github import MARKER, GitHub, GitHubError, our_comment, upsert_comment
from dockyard.report.stages import CI_FAILED, CI_RAN, CI_UP_TO_DATE

from .helpers import (
    ROOT,
    FakeGitHub,
    configure,
    error_of,
    make_project,
    project_env,
    run,
    run_with,
)
from .s3_server import S3Remote, s3_env, s3_remote  # noqa: F401

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
@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_reports_nothing(persona: str) -> None:
    """Every persona: the auditor's findings (secrets outside an environment, credentials
    persisted by checkout) are fixed, not accepted."""
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", persona, "--format", "json", str(WORKFLOWS)],
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
    result = run_with(command, project, env, check=False)
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


# ----------------------------------------------------------------------------- run-cache

DOCKYARD = [sys.executable, "-m", "dockyard.cli"]
LIGHT = ["ingest", "validate", "split", "featurize"]
REUSED = {RESTORED, PULLED, UP_TO_DATE}


def test_stage_outcomes_read_from_dvc_log() -> None:
    log = [
        "Pulling data for stage: 'ingest'",
        "Stage 'validate' didn't change, skipping",
        "Pulling data for stage: 'train@0'",
        "Unable to pull data for stage: 'train@0'",
        "Stage 'train@0' is cached - skipping run, checking out outputs",
        "Running stage 'evaluate@0':",
        "> python -m dockyard.stages.evaluate --seed 0",
        "Running stage 'aggregate':",
        "ERROR: failed to reproduce 'aggregate': failed to run: python ..., exited with 2",
    ]
    assert stage_outcomes(log) == {
        "ingest": PULLED,
        "validate": UP_TO_DATE,
        "train@0": RESTORED,
        "evaluate@0": RAN,
        "aggregate": FAILED,
    }
    # the report reads these words back without importing dockyard.ci (a floor beside it)
    assert (RAN, FAILED, UP_TO_DATE) == (CI_RAN, CI_FAILED, CI_UP_TO_DATE)


def test_reproduce_all_forces_and_restoring_needs_a_remote() -> None:
    assert repro_command("", reproduce_all=True, pull=True) == ["repro", "--force"]
    assert repro_command("", reproduce_all=False, pull=True) == ["repro", "--pull"]
    assert repro_command("", reproduce_all=False, pull=False) == ["repro"]
    assert repro_command("-S model=cnn", reproduce_all=True, pull=True) == [
        "exp",
        "run",
        "--force",
        "-S",
        "model=cnn",
    ]


def test_report_refuses_a_missing_run_record(tmp_path: Path) -> None:
    command = [*DOCKYARD, "report", "--base", "main", "--ci-run", "absent.json"]
    result = run(command, tmp_path, check=False)
    assert result.returncode == 2
    assert (error_of(result)["kind"], error_of(result)["path"]) == ("missing-file", "absent.json")


def test_failures_in_a_row_keep_one_earlier_report() -> None:
    record = {"commit": "abc123", "stages": {"ingest": PULLED, "train@0": FAILED}}
    first = failure_comment(record, "## the report\nverdict", "https://run/1", MARKER)
    assert "stage `train@0` failed on commit abc123 ([log](https://run/1))" in first
    assert earlier_report(first, MARKER) == "## the report\nverdict"
    second = failure_comment(record, earlier_report(first, MARKER), None, MARKER)
    assert second.count(EARLIER_START) == 1 and second.count("## the report") == 1
    assert earlier_report(f"{MARKER}\n## plain report", MARKER) == "## plain report"


@pytest.fixture(scope="module")
def main_run(s3_remote: S3Remote, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """main's history in a bare git remote and its outputs and run-cache on the S3 remote,
    pushed by `dockyard ci push` as the workflow does on main (one pipeline run, 2 epochs)."""
    base = tmp_path_factory.mktemp("runcache")
    main = make_project(base / "main")
    prefix = s3_remote.configure_dvc(main)
    configure(main, seeds="[0]", epochs=2)
    run(["git", "commit", "-qam", "S3 remote, two epochs"], main)
    credentials = {
        **s3_env(),
        "AWS_ACCESS_KEY_ID": s3_remote.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_remote.secret_key,
    }
    run(["dvc", "repro"], main)
    run(["git", "add", "-A"], main)
    run(["git", "commit", "-qm", "run"], main)
    pushed = run([*DOCKYARD, "ci", "push"], main, env=credentials)
    origin = base / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], base)
    run(["git", "push", "-q", str(origin), "main"], main)
    return SimpleNamespace(
        base=base, main=main, origin=origin, prefix=prefix, env=credentials, pushed=pushed
    )


def pr_clone(main_run: SimpleNamespace, name: str, change) -> Path:
    """A pull request's checkout: a clone of origin with `change(clone)` committed."""
    clone = main_run.base / name
    run(["git", "clone", "-q", str(main_run.origin), str(clone)], main_run.base)
    change(clone)
    run(["git", "add", "-A"], clone)
    run(["git", "commit", "-qm", name], clone)
    return clone


def ci_run(clone: Path, env: dict[str, str], check: bool = True):
    """`dockyard ci pull` and `dockyard ci run` as the workflow runs them; (record, output)."""
    run([*DOCKYARD, "ci", "pull"], clone, env=env)
    record = clone / "ci-run.json"
    command = [*DOCKYARD, "ci", "run", "--base", "origin/main", "--record", str(record)]
    result = run(command, clone, env=env, check=check)
    return json.loads(record.read_text()), result


def report(clone: Path, env: dict[str, str]) -> str:
    command = [*DOCKYARD, "report", "--base", "origin/main", "--check-reproduced"]
    run([*command, "--ci-run", "ci-run.json", "--output", "report.md"], clone, env=env)
    return (clone / "report.md").read_text()


@pytest.mark.slow  # a pipeline run on main, partial ones on pull requests
def test_main_pushes_outputs_and_run_cache(main_run: SimpleNamespace, s3_remote: S3Remote) -> None:  # noqa: F811
    assert "Pushed the outputs and the run-cache" in main_run.pushed.stdout
    keys = s3_remote.list_keys(main_run.prefix + "/")
    assert any(k.startswith(f"{main_run.prefix}/runs/") for k in keys)
    assert any(k.startswith(f"{main_run.prefix}/files/md5/") for k in keys)


@pytest.mark.slow
def test_docs_only_pull_request_restores_every_stage(main_run: SimpleNamespace) -> None:
    clone = pr_clone(main_run, "docs", lambda c: (c / "NOTES.md").write_text("Notes.\n"))
    record, result = ci_run(clone, main_run.env)
    lock = (main_run.main / "dvc.lock").read_text()
    assert "Running stage" not in result.stdout
    assert record["stages"] and set(record["stages"].values()) <= REUSED
    assert set(record["stages"]) == {*LIGHT, "train@0", "evaluate@0", "aggregate", "monitor"}
    assert (clone / "dvc.lock").read_text() == lock
    assert (clone / "models/seed-0").is_dir()  # main's outputs, restored
    text = report(clone, main_run.env)
    assert "<b>Stages</b>: 0 re-ran, 8 restored, not re-run" in text
    for stage in record["stages"]:
        assert f"| `{stage}` | restored from main's run |" in text
    assert "**Reproducibility:** not re-checked: no stage re-ran in this run" in text


@pytest.mark.slow
def test_lr_change_reruns_training_and_what_reads_it(main_run: SimpleNamespace) -> None:
    def lower_lr(clone: Path) -> None:
        configure(clone, seeds="[0]", epochs=2, lr=0.01)

    clone = pr_clone(main_run, "lr", lower_lr)
    record, result = ci_run(clone, main_run.env)
    ran = {stage for stage, outcome in record["stages"].items() if outcome == RAN}
    # monitor compares the new model's predictions, so it re-runs with it
    assert ran == {"train@0", "evaluate@0", "aggregate", "monitor"}
    assert {record["stages"][stage] for stage in LIGHT} <= REUSED
    assert "Running stage 'ingest'" not in result.stdout
    text = report(clone, main_run.env)
    assert "| `train@0` | re-ran (params `train.lr`, `train.optimizer.lr`) |" in text
    assert "| `evaluate@0` | re-ran (upstream outputs `models/seed-0`) |" in text
    for stage in LIGHT:
        assert f"| `{stage}` | restored from main's run |" in text
    assert "4 of 8 stages re-ran in this run; the other 4 were restored" in text
    # the branch committed main's metrics, so the weekly job's strict check would fail here
    strict = [*DOCKYARD, "report", "--base", "origin/main", "--require-reproduced"]
    result = run([*strict, "--output", "strict.md"], clone, env=main_run.env, check=False)
    assert result.returncode == 1
    assert (
        "**Reproducibility:** ⚠️ the reproduced metrics differ" in (clone / "strict.md").read_text()
    )


@pytest.mark.slow
def test_fork_pull_request_ends_green_with_the_summary(main_run: SimpleNamespace) -> None:
    """No secrets and no token: the DVC cache comes from the workflow's cache (actions/cache,
    keyed on dvc.lock), the report goes to the step summary, and nothing is posted."""
    import shutil

    clone = pr_clone(main_run, "fork", lambda c: (c / "NOTES.md").write_text("From a fork.\n"))
    shutil.copytree(main_run.main / ".dvc/cache", clone / ".dvc/cache")  # actions/cache
    env = {**s3_env(), "GITHUB_TOKEN": ""}
    pulled = run([*DOCKYARD, "ci", "pull"], clone, env=env)
    assert "no credentials are set" in pulled.stdout
    record, result = ci_run(clone, env)
    assert "dvc repro" in result.stdout and "--pull" not in result.stdout.splitlines()[0]
    assert set(record["stages"].values()) <= REUSED
    report(clone, env)
    summary = clone / "summary.md"
    command = [*DOCKYARD, "comment", "--repo", "acme/ml", "--pr", "7", "--fork"]
    posted = run([*command, "--body-file", "report.md", "--summary", str(summary)], clone, env=env)
    assert posted.returncode == 0
    text = summary.read_text()
    assert text.startswith("## dockyard report: ")
    assert "No comment was posted on acme/ml#7: it comes from a fork" in text


@pytest.mark.slow
def test_failing_stage_updates_the_one_comment(main_run: SimpleNamespace) -> None:
    def break_aggregate(clone: Path) -> None:
        path = clone / "dvc.yaml"
        text = path.read_text()
        path.write_text(text.replace("stages.aggregate", "stages.no_such_stage"))

    clone = pr_clone(main_run, "broken", break_aggregate)
    record, result = ci_run(clone, main_run.env, check=False)
    assert result.returncode != 0
    assert record["stages"]["aggregate"] == FAILED
    assert {record["stages"][stage] for stage in LIGHT} <= REUSED
    sha = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    with FakeGitHub(MARKER) as github:
        client = GitHub("t0ken", github.url)
        upsert_comment(client, "acme/ml", 7, "## dockyard report: the previous push\nverdict")
        env = {
            **main_run.env,
            "GITHUB_TOKEN": "t0ken",
            "GITHUB_API_URL": github.url,
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_REPOSITORY": "acme/ml",
            "GITHUB_RUN_ID": "99",
        }
        command = [*DOCKYARD, "ci", "failed", "--record", "ci-run.json"]
        run([*command, "--repo", "acme/ml", "--pr", "7"], clone, env=env)
        body = our_comment(client, "acme/ml", 7)["body"]
        ours = [c for c in github.comments if c["user"]["type"] == "Bot"]
    assert len(ours) == 1
    assert f"stage `aggregate` failed on commit {sha}" in body
    assert "([log](https://github.test/acme/ml/actions/runs/99))" in body
    assert earlier_report(body, MARKER) == "## dockyard report: the previous push\nverdict"
    assert body.index("failed on commit") < body.index("<details>")
