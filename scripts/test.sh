#!/usr/bin/env bash
# Runs every moe-mlir test: installs missing Debian packages, builds, and runs
# ctest, which runs the lit suite and the GoogleTest unit tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

moe_install_packages
moe_build

moe_log "Running the tests"
cd "$MOE_BUILD_DIR"
ctest --output-on-failure
