"""Which model produced a prediction: the card's params hash, the weights' sha256, and the
git commit whose dvc.lock describes exactly this model folder (None when it does not).

The commit is found without importing DVC: HEAD's dvc.lock names the folder's DVC hash,
DVC's cache holds the folder's file listing under that hash, and each file's md5 is
compared with the folder's. Any doubt (no git, no lock entry, no cache, a changed file)
answers None rather than a commit that may not describe the model.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.models.artifact import ModelArtifact
from dockyard.paths import MODEL_WEIGHTS, seed_dir


def model_version(model: ModelArtifact) -> dict[str, Any]:
    """The version facts of a model folder, from the digests taken when it was read."""
    card = model.card
    provenance = card.get("provenance") or {}
    return {
        "model": str(model.path),
        "dataset": card.get("dataset"),
        "task": card.get("task"),
        "target": card.get("target"),
        "classes": card.get("classes"),
        "seed": card.get("seed"),
        "params_hash": provenance.get("params_hash"),
        "weights_sha256": model.sha256[MODEL_WEIGHTS],
        "git_commit": commit_if_unmodified(model.path, model.md5),
    }


def model_metrics(model_dir: str | Path, seed: Any, commit: str | None) -> dict[str, Any] | None:
    """The test metrics of the run that trained the folder: eval/seeds/N/metrics.json at
    `commit` (the one whose dvc.lock describes the folder: HEAD's, or a registered version's
    when NAME@STAGE was resolved, whatever branch is checked out), else the file beside the
    folder's project (models/seed-N -> eval/seeds/N) when git cannot say."""
    if seed is None:
        return None
    relative = f"{seed_dir(seed)}/metrics.json"
    model_dir = Path(model_dir).resolve()
    if commit:
        top = _git(["rev-parse", "--show-toplevel"], model_dir)
        text = _git(["show", f"{commit}:{relative}"], Path(top.strip())) if top else None
        if text is not None:
            return _json_object(text)
    try:
        return _json_object((model_dir.parent.parent / relative).read_text(encoding="utf-8"))
    except OSError:
        return None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def commit_if_unmodified(
    model_dir: str | Path, known: Mapping[str, str] | None = None
) -> str | None:
    """HEAD's commit when the folder matches HEAD's dvc.lock file for file, else None.
    `known` holds the md5 of files already read (by name inside the folder): not read again."""
    model_dir = Path(model_dir).resolve()
    top = _git(["rev-parse", "--show-toplevel"], model_dir)
    if not top:
        return None
    root = Path(top.strip())
    relative = model_dir.relative_to(root).as_posix()
    lock_text = _git(["show", "HEAD:dvc.lock"], root)
    head = _git(["rev-parse", "HEAD"], root)
    if not lock_text or not head:
        return None
    digest = _locked_hash(lock_text, relative)
    if not digest or not digest.endswith(".dir"):
        return None
    listing = _cached_listing(root, digest)
    if listing is None:
        return None
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    if {p.relative_to(model_dir).as_posix() for p in files} != set(listing):
        return None
    known = known or {}
    for path in files:
        name = path.relative_to(model_dir).as_posix()
        if (known.get(name) or _md5(path)) != listing[name]:
            return None
    return head.strip()


def _locked_hash(lock_text: str, relative: str) -> str | None:
    import yaml

    try:
        lock = yaml.safe_load(lock_text) or {}
    except yaml.YAMLError:
        return None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if str(out.get("path", "")).rstrip("/") == relative:
                return out.get("md5")
    return None


def _cached_listing(root: Path, digest: str) -> dict[str, str] | None:
    for cache in (root / ".dvc/cache/files/md5", root / ".dvc/cache"):
        path = cache / digest[:2] / digest[2:]
        if path.is_file():
            try:
                entries = json.loads(path.read_text(encoding="utf-8"))
                return {entry["relpath"]: entry["md5"] for entry in entries}
            except (ValueError, KeyError, TypeError):
                return None
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
