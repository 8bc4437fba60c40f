#!/usr/bin/python3
"""Writes a copy of a routing data folder whose costs vary per prompt and per
model the way metered bills do, to measure per-prompt cost prediction
(`router eval`'s cost MAPE) where the shared data cannot: its costs are the
price table with a fixed 200-token answer.

This is a simulation, and its figures are labelled as such. Only the costs
change; prompts, scores and splits are the folder's own. Per row and model:

    output tokens = task length x model verbosity x prompt factor x noise
    cost          = (ceil(len(prompt) / 4) x input price
                     + output tokens x output price) / 1e6

where task length is drawn once per task (log-uniform, 40..800 tokens),
model verbosity once per model (log-uniform, 0.5..2), the prompt factor is
(prompt tokens / the task's median prompt tokens) ** 0.3 (longer questions
get longer answers), and noise is log-normal with sd --noise (0.5). Input
and output prices come from the folder's price table, with output prices
scaled by --output-price-factor (3, as most providers charge more for output).

It also writes a config (`prices.json`) whose models carry those prices and
each model's mean output length as expected_output_tokens, so the price
table baseline in `router eval` is the best fixed-length one.

Usage: metered_costs.py DATA_DIR OUT_DIR [--seed 1] [--noise 0.5]
       [--output-price-factor 3]
Then:  router eval --data OUT_DIR/queries.jsonl --config OUT_DIR/prices.json \\
           --dedup-train-prompts --routers knn,cluster,mf,linucb
"""
import argparse
import json
import math
import os
import random
import statistics


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--output-price-factor", type=float, default=3.0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    with open(os.path.join(args.data_dir, "price_table_default_llm.json")) as f:
        table = json.load(f)
    rows = []
    with open(os.path.join(args.data_dir, "queries.jsonl")) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))

    models = sorted({m for row in rows for m in row["scores"]})
    tasks = sorted({row["source"] for row in rows})
    task_length = {t: math.exp(rng.uniform(math.log(40), math.log(800))) for t in tasks}
    verbosity = {m: math.exp(rng.uniform(math.log(0.5), math.log(2.0))) for m in models}

    def tokens(prompt):
        return max(1, math.ceil(len(prompt.encode("utf-8")) / 4))

    median_tokens = {
        t: statistics.median(tokens(r["prompt"]) for r in rows if r["source"] == t)
        for t in tasks
    }
    output_totals = {m: [0.0, 0] for m in models}
    for row in rows:
        prompt_tokens = tokens(row["prompt"])
        factor = (prompt_tokens / median_tokens[row["source"]]) ** 0.3
        costs = {}
        for m in row["scores"]:
            out = task_length[row["source"]] * verbosity[m] * factor
            out = max(1, round(out * math.exp(rng.gauss(0.0, args.noise))))
            price_in = table[m]["input_price"]
            price_out = table[m]["output_price"] * args.output_price_factor
            costs[m] = (prompt_tokens * price_in + out * price_out) / 1e6
            output_totals[m][0] += out
            output_totals[m][1] += 1
        row["costs"] = costs
        for key in ("est_prompt_tokens",):
            row.pop(key, None)

    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "queries.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    config = {
        "models": [
            {
                "name": m,
                "input_usd_per_mtok": table[m]["input_price"],
                "output_usd_per_mtok": round(table[m]["output_price"] * args.output_price_factor, 9),
                "expected_output_tokens": round(output_totals[m][0] / output_totals[m][1], 1),
            }
            for m in models
        ]
    }
    with open(os.path.join(args.out_dir, "prices.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {len(rows)} rows, {len(models)} models, {len(tasks)} tasks to {args.out_dir}")


if __name__ == "__main__":
    main()
