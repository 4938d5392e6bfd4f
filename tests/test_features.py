"""The featurize transform: fitted on train only, deterministic, checked against scikit-learn."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from dockyard.data.features import FeatureTransform, fit_transform
from dockyard.data.split import split_table
from dockyard.errors import DataError

from .helpers import ROOT, compose, customers, project_env

POLICY = {
    "numeric_impute": "median",
    "scale": "standard",
    "categorical_impute": "missing",
    "encoding": "onehot",
    "unknown_category": "ignore",
}


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    return split_table(customers(), "label", val_fraction=0.15, test_fraction=0.2, seed=0)


def test_matches_sklearn_imputer_scaler_and_one_hot(splits) -> None:
    train, test = splits["train"], splits["test"]
    transform = fit_transform(train, target="label", task="classification", policy=POLICY)
    assert transform.numeric == ["age", "income", "score"]
    assert transform.categorical == ["region", "plan"]
    ours = transform.features(test)

    numeric = ["age", "income", "score"]
    imputer = SimpleImputer(strategy="median").fit(train[numeric])
    scaler = StandardScaler().fit(imputer.transform(train[numeric]))
    expected_numeric = scaler.transform(imputer.transform(test[numeric]))
    np.testing.assert_allclose(ours[:, :3], expected_numeric, rtol=1e-5, atol=1e-5)

    categorical = ["region", "plan"]
    filled = lambda t: t[categorical].astype(object).fillna("__missing__")  # noqa: E731
    encoder = OneHotEncoder(handle_unknown="ignore").fit(filled(train))
    np.testing.assert_array_equal(ours[:, 3:], encoder.transform(filled(test)).toarray())
    assert transform.output_columns[3:] == [
        f"{c}={v}" for c, cats in zip(categorical, encoder.categories_, strict=True) for v in cats
    ]


def test_labels_are_encoded_from_training_classes(splits) -> None:
    transform = fit_transform(splits["train"], target="label", task="classification", policy=POLICY)
    assert transform.classes == ["churn", "stay", "upgrade"]
    labels = transform.labels(splits["val"])
    assert labels.dtype == np.int64
    decoded = np.array(transform.classes)[labels]
    assert (decoded == splits["val"]["label"].to_numpy()).all()
    with pytest.raises(DataError) as caught:
        transform.labels(splits["val"].assign(label="vanished"))
    assert (caught.value.kind, caught.value.column) == ("unseen-class", "label")
    # the one wording check for kind 'unseen-class'
    assert str(caught.value).startswith(
        "the table: target 'label' holds value(s) ['vanished'] absent from the training split "
        "(classes ['churn', 'stay', 'upgrade'])."
    )


def test_unseen_categories_follow_the_declared_policy(splits) -> None:
    train = splits["train"]
    novel = splits["test"].head(3).assign(region="moon")
    ignore = fit_transform(train, target="label", task="classification", policy=POLICY)
    region = [i for i, c in enumerate(ignore.output_columns) if c.startswith("region=")]
    assert ignore.features(novel)[:, region].sum() == 0  # all zeros, no error
    strict = fit_transform(
        train, target="label", task="classification", policy={**POLICY, "unknown_category": "error"}
    )
    with pytest.raises(DataError) as caught:
        strict.features(novel, where="new.csv")
    assert (caught.value.kind, caught.value.column) == ("unseen-category", "region")
    # the one wording check for kind 'unseen-category'
    assert str(caught.value).startswith(
        "new.csv: column 'region' holds categories never seen in training ('moon'; rows [0, 1, 2])."
    )


def test_other_policies(splits) -> None:
    train = splits["train"]
    policy = {
        **POLICY,
        "numeric_impute": "mean",
        "categorical_impute": "most_frequent",
        "encoding": "ordinal",
        "scale": "none",
    }
    transform = fit_transform(train, target="label", task="classification", policy=policy)
    assert transform.impute["income"] == pytest.approx(train["income"].mean())
    assert transform.impute["region"] == train["region"].mode().iloc[0]
    assert transform.output_columns == ["age", "income", "score", "region", "plan"]
    row = train[train["income"].isna()].head(1)
    values = transform.features(row)[0]
    assert values[1] == pytest.approx(train["income"].mean(), rel=1e-6)  # imputed, unscaled
    assert values[4] == transform.categories["plan"].index(row["plan"].iloc[0])


def test_transform_round_trips_through_json(splits, tmp_path) -> None:
    transform = fit_transform(splits["train"], target="label", task="classification", policy=POLICY)
    (tmp_path / "t.json").write_text(transform.to_json())
    loaded = FeatureTransform.load(tmp_path / "t.json")
    assert loaded == transform
    np.testing.assert_array_equal(
        loaded.features(splits["test"]), transform.features(splits["test"])
    )


def run_featurize_stage(workdir: Path, splits: dict[str, pd.DataFrame]) -> bytes:
    (workdir / "data/prepared").mkdir(parents=True)
    for name, part in splits.items():
        part.to_parquet(workdir / f"data/prepared/{name}.parquet", index=False)
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.stages.featurize"],
        cwd=workdir,
        env=project_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return (workdir / "data/features/transform.json").read_bytes()


def test_stage_is_deterministic_and_blind_to_test_statistics(splits, tmp_path) -> None:
    """The featurize stage, run for real: same inputs -> same bytes; a wildly different test
    split -> the same transform."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    config = tmp_path / "conf/data/customers.yaml"
    config.write_text(
        "name: customers\ninput: x.csv\nsource: {_target_: dockyard.data.sources.table_file, "
        "path: x.csv}\ntarget: label\ntask: classification\n"
        "schema: {strict: false, columns: {label: {dtype: str}}}\n"
    )
    runs = []
    for index, test in enumerate(
        [
            splits["test"],
            splits["test"],
            splits["test"].assign(
                age=splits["test"]["age"] * 1000, income=np.nan, region="moon", plan="enterprise"
            ),
        ]
    ):
        workdir = tmp_path / f"run{index}"
        shutil.copytree(tmp_path / "conf", workdir / "conf")
        compose(workdir, "data=customers")
        runs.append(run_featurize_stage(workdir, {**splits, "test": test}))
    assert runs[0] == runs[1] == runs[2]
    features = pd.read_parquet(tmp_path / "run2/data/features/test.parquet")
    assert features.filter(like="region=").to_numpy().sum() == 0  # unseen, ignored


@pytest.mark.parametrize("unknown", ["ignore", "error"])
def test_categorical_columns_encode_like_text_columns(splits, unknown) -> None:
    """The fast path for pandas categoricals (integer codes) gives the same transform and the
    same matrix as text columns, missing values and unseen categories included."""
    train, test = splits["train"], splits["test"].copy()
    test.loc[test.index[:4], "region"] = "moon"  # unseen in training
    policy = {**POLICY, "unknown_category": unknown}
    as_category = {
        c: (t.astype({"region": "category", "plan": "category"}))
        for c, t in {"train": train, "test": test}.items()
    }
    # the categorical column also declares categories no row uses
    as_category["train"]["plan"] = as_category["train"]["plan"].cat.add_categories(["unused"])
    text = fit_transform(train, target="label", task="classification", policy=policy)
    cats = fit_transform(as_category["train"], target="label", task="classification", policy=policy)
    assert cats.categories == text.categories
    assert text.categories["region"][0] == "__missing__"  # the fixture has missing regions
    if unknown == "error":
        for table in (test, as_category["test"]):
            transform = cats if table is as_category["test"] else text
            with pytest.raises(DataError) as caught:
                transform.features(table)
            assert (caught.value.kind, caught.value.column) == ("unseen-category", "region")
            assert "('moon'; rows [0, 1, 2, 3])" in str(caught.value)  # the value and rows
    else:
        np.testing.assert_array_equal(cats.features(as_category["test"]), text.features(test))
        assert text.features(test)[:4, text.numeric.__len__() :].sum() > 0  # plan still encoded
