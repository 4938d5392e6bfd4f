"""Coercion: any input column (numpy, a JSON list, pandas, pyarrow, `Text`) as the form
every check works on: numbers as float64 (NaN = missing), text dictionary-encoded as
integer codes into a list of categories. A value that cannot be coerced is reported with
its row, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dockyard.config.schema import BOOLEAN_TEXT, NUMERIC_DTYPES

# the dtypes whose values must be whole numbers
WHOLE = tuple(d for d in NUMERIC_DTYPES if d.startswith("int"))


@dataclass(frozen=True)
class Text:
    """A text column, dictionary-encoded: `codes` index `categories`; -1 is missing."""

    codes: np.ndarray
    categories: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, rows: np.ndarray) -> Text:
        return Text(self.codes[rows], self.categories)


def to_numbers(column: Any, dtype: str) -> tuple[np.ndarray, list[tuple[np.ndarray, str, list]]]:
    """float64 values (NaN = missing, and where a value failed), and the failures as
    (row mask, reason, values as found). A boolean (JSON true, a true/false column) is no
    number in a numeric column: refused like text, never read as 1.0."""
    booleans = _booleans(column) if dtype != "bool" else None
    shown_booleans = [] if booleans is None else [bool(v) for v in _as_objects(column)[booleans]]
    parse = _parse_bool if dtype == "bool" else _parse_number
    column = _from_arrow(column, numeric=True)
    if isinstance(column, Text):
        parsed = np.array([parse(c) for c in column.categories] + [np.nan])
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
        values, bad, shown = _object_numbers(column, parse)
    if dtype == "bool":  # a number other than 0 and 1 is no truth value either
        other = np.isfinite(values) & (values != 0.0) & (values != 1.0)
        if other.any():
            bad, shown = bad | other, [*shown, *values[other].tolist()]
            values = np.where(other, np.nan, values)
    wanted = "true/false" if dtype == "bool" else "a number"
    problems = [(bad, f"not {wanted} (the column is {dtype})", shown)] if bad.any() else []
    if booleans is not None:
        values = np.where(booleans, np.nan, values)
        problems.append(
            (booleans, f"not a number (true/false in a {dtype} column)", shown_booleans)
        )
    if dtype in WHOLE:
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


def _object_numbers(column: Any, parse: Any) -> tuple[np.ndarray, np.ndarray, list[Any]]:
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
        number = parse(value)
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


def _parse_bool(value: Any) -> float:
    """1.0 or 0.0 for a truth value (True, 'true', 1), NaN otherwise (a number other than
    0 or 1 comes through, for the caller to refuse)."""
    if isinstance(value, str):
        return BOOLEAN_TEXT.get(value.strip(), np.nan)
    return _parse_number(value)


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
