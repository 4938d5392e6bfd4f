"""NAME@VERSION or NAME@STAGE -> a local model folder, byte-identical to the registered one.

GTO resolves the name to a commit (the stage's most recent assignment, as `gto show`);
dvc.lock at that commit names the folder's content hash. The workspace folder is used when
it has exactly that hash; otherwise DVC fetches the folder as it was at that commit
(`Repo.get(root, path, rev=sha)`, from the local cache or the remote) into
`.dockyard/models/NAME@vX.Y.Z/`, a git-ignored cache.

DVC's own resolution (`dvc artifacts get --stage`) is not used: it picks the newest stage
tag even when it is an unassignment, and ignores deregistrations, so it can disagree with
`gto show` and with `dockyard registry`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.io import restore_hint
from dockyard.registry import git
from dockyard.registry.snapshot import lock_stages, out_entry
from dockyard.registry.versions import (
    ArtifactInfo,
    RegistryError,
    VersionInfo,
    parse_spec,
    read_registry,
    resolve_version,
)

WORK_DIR = ".dockyard"
CACHE_DIR = f"{WORK_DIR}/models"


@dataclass
class Resolved:
    """A registered version pinned down: its commit, folder path and content hash."""

    name: str
    ref: str  # what was asked for: v1.2.0, prod, latest
    info: VersionInfo
    path: str  # the artifact's folder in the repository at that commit
    md5: str | None  # the folder's hash in dvc.lock at that commit

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def commit(self) -> str:
        return self.info.commit

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def declared_artifacts(root: str | Path, rev: str | None = None) -> dict[str, str]:
    """name -> path of every artifact dvc.yaml declares (at `rev`, else the workspace)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root), rev=rev) as repo:
            found = repo.artifacts.read()
    except DvcException as error:
        where = f"at {rev[:12]}" if rev else "in the workspace"
        problem = _first_line(error)
        if "dvc.lock" in problem:  # DVC reads the lock with dvc.yaml: the lock is at fault
            raise DockyardError(
                f"DVC could not read the pipeline {where}: {problem}. dvc.lock is written by "
                f"DVC: {restore_hint('dvc.lock', 'dvc repro')}, and commit it.",
                kind="unreadable",
                path=Path(root) / "dvc.lock",
            ) from None
        raise DockyardError(
            f"DVC could not read the artifacts of dvc.yaml {where}: {problem}. Fix "
            "dvc.yaml (an `artifacts:` section with `path:`, `type:` and `desc:`).",
            kind="bad-artifacts",
            path=Path(root) / "dvc.yaml",
        ) from None
    names: dict[str, str] = {}
    for dvcfile, artifacts in found.items():
        prefix = str(Path(dvcfile).parent)
        for name, artifact in artifacts.items():
            full = name if prefix in ("", ".") else f"{prefix}:{name}"
            names[full] = artifact.path if prefix in ("", ".") else f"{prefix}/{artifact.path}"
    return names


def artifact_path(root: str | Path, name: str, commit: str) -> str:
    """The artifact's folder as dvc.yaml declared it at `commit` (today's declaration for a
    commit older than the `artifacts:` section)."""
    declared = {}
    with contextlib.suppress(DockyardError):
        declared = declared_artifacts(root, rev=commit)
    if name not in declared:
        declared = declared_artifacts(root)
    if name not in declared:
        raise RegistryError(
            f"dvc.yaml declares no artifact {name!r}, neither at {commit[:12]} nor now "
            f"(declared: {', '.join(sorted(declared)) or 'none'}). Add it under `artifacts:`.",
            kind="unknown-artifact",
        )
    return declared[name]


def resolve_spec(
    spec: str, root: str | Path = ".", artifacts: dict[str, ArtifactInfo] | None = None
) -> Resolved:
    name, ref = parse_spec(spec)
    artifacts = read_registry(root) if artifacts is None else artifacts
    info = resolve_version(artifacts, name, ref)
    path = artifact_path(root, name, info.commit)
    entry = out_entry(lock_stages(root, info.commit), path)
    return Resolved(name=name, ref=ref, info=info, path=path, md5=(entry or {}).get("md5"))


def folder_md5(path: str | Path) -> str:
    """The folder's content hash as DVC computes it for dvc.lock (`<md5>.dir`)."""
    from dvc.fs import LocalFileSystem
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB

    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory() as scratch:
        _, _, obj = build(
            HashFileDB(fs, scratch), str(Path(path).resolve()), fs, "md5", dry_run=True
        )
    return obj.hash_info.value


def is_registry_spec(spec: str) -> bool:
    return ("@" in spec or "#" in spec) and not Path(spec).exists()


def resolve_model(spec: str | Path, root: str | Path = ".") -> Path:
    """A model folder for `spec`: a folder path (returned as is), or NAME@vX.Y.Z,
    NAME@STAGE or NAME@latest resolved through the registry to the exact registered
    folder (the workspace's when identical, else fetched by DVC into .dockyard/models/)."""
    spec_text = str(spec)
    if not is_registry_spec(spec_text):
        path = Path(spec_text)
        if path.is_dir():
            return path
        raise DockyardError(
            f"Expected a model folder or a registered model (NAME@vX.Y.Z, NAME@STAGE), found "
            f"{spec_text!r}: no such folder. Train one (`dvc repro` writes models/seed-N/) or "
            "name a version from `dockyard registry`, e.g. model@prod.",
            kind="missing-file",
            path=spec_text,
        )
    root = git.repo_root(root)
    resolved = resolve_spec(spec_text, root)
    return materialize(resolved, root)


def materialize(resolved: Resolved, root: str | Path) -> Path:
    """The workspace folder when byte-identical, else the cached or freshly fetched copy."""
    root = Path(root)
    if resolved.md5 is None:
        raise RegistryError(
            f"dvc.lock at {resolved.commit[:12]} ({resolved.label}) records no output "
            f"{resolved.path}: that commit's pipeline was never run and committed. Register a "
            "commit whose dvc.lock holds the model.",
            kind="not-reproduced",
        )
    workspace = root / resolved.path
    if workspace.is_dir() and folder_md5(workspace) == resolved.md5:
        return workspace
    target = root / CACHE_DIR / resolved.label.replace("/", "--")
    marker = target.with_name(target.name + ".json")
    if target.is_dir() and marker.is_file() and folder_md5(target) == resolved.md5:
        return target
    _fetch(resolved, root, target)
    marker.write_text(
        json.dumps({"commit": resolved.commit, "path": resolved.path, "md5": resolved.md5}) + "\n",
        encoding="utf-8",
    )
    return target


def _fetch(resolved: Resolved, root: Path, target: Path) -> None:
    from dvc.repo import Repo

    target.parent.mkdir(parents=True, exist_ok=True)
    ignore = root / WORK_DIR / ".gitignore"
    if not ignore.exists():  # the whole folder stays out of git without touching .gitignore
        ignore.write_text("# dockyard's local cache (resolved models)\n*\n", encoding="utf-8")
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    partial = scratch / "model"  # Repo.get nests into an existing folder: give it a new one
    try:
        try:
            Repo.get(str(root), resolved.path, out=str(partial), rev=resolved.commit)
        except Exception as error:  # DVC raises DataIndexDirError, FileNotFoundError, ...
            raise fetch_error(resolved, _remotes(root, resolved.commit), error) from None
        if folder_md5(partial) != resolved.md5:
            raise RegistryError(
                f"DVC fetched {resolved.path} at {resolved.commit[:12]} for {resolved.label}, but "
                f"its content hash differs from dvc.lock's {resolved.md5}. The remote holds "
                "different data under that hash; re-push it from where it was trained.",
                kind="hash-mismatch",
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fetch_error(resolved: Resolved, remotes: dict[str, str], error: Exception) -> DockyardError:
    """Why a version's folder could not be fetched, given the remotes DVC could use."""
    where = (
        f"{resolved.label} ({resolved.path} at commit {resolved.commit[:12]}, hash {resolved.md5})"
    )
    if not remotes:
        return RegistryError(
            f"Could not get {where}: it is not in the local DVC cache, and the project has no "
            "DVC remote to fetch it from. Configure the team's remote (`dvc remote add -d NAME "
            "URL`) or run this where the model was trained.",
            kind="fetch-failed",
        )
    shown = ", ".join(f"{name} ({url})" for name, url in remotes.items())
    return RegistryError(
        f"Could not get {where} from the DVC remote {shown}: {_first_line(error)}. It was "
        "probably never pushed: run `dvc push` in the repository where that version was "
        "trained (at its commit), and check this clone's remote credentials "
        "(.dvc/config.local).",
        kind="fetch-failed",
    )


def _remotes(root: Path, commit: str) -> dict[str, str]:
    """The remotes DVC sees at `commit` (its .dvc/config, with this clone's config.local)."""
    from dvc.repo import Repo

    try:
        with Repo(str(root), rev=commit) as repo:
            return {name: str(conf.get("url", "")) for name, conf in repo.config["remote"].items()}
    except Exception:  # an unreadable config already failed the fetch; say what we know
        return {}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
