"""Request bodies to columns: JSON records, MLflow's dataframe shapes, CSV and Parquet.

Every shape ends as {column: values} plus a row count, which `data.fastcheck` checks the
same way for each. A body that is not one of the shapes raises `BadRequest` with a reason a
client can act on; nothing here knows about HTTP beyond that.
"""

from __future__ import annotations

from typing import Any

from dockyard.serve.buffers import arrow_buffer

# curl -d sends form-urlencoded unless told otherwise: read such bodies as JSON too
JSON_TYPES = ("application/json", "text/json", "application/x-www-form-urlencoded", "text/plain")
CSV_TYPES = ("text/csv", "application/csv")
PARQUET_TYPES = (
    "application/vnd.apache.parquet",
    "application/x-parquet",
    "application/parquet",
    "application/octet-stream",
)
SHAPES = (
    'JSON records ([{"col": value, ...}, ...] or {"records": [...]}), MLflow\'s '
    '{"dataframe_split": {"columns": [...], "data": [[...], ...]}} or '
    '{"dataframe_records": [...]}, a CSV body (Content-Type: text/csv) or a Parquet body '
    "(Content-Type: application/vnd.apache.parquet)"
)


class BadRequest(ValueError):
    """The body cannot be read as a table; the message says why and what is accepted."""


def parse_body(body: bytes, content_type: str | None) -> tuple[dict[str, Any], int]:
    if not body or not body.strip():
        raise BadRequest(f"The request body is empty. Send {SHAPES}.")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in CSV_TYPES:
        return _csv(body)
    if kind in PARQUET_TYPES or body[:4] == b"PAR1":
        return _parquet(body)
    if kind and kind not in JSON_TYPES:
        raise BadRequest(f"Content-Type {kind!r} is not supported. Send {SHAPES}.")
    return _json(body)


def _json(body: bytes) -> tuple[dict[str, Any], int]:
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"The body is not valid JSON ({error}). Send {SHAPES}.") from None
    if isinstance(data, list):
        return records(data, "the body")
    if isinstance(data, dict):
        for key in ("records", "dataframe_records"):
            if key in data:
                return records(data[key], f"'{key}'")
        if "dataframe_split" in data:
            return split(data["dataframe_split"])
        if data and not any(isinstance(v, list | dict) for v in data.values()):
            return records([data], "the body")
        known = ", ".join(repr(k) for k in list(data)[:5])
        raise BadRequest(
            f"The JSON object has the key(s) {known}, none of which dockyard reads. Send {SHAPES}."
        )
    raise BadRequest(f"The JSON body is a {type(data).__name__}. Send {SHAPES}.")


def records(rows: Any, where: str) -> tuple[dict[str, Any], int]:
    if not isinstance(rows, list):
        raise BadRequest(f"{where} must be a list of records (objects), not {type(rows).__name__}.")
    if not rows:
        raise BadRequest(f"{where} holds no records: there is nothing to score.")
    names: dict[str, Any] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadRequest(
                f"Record {index} of {where} is a {type(row).__name__}, not an object "
                '({"column": value, ...}).'
            )
        names.update(row)  # the union of every record's columns, in order of appearance
    # a record without one of the columns has a missing value there
    columns = {name: [row.get(name) for row in rows] for name in names}
    _refuse_nested(columns)
    return columns, len(rows)


def split(frame: Any) -> tuple[dict[str, Any], int]:
    if not isinstance(frame, dict) or not isinstance(frame.get("columns"), list):
        raise BadRequest(
            "'dataframe_split' must be an object with 'columns' (a list of names) and 'data' "
            "(a list of rows, each a list of values), as pandas' to_dict(orient='split') gives."
        )
    names = [str(n) for n in frame["columns"]]
    data = frame.get("data")
    if not isinstance(data, list) or not data:
        raise BadRequest("'dataframe_split.data' must be a non-empty list of rows.")
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            found = len(row) if isinstance(row, list) else type(row).__name__
            raise BadRequest(
                f"Row {index} of 'dataframe_split.data' has {found} values; 'columns' names "
                f"{len(names)}. Every row needs one value per column."
            )
    columns = dict(zip(names, (list(c) for c in zip(*data, strict=True)), strict=True))
    _refuse_nested(columns)
    return columns, len(data)


def _refuse_nested(columns: dict[str, list[Any]]) -> None:
    for name, values in columns.items():
        kinds = set(map(type, values))
        if list in kinds or dict in kinds:
            index = next(i for i, v in enumerate(values) if isinstance(v, list | dict))
            raise BadRequest(
                f"Column {name!r}, row {index} holds a {type(values[index]).__name__}; values "
                "must be numbers, strings, booleans or null."
            )


def _csv(body: bytes) -> tuple[dict[str, Any], int]:
    import csv

    import pyarrow as pa
    from pyarrow import csv as pacsv

    try:
        first = body.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise BadRequest("The CSV body is not UTF-8 text.") from None
    header = next(csv.reader([first]), [])
    if len(set(header)) != len(header):
        raise BadRequest("The CSV body's header repeats a column name.")
    try:
        table = pacsv.read_csv(
            arrow_buffer(body),  # not io.BytesIO: see serve.buffers
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as error:
        raise BadRequest(
            f"The CSV body could not be parsed: {str(error).strip().splitlines()[0]}."
        ) from None
    if table.num_rows == 0:
        raise BadRequest("The CSV body has a header but no rows.")
    return dict(zip(table.column_names, table.columns, strict=True)), table.num_rows


def _parquet(body: bytes) -> tuple[dict[str, Any], int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(arrow_buffer(body))
    except (pa.ArrowException, OSError) as error:
        raise BadRequest(
            f"The body is not a readable Parquet file ({str(error).strip().splitlines()[0]})."
        ) from None
    if table.num_rows == 0:
        raise BadRequest("The Parquet body has no rows.")
    if len(set(table.column_names)) != len(table.column_names):
        raise BadRequest("The Parquet body repeats a column name.")
    return dict(zip(table.column_names, table.columns, strict=True)), table.num_rows
