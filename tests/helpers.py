"""What tests and benchmarks share: real git + DVC projects, commands run in them, and the
tables the tests generate (never stored in the repository, never seen by the code).

Benchmarks import this module (not conftest.py, which only holds pytest fixtures).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from dockyard.errors import ERROR_FILE_ENV

ROOT = Path(__file__).resolve().parents[1]
# What a dockyard project consists of (generated outputs are left out on purpose).
PROJECT_FILES = [
    "dvc.yaml",
    "params.yaml",
    "conf",
    "src",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
]


def project_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_AUTHOR_NAME="dockyard tests",
        GIT_AUTHOR_EMAIL="tests@dockyard.invalid",
        GIT_COMMITTER_NAME="dockyard tests",
        GIT_COMMITTER_EMAIL="tests@dockyard.invalid",
        DVC_NO_ANALYTICS="1",
        PYTHONWARNINGS="ignore",
    )
    return env


# Set by conftest.py for the tests (benchmarks time real processes): `dvc` and `python -m
# dockyard...` commands run through a fork server (tests/forkserver.py).
FORK_SERVER = None


def run(
    args: list[str],
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    forked: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command in a project (`env` adds to project_env()); `result.errors` holds the
    records of the dockyard errors it (or a stage it started) exited on, oldest first
    (`DockyardError.record`). Under the tests, `dvc` and `python -m dockyard...` commands
    run in processes forked from one that imported them already (tests/forkserver.py),
    unless `forked` is False."""
    return run_with(args, cwd, {**project_env(), **(env or {})}, check, forked)


def run_with(
    args: list[str],
    cwd: Path,
    variables: dict[str, str],
    check: bool = True,
    forked: bool = True,
) -> subprocess.CompletedProcess:
    """`run` with exactly the environment `variables` (nothing added from project_env())."""
    with tempfile.TemporaryDirectory(prefix="dockyard-errors-") as folder:
        records = Path(folder) / "errors.jsonl"
        variables = {**variables, ERROR_FILE_ENV: str(records)}
        result = None
        server = FORK_SERVER if forked else None
        if server is not None and (request := server.request(args, variables)):
            result = server.run(request, cwd, server.stage_env(variables))
        if result is None:
            result = subprocess.run(args, cwd=cwd, env=variables, capture_output=True, text=True)
        lines = records.read_text().splitlines() if records.exists() else []
    result.errors = [json.loads(line) for line in lines]
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr}"
        )
    return result


def command_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a command a test starts itself (subprocess.Popen, to run several at once):
    the stages its `dvc` starts come from the fork server as with `run`."""
    return FORK_SERVER.stage_env(env) if FORK_SERVER is not None else env


def error_of(result: subprocess.CompletedProcess) -> dict:
    """The one dockyard error a command exited on (its record), asserting there was one."""
    assert result.errors, f"no dockyard error was recorded\n--- stderr\n{result.stderr}"
    return result.errors[-1]


@functools.cache
def dvc_init_files() -> dict[str, bytes]:
    """The files a real `dvc init` writes, other than .dvc/config (dockyard's own) and
    .dvcignore (copied from the repository), from one `dvc init` per test process: a DVC
    start-up (about a second) saved for every project made after the first."""
    with tempfile.TemporaryDirectory(prefix="dockyard-dvc-init-") as folder:
        run(["git", "init", "-q"], Path(folder))
        run(["dvc", "init", "-q"], Path(folder))
        made = [p for p in (Path(folder) / ".dvc").rglob("*") if p.is_file()]
        skip = {".dvc/config", ".dvc/tmp/btime"}
        return {
            name: p.read_bytes()
            for p in made
            if (name := p.relative_to(folder).as_posix()) not in skip
        }


def make_project(path: Path) -> Path:
    """A fresh git + DVC repository holding dockyard's pipeline, committed once."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source, target = ROOT / name, path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, target)
    run(["git", "init", "-q", "-b", "main"], path)
    for name, content in dvc_init_files().items():  # what `dvc init` adds beside our config
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(content)
    (path / ".dvc/tmp").mkdir(exist_ok=True)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "dockyard project"], path)
    return path


def compose(project: Path, *overrides: str) -> None:
    run([sys.executable, "-m", "dockyard.cli", "compose", *overrides], project)


def clone_reproduced(reproduced: Path, target: Path) -> Path:
    shutil.copytree(reproduced, target, symlinks=True)
    return target


def head(project: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], project).stdout.strip()


def configure(project: Path, *, seeds: str, epochs: int, lr: float | None = None) -> None:
    """Change conf/ itself (a version must be reproducible from conf/), then compose."""
    path = project / "conf/config.yaml"
    text = re.sub(r"^seeds: .*$", f"seeds: {seeds}", path.read_text(), flags=re.M)
    text = re.sub(r"^  epochs: \d+", f"  epochs: {epochs}", text, flags=re.M)
    if lr is not None:
        text = re.sub(r"^  lr: \S+", f"  lr: {lr}", text, flags=re.M)
    path.write_text(text)
    compose(project)


def commit_run(project: Path, message: str) -> str:
    """dvc repro, push the outputs to the default remote, commit; the new commit's sha."""
    run(["dvc", "repro"], project)
    run(["dvc", "push", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message], project)
    return head(project)


def at(project: Path, rev: str) -> None:
    """Check out a commit with its DVC outputs (from the local cache)."""
    run(["git", "checkout", "-q", rev], project)
    run(["dvc", "checkout", "-q", "--force"], project)


def make_history(base: Path) -> dict[str, str]:
    """A project with a history, at base/project with a DVC remote at base/remote (named
    relatively, so a copy of base is a working copy of both). Commits, returned by name:
    weak: 1 seed, 2 epochs, on main; better: 3 seeds, 10 epochs, on its own branch, merged
    into main as pull request #7 (merged); harmful: learning rate 1.0, 3 seeds, branched
    from the merge; docs: a change no stage reads, also branched from the merge."""
    project = make_project(base / "project")
    run(["dvc", "remote", "add", "-d", "local", "../remote"], project)
    run(["git", "remote", "add", "origin", "https://github.com/acme/digits.git"], project)
    run(["git", "commit", "-qam", "DVC remote"], project)
    configure(project, seeds="[0]", epochs=2)
    commits = {"weak": commit_run(project, "two epochs")}
    run(["git", "checkout", "-qb", "better"], project)
    configure(project, seeds="[0, 1, 2]", epochs=10)
    commits["better"] = commit_run(project, "ten epochs, three seeds")
    run(["git", "checkout", "-q", "main"], project)
    message = "Merge pull request #7 from acme/better"
    run(["git", "merge", "-q", "--no-ff", "better", "-m", message], project)
    commits["merged"] = head(project)
    run(["git", "checkout", "-qb", "harmful"], project)
    configure(project, seeds="[0, 1, 2]", epochs=10, lr=1.0)
    commits["harmful"] = commit_run(project, "learning rate 1.0")
    at(project, commits["merged"])
    run(["git", "checkout", "-qb", "docs"], project)
    (project / "NOTES.md").write_text("Notes that change no stage.\n")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "notes"], project)
    commits["docs"] = head(project)
    at(project, "main")
    return commits


def customers(rows: int = 1500, seed: int = 7) -> pd.DataFrame:
    """Mixed numeric and text columns, ~4% missing in two of them, string labels.

    The label follows a noisy rule over plan, income, score and age, so a model can beat
    the majority class by a wide margin.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = rng.normal(50, 15, rows).round(2)
    score = rng.uniform(0, 1, rows).round(3)
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    upgrade = (plan == "pro") * 1.5 + (income - 50) / 10
    churn = (score < 0.3) * 2.0 + (age > 60) * 1.0 - (plan == "pro")
    utility = np.stack([np.zeros(rows), upgrade, churn], axis=1)
    utility += rng.gumbel(size=(rows, 3)) * 0.5
    label = np.array(["stay", "upgrade", "churn"])[utility.argmax(axis=1)]
    table = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "score": score,
            "region": region,
            "plan": plan,
            "label": label,
        }
    )
    table.loc[rng.random(rows) < 0.04, "income"] = np.nan
    table.loc[rng.random(rows) < 0.04, "region"] = None
    return table


def section_defaults(section: str) -> dict:
    """A config group's defaults as conf/ states them (conf/SECTION/default.yaml)."""
    import yaml

    return yaml.safe_load((ROOT / "conf" / section / "default.yaml").read_text())


def validated_section(section: str, **changes: object):
    """conf/SECTION/default.yaml with `changes`, checked as `dockyard compose` checks it
    (in the committed params.yaml's company); the typed section, or the ConfigError."""
    import yaml

    from dockyard.config import validate

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[section] = {**section_defaults(section), **changes}
    return validate(params, source=f"conf/{section}")[section]


def drift_policy(**changes: object):
    """The drift statistics' policy of conf/monitor/default.yaml, with `changes`."""
    from dockyard.monitor.policy import drift_policy as from_section

    return from_section({**section_defaults("monitor"), **changes})


# ----------------------------------------------------------------------------- GitHub's API


class FakeGitHub:
    """Just enough of GitHub's REST API, in memory, on 127.0.0.1: the issue comments of
    pull request acme/ml#7 (130 comments by people, one of which pasted dockyard's marker)
    and acme/ml's pull requests (a person's, and a fork's that happens to use the retrain
    prefix). The one place GitHub is faked: dockyard.github is the seam it stands behind."""

    def __init__(self, marker: str) -> None:
        from http.server import ThreadingHTTPServer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHubHandler)
        self.server.fake = self  # type: ignore[attr-defined]
        human = {"login": "octocat", "type": "User"}
        self.comments: list[dict] = [
            {"id": i, "body": f"human comment {i}", "html_url": f"u/{i}", "user": human}
            for i in range(1, 131)
        ]
        # someone pasted the marker into their own comment: it must never be taken over
        self.comments[3]["body"] = f"{marker} fake report: everything is better"
        repo = {"full_name": "acme/ml"}
        mine = {
            "number": 3,
            "title": "Add a feature",
            "body": "mine",
            "state": "open",
            "head": {"ref": "feature/x", "repo": repo},
            "base": {"ref": "main"},
            "html_url": "https://github.test/acme/ml/pull/3",
        }
        fork = {
            **mine,
            "number": 4,
            "head": {"ref": "retrain/2024-01-01", "repo": {"full_name": "someone/ml"}},
        }
        self.pulls: list[dict] = [mine, fork]
        self.requests: list[tuple[str, str]] = []
        self.forbidden = False  # comments: the token may not write

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _github_handler():
    import json
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        @property
        def fake(self) -> FakeGitHub:
            return self.server.fake  # type: ignore[attr-defined]

        def _reply(self, code: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict:
            return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

        def do_GET(self) -> None:  # noqa: N802
            self.fake.requests.append(("GET", self.path))
            assert self.headers["Authorization"] == "Bearer t0ken"
            path, _, query = self.path.partition("?")
            params = dict(p.split("=") for p in query.split("&"))
            page, size = int(params["page"]), int(params["per_page"])
            if path == "/repos/acme/ml/pulls":
                assert params["state"] == "open"
                items = [p for p in self.fake.pulls if p["state"] == "open"]
            else:
                assert path == "/repos/acme/ml/issues/7/comments"
                items = self.fake.comments
            self._reply(200, items[(page - 1) * size : page * size])

        def do_POST(self) -> None:  # noqa: N802
            self.fake.requests.append(("POST", self.path))
            body = self._body()
            if self.path == "/repos/acme/ml/pulls":
                number = 10 + len(self.fake.pulls)
                pull = {
                    "number": number,
                    "title": body["title"],
                    "body": body["body"],
                    "state": "open",
                    "head": {"ref": body["head"], "repo": {"full_name": "acme/ml"}},
                    "base": {"ref": body["base"]},
                    "html_url": f"https://github.test/acme/ml/pull/{number}",
                }
                self.fake.pulls.append(pull)
                return self._reply(201, pull)
            assert self.path == "/repos/acme/ml/issues/7/comments"
            if self.fake.forbidden:
                return self._reply(403, {"message": "Resource not accessible by integration"})
            comment = {
                "id": 1000 + len(self.fake.comments),
                "body": body["body"],
                "user": {"login": "github-actions[bot]", "type": "Bot"},
            }
            comment["html_url"] = f"u/{comment['id']}"
            self.fake.comments.append(comment)
            self._reply(201, comment)

        def do_PATCH(self) -> None:  # noqa: N802
            self.fake.requests.append(("PATCH", self.path))
            number = int(self.path.rsplit("/", 1)[1])
            if self.path.startswith("/repos/acme/ml/pulls/"):
                item = next(p for p in self.fake.pulls if p["number"] == number)
            else:
                assert self.path.startswith("/repos/acme/ml/issues/comments/")
                item = next(c for c in self.fake.comments if c["id"] == number)
            item.update(self._body())
            self._reply(200, item)

    return Handler


_GitHubHandler = _github_handler()
