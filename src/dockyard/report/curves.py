"""Training curves planned for a chart: the mean over seeds, only epochs that happened,
and the y axis zoomed to where the runs differ.

Mermaid's xychart spreads every line over the whole x axis and has no gaps, so a run that
stopped early cannot end mid-chart. The chart therefore covers the epochs both sides ran
(and, with several seeds, every seed ran); the longer run's later epochs are summarised in
words instead of being drawn, and nothing is padded or held flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Drawn points per line at most; longer runs show every k-th epoch (ending at the last).
MAX_POINTS = 200
# Leading epochs are left out while a value lies further than this many times the spread
# of the second half's values outside that spread (early losses dwarf the differences).
ZOOM_MARGIN = 2.0


@dataclass
class Curve:
    """One side's curve: the mean over its seeds at each epoch every seed ran."""

    values: list[float]
    seeds: list[int]
    stops: dict[int, int]  # seed -> epochs it ran
    spreads: list[float] | None  # std over seeds at each epoch of `values` (two seeds or more)

    @property
    def epochs(self) -> int:
        """Epochs of the longest seed."""
        return max(self.stops.values())

    def spread(self, epoch: int) -> float | None:
        """The std over seeds at `epoch` (1-based), where the chart reads it."""
        if self.spreads is None or not 1 <= epoch <= len(self.spreads):
            return None
        return self.spreads[epoch - 1]

    def best(self, higher_is_better: bool) -> tuple[int, float]:
        """(epoch, value) of the best point of `values`; the first one on a tie."""
        pick = max if higher_is_better else min
        value = pick(self.values)
        return self.values.index(value) + 1, value


@dataclass
class Chart:
    name: str
    first: int  # epoch of the first point drawn (1-based)
    last: int  # epoch of the last point drawn
    step: int  # epochs between points
    lines: dict[str, list[float]]  # "base" / "head" -> drawn values
    low: float  # the y axis
    high: float
    left_out: int = 0  # leading epochs not drawn (zoom)


def mean_curve(per_seed: dict[int, list[float]]) -> Curve | None:
    runs = {seed: [v for v in values if math.isfinite(v)] for seed, values in per_seed.items()}
    runs = {seed: values for seed, values in runs.items() if values}
    if not runs:
        return None
    common = min(len(v) for v in runs.values())
    values = [math.fsum(v[i] for v in runs.values()) / len(runs) for i in range(common)]
    spreads = None
    if len(runs) >= 2:
        spreads = []
        for i, mean in enumerate(values):
            at = [v[i] for v in runs.values()]
            spreads.append(math.sqrt(math.fsum((x - mean) ** 2 for x in at) / (len(at) - 1)))
    stops = {seed: len(runs[seed]) for seed in sorted(runs)}
    return Curve(values, sorted(runs), stops, spreads)


def zoom_start(lines: list[list[float]]) -> int:
    """How many leading epochs to leave out so the axis shows where the runs differ."""
    length = len(lines[0])
    if length < 6:
        return 0
    tail = [v for line in lines for v in line[length // 2 :]]
    low, high = min(tail), max(tail)
    span = (high - low) or abs(high) * 0.05 or 1e-9
    floor, ceiling = low - ZOOM_MARGIN * span, high + ZOOM_MARGIN * span
    start = 0
    while start < length // 2 and any(not floor <= line[start] <= ceiling for line in lines):
        start += 1
    return start


def axis_range(values: list[float]) -> tuple[float, float]:
    """The y axis around every drawn value, padded 5%; values within [0, 1] (rates, most
    losses late in training) keep the axis within [0, 1]."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 0.5
    bottom, top = low - pad, high + pad
    if low >= 0:
        bottom = max(bottom, 0.0)
    if low >= 0 and high <= 1:
        top = min(top, 1.0)
    return bottom, top


def plan_chart(name: str, base: Curve | None, head: Curve | None) -> Chart | None:
    """The chart of one curve; None when fewer than two epochs could be drawn."""
    sides = {side: c for side, c in (("base", base), ("head", head)) if c is not None}
    if not sides:
        return None
    length = min(len(c.values) for c in sides.values())
    if length < 2:
        return None
    full = {side: c.values[:length] for side, c in sides.items()}
    start = zoom_start(list(full.values()))
    step = math.ceil((length - start) / MAX_POINTS)
    picked = list(range(length - 1, start - 1, -step))[::-1]  # always ends at the last epoch
    lines = {side: [values[i] for i in picked] for side, values in full.items()}
    low, high = axis_range([v for line in lines.values() for v in line])
    return Chart(name, picked[0] + 1, picked[-1] + 1, step, lines, low, high, picked[0])
