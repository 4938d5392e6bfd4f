"""One generic LightningModule for tabular classification and regression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from dockyard.metrics import TRAIN_LOSS, VALIDATION_CURVES

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
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.task = task
        self.loss_fn = LOSSES[resolve_loss(loss, task)]
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

    def on_train_start(self) -> None:
        self._direct = self._direct_steps()

    def _direct_steps(self) -> Any:
        """The step counter to advance when steps may skip Lightning's wrappers, else None.

        With one process and no gradient scaler (fp32, bf16), `loss.backward()` and the
        optimizer's own `step()` do exactly what `manual_backward` and Lightning's
        optimizer wrapper would; the wrappers only add ~0.4 ms of hooks per step. The
        step counter (`trainer.global_step`, the x axis of the training curves) is then
        advanced here. Under DDP, with a scaler (16-mixed), or if this Lightning version
        keeps its counter elsewhere, every step goes through Lightning.
        """
        trainer = self.trainer
        if trainer.world_size != 1 or getattr(trainer.precision_plugin, "scaler", None):
            return None
        loop = getattr(trainer.fit_loop, "epoch_loop", None)
        progress = getattr(getattr(loop, "manual_optimization", None), "optim_step_progress", None)
        if progress is None or not hasattr(progress, "increment_completed"):
            return None
        return progress

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        optimizer = self.optimizers()
        direct = getattr(self, "_direct", None)
        size = self.batch_size or len(y)
        total = self._loss_sum
        for start in range(0, len(y), size):
            rows_x, rows_y = x[start : start + size], y[start : start + size]
            loss = self.loss_fn(self.forward(rows_x), rows_y)
            if direct is not None:
                optimizer.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.optimizer.step()
                direct.increment_ready()
                direct.increment_completed()
            else:
                optimizer.zero_grad(set_to_none=True)
                self.manual_backward(loss)
                optimizer.step()
            total.add_(loss.detach(), alpha=len(rows_y))  # one op, no host sync
        self._rows += len(y)
        steps = -(-len(y) // size)
        if steps > 1:
            # Lightning counts the logging step (the x axis of the curves) per call; count
            # every optimizer step instead, so curves do not depend on steps_per_call.
            loop = self.trainer.fit_loop.epoch_loop
            if hasattr(loop, "_batches_that_stepped"):
                loop._batches_that_stepped += steps - 1

    def on_train_epoch_end(self) -> None:
        mean = self._loss_sum / max(self._rows, 1)
        self.log(TRAIN_LOSS, mean, on_step=False, on_epoch=True, sync_dist=True)

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
        loss_name, second_name = VALIDATION_CURVES[self.task]
        self.log(loss_name, loss, sync_dist=True)
        self.log(second_name, second, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Every setting comes from `train.optimizer` (lr and weight_decay included); the
        # only addition is `fused` on CUDA, and only where the config left it unset.
        extra = {}
        if self.device.type == "cuda" and _takes_fused(self.optimizer_factory):
            extra["fused"] = True  # one kernel for every parameter's update, not one each
        return self.optimizer_factory(self.parameters(), **extra)


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
