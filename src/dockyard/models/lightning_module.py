"""One generic LightningModule for tabular classification and regression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dockyard.metrics import TRAIN_LOSS, VALIDATION_CURVES
from dockyard.models import capture
from dockyard.models.lightning_import import pl

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

    With `capture_step="auto"` on a GPU, where the settings allow it (see
    `dockyard.models.capture`), the chunks are row indices instead and each step is
    replayed from a CUDA graph that gathers its batch from the resident table.
    `step_path` says which ran: "captured" or "eager (reason)".

    Validation works the same way: with the tables resident on the GPU, Lightning hands
    over the whole validation table as one batch and `validation_step` cuts it into the
    slices it would otherwise have received as batches (`plan_validation`): the same
    sums, with Lightning's per-batch hooks paid once an epoch.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        *,
        task: str,
        loss: str,
        batch_size: int | None = None,
        capture_step: bool | str = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.task = task
        self.loss_fn = LOSSES[resolve_loss(loss, task)]
        self.batch_size = batch_size
        self.capture_step = capture_step
        self.automatic_optimization = False
        self._graphed: capture.GraphedStep | None = None
        self._val_slice: int | None = None  # rows per validation slice (None: whole batches)
        self._eager_path = capture.describe(capture.setting_reason(capture_step, "cpu", "", ""))
        self._announced = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.task == "regression" else out

    @property
    def step_path(self) -> str:
        """The training step that ran: "captured" or "eager (reason)"."""
        return self._graphed.status if self._graphed is not None else self._eager_path

    def on_train_epoch_start(self) -> None:
        # The epoch's loss is summed on the device and logged once at the epoch's end:
        # `self.log` on every step costs as much as the step itself for small networks,
        # and reading the value back each step would add a host sync on a GPU. Zeroed in
        # place: a captured step adds to this very tensor.
        total = getattr(self, "_loss_sum", None)
        if total is not None and total.device == self.device:
            total.zero_()
        else:
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

    def plan_step(self, table: Any, resident: bool) -> None:
        """Choose eager or captured steps once the tables have found their device (called by
        ResidentTables at the start of fit). Captured steps take row indices from `table`
        and gather the batches from its tensors inside the graph."""
        trainer = self.trainer
        reason = capture.eager_reason(
            setting=self.capture_step,
            device_type=self.device.type,
            strategy=_strategy_name(trainer),
            precision=str(trainer.precision),
            resident=resident,
            optimizer=_raw_optimizer(self.optimizers()),
            rows=table.rows_per_epoch(),
            batch_size=self.batch_size,
            counter=self._direct_steps() is not None,
        )
        if reason is not None:
            self._eager_path = capture.describe(reason)
            self._announce(self._eager_path)
            return
        self.use_rows(table)

    def use_rows(self, table: Any) -> None:
        """Take row indices from `table` and gather each batch from its tensors inside the
        step, captured in a CUDA graph where the device allows it (elsewhere every step runs
        eagerly over the same rows, in the same order). Needs one process and no gradient
        scaler: the steps advance Lightning's step counter directly."""
        if self._direct_steps() is None:
            raise RuntimeError("steps from row indices need one process and no gradient scaler")
        self._table = (table.features, table.labels)
        self._loss_sum = torch.zeros((), device=self.device)
        table.rows_only = True
        self._graphed = capture.GraphedStep(
            self._step_rows,
            _raw_optimizer(self.optimizers()),
            self.batch_size,
            self.device,
            on_settled=self._announce,
        )

    def plan_validation(self, tables: Any, resident: bool) -> None:
        """With the validation table resident on the GPU, have it validated as one batch a
        pass, cut here into slices of its batch size (called by ResidentTables at the start
        of fit). The slices, and so the sums and their order, are those of the batches; on
        a GPU each of Lightning's batches costs a few hundred microseconds of hooks and
        bookkeeping while the GPU waits. Elsewhere (a table in host memory, several
        validation tables) batches stay as they are."""
        if not resident or len(tables) != 1 or self._val_slice is not None:
            return
        table = tables[0]
        self._val_slice = table.batch_size
        table.batch_size = max(table.rows_per_epoch(), 1)

    def _announce(self, path: str) -> None:
        """Say once, on a GPU, which step runs (on a CPU it is always eager)."""
        if self._announced or self.device.type != "cuda" or not self.trainer.is_global_zero:
            return
        self._announced = True
        print(f"train: training step {path}", flush=True)

    def _step_rows(self, rows: torch.Tensor) -> None:
        """One whole step on the batch `rows` of the resident table: what the graph captures."""
        features, labels = self._table
        loss = self.loss_fn(
            self.forward(features.index_select(0, rows)), labels.index_select(0, rows)
        )
        optimizer = self._graphed.optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self._loss_sum.add_(loss.detach(), alpha=len(rows))

    def on_train_end(self) -> None:
        if self._graphed is not None:
            self._graphed.finish()

    def _count_steps(self, rows: int, size: int) -> None:
        steps = -(-rows // size)
        if steps > 1:
            # Lightning counts the logging step (the x axis of the curves) per call; count
            # every optimizer step instead, so curves do not depend on steps_per_call.
            loop = self.trainer.fit_loop.epoch_loop
            if hasattr(loop, "_batches_that_stepped"):
                loop._batches_that_stepped += steps - 1

    def training_step(self, batch: Any, _: int) -> None:
        if self._graphed is not None:
            self._graphed_steps(batch)
            return
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
        self._count_steps(len(y), size)

    def _graphed_steps(self, rows: torch.Tensor) -> None:
        """Steps over a chunk of row indices: full batches replay the graph, a partial
        last batch runs eagerly (GraphedStep decides)."""
        size = self.batch_size
        progress = self._direct
        step = self._graphed
        for start in range(0, len(rows), size):
            step(rows[start : start + size])
            progress.increment_ready()
            progress.increment_completed()
        self._rows += len(rows)
        self._count_steps(len(rows), size)

    def on_train_epoch_end(self) -> None:
        mean = self._loss_sum / max(self._rows, 1)
        self.log(TRAIN_LOSS, mean, on_step=False, on_epoch=True, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, device=self.device)  # loss, accuracy or mae
        self._val_rows = 0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        size = self._val_slice or len(y)
        for start in range(0, len(y), size):
            self._validate(x[start : start + size], y[start : start + size])

    def _validate(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add one slice's loss and accuracy (or absolute error) sums, on the device."""
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
        # only additions are `fused` on CUDA and `capturable` where the step may be
        # captured in a CUDA graph, each only where the config left it unset.
        extra = {}
        if self.device.type == "cuda" and _takes(self.optimizer_factory, "fused"):
            extra["fused"] = True  # one kernel for every parameter's update, not one each
        if _takes(self.optimizer_factory, "capturable") and self._may_capture():
            extra["capturable"] = True  # step counters stay on the GPU: no reads back
        return self.optimizer_factory(self.parameters(), **extra)

    def _may_capture(self) -> bool:
        trainer = self.trainer
        return (
            capture.setting_reason(
                self.capture_step,
                self.device.type,
                _strategy_name(trainer),
                str(trainer.precision),
            )
            is None
        )


def _takes(factory: OptimizerFactory, argument: str) -> bool:
    """Whether the optimizer accepts `argument` and the config left it unset."""
    import inspect

    if argument in getattr(factory, "keywords", {}):
        return False
    try:
        return argument in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _raw_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside Lightning's wrapper (the first, if several)."""
    if isinstance(optimizer, list | tuple):
        optimizer = optimizer[0]
    return getattr(optimizer, "optimizer", optimizer)


def _strategy_name(trainer: pl.Trainer) -> str:
    """'single_device', 'ddp', 'fsdp', ... (DDP's class names no `strategy_name`)."""
    strategy = trainer.strategy
    name = getattr(strategy, "strategy_name", None)
    return str(name or type(strategy).__name__.removesuffix("Strategy").lower())


class ResidentTables(pl.Callback):
    """Moves the training and validation tables onto the GPU once, when they fit.

    Batches are then cut on the device (no host-to-device copy per batch). Tables that do
    not fit stay in host memory and each batch is copied as usual. The first table is the
    training table: once its place is settled, the module chooses eager or captured steps
    (`TabularTask.plan_step`) and how to validate on the others (`plan_validation`)."""

    def __init__(self, *tables: Any) -> None:
        self.tables = tables
        self.resident = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._place(pl_module.device)
        if isinstance(pl_module, TabularTask):
            pl_module.plan_step(self.tables[0], self.resident)
            pl_module.plan_validation(self.tables[1:], self.resident)

    def _place(self, device: torch.device) -> None:
        from dockyard.models.batches import resident_fits

        if device.type != "cuda":
            return
        if resident_fits(list(self.tables), device):
            for table in self.tables:
                table.to(device)
            self.resident = True
        else:
            print("train: the table does not fit in GPU memory; batches are copied one by one")


class BestWeights(pl.callbacks.Checkpoint):
    """Keeps the network's weights from the best validation epoch, in memory.

    What a best-only ModelCheckpoint would write to a file at each improvement and read
    back after training, without the file: a copy on the network's own device (on a GPU a
    device-to-device copy, no serialisation). The same rules as ModelCheckpoint with
    `save_top_k=1`: the first validated epoch is kept, later ones only when strictly
    better, and a NaN counts as the worst score. A Checkpoint to Lightning, so it runs
    after the module has logged the epoch's metrics (and Lightning adds no checkpoint of
    its own)."""

    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor = monitor
        self.mode = mode
        self.best_score: torch.Tensor | None = None
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        current = trainer.callback_metrics.get(self.monitor)
        if current is None:
            return
        current = current.detach()
        if torch.isnan(current):
            current = torch.tensor(float("inf" if self.mode == "min" else "-inf"))
        better = torch.lt if self.mode == "min" else torch.gt
        if self.best_score is None or bool(better(current.cpu(), self.best_score.cpu())):
            self.best_score = current
            self.best_epoch = trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
