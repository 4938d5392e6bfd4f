"""The rules a composed config must meet beyond its types: the tables of choices and
bounds in `schema`, then the rules that relate two settings. Everything a stage would
otherwise trip over later is refused here, at compose time and when a stage loads
params.yaml, with one paragraph saying what to change.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

from omegaconf import DictConfig, OmegaConf

from dockyard.config.schema import (
    ALL,
    AUTO,
    CHOICES,
    DTYPES,
    INTERVALS,
    LOGGER_PACKAGES,
    LOWER_BOUNDS,
    NUMERIC_DTYPES,
    RETRAIN_TRIGGERS,
    TARGETS,
)
from dockyard.errors import ConfigError


class Refusal(NamedTuple):
    """What a rule refuses: the sentence, its kind (`ConfigError.kind`) and the key (and
    schema column) it is about."""

    message: str
    kind: str
    key: str | None = None
    column: str | None = None


def did_you_mean(word: str, options: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" Did you mean '{prefix}{close[0]}'?" if close else ""


def check_values(cfg: DictConfig, source: str) -> None:
    """Every rule a composed config must meet: the tables above, then the rules that
    relate two settings. Everything a stage would otherwise trip over later is here, so
    `dockyard compose` (and every stage, on load) refuses it with one paragraph."""

    def refuse(refusal: Refusal) -> None:
        raise ConfigError(
            f"{source}: {refusal.message}",
            kind=refusal.kind,
            key=refusal.key,
            column=refusal.column,
        )

    for key, options in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in options:
            shown = ", ".join(str(o).lower() if isinstance(o, bool) else str(o) for o in options)
            hint = did_you_mean(value, [str(o) for o in options]) if isinstance(value, str) else ""
            refuse(
                Refusal(
                    f"'{key}' is {value!r}, expected one of: {shown}.{hint}", "not-a-choice", key
                )
            )
    for key, (low, inclusive) in LOWER_BOUNDS.items():
        value = OmegaConf.select(cfg, key)
        if value is None:  # an optional setting left unset
            continue
        if value < low or (value == low and not inclusive):
            if low == 0:
                word = "0 or more" if inclusive else "positive"
            else:
                word = f"{low:g} or more" if inclusive else f"more than {low:g}"
            refuse(
                Refusal(f"'{key}' must be {word}, found {value}.{_fix(key)}", "out-of-range", key)
            )
    for key, (low, high, low_open, high_open) in INTERVALS.items():
        value = OmegaConf.select(cfg, key)
        inside = (
            math.isfinite(value)
            and (value > low if low_open else value >= low)
            and (value < high if high_open else value <= high)
        )
        if not inside:
            span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            refuse(
                Refusal(
                    f"'{key}' must be a number in {span}, found {value!r}.{_fix(key)}",
                    "out-of-range",
                    key,
                )
            )
    for key in TARGETS:
        target = OmegaConf.select(cfg, key + "._target_")
        if not isinstance(target, str) or "." not in target:
            refuse(
                Refusal(
                    f"'{key}._target_' must name a class or function by its dotted import path "
                    f"(e.g. my_package.nets.MyNet), found {target!r}.",
                    "bad-target",
                    f"{key}._target_",
                )
            )
    for key in TARGETS:
        refusal = _target_exists(key, OmegaConf.select(cfg, key + "._target_"))
        if refusal:
            refuse(refusal)
    for rule in _RULES:
        refusal = rule(cfg)
        if refusal:
            refuse(refusal)


# Sections composed from a config group of their own, whose refusals name its folder.
GROUP_SECTIONS = ("monitor", "promotion")
# GTO's rule for artifact and stage names (gto.constants.name): letters, digits, '-', '_', '/'.
STAGE_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?$")


def _fix(key: str) -> str:
    section = key.split(".")[0]
    if section not in GROUP_SECTIONS:
        return ""
    return f" Fix it in conf/{section}/ (or your override) and run `dockyard compose`."


def _target_exists(key: str, target: str) -> Refusal | None:
    """Whether a `_target_` can be found, without importing it (imports can take seconds):
    its top-level package must be installed and, inside dockyard, the module must define it."""
    import ast
    import importlib.util

    module, _, name = target.rpartition(".")
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return Refusal(
            f"'{key}._target_' is {target!r}, but no package {top!r} is installed. Fix the "
            "dotted path, or install the package that provides it.",
            kind="unknown-target",
            key=f"{key}._target_",
        )
    if top != "dockyard":
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return Refusal(
            f"'{key}._target_' is {target!r}, but there is no module {module!r}.",
            kind="unknown-target",
            key=f"{key}._target_",
        )
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    if name not in names:
        hint = did_you_mean(name, sorted(names), prefix=f"{module}.")
        return Refusal(
            f"'{key}._target_' is {target!r}, but {module} defines no {name!r}.{hint}",
            kind="unknown-target",
            key=f"{key}._target_",
        )
    return None


def _rule_seeds(cfg: DictConfig) -> Refusal | None:
    seeds = list(cfg.seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        return Refusal(
            "'seeds' must be a non-empty list of distinct non-negative integers (one training "
            f"run each), found {seeds}. Example: seeds: [0, 1, 2, 3, 4].",
            kind="bad-value",
            key="seeds",
        )
    return None


def _rule_split(cfg: DictConfig) -> Refusal | None:
    split = cfg.split
    for key in ("val_fraction", "test_fraction"):
        if not 0.0 < split[key] < 1.0:
            return Refusal(
                f"'split.{key}' must be between 0 and 1 (exclusive), found {split[key]}.",
                kind="out-of-range",
                key=f"split.{key}",
            )
    if split.val_fraction + split.test_fraction >= 1.0:
        return Refusal(
            "split.val_fraction + split.test_fraction must leave rows to train on (sum < 1), "
            f"found {split.val_fraction} + {split.test_fraction}.",
            kind="conflict",
            key="split",
        )
    return None


def _rule_loss_fits_task(cfg: DictConfig) -> Refusal | None:
    task, loss = cfg.data.task, cfg.train.loss
    if task == "regression" and loss == "cross_entropy":
        return Refusal(
            f"train.loss is 'cross_entropy', but data={cfg.data.name} is a regression task. "
            "Use mse, l1, huber or auto.",
            kind="conflict",
            key="train.loss",
        )
    if task == "classification" and loss not in ("auto", "cross_entropy"):
        return Refusal(
            f"train.loss is {loss!r}, but data={cfg.data.name} is a classification task, "
            "which trains with cross_entropy (or auto).",
            kind="conflict",
            key="train.loss",
        )
    return None


def _rule_monitor(cfg: DictConfig) -> Refusal | None:
    from dockyard.metrics import CURVE_HIGHER_IS_BETTER, VALIDATION_CURVES

    stopping, task = cfg.train.early_stopping, cfg.data.task
    logged = VALIDATION_CURVES[task]
    if stopping.monitor not in logged:
        return Refusal(
            f"train.early_stopping.monitor is {stopping.monitor!r}, but {task} training logs "
            f"only {' and '.join(logged)} per epoch. Set it to one of them (in conf/config.yaml "
            f"or with -S train.early_stopping.monitor={logged[0]}).",
            kind="not-a-choice",
            key="train.early_stopping.monitor",
        )
    wanted = "max" if CURVE_HIGHER_IS_BETTER[stopping.monitor] else "min"
    if stopping.mode != wanted:
        return Refusal(
            f"train.early_stopping.mode is {stopping.mode!r}, but {stopping.monitor} is "
            f"{'higher' if wanted == 'max' else 'lower'}-is-better: early stopping would keep "
            f"the worst epoch. Set train.early_stopping.mode={wanted}.",
            kind="conflict",
            key="train.early_stopping.mode",
        )
    return None


def _target_spec(cfg: DictConfig) -> tuple[str, Any] | None:
    target = cfg.data.target
    for name, spec in cfg.data.schema.columns.items():
        matches = re.fullmatch(name, target) is not None if spec.regex else name == target
        if matches:
            return name, spec
    return None


def _rule_schema(cfg: DictConfig) -> Refusal | None:
    data = cfg.data
    where = f"conf/data/{data.name}.yaml"
    for name, spec in data.schema.columns.items():
        if spec.dtype not in DTYPES:
            return Refusal(
                f"'data.schema.columns.{name}.dtype' is {spec.dtype!r}, expected one of: "
                f"{', '.join(DTYPES)} ({where}).",
                kind="not-a-choice",
                key=f"data.schema.columns.{name}.dtype",
                column=name,
            )
        if spec.regex:
            try:
                re.compile(name)
            except re.error as error:
                return Refusal(
                    f"the schema column pattern {name!r} in {where} is not a regex: {error}.",
                    kind="bad-value",
                    key=f"data.schema.columns.{name}",
                    column=name,
                )
            if spec.key:
                return Refusal(
                    f"the schema column {name!r} in {where} is a pattern (regex: true) and a "
                    "key: name each key column on its own.",
                    kind="conflict",
                    key=f"data.schema.columns.{name}.key",
                    column=name,
                )
    found = _target_spec(cfg)
    if found is None:
        return Refusal(
            f"data.target is {data.target!r}, but the schema in {where} declares no such "
            "column. Declare the target under data.schema.columns, or fix data.target.",
            kind="missing-column",
            key="data.target",
            column=data.target,
        )
    _, spec = found
    if spec.key:
        return Refusal(
            f"the target {data.target!r} is marked key: true in {where}; a key is no target.",
            kind="conflict",
            key=f"data.schema.columns.{data.target}.key",
            column=data.target,
        )
    if data.task == "regression" and spec.dtype not in NUMERIC_DTYPES:
        return Refusal(
            f"data.task is 'regression', but the target {data.target!r} is declared dtype "
            f"{spec.dtype} in {where}: a regression target must be numeric. Use "
            "data.task=classification for text labels, or point data.target at a numeric "
            "column.",
            kind="conflict",
            key="data.task",
            column=data.target,
        )
    return None


def _rule_bounds(cfg: DictConfig) -> Refusal | None:
    """ge/le (hard) and expect (soft) bounds: numbers on numeric columns, ISO dates on
    datetime columns; tz and time only where they mean something."""
    data = cfg.data
    where = f"conf/data/{data.name}.yaml"
    for name, spec in data.schema.columns.items():
        key = f"data.schema.columns.{name}"
        bounds = [("ge", spec.ge), ("le", spec.le)]
        if spec.expect is not None:
            bounds += [("expect.ge", spec.expect.ge), ("expect.le", spec.expect.le)]
        for label, value in bounds:
            if value is None:
                continue
            if spec.dtype == "datetime":
                if _as_time(value) is None:
                    return Refusal(
                        f"'{key}.{label}' is {value!r}, but {name!r} is a datetime column: a "
                        f"bound is an ISO 8601 date or time in quotes, e.g. '2024-01-05' "
                        f"({where}).",
                        kind="wrong-type",
                        key=f"{key}.{label}",
                        column=name,
                    )
            elif spec.dtype in NUMERIC_DTYPES:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return Refusal(
                        f"'{key}.{label}' is {value!r}, but {name!r} is a {spec.dtype} "
                        f"column: a bound is a number ({where}).",
                        kind="wrong-type",
                        key=f"{key}.{label}",
                        column=name,
                    )
            else:
                return Refusal(
                    f"'{key}.{label}' is set, but {name!r} is a {spec.dtype} column, which has "
                    f"no range: list its values with isin instead, or remove {label} ({where}).",
                    kind="conflict",
                    key=f"{key}.{label}",
                    column=name,
                )
        if spec.tz is not None:
            if spec.dtype != "datetime":
                return Refusal(
                    f"'{key}.tz' is set, but {name!r} is not a datetime column ({where}).",
                    kind="conflict",
                    key=f"{key}.tz",
                    column=name,
                )
            if not _is_zone(spec.tz):
                return Refusal(
                    f"'{key}.tz' is {spec.tz!r}, which is no time zone name: use one of the "
                    f"IANA names such as UTC or Europe/Berlin ({where}).",
                    kind="bad-value",
                    key=f"{key}.tz",
                    column=name,
                )
        if spec.format is not None:
            refusal = _check_format(spec.format, spec.dtype, key, name, where)
            if refusal is not None:
                return refusal
    times = [n for n, spec in data.schema.columns.items() if spec.time]
    if len(times) > 1:
        return Refusal(
            f"the schema in {where} marks {len(times)} columns as the time axis "
            f"({', '.join(times)}); a table has one: keep `time: true` on one of them.",
            kind="conflict",
            key="data.schema.columns",
            column=times[1],
        )
    if times:
        spec = data.schema.columns[times[0]]
        if spec.dtype != "datetime" or spec.nullable or spec.regex:
            return Refusal(
                f"the time axis {times[0]!r} in {where} must be one datetime column without "
                f"missing values (dtype: datetime, nullable: false), found dtype {spec.dtype}"
                f"{', nullable' if spec.nullable else ''}. Fix the column or remove `time: true`.",
                kind="bad-value",
                key=f"data.schema.columns.{times[0]}",
                column=times[0],
            )
    source_format = data.source.get("time_format") if data.source is not None else None
    time_format = data.schema.columns[times[0]].format if times else None
    if source_format is not None and source_format != time_format:
        return Refusal(
            f"data.source.time_format is {source_format!r}, but the time axis "
            f"{times[0] if times else '(none)'} is written as {time_format or 'ISO 8601'} in "
            f"the schema: the batches are ordered by the values the schema reads. Make the "
            f"two the same, or remove time_format ({where}).",
            kind="conflict",
            key="data.source.time_format",
        )
    if cfg.split.by == "time" and not times:
        return Refusal(
            f"split.by is 'time', but the schema in {where} marks no time axis. Mark one "
            "datetime column `time: true` (dockyard data add --time COLUMN drafts it), or use "
            "split.by=random.",
            kind="conflict",
            key="split.by",
        )
    return None


def _check_format(fmt: Any, dtype: str, key: str, name: str, where: str) -> Refusal | None:
    """A datetime column's `format`: strftime codes that write a date and read it back."""
    import datetime as dt

    if dtype != "datetime":
        return Refusal(
            f"'{key}.format' is set, but {name!r} is not a datetime column ({where}).",
            kind="conflict",
            key=f"{key}.format",
            column=name,
        )
    sample = dt.datetime(2024, 1, 31, 16, 45, 30, tzinfo=dt.UTC)
    try:
        read = dt.datetime.strptime(sample.strftime(str(fmt)), str(fmt))
        ok = isinstance(fmt, str) and read.date() == sample.date()
    except (ValueError, TypeError):
        ok = False
    if not ok:
        return Refusal(
            f"'{key}.format' is {fmt!r}, which does not write and read back a date: use "
            "strftime codes with the day, month and year, e.g. '%d/%m/%Y' for 31/01/2024 or "
            f"'%m/%d/%Y %H:%M' for 01/31/2024 16:45 ({where}).",
            kind="bad-value",
            key=f"{key}.format",
            column=name,
        )
    return None


def _as_time(value: Any) -> Any:
    """A bound as a time: a date, or ISO 8601 text (never a guessed day or month order)."""
    import datetime as dt

    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    import pandas as pd

    try:
        return pd.to_datetime(value, format="ISO8601")
    except (ValueError, TypeError):
        return None


def _is_zone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _rule_image(cfg: DictConfig) -> Refusal | None:
    if cfg.model.input != "image":
        return None
    shape = cfg.data.image_shape
    if not shape or len(shape) != 3 or any(int(v) < 1 for v in shape):
        return Refusal(
            f"model={cfg.model.name} takes image-shaped input, but data={cfg.data.name} "
            "declares no data.image_shape [channels, height, width] of positive sizes. Choose a "
            "tabular model (model=mlp or model=linear) or declare the shape.",
            kind="conflict",
            key="data.image_shape",
        )
    return None


# dockyard's own networks: the keys their constructors take beside in_features and
# out_features, and what each must be ("sizes": a list of whole numbers >= 1, "size": one,
# "rate": a number in [0, 1)). A network of the user's own is checked when it is built.
BUILTIN_NETS = {
    "dockyard.models.nets.MLP": {"hidden": "sizes", "dropout": "rate"},
    "dockyard.models.nets.Linear": {},
    "dockyard.models.nets.SmallCNN": {
        "image_shape": "sizes",
        "channels": "sizes",
        "hidden": "size",
        "dropout": "rate",
    },
}
_NET_WANTS = {
    "sizes": "a list of whole numbers of at least 1, e.g. [128, 64]",
    "size": "a whole number of at least 1",
    "rate": "a number in [0, 1)",
}


def _net_value_ok(kind: str, value: Any) -> bool:
    def size(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if kind == "sizes":
        is_list = OmegaConf.is_list(value) or isinstance(value, list | tuple)
        return is_list and all(size(v) for v in value)
    if kind == "size":
        return size(value)
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 1
    )


def _rule_builtin_net(cfg: DictConfig) -> Refusal | None:
    """The arguments of dockyard's own networks, so a sweep or an override that gives one a
    wrong value is refused here rather than by the train stage building it."""
    net = cfg.model.net
    takes = BUILTIN_NETS.get(net.get("_target_"))
    if takes is None:
        return None
    where = f"conf/model/{cfg.model.name}.yaml (or your override)"
    for key in net:
        if key == "_target_":
            continue
        if key not in takes:
            accepted = ", ".join(takes) or "no other keys"
            return Refusal(
                f"'model.net.{key}' is not an argument of {net._target_} (it takes "
                f"{accepted}).{did_you_mean(str(key), list(takes), 'model.net.')} Fix it in "
                f"{where}.",
                kind="unknown-key",
                key=f"model.net.{key}",
            )
        value = net[key]
        if not _net_value_ok(takes[key], value):
            shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            return Refusal(
                f"'model.net.{key}' must be {_NET_WANTS[takes[key]]}, found {shown!r}. Fix it "
                f"in {where}.",
                kind="wrong-type",
                key=f"model.net.{key}",
            )
    return None


def _rule_devices(cfg: DictConfig) -> Refusal | None:
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
        return Refusal(
            f"'trainer.devices' is {devices!r}: Lightning needs at least one device. Use a "
            "positive count (1), -1 for every visible device, auto, or a list of device "
            "indices ([0, 1]).",
            kind="bad-value",
            key="trainer.devices",
        )
    return None


def _rule_cpu_trainer(cfg: DictConfig) -> Refusal | None:
    """What Lightning refuses on the CPU on any machine: devices that name GPUs, and FSDP."""
    trainer = cfg.trainer
    if trainer.accelerator != "cpu":
        return None
    devices = trainer.devices
    counts = (isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1) or (
        isinstance(devices, str) and (devices == "auto" or re.fullmatch(r"[1-9]\d*", devices))
    )
    if not counts:
        shown = OmegaConf.to_container(devices) if OmegaConf.is_config(devices) else devices
        return Refusal(
            f"'trainer.devices' is {shown!r} with trainer.accelerator=cpu: on the CPU it is a "
            "number of processes (1, or 2 and more for DDP) or auto; -1 and lists of indices "
            "name GPUs. Use e.g. trainer.devices=2, or a GPU accelerator (trainer=gpu).",
            kind="bad-value",
            key="trainer.devices",
        )
    if str(trainer.strategy).startswith("fsdp"):
        return Refusal(
            f"'trainer.strategy' is {trainer.strategy!r}, which Lightning runs on GPUs only, but "
            "trainer.accelerator is cpu. Use trainer.strategy=ddp (or auto) on the CPU, or a "
            "GPU accelerator (trainer=gpu).",
            kind="conflict",
            key="trainer.strategy",
        )
    return None


def _rule_optimizer(cfg: DictConfig) -> Refusal | None:
    optimizer = cfg.train.optimizer
    for key in ("lr", "weight_decay"):
        own = cfg.train[key]
        if key not in optimizer:
            return Refusal(
                f"train.optimizer has no {key!r}: it must read it from train.{key} "
                f"({key}: ${{train.{key}}}), the one place that setting lives.",
                kind="missing-value",
                key=f"train.optimizer.{key}",
            )
        if optimizer[key] != own:
            return Refusal(
                f"train.optimizer.{key} is {optimizer[key]!r} but train.{key} is {own!r}: the "
                f"optimizer takes {key} from train.{key} (`{key}: ${{train.{key}}}`). Set "
                f"train.{key} instead, so the two never disagree.",
                kind="conflict",
                key=f"train.optimizer.{key}",
            )
    return None


def _rule_loggers(cfg: DictConfig) -> Refusal | None:
    import importlib.util

    for name, entry in (cfg.logger or {}).items():
        if name not in LOGGER_PACKAGES:
            return Refusal(
                f"logger.{name} is not one of dockyard's loggers ({', '.join(LOGGER_PACKAGES)}); "
                "choose them with -S logger=mlflow or -S 'logger=[mlflow,csv]'.",
                kind="unknown-option",
                key="logger",
            )
        target = OmegaConf.select(entry, "_target_") if OmegaConf.is_config(entry) else None
        if not isinstance(target, str) or "." not in target:
            return Refusal(
                f"logger.{name}._target_ must name a Lightning logger class, found {target!r}.",
                kind="bad-target",
                key=f"logger.{name}._target_",
            )
        module, extra = LOGGER_PACKAGES[name]
        if module and importlib.util.find_spec(module) is None:
            return Refusal(
                f"logger={name} needs the {module!r} package, which is not installed. Install "
                f'it with `pip install -e ".[{extra}]"` (or `pip install {module}`), or drop '
                f"{name} from logger.",
                kind="missing-package",
                key="logger",
            )
    return None


def _rule_window(cfg: DictConfig) -> Refusal | None:
    """data.window must be read by the dataset's source (`window: ${data.window}`, which
    `dockyard data add FOLDER` writes): a window the source ignores would silently train
    on every batch, and a window written into the source alone is a second truth."""
    data = cfg.data
    window, reads = data.window, data.source.get("window")
    if window != reads:
        return Refusal(
            f"data.window is {window!r} but data.source.window is {reads!r}. The window of a "
            "batch folder is set in one place, data.window, and the source reads it (source: "
            "window: ${data.window}, as `dockyard data add FOLDER` writes it); only batch "
            f"folders take a window. Fix conf/data/{data.name}.yaml or the override.",
            kind="conflict",
            key="data.window",
        )
    return None


def _rule_retrain_on(cfg: DictConfig) -> Refusal | None:
    triggers = list(cfg.monitor.retrain_on)
    strange = [t for t in triggers if t not in RETRAIN_TRIGGERS]
    if strange:
        return Refusal(
            f"'monitor.retrain_on' names {', '.join(map(repr, strange))}; the triggers are "
            f"{', '.join(RETRAIN_TRIGGERS)} (an empty list: never retrain automatically)."
            f"{_fix('monitor')}",
            kind="not-a-choice",
            key="monitor.retrain_on",
        )
    return None


def _rule_stages(cfg: DictConfig) -> Refusal | None:
    promotion = cfg.promotion
    for key in ("stages", "protected"):
        names = list(promotion[key])
        bad = [n for n in names if not STAGE_NAME.match(n)]
        if bad:
            return Refusal(
                f"'promotion.{key}' has invalid stage name(s) {', '.join(map(repr, bad))}: GTO "
                f"allows letters, digits, '-', '_' and '/' (not first or last).{_fix('promotion')}",
                kind="bad-value",
                key=f"promotion.{key}",
            )
        if len(set(names)) != len(names):
            return Refusal(
                f"'promotion.{key}' lists a stage twice: {names}.{_fix('promotion')}",
                kind="bad-value",
                key=f"promotion.{key}",
            )
    stages = list(promotion.stages)
    if not stages:
        return Refusal(
            "'promotion.stages' must list at least one stage, e.g. [staging, prod], found []."
            f"{_fix('promotion')}",
            kind="bad-value",
            key="promotion.stages",
        )
    stray = [s for s in promotion.protected if s not in stages]
    if stray:
        return Refusal(
            f"'promotion.protected' names {', '.join(stray)}, which is not in "
            f"'promotion.stages' ({', '.join(stages)}).{_fix('promotion')}",
            kind="not-a-choice",
            key="promotion.protected",
        )
    branch = promotion.branch
    if not branch.strip() or " " in branch.strip():
        return Refusal(
            f"'promotion.branch' must be a branch name such as main, found {branch!r}."
            f"{_fix('promotion')}",
            kind="bad-value",
            key="promotion.branch",
        )
    return None


def _rule_promotion_metrics(cfg: DictConfig) -> Refusal | None:
    from dockyard.metrics import higher_is_better

    primary, metrics = cfg.promotion.primary, cfg.promotion.metrics
    if primary != AUTO and higher_is_better(primary) is None:
        return Refusal(
            "'promotion.primary' must be auto or a metric key whose direction dockyard knows "
            f"(e.g. test/accuracy, test/rmse), found {primary!r}.{_fix('promotion')}",
            kind="unknown-metric",
            key="promotion.primary",
        )
    if metrics is None or metrics == ALL:  # null reads as all
        return None
    keys = list(metrics) if OmegaConf.is_list(metrics) else None
    if not keys or not all(isinstance(k, str) for k in keys):
        return Refusal(
            "'promotion.metrics' must be all or a non-empty list of metric keys, found "
            f"{_shown(metrics)}.{_fix('promotion')}",
            kind="wrong-type",
            key="promotion.metrics",
        )
    unknown = [k for k in keys if higher_is_better(k) is None]
    if unknown:
        return Refusal(
            f"'promotion.metrics' names {', '.join(unknown)}, whose direction dockyard does not "
            "know (metric keys look like test/accuracy, test/log_loss, test/rmse)."
            f"{_fix('promotion')}",
            kind="unknown-metric",
            key="promotion.metrics",
        )
    return None


def _shown(value: Any) -> str:
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return repr(value)


_RULES = (
    _rule_seeds,
    _rule_split,
    _rule_loss_fits_task,
    _rule_monitor,
    _rule_schema,
    _rule_bounds,
    _rule_image,
    _rule_builtin_net,
    _rule_devices,
    _rule_cpu_trainer,
    _rule_optimizer,
    _rule_loggers,
    _rule_window,
    _rule_retrain_on,
    _rule_stages,
    _rule_promotion_metrics,
)
