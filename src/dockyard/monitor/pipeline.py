"""The `monitor` stage's comparison: the dataset's newest batch against the batches before it.

The stage runs after training, so the model has already seen the newest batch, and its
training split holds part of it. What stays meaningful is how the newest batch differs
from the window of batches the previous run trained on (read from the batch folder
exactly as ingest reads it), feature by feature and in the new model's predictions.
Decay is left to `dockyard monitor`, run before `dvc repro` (as `dockyard retrain` does):
here the batch's labels were trained on, so they test nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.data.sources import previous_window
from dockyard.monitor.check import check_batch, skipped, summarise
from dockyard.monitor.project import (
    dataset_batches,
    load_settings,
    read_batch,
    read_batches_of,
    require_model,
    seed_model,
    shown,
)


def monitor_pipeline(root: str | Path = ".") -> dict[str, Any]:
    """Newest batch vs the previous window, with the first seed's model (see above)."""
    from dockyard.serve.scoring import Scorer

    root = Path(root)
    cfg, policy = load_settings(root)
    batches = dataset_batches(cfg.data, root)
    if batches is None:
        return skipped(
            f"the dataset {cfg.data.name} is not a folder of batches (data.input is "
            f"{cfg.data.input}): there is no newest batch to compare"
        )
    window = cfg.data.get("window")
    previous = previous_window(batches, window)
    if not previous:
        return skipped(f"{batches[-1].name} is the only batch: nothing came before it")
    current = read_batch(batches[-1], cfg.data)
    reference = read_batches_of(previous, cfg.data)
    model = require_model(seed_model(root, int(cfg.seeds[0])))
    result, _ = check_batch(reference, current, Scorer(model), policy)
    if result["prediction"] is not None:
        result["prediction"]["reference"] = "the batches before the newest"
    return {
        "dataset": str(cfg.data.name),
        **result,
        "performance": None,
        **summarise(result, len(reference), len(current)),
        "current": {"path": shown(batches[-1], root), "batch": batches[-1].name},
        "reference": {"batches": [p.name for p in previous], "window": window},
        "model": shown(model, root),
        "policy": policy.to_dict(),
        "notes": [
            "the pipeline has trained on the newest batch, so decay is not assessed here: "
            "`dockyard monitor` before `dvc repro` assesses it (dockyard retrain does)"
        ],
    }
