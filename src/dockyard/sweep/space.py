"""A search space in Hydra's sweep grammar, as Optuna distributions.

`train.lr=tag(log,interval(1e-4,1e-1))`, `model.net.hidden=choice([64],[128,64])`,
`train.batch_size=choice(32,64,128)`, `x=range(1,10)` are dimensions (the grammar
hydra-optuna-sweeper reads); a plain `train.epochs=20` applies to every trial. A space can
also live in `conf/sweep/NAME.yaml`:

    params:                       # KEY: sweep expression
      train.lr: tag(log, interval(1e-4, 1e-1))
      model.net.hidden: choice([64], [128, 64])
    overrides: [train.epochs=20]  # applied to every trial
    objective: val/loss           # optional
    trials: 16                    # optional
    pruner: median                # optional

A categorical choice travels through Optuna as its override text (`[128,64]`), because
Optuna's categories must be plain scalars; a trial's overrides are then `KEY=VALUE` strings
that `dvc exp run -S` and `dockyard compose` read alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.config.defaults import CONFIG_DIR
from dockyard.errors import ConfigError

SWEEP_GROUP = "sweep"
SPACE_KEYS = ("params", "overrides", "objective", "trials", "pruner", "workers")


@dataclass(frozen=True)
class Dimension:
    """One swept key: `kind` is choice, float or int; `choices` holds override texts."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[str, ...] = ()

    def distribution(self) -> Any:
        import optuna

        if self.kind == "choice":
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return optuna.distributions.FloatDistribution(
            float(self.low), float(self.high), log=self.log, step=self.step
        )

    def describe(self) -> str:
        if self.kind == "choice":
            return f"choice({', '.join(self.choices)})"
        text = f"{'range' if self.kind == 'int' else 'interval'}({self.low}, {self.high})"
        return f"tag(log, {text})" if self.log else text

    def extremes(self) -> list[str]:
        """Values that together exercise every type a trial can receive (for checking the
        space against the config before any trial runs)."""
        if self.kind == "choice":
            return list(self.choices)
        return [format_value(self.low), format_value(self.high)]


@dataclass(frozen=True)
class Space:
    dimensions: tuple[Dimension, ...]
    fixed: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # from a conf/sweep file

    def describe(self) -> dict[str, Any]:
        """What a study records of its space, to refuse joining it with another one."""
        return {
            "params": {d.key: d.describe() for d in self.dimensions},
            "overrides": list(self.fixed),
        }


def format_value(value: Any) -> str:
    """A value as Hydra's override grammar writes it (`[128,64]`, `true`, `null`, `0.001`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _dimension(key: str, sweep: Any, text: str) -> Dimension:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    log = "log" in (sweep.tags or set())
    if isinstance(sweep, ChoiceSweep):
        choices = tuple(dict.fromkeys(format_value(v) for v in sweep.list))
        if log:
            raise ConfigError(
                f"Sweep {text!r}: tag(log, ...) applies to interval() and range(), not to "
                "choice(); list the values you want instead.",
                kind="bad-sweep",
                key=key,
            )
        return Dimension(key, "choice", choices=choices)
    if isinstance(sweep, RangeSweep):
        values = (sweep.start, sweep.stop, sweep.step)
        if all(isinstance(v, int) for v in values):
            if sweep.stop <= sweep.start or sweep.step <= 0:
                raise ConfigError(
                    f"Sweep {text!r}: range(start, stop, step) needs start < stop and a "
                    "positive step.",
                    kind="bad-sweep",
                    key=key,
                )
            last = sweep.start + (sweep.stop - 1 - sweep.start) // sweep.step * sweep.step
            return Dimension(key, "int", sweep.start, last, log, None if log else sweep.step)
        return Dimension(key, "float", float(sweep.start), float(sweep.stop), log, sweep.step)
    if isinstance(sweep, IntervalSweep):
        if not sweep.start < sweep.end:
            raise ConfigError(
                f"Sweep {text!r}: interval(low, high) needs low < high.",
                kind="bad-sweep",
                key=key,
            )
        if log and sweep.start <= 0:
            raise ConfigError(
                f"Sweep {text!r}: a log-scaled interval needs a positive lower bound, "
                f"found {sweep.start}.",
                kind="bad-sweep",
                key=key,
            )
        return Dimension(key, "float", float(sweep.start), float(sweep.end), log)
    raise ConfigError(
        f"Sweep {text!r}: dockyard sweep reads choice(...), range(...), interval(...) and "
        "tag(log, ...) (Hydra's sweep grammar); found another kind of sweep.",
        kind="bad-sweep",
        key=key,
    )


def parse_overrides(texts: list[str]) -> Space:
    """Split command-line overrides into swept dimensions and fixed overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    dimensions, fixed = [], []
    for text in texts:
        try:
            (override,) = parser.parse_overrides([text])
        except OverrideParseException as error:
            raise ConfigError(
                f"Cannot read the override {text!r}: {str(error).splitlines()[0]} Write "
                "KEY=VALUE for a fixed setting or KEY=choice(...)/interval(...)/range(...) "
                "for a searched one, e.g. 'train.lr=tag(log,interval(1e-4,1e-1))'.",
                kind="bad-sweep",
                key=text.partition("=")[0] or None,
            ) from None
        key = override.key_or_group
        if override.is_sweep_override():
            dimensions.append(_dimension(key, override.value(), text))
        else:
            fixed.append(text)
    keys = [d.key for d in dimensions]
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    if doubled:
        raise ConfigError(
            f"The search space names {', '.join(doubled)} more than once; give each key one "
            "sweep expression.",
            kind="bad-sweep",
            key=doubled[0],
        )
    return Space(tuple(dimensions), tuple(fixed))


def load_space_file(name: str, root: str | Path = ".") -> dict[str, Any]:
    """conf/sweep/NAME.yaml, checked: which keys it may hold and of what type."""
    import yaml

    folder = Path(root) / CONFIG_DIR / SWEEP_GROUP
    path = folder / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(
            f"There is no search space {name!r}: expected conf/{SWEEP_GROUP}/{name}.yaml. "
            + (f"Spaces here: {', '.join(options)}." if options else "There is none yet."),
            kind="unknown-sweep",
            key=SWEEP_GROUP,
            path=path,
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(
            f"conf/{SWEEP_GROUP}/{name}.yaml is not valid YAML: {str(error).splitlines()[0]}",
            kind="bad-sweep",
            path=path,
        ) from None
    unknown = sorted(set(data) - set(SPACE_KEYS)) if isinstance(data, dict) else ["(not a map)"]
    if unknown:
        raise ConfigError(
            f"conf/{SWEEP_GROUP}/{name}.yaml: unknown key(s) {', '.join(unknown)}; a search "
            f"space file holds {', '.join(SPACE_KEYS)}.",
            kind="unknown-key",
            key=unknown[0],
            path=path,
        )
    params = data.get("params") or {}
    overrides = data.get("overrides") or []
    if not isinstance(params, dict) or not isinstance(overrides, list):
        raise ConfigError(
            f"conf/{SWEEP_GROUP}/{name}.yaml: `params` must map each key to a sweep "
            "expression and `overrides` must be a list of KEY=VALUE strings.",
            kind="wrong-type",
            path=path,
        )
    data["texts"] = [f"{k}={v}" for k, v in params.items()] + [str(o) for o in overrides]
    return data


def space_from_arguments(texts: list[str], root: str | Path = ".") -> Space:
    """The command line's overrides, with `sweep=NAME` expanded from conf/sweep/NAME.yaml
    (the command line's own overrides win over the file's)."""
    settings: dict[str, Any] = {}
    from_file: list[str] = []
    given: list[str] = []
    for text in texts:
        key, sep, value = text.partition("=")
        if sep and key.strip() == SWEEP_GROUP:
            settings = load_space_file(value.strip(), root)
            from_file = settings.pop("texts")
        else:
            given.append(text)
    given_keys = {t.partition("=")[0].strip() for t in given}
    kept = [t for t in from_file if t.partition("=")[0].strip() not in given_keys]
    space = parse_overrides(kept + given)
    if not space.dimensions:
        raise ConfigError(
            "Nothing to search: give at least one swept setting, e.g. "
            "'train.lr=tag(log,interval(1e-4,1e-1))' or 'train.batch_size=choice(32,64,128)', "
            "or sweep=NAME for conf/sweep/NAME.yaml.",
            kind="empty-sweep",
        )
    return Space(space.dimensions, space.fixed, settings)
