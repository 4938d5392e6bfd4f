"""Checks of datetime columns: read as wall-clock times in the declared zone
(`data.times`), then missing values and the bounds."""

from __future__ import annotations

from typing import Any

import numpy as np

from dockyard.data.fastcheck.columns import ColumnSpec, Failure
from dockyard.data.times import show, to_wall_clock


def time_failures(spec: ColumnSpec, column: Any) -> tuple[np.ndarray, list[Failure]]:
    """A datetime column read as wall-clock times, and its refused rows: values that are no
    dates (or whose zone disagrees with the schema), missing values, values out of bounds."""
    wall, problems = to_wall_clock(column, spec.tz, spec.format)
    failures = [
        Failure(spec.name, reason, np.flatnonzero(bad), shown) for bad, reason, shown in problems
    ]
    unreadable = np.zeros(len(wall), dtype=bool)
    for bad, _, _ in problems:
        unreadable |= bad
    missing = np.isnat(wall) & ~unreadable
    checks = []
    if not spec.nullable:
        checks.append((missing, "missing value (the column is not nullable)"))
    if spec.after is not None:
        checks.append(
            (~missing & (wall < spec.after), f"before the minimum (ge: {show(spec.after)})")
        )
    if spec.before is not None:
        checks.append(
            (~missing & (wall > spec.before), f"after the maximum (le: {show(spec.before)})")
        )
    for mask, reason in checks:
        if mask.any():
            rows = np.flatnonzero(mask)
            failures.append(Failure(spec.name, reason, rows, [show(v) for v in wall[rows]]))
    return wall, failures
