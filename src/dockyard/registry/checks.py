"""Before a commit becomes a version: is it exactly what the pipeline produced from conf/?

GTO tags any commit; these checks make a version mean something: a clean git workspace
(the tag names a commit, not local edits), params.yaml composed from conf/, a pipeline
DVC calls up to date, dvc.lock's params equal to params.yaml, and the model folder in the
workspace equal to the one dvc.lock records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dockyard.errors import DockyardError
from dockyard.io import load_dvc_yaml
from dockyard.registry import git
from dockyard.registry.resolve import folder_md5
from dockyard.registry.snapshot import producer

SHOWN = 5  # how many paths or keys a message lists before "and N more"


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _select(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


_MISSING = object()


def git_problems(root: Path) -> list[str]:
    if git.head(root) is None:
        return ["the repository has no commit yet: commit the project and its pipeline outputs."]
    from dockyard.paths import RUNS_DIR

    # run facts (seconds, latency) change on every run and describe no model: a re-run
    # that reproduced the same model leaves only those, and the commit still names it
    dirty = [p for p in git.dirty_paths(root) if not p.startswith(f"{RUNS_DIR}/")]
    if dirty:
        return [
            f"the git workspace has uncommitted changes ({_listed(dirty)}): a version names a "
            "commit, so commit (or stash) them first."
        ]
    return []


def params_problems(root: Path) -> list[str]:
    from dockyard.config import PARAMS_FILE, compose_params

    path = root / PARAMS_FILE
    if not path.is_file():
        return [f"there is no {PARAMS_FILE}: run `dockyard compose`, `dvc repro` and commit."]
    composed = yaml.safe_load(compose_params([], root)) or {}
    current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if composed == current:
        return []
    fresh, found = _flatten(composed), _flatten(current)
    keys = sorted(
        k for k in set(fresh) | set(found) if fresh.get(k, _MISSING) != found.get(k, _MISSING)
    )
    shown = [
        f"{k}: {found.get(k, '(absent)')!r} in {PARAMS_FILE}, "
        f"{fresh.get(k, '(absent)')!r} from conf/"
        for k in keys
    ]
    return [
        f"{PARAMS_FILE} is not what conf/ composes to ({_listed(shown)}), so the metrics were not "
        "produced from the committed configuration. Put the settings into conf/ (e.g. "
        "conf/config.yaml instead of command-line overrides), run `dockyard compose` and "
        "`dvc repro`, and commit."
    ]


def pipeline_problems(root: Path) -> list[str]:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            status = repo.status()
    except DvcException as error:
        return [f"`dvc status` failed: {str(error).strip().splitlines()[0]}."]
    if not status:
        return []
    stages = []
    for stage, changes in status.items():
        reasons = []
        for change in changes:
            if isinstance(change, str):
                reasons.append(change)
                continue
            for kind, items in change.items():
                names = []
                for name, state in (items or {}).items():
                    if isinstance(state, dict):  # params.yaml: {key: modified}
                        names += [f"{key} {how}" for key, how in state.items()]
                    else:
                        names.append(f"{name} {state}")
                reasons.append(f"{kind}: {_listed(names)}")
        stages.append(f"{stage} ({'; '.join(reasons)})")
    return [
        f"the pipeline is not up to date (`dvc status`: {_listed(stages)}). Run `dvc repro` and "
        "commit dvc.lock and the metrics."
    ]


def lock_problems(root: Path, path: str) -> list[str]:
    """dvc.lock's entry for the model: its params equal params.yaml's, and the workspace
    folder has the hash it records."""
    lock = (
        load_dvc_yaml((root / "dvc.lock").read_text(encoding="utf-8"))
        if (root / "dvc.lock").is_file()
        else None
    )
    stages = (lock or {}).get("stages") or {}
    found = producer(stages, path)
    if found is None:
        return [f"dvc.lock records no output {path}: run `dvc repro` and commit dvc.lock."]
    stage, entry = found
    problems = []
    params_path = root / "params.yaml"
    params = (
        yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.is_file() else {}
    )
    recorded = (entry.get("params") or {}).get("params.yaml") or {}
    differ = [
        f"{key} ({value!r} in dvc.lock, {_select(params, key)!r} in params.yaml)"
        for key, value in recorded.items()
        if _select(params, key) != value
    ]
    if differ:
        problems.append(
            f"dvc.lock's {stage} ran with other params than params.yaml holds: {_listed(differ)}. "
            "Run `dvc repro` and commit dvc.lock."
        )
    md5 = next(o.get("md5") for o in entry.get("outs") or [] if o.get("path") == path)
    folder = root / path
    if not folder.is_dir():
        problems.append(
            f"the model folder {path} is missing from the workspace: restore it (`dvc checkout` "
            "or `dvc pull`) so dockyard can check it against dvc.lock."
        )
    elif folder_md5(folder) != md5:
        problems.append(
            f"the model folder {path} differs from what dvc.lock records ({folder_md5(folder)} vs "
            f"{md5}): restore it with `dvc checkout {path}`, or re-run `dvc repro` and commit."
        )
    return problems


def register_problems(root: Path, path: str) -> list[str]:
    """Every reason the workspace's HEAD cannot become a version, in words."""
    problems = git_problems(root)
    if git.head(root) is None:
        return problems
    problems += params_problems(root)
    problems += pipeline_problems(root)
    problems += lock_problems(root, path)
    return problems


def push_notice(root: Path, path: str) -> str | None:
    """A note when a DVC remote exists but the model is not in it (others could not
    resolve the version); None when it is pushed or there is no remote."""
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            if not repo.config["remote"]:
                return (
                    "note: the project has no DVC remote, so only this repository can resolve "
                    "the version; add one (`dvc remote add -d NAME URL`) and `dvc push`."
                )
            missing = repo.status(targets=[path], cloud=True)
    except Exception as error:  # network, credentials: a note, never a refusal
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"note: could not check whether {path} is in the DVC remote ({first})."
    if missing:
        return (
            f"note: {path} is not in the DVC remote yet: run `dvc push` so that clones (and CI) "
            "can resolve this version."
        )
    return None


def refuse(name: str, problems: list[str]) -> DockyardError:
    numbered = " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
    return DockyardError(f"Not registering {name}: {numbered}", kind="checks-failed")
