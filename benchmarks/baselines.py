"""Hand-written references that dockyard's code paths are measured against.

Each does the same work as the dockyard path it is compared with, written the way an
engineer would write it by hand for speed, with nothing else around it. Used by the
suite's cases (`benchmarks/case_*.py`, run by `bench.py`), `serving.py` and
`gpu_check.py` (GPU: `train_loop` and `captured_train_loop`, the same loop with its
whole step in a CUDA graph).
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def train_loop(
    net: Any,
    x: Any,
    y: Any,
    x_val: Any,
    y_val: Any,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int = 0,
    fused: bool = False,
    sync: Any = None,
) -> dict[str, float]:
    """Train `net` with AdamW on tensors already where they should be (CPU or GPU).

    The same work as the train stage: a fresh permutation each epoch, batches cut by
    index, one validation pass per epoch (loss and accuracy) and a copy of the best
    weights. Returns seconds spent and samples per second of training.
    """
    import torch
    from torch.nn import functional as F

    device = x.device
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=lr, weight_decay=weight_decay, **({"fused": True} if fused else {})
    )
    generator = torch.Generator().manual_seed(seed)
    n = len(y)
    best, best_state = float("inf"), None
    if sync:
        sync()
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(n, generator=generator).to(device)
        for first in range(0, n, batch_size):
            rows = order[first : first + batch_size]
            loss = F.cross_entropy(net(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        net.eval()
        total = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        with torch.inference_mode():
            for first in range(0, len(y_val), max(batch_size, 1024)):
                out = net(x_val[first : first + max(batch_size, 1024)])
                labels = y_val[first : first + max(batch_size, 1024)]
                total += F.cross_entropy(out, labels, reduction="sum")
                correct += (out.argmax(dim=1) == labels).sum()
        val_loss = float(total) / len(y_val)  # one host sync per epoch, as Lightning's
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(net.state_dict())
    if sync:
        sync()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "samples_per_s": n * epochs / seconds,
        "best_val_loss": best,
        "best_state": best_state,
    }


def captured_train_loop(
    net: Any,
    x: Any,
    y: Any,
    x_val: Any,
    y_val: Any,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    val_batch_size: int,
    seed: int = 0,
    warmup: int = 3,
) -> dict[str, Any]:
    """The hand-written loop at its ceiling on a CUDA GPU: the whole training step captured
    in one CUDA graph, with the same work per epoch as dockyard's captured training.

    The tables are resident on the GPU (x, y, x_val, y_val are CUDA tensors). Each epoch
    draws a permutation on the GPU; full batches replay one graph that gathers the batch by
    index, runs forward, loss and backward and a fused, capturable AdamW update (the first
    `warmup` steps run eagerly on a side stream, the next is captured: every step is a
    training step); the partial last batch runs eagerly. Then the same validation pass as
    dockyard's: slices of `val_batch_size` rows, loss and accuracy summed on the device and
    read once, and a copy of the best weights. Returns seconds and the best loss.
    """
    import torch
    from torch.nn import functional as F

    device = x.device
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=lr, weight_decay=weight_decay, fused=True, capturable=True
    )
    generator = torch.Generator(device=device).manual_seed(seed)
    rows_buffer = torch.zeros(batch_size, dtype=torch.long, device=device)

    def step(rows: Any) -> None:
        loss = F.cross_entropy(net(x.index_select(0, rows)), y.index_select(0, rows))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    graph, grads, warmed = None, [], 0
    side = torch.cuda.Stream(device)
    n = len(y)
    best, best_state = float("inf"), None
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(n, device=device, generator=generator)
        for first in range(0, n, batch_size):
            rows = order[first : first + batch_size]
            if graph is not None and len(rows) == batch_size:
                rows_buffer.copy_(rows)
                graph.replay()
            elif len(rows) < batch_size:
                step(rows)
            elif warmed < warmup:
                side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(side):
                    step(rows)
                torch.cuda.current_stream(device).wait_stream(side)
                warmed += 1
            else:
                rows_buffer.copy_(rows)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=side):
                    step(rows_buffer)
                grads = [p.grad for p in net.parameters()]  # the graph's own buffers
                graph.replay()  # the step just captured, for this batch
        net.eval()
        sums = torch.zeros(2, device=device)
        with torch.inference_mode():
            for first in range(0, len(y_val), val_batch_size):
                out = net(x_val[first : first + val_batch_size])
                labels = y_val[first : first + val_batch_size]
                correct = (out.argmax(dim=1) == labels).float().sum()
                sums += torch.stack([F.cross_entropy(out, labels) * len(labels), correct])
        val_loss = float(sums[0]) / len(y_val)  # the one read of the epoch
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in net.state_dict().items()}
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    del graph, grads
    return {"seconds": seconds, "best_val_loss": best, "best_state": best_state}


def predict_loop(net: Any, x: Any, batch_size: int) -> float:
    """Seconds for class probabilities of every row of the tensor `x`, batch by batch."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(x), batch_size):
            torch.softmax(net(x[first : first + batch_size]), dim=1)
    return time.perf_counter() - start


def check_table(table: pd.DataFrame, schema: Mapping[str, Any]) -> list[str]:
    """The schema's rules as direct numpy checks: the floor for validation's cost.

    Strict column set, exact dtype, no missing values, finite floats, ge/le bounds and
    allowed values (on category codes for categoricals). Returns the failed rules.
    """
    problems: list[str] = []
    specs = schema["columns"]
    matched: set[str] = set()
    for name, spec in specs.items():
        if spec.get("regex"):
            columns = [c for c in table.columns if re.fullmatch(name, str(c))]
        else:
            columns = [name] if name in table.columns else []
        if not columns:
            problems.append(f"{name}: missing")
        for column in columns:
            matched.add(column)
            series = table[column]
            if str(series.dtype) != spec["dtype"]:
                problems.append(f"{column}: dtype")
                continue
            if isinstance(series.dtype, pd.CategoricalDtype):
                codes = series.cat.codes.to_numpy()
                if (codes < 0).any():
                    problems.append(f"{column}: missing values")
                allowed = set(map(str, spec.get("isin") or series.cat.categories))
                if not {str(c) for c in series.cat.categories} <= allowed:
                    used = series.cat.categories[np.unique(codes[codes >= 0])]
                    if not {str(c) for c in used} <= allowed:
                        problems.append(f"{column}: isin")
                continue
            values = series.to_numpy()
            if values.dtype.kind == "f":
                if not spec.get("nullable") and np.isnan(values).any():
                    problems.append(f"{column}: missing values")
                if np.isinf(values).any():
                    problems.append(f"{column}: finite")
            if spec.get("ge") is not None and (values < spec["ge"]).any():
                problems.append(f"{column}: ge")
            if spec.get("le") is not None and (values > spec["le"]).any():
                problems.append(f"{column}: le")
            if spec.get("isin") is not None and not np.isin(values, spec["isin"]).all():
                problems.append(f"{column}: isin")
    if schema.get("strict", True) and set(map(str, table.columns)) - matched:
        problems.append("unexpected columns")
    return problems


def featurize(table: pd.DataFrame, transform: Any) -> np.ndarray:
    """The fitted transform applied with direct numpy: impute, standardise, one-hot."""
    n = len(table)
    width = len(transform.output_columns)
    out = np.empty((n, width), dtype=np.float32)
    for j, column in enumerate(transform.numeric):
        values = table[column].to_numpy(dtype=np.float64)  # float64 math, as dockyard's
        values = np.where(np.isnan(values), transform.impute[column], values)
        out[:, j] = (values - transform.mean[column]) / transform.scale[column]
    offset = len(transform.numeric)
    out[:, offset:] = 0.0
    rows = np.arange(n)
    for column in transform.categorical:
        known = transform.categories[column]
        series = table[column]
        lookup = np.array(
            [known.index(str(c)) if str(c) in known else -1 for c in series.cat.categories]
            + [known.index(transform.impute[column]) if transform.impute[column] in known else -1],
            dtype=np.int64,
        )
        codes = lookup[series.cat.codes.to_numpy()]
        hit = codes >= 0
        out[rows[hit], offset + codes[hit]] = 1.0
        offset += len(known)
    return out
