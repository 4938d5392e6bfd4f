"""aggregate: summarise the per-seed test metrics; publish the first seed's plots.

eval/metrics.json (committed, the file `dvc metrics show` and `dvc exp show` read) gets,
for every metric, the mean, sample standard deviation, min, max, n and a 95% t interval
over the seeds in `seeds`. The first seed's curves and plot rows are copied to eval/train/
and eval/plots/, where dvc.yaml's plot definitions look. Light: no torch import.
"""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.config import load_params
from dockyard.errors import DataError
from dockyard.io import replace_dir, write_json
from dockyard.paths import METRICS_FILE, PLOTS_DIR, TRAIN_LOG_DIR, seed_dir, train_log_dir
from dockyard.runtime import output_lock, stage_main
from dockyard.stats import summarize_seeds


def read_seed_metrics(seeds: list[int]) -> dict[int, dict[str, float]]:
    per_seed = {}
    for seed in seeds:
        path = Path(seed_dir(seed)) / "metrics.json"
        if not path.is_file():
            raise DataError(
                f"Expected {path} (written by the evaluate@{seed} stage), but it does not exist. "
                "Run `dvc repro` so every seed is evaluated first.",
                kind="missing-file",
                path=path,
            )
        per_seed[seed] = json.loads(path.read_text(encoding="utf-8"))
    return per_seed


@stage_main
def main() -> None:
    cfg = load_params()
    seeds = list(cfg.seeds)
    summary = summarize_seeds(read_seed_metrics(seeds))
    with output_lock(METRICS_FILE, PLOTS_DIR, TRAIN_LOG_DIR):
        replace_dir(f"{seed_dir(seeds[0])}/plots", PLOTS_DIR)
        replace_dir(train_log_dir(seeds[0]), TRAIN_LOG_DIR)
        write_json(summary, METRICS_FILE)  # last: the metrics never describe half-copied plots
    shown = ", ".join(
        f"{name} {s['mean']:.4f}" + (f" ± {s['std']:.4f}" if s["std"] is not None else "")
        for name, s in summary.items()
    )
    print(f"aggregate ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}): {shown}")


if __name__ == "__main__":
    main()
