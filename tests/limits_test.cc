// Size limits (router/limits.h): over-limit input is refused with a status
// naming the limit, never truncated; input at the limit is taken; the
// limits a load enforces are the loader's, not the file's.
#include <string>

#include <catch2/catch.hpp>

#include "router/knn_router.h"
#include "router/limits.h"
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
