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


@dataclass
class Cost:
    name: str
    unit: str  # "" (a count) | "B" | "s" | "ms"
    base: float | None  # mean over the seeds that recorded it
    head: float | None
    base_n: int = 0
    head_n: int = 0
    measured: bool = False  # a timing: it depends on the machine that ran it

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


def costs(base: Snapshot, head: Snapshot) -> list[Cost]:
    """The cost rows; empty when neither side recorded anything."""
    rows = []
    for name, unit, measured, read in (
        ("parameters", "", False, lambda s: _numbers(s.models, "parameters")),
        ("model size on disk", "B", False, _model_bytes),
        ("training time per seed", "s", True, lambda s: _numbers(s.runs, "train_seconds")),
        ("prediction latency, one row", "ms", True, lambda s: _numbers(s.runs, "predict_row_ms")),
    ):
        (old, old_n), (new, new_n) = _mean(read(base)), _mean(read(head))
        rows.append(Cost(name, unit, old, new, old_n, new_n, measured))
    return rows if any(r.base is not None or r.head is not None for r in rows) else []
