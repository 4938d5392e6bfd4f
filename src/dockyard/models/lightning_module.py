"""One generic LightningModule for tabular classification and regression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

OptimizerFactory = Callable[..., torch.optim.Optimizer]

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
}


def resolve_loss(name: str, task: str) -> str:
    if name == "auto":
        return "cross_entropy" if task == "classification" else "mse"
    return name


class TabularTask(pl.LightningModule):
    """Trains any network on feature batches; logs `train/loss` and `val/...` per epoch.

    Classification also logs `val/accuracy`; regression logs `val/mae` (in scaled units).

    Optimisation is manual so that one call of `training_step` can take several optimizer
    steps: the train stage hands Lightning chunks of `steps_per_call` batches and each is
    split here into batches of `batch_size` rows, in order. The batches, the updates and
    the result are those of one step per call; Lightning's per-call overhead (hooks,
    closures, progress bar) is paid once per chunk. Under DDP the train stage passes
    chunks of one batch (each backward must follow its own forward there).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        *,
        task: str,
        loss: str,
        lr: float,
        weight_decay: float,
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.task = task
        self.loss_fn = LOSSES[resolve_loss(loss, task)]
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.automatic_optimization = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.task == "regression" else out

    def on_train_epoch_start(self) -> None:
        # The epoch's loss is summed on the device and logged once at the epoch's end:
        # `self.log` on every step costs as much as the step itself for small networks,
        # and reading the value back each step would add a host sync on a GPU.
        self._loss_sum = torch.zeros((), device=self.device)
        self._rows = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        optimizer = self.optimizers()
        size = self.batch_size or len(y)
        for start in range(0, len(y), size):
            rows_x, rows_y = x[start : start + size], y[start : start + size]
            loss = self.loss_fn(self(rows_x), rows_y)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
            self._loss_sum += loss.detach() * len(rows_y)
        self._rows += len(y)

    def on_train_epoch_end(self) -> None:
        mean = self._loss_sum / max(self._rows, 1)
        self.log("train/loss", mean, on_step=False, on_epoch=True, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, device=self.device)  # loss, accuracy or mae
        self._val_rows = 0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        out = self(x)
        n = len(y)
        if self.task == "classification":
            second = (out.argmax(dim=1) == y).float().sum()
        else:
            second = (out - y).abs().sum()
        self._val_sums += torch.stack([self.loss_fn(out, y).detach() * n, second.detach()])
        self._val_rows += n

    def on_validation_epoch_end(self) -> None:
        # sync_dist: under DDP the monitored value averages every rank's (equal) share
        loss, second = self._val_sums / max(self._val_rows, 1)
        self.log("val/loss", loss, sync_dist=True)
        self.log(
            "val/accuracy" if self.task == "classification" else "val/mae", second, sync_dist=True
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        extra = {}
        if self.device.type == "cuda" and _takes_fused(self.optimizer_factory):
            extra["fused"] = True  # one kernel for every parameter's update, not one each
        return self.optimizer_factory(
            self.parameters(), lr=self.lr, weight_decay=self.weight_decay, **extra
        )


def _takes_fused(factory: OptimizerFactory) -> bool:
    """Whether the optimizer accepts `fused` and the config left it unset."""
    import inspect

    if "fused" in getattr(factory, "keywords", {}):
        return False
    try:
        return "fused" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


class ResidentTables(pl.Callback):
    """Moves the training and validation tables onto the GPU once, when they fit.

    Batches are then cut on the device (no host-to-device copy per batch). Tables that do
    not fit stay in host memory and each batch is copied as usual."""

    def __init__(self, *tables: Any) -> None:
        self.tables = tables
        self.resident = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from dockyard.models.batches import resident_fits

        device = pl_module.device
        if device.type != "cuda":
            return
        if resident_fits(list(self.tables), device):
            for table in self.tables:
                table.to(device)
            self.resident = True
        else:
            print("train: the table does not fit in GPU memory; batches are copied one by one")
