"""A dataset's table checked against its declared schema, and the data report.

`ingest` runs the check before it writes anything (a bad file then stops the pipeline at
its first stage and dvc.lock keeps describing the last good run); `validate` runs it
again on what landed in data/raw/ and writes the report later comparisons read.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from omegaconf import DictConfig

from dockyard.data.readers import BATCH_ROWS_ATTR
from dockyard.data.schemas import outside_expected, validate_table
from dockyard.errors import ValidationFailed


def check_dataset(table: pd.DataFrame, cfg: DictConfig) -> dict[str, Any]:
    """Validate a dataset's table against its schema; raise ValidationFailed with the report."""
    path = cfg.data.source.get("path")
    where = f"{path} (read by data.source)" if path else f"the {cfg.data.name} table"
    fix_in = f"conf/data/{cfg.data.name}.yaml (data.schema)"
    if cfg.data.target not in table.columns:
        shown = ", ".join(map(str, table.columns[:20])) + (" ..." if table.shape[1] > 20 else "")
        raise ValidationFailed(
            f"{where} has no target column {cfg.data.target!r} (data.target). Its columns "
            f"are: {shown}. Fix data.target in conf/data/{cfg.data.name}.yaml or the data.",
            kind="missing-column",
            key="data.target",
            column=cfg.data.target,
        )
    return validate_table(
        table,
        cfg.data.schema,
        where=where,
        fix_in=fix_in,
        target=cfg.data.target,
        task=cfg.data.task,
    )


def data_report(table: pd.DataFrame, cfg: DictConfig) -> dict[str, Any]:
    """What a reviewer wants to know about a data version, beyond its hash."""
    target = table[cfg.data.target]
    report: dict[str, Any] = {
        "dataset": cfg.data.name,
        "status": "passed",
        "rows": int(len(table)),
        "columns": int(table.shape[1]),
        "missing_values": {
            str(c): int(n)
            for c, n in table.isna().sum().items()
            if n  # only columns with gaps
        },
    }
    outside = outside_expected(table, cfg.data.schema)
    if outside:  # values past the range seen when the schema was drafted: counted, not refused
        report["outside_expected"] = outside
    batches = table.attrs.get(BATCH_ROWS_ATTR)
    if batches:  # a folder of batch files: rows per batch, in order (the window's batches)
        report["batches"] = {str(name): int(rows) for name, rows in batches.items()}
    if cfg.data.task == "classification":
        counts = target.value_counts().sort_index()
        report["target_counts"] = {str(k): int(v) for k, v in counts.items()}
    else:
        report["target_mean"] = float(target.mean())
        report["target_std"] = float(target.std())
    return report
