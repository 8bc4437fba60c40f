#!/usr/bin/env bash
# Installs every Debian package that librouter's build, tests, benchmarks, demo and
# bindings need. Idempotent: packages already present are skipped, and apt is not
# touched at all when nothing is missing. Works as root (no sudo needed) or, for a
# non-root user, through sudo.
#
#   scripts/install-deps.sh           what the build, tests and CI need
#   scripts/install-deps.sh --bench   also the Python side of benchmarks/compare
#                                     (scikit-learn, FAISS's Python module); not
#                                     needed by CI
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev
  # core dependencies
  libfaiss-dev libopenblas-dev libeigen3-dev libabsl-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
  libhwy-dev  # Highway: SIMD kernels chosen at run time (AVX-512, AVX2, SSE4)
  # tests and benchmarks
  catch2 libbenchmark-dev
  # evaluation scripts, the Python binding and its wheel
  python3 python3-numpy python3-venv python3-build python3-setuptools python3-wheel
  # replicas sharing state (optional in the build: sync is on when hiredis is found;
  # the tests start their own redis-server)
  libhiredis-dev redis-server
)

if [ "${1:-}" = "--bench" ]; then
  packages+=(python3-sklearn python3-faiss)
fi

# The Go and Rust bindings' toolchains, only when missing (a rustup cargo counts).
command -v go >/dev/null 2>&1 || packages+=(golang-go)
command -v cargo >/dev/null 2>&1 || packages+=(cargo)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
