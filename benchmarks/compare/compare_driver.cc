// compare_driver: the C++ side of benchmarks/compare/compare.py.
//
//   compare_driver OUT_DIR [--dim D] [--models M] [--knn-rows N] [--queries Q]
//                          [--text-rows T] [--seconds S] [--no-hnsw]
//
// Fits every router kind on generated data, writes what a Python reference
// needs to make the same decisions (the fitted parameters, the reference
// vectors, the queries, the prompts) to OUT_DIR as .npy and text files, times
// its own routes on the same queries, and prints one JSON object on stdout.
//
// Two inputs:
//   vector  Q query vectors of dimension D (unit vectors around 32 topics with
//           a low-rank part, like embeddings); routers fitted on vectors of
//           the same kind, M models with continuous scores in [0, 1].
//   text    Q prompts of about 1.5 KB (synthetic.h topics); a TextFeaturizer
//           (defaults, 256-d) fitted on T synthetic prompts embeds them, and
//           the routers are fitted on those embeddings. The featurizer's
//           vectors of the Q prompts are written too, so that decisions can be
//           compared on identical vectors.
//
// A decision is the argmax over models of the estimated quality (for LinUCB
// quality + uncertainty, the optimistic bandit's choice); ties go to the
// lower index. The policy step is left out on both sides (0.4 µs, see
// docs/performance.md).
//
// For every case: p50/p99/mean of single routes (vector or text in, decision
// out; each call timed with steady_clock after 16 warm-up calls, repeated
// over the queries for `--seconds` or 4 passes, whichever ends first, at
// least 30 calls), routes/s of that loop, heap allocations per route (after
// warm-up, this thread; bench_util.h), and the routes/s of one EstimateBatch
// over all Q queries (vector input).
//
// kNN over HNSW: the Python side reads the very index the router searches
// (taken from KnnRouter::SaveState), so both walk the same graph; one per
// row storage (knn_hnsw, knn_hnsw_fp16, knn_hnsw_sq8). LinUCB's
// parameters come from its saved state as well; both parsers follow the
// state layouts in src/knn_router.cc and src/linucb_router.cc.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "internal/byte_stream.h"
#include "router/catalog.h"
#include "router/cluster_router.h"
#include "router/dataset.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/mf_router.h"
#include "router/status.h"
#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string out;
  int dim = 1024;
  int models = 16;
  int64_t knn_rows = 100000;
  int queries = 200;
  int64_t text_rows = 4000;
  double seconds = 2.0;
  bool hnsw = true;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "compare_driver: %s\n", message.c_str());
  std::exit(1);
}

void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Die(what + ": " + std::string(router::StdView(status.ToString())));
}

void Log(const std::string& message) { std::fprintf(stderr, "[compare_driver] %s\n", message.c_str()); }

// ---------------------------------------------------------------- .npy output

// Writes a C-order array of `shape` with numpy dtype `descr` ('<f4', '<f8',
// '<i4', '|u1').
void WriteNpy(const std::string& path, const std::string& descr, std::vector<int64_t> shape,
              const void* data, size_t bytes) {
  std::string shape_text = "(";
  for (int64_t s : shape) shape_text += std::to_string(s) + ",";
  shape_text += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " +
                       shape_text + ", }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  const char magic[] = "\x93NUMPY\x01\x00";
  f.write(magic, 8);
  const uint16_t length = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&length), 2);
  f << header;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!f) Die("cannot write " + path);
}

template <typename T>
void WriteNpy(const std::string& path, const std::string& descr, std::vector<int64_t> shape,
              const std::vector<T>& values) {
  WriteNpy(path, descr, std::move(shape), values.data(), values.size() * sizeof(T));
}

// ---------------------------------------------------------------- data

// Unit vectors: one of 32 random topic centres, a 24-d latent part and noise.
// Returns the vectors and each row's topic.
std::vector<float> Embeddings(int64_t n, int dim, uint64_t seed, std::vector<int>* topics) {
  std::mt19937_64 structure(77 + dim);
  std::normal_distribution<float> normal;
  std::vector<float> centres(32 * static_cast<size_t>(dim)), basis(24 * static_cast<size_t>(dim));
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(dim));
  for (float& x : centres) x = normal(structure) * inv_sqrt_d;
  for (float& x : basis) x = normal(structure) * inv_sqrt_d;
  std::mt19937_64 rng(seed);
  std::vector<float> v(static_cast<size_t>(n) * dim);
  topics->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    float* row = v.data() + i * dim;
    const int topic = static_cast<int>(rng() % 32);
    (*topics)[i] = topic;
    const float* centre = centres.data() + static_cast<size_t>(topic) * dim;
    for (int j = 0; j < dim; ++j) row[j] = centre[j] + 0.3f * normal(rng) * inv_sqrt_d;
    for (int l = 0; l < 24; ++l) {
      const float z = 0.25f * normal(rng);
      for (int j = 0; j < dim; ++j) row[j] += z * basis[l * static_cast<size_t>(dim) + j];
    }
    double sq = 0;
    for (int j = 0; j < dim; ++j) sq += double{row[j]} * row[j];
    for (int j = 0; j < dim; ++j) row[j] = static_cast<float>(row[j] / std::sqrt(sq));
  }
  return v;
}

router::Catalog MakeCatalog(int models) {
  router::Catalog catalog;
  for (int m = 0; m < models; ++m) {
    router::Profile p;
    p.name = "model-" + std::to_string(m);
    p.input_usd_per_mtok = 0.1 * (m % 9 + 1);
    p.output_usd_per_mtok = 4.0 * p.input_usd_per_mtok;
    Check(catalog.Add(std::move(p)), "catalog");
  }
  return catalog;
}

// A dataset of `vectors` whose scores depend on each row's topic: model m's
// affinity to the topic plus noise, clipped to [0, 1].
router::Dataset MakeDataset(std::vector<float> vectors, int dim, const std::vector<int>& topics,
                            int models, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal;
  std::mt19937_64 affinity_rng(999);
  std::vector<double> affinity(64 * static_cast<size_t>(models));
  for (double& a : affinity) a = 0.15 + 0.75 * unit(affinity_rng);
  router::Dataset data;
  for (int m = 0; m < models; ++m) data.model_names.push_back("model-" + std::to_string(m));
  data.dim = dim;
  data.vectors = std::move(vectors);
  const int64_t rows = static_cast<int64_t>(topics.size());
  for (int64_t r = 0; r < rows; ++r) {
    data.ids.push_back("row-" + std::to_string(r));
    data.prompts.emplace_back();
    data.sources.emplace_back();
    data.splits.push_back(router::Split::kTrain);
    for (int m = 0; m < models; ++m) {
      const double a = affinity[static_cast<size_t>(topics[r] % 64) * models + m];
      data.scores.push_back(std::clamp(a + 0.15 * normal(rng), 0.0, 1.0));
      data.costs.push_back(1e-5 * (m % 9 + 1) * (0.5 + unit(rng)));
    }
  }
  return data;
}

// A prompt of at least `bytes` bytes: synthetic prompts of one topic joined.
std::string LongPrompt(int topic, uint64_t seed, size_t bytes) {
  std::string text;
  for (uint64_t j = 0; text.size() < bytes; ++j) {
    if (!text.empty()) text += ' ';
    text += router::SyntheticPrompt(topic, seed * 1000 + j);
  }
  return text;
}

// ---------------------------------------------------------------- state parsing

// The state version both parsers follow: 2 writes the options as one JSON
// string (internal::PutOptions), which they skip. The library saves only its
// newest version, so an older one here means the layouts moved on.
constexpr uint32_t kStateVersion = 2;

// The HNSW index (FAISS's serialisation) inside a KnnRouter state.
std::vector<uint8_t> HnswBlob(const router::KnnRouter& knn) {
  std::string state;
  Check(knn.SaveState(&state), "knn SaveState");
  router::internal::ByteReader r(state, "knn state");
  uint32_t version = 0;
  int32_t dim = 0;
  uint8_t uses_hnsw = 0;
  int64_t rows = 0;
  std::string options;  // JSON, unused here
  router::Catalog catalog;
  std::vector<float> scores, costs;
  std::vector<double> mean_score;
  std::vector<uint8_t> blob;
  r.GetVersion(&version, kStateVersion) && r.GetString(&options, "options") &&
      router::internal::GetCatalog(&r, &catalog) && r.Get(&dim, "dim") && r.Get(&rows, "rows") && r.Get(&uses_hnsw, "uses_hnsw") &&
      r.GetVector(&scores, "scores") && r.GetVector(&costs, "costs") &&
      r.GetVector(&mean_score, "mean_score") && r.GetVector(&blob, "index");
  Check(r.Finish(), "parsing the knn state");
  if (version != kStateVersion) Die("the knn state is of an older version than this parser");
  if (uses_hnsw != 1) Die("the knn router is not HNSW");
  return blob;
}

// LinUCB's projection and arms, from its saved state.
struct LinUcbParams {
  int dim = 0, reduced = 0, clusters = 0;
  std::vector<float> mean, components;
  std::vector<double> a_inv, b;  // models x c x c (row-major = column-major: symmetric), models x c
};

LinUcbParams ParseLinUcb(const router::LinUcbRouter& router) {
  std::string state;
  Check(router.SaveState(&state), "linucb SaveState");
  router::internal::ByteReader r(state, "linucb state");
  uint32_t version = 0;
  std::string options;  // JSON, unused here
  router::Catalog catalog;
  LinUcbParams p;
  std::vector<float> centroids;
  int64_t online = 0;
  r.GetVersion(&version, kStateVersion) && r.GetString(&options, "options") &&
      router::internal::GetCatalog(&r, &catalog) &&
      r.Get(&p.dim, "dim") && r.Get(&p.reduced, "reduced") && r.Get(&p.clusters, "clusters") &&
      r.GetVector(&p.mean, "mean") && r.GetVector(&p.components, "components") &&
      r.GetVector(&centroids, "centroids") && r.Get(&online, "online");
  if (p.clusters != 0) Die("the compare script supports LinUCB without clusters only");
  const int c = p.reduced + 1;
  for (int m = 0; m < catalog.size(); ++m) {
    int64_t updates = 0, cost_count = 0;
    int32_t since = 0;
    double cost_sum = 0;
    std::vector<double> a, a_inv, b;
    r.Get(&updates, "updates") && r.Get(&since, "since") && r.Get(&cost_sum, "cost_sum") &&
        r.Get(&cost_count, "cost_count") && r.GetVector(&a, uint64_t(c) * c, "a") &&
        r.GetVector(&a_inv, uint64_t(c) * c, "a_inv") && r.GetVector(&b, uint64_t(c), "b");
    p.a_inv.insert(p.a_inv.end(), a_inv.begin(), a_inv.end());
    p.b.insert(p.b.end(), b.begin(), b.end());
  }
  Check(r.Finish(), "parsing the linucb state");
  if (version != kStateVersion) Die("the linucb state is of an older version than this parser");
  return p;
}

// ---------------------------------------------------------------- timing

int Decide(const router::Estimates& e, bool optimistic) {
  int best = 0;
  double best_value = -1e300;
  for (size_t m = 0; m < e.per_model.size(); ++m) {
    const double v = e.per_model[m].quality + (optimistic ? e.per_model[m].uncertainty : 0.0);
    if (v > best_value) {
      best_value = v;
      best = static_cast<int>(m);
    }
  }
  return best;
}

struct Timing {
  double p50_us = 0, p99_us = 0, mean_us = 0, routes_per_s = 0, allocs_per_route = 0;
  int64_t calls = 0;
  double batch_routes_per_s = 0;
};

// Times `route(i)` (query i's decision) as described at the top; also
// returns every query's decision from an untimed first pass.
Timing TimeRoutes(int queries, double seconds, const std::function<int(int)>& route,
                  std::vector<int32_t>* decisions) {
  decisions->assign(queries, -1);
  for (int i = 0; i < queries; ++i) (*decisions)[i] = route(i);
  for (int i = 0; i < 16; ++i) route(i % queries);
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(queries) * 4 + 64);
  int64_t allocations = 0;
  const auto begin = Clock::now();
  int64_t i = 0;
  volatile int sink = 0;
  for (;; ++i) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
    if (i >= 30 && (i >= 4LL * queries || elapsed > seconds)) break;
    const int64_t a0 = bench::Allocations();
    const auto start = Clock::now();
    sink = route(static_cast<int>(i % queries));
    const auto stop = Clock::now();
    allocations += bench::Allocations() - a0;
    micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
  }
  (void)sink;
  Timing t;
  t.calls = static_cast<int64_t>(micros.size());
  double sum = 0;
  for (double m : micros) sum += m;
  t.mean_us = sum / static_cast<double>(t.calls);
  t.routes_per_s = 1e6 / t.mean_us;
  t.allocs_per_route = static_cast<double>(allocations) / static_cast<double>(t.calls);
  t.p50_us = bench::Percentile(micros, 0.5);
  t.p99_us = bench::Percentile(micros, 0.99);
  return t;
}

// Routes/s of EstimateBatch over all queries (best of 3 after one warm-up).
double TimeBatch(const router::Router& router, const std::vector<router::Query>& queries,
                 bool optimistic) {
  std::vector<router::Estimates> out(queries.size());
  std::vector<int> decisions(queries.size());
  double best = 1e30;
  for (int run = 0; run < 4; ++run) {
    const auto start = Clock::now();
    Check(router.EstimateBatch(absl::MakeConstSpan(queries), absl::MakeSpan(out)), "batch");
    for (size_t i = 0; i < out.size(); ++i) decisions[i] = Decide(out[i], optimistic);
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    if (run > 0) best = std::min(best, s);
  }
  return static_cast<double>(queries.size()) / best;
}

std::string Json(const std::string& name, const std::string& input, const Timing& t,
                 int64_t extra_rows, double fit_s) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer,
                "{\"name\": \"%s\", \"input\": \"%s\", \"p50_us\": %.3f, \"p99_us\": %.3f, "
                "\"mean_us\": %.3f, \"routes_per_s\": %.1f, \"calls\": %lld, "
                "\"allocs_per_route\": %.3f, \"batch_routes_per_s\": %.1f, "
                "\"reference_rows\": %lld, \"fit_s\": %.3f}",
                name.c_str(), input.c_str(), t.p50_us, t.p99_us, t.mean_us, t.routes_per_s,
                static_cast<long long>(t.calls), t.allocs_per_route, t.batch_routes_per_s,
                static_cast<long long>(extra_rows), fit_s);
  return buffer;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------- routers

// The routers of one input kind, fitted on `data`, with their parameters
// written under `prefix` in the output directory.
struct Routers {
  struct Hnsw {
    std::string name;  // knn_hnsw (float rows), knn_hnsw_fp16, knn_hnsw_sq8
    std::unique_ptr<router::KnnRouter> router;
    double fit_s = 0;
  };
  std::unique_ptr<router::KnnRouter> knn_exact;
  std::vector<Hnsw> knn_hnsw;
  std::unique_ptr<router::ClusterRouter> cluster;
  std::unique_ptr<router::MfRouter> mf;
  std::unique_ptr<router::LinUcbRouter> linucb;
  double fit_s[5] = {0, 0, 0, 0, 0};
  int64_t knn_rows = 0;
};

Routers FitAndExport(const router::Dataset& knn_data, const router::Dataset& train,
                     const router::Catalog& catalog, bool hnsw, const std::string& dir,
                     const std::string& prefix) {
  Routers r;
  const int dim = train.dim, models = catalog.size();
  auto path = [&](const std::string& name) { return dir + "/" + prefix + name + ".npy"; };

  // kNN: the reference vectors (not normalised: the Python side does that as
  // a Python user would) and their scores.
  r.knn_rows = knn_data.rows();
  WriteNpy(path("knn_refs"), "<f4", {knn_data.rows(), dim}, knn_data.vectors);
  std::vector<float> scores(knn_data.scores.begin(), knn_data.scores.end());
  WriteNpy(path("knn_scores"), "<f4", {knn_data.rows(), models}, scores);
  auto start = Clock::now();
  r.knn_exact = std::make_unique<router::KnnRouter>(
      router::KnnOptions{.hnsw_threshold = int64_t{1} << 40});
  Check(r.knn_exact->Fit(knn_data, catalog), prefix + "knn exact fit");
  r.fit_s[0] = SecondsSince(start);
  if (hnsw) {
    // One HNSW router per row storage; the Python side searches each index.
    using Storage = router::KnnOptions::HnswStorage;
    const std::pair<const char*, Storage> storages[] = {
        {"knn_hnsw", Storage::kFloat}, {"knn_hnsw_fp16", Storage::kHalf},
        {"knn_hnsw_sq8", Storage::kBytes}};
    for (const auto& [name, storage] : storages) {
      start = Clock::now();
      auto knn = std::make_unique<router::KnnRouter>(
          router::KnnOptions{.hnsw_threshold = 0, .hnsw_storage = storage});
      Check(knn->Fit(knn_data, catalog), prefix + name + " fit");
      const double fit_s = SecondsSince(start);
      Log(prefix + name + " over " + std::to_string(knn_data.rows()) + " rows built in " +
          std::to_string(fit_s) + " s");
      const std::vector<uint8_t> blob = HnswBlob(*knn);
      WriteNpy(path(std::string(name) + "_index"), "|u1", {static_cast<int64_t>(blob.size())},
               blob);
      r.knn_hnsw.push_back({name, std::move(knn), fit_s});
    }
  }

  start = Clock::now();
  r.cluster = std::make_unique<router::ClusterRouter>(router::ClusterOptions{.num_clusters = 64});
  Check(r.cluster->Fit(train, catalog), prefix + "cluster fit");
  r.fit_s[2] = SecondsSince(start);
  const int k = r.cluster->num_clusters();
  std::vector<float> centroids(r.cluster->centroids().begin(), r.cluster->centroids().end());
  WriteNpy(path("cluster_centroids"), "<f4", {k, dim}, centroids);
  std::vector<double> quality(static_cast<size_t>(k) * models);
  for (int c = 0; c < k; ++c) {
    for (int m = 0; m < models; ++m) quality[static_cast<size_t>(c) * models + m] = r.cluster->ClusterQuality(c, m);
  }
  WriteNpy(path("cluster_quality"), "<f8", {k, models}, quality);

  start = Clock::now();
  router::MfOptions mf_options;
  mf_options.hidden_dim = 128;
  mf_options.epochs = 3;
  r.mf = std::make_unique<router::MfRouter>(mf_options);
  Check(r.mf->Fit(train, catalog), prefix + "mf fit");
  r.fit_s[3] = SecondsSince(start);
  const router::MfParameters& p = r.mf->parameters();
  WriteNpy(path("mf_W"), "<f4", {p.hidden_dim, p.dim}, p.projection);
  WriteNpy(path("mf_w"), "<f4", {p.hidden_dim}, p.mixing);
  WriteNpy(path("mf_V"), "<f4", {p.num_models, p.hidden_dim}, p.embeddings);
  WriteNpy(path("mf_b"), "<f4", {p.num_models}, p.biases);

  start = Clock::now();
  r.linucb = std::make_unique<router::LinUcbRouter>(
      router::LinUcbOptions{.context_dim = 64, .alpha = 0.3});
  Check(r.linucb->Fit(train, catalog), prefix + "linucb fit");
  r.fit_s[4] = SecondsSince(start);
  const LinUcbParams lp = ParseLinUcb(*r.linucb);
  const int c = lp.reduced + 1;
  WriteNpy(path("linucb_components"), "<f4", {lp.reduced, lp.dim}, lp.components);
  WriteNpy(path("linucb_mean"), "<f4", {lp.dim}, lp.mean);
  WriteNpy(path("linucb_a_inv"), "<f8", {models, c, c}, lp.a_inv);
  WriteNpy(path("linucb_b"), "<f8", {models, c}, lp.b);
  return r;
}

struct Case {
  std::string name;
  const router::Router* router;
  bool optimistic;
  double fit_s;
  int64_t rows;
};

std::vector<Case> CasesOf(const Routers& r) {
  std::vector<Case> cases = {{"knn_exact", r.knn_exact.get(), false, r.fit_s[0], r.knn_rows}};
  for (const auto& h : r.knn_hnsw) {
    cases.push_back({h.name, h.router.get(), false, h.fit_s, r.knn_rows});
  }
  cases.push_back({"cluster", r.cluster.get(), false, r.fit_s[2], 0});
  cases.push_back({"mf", r.mf.get(), false, r.fit_s[3], 0});
  cases.push_back({"linucb", r.linucb.get(), true, r.fit_s[4], 0});
  return cases;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + arg);
      return argv[++i];
    };
    if (arg == "--dim") a.dim = std::stoi(next());
    else if (arg == "--models") a.models = std::stoi(next());
    else if (arg == "--knn-rows") a.knn_rows = std::stoll(next());
    else if (arg == "--queries") a.queries = std::stoi(next());
    else if (arg == "--text-rows") a.text_rows = std::stoll(next());
    else if (arg == "--seconds") a.seconds = std::stod(next());
    else if (arg == "--no-hnsw") a.hnsw = false;
    else if (!arg.empty() && arg[0] == '-') Die("unknown option " + arg);
    else a.out = arg;
  }
  if (a.out.empty()) Die("usage: compare_driver OUT_DIR [options]");
  if (a.dim < 2 || a.models < 2 || a.knn_rows < 100 || a.queries < 1 || a.text_rows < 100) {
    Die("sizes out of range");
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  const std::string& dir = args.out;
  std::vector<std::string> json_cases;
  const router::Catalog catalog = MakeCatalog(args.models);

  // ---- vector input
  {
    Log("generating " + std::to_string(args.knn_rows) + " x " + std::to_string(args.dim) +
        " reference vectors");
    std::vector<int> topics;
    std::vector<float> refs = Embeddings(args.knn_rows, args.dim, 1, &topics);
    const router::Dataset knn_data = MakeDataset(std::move(refs), args.dim, topics, args.models, 2);
    const int64_t train_rows = std::min<int64_t>(5000, args.knn_rows);
    std::vector<int64_t> first(train_rows);
    for (int64_t i = 0; i < train_rows; ++i) first[i] = i;
    const router::Dataset train = knn_data.Subset(first);
    const Routers routers = FitAndExport(knn_data, train, catalog, args.hnsw, dir, "vec_");

    std::vector<int> query_topics;
    const std::vector<float> qv = Embeddings(args.queries, args.dim, 3, &query_topics);
    WriteNpy(dir + "/vec_queries.npy", "<f4", {args.queries, args.dim}, qv);
    std::vector<router::Query> queries(args.queries);
    for (int i = 0; i < args.queries; ++i) {
      queries[i].vector = absl::MakeConstSpan(qv.data() + static_cast<size_t>(i) * args.dim, args.dim);
      queries[i].input_tokens = 400;
    }
    for (const Case& c : CasesOf(routers)) {
      router::Estimates estimates;
      std::vector<int32_t> decisions;
      Timing t = TimeRoutes(args.queries, args.seconds, [&](int i) {
        Check(c.router->Estimate(queries[i], &estimates), c.name);
        return Decide(estimates, c.optimistic);
      }, &decisions);
      t.batch_routes_per_s = TimeBatch(*c.router, queries, c.optimistic);
      WriteNpy(dir + "/vec_decisions_" + c.name + ".npy", "<i4", {args.queries}, decisions);
      json_cases.push_back(Json(c.name, "vector", t, c.rows, c.fit_s));
      Log("vector " + c.name + ": p50 " + std::to_string(t.p50_us) + " us");
    }
  }

  // ---- text input
  {
    router::SyntheticOptions synthetic_options;
    synthetic_options.rows = args.text_rows;
    const router::SyntheticData synthetic = router::GenerateSynthetic(synthetic_options);
    const std::vector<std::string>& corpus = synthetic.dataset.prompts;
    router::TextFeaturizer featurizer;
    Check(featurizer.Fit(corpus), "featurizer fit");
    const int dim = featurizer.dim();
    std::vector<float> vectors(static_cast<size_t>(corpus.size()) * dim);
    for (size_t r = 0; r < corpus.size(); ++r) {
      Check(featurizer.Embed(corpus[r], absl::MakeSpan(vectors.data() + r * dim, dim)), "embed");
    }
    const router::Dataset data =
        MakeDataset(std::move(vectors), dim, synthetic.topic_of_row, args.models, 4);
    const Routers routers = FitAndExport(data, data, catalog, args.hnsw, dir, "text_");
    {
      std::ofstream f(dir + "/text_corpus.txt");
      for (const std::string& p : corpus) f << p << '\n';
    }

    const int num_topics = static_cast<int>(synthetic.topics.size());
    std::vector<std::string> prompts(args.queries);
    size_t prompt_bytes = 0;
    for (int i = 0; i < args.queries; ++i) {
      prompts[i] = LongPrompt(i % num_topics, 5000 + i, 1500);
      prompt_bytes += prompts[i].size();
    }
    {
      std::ofstream f(dir + "/text_prompts.txt");
      for (const std::string& p : prompts) f << p << '\n';
    }
    std::vector<float> qv(static_cast<size_t>(args.queries) * dim);
    for (int i = 0; i < args.queries; ++i) {
      Check(featurizer.Embed(prompts[i], absl::MakeSpan(qv.data() + static_cast<size_t>(i) * dim, dim)),
            "embed");
    }
    WriteNpy(dir + "/text_queries.npy", "<f4", {args.queries, dim}, qv);

    // The featurizer alone.
    std::vector<float> vector(dim);
    std::vector<int32_t> unused;
    Timing embed = TimeRoutes(args.queries, args.seconds, [&](int i) {
      Check(featurizer.Embed(prompts[i], absl::MakeSpan(vector)), "embed");
      return 0;
    }, &unused);
    json_cases.push_back(Json("featurizer", "text", embed, 0, 0));
    const double mean_bytes = static_cast<double>(prompt_bytes) / args.queries;

    std::vector<router::Query> queries(args.queries);
    for (int i = 0; i < args.queries; ++i) {
      queries[i].vector = absl::MakeConstSpan(qv.data() + static_cast<size_t>(i) * dim, dim);
      queries[i].input_tokens = 400;
    }
    for (const Case& c : CasesOf(routers)) {
      router::Estimates estimates;
      std::vector<int32_t> decisions;
      // Text in: embed, then route the vector.
      Timing t = TimeRoutes(args.queries, args.seconds, [&](int i) {
        Check(featurizer.Embed(prompts[i], absl::MakeSpan(vector)), "embed");
        router::Query q{.vector = absl::MakeConstSpan(vector), .text = prompts[i], .input_tokens = 400};
        Check(c.router->Estimate(q, &estimates), c.name);
        return Decide(estimates, c.optimistic);
      }, &decisions);
      t.batch_routes_per_s = TimeBatch(*c.router, queries, c.optimistic);
      WriteNpy(dir + "/text_decisions_" + c.name + ".npy", "<i4", {args.queries}, decisions);
      json_cases.push_back(Json(c.name, "text", t, c.rows, c.fit_s));
      Log("text " + c.name + ": p50 " + std::to_string(t.p50_us) + " us");
    }

    std::printf("{\"dim\": %d, \"models\": %d, \"queries\": %d, \"text_dim\": %d, "
                "\"text_prompt_bytes\": %.1f, \"omp_max_threads\": %d, \"cases\": [\n",
                args.dim, args.models, args.queries, dim, mean_bytes, omp_get_max_threads());
  }
  for (size_t i = 0; i < json_cases.size(); ++i) {
    std::printf("  %s%s\n", json_cases[i].c_str(), i + 1 < json_cases.size() ? "," : "");
  }
  std::printf("]}\n");
  return 0;
}
