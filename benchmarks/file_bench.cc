// file_bench: saving and loading a fitted router.
//
//   Save/rows:N   Pipeline::Save of an exact kNN router over N vectors
//   Load/rows:N   Pipeline::Load of that file
//
// The router routes host vectors (no featurizer): d = 1024 random unit
// vectors, M = 9 models, exact index (IndexFlatIP). Load reports, besides its
// time, the resident memory the loaded pipeline holds (rss_mb: RSS after the
// load minus before, with the pipeline alive), the raw vector bytes
// (vectors_mb = N x d x 4) and their ratio (rss_ratio). The index of an exact
// router is the vectors themselves, so 1.0 plus the per-row scores and costs
// (2 x M x 4 bytes per row) is the floor.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "router/knn_router.h"
#include "router/pipeline.h"

namespace {

constexpr int kDim = 1024;
constexpr int kModels = 9;

struct Saved {
  std::unique_ptr<router::Pipeline> pipeline;
  std::string path;
};

std::map<int64_t, Saved*>& SavedRouters() {
  static std::map<int64_t, Saved*> cache;
  return cache;
}

const Saved& SavedRouter(int64_t rows) {
  Saved*& saved = SavedRouters()[rows];
  if (saved != nullptr) return *saved;
  saved = new Saved;
  router::Dataset data;
  std::mt19937 rng(1);
  std::normal_distribution<float> gauss;
  std::uniform_real_distribution<double> unit;
  for (int m = 0; m < kModels; ++m) data.model_names.push_back("model-" + std::to_string(m));
  data.dim = kDim;
  data.vectors.resize(static_cast<size_t>(rows) * kDim);
  for (float& v : data.vectors) v = gauss(rng);
  for (int64_t r = 0; r < rows; ++r) {
    data.ids.push_back("r" + std::to_string(r));
    data.prompts.emplace_back();
    data.sources.emplace_back();
    data.splits.push_back(router::Split::kTrain);
    for (int m = 0; m < kModels; ++m) {
      data.scores.push_back(unit(rng) < 0.5 ? 0.0 : 1.0);
      data.costs.push_back(unit(rng) * 1e-3);
    }
  }
  router::PipelineConfig config;
  config.embedder = "none";
  config.RouterOptions<router::KnnOptions>().hnsw_threshold = int64_t{1} << 40;
  auto fitted = router::Pipeline::Fit(data, config);
  if (!fitted.ok()) {
    std::fprintf(stderr, "fit failed: %s\n", std::string(fitted.status().message()).c_str());
    std::exit(1);
  }
  saved->pipeline = std::move(fitted).value();
  saved->path = "/tmp/file_bench_" + std::to_string(::getpid()) + "_" +
                std::to_string(rows) + ".router";
  if (!saved->pipeline->Save(saved->path).ok()) std::exit(1);
  return *saved;
}

double ResidentMb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * ::sysconf(_SC_PAGESIZE) / (1 << 20);
}

void BM_Save(benchmark::State& state) {
  const Saved& saved = SavedRouter(state.range(0));
  const std::string path = saved.path + ".copy";
  for (auto _ : state) {
    if (!saved.pipeline->Save(path).ok()) state.SkipWithError("save failed");
  }
  std::remove(path.c_str());
}

void BM_Load(benchmark::State& state) {
  const Saved& saved = SavedRouter(state.range(0));
  double rss_mb = 0.0;
  for (auto _ : state) {
    const double before = ResidentMb();
    auto loaded = router::Pipeline::Load(saved.path);
    if (!loaded.ok()) state.SkipWithError("load failed");
    state.PauseTiming();
    rss_mb = ResidentMb() - before;
    loaded = absl::StatusOr<std::unique_ptr<router::Pipeline>>();
    state.ResumeTiming();
  }
  const double vectors_mb = static_cast<double>(state.range(0)) * kDim * 4 / (1 << 20);
  state.counters["rss_mb"] = rss_mb;
  state.counters["vectors_mb"] = vectors_mb;
  state.counters["rss_ratio"] = rss_mb / vectors_mb;
}

BENCHMARK(BM_Save)->ArgName("rows")->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Load)->ArgName("rows")->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace

// BENCHMARK_MAIN, plus removing the saved files (hundreds of megabytes each).
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (const auto& [rows, saved] : SavedRouters()) std::remove(saved->path.c_str());
  return 0;
}
