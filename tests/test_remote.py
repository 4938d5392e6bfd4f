"""DVC remotes against a real S3 server (SeaweedFS on 127.0.0.1): push, wipe, pull, verify."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from .s3_server import S3Remote, run_s3, s3_remote  # noqa: F401


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def workspace_hashes(repo: Path, names: list[str]) -> dict[str, str]:
    hashes = {}
    for name in names:
        target = repo / name
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        hashes.update({str(p.relative_to(repo)): sha256(p) for p in files})
    return hashes


def make_dvc_repo(path: Path) -> Path:
    """A minimal git + DVC repository: a tracked directory and a ~1 MB binary, committed."""
    path.mkdir(parents=True)
    run_s3(["git", "init", "-q", "-b", "main"], path)
    run_s3(["dvc", "init", "-q"], path)
    (path / "data").mkdir()
    (path / "data/train.csv").write_text("x,y\n1,2\n3,4\n")
    (path / "data/labels.txt").write_text("cat\ndog\n")
    (path / "model.bin").write_bytes(os.urandom(1024 * 1024 + 17))
    run_s3(["dvc", "add", "-q", "data", "model.bin"], path)
    run_s3(["git", "add", "-A"], path)
    run_s3(["git", "commit", "-qm", "data"], path)
    return path


@pytest.mark.slow  # starts an S3 server
def test_push_wipe_pull_round_trip(s3_remote: S3Remote, tmp_path: Path) -> None:  # noqa: F811
    repo = make_dvc_repo(tmp_path / "repo")
    tracked = ["data", "model.bin"]
    before = workspace_hashes(repo, tracked)
    assert len(before) == 3

    prefix = s3_remote.configure_dvc(repo)
    config, local = (repo / ".dvc/config").read_text(), (repo / ".dvc/config.local").read_text()
    assert s3_remote.url(prefix) in config and s3_remote.endpoint_url in config
    assert s3_remote.secret_key not in config and s3_remote.access_key not in config
    assert s3_remote.secret_key in local and s3_remote.access_key in local
    run_s3(["git", "check-ignore", "-q", ".dvc/config.local"], repo)  # never committed

    run_s3(["dvc", "push"], repo)
    keys = s3_remote.list_keys(prefix + "/")
    # Three files plus the `.dir` manifest of data/, all content-addressed under files/md5/.
    assert len(keys) == 4, keys
    assert all(key.startswith(f"{prefix}/files/md5/") for key in keys), keys
    assert sum(key.endswith(".dir") for key in keys) == 1, keys

    shutil.rmtree(repo / ".dvc/cache")
    shutil.rmtree(repo / "data")
    (repo / "model.bin").unlink()
    assert json.loads(run_s3(["dvc", "status", "--json"], repo).stdout) != {}

    run_s3(["dvc", "pull"], repo)
    assert json.loads(run_s3(["dvc", "status", "--json"], repo).stdout) == {}
    assert json.loads(run_s3(["dvc", "status", "--cloud", "--json"], repo).stdout) == {}
    assert workspace_hashes(repo, tracked) == before


@pytest.mark.slow  # starts an S3 server
def test_wrong_credentials_are_rejected(s3_remote: S3Remote, tmp_path: Path) -> None:  # noqa: F811
    repo = tmp_path / "repo"
    repo.mkdir()
    run_s3(["git", "init", "-q", "-b", "main"], repo)
    run_s3(["dvc", "init", "-q"], repo)
    (repo / "small.txt").write_text("not for strangers\n")
    run_s3(["dvc", "add", "-q", "small.txt"], repo)

    prefix = s3_remote.configure_dvc(repo, secret_key="not-the-secret")
    denied = run_s3(["dvc", "push"], repo, check=False)
    assert denied.returncode != 0, denied.stdout + denied.stderr
    assert "403" in denied.stderr or "Forbidden" in denied.stderr, denied.stderr

    s3_remote.set_dvc_credentials(repo, access_key="NOSUCHKEY", secret_key="nope")
    denied = run_s3(["dvc", "push"], repo, check=False)
    assert denied.returncode != 0, denied.stdout + denied.stderr
    assert "403" in denied.stderr or "Forbidden" in denied.stderr, denied.stderr
    assert s3_remote.list_keys(prefix + "/") == []

    s3_remote.set_dvc_credentials(repo)  # the real identity works on the same repo
    run_s3(["dvc", "push"], repo)
    assert len(s3_remote.list_keys(prefix + "/")) == 1
