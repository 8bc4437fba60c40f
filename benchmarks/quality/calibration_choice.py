#!/usr/bin/python3
"""Would choosing each model's calibration on validation folds of train make
the calibration layer pay off on test? Reads the CSV that oof_estimates
writes (out-of-fold estimates for train, full-fit estimates for the
deduplicated test split) and prints, per router, the test ECE (10 equal-width
bins over every (row, model) pair, as `router eval`) of:

  - the raw estimates;
  - every model mapped by isotonic regression, or by Platt scaling, fitted
    on all of train's out-of-fold pairs (what config "calibration" does);
  - per model, the method among none / isotonic / Platt with the lowest
    nested out-of-fold Brier score on train (map of fold k fitted on the
    other folds), or the lowest nested ECE; then refitted on all of train.

Usage: calibration_choice.py ESTIMATES.csv
Needs numpy, scipy and scikit-learn (Debian: python3-sklearn).
"""
import csv
import sys
from collections import defaultdict

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression


def ece(predicted, realised, bins=10):
    which = np.clip((predicted * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(predicted[inside].mean() - realised[inside].mean())
    return total


def fit_none(predicted, realised):
    return lambda p: p


def fit_isotonic(predicted, realised):
    return IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(predicted, realised).predict


def fit_platt(predicted, realised):
    # sigmoid(a logit p + b), a >= 0, by maximum likelihood on scores in [0, 1].
    def logit(p):
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    x = logit(predicted)

    def loss(w):
        q = np.clip(1 / (1 + np.exp(-(w[0] * x + w[1]))), 1e-9, 1 - 1e-9)
        return -(realised * np.log(q) + (1 - realised) * np.log(1 - q)).mean()

    a, b = minimize(loss, [1.0, 0.0], bounds=[(0, None), (None, None)]).x
    return lambda p: 1 / (1 + np.exp(-(a * logit(p) + b)))


METHODS = {"none": fit_none, "isotonic": fit_isotonic, "platt": fit_platt}


def nested(fit, predicted, realised, folds):
    out = np.empty_like(predicted)
    for k in np.unique(folds):
        held = folds == k
        out[held] = fit(predicted[~held], realised[~held])(predicted[held])
    return out


def main(path):
    # router -> set -> model -> (quality, score, fold)
    data = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: ([], [], []))))
    with open(path) as f:
        for row in csv.DictReader(f):
            q, s, k = data[row["router"]][row["set"]][row["model"]]
            q.append(float(row["quality"]))
            s.append(float(row["score"]))
            k.append(int(row["fold"]))
    for router, sets in data.items():
        mapped = defaultdict(list)
        realised_test = []
        choices = defaultdict(int)
        for model, (q, s, k) in sets["train"].items():
            predicted, realised, folds = np.array(q), np.array(s), np.array(k)
            test_q, test_s, _ = sets["test"][model]
            test_predicted = np.array(test_q)
            realised_test.append(np.array(test_s))
            brier, errors = {}, {}
            for name, fit in METHODS.items():
                oof = nested(fit, predicted, realised, folds)
                brier[name] = ((oof - realised) ** 2).mean()
                errors[name] = ece(oof, realised)
            by_brier = min(brier, key=brier.get)
            by_ece = min(errors, key=errors.get)
            choices[f"brier:{by_brier}"] += 1
            choices[f"ece:{by_ece}"] += 1
            mapped["raw"].append(test_predicted)
            mapped["isotonic"].append(fit_isotonic(predicted, realised)(test_predicted))
            mapped["platt"].append(fit_platt(predicted, realised)(test_predicted))
            mapped["chosen by Brier"].append(METHODS[by_brier](predicted, realised)(test_predicted))
            mapped["chosen by ECE"].append(METHODS[by_ece](predicted, realised)(test_predicted))
        realised = np.concatenate(realised_test)
        figures = "  ".join(f"{name} {ece(np.concatenate(p), realised):.4f}" for name, p in mapped.items())
        print(f"{router:8s} test ECE: {figures}   (choices: {dict(sorted(choices.items()))})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
