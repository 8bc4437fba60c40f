// route_bench: latency and throughput of the routing path.
//
//   Limit/exact/rows:N                            the floor of exact search: N x d
//                                                 similarities, one Eigen product
//   Estimate/{exact,hnsw}/rows:N/omp:{default,1}  KnnRouter::Estimate, one query
//   Estimate/hnsw{,_fp16,_sq8}/rows:N/omp:1       the same over float, fp16 or 8-bit rows
//                                                 (knn.hnsw_storage), with recall_at_10
//                                                 against exact search and
//                                                 state_bytes_per_row; N = 1000000 too
//                                                 when ROUTER_BENCH_1M=1
//   Route/exact/rows:10000                        Pipeline::Route (estimate + policy)
//   Decide/max_utility/models:9                   MaxUtilityPolicy::Decide alone
//   RouteText/bytes:B                             Pipeline::RouteText (embed + kNN + policy)
//   Embed/bytes:B                                 TextFeaturizer::Embed alone
//   EstimateBatch/{exact,hnsw}/rows:N/batch:256[/threads:T]
//                                                 KnnRouter::EstimateBatch, on OpenMP's
//                                                 default threads or T of them
//
// Reference data is random and seeded: d = 256 unit vectors with topic and
// low-rank structure (see RandomEmbeddings), M = 9 models, 0/1 scores and
// random costs; k = 40. Exact means IndexFlatIP (hnsw_threshold huge), HNSW
// means hnsw_threshold = 0 with the library's defaults (M = 32,
// efConstruction = 200, efSearch = 128). Each fixture is built once, on first
// use, and reused by every iteration and repetition; its build time is logged
// to stderr and reported as the counter build_s.
//
// Percentiles: each single-call benchmark times every call itself with
// steady_clock and reports p50_us and p99_us as counters (exact order
// statistics over the run's timed iterations). This is simpler than manual
// timing plus custom ComputeStatistics, which would give percentiles of
// per-repetition means rather than of calls. Every single-call benchmark
// also reports allocs_per_call, heap allocations per call after warm-up on
// the calling thread (bench_util.h), and the exact Estimate cases
// floor_ratio, their p50 over the p50 of Limit/exact with the same rows (run
// first; 0 if filtered out). The mean is Google Benchmark's
// real time per iteration; the CPU column is the calling thread's CPU time.
// Every benchmark also reports helper_cpu_us: CPU time per call burned by the
// process's other threads (OpenMP workers, OpenBLAS threads). Unlike wall
// time it does not grow when the machine is busy, so it shows whether a call
// fans out to more cores even on a shared machine.
//
// The omp:1 variants call omp_set_num_threads(1) for their duration, so the
// effect of FAISS's OpenMP threads is measured side by side in one run. That
// does not reach OpenBLAS (pthreads build), which only OMP_NUM_THREADS=1 in
// the environment limits; scripts/bench.sh does that second run too.
//
// Exits non-zero if any routing call fails or no benchmark matched, so the
// benchmark_smoke ctest catches a broken binary.
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "router/knn_router.h"
#include "router/pipeline.h"
#include "router/status.h"
#include "router/synthetic.h"
#include "router/max_utility_policy.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kDim = 256;
constexpr int kModels = 9;
constexpr int kNeighbours = 40;
constexpr int kQueryPool = 1024;  // distinct query vectors, cycled
constexpr int kBatch = 256;
constexpr int kWarmupCalls = 16;  // untimed calls before each loop
constexpr double kLambda = 1000.0;

std::atomic<bool> g_failed{false};

// Marks the run failed and tells Google Benchmark why.
void Fail(benchmark::State& state, const absl::Status& status) {
  g_failed = true;
  const std::string message(router::StdView(status.ToString()));
  state.SkipWithError(message.c_str());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// ---------------------------------------------------------------------------
// Random reference data.

// Random embeddings with the structure real ones have: each vector is one of
// kTopics random unit topic centres, plus a point of a kLatent-dimensional
// subspace shared by all topics, plus a little isotropic noise, normalised.
// Isotropic random vectors would be the wrong test: in 256 dimensions every
// similarity is ~0 +- 0.06, no point has near neighbours, and HNSW degenerates
// into near-exhaustive search (a 10k-row build was still running after 3.5
// minutes of CPU). The centres and the subspace are fixed; `seed` only draws
// the samples.
std::vector<float> RandomEmbeddings(int64_t n, uint64_t seed) {
  constexpr int kTopics = 64;
  constexpr int kLatent = 24;
  constexpr double kLatentScale = 0.6, kNoiseScale = 0.1;
  auto gaussian_rows = [](int rows, std::mt19937_64& rng) {
    std::normal_distribution<float> normal;
    std::vector<float> v(static_cast<size_t>(rows) * kDim);
    for (float& x : v) x = normal(rng);
    return v;
  };
  auto normalise = [](float* row) {
    double sq = 0.0;
    for (int j = 0; j < kDim; ++j) sq += double{row[j]} * row[j];
    const float inv = sq > 0.0 ? static_cast<float>(1.0 / std::sqrt(sq)) : 0.0f;
    for (int j = 0; j < kDim; ++j) row[j] *= inv;
  };
  static const std::vector<float> centres = [&] {
    std::mt19937_64 rng(2024);
    std::vector<float> c = gaussian_rows(kTopics, rng);
    for (int t = 0; t < kTopics; ++t) normalise(c.data() + t * kDim);
    return c;
  }();
  static const std::vector<float> basis = [&] {
    std::mt19937_64 rng(2025);
    std::vector<float> b = gaussian_rows(kLatent, rng);
    for (int l = 0; l < kLatent; ++l) normalise(b.data() + l * kDim);
    return b;
  }();

  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> topic(0, kTopics - 1);
  const float latent_scale = static_cast<float>(kLatentScale / std::sqrt(kLatent));
  const float noise_scale = static_cast<float>(kNoiseScale / std::sqrt(kDim));
  std::vector<float> v(static_cast<size_t>(n) * kDim);
  for (int64_t i = 0; i < n; ++i) {
    float* row = v.data() + i * kDim;
    const float* centre = centres.data() + topic(rng) * kDim;
    for (int j = 0; j < kDim; ++j) row[j] = centre[j] + noise_scale * normal(rng);
    for (int l = 0; l < kLatent; ++l) {
      const float z = latent_scale * normal(rng);
      const float* direction = basis.data() + l * kDim;
      for (int j = 0; j < kDim; ++j) row[j] += z * direction[j];
    }
    normalise(row);
  }
  return v;
}

router::Catalog RandomCatalog() {
  router::Catalog catalog;
  for (int m = 0; m < kModels; ++m) {
    router::Profile profile;
    profile.name = "model-" + std::to_string(m);
    profile.input_usd_per_mtok = 0.1 * (m + 1) * (m + 1);
    profile.output_usd_per_mtok = 4.0 * profile.input_usd_per_mtok;
    (void)catalog.Add(std::move(profile));  // names are unique, prices valid
  }
  return catalog;
}

// `rows` unit vectors with, per model, Bernoulli scores (model-specific
// accuracy) and costs spread around a model-specific price.
router::Dataset RandomDataset(int64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  router::Dataset data;
  for (int m = 0; m < kModels; ++m) data.model_names.push_back("model-" + std::to_string(m));
  data.dim = kDim;
  data.vectors = RandomEmbeddings(rows, seed + 1);
  data.ids.reserve(rows);
  for (int64_t r = 0; r < rows; ++r) data.ids.push_back("row-" + std::to_string(r));
  data.prompts.assign(rows, "");
  data.sources.assign(rows, "");
  data.splits.assign(rows, router::Split::kTrain);
  data.scores.resize(static_cast<size_t>(rows) * kModels);
  data.costs.resize(static_cast<size_t>(rows) * kModels);
  for (int64_t r = 0; r < rows; ++r) {
    for (int m = 0; m < kModels; ++m) {
      const double accuracy = 0.3 + 0.07 * m;
      const double price = 1e-5 * (m + 1) * (m + 1);
      data.scores[r * kModels + m] = unit(rng) < accuracy ? 1.0 : 0.0;
      data.costs[r * kModels + m] = price * (0.5 + unit(rng));
    }
  }
  return data;
}

// Query vectors not in the reference set, and Query views over them.
const std::vector<router::Query>& QueryPool() {
  static const std::vector<float> vectors = RandomEmbeddings(kQueryPool, 12345);
  static const std::vector<router::Query> queries = [] {
    std::vector<router::Query> q(kQueryPool);
    for (int i = 0; i < kQueryPool; ++i) {
      q[i].vector = absl::MakeConstSpan(vectors.data() + i * kDim, kDim);
      q[i].input_tokens = 200;
    }
    return q;
  }();
  return queries;
}

// ---------------------------------------------------------------------------
// Fixtures, built once on first use.

template <typename T>
struct Fixture {
  absl::Status status;
  std::unique_ptr<T> value;
  double build_seconds = 0.0;
};

std::mutex g_fixture_mutex;

void LogBuild(const std::string& what, double seconds, const absl::Status& status) {
  std::fprintf(stderr, "[route_bench] built %s in %.2f s%s%s\n", what.c_str(), seconds,
               status.ok() ? "" : ": ",
               status.ok() ? "" : std::string(router::StdView(status.ToString())).c_str());
}

// The kNN indexes benchmarked: exact, and HNSW over float, fp16 or 8-bit rows
// (knn.hnsw_storage).
enum class Index { kExact, kHnsw, kHnswHalf, kHnswBytes };

const char* IndexName(Index index) {
  switch (index) {
    case Index::kExact: return "exact";
    case Index::kHnsw: return "hnsw";
    case Index::kHnswHalf: return "hnsw_fp16";
    case Index::kHnswBytes: return "hnsw_sq8";
  }
  return "";
}

router::KnnOptions KnnOptionsFor(Index index) {
  using Storage = router::KnnOptions::HnswStorage;
  router::KnnOptions options;
  options.k = kNeighbours;
  options.hnsw_threshold = index == Index::kExact ? std::numeric_limits<int64_t>::max() : 0;
  options.hnsw_storage = index == Index::kHnswHalf    ? Storage::kHalf
                         : index == Index::kHnswBytes ? Storage::kBytes
                                                      : Storage::kFloat;
  return options;
}

const Fixture<router::KnnRouter>& KnnFixture(int64_t rows, Index index) {
  static std::map<std::pair<int64_t, Index>, Fixture<router::KnnRouter>> cache;
  std::lock_guard<std::mutex> lock(g_fixture_mutex);
  auto [it, inserted] = cache.try_emplace({rows, index});
  Fixture<router::KnnRouter>& f = it->second;
  if (!inserted) return f;
  const router::Dataset data = RandomDataset(rows, 1000 + rows);
  const auto start = Clock::now();
  f.value = std::make_unique<router::KnnRouter>(KnnOptionsFor(index));
  f.status = f.value->Fit(data, RandomCatalog());
  f.build_seconds = Seconds(Clock::now() - start);
  LogBuild(std::string(IndexName(index)) + " index, " + std::to_string(rows) + " rows",
           f.build_seconds, f.status);
  return f;
}

// The share of the exact search's 10 nearest rows that `router` finds among
// its own 10 nearest, over the first kRecallQueries queries of the pool.
constexpr int kRecallQueries = 200;
double RecallAt10(const router::KnnRouter& router, const router::KnnRouter& exact) {
  const auto& queries = QueryPool();
  router::Estimates found, truth;
  int hits = 0;
  for (int q = 0; q < kRecallQueries; ++q) {
    if (!router.Estimate(queries[q], &found).ok() || !exact.Estimate(queries[q], &truth).ok()) {
      return 0.0;
    }
    for (size_t i = 0; i < 10 && i < truth.evidence.size(); ++i) {
      for (size_t j = 0; j < 10 && j < found.evidence.size(); ++j) {
        hits += truth.evidence[i].id == found.evidence[j].id;
      }
    }
  }
  return hits / (10.0 * kRecallQueries);
}

// A vector-only pipeline (embedder "none") over the same data as KnnFixture,
// with config "cost" `cost` (per-prompt costs, or the router's).
const Fixture<router::Pipeline>& VectorPipelineFixture(int64_t rows,
                                                       const std::string& cost = "per_prompt") {
  static std::map<std::pair<int64_t, std::string>, Fixture<router::Pipeline>> cache;
  std::lock_guard<std::mutex> lock(g_fixture_mutex);
  auto [it, inserted] = cache.try_emplace({rows, cost});
  Fixture<router::Pipeline>& f = it->second;
  if (!inserted) return f;
  const router::Dataset data = RandomDataset(rows, 1000 + rows);
  router::PipelineConfig config;
  config.embedder = "none";
  config.RouterOptions<router::KnnOptions>() = KnnOptionsFor(Index::kExact);
  config.policy.Set(router::MaxUtilityOptions{.lambda = kLambda});
  config.models = RandomCatalog().profiles();
  config.cost = cost;
  const auto start = Clock::now();
  auto pipeline = router::Pipeline::Fit(data, config);
  f.build_seconds = Seconds(Clock::now() - start);
  f.status = pipeline.status();
  if (pipeline.ok()) f.value = std::move(pipeline).value();
  LogBuild("vector pipeline, " + std::to_string(rows) + " rows, cost " + cost, f.build_seconds,
           f.status);
  return f;
}

// The built-in featurizer + exact kNN, fitted on 10k synthetic prompts.
const Fixture<router::Pipeline>& TextPipelineFixture() {
  static Fixture<router::Pipeline> f;
  static bool built = false;
  std::lock_guard<std::mutex> lock(g_fixture_mutex);
  if (built) return f;
  built = true;
  const router::SyntheticData synthetic = router::GenerateSynthetic({.rows = 10000});
  router::PipelineConfig config;
  config.policy.Set(router::MaxUtilityOptions{.lambda = kLambda});
  config.models = synthetic.catalog.profiles();
  const auto start = Clock::now();
  auto pipeline = router::Pipeline::Fit(synthetic.dataset, config);
  f.build_seconds = Seconds(Clock::now() - start);
  f.status = pipeline.status();
  if (pipeline.ok()) f.value = std::move(pipeline).value();
  LogBuild("text pipeline (featurizer fit + embed + index), 10000 prompts", f.build_seconds,
           f.status);
  return f;
}

// Realistic prompts: a one-line question and a paragraph-long request.
constexpr std::string_view kShortPrompt =
    "How do I reverse a singly linked list in place in C++? Please explain the time and "
    "space complexity.";
constexpr std::string_view kLongPrompt =
    "I am migrating a small Flask service to FastAPI and keep running into problems with "
    "database sessions. The service exposes about twenty endpoints that read and write "
    "orders, customers and invoices in PostgreSQL through SQLAlchemy 2.0. In Flask we used a "
    "scoped_session tied to the request context, and a teardown handler closed it. In "
    "FastAPI I wrote a dependency that yields a session, but under load some requests fail "
    "with \"QueuePool limit of size 5 overflow 10 reached, connection timed out\", and a "
    "background task that emails invoices sometimes sees stale data. Could you explain how "
    "session lifetimes should work with async endpoints, whether I should switch to the "
    "async engine, and how to give background tasks their own session safely? Please "
    "include a short example of the dependency, an engine configuration with sensible pool "
    "settings, and a pytest fixture that overrides the dependency with a transaction rolled "
    "back after each test. Focus on production use.";

// ---------------------------------------------------------------------------
// Measurement helpers.

// Sets omp_set_num_threads(n) for its lifetime (n <= 0: leave the default).
class OmpThreads {
 public:
  explicit OmpThreads(int n) : saved_(omp_get_max_threads()) {
    if (n > 0) omp_set_num_threads(n);
  }
  ~OmpThreads() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// Runs the benchmark loop over `call`, timing every call and counting its
// heap allocations after the warm-up, and reports p50_us, p99_us,
// allocs_per_call (bench_util.h) and helper_cpu_us; returns the p50 in µs.
// Stops at the first failed call.
double TimedLoop(benchmark::State& state, const std::function<absl::Status(int64_t)>& call) {
  for (int i = 0; i < kWarmupCalls; ++i) {
    if (absl::Status s = call(i); !s.ok()) return (Fail(state, s), 0.0);
  }
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(state.max_iterations));
  int64_t i = 0, allocations = 0;
  const double process_start = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  const double thread_start = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  for (auto _ : state) {
    const int64_t before = bench::Allocations();
    const auto start = Clock::now();
    const absl::Status status = call(i++);
    const auto stop = Clock::now();
    allocations += bench::Allocations() - before;
    micros.push_back(1e6 * Seconds(stop - start));
    if (!status.ok()) return (Fail(state, status), 0.0);
  }
  const double helper_cpu = (CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - process_start) -
                            (CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - thread_start);
  if (micros.empty()) return 0.0;
  state.counters["helper_cpu_us"] = 1e6 * std::max(helper_cpu, 0.0) / micros.size();
  return bench::ReportLatency(state, micros, allocations, i);
}

// ---------------------------------------------------------------------------
// Benchmarks.

// p50 of Limit/exact by reference rows, for the exact Estimate cases.
std::mutex g_limit_mutex;
std::map<int64_t, double> g_limit_p50_us;

// The floor of exact search: the rows x d similarities of one query, one
// plain Eigen matrix-vector product (no top-k selection, no aggregation).
void BM_Limit(benchmark::State& state, int64_t rows) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const std::vector<float> references = RandomEmbeddings(rows, 7);
  const auto& queries = QueryPool();
  Eigen::Map<const RowMatrix> r(references.data(), rows, kDim);
  Eigen::VectorXf out(rows);
  const double p50 = TimedLoop(state, [&](int64_t i) {
    out.noalias() = r * Eigen::Map<const Eigen::VectorXf>(queries[i % kQueryPool].vector.data(),
                                                          kDim);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    return absl::OkStatus();
  });
  std::lock_guard<std::mutex> lock(g_limit_mutex);
  g_limit_p50_us[rows] = p50;
}

void BM_Estimate(benchmark::State& state, int64_t rows, Index index, int omp_threads) {
  const auto& f = KnnFixture(rows, index);
  if (!f.status.ok()) return Fail(state, f.status);
  const auto& queries = QueryPool();
  OmpThreads threads(omp_threads);
  router::Estimates estimates;
  const double p50 = TimedLoop(state, [&](int64_t i) {
    return f.value->Estimate(queries[i % kQueryPool], &estimates);
  });
  state.counters["build_s"] = f.build_seconds;
  if (index != Index::kExact) {
    const auto& exact = KnnFixture(rows, Index::kExact);
    if (!exact.status.ok()) return Fail(state, exact.status);
    state.counters["recall_at_10"] = RecallAt10(*f.value, *exact.value);
    // The saved state's size per row, close to what the router holds in
    // memory: the index (rows and graph) plus 72 bytes of score and cost
    // tables (9 models).
    std::string saved;
    if (absl::Status s = f.value->SaveState(&saved); !s.ok()) return Fail(state, s);
    state.counters["state_bytes_per_row"] =
        static_cast<double>(saved.size()) / static_cast<double>(rows);
  } else {
    std::lock_guard<std::mutex> lock(g_limit_mutex);
    auto limit = g_limit_p50_us.find(rows);
    state.counters["floor_ratio"] =
        limit != g_limit_p50_us.end() && limit->second > 0 ? p50 / limit->second : 0.0;
  }
}

void BM_Route(benchmark::State& state, int64_t rows, const std::string& cost) {
  const auto& f = VectorPipelineFixture(rows, cost);
  if (!f.status.ok()) return Fail(state, f.status);
  const auto& queries = QueryPool();
  router::Decision decision;
  TimedLoop(state, [&](int64_t i) { return f.value->Route(queries[i % kQueryPool], &decision); });
  state.counters["build_s"] = f.build_seconds;
}

// The policy alone, on the estimates of one query: Route minus Estimate.
void BM_Decide(benchmark::State& state) {
  const auto& f = VectorPipelineFixture(10000);
  if (!f.status.ok()) return Fail(state, f.status);
  const router::Pipeline& pipeline = *f.value;
  const auto& queries = QueryPool();
  std::vector<router::Estimates> estimates(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    if (absl::Status s = pipeline.Estimate(queries[i], &estimates[i]); !s.ok()) {
      return Fail(state, s);
    }
  }
  router::Decision decision;
  TimedLoop(state, [&](int64_t i) {
    return pipeline.policy().Decide(estimates[i % kBatch], pipeline.catalog(),
                                    queries[i % kBatch], &decision);
  });
}

void BM_RouteText(benchmark::State& state, std::string_view text) {
  const auto& f = TextPipelineFixture();
  if (!f.status.ok()) return Fail(state, f.status);
  router::Decision decision;
  TimedLoop(state, [&](int64_t) { return f.value->RouteText(text, &decision); });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  state.counters["build_s"] = f.build_seconds;
  state.counters["dim"] = f.value->dim();
}

void BM_Embed(benchmark::State& state, std::string_view text) {
  const auto& f = TextPipelineFixture();
  if (!f.status.ok()) return Fail(state, f.status);
  std::vector<float> vector(f.value->dim());
  TimedLoop(state, [&](int64_t) {
    return f.value->embedder()->Embed(text, absl::MakeSpan(vector));
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}

void BM_EstimateBatch(benchmark::State& state, int64_t rows, Index index, int omp_threads) {
  const auto& f = KnnFixture(rows, index);
  if (!f.status.ok()) return Fail(state, f.status);
  // The router's batch_threads is 0: a batch takes OpenMP's setting.
  OmpThreads threads(omp_threads);
  const auto& pool = QueryPool();
  std::vector<router::Estimates> out(kBatch);
  int64_t batch = 0;
  TimedLoop(state, [&](int64_t) {
    const size_t first = static_cast<size_t>(batch++ % (kQueryPool / kBatch)) * kBatch;
    return f.value->EstimateBatch(absl::MakeConstSpan(pool.data() + first, kBatch),
                                  absl::MakeSpan(out));
  });
  state.SetItemsProcessed(state.iterations() * kBatch);
  // Seconds per query (shown in the console as e.g. "25u").
  state.counters["per_query"] = benchmark::Counter(
      kBatch, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["build_s"] = f.build_seconds;
}

benchmark::internal::Benchmark* Configure(benchmark::internal::Benchmark* b) {
  return b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void RegisterAll() {
  for (int64_t rows : {10000, 100000}) {
    Configure(benchmark::RegisterBenchmark(("Limit/exact/rows:" + std::to_string(rows)).c_str(),
                                           BM_Limit, rows));
  }
  for (const Index index : {Index::kExact, Index::kHnsw}) {
    for (int64_t rows : {10000, 100000}) {
      for (int omp : {0, 1}) {
        const std::string name = std::string("Estimate/") + IndexName(index) + "/rows:" +
                                 std::to_string(rows) + "/omp:" + (omp ? "1" : "default");
        Configure(benchmark::RegisterBenchmark(name.c_str(), BM_Estimate, rows, index, omp));
      }
    }
  }
  // Compressed rows beside float rows, on one thread. A million rows take
  // minutes per index to build (and gigabytes), so only on request.
  std::vector<int64_t> compressed_rows = {100000};
  if (const char* large = std::getenv("ROUTER_BENCH_1M"); large != nullptr && *large == '1') {
    compressed_rows.push_back(1000000);
  }
  for (int64_t rows : compressed_rows) {
    for (const Index index : {Index::kHnsw, Index::kHnswHalf, Index::kHnswBytes}) {
      if (index == Index::kHnsw && rows == 100000) continue;  // registered above
      const std::string name = std::string("Estimate/") + IndexName(index) + "/rows:" +
                               std::to_string(rows) + "/omp:1";
      Configure(benchmark::RegisterBenchmark(name.c_str(), BM_Estimate, rows, index, 1));
    }
  }
  // Per-prompt costs (the default) beside the router's, to show what they add.
  Configure(benchmark::RegisterBenchmark("Route/exact/rows:10000", BM_Route, 10000,
                                         std::string("per_prompt")));
  Configure(benchmark::RegisterBenchmark("Route/exact/rows:10000/cost:router", BM_Route, 10000,
                                         std::string("router")));
  Configure(benchmark::RegisterBenchmark("Decide/max_utility/models:9", BM_Decide));
  for (std::string_view text : {kShortPrompt, kLongPrompt}) {
    const std::string bytes = std::to_string(text.size());
    Configure(benchmark::RegisterBenchmark(("RouteText/bytes:" + bytes).c_str(), BM_RouteText,
                                           text));
    Configure(benchmark::RegisterBenchmark(("Embed/bytes:" + bytes).c_str(), BM_Embed, text));
  }
  for (const auto& [index, rows] : {std::pair<Index, int64_t>{Index::kExact, 10000},
                                    {Index::kExact, 100000},
                                    {Index::kHnsw, 100000}}) {
    for (int threads : {0, 1, 2}) {
      const std::string name = std::string("EstimateBatch/") + IndexName(index) + "/rows:" +
                               std::to_string(rows) + "/batch:" + std::to_string(kBatch) +
                               (threads == 0 ? "" : "/threads:" + std::to_string(threads));
      Configure(
          benchmark::RegisterBenchmark(name.c_str(), BM_EstimateBatch, rows, index, threads));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (ran == 0) {
    std::fprintf(stderr, "route_bench: no benchmark matched the filter\n");
    return 1;
  }
  return g_failed ? 1 : 0;
}
