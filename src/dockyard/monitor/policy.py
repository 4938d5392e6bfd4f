"""The monitor's policy (`monitor:` in params.yaml, from conf/monitor/), as the objects
the statistics take. dockyard.config types and checks the section (config/schema.py's
MonitorConfig, config/rules.py), in `dockyard compose` and whenever params.yaml is loaded,
so a policy compose accepts never fails `dockyard monitor`, the monitor stage or
`dockyard retrain` later; nothing is checked again here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.config.schema import RETRAIN_TRIGGERS
from dockyard.drift import DriftPolicy, drift_policy

DRIFT, DECAY, NEW_BATCH = RETRAIN_TRIGGERS


@dataclass(frozen=True)
class MonitorPolicy:
    """When a batch counts as drifted or decayed, and what makes `dockyard retrain` act."""

    drift: DriftPolicy
    alpha: float  # decay: significance of the seed-noise test and the sampling interval
    retrain_on: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        drift = self.drift
        return {
            "fdr": drift.fdr,
            "numeric_threshold": drift.numeric_threshold,
            "categorical_threshold": drift.categorical_threshold,
            "missing_threshold": drift.missing_threshold,
            "out_of_range_threshold": drift.out_of_range_threshold,
            "bootstrap": drift.bootstrap,
            "confidence": drift.confidence,
            "alpha": self.alpha,
            "retrain_on": list(self.retrain_on),
        }


def monitor_policy(section: Any) -> MonitorPolicy:
    """The policy of a validated `monitor` section (`load_params().monitor`)."""
    return MonitorPolicy(
        drift=drift_policy(section),
        alpha=float(section["alpha"]),
        retrain_on=tuple(dict.fromkeys(section["retrain_on"])),
    )
