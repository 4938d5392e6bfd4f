"""A dataset's schema compiled into vectorised numpy checks, for prediction.

`schemas.validate_table` (pandera) is the reference and guards the pipeline. Scoring new
rows asks the same questions many times on small tables (one HTTP request) or on a stream
of chunks (batch prediction), where pandera's fixed cost per call (~10 ms) would be most of
the work. This module asks them with a handful of numpy operations per table and answers
row by row, so bad rows can be refused with their reasons or skipped.

The checks are pandera's (a test compares the two decisions on generated tables), with two
deliberate differences for scoring: values arriving as text (CSV, JSON) are coerced to the
declared dtype, a value that cannot be is a failure of its row; and a nullable column that
is entirely empty is accepted (a one-row request with a missing value is normal). The target
column is not checked: it may come along and is then carried beside the predictions.

Input columns may be numpy arrays, Python lists (JSON), `Text` (dictionary-encoded strings)
or pyarrow arrays; every check works on the coerced form: numbers as one float64 matrix,
text as integer codes into a list of categories.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dockyard.data.times import DATETIME, bound, show, to_wall_clock
from dockyard.errors import ValidationFailed, quote

NUMERIC = ("float64", "float32", "int64", "int32", "int16", "int8")
TEXT = ("str", "category")
_SHOWN = 5


class ColumnsMismatch(ValidationFailed):
    """Columns are missing or unexpected: no row can be scored (refused in every mode)."""

    def __init__(self, message: str, missing: list[str], unexpected: list[str]):
        super().__init__(message)
        self.missing, self.unexpected = missing, unexpected


@dataclass(frozen=True)
class Text:
    """A text column, dictionary-encoded: `codes` index `categories`; -1 is missing."""

    codes: np.ndarray
    categories: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, rows: np.ndarray) -> Text:
        return Text(self.codes[rows], self.categories)


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


@dataclass(frozen=True)
class _Spec:
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
    after: np.datetime64 | None = None
    before: np.datetime64 | None = None


def _spec(name: str, raw: Mapping[str, Any]) -> _Spec:
    isin = raw.get("isin")
    dtype = str(raw.get("dtype") or "str")
    dated = dtype == DATETIME
    return _Spec(
        name=name,
        dtype=dtype,
        nullable=bool(raw.get("nullable", False)),
        ge=None if raw.get("ge") is None or dated else float(raw["ge"]),
        le=None if raw.get("le") is None or dated else float(raw["le"]),
        isin=None if isin is None else tuple(isin),
        unique=bool(raw.get("unique", False)),
        allow_inf=bool(raw.get("allow_inf", False)),
        tz=raw.get("tz") if dated else None,
        after=bound(raw.get("ge")) if dated else None,
        before=bound(raw.get("le")) if dated else None,
    )


class CompiledSchema:
    """A schema config (`data.schema`) ready to check tables of any column set.

    `extra` names columns the model needs that the schema may not declare (a non-strict
    schema), with the dtype to coerce them to; they are required but carry no checks.
    """

    def __init__(
        self,
        schema_cfg: Mapping[str, Any],
        *,
        target: str | None = None,
        extra: Mapping[str, str] | None = None,
        ignored: Sequence[str] = (),
        where: str = "the input",
        fix_in: str = "the model's schema",
    ):
        self.strict = bool(schema_cfg.get("strict", True))
        self.target = target
        # columns the training source left out (data.source.drop_columns): accepted, unread
        self.ignored = frozenset(str(c) for c in ignored)
        self.where, self.fix_in = where, fix_in
        self.named: dict[str, _Spec] = {}
        self.patterns: list[tuple[re.Pattern[str], _Spec]] = []
        for name, raw in schema_cfg["columns"].items():
            spec = _spec(str(name), raw or {})
            if raw and raw.get("regex"):
                self.patterns.append((re.compile(str(name)), spec))
            else:
                self.named[str(name)] = spec
        for name, dtype in (extra or {}).items():
            if name not in self.named and not any(p.fullmatch(name) for p, _ in self.patterns):
                self.named[name] = _Spec(name, dtype, True, None, None, None, False, True)
        self._bound: dict[tuple[str, ...], _Bound] = {}

    def dtype_of(self, column: str) -> str | None:
        spec = self._match(column)
        return None if spec is None else spec.dtype

    def _match(self, column: str) -> _Spec | None:
        if column in self.named:
            return self.named[column]
        return next((spec for pattern, spec in self.patterns if pattern.fullmatch(column)), None)

    def bind(self, columns: Sequence[str]) -> _Bound:
        """Resolve the schema against a table's column names (cached per column set)."""
        key = tuple(columns)
        bound = self._bound.get(key)
        if bound is None:
            if len(self._bound) > 64:
                self._bound.clear()
            bound = self._bound[key] = _Bound(self, key)
        return bound

    def check(self, columns: Mapping[str, Any], rows: int | None = None) -> Checked:
        """Check a table given as {name: column}; raise ColumnsMismatch for wrong columns."""
        return self.bind(list(columns)).check(columns, rows)

    def check_arrow(self, table: Any) -> Checked:
        """Check a pyarrow Table or RecordBatch."""
        return self.check(dict(zip(table.column_names, table.columns, strict=True)), table.num_rows)

    def check_pandas(self, table: Any) -> Checked:
        return self.check({str(c): table[c] for c in table.columns}, len(table))


class _Bound:
    """A schema resolved against one list of column names."""

    def __init__(self, schema: CompiledSchema, columns: tuple[str, ...]):
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ColumnsMismatch(
                f"{schema.where} has duplicate column names: {', '.join(duplicates)}. Every "
                "column needs a unique name.",
                [],
                duplicates,
            )
        self.schema = schema
        self.specs: list[_Spec] = []
        self.carried: list[str] = []
        unexpected = []
        for column in columns:
            if column == schema.target:
                self.carried.append(column)
                continue
            if column in schema.ignored:
                continue
            spec = schema._match(column)
            if spec is None:
                if schema.strict:
                    unexpected.append(column)
                continue
            self.specs.append(replace(spec, name=column))
        missing = [n for n in schema.named if n not in columns and n != schema.target]
        missing += [
            p.pattern
            for p, _ in schema.patterns
            if not any(p.fullmatch(c) for c in columns if c != schema.target)
        ]
        if missing or unexpected:
            raise ColumnsMismatch(
                _columns_message(schema, missing, unexpected), missing, unexpected
            )
        self.numeric = [s for s in self.specs if s.dtype in NUMERIC or s.dtype == "bool"]
        self.times = [s for s in self.specs if s.dtype == DATETIME]
        self.text = [
            s for s in self.specs if s.dtype not in NUMERIC and s.dtype not in ("bool", DATETIME)
        ]
        self.low = np.array([-np.inf if s.ge is None else s.ge for s in self.numeric])
        self.high = np.array([np.inf if s.le is None else s.le for s in self.numeric])
        self.nullable = np.array([s.nullable for s in self.numeric], dtype=bool)
        self.finite = np.array(
            [s.dtype.startswith("float") and not s.allow_inf for s in self.numeric], dtype=bool
        )
        self.dtypes = {s.name: s.dtype for s in self.specs}

    def check(self, columns: Mapping[str, Any], rows: int | None) -> Checked:
        n = _length(next(iter(columns.values()))) if rows is None and columns else (rows or 0)
        numbers = np.empty((n, len(self.numeric)), dtype=np.float64)
        failures: list[Failure] = []
        unreadable = np.zeros((n, len(self.numeric)), dtype=bool)
        for j, spec in enumerate(self.numeric):
            values, problems = to_numbers(columns[spec.name], spec.dtype)
            numbers[:, j] = values
            for bad, reason, shown in problems:
                unreadable[:, j] |= bad
                failures.append(Failure(spec.name, reason, np.flatnonzero(bad), shown))
        if len(self.numeric):
            failures += self._number_failures(numbers, unreadable)
        texts = {}
        for spec in self.text:
            text = to_text(columns[spec.name])
            texts[spec.name] = text
            failures += _text_failures(spec, text)
        times = {}
        for spec in self.times:
            times[spec.name], found = _time_failures(spec, columns[spec.name])
            failures += found
        return Checked(
            n, numbers, [s.name for s in self.numeric], texts, self.dtypes, failures, times
        )

    def _number_failures(self, numbers: np.ndarray, unreadable: np.ndarray) -> list[Failure]:
        missing = np.isnan(numbers)
        null = missing & ~self.nullable & ~unreadable
        infinite = np.isinf(numbers) & self.finite
        with np.errstate(invalid="ignore"):  # an inf is reported once: as infinite
            below = (numbers < self.low) & ~infinite
            above = (numbers > self.high) & ~infinite
        failures = []
        if null.any() or infinite.any() or below.any() or above.any():
            for j, spec in enumerate(self.numeric):
                column = numbers[:, j]
                for mask, reason in (
                    (null[:, j], "missing value (the column is not nullable)"),
                    (infinite[:, j], "infinite value (allow_inf is false)"),
                    (below[:, j], f"below the minimum (ge: {_number(spec.ge)})"),
                    (above[:, j], f"above the maximum (le: {_number(spec.le)})"),
                ):
                    if mask.any():
                        failures.append(_failure(spec.name, reason, mask, column))
        for j, spec in enumerate(self.numeric):
            column = numbers[:, j]
            if spec.isin is not None:
                allowed = np.asarray([float(v) for v in spec.isin if _is_number(v)])
                outside = ~np.isin(column, allowed) & ~missing[:, j]
                if outside.any():
                    failures.append(_failure(spec.name, _isin_reason(spec), outside, column))
            if spec.unique:
                duplicated = _duplicated(column)
                if duplicated.any():
                    failures.append(_failure(spec.name, "duplicate value", duplicated, column))
        return failures


def _columns_message(schema: CompiledSchema, missing: list[str], unexpected: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"lacks the column(s) {', '.join(missing)}")
    if unexpected:
        parts.append(
            f"has column(s) the schema does not declare: {', '.join(unexpected[:20])}"
            + (f" and {len(unexpected) - 20} more" if len(unexpected) > 20 else "")
        )
    expected = [n for n in schema.named if n != schema.target]
    expected += [p.pattern for p, _ in schema.patterns]
    return (
        f"{schema.where} {' and '.join(parts)}. The model expects the columns of its training "
        f"table ({schema.fix_in}): {', '.join(expected[:30])}"
        + (" ..." if len(expected) > 30 else "")
        + (f", optionally the target {schema.target!r}" if schema.target else "")
        + ". Rename or add the columns"
        + (", or drop the extra ones (the schema is strict)." if unexpected else ".")
    )


# ----------------------------------------------------------------------------- coercion


def _length(column: Any) -> int:
    return len(column)


def to_numbers(column: Any, dtype: str) -> tuple[np.ndarray, list[tuple[np.ndarray, str, list]]]:
    """float64 values (NaN = missing, and where a value failed), and the failures as
    (row mask, reason, values as found). A boolean (JSON true, a true/false column) is no
    number in a numeric column: refused like text, never read as 1.0."""
    booleans = _booleans(column) if dtype != "bool" else None
    shown_booleans = [] if booleans is None else [bool(v) for v in _as_objects(column)[booleans]]
    column = _from_arrow(column, numeric=True)
    if isinstance(column, Text):
        parsed = np.array([_parse_number(c) for c in column.categories] + [np.nan])
        values = parsed[column.codes]
        bad = np.isnan(values) & (column.codes >= 0)
        # a category spelt as a missing value ('nan', 'NaN') is missing, not text
        for index, name in enumerate(column.categories):
            if np.isnan(parsed[index]) and name.strip().lower() in ("nan", ""):
                bad &= column.codes != index
        shown = [column.categories[c] for c in column.codes[bad]]
    else:
        if hasattr(column, "to_numpy") and not isinstance(column, np.ndarray):  # pandas
            column = _pandas_values(column)
        values, bad, shown = _object_numbers(column)
    problems = [(bad, f"not a number (the column is {dtype})", shown)] if bad.any() else []
    if booleans is not None:
        values = np.where(booleans, np.nan, values)
        problems.append(
            (booleans, f"not a number (true/false in a {dtype} column)", shown_booleans)
        )
    if dtype in ("int64", "int32", "int16", "int8"):
        with np.errstate(invalid="ignore"):
            fraction = (values != np.floor(values)) & np.isfinite(values)
        if fraction.any():
            reason = f"not a whole number (the column is {dtype})"
            problems.append((fraction, reason, values[fraction].tolist()))
            values = np.where(fraction, np.nan, values)
    elif dtype == "float32":
        with np.errstate(over="ignore"):
            values = values.astype(np.float32).astype(np.float64)
    return values, problems


def _booleans(column: Any) -> np.ndarray | None:
    """Rows holding a boolean (None when there are none): JSON lists, object arrays and
    whole boolean columns (numpy, pandas, Arrow)."""
    kind = getattr(column, "type", None)
    if kind is not None and type(column).__module__.startswith("pyarrow"):
        import pyarrow as pa

        if kind != pa.bool_():
            return None
        mask = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return mask if mask.any() else None
    dtype = getattr(column, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") == "b" or str(dtype) == "boolean":
        mask = ~np.asarray(_missing_mask(column), dtype=bool)
        return mask if mask.any() else None
    if isinstance(column, list) or (dtype is not None and getattr(dtype, "kind", "") == "O"):
        mask = np.fromiter(
            (isinstance(v, bool | np.bool_) for v in column), dtype=bool, count=len(column)
        )
        return mask if mask.any() else None
    return None


def _as_objects(column: Any) -> np.ndarray:
    if type(column).__module__.startswith("pyarrow"):
        return np.asarray(column.to_pylist(), dtype=object)
    if hasattr(column, "to_numpy"):
        return column.to_numpy(dtype=object)
    return np.asarray(list(column), dtype=object)


def _missing_mask(column: Any) -> np.ndarray:
    isna = getattr(column, "isna", None)
    return isna().to_numpy() if isna is not None else np.zeros(len(column), dtype=bool)


def _object_numbers(column: Any) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        values = column.astype(np.float64, copy=False)
        return values, np.zeros(len(values), dtype=bool), []
    try:
        values = np.asarray(column, dtype=np.float64)
        if values.ndim == 1:
            return values, np.zeros(len(values), dtype=bool), []
    except (TypeError, ValueError):
        pass
    values = np.empty(len(column), dtype=np.float64)
    bad = np.zeros(len(column), dtype=bool)
    shown = []
    for i, value in enumerate(column):
        number = _parse_number(value)
        values[i] = number
        if np.isnan(number) and not _is_missing(value):
            bad[i] = True
            shown.append(value)
    return values, bad, shown


def _parse_number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return np.nan if value is None else float(value)
    if isinstance(value, int | float | np.number):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return np.nan
    return np.nan


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, str):
        return value.strip().lower() in ("", "nan")
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def to_text(column: Any) -> Text:
    """Any column as dictionary-encoded text; values that are not text become their str()."""
    column = _from_arrow(column, numeric=False)
    if isinstance(column, Text):
        return column
    if hasattr(column, "cat"):  # a pandas categorical
        categories = [str(c) for c in column.cat.categories]
        return Text(column.cat.codes.to_numpy().astype(np.int64), categories)
    if hasattr(column, "to_numpy") and not isinstance(column, np.ndarray):
        column = _pandas_values(column)
    lookup: dict[str, int] = {}
    codes = np.empty(len(column), dtype=np.int64)
    for i, value in enumerate(column):
        if _is_missing(value) and not (isinstance(value, str) and value.strip()):
            codes[i] = -1
            continue
        key = value if isinstance(value, str) else str(value)
        codes[i] = lookup.setdefault(key, len(lookup))
    return Text(codes, list(lookup))


def _pandas_values(series: Any) -> np.ndarray:
    values = series.to_numpy()
    if values.dtype.kind == "O" or values.dtype.kind in "fiub":
        return values
    return series.astype(object).to_numpy()


def _from_arrow(column: Any, numeric: bool) -> Any:
    """pyarrow arrays become numpy (numbers) or Text (strings, dictionaries)."""
    module = type(column).__module__
    if not module.startswith("pyarrow"):
        return column
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    kind = column.type
    if pa.types.is_dictionary(kind):
        if not numeric or not pa.types.is_string(kind.value_type):
            return _dictionary_text(column)
        column = column.cast(kind.value_type)
        kind = column.type
    if numeric and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        try:
            return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _dictionary_text(column.dictionary_encode())
    if numeric and (pa.types.is_integer(kind) or pa.types.is_floating(kind) or kind == pa.bool_()):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if numeric and pa.types.is_null(kind):
        return np.full(len(column), np.nan)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _dictionary_text(column.dictionary_encode())
    if pa.types.is_null(kind):
        return Text(np.full(len(column), -1, dtype=np.int64), [])
    return column.to_pylist()


def _dictionary_text(column: Any) -> Text:
    codes = column.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    categories = [str(v) for v in column.dictionary.to_pylist()]
    return Text(codes, categories)


# ----------------------------------------------------------------------------- text checks


def _text_failures(spec: _Spec, text: Text) -> list[Failure]:
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
            failures.append(Failure(spec.name, _isin_reason(spec), rows, shown))
    if spec.unique:
        duplicated = _duplicated(codes)
        if duplicated.any():
            rows = np.flatnonzero(duplicated)
            shown = [text.categories[c] if c >= 0 else None for c in codes[rows]]
            failures.append(Failure(spec.name, "duplicate value", rows, shown))
    return failures


def _duplicated(values: np.ndarray) -> np.ndarray:
    """Every row whose value occurs more than once (missing values count as equal, as in
    pandas and pandera)."""
    import pandas as pd

    return pd.Series(values).duplicated(keep=False).to_numpy()


def _failure(column: str, reason: str, mask: np.ndarray, values: np.ndarray) -> Failure:
    rows = np.flatnonzero(mask)
    return Failure(column, reason, rows, values[rows].tolist())


def _isin_reason(spec: _Spec) -> str:
    shown = ", ".join(map(str, spec.isin[:10])) + (" ..." if len(spec.isin) > 10 else "")
    return f"not one of the allowed values ({shown})"


def _time_failures(spec: _Spec, column: Any) -> tuple[np.ndarray, list[Failure]]:
    """A datetime column read as wall-clock times, and its refused rows: values that are no
    dates (or whose zone disagrees with the schema), missing values, values out of bounds."""
    wall, problems = to_wall_clock(column, spec.tz)
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


def _number(value: float | None) -> str:
    return "-" if value is None else (str(int(value)) if float(value).is_integer() else str(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ----------------------------------------------------------------------------- reporting


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


SKIP_HINT = (
    "score the others with --invalid skip (the rejected rows and their reasons go to a side file)"
)


def describe(
    summary: list[dict[str, Any]], where: str, fix_in: str, bad_rows: int, hint: str = SKIP_HINT
) -> str:
    """One paragraph, then one line per failing column and check."""
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
        f"column(s) {named}. Rows count from 0 at the first data row. Fix those rows, or "
        f"{hint}.\n" + "\n".join(lines)
    )
