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
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf import errors as oc_errors

from dockyard.errors import ConfigError

PARAMS_FILE = "params.yaml"
CONFIG_DIR = "conf"
CONFIG_NAME = "config"

# The values each setting accepts (defaults live in conf/; the dataclasses below only type
# them, so a setting conf/ leaves out is reported as missing, never silently defaulted).
TASKS = ("classification", "regression")
LOSSES = ("auto", "cross_entropy", "mse", "l1", "huber")
MODEL_INPUTS = ("tabular", "image")
DTYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "bool", "str", "category")
NUMERIC_DTYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "bool")
# Lightning's precision settings dockyard accepts (trainer.precision also takes `auto`).
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
NUMERIC_IMPUTE = ("median", "mean", "zero")
CATEGORICAL_IMPUTE = ("missing", "most_frequent")
SCALINGS = ("standard", "none")
ENCODINGS = ("onehot", "ordinal")
UNKNOWN_CATEGORY = ("ignore", "error")
# The extra experiment loggers of the `logger` group and the package each needs.
LOGGER_PACKAGES = {
    "mlflow": ("mlflow", "mlflow"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "csv": (None, None),
    "wandb": ("wandb", "wandb"),
}

CHOICES: dict[str, tuple[Any, ...]] = {
    "data.task": TASKS,
    "model.input": MODEL_INPUTS,
    "model.gpu_precision": PRECISIONS,
    "trainer.accelerator": ACCELERATORS,
    "trainer.precision": (*PRECISIONS, "auto"),
    "trainer.deterministic": (True, False, "auto"),
    "trainer.capture_step": (False, "auto"),
    "featurize.numeric_impute": NUMERIC_IMPUTE,
    "featurize.scale": SCALINGS,
    "featurize.categorical_impute": CATEGORICAL_IMPUTE,
    "featurize.encoding": ENCODINGS,
    "featurize.unknown_category": UNKNOWN_CATEGORY,
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
}
# Settings that name a class or function to build (`_target_`).
TARGETS = ("data.source", "model.net", "train.optimizer")


@dataclass
class ColumnSpec:
    """One column (or, with regex, every column whose name matches) of a table."""

    dtype: str = MISSING
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    isin: list[Any] | None = None
    unique: bool = False
    regex: bool = False
    # +/-inf in a float column is refused unless allowed here
    allow_inf: bool = False
    # an identifier (order id, customer id): checked and carried beside predictions, never
    # a feature
    key: bool = False


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


@dataclass
class SplitConfig:
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
    promotion: dict[str, Any] = field(default_factory=dict)
    # drift monitoring's settings (`monitor` group; read by dockyard monitor)
    monitor: dict[str, Any] = field(default_factory=dict)


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
    """Every rule a composed config must meet: the tables above, then the rules that
    relate two settings. Everything a stage would otherwise trip over later is here, so
    `dockyard compose` (and every stage, on load) refuses it with one paragraph."""

    def refuse(message: str) -> None:
        raise ConfigError(f"{source}: {message}")

    for key, options in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in options:
            shown = ", ".join(str(o).lower() if isinstance(o, bool) else str(o) for o in options)
            refuse(f"'{key}' is {value!r}, expected one of: {shown}.")
    for key, (low, inclusive) in LOWER_BOUNDS.items():
        value = OmegaConf.select(cfg, key)
        if value is None:  # an optional setting left unset
            continue
        if value < low or (value == low and not inclusive):
            word = "0 or more" if inclusive else "positive"
            refuse(f"'{key}' must be {word}, found {value}.")
    for key in TARGETS:
        target = OmegaConf.select(cfg, key + "._target_")
        if not isinstance(target, str) or "." not in target:
            refuse(
                f"'{key}._target_' must name a class or function by its dotted import path "
                f"(e.g. my_package.nets.MyNet), found {target!r}."
            )
    for key in TARGETS:
        message = _target_exists(key, OmegaConf.select(cfg, key + "._target_"))
        if message:
            refuse(message)
    for rule in _RULES:
        message = rule(cfg)
        if message:
            refuse(message)


def _target_exists(key: str, target: str) -> str | None:
    """Whether a `_target_` can be found, without importing it (imports can take seconds):
    its top-level package must be installed and, inside dockyard, the module must define it."""
    import ast
    import importlib.util

    module, _, name = target.rpartition(".")
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return (
            f"'{key}._target_' is {target!r}, but no package {top!r} is installed. Fix the "
            "dotted path, or install the package that provides it."
        )
    if top != "dockyard":
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return f"'{key}._target_' is {target!r}, but there is no module {module!r}."
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    if name not in names:
        hint = _did_you_mean(name, sorted(names), prefix=f"{module}.")
        return f"'{key}._target_' is {target!r}, but {module} defines no {name!r}.{hint}"
    return None


def _rule_seeds(cfg: DictConfig) -> str | None:
    seeds = list(cfg.seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        return (
            "'seeds' must be a non-empty list of distinct non-negative integers (one training "
            f"run each), found {seeds}. Example: seeds: [0, 1, 2, 3, 4]."
        )
    return None


def _rule_split(cfg: DictConfig) -> str | None:
    split = cfg.split
    for key in ("val_fraction", "test_fraction"):
        if not 0.0 < split[key] < 1.0:
            return f"'split.{key}' must be between 0 and 1 (exclusive), found {split[key]}."
    if split.val_fraction + split.test_fraction >= 1.0:
        return (
            "split.val_fraction + split.test_fraction must leave rows to train on (sum < 1), "
            f"found {split.val_fraction} + {split.test_fraction}."
        )
    return None


def _rule_loss_fits_task(cfg: DictConfig) -> str | None:
    task, loss = cfg.data.task, cfg.train.loss
    if task == "regression" and loss == "cross_entropy":
        return (
            f"train.loss is 'cross_entropy', but data={cfg.data.name} is a regression task. "
            "Use mse, l1, huber or auto."
        )
    if task == "classification" and loss not in ("auto", "cross_entropy"):
        return (
            f"train.loss is {loss!r}, but data={cfg.data.name} is a classification task, "
            "which trains with cross_entropy (or auto)."
        )
    return None


def _rule_monitor(cfg: DictConfig) -> str | None:
    from dockyard.metrics import CURVE_HIGHER_IS_BETTER, VALIDATION_CURVES

    stopping, task = cfg.train.early_stopping, cfg.data.task
    logged = VALIDATION_CURVES[task]
    if stopping.monitor not in logged:
        return (
            f"train.early_stopping.monitor is {stopping.monitor!r}, but {task} training logs "
            f"only {' and '.join(logged)} per epoch. Set it to one of them (in conf/config.yaml "
            f"or with -S train.early_stopping.monitor={logged[0]})."
        )
    wanted = "max" if CURVE_HIGHER_IS_BETTER[stopping.monitor] else "min"
    if stopping.mode != wanted:
        return (
            f"train.early_stopping.mode is {stopping.mode!r}, but {stopping.monitor} is "
            f"{'higher' if wanted == 'max' else 'lower'}-is-better: early stopping would keep "
            f"the worst epoch. Set train.early_stopping.mode={wanted}."
        )
    return None


def _target_spec(cfg: DictConfig) -> tuple[str, Any] | None:
    target = cfg.data.target
    for name, spec in cfg.data.schema.columns.items():
        matches = re.fullmatch(name, target) is not None if spec.regex else name == target
        if matches:
            return name, spec
    return None


def _rule_schema(cfg: DictConfig) -> str | None:
    data = cfg.data
    where = f"conf/data/{data.name}.yaml"
    for name, spec in data.schema.columns.items():
        if spec.dtype not in DTYPES:
            return (
                f"'data.schema.columns.{name}.dtype' is {spec.dtype!r}, expected one of: "
                f"{', '.join(DTYPES)} ({where})."
            )
        if spec.regex:
            try:
                re.compile(name)
            except re.error as error:
                return f"the schema column pattern {name!r} in {where} is not a regex: {error}."
            if spec.key:
                return (
                    f"the schema column {name!r} in {where} is a pattern (regex: true) and a "
                    "key: name each key column on its own."
                )
    found = _target_spec(cfg)
    if found is None:
        return (
            f"data.target is {data.target!r}, but the schema in {where} declares no such "
            "column. Declare the target under data.schema.columns, or fix data.target."
        )
    _, spec = found
    if spec.key:
        return f"the target {data.target!r} is marked key: true in {where}; a key is no target."
    if data.task == "regression" and spec.dtype not in NUMERIC_DTYPES:
        return (
            f"data.task is 'regression', but the target {data.target!r} is declared dtype "
            f"{spec.dtype} in {where}: a regression target must be numeric. Use "
            "data.task=classification for text labels, or point data.target at a numeric "
            "column."
        )
    return None


def _rule_image(cfg: DictConfig) -> str | None:
    if cfg.model.input != "image":
        return None
    shape = cfg.data.image_shape
    if not shape or len(shape) != 3 or any(int(v) < 1 for v in shape):
        return (
            f"model={cfg.model.name} takes image-shaped input, but data={cfg.data.name} "
            "declares no data.image_shape [channels, height, width] of positive sizes. Choose a "
            "tabular model (model=mlp or model=linear) or declare the shape."
        )
    return None


def _rule_devices(cfg: DictConfig) -> str | None:
    devices = cfg.trainer.devices
    valid = (
        (
            isinstance(devices, int)
            and not isinstance(devices, bool)
            and (devices >= 1 or devices == -1)
        )
        or devices == "auto"
        or (
            isinstance(devices, str)
            and re.fullmatch(r"-1|\d+|\d+(,\d+)*,?", devices) is not None
            and devices.strip(",") not in ("0",)
        )
        or (
            OmegaConf.is_list(devices)
            and len(devices) > 0
            and all(isinstance(d, int) and d >= 0 for d in devices)
        )
    )
    if not valid:
        return (
            f"'trainer.devices' is {devices!r}: Lightning needs at least one device. Use a "
            "positive count (1), -1 for every visible device, auto, or a list of device "
            "indices ([0, 1])."
        )
    return None


def _rule_optimizer(cfg: DictConfig) -> str | None:
    optimizer = cfg.train.optimizer
    for key in ("lr", "weight_decay"):
        own = cfg.train[key]
        if key not in optimizer:
            return (
                f"train.optimizer has no {key!r}: it must read it from train.{key} "
                f"({key}: ${{train.{key}}}), the one place that setting lives."
            )
        if optimizer[key] != own:
            return (
                f"train.optimizer.{key} is {optimizer[key]!r} but train.{key} is {own!r}: the "
                f"optimizer takes {key} from train.{key} (`{key}: ${{train.{key}}}`). Set "
                f"train.{key} instead, so the two never disagree."
            )
    return None


def _rule_loggers(cfg: DictConfig) -> str | None:
    import importlib.util

    for name, entry in (cfg.logger or {}).items():
        if name not in LOGGER_PACKAGES:
            return (
                f"logger.{name} is not one of dockyard's loggers ({', '.join(LOGGER_PACKAGES)}); "
                "choose them with -S logger=mlflow or -S 'logger=[mlflow,csv]'."
            )
        target = OmegaConf.select(entry, "_target_") if OmegaConf.is_config(entry) else None
        if not isinstance(target, str) or "." not in target:
            return f"logger.{name}._target_ must name a Lightning logger class, found {target!r}."
        module, extra = LOGGER_PACKAGES[name]
        if module and importlib.util.find_spec(module) is None:
            return (
                f"logger={name} needs the {module!r} package, which is not installed. Install "
                f'it with `pip install -e ".[{extra}]"` (or `pip install {module}`), or drop '
                f"{name} from logger."
            )
    return None


_RULES = (
    _rule_seeds,
    _rule_split,
    _rule_loss_fits_task,
    _rule_monitor,
    _rule_schema,
    _rule_image,
    _rule_devices,
    _rule_optimizer,
    _rule_loggers,
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
    from dockyard.io import write_text

    write_text(text, path)


# ----------------------------------------------------------------------------- defaults


_DEFAULT_LINE = r"^(\s*-\s*{group}\s*:\s*)([^\s#]+)(.*)$"


def default_option(group: str, root: str | Path = ".") -> str | None:
    """The option conf/config.yaml's defaults list picks for `group` (e.g. data -> digits)."""
    path = Path(root) / CONFIG_DIR / f"{CONFIG_NAME}.yaml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found = re.search(_DEFAULT_LINE.format(group=re.escape(group)), text, flags=re.M)
    return found.group(2) if found else None


def set_default(group: str, option: str, root: str | Path = ".") -> str:
    """Make `option` the default of config group `group` in conf/config.yaml (comments and
    layout kept), so every composition, `dvc exp run -S ...` included, starts from it.
    Returns the option it replaced."""
    from dockyard.io import write_text

    root = Path(root)
    config_dir = root / CONFIG_DIR
    options = sorted(p.stem for p in (config_dir / group).glob("*.yaml"))
    if not (config_dir / group).is_dir():
        groups = sorted(p.name for p in config_dir.iterdir() if p.is_dir())
        raise ConfigError(
            f"There is no config group {group!r} (no folder conf/{group}/). Config groups: "
            f"{', '.join(groups)}."
        )
    if option not in options:
        raise ConfigError(
            f"Unknown option {option!r} for config group {group!r}: there is no "
            f"conf/{group}/{option}.yaml. Valid options: {', '.join(options)}."
            f"{_did_you_mean(option, options)}"
        )
    path = config_dir / f"{CONFIG_NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(_DEFAULT_LINE.format(group=re.escape(group)), flags=re.M)
    found = pattern.search(text)
    if found is None:
        raise ConfigError(
            f"conf/{CONFIG_NAME}.yaml's defaults list has no entry for {group!r}; add "
            f"`  - {group}: {option}` to it."
        )
    write_text(text[: found.start(2)] + option + text[found.end(2) :], path)
    return found.group(2)


def committed_dataset(root: str | Path = ".") -> str | None:
    """data.name in params.yaml as committed at HEAD (None outside git or before a commit)."""
    import subprocess

    import yaml

    result = subprocess.run(
        ["git", "show", f"HEAD:{PARAMS_FILE}"], cwd=root, capture_output=True, text=True
    )
    if result.returncode != 0:
        return None
    try:
        data = (yaml.safe_load(result.stdout) or {}).get("data") or {}
    except yaml.YAMLError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else None


def dataset_notice(dataset: str, root: str | Path = ".") -> str | None:
    """One line when this composition trains on another dataset than the committed
    params.yaml while conf/'s defaults name yet another: the silent switch back to the
    bundled data that DVC's composition makes after `dvc exp run -S data=NAME`."""
    committed = committed_dataset(root)
    default = default_option("data", root)
    if committed is None or committed in (dataset, default):
        return None
    return (
        f"dockyard: note: this run trains on data={dataset}, but the committed params.yaml "
        f"trains on data={committed} and conf/config.yaml's defaults name data={default}; "
        f"run `dockyard use data={committed}` to keep {committed} as the default (or pass "
        f"data={dataset} on purpose)."
    )


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
