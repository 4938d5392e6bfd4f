"""Structured configuration: compose conf/ into params.yaml, and load it back validated.

conf/ stays composable by plain Hydra (DVC composes it in its own process for
`dvc exp run -S ...`, where dockyard is not imported). The dataclasses below are
therefore not registered in Hydra's ConfigStore; instead the composed result is
checked against them here, both by `dockyard compose` and by every stage when it
loads params.yaml. The file is written exactly as DVC writes it
(`OmegaConf.resolve` + `OmegaConf.to_yaml`), so the two never produce spurious diffs.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf import errors as oc_errors

from dockyard.errors import ConfigError

PARAMS_FILE = "params.yaml"
CONFIG_DIR = "conf"
CONFIG_NAME = "config"

TASKS = ("classification", "regression")
LOSSES = ("auto", "cross_entropy", "mse", "l1", "huber")
MODEL_INPUTS = ("tabular", "image")
DTYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "bool", "str", "category")


@dataclass
class ColumnSpec:
    """One column (or, with regex, every column whose name matches) of a table."""

    dtype: str = "float64"
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    isin: list[Any] | None = None
    unique: bool = False
    regex: bool = False
    # +/-inf in a float column is refused unless allowed here
    allow_inf: bool = False


@dataclass
class SchemaConfig:
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    # strict: a column the schema does not declare is an error.
    strict: bool = True


@dataclass
class DataConfig:
    name: str = "???"
    # The file (or folder) ingest reads; dvc.yaml tracks it as a dependency.
    input: str = "???"
    # Row count, for generated sources (data=synthetic); None for files and bundled tables.
    rows: int | None = None
    source: dict[str, Any] = field(default_factory=dict)
    target: str = "target"
    task: str = "classification"
    image_shape: list[int] | None = None
    schema: SchemaConfig = field(default_factory=SchemaConfig)


@dataclass
class ModelConfig:
    name: str = "???"
    input: str = "tabular"
    # what `trainer.precision: auto` means on a GPU for this model
    gpu_precision: str = "32-true"
    net: dict[str, Any] = field(default_factory=dict)


# Lightning's precision settings dockyard accepts (trainer.precision also takes `auto`).
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


@dataclass
class TrainerConfig:
    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    enable_progress_bar: bool = True


@dataclass
class FeaturizeConfig:
    numeric_impute: str = "median"
    scale: str = "standard"
    categorical_impute: str = "missing"
    encoding: str = "onehot"
    unknown_category: str = "ignore"


@dataclass
class SplitConfig:
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    stratify: bool = True


@dataclass
class EarlyStoppingConfig:
    monitor: str = "val/loss"
    mode: str = "min"
    patience: int = 10
    min_delta: float = 0.0


@dataclass
class TrainConfig:
    lr: float = 1e-3
    epochs: int = 50
    batch_size: int = 64
    steps_per_call: int = 0
    weight_decay: float = 0.0
    loss: str = "auto"
    optimizer: dict[str, Any] = field(
        default_factory=lambda: {"_target_": "torch.optim.AdamW", "_partial_": True}
    )
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class Config:
    seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    featurize: FeaturizeConfig = field(default_factory=FeaturizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- compose


def compose(overrides: list[str] | None = None, root: str | Path = ".") -> DictConfig:
    """Compose conf/ with Hydra overrides, resolved, exactly as DVC's Hydra integration does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import (
        ConfigCompositionException,
        HydraException,
        MissingConfigException,
        OverrideParseException,
    )

    overrides = list(overrides or [])
    config_dir = (Path(root) / CONFIG_DIR).resolve()
    if not (config_dir / f"{CONFIG_NAME}.yaml").is_file():
        raise ConfigError(
            f"Expected the root config at {config_dir / (CONFIG_NAME + '.yaml')}, but it does not "
            "exist. Run dockyard from the project root (the folder holding dvc.yaml and conf/)."
        )
    try:
        with initialize_config_dir(str(config_dir), version_base=None):
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=overrides)
        OmegaConf.resolve(cfg)
    except MissingConfigException as error:
        raise _missing_option_error(error, config_dir) from None
    except OverrideParseException as error:
        raise ConfigError(
            f"Could not parse the override {error.override!r}: {_parse_reason(error)}. "
            "Overrides use Hydra's syntax: key=value (train.lr=0.01) or group=option (model=cnn)."
        ) from None
    except ConfigCompositionException as error:
        cause = error.__cause__
        if isinstance(cause, oc_errors.ConfigKeyError | oc_errors.ConfigAttributeError):
            key = str(cause.full_key)
            culprit = next((o for o in overrides if o.lstrip("+~").startswith(key)), key)
            raise _unknown_key_error(key, config_dir, source=f"override '{culprit}'") from None
        raise ConfigError(f"Could not compose conf/: {_first_line(error)}") from None
    except (HydraException, oc_errors.OmegaConfBaseException) as error:
        raise ConfigError(f"Could not compose conf/: {_first_line(error)}") from None
    return cfg


def validate(cfg: DictConfig | dict, source: str = PARAMS_FILE) -> DictConfig:
    """Check keys, types and values against the structured config; return a typed copy."""
    schema = OmegaConf.structured(Config)
    try:
        merged = OmegaConf.merge(schema, cfg)
    except (oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError) as error:
        raise _unknown_key_error(error.full_key, None, source=source) from None
    except oc_errors.ConfigTypeError as error:
        raise ConfigError(
            f"{source}: '{error.full_key or '(top level)'}' has the wrong shape: "
            f"{_first_line(error)}. Expected {_expected_type(error.full_key or '')}. Compare it "
            "with conf/ and run `dockyard compose` again."
        ) from None
    except oc_errors.ValidationError as error:
        raise ConfigError(
            f"{source}: '{error.full_key}' has the wrong type: {_first_line(error)}. "
            f"Expected {_expected_type(error.full_key)}. Fix the value in conf/ (or in your "
            "override) and run `dockyard compose` again."
        ) from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        raise ConfigError(
            f"{source}: required key(s) {', '.join(missing)} have no value. Set them in conf/ "
            "and run `dockyard compose` again."
        )
    _check_values(merged, source)
    return merged


def _check_values(cfg: DictConfig, source: str) -> None:
    def choice(key: str, value: Any, options: tuple[str, ...]) -> None:
        if value not in options:
            raise ConfigError(
                f"{source}: '{key}' is {value!r}, expected one of: {', '.join(options)}."
            )

    choice("data.task", cfg.data.task, TASKS)
    seeds = list(cfg.seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ConfigError(
            f"{source}: 'seeds' must be a non-empty list of distinct non-negative integers "
            f"(one training run each), found {seeds}. Example: seeds: [0, 1, 2, 3, 4]."
        )
    choice("model.input", cfg.model.input, MODEL_INPUTS)
    choice("train.early_stopping.mode", cfg.train.early_stopping.mode, ("min", "max"))
    choice("train.loss", cfg.train.loss, LOSSES)
    if cfg.data.task == "regression" and cfg.train.loss == "cross_entropy":
        raise ConfigError(
            f"{source}: train.loss is 'cross_entropy', but data={cfg.data.name} is a regression "
            "task. Use mse, l1, huber or auto."
        )
    if cfg.data.task == "classification" and cfg.train.loss not in ("auto", "cross_entropy"):
        raise ConfigError(
            f"{source}: train.loss is {cfg.train.loss!r}, but data={cfg.data.name} is a "
            "classification task, which trains with cross_entropy (or auto)."
        )
    from dockyard.data.features import CATEGORICAL_IMPUTE, ENCODINGS, NUMERIC_IMPUTE, UNKNOWN

    featurize = cfg.featurize
    choice("featurize.numeric_impute", featurize.numeric_impute, NUMERIC_IMPUTE)
    choice("featurize.scale", featurize.scale, ("standard", "none"))
    choice("featurize.categorical_impute", featurize.categorical_impute, CATEGORICAL_IMPUTE)
    choice("featurize.encoding", featurize.encoding, ENCODINGS)
    choice("featurize.unknown_category", featurize.unknown_category, UNKNOWN)
    for key in ("data.source", "model.net", "train.optimizer"):
        target = OmegaConf.select(cfg, key + "._target_")
        if not isinstance(target, str) or "." not in target:
            raise ConfigError(
                f"{source}: '{key}._target_' must name a class or function by its dotted import "
                f"path (e.g. my_package.nets.MyNet), found {target!r}."
            )
    for name, spec in cfg.data.schema.columns.items():
        choice(f"data.schema.columns.{name}.dtype", spec.dtype, DTYPES)
    split = cfg.split
    for key in ("val_fraction", "test_fraction"):
        if not 0.0 < split[key] < 1.0:
            raise ConfigError(
                f"{source}: 'split.{key}' must be between 0 and 1 (exclusive), found {split[key]}."
            )
    if split.val_fraction + split.test_fraction >= 1.0:
        raise ConfigError(
            f"{source}: split.val_fraction + split.test_fraction must leave rows to train on "
            f"(sum < 1), found {split.val_fraction} + {split.test_fraction}."
        )
    for key in ("lr", "epochs", "batch_size"):
        if cfg.train[key] <= 0:
            raise ConfigError(f"{source}: 'train.{key}' must be positive, found {cfg.train[key]}.")
    for key, value in (
        ("trainer.precision", cfg.trainer.precision),
        ("model.gpu_precision", cfg.model.gpu_precision),
    ):
        allowed = PRECISIONS + (("auto",) if key == "trainer.precision" else ())
        if str(value) not in allowed:
            raise ConfigError(
                f"{source}: '{key}' is {value!r}; expected one of {', '.join(allowed)}."
            )
    if cfg.train.steps_per_call < 0:
        raise ConfigError(
            f"{source}: 'train.steps_per_call' must be 0 (auto) or positive, found "
            f"{cfg.train.steps_per_call}."
        )
    if cfg.model.input == "image":
        shape = cfg.data.image_shape
        if not shape or len(shape) != 3:
            raise ConfigError(
                f"{source}: model={cfg.model.name} takes image-shaped input, but data="
                f"{cfg.data.name} declares no data.image_shape [channels, height, width]. "
                "Choose a tabular model (model=mlp or model=linear) or declare the shape."
            )


# ----------------------------------------------------------------------------- params.yaml


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)


def compose_params(overrides: list[str] | None = None, root: str | Path = ".") -> str:
    """Compose, validate and render params.yaml's text (nothing is written)."""
    cfg = compose(overrides, root)
    validate(
        cfg, source="conf/ composed with " + (" ".join(overrides) if overrides else "no overrides")
    )
    return to_yaml(cfg)


def write_params(text: str, path: str | Path = PARAMS_FILE) -> None:
    """Replace params.yaml atomically: a failure never leaves it half written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".params.", suffix=".tmp")
    os.chmod(tmp, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_params(path: str | Path = PARAMS_FILE) -> DictConfig:
    """Read params.yaml and validate it: the only way stages get their settings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Expected {path} (the composed parameters), but it does not exist. "
            "Run `dockyard compose` to write it from conf/."
        )
    try:
        raw = OmegaConf.load(path)
    except Exception as error:  # yaml errors come in several types
        raise ConfigError(f"{path} is not valid YAML: {_first_line(error)}") from None
    return validate(raw, source=str(path))


def params_hash(cfg: DictConfig, keys: list[str] | None = None) -> str:
    """A stable hash of the given params (all when keys is None), for provenance."""
    data = OmegaConf.to_container(cfg, resolve=True)
    if keys is not None:  # dotted keys, as dvc.yaml lists them
        data = {}
        for key in keys:
            value = OmegaConf.select(cfg, key)
            data[key] = (
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            )
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# ----------------------------------------------------------------------------- messages


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _parse_reason(error: Any) -> str:
    lines = str(error).strip().splitlines()
    return lines[1] if len(lines) > 1 else lines[0]


def _missing_option_error(error: Any, config_dir: Path) -> ConfigError:
    missing = str(getattr(error, "missing_cfg_file", "") or "")
    group, _, option = missing.rpartition("/")
    options = sorted(p.stem for p in (config_dir / group).glob("*.yaml")) if group else []
    options = options or sorted(getattr(error, "options", None) or [])
    hint = _did_you_mean(option, options)
    return ConfigError(
        f"Unknown option '{option}' for config group '{group}': there is no "
        f"conf/{group}/{option}.yaml. Valid options for '{group}': {', '.join(options)}.{hint} "
        f"Pick one of them (e.g. {group}={options[0] if options else '...'}) or add "
        f"conf/{group}/{option}.yaml."
    )


def _unknown_key_error(full_key: str, config_dir: Path | None, source: str) -> ConfigError:
    parent, _, key = str(full_key).rpartition(".")
    valid = _fields_at(parent)
    if not parent:
        groups = sorted(p.name for p in config_dir.iterdir() if p.is_dir()) if config_dir else []
        listing = f"Valid top-level keys: {', '.join(valid or [])}"
        listing += f"; config groups: {', '.join(groups)}." if groups else "."
    elif valid is None:
        listing = f"'{parent}' takes no keys of its own."
    else:
        listing = f"Valid keys under '{parent}': {', '.join(valid)}."
    hint = _did_you_mean(key, valid or [], prefix=f"{parent}." if parent else "")
    return ConfigError(
        f"{source}: unknown config key '{full_key}'. {listing}{hint} Fix the key name in "
        "conf/ or in your override (to add a brand-new key on purpose, declare it in "
        "dockyard's structured config first)."
    )


def _did_you_mean(word: str, options: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" Did you mean '{prefix}{close[0]}'?" if close else ""


def _field_type(tp: Any, key: str) -> Any:
    """The declared type of `key` inside type `tp` (dataclass or dict), or None if unknown."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return hints.get(key)
    if origin is dict:
        return typing.get_args(tp)[1]
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _field_type(inner[0], key) if inner else None
    return None


def _type_at(path: str) -> Any:
    tp: Any = Config
    for part in filter(None, path.split(".")):
        tp = _field_type(tp, part)
        if tp is None:
            return None
    return tp


def _fields_at(path: str) -> list[str] | None:
    tp = _type_at(path)
    if dataclasses.is_dataclass(tp):
        return sorted(f.name for f in dataclasses.fields(tp))
    return None


def _expected_type(full_key: str) -> str:
    tp = _type_at(str(full_key))
    if tp is None:
        return "a value of the declared type"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
