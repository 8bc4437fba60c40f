// A router kind added outside the library: MeanRouter (mean_router.h) and
// the one line that registers it. Config parsing, fitting, routing, saving
// and loading then work as for the built-in kinds.
#include "mean_router.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "router/pipeline.h"
#include "router/synthetic.h"

namespace router {
namespace {

// The registration line.
const bool kRegistered = RegisterRouterKind({"mean", [](const PipelineConfig&) {
                                               return std::make_unique<MeanRouter>();
                                             }}).ok();

TEST_CASE("a router kind registered outside the library fits, routes, saves and loads",
          "[registry]") {
  REQUIRE(kRegistered);
  SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 21});
  auto config = ParsePipelineConfig(R"({"router": "mean", "featurizer": {"dim": 16}})");
  REQUIRE(config.ok());
  config->models = synthetic.catalog.profiles();
  auto fitted = Pipeline::Fit(synthetic.dataset, *config);
  REQUIRE(fitted.ok());
  CHECK((*fitted)->router().kind() == "mean");

  // With lambda = 0 every prompt goes to the model with the best mean score
  // over the rows it was fitted on, worked out here by hand.
  const Dataset& data = synthetic.dataset;
  std::string best;
  double best_mean = -1.0;
  for (int m = 0; m < data.num_models(); ++m) {
    double sum = 0.0;
    int count = 0;
    for (int64_t r = 0; r < data.rows(); ++r) {
      if (!std::isnan(data.score(r, m))) sum += data.score(r, m), ++count;
    }
    if (count > 0 && sum / count > best_mean) best_mean = sum / count, best = data.model_names[m];
  }
  REQUIRE_FALSE(best.empty());
  Decision decision;
  for (int topic = 0; topic < 6; ++topic) {
    REQUIRE((*fitted)->RouteText(SyntheticPrompt(topic, 7), &decision).ok());
    CHECK(decision.chosen.model == best);
    CHECK(decision.chosen.predicted_quality == Approx(best_mean).epsilon(1e-12));
    CHECK(decision.trace.router_kind == "mean");
  }

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("mean-" + std::to_string(::getpid()) + ".router")).string();
  REQUIRE((*fitted)->Save(path).ok());
  auto loaded = Pipeline::Load(path);
  std::filesystem::remove(path);
  REQUIRE(loaded.ok());
  REQUIRE((*loaded)->RouteText(SyntheticPrompt(2, 7), &decision).ok());
  CHECK(decision.chosen.model == best);
  CHECK(decision.chosen.predicted_quality == Approx(best_mean).epsilon(1e-12));
}

TEST_CASE("router kinds are unique, named and listed", "[registry]") {
  REQUIRE(kRegistered);
  const auto make = [](const PipelineConfig&) { return std::make_unique<MeanRouter>(); };
  CHECK(RegisterRouterKind({"mean", make}).code() == absl::StatusCode::kAlreadyExists);
  CHECK(RegisterRouterKind({"knn", make}).code() == absl::StatusCode::kAlreadyExists);
  CHECK(RegisterRouterKind({"", make}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(RegisterRouterKind({"nothing", nullptr}).code() == absl::StatusCode::kInvalidArgument);
  std::vector<std::string> names;
  for (const RouterKind& kind : RouterKinds()) names.push_back(kind.name);
  CHECK(names == std::vector<std::string>{"knn", "cluster", "mf", "linucb", "mean"});
  // A config naming a kind nobody registered is refused, listing the kinds.
  const auto unknown = ParsePipelineConfig(R"({"router": "median"})");
  REQUIRE(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(unknown.status().message()), Catch::Contains("\"mean\""));
}

}  // namespace
}  // namespace router
