"""The promotion policy (`promotion:` in params.yaml, from conf/promotion/), as the object
the gate reads. dockyard.config types and checks the section (config/schema.py's
PromotionConfig, config/rules.py) in `dockyard compose` and whenever params.yaml is
loaded, so nothing is checked again here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.config.schema import ALL, AUTO

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


def promotion_policy(section: Any) -> Policy:
    """The policy of a validated `promotion` section (a mapping or an OmegaConf node, e.g.
    `load_params().promotion`); dockyard.config has checked every key."""
    metrics = section["metrics"]
    return Policy(
        stages=tuple(section["stages"]),
        protected=tuple(section["protected"]),
        branch=str(section["branch"]).strip(),
        primary=str(section["primary"]),
        floor=None if section["floor"] is None else float(section["floor"]),
        alpha=float(section["alpha"]),
        tolerance=float(section["tolerance"]),
        require_clean_validation=bool(section["require_clean_validation"]),
        metrics=None if metrics is None or metrics == ALL else tuple(metrics),
    )


def load_policy(root: str | Path = ".") -> Policy:
    """The policy in the workspace's params.yaml (the branch CI checks out, not the tag's
    commit, so a candidate can never relax the rules it is judged by), validated with the
    rest of params.yaml."""
    from dockyard.config import PARAMS_FILE, load_params

    return promotion_policy(load_params(Path(root) / PARAMS_FILE).promotion)
