"""Batch prediction: a CSV or Parquet file of any size in, predictions out, in chunks.

The input is streamed (Parquet row groups; CSV in blocks of whole rows), each chunk is
checked, transformed and scored, and the output is written chunk by chunk to a temporary
file that replaces OUT only when every row is done: memory stays flat in the file's size,
and a refused or failed run leaves nothing behind. CSV is read as text and each column is
parsed to its declared dtype, so a bad value fails its row, not the reader.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.data.fastcheck import describe, summarise
from dockyard.errors import DataError, ValidationFailed
from dockyard.io import atomic_path
from dockyard.serve.buffers import arrow_buffer
from dockyard.serve.scoring import Scorer

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
INVALID = ("refuse", "skip")
METADATA_KEY = b"dockyard"
REASONS = "reasons"
_PROGRESS_SECONDS = 2.0
# what a refusal offers instead of fixing the rows (the HTTP server offers ?invalid=skip)
SKIP_HINT = (
    "score the others with --invalid skip (the rejected rows and their reasons go to a side file)"
)


@dataclass
class BatchResult:
    rows: int
    scored: int
    rejected: int
    seconds: float
    output: Path
    rejected_file: Path | None


def file_format(path: Path, role: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{role} {path} has the extension {path.suffix or '(none)'!r}; dockyard predict "
            "reads and writes .csv and .parquet files. Rename it, or convert it to one of them.",
            kind="unknown-format",
            path=path,
        )
    return fmt


def rejected_path(output: Path) -> Path:
    """OUT with `.rejected` before its suffix: preds.parquet -> preds.rejected.parquet."""
    return output.with_name(f"{output.stem}.rejected{output.suffix}")


def meta_path(output: Path) -> Path:
    return output.with_name(output.name + ".meta.json")


def predict_file(
    scorer: Scorer,
    source: str | Path,
    output: str | Path,
    *,
    invalid: str = "refuse",
    batch_rows: int = 65536,
    progress: Any = sys.stderr,
) -> BatchResult:
    source, output = Path(source), Path(output)
    if invalid not in INVALID:
        raise DataError(
            f"--invalid is {invalid!r}, expected one of: {', '.join(INVALID)}.", kind="not-a-choice"
        )
    if batch_rows < 1:
        raise DataError(f"--batch-rows must be at least 1, got {batch_rows}.", kind="out-of-range")
    in_format = _check_input(source)
    out_format = file_format(output, "The output")
    if output.resolve() == source.resolve():
        raise DataError(
            f"--output {output} is the input file; write the predictions elsewhere.",
            kind="output-is-input",
            path=output,
        )
    scorer.schema.where = str(source)
    metadata = json.dumps(scorer.version, sort_keys=True)
    started, last = time.perf_counter(), time.perf_counter()
    rows = scored = 0
    failures: list[Any] = []
    bad_total = 0
    side = rejected_path(output) if invalid == "skip" else None
    with (
        atomic_path(output) as tmp,
        _Writer(Path(tmp), out_format, metadata) as writer,
        _maybe_atomic(side) as side_tmp,
        _Writer(Path(side_tmp) if side_tmp else None, out_format, metadata) as side_writer,
    ):
        for chunk in read_chunks(source, in_format, batch_rows):
            checked = scorer.schema.check_arrow(chunk)
            if side_writer.active and side_writer.empty_schema is None:
                side_writer.empty_schema = _rejected_schema(chunk.schema)
            carried = (
                {scorer.target: chunk.column(scorer.target)}
                if (scorer.target in chunk.column_names)
                else None
            )
            if invalid == "refuse" and bad_total:  # refused already: only count the rest
                found = scorer.failures(checked)
                failures += _shift(found, rows)
                bad_total += len({r for f in found for r in f.rows.tolist()})
                rows += chunk.num_rows
                continue
            result = scorer.score(checked, carried, offset=rows)
            if len(result.bad):
                bad_total += len(result.bad)
                failures += _shift(result.failures, rows)
                if side_writer.active:
                    side_writer.write(_rejected_table(chunk, result, rows))
            if invalid == "skip" or not bad_total:
                writer.write(_arrow_table(result.columns))
                scored += result.rows
            rows += chunk.num_rows
            if progress is not None and time.perf_counter() - last > _PROGRESS_SECONDS:
                last = time.perf_counter()
                rate = rows / (last - started)
                print(f"predict: {rows:,} rows done ({rate:,.0f} rows/s)", file=progress)
        if rows == 0:
            raise DataError(
                f"{source} has a header but no rows to score.", kind="no-rows", path=source
            )
        if bad_total and invalid == "refuse":
            summary = summarise(failures)
            columns = {entry["column"] for entry in summary}
            raise ValidationFailed(
                describe(summary, str(source), scorer.schema_source, bad_total, hint=SKIP_HINT)
                + f"\nNothing was written to {output}.",
                column=next(iter(columns)) if len(columns) == 1 else None,
                path=source,
            )
        writer.close()
        side_writer.close()
        if out_format == "csv":
            _write_meta(meta_path(output), scorer.version, rows, scored)
    seconds = time.perf_counter() - started
    return BatchResult(rows, scored, bad_total, seconds, output, side)


def _shift(failures: list[Any], offset: int) -> list[Any]:
    from dockyard.data.fastcheck import Failure

    return [Failure(f.column, f.reason, f.rows + offset, f.values) for f in failures]


# ----------------------------------------------------------------------------- reading


def _check_input(source: Path) -> str:
    fmt = file_format(source, "The input")
    if not source.exists():
        raise DataError(
            f"The input file {source} does not exist. Check the path.",
            kind="missing-file",
            path=source,
        )
    if not source.is_file():
        raise DataError(
            f"{source} is a folder, not a file: pass a .csv or .parquet file.",
            kind="not-a-file",
            path=source,
        )
    with open(source, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise DataError(
            f"{source} is empty (0 bytes): there is no header and no data.",
            kind="empty-file",
            path=source,
        )
    if fmt == "parquet" and head != b"PAR1":
        raise DataError(
            f"{source} is not a Parquet file (it does not start with Parquet's magic bytes). "
            "Export it as Parquet, or pass the CSV file with a .csv extension.",
            kind="wrong-format",
            path=source,
        )
    if fmt == "csv" and (head == b"PAR1" or b"\x00" in head):
        raise DataError(
            f"{source} is not CSV text (it looks like a binary file"
            + (", a Parquet file: rename it to .parquet" if head == b"PAR1" else "")
            + ").",
            kind="wrong-format",
            path=source,
        )
    return fmt


def read_chunks(source: Path, fmt: str, batch_rows: int) -> Iterator[Any]:
    """pyarrow RecordBatches of at most `batch_rows` rows (CSV: every column as text)."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(source).iter_batches(batch_size=batch_rows)
            return
        yield from _csv_chunks(source, batch_rows)
    except (pa.ArrowInvalid, OSError) as error:
        first = str(error).strip().splitlines()[0]
        raise DataError(
            f"{source} could not be read as {fmt.upper()}: {first}. Fix the file (for CSV: "
            "every row needs as many fields as the header; quote fields holding commas).",
            kind="unreadable",
            path=source,
        ) from None


# what a CSV file may be delimited with: the one that splits the header into the most
# fields, a comma on a tie (a file exported where the decimal sign is a comma uses ';')
DELIMITERS = (",", ";", "\t", "|")


def header_fields(header: str) -> tuple[list[str], str]:
    """A CSV header line's column names, and the delimiter that splits it."""
    best: tuple[list[str], str] = ([], ",")
    for delimiter in DELIMITERS:
        names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter), [])
        if len(names) > len(best[0]):
            best = (names, delimiter)
    return best


def _csv_chunks(source: Path, batch_rows: int) -> Iterator[Any]:
    """The file in blocks of whole rows, each parsed on its own (threads within a block).

    Arrow's streaming CSV reader reads ahead of its consumer, so its memory grew with the
    file (0.67 GB of Arrow buffers on a 1.2 GB file); one block at a time keeps it flat.
    """
    import pyarrow as pa
    from pyarrow import csv as pacsv

    with open(source, "rb") as handle:
        header = handle.readline()
        names, delimiter = header_fields(header.decode("utf-8-sig", "replace"))
        if not names:
            raise DataError(f"{source} has no header line.", kind="unreadable", path=source)
        if not header.endswith(b"\n"):
            header += b"\n"
        sample = handle.read(1 << 16)
        row_bytes = max(len(sample) / max(sample.count(b"\n"), 1), 8.0)
        block = int(min(max(row_bytes * batch_rows, 1 << 20), 1 << 26))
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, strings_can_be_null=True
        )
        parse = pacsv.ParseOptions(delimiter=delimiter)

        def parse_block(rows: bytes) -> Iterator[Any]:
            buffer = arrow_buffer(header, rows)  # never a Python object: see serve.buffers
            try:
                table = pacsv.read_csv(
                    buffer,
                    read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 22),
                    parse_options=parse,
                    convert_options=convert,
                )
            except pa.ArrowInvalid as error:
                if "straddling" not in str(error):
                    raise
                # a row longer than a parsing block: parse this block in one piece
                table = pacsv.read_csv(
                    buffer,
                    read_options=pacsv.ReadOptions(use_threads=False, block_size=len(buffer)),
                    parse_options=parse,
                    convert_options=convert,
                )
            yield from table.to_batches(max_chunksize=batch_rows)

        carry = sample
        while True:
            data = handle.read(block)
            data, at_end = carry + data, not data
            if at_end:
                if data.strip():
                    yield from parse_block(data)
                return
            cut = _last_row_end(data)
            if cut < 0:  # not one whole row yet
                carry = data
                continue
            carry = data[cut + 1 :]
            yield from parse_block(data[: cut + 1])


def _last_row_end(data: bytes) -> int:
    """The last newline that ends a row: one outside quotes (an even number of quote
    characters before it, since a quote inside a quoted field is written twice)."""
    cut = data.rfind(b"\n")
    while cut >= 0 and data.count(b'"', 0, cut) % 2:
        cut = data.rfind(b"\n", 0, cut)
    return cut


# ----------------------------------------------------------------------------- writing


def _arrow_table(columns: dict[str, Any]) -> Any:
    import pyarrow as pa

    arrays = []
    for values in columns.values():
        if isinstance(values, np.ma.MaskedArray):
            arrays.append(pa.array(values.data, mask=values.mask))
        elif isinstance(values, np.ndarray) and values.dtype == object:
            arrays.append(pa.array(values.tolist()))
        else:
            arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _rejected_table(chunk: Any, result: Any, offset: int) -> Any:
    """The refused rows as read, with their row number and every reason."""
    import pyarrow as pa

    reasons: dict[int, list[str]] = {}
    for failure in result.failures:
        for row, value in zip(failure.rows.tolist(), failure.values, strict=True):
            reasons.setdefault(row, []).append(f"{failure.column}: {failure.reason} ({value!r})")
    rows = result.bad
    table = pa.Table.from_batches([chunk]).take(pa.array(rows))
    table = table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
    table = table.add_column(0, "row", pa.array(rows.astype(np.int64) + offset))
    return table.append_column(REASONS, pa.array(["; ".join(reasons[r]) for r in rows.tolist()]))


class _Writer:
    """Parquet or CSV, one table at a time; the first table fixes the schema."""

    def __init__(self, path: Path | None, fmt: str, metadata: str):
        self.path, self.fmt, self.metadata = path, fmt, metadata
        self.writer: Any = None
        self.schema: Any = None
        self.empty_schema: Any = None

    @property
    def active(self) -> bool:
        return self.path is not None

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if kind is None:
            self.close()
        elif self.writer is not None:
            self.writer.close()  # the temporary file is removed by the caller

    def write(self, table: Any) -> None:
        if self.writer is None:
            self._open(table.schema)
        self.writer.write_table(table.cast(self.schema, safe=False))

    def _open(self, schema: Any) -> None:
        import pyarrow as pa

        schema = pa.schema(
            [pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in schema]
        )
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self.schema = schema.with_metadata({METADATA_KEY: self.metadata.encode()})
            self.writer = pq.ParquetWriter(self.path, self.schema)
        else:
            from pyarrow import csv as pacsv

            self.schema = schema
            self.writer = pacsv.CSVWriter(str(self.path), schema)

    def close(self) -> None:
        if self.path is not None and self.writer is None:
            # every run writes its files, even with no rows (a DVC stage declares them)
            self._open(self.empty_schema or _empty_schema())
        if self.writer is not None and self.path is not None:
            self.writer.close()
            self.path = None


def _rejected_schema(schema: Any) -> Any:
    import pyarrow as pa

    fields = [("row", pa.int64()), *((f.name, pa.string()) for f in schema), (REASONS, pa.string())]
    return pa.schema(fields)


def _empty_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("row", pa.int64()), (REASONS, pa.string())])


class _maybe_atomic:
    def __init__(self, path: Path | None):
        self.path = path
        self.context: Any = None

    def __enter__(self) -> str | None:
        if self.path is None:
            return None
        self.context = atomic_path(self.path)
        return self.context.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        if self.context is not None:
            return self.context.__exit__(*exc)
        return None


def _write_meta(path: Path, version: dict[str, Any], rows: int, scored: int) -> None:
    from dockyard.io import write_json

    write_json({**version, "rows": rows, "scored": scored}, path)


def summary_line(result: BatchResult) -> str:
    rate = result.rows / result.seconds if result.seconds > 0 else float("inf")
    text = (
        f"predict: scored {result.scored:,} of {result.rows:,} rows in {result.seconds:.1f} s "
        f"({rate:,.0f} rows/s) -> {result.output}"
    )
    if result.rejected_file is not None:
        text += f"; rejected {result.rejected:,} row(s) -> {result.rejected_file}"
    return text
