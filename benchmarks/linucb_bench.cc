// linucb_bench: latency of the LinUCB router's route and update paths.
//
//   Estimate/d:D                 LinUcbRouter::Estimate, one query (snapshot,
//                                normalise, project, M quadratic forms)
//   Observe/d:D                  LinUcbRouter::Observe, one feedback (validate,
//                                project, Sherman-Morrison on a copy of the arm,
//                                publish)
//   Limit/d:D                    the bare Eigen arithmetic of a route: the
//                                c x d projection (float) and, per model,
//                                theta.x and x^T A^-1 x (double); no validation,
//                                no snapshot, no output
//   EstimateWhileObserving/d:D   Estimate on this thread while another thread
//                                sends feedback without pause; reports the
//                                routes/s of this thread (items_per_second) and
//                                the updates/s of the other (updates_per_s)
//
// Set-up: M = 16 models, context_dim = 64 (c = 65 with the bias), input
// dimension d = 256 and 1024; the router is fitted (PCA + warm start) on 2000
// random rows with a low-rank structure, like embeddings. Each single-call
// benchmark times every call and reports p50_us and p99_us; Estimate and
// Observe also report allocs_per_call (heap allocations per call after
// warm-up, bench_util.h), and Estimate floor_ratio, its p50 over the p50 of
// the Limit case of the same d (run first; 0 if filtered out). Targets
// (issue 11): route < 10 us p50 and within 3x of Limit; update < 20 us.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "router/linucb_router.h"
#include "router/status.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kModels = 16;
constexpr int kContext = 64;
constexpr int kRows = 2000;
constexpr int kQueryPool = 512;

std::atomic<bool> g_failed{false};

void Fail(benchmark::State& state, const absl::Status& status) {
  g_failed = true;
  const std::string message(router::StdView(status.ToString()));
  state.SkipWithError(message.c_str());
}

// Unit vectors: one of 32 random centres, plus a 24-d latent part, plus noise.
std::vector<float> Embeddings(int64_t n, int dim, uint64_t seed) {
  std::mt19937_64 structure(77 + dim);
  std::normal_distribution<float> normal;
  std::vector<float> centres(32 * dim), basis(24 * dim);
  for (float& x : centres) x = normal(structure);
  for (float& x : basis) x = normal(structure) / std::sqrt(static_cast<float>(dim));
  std::mt19937_64 rng(seed);
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (int64_t i = 0; i < n; ++i) {
    float* row = v.data() + i * dim;
    const float* centre = centres.data() + (rng() % 32) * dim;
    for (int j = 0; j < dim; ++j) row[j] = centre[j] / std::sqrt(static_cast<float>(dim)) +
                                           0.1f * normal(rng) / std::sqrt(static_cast<float>(dim));
    for (int l = 0; l < 24; ++l) {
      const float z = 0.15f * normal(rng);
      for (int j = 0; j < dim; ++j) row[j] += z * basis[l * dim + j];
    }
    double sq = 0;
    for (int j = 0; j < dim; ++j) sq += double{row[j]} * row[j];
    for (int j = 0; j < dim; ++j) row[j] = static_cast<float>(row[j] / std::sqrt(sq));
  }
  return v;
}

// The name of model i % kModels.
const std::string& ModelName(int64_t i) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (int m = 0; m < kModels; ++m) n.push_back("model-" + std::to_string(m));
    return n;
  }();
  return names[i % kModels];
}

struct Fixture {
  absl::Status status;
  std::unique_ptr<router::LinUcbRouter> router;
  std::vector<float> queries;  // kQueryPool x dim
  int dim = 0;
};

const Fixture& GetFixture(int dim) {
  static std::mutex mutex;
  static std::map<int, Fixture> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = cache.try_emplace(dim);
  Fixture& f = it->second;
  if (!inserted) return f;
  f.dim = dim;
  router::Dataset data;
  router::Catalog catalog;
  for (int m = 0; m < kModels; ++m) {
    router::Profile p;
    p.name = ModelName(m);
    p.input_usd_per_mtok = 0.1 * (m + 1);
    p.output_usd_per_mtok = 0.4 * (m + 1);
    (void)catalog.Add(p);
    data.model_names.push_back(p.name);
  }
  data.dim = dim;
  data.vectors = Embeddings(kRows, dim, 1);
  std::mt19937_64 rng(2);
  for (int r = 0; r < kRows; ++r) {
    data.ids.push_back(std::to_string(r));
    data.prompts.push_back("");
    data.sources.push_back("");
    data.splits.push_back(router::Split::kTrain);
    for (int m = 0; m < kModels; ++m) {
      data.scores.push_back((rng() % 100) < static_cast<uint64_t>(30 + 3 * m) ? 1.0 : 0.0);
      data.costs.push_back(1e-5 * (m + 1));
    }
  }
  f.router = std::make_unique<router::LinUcbRouter>(
      router::LinUcbOptions{.context_dim = kContext, .alpha = 0.3});
  const auto start = Clock::now();
  f.status = f.router->Fit(data, catalog);
  std::fprintf(stderr, "[linucb_bench] fitted d=%d (PCA + warm start, %d rows) in %.2f s\n", dim,
               kRows, std::chrono::duration<double>(Clock::now() - start).count());
  f.queries = Embeddings(kQueryPool, dim, 3);
  return f;
}

absl::Span<const float> QueryVector(const Fixture& f, int64_t i) {
  return absl::MakeConstSpan(f.queries.data() + (i % kQueryPool) * f.dim, f.dim);
}

// p50 of the Limit case by d, for the Estimate cases' floor_ratio.
std::mutex g_limit_mutex;
std::map<int, double> g_limit_p50_us;

void BM_Estimate(benchmark::State& state) {
  const int dim = static_cast<int>(state.range(0));
  const Fixture& f = GetFixture(dim);
  if (!f.status.ok()) return Fail(state, f.status);
  router::Estimates estimates;
  auto route = [&](int64_t i) {
    return f.router->Estimate(
        router::Query{.vector = QueryVector(f, i), .text = {}, .input_tokens = 200}, &estimates);
  };
  for (int i = 0; i < 16; ++i) {
    if (absl::Status s = route(i); !s.ok()) return Fail(state, s);
  }
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(state.max_iterations));
  int64_t i = 0, allocations = 0;
  for (auto _ : state) {
    const int64_t before = bench::Allocations();
    const auto start = Clock::now();
    const absl::Status s = route(i++);
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    allocations += bench::Allocations() - before;
    if (!s.ok()) return Fail(state, s);
    benchmark::DoNotOptimize(estimates.per_model.data());
  }
  const double p50 = bench::ReportLatency(state, micros, allocations, i);
  std::lock_guard<std::mutex> lock(g_limit_mutex);
  auto limit = g_limit_p50_us.find(dim);
  state.counters["floor_ratio"] =
      limit != g_limit_p50_us.end() && limit->second > 0 ? p50 / limit->second : 0.0;
}

void BM_Observe(benchmark::State& state) {
  const Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  if (!f.status.ok()) return Fail(state, f.status);
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(state.max_iterations));
  int64_t i = 0, allocations = 0;
  for (auto _ : state) {
    const router::Feedback feedback{.vector = QueryVector(f, i),
                                    .model = ModelName(i),
                                    .score = static_cast<double>(i % 2),
                                    .cost_usd = 1e-4};
    ++i;
    const int64_t before = bench::Allocations();
    const auto start = Clock::now();
    const absl::Status s = f.router->Observe(feedback);
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    allocations += bench::Allocations() - before;
    if (!s.ok()) return Fail(state, s);
  }
  // An update copies the arm it changes (immutable snapshots), so it does
  // allocate; allocs_per_call shows how much.
  bench::ReportLatency(state, micros, allocations, i);
}

// The arithmetic floor of a route, with the same shapes and types.
void BM_Limit(benchmark::State& state) {
  const int dim = static_cast<int>(state.range(0));
  const int c = kContext + 1;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> projection(kContext, dim);
  for (int i = 0; i < projection.size(); ++i) projection.data()[i] = static_cast<float>(normal(rng));
  std::vector<Eigen::MatrixXd> inverses(kModels);
  std::vector<Eigen::VectorXd> thetas(kModels);
  for (int m = 0; m < kModels; ++m) {
    Eigen::MatrixXd g = Eigen::MatrixXd::NullaryExpr(c, c, [&] { return normal(rng); });
    inverses[m] = g * g.transpose() / c + Eigen::MatrixXd::Identity(c, c);
    thetas[m] = Eigen::VectorXd::NullaryExpr(c, [&] { return normal(rng); });
  }
  const std::vector<float> queries = Embeddings(kQueryPool, dim, 3);
  Eigen::VectorXf projected(kContext);
  Eigen::VectorXd z(c), product(c);
  std::vector<double> out(2 * kModels);
  std::vector<double> micros;
  int64_t i = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    Eigen::Map<const Eigen::VectorXf> x(queries.data() + (i++ % kQueryPool) * dim, dim);
    projected.noalias() = projection * x;
    z.head(kContext) = projected.cast<double>();
    z[kContext] = 1.0;
    for (int m = 0; m < kModels; ++m) {
      product.noalias() = inverses[m] * z;
      out[2 * m] = thetas[m].dot(z);
      out[2 * m + 1] = z.dot(product);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  const double p50 = bench::ReportLatency(state, micros);
  std::lock_guard<std::mutex> lock(g_limit_mutex);
  g_limit_p50_us[dim] = p50;
}

void BM_EstimateWhileObserving(benchmark::State& state) {
  const Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  if (!f.status.ok()) return Fail(state, f.status);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> updates{0};
  std::atomic<bool> update_failed{false};
  std::thread updater([&] {
    int64_t i = 7;
    while (!stop.load(std::memory_order_relaxed)) {
      const absl::Status s = f.router->Observe(
          {.vector = QueryVector(f, i), .model = ModelName(i),
           .score = static_cast<double>(i % 3 == 0), .cost_usd = 1e-4});
      if (!s.ok()) update_failed = true;
      ++i;
      updates.fetch_add(1, std::memory_order_relaxed);
    }
  });
  router::Estimates estimates;
  std::vector<double> micros;
  int64_t i = 0;
  const int64_t updates_before = updates.load();
  const auto begin = Clock::now();
  absl::Status failure;
  for (auto _ : state) {
    const auto start = Clock::now();
    const absl::Status s =
        f.router->Estimate(router::Query{.vector = QueryVector(f, i++), .text = {}, .input_tokens = 200},
                           &estimates);
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (!s.ok()) {
      failure = s;
      break;
    }
    benchmark::DoNotOptimize(estimates.per_model.data());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const int64_t updates_done = updates.load() - updates_before;
  stop = true;
  updater.join();
  if (!failure.ok()) return Fail(state, failure);
  if (update_failed) return Fail(state, absl::InternalError("an update failed"));
  state.SetItemsProcessed(state.iterations());
  state.counters["updates_per_s"] = updates_done / seconds;
  bench::ReportLatency(state, micros);
}

// Limit first: Estimate reports its p50 as a ratio to Limit's.
BENCHMARK(BM_Limit)->Name("Limit")->ArgName("d")->Arg(256)->Arg(1024);
BENCHMARK(BM_Estimate)->Name("Estimate")->ArgName("d")->Arg(256)->Arg(1024);
BENCHMARK(BM_Observe)->Name("Observe")->ArgName("d")->Arg(256)->Arg(1024);
BENCHMARK(BM_EstimateWhileObserving)
    ->Name("EstimateWhileObserving")
    ->ArgName("d")
    ->Arg(256)
    ->Arg(1024)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return (g_failed || ran == 0) ? 1 : 0;
}
