"""train: fit the configured network with a Lightning Trainer; save weights and a model card.

Outputs: models/model.pt (a plain state dict, loadable with weights_only=True),
models/model.json (how to rebuild the network, the classes, and what produced it),
and eval/train/ (DVCLive's per-epoch curves, declared as plots in dvc.yaml).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from dockyard.config import load_params, params_hash
from dockyard.errors import ConfigError, DataError, exit_on_user_error
from dockyard.io import read_table, write_json
from dockyard.paths import MODEL_CARD, MODEL_DIR, MODEL_WEIGHTS, TRAIN_LOG_DIR, split_path
from dockyard.provenance import data_hashes, describe_device, git_commit, library_versions

# The params this stage reads (dvc.yaml lists the same keys).
PARAM_KEYS = ["seed", "data", "model", "trainer", "train"]
MONITORS = ("val/loss", "val/accuracy")


def table_to_arrays(
    table: pd.DataFrame, target: str, classes: list[Any] | None = None
) -> tuple[np.ndarray, np.ndarray, list[Any], list[str]]:
    """Features as float32, labels as class indices (classes sorted, from train if not given)."""
    features = [c for c in table.columns if c != target]
    x = table[features].to_numpy(dtype=np.float32, copy=True)
    values = table[target].to_numpy()
    if classes is None:
        classes = sorted(pd.unique(values).tolist())
    lookup = {value: index for index, value in enumerate(classes)}
    unknown = sorted({v for v in pd.unique(values).tolist() if v not in lookup}, key=str)
    if unknown:
        raise DataError(
            f"Target values {unknown} appear outside the training split, which has only "
            f"{classes}. Every class needs rows in train; use more data or a different seed."
        )
    y = np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
    return x, y, classes, features


def _quiet_lightning() -> None:
    """Drop Lightning's advertisement for its hosted logger; keep every other message."""
    import logging

    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def fit(cfg: DictConfig, train: pd.DataFrame, val: pd.DataFrame, log_dir: str) -> dict[str, Any]:
    """Train; return the best model's state dict, its card and the trainer's summary."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    import pytorch_lightning as pl
    import torch
    from dvclive.lightning import DVCLiveLogger
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    from dockyard.models.batches import TensorTable, batch_loader
    from dockyard.models.lightning_module import Classifier
    from dockyard.models.nets import build_model

    _quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    stopping = cfg.train.early_stopping
    if stopping.monitor not in MONITORS:
        raise ConfigError(
            f"train.early_stopping.monitor is {stopping.monitor!r}, but training logs only "
            f"{', '.join(MONITORS)}. Fix it in conf/config.yaml."
        )
    target = cfg.data.target
    x_train, y_train, classes, features = table_to_arrays(train, target)
    if len(classes) < 2:
        raise DataError(
            f"The training split has a single class ({classes[0]!r}) in {target!r}; "
            "a classifier needs at least two."
        )
    x_val, y_val, _, _ = table_to_arrays(val, target, classes)

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    model = build_model(net_cfg, len(features), len(classes))
    model.standardize.fit(torch.from_numpy(x_train))
    optimizer = instantiate(cfg.train.optimizer)
    module = Classifier(model, optimizer, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)

    train_loader = batch_loader(
        TensorTable(torch.from_numpy(x_train), torch.from_numpy(y_train)),
        cfg.train.batch_size,
        shuffle=True,
        seed=cfg.seed,
    )
    val_loader = batch_loader(
        TensorTable(torch.from_numpy(x_val), torch.from_numpy(y_val)),
        max(cfg.train.batch_size, 1024),
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
        logger = DVCLiveLogger(dir=log_dir, dvcyaml=False, save_dvc_exp=False, report=None)
        trainer = pl.Trainer(
            **OmegaConf.to_container(cfg.trainer, resolve=True),
            max_epochs=cfg.train.epochs,
            deterministic=True,
            logger=logger,
            callbacks=[checkpoint, early_stopping],
            log_every_n_steps=1,
            enable_model_summary=False,
            default_root_dir=ckpt_dir,
        )
        trainer.fit(module, train_loader, val_loader)
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(best["state_dict"])
        best_epoch = int(best.get("epoch", trainer.current_epoch - 1)) + 1  # 1-based
        best_score = float(checkpoint.best_model_score)
        device = describe_device(trainer)
        epochs_run = int(trainer.current_epoch)

    state = {k: v.detach().cpu() for k, v in module.model.state_dict().items()}
    card = {
        "task": cfg.data.task,
        "target": target,
        "features": features,
        "classes": classes,
        "net": net_cfg,
        "training": {
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "monitor": stopping.monitor,
            "best_score": best_score,
        },
    }
    return {"state": state, "card": card, "device": device}


@exit_on_user_error
def main() -> None:
    import torch

    cfg = load_params()
    train = read_table(split_path("train"), produced_by="the split stage")
    val = read_table(split_path("val"), produced_by="the split stage")
    result = fit(cfg, train, val, TRAIN_LOG_DIR)

    os.makedirs(MODEL_DIR, exist_ok=True)
    torch.save(result["state"], MODEL_WEIGHTS)
    card = result["card"]
    card["provenance"] = {
        "git_commit": git_commit(),
        "params_hash": "sha256:" + params_hash(cfg, PARAM_KEYS),
        "data": data_hashes([split_path("train"), split_path("val")]),
        "libraries": library_versions(),
        "device": result["device"],
    }
    write_json(card, MODEL_CARD)
    training = card["training"]
    print(
        f"train: best {training['monitor']} {training['best_score']:.4f} at epoch "
        f"{training['best_epoch']} of {training['epochs_run']} -> {MODEL_DIR}/"
    )


if __name__ == "__main__":
    main()
