#!/usr/bin/python3
"""librouter beside the Python way: the same routers, the same vectors, one run.

    /usr/bin/python3 benchmarks/compare/compare.py [--build build] [--out DIR]
        [--dim 1024] [--models 16] [--knn-rows 100000] [--queries 200]
        [--text-rows 4000] [--seconds 2] [--no-hnsw]

Runs build/benchmarks/compare_driver, which fits every router kind in C++ on
generated data, writes the fitted parameters, reference vectors, queries and
prompts to DIR, times its own routes and prints JSON. Then routes the same
queries with plain Python references (numpy, scikit-learn, faiss-python, all
Debian packages) built from those parameters, times them the same way, checks
that both sides make the same decisions, and prints one table.

A decision is the argmax over models of the estimated quality (LinUCB:
quality + uncertainty); the policy step is left out on both sides. Single
routes are timed one call at a time (time.perf_counter_ns around each call,
16 warm-up calls, up to 4 passes over the queries or --seconds, at least 30
calls): p50 and routes/s of that loop. Batch: one call over all queries,
best of 3.

Text in: C++ embeds with its TextFeaturizer (hashed word 1-2-grams and
char_wb 3-5-grams, IDF, 256-d projection) and routes. The Python way is the
same featurizer built from scikit-learn (a union of two HashingVectorizers,
TfidfTransformer(sublinear_tf), TruncatedSVD(256), Normalizer) fitted on the
same corpus, then the numpy router. Its vectors differ from C++'s, so text
decisions are compared on C++'s vectors of the same prompts (written by the
driver), routed through the Python routers.

Python's FAISS runs single queries with one OpenMP thread (the fast setting;
with the default, single-query HNSW search wakes every thread): both variants
are shown for HNSW. HNSW is built three times, over float, fp16 and 8-bit
rows (knn.hnsw_storage); faiss-python searches each same index, and the
summary also sets each against faiss-python over float rows (the issue's
target) and their decisions against the exact index's.

Needs python3-numpy, python3-sklearn and python3-faiss (scripts/install-deps.sh
--bench installs them). Not run by CI.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def load(directory, name):
    return np.load(os.path.join(directory, name + ".npy"))


def normalize(x):
    n = np.linalg.norm(x)
    return x / n if n > 0 else x


def normalize_rows(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return x / n


# --------------------------------------------------------------------------
# Reference routers. Each has route(vector) -> decision and
# batch(matrix) -> decisions.


class KnnFaiss:
    def __init__(self, refs, scores, k, index=None, threads=1):
        import faiss
        self.faiss = faiss
        self.threads = threads
        self.scores = scores.astype(np.float64)
        self.k = k
        if index is None:
            index = faiss.IndexFlatIP(refs.shape[1])
            index.add(np.ascontiguousarray(normalize_rows(refs), dtype=np.float32))
        self.index = index

    def _aggregate(self, sims, ids):
        w = np.maximum(sims.astype(np.float64), 1e-6)
        valid = ids >= 0
        w = w * valid
        q = np.einsum("...k,...km->...m", w, self.scores[np.where(valid, ids, 0)])
        return np.argmax(q / w.sum(axis=-1, keepdims=True), axis=-1)

    def route(self, x):
        self.faiss.omp_set_num_threads(self.threads)
        q = normalize(x).reshape(1, -1).astype(np.float32)
        sims, ids = self.index.search(q, self.k)
        return int(self._aggregate(sims[0], ids[0]))

    def batch(self, x):
        self.faiss.omp_set_num_threads(os.cpu_count())
        sims, ids = self.index.search(np.ascontiguousarray(normalize_rows(x), dtype=np.float32),
                                      self.k)
        return self._aggregate(sims, ids)


class KnnSklearn:
    def __init__(self, refs, scores, k):
        from sklearn.neighbors import NearestNeighbors
        self.nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(refs)
        self.scores = scores.astype(np.float64)

    def _aggregate(self, dist, ids):
        w = np.maximum(1.0 - dist, 1e-6)
        q = np.einsum("...k,...km->...m", w, self.scores[ids])
        return np.argmax(q / w.sum(axis=-1, keepdims=True), axis=-1)

    def route(self, x):
        dist, ids = self.nn.kneighbors(x.reshape(1, -1))
        return int(self._aggregate(dist[0], ids[0]))

    def batch(self, x):
        dist, ids = self.nn.kneighbors(x)
        return self._aggregate(dist, ids)


class Cluster:
    def __init__(self, centroids, quality, nearest=5, temperature=0.03):
        self.c = centroids
        self.quality = quality
        self.n = min(nearest, centroids.shape[0])
        self.t = temperature

    def route(self, x):
        s = self.c @ normalize(x)
        idx = np.argpartition(-s, self.n - 1)[: self.n]
        idx = idx[np.argsort(-s[idx], kind="stable")]
        w = np.exp((s[idx].astype(np.float64) - s[idx[0]]) / self.t)
        w /= w.sum()
        return int(np.argmax(w @ self.quality[idx]))

    def batch(self, x):
        s = normalize_rows(x) @ self.c.T
        idx = np.argpartition(-s, self.n - 1, axis=1)[:, : self.n]
        top = np.take_along_axis(s, idx, axis=1).astype(np.float64)
        w = np.exp((top - top.max(axis=1, keepdims=True)) / self.t)
        w /= w.sum(axis=1, keepdims=True)
        return np.argmax(np.einsum("qn,qnm->qm", w, self.quality[idx]), axis=1)


class Mf:
    """RouteLLM's forward: sigmoid((v_m * w) . (W x) + b_m), two products."""

    def __init__(self, W, w, V, b, folded=False):
        self.W = W
        self.U = V * w  # diag(w) folded into the model embeddings once
        self.b = b
        self.A = (self.U.astype(np.float64) @ W.astype(np.float64)).astype(np.float32) if folded else None

    def route(self, x):
        xn = normalize(x)
        logits = self.A @ xn if self.A is not None else self.U @ (self.W @ xn)
        return int(np.argmax(1.0 / (1.0 + np.exp(-(logits + self.b)))))

    def batch(self, x):
        xn = normalize_rows(x)
        logits = xn @ self.A.T if self.A is not None else (xn @ self.W.T) @ self.U.T
        return np.argmax(1.0 / (1.0 + np.exp(-(logits + self.b))), axis=1)


class LinUcb:
    """Disjoint LinUCB scoring; `loop`: one arm at a time, as usually written."""

    def __init__(self, components, mean, a_inv, b, alpha=0.3, loop=True):
        self.p = components
        self.mean_projected = components @ mean
        self.a_inv = a_inv
        self.theta = np.einsum("mij,mj->mi", a_inv, b)
        self.alpha = alpha
        self.loop = loop

    def _context(self, x):
        z = (self.p @ normalize(x) - self.mean_projected).astype(np.float64)
        return np.append(z, 1.0)

    def route(self, x):
        z = self._context(x)
        if self.loop:
            best, best_value = 0, -np.inf
            for m in range(self.a_inv.shape[0]):
                q = min(max(self.theta[m] @ z, 0.0), 1.0)
                value = q + self.alpha * np.sqrt(max(z @ self.a_inv[m] @ z, 0.0))
                if value > best_value:
                    best, best_value = m, value
            return best
        q = np.clip(self.theta @ z, 0.0, 1.0)
        width = np.einsum("i,mij,j->m", z, self.a_inv, z)
        return int(np.argmax(q + self.alpha * np.sqrt(np.maximum(width, 0.0))))

    def batch(self, x):
        z = (normalize_rows(x) @ self.p.T - self.mean_projected).astype(np.float64)
        z = np.hstack([z, np.ones((z.shape[0], 1))])
        q = np.clip(z @ self.theta.T, 0.0, 1.0)
        width = np.einsum("qi,mij,qj->qm", z, self.a_inv, z, optimize=True)
        return np.argmax(q + self.alpha * np.sqrt(np.maximum(width, 0.0)), axis=1)


# HNSW routers over compressed rows (knn.hnsw_storage fp16 and sq8), beside
# knn_hnsw over float rows.
HNSW_COMPRESSED = ("knn_hnsw_fp16", "knn_hnsw_sq8")


def build_routers(directory, prefix, with_hnsw):
    """(case name, python variant, router) for every reference router."""
    g = lambda name: load(directory, prefix + name)
    refs, scores = g("knn_refs"), g("knn_scores")
    out = [("knn_exact", "faiss-python IndexFlatIP", KnnFaiss(refs, scores, 40)),
           ("knn_exact", "sklearn NearestNeighbors", KnnSklearn(refs, scores, 40))]
    if with_hnsw:
        import faiss
        index = faiss.deserialize_index(g("knn_hnsw_index"))
        out.append(("knn_hnsw", "faiss-python, 1 thread", KnnFaiss(None, scores, 40, index, 1)))
        out.append(("knn_hnsw", "faiss-python, default threads",
                    KnnFaiss(None, scores, 40, index, os.cpu_count())))
        # Compressed rows: faiss-python searches the very same IndexHNSWSQ.
        for name in HNSW_COMPRESSED:
            index = faiss.deserialize_index(g(name + "_index"))
            out.append((name, "faiss-python, same index, 1 thread",
                        KnnFaiss(None, scores, 40, index, 1)))
    out.append(("cluster", "numpy", Cluster(g("cluster_centroids"), g("cluster_quality"))))
    W, w, V, b = g("mf_W"), g("mf_w"), g("mf_V"), g("mf_b")
    out.append(("mf", "numpy, two products", Mf(W, w, V, b)))
    out.append(("mf", "numpy, folded", Mf(W, w, V, b, folded=True)))
    lin = (g("linucb_components"), g("linucb_mean"), g("linucb_a_inv"), g("linucb_b"))
    out.append(("linucb", "numpy, loop over arms", LinUcb(*lin, loop=True)))
    out.append(("linucb", "numpy, vectorised arms", LinUcb(*lin, loop=False)))
    return out


# --------------------------------------------------------------------------
# Timing.


def hnsw_recall(directory, prefix, queries, k=10, name="knn_hnsw"):
    """recall@k of the router's HNSW index against exact search, same queries."""
    import faiss
    refs = load(directory, prefix + "knn_refs")
    exact = faiss.IndexFlatIP(refs.shape[1])
    exact.add(np.ascontiguousarray(normalize_rows(refs), dtype=np.float32))
    hnsw = faiss.deserialize_index(load(directory, prefix + name + "_index"))
    q = np.ascontiguousarray(normalize_rows(queries), dtype=np.float32)
    _, truth = exact.search(q, k)
    _, found = hnsw.search(q, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, found)]))


def time_routes(n, seconds, route):
    """Decisions of an untimed first pass, then per-call timing as the driver."""
    decisions = np.array([route(i) for i in range(n)], dtype=np.int64)
    for i in range(16):
        route(i % n)
    micros = []
    begin = time.perf_counter()
    i = 0
    clock = time.perf_counter_ns
    while True:
        if i >= 30 and (i >= 4 * n or time.perf_counter() - begin > seconds):
            break
        start = clock()
        route(i % n)
        micros.append((clock() - start) / 1e3)
        i += 1
    micros = np.array(micros)
    return decisions, {"p50_us": float(np.percentile(micros, 50, method="inverted_cdf")),
                       "p99_us": float(np.percentile(micros, 99, method="inverted_cdf")),
                       "mean_us": float(micros.mean()),
                       "routes_per_s": float(1e6 / micros.mean()), "calls": len(micros)}


def time_batch(batch, x):
    batch(x)
    best = min(_timed(batch, x) for _ in range(3))
    return x.shape[0] / best


def _timed(f, x):
    start = time.perf_counter()
    f(x)
    return time.perf_counter() - start


def python_featurizer(corpus, dim):
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.preprocessing import Normalizer
    hashing = make_union(
        HashingVectorizer(analyzer="word", ngram_range=(1, 2), n_features=4096,
                          alternate_sign=False, norm=None),
        HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=4096,
                          alternate_sign=False, norm=None))
    pipeline = make_pipeline(hashing, TfidfTransformer(sublinear_tf=True),
                             TruncatedSVD(dim, random_state=42), Normalizer())
    pipeline.fit(corpus)
    return pipeline


# --------------------------------------------------------------------------


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return f"{os.cpu_count()} cores, {model}, load average {load}"


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--out", default=None, help="data directory (default: a temporary one)")
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--models", type=int, default=16)
    ap.add_argument("--knn-rows", type=int, default=100000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--text-rows", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--no-hnsw", action="store_true")
    args = ap.parse_args()

    import faiss
    import sklearn
    out = args.out or tempfile.mkdtemp(prefix="router-compare-")
    os.makedirs(out, exist_ok=True)
    driver = os.path.join(args.build, "benchmarks", "compare_driver")
    command = [driver, out, "--dim", str(args.dim), "--models", str(args.models),
               "--knn-rows", str(args.knn_rows), "--queries", str(args.queries),
               "--text-rows", str(args.text_rows), "--seconds", str(args.seconds)]
    if args.no_hnsw:
        command.append("--no-hnsw")
    print(f"== {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {machine()}", flush=True)
    print(f"== python {platform.python_version()}, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, faiss {faiss.__version__}", flush=True)
    print("== C++: " + " ".join(command), flush=True)
    cpp = json.loads(subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout)
    cpp_cases = {(c["name"], c["input"]): c for c in cpp["cases"]}
    print(f"== Python ({machine()})", flush=True)

    rows = []
    for input_kind, prefix in (("vector", "vec_"), ("text", "text_")):
        queries = load(out, prefix + "queries")
        n = queries.shape[0]
        prompts = None
        if input_kind == "text":
            with open(os.path.join(out, "text_corpus.txt")) as f:
                corpus = f.read().splitlines()
            with open(os.path.join(out, "text_prompts.txt")) as f:
                prompts = f.read().splitlines()
            featurizer = python_featurizer(corpus, queries.shape[1])
            _, t = time_routes(n, args.seconds, lambda i: (featurizer.transform([prompts[i]]), 0)[1])
            rows.append(("featurizer", "text", "sklearn union of HashingVectorizers + tfidf + SVD",
                         cpp_cases[("featurizer", "text")], t, None, None))
            from sklearn.feature_extraction.text import HashingVectorizer
            bare = HashingVectorizer()
            _, t = time_routes(n, args.seconds, lambda i: (bare.transform([prompts[i]]), 0)[1])
            rows.append(("featurizer", "text", "sklearn HashingVectorizer() alone",
                         cpp_cases[("featurizer", "text")], t, None, None))
        for name, variant, router in build_routers(out, prefix, not args.no_hnsw):
            expected = load(out, f"{prefix}decisions_{name}")
            decisions, t = time_routes(n, args.seconds, lambda i: router.route(queries[i]))
            agreement = float(np.mean(decisions == expected))
            batch_qps = None
            if input_kind == "text":
                # Text in: the Python featurizer, then the same router.
                _, t = time_routes(n, args.seconds, lambda i: router.route(
                    featurizer.transform([prompts[i]])[0].astype(np.float32)))
            else:
                batch_qps = time_batch(router.batch, queries)
                batch_agreement = float(np.mean(router.batch(queries) == expected))
                agreement = min(agreement, batch_agreement)
            rows.append((name, input_kind, variant, cpp_cases[(name, input_kind)], t, agreement,
                         batch_qps))
            print(f"   {input_kind} {name} [{variant}]: p50 {t['p50_us']:.1f} us, "
                  f"agreement {agreement:.3f}", flush=True)

    text_bytes = cpp["text_prompt_bytes"]
    recall = None
    if not args.no_hnsw:
        recall = {name: hnsw_recall(out, "vec_", load(out, "vec_queries"), name=name)
                  for name in ("knn_hnsw",) + HNSW_COMPRESSED}
        print("HNSW recall@10 against exact search (vector input): " +
              ", ".join(f"{name} {r:.3f}" for name, r in recall.items()))
        # The bar for compressed rows: >= 99% the exact index's decisions.
        for prefix, kind in (("vec_", "vector"), ("text_", "text")):
            exact = load(out, prefix + "decisions_knn_exact")
            print(f"HNSW decisions equal to exact search's ({kind} input): " + ", ".join(
                f"{name} {100 * np.mean(load(out, prefix + 'decisions_' + name) == exact):.1f}%"
                for name in ("knn_hnsw",) + HNSW_COMPRESSED))
    print()
    print(f"d = {cpp['dim']}, M = {cpp['models']}, {cpp['queries']} queries; text: "
          f"{text_bytes:.0f}-byte prompts, {cpp['text_dim']}-d; kNN k = 40 over "
          f"{cpp_cases[('knn_exact', 'vector')]['reference_rows']} (vector) and "
          f"{cpp_cases[('knn_exact', 'text')]['reference_rows']} (text) rows")
    print()
    print("| router | input | Python way | C++ p50 µs | Python p50 µs | p50 ratio | "
          "C++ routes/s | Python routes/s | batch C++ routes/s | batch Python routes/s | "
          "batch ratio | C++ allocs/route | same decisions |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, kind, variant, c, p, agreement, batch_qps in rows:
        ratio = p["p50_us"] / c["p50_us"]
        cells = [name, kind, variant, f"{c['p50_us']:.2f}", f"{p['p50_us']:.2f}", f"{ratio:.1f}×",
                 f"{c['routes_per_s']:.0f}", f"{p['routes_per_s']:.0f}"]
        if batch_qps:
            cells += [f"{c['batch_routes_per_s']:.0f}", f"{batch_qps:.0f}",
                      f"{c['batch_routes_per_s'] / batch_qps:.1f}×"]
        else:
            cells += ["", "", ""]
        cells.append(f"{c['allocs_per_route']:.1f}")
        cells.append("" if agreement is None else f"{100 * agreement:.1f}%")
        print("| " + " | ".join(cells) + " |")
    if not args.no_hnsw:
        # The HNSW target is against faiss-python over float rows.
        flat = next(p for n_, k, v, _, p, _, _ in rows
                    if (n_, k, v) == ("knn_hnsw", "vector", "faiss-python, 1 thread"))
        print()
        print("HNSW against faiss-python over float rows, 1 thread: " + "; ".join(
            f"{name} {flat['p50_us'] / cpp_cases[(name, 'vector')]['p50_us']:.1f}×"
            for name in ("knn_hnsw",) + HNSW_COMPRESSED))
    c = cpp_cases[("featurizer", "text")]
    print()
    print(f"Featurizer throughput: C++ {text_bytes / c['mean_us']:.1f} MB/s; "
          + "; ".join(f"{v} {text_bytes / p['mean_us']:.1f} MB/s"
                      for n_, k, v, _, p, _, _ in rows if n_ == "featurizer"))
    print(f"== done {time.strftime('%H:%M:%S')}; {machine()}; data in {out}")
    with open(os.path.join(out, "compare.json"), "w") as f:
        json.dump({"cpp": cpp, "hnsw_recall_at_10": recall, "python": [
            {"name": r[0], "input": r[1], "variant": r[2], **r[4], "agreement": r[5],
             "batch_routes_per_s": r[6]} for r in rows]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
