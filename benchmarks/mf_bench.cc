// mf_bench: latency of MfRouter routing and time of its training.
//
//   Estimate/d:D/M:M/h:128        MfRouter::Estimate, one query vector
//   Limit/folded/d:D/M:M          the bare M x d product with Eigen
//   Limit/two_stage/d:D/M:M/h:128 the bare h x d then M x h products
//   EstimateBatch/d:1024/M:16/h:128/batch:256
//   Fit/shared/threads:T          Fit on the shared data (6k rows x 9 models,
//                                 d = 256 from the built-in featurizer), defaults
//
// The router folds its linear layers into one M x d matrix when M·d <=
// h·d + M·h (mf_router.h), so with h = 128 it does for M = 9, 16, 64 and not
// for M = 256 (shown for the other path). Each Estimate case reports
// floor_us, the time of the bare product(s) of the path it uses (the
// matching Limit case, measured in the same process just before), and
// ratio = mean time per route / floor_us: what validation, normalisation,
// the sigmoid and filling Estimates cost on top of the arithmetic.
// two_stage_us is the two-stage floor, what an unfolded router would need.
//
// Parameters of the Estimate fixtures are random (a one-epoch fit on random
// rows): latency does not depend on their values. Fit uses
// $ROUTER_MF_BENCH_DATA (default ../shared/data/llmrouter-9model/
// queries.jsonl as laid out on the build machine); without it, random data of
// the same shape, and the name says "random".
//
// Percentiles: each call is timed with steady_clock (p50_us, p99_us);
// allocs_per_call counts heap allocations per call after warm-up
// (bench_util.h).
#define EIGEN_DONT_PARALLELIZE  // as in the library: no OpenMP GEMM here
#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "router/dataset.h"
#include "router/mf_router.h"
#include "router/status.h"
#include "router/text_featurizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr int kHidden = 128;
constexpr int kQueryPool = 256;
constexpr int kBatch = 256;

std::atomic<bool> g_failed{false};

void Fail(benchmark::State& state, const absl::Status& status) {
  g_failed = true;
  const std::string message(router::StdView(status.ToString()));
  state.SkipWithError(message.c_str());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<float> Gaussian(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Random rows with 0/1 scores and costs for `models` models.
router::Dataset RandomData(int64_t rows, int dim, int models, uint64_t seed) {
  router::Dataset data;
  for (int m = 0; m < models; ++m) data.model_names.push_back("model-" + std::to_string(m));
  data.dim = dim;
  data.vectors = Gaussian(static_cast<size_t>(rows) * dim, seed);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<double> unit;
  for (int64_t r = 0; r < rows; ++r) {
    data.ids.push_back("row-" + std::to_string(r));
    data.prompts.push_back("");
    data.sources.push_back("");
    data.splits.push_back(router::Split::kTrain);
    for (int m = 0; m < models; ++m) {
      data.scores.push_back(unit(rng) < 0.3 + 0.05 * (m % 9) ? 1.0 : 0.0);
      data.costs.push_back(1e-5 * (m + 1) * (0.5 + unit(rng)));
    }
  }
  return data;
}

router::Catalog NamesOnly(const router::Dataset& data) {
  router::Catalog catalog;
  for (const std::string& name : data.model_names) {
    router::Profile p;
    p.name = name;
    (void)catalog.Add(std::move(p));
  }
  return catalog;
}

struct RouterFixture {
  absl::Status status;
  std::unique_ptr<router::MfRouter> router;
  std::vector<float> vectors;  // kQueryPool x dim
  std::vector<router::Query> queries;
};

const RouterFixture& Fixture(int dim, int models) {
  static std::map<std::pair<int, int>, RouterFixture> cache;
  auto [it, inserted] = cache.try_emplace({dim, models});
  RouterFixture& f = it->second;
  if (!inserted) return f;
  router::MfOptions options;
  options.hidden_dim = kHidden;
  options.epochs = 1;
  options.validation_fraction = 0.0;
  f.router = std::make_unique<router::MfRouter>(options);
  const router::Dataset data = RandomData(256, dim, models, 7 + dim + models);
  f.status = f.router->Fit(data, NamesOnly(data));
  f.vectors = Gaussian(static_cast<size_t>(kQueryPool) * dim, 99);
  for (int i = 0; i < kQueryPool; ++i) {
    router::Query q;
    q.vector = absl::MakeConstSpan(f.vectors.data() + static_cast<size_t>(i) * dim, dim);
    q.input_tokens = 200;
    f.queries.push_back(q);
  }
  return f;
}

// The bare products, on random matrices of the router's shapes.
struct Products {
  Matrix W, Z, A;  // h x d, M x h, M x d
  std::vector<float> x;
  Eigen::VectorXf hidden, logits;
  Products(int dim, int models)
      : W(Matrix::Random(kHidden, dim)),
        Z(Matrix::Random(models, kHidden)),
        A(Matrix::Random(models, dim)),
        x(Gaussian(static_cast<size_t>(kQueryPool) * dim, 5)),
        hidden(kHidden),
        logits(models) {}
  const float* Query(int64_t i) const { return x.data() + (i % kQueryPool) * W.cols(); }
  void Folded(int64_t i) {
    logits.noalias() = A * Eigen::Map<const Eigen::VectorXf>(Query(i), A.cols());
  }
  void TwoStage(int64_t i) {
    hidden.noalias() = W * Eigen::Map<const Eigen::VectorXf>(Query(i), W.cols());
    logits.noalias() = Z * hidden;
  }
};

// Microseconds per call of `call`: the best of 5 runs of `n` calls.
double FloorMicros(const std::function<void(int64_t)>& call, int64_t n = 20000) {
  double best = 1e30;
  for (int run = 0; run < 5; ++run) {
    const auto start = Clock::now();
    for (int64_t i = 0; i < n; ++i) call(i);
    best = std::min(best, 1e6 * Seconds(Clock::now() - start) / static_cast<double>(n));
  }
  return best;
}

// Times every call and counts its heap allocations after the warm-up;
// reports p50_us, p99_us and allocs_per_call (bench_util.h); returns the
// mean in µs.
double TimedLoop(benchmark::State& state, const std::function<absl::Status(int64_t)>& call) {
  for (int i = 0; i < 16; ++i) {
    if (absl::Status s = call(i); !s.ok()) return Fail(state, s), 0.0;
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
    if (!status.ok()) return Fail(state, status), 0.0;
  }
  if (micros.empty()) return 0.0;
  double sum = 0.0;
  for (double m : micros) sum += m;
  bench::ReportLatency(state, micros, allocations, i);
  return sum / static_cast<double>(micros.size());
}

void BM_Estimate(benchmark::State& state, int dim, int models) {
  const RouterFixture& f = Fixture(dim, models);
  if (!f.status.ok()) return Fail(state, f.status);
  Products products(dim, models);
  const double folded_us = FloorMicros([&](int64_t i) { products.Folded(i); });
  const double two_stage_us = FloorMicros([&](int64_t i) { products.TwoStage(i); });
  benchmark::DoNotOptimize(products.logits.data());
  router::Estimates estimates;
  const double mean = TimedLoop(state, [&](int64_t i) {
    return f.router->Estimate(f.queries[i % kQueryPool], &estimates);
  });
  const double floor = f.router->folded() ? folded_us : two_stage_us;
  state.counters["folded"] = f.router->folded() ? 1 : 0;
  state.counters["floor_us"] = floor;
  state.counters["two_stage_us"] = two_stage_us;
  state.counters["ratio"] = floor > 0 ? mean / floor : 0.0;
}

void BM_Limit(benchmark::State& state, int dim, int models, bool folded) {
  Products products(dim, models);
  int64_t i = 0;
  for (auto _ : state) {
    if (folded) {
      products.Folded(i++);
    } else {
      products.TwoStage(i++);
    }
    benchmark::DoNotOptimize(products.logits.data());
    benchmark::ClobberMemory();
  }
}

void BM_EstimateBatch(benchmark::State& state, int dim, int models) {
  const RouterFixture& f = Fixture(dim, models);
  if (!f.status.ok()) return Fail(state, f.status);
  std::vector<router::Estimates> out(kBatch);
  TimedLoop(state, [&](int64_t) {
    return f.router->EstimateBatch(absl::MakeConstSpan(f.queries.data(), kBatch),
                                   absl::MakeSpan(out));
  });
  state.counters["per_query"] = benchmark::Counter(
      kBatch, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// The shared data embedded by the default featurizer (fit on all its
// prompts), or random data of the same shape.
struct FitData {
  absl::Status status;
  router::Dataset data;
  bool real = false;
};

const FitData& SharedData() {
  static FitData f = [] {
    FitData out;
    const char* env = std::getenv("ROUTER_MF_BENCH_DATA");
    const std::string path =
        env != nullptr ? env : "/work/shared/data/llmrouter-9model/queries.jsonl";
    auto loaded = router::LoadJsonl(path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "[mf_bench] %s not readable; fitting random data instead\n",
                   path.c_str());
      out.data = RandomData(6108, 256, 9, 3);
      return out;
    }
    out.data = std::move(loaded).value();
    out.real = true;
    router::TextFeaturizer featurizer;
    out.status = featurizer.Fit(out.data.prompts);
    if (!out.status.ok()) return out;
    out.data.dim = featurizer.dim();
    out.data.vectors.assign(static_cast<size_t>(out.data.rows()) * out.data.dim, 0.0f);
    for (int64_t r = 0; r < out.data.rows() && out.status.ok(); ++r) {
      out.status = featurizer.Embed(
          out.data.prompts[r],
          absl::MakeSpan(out.data.vectors.data() + r * out.data.dim, out.data.dim));
    }
    return out;
  }();
  return f;
}

void BM_Fit(benchmark::State& state, int threads) {
  const FitData& f = SharedData();
  if (!f.status.ok()) return Fail(state, f.status);
  router::MfOptions options;
  options.num_threads = threads;
  int epochs = 0;
  for (auto _ : state) {
    router::MfRouter router(options);
    if (absl::Status s = router.Fit(f.data, NamesOnly(f.data)); !s.ok()) return Fail(state, s);
    epochs = router.epochs_run();
  }
  state.counters["rows"] = static_cast<double>(f.data.rows());
  state.counters["dim"] = f.data.dim;
  state.counters["epochs"] = epochs;
  state.counters["real_data"] = f.real ? 1 : 0;
}

void RegisterAll() {
  auto us = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  for (int dim : {256, 1024}) {
    for (int models : {9, 16, 64, 256}) {
      const std::string shape = "d:" + std::to_string(dim) + "/M:" + std::to_string(models);
      const std::string h = "/h:" + std::to_string(kHidden);
      us(benchmark::RegisterBenchmark(("Estimate/" + shape + h).c_str(), BM_Estimate, dim,
                                      models));
      us(benchmark::RegisterBenchmark(("Limit/folded/" + shape).c_str(), BM_Limit, dim, models,
                                      true));
      us(benchmark::RegisterBenchmark(("Limit/two_stage/" + shape + h).c_str(), BM_Limit, dim,
                                      models, false));
    }
  }
  us(benchmark::RegisterBenchmark(
      ("EstimateBatch/d:1024/M:16/h:128/batch:" + std::to_string(kBatch)).c_str(),
      BM_EstimateBatch, 1024, 16));
  for (int threads : {1, 2}) {
    const std::string name = "Fit/shared/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(name.c_str(), BM_Fit, threads)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kSecond);
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
    std::fprintf(stderr, "mf_bench: no benchmark matched the filter\n");
    return 1;
  }
  return g_failed ? 1 : 0;
}
