"""`dockyard data append NAME FILE`: one more batch in a dataset's batch folder.

The batch is checked twice before anything changes: alone against the dataset's schema
(so a failure names rows of the file the user holds), then as ingest will read the folder
with it (the window's batches stacked: same columns, keys unique across batches). Only
then is it copied in, under a name that sorts after every batch already there (name
order is batch order, which `data.window` and the monitor rely on), and the folder is
recorded with `dvc add`. A refusal, or a failing `dvc add`, leaves the folder and its
.dvc pointer as they were.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dockyard.data.readers import BATCH_SUFFIXES, batch_files, read_batches, read_table
from dockyard.data.register import dvc_add
from dockyard.data.sources import window_files
from dockyard.data.validation import check_dataset
from dockyard.errors import DataError, ValidationFailed


@dataclass
class Appended:
    dataset: str
    folder: str  # relative to the project root
    batch: str
    rows: int
    batches: int  # in the folder, the new one included
    window: int | None


def append_batch(
    name: str, file: str | Path, *, root: str | Path = ".", as_name: str | None = None
) -> Appended:
    from dockyard.config import compose, validate

    root = Path(root).resolve()
    cfg = validate(compose([f"data={name}"], root), source=f"conf/data/{name}.yaml")
    data = cfg.data
    folder = root / str(data.input)
    if not folder.is_dir():
        raise DataError(
            f"The dataset {name} reads the single file {data.input}, not a folder of batches: "
            "append adds batches to a folder. Register one with `dockyard data add FOLDER "
            "--target COLUMN` (move the file into the folder first), or replace the file and "
            f"run `dvc add {data.input}`.",
            kind="not-a-folder",
            key="data.input",
            path=data.input,
        )
    source = data.source
    fmt, delimiter = source.get("format"), source.get("delimiter") or ","
    existing = batch_files(folder, fmt, source.get("time"), source.get("time_format"))
    file = Path(file)
    batch = as_name or file.name
    _check_name(batch, file, existing, folder, root)
    if not file.is_file():
        raise DataError(
            f"{file} does not exist or is not a file: give the batch's CSV or Parquet.",
            kind="missing-file",
            path=file,
        )
    drop = list(source.get("drop_columns") or [])
    done = f"Nothing was added to {data.input}, and {data.input}.dvc is unchanged."
    table = _without(read_table(file, format=fmt, delimiter=delimiter), drop)
    _check(table, cfg, str(file), done)
    window = data.get("window")
    chosen = window_files([*existing, file], window)  # the new batch is the last one
    names = [p.name for p in chosen[:-1]] + [batch]
    stacked = _without(read_batches(chosen, format=fmt, delimiter=delimiter, names=names), drop)
    shown = f"{data.input} with {batch} appended" + (f" (last {window} batches)" if window else "")
    _check(stacked, cfg, shown, done)

    target = folder / batch
    staging = folder / f".{batch}.tmp-{os.getpid()}"
    try:
        shutil.copyfile(file, staging)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    try:
        dvc_add(str(data.input), root)
    except DataError as error:
        target.unlink(missing_ok=True)
        raise DataError(
            f"{error} The batch was taken out again: {done}", kind=error.kind, path=error.path
        ) from None
    return Appended(name, str(data.input), batch, len(table), len(existing) + 1, window)


def _check_name(batch: str, file: Path, existing: list[Path], folder: Path, root: Path) -> None:
    relative = folder.relative_to(root).as_posix()
    if "/" in batch or "\\" in batch or batch.startswith("."):
        raise DataError(
            f"--as {batch!r} must be a plain file name (no folders, not hidden), such as "
            "2024-06-03.csv.",
            kind="bad-name",
        )
    kind = BATCH_SUFFIXES.get(Path(batch).suffix.lower())
    folder_kind = BATCH_SUFFIXES[existing[-1].suffix.lower()]
    if kind != folder_kind:
        raise DataError(
            f"The batches in {relative} are {folder_kind.upper()} files, but {batch} is "
            f"{'named ' + Path(batch).suffix if kind is None else kind.upper()}. Convert the "
            f"batch to {folder_kind.upper()} (every batch of a dataset reads alike), or give "
            f"it a {folder_kind} name with --as.",
            kind="mixed-formats",
            path=file,
        )
    if (folder / batch).exists():
        raise DataError(
            f"{relative}/{batch} already exists: a batch is never replaced. Give the new batch "
            "its own name with --as (e.g. the date it covers).",
            kind="already-exists",
            path=folder / batch,
        )
    newest = existing[-1].name
    if batch <= newest:
        raise DataError(
            f"The batch name {batch} sorts before the newest batch {newest} in {relative}: "
            "batches are read in name order, which must be the order they arrived (the "
            "window and the monitor take the last ones as the newest). Name it so it sorts "
            f"last, e.g. --as {_later_name(newest, Path(batch).suffix)}.",
            kind="out-of-order",
            path=file,
        )
    if file.resolve().parent == folder.resolve():
        raise DataError(
            f"{file} is inside {relative} already. Put the new batch outside the folder (e.g. "
            "in your downloads) and append it from there, so it is checked before it lands.",
            kind="inside-folder",
            path=file,
        )


def _later_name(newest: str, suffix: str) -> str:
    stem = Path(newest).stem
    return f"{stem}-2{suffix}"


def _without(table, drop: list[str]):
    present = [c for c in drop if c in table.columns]
    if not present:
        return table
    attrs = dict(table.attrs)
    table = table.drop(columns=present)
    table.attrs.update(attrs)
    return table


def _check(table, cfg, where: str, done: str) -> None:
    """check_dataset, naming `where` as the table checked; refusals say nothing changed."""
    from omegaconf import OmegaConf

    local = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    local.data.source.path = where
    try:
        check_dataset(table, local)
    except ValidationFailed as error:
        raise ValidationFailed(
            f"{error}\n{done}",
            kind=error.kind,
            column=error.column,
            key=error.key,
            path=error.path,
        ) from None
