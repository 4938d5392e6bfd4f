"""What the prediction, serving and ONNX tests share: the `dockyard` command, trained
projects built once per session with the real pipeline, and a real server subprocess.

Session caching lives here (not in conftest.py) so that each test module can ask for the
same trained project: the first asks builds it, the others reuse it.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .helpers import compose, customers, make_project, project_env, run

MODEL = "models/seed-0"
# A copy of the customers model whose transform refuses unseen categories.
STRICT_MODEL = "models/strict-seed-0"
_BUILT: dict[str, Path] = {}


def dockyard(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a dockyard command in `project` (the one line to change once cli.py wires them)."""
    return run([sys.executable, "-m", "dockyard.cli", *args], project, check=check)


def customers_project(base: Path) -> Path:
    """A project trained on a customers table (text categories, missing values, string
    labels) whose schema lets `region` take any text, so an unseen region reaches the
    transform; committed, so its model folder matches HEAD's dvc.lock. Do not mutate."""
    if "customers" in _BUILT:
        return _BUILT["customers"]
    project = make_project(base / "customers")
    (project / "data").mkdir(exist_ok=True)
    customers().to_csv(project / "data/customers.csv", index=False)
    run(
        [
            sys.executable,
            "-m",
            "dockyard.cli",
            "data",
            "add",
            "data/customers.csv",
            "--target",
            "label",
        ],
        project,
    )
    config_path = project / "conf/data/customers.yaml"
    config = yaml.safe_load(config_path.read_text())
    del config["schema"]["columns"]["region"]["isin"]  # unseen regions pass the schema
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    compose(project, "data=customers")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "add customers"], project)
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "train on customers"], project)
    strict = project / STRICT_MODEL
    shutil.copytree(project / MODEL, strict)
    transform = json.loads((strict / "transform.json").read_text())
    transform["unknown_category"] = "error"
    (strict / "transform.json").write_text(json.dumps(transform))
    _BUILT["customers"] = project
    return project


def split_rows(project: Path) -> pd.DataFrame:
    """The project's test split as raw rows."""
    return pd.read_parquet(project / "data/prepared/test.parquet")


def proba(table: pd.DataFrame) -> np.ndarray:
    return table[[c for c in table.columns if c.startswith("proba_")]].to_numpy(np.float64)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(project: Path, *args: str, timeout: float = 90.0) -> Iterator[str]:
    """`dockyard serve` on a free port of 127.0.0.1; yields its base URL once /health
    answers, and stops it (SIGTERM, then SIGKILL) afterwards."""
    import httpx

    port = free_port()
    log = open(project / f"serve-{port}.log", "w")  # noqa: SIM115 (closed below)
    command = [sys.executable, "-m", "dockyard.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, *args], cwd=project, env=project_env(), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"dockyard serve exited {process.returncode}:\n"
                    + (project / f"serve-{port}.log").read_text()
                )
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dockyard serve did not answer /health in {timeout} s")
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
