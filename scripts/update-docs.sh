#!/usr/bin/env bash
# Regenerates the op and pass reference (docs/reference/) from TableGen.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cmake --build "$MOE_BUILD_DIR" --target moe-doc
mkdir -p "$MOE_ROOT/docs/reference"
cp "$MOE_BUILD_DIR"/docs/MoEDialect.md "$MOE_BUILD_DIR"/docs/MoEPasses.md \
  "$MOE_ROOT/docs/reference/"
echo "updated $MOE_ROOT/docs/reference"
