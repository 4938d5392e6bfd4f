"""dockyard's benchmark suite: every figure beside a baseline measured in the same run.

Usage: python benchmarks/bench.py [--cases 1,2,...] [--list] [--markdown] [--out FILE]
`make bench` runs every case. benchmarks/README.md says what each case measures, against
which baseline, how the ratios are computed and what the goals are.

Writes benchmarks/results.json (machine, versions, every row with its raw timings) and
prints a table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import ROOT, Row, machine

# The cases, by number: "module" runs module.run, "module:function" another function. It is
# called as function(work: Path, state: dict, args: argparse.Namespace) and returns rows
# made with common.row; `work` is a scratch folder shared by the cases of one run and
# `state` what earlier cases left for later ones. A module may define
# add_arguments(parser) for options of its own (case_memory's --memory-rows).
CASES: dict[int, str] = {
    1: "case_training",
    2: "case_pipeline",
    3: "case_startup",
    4: "case_tables",
    5: "case_prediction",
    6: "case_memory",
    7: "serving:batch_case",
    8: "serving:serve_case",
    9: "case_drift",
    10: "case_train_startup",
    11: "case_pr_restore:run_case",
    12: "case_sweep",
    13: "case_profile",
}
CaseFunction = Callable[[Path, dict[str, Any], argparse.Namespace], list[Row]]


def case_function(spec: str) -> CaseFunction:
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function or "run")


def case_title(spec: str) -> str:
    """The first line of the case function's docstring, else of its module's."""
    function = case_function(spec)
    doc = function.__doc__ or sys.modules[function.__module__].__doc__ or spec
    return doc.strip().splitlines()[0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(map(str, CASES)), help="e.g. 1,3,4")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results.json"))
    for module in dict.fromkeys(spec.partition(":")[0] for spec in CASES.values()):
        add_arguments = getattr(importlib.import_module(module), "add_arguments", None)
        if add_arguments:
            add_arguments(parser)
    args = parser.parse_args()
    try:
        args.wanted = [int(c) for c in args.cases.split(",")]
    except ValueError:
        args.wanted = []
    if not args.wanted or not set(args.wanted) <= set(CASES):
        parser.error(
            f"--cases takes case numbers separated by commas, from {sorted(CASES)}; "
            f"got {args.cases!r} (--list names them)"
        )
    return args


def without_case(r: Row) -> Row:
    """The row minus any case label of its own: CASES numbers every row."""
    return {key: value for key, value in r.items() if key != "case"}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("samples/s", "rows/s", "MB"):
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def goal_text(r: Row) -> str:
    verdict = {None: "", True: " ok", False: " MISSED"}[r.get("met")]
    return f"{r['goal']}{verdict}" if r.get("goal") else "-"


def print_table(rows: list[Row], markdown: bool) -> None:
    cells = [
        (
            str(r["case"]),
            r["measure"],
            fmt(r.get("dockyard"), r["unit"]),
            fmt(r.get("baseline"), r["unit"]),
            "-" if r.get("ratio") is None else f"{r['ratio']:.2f}",
            goal_text(r),
        )
        for r in rows
    ]
    if markdown:
        print("| case | measure | dockyard | baseline (same run) | ratio | goal |")
        print("|---|---|---|---|---|---|")
        for c in cells:
            print("| " + " | ".join(c) + " |")
        return
    header = f"{'case':<5}{'measure':<66}{'dockyard':>20}{'baseline':>20}{'ratio':>8}  goal"
    print(header + "\n" + "-" * len(header))
    for case, measure, ours, theirs, ratio, goal in cells:
        print(f"{case:<5}{measure[:65]:<66}{ours:>20}{theirs:>20}{ratio:>8}  {goal}")
    print("\nbaselines:")
    for r in rows:
        print(f"  case {r['case']}, {r['measure'][:40]}...: {r['baseline_is']}")


def main() -> None:
    args = parse_args()
    if args.list:
        for number, spec in CASES.items():
            print(f"{number:>3}  {spec:<20}  {case_title(spec)}")
        return
    # bytecode for dockyard's own modules, as any installed package has: without it
    # (PYTHONDONTWRITEBYTECODE) every start-up would recompile the sources
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    results: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        state: dict[str, Any] = {}
        for number in args.wanted:
            case_start = time.perf_counter()
            print(f"case {number} ({CASES[number]}): running...", file=sys.stderr, flush=True)
            rows = case_function(CASES[number])(Path(tmp), state, args)
            results += [{"case": number, **without_case(r)} for r in rows]
            seconds = time.perf_counter() - case_start
            print(f"case {number}: done in {seconds:.0f} s", file=sys.stderr, flush=True)
    report = {"machine": machine(), "seconds": time.perf_counter() - started, "results": results}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print_table(results, args.markdown)
    print(f"\n{len(results)} rows in {report['seconds']:.0f} s -> {args.out}")
    missed = [r for r in results if r.get("met") is False]
    if missed:
        print(f"{len(missed)} goal(s) missed: see MISSED above", file=sys.stderr)


if __name__ == "__main__":
    main()
