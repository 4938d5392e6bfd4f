"""The defaults list of conf/config.yaml: which option each group starts from.

`dvc exp run -S ...` composes conf/ in DVC's own process, from this list; an option a user
wants every run to start from (their own dataset) must therefore be written here, which
`dockyard use` and `data add --default` do.
"""

from __future__ import annotations

import re
from pathlib import Path

from dockyard.config.rules import did_you_mean
from dockyard.errors import ConfigError

CONFIG_DIR = "conf"
CONFIG_NAME = "config"
PARAMS_FILE = "params.yaml"
# folders of conf/ that are not composed into params.yaml: `dockyard sweep`'s search spaces
NOT_COMPOSED = ("sweep",)


def config_groups(config_dir: str | Path) -> list[str]:
    """The config groups: the folders of conf/, less those never composed."""
    folder = Path(config_dir)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in NOT_COMPOSED)


_DEFAULT_LINE = r"^(\s*-\s*{group}\s*:\s*)([^\s#]+)(.*)$"


def default_option(group: str, root: str | Path = ".", text: str | None = None) -> str | None:
    """The option conf/config.yaml's defaults list picks for `group` (e.g. data -> digits);
    `text` reads another version of the file."""
    if text is None:
        path = Path(root) / CONFIG_DIR / f"{CONFIG_NAME}.yaml"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found = re.search(_DEFAULT_LINE.format(group=re.escape(group)), text, flags=re.M)
    return found.group(2) if found else None


def set_default(group: str, option: str, root: str | Path = ".") -> str:
    """Make `option` the default of config group `group` in conf/config.yaml (comments and
    layout kept), so every composition, `dvc exp run -S ...` included, starts from it.
    Returns the option it replaced."""
    from dockyard.io import write_text

    root = Path(root)
    config_dir = root / CONFIG_DIR
    options = sorted(p.stem for p in (config_dir / group).glob("*.yaml"))
    if not (config_dir / group).is_dir():
        groups = config_groups(config_dir)
        raise ConfigError(
            f"There is no config group {group!r} (no folder conf/{group}/). Config groups: "
            f"{', '.join(groups)}.",
            kind="unknown-group",
            key=group,
        )
    if option not in options:
        raise ConfigError(
            f"Unknown option {option!r} for config group {group!r}: there is no "
            f"conf/{group}/{option}.yaml. Valid options: {', '.join(options)}."
            f"{did_you_mean(option, options)}",
            kind="unknown-option",
            key=group,
        )
    path = config_dir / f"{CONFIG_NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(_DEFAULT_LINE.format(group=re.escape(group)), flags=re.M)
    found = pattern.search(text)
    if found is None:
        raise ConfigError(
            f"conf/{CONFIG_NAME}.yaml's defaults list has no entry for {group!r}; add "
            f"`  - {group}: {option}` to it.",
            kind="missing-default",
            key=group,
            path=path,
        )
    write_text(text[: found.start(2)] + option + text[found.end(2) :], path)
    return found.group(2)


def _committed(path: str, root: str | Path) -> str | None:
    import subprocess

    result = subprocess.run(
        ["git", "show", f"HEAD:{path}"], cwd=root, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


def committed_dataset(root: str | Path = ".") -> str | None:
    """data.name in params.yaml as committed at HEAD (None outside git or before a commit)."""
    import yaml

    text = _committed(PARAMS_FILE, root)
    if text is None:
        return None
    try:
        data = (yaml.safe_load(text) or {}).get("data") or {}
    except yaml.YAMLError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else None


def dataset_notice(dataset: str, root: str | Path = ".") -> str | None:
    """One line when this composition trains on another dataset than the committed
    params.yaml while conf/'s defaults name yet another: the silent switch back to the
    bundled data that DVC's composition makes after `dvc exp run -S data=NAME`."""
    committed = committed_dataset(root)
    default = default_option("data", root)
    if committed is None or committed in (dataset, default):
        return None
    return (
        f"dockyard: note: this run trains on data={dataset}, but the committed params.yaml "
        f"trains on data={committed} and conf/config.yaml's defaults name data={default}; "
        f"run `dockyard use data={committed}` to keep {committed} as the default (or pass "
        f"data={dataset} on purpose)."
    )


def refuse_silent_switch(dataset: str, root: str | Path = ".") -> None:
    """Stop a stage that would train on conf/'s default dataset while the committed
    params.yaml trains on another: what `dvc exp run -S train.lr=...` composes after a
    commit made with `dvc exp run -S data=NAME`, since DVC composes from conf/'s defaults.

    Every stage that reads the data or trains calls it, so whichever of them DVC re-runs
    (and does not restore from its run-cache) stops before training. Only a commit whose
    params.yaml disagrees with its own conf/ defaults leads there: a default changed in the
    workspace (`data add --default`, `dockyard use`) and not yet committed does not."""
    committed = committed_dataset(root)
    default = default_option("data", root)
    if committed is None or dataset != default or committed == dataset:
        return
    config = _committed(f"{CONFIG_DIR}/{CONFIG_NAME}.yaml", root)
    if config is None or default_option("data", text=config) == committed:
        return
    if not (Path(root) / CONFIG_DIR / "data" / f"{committed}.yaml").is_file():
        return  # the committed dataset is gone from conf/: the switch is deliberate
    raise ConfigError(
        f"This run trains on data={dataset}, conf/config.yaml's default, but the committed "
        f"params.yaml trains on data={committed}: `dvc exp run` composes conf/ from its "
        f"defaults, so the dataset chosen with -S data={committed} was silently dropped. "
        f"Run `dockyard use data={committed}` and commit conf/config.yaml and params.yaml to "
        f"keep {committed} for every run (or pass -S data={committed}); to go back to "
        f"{dataset} on purpose, run `dockyard compose data={dataset}` and commit params.yaml.",
        kind="dataset-switch",
        key="data",
    )
