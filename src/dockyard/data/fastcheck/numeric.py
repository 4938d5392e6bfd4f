"""Checks of numeric columns (ints, floats, bools), all of a table's at once: the columns
coerced into one float64 matrix, then missing values, infinities and bounds as a handful
of vectorised comparisons; allowed values and uniqueness column by column."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dockyard.data.fastcheck.coerce import to_numbers
from dockyard.data.fastcheck.columns import (
    ColumnSpec,
    Failure,
    duplicated,
    failure,
    isin_reason,
)


class NumericChecks:
    """The numeric columns of a bound schema, compiled into arrays of bounds and flags."""

    def __init__(self, specs: Sequence[ColumnSpec]):
        self.specs = list(specs)
        self.low = np.array([-np.inf if s.ge is None else s.ge for s in self.specs])
        self.high = np.array([np.inf if s.le is None else s.le for s in self.specs])
        self.nullable = np.array([s.nullable for s in self.specs], dtype=bool)
        self.finite = np.array(
            [s.dtype.startswith("float") and not s.allow_inf for s in self.specs], dtype=bool
        )

    def check(self, columns: Mapping[str, Any], n: int) -> tuple[np.ndarray, list[Failure]]:
        """The (n, columns) float64 matrix (NaN = missing or unreadable), and the failures."""
        numbers = np.empty((n, len(self.specs)), dtype=np.float64)
        failures: list[Failure] = []
        unreadable = np.zeros((n, len(self.specs)), dtype=bool)
        for j, spec in enumerate(self.specs):
            values, problems = to_numbers(columns[spec.name], spec.dtype)
            numbers[:, j] = values
            for bad, reason, shown in problems:
                unreadable[:, j] |= bad
                failures.append(Failure(spec.name, reason, np.flatnonzero(bad), shown))
        if len(self.specs):
            failures += self._failures(numbers, unreadable)
        return numbers, failures

    def _failures(self, numbers: np.ndarray, unreadable: np.ndarray) -> list[Failure]:
        missing = np.isnan(numbers)
        null = missing & ~self.nullable & ~unreadable
        infinite = np.isinf(numbers) & self.finite
        with np.errstate(invalid="ignore"):  # an inf is reported once: as infinite
            below = (numbers < self.low) & ~infinite
            above = (numbers > self.high) & ~infinite
        failures = []
        if null.any() or infinite.any() or below.any() or above.any():
            for j, spec in enumerate(self.specs):
                column = numbers[:, j]
                for mask, reason in (
                    (null[:, j], "missing value (the column is not nullable)"),
                    (infinite[:, j], "infinite value (allow_inf is false)"),
                    (below[:, j], f"below the minimum (ge: {_number(spec.ge)})"),
                    (above[:, j], f"above the maximum (le: {_number(spec.le)})"),
                ):
                    if mask.any():
                        failures.append(failure(spec.name, reason, mask, column))
        for j, spec in enumerate(self.specs):
            column = numbers[:, j]
            if spec.isin is not None:
                allowed = np.asarray([float(v) for v in spec.isin if _is_number(v)])
                outside = ~np.isin(column, allowed) & ~missing[:, j]
                if outside.any():
                    failures.append(failure(spec.name, isin_reason(spec), outside, column))
            if spec.unique:
                repeated = duplicated(column)
                if repeated.any():
                    failures.append(failure(spec.name, "duplicate value", repeated, column))
        return failures


def _number(value: float | None) -> str:
    return "-" if value is None else (str(int(value)) if float(value).is_integer() else str(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
