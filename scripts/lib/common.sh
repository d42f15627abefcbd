# Shared steps of the moe-mlir scripts: install the Debian packages the
# project needs, configure and build it. Sourced, not run.

MOE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MOE_BUILD_DIR="${MOE_BUILD_DIR:-$MOE_ROOT/build}"

# Everything comes from Debian 12's archive (bookworm and bookworm-security,
# which carries LLVM/MLIR 22.1.8).
MOE_PACKAGES=(
  cmake ninja-build g++ git
  clang-22 lld-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libomp-22-dev
  libgtest-dev
  python3-numpy python3-torch
  libopenblas-dev
)

moe_log() { printf '\n==> %s\n' "$*"; }

moe_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages that are missing (nothing to do on a set-up machine).
moe_install_packages() {
  local missing=()
  for package in "${MOE_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
        grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    moe_log "Debian packages: all present"
    return
  fi
  moe_log "Installing Debian packages: ${missing[*]}"
  moe_as_root apt-get update
  moe_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Configures (once) and builds the compiler, its tools and test binaries.
moe_build() {
  local jobs
  jobs="$(nproc)"
  if [ ! -f "$MOE_BUILD_DIR/build.ninja" ]; then
    moe_log "Configuring in $MOE_BUILD_DIR"
    cmake -S "$MOE_ROOT" -B "$MOE_BUILD_DIR" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
      -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir
  fi
  moe_log "Building with $jobs jobs"
  cmake --build "$MOE_BUILD_DIR" -j "$jobs"
}
