#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for moe-mlir (installs the Debian packages
# it needs), builds the compiler, and runs the main job: compile an
# OLMoE-1B-7B-shaped MoE layer for this CPU, run it at T = 1 and T = 256, check
# it against the float64 reference, and print time per call and the fraction
# of the memory-bandwidth limit (scripts/main_job.py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

moe_install_packages
moe_build

moe_log "Main job: compile and run an OLMoE-1B-7B MoE layer on this CPU"
/usr/bin/python3 "$MOE_ROOT/scripts/main_job.py" --moe-run "$MOE_BUILD_DIR/bin/moe-run"
