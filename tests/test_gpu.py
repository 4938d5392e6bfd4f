"""The GPU path: run by benchmarks/gpu_check.sh on a CUDA machine, skipped elsewhere."""

from __future__ import annotations

import pytest
import torch

from dockyard.config import compose, validate

from .helpers import ROOT

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def breast_cancer_arrays():
    from sklearn.datasets import load_breast_cancer

    from dockyard.data.features import fit_transform
    from dockyard.data.split import split_table

    splits = split_table(
        load_breast_cancer(as_frame=True).frame,
        "target",
        val_fraction=0.15,
        test_fraction=0.2,
        seed=0,
    )
    policy = validate(compose([], ROOT)).featurize
    transform = fit_transform(
        splits["train"], target="target", task="classification", policy=policy
    )
    return {name: (transform.features(t), transform.labels(t)) for name, t in splits.items()}


@pytest.mark.parametrize("precision", ["auto", "bf16-mixed"])
def test_train_on_the_gpu(tmp_path, precision) -> None:
    from dockyard.models.artifact import predict
    from dockyard.models.training import fit

    cfg = validate(
        compose(
            [
                "data=breast_cancer",
                "trainer=gpu",
                f"trainer.precision={precision}",
                "train.epochs=20",
                "trainer.enable_progress_bar=false",
            ],
            ROOT,
        )
    )
    arrays = breast_cancer_arrays()
    result = fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "log"))
    device = result["device"]
    assert device["type"] == "cuda" and device["name"]
    assert device["precision"] == ("32-true" if precision == "auto" else "bf16-mixed")
    assert all(t.device.type == "cpu" for t in result["state"].values())  # saved from the CPU
    from dockyard.models.nets import build_model

    net = build_model(result["net"], arrays["train"][0].shape[1], 2)
    net.load_state_dict(result["state"])
    net.eval()
    x_test, y_test = arrays["test"]
    accuracy = (predict(net, x_test, "classification").argmax(axis=1) == y_test).mean()
    assert accuracy > 0.9
    assert device["table_resident"] is True  # small tables always fit


def test_tables_move_to_the_gpu_once() -> None:
    from dockyard.models.batches import TensorBatches, resident_fits

    batches = TensorBatches(torch.randn(1000, 8), torch.randint(0, 2, (1000,)), 128, shuffle=True)
    assert resident_fits([batches], torch.device("cuda"))
    batches.to("cuda")
    for x, y in batches:
        assert x.device.type == "cuda" and y.device.type == "cuda"
