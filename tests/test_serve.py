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

from .helpers import error_of
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


# ----------------------------------------------------------------------------- the command


@pytest.mark.slow
def test_a_busy_port_is_refused_before_serving(customers_model: Path) -> None:
    """A port another process listens on: one paragraph and exit 2, before any model loads
    and before "serving ..." (uvicorn's own failure was exit 3 after the banner)."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = dockyard(customers_model, "serve", "--port", str(port), check=False)
    assert result.returncode == 2, result.stderr
    assert error_of(result)["kind"] == "port-in-use"
    # the one wording check for kind 'port-in-use'
    assert result.stderr.startswith(
        f"dockyard: error: Cannot serve on 127.0.0.1:{port}: the port is already in use"
    )
    assert f"--port {port + 1}" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one paragraph
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def registered(customers_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the customers project with its model registered (a real GTO tag,
    model@v0.1.0), then checked out on a branch where a later run changed the metrics and
    the workspace lacks the registered folder (it is fetched from DVC's cache)."""
    import shutil
    from types import SimpleNamespace

    from .helpers import head, run

    project = tmp_path_factory.mktemp("registered") / "project"
    shutil.copytree(customers_model, project, symlinks=True)
    for log in project.glob("serve-*.log"):  # other tests' server logs: not the project's
        log.unlink()
    dockyard(project, "use", "data=customers")  # register wants conf/ alone to give params
    run(["git", "commit", "-qam", "customers by default"], project)
    dockyard(project, "register")
    commit = head(project)
    metrics_file = project / "eval/seeds/0/metrics.json"
    metrics = json.loads(metrics_file.read_text())
    run(["git", "checkout", "-qb", "later"], project)
    metrics_file.write_text(json.dumps({name: 0.5 for name in metrics}))
    run(["git", "commit", "-qam", "a later run"], project)
    shutil.rmtree(project / "models/seed-0")
    return SimpleNamespace(project=project, commit=commit, metrics=metrics)


@pytest.mark.slow
def test_version_of_a_registered_model_reads_its_commits_metrics(registered) -> None:
    import httpx

    with server(registered.project, "--model", "model@v0.1.0") as base:
        version = httpx.get(f"{base}/version").json()
    assert version["registered"] == "model@v0.1.0" and version["asked_for"] == "model@v0.1.0"
    assert version["git_commit"] == registered.commit
    assert version["model"].endswith(".dockyard/models/model@v0.1.0")  # not the workspace's
    assert version["metrics"] == registered.metrics  # not null, not the branch's 0.5s


@pytest.mark.slow
def test_output_to_a_closed_pipe_exits_quietly(registered) -> None:
    """`dockyard promote --dry-run --json | head` with the reader gone before the command
    writes: no BrokenPipeError traceback, nothing on stderr, exit 141 as after SIGPIPE."""
    import os
    import subprocess
    import sys

    from .helpers import project_env

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the command writes
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard.cli", "promote", "model", "v0.1.0"]
            + ["--stage", "staging", "--dry-run", "--json"],
            cwd=registered.project,
            env=project_env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""
