// Run-time changes to a fitted pipeline: removing a model, changing its
// price, changing the policy. Each gives a new pipeline and leaves the old
// one as it was; the changes survive a save and a load.
#include <map>

#include <catch2/catch.hpp>

#include "router/knn_router.h"
#include "router/live_pipeline.h"
#include "router/pipeline.h"
#include "router/synthetic.h"
#include "router/max_utility_policy.h"
#include "router/quality_floor_policy.h"
#include "router/threshold_policy.h"

namespace router {
namespace {

struct Fitted {
  SyntheticData synthetic;
  std::unique_ptr<Pipeline> pipeline;
};

const Fitted& FittedOnce() {
  static const Fitted* fitted = [] {
    auto* f = new Fitted;
    f->synthetic = GenerateSynthetic({.rows = 900, .seed = 21});
    PipelineConfig config;
    config.models = f->synthetic.catalog.profiles();
    config.featurizer.dim = 32;
    config.RouterOptions<KnnOptions>().k = 15;
    auto pipeline = Pipeline::Fit(f->synthetic.dataset, config);
    REQUIRE(pipeline.ok());
    f->pipeline = std::move(pipeline).value();
    return f;
  }();
  return *fitted;
}

// How often each model is chosen over prompts of every topic.
std::map<std::string, int> Picks(const Pipeline& pipeline) {
  std::map<std::string, int> picks;
  for (int i = 0; i < 60; ++i) {
    Decision d;
    REQUIRE(pipeline.RouteText(SyntheticPrompt(i % 6, 7000 + i), &d).ok());
    ++picks[d.chosen.model];
  }
  return picks;
}

TEST_CASE("a removed model is never chosen and no longer estimated", "[changes]") {
  const Fitted& f = FittedOnce();
  const std::map<std::string, int> before = Picks(*f.pipeline);
  // Remove the model chosen most often.
  std::string busiest;
  for (const auto& [model, count] : before) {
    if (busiest.empty() || count > before.at(busiest)) busiest = model;
  }
  auto without = f.pipeline->WithoutModel(busiest);
  REQUIRE(without.ok());
  CHECK((*without)->catalog().size() == f.pipeline->catalog().size() - 1);
  CHECK_FALSE((*without)->catalog().Find(busiest).ok());
  CHECK(Picks(**without).count(busiest) == 0);
  Estimates e;
  REQUIRE((*without)->EstimateText("a prompt", &e).ok());
  CHECK(e.per_model.size() == static_cast<size_t>((*without)->catalog().size()));
  // The original is unchanged.
  CHECK(Picks(*f.pipeline) == before);

  // Estimates of the remaining models are the router's own, re-indexed.
  Estimates all;
  REQUIRE(f.pipeline->EstimateText("a prompt", &all).ok());
  for (int m = 0; m < (*without)->catalog().size(); ++m) {
    const int original = f.pipeline->catalog().Find((*without)->catalog().at(m).name).value();
    CHECK(e.per_model[m].quality == all.per_model[original].quality);
  }

  // One index space: the router itself no longer has the model.
  CHECK((*without)->router().catalog().size() == (*without)->catalog().size());
  CHECK_FALSE((*without)->router().catalog().Find(busiest).ok());
  CHECK(f.pipeline->router().catalog().Find(busiest).ok());  // the original's router keeps it

  CHECK((*without)->WithoutModel(busiest).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.pipeline->WithoutModel("no-such-model").status().code() ==
        absl::StatusCode::kNotFound);
  // Removing every model fails at the last one.
  std::unique_ptr<Pipeline> shrinking = f.pipeline->WithoutModel(busiest).value();
  while (shrinking->catalog().size() > 1) {
    shrinking = shrinking->WithoutModel(shrinking->catalog().at(0).name).value();
  }
  CHECK(shrinking->WithoutModel(shrinking->catalog().at(0).name).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a price change scales cost estimates and moves decisions", "[changes]") {
  const Fitted& f = FittedOnce();
  const Catalog& catalog = f.pipeline->catalog();
  const int generalist = catalog.Find("large-generalist").value();
  Profile cheaper = catalog.at(generalist);
  cheaper.input_usd_per_mtok /= 100;
  cheaper.output_usd_per_mtok /= 100;
  auto changed = f.pipeline->WithProfile(cheaper);
  REQUIRE(changed.ok());
  Estimates before, after;
  const std::string prompt = SyntheticPrompt(0, 99);
  REQUIRE(f.pipeline->EstimateText(prompt, &before).ok());
  REQUIRE((*changed)->EstimateText(prompt, &after).ok());
  CHECK(after.per_model[generalist].expected_cost_usd ==
        Approx(before.per_model[generalist].expected_cost_usd / 100).epsilon(1e-9));
  CHECK(after.per_model[generalist].quality == before.per_model[generalist].quality);
  CHECK((*changed)->catalog().at(generalist).input_usd_per_mtok ==
        cheaper.input_usd_per_mtok);

  // At a lambda where the generalist's price kept it out, a 100x cut makes
  // it the choice wherever it is the best model.
  PolicyConfig policy;
  policy.Set(MaxUtilityOptions{.lambda = 2000});
  auto priced = f.pipeline->WithPolicy(policy).value();
  auto priced_cheap = (*changed)->WithPolicy(policy).value();
  CHECK(Picks(*priced_cheap)["large-generalist"] > Picks(*priced)["large-generalist"]);

  Profile bad = cheaper;
  bad.input_usd_per_mtok = -1;
  CHECK(f.pipeline->WithProfile(bad).status().code() == absl::StatusCode::kInvalidArgument);
  Profile unknown;
  unknown.name = "unknown";
  CHECK(f.pipeline->WithProfile(unknown).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("run-time changes survive a save and a load", "[changes][file]") {
  const Fitted& f = FittedOnce();
  Profile cheaper = f.pipeline->catalog().at(0);
  cheaper.input_usd_per_mtok *= 3;
  auto changed = f.pipeline->WithoutModel("tiny").value()->WithProfile(cheaper);
  REQUIRE(changed.ok());
  auto loaded = Pipeline::FromBytes(*(*changed)->ToBytes());
  REQUIRE(loaded.ok());
  REQUIRE((*loaded)->catalog().size() == (*changed)->catalog().size());
  CHECK_FALSE((*loaded)->catalog().Find("tiny").ok());
  CHECK((*loaded)->catalog().at(0).input_usd_per_mtok == cheaper.input_usd_per_mtok);
  CHECK(Picks(**loaded) == Picks(**changed));
}

TEST_CASE("removed models named in a config are removed from the fitted router",
          "[changes]") {
  const Fitted& f = FittedOnce();
  PipelineConfig config = f.pipeline->config();
  config.removed_models = {"tiny"};
  // Constraints may keep naming a removed model.
  config.policy.constraints.denied_models = {"tiny"};
  auto fitted = Pipeline::Fit(f.synthetic.dataset, config);
  REQUIRE(fitted.ok());
  CHECK_FALSE((*fitted)->router().catalog().Find("tiny").ok());
  CHECK((*fitted)->catalog().size() == f.pipeline->catalog().size() - 1);
  auto loaded = Pipeline::FromBytes(*(*fitted)->ToBytes());
  REQUIRE(loaded.ok());
  CHECK((*loaded)->catalog().size() == (*fitted)->catalog().size());
  CHECK(Picks(**loaded) == Picks(**fitted));
  config.removed_models = {"never-there"};
  CHECK(Pipeline::Fit(f.synthetic.dataset, config).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("a threshold policy's pair cannot be removed from under it", "[changes]") {
  const Fitted& f = FittedOnce();
  PolicyConfig pair;
  pair.Set(ThresholdOptions{.strong = f.pipeline->catalog().at(0).name,
                            .weak = f.pipeline->catalog().at(1).name});
  auto paired = f.pipeline->WithPolicy(pair);
  REQUIRE(paired.ok());
  auto removed = (*paired)->WithoutModel(f.pipeline->catalog().at(0).name);
  CHECK(removed.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(removed.status().message()), Catch::Contains("change the policy"));
  CHECK((*paired)->WithoutModel(f.pipeline->catalog().at(2).name).ok());
}

TEST_CASE("the kNN router cannot onboard a model, and says so", "[changes]") {
  const Fitted& f = FittedOnce();
  Profile newcomer;
  newcomer.name = "newcomer";
  CHECK(f.pipeline->WithModel(newcomer, f.synthetic.dataset).status().code() ==
        absl::StatusCode::kUnimplemented);
  Profile existing = f.pipeline->catalog().at(0);
  CHECK(f.pipeline->WithModel(existing, f.synthetic.dataset).status().code() ==
        absl::StatusCode::kAlreadyExists);
}

TEST_CASE("LivePipeline applies changes to what it serves", "[changes]") {
  const Fitted& f = FittedOnce();
  LivePipeline live(f.pipeline->WithPolicy(f.pipeline->config().policy).value());
  REQUIRE(live.RemoveModel("mid-writer").ok());
  CHECK(Picks(*live.Snapshot()).count("mid-writer") == 0);
  CHECK(live.RemoveModel("mid-writer").code() == absl::StatusCode::kNotFound);
  CHECK(live.generation() == 1);  // the failed change changed nothing
  PolicyConfig floor;
  floor.Set(QualityFloorOptions{.tau = 0.5});
  REQUIRE(live.SetPolicy(floor).ok());
  CHECK(live.Snapshot()->policy().name() == "quality_floor");
  floor.Set(QualityFloorOptions{.tau = std::nan("")});
  CHECK_FALSE(live.SetPolicy(floor).ok());
  CHECK(live.generation() == 2);
}

}  // namespace
}  // namespace router
