"""`dockyard sweep best --branch NAME`: the best trial's settings as a commit on a branch.

The settings are written into conf/ (not only params.yaml), so `dockyard compose --check`
passes and every later `dvc exp run` starts from them: a group choice (`model=cnn`) becomes
the group's default, a key inside a group (`train.lr`, `model.net.hidden`) is set in the
group's selected file, any other key in conf/config.yaml. The branch starts at the commit
the study ran on and takes the trial's own outputs (`dvc exp apply`: DVC keeps no run-cache
entry of a stage with plain uncached outputs, such as train's curves, so restoring the
experiment is the way not to train again); `dvc repro` then runs only what is missing. The
commit holds conf/, params.yaml, dvc.lock and the metrics, ready for a pull request that CI
judges against main with seeds.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

from dockyard.config.defaults import CONFIG_DIR, CONFIG_NAME, PARAMS_FILE
from dockyard.errors import ConfigError, DockyardError

COMMITTED = ("conf", PARAMS_FILE, "dvc.lock", "eval", "data/validation.json")


def best_trial(study: Any) -> Any:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise DockyardError(
            f"Study {study.study_name!r} has no completed trial yet (pruned and failed trials "
            "are not results). Run `dockyard sweep run ... --study "
            f"{study.study_name}` until one completes.",
            kind="no-best-trial",
        )
    return study.best_trial


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    key = key.strip().lstrip("+")
    if key.startswith("~"):
        raise ConfigError(
            f"The trial deletes a key ({override!r}); dockyard sweep best writes values into "
            "conf/ and cannot express a deletion. Remove the key from conf/ by hand.",
            kind="unsupported-override",
            key=key[1:],
        )
    return key, value.strip()


def target_file(key: str, root: Path) -> tuple[Path, list[str]]:
    """The conf/ file that sets `key`, and the key's path inside it."""
    from dockyard.config.defaults import default_option

    config_dir = root / CONFIG_DIR
    top, _, rest = key.partition(".")
    option = default_option(top, root) if (config_dir / top).is_dir() else None
    if rest and option is not None:
        return config_dir / top / f"{option}.yaml", rest.split(".")
    return config_dir / f"{CONFIG_NAME}.yaml", key.split(".")


def set_value(path: Path, keys: list[str], value: Any) -> None:
    """Set a nested key in a YAML file, keeping its comments and layout."""
    from ruamel.yaml import YAML

    from dockyard.io import write_text

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # conf/'s own layout: "  - data: digits"
    data = yaml.load(path.read_text(encoding="utf-8")) or {}
    node = data
    for part in keys[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    if isinstance(value, list):  # [128, 64], as conf/ writes lists
        from ruamel.yaml.comments import CommentedSeq

        value = CommentedSeq(value)
        value.fa.set_flow_style()
    node[keys[-1]] = value
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    write_text(buffer.getvalue(), path)


def write_settings(overrides: list[str], root: Path) -> None:
    """Write a trial's overrides into conf/; then check the composition gives them back."""
    import yaml
    from omegaconf import OmegaConf

    from dockyard.config import compose, set_default

    pairs = [_split(o) for o in overrides]
    groups = [(k, v) for k, v in pairs if "." not in k and (root / CONFIG_DIR / k).is_dir()]
    values = [(k, yaml.safe_load(v)) for k, v in pairs if (k, v) not in groups]
    for key, option in groups:
        set_default(key, option, root)
    for key, value in values:
        path, keys = target_file(key, root)
        set_value(path, keys, value)
    cfg = compose([], root)
    for key, value in values:
        found = OmegaConf.select(cfg, key)
        if OmegaConf.is_config(found):
            found = OmegaConf.to_container(found, resolve=True)
        if found != value:
            raise ConfigError(
                f"Wrote {key}={value!r} into {target_file(key, root)[0].relative_to(root)}, but "
                f"conf/ still composes {key}={found!r}: another file sets it later. Set it "
                "where conf/ takes it from, then commit by hand.",
                kind="setting-not-applied",
                key=key,
            )


def _apply(root: Path, experiment: str) -> None:
    """The trial's own outputs, params.yaml and dvc.lock (`dvc exp apply`), so the branch
    holds what the trial made rather than a second training run."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "apply", experiment],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        reason = " ".join((result.stderr or result.stdout).split())[:300]
        raise DockyardError(
            f"`dvc exp apply {experiment}` failed: {reason}. Fetch the trial first (`dvc exp "
            f"pull origin {experiment}`), or pass --no-repro to commit only its settings.",
            kind="experiment-missing",
            key="experiment",
        )


def best_to_branch(root: Path, study: Any, branch: str, reproduce: bool = True) -> str:
    """Commit the best trial's settings (and reproduced outputs) on a new branch."""
    from dockyard.config import compose_params, write_params
    from dockyard.registry.git import git, repo_root

    root = repo_root(root)
    trial = best_trial(study)
    commit = study.user_attrs["commit"]
    if git(root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False).stdout:
        raise DockyardError(
            f"Branch {branch!r} exists already; pick another --branch name (or delete it).",
            kind="branch-exists",
            key="branch",
        )
    changed = git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if changed:
        raise DockyardError(
            "Uncommitted changes in the workspace: `sweep best` checks out a new branch at "
            f"the study's commit {commit[:12]}. Commit or stash them first.",
            kind="uncommitted-changes",
        )
    previous = git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    git(root, "checkout", "-q", "-b", branch, commit)
    try:
        experiment = trial.user_attrs.get("experiment")
        if experiment and reproduce:
            _apply(root, experiment)
        overrides = list(trial.user_attrs.get("overrides", []))
        write_settings(overrides, root)
        write_params(compose_params([], root), root / PARAMS_FILE)
        if reproduce:
            print(
                "Checking the best trial's outputs (`dvc repro`: `dvc exp apply` restored "
                "what the trial ran, so nothing should need to run)...",
                flush=True,
            )
            if subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root).returncode:
                raise DockyardError(
                    "`dvc repro` failed on the best trial's settings (see above); the branch "
                    "was removed and the workspace left as it was.",
                    kind="dvc-failed",
                )
        paths = [p for p in COMMITTED if (root / p).exists()]
        # the .gitignore files DVC writes beside outputs it created on this branch
        ignores = git(
            root,
            "ls-files",
            "--others",
            "--modified",
            "--exclude-standard",
            "--",
            "*.gitignore",
            ".gitignore",
        ).stdout.split()
        git(root, "add", "--", *paths, *ignores)
        objective = study.user_attrs.get("objective", "objective")
        message = (
            f"sweep {study.study_name}: best trial {trial.number} ({objective} "
            f"{trial.value:.4f})\n\n"
            + "\n".join(overrides)
            + f"\n\nExperiment: {trial.user_attrs.get('experiment', '-')}\n"
        )
        git(root, "commit", "-q", "-m", message)
    except BaseException:
        git(root, "checkout", "-q", "-f", previous if previous != "HEAD" else commit, check=False)
        git(root, "branch", "-D", branch, check=False)
        raise
    return branch
