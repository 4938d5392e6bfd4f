"""Declared table schemas (YAML under `data.schema`) turned into pandera schemas.

Validation is lazy: every failing column and check is collected, then reported at once
as a table a person can read, with counts and a few failing rows per check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pandera.pandas as pa

from dockyard.errors import ValidationFailed

_EXAMPLES_PER_CHECK = 5
_TABLE_CHECKS = {
    "column_in_dataframe": "missing column (declared in the schema)",
    "column_in_schema": "unexpected column (the schema is strict)",
}


def build_schema(schema_cfg: Mapping[str, Any]) -> pa.DataFrameSchema:
    columns = {}
    for name, spec in schema_cfg["columns"].items():
        checks = []
        if spec.get("ge") is not None:
            checks.append(pa.Check.ge(spec["ge"]))
        if spec.get("le") is not None:
            checks.append(pa.Check.le(spec["le"]))
        if spec.get("isin") is not None:
            checks.append(pa.Check.isin(list(spec["isin"])))
        columns[name] = pa.Column(
            spec.get("dtype"),
            checks=checks,
            nullable=bool(spec.get("nullable", False)),
            unique=bool(spec.get("unique", False)),
            regex=bool(spec.get("regex", False)),
            name=name,
        )
    return pa.DataFrameSchema(columns, strict=bool(schema_cfg.get("strict", True)))


def validate_table(
    table: pd.DataFrame, schema_cfg: Mapping[str, Any], *, where: str, fix_in: str
) -> dict[str, Any]:
    """Validate `table`; return a summary, or raise ValidationFailed with the full report.

    `where` names the data (a file), `fix_in` the schema's file, for the message.
    """
    schema = build_schema(schema_cfg)
    try:
        schema.validate(table, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise ValidationFailed(format_failures(errors.failure_cases, where, fix_in)) from None
    except pa.errors.SchemaError as error:  # raised for problems lazy mode cannot collect
        raise ValidationFailed(
            f"{where} does not match the schema in {fix_in}: {error}. Fix the data or the "
            "schema, then run `dvc repro` again."
        ) from None
    return {"rows": int(len(table)), "columns": int(table.shape[1]), "status": "passed"}


def format_failures(failures: pd.DataFrame, where: str, fix_in: str) -> str:
    """One paragraph plus a table: column, check, number of failures, example rows."""
    failures = failures.copy()
    table_level = failures["check"].isin(list(_TABLE_CHECKS))
    # Table-level checks name the offending column in failure_case, not in column.
    failures.loc[table_level, "column"] = failures.loc[table_level, "failure_case"].astype(str)
    failures["check"] = failures["check"].astype(str).replace(_TABLE_CHECKS)
    rows = []
    for (column, check), group in failures.groupby(
        [failures["column"].fillna("(table)").astype(str), failures["check"]], sort=True
    ):
        examples = []
        for _, case in group.head(_EXAMPLES_PER_CHECK).iterrows():
            index = case.get("index")
            value = case["failure_case"]
            if check in _TABLE_CHECKS.values():
                examples.append("-")
            elif index is None or pd.isna(index):
                examples.append(f"{value}")
            else:
                examples.append(f"row {int(index)}: {value}")
        more = (
            f" (+{len(group) - _EXAMPLES_PER_CHECK} more)"
            if len(group) > _EXAMPLES_PER_CHECK
            else ""
        )
        rows.append((column, check, str(len(group)), ", ".join(examples) + more))
    header = ("column", "check", "failures", "examples")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [
        "  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in [header, *rows]
    ]
    columns = sorted({r[0] for r in rows})
    named = ", ".join(columns[:6]) + (f" and {len(columns) - 6} more" if len(columns) > 6 else "")
    return (
        f"{where} failed validation against the schema in {fix_in}: {len(failures)} failure(s) "
        f"in column(s) {named}. Nothing downstream was written. Fix the "
        f"data, or the schema if the data is right, then run `dvc repro` again.\n"
        + "\n".join(lines)
    )
