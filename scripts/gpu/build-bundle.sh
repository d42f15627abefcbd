#!/usr/bin/env bash
# Builds, on the development machine, everything the GPU run needs, into one
# directory (default: build/gpu-bundle) that a machine with an NVIDIA GPU,
# Python 3 with numpy and PyTorch, and no LLVM runs with scripts/gpu/run.sh:
#
#   parity/  every group of the parity sweep (test/Integration/CPU/parity.py)
#            compiled by moe-compile --target=cuda: <tag>.so + <tag>.h
#   bench/   the benchmark layers (scripts/gpu/bench.py) as <case>-<dtype>.so
#   lib/     libmoe_cuda_runtime.so, libmoe_runtime.so and libomp.so.5, which
#            the models need and scripts/gpu/moe_cuda.py loads first
#
# The host code is compiled for generic x86-64-v2 and the kernels are PTX
# for sm_90 (the driver compiles them when a model is loaded), so the bundle
# runs on any x86-64 host with an H100-class GPU and a CUDA 12+ driver.
#
#   scripts/gpu/build-bundle.sh [DIR] [--quick]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

BUNDLE="$MOE_BUILD_DIR/gpu-bundle"
QUICK=()
for argument in "$@"; do
  case "$argument" in
    --quick) QUICK=(--quick) ;;
    -*) echo "build-bundle.sh: unknown option $argument" >&2; exit 2 ;;
    *) BUNDLE="$argument" ;;
  esac
done

moe_install_packages
moe_build

PYTHON=/usr/bin/python3
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/parity" "$BUNDLE/bench" "$BUNDLE/lib"

moe_log "Runtime libraries -> $BUNDLE/lib"
cp "$MOE_BUILD_DIR/lib/libmoe_cuda_runtime.so" \
  "$MOE_BUILD_DIR/lib/libmoe_runtime.so" "$BUNDLE/lib/"
cp -L /usr/lib/llvm-22/lib/libomp.so.5 "$BUNDLE/lib/"

moe_log "Parity sweep, compiled for CUDA -> $BUNDLE/parity"
"$PYTHON" "$MOE_ROOT/test/Integration/CPU/parity.py" \
  --moe-compile "$MOE_BUILD_DIR/bin/moe-compile" \
  --bundle "$BUNDLE/parity" --prepare -j "$(nproc)" "${QUICK[@]}" | tail -2
# The run must select the same configurations.
echo "${QUICK[*]}" > "$BUNDLE/parity/selection"

moe_log "Benchmark layers, compiled for CUDA -> $BUNDLE/bench"
"$PYTHON" - "$MOE_ROOT" "$MOE_BUILD_DIR/bin/moe-compile" "$BUNDLE/bench" <<'PY'
import os, subprocess, sys
root, moe_compile, out = sys.argv[1:4]
sys.path[:0] = [os.path.join(root, "benchmarks"), os.path.join(root, "scripts", "gpu")]
import run as suite
import bench
for name, dtypes, _ in bench.CASES:
    for dtype in dtypes:
        base = os.path.join(out, f"{name}-{dtype}")
        with open(base + ".mlir", "w") as f:
            f.write(suite.layer_module(suite.CASE_BY_NAME[name], dtype))
        subprocess.run([moe_compile, base + ".mlir", "--target=cuda",
                        "--emit=shared", "-o", base + ".so", "--header",
                        base + ".h"], check=True)
        print(f"{name}-{dtype}.so")
PY

moe_log "Done: $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE; on the GPU machine run"
echo "  scripts/gpu/run.sh $BUNDLE"
