"""Lineage: the chain that produced a model version, read from git at its commit.

commit -> params (dvc.lock's, hashed) -> data (every upstream stage's outputs with their
hashes, the validation report's row counts) -> code (the train stage's code deps) ->
environment (libraries and device, from the model's card) -> metrics (eval/ with
intervals, per seed) -> the pull request that merged it. The model folder itself holds no
run-specific facts (DVC hashes it), so everything here comes from the commit and its tags.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError
from dockyard.registry import git
from dockyard.registry.resolve import (
    Resolved,
    declared_artifacts,
    folder_md5,
    materialize,
    resolve_spec,
)
from dockyard.registry.snapshot import (
    flat_params,
    is_code,
    load_snapshot,
    producer,
    upstream,
)
from dockyard.registry.versions import ArtifactInfo, read_registry


def _out_summary(out: dict[str, Any]) -> dict[str, Any]:
    return {k: out[k] for k in ("path", "md5", "size", "nfiles") if k in out}


def build_lineage(
    root: str | Path,
    commit: str,
    path: str,
    *,
    name: str | None = None,
    resolved: Resolved | None = None,
    artifacts: dict[str, ArtifactInfo] | None = None,
    model_dir: Path | None = None,
    branch: str = "main",
) -> dict[str, Any]:
    """Everything known about the model at `path` as committed at `commit`."""
    snap = load_snapshot(root, commit)
    stages = snap.stages()
    found = producer(stages, path)
    if found is None:
        raise DockyardError(
            f"dvc.lock at {commit[:12]} records no output {path}, so its lineage is unknown. "
            "Register (and look up) commits whose pipeline ran and was committed.",
            kind="not-reproduced",
        )
    stage, entry = found
    chain = upstream(stages, stage)
    params: dict[str, Any] = {}
    for name_ in [*chain, stage]:
        params.update(flat_params(stages[name_]))
    for other, other_entry in stages.items():  # `seeds` is read by aggregate, not train
        if other not in chain and other != stage:
            params.update({k: v for k, v in flat_params(other_entry).items() if k == "seeds"})
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    out = next(o for o in entry.get("outs") or [] if o.get("path") == path)

    data_stages = []
    for name_ in chain:
        lock_entry = stages[name_]
        data_stages.append(
            {
                "stage": name_,
                "inputs": [
                    _out_summary(d)
                    for d in lock_entry.get("deps") or []
                    if not is_code(d.get("path", "")) and producer(stages, d["path"]) is None
                ],
                "outs": [_out_summary(o) for o in lock_entry.get("outs") or []],
            }
        )
    info = git.commit_info(root, commit)
    pull = git.find_pull_request(root, commit, branch)
    base_url = git.github_url(root)
    lineage: dict[str, Any] = {
        "model": {
            "name": name,
            "version": resolved.version if resolved else None,
            "tag": resolved.info.tag if resolved else None,
            "registered_at": resolved.info.registered_at.isoformat() if resolved else None,
            "registered_by": (
                f"{resolved.info.author} <{resolved.info.email}>" if resolved else None
            ),
            "stages": _stages_held(artifacts, name, resolved),
            "path": path,
            "md5": out.get("md5"),
            "stage": stage,
            "seeds": params.get("seeds"),
        },
        "commit": {
            "sha": info.sha,
            "subject": info.subject,
            "author": info.author,
            "date": info.date,
        },
        "pull_request": (
            {
                "number": pull[0],
                "merge_commit": pull[1],
                "url": f"{base_url}/pull/{pull[0]}" if base_url else None,
            }
            if pull
            else None
        ),
        "params": {
            "hash": "sha256:" + hashlib.sha256(blob.encode()).hexdigest(),
            "stages": [*chain, stage],
            "values": params,
        },
        "data": {
            "stages": data_stages,
            "train_inputs": [
                _out_summary(d) for d in entry.get("deps") or [] if not is_code(d.get("path", ""))
            ],
            "validation": snap.validation,
        },
        "code": [
            {"path": d["path"], "md5": d.get("md5")}
            for d in entry.get("deps") or []
            if is_code(d.get("path", ""))
        ],
        "metrics": snap.metrics,
        "per_seed": {str(k): v for k, v in sorted(snap.per_seed.items())},
        "runs": {str(k): v for k, v in sorted(snap.runs.items())},
        "model_size": {str(k): v for k, v in sorted(snap.model_sizes.items())},
    }
    lineage["card"], lineage["environment"] = _card_facts(root, resolved, model_dir)
    return lineage


def _stages_held(
    artifacts: dict[str, ArtifactInfo] | None, name: str | None, resolved: Resolved | None
) -> list[str]:
    if not artifacts or name not in artifacts or resolved is None:
        return []
    found = artifacts[name].find(resolved.version)
    return found.stages if found else []


def _card_facts(
    root: str | Path, resolved: Resolved | None, model_dir: Path | None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The card's description of the model and its environment (libraries, device): the
    one part of lineage inside the DVC-tracked folder, so it may need a fetch."""
    from dockyard.models.artifact import read_card

    try:
        folder = model_dir if model_dir is not None else materialize(resolved, root)  # type: ignore[arg-type]
        card = read_card(folder)
    except DockyardError as error:
        return None, {"unavailable": str(error)}
    provenance = card.get("provenance") or {}
    keep = ("dataset", "task", "target", "classes", "net", "parameters", "seed", "training")
    summary = {k: card[k] for k in keep if k in card}
    summary["features"] = len(card.get("features") or [])
    summary["keys"] = card.get("keys") or []
    summary["params_hash"] = provenance.get("params_hash")
    summary["data"] = provenance.get("data")
    return summary, {
        "libraries": provenance.get("libraries") or {},
        "device": provenance.get("device") or {},
    }


def lineage_for(spec: str, root: str | Path = ".", branch: str = "main") -> dict[str, Any]:
    """Lineage of NAME@vX.Y.Z, NAME@STAGE or a model folder."""
    from dockyard.registry.resolve import is_registry_spec

    root = git.repo_root(root)
    artifacts = read_registry(root)
    if is_registry_spec(spec):
        resolved = resolve_spec(spec, root, artifacts)
        return build_lineage(
            root,
            resolved.commit,
            resolved.path,
            name=resolved.name,
            resolved=resolved,
            artifacts=artifacts,
            branch=branch,
        )
    folder = Path(spec)
    if not folder.is_dir():
        raise DockyardError(
            f"Expected NAME@VERSION, NAME@STAGE or a model folder, found {spec!r}: no such "
            "folder. See `dockyard registry` for the registered versions.",
            kind="missing-file",
            path=folder,
        )
    md5 = folder_md5(folder)
    head = git.head(root)
    matches = [
        resolve_spec(f"{name}@{info.version}", root, artifacts)
        for name, art in artifacts.items()
        for info in art.versions
    ]
    matches = [m for m in matches if m.md5 == md5]
    if matches:  # several versions can share a folder: prefer the one at HEAD
        found = next((m for m in matches if m.commit == head), matches[0])
        return build_lineage(
            root,
            found.commit,
            found.path,
            name=found.name,
            resolved=found,
            artifacts=artifacts,
            model_dir=folder,
            branch=branch,
        )
    # Not registered: the workspace's model at HEAD, when dvc.lock there records it.
    for name, path in declared_artifacts(root).items():
        if head and (root / path).resolve() == folder.resolve():
            lineage = build_lineage(root, head, path, name=name, model_dir=folder, branch=branch)
            if lineage["model"]["md5"] == md5:
                return lineage
    raise DockyardError(
        f"{folder} (content hash {md5}) matches no registered version and not the model "
        "dvc.lock records at HEAD, so its lineage is unknown. Check out the commit that "
        "trained it (`dvc checkout`), or register it first.",
        kind="unknown-lineage",
        path=folder,
    )
