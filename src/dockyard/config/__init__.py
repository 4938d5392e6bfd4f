"""Configuration: conf/ (Hydra groups) composed into params.yaml, the one file every stage
reads, validated against dockyard's structured config.

- `schema`: the dataclasses and the values each setting accepts;
- `rules`: what a composed config must meet beyond its types;
- `compose`: compose, validate, load params.yaml, hash params;
- `defaults`: the defaults list of conf/config.yaml (`dockyard use`).
"""

from dockyard.config.compose import (
    compose,
    compose_params,
    load_params,
    params_hash,
    to_yaml,
    validate,
    write_params,
)
from dockyard.config.defaults import (
    CONFIG_DIR,
    CONFIG_NAME,
    PARAMS_FILE,
    committed_dataset,
    dataset_notice,
    default_option,
    refuse_silent_switch,
    set_default,
)
from dockyard.config.schema import Config, default_seed

__all__ = [
    "CONFIG_DIR",
    "CONFIG_NAME",
    "PARAMS_FILE",
    "Config",
    "committed_dataset",
    "compose",
    "compose_params",
    "dataset_notice",
    "default_seed",
    "default_option",
    "load_params",
    "params_hash",
    "refuse_silent_switch",
    "set_default",
    "to_yaml",
    "validate",
    "write_params",
]
