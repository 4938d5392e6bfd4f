#!/usr/bin/env bash
# The GPU check: dockyard's training on a CUDA GPU against the plain PyTorch loop and the
# same loop with its step captured in a CUDA graph, in the default, captured and
# deterministic modes, then the GPU-marked tests, whose outcome goes into the results file
# (gpu_check.py runs them; the script exits non-zero when one fails). Runs where torch,
# pytorch-lightning, pandas, pyarrow, scikit-learn, hydra-core, omegaconf, pandera and
# pytest are importable; no dvc needed (dockyard is taken from ./src). Where hydra-core,
# omegaconf or pandera are missing and benchmarks/gpu/wheels/ holds their wheels (see
# docs/gpu.md for the pip download line), they are installed from there, offline.
# Under 5 minutes on one H100 or H200 with the defaults.
#   bash benchmarks/gpu_check.sh [ROWS]          default 1,500,000
#   GPU_CHECK_OUT_DIR=DIR                         where DEVICE-gpu_check.json goes
#                                                 (default benchmarks/gpu)
#   GPU_CHECK_ARGS="--cpu-rehearsal --rows 20000" bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1500000}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
unset CUBLAS_WORKSPACE_CONFIG  # each case sets what it measures
if ! python3 -c "import hydra, omegaconf, pandera" 2>/dev/null && [ -d benchmarks/gpu/wheels ]; then
  echo "gpu_check: installing hydra-core, omegaconf and pandera from benchmarks/gpu/wheels"
  python3 -m pip install -q --no-index --find-links benchmarks/gpu/wheels \
    hydra-core omegaconf pandera
fi
python3 -c "import torch, pytorch_lightning, pandas, pyarrow, sklearn, hydra, omegaconf, pandera" \
  || { echo "gpu_check: a required package is missing (see the header of this script)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
start=$SECONDS
# shellcheck disable=SC2086
python3 benchmarks/gpu_check.py --rows "$rows" --out-dir "${GPU_CHECK_OUT_DIR:-benchmarks/gpu}" \
  ${GPU_CHECK_ARGS:-}
echo "gpu_check: done in $((SECONDS - start)) s"
