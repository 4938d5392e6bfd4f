"""Evidently's default data-drift verdicts and their cost, for comparison with dockyard's.

Runs INSIDE its own virtual environment (Evidently 0.7 does not import under pandas 3):
    python3 -m venv .venv-evidently
    .venv-evidently/bin/pip install -r benchmarks/evidently_requirements.txt
    .venv-evidently/bin/python benchmarks/evidently_baseline.py --rows 1000000 [--seed 0]
        [--scenario none|mean+0.2sd|cat+5pt]
    .venv-evidently/bin/python benchmarks/evidently_baseline.py --reference R.parquet \\
        --current C.parquet
Generated tables have the shape of dockyard's `synthetic` source (24 float32 N(0, 1)
columns num_*, 6 categorical columns cat_* with 8 levels c0..c7 at 12.5% each); the
scenarios match benchmarks/drift_simulation.py. The report is DataDriftPreset() with
Evidently's defaults and include_tests=True, whose per-column tests carry its verdicts.
Prints one JSON object: seconds (building the datasets, running the report, reading its
result) and each column's method, score, threshold and verdict. Uses only the standard
library, numpy, pandas and evidently, so it needs nothing from dockyard.
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np
import pandas as pd

LEVELS = 8


def make_table(rows: int, rng: np.random.Generator, scenario: str = "none") -> pd.DataFrame:
    uniform = np.full(LEVELS, 1 / LEVELS)
    five_points = np.r_[0.175, np.full(LEVELS - 1, 0.825 / (LEVELS - 1))]
    columns: dict[str, object] = {}
    for i in range(24):
        values = rng.standard_normal(rows, dtype=np.float32)
        if scenario == "mean+0.2sd" and i == 0:
            values += np.float32(0.2)
        columns[f"num_{i}"] = values
    for j in range(6):
        shares = five_points if scenario == "cat+5pt" and j == 0 else uniform
        codes = rng.choice(LEVELS, size=rows, p=shares).astype(np.int8)
        columns[f"cat_{j}"] = pd.Categorical.from_codes(
            codes, categories=[f"c{k}" for k in range(LEVELS)]
        )
    return pd.DataFrame(columns)


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, object]:
    """Evidently's default drift report on two tables: seconds and per-column verdicts."""
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [str(c) for c in reference.columns if pd.api.types.is_float_dtype(reference[c])]
    other = [str(c) for c in reference.columns if str(c) not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=other)
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    columns: dict[str, dict[str, object]] = {}
    pattern = re.compile(r"ValueDrift\(column=(.+),method=(.+),threshold=(.+)\)")
    for metric in result["metrics"]:
        match = pattern.fullmatch(metric["metric_name"])
        if match:
            name, method, threshold = match.groups()
            columns[name] = {
                "method": method,
                "score": metric["value"],
                "threshold": float(threshold),
            }
    for test in result["tests"]:
        match = re.fullmatch(r"Value Drift for column (.+)", test["name"])
        if match and match.group(1) in columns:
            columns[match.group(1)]["drifted"] = test["status"] == "FAIL"
    return {
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "seconds": seconds,
        "drifted_columns": [name for name, c in columns.items() if c.get("drifted")],
        "columns": columns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="reference table (Parquet)")
    parser.add_argument("--current", help="current table (Parquet)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each generated table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", default="none", choices=["none", "mean+0.2sd", "cat+5pt"])
    args = parser.parse_args()
    if bool(args.reference) != bool(args.current):
        parser.error("give both --reference and --current, or neither (to generate tables)")
    if args.reference:
        reference, current = pd.read_parquet(args.reference), pd.read_parquet(args.current)
        source = {"reference": args.reference, "current": args.current}
    else:
        rng = np.random.default_rng(args.seed)
        reference, current = make_table(args.rows, rng), make_table(args.rows, rng, args.scenario)
        source = {"generated": True, "seed": args.seed, "scenario": args.scenario}
    print(json.dumps({"source": source, **evidently_drift(reference, current)}, indent=2))


if __name__ == "__main__":
    main()
