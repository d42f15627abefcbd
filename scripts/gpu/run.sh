#!/usr/bin/env bash
# Runs, on a machine with an NVIDIA GPU (no LLVM needed), what
# scripts/gpu/build-bundle.sh built: the parity sweep of every moe op on the
# GPU against the float64 reference, then the GPU benchmarks against
# PyTorch eager, torch._grouped_mm and the measured HBM and tensor-core
# limits. Needs python3 with numpy and PyTorch (CUDA).
#
#   scripts/gpu/run.sh [BUNDLE] [--parity-only | --bench-only]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUNDLE="$ROOT/build/gpu-bundle"
PARITY=1
BENCH=1
for argument in "$@"; do
  case "$argument" in
    --parity-only) BENCH=0 ;;
    --bench-only) PARITY=0 ;;
    -*) echo "run.sh: unknown option $argument" >&2; exit 2 ;;
    *) BUNDLE="$argument" ;;
  esac
done
PYTHON="${PYTHON:-python3}"
if [ ! -f "$BUNDLE/lib/libmoe_cuda_runtime.so" ]; then
  echo "run.sh: $BUNDLE is not a bundle: build it with scripts/gpu/build-bundle.sh" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

status=0
if [ "$PARITY" = 1 ]; then
  echo "==> Parity sweep on the GPU"
  # shellcheck disable=SC2046 # the options build-bundle.sh selected with
  "$PYTHON" "$ROOT/test/Integration/CPU/parity.py" --bundle "$BUNDLE/parity" \
    --runtime-lib "$BUNDLE/lib" \
    -j 4 $(cat "$BUNDLE/parity/selection") || status=1
fi
if [ "$BENCH" = 1 ]; then
  echo "==> GPU benchmarks"
  "$PYTHON" "$ROOT/scripts/gpu/bench.py" --bundle "$BUNDLE" \
    --json "$BUNDLE/bench.json" || status=1
fi
exit $status
