"""train: fit the configured network with a Lightning Trainer; save weights and a model card.

Runs once per training seed (`python -m dockyard.stages.train --seed N`, the train@N stages
of dvc.yaml). Outputs, in models/seed-N/: model.pt (a plain state dict, loadable with
weights_only=True), model.json (how to rebuild the network, the classes, and what produced
it), transform.json (the featurize transform the model expects its input through); and
eval/seeds/N/train/ (DVCLive's per-epoch curves).
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dockyard.config import load_params, params_hash
from dockyard.data.features import FeatureTransform, feature_arrays
from dockyard.errors import ConfigError, DataError, exit_on_user_error
from dockyard.io import atomic_path, write_json
from dockyard.paths import TRANSFORM_FILE, features_path, model_dir, seed_dir
from dockyard.provenance import data_hashes, describe_device, git_commit, library_versions

# The params this stage reads (dvc.yaml lists the same keys).
PARAM_KEYS = ["data.target", "data.task", "model", "trainer", "train"]
CURVES = ("train/loss", "val/loss", "val/accuracy", "val/mae")
MONITORS = {"classification": ("val/loss", "val/accuracy"), "regression": ("val/loss", "val/mae")}


def _quiet_lightning() -> None:
    """Drop Lightning's advertisement for its hosted logger; keep every other message."""
    import logging

    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def _complete_curves(log_dir: str) -> None:
    """Give every curve declared in dvc.yaml a file (header only when the task does not log
    it), so `dvc plots` never reports a missing one."""
    for name in CURVES:
        path = Path(log_dir, "plots", "metrics", f"{name}.tsv")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"step\t{name.rsplit('/', 1)[-1]}\n", encoding="utf-8")


def resolve_precision(cfg: DictConfig) -> str:
    """`trainer.precision`, with `auto` read as the model's `gpu_precision` on a GPU and
    32-true elsewhere (bf16 autocast only pays off where the arithmetic dominates: conv
    nets and wide layers; small MLPs are bound by per-step overhead and run faster in
    fp32)."""
    precision = str(cfg.trainer.precision)
    if precision != "auto":
        return precision
    return str(cfg.model.gpu_precision) if _on_gpu(cfg) else "32-true"


def _on_gpu(cfg: DictConfig) -> bool:
    """Whether the trainer will run on a CUDA GPU."""
    accelerator = str(cfg.trainer.accelerator)
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and _cuda_available())


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# The Lightning functions from which DVCLive's logger writes its files (dvclive.lightning)
_DVCLIVE_SYNC_POINTS = frozenset(
    ("update_train_step_metrics", "update_train_epoch_metrics", "log_eval_end_metrics")
)


def _lightning_syncs() -> bool:
    """Whether the caller runs inside one of `_DVCLIVE_SYNC_POINTS`: DVCLive's own test,
    answered from the frames' code names."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in _DVCLIVE_SYNC_POINTS:
            return True
        frame = frame.f_back
    return False


def _logger(log_dir: str) -> Any:
    """DVCLive's logger (per-epoch curves for `dvc plots`), or none where dvclive is not
    installed (e.g. a bare GPU machine running benchmarks/gpu_check.sh).

    DVCLive's Lightning logger decides whether to write its files with `inspect.stack()`,
    which reads the source of every frame (about 10 ms a call under Lightning here, twice
    an epoch: the default digits train stage took 8.3-8.6 s with it, 6.9-7.9 s without).
    The subclass asks the same question by walking the frames' code names; the files
    written are the same (a test compares them)."""
    try:
        from dvclive.fabric import DVCLiveLogger as FabricLogger
        from dvclive.lightning import DVCLiveLogger
    except ImportError:
        print("train: dvclive is not installed; per-epoch curves are not written")
        return False
    from pytorch_lightning.utilities import rank_zero_only

    class Logger(DVCLiveLogger):
        @rank_zero_only
        def log_metrics(self, metrics: Any, step: int | None = None, sync: bool = False) -> None:
            FabricLogger.log_metrics(self, metrics, step, sync or _lightning_syncs())

    return Logger(dir=log_dir, dvcyaml=False, save_dvc_exp=False, report=None)


def steps_per_call(cfg: DictConfig) -> int:
    """Optimizer steps per call of training_step: `train.steps_per_call`, or with 0 (auto)
    enough batches for about 8,192 rows (32,768 on a GPU, where a step is cheaper), so
    Lightning's fixed per-call cost stays a small share of the work. Always 1 with more
    than one process (DDP). The result does not depend on it: the same batches, in the
    same order, give the same weights."""
    trainer = cfg.trainer
    devices = trainer.devices
    many = trainer.num_nodes > 1 or (
        "ddp" in str(trainer.strategy)
        or (isinstance(devices, int) and (devices > 1 or devices == -1))
        or (isinstance(devices, str) and devices not in ("1", "auto"))
        or (not isinstance(devices, (int, str)) and len(devices) > 1)
    )
    if many:
        return 1
    if cfg.train.steps_per_call > 0:
        return int(cfg.train.steps_per_call)
    rows = 32_768 if _on_gpu(cfg) else 8192
    return max(1, rows // cfg.train.batch_size)


def fit(
    cfg: DictConfig,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    n_outputs: int,
    log_dir: str,
    seed: int | None = None,
) -> dict[str, Any]:
    """Train on featurized arrays; return the best weights, training summary and device.

    `seed` seeds Lightning and the batch order (default: the first of `seeds`)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    from dockyard.models.batches import TensorBatches
    from dockyard.models.lightning_module import ResidentTables, TabularTask
    from dockyard.models.nets import build_model

    _quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    stopping = cfg.train.early_stopping
    task = cfg.data.task
    if stopping.monitor not in MONITORS[task]:
        raise ConfigError(
            f"train.early_stopping.monitor is {stopping.monitor!r}, but {task} training logs "
            f"only {', '.join(MONITORS[task])}. Fix it in conf/config.yaml."
        )
    if task == "classification" and n_outputs < 2:
        raise DataError(
            f"The training split has a single class in {cfg.data.target!r}; "
            "a classifier needs at least two."
        )
    # torch needs writable arrays; np.require copies only when the input is read-only
    x_train, y_train = (np.require(a, requirements="W") for a in train)
    x_val, y_val = (np.require(a, requirements="W") for a in val)

    seed = cfg.seeds[0] if seed is None else seed
    pl.seed_everything(seed, workers=True, verbose=False)
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    net = build_model(net_cfg, x_train.shape[1], n_outputs)
    module = TabularTask(
        net,
        instantiate(cfg.train.optimizer),
        task=task,
        loss=cfg.train.loss,
        lr=cfg.train.lr,
        weight_decay=cfg.train.weight_decay,
        batch_size=cfg.train.batch_size,
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
        # validation batches as large as a training call: no gradients to keep, and each
        # batch costs Lightning's per-call overhead
        max(cfg.train.batch_size * steps, 1024),
        shuffle=False,
    )
    with tempfile.TemporaryDirectory(prefix="dockyard-ckpt-") as ckpt_dir:
        checkpoint = ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="best",
            monitor=stopping.monitor,
            mode=stopping.mode,
            save_top_k=1,
            save_weights_only=True,
        )
        early_stopping = EarlyStopping(
            monitor=stopping.monitor,
            mode=stopping.mode,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
        )
        resident = ResidentTables(train_batches, val_batches)
        trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
        trainer_args["precision"] = resolve_precision(cfg)
        trainer = pl.Trainer(
            **trainer_args,
            max_epochs=cfg.train.epochs,
            deterministic=True,
            logger=_logger(log_dir),
            callbacks=[checkpoint, early_stopping, resident],
            log_every_n_steps=1,
            enable_model_summary=False,
            default_root_dir=ckpt_dir,
        )
        trainer.fit(module, train_batches, val_batches)
        if not trainer.is_global_zero:
            # under DDP every process trains; only rank 0 reads the best checkpoint and
            # writes the outputs, so files are written once
            return {"is_global_zero": False}
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(best["state_dict"])
        training = {
            "epochs_run": int(trainer.current_epoch),
            "best_epoch": int(best.get("epoch", trainer.current_epoch - 1)) + 1,  # 1-based
            "monitor": stopping.monitor,
            "best_score": float(checkpoint.best_model_score),
        }
        device = describe_device(trainer)
        if device["type"] == "cuda":
            device["table_resident"] = resident.resident

    _complete_curves(log_dir)
    state = {k: v.detach().cpu() for k, v in module.net.state_dict().items()}
    return {
        "is_global_zero": True,
        "state": state,
        "net": net_cfg,
        "training": training,
        "device": device,
    }


def seed_argument(description: str) -> int | None:
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, help="training seed (default: the first of `seeds`)")
    return parser.parse_args().seed


@exit_on_user_error
def main() -> None:
    import torch

    seed = seed_argument("Train one model (dvc.yaml runs this once per entry of `seeds`).")
    cfg = load_params()
    seed = cfg.seeds[0] if seed is None else seed
    transform = FeatureTransform.load(TRANSFORM_FILE)
    x_train, y_train, names = feature_arrays(features_path("train"))
    x_val, y_val, _ = feature_arrays(features_path("val"))
    n_outputs = len(transform.classes) if cfg.data.task == "classification" else 1
    log_dir = f"{seed_dir(seed)}/train"
    result = fit(cfg, (x_train, y_train), (x_val, y_val), n_outputs, log_dir, seed=seed)
    if not result["is_global_zero"]:
        return

    out = Path(model_dir(seed))
    out.mkdir(parents=True, exist_ok=True)
    # Saved through a buffer: torch.save names the archive's root folder after the file,
    # and a temporary file's random name would make identical weights differ byte for byte.
    buffer = io.BytesIO()
    torch.save(result["state"], buffer)
    with atomic_path(out / "model.pt") as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    # The transform travels with the model: prediction needs both.
    with atomic_path(out / "transform.json") as tmp:
        shutil.copyfile(TRANSFORM_FILE, tmp)
    card = {
        "task": cfg.data.task,
        "target": cfg.data.target,
        "features": names,
        "outputs": n_outputs,
        "classes": transform.classes,
        "net": result["net"],
        "seed": seed,
        "training": result["training"],
        "provenance": {
            "git_commit": git_commit(),
            "params_hash": "sha256:" + params_hash(cfg, PARAM_KEYS),
            "data": data_hashes([features_path("train"), features_path("val"), TRANSFORM_FILE]),
            "libraries": library_versions(),
            "device": result["device"],
        },
    }
    write_json(card, out / "model.json")
    training = card["training"]
    print(
        f"train (seed {seed}): best {training['monitor']} {training['best_score']:.4f} at epoch "
        f"{training['best_epoch']} of {training['epochs_run']} -> {out}/"
    )


if __name__ == "__main__":
    main()
