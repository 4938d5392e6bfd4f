"""False alarms and detection power of dockyard's drift verdicts, by simulation.

Usage: python benchmarks/drift_simulation.py [--sizes 200,1000,10000,100000,1000000]
           [--repeats 100] [--power-repeats 50] [--large-repeats 5] [--bootstrap 500]
           [--output FILE.json]

Each batch draws a fresh reference and current table of the same number of rows, shaped
like the `synthetic` source (24 float32 N(0, 1) columns num_*, 6 categorical columns
cat_* with 8 levels c0..c7 at 12.5% each), and a held-out table of HELD_OUT times as many
rows (a model's validation + test splits beside its training split). It judges them as
`dockyard monitor` does, with the default policy: every feature's distribution, missing
share and out-of-range share (each number expected in RANGE) against the reference, and
the predictions of a fixed rule (`predict`, standing in for a model) against the held-out
table, all in one Benjamini-Hochberg family (--bootstrap 0 skips the effect intervals,
which no verdict depends on, for speed). Scenarios change only the current table, except
where a column's missing share moves:
  none         nothing: every flag is a false alarm;
  none+missing num_1 and cat_1 16.5% missing on both sides: still nothing to flag;
  mean+0.1sd   num_0 shifted by 0.1 sd (the numeric threshold: borderline by design);
  mean+0.2sd   num_0 shifted by 0.2 sd (must be found at large n);
  cat+5pt      cat_0's c0 at 17.5%, the other levels shrunk in proportion (must be found);
  tiny+0.01sd  every numeric column shifted by 0.01 sd: real but negligible, so it should
               not be flagged, although raw KS p-values fall below 0.05 at large n;
  empty        num_3 16.5% missing in the reference, 100% in the current table (a feed
               that broke: must be found);
  missing+72pt cat_3 10% missing in the reference, 82% in the current table (must be found).
The rule reads num_5, num_6 and cat_5, which no scenario but tiny+0.01sd changes, so a
prediction flag is a false alarm everywhere else.
Scenario `none` runs --repeats batches per size, the others --power-repeats; sizes of a
million rows or more run --large-repeats batches instead.
Prints markdown tables and writes every figure to --output as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import drift_policy  # noqa: E402  (conf/monitor/default.yaml's values)

from dockyard.drift import (  # noqa: E402
    DriftPolicy,
    adjust_together,
    compare_feature,
    compare_table,
    infer_kinds,
)

NUMERIC, CATEGORICAL, LEVELS = 24, 6, 8
LABELS = [f"c{k}" for k in range(LEVELS)]
UNIFORM = np.full(LEVELS, 1 / LEVELS)
FIVE_POINTS = np.r_[0.175, np.full(LEVELS - 1, 0.825 / (LEVELS - 1))]
SCENARIOS = {  # name: (shifted column or None, numeric shift on it, category shares for cat_0)
    "none": (None, 0.0, UNIFORM),
    "none+missing": (None, 0.0, UNIFORM),
    "mean+0.1sd": ("num_0", 0.1, UNIFORM),
    "mean+0.2sd": ("num_0", 0.2, UNIFORM),
    "cat+5pt": ("cat_0", 0.0, FIVE_POINTS),
    "tiny+0.01sd": ("num_*", 0.01, UNIFORM),
    "empty": ("num_3", 0.0, UNIFORM),
    "missing+72pt": ("cat_3", 0.0, UNIFORM),
}
# Missing shares per scenario: {column: (reference share, current share)}
MISSING = {
    "none+missing": {"num_1": (0.165, 0.165), "cat_1": (0.165, 0.165)},
    "empty": {"num_3": (0.165, 1.0)},
    "missing+72pt": {"cat_3": (0.10, 0.82)},
}
RANGE = (-3.5, 3.5)  # every number's expected range (as `data add` drafts: observed extremes)
HELD_OUT = 0.35 / 0.65  # validation + test rows per training row (the default split)
PREDICTION_INPUTS = ("num_5", "num_6", "cat_5")


def make_table(
    rows: int, rng: np.random.Generator, scenario: str = "none", side: str = "current"
) -> pd.DataFrame:
    """A table shaped like the synthetic source, changed as `scenario` says; the
    reference side differs only in its missing shares (MISSING)."""
    target, shift, cat_0 = SCENARIOS[scenario] if side == "current" else SCENARIOS["none"]
    columns: dict[str, object] = {}
    for i in range(NUMERIC):
        values = rng.standard_normal(rows, dtype=np.float32)
        if target == "num_*" or target == f"num_{i}":
            values += np.float32(shift)
        columns[f"num_{i}"] = values
    for j in range(CATEGORICAL):
        shares = cat_0 if j == 0 else UNIFORM
        codes = rng.choice(LEVELS, size=rows, p=shares).astype(np.int8)
        columns[f"cat_{j}"] = pd.Categorical.from_codes(codes, categories=LABELS)
    table = pd.DataFrame(columns)
    for column, shares in MISSING.get(scenario, {}).items():
        share = shares[0] if side == "reference" else shares[1]
        table.loc[rng.random(rows) < share if share < 1 else slice(None), column] = np.nan
    return table


def predict(table: pd.DataFrame) -> pd.Series:
    """A fixed three-class rule on PREDICTION_INPUTS, standing in for a trained model."""
    score = table["num_5"].to_numpy(np.float64) + table["num_6"].to_numpy(np.float64)
    score += np.isin(table["cat_5"].astype(str), LABELS[:3])
    return pd.Series(np.digitize(score, [-0.5, 1.0]).astype(str))


def judge(
    reference: pd.DataFrame, current: pd.DataFrame, held_out: pd.DataFrame, policy: DriftPolicy
) -> list:
    """The features and (last) the predictions, adjusted together as the monitor does."""
    ranges = {f"num_{i}": RANGE for i in range(NUMERIC)}
    features = compare_table(reference, current, infer_kinds(reference), policy, ranges)
    prediction = compare_feature(
        predict(held_out), predict(current), "categorical", policy, "prediction"
    )
    return adjust_together([*features, prediction], policy)


def run_cell(
    scenario: str, rows: int, repeats: int, seed: int, bootstrap: int
) -> dict[str, object]:
    """`repeats` batches of one scenario at one size, summarised."""
    target = SCENARIOS[scenario][0]
    rng = np.random.default_rng([seed, rows, list(SCENARIOS).index(scenario)])
    hits, false_batches, flagged, naive, seconds, effects = 0, 0, [], [], [], []
    prediction_alarms = 0
    for repeat in range(repeats):
        reference = make_table(rows, rng, scenario, "reference")
        held_out = make_table(round(rows * HELD_OUT), rng, scenario, "reference")
        current = make_table(rows, rng, scenario)
        start = time.perf_counter()
        policy = drift_policy(seed=repeat, bootstrap=bootstrap)
        results = judge(reference, current, held_out, policy)
        seconds.append(time.perf_counter() - start)
        is_target = [
            target == r.column
            or (target == "num_*" and (r.kind == "numeric" or r.column == "prediction"))
            for r in results
        ]
        prediction_alarms += results[-1].drifted and not is_target[-1]
        hits += any(r.drifted for r, t in zip(results, is_target, strict=True) if t)
        false_batches += any(r.drifted for r, t in zip(results, is_target, strict=True) if not t)
        flagged.append(sum(r.drifted for r in results))
        naive.append(sum(r.p_value < 0.05 for r in results[:-1]))
        effects += [
            (r.missing.effect, math.nan, math.nan)  # a share in points, no interval
            if scenario in MISSING
            else (r.effect, r.effect_low, r.effect_high)
            for r, t in zip(results, is_target, strict=True)
            if t and target != "num_*"
        ]
    cell: dict[str, object] = {
        "scenario": scenario,
        "rows": rows,
        "batches": repeats,
        "target_found": hits / repeats if target else None,
        "false_alarm_batches": false_batches / repeats,
        "prediction_false_alarm_batches": prediction_alarms / repeats,
        "mean_flagged_columns": float(np.mean(flagged)),
        "mean_raw_p_below_0.05": float(np.mean(naive)),
        "seconds_per_batch": float(np.mean(seconds)),
    }
    if effects:  # means over batches; the interval's are None without a bootstrap
        means = np.mean(effects, axis=0)
        for key, value in zip(("effect", "low", "high"), means, strict=True):
            cell[f"target_{key}_mean"] = float(value) if np.isfinite(value) else None
    return cell


def markdown(cells: list[dict[str, object]]) -> str:
    lines = [
        "| scenario | rows | batches | target found | batches with a false alarm "
        "| of them by the predictions | flagged columns (mean) | raw p < 0.05 (mean) "
        "| target effect [95% CI] | s/batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for c in cells:
        found = "-" if c["target_found"] is None else f"{c['target_found']:.2f}"
        effect = "-"
        if c.get("target_effect_mean") is not None:
            effect = f"{c['target_effect_mean']:.3f}"
        if c.get("target_low_mean") is not None:
            effect += f" [{c['target_low_mean']:.3f}, {c['target_high_mean']:.3f}]"
        lines.append(
            f"| {c['scenario']} | {c['rows']:,} | {c['batches']} | {found} "
            f"| {c['false_alarm_batches']:.3f} | {c['prediction_false_alarm_batches']:.3f} "
            f"| {c['mean_flagged_columns']:.2f} "
            f"| {c['mean_raw_p_below_0.05']:.2f} | {effect} | {c['seconds_per_batch']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,10000,100000,1000000")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--power-repeats", type=int, default=50)
    parser.add_argument("--large-repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=drift_policy().bootstrap)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cells = []
    for scenario in args.scenarios.split(","):
        for rows in sizes:
            repeats = args.repeats if scenario == "none" else args.power_repeats
            repeats = args.large_repeats if rows >= 1_000_000 else repeats
            cells.append(run_cell(scenario, rows, repeats, args.seed, args.bootstrap))
            print(json.dumps(cells[-1]), file=sys.stderr, flush=True)
    policy = drift_policy(bootstrap=args.bootstrap)
    print(
        f"Policy: fdr={policy.fdr}, numeric_threshold={policy.numeric_threshold}, "
        f"categorical_threshold={policy.categorical_threshold}, "
        f"missing_threshold={policy.missing_threshold}, "
        f"out_of_range_threshold={policy.out_of_range_threshold}, bootstrap={policy.bootstrap}; "
        f"{NUMERIC} numeric (expected in {RANGE}) + {CATEGORICAL} categorical columns and "
        f"the predictions, reference rows = current rows, held-out rows = "
        f"{HELD_OUT:.2f} x current rows.\n"
    )
    print(markdown(cells))
    if args.output:
        args.output.write_text(
            json.dumps({"policy": policy.__dict__, "cells": cells}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
