"""The training step as one CUDA graph: one launch per step instead of about thirty.

A small tabular network on a GPU spends its step launching kernels, not running them:
eager PyTorch pays about a millisecond of Python, dispatch and autograd per step whatever
the batch size, while the kernels of a 72-128-64-2 MLP at batch 512 finish in a fraction
of that. A CUDA graph records the whole step once (the gather of the batch by index from
the table resident on the GPU, forward, loss, backward, the optimizer's update and the
running loss sum) and replays it with one launch: per step the CPU only copies the
batch's row indices into a static buffer and asks for a replay.

`eager_reason` says why a run must stay eager; the model card records it
(`provenance.device.step`: "captured" or "eager (reason)"). `GraphedStep` runs the steps:
the first few eagerly on a side stream with CPU synchronisation made an error (a network
whose forward reads values back, e.g. data-dependent `if`, `.item()` or `nonzero`, is
caught there, before any capture), then one capture, then replays. Anything that fails
falls back to eager steps and says so.

What a graph cannot follow, and how it is handled:
- a batch of another size (the epoch's last, partial one) runs eagerly: the same update
  as eager training, with no padding rows in the mean;
- values frozen into the graph at capture: the optimizer's hyperparameters. The learning
  rate is moved into a tensor on the GPU before capture and kept there, so a scheduler
  (which fills it in place) or code that assigns `group["lr"]` keeps working; betas,
  weight decay and eps are fixed from capture on;
- Python-only state in a network's forward (a counter, `random.random()`) runs once at
  capture and never again: such a network needs `trainer.capture_step=false`;
- hooks on individual steps (`on_before_backward`, `on_before_optimizer_step`) are not
  called, as on dockyard's eager fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

CAPTURED = "captured"
WARMUP_STEPS = 3  # eager steps on the side stream before capture (PyTorch's own examples use 3)
FULL_PRECISION = ("32-true", "64-true")


def setting_reason(setting: Any, device_type: str, strategy: str, precision: str) -> str | None:
    """Why the configuration alone keeps the step eager, or None when it allows a capture.

    Known before the optimizer is built, so the optimizer is made capturable only when a
    capture may follow."""
    if setting is False or str(setting).lower() == "false":
        return "trainer.capture_step=false"
    if device_type != "cuda":
        return "not on a CUDA GPU"
    if strategy != "single_device":
        return f"strategy {strategy}: only single-device training is captured"
    if precision == "16-mixed":
        return "precision 16-mixed: the gradient scaler checks each step for overflow on the CPU"
    if precision not in FULL_PRECISION:
        return f"precision {precision}: only {' and '.join(FULL_PRECISION)} steps are captured"
    return None


def optimizer_reason(optimizer: torch.optim.Optimizer) -> str | None:
    """Why `optimizer` cannot be replayed from a graph, or None when it can.

    Only optimizers built with `capturable=True` keep their step counters on the GPU and
    read no values back; dockyard adds it where `train.optimizer` accepts and leaves it."""
    name = type(optimizer).__name__
    groups = optimizer.param_groups
    if not all("capturable" in group for group in groups):
        return f"{name} has no capturable mode"
    if not all(group["capturable"] for group in groups):
        return f"{name} was built with capturable=False"
    return None


def eager_reason(
    *,
    setting: Any,
    device_type: str,
    strategy: str,
    precision: str,
    resident: bool,
    optimizer: torch.optim.Optimizer,
    rows: int,
    batch_size: int | None,
    counter: bool,
) -> str | None:
    """Why training must run eager steps, or None when the step can be captured.

    `resident`: the training table lives on the GPU (the graph gathers its batches there);
    `rows`: training rows per epoch; `counter`: Lightning's step counter can be advanced
    directly (the graph's steps bypass Lightning's optimizer wrapper, as eager fast steps do).
    """
    reason = setting_reason(setting, device_type, strategy, precision)
    if reason is not None:
        return reason
    if not resident:
        return "the table is not resident on the GPU"
    reason = optimizer_reason(optimizer)
    if reason is not None:
        return reason
    if not batch_size or rows < batch_size:
        return f"{rows} training rows, fewer than one batch of {batch_size}"
    if not counter:
        return "this Lightning version keeps its step counter where dockyard cannot advance it"
    return None


def describe(reason: str | None) -> str:
    """The model card's words for the step that ran."""
    return CAPTURED if reason is None else f"eager ({reason})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


class GraphedStep:
    """Runs training steps given as row indices into a table resident on the GPU.

    `body(rows)` is one complete eager step (gather, forward, loss, zero_grad, backward,
    optimizer step, running loss sum). Full batches run it eagerly for `warmup` steps on a
    side stream (with CPU synchronisation an error: the probe), then capture it once into
    a CUDA graph and replay it from then on; partial batches always run it eagerly.
    These are the training's own steps: nothing is run twice or thrown away.
    """

    def __init__(
        self,
        body: Callable[[torch.Tensor], None],
        optimizer: torch.optim.Optimizer,
        batch_size: int,
        device: torch.device,
        *,
        warmup: int = WARMUP_STEPS,
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        self.body = body
        self.optimizer = optimizer
        self.batch_size = int(batch_size)
        self.device = device
        self.warmup = warmup
        self.on_settled = on_settled
        self.rows = torch.zeros(self.batch_size, dtype=torch.long, device=device)  # static input
        self.stream: Any = None  # the side stream of warm-up and capture
        self.graph: torch.cuda.CUDAGraph | None = None
        self.captured = False
        self.warmed = 0
        # no graph off a CUDA device: every step then runs eagerly, over the same rows
        self.failure: str | None = None if device.type == "cuda" else "not on a CUDA GPU"
        self.finished = False
        self._grads: list[Any] = []
        # The learning rate as a tensor on the GPU: the captured update reads it from there,
        # so a change made between steps reaches the replays (see _sync_lr).
        self._lr: list[torch.Tensor] = []
        if self.failure is None:
            for group in optimizer.param_groups:
                lr = group["lr"]
                if not isinstance(lr, torch.Tensor):
                    lr = torch.tensor(float(lr), dtype=torch.float32, device=device)
                group["lr"] = lr
                self._lr.append(lr)

    @property
    def status(self) -> str:
        if self.failure is not None:
            return describe(self.failure)
        if not self.captured and self.finished:
            return describe(f"training ended within the {self.warmup} warm-up steps")
        return CAPTURED

    def __call__(self, rows: torch.Tensor) -> None:
        if self.graph is not None and len(rows) == self.batch_size:
            self._sync_lr()
            self.rows.copy_(rows)
            self.graph.replay()
        elif self.failure is not None or len(rows) != self.batch_size:
            self.body(rows)
        elif self.warmed < self.warmup:
            self._warm_up(rows)
        else:
            self._capture(rows)

    def _sync_lr(self) -> None:
        """Put a learning rate set since the last step into the tensor the graph reads."""
        for group, lr in zip(self.optimizer.param_groups, self._lr, strict=True):
            value = group["lr"]
            if value is not lr:
                if isinstance(value, torch.Tensor):
                    lr.copy_(value)
                else:
                    lr.fill_(float(value))
                group["lr"] = lr

    def _warm_up(self, rows: torch.Tensor) -> None:
        # On a side stream, as capture will be: libraries set up their per-stream state
        # (cuBLAS workspaces) and the optimizer its moments before capture begins.
        if self.stream is None:
            self.stream = torch.cuda.Stream(self.device)
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)
        mode = torch.cuda.get_sync_debug_mode()
        try:
            with torch.cuda.stream(self.stream):
                torch.cuda.set_sync_debug_mode("error")
                try:
                    self.body(rows)
                finally:
                    torch.cuda.set_sync_debug_mode(mode)
        except RuntimeError as error:
            current.wait_stream(self.stream)
            torch.cuda.synchronize(self.device)
            # A synchronising call raises before its result is used, in practice in the
            # forward: nothing was updated, so the step is run again, eagerly.
            self._settle(f"the step waits for the CPU: {_first_line(error)}")
            self.body(rows)
            return
        current.wait_stream(self.stream)
        self.warmed += 1

    def _capture(self, rows: torch.Tensor) -> None:
        self._sync_lr()
        self.rows.copy_(rows)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                self.body(self.rows)
        except RuntimeError as error:
            del graph
            torch.cuda.synchronize(self.device)
            # Capture records kernels without running them: this step has not happened.
            self.optimizer.zero_grad(set_to_none=True)
            self._settle(f"capture failed: {_first_line(error)}")
            self.body(rows)
            return
        self.graph = graph
        self.captured = True
        # The graph writes the gradients into buffers it allocated at capture; keep them
        # alive even when an eager (partial) step replaces `param.grad`.
        self._grads = [p.grad for group in self.optimizer.param_groups for p in group["params"]]
        self._settle(None)
        graph.replay()  # the step just captured, for this batch

    def _settle(self, failure: str | None) -> None:
        self.failure = failure
        if self.on_settled is not None:
            self.on_settled(self.status)

    def finish(self) -> None:
        """Release the graph and its memory; `status` keeps saying what ran."""
        if self.graph is not None:
            torch.cuda.synchronize(self.device)
            self.optimizer.zero_grad(set_to_none=True)
        self.graph = None
        self._grads = []
        for group, lr in zip(self.optimizer.param_groups, self._lr, strict=False):
            if group["lr"] is lr:
                group["lr"] = float(lr)  # as the optimizer was built
        self.finished = True
