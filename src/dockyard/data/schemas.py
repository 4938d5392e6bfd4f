"""Declared table schemas (YAML under `data.schema`) turned into pandera schemas.

Validation is lazy: every failing column and check is collected, then reported at once
as a table a person can read, with counts and a few failing rows per check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dockyard.config.schema import BOOLEAN_TEXT, NUMERIC_DTYPES
from dockyard.errors import ValidationFailed, shorten

_EXAMPLES_PER_CHECK = 5
_TABLE_CHECKS = {
    "column_in_dataframe": "missing column (declared in the schema)",
    "column_in_schema": "unexpected column (the schema is strict)",
}


# the dtypes whose text values are reported as "text in a ... column": every numeric one but
# bool, whose text ("true", "yes") pandera's dtype check judges
_NUMBERS = tuple(d for d in NUMERIC_DTYPES if d != "bool")
DATETIME = "datetime"


def _finite(series: pd.Series) -> pd.Series | bool:
    """True where a value is not +-inf (missing values pass: nullability is its own check).

    Like `_isin`, answers with one True when every row passes, and row by row only when
    some fail (pandera then reports those rows)."""
    values = series.to_numpy()
    if values.dtype.kind != "f":  # text or ints in a float column: compare as float64
        values = series.astype("float64").to_numpy()
    infinite = np.isinf(values)
    if not infinite.any():
        return True
    return pd.Series(~infinite, index=series.index)


def _isin(allowed: list[Any]) -> pa.Check:
    """Values in `allowed` (missing values pass: nullability is its own check).

    On a pandas categorical the question is asked once per category and answered for
    every row by its integer code, instead of comparing every row's value."""
    allowed_set = set(allowed)

    def check(series: pd.Series) -> pd.Series | bool:
        if isinstance(series.dtype, pd.CategoricalDtype):
            ok = [name in allowed_set for name in series.cat.categories]
            if all(ok):
                return True
            ok.append(True)  # code -1: missing
            return pd.Series(np.asarray(ok)[series.cat.codes.to_numpy()], index=series.index)
        inside = series.isin(allowed)
        if series.dtype.kind not in "iub":  # only these kinds cannot hold missing values
            inside |= series.isna()
        return True if inside.all() else inside

    return pa.Check(check, name="isin", error=f"isin({allowed})", ignore_na=False)


def _booleans(series: pd.Series) -> pd.Series | bool:
    """True/False values, whatever holds them (numpy bool, pandas boolean, objects)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return True
    return series.map(
        lambda value: (
            isinstance(value, bool | np.bool_)
            # True/False as CSV writes them: in a column that other values kept as text, these
            # are no failure of their own
            or (isinstance(value, str) and value in BOOLEAN_TEXT)
        )
    )


def _dtype(spec: Mapping[str, Any]) -> Any:
    """The pandas dtype a column holds once read (datetimes as microsecond timestamps in
    their declared zone)."""
    if spec.get("dtype") != DATETIME:
        return spec.get("dtype")
    return pd.DatetimeTZDtype("us", spec["tz"]) if spec.get("tz") else "datetime64[us]"


def _bound(spec: Mapping[str, Any], value: Any) -> Any:
    if spec.get("dtype") != DATETIME:
        return value
    stamp = pd.Timestamp(str(value))
    if spec.get("tz"):
        stamp = (
            stamp.tz_localize(spec["tz"]) if stamp.tzinfo is None else stamp.tz_convert(spec["tz"])
        )
    elif stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp


def build_schema(schema_cfg: Mapping[str, Any]) -> pa.DataFrameSchema:
    columns = {}
    for name, spec in schema_cfg["columns"].items():
        checks = []
        if str(spec.get("dtype", "")).startswith("float") and not spec.get("allow_inf", False):
            checks.append(pa.Check(_finite, name="finite (no inf)", ignore_na=False))
        if spec.get("ge") is not None:
            checks.append(pa.Check.ge(_bound(spec, spec["ge"])))
        if spec.get("le") is not None:
            checks.append(pa.Check.le(_bound(spec, spec["le"])))
        if spec.get("isin") is not None:
            checks.append(_isin(list(spec["isin"])))
        dtype = _dtype(spec)
        if dtype == "bool":
            # True/False with missing values is read as objects (CSV) or pandas' `boolean`
            # (Parquet), which pandera's bool dtype refuses: check the values instead
            dtype = None
            checks.insert(0, pa.Check(_booleans, error="dtype('bool')", ignore_na=True))
        columns[name] = pa.Column(
            dtype,
            checks=checks,
            nullable=bool(spec.get("nullable", False)),
            unique=bool(spec.get("unique", False)),
            regex=bool(spec.get("regex", False)),
            name=name,
        )
    return pa.DataFrameSchema(columns, strict=bool(schema_cfg.get("strict", True)))


def validate_table(
    table: pd.DataFrame,
    schema_cfg: Mapping[str, Any],
    *,
    where: str,
    fix_in: str,
    target: str | None = None,
    task: str = "classification",
) -> dict[str, Any]:
    """Validate `table`; return a summary, or raise ValidationFailed with the full report.

    `where` names the data (a file), `fix_in` the schema's file, for the message.
    """
    schema = build_schema(schema_cfg)
    extra = _table_problems(table, schema_cfg, target, task)
    times = coerce_datetimes(table, schema_cfg)
    if len(times):
        extra = pd.concat([extra, times], ignore_index=True)
    try:
        schema.validate(table, lazy=True, inplace=True)  # inplace: no copy (nothing coerced)
    except pa.errors.SchemaErrors as errors:
        failures = pd.concat([extra, errors.failure_cases], ignore_index=True)
        raise _refusal(failures, where, fix_in) from None
    except pa.errors.SchemaError as error:  # raised for problems lazy mode cannot collect
        raise ValidationFailed(
            f"{where} does not match the schema in {fix_in}: {error}. Fix the data or the "
            "schema, then run `dvc repro` again."
        ) from None
    if len(extra):
        raise _refusal(extra, where, fix_in)
    summary: dict[str, Any] = {
        "rows": int(len(table)),
        "columns": int(table.shape[1]),
        "status": "passed",
    }
    outside = outside_expected(table, schema_cfg)
    if outside:
        summary["outside_expected"] = outside
    return summary


def coerce_datetimes(table: pd.DataFrame, schema_cfg: Mapping[str, Any]) -> pd.DataFrame:
    """Declared datetime columns read into microsecond timestamps in their declared zone,
    in place (text, dates and other units alike); the values that are no dates, or lack or
    carry a zone against the declaration, as failure rows."""
    from dockyard.data.times import to_wall_clock

    rows: list[dict[str, Any]] = []
    for column in table.columns:
        spec = _spec_for(str(column), schema_cfg)
        if spec is None or spec.get("dtype") != DATETIME:
            continue
        values, tz, fmt = table[column], spec.get("tz"), spec.get("format")
        if _dtype(spec) == values.dtype:
            continue
        wall, problems = to_wall_clock(values, tz, fmt)
        for bad, reason, shown in problems:
            for index, value in zip(table.index[bad], shown, strict=True):
                rows.append(_problem(column, reason, value, index))
        if tz is None:
            table[column] = pd.Series(wall, index=table.index)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            table[column] = values.dt.tz_convert(tz).astype(_dtype(spec))
        else:  # text with offsets: the instant, in the declared zone (no DST guessing)
            instants = pd.to_datetime(
                values.where(~_failed(problems, len(values))),
                utc=True,
                format=fmt or "ISO8601",
                errors="coerce",
            )
            table[column] = instants.dt.tz_convert(tz).astype(_dtype(spec))
    return pd.DataFrame(rows, columns=["column", "check", "failure_case", "index"])


def _failed(problems: list, n: int) -> np.ndarray:
    failed = np.zeros(n, dtype=bool)
    for bad, _, _ in problems:
        failed |= bad
    return failed


def outside_expected(table: pd.DataFrame, schema_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Per column with a soft range (`expect:`), how many values fall outside it: counted
    and reported, never refused."""
    found: dict[str, Any] = {}
    for column in table.columns:
        spec = _spec_for(str(column), schema_cfg)
        expect = (spec or {}).get("expect")
        if not expect:
            continue
        values = table[column]
        outside = pd.Series(False, index=table.index)
        if expect.get("ge") is not None:
            outside |= values < _bound(spec, expect["ge"])
        if expect.get("le") is not None:
            outside |= values > _bound(spec, expect["le"])
        count = int(outside.sum())
        if count:
            found[str(column)] = {
                "rows": count,
                "share": round(count / max(len(values), 1), 6),
                "expect": {k: v for k, v in dict(expect).items() if v is not None},
            }
    return found


def _spec_for(column: str, schema_cfg: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for name, spec in schema_cfg["columns"].items():
        if re.fullmatch(name, column) if spec.get("regex") else name == column:
            return spec
    return None


def _table_problems(
    table: pd.DataFrame, schema_cfg: Mapping[str, Any], target: str | None, task: str
) -> pd.DataFrame:
    """Problems pandera reports poorly: text in numeric columns, empty columns, one class."""
    rows: list[dict[str, Any]] = []
    for column in table.columns:
        values = table[column]
        # the first value present answers most columns without scanning them all
        if len(values) and pd.isna(values.iloc[0]) and values.isna().all():
            rows.append(_problem(column, f"entirely empty (all {len(values)} values missing)"))
            continue
        spec = _spec_for(str(column), schema_cfg)
        if spec is None or spec.get("dtype") not in _NUMBERS:
            continue
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()]
        for index, value in bad.items():
            rows.append(_problem(column, f"text in a {spec['dtype']} column", value, index))
    if target is not None and target in table.columns:
        missing = table[target].isna()
        for index in missing[missing].index[:50]:
            rows.append(_problem(target, "missing target value", "nan", index))
    if target is not None and task == "classification" and target in table.columns:
        classes = table[target].dropna().unique()
        if len(classes) == 1:
            rows.append(
                _problem(target, "single class (a classifier needs two or more)", classes[0])
            )
    return pd.DataFrame(rows, columns=["column", "check", "failure_case", "index"])


def _problem(column: Any, check: str, value: Any = "-", index: Any = None) -> dict[str, Any]:
    return {"column": str(column), "check": check, "failure_case": value, "index": index}


# The reason kept when one cell fails several checks: the first in this order. A text in a
# numeric column also fails its range checks; an inf fails `le`; a missing target is also
# not nullable: the reader needs the root cause once, not its echoes.
_PRIORITY = (
    "missing target value",
    "text in a",
    "not a date/time",
    "no time zone",
    "has a time zone",
    "dtype",
    "not_nullable",
    "finite (no inf)",
    "greater_than_or_equal_to",
    "less_than_or_equal_to",
    "isin",
    "field_uniqueness",
)
_EXCEPTION_TEXT = re.compile(r"^\w+(Error|Exception)\(")


def _rank(check: str) -> int:
    return next((i for i, p in enumerate(_PRIORITY) if check.startswith(p)), len(_PRIORITY))


def one_per_cell(failures: pd.DataFrame) -> pd.DataFrame:
    """One row per bad cell (its most basic reason), and no Python exception text: pandera
    reports a check that crashed on a wrong-typed value as the exception itself, which the
    type problem above it already explains."""
    failures = failures.copy()
    text = failures["failure_case"].astype(str)
    crashed = text.str.match(_EXCEPTION_TEXT) & failures["index"].isna()
    failures = failures[~crashed]
    # an entirely empty column is read with no type: its dtype failure is that echo
    empty = failures["check"].astype(str).str.startswith("entirely empty")
    echoes = failures["column"].isin(failures.loc[empty, "column"]) & ~empty
    failures = failures[~(echoes & failures["index"].isna())]
    rows = failures["index"].notna()
    cells = failures[rows].assign(_rank=failures.loc[rows, "check"].astype(str).map(_rank))
    cells = cells.sort_values("_rank", kind="stable").drop_duplicates(["column", "index"])
    return pd.concat([failures[~rows], cells.drop(columns="_rank")], ignore_index=True)


def describe_check(check: str) -> str:
    """pandera's check names in words."""
    found = re.fullmatch(r"(\w+)\((.*)\)", check)
    name, argument = (found.group(1), found.group(2)) if found else (check, "")
    words = {
        "dtype": f"wrong type (expected {argument.strip(chr(39))})",
        "greater_than_or_equal_to": f"below the minimum (ge: {argument})",
        "less_than_or_equal_to": f"above the maximum (le: {argument})",
        "isin": "not one of the allowed values (isin)",
        "not_nullable": "missing value (the column is not nullable)",
        "field_uniqueness": "duplicate value (unique: true)",
        "str_matches": f"does not match {argument}",
    }
    return words.get(name, check)


def _refusal(failures: pd.DataFrame, where: str, fix_in: str) -> ValidationFailed:
    """The failure report as an error; its `column` names the failing column when every
    failure is in that one column."""
    cells = one_per_cell(failures)
    columns = _failing_columns(cells)
    return ValidationFailed(
        format_failures(cells, where, fix_in),
        column=next(iter(columns)) if len(columns) == 1 else None,
    )


def _failing_columns(failures: pd.DataFrame) -> set[str | None]:
    """The columns a failure table is about, as the report names them (a table-level check
    names its column in failure_case); None for a failure of no one column."""
    table_level = failures["check"].isin(list(_TABLE_CHECKS))
    named = failures["column"].where(~table_level, failures["failure_case"].astype(str))
    return {None if pd.isna(name) else str(name) for name in named}


def format_failures(failures: pd.DataFrame, where: str, fix_in: str) -> str:
    """One paragraph plus a table: column, check, number of failures, example rows."""
    failures = failures.copy()
    table_level = failures["check"].isin(list(_TABLE_CHECKS))
    # Table-level checks name the offending column in failure_case, not in column.
    failures.loc[table_level, "column"] = failures.loc[table_level, "failure_case"].astype(str)
    failures["check"] = failures["check"].astype(str).replace(_TABLE_CHECKS).map(describe_check)
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
                examples.append(shorten(f"{value}"))
            else:
                examples.append(f"row {int(index)}: {shorten(str(value))}")
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
        f"in column(s) {named}. Rows count from 0 at the first data "
        "row. Nothing downstream was written. Fix the data, or the schema if the data is right, "
        "then run `dvc repro` again.\n" + "\n".join(lines)
    )
