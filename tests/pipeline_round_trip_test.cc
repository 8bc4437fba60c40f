// Every router kind, saved and loaded inside a pipeline, routes bit-identically
// (estimates and decisions), including LinUCB after online updates and a
// pipeline with run-time changes and a paced budget.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "router/cluster_router.h"
#include "router/linucb_router.h"
#include "router/mf_options.h"
#include "router/pipeline.h"
#include "router/synthetic.h"
#include "router/budget_pacing_policy.h"
#include "nlohmann/json.hpp"

namespace router {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Pipeline> FitKind(const std::string& kind, const SyntheticData& synthetic) {
  PipelineConfig config;
  config.router = kind;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 24;
  config.RouterOptions<ClusterOptions>().num_clusters = 6;
  config.RouterOptions<MfOptions>().hidden_dim = 8;
  config.RouterOptions<MfOptions>().epochs = 20;
  config.RouterOptions<LinUcbOptions>().context_dim = 8;
  auto pipeline = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(pipeline.ok());
  return std::move(pipeline).value();
}

void CheckSameRouting(const Pipeline& a, const Pipeline& b) {
  REQUIRE(a.catalog().size() == b.catalog().size());
  for (int i = 0; i < 40; ++i) {
    const std::string prompt = SyntheticPrompt(i % 6, 900 + i);
    Estimates ea, eb;
    REQUIRE(a.EstimateText(prompt, &ea).ok());
    REQUIRE(b.EstimateText(prompt, &eb).ok());
    for (size_t m = 0; m < ea.per_model.size(); ++m) {
      CHECK(ea.per_model[m].quality == eb.per_model[m].quality);
      CHECK(ea.per_model[m].uncertainty == eb.per_model[m].uncertainty);
      CHECK(ea.per_model[m].expected_cost_usd == eb.per_model[m].expected_cost_usd);
    }
    Decision da, db;
    REQUIRE(a.RouteText(prompt, &da).ok());
    REQUIRE(b.RouteText(prompt, &db).ok());
    CHECK(da.chosen.model == db.chosen.model);
    CHECK(da.ranked.size() == db.ranked.size());
  }
}

std::unique_ptr<Pipeline> SaveAndLoad(const Pipeline& pipeline, const std::string& name) {
  const std::string path = (fs::temp_directory_path() /
                            (name + "-" + std::to_string(::getpid()) + ".router")).string();
  REQUIRE(pipeline.Save(path).ok());
  auto loaded = Pipeline::Load(path);
  fs::remove(path);
  REQUIRE(loaded.ok());
  return std::move(loaded).value();
}

TEST_CASE("every router kind round-trips bit-identically", "[file][kinds]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 17});
  for (const char* kind : {"knn", "cluster", "mf", "linucb", "stacked"}) {
    INFO("router " << kind);
    auto fitted = FitKind(kind, synthetic);
    auto loaded = SaveAndLoad(*fitted, kind);
    CHECK(loaded->router().kind() == kind);
    CheckSameRouting(*fitted, *loaded);
    // Its own facts survive, and a fitted router has some.
    CHECK_FALSE(fitted->router().Describe().empty());
    CHECK(loaded->router().Describe() == fitted->router().Describe());
    CHECK(MakeRouter(fitted->config()).value()->Describe().empty());  // unfitted
    // A second save of the loaded pipeline writes the same bytes.
    CHECK(*loaded->ToBytes() == *fitted->ToBytes());
  }
}

// A router state (format 2) opens with its u32 version and its options, the
// kind's schema's JSON as a u64-length-prefixed string.
struct StateParts {
  uint32_t version = 0;
  nlohmann::json options;
  std::string rest;
};

StateParts SplitState(const std::string& state) {
  StateParts parts;
  uint64_t length = 0;
  REQUIRE(state.size() >= sizeof(parts.version) + sizeof(length));
  std::memcpy(&parts.version, state.data(), sizeof(parts.version));
  std::memcpy(&length, state.data() + sizeof(parts.version), sizeof(length));
  const size_t start = sizeof(parts.version) + sizeof(length);
  REQUIRE(state.size() >= start + length);
  parts.options = nlohmann::json::parse(state.substr(start, length));
  parts.rest = state.substr(start + length);
  return parts;
}

std::string JoinState(const StateParts& parts) {
  const std::string options = parts.options.dump();
  const uint64_t length = options.size();
  std::string state(reinterpret_cast<const char*>(&parts.version), sizeof(parts.version));
  state.append(reinterpret_cast<const char*>(&length), sizeof(length));
  return state + options + parts.rest;
}

TEST_CASE("every router kind saves its options through their schema", "[file][kinds]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 23});
  // A key whose value does not shape the learned state, per kind.
  const std::map<std::string, std::string> free_key = {
      {"knn", "hnsw_ef_search"}, {"cluster", "temperature"},
      {"mf", "learning_rate"}, {"linucb", "alpha"}};
  const nlohmann::json defaults = nlohmann::json::parse(PipelineConfigToJson(PipelineConfig{}));
  for (const auto& [kind, key] : free_key) {
    INFO("router " << kind);
    auto fitted = FitKind(kind, synthetic);
    std::string state;
    REQUIRE(fitted->router().SaveState(&state).ok());
    StateParts parts = SplitState(state);
    // Version 2 put the options through their schema; later ones keep that
    // (the cluster router's 3 added the source classifier's biases, 4 the
    // sources' names).
    CHECK(parts.version == (kind == "cluster" ? 4u : 2u));
    // The state's options are the config's, key for key.
    const nlohmann::json config = nlohmann::json::parse(PipelineConfigToJson(fitted->config()));
    CHECK(parts.options == config[kind]);

    // Options come from the state, not from the router it is loaded into:
    // that one is made with a value of `key` other than the default.
    const nlohmann::json& default_value = defaults[kind][key];
    nlohmann::json other = config;
    other[kind][key] = default_value.is_number_integer()
                           ? nlohmann::json(default_value.get<int64_t>() + 1)
                           : nlohmann::json(default_value.get<double>() * 2);
    const auto other_config = ParsePipelineConfig(other.dump());
    REQUIRE(other_config.ok());
    auto load = [&](const StateParts& edited) {
      auto router = MakeRouter(*other_config);
      REQUIRE(router.ok());
      const absl::Status status = (*router)->LoadState(JoinState(edited));
      std::string saved;
      if (status.ok()) REQUIRE((*router)->SaveState(&saved).ok());
      return std::make_pair(status, saved);
    };
    // Unedited, the state loads and saves the same bytes.
    CHECK(load(parts).second == state);
    // A key the state lacks (written before the option existed) takes its
    // default; the others keep their saved values.
    StateParts missing = parts;
    missing.options.erase(key);
    const auto [missing_status, missing_saved] = load(missing);
    REQUIRE(missing_status.ok());
    CHECK(SplitState(missing_saved).options == parts.options);
    CHECK(parts.options[key] == default_value);
    // Unknown keys, wrong types and values out of range are refused.
    for (const nlohmann::json& bad : {nlohmann::json{{"no_such_option", 1}},
                                      nlohmann::json{{key, "fast"}},
                                      nlohmann::json{{key, -1e9}}}) {
      StateParts edited = parts;
      edited.options.update(bad);
      const absl::Status status = load(edited).first;
      CHECK(status.code() == absl::StatusCode::kDataLoss);
      CHECK_THAT(std::string(status.message()), Catch::Contains("options"));
    }
  }
}

// The router's estimates for a few embedded prompts.
std::vector<Estimates> EstimatesOf(const Pipeline& pipeline, const Router& router) {
  std::vector<Estimates> out(12);
  std::vector<float> vector(pipeline.dim());
  for (size_t i = 0; i < out.size(); ++i) {
    REQUIRE(pipeline.Embed(SyntheticPrompt(static_cast<int>(i % 6), 700 + i),
                           absl::MakeSpan(vector)).ok());
    Query query;
    query.vector = vector;
    REQUIRE(router.Estimate(query, &out[i]).ok());
  }
  return out;
}

bool SameEstimates(const std::vector<Estimates>& a, const std::vector<Estimates>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].per_model.size() != b[i].per_model.size()) return false;
    for (size_t m = 0; m < a[i].per_model.size(); ++m) {
      const ModelEstimate &x = a[i].per_model[m], &y = b[i].per_model[m];
      if (x.quality != y.quality || x.uncertainty != y.uncertainty ||
          x.expected_cost_usd != y.expected_cost_usd) {
        return false;
      }
    }
  }
  return true;
}

TEST_CASE("every router kind's Clone estimates identically, then changes alone", "[kinds]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 19});
  for (const char* kind : {"knn", "cluster", "mf", "linucb", "stacked"}) {
    INFO("router " << kind);
    auto pipeline = FitKind(kind, synthetic);
    const Router& original = pipeline->router();
    const std::vector<Estimates> before = EstimatesOf(*pipeline, original);
    auto clone = original.Clone();
    REQUIRE(clone.ok());
    CHECK((*clone)->kind() == kind);
    CHECK(SameEstimates(EstimatesOf(*pipeline, **clone), before));
    // Onboarding on the copy adds the model there only (kNN cannot onboard).
    Profile newcomer{.name = "newcomer", .input_usd_per_mtok = 0.1};
    std::vector<float> vectors(60 * pipeline->dim());
    std::vector<double> scores(60);
    for (int r = 0; r < 60; ++r) {
      REQUIRE(pipeline->Embed(SyntheticPrompt(r % 6, 5000 + r),
                              absl::MakeSpan(vectors.data() + r * pipeline->dim(),
                                             pipeline->dim())).ok());
      scores[r] = r % 6 == 0 ? 1.0 : 0.2;
    }
    auto labelled = LabelledExamples("newcomer", vectors, pipeline->dim(), scores, {});
    REQUIRE(labelled.ok());
    const absl::Status onboarded = (*clone)->OnboardModel(newcomer, *labelled);
    if (std::string(kind) == "knn") {
      CHECK(onboarded.code() == absl::StatusCode::kUnimplemented);
      continue;
    }
    REQUIRE(onboarded.ok());
    CHECK((*clone)->catalog().size() == original.catalog().size() + 1);
    CHECK_FALSE(original.catalog().Find("newcomer").ok());
    CHECK(SameEstimates(EstimatesOf(*pipeline, original), before));
  }
}

TEST_CASE("every router kind forgets a removed model, saved and loaded, it can come back",
          "[kinds][file]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 21});
  for (const char* kind : {"knn", "cluster", "mf", "linucb", "stacked"}) {
    INFO("router " << kind);
    auto pipeline = FitKind(kind, synthetic);
    const std::string gone = pipeline->catalog().at(1).name;
    auto without = pipeline->WithoutModel(gone);
    REQUIRE(without.ok());
    CHECK((*without)->router().catalog().size() == pipeline->catalog().size() - 1);
    CHECK_FALSE((*without)->router().catalog().Find(gone).ok());
    auto loaded = SaveAndLoad(**without, std::string(kind) + "-removed");
    CHECK_FALSE(loaded->router().catalog().Find(gone).ok());
    CheckSameRouting(**without, *loaded);
    if (std::string(kind) == "knn") continue;  // kNN cannot onboard
    // The same name onboarded again is a model like any other.
    std::vector<float> vectors(60 * pipeline->dim());
    std::vector<double> scores(60);
    for (int r = 0; r < 60; ++r) {
      REQUIRE(pipeline->Embed(SyntheticPrompt(r % 6, 6000 + r),
                              absl::MakeSpan(vectors.data() + r * pipeline->dim(),
                                             pipeline->dim())).ok());
      scores[r] = 0.7;
    }
    auto labelled = LabelledExamples(gone, vectors, pipeline->dim(), scores, {});
    REQUIRE(labelled.ok());
    auto back = loaded->WithModel(pipeline->catalog().at(1), *labelled);
    REQUIRE(back.ok());
    CHECK((*back)->catalog().Find(gone).ok());
    CHECK((*back)->config().removed_models.empty());
    auto reloaded = SaveAndLoad(**back, std::string(kind) + "-back");
    CHECK(reloaded->catalog().Find(gone).ok());
    CheckSameRouting(**back, *reloaded);
  }
}

TEST_CASE("a LinUCB clone learns alone", "[kinds]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 20});
  auto pipeline = FitKind("linucb", synthetic);
  const std::vector<Estimates> before = EstimatesOf(*pipeline, pipeline->router());
  auto clone = pipeline->router().Clone();
  REQUIRE(clone.ok());
  std::vector<float> vector(pipeline->dim());
  for (int i = 0; i < 50; ++i) {
    REQUIRE(pipeline->Embed(SyntheticPrompt(i % 6, 700 + i % 12), absl::MakeSpan(vector)).ok());
    Feedback feedback;
    feedback.vector = vector;
    feedback.model = synthetic.catalog.at(0).name;
    feedback.score = 1.0;
    REQUIRE((*clone)->Observe(feedback).ok());
  }
  CHECK_FALSE(SameEstimates(EstimatesOf(*pipeline, **clone), before));
  CHECK(SameEstimates(EstimatesOf(*pipeline, pipeline->router()), before));
}

TEST_CASE("LinUCB's online learning survives a save and a load", "[file][kinds]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 18});
  auto pipeline = FitKind("linucb", synthetic);
  std::vector<float> vector(pipeline->dim());
  for (int i = 0; i < 300; ++i) {
    REQUIRE(pipeline->Embed(SyntheticPrompt(i % 6, 3000 + i), absl::MakeSpan(vector)).ok());
    Feedback feedback;
    feedback.vector = vector;
    feedback.model = synthetic.catalog.at(i % synthetic.catalog.size()).name;
    feedback.score = (i % 3) / 2.0;
    feedback.cost_usd = 1e-4;
    REQUIRE(pipeline->Observe(feedback).ok());
  }
  auto loaded = SaveAndLoad(*pipeline, "linucb-online");
  CheckSameRouting(*pipeline, *loaded);
}

TEST_CASE("run-time changes and a paced budget round-trip", "[file][kinds]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 19});
  auto pipeline = FitKind("cluster", synthetic);
  Profile dearer = pipeline->catalog().at(1);
  dearer.input_usd_per_mtok *= 3;
  PolicyConfig budget;
  budget.Set(BudgetPacingOptions{.target_cost_usd = 1e-4});
  auto changed = pipeline->WithoutModel(pipeline->catalog().at(0).name).value()
                     ->WithProfile(dearer).value()
                     ->WithAvailability(pipeline->catalog().at(2).name, false).value()
                     ->WithPolicy(budget).value();
  Decision d;
  for (int i = 0; i < 50; ++i) REQUIRE(changed->RouteText(SyntheticPrompt(i % 6, i), &d).ok());
  auto loaded = SaveAndLoad(*changed, "changed");
  CHECK(loaded->catalog().size() == changed->catalog().size());
  CHECK_FALSE(loaded->catalog().at(1).available);
  CHECK(loaded->PolicyStateJson() == changed->PolicyStateJson());
  // Both continue from the same pacing state, so they keep agreeing.
  CheckSameRouting(*changed, *loaded);
}

}  // namespace
}  // namespace router
