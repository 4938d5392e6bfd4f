"""Datasets kept as folders of batch files: reading, the window, `data add FOLDER`,
`data append` (refusing as ingest would, changing nothing). The monitor's policy and the
window rule are checked with the config (test_monitor.py, test_config.py)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dockyard.data.readers import BATCH_ROWS_ATTR
from dockyard.data.sources import previous_window, synthetic, table_file, window_files
from dockyard.errors import DataError

from .helpers import error_of, run

FOLDER = "data/orders"
DAYS = ["2024-06-01", "2024-06-02", "2024-06-03"]


def dockyard(*args: str, cwd: Path, check: bool = True):
    """The monitor's commands (the `dockyard` command)."""
    return run([sys.executable, "-m", "dockyard.cli", *args], cwd, check=check)


def orders(rows: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """A small labelled batch with a key column, numbers and a category."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 30.0, rows).round(2)
    channel = rng.choice(["web", "shop", "phone"], rows)
    late = ((amount > 80) ^ (rng.random(rows) < 0.1)).astype(int)
    return pd.DataFrame(
        {
            "order_id": np.arange(first_id, first_id + rows),
            "amount": amount,
            "channel": channel,
            "late": late,
        }
    )


def write_batches(folder: Path, frames: dict[str, pd.DataFrame], suffix: str = ".csv") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if suffix == ".csv":
            frame.to_csv(folder / f"{name}{suffix}", index=False)
        else:
            frame.to_parquet(folder / f"{name}{suffix}", index=False)


def fingerprint(project: Path) -> dict[str, str]:
    """Every file of the batch folder and its .dvc pointer, by content."""
    files = sorted((project / FOLDER).iterdir()) + [project / f"{FOLDER}.dvc"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# ----------------------------------------------------------------------------- reading


def test_batches_are_read_in_name_order_and_windowed(tmp_path: Path) -> None:
    frames = {day: orders(20 + i, seed=i, first_id=100 * i) for i, day in enumerate(DAYS)}
    # written newest first: the order on disk must not matter, only the names
    write_batches(tmp_path, dict(reversed(list(frames.items()))))
    table = table_file(str(tmp_path), format="csv")
    expected = pd.concat(
        [pd.read_csv(tmp_path / f"{d}.csv") for d in sorted(DAYS)], ignore_index=True
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert list(table.columns) == ["order_id", "amount", "channel", "late"]  # no batch column
    assert table.attrs[BATCH_ROWS_ATTR] == {
        "2024-06-01.csv": 20,
        "2024-06-02.csv": 21,
        "2024-06-03.csv": 22,
    }
    last_two = table_file(str(tmp_path), format="csv", window=2)
    assert list(last_two.attrs[BATCH_ROWS_ATTR]) == ["2024-06-02.csv", "2024-06-03.csv"]
    assert last_two["order_id"].tolist() == list(range(100, 121)) + list(range(200, 222))
    assert len(table_file(str(tmp_path), format="csv", window=10)) == 63  # more than there are


def test_window_helpers() -> None:
    files = ["a", "b", "c", "d"]
    assert window_files(files, None) == files and window_files(files, 2) == ["c", "d"]
    assert previous_window(files, 2) == ["b", "c"]  # what the run before "d" trained on
    assert previous_window(files, None) == ["a", "b", "c"]
    assert previous_window(["a"], None) == []
    with pytest.raises(DataError) as caught:
        window_files(files, 0)
    assert (caught.value.kind, caught.value.key) == ("out-of-range", "data.window")
    assert "1 or more" in str(caught.value)  # the bound


def test_parquet_batches_keep_categories(tmp_path: Path) -> None:
    first = synthetic(rows=50, seed=1, numeric=2, categorical=1, levels=3)
    second = synthetic(rows=40, seed=2, numeric=2, categorical=1, levels=5)  # more levels
    write_batches(tmp_path, {"w01": first, "w02": second}, suffix=".parquet")
    table = table_file(str(tmp_path))
    assert isinstance(table["cat_0"].dtype, pd.CategoricalDtype)
    assert table["cat_0"].astype(str).tolist() == (
        first["cat_0"].astype(str).tolist() + second["cat_0"].astype(str).tolist()
    )


def test_batch_folder_refusals(tmp_path: Path) -> None:
    write_batches(tmp_path, {DAYS[0]: orders(10, 0), DAYS[1]: orders(10, 1).drop(columns="amount")})
    with pytest.raises(DataError) as caught:
        table_file(str(tmp_path))
    assert (caught.value.kind, caught.value.column) == ("missing-column", "amount")
    assert caught.value.path == str(tmp_path / "2024-06-02.csv")
    (tmp_path / f"{DAYS[1]}.csv").unlink()
    (tmp_path / "README.md").write_text("notes")
    with pytest.raises(DataError) as caught:
        table_file(str(tmp_path))
    assert (caught.value.kind, caught.value.path) == ("stray-file", str(tmp_path))
    # the one wording check for kind 'stray-file'
    assert str(caught.value).startswith(
        f"The batch folder {tmp_path} holds README.md, which is no CSV or Parquet batch file "
    )
    (tmp_path / "README.md").unlink()
    orders(5, 2).to_parquet(tmp_path / "2024-06-09.parquet")
    with pytest.raises(DataError) as caught:
        table_file(str(tmp_path))
    assert (caught.value.kind, caught.value.path) == ("mixed-formats", str(tmp_path))
    # the one wording check for kind 'mixed-formats'
    assert str(caught.value).startswith(f"The batch folder {tmp_path} mixes CSV and Parquet files")
    single = tmp_path / "one.csv"
    orders(5, 3).to_csv(single, index=False)
    with pytest.raises(DataError) as caught:
        table_file(str(single), window=2)
    assert (caught.value.kind, caught.value.key) == ("not-a-folder", "data.window")
    assert caught.value.path == str(single)
    # the one wording check for kind 'not-a-folder'
    assert str(caught.value).startswith(
        f"data.window is 2, but {single} is a single file, not a folder of batches: a window "
        "selects batches."
    )


# ----------------------------------------------------------------------------- add, append


@pytest.fixture
def registered(project: Path) -> Path:
    """A project with data/orders (two daily CSV batches) registered as `orders`."""
    write_batches(project / FOLDER, {DAYS[0]: orders(60, 0, 0), DAYS[1]: orders(60, 1, 1000)})
    run(
        [
            sys.executable,
            "-m",
            "dockyard.cli",
            "data",
            "add",
            FOLDER,
            "--target",
            "late",
            "--default",
        ],
        project,
    )
    return project


@pytest.mark.slow  # dvc add, compose and two light stages in a real git + DVC project
def test_data_add_registers_a_folder_and_append_refuses_as_ingest_would(
    registered: Path, tmp_path: Path
) -> None:
    project = registered
    conf = yaml.safe_load((project / "conf/data/orders.yaml").read_text())
    assert conf["input"] == FOLDER and conf["window"] is None
    assert conf["source"]["window"] == "${data.window}"
    assert conf["schema"]["columns"]["order_id"]["key"] is True
    amount = conf["schema"]["columns"]["amount"]
    observed = pd.concat([orders(60, 0), orders(60, 1)])["amount"]
    assert amount["ge"] == 0  # non-negative stays non-negative (hard)
    assert "le" not in amount  # the observed maximum is soft: later batches may pass it
    assert amount["expect"]["le"] >= observed.max() and amount["expect"]["ge"] <= observed.min()
    assert (project / f"{FOLDER}.dvc").is_file()
    before = fingerprint(project)

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    late = orders(30, 5, 2000)
    # name: (batch, kind, column, what the message says beyond them)
    refusals = {
        # the one wording check for kind 'out-of-order'
        "2024-05-31.csv": (
            late,
            "out-of-order",
            None,
            f"The batch name 2024-05-31.csv sorts before the newest batch 2024-06-02.csv in "
            f"{FOLDER}: ",
        ),
        # the one wording check for kind 'already-exists'
        "2024-06-02.csv": (
            late,
            "already-exists",
            None,
            f"{FOLDER}/2024-06-02.csv already exists: a batch is never replaced.",
        ),
        "2024-06-04.parquet": (
            late,
            "mixed-formats",
            None,
            "CSV files, but 2024-06-04.parquet is PARQUET",
        ),
        "2024-06-05.csv": (late.drop(columns="channel"), "validation", "channel", "missing column"),
        "2024-06-06.csv": (late.assign(amount=-5.0), "validation", "amount", "below the minimum"),
        # every row valid alone, but order 1003 is in an earlier batch: ingest would refuse
        "2024-06-07.csv": (orders(30, 6, 1000), "validation", "order_id", "duplicate value"),
    }
    for name, (frame, kind, column, message) in refusals.items():
        path = incoming / name
        frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
        result = dockyard("data", "append", "orders", str(path), cwd=project, check=False)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        record = error_of(result)
        assert (record["kind"], record["column"]) == (kind, column), (name, record)
        assert message in record["message"], record["message"]
        assert fingerprint(project) == before, name
    assert "Nothing was added to data/orders" in result.stderr

    good = incoming / "batch.csv"
    late.to_csv(good, index=False)
    added = dockyard("data", "append", "orders", str(good), "--as", "2024-06-03.csv", cwd=project)
    assert "Appended 2024-06-03.csv (30 rows) to data/orders: batch 3" in added.stdout
    after = fingerprint(project)
    assert after[f"{Path(FOLDER).name}.dvc"] != before[f"{Path(FOLDER).name}.dvc"]
    assert (project / FOLDER / "2024-06-03.csv").read_bytes() == good.read_bytes()
    assert not list((project / FOLDER).glob(".*"))  # no staging file left behind

    # the window is a param: ingest and validate record exactly the batches it selects
    run(["dvc", "repro", "validate"], project)
    report = json.loads((project / "data/validation.json").read_text())
    assert report["batches"] == {f"{d}.csv": n for d, n in zip(DAYS, (60, 60, 30), strict=True)}
    assert report["rows"] == 150
    run([sys.executable, "-m", "dockyard.cli", "compose", "data.window=1"], project)
    status = run(["dvc", "status", "ingest"], project).stdout
    assert "data.source" in status  # data.source.window resolves ${data.window}
    run(["dvc", "repro", "validate"], project)
    report = json.loads((project / "data/validation.json").read_text())
    assert report["batches"] == {"2024-06-03.csv": 30} and report["rows"] == 30


def test_append_needs_a_batch_folder(project: Path) -> None:
    result = dockyard("data", "append", "digits", "x.csv", cwd=project, check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert (record["kind"], record["key"]) == ("not-a-folder", "data.input")
    assert "Traceback" not in result.stderr
