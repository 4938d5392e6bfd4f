"""The structured config: every key of params.yaml, typed, and the values each accepts.

Defaults live in conf/: a setting conf/ sets is MISSING here, so leaving it out is
reported, never silently filled. The exceptions are optional by nature and their default
means "not given": a schema column's checks (`nullable: false`, no `ge`/`le`/`isin`, not a
key), `data.rows`/`data.window`/`data.image_shape` (None: not a generated table, no
window, not an image) and `logger` (no extra logger).
They are not registered in Hydra's ConfigStore: DVC composes conf/ in its own process,
where dockyard is not imported, so the composed result is checked against them instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

# The values each setting accepts (defaults live in conf/; the dataclasses below only type
# them, so a setting conf/ leaves out is reported as missing, never silently defaulted).
TASKS = ("classification", "regression")
LOSSES = ("auto", "cross_entropy", "mse", "l1", "huber")
MODEL_INPUTS = ("tabular", "image")
DTYPES = (
    "float64",
    "float32",
    "int64",
    "int32",
    "int16",
    "int8",
    "bool",
    "str",
    "category",
    "datetime",
)
NUMERIC_DTYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "bool")
# true and false as a bool column's text may hold them (Arrow's CSV spellings, pandas'
# True/False among them)
BOOLEAN_TEXT = {
    **dict.fromkeys(("true", "True", "TRUE", "1"), 1.0),
    **dict.fromkeys(("false", "False", "FALSE", "0"), 0.0),
}
# Lightning's precision settings dockyard accepts (trainer.precision also takes `auto`).
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
# Lightning's strategy names (its StrategyRegistry, a test compares) that run on these
# accelerators: every one but the TPU/XLA strategies, which need an accelerator dockyard does
# not offer.
STRATEGIES = (
    "auto",
    "single_device",
    *(
        f"{base}{suffix}"
        for base in ("ddp", "ddp_fork", "ddp_notebook", "ddp_spawn")
        for suffix in ("", "_find_unused_parameters_false", "_find_unused_parameters_true")
    ),
    "fsdp",
    "fsdp_cpu_offload",
    "deepspeed",
    "deepspeed_stage_1",
    "deepspeed_stage_2",
    "deepspeed_stage_2_offload",
    "deepspeed_stage_3",
    "deepspeed_stage_3_offload",
    "deepspeed_stage_3_offload_nvme",
)
NUMERIC_IMPUTE = ("median", "mean", "zero")
CATEGORICAL_IMPUTE = ("missing", "most_frequent")
SCALINGS = ("standard", "none")
ENCODINGS = ("onehot", "ordinal")
UNKNOWN_CATEGORY = ("ignore", "error")
# how a datetime column becomes features (data/times.py)
DATETIME_FEATURES = ("parts", "cyclical", "drop")
# random: seeded (stratified where split.stratify); time: the oldest rows train, the next
# validate, the newest test (the schema's time column orders them)
SPLIT_METHODS = ("random", "time")
# The extra experiment loggers of the `logger` group and the package each needs.
LOGGER_PACKAGES = {
    "mlflow": ("mlflow", "mlflow"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "csv": (None, None),
    "wandb": ("wandb", "wandb"),
}

# What makes `dockyard retrain` act on a new batch (monitor.retrain_on): drift in features
# or predictions, decay of a test metric, or every new batch.
RETRAIN_TRIGGERS = ("drift", "decay", "new_batch")
# promotion.primary: `auto` (the task's primary metric) or a metric key; promotion.metrics:
# `all` (every metric whose direction dockyard.metrics knows) or a list of keys.
AUTO, ALL = "auto", "all"

CHOICES: dict[str, tuple[Any, ...]] = {
    "data.task": TASKS,
    "model.input": MODEL_INPUTS,
    "model.gpu_precision": PRECISIONS,
    "trainer.accelerator": ACCELERATORS,
    "trainer.strategy": STRATEGIES,
    "trainer.precision": (*PRECISIONS, "auto"),
    "trainer.deterministic": (True, False, "auto"),
    "trainer.capture_step": (False, "auto"),
    "featurize.numeric_impute": NUMERIC_IMPUTE,
    "featurize.scale": SCALINGS,
    "featurize.categorical_impute": CATEGORICAL_IMPUTE,
    "featurize.encoding": ENCODINGS,
    "featurize.unknown_category": UNKNOWN_CATEGORY,
    "featurize.datetime": DATETIME_FEATURES,
    "split.by": SPLIT_METHODS,
    "train.loss": LOSSES,
    "train.early_stopping.mode": ("min", "max"),
}
# key -> (lowest allowed, whether the lowest is allowed itself)
LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "train.lr": (0.0, False),
    "train.epochs": (0, False),
    "train.batch_size": (0, False),
    "train.steps_per_call": (0, True),
    "train.early_stopping.patience": (0, True),
    "train.early_stopping.min_delta": (0.0, True),
    "trainer.num_nodes": (0, False),
    "data.window": (0, False),
    "monitor.bootstrap": (0, True),
    "monitor.bins": (2, True),
    "monitor.seed": (0, True),
}
# key -> (low, high, whether low is outside, whether high is outside): a finite number in
# that interval, written (0, 1), [0, 1), [0, inf) in refusals
INTERVALS: dict[str, tuple[float, float, bool, bool]] = {
    "monitor.fdr": (0.0, 1.0, True, True),
    "monitor.numeric_threshold": (0.0, math.inf, False, True),
    "monitor.categorical_threshold": (0.0, 1.0, False, False),
    "monitor.missing_threshold": (0.0, 1.0, False, False),
    "monitor.out_of_range_threshold": (0.0, 1.0, False, False),
    "monitor.confidence": (0.0, 1.0, True, True),
    "monitor.alpha": (0.0, 1.0, True, True),
    "promotion.alpha": (0.0, 1.0, True, True),
    "promotion.tolerance": (0.0, 1.0, False, True),
}
# Settings that name a class or function to build (`_target_`).
TARGETS = ("data.source", "model.net", "train.optimizer")


@dataclass
class ExpectedRange:
    """A soft range: the observed one, kept to count values outside it."""

    ge: Any = None
    le: Any = None


@dataclass
class ColumnSpec:
    """One column (or, with regex, every column whose name matches) of a table."""

    dtype: str = MISSING
    nullable: bool = False
    # hard bounds (a value outside is refused): numbers, or ISO dates for a datetime column
    ge: Any = None
    le: Any = None
    # the range seen when the schema was drafted: values outside are counted and reported
    # (validation report, dockyard monitor), never refused
    expect: ExpectedRange | None = None
    isin: list[Any] | None = None
    unique: bool = False
    regex: bool = False
    # +/-inf in a float column is refused unless allowed here
    allow_inf: bool = False
    # an identifier (order id, customer id): checked and carried beside predictions, never
    # a feature
    key: bool = False
    # a datetime column's time zone (e.g. UTC, Europe/Berlin); None: naive times and dates
    tz: str | None = None
    # how a datetime column's text is written, in strftime codes (e.g. '%d/%m/%Y' for
    # 31/12/2024); None: ISO 8601 (2024-12-31). Never guessed: a value in another form is
    # refused.
    format: str | None = None
    # the table's time axis (one datetime column): orders batches and `split.by: time`
    time: bool = False


@dataclass
class SchemaConfig:
    columns: dict[str, ColumnSpec] = MISSING
    # strict: a column the schema does not declare is an error.
    strict: bool = MISSING


@dataclass
class DataConfig:
    name: str = MISSING
    # The file (or folder) ingest reads; dvc.yaml tracks it as a dependency.
    input: str = MISSING
    # Row count, for generated sources (data=synthetic); None for files and bundled tables.
    rows: int | None = None
    # For a dataset kept as a folder of batch files (`dockyard data append`): train on the
    # last N batches only; None trains on all of them.
    window: int | None = None
    source: dict[str, Any] = MISSING
    target: str = MISSING
    task: str = MISSING
    image_shape: list[int] | None = None
    schema: SchemaConfig = MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    input: str = MISSING
    # what `trainer.precision: auto` means on a GPU for this model
    gpu_precision: str = MISSING
    net: dict[str, Any] = MISSING


@dataclass
class TrainerConfig:
    accelerator: str = MISSING
    devices: Any = MISSING
    strategy: str = MISSING
    num_nodes: int = MISSING
    precision: str = MISSING
    # true | false | auto (true on a CPU, false on a GPU)
    deterministic: Any = MISSING
    # the training step as one captured CUDA graph: auto (on a GPU, where the model and
    # settings allow it; eager otherwise) | false (always eager)
    capture_step: Any = MISSING
    enable_progress_bar: bool = MISSING


@dataclass
class FeaturizeConfig:
    numeric_impute: str = MISSING
    scale: str = MISSING
    categorical_impute: str = MISSING
    encoding: str = MISSING
    unknown_category: str = MISSING
    datetime: str = MISSING


@dataclass
class SplitConfig:
    by: str = MISSING
    val_fraction: float = MISSING
    test_fraction: float = MISSING
    stratify: bool = MISSING


@dataclass
class EarlyStoppingConfig:
    monitor: str = MISSING
    mode: str = MISSING
    patience: int = MISSING
    min_delta: float = MISSING


@dataclass
class TrainConfig:
    # the learning rate; train.optimizer reads it (`lr: ${train.lr}`), so -S train.lr=...
    # changes the optimizer, and nothing passes it again at call time
    lr: float = MISSING
    epochs: int = MISSING
    batch_size: int = MISSING
    steps_per_call: int = MISSING
    weight_decay: float = MISSING
    loss: str = MISSING
    optimizer: dict[str, Any] = MISSING
    early_stopping: EarlyStoppingConfig = MISSING


@dataclass
class MonitorConfig:
    """Drift and decay verdicts on a new batch (`monitor` group; conf/monitor/default.yaml
    gives each value's reason, dockyard.drift.DriftPolicy each statistic's)."""

    fdr: float = MISSING
    numeric_threshold: float = MISSING
    categorical_threshold: float = MISSING
    missing_threshold: float = MISSING
    out_of_range_threshold: float = MISSING
    bootstrap: int = MISSING
    bins: int = MISSING
    confidence: float = MISSING
    seed: int = MISSING
    alpha: float = MISSING
    retrain_on: list[str] = MISSING


@dataclass
class PromotionConfig:
    """When a version may enter a stage (`promotion` group; conf/promotion/default.yaml)."""

    stages: list[str] = MISSING
    protected: list[str] = MISSING
    branch: str = MISSING
    # auto (the task's primary metric) or a metric key
    primary: str = MISSING
    floor: float | None = MISSING
    # all, or a list of metric keys
    metrics: Any = MISSING
    alpha: float = MISSING
    tolerance: float = MISSING
    require_clean_validation: bool = MISSING


@dataclass
class Config:
    seed: int = MISSING
    seeds: list[int] = MISSING
    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    trainer: TrainerConfig = MISSING
    split: SplitConfig = MISSING
    featurize: FeaturizeConfig = MISSING
    train: TrainConfig = MISSING
    # extra experiment loggers beside DVCLive: name -> Lightning logger config (`logger` group)
    logger: dict[str, Any] = field(default_factory=dict)
    # the promotion gate's policy (`promotion` group; read by dockyard promote, no stage)
    promotion: PromotionConfig = MISSING
    # drift monitoring's settings (`monitor` group; read by dockyard monitor)
    monitor: MonitorConfig = MISSING


def default_seed(cfg: Any) -> int:
    """The training seed when a caller names none: the first entry of `seeds`."""
    return int(cfg.seeds[0])
