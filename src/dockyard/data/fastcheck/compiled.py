"""A dataset's schema compiled for scoring: `CompiledSchema` resolves a table's columns
against the declared ones (refusing missing, unexpected or duplicate columns), then runs
the numeric, text and datetime checks and returns one `Checked` table."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from dockyard.config.schema import NUMERIC_DTYPES
from dockyard.data.fastcheck.coerce import to_text
from dockyard.data.fastcheck.columns import Checked, ColumnSpec, column_spec
from dockyard.data.fastcheck.datetimes import time_failures
from dockyard.data.fastcheck.numeric import NumericChecks
from dockyard.data.fastcheck.text import text_failures
from dockyard.data.times import DATETIME
from dockyard.errors import ValidationFailed


class ColumnsMismatch(ValidationFailed):
    """Columns are missing or unexpected: no row can be scored (refused in every mode)."""

    def __init__(self, message: str, missing: list[str], unexpected: list[str], **about: Any):
        super().__init__(message, **about)
        self.missing, self.unexpected = missing, unexpected


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
        self.named: dict[str, ColumnSpec] = {}
        self.patterns: list[tuple[re.Pattern[str], ColumnSpec]] = []
        for name, raw in schema_cfg["columns"].items():
            spec = column_spec(str(name), raw or {})
            if raw and raw.get("regex"):
                self.patterns.append((re.compile(str(name)), spec))
            else:
                self.named[str(name)] = spec
        for name, dtype in (extra or {}).items():
            if name not in self.named and not any(p.fullmatch(name) for p, _ in self.patterns):
                self.named[name] = ColumnSpec(name, dtype, True, None, None, None, False, True)
        self._bound: dict[tuple[str, ...], _Bound] = {}

    def dtype_of(self, column: str) -> str | None:
        spec = self._match(column)
        return None if spec is None else spec.dtype

    def _match(self, column: str) -> ColumnSpec | None:
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
                kind="duplicate-column",
                column=duplicates[0],
            )
        self.schema = schema
        self.specs: list[ColumnSpec] = []
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
                _columns_message(schema, missing, unexpected),
                missing,
                unexpected,
                kind="missing-column" if missing else "unexpected-column",
                column=(missing or unexpected)[0],
            )
        self.numeric = NumericChecks([s for s in self.specs if s.dtype in NUMERIC_DTYPES])
        self.times = [s for s in self.specs if s.dtype == DATETIME]
        self.text = [s for s in self.specs if s.dtype not in NUMERIC_DTYPES and s.dtype != DATETIME]
        self.dtypes = {s.name: s.dtype for s in self.specs}

    def check(self, columns: Mapping[str, Any], rows: int | None) -> Checked:
        n = len(next(iter(columns.values()))) if rows is None and columns else (rows or 0)
        numbers, failures = self.numeric.check(columns, n)
        texts = {}
        for spec in self.text:
            text = to_text(columns[spec.name])
            texts[spec.name] = text
            failures += text_failures(spec, text)
        times = {}
        for spec in self.times:
            times[spec.name], found = time_failures(spec, columns[spec.name])
            failures += found
        return Checked(
            n, numbers, [s.name for s in self.numeric.specs], texts, self.dtypes, failures, times
        )


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
