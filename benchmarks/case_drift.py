"""Drift monitoring: dockyard's table_drift against Evidently's default DataDriftPreset.

Both read the same Parquet tables (30 columns shaped like the synthetic source: 24 numeric,
6 categorical with 8 levels), 1,000,000 reference vs 1,000,000 current rows. The current
table carries a 5-point shift of one category's share (12.5% -> 17.5%) in `cat_0`: the
time is measured on it, and each side's verdicts say whether it found the shift. Then
no-shift batches at 500 and 1,000,000 rows, repeated, count false alarms.

Evidently 0.7 does not import under pandas 3 (dockyard's environment), so it runs in its
own virtual environment, `.venv-evidently/` (git-ignored), created on first use from
benchmarks/evidently_requirements.txt; the baseline is skipped, with the reason printed,
when that environment cannot be built (no network).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, row

EVIDENTLY_ENV = ROOT / ".venv-evidently"
ROWS = 1_000_000
FALSE_ALARM_REPEATS = {500: 20, 1_000_000: 3}
# Evidently takes about three minutes per 1M-row comparison: it joins the no-shift repeats
# at 500 rows only (its 1M cost is measured once, on the shifted table).
EVIDENTLY_SIZES = (500,)


def _evidently_python() -> Path | None:
    python = EVIDENTLY_ENV / "bin" / "python"
    if python.is_file():
        return python
    requirements = ROOT / "benchmarks" / "evidently_requirements.txt"
    print("case drift: building .venv-evidently for the baseline...", file=sys.stderr)
    made = subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_ENV)], check=False)
    if made.returncode == 0:
        (EVIDENTLY_ENV / ".gitignore").write_text("*\n")
        pip = [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)]
        if subprocess.run(pip, check=False).returncode == 0:
            return python
    print("case drift: Evidently could not be installed; baseline skipped", file=sys.stderr)
    return None


def _tables(work: Path, rows: int, seed: int, scenario: str) -> tuple[Path, Path]:
    from drift_simulation import make_table

    folder = work / f"drift-{rows}-{seed}-{scenario}"
    folder.mkdir(parents=True, exist_ok=True)
    reference, current = folder / "reference.parquet", folder / "current.parquet"
    if not current.is_file():
        rng = np.random.default_rng(seed)
        make_table(rows, rng).to_parquet(reference, index=False)
        make_table(rows, rng, scenario).to_parquet(current, index=False)
    return reference, current


def _dockyard(reference: Path, current: Path) -> tuple[float, list[str]]:
    import pandas as pd
    from tests.helpers import drift_policy

    from dockyard.drift import table_drift

    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    start = time.perf_counter()
    results = table_drift(ref, cur, None, drift_policy())
    seconds = time.perf_counter() - start
    return seconds, [r.column for r in results if r.drifted]


def _evidently(python: Path, reference: Path, current: Path) -> tuple[float, list[str]]:
    out = subprocess.run(
        [
            str(python),
            str(ROOT / "benchmarks" / "evidently_baseline.py"),
            "--reference",
            str(reference),
            "--current",
            str(current),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    return float(result["seconds"]), list(result["drifted_columns"])


def run(work: Path, state: dict[str, Any], args: Any) -> list[dict[str, Any]]:
    python = _evidently_python()
    reference, current = _tables(work, ROWS, 1, "cat+5pt")
    ours_s, ours_flags = _dockyard(reference, current)
    theirs_s, theirs_flags = _evidently(python, reference, current) if python else (None, None)
    rows = [
        row(
            f"drift, 30 columns, {ROWS:,} vs {ROWS:,} rows (seconds; ratio = speed-up)",
            ours_s,
            theirs_s if theirs_s is not None else float("nan"),
            "s",
            (theirs_s / ours_s) if theirs_s else float("nan"),
            "< 10 s and >= 15x Evidently",
            ours_s < 10 and (theirs_s is None or theirs_s / ours_s >= 15),
            "Evidently 0.7 DataDriftPreset (defaults) in its own venv, same Parquet files",
            dockyard_flags=ours_flags,
            evidently_flags=theirs_flags,
        ),
        row(
            "drift: the 5-point shift of one category found (1 = yes)",
            float("cat_0" in ours_flags),
            float(theirs_flags is not None and "cat_0" in theirs_flags),
            "found",
            float("cat_0" in ours_flags),
            "found, and nothing else flagged",
            ours_flags == ["cat_0"],
            "the same verdict from Evidently's defaults",
        ),
    ]
    for size, repeats in FALSE_ALARM_REPEATS.items():
        ours_alarms = theirs_alarms = 0
        for seed in range(repeats):
            reference, current = _tables(work, size, 100 + seed, "none")
            ours_alarms += bool(_dockyard(reference, current)[1])
            if python and size in EVIDENTLY_SIZES:
                theirs_alarms += bool(_evidently(python, reference, current)[1])
        rows.append(
            row(
                f"drift: false alarms on no-shift batches, {size:,} rows, {repeats} repeats",
                ours_alarms / repeats,
                theirs_alarms / repeats if python and size in EVIDENTLY_SIZES else float("nan"),
                "share",
                float("nan"),  # a share of batches, read as it is
                "no column flagged (<= FDR 0.05 over repeats)",
                ours_alarms / repeats <= 0.05,
                "the share of batches in which Evidently flagged any column",
            )
        )
    return rows
