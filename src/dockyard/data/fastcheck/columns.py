"""What the checks share: a column's compiled spec, the failures they report and the
checked table they return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dockyard.data.fastcheck.coerce import Text
from dockyard.data.times import DATETIME, bound
from dockyard.errors import quote


@dataclass(frozen=True)
class ColumnSpec:
    """One declared column, compiled."""

    name: str
    dtype: str
    nullable: bool
    ge: float | None
    le: float | None
    isin: tuple[Any, ...] | None
    unique: bool
    allow_inf: bool
    # datetime columns: the zone, and the hard bounds as wall-clock times
    tz: str | None = None
    format: str | None = None
    after: np.datetime64 | None = None
    before: np.datetime64 | None = None


def column_spec(name: str, raw: Mapping[str, Any]) -> ColumnSpec:
    isin = raw.get("isin")
    dtype = str(raw.get("dtype") or "str")
    dated = dtype == DATETIME
    return ColumnSpec(
        name=name,
        dtype=dtype,
        nullable=bool(raw.get("nullable", False)),
        ge=None if raw.get("ge") is None or dated else float(raw["ge"]),
        le=None if raw.get("le") is None or dated else float(raw["le"]),
        isin=None if isin is None else tuple(isin),
        unique=bool(raw.get("unique", False)),
        allow_inf=bool(raw.get("allow_inf", False)),
        tz=raw.get("tz") if dated else None,
        format=raw.get("format") if dated else None,
        after=bound(raw.get("ge")) if dated else None,
        before=bound(raw.get("le")) if dated else None,
    )


@dataclass(frozen=True)
class Failure:
    """Rows of one column that failed one check."""

    column: str
    reason: str
    rows: np.ndarray
    values: list[Any]


@dataclass
class Checked:
    """Coerced columns of one table, and what failed."""

    rows: int
    numbers: np.ndarray  # (rows, len(number_columns)) float64, NaN = missing
    number_columns: list[str]
    texts: dict[str, Text]
    dtypes: dict[str, str]
    failures: list[Failure] = field(default_factory=list)
    # datetime columns as wall-clock times in their declared zone (data/times.py)
    times: dict[str, np.ndarray] = field(default_factory=dict)

    def number(self, name: str) -> np.ndarray:
        return self.numbers[:, self.number_columns.index(name)]

    def bad_rows(self) -> np.ndarray:
        bad = np.zeros(self.rows, dtype=bool)
        for failure in self.failures:
            bad[failure.rows] = True
        return bad

    def take(self, rows: np.ndarray) -> Checked:
        """The checked table restricted to `rows` (failures dropped)."""
        return Checked(
            len(rows),
            self.numbers[rows],
            self.number_columns,
            {name: text.take(rows) for name, text in self.texts.items()},
            self.dtypes,
            times={name: values[rows] for name, values in self.times.items()},
        )

    def reasons(self, offset: int = 0) -> dict[int, str]:
        """Row number (+ offset) -> every reason it failed, in words."""
        found: dict[int, list[str]] = {}
        for failure in self.failures:
            for row, value in zip(failure.rows.tolist(), failure.values, strict=True):
                found.setdefault(row + offset, []).append(
                    f"{failure.column}: {failure.reason} ({quote(value)})"
                )
        return {row: "; ".join(parts) for row, parts in sorted(found.items())}


def duplicated(values: np.ndarray) -> np.ndarray:
    """Every row whose value occurs more than once (missing values count as equal, as in
    pandas and pandera)."""
    import pandas as pd

    return pd.Series(values).duplicated(keep=False).to_numpy()


def failure(column: str, reason: str, mask: np.ndarray, values: np.ndarray) -> Failure:
    rows = np.flatnonzero(mask)
    return Failure(column, reason, rows, values[rows].tolist())


def isin_reason(spec: ColumnSpec) -> str:
    shown = ", ".join(map(str, spec.isin[:10])) + (" ..." if len(spec.isin) > 10 else "")
    return f"not one of the allowed values ({shown})"
