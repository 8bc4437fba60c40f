// Size limits (router/limits.h): over-limit input is refused with a status
// naming the limit, never truncated; input at the limit is taken; the
// limits a load enforces are the loader's, not the file's.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "router/knn_router.h"
#include "router/limits.h"
#include "router/live_pipeline.h"
#include "router/pipeline.h"
#include "router/synthetic.h"

namespace router {
namespace {

std::unique_ptr<Pipeline> Fit(const Limits& limits) {
  SyntheticData synthetic = GenerateSynthetic({.rows = 120, .seed = 4});
  PipelineConfig config;
  config.models = synthetic.catalog.profiles();
  config.RouterOptions<KnnOptions>().k = 5;
  config.featurizer.word_buckets = 64;
  config.featurizer.char_buckets = 64;
  config.featurizer.dim = 8;
  config.limits = limits;
  auto pipeline = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(pipeline.ok());
  return std::move(pipeline).value();
}

TEST_CASE("a prompt over max_prompt_bytes is refused, one at the limit is routed",
          "[limits]") {
  const auto pipeline = Fit({.max_prompt_bytes = 64});
  Decision decision;
  REQUIRE(pipeline->RouteText(std::string(64, 'a'), &decision).ok());
  const absl::Status status = pipeline->RouteText(std::string(65, 'a'), &decision);
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(status.message()) ==
          "a prompt of 65 exceeds limits.max_prompt_bytes = 64");
  Estimates estimates;
  REQUIRE(pipeline->EstimateText(std::string(1000, 'b'), &estimates).code() ==
          absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a fit with more models than max_models is refused", "[limits]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 60, .seed = 4});
  PipelineConfig config;
  config.limits.max_models = synthetic.catalog.size() - 1;
  auto pipeline = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(pipeline.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE_THAT(std::string(pipeline.status().message()), Catch::Contains("max_models"));
  config.limits.max_models = synthetic.catalog.size();
  config.featurizer.dim = 8;
  REQUIRE(Pipeline::Fit(synthetic.dataset, config).ok());
}

TEST_CASE("a load enforces the loader's limits, not the file's", "[limits]") {
  // The file's own limits are generous; the loader's are not.
  const auto pipeline = Fit({.max_models = 1000});
  const std::string bytes = pipeline->ToBytes().value();
  REQUIRE(Pipeline::FromBytes(bytes).ok());

  auto small_sections = Pipeline::FromBytes(bytes, "f", {.max_section_bytes = 256});
  REQUIRE(small_sections.status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE_THAT(std::string(small_sections.status().message()),
               Catch::Contains("exceeds limits.max_section_bytes = 256"));

  auto few_models = Pipeline::FromBytes(bytes, "f", {.max_models = 2});
  REQUIRE(few_models.status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE_THAT(std::string(few_models.status().message()),
               Catch::Contains("exceeds limits.max_models = 2"));

  // A loaded pipeline routes with the limits it was saved with.
  auto loaded = Pipeline::FromBytes(bytes);
  REQUIRE(loaded.ok());
  REQUIRE((*loaded)->config().limits.max_models == 1000);
}

// A LinUCB pipeline (it can onboard models) with `limits`, served live.
std::unique_ptr<LivePipeline> LiveLinUcb(const Limits& limits) {
  SyntheticData synthetic = GenerateSynthetic({.rows = 120, .seed = 4});
  PipelineConfig config;
  config.router = "linucb";
  config.featurizer.word_buckets = 64;
  config.featurizer.char_buckets = 64;
  config.featurizer.dim = 8;
  config.limits = limits;
  auto pipeline = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(pipeline.ok());
  return std::make_unique<LivePipeline>(std::move(pipeline).value());
}

std::vector<std::string> ModelNames(const LivePipeline& live) {
  std::vector<std::string> names;
  const auto snapshot = live.Snapshot();
  for (int m = 0; m < snapshot->catalog().size(); ++m) {
    names.push_back(snapshot->catalog().at(m).name);
  }
  return names;
}

TEST_CASE("onboarding past max_models is refused and changes nothing", "[limits]") {
  const int fitted = GenerateSynthetic({.rows = 120, .seed = 4}).catalog.size();
  auto live = LiveLinUcb({.max_models = fitted + 1});
  // Up to the limit: taken.
  REQUIRE(live->AddModel({.name = "new-1"}, Dataset{}).ok());
  const std::vector<std::string> names = ModelNames(*live);
  REQUIRE(names.size() == static_cast<size_t>(fitted + 1));
  const std::string bytes = live->Snapshot()->ToBytes().value();
  const uint64_t generation = live->generation();
  // One more: refused, naming the limit; the catalog, the router and the
  // generation are as they were.
  const absl::Status status = live->AddModel({.name = "new-2"}, Dataset{});
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(status.message()) ==
          "a catalog of " + std::to_string(fitted + 2) + " exceeds limits.max_models = " +
              std::to_string(fitted + 1));
  CHECK(ModelNames(*live) == names);
  CHECK(live->generation() == generation);
  CHECK(live->Snapshot()->ToBytes().value() == bytes);
  // Room again once a model goes.
  REQUIRE(live->RemoveModel("new-1").ok());
  CHECK(live->AddModel({.name = "new-2"}, Dataset{}).ok());
}

TEST_CASE("onboarding with more examples than max_batch_size is refused and changes nothing",
          "[limits]") {
  auto live = LiveLinUcb({.max_batch_size = 3});
  const int dim = live->Snapshot()->dim();
  auto examples = [&](int count) {
    const std::vector<float> vectors(static_cast<size_t>(count) * dim, 0.25f);
    const std::vector<double> scores(count, 1.0);
    auto labelled = LabelledExamples("new", vectors, dim, scores, {});
    REQUIRE(labelled.ok());
    return *std::move(labelled);
  };
  const std::vector<std::string> names = ModelNames(*live);
  const std::string bytes = live->Snapshot()->ToBytes().value();
  const absl::Status status = live->AddModel({.name = "new"}, examples(4));
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(status.message()) ==
          "a set of examples of 4 exceeds limits.max_batch_size = 3");
  CHECK(ModelNames(*live) == names);
  CHECK(live->Snapshot()->ToBytes().value() == bytes);
  CHECK(live->generation() == 0);
  // At the limit: taken, and learnt from (the arm has the examples).
  REQUIRE(live->AddModel({.name = "new"}, examples(3)).ok());
  Estimates estimates;
  REQUIRE(live->Snapshot()->Estimate(Query{.vector = std::vector<float>(dim, 0.25f)}, &estimates)
              .ok());
  CHECK(estimates.per_model.back().support == 3);
}

TEST_CASE("limits in the JSON config: parsed, validated, written back", "[limits]") {
  auto config = ParsePipelineConfig(R"({"limits": {"max_prompt_bytes": 100, "max_batch_size": 7,
                                                    "max_models": 3, "max_section_bytes": 9}})");
  REQUIRE(config.ok());
  REQUIRE(config->limits.max_prompt_bytes == 100);
  REQUIRE(config->limits.max_batch_size == 7);
  REQUIRE(config->limits.max_models == 3);
  REQUIRE(config->limits.max_section_bytes == 9);
  auto again = ParsePipelineConfig(PipelineConfigToJson(*config));
  REQUIRE(again.ok());
  REQUIRE(again->limits.max_batch_size == 7);
  REQUIRE(again->limits.max_section_bytes == 9);

  REQUIRE(ParsePipelineConfig(R"({"limits": {"max_models": 0}})").status().code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(ParsePipelineConfig(R"({"limits": {"max_prompt": 5}})").status().code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(ParsePipelineConfig(R"({"limits": {"max_batch_size": -1}})").status().code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(ValidateLimits({}).ok());
}

}  // namespace
}  // namespace router
