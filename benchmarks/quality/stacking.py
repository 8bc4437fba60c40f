#!/usr/bin/python3
"""Can the routers' estimates be combined into a better router? Reads the CSV
that oof_estimates writes (out-of-fold estimates for train, full-fit estimates
for the deduplicated test split) and prints, on train (out of fold) and on
test, the AIQ of:

  - each router alone;
  - the equal-weight mean of the routers' qualities;
  - per-model logistic stacking on the routers' qualities (one combiner per
    model, L2 strength 1/C), fitted on train's out-of-fold estimates; its
    train figure is nested (the combiner of fold k is fitted on the other
    folds), so train and test figures are both out of sample;
  - a task router that knows each row's source and predicts the train mean
    of each model on that source (what a perfect task classifier reaches),
    and the same with the test means (an upper bound that peeks at test);

and a bootstrap standard deviation of the test AIQ difference between two
routers, to say what difference the test split can resolve.

AIQ here is the area under the non-decreasing upper hull of (mean cost, mean
quality) over the single models' cost range, divided by its width; decisions
are argmax(quality - lambda * cost_estimate) over 62 lambdas, as in `router
eval`. It matches `router eval`'s AIQ to about 1e-3.

Usage: stacking.py ESTIMATES.csv
Needs numpy and scikit-learn (Debian: python3-numpy, python3-sklearn).
"""
import csv
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def load(path):
    rows = list(csv.DictReader(open(path)))
    routers = list(dict.fromkeys(r["router"] for r in rows))
    models = sorted({r["model"] for r in rows})
    sets = {}
    for name in ("train", "test"):
        ids = list(dict.fromkeys(r["id"] for r in rows if r["set"] == name))
        index = {i: n for n, i in enumerate(ids)}
        shape = (len(routers), len(ids), len(models))
        d = {f: np.full(shape, np.nan) for f in ("quality", "cost_estimate", "score", "cost")}
        d["fold"] = np.zeros(len(ids), int)
        d["source"] = [""] * len(ids)
        for r in rows:
            if r["set"] != name:
                continue
            a, n, m = routers.index(r["router"]), index[r["id"]], models.index(r["model"])
            for f in ("quality", "cost_estimate", "score", "cost"):
                d[f][a, n, m] = float(r[f])
            d["fold"][n] = int(r["fold"])
            d["source"][n] = r["source"]
        d["score"], d["cost"] = d["score"][0], d["cost"][0]
        sets[name] = d
    return routers, models, sets


def upper_hull_area(points, lo, hi):
    """Area under the non-decreasing upper concave hull of `points` over [lo, hi]."""
    frontier = []
    for c, q in sorted(points):
        if frontier and q <= frontier[-1][1]:
            continue  # dominated: costs more, no better
        while len(frontier) >= 2:
            (c1, q1), (c2, q2) = frontier[-2], frontier[-1]
            if (c2 - c1) * (q - q1) >= (q2 - q1) * (c - c1):
                frontier.pop()  # under the chord to the new point
            else:
                break
        frontier.append((c, q))
    xs = [lo] + [min(max(c, lo), hi) for c, _ in frontier] + [hi]
    ys = [frontier[0][1]] + [q for _, q in frontier] + [frontier[-1][1]]
    return sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1))


def aiq(score, cost, quality, cost_estimate):
    singles = [(cost[:, m].mean(), score[:, m].mean()) for m in range(score.shape[1])]
    lo, hi = min(c for c, _ in singles), max(c for c, _ in singles)
    lambdas = np.concatenate([[0.0], np.logspace(-3, 3, 61) / np.median(cost)])
    rows = np.arange(len(score))
    points = list(singles)
    for lam in lambdas:
        pick = np.argmax(quality - lam * cost_estimate, axis=1)
        points.append((cost[rows, pick].mean(), score[rows, pick].mean()))
    return upper_hull_area(points, lo, hi) / (hi - lo)


def fit_logistic(features, score, C):
    """Logistic regression on scores in [0, 1]: each row counts as a success
    with weight score and a failure with weight 1 - score."""
    x = np.concatenate([features, features])
    y = np.concatenate([np.ones(len(score)), np.zeros(len(score))])
    w = np.concatenate([score, 1.0 - score])
    return LogisticRegression(C=C, max_iter=2000).fit(x, y, sample_weight=w)


def stacked(train, test, C):
    """Per-model stacking: nested out-of-fold predictions for train, and the
    predictions for test of combiners fitted on all of train."""
    folds = sorted(set(train["fold"]))
    on_train = np.zeros_like(train["score"])
    on_test = np.zeros_like(test["score"])
    for m in range(train["score"].shape[1]):
        x, x_test, s = train["quality"][:, :, m].T, test["quality"][:, :, m].T, train["score"][:, m]
        for k in folds:
            fit, held = train["fold"] != k, train["fold"] == k
            on_train[held, m] = fit_logistic(x[fit], s[fit], C).predict_proba(x[held])[:, 1]
        on_test[:, m] = fit_logistic(x, s, C).predict_proba(x_test)[:, 1]
    return on_train, on_test


def simplex_weights(x, y, iterations=2000):
    """argmin ||y - x w||^2 over w >= 0, sum(w) = 1 (projected gradient on the
    Gram matrix): the convex combination the stacked router fits."""
    gram, cross = x.T @ x, x.T @ y
    step = 1.0 / max(np.linalg.eigvalsh(gram)[-1], 1e-12)
    w = np.full(x.shape[1], 1.0 / x.shape[1])
    for _ in range(iterations):
        v = w - step * (gram @ w - cross)
        u = np.sort(v)[::-1]  # Euclidean projection onto the simplex
        css = np.cumsum(u) - 1.0
        rho = np.nonzero(u - css / np.arange(1, len(u) + 1) > 0)[0][-1]
        w = np.maximum(v - css[rho] / (rho + 1), 0.0)
    return w


def convex(train, test):
    """Per-model convex stacking, nested on train like stacked()."""
    folds = sorted(set(train["fold"]))
    on_train = np.zeros_like(train["score"])
    on_test = np.zeros_like(test["score"])
    weights = []
    for m in range(train["score"].shape[1]):
        x, x_test, s = train["quality"][:, :, m].T, test["quality"][:, :, m].T, train["score"][:, m]
        for k in folds:
            fit, held = train["fold"] != k, train["fold"] == k
            on_train[held, m] = x[held] @ simplex_weights(x[fit], s[fit])
        w = simplex_weights(x, s)
        weights.append(w)
        on_test[:, m] = x_test @ w
    return on_train, on_test, np.array(weights)


def source_means(train, rows_of):
    means = {}
    for source in set(rows_of["source"]):
        pick = [i for i, s in enumerate(train["source"]) if s == source]
        means[source] = train["score"][pick].mean(0) if pick else train["score"].mean(0)
    return np.array([means[s] for s in rows_of["source"]])


def main():
    routers, models, sets = load(sys.argv[1])
    train, test = sets["train"], sets["test"]
    print(f"{len(train['score'])} train rows (out of fold), {len(test['score'])} test rows, "
          f"{len(models)} models")

    def both(name, q_train, q_test, c_train, c_test):
        a = aiq(train["score"], train["cost"], q_train, c_train)
        b = aiq(test["score"], test["cost"], q_test, c_test)
        print(f"  {name:44s} train {a:.4f}  test {b:.4f}")

    cost_train, cost_test = train["cost_estimate"][0], test["cost_estimate"][0]
    zero = aiq(test["score"], test["cost"], np.zeros_like(test["score"]), test["cost"])
    print(f"  {'zero router (single models only), test':44s} {zero:.4f}")
    for i, r in enumerate(routers):
        both(r, train["quality"][i], test["quality"][i],
             train["cost_estimate"][i], test["cost_estimate"][i])
    both("mean of the routers", train["quality"].mean(0), test["quality"].mean(0),
         cost_train, cost_test)
    for C in (0.03, 0.3, 3.0):
        on_train, on_test = stacked(train, test, C)
        both(f"logistic stacking, C = {C}", on_train, on_test, cost_train, cost_test)
    on_train, on_test, weights = convex(train, test)
    both("convex stacking (per model)", on_train, on_test, cost_train, cost_test)
    print("    mean weights: " + ", ".join(f"{r} {w:.2f}" for r, w in zip(routers, weights.mean(0))))
    both("task router (train means per source)", source_means(train, train),
         source_means(train, test), cost_train, cost_test)
    peek = aiq(test["score"], test["cost"], source_means(test, test), cost_test)
    print(f"  {'task router with test means (peeks), test':44s} {peek:.4f}")

    # What difference can the test split resolve? Bootstrap rows, paired.
    rng = np.random.default_rng(0)
    first, last = test["quality"][0], test["quality"][-1]
    diffs = []
    for _ in range(200):
        rows = rng.integers(0, len(test["score"]), len(test["score"]))
        s, c, ce = test["score"][rows], test["cost"][rows], cost_test[rows]
        diffs.append(aiq(s, c, first[rows], ce) - aiq(s, c, last[rows], ce))
    print(f"  bootstrap sd of test AIQ({routers[0]}) - AIQ({routers[-1]}): {np.std(diffs):.4f}")


if __name__ == "__main__":
    main()
