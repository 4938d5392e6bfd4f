"""Reading users' CSV and Parquet files, with a clear error for every way they go wrong.

The fast path is pyarrow's multi-threaded CSV reader. Only when it fails (or the
result looks wrong) does the slow diagnostic path run: it re-reads the file with
Python's csv module to name the offending line numbers, so good files never pay
for the diagnostics.

A dataset may also be a folder of batch files (one per day or week, `dockyard data
append`): `batch_files` lists them in name order, `read_batches` reads and stacks them
and records each batch's row count in the table's attrs (`BATCH_ROWS_ATTR`), which the
Parquet file keeps, so the data report can show them without a batch column that could
become a feature.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from dockyard.errors import DataError

FORMATS = ("csv", "parquet")
# File names a batch folder may hold (hidden files, such as DVC's, are skipped).
BATCH_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# table.attrs key: {batch file name: rows}, in batch order
BATCH_ROWS_ATTR = "batch_rows"
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one: export it to CSV)",
    b"\x1f\x8b": "a gzip archive",
    b"PAR1": "a Parquet file",
}
_OTHER_DELIMITERS = (";", "\t", "|")
_SHOWN = 5


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise DataError(
                f"data.source.format is {declared!r}; supported formats: {', '.join(FORMATS)}.",
                kind="unknown-format",
                key="data.source.format",
            )
        return declared
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    raise DataError(
        f"{path}: cannot tell the format from the extension {suffix!r}. Use a .csv or .parquet "
        "file, or set data.source.format to csv or parquet.",
        kind="unknown-format",
        path=path,
    )


def read_table(path: str | Path, format: str | None = None, delimiter: str = ",") -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame; raise DataError with the reason."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"The data file {path} does not exist. If it is tracked by DVC, run `dvc pull` "
            f"(or `dvc checkout`); otherwise fix data.source.path.",
            kind="missing-file",
            path=path,
        )
    if not path.is_file():
        raise DataError(
            f"{path} is a folder, not a data file. Point data.source.path at a file.",
            kind="not-a-file",
            path=path,
        )
    fmt = detect_format(path, format)
    head = _head(path)
    if not head:
        raise DataError(
            f"{path} is empty (0 bytes): there is no header and no data.",
            kind="empty-file",
            path=path,
        )
    kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if fmt == "parquet":
        if kind != "a Parquet file":
            raise DataError(
                f"{path} is not a Parquet file (it looks like {kind or 'text or unknown bytes'}). "
                "Export it as Parquet, or register the CSV file instead.",
                kind="wrong-format",
                path=path,
            )
        return _read_parquet(path)
    if kind == "a Parquet file":
        raise DataError(
            f"{path} is named .csv but holds a Parquet file. Rename it to "
            f"{path.with_suffix('.parquet').name} (`git mv` or `mv`, then register that file), "
            "or set data.source.format: parquet in its conf/data file.",
            kind="wrong-format",
            path=path,
        )
    if kind is not None or b"\x00" in head:
        raise DataError(
            f"{path} is not a CSV table: it looks like {kind or 'a binary file'}. "
            "Export the data as a CSV (comma-separated text) or Parquet file.",
            kind="wrong-format",
            path=path,
        )
    return _read_csv(path, delimiter)


def _head(path: Path, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(
            f"{path} could not be read as Parquet: {error}", kind="unreadable", path=path
        ) from None
    _refuse_duplicate_columns(path, table.column_names)
    if table.num_rows == 0:
        raise DataError(f"{path} has columns but no rows.", kind="no-rows", path=path)
    return _dates_as_timestamps(table).to_pandas()


def _read_csv(path: Path, delimiter: str) -> pd.DataFrame:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as error:
        raise _diagnose_csv(path, delimiter, str(error)) from None
    names = table.column_names
    if any(pa.types.is_binary(field.type) for field in table.schema):
        # pyarrow keeps undecodable text as raw bytes instead of failing
        raise _diagnose_csv(path, delimiter, "invalid UTF-8")
    _refuse_duplicate_columns(path, names)
    if table.num_rows == 0:
        raise DataError(
            f"{path} has a header ({', '.join(names[:8])}{' ...' if len(names) > 8 else ''}) "
            "but no data rows.",
            kind="no-rows",
            path=path,
        )
    if len(names) == 1:
        _refuse_wrong_delimiter(path, names[0], delimiter)
    return _dates_as_timestamps(table).to_pandas()


def _dates_as_timestamps(table):
    """Date columns (2024-01-05) as timestamps at midnight: pandas turns Arrow dates into
    Python objects, timestamps into datetime64, which every datetime check reads."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_date(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("s")))
    return table


def _refuse_duplicate_columns(path: Path, names: list[str]) -> None:
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    if duplicates:
        raise DataError(
            f"{path} has duplicate column names: {', '.join(map(repr, duplicates))}. Every "
            "column needs a unique name; rename the duplicates in the file.",
            kind="duplicate-column",
            column=duplicates[0],
            path=path,
        )


def _refuse_wrong_delimiter(path: Path, header: str, delimiter: str) -> None:
    for other in _OTHER_DELIMITERS:
        if other != delimiter and other in header:
            shown = "\\t" if other == "\t" else other
            raise DataError(
                f"{path} was read with the delimiter {delimiter!r} and came out as a single "
                f"column {header[:60]!r}, which contains {shown!r}: the file looks "
                f"{shown!r}-delimited. Set data.source.delimiter: {shown!r} in its conf/data "
                "file (dockyard data add detects it).",
                kind="wrong-delimiter",
                key="data.source.delimiter",
                path=path,
            )


def _diagnose_csv(path: Path, delimiter: str, reason: str) -> DataError:
    """Name the lines that break the table: wrong field counts or undecodable bytes."""
    raw = path.read_bytes()
    bad_bytes = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            bad_bytes.append((number, line[error.start : error.start + 4]))
            if len(bad_bytes) >= _SHOWN:
                break
    if bad_bytes:
        where = ", ".join(f"line {n} ({b!r})" for n, b in bad_bytes)
        return DataError(
            f"{path} is not valid UTF-8 text: undecodable bytes at {where}. Re-save the file "
            "as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`).",
            kind="bad-encoding",
            path=path,
        )
    text = raw.decode("utf-8")
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(rows, [])
    ragged = []
    for row in rows:
        if row and len(row) != len(header):
            ragged.append((rows.line_num, len(row)))
    if ragged:
        shown = ", ".join(f"line {n} has {k}" for n, k in ragged[:_SHOWN])
        more = f" (and {len(ragged) - _SHOWN} more lines)" if len(ragged) > _SHOWN else ""
        return DataError(
            f"{path} has rows with the wrong number of fields: the header has {len(header)} "
            f"columns, but {shown}{more}. Fix those rows (a stray delimiter or a missing "
            "value), or quote fields that contain the delimiter.",
            kind="ragged-rows",
            path=path,
        )
    return DataError(
        f"{path} could not be parsed as CSV: {reason.strip().splitlines()[0]}",
        kind="unreadable",
        path=path,
    )


# ----------------------------------------------------------------------------- batch folders


def batch_files(
    folder: str | Path,
    format: str | None = None,
    time: str | None = None,
    time_format: str | None = None,
) -> list[Path]:
    """The batch files of a folder in the order they arrived: by the earliest value of the
    time axis `time` (written as ISO 8601, or in strftime's `time_format`) when the dataset
    has one (ties and gaps by name), else by name (name them by date, 2024-06-01.csv);
    DataError when it holds anything else or nothing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"The batch folder {folder} does not exist. If DVC tracks it, run `dvc pull` "
            "(or `dvc checkout`); otherwise fix data.input in its conf/data file.",
            kind="missing-file",
            path=folder,
        )
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    others = [p.name for p in entries if not p.is_file() or p.suffix.lower() not in BATCH_SUFFIXES]
    if others:
        raise DataError(
            f"The batch folder {folder} holds {', '.join(others[:5])}, which "
            f"{'is' if len(others) == 1 else 'are'} no CSV or Parquet batch file "
            f"({', '.join(BATCH_SUFFIXES)}). Move {'it' if len(others) == 1 else 'them'} "
            "out of the folder: every file in it is a batch of the dataset.",
            kind="stray-file",
            path=folder,
        )
    if not entries:
        raise DataError(
            f"The batch folder {folder} is empty. Put at least one CSV or Parquet batch in it "
            "(`dockyard data append NAME FILE` adds one).",
            kind="empty-folder",
            path=folder,
        )
    formats = {BATCH_SUFFIXES[p.suffix.lower()] for p in entries}
    if format is not None:
        formats.add(detect_format(entries[0], format))
    if len(formats) > 1:
        raise DataError(
            f"The batch folder {folder} mixes CSV and Parquet files "
            f"({', '.join(p.name for p in entries[:6])}); every batch of a dataset has one "
            "format, so they read alike. Convert the odd ones out.",
            kind="mixed-formats",
            path=folder,
        )
    if time is not None and len(entries) > 1:
        starts = {
            p: _batch_start(p, BATCH_SUFFIXES[p.suffix.lower()], time, time_format) for p in entries
        }
        entries.sort(key=lambda p: (starts[p] is None, starts[p] or 0, p.name))
    return entries


def _batch_start(path: Path, fmt: str, column: str, time_format: str | None = None) -> Any:
    """The earliest value of `column` in a batch file (None when it has none), reading that
    column alone; text in `time_format` is read with it (a value in another form is left
    out, as the batch's checks refuse it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            values = pq.read_table(path, columns=[column]).column(0)
        else:
            from pyarrow import csv as pacsv

            values = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(include_columns=[column])
            ).column(0)
        if time_format and pa.types.is_string(values.type):
            values = pc.strptime(values, format=time_format, unit="us", error_is_null=True)
        if pa.types.is_date(values.type):
            values = values.cast(pa.timestamp("s"))
        if not pa.types.is_timestamp(values.type):
            values = pc.cast(values, pa.timestamp("us"))
        if values.type.tz is not None:
            values = values.cast(pa.timestamp(values.type.unit))
        return pc.min(values).as_py()
    except (pa.ArrowException, OSError, KeyError):
        return None  # read in full later, where a bad file gets its own message


def read_batches(
    files: list[Path],
    format: str | None = None,
    delimiter: str = ",",
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Batch files read and stacked in the given order. Every batch must have the first
    one's columns; categorical columns stay categorical across batches. Each batch's row
    count is kept in `table.attrs[BATCH_ROWS_ATTR]` under its name (`names`, default the
    file names)."""
    if not files:
        raise DataError("No batch files to read: the batch window selects none.", kind="no-batches")
    names = names or [f.name for f in files]
    tables = [read_table(f, format=format, delimiter=delimiter) for f in files]
    first = [str(c) for c in tables[0].columns]
    for file, table in zip(files[1:], tables[1:], strict=True):
        columns = [str(c) for c in table.columns]
        if set(columns) != set(first):
            missing = [c for c in first if c not in columns]
            extra = [c for c in columns if c not in first]
            raise DataError(
                f"The batch {file} does not have the columns of {files[0].name}: "
                + "; ".join(
                    part
                    for part in (
                        f"it lacks {', '.join(map(repr, missing))}" if missing else "",
                        f"it adds {', '.join(map(repr, extra))}" if extra else "",
                    )
                    if part
                )
                + ". Every batch of a dataset has the same columns: fix the file, or register "
                "a new dataset for the new layout (dockyard data add).",
                kind="missing-column" if missing else "unexpected-column",
                column=(missing or extra)[0],
                path=file,
            )
    if len(tables) == 1:
        table = tables[0]
    else:
        categorical = {
            c for t in tables for c in t.columns if isinstance(t[c].dtype, pd.CategoricalDtype)
        }
        aligned = [
            t[first].astype({c: object for c in categorical}) if categorical else t[first]
            for t in tables
        ]
        table = pd.concat(aligned, ignore_index=True)
        for column in categorical:
            table[column] = table[column].astype("category")
    table.attrs[BATCH_ROWS_ATTR] = {
        name: int(len(t)) for name, t in zip(names, tables, strict=True)
    }
    return table
