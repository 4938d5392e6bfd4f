"""`dockyard sweep status`: every trial of a study in one table, best first."""

from __future__ import annotations

import math
from typing import Any

# the test metric shown beside the objective: the first the trial recorded of these
_SHOWN_TEST = ("test/accuracy", "test/rmse")
_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One record per trial: what `status` prints and `status --json` writes."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        value = trial.value
        if value is None and trial.intermediate_values:
            last = max(trial.intermediate_values)
            value = trial.intermediate_values[last]
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "params": dict(trial.params),
                "objective": value,
                "test": attrs.get("test", {}),
                "seconds": attrs.get("seconds"),
                "host": attrs.get("host"),
                "experiment": attrs.get("experiment"),
                "pruned_epoch": attrs.get("pruned_epoch"),
                "error": attrs.get("error"),
            }
        )
    maximize = study.direction.name == "MAXIMIZE"

    def key(row: dict[str, Any]) -> tuple:
        value = row["objective"]
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        score = 0.0 if missing else (-value if maximize else value)
        return (_ORDER.get(row["state"], 5), missing, score, row["trial"])

    return sorted(rows, key=key)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def format_table(study: Any, rows: list[dict[str, Any]]) -> str:
    objective = study.user_attrs.get("objective", "objective")
    shown = next(
        (m for m in _SHOWN_TEST if any(m in r["test"] for r in rows)),
        next((m for r in rows for m in r["test"]), "test"),
    )
    header = ["trial", "state", "params", objective, shown, "seconds", "host", "experiment"]
    body = [
        [
            str(r["trial"]),
            r["state"].lower()
            + (f" @{r['pruned_epoch']}" if r["state"] == "PRUNED" and r["pruned_epoch"] else ""),
            _params_text(r["params"]),
            _cell(r["objective"]),
            _cell(r["test"].get(shown)),
            _cell(r["seconds"]),
            _cell(r["host"]),
            _cell(r["experiment"]),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(study: Any, rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"].lower()] = counts.get(row["state"].lower(), 0) + 1
    budget = study.user_attrs.get("trials")
    done = counts.get("complete", 0) + counts.get("pruned", 0)
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"Study {study.study_name!r}: {parts or 'no trials yet'}" + (
        f"; {done} of {budget} trials done." if budget else "."
    )


def print_status(study: Any, limit: int | None = None) -> None:
    rows = trial_rows(study)
    print(summary(study, rows))
    if rows:
        print(format_table(study, rows[:limit] if limit else rows))
        if limit and len(rows) > limit:
            print(f"... {len(rows) - limit} more: dockyard sweep status --study {study.study_name}")
