#!/usr/bin/python3
"""Writes a copy of a routing data file with a new, random train/test split
by prompt: a seeded tenth of the distinct prompts (every row of each) goes
to test, the rest to train. Nothing else changes.

The shared data's own test split has a different task mix from its train
split (8 of its 14 tasks once deduplicated), so a setting can win or lose
on it for reasons that have nothing to do with routing. Random splits are
the other view: rows drawn like the training rows, as a deployment whose
traffic matches its logs would see. docs/results.md reports both.

Usage: resplit.py QUERIES.jsonl OUT.jsonl [--seed 1] [--test-share 0.1]
Then:  router eval --data OUT.jsonl --dedup-train-prompts ...
       oof_estimates --data OUT.jsonl --out est.csv ...
"""
import argparse
import json
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queries")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--test-share", type=float, default=0.1)
    args = parser.parse_args()
    if not 0.0 < args.test_share < 1.0:
        parser.error("--test-share must lie in (0, 1)")

    with open(args.queries) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    prompts = sorted({row["prompt"] for row in rows})
    test = set(random.Random(args.seed).sample(prompts, k=int(len(prompts) * args.test_share)))
    with open(args.out, "w") as f:
        for row in rows:
            row["split"] = "test" if row["prompt"] in test else "train"
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} rows, {len(prompts)} prompts, {len(test)} of them in test")


if __name__ == "__main__":
    main()
