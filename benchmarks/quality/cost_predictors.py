#!/usr/bin/python3
"""Which predictor of a model's answer length per prompt? Reads a data folder
written by metered_costs.py (queries.jsonl with metered costs, prices.json)
and prints the cost MAPE on the deduplicated test split of four predictors
of log(output tokens), each fitted per model on train:

  ridge      ridge regression (alpha by leave-one-out CV) on the features
             and log(1 + prompt tokens), as router/cost_model.h fits it;
  knn40      the mean over the 40 nearest train prompts (cosine);
  knn40+len  the same after removing a per-model slope in log prompt tokens;
  task       the train mean of the row's own task (source), with that slope:
             what a perfect task classifier would give.

Features: word and character n-gram hashing, TF-IDF and a 256-d SVD,
L2-normalised, close to the built-in featurizer. Cost = ceil(bytes / 4)
prompt tokens at the input price + predicted output tokens at the output
price, as the library computes it. Takes about two minutes.

Usage: cost_predictors.py METERED_DIR
Needs numpy, scipy and scikit-learn (Debian: python3-sklearn).
"""
import json
import math
import sys

import numpy as np
from scipy.sparse import hstack
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import RidgeCV
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize


def prompt_tokens(prompt):
    return max(1, math.ceil(len(prompt.encode("utf-8")) / 4))


def main():
    folder = sys.argv[1]
    rows = [json.loads(line) for line in open(folder + "/queries.jsonl") if line.strip()]
    config = json.load(open(folder + "/prices.json"))
    prices = {m["name"]: (m["input_usd_per_mtok"], m["output_usd_per_mtok"])
              for m in config["models"]}
    train = [r for r in rows if r["split"] == "train"]
    train_prompts = {r["prompt"] for r in train}
    test = [r for r in rows if r["split"] == "test" and r["prompt"] not in train_prompts]

    words = HashingVectorizer(n_features=2**18, alternate_sign=False)
    chars = HashingVectorizer(n_features=2**18, analyzer="char_wb", ngram_range=(3, 5),
                              alternate_sign=False)

    def hashed(rs):
        texts = [r["prompt"] for r in rs]
        return hstack([words.transform(texts), chars.transform(texts)]).tocsr()

    tfidf = TfidfTransformer().fit(hashed(train))
    svd = TruncatedSVD(256, random_state=0).fit(tfidf.transform(hashed(train)))

    def embed(rs):
        return normalize(svd.transform(tfidf.transform(hashed(rs))))

    train_x, test_x = embed(train), embed(test)
    train_tokens = np.array([prompt_tokens(r["prompt"]) for r in train])
    test_tokens = np.array([prompt_tokens(r["prompt"]) for r in test])
    train_len_feature = np.log1p(train_tokens)
    test_len_feature = np.log1p(test_tokens)
    train_features = np.hstack([train_x, train_len_feature[:, None]])
    test_features = np.hstack([test_x, test_len_feature[:, None]])
    _, neighbours = NearestNeighbors(n_neighbors=40, metric="cosine").fit(train_x).kneighbors(test_x)
    train_task = np.array([r["source"] for r in train])
    test_task = [r["source"] for r in test]

    errors = {"ridge": [], "knn40": [], "knn40+len": [], "task": []}
    for model in sorted(prices):
        input_price, output_price = prices[model]
        costs = np.array([r["costs"][model] for r in train])
        log_output = np.log(np.maximum((costs * 1e6 - input_price * train_tokens) / output_price, 1))
        observed = np.array([r["costs"][model] for r in test])

        def mape(predicted_log_output):
            predicted = (input_price * test_tokens +
                         output_price * np.exp(predicted_log_output)) * 1e-6
            return np.abs(predicted - observed) / observed

        ridge = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(train_features, log_output)
        errors["ridge"].append(mape(ridge.predict(test_features)))
        errors["knn40"].append(mape(log_output[neighbours].mean(axis=1)))
        slope = np.polyfit(train_len_feature, log_output, 1)[0]
        residual = log_output - slope * train_len_feature
        errors["knn40+len"].append(mape(residual[neighbours].mean(axis=1) +
                                        slope * test_len_feature))
        task_mean = {t: residual[train_task == t].mean() for t in set(train_task)}
        errors["task"].append(mape(np.array([task_mean[t] for t in test_task]) +
                                   slope * test_len_feature))
    for name, per_model in errors.items():
        print(f"{name:10s} cost MAPE {np.concatenate(per_model).mean():.3f}")


if __name__ == "__main__":
    main()
