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


_DEFAULT_LINE = r"^(\s*-\s*{group}\s*:\s*)([^\s#]+)(.*)$"


def default_option(group: str, root: str | Path = ".") -> str | None:
    """The option conf/config.yaml's defaults list picks for `group` (e.g. data -> digits)."""
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
        groups = sorted(p.name for p in config_dir.iterdir() if p.is_dir())
        raise ConfigError(
            f"There is no config group {group!r} (no folder conf/{group}/). Config groups: "
            f"{', '.join(groups)}."
        )
    if option not in options:
        raise ConfigError(
            f"Unknown option {option!r} for config group {group!r}: there is no "
            f"conf/{group}/{option}.yaml. Valid options: {', '.join(options)}."
            f"{did_you_mean(option, options)}"
        )
    path = config_dir / f"{CONFIG_NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(_DEFAULT_LINE.format(group=re.escape(group)), flags=re.M)
    found = pattern.search(text)
    if found is None:
        raise ConfigError(
            f"conf/{CONFIG_NAME}.yaml's defaults list has no entry for {group!r}; add "
            f"`  - {group}: {option}` to it."
        )
    write_text(text[: found.start(2)] + option + text[found.end(2) :], path)
    return found.group(2)


def committed_dataset(root: str | Path = ".") -> str | None:
    """data.name in params.yaml as committed at HEAD (None outside git or before a commit)."""
    import subprocess

    import yaml

    result = subprocess.run(
        ["git", "show", f"HEAD:{PARAMS_FILE}"], cwd=root, capture_output=True, text=True
    )
    if result.returncode != 0:
        return None
    try:
        data = (yaml.safe_load(result.stdout) or {}).get("data") or {}
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
