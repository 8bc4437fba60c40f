// Writes the seed corpus of saved_router_fuzz: one saved tiny pipeline per
// router kind, <dir>/<kind>.router (priced, so each has a "cost" section),
// and one with the calibration layer, <dir>/knn-calibrated.router. Deterministic, so rerunning it after a
// file-format change rewrites the same seeds.
//   build/fuzz/tests/fuzz/make_saved_router_seeds tests/fuzz/corpus/saved_router
#include <cstdio>
#include <string>

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
  router::PipelineConfig config = router::fuzz::TinyConfig("knn");
  config.models = data.catalog.profiles();
  config.calibration = {.method = "isotonic", .folds = 2};
  auto calibrated = router::Pipeline::Fit(data.dataset, config);
  const std::string path = std::string(argv[1]) + "/knn-calibrated.router";
  absl::Status status = calibrated.status();
  if (status.ok()) status = (*calibrated)->Save(path);
  if (!status.ok()) {
    std::fprintf(stderr, "knn-calibrated: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("wrote %s\n", path.c_str());
  return 0;
}
