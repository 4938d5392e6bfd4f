"""Training: a Lightning Trainer fitting any network on featurized arrays.

`fit` is what the train stage calls (and the benchmarks and tests call directly): it
builds the network from `model.net`, the optimizer from `train.optimizer`, batches that
are slices of resident tensors, and a Trainer with early stopping and an in-memory copy
of the best epoch's weights, and returns those weights with a summary of the run.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dockyard.config import default_seed
from dockyard.errors import ConfigError, DataError
from dockyard.metrics import CURVES, curve_column, curve_file


def _quiet_lightning() -> None:
    """Drop Lightning's advertisement for its hosted logger; keep every other message."""
    import logging

    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def complete_curves(log_dir: str) -> None:
    """Give every curve declared in dvc.yaml a file (header only when the task does not log
    it), so `dvc plots` never reports a missing one."""
    from pathlib import Path

    for name in CURVES:
        path = Path(curve_file(log_dir, name))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"step\t{curve_column(name)}\n", encoding="utf-8")


def on_gpu(cfg: DictConfig) -> bool:
    """Whether the trainer will run on a CUDA GPU."""
    accelerator = str(cfg.trainer.accelerator)
    if accelerator in ("gpu", "cuda"):
        return True
    if accelerator != "auto":
        return False
    import torch

    return torch.cuda.is_available()


def check_accelerator(cfg: DictConfig) -> None:
    """Refuse, before any work, an accelerator this machine lacks: params.yaml is portable
    (compose accepts `trainer=gpu` on a laptop for a GPU runner), so the train stage is
    where the machine is known."""
    import torch

    accelerator = str(cfg.trainer.accelerator)
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    wanted = {
        "gpu": ("GPU (CUDA or Apple MPS)", cuda or mps),
        "cuda": ("CUDA GPU", cuda),
        "mps": ("Apple MPS GPU", mps),
    }
    if accelerator not in wanted or wanted[accelerator][1]:
        return
    device, _ = wanted[accelerator]
    cpu_only = not torch.version.cuda and accelerator != "mps"
    build = f"torch {torch.__version__}" + (", a CPU-only build" if cpu_only else "")
    raise ConfigError(
        f"params.yaml sets trainer.accelerator={accelerator}, but torch sees no {device} on "
        f"this machine ({build}). Train here with `dockyard compose trainer=cpu` (or "
        "trainer.accelerator=auto, which takes a GPU where there is one and the CPU "
        "elsewhere), or run the pipeline on a machine with the GPU.",
        kind="no-device",
        key="trainer.accelerator",
    )


def build_trainer(cfg: DictConfig, **arguments: Any) -> Any:
    """Lightning's Trainer from `trainer` and `arguments`; what Lightning refuses about the
    `trainer` settings on this machine (more devices than it has, a strategy whose package
    is missing) is a config error naming them, not a traceback."""
    from dockyard.models.lightning_import import pl

    refused = (
        pl.utilities.exceptions.MisconfigurationException,
        ValueError,
        TypeError,
        ImportError,
        RuntimeError,
    )
    try:
        return pl.Trainer(**arguments)
    except refused as error:
        reason = " ".join(str(error).split()).rstrip(".") or type(error).__name__
    keys = ("accelerator", "devices", "strategy", "num_nodes", "precision")
    shown = ", ".join(f"{key}={cfg.trainer[key]}" for key in keys)
    raise ConfigError(
        f"Lightning cannot build a Trainer on this machine from params.yaml's trainer "
        f"settings ({shown}): {reason}. Change them in conf/trainer/ or with `dockyard "
        "compose trainer.KEY=VALUE` (trainer=cpu trains on any machine), then run again.",
        kind="trainer-refused",
        key="trainer",
    )


def resolve_precision(cfg: DictConfig) -> str:
    """`trainer.precision`, with `auto` read as the model's `gpu_precision` on a GPU and
    32-true elsewhere (bf16 autocast only pays off where the arithmetic dominates: conv
    nets and wide layers; small MLPs are bound by per-step overhead and run faster in
    fp32)."""
    precision = str(cfg.trainer.precision)
    if precision != "auto":
        return precision
    return str(cfg.model.gpu_precision) if on_gpu(cfg) else "32-true"


def resolve_deterministic(cfg: DictConfig) -> bool:
    """`trainer.deterministic`, with `auto` read as true on a CPU (bit-identical reruns cost
    nothing there) and false on a GPU, where deterministic cuBLAS and kernels cost a third
    of a small model's throughput; GPU runs are then compared through their seed noise."""
    value = cfg.trainer.deterministic
    if isinstance(value, bool):
        return value
    return not on_gpu(cfg)


def many_processes(cfg: DictConfig) -> bool:
    """Whether Lightning will start more than one process (DDP, several devices or nodes)."""
    trainer = cfg.trainer
    devices = trainer.devices
    return trainer.num_nodes > 1 or (
        "ddp" in str(trainer.strategy)
        or (isinstance(devices, int) and (devices > 1 or devices == -1))
        or (isinstance(devices, str) and devices not in ("1", "auto"))
        or (not isinstance(devices, (int, str)) and len(devices) > 1)
    )


GPU_MIN_STEPS = 64  # per call on a GPU: Lightning's ~1 ms per call under 2% of eager steps
GPU_MAX_ROWS_FROM_MIN_STEPS = 1 << 21  # ...but that floor never gathers over ~2M rows a call


def steps_per_call(cfg: DictConfig) -> int:
    """Optimizer steps per call of training_step: `train.steps_per_call`, or with 0 (auto)
    enough batches for about 8,192 rows (32,768 on a GPU, where a step is cheaper), so
    Lightning's fixed per-call cost stays a small share of the work. On a GPU at least 64
    steps (fewer only past ~2M rows a call): a GPU step costs about the same whatever the
    batch size, so Lightning's per-call cost must be spread over steps, not rows. Always 1
    with more than one process (DDP). The result does not depend on it: the same batches,
    in the same order, give the same weights."""
    if many_processes(cfg):
        return 1
    if cfg.train.steps_per_call > 0:
        return int(cfg.train.steps_per_call)
    batch = cfg.train.batch_size
    if not on_gpu(cfg):
        return max(1, 8192 // batch)
    floor = min(GPU_MIN_STEPS, GPU_MAX_ROWS_FROM_MIN_STEPS // batch)
    return max(1, 32_768 // batch, floor)


def validation_batch_size(cfg: DictConfig, steps: int) -> int:
    """Rows per validation batch: as many as a training call (no gradients to keep, and each
    batch costs Lightning's per-call overhead), up to 65,536 rows of activations."""
    batch = cfg.train.batch_size
    return min(max(batch * steps, 1024), max(batch, 65_536))


def _trainer_arguments(cfg: DictConfig, deterministic: bool) -> dict[str, Any]:
    args = OmegaConf.to_container(cfg.trainer, resolve=True)
    args.pop("capture_step", None)  # dockyard's own setting, not a Trainer argument
    args["precision"] = resolve_precision(cfg)
    args["deterministic"] = deterministic
    return args


def fit(
    cfg: DictConfig,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    n_outputs: int,
    log_dir: str,
    seed: int | None = None,
    hparams: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on featurized arrays; return the best weights, training summary and device.

    `seed` seeds Lightning and the batch order (default: the first of `seeds`). The
    training curves go to `log_dir` (DVCLive) and to any loggers `logger` adds."""
    check_accelerator(cfg)
    deterministic = resolve_deterministic(cfg)
    if deterministic and on_gpu(cfg):
        # deterministic cuBLAS; must be set before the first CUDA call
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    from hydra.utils import instantiate

    from dockyard.models.batches import TensorBatches
    from dockyard.models.lightning_import import pl
    from dockyard.models.lightning_module import BestWeights, ResidentTables, TabularTask
    from dockyard.models.loggers import build_loggers
    from dockyard.models.nets import build_model, count_parameters
    from dockyard.models.trial import pruned_epoch, trial_callbacks
    from dockyard.provenance import describe_device

    _quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    # a capturable optimizer also runs a few eager steps (warm-up, partial batches); fused
    # AdamW runs the same kernel either way
    warnings.filterwarnings("ignore", message=".*capturable=True.*without CUDA graph capture.*")
    stopping = cfg.train.early_stopping
    task = cfg.data.task
    if task == "classification" and n_outputs < 2:
        raise DataError(
            f"The training split has a single class in {cfg.data.target!r}; "
            "a classifier needs at least two.",
            kind="single-class",
            column=cfg.data.target,
        )
    # torch needs writable arrays; np.require copies only when the input is read-only
    # (TensorBatches makes the training table row-major itself, once it is on its device)
    x_train, y_train = (np.require(a, requirements="W") for a in train)
    x_val, y_val = (np.require(a, requirements="W") for a in val)

    seed = default_seed(cfg) if seed is None else seed
    pl.seed_everything(seed, workers=True, verbose=False)
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    net = build_model(net_cfg, x_train.shape[1], n_outputs)
    module = TabularTask(
        net,
        instantiate(cfg.train.optimizer),
        task=task,
        loss=cfg.train.loss,
        batch_size=cfg.train.batch_size,
        capture_step=cfg.trainer.capture_step,
    )
    steps = steps_per_call(cfg)
    train_batches = TensorBatches(
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
        cfg.train.batch_size * steps,
        shuffle=True,
        seed=seed,
    )
    val_batches = TensorBatches(
        torch.from_numpy(x_val),
        torch.from_numpy(y_val),
        validation_batch_size(cfg, steps),
        shuffle=False,
    )
    loggers = build_loggers(cfg, log_dir, seed, hparams)
    with tempfile.TemporaryDirectory(prefix="dockyard-ckpt-") as ckpt_dir:
        # the best epoch's weights, kept in memory: no file written and read back per epoch
        best = BestWeights(monitor=stopping.monitor, mode=stopping.mode)
        early_stopping = pl.callbacks.EarlyStopping(
            monitor=stopping.monitor,
            mode=stopping.mode,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
        )
        resident = ResidentTables(train_batches, val_batches)
        # a sweep trial's per-epoch reports to its study (and pruning); outside one, none
        reporting = trial_callbacks(seed, default_seed(cfg))
        trainer = build_trainer(
            cfg,
            **_trainer_arguments(cfg, deterministic),
            max_epochs=cfg.train.epochs,
            logger=loggers.lightning or False,
            callbacks=[best, early_stopping, resident, *reporting],
            log_every_n_steps=1,
            enable_model_summary=False,
            default_root_dir=ckpt_dir,
        )
        trainer.fit(module, train_batches, val_batches)
        if not trainer.is_global_zero:
            # under DDP every process trains; only rank 0 returns the best weights and
            # writes the outputs, so files are written once
            return {"is_global_zero": False}
        module.load_state_dict(best.state)
        training = {
            "epochs_run": int(trainer.current_epoch),
            "best_epoch": best.best_epoch + 1,  # 1-based
            "monitor": stopping.monitor,
            "best_score": float(best.best_score),
        }
        device = describe_device(trainer)
        device["deterministic"] = deterministic
        device["step"] = module.step_path  # "captured" or "eager (reason)"
        if device["type"] == "cuda":
            device["table_resident"] = resident.resident

    complete_curves(log_dir)
    state = {k: v.detach().cpu() for k, v in module.net.state_dict().items()}
    return {
        "is_global_zero": True,
        "state": state,
        "net": net_cfg,
        "parameters": count_parameters(module.net),
        "training": training,
        "device": device,
        "loggers": loggers.finish(),
        "pruned_epoch": pruned_epoch(reporting),  # a sweep's pruner stopped it: not saved
    }
