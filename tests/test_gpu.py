"""The GPU path: run by benchmarks/gpu_check.sh on a CUDA machine, skipped elsewhere.

Besides training on the GPU: the default run is not deterministic and its card says so,
deterministic runs repeat bit for bit, and the step captured in a CUDA graph trains like
the eager step (and falls back to it where it cannot be captured)."""

from __future__ import annotations

import os

import pytest
import pytorch_lightning as pl
import torch

from dockyard.config import compose, validate
from dockyard.models.batches import TensorBatches
from dockyard.models.nets import MLP

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


def gpu_cfg(*overrides: str):
    return validate(
        compose(
            ["data=breast_cancer", "trainer=gpu", "trainer.enable_progress_bar=false", *overrides],
            ROOT,
        )
    )


def separable_arrays(rows: int = 20_000, features: int = 32, seed: int = 0):
    """A table large enough for dozens of steps per epoch, with a partial last batch."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    w = rng.standard_normal(features)
    y = ((x @ w + rng.standard_normal(rows)) > 0).astype(np.int64)
    cut = rows * 4 // 5
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def test_the_default_gpu_run_is_not_deterministic_and_its_card_says_so(
    tmp_path, monkeypatch
) -> None:
    from dockyard.models.artifact import model_card
    from dockyard.models.training import fit

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cfg = gpu_cfg("train.epochs=5")
    arrays = breast_cancer_arrays()
    result = fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "log"))
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ  # no deterministic cuBLAS asked for
    assert not torch.are_deterministic_algorithms_enabled()
    card = model_card(
        cfg, seed=0, result=result, features=[], classes=[0, 1], params_hash="", data={}
    )
    device = card["provenance"]["device"]
    assert device["deterministic"] is False
    assert device["step"] == "captured"  # the default: the step replayed from a CUDA graph


@pytest.mark.parametrize("capture_step", ["false", "auto"])
def test_deterministic_gpu_runs_give_identical_weights(tmp_path, capture_step) -> None:
    from dockyard.models.training import fit

    cfg = gpu_cfg(
        "trainer.deterministic=true",
        f"trainer.capture_step={capture_step}",
        "train.epochs=3",
        "train.batch_size=256",
    )
    train, val = separable_arrays()
    runs = [fit(cfg, train, val, 2, str(tmp_path / f"log{i}")) for i in range(2)]
    assert runs[0]["device"]["deterministic"] is True
    assert runs[0]["device"]["step"] == (
        "captured" if capture_step == "auto" else "eager (trainer.capture_step=false)"
    )
    for name, tensor in runs[0]["state"].items():
        assert torch.equal(tensor, runs[1]["state"][name]), name


@pytest.mark.parametrize(("dropout", "steps"), [(0.0, 0), (0.0, 3), (0.1, 0)])
def test_the_captured_step_trains_like_the_eager_step(tmp_path, dropout, steps) -> None:
    """Same seed, same batches: the graph replays the eager step's kernels. Without dropout
    the weights agree to float tolerance; with it, the validation loss does."""
    from dockyard.models.training import fit

    train, val = separable_arrays()  # 16,000 rows: 31 batches of 512 and one of 128
    results = {}
    for setting in ("false", "auto"):
        cfg = gpu_cfg(
            "trainer.deterministic=true",
            f"trainer.capture_step={setting}",
            f"model.net.dropout={dropout}",
            f"train.steps_per_call={steps}",
            "train.epochs=4",
            "train.batch_size=512",
            "train.early_stopping.patience=4",
        )
        results[setting] = fit(cfg, train, val, 2, str(tmp_path / setting))
    eager, captured = results["false"], results["auto"]
    assert captured["device"]["step"] == "captured"
    assert eager["device"]["step"] == "eager (trainer.capture_step=false)"
    assert captured["training"]["best_score"] == pytest.approx(
        eager["training"]["best_score"], rel=1e-3 if dropout == 0 else 0.05
    )
    if dropout == 0:
        for name, tensor in eager["state"].items():
            torch.testing.assert_close(captured["state"][name], tensor, rtol=1e-4, atol=1e-5)


class SyncingNet(MLP):
    """A forward that reads a value back to the CPU: no graph can hold it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().sum() < 0:  # data-dependent branch: a host sync every step
            x = -x
        return super().forward(x)


def test_a_network_that_syncs_falls_back_to_eager_steps(tmp_path) -> None:
    from dockyard.models.training import fit

    cfg = gpu_cfg(
        "model.net._target_=tests.test_gpu.SyncingNet", "train.epochs=3", "train.batch_size=256"
    )
    train, val = separable_arrays(rows=5000)
    result = fit(cfg, train, val, 2, str(tmp_path / "log"))
    assert result["device"]["step"].startswith("eager (the step waits for the CPU:")
    assert result["training"]["best_score"] < 0.6  # it trained all the same


def _on_cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


class LearningRateToZero(pl.Callback):
    """After the first epoch, set every group's learning rate to 0 as a scheduler would.

    The weights are kept on the CPU: Lightning moves the module back to the CPU when fit
    ends, so the test compares them there, on one device."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.calls: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == 0 and batch_idx in (0, 3):
            self.calls[batch_idx] = _on_cpu(pl_module.net.state_dict())

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 0:
            self.after_first = _on_cpu(pl_module.net.state_dict())
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = 0.0  # assigned as a float: the graph must still see it


def test_a_learning_rate_changed_between_steps_reaches_the_graph() -> None:
    from functools import partial

    from dockyard.models.lightning_module import ResidentTables, TabularTask

    (x, y), (x_val, y_val) = separable_arrays(rows=6000)
    pl.seed_everything(0, verbose=False)
    module = TabularTask(
        MLP(x.shape[1], 2, hidden=[32], dropout=0.0),
        partial(torch.optim.AdamW, lr=0.01),
        task="classification",
        loss="auto",
        batch_size=128,
        capture_step="auto",
    )
    train = TensorBatches(torch.from_numpy(x), torch.from_numpy(y), 128 * 8, shuffle=True)
    val = TensorBatches(torch.from_numpy(x_val), torch.from_numpy(y_val), 1024, shuffle=False)
    zero = LearningRateToZero()
    trainer = pl.Trainer(
        accelerator="gpu",
        devices=1,
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ResidentTables(train, val), zero],
    )
    trainer.fit(module, train, val)
    assert module.step_path == "captured"
    assert trainer.current_epoch == 3  # two epochs of replays ran after the change
    final = _on_cpu(module.net.state_dict())
    # calls of 8 steps: the first holds the 3 warm-up steps and the capture; calls 2 to 4
    # are 24 replays of full batches, and they moved the weights ...
    assert any(not torch.equal(zero.calls[0][k], zero.calls[3][k]) for k in final)
    # ... while with the learning rate at 0 the replays of epochs 2 and 3 left them alone
    for name, tensor in final.items():
        assert torch.equal(tensor, zero.after_first[name]), name
