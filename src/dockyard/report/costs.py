"""What a change costs: parameters, model size on disk, training time and single-row
prediction latency per side, averaged over the seeds that recorded them.

Sources: eval/seeds/N/model.json (deterministic, a DVC output), eval/runs/seed-N.json
(timings: committed, never a DVC output) and, for the size on old revisions, the size DVC
records for models/seed-N in dvc.lock. A revision without them shows no value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dockyard.paths import model_dir
from dockyard.report.collect import Snapshot
from dockyard.stats import DEFAULT_ALPHA, welch

# Timings of the same code on a shared machine (a CI runner, a laptop with other work) differ
# between runs by tens of percent, more than the seeds of one run differ from each other: a
# timing counts as changed only beyond this factor, and, with two or more seeds on each side,
# when Welch's test also tells it from the seeds' spread.
TIMING_NOISE_FACTOR = 2.0


@dataclass
class Cost:
    name: str
    unit: str  # "" (a count) | "B" | "s" | "ms"
    base: float | None  # mean over the seeds that recorded it
    head: float | None
    base_n: int = 0
    head_n: int = 0
    measured: bool = False  # a timing: it depends on the machine that ran it
    within_noise: bool = False  # a timing whose change is not told from run-to-run noise

    @property
    def change(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base


def _mean(values: list[float]) -> tuple[float | None, int]:
    return (math.fsum(values) / len(values), len(values)) if values else (None, 0)


def _numbers(per_seed: dict[int, dict[str, Any]], key: str) -> list[float]:
    values = [entry.get(key) for entry in per_seed.values()]
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _model_bytes(snap: Snapshot) -> list[float]:
    recorded = _numbers(snap.models, "model_bytes")
    if recorded:
        return recorded
    sizes = []
    for seed in snap.seeds or [0]:
        for entry in snap.lock.values():
            for out in entry.get("outs") or []:
                if out.get("path") == model_dir(seed) and isinstance(out.get("size"), int):
                    sizes.append(float(out["size"]))
    return sizes


def timing_within_noise(base: list[float], head: list[float], alpha: float = DEFAULT_ALPHA) -> bool:
    """Whether two sides' timings (one per seed) differ by no more than runs of the same
    code do (TIMING_NOISE_FACTOR), or, with seeds on both sides, not significantly."""
    (old, _), (new, _) = _mean(base), _mean(head)
    if old is None or new is None or old == new:
        return False
    if old > 0 and new > 0 and 1 / TIMING_NOISE_FACTOR <= new / old <= TIMING_NOISE_FACTOR:
        return True
    return len(base) >= 2 and len(head) >= 2 and welch(base, head)[2] >= alpha


def costs(base: Snapshot, head: Snapshot, alpha: float = DEFAULT_ALPHA) -> list[Cost]:
    """The cost rows; empty when neither side recorded anything."""
    rows = []
    for name, unit, measured, read in (
        ("parameters", "", False, lambda s: _numbers(s.models, "parameters")),
        ("model size on disk", "B", False, _model_bytes),
        ("training time per seed", "s", True, lambda s: _numbers(s.runs, "train_seconds")),
        ("prediction latency, one row", "ms", True, lambda s: _numbers(s.runs, "predict_row_ms")),
    ):
        old_values, new_values = read(base), read(head)
        (old, old_n), (new, new_n) = _mean(old_values), _mean(new_values)
        noise = measured and timing_within_noise(old_values, new_values, alpha)
        rows.append(Cost(name, unit, old, new, old_n, new_n, measured, noise))
    return rows if any(r.base is not None or r.head is not None for r in rows) else []
