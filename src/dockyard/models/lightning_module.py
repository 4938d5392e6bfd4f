"""One generic LightningModule for classification over any `TabularModel`."""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

OptimizerFactory = Callable[..., torch.optim.Optimizer]


class Classifier(pl.LightningModule):
    """Cross-entropy training; logs `train/loss`, `val/loss` and `val/accuracy` per epoch."""

    def __init__(
        self, model: nn.Module, optimizer: OptimizerFactory, lr: float, weight_decay: float
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.lr = lr
        self.weight_decay = weight_decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val/loss", F.cross_entropy(logits, y), on_epoch=True, batch_size=len(y))
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        self.log("val/accuracy", accuracy, on_epoch=True, batch_size=len(y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
