"""The GPU path, measured: dockyard's training on a CUDA GPU against the plain PyTorch loop
a user would write, in each mode a user can choose.

Usage: python benchmarks/gpu_check.py [--rows 1500000] [--repeats 2] [--out-dir DIR]
       python benchmarks/gpu_check.py --cpu-rehearsal --rows 20000   (checks the script only)
(benchmarks/gpu_check.sh runs this, then the GPU-marked tests.)

Needs torch, pytorch-lightning, pandas, pyarrow, scikit-learn, hydra-core, omegaconf and
pandera: no dvc, no dvclive, dockyard itself from ./src. Steps:
1. prepare `data=synthetic data.rows=ROWS` with the light stages, run directly;
2. run the train stage itself (`python -m dockyard.stages.train`) with trainer=gpu and the
   default settings, and show what its model card says (deterministic: false; step:
   captured);
3. time fit() against two hand-written loops at batch 512 and 8192: `baseline`
   (baselines.train_loop: table resident on the GPU, index slices, fused AdamW, the same
   network with its dropout and one validation pass per epoch) and `captured_baseline`
   (baselines.captured_train_loop: the same loop with its whole step, forward, backward
   and a fused capturable AdamW, captured in one CUDA graph, the permutation drawn on the
   GPU, and the same validation pass as dockyard's: its ceiling; skipped, with the reason
   recorded, where there is no CUDA GPU). Each batch size and determinism setting runs in
   a process of its own, so no setting leaks between them:
   - fast: no CUBLAS_WORKSPACE_CONFIG, deterministic algorithms off, for the loop too;
     dockyard's `default` (trainer.deterministic=false, capture_step=false: eager steps)
     and `captured` (capture_step=auto, the shipped default);
   - deterministic: CUBLAS_WORKSPACE_CONFIG=:4096:8 and deterministic algorithms on, for
     the loop too; dockyard's `deterministic` (eager) and `deterministic+captured`.
   Every side is warmed up, starts from the same host arrays (each copies the table to the
   GPU once, inside its timing) and runs --repeats rounds, the order rotating each round;
   a ratio is the median of the rounds' ratios (the loop's seconds over dockyard's);
4. run the train stage once more with trainer=ddp (one process per visible GPU);
5. run the GPU-marked tests (tests/test_gpu.py) and record their outcome.
Prints one table (case, dockyard, both baselines, ratios) and writes
DIR/DEVICE-gpu_check.json (DEVICE from the GPU's name, e.g. h100): `cases` hold each
case's figures (`baseline`, `captured_baseline` and a ratio against each), `tests` the
tests' outcome ({passed, failed, skipped}). Exits with the tests' status.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

BATCHES = {512: 2, 8192: 20}  # batch size: epochs (8192's steps are few: more epochs)
PROCESSES = {  # one process each; the loop runs beside these dockyard settings
    False: {"default": (False, False), "captured": (False, "auto")},
    True: {"deterministic": (True, False), "deterministic+captured": (True, "auto")},
}
# ratio goals: eager and captured steps at least as fast as the loop, captured twice as
# fast where per-step launches dominate (batch 512); determinism's cost is measured, no goal
GOALS = {("default", 512): 1.0, ("default", 8192): 1.0, ("captured", 512): 2.0}
GOALS[("captured", 8192)] = 1.0
# against the captured loop (its ceiling): dockyard's captured step at 0.8 of it or more
CAPTURED_GOALS = {("captured", 512): 0.8, ("captured", 8192): 0.8}
NO_GRAPHS = "CUDA graphs need a CUDA GPU (a CPU rehearsal)"
DETERMINISTIC_CUBLAS = ":4096:8"


def env(deterministic: bool = False) -> dict[str, str]:
    """The environment of a child process: dockyard from ./src; deterministic cuBLAS only
    where the case measures the deterministic mode (a workspace setting in the parent's
    environment would slow every other case's baseline down with it)."""
    variables = dict(os.environ)
    variables["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [variables.get("PYTHONPATH")])]
    )
    variables.pop("CUBLAS_WORKSPACE_CONFIG", None)
    if deterministic:
        variables["CUBLAS_WORKSPACE_CONFIG"] = DETERMINISTIC_CUBLAS
    return variables


def step(args: list[str], cwd: Path, what: str, deterministic: bool = False) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        args, cwd=cwd, env=env(deterministic), text=True, capture_output=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"{what} failed (exit {result.returncode})")
    lines = result.stdout.strip().splitlines() or [""]
    if not lines[-1].startswith("RESULT "):
        print(f"  {what}: {seconds:.1f} s  {lines[-1]}", flush=True)
    return seconds, result.stdout


def device_slug(name: str) -> str:
    """`h100` from 'NVIDIA H100 80GB HBM3', `h200` from 'NVIDIA H200'."""
    found = re.search(r"\b([A-Z]{1,2}\d{2,4}[A-Z]?)\b", name)
    return (found.group(1) if found else re.sub(r"\W+", "-", name).strip("-")).lower()


def worker(spec: dict[str, Any]) -> None:
    """One process: fit() in each of its modes and the hand-written loop, rotated."""
    import baselines
    import torch
    from omegaconf import OmegaConf

    from dockyard.config import load_params
    from dockyard.data.features import feature_arrays
    from dockyard.models.nets import build_model
    from dockyard.models.training import fit, steps_per_call, validation_batch_size
    from dockyard.paths import features_path

    os.chdir(spec["project"])
    gpu, deterministic = spec["gpu"], spec["deterministic"]
    batch, epochs = spec["batch_size"], spec["epochs"]
    device = torch.device("cuda" if gpu else "cpu")
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    base = load_params()
    x, y, _ = feature_arrays(features_path("train"))
    x_val, y_val, _ = feature_arrays(features_path("val"))
    outputs = int(y.max()) + 1
    net_cfg = OmegaConf.to_container(base.model.net, resolve=True)

    def settings(det: bool, capture: Any, run_epochs: int) -> Any:
        cfg = copy.deepcopy(base)
        cfg.train.batch_size, cfg.train.epochs = batch, run_epochs
        cfg.train.early_stopping.patience = run_epochs  # never stops early
        cfg.trainer.deterministic, cfg.trainer.capture_step = det, capture
        return cfg

    modes = {name: settings(*pair, epochs) for name, pair in PROCESSES[deterministic].items()}
    paths: dict[str, str] = {}

    def dockyard_run(name: str, cfg: Any, rows: int | None = None) -> float:
        train, val = (x[:rows], y[:rows]), (x_val, y_val)
        with tempfile.TemporaryDirectory(prefix="dockyard-logs-") as logs:
            sync()
            start = time.perf_counter()
            result = fit(cfg, train, val, outputs, logs, seed=0)
            sync()
            seconds = time.perf_counter() - start
        paths[name] = result["device"]["step"]
        return seconds

    def baseline_run(rows: int | None = None, run_epochs: int = epochs) -> float:
        # the loop pays for determinism exactly when dockyard's side of the case does
        torch.use_deterministic_algorithms(deterministic)
        torch.manual_seed(0)
        net = build_model(net_cfg, x.shape[1], outputs).to(device)
        sync()
        start = time.perf_counter()
        tensors = [torch.from_numpy(a).to(device) for a in (x[:rows], y[:rows], x_val, y_val)]
        result = baselines.train_loop(
            net,
            *tensors,
            epochs=run_epochs,
            batch_size=batch,
            lr=base.train.lr,
            weight_decay=base.train.weight_decay,
            fused=gpu,
            sync=sync,
        )
        del result
        return time.perf_counter() - start  # its one copy of the table included, as in fit()

    # the validation slices dockyard's fit uses with these settings
    first = next(iter(modes.values()))
    val_batch = validation_batch_size(first, steps_per_call(first))

    def captured_baseline_run(rows: int | None = None, run_epochs: int = epochs) -> float:
        torch.use_deterministic_algorithms(deterministic)
        torch.manual_seed(0)
        net = build_model(net_cfg, x.shape[1], outputs).to(device)
        sync()
        start = time.perf_counter()
        # row-major on the GPU, as fit's training table is (the loop at its best)
        tensors = [
            torch.from_numpy(a).to(device).contiguous() for a in (x[:rows], y[:rows], x_val, y_val)
        ]
        baselines.captured_train_loop(
            net,
            *tensors,
            epochs=run_epochs,
            batch_size=batch,
            lr=base.train.lr,
            weight_decay=base.train.weight_decay,
            val_batch_size=val_batch,
        )
        return time.perf_counter() - start  # its one copy of the table included, as in fit()

    runs = {"baseline": baseline_run}
    no_captured = NO_GRAPHS
    # warm-up: allocator, cuBLAS handles, kernels, Lightning's first-call costs
    warm_rows = min(len(y), 50_000)
    for name, (det, capture) in PROCESSES[deterministic].items():
        dockyard_run(name, settings(det, capture, 1), warm_rows)
    baseline_run(warm_rows, 1)
    if gpu:
        try:  # a loop that cannot be captured here is recorded, not fatal to the check
            captured_baseline_run(warm_rows, 1)
            runs["captured_baseline"] = captured_baseline_run
        except RuntimeError as error:
            no_captured = f"the captured loop failed: {str(error).strip()[:200]}"
            print(f"    {no_captured}", flush=True)

    members = [*runs, *modes]
    seconds: dict[str, list[float]] = {name: [] for name in members}
    for round_ in range(spec["repeats"]):
        shift = round_ % len(members)
        for name in members[shift:] + members[:shift]:
            took = runs[name]() if name in runs else dockyard_run(name, modes[name])
            seconds[name].append(took)
        print(
            f"    round {round_ + 1}: "
            + ", ".join(f"{name} {seconds[name][-1]:.2f} s" for name in members),
            flush=True,
        )
    samples = len(y) * epochs
    cases = []
    for name in modes:
        ratios = [b / d for b, d in zip(seconds["baseline"], seconds[name], strict=True)]
        captured = (
            captured_figures(seconds, name, samples)
            if "captured_baseline" in runs
            else skipped_captured(no_captured)
        )
        cases.append(
            {
                "mode": name,
                "batch_size": batch,
                "epochs": epochs,
                "samples": samples,
                "deterministic": deterministic,
                "capture_step": modes[name].trainer.capture_step,
                "step": paths[name],
                "dockyard": samples / statistics.median(seconds[name]),
                "baseline": samples / statistics.median(seconds["baseline"]),
                "ratio": statistics.median(ratios),
                "round_ratios": ratios,
                "goal": GOALS.get((name, batch)),
                "dockyard_seconds": seconds[name],
                "baseline_seconds": seconds["baseline"],
                **captured,
                "captured_goal": CAPTURED_GOALS.get((name, batch)),
            }
        )
    print("RESULT " + json.dumps({"cases": cases, "train_rows": len(y), "features": x.shape[1]}))


def captured_figures(seconds: dict[str, list[float]], name: str, samples: int) -> dict[str, Any]:
    """A case's figures against the captured loop: its samples/s and the median of the
    rounds' ratios (the loop's seconds over dockyard's)."""
    theirs = seconds["captured_baseline"]
    ratios = [b / d for b, d in zip(theirs, seconds[name], strict=True)]
    return {
        "captured_baseline": samples / statistics.median(theirs),
        "captured_ratio": statistics.median(ratios),
        "captured_round_ratios": ratios,
        "captured_baseline_seconds": theirs,
    }


def skipped_captured(reason: str) -> dict[str, Any]:
    """The captured loop's place in a case where it could not run, with the reason."""
    return {"captured_baseline": None, "captured_ratio": None, "captured_skipped": reason}


def junit_outcome(path: Path) -> dict[str, int]:
    """{passed, failed, skipped} from pytest's JUnit XML report (errors count as failed)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    count = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors")}
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failed = count["failures"] + count["errors"]
    return {"passed": count["tests"] - failed - skipped, "failed": failed, "skipped": skipped}


def run_gpu_tests() -> tuple[int, dict[str, Any]]:
    """The GPU-marked tests, their output shown as it comes: (pytest's exit status, outcome)."""
    with tempfile.TemporaryDirectory(prefix="dockyard-gpu-tests-") as tmp:
        report = Path(tmp) / "junit.xml"
        args = ["-q", "-p", "no:cacheprovider", "-m", "gpu", "tests/test_gpu.py", "-rs"]
        status = subprocess.run(
            [sys.executable, "-m", "pytest", *args, f"--junitxml={report}"],
            cwd=ROOT,
            env=env(),
            check=False,
        ).returncode
        if not report.is_file():
            return status, {"passed": 0, "failed": 0, "skipped": 0, "exit_status": status}
        return status, {**junit_outcome(report), "exit_status": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--out-dir", default=str(ROOT / "benchmarks/gpu"), help="where DEVICE-gpu_check.json goes"
    )
    parser.add_argument(
        "--cpu-rehearsal",
        action="store_true",
        help="run every step on the CPU (trainer=cpu) to check the script on a machine "
        "without a GPU; its figures say nothing about GPUs",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # JSON: one throughput process
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    import torch

    gpu = not args.cpu_rehearsal
    if gpu and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA GPU is visible (torch.cuda.is_available() is False). Run it "
            "on a machine with a CUDA GPU, or rehearse it here with --cpu-rehearsal "
            '(GPU_CHECK_ARGS="--cpu-rehearsal --rows 20000" bash benchmarks/gpu_check.sh).',
            file=sys.stderr,
        )
        raise SystemExit(2)
    import pytorch_lightning

    name = torch.cuda.get_device_name(0) if gpu else "CPU (rehearsal)"
    slug = device_slug(name) if gpu else "cpu-rehearsal"
    print(f"device: {name}, torch {torch.__version__}, {args.rows:,} rows", flush=True)
    started = time.perf_counter()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="dockyard-gpu-") as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "conf", project / "conf")
        overrides = [
            "data=synthetic",
            f"data.rows={args.rows}",
            "trainer=gpu" if gpu else "trainer=cpu",
            "trainer.enable_progress_bar=false",
            "train.epochs=1",
            "train.batch_size=512",
            "train.early_stopping.patience=1",
        ]
        print("1. data", flush=True)
        step([python, "-m", "dockyard.cli", "compose", *overrides], project, "compose")
        for stage in ("ingest", "split", "featurize"):
            step([python, "-m", f"dockyard.stages.{stage}"], project, stage)

        print("2. the train stage, default settings", flush=True)
        stage_seconds, _ = step(
            [python, "-m", "dockyard.stages.train", "--seed", "0"], project, "train stage"
        )
        card = json.loads((project / "models/seed-0/model.json").read_text())
        stage_device = card["provenance"]["device"]
        print(f"  model card device: {stage_device}", flush=True)

        print("3. throughput: fit() vs the hand-written loop, one process per setting", flush=True)
        cases: list[dict[str, Any]] = []
        shape: dict[str, Any] = {}
        for batch, epochs in BATCHES.items():
            for deterministic in PROCESSES:
                spec = {
                    "project": str(project),
                    "gpu": gpu,
                    "deterministic": deterministic,
                    "batch_size": batch,
                    "epochs": epochs,
                    "repeats": args.repeats,
                }
                what = f"batch {batch}, {'deterministic' if deterministic else 'fast'}"
                print(f"  {what}", flush=True)
                _, out = step(
                    [python, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                    project,
                    what,
                    deterministic,
                )
                for line in out.splitlines():
                    if line.startswith("    round"):
                        print(line, flush=True)
                found = json.loads(out.strip().splitlines()[-1].removeprefix("RESULT "))
                cases += found["cases"]
                shape = {"train_rows": found["train_rows"], "features": found["features"]}

        print("4. trainer=ddp (one process per visible GPU)", flush=True)
        step(
            [python, "-m", "dockyard.cli", "compose", *overrides, "trainer=ddp"]
            + ([] if gpu else ["trainer.accelerator=cpu", "trainer.devices=2"]),
            project,
            "compose ddp",
        )
        step([python, "-m", "dockyard.stages.train", "--seed", "0"], project, "train stage, ddp")
        ddp_device = json.loads((project / "models/seed-0/model.json").read_text())["provenance"][
            "device"
        ]

    print("5. the GPU-marked tests", flush=True)
    tests_status, tests = run_gpu_tests()
    figures = {
        "device": name,
        "torch": torch.__version__,
        "lightning": pytorch_lightning.__version__,
        "rows": args.rows,
        **shape,
        "network": "MLP 128-64 (ReLU, dropout 0.1), fp32, AdamW (fused on the GPU)",
        "repeats": args.repeats,
        "cases": cases,
        "train_stage_seconds": stage_seconds,
        "train_stage_device": stage_device,
        "ddp_device": ddp_device,
        "tests": tests,
        "total_seconds": time.perf_counter() - started,
    }
    print_table(figures)
    out = Path(args.out_dir) / f"{slug}-gpu_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    if tests_status != 0:
        raise SystemExit(f"gpu_check: the GPU tests failed (pytest exit {tests_status})")


def print_table(figures: dict[str, Any]) -> None:
    cases = figures["cases"]
    print()
    print(
        f"{figures['device']}, torch {figures['torch']}, Lightning {figures['lightning']}: "
        f"{figures['network']}, {figures.get('train_rows', 0):,} train rows x "
        f"{figures.get('features', 0)} features; samples/s, medians of {figures['repeats']} "
        "rounds; baseline: the hand-written loop in the same process and mode"
    )
    header = (
        f"{'case':<46} {'dockyard':>12} {'baseline':>12} {'ratio':>6}  goal   "
        f"{'captured bl':>12} {'ratio':>6}  goal   step that ran"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        label = f"batch {case['batch_size']}, {case['mode']} ({case['epochs']} epochs)"
        mark = goal_mark(case["ratio"], case["goal"])
        if case.get("captured_ratio") is None:
            theirs = f"{'-':>12} {'-':>6}  {'-':<6}"
        else:
            captured_mark = goal_mark(case["captured_ratio"], case.get("captured_goal"))
            theirs = (
                f"{case['captured_baseline']:>12,.0f} {case['captured_ratio']:>6.2f}  "
                f"{captured_mark:<6}"
            )
        print(
            f"{label:<46} {case['dockyard']:>12,.0f} {case['baseline']:>12,.0f} "
            f"{case['ratio']:>6.2f}  {mark:<6} {theirs} {case['step']}"
        )
    skipped = {c["captured_skipped"] for c in cases if c.get("captured_skipped")}
    for reason in sorted(skipped):
        print(f"captured baseline skipped: {reason}")
    by = {(c["batch_size"], c["mode"]): c["dockyard"] for c in cases}
    costs = []
    for batch in sorted({c["batch_size"] for c in cases}):
        for fast, slow in (("default", "deterministic"), ("captured", "deterministic+captured")):
            if (batch, fast) in by and (batch, slow) in by:
                costs.append(f"batch {batch} {fast} {by[(batch, slow)] / by[(batch, fast)]:.2f}x")
    print("trainer.deterministic=true runs at: " + "; ".join(costs) + " (of the fast mode)")
    print(f"train stage card: {figures['train_stage_device']}")
    print(f"ddp card: {figures['ddp_device']}")
    tests = figures["tests"]
    print("GPU tests: " + ", ".join(f"{tests[k]} {k}" for k in ("passed", "failed", "skipped")))
    print(f"total {figures['total_seconds']:.0f} s")


def goal_mark(ratio: float, goal: float | None) -> str:
    return "-" if goal is None else f">={goal:.1f} {'ok' if ratio >= goal else 'NO'}"


if __name__ == "__main__":
    main()
