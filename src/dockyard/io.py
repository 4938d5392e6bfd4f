"""Small, atomic file helpers shared by the stages (Parquet tables and JSON)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


def _atomic_target(path: str | Path) -> tuple[Path, str]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make outputs unreadable to the team
    return path, tmp


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """A temporary path to write to; it replaces `path` only if the block succeeds."""
    target, tmp = _atomic_target(path)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def staged_dir(path: str | Path) -> Iterator[Path]:
    """A fresh sibling folder to fill; it replaces `path` only if the block succeeds.

    A failed or killed run leaves `path` as it was (a stray `.NAME.tmp-PID` folder at
    most, which the next run of the same writer removes), never a mix of two runs."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stray in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stray, ignore_errors=True)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_dir(source: str | Path, target: str | Path) -> None:
    """Make `target` a copy of the folder `source`, all or nothing."""
    with staged_dir(target) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    path, tmp = _atomic_target(path)
    try:
        table.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_arrow(table: Any, path: str | Path) -> None:
    """Write a pyarrow Table as Parquet, atomically (pandas metadata kept as it is)."""
    import pyarrow.parquet as pq

    path, tmp = _atomic_target(path)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_arrow(path: str | Path, produced_by: str = "an earlier stage") -> Any:
    """A Parquet file as a pyarrow Table, with the same message as read_table when absent."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"Expected the table {path} (written by {produced_by}), but it does not exist. "
            "Run `dvc repro` so the stages run in order, or `dvc pull` to fetch it.",
            kind="missing-file",
            path=path,
        )
    import pyarrow.parquet as pq

    return pq.read_table(path)


def read_table(path: str | Path, produced_by: str = "an earlier stage") -> pd.DataFrame:
    table = read_arrow(path, produced_by)

    # self_destruct frees each Arrow column as it is converted: the peak stays near one copy
    return table.to_pandas(split_blocks=True, self_destruct=True)


def write_json(data: Any, path: str | Path, *, indent: int | None = 2) -> None:
    """Write JSON atomically; indent=None writes one record per line (for long plot data)."""
    path, tmp = _atomic_target(path)
    if indent is None and isinstance(data, list):
        text = "[\n" + ",\n".join(json.dumps(row) for row in data) + "\n]\n"
    else:
        text = json.dumps(data, indent=indent) + "\n"
    try:
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def plain(value: Any) -> Any:
    """numpy scalars as plain Python values, so they serialise to JSON and YAML."""
    return value.item() if hasattr(value, "item") else value


def load_dvc_yaml(text: str) -> Any:
    """YAML that DVC wrote (dvc.lock), read as DVC reads it: YAML 1.2, where `no`, `yes`, `on`
    and `off` are strings. PyYAML reads YAML 1.1, where they are booleans, so a class named `no`
    recorded unquoted in dvc.lock would read back as False. Raises ValueError if unreadable.

    The loader is DVC's own (ruamel's safe loader, on libyaml where ruamel.yaml.clib is
    installed): ruamel's pure-Python one reads a pipeline's dvc.lock about 6 times slower,
    and `register` and `report` read several."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe").load(text)
    except YAMLError as error:
        raise ValueError(str(error)) from None


def restore_hint(path: str, writer: str) -> str:
    """How to get back a file a command writes (dvc.lock, params.yaml) when it is broken:
    the committed copy may be the broken one, so not simply `git checkout -- path`."""
    return (
        f"put back a version it wrote (`git log --oneline -- {path}` lists the commits that "
        f"changed it; `git checkout COMMIT -- {path}`) or let `{writer}` write it again"
    )


def file_sha256(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
