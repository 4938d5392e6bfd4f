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
- Row-major rows: a shuffled table is gathered row by row, and from a column-major table
  (as pandas hands one over) a row is one scattered read per feature. Such a table is
  made row-major once, on its device (on a GPU by the GPU, in well under a millisecond;
  on a CPU at the first epoch), and rows are gathered with `index_select`, which copies
  whole rows: on a CPU about ten times faster than `features[rows]` from column-major
  features. The gathered batches are the same contiguous tensors either way. Tables read
  in order (validation) stay as given: their slices, and so their sums, do not change.
- Orders drawn ahead: on a GPU an epoch of captured steps takes milliseconds, while
  drawing a permutation of a million rows on the CPU takes tens of them, and between
  epochs the GPU waits for it. With `draw_ahead` (set by `to()` for a CUDA device) the
  next epoch's order is drawn on a background thread while this epoch runs (and the first
  while Lightning sets up), from the same seeded generator: the same orders, off the
  critical path. torch releases the GIL inside `randperm`, so the thread truly overlaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
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
        self.draw_ahead = False
        self._ahead: tuple[tuple[int, int, int], Future[torch.Tensor | None]] | None = None
        self._drawer: ThreadPoolExecutor | None = None

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def nbytes(self) -> int:
        return self.features.nbytes + self.labels.nbytes

    def to(self, device: torch.device | str) -> TensorBatches:
        """Move the table to `device` (in place; returns self). On a CUDA device the orders
        are drawn ahead, the first one from now on."""
        self.features = self.features.to(device)
        self.labels = self.labels.to(device)
        self._row_major()
        self.draw_ahead = self.device.type == "cuda"
        if self.draw_ahead:
            self._draw_later(self.epoch)
        return self

    def _row_major(self) -> None:
        """Make a shuffled (gathered) table row-major, where it lives; once. Float32 on a
        CPU (featurized tables) through numpy, whose transposing copy takes a third of
        torch's."""
        if not self.shuffle or self.features.is_contiguous():
            return
        if self.features.device.type == "cpu" and self.features.dtype == torch.float32:
            self.features = torch.from_numpy(np.ascontiguousarray(self.features.numpy()))
        else:
            self.features = self.features.contiguous()

    def rows_per_epoch(self) -> int:
        """Rows this process sees per epoch."""
        _, world = _world()
        return len(self.labels) // world if world > 1 else len(self.labels)

    def __len__(self) -> int:
        return -(-self.rows_per_epoch() // self.batch_size)

    def _order(self) -> torch.Tensor | None:
        """This process's row order for the current epoch (None: all rows, in order), on the
        table's device: drawn ahead where it was, else now."""
        key = (self.epoch, *_world())
        ahead, self._ahead = self._ahead, None
        order = ahead[1].result() if ahead is not None and ahead[0] == key else self._draw(*key)
        if self.draw_ahead:
            self._draw_later(self.epoch + 1)
        return None if order is None else order.to(self.device, non_blocking=True)

    def _draw(self, epoch: int, rank: int, world: int) -> torch.Tensor | None:
        """The row order of `epoch` for process `rank` of `world`, on the CPU."""
        n = len(self.labels)
        if not self.shuffle and world == 1:
            return None
        if self.shuffle:
            # Drawn on the CPU so the order depends only on (seed, epoch), whatever the device.
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if world > 1:
            order = order[rank::world][: n // world]
        return order

    def _draw_later(self, epoch: int) -> None:
        """Start drawing `epoch`'s order on the background thread (shuffled tables only)."""
        if not self.shuffle:
            return
        if self._drawer is None:
            self._drawer = ThreadPoolExecutor(1, thread_name_prefix="dockyard-order")
        key = (epoch, *_world())
        self._ahead = (key, self._drawer.submit(self._draw, *key))

    def __iter__(self) -> Iterator[Any]:
        self._row_major()
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
            yield self.features.index_select(0, rows), self.labels.index_select(0, rows)


def resident_fits(tables: list[TensorBatches], device: Any, headroom: float = 3.0) -> bool:
    """Whether `tables` fit on the GPU `device` with `headroom` times their size to spare
    for the model, activations and each batch's gathered copy."""
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    return sum(table.nbytes for table in tables) * headroom < free
