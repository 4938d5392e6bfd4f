"""Register the workspace's HEAD as the next version, and bundle a version for release.

MODEL_CARD.md is written at registration into `.dockyard/cards/NAME@vX.Y.Z/` (git-ignored,
like every dockyard cache): the model folder is hashed by DVC and must not hold run facts,
and the card is rendered from the commit and its tag alone, so `dockyard lineage
NAME@vX.Y.Z --markdown` prints the same text anywhere, and the promote workflow attaches it
to the release beside the weights.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.paths import MODEL_CARD, MODEL_TRANSFORM, MODEL_WEIGHTS
from dockyard.registry import checks, git, versions
from dockyard.registry.card import render_markdown
from dockyard.registry.lineage import build_lineage
from dockyard.registry.policy import AUTO_PRIMARY
from dockyard.registry.resolve import WORK_DIR, declared_artifacts, materialize, resolve_spec
from dockyard.registry.snapshot import load_snapshot
from dockyard.registry.versions import RegistryError

CARDS_DIR = f"{WORK_DIR}/cards"
CARD_FILE = "MODEL_CARD.md"
BUMPS = ("major", "minor", "patch")


@dataclass
class Registered:
    name: str
    version: str
    commit: str
    tag: str
    card: Path
    notes: list[str] = field(default_factory=list)


def default_artifact(root: str | Path, name: str | None) -> tuple[str, str]:
    """(name, path) of the artifact to register: NAME, or the only one dvc.yaml declares."""
    declared = declared_artifacts(root)
    if name is None:
        if len(declared) != 1:
            found = ", ".join(sorted(declared)) or "none"
            raise RegistryError(
                f"Expected exactly one artifact in dvc.yaml's `artifacts:` to register by "
                f"default, found {found}. Name one: `dockyard register NAME`.",
                kind="unknown-artifact",
            )
        name = next(iter(declared))
    if name not in declared:
        raise RegistryError(
            f"dvc.yaml declares no artifact {name!r} (declared: "
            f"{', '.join(sorted(declared)) or 'none'}). Declare it under `artifacts:` with its "
            "`path:`, or register one of those.",
            kind="unknown-artifact",
        )
    return name, declared[name]


def _summary(root: Path, commit: str) -> str:
    snap = load_snapshot(root, commit)
    primary = AUTO_PRIMARY.get(snap.task or "")
    stats = snap.metrics.get(primary or "")
    if not isinstance(stats, dict) or stats.get("mean") is None:
        return "no metrics"
    spread = f" ± {stats['std']:.4f}" if stats.get("std") is not None else ""
    return f"{primary} {stats['mean']:.4f}{spread} (n={stats.get('n')})"


def register_model(
    root: str | Path,
    name: str | None = None,
    *,
    bump: str = "minor",
    version: str | None = None,
    message: str | None = None,
    push: bool = False,
) -> Registered:
    root = git.repo_root(root)
    name, path = default_artifact(root, name)
    problems = checks.register_problems(root, path)
    if problems:
        raise checks.refuse(name, problems)
    commit = git.head(root) or ""
    artifacts = versions.read_registry(root)
    art = artifacts.get(name)
    same = next((v for v in art.versions if v.commit == commit), None) if art else None
    if same is not None:
        raise RegistryError(
            f"{name} is already registered at commit {commit[:12]} as {same.version}: one "
            "commit, one version. Train and commit a change to register a new one.",
            kind="already-registered",
        )
    if version is not None:
        versions.parse_version(version)
        if art and art.find(version):
            raise RegistryError(
                f"{name}@{version} already exists (on commit {art.find(version).commit[:12]}); "
                f"pick a new version, or leave --version out for the next one "
                f"({versions.next_version(art, bump)}).",
                kind="already-exists",
            )
    else:
        version = versions.next_version(art, bump)
    text = message or f"dockyard register: {name} {version}, {_summary(root, commit)}"
    versions.wait_for_fresh_second(art)
    registration = versions.register(root, name, commit, version, text)
    notes = []
    if push:
        git.git(root, "push", "origin", f"refs/tags/{registration.tag}")
    notice = checks.push_notice(root, path)
    if notice:
        notes.append(notice)
    card = write_card(root, f"{name}@{version}")
    return Registered(name, version, commit, registration.tag, card, notes)


def write_card(root: Path, spec: str, out_dir: Path | None = None) -> Path:
    """Render MODEL_CARD.md for a registered version into out_dir (default: the cards cache)."""
    artifacts = versions.read_registry(root)
    resolved = resolve_spec(spec, root, artifacts)
    lineage = build_lineage(
        root, resolved.commit, resolved.path, name=resolved.name, resolved=resolved
    )
    target = (out_dir or root / CARDS_DIR / resolved.label.replace("/", "--")) / CARD_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    ignore = root / WORK_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# dockyard's local cache (resolved models, cards)\n*\n", encoding="utf-8"
        )
    target.write_text(render_markdown(lineage), encoding="utf-8")
    return target


def bundle(
    root: str | Path, spec: str, out_dir: str | Path, onnx: bool = False
) -> tuple[list[Path], list[str]]:
    """The release bundle of a version: weights, card, transform, MODEL_CARD.md, lineage
    as JSON, and model.onnx when asked and the onnx packages are installed. Returns the
    files and notes on what was left out."""
    root = git.repo_root(root)
    artifacts = versions.read_registry(root)
    resolved = resolve_spec(spec, root, artifacts)
    folder = materialize(resolved, root)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DockyardError(
            f"--out {out} is not empty; bundle into a new folder so nothing stale ships.",
            kind="not-empty",
            path=out,
        )
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for file in (MODEL_WEIGHTS, MODEL_CARD, MODEL_TRANSFORM):
        shutil.copyfile(folder / file, out / file)
        files.append(out / file)
    lineage = build_lineage(
        root,
        resolved.commit,
        resolved.path,
        name=resolved.name,
        resolved=resolved,
        model_dir=folder,
    )
    lineage["model"]["stages"] = []  # a bundle describes the version, not today's stages
    (out / CARD_FILE).write_text(render_markdown(lineage), encoding="utf-8")
    (out / "lineage.json").write_text(json.dumps(lineage, indent=2, default=str) + "\n")
    files += [out / CARD_FILE, out / "lineage.json"]
    notes = []
    if onnx:
        from importlib.util import find_spec

        if find_spec("onnx") and find_spec("onnxscript"):
            from dockyard.models.onnx import export_onnx

            files.append(export_onnx(folder, out / "model.onnx"))
        else:
            notes.append("note: no model.onnx: the onnx and onnxscript packages are not installed.")
    return files, notes
