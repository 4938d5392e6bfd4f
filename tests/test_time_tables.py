"""A table as people have it, through the README's flow on a real git + DVC project: an
order ID, a date, a day-first date (31/12/2024) and a timestamp with a zone, text
categories with unicode, missing values and an entirely empty column; `split.by=time`,
`predict` on raw rows shaped like the training file, and the experiment that must not
silently switch back to the bundled data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .helpers import error_of, make_project, run

pytestmark = pytest.mark.slow


def orders(n: int, seed: int, start: str = "2024-01-01") -> pd.DataFrame:
    """A fresh draw from one generator for every seed (new batches are never resampled
    training rows)."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.integers(0, 120, n)), unit="D")
    placed = day + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    city = rng.choice(["Zürich", "Köln", "São Paulo", "東京", "Oslo"], n)
    visits = rng.poisson(2, n)
    fee = rng.normal(10, 2, n).round(2)
    logit = 0.6 * visits - 0.15 * fee + (city == "Oslo") * 1.5
    return pd.DataFrame(
        {
            "order_id": [f"o{seed}-{i}" for i in range(n)],
            "day": day.strftime("%Y-%m-%d"),
            # day first; unrelated to the order's time, so it adds no trend of its own
            "signup": (
                pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1800, n), unit="D")
            ).strftime("%d/%m/%Y"),
            "placed_at": placed.strftime("%Y-%m-%dT%H:%M:%S") + "+01:00",
            "city": city,
            "visits": visits,
            "fee": np.where(rng.random(n) < 0.1, np.nan, fee),
            "note": np.nan,  # an empty column: the source leaves it out
            "churn": np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no"),
        }
    )


def dockyard(project: Path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "dockyard.cli", *args], project, check=check)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits' data stages first (DVC's run-cache then holds them; nothing later trains on
    digits), then `data add` without --default and `dvc exp run -S data=orders -S
    split.by=time`, committed."""
    project = make_project(tmp_path_factory.mktemp("time") / "project")
    (project / "conf/config.yaml").write_text(
        (project / "conf/config.yaml").read_text().replace("epochs: 50", "epochs: 2")
    )
    dockyard(project, "compose")
    run(["dvc", "repro", "-q", "featurize"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "digits"], project)
    orders(600, 1).to_csv(project / "data/orders.csv", index=False)
    added = dockyard(project, "data", "add", "data/orders.csv", "--target", "churn")
    assert "column 'day' is the time axis" not in added.stdout  # two datetime columns
    added = dockyard(
        project, "data", "add", "data/orders.csv", "--target", "churn", "--time", "day", "--force"
    )
    assert "column 'day' is the time axis (time: true)" in added.stdout
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "add orders"], project)
    run(["dvc", "exp", "run", "-q", "-S", "data=orders", "-S", "split.by=time"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "train on orders, split by time"], project)
    return project


def test_dates_train_split_by_time_and_raw_rows_score(trained: Path) -> None:
    parts = {
        s: pd.read_parquet(trained / f"data/prepared/{s}.parquet") for s in ("train", "val", "test")
    }
    assert {s: len(t) for s, t in parts.items()} == {"train": 390, "val": 90, "test": 120}
    assert parts["train"]["day"].max() <= parts["val"]["day"].min()
    assert parts["val"]["day"].max() <= parts["test"]["day"].min()
    assert str(parts["train"]["placed_at"].dtype) == "datetime64[us, UTC]"
    transform = json.loads((trained / "data/features/transform.json").read_text())
    assert transform["datetimes"] == {
        "day": ["year", "month", "dayofweek"],
        "signup": ["year", "month", "dayofweek"],
        "placed_at": ["year", "month", "dayofweek", "hour"],
    }
    # the day-first column was drafted with its format and read by it, never guessed
    schema = yaml.safe_load((trained / "conf/data/orders.yaml").read_text())["schema"]
    assert schema["columns"]["signup"]["format"] == "%d/%m/%Y"
    drawn = orders(600, 1).set_index("order_id")["signup"]
    train = parts["train"].set_index("order_id")["signup"]
    assert train.tolist() == pd.to_datetime(drawn[train.index], format="%d/%m/%Y").tolist()
    assert "order_id" not in transform["numeric"] + transform["categorical"]
    # new rows drawn from the generator, shaped like the training file (the empty column too)
    rows = orders(200, 7, start="2024-05-01").drop(columns="churn")
    rows.to_csv(trained / "rows.csv", index=False)
    scored = dockyard(trained, "predict", "rows.csv", "--output", "scored.csv")
    assert "scored 200 of 200 rows" in scored.stdout + scored.stderr
    out = pd.read_csv(trained / "scored.csv")
    assert out["order_id"].tolist() == rows["order_id"].tolist()
    assert set(out["prediction"]) <= {"yes", "no"}
    bad = rows.assign(day=["2024-05-01"] * 199 + ["next tuesday"])
    bad.to_csv(trained / "bad.csv", index=False)
    refused = dockyard(trained, "predict", "bad.csv", "--output", "x.csv", check=False)
    assert refused.returncode == 2
    record = error_of(refused)
    assert (record["kind"], record["column"], record["path"]) == ("validation", "day", "bad.csv")
    # the failed check and the row, with its value
    assert "not a date/time" in record["message"] and "row 199: 'next tuesday'" in record["message"]
    assert "Traceback" not in refused.stderr


def test_a_batch_whose_column_arrives_empty_is_drift(trained: Path) -> None:
    fresh = orders(400, 11)  # the same distribution, fresh rows
    fresh.to_csv(trained / "fresh.csv", index=False)
    same = dockyard(trained, "monitor", "fresh.csv", "--output", "-", check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "| `day` | datetime |" in same.stdout  # watched for missing values only
    fresh.assign(fee=np.nan).to_csv(trained / "broken.csv", index=False)
    broken = dockyard(trained, "monitor", "broken.csv", "--output", "-", check=False)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "`fee`" in broken.stdout and "Traceback" not in broken.stderr


def test_the_server_reads_dates_as_predict_does(trained: Path) -> None:
    import httpx

    from .serving_fixtures import server

    rows = orders(3, 8, start="2024-05-01").drop(columns="churn")
    records = json.loads(rows.to_json(orient="records"))
    rows.to_csv(trained / "three.csv", index=False)
    dockyard(trained, "predict", "three.csv", "--output", "three-scored.csv")
    expected = pd.read_csv(trained / "three-scored.csv")
    with server(trained) as url:
        answer = httpx.post(f"{url}/predict", json=records, timeout=30)
        assert answer.status_code == 200, answer.text
        served = pd.DataFrame(answer.json()["predictions"])
        assert served["prediction"].tolist() == expected["prediction"].tolist()
        assert np.allclose(served["proba_yes"], expected["proba_yes"], atol=1e-6)
        records[1]["placed_at"] = "2024-05-01T10:00:00"  # no zone: the schema says UTC
        records[2]["signup"] = "2021-05-03"  # ISO, in a day-first column
        refused = httpx.post(f"{url}/predict", json=records, timeout=30)
        assert refused.status_code == 422
        assert "no time zone (the column is declared tz: UTC" in refused.text
        failures = {f["column"]: f for f in refused.json()["failures"]}
        assert failures["signup"]["reason"].startswith("not a date/time in the column's format")
        assert failures["signup"]["examples"] == [{"row": 2, "value": "2021-05-03"}]
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_the_next_experiment_never_silently_trains_on_the_default_data(trained: Path) -> None:
    def trained_models() -> dict:
        stages = yaml.safe_load((trained / "dvc.lock").read_text())["stages"]
        return {name: stage for name, stage in stages.items() if name.startswith("train")}

    before = trained_models()
    result = run(["dvc", "exp", "run", "-S", "train.lr=0.002"], trained, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    record = error_of(result)  # the refusing stage's, through DVC's environment
    assert (record["kind"], record["key"]) == ("dataset-switch", "data")
    assert "data=digits" in record["message"]  # what this run would train on
    assert "`dockyard use data=orders`" in record["message"]  # the fix, with its value
    assert "Traceback" not in output
    # DVC restored the digits data stages from its run-cache, but nothing trained on them
    assert trained_models() == before
