"""DVC stage entry points (`python -m dockyard.stages.NAME`), one module per stage.

Each is wiring only: read params.yaml, call functions from the floors below (data/,
models/, stats), write the outputs. No stage imports another; the light stages (ingest,
validate, split, featurize, aggregate) never import torch or Lightning.
"""

__all__ = [
    "aggregate",
    "evaluate",
    "featurize",
    "ingest",
    "monitor",
    "split",
    "train",
    "validate",
]
