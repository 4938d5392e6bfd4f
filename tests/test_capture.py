"""The captured training step, the parts a CPU runs for real: which settings keep the step
eager and why (the reason goes on the model card), the batches as row indices, and steps
that gather their own batches training exactly like the eager steps. The capture itself
runs in tests/test_gpu.py."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from dockyard.config import compose, validate
from dockyard.models import capture
from dockyard.models.batches import TensorBatches

from .helpers import ROOT


def small_cfg(*overrides: str):
    cfg = compose(
        ["data=breast_cancer", "trainer=cpu", "trainer.enable_progress_bar=false", *overrides],
        ROOT,
    )
    return validate(cfg)


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(3))]


CAPTURABLE = torch.optim.AdamW(_params(), capturable=True)
ALLOWED = {
    "setting": "auto",
    "device_type": "cuda",
    "strategy": "single_device",
    "precision": "32-true",
    "resident": True,
    "optimizer": CAPTURABLE,
    "rows": 10_000,
    "batch_size": 512,
    "counter": True,
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),
        ({"precision": "64-true"}, None),
        ({"setting": False}, "trainer.capture_step=false"),
        ({"device_type": "cpu"}, "not on a CUDA GPU"),
        ({"strategy": "ddp"}, "strategy ddp: only single-device training is captured"),
        (
            {"precision": "16-mixed"},
            "precision 16-mixed: the gradient scaler checks each step for overflow on the CPU",
        ),
        (
            {"precision": "bf16-mixed"},
            "precision bf16-mixed: only 32-true and 64-true steps are captured",
        ),
        ({"resident": False}, "the table is not resident on the GPU"),
        ({"optimizer": torch.optim.SGD(_params(), lr=0.1)}, "SGD has no capturable mode"),
        ({"optimizer": torch.optim.AdamW(_params())}, "AdamW was built with capturable=False"),
        ({"rows": 300}, "300 training rows, fewer than one batch of 512"),
        (
            {"counter": False},
            "this Lightning version keeps its step counter where dockyard cannot advance it",
        ),
    ],
)
def test_settings_that_keep_the_step_eager_say_why(change, reason) -> None:
    found = capture.eager_reason(**{**ALLOWED, **change})
    assert found == reason
    assert capture.describe(found) == ("captured" if reason is None else f"eager ({reason})")


def test_the_optimizer_is_made_capturable_only_where_the_config_leaves_it() -> None:
    from dockyard.models.lightning_module import _takes

    assert _takes(partial(torch.optim.AdamW, lr=0.01), "capturable")
    assert not _takes(partial(torch.optim.AdamW, capturable=False), "capturable")
    assert not _takes(partial(torch.optim.SGD, lr=0.1), "capturable")


def test_fit_on_a_cpu_records_an_eager_step(tmp_path) -> None:
    from sklearn.datasets import load_breast_cancer

    from dockyard.models.lightning_module import TabularTask
    from dockyard.models.training import fit

    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    arrays = (x[:400], y[:400].astype(np.int64)), (x[400:], y[400:].astype(np.int64))
    result = fit(small_cfg("train.epochs=1"), *arrays, 2, str(tmp_path / "log"))
    assert result["device"]["step"] == "eager (not on a CUDA GPU)"
    assert result["device"]["deterministic"] is True  # auto: true on a CPU
    net = torch.nn.Linear(2, 2)
    off = TabularTask(net, torch.optim.AdamW, task="classification", loss="auto")
    assert off.step_path == "eager (trainer.capture_step=false)"


def test_steps_per_call_on_a_gpu_spread_lightning_over_many_steps() -> None:
    """A GPU step costs about the same at any batch size: at least 64 steps a call (fewer
    only past ~2M rows), where 32,768 rows a call would leave 4 at batch 8192."""
    from dockyard.models.training import steps_per_call

    gpu = "trainer=gpu"
    assert steps_per_call(small_cfg("train.batch_size=64", gpu)) == 512
    assert steps_per_call(small_cfg("train.batch_size=512", gpu)) == 64
    assert steps_per_call(small_cfg("train.batch_size=8192", gpu)) == 64
    assert steps_per_call(small_cfg("train.batch_size=65536", gpu)) == 32
    assert steps_per_call(small_cfg("train.batch_size=8192")) == 1  # the CPU as before


def test_row_batches_are_the_rows_of_the_gathered_batches() -> None:
    features = torch.randn(103, 4)
    labels = torch.arange(103)
    gathered = TensorBatches(features, labels, 16, shuffle=True, seed=5)
    rows = TensorBatches(features, labels, 16, shuffle=True, seed=5)
    rows.rows_only = True
    for _ in range(2):  # a new order each epoch, the same on both
        pairs = list(zip(gathered, rows, strict=True))
        assert [len(r) for _, r in pairs] == [16] * 6 + [7]
        for (x, y), r in pairs:
            assert torch.equal(features[r], x) and torch.equal(labels[r], y)


class RowsFromTable(pl.Callback):
    """Switches the module to steps that gather their own batches (as a captured step
    does) once ResidentTables has placed the tables; on a CPU they run eagerly."""

    def __init__(self, table: TensorBatches) -> None:
        self.table = table

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.use_rows(self.table)


def _train(steps: int, rows_mode: bool, x, y, x_val, y_val):
    from dockyard.models.lightning_module import ResidentTables, TabularTask
    from dockyard.models.nets import MLP

    pl.seed_everything(0, verbose=False)
    net = MLP(x.shape[1], 2, hidden=[16, 8], dropout=0.1)  # dropout: the RNG's order counts
    module = TabularTask(
        net,
        partial(torch.optim.AdamW, lr=0.01),
        task="classification",
        loss="auto",
        batch_size=32,
        capture_step="auto",
    )
    train = TensorBatches(x, y, 32 * steps, shuffle=True, seed=0)
    val = TensorBatches(x_val, y_val, 1024, shuffle=False)
    callbacks = [ResidentTables(train, val)]
    if rows_mode:
        callbacks.append(RowsFromTable(train))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(module, train, val)
    return module, trainer


@pytest.mark.parametrize("steps", [1, 3])
def test_steps_from_row_indices_train_exactly_like_eager_steps(steps) -> None:
    """The captured step's body (gather by index, forward, loss, backward, update, loss
    sum) with its partial last batch, run eagerly: the same weights, bit for bit, and the
    same training loss and step count as dockyard's eager steps."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(400, 6, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()  # 400 rows: 12 full batches of 32 and one of 16
    x_val, y_val = x[:64].clone(), y[:64].clone()
    eager, eager_trainer = _train(steps, False, x, y, x_val, y_val)
    rows, rows_trainer = _train(steps, True, x, y, x_val, y_val)
    assert eager.step_path == "eager (not on a CUDA GPU)"
    assert rows.step_path == "eager (not on a CUDA GPU)"  # GraphedStep, eager off a GPU
    assert rows._graphed is not None
    for name, tensor in eager.net.state_dict().items():
        assert torch.equal(tensor, rows.net.state_dict()[name]), name
    assert rows_trainer.global_step == eager_trainer.global_step == 2 * 13
    assert torch.equal(
        rows_trainer.callback_metrics["train/loss"], eager_trainer.callback_metrics["train/loss"]
    )


def test_best_weights_in_memory_are_those_model_checkpoint_would_save(tmp_path) -> None:
    """fit keeps the best epoch's weights in memory rather than in a checkpoint file: the
    same epoch, score and weights as Lightning's ModelCheckpoint(save_top_k=1) beside it."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    from dockyard.models.lightning_module import BestWeights, ResidentTables, TabularTask
    from dockyard.models.nets import MLP

    generator = torch.Generator().manual_seed(2)
    x = torch.randn(300, 6, generator=generator)
    y = (x[:, 0] + 0.8 * torch.randn(300, generator=generator) > 0).long()
    pl.seed_everything(0, verbose=False)
    module = TabularTask(
        MLP(6, 2, hidden=[64, 64], dropout=0.0),
        partial(torch.optim.AdamW, lr=0.01),  # overfits noisy labels: val/loss goes up and down
        task="classification",
        loss="auto",
        batch_size=32,
    )
    train = TensorBatches(x[:200], y[:200], 64, shuffle=True)
    val = TensorBatches(x[200:], y[200:], 100, shuffle=False)
    ours = BestWeights(monitor="val/loss", mode="min")
    reference = ModelCheckpoint(
        dirpath=tmp_path, monitor="val/loss", mode="min", save_top_k=1, save_weights_only=True
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=12,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ours, reference, ResidentTables(train, val)],
    )
    trainer.fit(module, train, val)
    saved = torch.load(reference.best_model_path, weights_only=True)
    assert 0 < saved["epoch"] < 11  # the best epoch is neither the first nor the last
    assert ours.best_epoch == saved["epoch"]
    assert float(ours.best_score) == float(reference.best_model_score)
    for name, tensor in saved["state_dict"].items():
        assert torch.equal(ours.state[name], tensor), name


class ValidateInOnePass(pl.Callback):
    """What ResidentTables does for a validation table resident on the GPU, on a CPU."""

    def __init__(self, table: TensorBatches) -> None:
        self.table = table

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.plan_validation([self.table], resident=True)


def test_validation_in_one_pass_gives_the_sums_of_the_batches() -> None:
    """The whole validation table as one Lightning batch, cut into slices of the batch size
    inside validation_step: the same metrics, bit for bit, from one batch a pass."""
    from dockyard.models.lightning_module import TabularTask
    from dockyard.models.nets import MLP

    generator = torch.Generator().manual_seed(3)
    x = torch.randn(300, 6, generator=generator)
    y = (x[:, 0] - x[:, 2] > 0).long()
    results = []
    for one_pass in (False, True):
        pl.seed_everything(0, verbose=False)
        module = TabularTask(
            MLP(6, 2, hidden=[16], dropout=0.1),
            partial(torch.optim.AdamW, lr=0.01),
            task="classification",
            loss="auto",
            batch_size=32,
        )
        train = TensorBatches(x[:200], y[:200], 64, shuffle=True)
        val = TensorBatches(x[200:], y[200:], 24, shuffle=False)  # 100 rows: 5 batches
        trainer = pl.Trainer(
            accelerator="cpu",
            max_epochs=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[ValidateInOnePass(val)] if one_pass else [],
        )
        trainer.fit(module, train, val)
        results.append((trainer, module, val))
    (batched, _, _), (one, module, val) = results
    assert batched.num_val_batches == [5] and one.num_val_batches == [1]
    assert module._val_slice == 24 and val.batch_size == 100
    for name in ("val/loss", "val/accuracy"):
        assert torch.equal(batched.callback_metrics[name], one.callback_metrics[name]), name
    module.plan_validation([val], resident=True)  # a second fit keeps the slices it had
    assert module._val_slice == 24
