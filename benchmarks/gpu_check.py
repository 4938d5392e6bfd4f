"""The GPU path, measured: the train stage on a CUDA GPU against a hand-written loop.

Usage: python benchmarks/gpu_check.py [--rows 5000000] [--epochs 2] [--out FILE]
(benchmarks/gpu_check.sh runs this, then the GPU-marked tests.)

Needs only torch, pytorch-lightning, pandas, pyarrow, scikit-learn, hydra-core, omegaconf
and pandera: no dvc, no dvclive, dockyard itself from ./src. Steps:
1. prepare `data=synthetic data.rows=ROWS` with the light stages, run directly;
2. run the train stage itself (`python -m dockyard.stages.train`) with trainer=gpu and
   report the device, precision and whether the table was resident on the GPU;
3. in one process, time the train stage's fit() and the hand-written baseline (table
   resident on the GPU, index slices, fused AdamW) on the same features: both warmed up,
   both starting from the same host arrays (each copies the table to the GPU once),
   --repeats runs (default 2), alternating which side goes first; print samples/s for
   both (medians) and the ratio (goal >= 0.9);
4. run the train stage once more with trainer=ddp (one process per visible GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


# deterministic cuBLAS (the train stage runs with deterministic=True); set before any
# CUDA library starts
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def env() -> dict[str, str]:
    variables = dict(os.environ)
    variables["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [variables.get("PYTHONPATH")])]
    )
    return variables


def step(args: list[str], cwd: Path, what: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env(), text=True, capture_output=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"{what} failed (exit {result.returncode})")
    last = (result.stdout.strip().splitlines() or [""])[-1]
    print(f"  {what}: {seconds:.1f} s  {last}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    parser.add_argument(
        "--cpu-rehearsal",
        action="store_true",
        help="run every step on the CPU (trainer=cpu) to check the script on a machine "
        "without a GPU; its figures say nothing about GPUs",
    )
    args = parser.parse_args()

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
    import baselines
    from omegaconf import OmegaConf
    from timing import alternating

    from dockyard.config import load_params
    from dockyard.data.features import feature_arrays
    from dockyard.models.nets import build_model
    from dockyard.models.training import fit
    from dockyard.paths import features_path

    device = torch.device("cuda" if gpu else "cpu")
    name = torch.cuda.get_device_name(device) if gpu else "CPU (rehearsal)"
    sync = torch.cuda.synchronize if gpu else (lambda: None)
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
            f"train.epochs={args.epochs}",
            f"train.batch_size={args.batch_size}",
            f"train.early_stopping.patience={args.epochs}",
        ]
        print("1. data", flush=True)
        step([python, "-m", "dockyard.cli", "compose", *overrides], project, "compose")
        for stage in ("ingest", "split", "featurize"):
            step([python, "-m", f"dockyard.stages.{stage}"], project, stage)

        print("2. the train stage on the GPU", flush=True)
        stage_seconds = step(
            [python, "-m", "dockyard.stages.train", "--seed", "0"], project, "train stage"
        )
        card = json.loads((project / "models/seed-0/model.json").read_text())
        stage_device = card["provenance"]["device"]
        print(f"  model card device: {stage_device}", flush=True)

        print("3. throughput: fit() vs the hand-written loop, same process", flush=True)
        os.chdir(project)
        cfg = load_params()
        x, y, _ = feature_arrays(features_path("train"))
        x_val, y_val, _ = feature_arrays(features_path("val"))
        net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
        fit(cfg, (x[:50_000], y[:50_000]), (x_val[:5000], y_val[:5000]), 2, "warm", seed=0)

        state: dict = {}

        def dockyard_run() -> float:
            sync()
            start = time.perf_counter()
            state["result"] = fit(cfg, (x, y), (x_val, y_val), 2, "logs", seed=0)
            sync()
            return time.perf_counter() - start

        def baseline_run(rows: int | None = None) -> float:
            # Both sides start from the same host arrays: fit() moves the table onto the
            # GPU once (ResidentTables), so the hand-written loop's timing includes its
            # one copy too, then trains on the resident table.
            arrays = (x[:rows], y[:rows], x_val, y_val) if rows else (x, y, x_val, y_val)
            torch.manual_seed(0)
            net = build_model(net_cfg, x.shape[1], 2).to(device)
            sync()
            start = time.perf_counter()
            tensors = [torch.from_numpy(a).to(device) for a in arrays]
            sync()
            state["copy"] = time.perf_counter() - start
            baseline = baselines.train_loop(
                net,
                *tensors,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=cfg.train.lr,
                weight_decay=cfg.train.weight_decay,
                fused=gpu,
                sync=sync,
            )
            return state["copy"] + baseline["seconds"]

        baseline_run(50_000)  # warm-up for the loop too (allocator, cuBLAS, fused kernels)
        copies = []

        def report(fit_s: float, loop_s: float) -> None:
            copies.append(state["copy"])
            print(
                f"  fit {fit_s:.1f} s, hand-written loop {loop_s:.1f} s "
                f"(of which copying the table to the device {copies[-1]:.2f} s; "
                f"ratio {loop_s / fit_s:.2f}; table resident: "
                f"{state['result']['device'].get('table_resident')})",
                flush=True,
            )

        ours, theirs, _ = alternating(dockyard_run, baseline_run, args.repeats, after=report)
        result = state["result"]
        os.chdir(ROOT)

        print("4. trainer=ddp (one process per visible GPU)", flush=True)
        step(
            [python, "-m", "dockyard.cli", "compose", *overrides, "trainer=ddp", "train.epochs=1"]
            + ([] if gpu else ["trainer.accelerator=cpu", "trainer.devices=2"]),
            project,
            "compose ddp",
        )
        step([python, "-m", "dockyard.stages.train", "--seed", "0"], project, "train stage, ddp")
        ddp_device = json.loads((project / "models/seed-0/model.json").read_text())["provenance"][
            "device"
        ]

    samples = len(y) * args.epochs
    dockyard_rate = samples / statistics.median(ours)
    baseline_rate = samples / statistics.median(theirs)
    figures = {
        "device": name,
        "rows": args.rows,
        "train_rows": len(y),
        "features": int(x.shape[1]),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "precision": result["device"]["precision"],
        "table_resident": result["device"].get("table_resident"),
        "dockyard_samples_per_s": dockyard_rate,
        "baseline_samples_per_s": baseline_rate,
        "ratio": dockyard_rate / baseline_rate,
        "dockyard_seconds": ours,
        "baseline_seconds": theirs,
        "baseline_table_copy_seconds": copies,
        "train_stage_seconds": stage_seconds,
        "train_stage_device": stage_device,
        "ddp_device": ddp_device,
        "total_seconds": time.perf_counter() - started,
    }
    print()
    print(f"device              {name}")
    print(
        f"workload            MLP {x.shape[1]}-128-64-2, batch {args.batch_size}, "
        f"{args.epochs} epochs, {len(y):,} train rows, {figures['precision']}"
    )
    print(
        f"dockyard fit()      {dockyard_rate:,.0f} samples/s (table resident on the GPU: "
        f"{figures['table_resident']})"
    )
    print(
        f"hand-written loop   {baseline_rate:,.0f} samples/s (resident, index slices, fused AdamW; "
        f"its one copy of the table to the device included, as in fit())"
    )
    print(f"ratio               {figures['ratio']:.2f}  (goal >= 0.9)")
    print(f"total               {figures['total_seconds']:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
