"""ONNX export: the exported graph scores like PyTorch, lives beside the DVC-tracked model
folder, and a stale export is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .helpers import clone_reproduced, error_of, run
from .serving_fixtures import MODEL, dockyard, proba

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(reproduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = clone_reproduced(reproduced, tmp_path_factory.mktemp("onnx") / "project")
    result = dockyard(project, "export", "--format", "onnx")
    assert "Wrote models/seed-0.onnx" in result.stdout
    return project


def test_onnx_scores_like_torch_on_the_test_split(exported: Path, tmp_path: Path) -> None:
    outputs = {}
    for runtime in ("torch", "onnx"):
        out = tmp_path / f"{runtime}.parquet"
        dockyard(
            exported,
            "predict",
            "data/prepared/test.parquet",
            "-o",
            str(out),
            "--runtime",
            runtime,
        )
        outputs[runtime] = pd.read_parquet(out)
    torch_proba, onnx_proba = proba(outputs["torch"]), proba(outputs["onnx"])
    assert torch_proba.shape == (359, 10)
    np.testing.assert_allclose(onnx_proba, torch_proba, rtol=0, atol=1e-5)
    assert (outputs["onnx"]["prediction"] == outputs["torch"]["prediction"]).all()


def test_export_leaves_the_dvc_output_unchanged(exported: Path) -> None:
    assert (exported / "models/seed-0.onnx").is_file()
    assert sorted(p.name for p in (exported / MODEL).iterdir()) == [
        "model.json",
        "model.pt",
        "transform.json",
    ]
    status = run(["dvc", "status", "--json"], exported).stdout
    assert "seed-0" not in status, status
    inside = dockyard(
        exported, "export", "--format", "onnx", "--output", f"{MODEL}/model.onnx", check=False
    )
    assert inside.returncode == 2
    record = error_of(inside)
    assert (record["kind"], record["path"]) == ("inside-folder", f"{MODEL}/model.onnx")
    # the one wording check for kind 'inside-folder'
    assert f"is inside {MODEL}, the train stage's DVC output" in inside.stderr


def test_a_stale_or_missing_export_is_refused(exported: Path, tmp_path: Path) -> None:
    import torch

    retrained = exported / "models/retrained"
    shutil.copytree(exported / MODEL, retrained)
    state = torch.load(retrained / "model.pt", weights_only=True)
    state = {k: v + 0.01 for k, v in state.items()}
    torch.save(state, retrained / "model.pt")
    shutil.copy(exported / "models/seed-0.onnx", exported / "models/retrained.onnx")
    args = ["predict", "data/prepared/test.parquet", "-o", str(tmp_path / "x.parquet")]
    stale = dockyard(
        exported, *args, "--model", "models/retrained", "--runtime", "onnx", check=False
    )
    assert stale.returncode == 2
    record = error_of(stale)
    assert (record["kind"], record["path"]) == ("stale-export", "models/retrained.onnx")
    # the one wording check for kind 'stale-export'
    assert "the model was re-trained since" in stale.stderr
    (exported / "models/retrained.onnx").unlink()
    missing = dockyard(
        exported, *args, "--model", "models/retrained", "--runtime", "onnx", check=False
    )
    assert missing.returncode == 2
    record = error_of(missing)
    assert (record["kind"], record["path"]) == ("missing-file", "models/retrained.onnx")
    assert "dockyard export --model models/retrained" in missing.stderr  # the fix, with its value
    assert "Traceback" not in stale.stderr + missing.stderr


def test_serving_with_onnx_runtime(exported: Path) -> None:
    import httpx

    from .serving_fixtures import server

    rows = pd.read_parquet(exported / "data/prepared/test.parquet").head(5)
    with server(exported, "--runtime", "onnx") as url:
        answer = httpx.post(f"{url}/predict", json=rows.to_dict("records"))
        assert answer.status_code == 200
        assert httpx.get(f"{url}/version").json()["runtime"] == "onnx"
    expected = pd.read_parquet(exported / "data/prepared/test.parquet").head(5)["target"]
    assert len(answer.json()["predictions"]) == len(expected)
