"""Networks as plain nn.Modules, built from `model.net` with hydra's instantiate.

The contract for any network, dockyard's or yours: the constructor takes
`in_features` and `out_features` keyword arguments (plus its own settings from the
config) and `forward` maps a float batch (batch, in_features) to logits
(batch, out_features). Point `model.net._target_` at your class to use it.
This module imports torch only (no Lightning), so evaluation and prediction stay light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dockyard.errors import ConfigError


class MLP(nn.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (128, 64),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Linear(nn.Module):
    """Logistic regression (softmax over one linear layer): the baseline."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.layer = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class SmallCNN(nn.Module):
    """Two conv blocks over rows reshaped to `image_shape` (channels, height, width)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        image_shape: Sequence[int],
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        shape = tuple(int(v) for v in image_shape)
        if len(shape) != 3 or shape[0] * shape[1] * shape[2] != in_features:
            raise ConfigError(
                f"model.net.image_shape {list(shape)} does not fit the {in_features} feature "
                "columns (channels x height x width must equal the number of features). "
                "Fix data.image_shape in conf/data/.",
                kind="shape-mismatch",
                key="data.image_shape",
            )
        self.image_shape = shape
        blocks: list[nn.Module] = []
        width = shape[0]
        for size in channels:
            blocks += [
                nn.Conv2d(width, size, kernel_size=3, padding=1),
                nn.BatchNorm2d(size),
                nn.ReLU(),
            ]
            width = size
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(2))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * 4, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, *self.image_shape)))


def build_model(net_cfg: Mapping[str, Any], in_features: int, out_features: int) -> nn.Module:
    """Instantiate `model.net` (any `_target_`) for the given feature and output widths.

    Features arrive already imputed, encoded and scaled by the featurize stage."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    target = net_cfg.get("_target_")
    try:
        net = instantiate(net_cfg, in_features=in_features, out_features=out_features)
    except InstantiationException as error:
        if isinstance(error.__cause__, ConfigError):
            raise error.__cause__ from None
        raise ConfigError(
            f"Could not build model.net ({target}): {str(error).strip().splitlines()[-1]}. "
            "A network's constructor must accept in_features and out_features keyword "
            "arguments plus the other keys under model.net; check them in conf/model/.",
            kind="build-failed",
            key="model.net",
        ) from None
    if not isinstance(net, nn.Module):
        raise ConfigError(
            f"model.net._target_ ({target}) must build a torch.nn.Module, got "
            f"{type(net).__name__}.",
            kind="bad-target",
            key="model.net._target_",
        )
    return net


def count_parameters(net: nn.Module) -> int:
    """Trainable and fixed parameters of a network (what a "wider model" costs)."""
    return int(sum(p.numel() for p in net.parameters()))
