"""Checks of text columns (`str`, `category`) on their codes: missing values, allowed
values and uniqueness, one pass over the categories rather than the rows."""

from __future__ import annotations

import numpy as np

from dockyard.data.fastcheck.coerce import Text
from dockyard.data.fastcheck.columns import ColumnSpec, Failure, duplicated, isin_reason


def text_failures(spec: ColumnSpec, text: Text) -> list[Failure]:
    failures = []
    codes = text.codes
    if not spec.nullable:
        missing = codes < 0
        if missing.any():
            rows = np.flatnonzero(missing)
            failures.append(
                Failure(
                    spec.name,
                    "missing value (the column is not nullable)",
                    rows,
                    [None] * len(rows),
                )
            )
    if spec.isin is not None:
        allowed = {str(v) for v in spec.isin}
        ok = np.array([c in allowed for c in text.categories] + [True], dtype=bool)
        outside = ~ok[codes]
        if outside.any():
            rows = np.flatnonzero(outside)
            shown = [text.categories[c] for c in codes[rows]]
            failures.append(Failure(spec.name, isin_reason(spec), rows, shown))
    if spec.unique:
        repeated = duplicated(codes)
        if repeated.any():
            rows = np.flatnonzero(repeated)
            shown = [text.categories[c] if c >= 0 else None for c in codes[rows]]
            failures.append(Failure(spec.name, "duplicate value", rows, shown))
    return failures
