"""aggregate: summarise the per-seed test metrics; publish the first seed's plots.

eval/metrics.json (committed, the file `dvc metrics show` and `dvc exp show` read) gets,
for every metric, the mean, sample standard deviation, min, max, n and a 95% t interval
over the seeds in `seeds`. The first seed's curves and plot rows are copied to eval/train/
and eval/plots/, where dvc.yaml's plot definitions look. Light: no torch import.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dockyard.config import load_params
from dockyard.errors import DataError, exit_on_user_error
from dockyard.io import write_json
from dockyard.paths import METRICS_FILE, PLOTS_DIR, TRAIN_LOG_DIR, seed_dir
from dockyard.stats import summarize


def aggregate(per_seed: dict[int, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """metric -> {mean, std, min, max, n, ci95_low, ci95_high} over the seeds given."""
    names = sorted({name for metrics in per_seed.values() for name in metrics})
    summary = {}
    for name in names:
        values = [metrics[name] for metrics in per_seed.values() if name in metrics]
        summary[name] = summarize(values)
    return summary


def read_seed_metrics(seeds: list[int]) -> dict[int, dict[str, float]]:
    per_seed = {}
    for seed in seeds:
        path = Path(seed_dir(seed)) / "metrics.json"
        if not path.is_file():
            raise DataError(
                f"Expected {path} (written by the evaluate@{seed} stage), but it does not exist. "
                "Run `dvc repro` so every seed is evaluated first."
            )
        per_seed[seed] = json.loads(path.read_text(encoding="utf-8"))
    return per_seed


def _replace_dir(source: Path, target: Path) -> None:
    """Copy next to the target, then swap, so a failure never leaves it half copied."""
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


@exit_on_user_error
def main() -> None:
    cfg = load_params()
    seeds = list(cfg.seeds)
    summary = aggregate(read_seed_metrics(seeds))
    primary = Path(seed_dir(seeds[0]))
    _replace_dir(primary / "plots", Path(PLOTS_DIR))
    _replace_dir(primary / "train", Path(TRAIN_LOG_DIR))
    write_json(summary, METRICS_FILE)  # last: the metrics never describe half-copied plots
    shown = ", ".join(
        f"{name} {s['mean']:.4f}" + (f" ± {s['std']:.4f}" if s["std"] is not None else "")
        for name, s in summary.items()
    )
    print(f"aggregate ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}): {shown}")


if __name__ == "__main__":
    main()
