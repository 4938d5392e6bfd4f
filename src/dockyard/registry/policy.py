"""The promotion policy (`promotion:` in params.yaml, from conf/promotion/): checked here.

The structured config types the section as a free dict (no stage reads it, and conf/ must
stay composable by plain Hydra), so `check_policy` is its schema: known keys, types and
values, each refusal one paragraph. `dockyard compose` can call it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.errors import ConfigError

SECTION = "promotion"
AUTO = "auto"
# GTO's rule for artifact and stage names (gto.constants.name): letters, digits, '-', '_', '/'.
NAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?$")
# The primary metric `auto` picks for each task.
AUTO_PRIMARY = {"classification": "test/accuracy", "regression": "test/rmse"}


@dataclass(frozen=True)
class Policy:
    """When a version may enter a stage (see conf/promotion/default.yaml for each key)."""

    stages: tuple[str, ...]
    protected: tuple[str, ...]
    branch: str
    primary: str
    floor: float | None
    alpha: float
    tolerance: float
    require_clean_validation: bool
    metrics: tuple[str, ...] | None  # None: every metric whose direction dockyard knows

    def previous_stage(self, stage: str) -> str | None:
        """The stage a version must have entered before `stage` (None for the first)."""
        index = self.stages.index(stage)
        return self.stages[index - 1] if index > 0 else None

    def primary_for(self, task: str | None) -> str | None:
        if self.primary != AUTO:
            return self.primary
        return AUTO_PRIMARY.get(task or "")


_KEYS = (
    "stages",
    "protected",
    "branch",
    "primary",
    "floor",
    "alpha",
    "tolerance",
    "require_clean_validation",
    "metrics",
)


def check_policy(raw: Any, source: str = f"params.yaml ({SECTION})") -> Policy:
    """Validate the `promotion` section (a dict or an OmegaConf node) and return it typed;
    ConfigError names the key, the value found and what is expected."""
    from omegaconf import OmegaConf

    from dockyard.metrics import higher_is_better

    if OmegaConf.is_config(raw):
        raw = OmegaConf.to_container(raw, resolve=True)
    fix = "Fix it in conf/promotion/ (or your override) and run `dockyard compose`."

    def refuse(message: str) -> ConfigError:
        return ConfigError(f"{source}: {message} {fix}")

    if isinstance(raw, Mapping):
        raw = dict(raw)
    else:
        raise refuse(f"expected a mapping of {', '.join(_KEYS)}, found {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise refuse(
            f"unknown key(s) {', '.join(map(str, unknown))}; known keys: {', '.join(_KEYS)}."
        )
    missing = [k for k in _KEYS if k not in raw and k != "metrics"]
    if missing:
        raise refuse(f"required key(s) {', '.join(missing)} are missing.")

    stages = _names(raw["stages"], "stages", refuse)
    if not stages:
        raise refuse("'stages' must list at least one stage, e.g. [staging, prod].")
    protected = _names(raw["protected"], "protected", refuse)
    stray = [s for s in protected if s not in stages]
    if stray:
        raise refuse(
            f"'protected' names {', '.join(stray)}, which is not in 'stages' ({', '.join(stages)})."
        )
    branch = raw["branch"]
    if not isinstance(branch, str) or not branch.strip() or " " in branch:
        raise refuse(f"'branch' must be a branch name such as main, found {branch!r}.")
    primary = raw["primary"]
    if not isinstance(primary, str) or (primary != AUTO and higher_is_better(primary) is None):
        raise refuse(
            f"'primary' must be auto or a metric key whose direction dockyard knows "
            f"(e.g. test/accuracy, test/rmse), found {primary!r}."
        )
    floor = raw["floor"]
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int | float)):
        raise refuse(f"'floor' must be a number or null (no floor), found {floor!r}.")
    alpha = raw["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise refuse(f"'alpha' must be a significance level between 0 and 1, found {alpha!r}.")
    tolerance = raw["tolerance"]
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not 0 <= tolerance < 1
    ):
        raise refuse(
            f"'tolerance' must be a relative difference in [0, 1) (0.005 = 0.5%), "
            f"found {tolerance!r}."
        )
    clean = raw["require_clean_validation"]
    if not isinstance(clean, bool):
        raise refuse(f"'require_clean_validation' must be true or false, found {clean!r}.")
    metrics = raw.get("metrics", "all")
    if metrics == "all" or metrics is None:
        chosen = None
    else:
        chosen = _metric_list(metrics, refuse, higher_is_better)
    return Policy(
        stages=tuple(stages),
        protected=tuple(protected),
        branch=branch.strip(),
        primary=primary,
        floor=None if floor is None else float(floor),
        alpha=float(alpha),
        tolerance=float(tolerance),
        require_clean_validation=clean,
        metrics=chosen,
    )


def _names(value: Any, key: str, refuse: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise refuse(f"'{key}' must be a list of stage names, found {value!r}.")
    bad = [v for v in value if not NAME_RE.match(v)]
    if bad:
        raise refuse(
            f"'{key}' has invalid stage name(s) {', '.join(map(repr, bad))}: GTO allows "
            "letters, digits, '-', '_' and '/' (not first or last)."
        )
    if len(set(value)) != len(value):
        raise refuse(f"'{key}' lists a stage twice: {list(value)}.")
    return list(value)


def _metric_list(value: Any, refuse: Any, higher_is_better: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        raise refuse(f"'metrics' must be all or a non-empty list of metric keys, found {value!r}.")
    unknown = [v for v in value if higher_is_better(v) is None]
    if unknown:
        raise refuse(
            f"'metrics' names {', '.join(unknown)}, whose direction dockyard does not know "
            "(metric keys look like test/accuracy, test/log_loss, test/rmse)."
        )
    return tuple(value)


def load_policy(root: str | Path = ".") -> Policy:
    """The policy in the workspace's params.yaml (the branch CI checks out, not the tag's
    commit, so a candidate can never relax the rules it is judged by)."""
    import yaml

    from dockyard.config import PARAMS_FILE

    path = Path(root) / PARAMS_FILE
    if not path.is_file():
        raise ConfigError(
            f"Expected {path} (the composed parameters, holding the promotion policy), but it "
            "does not exist. Run `dockyard compose` in the project root."
        )
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(params, dict) or SECTION not in params:
        raise ConfigError(
            f"{path} has no '{SECTION}' section, so there is no promotion policy. Add "
            "`- promotion: default` to the defaults list of conf/config.yaml and run "
            "`dockyard compose`."
        )
    return check_policy(params[SECTION], source=f"{path} ({SECTION})")
