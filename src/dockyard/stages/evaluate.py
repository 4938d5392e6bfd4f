"""evaluate: score one seed's model on the test split; write its metrics and plot data.

Runs once per training seed (the evaluate@N stages). eval/seeds/N/metrics.json holds
`test/...` metrics, committed to git (cache: false); the aggregate stage summarises the
seeds into eval/metrics.json. eval/seeds/N/plots/ holds the rows behind the plots
declared in dvc.yaml; eval/seeds/N/model.json the model's parameters and size. The
single-row latency goes to eval/runs/seed-N.json (it changes every run), and the test
metrics to the runs of any extra logger training used.
"""

from __future__ import annotations

from dockyard.config import default_seed, load_params
from dockyard.data.features import feature_arrays
from dockyard.io import write_json
from dockyard.paths import features_path, model_dir, model_summary_path, run_facts_path, seed_dir
from dockyard.provenance import read_run_facts, record_run_facts
from dockyard.runtime import output_lock, seed_argument, stage_main


@stage_main
def main() -> None:
    from dockyard.models.artifact import load_model
    from dockyard.models.evaluation import (
        PLOT_FILES,
        evaluate,
        model_size,
        single_row_latency_ms,
    )
    from dockyard.models.loggers import log_test_metrics

    seed = seed_argument("Evaluate one seed's model on the test split.")
    if seed is None:
        seed = default_seed(load_params())
    model = load_model(model_dir(seed))
    x, y, _ = feature_arrays(features_path("test"))
    metrics, plots = evaluate(model, x, y)
    out = seed_dir(seed)
    with output_lock(f"{out}/metrics.json", f"{out}/plots", model_summary_path(seed)):
        write_json(metrics, f"{out}/metrics.json")
        # Every plot declared in dvc.yaml gets a file; those that do not apply to the task
        # stay empty, which `dvc plots` skips quietly instead of reporting a missing file.
        for name in PLOT_FILES:
            write_json(plots.get(name, []), f"{out}/plots/{name}.json", indent=None)
        write_json(model_size(model), model_summary_path(seed))
    facts = run_facts_path(seed)
    record_run_facts(facts, {"predict_row_ms": round(single_row_latency_ms(model, x[:1]), 4)})
    log_test_metrics(read_run_facts(facts).get("loggers") or {}, metrics)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    print(f"evaluate (seed {seed}): {shown} -> {out}/metrics.json")


if __name__ == "__main__":
    main()
