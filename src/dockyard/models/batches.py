"""Batches of an in-memory table by slicing tensors: no per-row Python, no collate.

A standard DataLoader calls `__getitem__` once per row and then collates; for small
tabular models that overhead dominates the step (Lightning with such a loader reaches
about a quarter of a hand-written loop's throughput). `TensorBatches` instead holds the
whole table as two tensors and answers each step with one index operation on a
shuffled permutation, the way a hand-written loop does.

- Device residency: `to(device)` moves the table once (the train stage does this on a
  GPU when the table fits), after which batches are cut on the device and Lightning's
  per-batch host-to-device copy is a no-op.
- DDP: each epoch every process draws the same permutation (seeded by seed and epoch)
  and takes every `world_size`-th row from its rank on, truncated to equal shares, so
  the processes see disjoint rows and the same number of steps. The process group is
  read when iteration starts, so one object serves one process or many.
- Row indices only: with `rows_only` set (by a training step captured in a CUDA graph,
  which gathers its batches from the resident table itself) each batch is the index
  tensor of its rows, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def _world() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class TensorBatches:
    """An iterable of (features, labels) batches over tensors; one pass is one epoch."""

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
    ) -> None:
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.features = features
        self.labels = labels
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self.rows_only = False

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def nbytes(self) -> int:
        return self.features.nbytes + self.labels.nbytes

    def to(self, device: torch.device | str) -> TensorBatches:
        """Move the table to `device` (in place; returns self)."""
        self.features = self.features.to(device)
        self.labels = self.labels.to(device)
        return self

    def rows_per_epoch(self) -> int:
        """Rows this process sees per epoch."""
        _, world = _world()
        return len(self.labels) // world if world > 1 else len(self.labels)

    def __len__(self) -> int:
        return -(-self.rows_per_epoch() // self.batch_size)

    def _order(self) -> torch.Tensor | None:
        """This process's row order for the current epoch (None: all rows, in order)."""
        rank, world = _world()
        n = len(self.labels)
        if not self.shuffle and world == 1:
            return None
        if self.shuffle:
            # Drawn on the CPU so the order depends only on (seed, epoch), whatever the device.
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if world > 1:
            order = order[rank::world][: n // world]
        return order.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        self.epoch += 1
        size = self.batch_size
        if self.rows_only:
            if order is None:
                order = torch.arange(len(self.labels), device=self.device)
            for start in range(0, len(order), size):
                yield order[start : start + size]
            return
        if order is None:
            for start in range(0, len(self.labels), size):
                yield self.features[start : start + size], self.labels[start : start + size]
            return
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            yield self.features[rows], self.labels[rows]


def resident_fits(tables: list[TensorBatches], device: Any, headroom: float = 3.0) -> bool:
    """Whether `tables` fit on the GPU `device` with `headroom` times their size to spare
    for the model, activations and each batch's gathered copy."""
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    return sum(table.nbytes for table in tables) * headroom < free
