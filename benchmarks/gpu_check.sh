#!/usr/bin/env bash
# The GPU check: the train stage on a CUDA GPU against a hand-written loop, then the
# GPU-marked tests. Runs where torch, pytorch-lightning, pandas, pyarrow, scikit-learn,
# hydra-core, omegaconf, pandera and pytest are importable; no dvc needed (dockyard is
# taken from ./src). About 4 minutes on one H100 with the defaults; 313 s with
# GPU_CHECK_ARGS="--repeats 3", the run whose output is in benchmarks/gpu/.
#   bash benchmarks/gpu_check.sh [ROWS]          default 5,000,000
#   GPU_CHECK_ARGS="--cpu-rehearsal --rows 20000" bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-5000000}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch, pytorch_lightning, pandas, pyarrow, sklearn, hydra, omegaconf, pandera" \
  || { echo "gpu_check: a required package is missing (see the header of this script)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
start=$SECONDS
# shellcheck disable=SC2086
python3 benchmarks/gpu_check.py --rows "$rows" ${GPU_CHECK_ARGS:-} --out "${GPU_CHECK_OUT:-/tmp/gpu_check.json}"
python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -rs
echo "gpu_check: done in $((SECONDS - start)) s"
