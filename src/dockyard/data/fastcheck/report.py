"""Failures in words: a summary per column and check, and the paragraph that refuses a
table. What the user may do instead (skip bad rows, and how) is the caller's `hint`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from dockyard.data.fastcheck.columns import Failure
from dockyard.errors import quote

_SHOWN = 5


def summarise(failures: Iterable[Failure], offset: int = 0) -> list[dict[str, Any]]:
    """One entry per (column, reason): count and the first rows with their values."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for failure in failures:
        entry = merged.setdefault(
            (failure.column, failure.reason),
            {"column": failure.column, "reason": failure.reason, "count": 0, "examples": []},
        )
        entry["count"] += len(failure.rows)
        room = _SHOWN - len(entry["examples"])
        for row, value in list(zip(failure.rows.tolist(), failure.values, strict=True))[:room]:
            entry["examples"].append({"row": row + offset, "value": _plain(value)})
    return sorted(merged.values(), key=lambda e: (e["column"], e["reason"]))


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value.item() if hasattr(value, "item") else value


def describe(
    summary: list[dict[str, Any]],
    where: str,
    fix_in: str,
    bad_rows: int,
    hint: str | None = None,
) -> str:
    """One paragraph, then one line per failing column and check. `hint` is what the
    caller offers instead of fixing the rows (serving: skip them, and how)."""
    columns = sorted({e["column"] for e in summary})
    named = ", ".join(columns[:6]) + (f" and {len(columns) - 6} more" if len(columns) > 6 else "")
    lines = []
    for entry in summary:
        shown = ", ".join(f"row {e['row']}: {quote(e['value'])}" for e in entry["examples"])
        more = entry["count"] - len(entry["examples"])
        lines.append(
            f"  {entry['column']}: {entry['reason']}, {entry['count']} row(s): {shown}"
            + (f" (+{more} more)" if more > 0 else "")
        )
    return (
        f"{where} has {bad_rows:,} row(s) that break the model's schema ({fix_in}), in "
        f"column(s) {named}. Rows count from 0 at the first data row. Fix those rows"
        + (f", or {hint}" if hint else "")
        + ".\n"
        + "\n".join(lines)
    )
