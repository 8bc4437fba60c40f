// Every router kind, saved and loaded inside a pipeline, routes bit-identically
// (estimates and decisions), including LinUCB after online updates and a
// pipeline with run-time changes and a paced budget.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "router/cluster_router.h"
#include "router/linucb_router.h"
#include "router/mf_trainer.h"
#include "router/pipeline.h"
#include "router/synthetic.h"
#include "router/budget_pacing_policy.h"

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
  for (const char* kind : {"knn", "cluster", "mf", "linucb"}) {
    INFO("router " << kind);
    auto fitted = FitKind(kind, synthetic);
    auto loaded = SaveAndLoad(*fitted, kind);
    CHECK(loaded->router().kind() == kind);
    CheckSameRouting(*fitted, *loaded);
    // A second save of the loaded pipeline writes the same bytes.
    CHECK(*loaded->ToBytes() == *fitted->ToBytes());
  }
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
