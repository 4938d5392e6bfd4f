"""Dates and timestamps: one way to read them and one way to turn them into features.

A column declared `dtype: datetime` holds dates, naive timestamps, or (with `tz: NAME`)
timezone-aware timestamps. Every path reads it through `to_wall_clock`: the pipeline's
pandas tables (ingest, featurize), batch prediction's Arrow blocks and the server's JSON
values alike, so a value is accepted or refused for the same reason everywhere. The result
is the wall-clock time in the column's own zone (naive `datetime64[us]`, NaT = missing):
the hour of day and the day of the week a person in that zone would read.

As a feature (featurize.datetime) a datetime becomes the parts fitted into the transform:
`parts` (year, month, day of week, and the hour when the training values carry a time of
day) or `cyclical` (the year, then sine and cosine of month, weekday and hour, so December
sits next to January). The transform records the derived names; `datetime_parts` computes
them the same way for training and for scoring.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np

DATETIME = "datetime"
DATETIME_MODES = ("parts", "cyclical", "drop")
UNIT = "datetime64[us]"
# a UTC offset after a time of day (a date's own "-05" is none)
_OFFSET = re.compile(r"[T ]\d\d(:\d\d){0,2}(\.\d+)?\s*(Z|[+-]\d\d(:?\d\d)?)$", re.IGNORECASE)
# what a column's `format` makes of one moment, to show it in messages
SAMPLE_TIME = dt.datetime(2024, 1, 31, 16, 45, 30)
# one cycle for each cyclical part: months 1-12, weekdays 0-6, hours 0-23
_PERIOD = {"month": 12.0, "dayofweek": 7.0, "hour": 24.0}


def _reasons(tz: str | None, fmt: str | None = None) -> dict[str, str]:
    if fmt:
        example = SAMPLE_TIME.strftime(fmt)
        unreadable = f"not a date/time in the column's format {fmt} (e.g. {example})"
    else:
        unreadable = (
            "not a date/time (the column is datetime; write ISO 8601, e.g. 2024-01-05 or "
            "2024-01-05T10:30:00)"
        )
    return {
        "unreadable": unreadable,
        "naive": f"no time zone (the column is declared tz: {tz}; write an offset, e.g. "
        "2024-01-05T10:30:00+00:00)",
        "aware": "has a time zone (the column is declared without tz: add `tz: UTC` to the "
        "schema, or write the times without offsets)",
    }


def to_wall_clock(
    values: Any, tz: str | None = None, fmt: str | None = None
) -> tuple[np.ndarray, list[tuple[np.ndarray, str, list[Any]]]]:
    """`values` (pandas, numpy, Arrow or a list) as wall-clock times in zone `tz` (naive
    datetime64[us], NaT = missing or refused), and the refused values as
    (row mask, reason, values as found). Text is read as ISO 8601, or with the column's
    declared `format` (strftime codes, e.g. %d/%m/%Y) exactly."""
    import pandas as pd

    series = _as_series(values)
    reasons = _reasons(tz, fmt)
    problems: list[tuple[np.ndarray, str, list[Any]]] = []
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        if tz is None:
            bad = series.notna().to_numpy()
            if bad.any():
                problems.append((bad, reasons["aware"], _shown(series, bad)))
            return np.full(len(series), np.datetime64("NaT"), dtype=UNIT), problems
        wall = series.dt.tz_convert(tz).dt.tz_localize(None)
        return wall.to_numpy(dtype=UNIT), problems
    if pd.api.types.is_datetime64_dtype(dtype):
        if tz is not None:
            bad = series.notna().to_numpy()
            if bad.any():
                problems.append((bad, reasons["naive"], _shown(series, bad)))
            return np.full(len(series), np.datetime64("NaT"), dtype=UNIT), problems
        return series.to_numpy(dtype=UNIT), problems
    return _parse_objects(series, tz, fmt, reasons, problems)


def _parse_objects(
    series: Any, tz: str | None, fmt: str | None, reasons: dict[str, str], problems: list
) -> tuple:
    """Text, dates, Python datetimes or numbers: each distinct value parsed once. Text must
    be ISO 8601 (year first), or match the declared `fmt` exactly: `01/02/2023` is never
    guessed as 2 January or as 1 February, so a feed that switches between day-first,
    month-first and ISO dates fails instead of going wrong."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = np.full(len(uniques) + 1, np.datetime64("NaT"), dtype=UNIT)
    kind = np.zeros(len(uniques) + 1, dtype=np.int8)  # 0 ok/missing, 1 unreadable, 2/3 zone
    texts: dict[int, str] = {}
    for index, value in enumerate(uniques):
        if isinstance(value, str) and value.strip().lower() in ("", "nan", "nat", "null"):
            continue
        if isinstance(value, bool) or not isinstance(value, str | dt.date | np.datetime64):
            kind[index] = 1  # numbers and booleans are no dates
            continue
        aware = (
            bool(_OFFSET.search(value.strip()))
            if isinstance(value, str)
            else isinstance(value, dt.datetime) and value.tzinfo is not None
        )
        if aware != (tz is not None):
            kind[index] = 3 if aware else 2
            continue
        if isinstance(value, str):
            texts[index] = value.strip()  # parsed together below
            continue
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            kind[index] = 1
            continue
        if stamp is pd.NaT:
            continue
        if aware:
            stamp = stamp.tz_convert(tz).tz_localize(None)
        parsed[index] = np.datetime64(stamp.to_datetime64(), "us")
    if texts:
        at = np.fromiter(texts, dtype=np.int64, count=len(texts))
        stamps = pd.to_datetime(
            pd.Series(list(texts.values()), dtype=object),
            format=fmt or "ISO8601",
            errors="coerce",
            utc=tz is not None,  # every text here carries an offset: the instant, then tz
        )
        if tz is not None:
            stamps = stamps.dt.tz_convert(tz).dt.tz_localize(None)
        wall = stamps.to_numpy(dtype=UNIT)
        parsed[at] = wall
        kind[at[np.isnat(wall)]] = 1
    codes = np.where(codes < 0, len(uniques), codes)
    for value, reason in ((1, "unreadable"), (2, "naive"), (3, "aware")):
        bad = kind[codes] == value
        if bad.any():
            problems.append((bad, reasons[reason], _shown(series, bad)))
    return parsed[codes], problems


def _as_series(values: Any) -> Any:
    import pandas as pd

    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    module = type(values).__module__
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if pa.types.is_date(values.type):
            values = values.cast(pa.timestamp("s"))
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        return values.to_pandas()
    if hasattr(values, "codes") and hasattr(values, "categories"):  # fastcheck.Text
        names = np.asarray([*values.categories, None], dtype=object)
        return pd.Series(names[values.codes], dtype=object)
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return pd.Series(values)
    return pd.Series(list(values), dtype=object)


def _shown(series: Any, bad: np.ndarray) -> list[Any]:
    return [str(v) for v in series.to_numpy(dtype=object)[bad]]


def bound(value: Any) -> np.datetime64 | None:
    """A schema's `ge`/`le`/`expect` bound of a datetime column as a wall-clock time
    (None when unset); ValueError when it is not a date."""
    if value is None:
        return None
    import pandas as pd

    stamp = pd.to_datetime(str(value), format="ISO8601")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return np.datetime64(stamp.to_datetime64(), "us")


def show(value: Any) -> str | None:
    """A wall-clock time as a person writes it: the date alone at midnight."""
    if value is None or np.isnat(value):
        return None
    text = np.datetime_as_string(np.datetime64(value, "us"), unit="s")
    return text.removesuffix("T00:00:00")


def has_time_of_day(wall: np.ndarray) -> bool:
    """Whether any value carries a time other than midnight (dates alone do not)."""
    present = wall[~np.isnat(wall)]
    if not present.size:
        return False
    days = present.astype("datetime64[D]")
    return bool((present != days.astype(wall.dtype)).any())


def fitted_parts(wall: np.ndarray, mode: str) -> list[str]:
    """The parts a column becomes, decided from its training values."""
    if mode == "drop":
        return []
    hour = has_time_of_day(wall)
    if mode == "cyclical":
        parts = ["year", "month_sin", "month_cos", "dayofweek_sin", "dayofweek_cos"]
        return parts + (["hour_sin", "hour_cos"] if hour else [])
    return ["year", "month", "dayofweek", *(["hour"] if hour else [])]


def datetime_parts(wall: np.ndarray, parts: list[str]) -> dict[str, np.ndarray]:
    """Each part of wall-clock times as float64 (NaN where the time is missing)."""
    missing = np.isnat(wall)
    safe = np.where(missing, np.datetime64(0, "us"), wall).astype("datetime64[us]")
    years = safe.astype("datetime64[Y]")
    months = safe.astype("datetime64[M]")
    days = safe.astype("datetime64[D]")
    base = {
        "year": years.astype(np.int64) + 1970.0,
        "month": (months.astype(np.int64) % 12) + 1.0,
        # 1970-01-01 was a Thursday: Monday = 0, as pandas' dayofweek
        "dayofweek": ((days.astype(np.int64) + 3) % 7).astype(np.float64),
        "hour": ((safe - days).astype("timedelta64[us]").astype(np.int64) / 3.6e9),
    }
    out = {}
    for part in parts:
        name, _, wave = part.partition("_")
        values = base[name].astype(np.float64)
        if wave:
            angle = 2 * np.pi * (values - (1.0 if name == "month" else 0.0)) / _PERIOD[name]
            values = np.sin(angle) if wave == "sin" else np.cos(angle)
        out[part] = np.where(missing, np.nan, values)
    return out
