// cluster_bench: latency of the ClusterRouter and its floor.
//
//   Estimate/d:D/models:M/K:64        ClusterRouter::Estimate, one query
//   Estimate/d:256/models:9/sources:S the same with the source classifier
//                                     (cluster.assignment "auto"): K = S
//                                     training sources, every route weighs
//                                     all S clusters
//   Limit/d:D/K:64                    the bare K x d matrix-vector product
//                                     (Eigen, row-major centroids), the floor
//                                     of Estimate: it is the only O(K d) work
//   EstimateBatch/d:D/models:16/K:64/batch:256
//                                     ClusterRouter::EstimateBatch
//   Fit/rows:N/d:D/K:{auto,64}        ClusterRouter::Fit (k-means, statistics)
//
// D is 256 or 1024, M is 9, 16 or 64; the router uses its default
// nearest_clusters, temperature and prior strength. Data are random and
// seeded: unit vectors around 48 random topic centres with noise (so k-means
// finds real clusters), Bernoulli scores with model-specific accuracy and
// costs around a model-specific price. Routing fixtures are fitted on 5000
// rows (20 per source with S sources, if more), once, on first use; with
// sources, row r names source r mod S.
//
// Single-call benchmarks time every call with steady_clock and report p50_us
// and p99_us besides Google Benchmark's mean, and allocs_per_call, the heap
// allocations per call after warm-up (bench_util.h; 0 expected). The
// Estimate cases without sources also report floor_ratio, their p50 over the
// p50 of the Limit case of the same d (run first; 0 if it was filtered out).
// Medians, because on a shared machine the means carry preemptions. Fit
// benchmarks run one Fit per iteration.
//
// Exits non-zero if any call fails or no benchmark matched.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "router/cluster_router.h"
#include "router/status.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClusters = 64;
constexpr int kTopics = 48;
constexpr int64_t kFixtureRows = 5000;
constexpr int kQueryPool = 1024;
constexpr int kBatch = 256;
constexpr int kWarmupCalls = 16;

std::atomic<bool> g_failed{false};
std::mutex g_mutex;
std::map<int, double> g_limit_p50_us;  // by d, from the Limit benchmarks

void Fail(benchmark::State& state, const absl::Status& status) {
  g_failed = true;
  const std::string message(router::StdView(status.ToString()));
  state.SkipWithError(message.c_str());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// `n` unit vectors of dimension `dim` around kTopics fixed random centres.
std::vector<float> RandomEmbeddings(int64_t n, int dim, uint64_t seed) {
  std::mt19937_64 centre_rng(2024 + dim);
  std::normal_distribution<float> normal;
  std::vector<float> centres(static_cast<size_t>(kTopics) * dim);
  for (float& x : centres) x = normal(centre_rng) / std::sqrt(static_cast<float>(dim));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> topic(0, kTopics - 1);
  const float noise = 0.7f / std::sqrt(static_cast<float>(dim));
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (int64_t i = 0; i < n; ++i) {
    float* row = v.data() + i * dim;
    const float* centre = centres.data() + static_cast<size_t>(topic(rng)) * dim;
    double sq = 0.0;
    for (int j = 0; j < dim; ++j) {
      row[j] = centre[j] + noise * normal(rng);
      sq += double{row[j]} * row[j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(sq));
    for (int j = 0; j < dim; ++j) row[j] *= inv;
  }
  return v;
}

router::Catalog RandomCatalog(int models) {
  router::Catalog catalog;
  for (int m = 0; m < models; ++m) {
    router::Profile profile;
    profile.name = "model-" + std::to_string(m);
    profile.input_usd_per_mtok = 0.1 * (m % 9 + 1);
    profile.output_usd_per_mtok = 4.0 * profile.input_usd_per_mtok;
    (void)catalog.Add(std::move(profile));
  }
  return catalog;
}

router::Dataset RandomDataset(int64_t rows, int dim, int models, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  router::Dataset data;
  for (int m = 0; m < models; ++m) data.model_names.push_back("model-" + std::to_string(m));
  data.dim = dim;
  data.vectors = RandomEmbeddings(rows, dim, seed + 1);
  for (int64_t r = 0; r < rows; ++r) data.ids.push_back("row-" + std::to_string(r));
  data.prompts.assign(rows, "");
  data.sources.assign(rows, "");
  data.splits.assign(rows, router::Split::kTrain);
  data.scores.resize(static_cast<size_t>(rows) * models);
  data.costs.resize(static_cast<size_t>(rows) * models);
  for (int64_t r = 0; r < rows; ++r) {
    for (int m = 0; m < models; ++m) {
      const double accuracy = 0.2 + 0.7 * (m % 9) / 8.0;
      const double price = 1e-5 * (m % 9 + 1);
      data.scores[r * models + m] = unit(rng) < accuracy ? 1.0 : 0.0;
      data.costs[r * models + m] = price * (0.5 + unit(rng));
    }
  }
  return data;
}

struct Pool {
  std::vector<float> vectors;
  std::vector<router::Query> queries;
};

const Pool& QueryPool(int dim) {
  static std::map<int, Pool> pools;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto [it, inserted] = pools.try_emplace(dim);
  Pool& pool = it->second;
  if (inserted) {
    pool.vectors = RandomEmbeddings(kQueryPool, dim, 12345);
    pool.queries.resize(kQueryPool);
    for (int i = 0; i < kQueryPool; ++i) {
      pool.queries[i].vector = absl::MakeConstSpan(pool.vectors.data() + i * dim, dim);
      pool.queries[i].input_tokens = 200;
    }
  }
  return pool;
}

struct Fixture {
  absl::Status status;
  std::unique_ptr<router::ClusterRouter> router;
  double build_seconds = 0.0;
};

// K = 64 k-means clusters, or with `sources` > 0 the source classifier over
// that many sources.
const Fixture& RouterFixture(int dim, int models, int sources = 0) {
  static std::map<std::tuple<int, int, int>, Fixture> cache;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto [it, inserted] = cache.try_emplace({dim, models, sources});
  Fixture& f = it->second;
  if (!inserted) return f;
  const int64_t rows = std::max<int64_t>(kFixtureRows, 20 * int64_t{sources});
  router::Dataset data = RandomDataset(rows, dim, models, 77 + dim + models);
  for (int64_t r = 0; sources > 0 && r < rows; ++r) {
    data.sources[r] = "s" + std::to_string(r % sources);
  }
  f.router = std::make_unique<router::ClusterRouter>(
      router::ClusterOptions{.num_clusters = sources > 0 ? 0 : kClusters});
  const auto start = Clock::now();
  f.status = f.router->Fit(data, RandomCatalog(models));
  f.build_seconds = Seconds(Clock::now() - start);
  std::fprintf(stderr, "[cluster_bench] fitted d=%d M=%d K=%d%s on %lld rows in %.2f s\n", dim,
               models, f.router->num_clusters(),
               f.router->by_source_classifier() ? " (sources)" : "",
               static_cast<long long>(rows), f.build_seconds);
  return f;
}

// Runs the loop over `call`, timing every call and counting its heap
// allocations after the warm-up; reports p50_us, p99_us and allocs_per_call
// (bench_util.h) and returns the p50 in microseconds.
double TimedLoop(benchmark::State& state, const std::function<absl::Status(int64_t)>& call) {
  for (int i = 0; i < kWarmupCalls; ++i) {
    if (absl::Status s = call(i); !s.ok()) return (Fail(state, s), 0.0);
  }
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(state.max_iterations));
  int64_t i = 0, allocations = 0;
  for (auto _ : state) {
    const int64_t before = bench::Allocations();
    const auto start = Clock::now();
    const absl::Status status = call(i++);
    const auto stop = Clock::now();
    allocations += bench::Allocations() - before;
    micros.push_back(1e6 * Seconds(stop - start));
    if (!status.ok()) return (Fail(state, status), 0.0);
  }
  return bench::ReportLatency(state, micros, allocations, i);
}

void BM_Limit(benchmark::State& state, int dim) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const std::vector<float> centroids = RandomEmbeddings(kClusters, dim, 99);
  const Pool& pool = QueryPool(dim);
  Eigen::Map<const RowMatrix> c(centroids.data(), kClusters, dim);
  Eigen::VectorXf out(kClusters);
  const double p50 = TimedLoop(state, [&](int64_t i) {
    Eigen::Map<const Eigen::VectorXf> q(pool.queries[i % kQueryPool].vector.data(), dim);
    out.noalias() = c * q;
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    return absl::OkStatus();
  });
  std::lock_guard<std::mutex> lock(g_mutex);
  g_limit_p50_us[dim] = p50;
}

void BM_Estimate(benchmark::State& state, int dim, int models, int sources) {
  const Fixture& f = RouterFixture(dim, models, sources);
  if (!f.status.ok()) return Fail(state, f.status);
  const Pool& pool = QueryPool(dim);
  router::Estimates estimates;
  const double p50 = TimedLoop(state, [&](int64_t i) {
    return f.router->Estimate(pool.queries[i % kQueryPool], &estimates);
  });
  state.counters["build_s"] = f.build_seconds;
  if (sources > 0) return;  // K is not the Limit case's 64
  std::lock_guard<std::mutex> lock(g_mutex);
  auto limit = g_limit_p50_us.find(dim);
  state.counters["floor_ratio"] =
      limit != g_limit_p50_us.end() && limit->second > 0 ? p50 / limit->second : 0.0;
}

void BM_EstimateBatch(benchmark::State& state, int dim, int models) {
  const Fixture& f = RouterFixture(dim, models);
  if (!f.status.ok()) return Fail(state, f.status);
  const Pool& pool = QueryPool(dim);
  std::vector<router::Estimates> out(kBatch);
  int64_t batch = 0;
  TimedLoop(state, [&](int64_t) {
    const size_t first = static_cast<size_t>(batch++ % (kQueryPool / kBatch)) * kBatch;
    return f.router->EstimateBatch(absl::MakeConstSpan(pool.queries.data() + first, kBatch),
                                   absl::MakeSpan(out));
  });
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["per_query"] = benchmark::Counter(
      kBatch, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_Fit(benchmark::State& state, int64_t rows, int dim, int clusters) {
  const router::Dataset data = RandomDataset(rows, dim, 9, 5 + rows + dim);
  const router::Catalog catalog = RandomCatalog(9);
  int k = 0;
  for (auto _ : state) {
    router::ClusterRouter router(router::ClusterOptions{.num_clusters = clusters});
    if (absl::Status s = router.Fit(data, catalog); !s.ok()) return Fail(state, s);
    k = router.num_clusters();
  }
  state.counters["K"] = k;
}

void RegisterAll() {
  for (int dim : {256, 1024}) {
    benchmark::RegisterBenchmark(("Limit/d:" + std::to_string(dim) + "/K:64").c_str(), BM_Limit,
                                 dim)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    for (int models : {9, 16, 64}) {
      const std::string name = "Estimate/d:" + std::to_string(dim) + "/models:" +
                               std::to_string(models) + "/K:64";
      benchmark::RegisterBenchmark(name.c_str(), BM_Estimate, dim, models, 0)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (int sources : {16, 256}) {
    const std::string name = "Estimate/d:256/models:9/sources:" + std::to_string(sources);
    benchmark::RegisterBenchmark(name.c_str(), BM_Estimate, 256, 9, sources)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (int dim : {256, 1024}) {
    const std::string name = "EstimateBatch/d:" + std::to_string(dim) +
                             "/models:16/K:64/batch:" + std::to_string(kBatch);
    benchmark::RegisterBenchmark(name.c_str(), BM_EstimateBatch, dim, 16)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (int dim : {256, 1024}) {
    for (int clusters : {0, 64}) {
      const std::string name = "Fit/rows:5608/d:" + std::to_string(dim) + "/K:" +
                               (clusters == 0 ? std::string("auto") : std::to_string(clusters));
      benchmark::RegisterBenchmark(name.c_str(), BM_Fit, int64_t{5608}, dim, clusters)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(3);
    }
  }
  benchmark::RegisterBenchmark("Fit/rows:50000/d:256/K:auto", BM_Fit, int64_t{50000}, 256, 0)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
}

}  // namespace

int main(int argc, char** argv) {
  RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (ran == 0) {
    std::fprintf(stderr, "cluster_bench: no benchmark matched the filter\n");
    return 1;
  }
  return g_failed ? 1 : 0;
}
