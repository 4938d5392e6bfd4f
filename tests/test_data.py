"""ingest, validate and split as pure functions on small in-memory tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from dockyard.data.schemas import validate_table
from dockyard.data.sources import build_source as ingest
from dockyard.data.split import split_table
from dockyard.errors import DataError, ValidationFailed

from .helpers import ROOT

DIGITS_SCHEMA = OmegaConf.load(ROOT / "conf/data/digits.yaml").schema


@pytest.fixture(scope="module")
def digits() -> pd.DataFrame:
    return ingest({"_target_": "dockyard.data.sources.sklearn_dataset", "name": "digits"})


def test_ingest_bundled_tables(digits: pd.DataFrame) -> None:
    assert digits.shape == (1797, 65)
    assert digits["target"].nunique() == 10
    cancer = ingest({"_target_": "dockyard.data.sources.sklearn_dataset", "name": "breast_cancer"})
    assert cancer.shape == (569, 31)
    assert sorted(cancer["target"].unique()) == [0, 1]


def test_ingest_refuses_unknown_dataset_and_non_tables() -> None:
    with pytest.raises(DataError) as caught:
        ingest({"_target_": "dockyard.data.sources.sklearn_dataset", "name": "mnist"})
    assert (caught.value.kind, caught.value.key) == ("unknown-dataset", "data.source.name")
    # the one wording check for kind 'unknown-dataset'
    assert str(caught.value).startswith(
        "data.source.name is 'mnist', but the bundled scikit-learn datasets are: "
        "breast_cancer, digits"
    )
    with pytest.raises(DataError) as caught:
        ingest({"_target_": "builtins.dict"})
    assert (caught.value.kind, caught.value.key) == ("not-a-table", "data.source._target_")
    # the one wording check for kind 'not-a-table'
    assert str(caught.value) == (
        "data.source._target_ (builtins.dict) must return a pandas DataFrame, but returned dict."
    )


def test_bundled_schemas_accept_their_data(digits: pd.DataFrame) -> None:
    assert validate_table(digits, DIGITS_SCHEMA, where="d", fix_in="s")["rows"] == 1797
    cancer_schema = OmegaConf.load(ROOT / "conf/data/breast_cancer.yaml").schema
    cancer = ingest({"_target_": "dockyard.data.sources.sklearn_dataset", "name": "breast_cancer"})
    assert validate_table(cancer, cancer_schema, where="d", fix_in="s")["columns"] == 31


def failure_report(table: pd.DataFrame) -> str:
    with pytest.raises(ValidationFailed) as caught:
        validate_table(table, DIGITS_SCHEMA, where="data/raw/table.parquet", fix_in="conf/x.yaml")
    return str(caught.value)


def report_row(report: str, column: str) -> str:
    rows = [line for line in report.splitlines() if line.strip().startswith(column + " ")]
    assert rows, f"no row for {column} in:\n{report}"
    return rows[0]


def test_nan_is_reported_with_column_row_and_check(digits: pd.DataFrame) -> None:
    table = digits.copy()
    table.loc[[4, 9], "pixel_2_3"] = np.nan
    report = failure_report(table)
    row = report_row(report, "pixel_2_3")
    assert (
        "missing value (the column is not nullable)" in row
        and " 2 " in row
        and "row 4: nan" in row
        and "row 9: nan" in row
    )
    # the one wording check for kind 'validation'
    assert report.startswith(
        "data/raw/table.parquet failed validation against the schema in conf/x.yaml: "
        "2 failure(s) in column(s) pixel_2_3."
    )
    assert "conf/x.yaml" in report


def test_out_of_range_values_are_reported(digits: pd.DataFrame) -> None:
    table = digits.copy()
    table.loc[7, "pixel_5_5"] = 17.0
    table.loc[11, "target"] = 12
    report = failure_report(table)
    assert "above the maximum (le: 16" in report_row(report, "pixel_5_5")
    assert "row 7: 17.0" in report_row(report, "pixel_5_5")
    assert "row 11: 12" in report_row(report, "target")
    assert "pixel_5_5" in report.splitlines()[0] and "target" in report.splitlines()[0]


def test_each_bad_cell_is_one_row_in_words() -> None:
    """Text in a numeric column also fails its range and finiteness checks, an inf fails
    `le`, and a missing target is also not nullable: each bad cell is reported once, by its
    root cause, and no Python exception text reaches the reader."""
    table = pd.DataFrame(
        {
            "a": [1.0, 2.0, "x", 4.0, 5.0],
            "b": [1, 2, 3, 4, 4],
            "d": [1.0, np.inf, 2.0, 3.0, 20.0],
            "target": [0.0, 1.0, np.nan, 1.0, 0.0],
        }
    )
    schema = {
        "strict": True,
        "columns": {
            "a": {"dtype": "float64", "ge": 0, "le": 10},
            "b": {"dtype": "int64", "unique": True},
            "d": {"dtype": "float64", "ge": 0, "le": 10},
            "target": {"dtype": "float64", "isin": [0, 1]},
        },
    }
    with pytest.raises(ValidationFailed) as caught:
        validate_table(table, schema, where="t.csv", fix_in="conf/x.yaml", target="target")
    report = str(caught.value)
    rows = [" ".join(line.split()) for line in report.splitlines()[2:]]
    # x, two duplicates, inf, 20.0, the missing target: six bad cells, six failures
    assert "6 failure(s)" in report.splitlines()[0]
    assert rows == [
        "a text in a float64 column 1 row 2: x",
        "b duplicate value (unique: true) 2 row 3: 4, row 4: 4",
        "d above the maximum (le: 10) 1 row 4: 20.0",
        "d finite (no inf) 1 row 1: inf",
        "target missing target value 1 row 2: nan",
    ]
    assert "Error(" not in report and "dtype(" not in report


def test_missing_and_unexpected_columns_are_reported(digits: pd.DataFrame) -> None:
    table = digits.drop(columns=["target"]).assign(notes="x")
    report = failure_report(table)
    assert "missing column" in report_row(report, "target")
    assert "unexpected column" in report_row(report, "notes")


def test_many_failures_are_summarised(digits: pd.DataFrame) -> None:
    table = digits.copy()
    table["pixel_0_0"] = -1.0
    row = report_row(failure_report(table), "pixel_0_0")
    assert " 1797 " in row and "(+1792 more)" in row


# ----------------------------------------------------------------------------- split


def test_split_is_stratified_disjoint_and_complete(digits: pd.DataFrame) -> None:
    table = digits.assign(row_id=np.arange(len(digits)))
    parts = split_table(table, "target", val_fraction=0.15, test_fraction=0.2, seed=0)
    ids = [set(parts[name]["row_id"]) for name in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set().union(*ids) == set(range(len(digits)))
    assert abs(len(parts["test"]) - 0.2 * len(digits)) <= 10
    overall = digits["target"].value_counts(normalize=True)
    for part in parts.values():
        share = part["target"].value_counts(normalize=True)
        assert np.allclose(share.reindex(overall.index), overall, atol=0.02)


def test_split_depends_only_on_seed(digits: pd.DataFrame) -> None:
    first = split_table(digits, "target", val_fraction=0.15, test_fraction=0.2, seed=3)
    again = split_table(digits, "target", val_fraction=0.15, test_fraction=0.2, seed=3)
    other = split_table(digits, "target", val_fraction=0.15, test_fraction=0.2, seed=4)
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert not first["test"].equals(other["test"])


def test_split_without_stratification_and_empty_split() -> None:
    table = pd.DataFrame({"x": np.arange(10.0), "target": [0] * 9 + [1]})
    parts = split_table(
        table, "target", val_fraction=0.2, test_fraction=0.2, seed=0, stratify=False
    )
    assert [len(parts[n]) for n in ("train", "val", "test")] == [6, 2, 2]
    with pytest.raises(DataError) as caught:
        split_table(table.head(3), "target", val_fraction=0.1, test_fraction=0.1, seed=0)
    assert caught.value.kind == "empty-split"
    # the one wording check for kind 'empty-split'
    assert str(caught.value).startswith(
        "The val split is empty: 3 rows with val_fraction=0.1 and test_fraction=0.1 leave no "
        "rows for it."
    )


def test_light_stages_never_import_torch() -> None:
    code = (
        "import sys\n"
        "import dockyard.stages.ingest, dockyard.stages.validate, dockyard.stages.split\n"
        "import dockyard.stages.featurize, dockyard.stages.aggregate\n"
        "from dockyard.data.sources import build_source\n"
        "build_source({'_target_': 'dockyard.data.sources.sklearn_dataset', 'name': 'digits'})\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_missing_target_values_are_reported(digits: pd.DataFrame) -> None:
    table = digits.copy()
    table["target"] = table["target"].astype("float64")
    table.loc[[2, 5], "target"] = np.nan
    schema = {
        "columns": {**DIGITS_SCHEMA["columns"], "target": {"dtype": "float64", "nullable": True}}
    }
    with pytest.raises(ValidationFailed) as caught:
        validate_table(table, schema, where="t.csv", fix_in="s.yaml", target="target")
    assert (caught.value.kind, caught.value.column) == ("validation", "target")
    assert "missing target value" in str(caught.value) and "row 2: nan" in str(caught.value)


def test_tiny_classes_keep_a_training_row() -> None:
    table = pd.DataFrame({"x": np.arange(22.0), "target": [0] * 20 + [1, 1]})
    parts = split_table(table, "target", val_fraction=0.3, test_fraction=0.3, seed=0)
    assert (parts["train"]["target"] == 1).sum() >= 1


def test_digits_read_without_sklearn_equal_sklearns_loader(digits: pd.DataFrame) -> None:
    """ingest reads the digits file directly (importing scikit-learn costs ~1 s); the table
    must be scikit-learn's own, values, names and dtypes."""
    from sklearn.datasets import load_digits

    expected = load_digits(as_frame=True).frame.reset_index(drop=True)
    pd.testing.assert_frame_equal(digits, expected, check_exact=True)


def test_split_stage_writes_what_split_table_returns(tmp_path: Path) -> None:
    """The stage splits in Arrow form (memory); its files must equal split_table's frames,
    dtypes (categoricals, int8) included."""
    import shutil

    from dockyard.data.split import split_table
    from dockyard.io import read_table

    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    for command in (
        ["dockyard.cli", "compose", "data=synthetic", "data.rows=5000"],
        ["dockyard.stages.ingest"],
        ["dockyard.stages.split"],
    ):
        subprocess.run(
            [sys.executable, "-m", *command], cwd=tmp_path, check=True, capture_output=True
        )
    raw = read_table(tmp_path / "data/raw/table.parquet")
    expected = split_table(raw, "target", val_fraction=0.15, test_fraction=0.2, seed=0)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(read_table(tmp_path / f"data/prepared/{name}.parquet"), frame)
