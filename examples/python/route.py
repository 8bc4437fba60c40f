#!/usr/bin/env python3
"""Routes the prompts of a JSONL file with librouter's Python binding.

Usage: route.py DATASET.jsonl PROMPTS.jsonl [CONFIG_JSON]

Fits a router on DATASET (routing data: prompts with each model's scores and
costs), then prints, for each line {"prompt": "..."} of PROMPTS, the prompt
and the model chosen for it. Needs the librouter package (bindings/python, on
PYTHONPATH or installed) and librouter_c (LIBROUTER_C=<lib dir> if it is not
installed system-wide).
"""
import json
import sys

import librouter


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    config = argv[3] if len(argv) == 4 else None
    try:
        with librouter.Router.from_dataset(argv[1], config) as router, open(argv[2]) as prompts:
            for line in prompts:
                if not line.strip():
                    continue
                prompt = json.loads(line)["prompt"]
                decision = router.route(prompt)
                print("%s\n  -> %s (quality %.3f, cost $%.6f)"
                      % (prompt, decision.model, decision.quality, decision.cost_usd))
    except librouter.RouterError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
