"""A user's own network, outside dockyard, used through `model.net._target_`."""

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, in_features: int, out_features: int, width: int = 16) -> None:
        super().__init__()
        self.width = width
        self.body = nn.Sequential(
            nn.Linear(in_features, width), nn.Tanh(), nn.Linear(width, out_features)
        )

    def forward(self, x):
        return self.body(x)
