"""The HTTP server: request parsing, and a real `dockyard serve` subprocess on 127.0.0.1
answering every documented case, with the same predictions as batch prediction."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dockyard.serve.requests import BadRequest, parse_body

from .serving_fixtures import STRICT_MODEL, customers_project, dockyard, proba, server, split_rows

# ----------------------------------------------------------------------------- parsing


def test_every_request_shape_gives_the_same_columns() -> None:
    table = pd.DataFrame({"a": [1.5, None], "b": ["x", "y"]})
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    bodies = [
        (json.dumps(records), "application/json"),
        (json.dumps({"records": records}), "application/json"),
        (json.dumps({"dataframe_records": records}), None),
        (table.to_json(orient="split", index=False).replace('"columns"', '"columns"'), None),
        (json.dumps({"dataframe_split": json.loads(table.to_json(orient="split"))}), None),
    ]
    for body, kind in bodies:
        if '"dataframe_split"' not in body and '"columns"' in body:
            continue  # a bare split object is not an accepted shape
        columns, rows = parse_body(body.encode(), kind)
        assert rows == 2 and list(columns) == ["a", "b"]
        assert columns["a"] == [1.5, None] and columns["b"] == ["x", "y"]
    columns, rows = parse_body(json.dumps(records[0]).encode(), None)  # one bare record
    assert rows == 1 and columns["b"] == ["x"]
    csv_columns, rows = parse_body(table.to_csv(index=False).encode(), "text/csv")
    assert rows == 2 and csv_columns["b"].to_pylist() == ["x", "y"]
    buffer = io.BytesIO()
    table.to_parquet(buffer)
    parquet_columns, rows = parse_body(buffer.getvalue(), "application/vnd.apache.parquet")
    assert rows == 2 and parquet_columns["a"].to_pylist()[0] == 1.5


@pytest.mark.parametrize(
    "body, kind, reason",
    [
        (b"", None, "The request body is empty"),
        (b"   ", "application/json", "The request body is empty"),
        (b'[{"a": 1', None, "not valid JSON"),
        (b"[]", None, "holds no records"),
        (b"[1, 2]", None, "Record 0 of the body is a int"),
        (b'{"rows": [[1]]}', None, "none of which dockyard reads"),
        (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', None, "Row 0"),
        (b'{"dataframe_split": [1]}', None, "'dataframe_split' must be an object"),
        (b'[{"a": [1, 2]}]', None, "holds a list"),
        (b"a,b\n", "text/csv", "header but no rows"),
        (b"a,b\n1,2,3\n", "text/csv", "could not be parsed"),
        (b"PAR1 broken", "application/vnd.apache.parquet", "not a readable Parquet file"),
        (b"<xml/>", "application/xml", "Content-Type 'application/xml' is not supported"),
    ],
)
def test_unreadable_bodies_say_why(body: bytes, kind: str | None, reason: str) -> None:
    with pytest.raises(BadRequest, match=None) as error:
        parse_body(body, kind)
    assert reason in str(error.value)


# ----------------------------------------------------------------------------- the server

pytestmark_slow = pytest.mark.slow


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return customers_project(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def url(customers_model: Path):
    with server(customers_model, "--max-body-bytes", "300000") as base:
        yield base


@pytest.fixture(scope="module")
def batch(customers_model: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Batch predictions for the test split: what the server must agree with."""
    out = tmp_path_factory.mktemp("batch") / "scored.parquet"
    dockyard(customers_model, "predict", "data/prepared/test.parquet", "-o", str(out))
    return pd.read_parquet(out)


def _records(table: pd.DataFrame) -> list[dict]:
    return json.loads(table.to_json(orient="records"))


def _agree(answer: list[dict], batch: pd.DataFrame) -> None:
    got = pd.DataFrame(answer)
    assert list(got.columns) == list(batch.columns)
    assert (got["prediction"].to_numpy() == batch["prediction"].to_numpy()).all()
    np.testing.assert_allclose(proba(got), proba(batch), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_every_body_shape_scores_like_batch_prediction(
    url: str, customers_model: Path, batch: pd.DataFrame
) -> None:
    import httpx

    rows = split_rows(customers_model)
    records = _records(rows)
    split = json.loads(rows.to_json(orient="split", index=False))
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    requests = [
        {"json": records},
        {"json": {"records": records}},
        {"json": {"dataframe_records": records}},
        {"json": {"dataframe_split": split}},
        {"content": rows.to_csv(index=False), "headers": {"Content-Type": "text/csv"}},
        {
            "content": parquet.getvalue(),
            "headers": {"Content-Type": "application/vnd.apache.parquet"},
        },
    ]
    for request in requests:
        answer = httpx.post(f"{url}/predict", timeout=30, **request)
        assert answer.status_code == 200, answer.text
        _agree(answer.json()["predictions"], batch)
    one = httpx.post(f"{url}/predict", json=records[4]).json()["predictions"]  # a bare record
    _agree(one, batch.iloc[[4]].assign(row=0))


@pytest.mark.slow
def test_bad_requests_get_their_documented_answer(url: str, customers_model: Path) -> None:
    import httpx

    good = _records(split_rows(customers_model).drop(columns="label").head(3))
    cases = [
        ({"content": b""}, 400, "The request body is empty"),
        ({"content": b'[{"age": 3'}, 400, "not valid JSON"),
        ({"json": {"rows": good}}, 400, "none of which dockyard reads"),
        ({"json": [{**good[0], "plan": "gold"}]}, 422, "plan: not one of the allowed values"),
        ({"json": [{**good[0], "age": "old"}]}, 422, "age: not a number (the column is int64)"),
        ({"json": [{**good[0], "score": None}]}, 422, "score: missing value"),
        ({"json": [{k: v for k, v in good[0].items() if k != "plan"}]}, 422, "lacks the column"),
        ({"json": [{**good[0], "coupon": 1}]}, 422, "does not declare: coupon"),
        ({"content": b"x" * 400_000}, 413, "over the server's limit of 300,000"),
        (
            {"content": b"<a/>", "headers": {"Content-Type": "application/xml"}},
            400,
            "not supported",
        ),
    ]
    for request, status, reason in cases:
        answer = httpx.post(f"{url}/predict", timeout=30, **request)
        assert answer.status_code == status, (request, answer.text)
        assert reason in answer.json()["detail"], answer.text
        assert "Traceback" not in answer.text
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
    refused = httpx.post(f"{url}/predict", json=[good[0], {**good[1], "plan": "gold"}]).json()
    assert refused["rows_refused"] == 1
    assert refused["failures"][0]["examples"] == [{"row": 1, "value": "gold"}]
    skipped = httpx.post(
        f"{url}/predict", params={"invalid": "skip"}, json=[good[0], {**good[1], "plan": "gold"}]
    ).json()
    assert [p["row"] for p in skipped["predictions"]] == [0]
    assert skipped["rejected"][0]["row"] == 1 and "plan" in skipped["rejected"][0]["reasons"]


@pytest.mark.slow
def test_oversized_streamed_body_is_cut_off(url: str) -> None:
    import httpx

    def chunks():
        for _ in range(100):
            yield b"x" * 10_000  # no Content-Length: the limit holds while reading

    answer = httpx.post(f"{url}/predict", content=chunks(), timeout=30)
    assert answer.status_code == 413
    assert httpx.get(f"{url}/health").status_code == 200


@pytest.mark.slow
def test_unknown_category_policy(customers_model: Path, url: str) -> None:
    import httpx

    row = _records(split_rows(customers_model).drop(columns="label").head(1))[0]
    unseen = {**row, "region": "atlantis"}
    assert httpx.post(f"{url}/predict", json=[unseen]).status_code == 200  # policy 'ignore'
    with server(customers_model, "--model", STRICT_MODEL) as strict:
        answer = httpx.post(f"{strict}/predict", json=[row, unseen])
        assert answer.status_code == 422
        assert "region: category never seen in training" in answer.json()["detail"]
        assert httpx.post(f"{strict}/predict", json=[row]).status_code == 200


@pytest.mark.slow
def test_health_version_docs_and_concurrency(
    url: str, customers_model: Path, batch: pd.DataFrame
) -> None:
    import httpx

    version = httpx.get(f"{url}/version").json()
    card = json.loads((customers_model / "models/seed-0/model.json").read_text())
    assert version["params_hash"] == card["provenance"]["params_hash"]
    assert version["classes"] == ["churn", "stay", "upgrade"]
    assert version["data"] == card["provenance"]["data"]
    metrics = json.loads((customers_model / "eval/seeds/0/metrics.json").read_text())
    assert version["metrics"] == metrics and version["runtime"] == "torch"
    assert len(version["weights_sha256"]) == 64 and version["git_commit"]
    assert httpx.get(f"{url}/docs").status_code == 200
    assert "/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]
    records = _records(split_rows(customers_model))

    def one(index: int) -> dict:
        return httpx.post(f"{url}/predict", json=[records[index]]).json()["predictions"][0]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(len(records))))
    _agree([{**a, "row": i} for i, a in enumerate(answers)], batch)
