#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for moe-mlir (installs the Debian packages
# it needs), builds the compiler, and runs the main job: moe-opt on every
# bundled example model, printing its parameter report.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

moe_install_packages
moe_build

moe_log "Main job: parameter reports of the bundled example models"
for model in "$MOE_ROOT"/examples/*.mlir; do
  echo
  echo "### $(basename "$model")"
  # --moe-param-report prints the report; the IR itself is not needed.
  "$MOE_BUILD_DIR/bin/moe-opt" "$model" --moe-param-report=per-layer=false \
    -o /dev/null
done
