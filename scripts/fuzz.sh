#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan, and
# runs each for SECONDS (default 300). New inputs go to build/fuzz/, the
# checked-in seeds stay as they are. A crash leaves its input in the current
# directory (crash-*); turn it into a regression test.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   e.g. scripts/fuzz.sh 60 config
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true

scripts/install-deps.sh >/dev/null
build=${ROUTER_BUILD_DIR:-build}/fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DROUTER_FUZZ=ON -DROUTER_SANITIZE=address,undefined -DROUTER_BUILD_TESTS=OFF \
  -DROUTER_BUILD_BENCHMARKS=OFF -DROUTER_BUILD_EXAMPLES=OFF -DROUTER_INSTALL=OFF \
  -DROUTER_FUZZ_SECONDS="$seconds" >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(); for f in tests/fuzz/*_fuzz.cc; do n=$(basename "$f" _fuzz.cc); targets+=("$n"); done
fi
cmake --build "$build" --target $(printf '%s_fuzz ' "${targets[@]}")
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  mkdir -p "$build/tests/fuzz/corpus/$t"
  log="$build/fuzz-$t.log"
  if ! "$build/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" -print_final_stats=1 \
      "$build/tests/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $t failed (log: $log)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units" "$log"
done
