// Writes the seed corpus of saved_router_fuzz: one saved tiny pipeline per
// router kind, <dir>/<kind>.router (priced, so each has a "cost" section),
// one with the calibration layer, <dir>/knn-calibrated.router, and kNN over
// an HNSW graph with float, fp16 and 8-bit rows, <dir>/knn-hnsw{,-fp16,-sq8}.router.
// Deterministic, so rerunning it after a file-format change rewrites the
// same seeds.
//   build/fuzz/tests/fuzz/make_saved_router_seeds tests/fuzz/corpus/saved_router
#include <cstdio>
#include <string>
#include <utility>

#include "tiny_pipeline.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const char* kind : router::fuzz::kRouterKinds) {
    auto pipeline = router::fuzz::FitTiny(kind);
    absl::Status status = pipeline.status();
    const std::string path = std::string(argv[1]) + "/" + kind + ".router";
    if (status.ok()) status = (*pipeline)->Save(path);
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", kind, status.ToString().c_str());
      return 1;
    }
    std::printf("wrote %s\n", path.c_str());
  }
  router::SyntheticData data =
      router::GenerateSynthetic({.rows = 24, .seed = 3, .test_fraction = 0.0});
  auto write = [&](const std::string& name, const router::PipelineConfig& config) {
    auto pipeline = router::Pipeline::Fit(data.dataset, config);
    const std::string path = std::string(argv[1]) + "/" + name + ".router";
    absl::Status status = pipeline.status();
    if (status.ok()) status = (*pipeline)->Save(path);
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), status.ToString().c_str());
      return false;
    }
    std::printf("wrote %s\n", path.c_str());
    return true;
  };
  router::PipelineConfig config = router::fuzz::TinyConfig("knn");
  config.models = data.catalog.profiles();
  config.calibration = {.method = "isotonic", .folds = 2};
  if (!write("knn-calibrated", config)) return 1;
  // kNN over an HNSW graph (FAISS's own serialisation inside the state),
  // with each row storage.
  config.calibration = {};
  using Storage = router::KnnOptions::HnswStorage;
  for (const auto& [name, storage] : {std::pair{"knn-hnsw", Storage::kFloat},
                                      std::pair{"knn-hnsw-fp16", Storage::kHalf},
                                      std::pair{"knn-hnsw-sq8", Storage::kBytes}}) {
    router::KnnOptions& knn = config.RouterOptions<router::KnnOptions>();
    knn.hnsw_threshold = 10;
    knn.hnsw_m = 4;
    knn.hnsw_storage = storage;
    if (!write(name, config)) return 1;
  }
  // The cluster router with its source classifier, on enough rows for
  // sources of 10 rows or more.
  data = router::GenerateSynthetic({.rows = 80, .seed = 3, .test_fraction = 0.0});
  config = router::fuzz::TinyConfig("cluster");
  config.models = data.catalog.profiles();
  config.RouterOptions<router::ClusterOptions>().assignment =
      router::ClusterOptions::Assignment::kSources;
  if (!write("cluster-sources", config)) return 1;
  return 0;
}
