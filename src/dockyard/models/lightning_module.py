"""One generic LightningModule for tabular classification and regression."""

from __future__ import annotations

from collections.abc import Callable

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
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.task = task
        self.loss_fn = LOSSES[resolve_loss(loss, task)]
        self.lr = lr
        self.weight_decay = weight_decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.task == "regression" else out

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        out = self(x)
        # sync_dist: under DDP the monitored value averages every rank's share of val
        self.log("val/loss", self.loss_fn(out, y), on_epoch=True, batch_size=len(y), sync_dist=True)
        if self.task == "classification":
            accuracy = (out.argmax(dim=1) == y).float().mean()
            self.log("val/accuracy", accuracy, on_epoch=True, batch_size=len(y), sync_dist=True)
        else:
            mae = (out - y).abs().mean()
            self.log("val/mae", mae, on_epoch=True, batch_size=len(y), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
