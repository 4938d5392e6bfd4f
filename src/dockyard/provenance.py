"""What produced a model: commit, params and data hashes, library versions, device."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from dockyard.io import file_sha256

_LIBRARIES = ("dockyard", "torch", "pytorch-lightning", "numpy", "pandas", "pyarrow", "dvc")


def record_run_facts(path: str | Path, facts: dict[str, Any]) -> None:
    """Merge `facts` into a run-facts file (eval/runs/seed-N.json): what changes on every
    run lives there, outside every DVC output."""
    import json

    from dockyard.io import write_json

    path = Path(path)
    current: dict[str, Any] = {}
    if path.is_file():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            current = {}
    write_json({**current, **facts}, path)


def read_run_facts(path: str | Path) -> dict[str, Any]:
    import json

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        return {}


def git_commit(root: str | Path = ".") -> str | None:
    """HEAD's commit, or None outside a git repository (e.g. an exported copy)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def data_hashes(paths: list[str]) -> dict[str, str]:
    return {path: "sha256:" + file_sha256(path) for path in paths}


def describe_device(trainer: Any) -> dict[str, Any]:
    """The hardware a Lightning trainer ran on, in words a reviewer can read."""
    device = trainer.strategy.root_device
    info: dict[str, Any] = {
        "type": device.type,
        "devices": int(trainer.num_devices),
        "nodes": int(trainer.num_nodes),
        "precision": str(trainer.precision),
    }
    if device.type == "cuda":
        import torch

        info["name"] = torch.cuda.get_device_name(device)
    else:
        info["name"] = platform.processor() or platform.machine()
    info["platform"] = sys.platform
    return info
