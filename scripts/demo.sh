#!/usr/bin/env bash
# The main job: builds librouter, generates its synthetic routing dataset,
# fits a kNN router over the built-in text featurizer, routes example prompts
# (printing each decision and its trace), and compares the router's cost and
# quality with the best single model and the cheapest model on held-out data.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh >/dev/null

build=${ROUTER_BUILD_DIR:-build}/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target route_demo -j "$(nproc)" >/dev/null
exec "$build/examples/route_demo" "$@"
