"""Benchmarks of the inference half: batch prediction, its memory, and the HTTP server
against MLflow's scoring server. Every figure sits beside a baseline taken in the same run.

  a  batch prediction from the raw table (validate + transform + predict), 1,000,000
     rows, in process, vs a hand-written numpy transform + torch forward on the same rows
     (`baselines.featurize`, no validation); median of alternating pairs
  b  peak memory (max RSS of a fresh process) of `dockyard predict` on a 10,000,000-row CSV
     vs a 1,000,000-row CSV
  c  `dockyard serve` (torch and onnx runtimes) under a bounded load test on 127.0.0.1:
     single-row p50/p99 latency and requests/s sequential and at concurrency 8, and one
     1,000-row request; every request is validated and transformed
  d  the same load test against MLflow's scoring server (`mlflow models serve
     --env-manager local`) serving the same network, logged with mlflow.pytorch and a
     dataframe signature; its requests carry the ready-made feature columns (MLflow does
     no validation and no transform)

The model is trained by the real pipeline on `data=synthetic` (24 numeric and 6
categorical columns, 72 features, MLP 72-128-64-2). The load generator is a minimal
asyncio HTTP/1.1 client written here (keep-alive connections, one request in flight per
connection), so its own cost per request stays small and equal for every server.

    python benchmarks/serving.py                 # all cases, about 5 minutes on 2 cores
    python benchmarks/serving.py --cases a,c     # some of them
    python benchmarks/serving.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import baselines  # noqa: E402
from tests.helpers import compose, make_project, project_env, run  # noqa: E402
from timing import alternating  # noqa: E402

# The command that runs dockyard's subcommands (switch to ["dockyard"] once cli.py has them).
DOCKYARD = [sys.executable, "-m", "dockyard.cli"]
MODEL = "models/seed-0"
SEQUENTIAL, CONCURRENT, CONCURRENCY, LARGE, LARGE_ROWS = 500, 800, 8, 20, 1000


def row(case, measure, ours, theirs, unit, ratio, goal, met, baseline_is, details=None):
    return {
        "case": case,
        "measure": measure,
        "dockyard": ours,
        "baseline": theirs,
        "unit": unit,
        "ratio": None if ratio is None else round(ratio, 3),
        "goal": goal,
        "met": met,
        "baseline_is": baseline_is,
        "details": details or {},
    }


# ----------------------------------------------------------------------------- setup


def trained_project(base: Path, rows: int = 100_000) -> Path:
    """The real pipeline on synthetic data (a short training: speed is what is measured)."""
    project = make_project(base / "project")
    compose(project, "data=synthetic", f"data.rows={rows}", "train.epochs=3")
    run(["dvc", "repro"], project)
    return project


def raw_table(rows: int, seed: int = 1) -> Any:
    from dockyard.data.sources import synthetic

    return synthetic(rows=rows, seed=seed).drop(columns="target")


# ----------------------------------------------------------------------------- a: batch


def batch_throughput(project: Path, rows: int = 1_000_000, pairs: int = 3) -> list[dict]:
    import numpy as np
    import torch

    from dockyard.serve.scoring import Scorer

    table = raw_table(rows)
    scorer = Scorer(project / MODEL)
    transform = scorer.transform.transform
    net = scorer.runtime.artifact.net
    chunk = 65536

    def ours() -> float:
        start = time.perf_counter()
        for first in range(0, rows, chunk):
            part = table.iloc[first : first + chunk]
            result = scorer.score(scorer.schema.check_pandas(part))
            assert result.rows == len(part)
        return time.perf_counter() - start

    def theirs() -> float:
        start = time.perf_counter()
        x = torch.from_numpy(baselines.featurize(table, transform))
        with torch.inference_mode():
            for first in range(0, rows, chunk):
                torch.softmax(net(x[first : first + chunk]).double(), dim=1).numpy()
        return time.perf_counter() - start

    same = np.allclose(
        scorer.score(scorer.schema.check_pandas(table.head(5000))).columns["proba_1"],
        torch.softmax(
            net(torch.from_numpy(baselines.featurize(table.head(5000), transform))).double(), 1
        )[:, 1]
        .detach()
        .numpy(),
        atol=1e-6,
    )
    ours(), theirs()  # warm-up
    mine, other, ratios = alternating(ours, theirs, pairs)
    ratio = statistics.median(ratios)
    return [
        row(
            "a",
            f"batch prediction from the raw table (validate + transform + predict), "
            f"{rows:,} rows, chunks of {chunk:,}, CPU ({torch.get_num_threads()} threads)",
            round(rows / statistics.median(mine)),
            round(rows / statistics.median(other)),
            "rows/s",
            ratio,
            ">= 0.8",
            ratio >= 0.8,
            "hand-written numpy transform (benchmarks/baselines.featurize, no validation) + "
            "torch forward and softmax, same rows and chunk size",
            {"ours_s": mine, "baseline_s": other, "pair_ratios": ratios, "same_output": same},
        )
    ]


# ----------------------------------------------------------------------------- b: memory


def write_csv(path: Path, rows: int, block: int = 1_000_000) -> None:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    writer = None
    for index, first in enumerate(range(0, rows, block)):
        table = pa.Table.from_pandas(
            raw_table(min(block, rows - first), seed=index + 10), preserve_index=False
        )
        table = table.cast(
            pa.schema(
                [
                    (f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                    for f in table.schema
                ]
            )
        )
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    writer.close()


def peak_memory(project: Path, scratch: Path, sizes=(1_000_000, 10_000_000)) -> list[dict]:
    measured = {}
    scratch.mkdir(parents=True, exist_ok=True)
    for rows in sizes:
        source = scratch / f"rows-{rows}.csv"
        write_csv(source, rows)
        out = scratch / f"scored-{rows}.parquet"
        start = time.perf_counter()
        process = subprocess.Popen(
            [*DOCKYARD, "predict", str(source), "-o", str(out)],
            cwd=project,
            env=project_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        stderr = process.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"dockyard predict failed on {rows:,} rows:\n{stderr}")
        measured[rows] = {
            "peak_mb": usage.ru_maxrss / 1024,
            "seconds": seconds,
            "csv_mb": source.stat().st_size / 1e6,
            "summary": stderr.strip().splitlines()[-1],
        }
        source.unlink()
        out.unlink()
    small, large = (measured[n]["peak_mb"] for n in sizes)
    ratio = large / small
    return [
        row(
            "b",
            f"peak memory (max RSS) of `dockyard predict` on a {sizes[1]:,}-row CSV "
            f"({measured[sizes[1]]['csv_mb']:,.0f} MB) vs {sizes[0]:,} rows",
            round(large),
            round(small),
            "MB",
            ratio,
            "< 1,024 MB and flat (ratio <= 1.1)",
            large < 1024 and ratio <= 1.1,
            f"the same command on {sizes[0]:,} rows",
            {str(k): v for k, v in measured.items()},
        )
    ]


# ----------------------------------------------------------------------------- c, d: HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def started(command: list[str], cwd: Path, port: int, health: str, timeout: float = 180):
    log = open(cwd / f"server-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=project_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise SystemExit(
                    f"{command[:4]} exited:\n{(cwd / f'server-{port}.log').read_text()}"
                )
            try:
                status, _ = asyncio.run(_one("127.0.0.1", port, _request("GET", health, b"")))
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{command[:4]} did not start in {timeout} s")
            time.sleep(0.3)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _request(method: str, path: str, body: bytes, kind: str = "application/json") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
    }
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _one(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    answer = await _read_response(reader)
    writer.close()
    return answer


async def _load(
    port: int, request: bytes, total: int, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = [total]

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status, body = await _read_response(reader)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise SystemExit(f"status {status}: {body[:300]!r}")
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


def load_test(port: int, single: bytes, large: bytes) -> dict[str, float]:
    asyncio.run(_load(port, single, 100, 1))  # warm-up
    asyncio.run(_load(port, large, 3, 1))
    sequential, seconds = asyncio.run(_load(port, single, SEQUENTIAL, 1))
    _, concurrent_s = asyncio.run(_load(port, single, CONCURRENT, CONCURRENCY))
    big, _ = asyncio.run(_load(port, large, LARGE, 1))
    ordered = sorted(sequential)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "rps_sequential": SEQUENTIAL / seconds,
        "rps_concurrent": CONCURRENT / concurrent_s,
        "large_ms": 1000 * statistics.median(big),
    }


def dockyard_server(project: Path, runtime: str, rows: Any) -> dict[str, float]:
    port = free_port()
    records = json.loads(rows.to_json(orient="records"))
    single = _request("POST", "/predict", json.dumps(records[:1]).encode())
    large = _request("POST", "/predict", json.dumps(records[:LARGE_ROWS]).encode())
    command = [*DOCKYARD, "serve", "--model", MODEL, "--port", str(port), "--runtime", runtime]
    with started(command, project, port, "/health"):
        return load_test(port, single, large)


def mlflow_server(project: Path, scratch: Path, rows: Any) -> dict[str, float]:
    """The same network under MLflow's scoring server, fed ready-made features."""
    import mlflow.pytorch
    import pandas as pd
    import torch
    from mlflow.models import infer_signature

    from dockyard.models.artifact import load_model

    artifact = load_model(project / MODEL)
    features = pd.DataFrame(artifact.transform.features(rows), columns=artifact.card["features"])
    with torch.inference_mode():
        example_out = artifact.net(torch.from_numpy(features.head(5).to_numpy())).numpy()
    signature = infer_signature(features.head(5), example_out)
    path = scratch / "mlflow-model"
    mlflow.pytorch.save_model(
        artifact.net, str(path), signature=signature, serialization_format="pickle"
    )
    port = free_port()

    def body(n: int) -> bytes:
        split = json.loads(features.head(n).to_json(orient="split", index=False))
        return _request("POST", "/invocations", json.dumps({"dataframe_split": split}).encode())

    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        str(path),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with started(command, project, port, "/ping"):
        return load_test(port, body(1), body(LARGE_ROWS))


def serving(project: Path, scratch: Path, with_mlflow: bool = True) -> list[dict]:
    rows = raw_table(LARGE_ROWS, seed=3)
    results = {rt: dockyard_server(project, rt, rows) for rt in ("torch", "onnx")}
    mlflow = mlflow_server(project, scratch, rows) if with_mlflow else None
    out = []
    base = "MLflow scoring server, same network, ready-made features" if mlflow else "-"
    for runtime, got in results.items():
        theirs = mlflow or {}
        for measure, key, unit, goal, better in (
            ("single-row latency p50, sequential", "p50_ms", "ms", "< 3 ms", lambda v, _: v < 3),
            ("single-row latency p99, sequential", "p99_ms", "ms", "< 10 ms", lambda v, _: v < 10),
            ("single-row requests/s, sequential", "rps_sequential", "req/s", "-", None),
            (
                f"single-row requests/s, concurrency {CONCURRENCY}",
                "rps_concurrent",
                "req/s",
                ">= 10x MLflow",
                lambda v, t: t is not None and v >= 10 * t,
            ),
            (
                f"one {LARGE_ROWS:,}-row request (median of {LARGE})",
                "large_ms",
                "ms",
                "faster than MLflow",
                lambda v, t: t is not None and v < t,
            ),
        ):
            ours, other = got[key], theirs.get(key)
            ratio = None if other is None else (ours / other if unit == "req/s" else other / ours)
            out.append(
                row(
                    "c" if runtime == "torch" else "c-onnx",
                    f"serve ({runtime}): {measure}",
                    round(ours, 2),
                    None if other is None else round(other, 2),
                    unit,
                    ratio,
                    goal,
                    None if better is None else bool(better(ours, other)),
                    base,
                    {"dockyard": got, "mlflow": mlflow},
                )
            )
    if mlflow:
        out.append(
            row(
                "d",
                "MLflow scoring server (the peer), all measures",
                None,
                None,
                "-",
                None,
                "-",
                None,
                base,
                mlflow,
            )
        )
    return out


# ----------------------------------------------------------------------------- make bench


def _project(work: Path, state: dict[str, Any]) -> Path:
    """One trained and exported synthetic project, shared by the serving cases of a run."""
    if "serving_project" not in state:
        project = trained_project(work / "serving", 100_000)
        run([*DOCKYARD, "export", "--format", "onnx"], project)
        state["serving_project"] = project
    return state["serving_project"]


def batch_case(work: Path, state: dict[str, Any], args: Any) -> list[dict]:
    """Batch prediction from the raw table (validate + transform + predict), 1,000,000 rows
    vs a hand-written numpy transform + torch forward; predict's peak memory, 10M vs 1M rows."""
    project = _project(work, state)
    return batch_throughput(project) + peak_memory(project, work / "serving-memory")


def serve_case(work: Path, state: dict[str, Any], args: Any) -> list[dict]:
    """`dockyard serve` (torch, onnx) under a bounded load test vs MLflow's scoring server."""
    scratch = work / "serving-mlflow"
    scratch.mkdir(exist_ok=True)
    return serving(_project(work, state), scratch, with_mlflow=True)


# ----------------------------------------------------------------------------- main


def table(rows: list[dict]) -> str:
    lines = ["| case | measure | dockyard | baseline | ratio | goal | met |", "|---" * 7 + "|"]
    for r in rows:
        if r["case"] == "d":
            continue
        ours = "-" if r["dockyard"] is None else f"{r['dockyard']:,} {r['unit']}"
        theirs = "-" if r["baseline"] is None else f"{r['baseline']:,} {r['unit']}"
        met = {True: "yes", False: "no", None: "-"}[r["met"]]
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['case']} | {r['measure']} | {ours} | {theirs} | {ratio} | {r['goal']} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="a,b,c,d", help="comma-separated: a,b,c,d")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument(
        "--project", help="reuse a project already trained on data=synthetic (and exported)"
    )
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    if cases - {"a", "b", "c", "d"}:
        raise SystemExit(f"--cases takes a, b, c and d; got {args.cases!r}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="dockyard-serving-") as tmp:
        scratch = Path(tmp)
        started_at = time.perf_counter()
        if args.project:
            project = Path(args.project).resolve()
        else:
            project = trained_project(scratch, args.train_rows)
            run([*DOCKYARD, "export", "--format", "onnx"], project)
        print(f"trained and exported in {time.perf_counter() - started_at:.0f} s", file=sys.stderr)
        if "a" in cases:
            rows += batch_throughput(project)
            print(table(rows), file=sys.stderr)
        if "b" in cases:
            rows += peak_memory(project, scratch)
            print(table(rows), file=sys.stderr)
        if "c" in cases or "d" in cases:
            rows += serving(project, scratch, with_mlflow="d" in cases)
    import torch

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    machine = (
        f"{platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs; peak RSS of this process {peak} MB"
    )
    print(table(rows))
    print(f"\n{machine}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
