"""Searches: the Hydra sweep grammar to an Optuna study whose trials are DVC experiments,
run by workers with clones of their own; status, and the best trial as a branch."""

from dockyard.sweep.space import Dimension, Space, parse_overrides, space_from_arguments

__all__ = ["Dimension", "Space", "parse_overrides", "space_from_arguments"]
