// Tiny fitted pipelines for the fuzz targets and their seed corpora: a few
// dozen synthetic rows, a 16-d featurizer over small hash tables, so a saved
// file is a few KB and fits in milliseconds.
#ifndef ROUTER_TESTS_FUZZ_TINY_PIPELINE_H_
#define ROUTER_TESTS_FUZZ_TINY_PIPELINE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/mf_options.h"
#include "router/pipeline.h"
#include "router/stacked_router.h"
#include "router/synthetic.h"
#include "router/max_utility_policy.h"

namespace router::fuzz {

// The router kinds a saved file can hold.
inline constexpr const char* kRouterKinds[] = {"knn", "cluster", "mf", "linucb", "stacked"};

inline PipelineConfig TinyConfig(const std::string& kind) {
  PipelineConfig config;
  config.router = kind;
  config.featurizer.word_buckets = 32;
  config.featurizer.char_buckets = 32;
  config.featurizer.dim = 8;
  config.RouterOptions<router::KnnOptions>().k = 5;
  config.RouterOptions<router::ClusterOptions>().num_clusters = 2;
  config.RouterOptions<router::MfOptions>().hidden_dim = 4;
  config.RouterOptions<router::MfOptions>().epochs = 5;
  config.RouterOptions<router::MfOptions>().batch_size = 8;
  config.RouterOptions<router::LinUcbOptions>().context_dim = 4;
  config.RouterOptions<router::StackedOptions>() = {.bases = {"knn", "cluster"}, .folds = 2};
  config.policy.Set(MaxUtilityOptions{.lambda = 100.0});
  return config;
}

inline absl::StatusOr<std::unique_ptr<Pipeline>> FitTiny(const std::string& kind) {
  SyntheticData data = GenerateSynthetic({.rows = 24, .seed = 3, .test_fraction = 0.0});
  PipelineConfig config = TinyConfig(kind);
  config.models = data.catalog.profiles();
  return Pipeline::Fit(data.dataset, config);
}

}  // namespace router::fuzz

#endif  // ROUTER_TESTS_FUZZ_TINY_PIPELINE_H_
