#!/usr/bin/env bash
# Two tiers, each installing its dependencies first and exiting non-zero on
# any failure:
#
#   scripts/test.sh          the quick tier: builds everything (library, C ABI,
#                            tools, examples, tests, benchmarks) in release and
#                            runs every test, then the bindings (C, C++, Python,
#                            Rust, Go) against the installed package
#   scripts/test.sh --full   also the whole suite under ASan+UBSan, the
#                            concurrency tests under TSan, and each libFuzzer
#                            target for 15 s (clang, ASan+UBSan); what CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

full=0
case "${1:-}" in
  "") ;;
  --full) full=1 ;;
  *) echo "usage: scripts/test.sh [--full]" >&2; exit 2 ;;
esac

scripts/install-deps.sh

# Each stage's start time goes in the log, so slow stages show.
stage() { echo "== $* ($(date -u +%H:%M:%S))"; }

jobs=$(nproc)
build=${ROUTER_BUILD_DIR:-build}

stage "release build"
cmake -S . -B "$build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build/release" -j "$jobs"
ctest --test-dir "$build/release" --output-on-failure -j "$jobs"

stage "bindings (C, C++, Python, Rust, Go against the installed package)"
scripts/test-bindings.sh "$build/release"

if [ "$full" -eq 0 ]; then
  stage "quick tier passed (scripts/test.sh --full adds ASan+UBSan, TSan and fuzzing)"
  exit 0
fi

# One clang build serves the suite under ASan+UBSan and the libFuzzer targets
# (which need clang): clang builds it in about half GCC's time, and the
# library is compiled once for both. The suite runs about 1.4x longer than
# under GCC's ASan (the fuzzers' coverage instrumentation, clang's checks);
# in a clean-clone run the two stages took 25 min against 33 before.
stage "ASan + UBSan build, with the fuzz targets (clang)"
CC=clang CXX=clang++ cmake -S . -B "$build/asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DROUTER_SANITIZE=address,undefined -DROUTER_FUZZ=ON -DROUTER_BUILD_BENCHMARKS=OFF \
  -DROUTER_FUZZ_SECONDS="${ROUTER_FUZZ_SECONDS:-15}"
cmake --build "$build/asan" -j "$jobs"
stage "ASan + UBSan tests, and each fuzz target for ${ROUTER_FUZZ_SECONDS:-15} s"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$build/asan" --output-on-failure -j "$jobs" -LE no_sanitizer

stage "TSan build (concurrency tests)"
cmake -S . -B "$build/tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DROUTER_SANITIZE=thread -DROUTER_BUILD_BENCHMARKS=OFF -DROUTER_BUILD_EXAMPLES=OFF
# Every tests/*concurrency*_test.cc is a target of its own name.
concurrency_targets=$(cd tests && ls *concurrency*_test.cc | sed 's/\.cc$//')
cmake --build "$build/tsan" -j "$jobs" --target $concurrency_targets
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir "$build/tsan" --output-on-failure -L concurrency

stage "all tests passed"
