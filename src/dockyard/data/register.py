"""`dockyard data add` and `dockyard data append`: put a user's table (one file, or a
folder of batch files) under DVC, draft its config and schema, and add batches later.

The draft (conf/data/NAME.yaml) is meant to be read and edited by a person: it holds
the source, target and task and an inferred schema. Only what is certain is drafted as a
hard check, refused wherever rows arrive (ingest, data append, predict, serve): the dtype,
whether a column may be missing, the categories of low-cardinality text, the target's
classes, and the sign of a column whose every value is >= 0. The observed range is kept
as a soft expectation (`expect:`), counted in the validation report and watched by
`dockyard monitor`, but never refused: a new batch drawn from the same distribution will
hold values past the first sample's extremes. Ranges a user writes as `ge`/`le` are hard.
ISO dates and timestamps are drafted as `dtype: datetime` (with `tz` when they carry a
zone), and so are dates written in one other form that the values themselves pin down
(31/12/2024, with `format: '%d/%m/%Y'`); the one datetime column without gaps (or
`--time COLUMN`) becomes the time axis.
A folder's batches are read in time order when there is a time axis, else in name order.
"""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dockyard.config.rules import did_you_mean
from dockyard.data.readers import batch_files, detect_format, read_batches, read_table
from dockyard.errors import DataError
from dockyard.io import plain

MAX_CATEGORIES = 50
MAX_CLASSES_FOR_INTEGER_TARGET = 20


@dataclass
class Registration:
    name: str
    config_path: Path
    data_path: str
    rows: int
    columns: int
    task: str
    task_reason: str
    notes: list[str]
    batches: int = 0  # batch files of a folder (0 for a single file)


def add_dataset(
    path: str | Path,
    target: str,
    *,
    name: str | None = None,
    task: str | None = None,
    root: str | Path = ".",
    force: bool = False,
    time: str | None = None,
) -> Registration:
    root = Path(root).resolve()
    file = _inside_repo(Path(path), root)
    relative = file.relative_to(root).as_posix()
    name = _dataset_name(name or file.stem)
    config_path = root / "conf" / "data" / f"{name}.yaml"
    if config_path.exists() and not force:
        raise DataError(
            f"conf/data/{name}.yaml already exists. Choose another --name, or pass --force to "
            "replace it with a fresh draft.",
            kind="already-exists",
            path=config_path,
        )
    files = batch_files(file) if file.is_dir() else [file]
    fmt = detect_format(files[0])
    delimiter = _sniff_delimiter(files[0]) if fmt == "csv" else ","
    if file.is_dir():
        table = read_batches(files, format=fmt, delimiter=delimiter)
    else:
        table = read_table(file, format=fmt, delimiter=delimiter)
    if target not in table.columns:
        hint = did_you_mean(target, [str(c) for c in table.columns])
        raise DataError(
            f"{relative} has no column {target!r} to use as the target.{hint} Its columns are: "
            f"{', '.join(map(str, table.columns[:30]))}.",
            kind="missing-column",
            column=target,
            path=relative,
        )
    task, reason = _task(table[target], task)
    _check_target(table[target], target, task, relative)
    notes: list[str] = []
    empty = [str(c) for c in table.columns if c != target and table[c].isna().all()]
    if empty:
        table = table.drop(columns=empty)
        notes.append(
            f"column(s) {', '.join(map(repr, empty))} are entirely empty: left out as the file "
            "is read (data.source.drop_columns); remove them from that list once they hold "
            "values, and add them to the schema"
        )
    formats = _date_formats(table, target, notes)
    comma_numbers = _decimal_comma_columns(table, target)
    if comma_numbers:
        sep = "\\t" if delimiter == "\t" else delimiter
        notes.append(
            f"column(s) {', '.join(map(repr, comma_numbers))} hold numbers written with a "
            f"decimal comma (e.g. {table[comma_numbers[0]].dropna().iloc[0]!r} in "
            f"{comma_numbers[0]!r}). dockyard reads numbers with a "
            "decimal point, so they were drafted as text, one category per value. Re-save "
            "the file with decimal points and run this command again with --force, e.g. "
            f"python -c \"import pandas as pd; pd.read_csv('{relative}', sep='{sep}', "
            f"decimal=',', thousands='.').to_csv('{relative}', sep='{sep}', index=False)\""
        )
    time = _time_axis(table, target, time, relative, notes)
    if file.is_dir():
        order = (
            f"in the order of their earliest {time!r}"
            if time
            else "in name order: name later batches so they sort last (dates: 2024-06-01.csv)"
        )
        notes.append(
            f"{relative} is a folder of {len(files)} batch file(s), read {order}; add batches "
            f"with `dockyard data append {name} FILE`. data.window: null trains on every "
            "batch; window: N on the newest N"
        )
    config = {
        "name": name,
        "input": relative,
        **({"window": None} if file.is_dir() else {}),
        "source": {
            "_target_": "dockyard.data.sources.table_file",
            "path": "${data.input}",
            "format": fmt,
            **({"delimiter": delimiter} if fmt == "csv" else {}),
            **({"drop_columns": empty} if empty else {}),
            **({"window": "${data.window}"} if file.is_dir() else {}),
            **({"time": time} if file.is_dir() and time else {}),
            **({"time_format": formats[time]} if file.is_dir() and time in formats else {}),
        },
        "target": target,
        "task": task,
        "image_shape": None,
        "schema": {
            "strict": True,
            "columns": _infer_columns(table, target, task, notes, time, formats, comma_numbers),
        },
    }
    dvc_add(relative, root)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Registered with `dockyard data add {relative} --target {target}`.\n"
        "# The schema below was inferred from the data: review it. Ingest, data append, predict\n"
        "# and serve enforce dtype, nullable, isin and ge/le (write your own known bounds\n"
        "# there); expect: is the range seen here, counted and monitored but never refused.\n"
    )
    if file.is_dir():
        header += (
            "# A folder of batch files, read in name order: `dockyard data append "
            f"{name} FILE` adds one.\n"
            "# window: train on the newest N batches (null: all of them); a change is a param\n"
            "# change, so `dvc exp run -S data.window=4` retrains on the last four.\n"
        )
    config_path.write_text(
        header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    return Registration(
        name,
        config_path,
        relative,
        len(table),
        table.shape[1],
        task,
        reason,
        notes,
        batches=len(files) if file.is_dir() else 0,
    )


def _inside_repo(path: Path, root: Path) -> Path:
    if not path.exists():
        raise DataError(
            f"{path} does not exist. Give the path of a CSV or Parquet file inside the "
            "repository (e.g. data/customers.csv).",
            kind="missing-file",
            path=path,
        )
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise DataError(
            f"{path} is outside the repository ({root}). DVC versions files inside the "
            "repository only: copy it in first (e.g. to data/), then run dockyard data add on "
            "the copy.",
            kind="outside-repo",
            path=path,
        )
    if not resolved.is_file() and not resolved.is_dir():
        raise DataError(
            f"{path} is neither a file nor a folder of batch files.", kind="not-a-file", path=path
        )
    return resolved


def _dataset_name(raw: str) -> str:
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", raw).strip("_").lower()
    if not name or name[0].isdigit():
        name = f"data_{name}"
    return name


def _sniff_delimiter(path: Path) -> str:
    with open(path, "rb") as handle:
        sample = handle.read(65536).decode("utf-8", errors="replace")
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _task(values: pd.Series, declared: str | None) -> tuple[str, str]:
    if declared:
        return declared, "given with --task"
    present = values.dropna()
    distinct = present.nunique()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification", f"the target holds {distinct} text/boolean classes"
    integral = bool((present == present.round()).all())
    if integral and distinct <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification", f"the target holds {distinct} distinct integer values"
    return "regression", f"the target is numeric with {distinct} distinct values"


def _check_target(values: pd.Series, target: str, task: str, where: str) -> None:
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task == "regression" and not numeric:
        examples = ", ".join(map(repr, values.dropna().astype(str).unique()[:3].tolist()))
        raise DataError(
            f"{where}: --task regression needs a numeric target, but {target!r} holds text "
            f"({examples}). Register it as a classification task (drop --task, or pass "
            "--task classification), or choose a numeric --target.",
            kind="wrong-type",
            column=target,
            path=where,
        )
    missing = values.isna()
    if missing.any():
        rows = missing[missing].index[:5].tolist()
        raise DataError(
            f"{where}: the target column {target!r} is missing in {int(missing.sum())} row(s) "
            f"(rows {rows}, counted from 0 at the first data row). Fill or drop those rows.",
            kind="missing-values",
            column=target,
            path=where,
        )
    if task == "classification" and values.nunique() < 2:
        raise DataError(
            f"{where}: the target column {target!r} has a single class ({values.iloc[0]!r}); "
            "a classifier needs at least two.",
            kind="single-class",
            column=target,
            path=where,
        )


def _booleans_with_gaps(series: pd.Series) -> bool:
    """True/False with missing values, which a CSV column reads as objects."""
    if series.dtype != object:
        return False
    present = series.dropna()
    return (
        len(present) > 0
        and isinstance(present.iloc[0], bool)
        and bool(present.map(lambda v: isinstance(v, bool)).all())
    )


def _dtype_name(series: pd.Series) -> str:
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
        return "datetime"
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(series) or _booleans_with_gaps(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return str(series.dtype) if str(series.dtype) in ("int8", "int16", "int32") else "int64"
    if pd.api.types.is_float_dtype(series):
        return "float32" if str(series.dtype) == "float32" else "float64"
    return "str"


def _infer_columns(
    table: pd.DataFrame,
    target: str,
    task: str,
    notes: list[str],
    time: str | None = None,
    formats: dict[str, str] | None = None,
    comma_numbers: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {}
    for column in table.columns:
        series = table[column]
        spec: dict[str, Any] = {"dtype": _dtype_name(series)}
        if series.isna().any():
            spec["nullable"] = True
        present = series.dropna()
        if spec["dtype"] == "datetime":
            if column in (formats or {}):
                spec["format"] = (formats or {})[column]
            spec.update(_datetime_spec(series, present))
            if column == time:
                spec["time"] = True
        elif (
            column != target
            and column not in (comma_numbers or ())
            and _looks_like_key(str(column), series)
        ):
            spec.update(key=True, unique=True)
            notes.append(
                f"column {column!r} looks like an identifier (every value distinct): marked "
                "key: true, so it is checked and carried beside predictions, never a feature"
            )
        elif column == target and task == "classification":
            spec["isin"] = sorted(plain(v) for v in present.unique())
        elif spec["dtype"].startswith(("float", "int")) and len(present):
            spec.update(_range(present))
        elif spec["dtype"] in ("str", "category"):
            distinct = present.nunique()
            if distinct <= MAX_CATEGORIES:
                spec["isin"] = sorted(str(v) for v in present.unique())
            elif column in (comma_numbers or ()):
                pass  # a note of its own says how to make it numbers
            else:
                notes.append(
                    f"column {column!r} holds {distinct} distinct text values: no category list "
                    "was declared, and one-hot encoding it makes many features (drop it if it "
                    "is an identifier)"
                )
        columns[str(column)] = spec
    return columns


# dates written with the day, month and year in some order, and maybe a time of day
_WRITTEN_DATE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?P<time>(?P<t>[ T])\d{1,2}:\d{2}(?P<s>:\d{2})?)?"
)


def _text_columns(table: pd.DataFrame, target: str) -> Iterator[tuple[Any, pd.Series]]:
    """Each feature column read as text, with its values present (stripped)."""
    for column in table.columns:
        if column == target or _dtype_name(table[column]) != "str":
            continue
        present = table[column].dropna().astype(str).str.strip()
        if not present.empty:
            yield column, present


def _date_formats(table: pd.DataFrame, target: str, notes: list[str]) -> dict[str, str]:
    """Text columns whose every value is a date written in one non-ISO form (31/12/2024,
    12.31.2024 10:30, 2024/12/31): read in place as datetimes, and the form they are
    written in, to draft as the column's `format`. A form no value tells apart (01/02/2024
    as day or month first) is left as text, with a note: it is never guessed."""
    found: dict[str, str] = {}
    for column, present in list(_text_columns(table, target)):
        first = _WRITTEN_DATE.fullmatch(present.iloc[0])
        if first is None:
            continue
        sep, clock = first["sep"], first["time"] is not None
        time = (f"{first['t']}%H:%M" + (":%S" if first["s"] else "")) if clock else ""
        orders = ["%Y{0}%m{0}%d"] if len(first["a"]) == 4 else ["%d{0}%m{0}%Y", "%m{0}%d{0}%Y"]
        fits = {}
        for order in orders:
            fmt = order.format(sep) + time
            parsed = pd.to_datetime(present, format=fmt, exact=True, errors="coerce")
            if not parsed.isna().any():
                fits[fmt] = parsed
        if len(fits) == 1:
            ((fmt, parsed),) = fits.items()
            # the rows left out of `present` were missing: NaT
            table[column] = parsed.reindex(table.index).astype("datetime64[us]")
            found[str(column)] = fmt
            notes.append(
                f"column {column!r} holds dates written as {present.iloc[0]!r}: drafted as "
                f"dtype: datetime with format: '{fmt}', the one form every value fits; rows "
                "in any other form (ISO included) are refused, never guessed"
            )
        elif len(fits) == 2:
            day_first, month_first = fits
            notes.append(
                f"column {column!r} holds dates such as {present.iloc[0]!r}, where no value "
                f"tells the day from the month: drafted as text. If they are dates, set "
                f"dtype: datetime and format: '{day_first}' (day first) or '{month_first}' "
                "(month first) in the draft"
            )
    return found


_COMMA_NUMBER = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")


def _decimal_comma_columns(table: pd.DataFrame, target: str) -> list[str]:
    """Text columns whose every value is a number written with a decimal comma (12,5 or
    1.234,56; some may be whole), at least one with a comma."""
    return [
        str(column)
        for column, present in _text_columns(table, target)
        if present.str.contains(",", regex=False).any()
        and present.map(lambda v: _COMMA_NUMBER.fullmatch(v) is not None).all()
    ]


def _datetime_spec(series: pd.Series, present: pd.Series) -> dict[str, Any]:
    """A datetime column's zone (when it carries one) and its observed span (soft)."""
    spec: dict[str, Any] = {}
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        spec["tz"] = str(series.dt.tz)
    if len(present):
        low, high = present.min(), present.max()
        dates = bool((present == present.dt.normalize()).all())
        shown = [v.strftime("%Y-%m-%d") if dates else v.isoformat() for v in (low, high)]
        spec["expect"] = {"ge": shown[0], "le": shown[1]}
    return spec


def _time_axis(
    table: pd.DataFrame, target: str, chosen: str | None, where: str, notes: list[str]
) -> str | None:
    """The column that orders the table in time: `--time`, else the one datetime column
    without missing values."""
    datetimes = [
        str(c) for c in table.columns if c != target and _dtype_name(table[c]) == "datetime"
    ]
    if chosen is not None:
        if chosen not in table.columns:
            hint = did_you_mean(chosen, [str(c) for c in table.columns])
            raise DataError(
                f"{where} has no column {chosen!r} for --time.{hint} Its date/time columns "
                f"are: {', '.join(datetimes) or 'none'}.",
                kind="missing-column",
                column=chosen,
                path=where,
            )
        if chosen not in datetimes:
            raise DataError(
                f"{where}: --time {chosen!r} names a column that does not hold ISO dates or "
                f"timestamps (read as {table[chosen].dtype}). Choose one of: "
                f"{', '.join(datetimes) or 'none (write dates as 2024-01-05)'}.",
                kind="wrong-type",
                column=chosen,
                path=where,
            )
        if table[chosen].isna().any():
            raise DataError(
                f"{where}: the time column {chosen!r} is missing in "
                f"{int(table[chosen].isna().sum())} row(s); a time axis orders every row. Fill "
                "or drop those rows, or choose another --time column.",
                kind="missing-values",
                column=chosen,
                path=where,
            )
        notes.append(f"column {chosen!r} is the time axis (time: true): split.by=time uses it")
        return chosen
    complete = [c for c in datetimes if not table[c].isna().any()]
    if len(complete) == 1 and len(datetimes) >= 1:
        notes.append(
            f"column {complete[0]!r} is the time axis (time: true): `split.by=time` trains on "
            "its oldest rows and tests on the newest; --time COLUMN picks another"
        )
        return complete[0]
    if len(complete) > 1:
        notes.append(
            f"{len(complete)} date/time columns ({', '.join(complete)}): none was made the "
            "time axis; pass --time COLUMN to choose one (for split.by=time)"
        )
    return None


_KEY_NAME = re.compile(r"(^|[_\s-])(id|key|uuid)$|^id[_\s-]|[a-z]Id$", re.IGNORECASE)


def _looks_like_key(name: str, series: pd.Series) -> bool:
    """An identifier: no missing values, every value distinct, and either named like one
    (order_id, uuid, CustomerId) or text with more distinct values than categories go."""
    if len(series) < 2 or series.isna().any() or not series.is_unique:
        return False
    if pd.api.types.is_float_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    is_text = not pd.api.types.is_numeric_dtype(series)
    return bool(_KEY_NAME.search(name)) or (is_text and series.nunique() > MAX_CATEGORIES)


def _range(values: pd.Series) -> dict[str, Any]:
    """The sign as a hard check where every value is >= 0; the observed range as a soft
    expectation (rounded outward to 3 significant digits)."""
    low, high = float(values.min()), float(values.max())
    spec: dict[str, Any] = {}
    if low >= 0:
        spec["ge"] = 0
    if pd.api.types.is_integer_dtype(values):
        spec["expect"] = {"ge": int(math.floor(low)), "le": int(math.ceil(high))}
    else:
        spec["expect"] = {"ge": _round(low, down=True), "le": _round(high, down=False)}
    return spec


def _round(value: float, down: bool) -> float:
    """Round outward to 3 significant digits, so bounds read well and still hold."""
    if value == 0:
        return 0.0
    digits = 2 - int(math.floor(math.log10(abs(value))))
    scale = 10.0**digits
    rounded = (math.floor if down else math.ceil)(value * scale) / scale
    return float(round(rounded, max(digits, 0)))


def dvc_add(relative: str, root: Path) -> None:
    """Record a file's or folder's current content with DVC (`dvc add`: the .dvc pointer)."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "add", relative],  # --quiet would hide DVC's reason
        cwd=root,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        output = result.stderr + result.stdout
        start = output.find("ERROR:")
        reason = " ".join(output[max(start, 0) :].split()).removeprefix("ERROR: ")
        raise DataError(
            f"`dvc add {relative}` failed (exit {result.returncode}): "
            f"{reason or 'DVC gave no reason'}",
            kind="dvc-failed",
            path=relative,
        )
