#!/usr/bin/env bash
# Builds route_bench in release and runs it; docs/performance.md records the
# figures. Two runs:
#   1. every benchmark, 5 repetitions each, randomly interleaved so that all
#      of them see the same machine noise; console shows the aggregates,
#      $build/bench.json holds every repetition and the aggregates.
#   2. the exact-search cases again with OMP_NUM_THREADS=1 in the environment
#      (which also limits OpenBLAS, unlike omp_set_num_threads in run 1), to
#      $build/bench_omp1.json.
# Extra arguments go to both runs (e.g. --benchmark_filter=Estimate/exact).
# The whole thing takes a few minutes, most of it building the 100k HNSW index.
#
# With ROUTER_BENCH_COMPARE=1 it then runs benchmarks/compare/compare.py (the
# same routers in numpy / scikit-learn / faiss-python, side by side, about 15
# minutes at its defaults, most of it the 100k x 1024 HNSW build), after
# installing its Python packages; the table goes to $build/compare.md.
# The other benchmark programs (cluster_bench, mf_bench, linucb_bench,
# file_bench) are built by the test command and run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ROUTER_BUILD_DIR:-build}

cmake -S . -B "$build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build/release" --target route_bench

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"

common=(--benchmark_repetitions=5
        --benchmark_enable_random_interleaving=true
        --benchmark_min_time=0.5
        --benchmark_display_aggregates_only=true
        --benchmark_counters_tabular=true
        --benchmark_out_format=json)

echo "== run 1: all benchmarks, default threads"
"$build/release/benchmarks/route_bench" "${common[@]}" \
  --benchmark_out="$build/bench.json" "$@"

echo "== run 2: exact search with OMP_NUM_THREADS=1"
OMP_NUM_THREADS=1 "$build/release/benchmarks/route_bench" "${common[@]}" \
  --benchmark_filter='^Estimate(Batch)?/exact/' \
  --benchmark_out="$build/bench_omp1.json" "$@"

echo "== wrote $build/bench.json and $build/bench_omp1.json"

if [ "${ROUTER_BENCH_COMPARE:-0}" = 1 ]; then
  scripts/install-deps.sh --bench
  cmake --build "$build/release" --target compare_driver
  echo "== side by side with the Python way (benchmarks/compare/compare.py)"
  /usr/bin/python3 benchmarks/compare/compare.py --build "$build/release" | tee "$build/compare.md"
fi
