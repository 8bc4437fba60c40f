#!/usr/bin/env bash
# Reproduces the replay figures of docs/results.md (LinUCB from bandit
# feedback) and docs/policies.md (budget pacing, threshold share) on a
# routing dataset, by default ../shared/data/llmrouter-9model. Needs a release
# build (scripts/test.sh makes one in build/release). About 5 minutes.
#
#   scripts/replay-eval.sh [DATA.jsonl] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/llmrouter-9model/queries.jsonl}
out=${2:-build/replay-eval}
router=${ROUTER_CLI:-build/release/tools/router}
mkdir -p "$out"

echo "== LinUCB, pure bandit feedback, held-out orders 101-110"
"$router" replay -q --data "$data" --stream all --router linucb --orders 10 --seed 101 \
  --out "$out/linucb-default"
"$router" replay -q --data "$data" --stream all --config examples/configs/linucb-bandit.json \
  --orders 10 --seed 101 --out "$out/linucb-tuned"

echo "== LinUCB after a labelled warm start (N rows of each order), learning and frozen"
for warm in 500 1000; do
  "$router" replay -q --data "$data" --stream all --config examples/configs/linucb-bandit.json \
    --orders 10 --seed 101 --warm-start "$warm" --out "$out/linucb-warm-$warm"
  "$router" replay -q --data "$data" --stream all --config examples/configs/linucb-bandit.json \
    --orders 10 --seed 101 --warm-start "$warm" --no-feedback --out "$out/linucb-warm-$warm-frozen"
done

echo "== budget pacing (kNN, test split streamed)"
for target in 5e-5 9e-5 1.3e-4; do
  printf '{"router": "knn", "policy": {"kind": "budget", "target_cost_usd": %s}}\n' "$target" \
    > "$out/budget-$target.json"
  "$router" replay -q --data "$data" --config "$out/budget-$target.json" --orders 5 \
    --out "$out/budget-$target"
  "$router" replay -q --data "$data" --config "$out/budget-$target.json" --orders 5 \
    --no-cost-feedback --out "$out/budget-$target-no-feedback"
done

echo "== calibrated threshold (strong/weak pair)"
for kind in knn cluster; do
  printf '{"router": "%s", "policy": {"kind": "threshold", "strong": "llama-3.1-nemotron-51b-instruct", "weak": "gemma-2-9b-it"}}\n' \
    "$kind" > "$out/threshold-$kind.json"
  for share in 0.2 0.5 0.8; do
    "$router" replay -q --data "$data" --config "$out/threshold-$kind.json" --orders 5 \
      --strong-share "$share" --out "$out/threshold-$kind-$share"
    "$router" replay -q --data "$data" --config "$out/threshold-$kind.json" --orders 1 \
      --strong-share "$share" --fixed-threshold --out "$out/threshold-$kind-$share-fixed"
  done
done
echo "== done: $out/*/replay.json and *.svg"
