// DecisionLog: ids are unique, each outcome is taken once, old decisions
// expire after `capacity` newer ones, and the log stays bounded.
#include "internal/decision_log.h"

#include <atomic>
#include <cmath>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "router/live_pipeline.h"
#include "router/synthetic.h"

namespace router {
namespace {

TEST_CASE("a logged decision is taken once, by its id", "[decision_log]") {
  internal::DecisionLog log(4);
  const std::vector<float> v = {1.0f, 2.0f};
  const uint64_t a = log.Record(v, "model-a");
  const uint64_t b = log.Record(v, "model-b");
  CHECK(a != 0);
  CHECK(b > a);
  auto taken = log.Take(b);
  REQUIRE(taken.ok());
  CHECK(taken->model == "model-b");
  CHECK(taken->vector == v);
  CHECK(log.Take(b).status().code() == absl::StatusCode::kNotFound);  // once only
  CHECK(std::string(log.Take(b).status().message()).find("already reported") !=
        std::string::npos);
  CHECK(log.Take(0).status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(log.Take(999).status().message()).find("never issued") !=
        std::string::npos);
  CHECK(log.Take(a).ok());
}

TEST_CASE("old decisions expire and the log stays bounded", "[decision_log]") {
  internal::DecisionLog log(3);
  const std::vector<float> v = {0.5f};
  const uint64_t first = log.Record(v, "m");
  // One decision that is never reported must not pin memory.
  for (int i = 0; i < 1000; ++i) CHECK(log.Take(log.Record(v, "m")).ok());
  CHECK(log.size() <= 3);
  CHECK(log.Take(first).status().code() == absl::StatusCode::kNotFound);
  const uint64_t a = log.Record(v, "m");
  const uint64_t b = log.Record(v, "m");
  const uint64_t c = log.Record(v, "m");
  const uint64_t d = log.Record(v, "m");  // a expires
  CHECK_FALSE(log.Take(a).ok());
  CHECK(log.Take(b).ok());
  CHECK(log.Take(c).ok());
  CHECK(log.Take(d).ok());
  CHECK(log.size() == 0);
}

TEST_CASE("ids stay unique across threads", "[decision_log]") {
  internal::DecisionLog log(100000);
  std::vector<std::vector<uint64_t>> ids(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<float> v = {static_cast<float>(t)};
      for (int i = 0; i < 2000; ++i) ids[t].push_back(log.Record(v, "m"));
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<uint64_t> all;
  for (const auto& list : ids) all.insert(list.begin(), list.end());
  CHECK(all.size() == 8000);
}

TEST_CASE("an offline router's decisions are not logged, feedback is checked",
          "[decision_log][feedback]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 200, .seed = 2});
  PipelineConfig config;
  config.featurizer.dim = 8;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  LivePipeline live(std::move(fitted).value());
  Decision d;
  REQUIRE(live.RouteText("a prompt", &d).ok());
  CHECK(d.id == 0);  // kNN does not learn online
  CHECK(live.Feedback(1, 0.5, 0.001).code() == absl::StatusCode::kNotFound);
  CHECK(live.Feedback(1, std::nan(""), 0.001).code() == absl::StatusCode::kInvalidArgument);
  CHECK(live.Feedback(1, 1.5, 0.001).code() == absl::StatusCode::kInvalidArgument);
  CHECK(live.Feedback(1, 0.5, -1).code() == absl::StatusCode::kInvalidArgument);
  // Feedback with the vector itself is validated by the router.
  std::vector<float> vector(live.Snapshot()->dim(), 0.1f);
  Feedback feedback;
  feedback.vector = vector;
  feedback.model = "tiny";
  feedback.score = 1.0;
  CHECK(live.Observe(feedback).ok());
  feedback.model = "nobody";
  CHECK(live.Observe(feedback).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("feedback by decision id updates the model of that decision, and only it",
          "[decision_log][feedback]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 200, .seed = 2});
  PipelineConfig config;
  config.router = "linucb";
  config.featurizer.dim = 8;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  const std::string bytes = (*fitted)->ToBytes().value();
  LivePipeline live(std::move(fitted).value());
  // The reference: the same pipeline, told the outcomes with Observe.
  LivePipeline reference(Pipeline::FromBytes(bytes).value());
  const std::shared_ptr<const Pipeline> snapshot = live.Snapshot();
  const Catalog& catalog = snapshot->catalog();
  REQUIRE(catalog.size() >= 4);

  // Two decisions, held to two models that are not the catalog's first.
  const std::string prompts[2] = {SyntheticPrompt(0, 1), SyntheticPrompt(3, 2)};
  const std::string models[2] = {catalog.at(2).name, catalog.at(3).name};
  Decision decisions[2];
  std::vector<float> vectors[2];
  for (int i = 0; i < 2; ++i) {
    RequestOverrides only;
    only.allowed_models = {models[i]};
    REQUIRE(live.RouteText(prompts[i], &decisions[i], &only).ok());
    REQUIRE(decisions[i].chosen.model == models[i]);
    REQUIRE(decisions[i].id != 0);
    vectors[i].resize(live.Snapshot()->dim());
    REQUIRE(live.Snapshot()->Embed(prompts[i], absl::MakeSpan(vectors[i])).ok());
  }
  auto estimates = [&](const LivePipeline& pipeline, int i) {
    Estimates e;
    REQUIRE(pipeline.Snapshot()->Estimate(Query{.vector = vectors[i]}, &e).ok());
    return e;
  };

  // Reported in the other order than routed: each id finds its own decision.
  for (int i : {1, 0}) {
    INFO("decision " << i << " (" << models[i] << ")");
    const int chosen = catalog.Find(models[i]).value();
    const Estimates before = estimates(live, i);
    // An outcome against the estimate, so that it visibly moves.
    const double score = before.per_model[chosen].quality > 0.5 ? 0.0 : 1.0;
    REQUIRE(live.Feedback(decisions[i].id, score, 2e-4).ok());
    const Estimates after = estimates(live, i);
    for (int m = 0; m < catalog.size(); ++m) {
      INFO("model " << catalog.at(m).name);
      if (m == chosen) {
        CHECK(after.per_model[m].support == before.per_model[m].support + 1);
        CHECK(after.per_model[m].uncertainty < before.per_model[m].uncertainty);
        CHECK(std::abs(after.per_model[m].quality - score) <
              std::abs(before.per_model[m].quality - score));
      } else {
        CHECK(after.per_model[m].support == before.per_model[m].support);
        CHECK(after.per_model[m].quality == before.per_model[m].quality);
        CHECK(after.per_model[m].uncertainty == before.per_model[m].uncertainty);
      }
    }
    // Exactly the update Observe makes with the decision's vector and model.
    REQUIRE(reference
                .Observe({.vector = vectors[i], .model = models[i], .score = score,
                          .cost_usd = 2e-4})
                .ok());
    CHECK(live.Snapshot()->ToBytes().value() == reference.Snapshot()->ToBytes().value());
  }
}

}  // namespace
}  // namespace router
