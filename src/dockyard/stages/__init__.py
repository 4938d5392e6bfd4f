"""DVC stage entry points: `python -m dockyard.stages.NAME`, one module per stage.

Each module holds a pure function that does the work and a thin `main` that reads
params.yaml, calls it and writes the outputs. The light stages (ingest, validate,
split) never import torch or Lightning.
"""
