"""Compose conf/ into params.yaml, and load it back validated.

conf/ stays composable by plain Hydra (DVC composes it in its own process for
`dvc exp run -S ...`, where dockyard is not imported). The dataclasses of `schema` are
therefore not registered in Hydra's ConfigStore; instead the composed result is
checked against them here (and against `rules`), both by `dockyard compose` and by
every stage when it loads params.yaml. The file is written exactly as DVC writes it
(`OmegaConf.resolve` + `OmegaConf.to_yaml`), so the two never produce spurious diffs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf import errors as oc_errors

from dockyard.config.defaults import (
    CONFIG_DIR,
    CONFIG_NAME,
    NOT_COMPOSED,
    PARAMS_FILE,
    config_groups,
)
from dockyard.config.rules import GROUP_SECTIONS, check_values, did_you_mean
from dockyard.config.schema import Config
from dockyard.errors import ConfigError

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
    for override in overrides:
        group = override.lstrip("+~").partition("=")[0].strip()
        if group in NOT_COMPOSED:
            raise ConfigError(
                f"{override!r}: conf/{group}/ holds search spaces for `dockyard sweep run "
                f"{group}=NAME`, not a config choice; nothing in params.yaml reads it.",
                kind="not-a-config-group",
                key=group,
            )
    config_dir = (Path(root) / CONFIG_DIR).resolve()
    if not (config_dir / f"{CONFIG_NAME}.yaml").is_file():
        raise ConfigError(
            f"Expected the root config at {config_dir / (CONFIG_NAME + '.yaml')}, but it does not "
            "exist. Run dockyard from the project root (the folder holding dvc.yaml and conf/).",
            kind="missing-file",
            path=config_dir / f"{CONFIG_NAME}.yaml",
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
            "Overrides use Hydra's syntax: key=value (train.lr=0.01) or group=option (model=cnn).",
            kind="bad-override",
        ) from None
    except ConfigCompositionException as error:
        cause = error.__cause__
        if isinstance(cause, oc_errors.ConfigKeyError | oc_errors.ConfigAttributeError):
            key = str(cause.full_key)
            culprit = next((o for o in overrides if o.lstrip("+~").startswith(key)), key)
            raise _unknown_key_error(key, config_dir, source=f"override '{culprit}'") from None
        raise ConfigError(
            f"Could not compose conf/: {_first_line(error)}", kind="compose-failed"
        ) from None
    except (HydraException, oc_errors.OmegaConfBaseException) as error:
        raise ConfigError(
            f"Could not compose conf/: {_first_line(error)}", kind="compose-failed"
        ) from None
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
            "with conf/ and run `dockyard compose` again.",
            kind="wrong-type",
            key=error.full_key or None,
        ) from None
    except oc_errors.ValidationError as error:
        raise ConfigError(
            f"{source}: '{error.full_key}' has the wrong type: {_first_line(error)}. "
            f"Expected {_expected_type(error.full_key)}. Fix the value in conf/ (or in your "
            "override) and run `dockyard compose` again.",
            kind="wrong-type",
            key=error.full_key or None,
        ) from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        sections = [k for k in missing if k in GROUP_SECTIONS]
        hint = "".join(
            f" The {k} section comes from conf/{k}/: add `- {k}: default` to the defaults "
            "list of conf/config.yaml."
            for k in sections
        )
        raise ConfigError(
            f"{source}: required key(s) {', '.join(missing)} have no value. Set them in conf/ "
            f"and run `dockyard compose` again.{hint}",
            kind="missing-value",
            key=missing[0],
        )
    check_values(merged, source)
    return merged


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


def load_params(path: str | Path = PARAMS_FILE) -> DictConfig:
    """Read params.yaml and validate it: the only way stages get their settings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Expected {path} (the composed parameters), but it does not exist. "
            "Run `dockyard compose` to write it from conf/.",
            kind="missing-file",
            path=path,
        )
    try:
        raw = OmegaConf.load(path)
    except Exception as error:  # yaml errors come in several types
        raise ConfigError(
            f"{path} is not valid YAML: {_first_line(error)}", kind="unreadable", path=path
        ) from None
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
    hint = did_you_mean(option, options)
    return ConfigError(
        f"Unknown option '{option}' for config group '{group}': there is no "
        f"conf/{group}/{option}.yaml. Valid options for '{group}': {', '.join(options)}.{hint} "
        f"Pick one of them (e.g. {group}={options[0] if options else '...'}) or add "
        f"conf/{group}/{option}.yaml.",
        kind="unknown-option",
        key=group,
    )


def _unknown_key_error(full_key: str, config_dir: Path | None, source: str) -> ConfigError:
    parent, _, key = str(full_key).rpartition(".")
    valid = _fields_at(parent)
    if not parent:
        groups = config_groups(config_dir) if config_dir else []
        listing = f"Valid top-level keys: {', '.join(valid or [])}"
        listing += f"; config groups: {', '.join(groups)}." if groups else "."
    elif valid is None:
        listing = f"'{parent}' takes no keys of its own."
    else:
        listing = f"Valid keys under '{parent}': {', '.join(valid)}."
    hint = did_you_mean(key, valid or [], prefix=f"{parent}." if parent else "")
    return ConfigError(
        f"{source}: unknown config key '{full_key}'. {listing}{hint} Fix the key name in "
        "conf/ or in your override (to add a brand-new key on purpose, declare it in "
        "dockyard's structured config first).",
        kind="unknown-key",
        key=str(full_key),
    )


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
