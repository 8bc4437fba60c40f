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

#include "nlohmann/json.hpp"
#include "router/pipeline.h"
#include "router/stacked_router.h"
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

TEST_CASE("a host's router kind can be a base of the stacked router", "[registry][stacked]") {
  REQUIRE(kRegistered);
  SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 23});
  auto config = ParsePipelineConfig(
      R"({"router": "stacked", "stacked": {"bases": ["knn", "mean"], "folds": 3},
          "featurizer": {"dim": 16}})");
  REQUIRE(config.ok());
  config->models = synthetic.catalog.profiles();
  auto fitted = Pipeline::Fit(synthetic.dataset, *config);
  REQUIRE(fitted.ok());
  const auto& stacked = dynamic_cast<const StackedRouter&>((*fitted)->router());
  REQUIRE(stacked.base(1).kind() == "mean");
  // The topics decide the scores, so the local base earns more weight than
  // the global mean on most models.
  int knn_leads = 0;
  for (int m = 0; m < stacked.catalog().size(); ++m) knn_leads += stacked.weight(m, 0) > 0.5;
  CHECK(knn_leads * 2 > stacked.catalog().size());

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("stacked-mean-" + std::to_string(::getpid()) + ".router")).string();
  REQUIRE((*fitted)->Save(path).ok());
  auto loaded = Pipeline::Load(path);
  std::filesystem::remove(path);
  REQUIRE(loaded.ok());
  Decision a, b;
  for (int topic = 0; topic < 6; ++topic) {
    REQUIRE((*fitted)->RouteText(SyntheticPrompt(topic, 9), &a).ok());
    REQUIRE((*loaded)->RouteText(SyntheticPrompt(topic, 9), &b).ok());
    CHECK(a.chosen.model == b.chosen.model);
    CHECK(a.chosen.predicted_quality == b.chosen.predicted_quality);
  }
}

// MeanOptions in JSON, {"prior_weight": w}, as a host would write it.
KindOptionsJson MeanOptionsJson() {
  KindOptionsJson json;
  json.read = [](std::string_view text, std::any* options) -> absl::Status {
    MeanOptions read = options->has_value() ? std::any_cast<MeanOptions>(*options) : MeanOptions{};
    const nlohmann::json parsed = nlohmann::json::parse(text);
    for (const auto& [key, value] : parsed.items()) {
      if (key != "prior_weight") return absl::InvalidArgumentError("unknown key '" + key + "'");
      if (!value.is_number() || value.get<double>() < 0) {
        return absl::InvalidArgumentError("'prior_weight' must be a number >= 0");
      }
      read.prior_weight = value.get<double>();
    }
    *options = read;
    return absl::OkStatus();
  };
  json.write = [](const std::any& options) {
    const auto* held = std::any_cast<MeanOptions>(&options);
    return nlohmann::json{{"prior_weight", held != nullptr ? held->prior_weight : 0.0}}.dump();
  };
  return json;
}

TEST_CASE("a host's router kind reads and writes its options in JSON", "[registry]") {
  // Registered here, not at start-up, so the other cases list no such kind.
  const RouterKind kind{"mean_prior",
                        [](const PipelineConfig& config) {
                          const auto it = config.router_options.find("mean_prior");
                          const auto* options = it == config.router_options.end()
                                                    ? nullptr
                                                    : std::any_cast<MeanOptions>(&it->second);
                          return std::make_unique<MeanRouter>(options ? *options : MeanOptions{},
                                                              "mean_prior");
                        },
                        MeanOptionsJson()};
  REQUIRE(RegisterRouterKind(kind).ok());

  // A prior of 1e9 pseudo-observations at 0.5 outweighs the data.
  SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 22});
  auto config = ParsePipelineConfig(
      R"({"router": "mean_prior", "mean_prior": {"prior_weight": 1e9}, "featurizer": {"dim": 16}})");
  REQUIRE(config.ok());
  config->models = synthetic.catalog.profiles();
  auto fitted = Pipeline::Fit(synthetic.dataset, *config);
  REQUIRE(fitted.ok());
  Estimates estimates;
  REQUIRE((*fitted)->EstimateText(SyntheticPrompt(0, 3), &estimates).ok());
  for (const ModelEstimate& e : estimates.per_model) CHECK(e.quality == Approx(0.5).margin(1e-6));

  // Written with the config, so a saved file keeps it; read back equal.
  const nlohmann::json written = nlohmann::json::parse(PipelineConfigToJson((*fitted)->config()));
  CHECK(written["mean_prior"] == nlohmann::json{{"prior_weight", 1e9}});
  auto loaded = Pipeline::FromBytes(*(*fitted)->ToBytes());
  REQUIRE(loaded.ok());
  const auto& held = (*loaded)->config().router_options.at("mean_prior");
  REQUIRE(std::any_cast<MeanOptions>(&held) != nullptr);
  CHECK(std::any_cast<MeanOptions>(held).prior_weight == 1e9);

  // The host's errors reach the caller with the block's name.
  const auto unknown = ParsePipelineConfig(R"({"mean_prior": {"prior": 1}})");
  REQUIRE(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(unknown.status().message()) == "config: 'mean_prior': unknown key 'prior'");
  CHECK_FALSE(ParsePipelineConfig(R"({"mean_prior": {"prior_weight": -1}})").ok());
  // Without options_json the block would be an unknown key: "mean" has none.
  CHECK_FALSE(ParsePipelineConfig(R"({"mean": {}})").ok());

  // A factory whose router gives another kind() is caught when it makes one
  // (a saved file would not load: its sections would disagree).
  const RouterKind misnamed{"mean_misnamed",
                            [](const PipelineConfig&) { return std::make_unique<MeanRouter>(); }};
  REQUIRE(RegisterRouterKind(misnamed).ok());
  PipelineConfig misnamed_config;
  misnamed_config.router = "mean_misnamed";
  const auto made = MakeRouter(misnamed_config);
  REQUIRE(made.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(made.status().message()), Catch::Contains("kind() is \"mean\""));

  // Half a pair of functions, or a name the config uses, is refused.
  RouterKind half = kind;
  half.name = "mean_half";
  half.options_json.write = nullptr;
  CHECK(RegisterRouterKind(half).code() == absl::StatusCode::kInvalidArgument);
  RouterKind clash = kind;
  clash.name = "policy";
  CHECK(RegisterRouterKind(clash).code() == absl::StatusCode::kInvalidArgument);
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
  // Built-in kinds first, then the registered ones (a case run in the same
  // process may have added one more).
  REQUIRE(names.size() >= 6);
  CHECK(std::vector<std::string>(names.begin(), names.begin() + 6) ==
        std::vector<std::string>{"knn", "cluster", "mf", "linucb", "stacked", "mean"});
  // A config naming a kind nobody registered is refused, listing the kinds.
  const auto unknown = ParsePipelineConfig(R"({"router": "median"})");
  REQUIRE(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(unknown.status().message()), Catch::Contains("\"mean\""));
}

}  // namespace
}  // namespace router
