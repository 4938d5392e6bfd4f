"""The monitor's policy (`monitor:` in params.yaml, from conf/monitor/): checked here.

The structured config types the section as a free dict (conf/ must stay composable by
plain Hydra), so `check_monitor_policy` is its schema: known keys, types and values, each
refusal one paragraph. `dockyard compose` calls it, so a policy compose accepts never
fails `dockyard monitor`, the monitor stage or `dockyard retrain` later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.errors import ConfigError
from dockyard.monitor.drift import DriftPolicy

SECTION = "monitor"
DRIFT, DECAY, NEW_BATCH = "drift", "decay", "new_batch"
TRIGGERS = (DRIFT, DECAY, NEW_BATCH)
# Keys every monitor config must set; the share thresholds (which conf/monitor/default.yaml
# sets too) and the drift statistics' finer settings may be left out, for DriftPolicy's
# defaults (documented there).
_REQUIRED = ("fdr", "numeric_threshold", "categorical_threshold", "alpha", "retrain_on")
_OPTIONAL = (
    "missing_threshold",
    "out_of_range_threshold",
    "bootstrap",
    "bins",
    "confidence",
    "seed",
)


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


def check_monitor_policy(raw: Any, source: str = f"params.yaml ({SECTION})") -> MonitorPolicy:
    """Validate the `monitor` section (a dict or an OmegaConf node) and return it typed;
    ConfigError names the key, the value found and what is expected."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(raw):
        raw = OmegaConf.to_container(raw, resolve=True)
    fix = "Fix it in conf/monitor/ (or your override) and run `dockyard compose`."

    def refuse(message: str) -> ConfigError:
        return ConfigError(f"{source}: {message} {fix}")

    if not isinstance(raw, Mapping):
        raise refuse(f"expected a mapping of {', '.join(_REQUIRED)}, found {type(raw).__name__}.")
    raw = dict(raw)
    known = _REQUIRED + _OPTIONAL
    unknown = sorted(str(k) for k in set(raw) - set(known))
    if unknown:
        raise refuse(f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(known)}.")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise refuse(f"required key(s) {', '.join(missing)} are missing.")

    def number(key: str, low: float, high: float, low_open: bool, high_open: bool) -> float:
        value = raw[key]
        inside = (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and math.isfinite(value)
            and (value > low if low_open else value >= low)
            and (value < high if high_open else value <= high)
        )
        if not inside:
            span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise refuse(f"'{key}' must be a number in {span}, found {value!r}.")
        return float(value)

    def whole(key: str, low: int) -> int:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise refuse(f"'{key}' must be a whole number >= {low}, found {value!r}.")
        return value

    fields: dict[str, Any] = {
        "fdr": number("fdr", 0, 1, True, True),
        "numeric_threshold": number("numeric_threshold", 0, math.inf, False, True),
        "categorical_threshold": number("categorical_threshold", 0, 1, False, False),
    }
    for key in ("missing_threshold", "out_of_range_threshold"):
        if key in raw:
            fields[key] = number(key, 0, 1, False, False)
    if "bootstrap" in raw:
        fields["bootstrap"] = whole("bootstrap", 0)
    if "bins" in raw:
        fields["bins"] = whole("bins", 2)
    if "seed" in raw:
        fields["seed"] = whole("seed", 0)
    if "confidence" in raw:
        fields["confidence"] = number("confidence", 0, 1, True, True)
    alpha = number("alpha", 0, 1, True, True)
    triggers = raw["retrain_on"]
    if not isinstance(triggers, list | tuple) or not all(isinstance(t, str) for t in triggers):
        raise refuse(
            f"'retrain_on' must be a list drawn from {', '.join(TRIGGERS)} (empty: never "
            f"retrain automatically), found {triggers!r}."
        )
    strange = [t for t in triggers if t not in TRIGGERS]
    if strange:
        raise refuse(
            f"'retrain_on' names {', '.join(map(repr, strange))}; the triggers are "
            f"{', '.join(TRIGGERS)}."
        )
    return MonitorPolicy(
        drift=DriftPolicy(**fields), alpha=alpha, retrain_on=tuple(dict.fromkeys(triggers))
    )


def check_window(data: Any, source: str = "params.yaml (data)") -> None:
    """data.window must be read by the dataset's source (`window: ${data.window}`, which
    `dockyard data add FOLDER` writes): a window the source ignores would silently train
    on every batch, and a window written into the source alone is a second truth."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(data):
        data = OmegaConf.to_container(data, resolve=True)
    if not isinstance(data, Mapping):
        return
    window = data.get("window")
    reads = (data.get("source") or {}).get("window")
    if window is None and reads is None:
        return
    name = data.get("name", "NAME")
    if window != reads:
        raise ConfigError(
            f"{source}: data.window is {window!r} but data.source.window is {reads!r}. The "
            "window of a batch folder is set in one place, data.window, and the source reads "
            "it (source: window: ${data.window}, as `dockyard data add FOLDER` writes it); "
            f"only batch folders take a window. Fix conf/data/{name}.yaml or the override."
        )
