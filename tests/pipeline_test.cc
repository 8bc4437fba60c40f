// End to end on generated data where the right answer is known: the built-in
// featurizer, the kNN router and the policies must find the best model of
// each topic, and trade cost for quality as lambda moves.
#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/mf_options.h"
#include "router/pipeline.h"

#include <map>

#include <catch2/catch.hpp>

#include "router/evaluation.h"
#include "router/max_utility_policy.h"
#include "router/synthetic.h"

namespace router {
namespace {

struct Fitted {
  SyntheticData synthetic;
  Dataset train, test;
  std::unique_ptr<Pipeline> pipeline;
};

const Fitted& FittedOnce() {
  static const Fitted* fitted = [] {
    auto* f = new Fitted;
    f->synthetic = GenerateSynthetic({.rows = 2400, .seed = 11});
    f->train = f->synthetic.dataset.Subset(f->synthetic.dataset.RowsOf(Split::kTrain));
    f->test = f->synthetic.dataset.Subset(f->synthetic.dataset.RowsOf(Split::kTest));
    PipelineConfig config;
    config.models = f->synthetic.catalog.profiles();
    config.RouterOptions<KnnOptions>().k = 25;
    auto pipeline = Pipeline::Fit(f->train, config);
    REQUIRE(pipeline.ok());
    f->pipeline = std::move(pipeline).value();
    return f;
  }();
  return *fitted;
}

TEST_CASE("the router finds the best model of every topic", "[pipeline][synthetic]") {
  const Fitted& f = FittedOnce();
  REQUIRE(f.pipeline->embedder() != nullptr);
  for (size_t topic = 0; topic < f.synthetic.topics.size(); ++topic) {
    std::map<std::string, int> picks;
    const int prompts = 40;
    for (int i = 0; i < prompts; ++i) {
      Decision d;
      REQUIRE(f.pipeline->RouteText(SyntheticPrompt(topic, 1000 + i), &d).ok());
      ++picks[d.chosen.model];
    }
    INFO("topic " << f.synthetic.topics[topic]);
    CHECK(picks[f.synthetic.best_model_of_topic[topic]] >= prompts * 0.8);
  }
}

TEST_CASE("a high lambda picks the cheap specialist where it is good enough",
          "[pipeline][synthetic]") {
  const Fitted& f = FittedOnce();
  // At lambda = 1e4 ($0.0001 is worth 1 quality point) the expensive
  // generalist's extra ~0.0033 USD is worth 33 points: never chosen.
  auto policy = MaxUtilityPolicy::Create(1e4).value();
  Estimates est;
  Decision d;
  int generalist = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string prompt = SyntheticPrompt(i % 6, 5000 + i);
    REQUIRE(f.pipeline->EstimateText(prompt, &est).ok());
    REQUIRE(policy->Decide(est, f.pipeline->catalog(), Query{.text = prompt}, &d).ok());
    generalist += d.chosen.model == "large-generalist";
  }
  CHECK(generalist == 0);
}

TEST_CASE("realised cost does not increase as lambda grows", "[pipeline][synthetic]") {
  const Fitted& f = FittedOnce();
  std::vector<Estimates> est(f.test.rows());
  for (int64_t r = 0; r < f.test.rows(); ++r) {
    REQUIRE(f.pipeline->EstimateText(f.test.prompts[r], &est[r]).ok());
  }
  double previous_cost = INFINITY;
  std::vector<OperatingPoint> curve;
  for (double lambda : LambdaGrid(f.test, 25)) {
    auto policy = MaxUtilityPolicy::Create(lambda).value();
    OperatingPoint p = Replay(f.test, f.pipeline->catalog(), est, *policy).value();
    CHECK(p.cost_usd <= previous_cost + 1e-15);
    previous_cost = p.cost_usd;
    curve.push_back(p);
  }
  // The curve reaches the best single model's quality for less money.
  auto singles = SingleModelPoints(f.test).value();
  const ModelPoint* best = &singles[0];
  for (const ModelPoint& m : singles) {
    if (m.point.quality > best->point.quality) best = &m;
  }
  CHECK(best->model == "large-generalist");
  bool cheaper_and_as_good = false;
  for (const OperatingPoint& p : curve) {
    cheaper_and_as_good |= p.quality >= best->point.quality && p.cost_usd < best->point.cost_usd;
  }
  CHECK(cheaper_and_as_good);
  // And its AIQ beats the zero router (the hull of the single models).
  std::vector<OperatingPoint> zero;
  double lo = INFINITY, hi = 0;
  for (const ModelPoint& m : singles) {
    zero.push_back(m.point);
    lo = std::min(lo, m.point.cost_usd);
    hi = std::max(hi, m.point.cost_usd);
  }
  std::vector<OperatingPoint> with_router = zero;
  with_router.insert(with_router.end(), curve.begin(), curve.end());
  CHECK(Aiq(with_router, lo, hi) > Aiq(zero, lo, hi) + 0.05);
}

TEST_CASE("routing is deterministic and the trace explains it", "[pipeline]") {
  const Fitted& f = FittedOnce();
  Decision a, b;
  REQUIRE(f.pipeline->RouteText("Fix the segfault in my python function", &a).ok());
  REQUIRE(f.pipeline->RouteText("Fix the segfault in my python function", &b).ok());
  CHECK(a.chosen.model == b.chosen.model);
  CHECK(a.chosen.predicted_quality == b.chosen.predicted_quality);
  CHECK(a.trace.router_kind == "knn");
  CHECK(a.trace.evidence.size() == 25);
  CHECK(a.ranked.size() == 5);
  CHECK(a.Explain().find("knn") != std::string::npos);
}

TEST_CASE("a pipeline over caller vectors routes vectors, not text", "[pipeline]") {
  Dataset d;
  d.model_names = {"a", "b"};
  d.dim = 2;
  for (int r = 0; r < 20; ++r) {
    d.ids.push_back(std::to_string(r));
    d.prompts.push_back("x");
    d.sources.push_back("");
    d.splits.push_back(Split::kTrain);
    const bool left = r % 2 == 0;
    d.vectors.insert(d.vectors.end(), {left ? 1.0f : 0.0f, left ? 0.0f : 1.0f});
    d.scores.insert(d.scores.end(), {left ? 1.0 : 0.0, left ? 0.0 : 1.0});
    d.costs.insert(d.costs.end(), {0.001, 0.001});
  }
  PipelineConfig config;
  config.RouterOptions<KnnOptions>().k = 3;
  auto pipeline = Pipeline::Fit(d, config).value();
  CHECK(pipeline->embedder() == nullptr);
  Decision decision;
  std::vector<float> left = {0.9f, 0.1f}, right = {0.1f, 0.9f};
  REQUIRE(pipeline->Route(Query{.vector = left}, &decision).ok());
  CHECK(decision.chosen.model == "a");
  REQUIRE(pipeline->Route(Query{.vector = right}, &decision).ok());
  CHECK(decision.chosen.model == "b");
  CHECK(pipeline->RouteText("hello", &decision).code() == absl::StatusCode::kFailedPrecondition);
  std::vector<float> wrong = {1.0f, 0.0f, 0.0f};
  CHECK(pipeline->Route(Query{.vector = wrong}, &decision).code() ==
        absl::StatusCode::kInvalidArgument);

  config.embedder = "none";
  d.vectors.clear();
  d.dim = 0;
  CHECK_FALSE(Pipeline::Fit(d, config).ok());
}

TEST_CASE("config parsing accepts every field and names bad ones", "[config]") {
  auto config = ParsePipelineConfig(R"({
      "router": "knn", "embedder": "builtin",
      "knn": {"k": 12, "weighting": "uniform", "hnsw_threshold": 1000},
      "featurizer": {"dim": 64, "word_buckets": 1024, "char_buckets": 2048, "seed": 3},
      "policy": {"kind": "quality_floor", "tau": 0.6,
                 "constraints": {"denied_models": ["x"], "max_latency_ms": 2000}},
      "models": [{"name": "m", "input_usd_per_mtok": 0.5, "tags": ["t"]}]})");
  REQUIRE(config.ok());
  CHECK(config->RouterOptions<KnnOptions>().k == 12);
  CHECK(config->RouterOptions<KnnOptions>().weighting == KnnOptions::Weighting::kUniform);
  CHECK(config->featurizer.dim == 64);
  CHECK(config->policy.kind == "quality_floor");
  CHECK(config->policy.constraints.denied_models == std::vector<std::string>{"x"});
  CHECK(config->models[0].tags == std::vector<std::string>{"t"});
  CHECK(ParsePipelineConfig("").ok());
  CHECK(ParsePipelineConfig("{}").ok());
  auto routers = ParsePipelineConfig(R"({"router": "mf",
      "cluster": {"num_clusters": 12, "temperature": 0.2},
      "mf": {"hidden_dim": 16, "loss": "pairwise", "epochs": 3},
      "linucb": {"context_dim": 8, "alpha": 0.5, "warm_start": false},
      "removed_models": ["gone"]})");
  REQUIRE(routers.ok());
  CHECK(routers->router == "mf");
  CHECK(routers->RouterOptions<ClusterOptions>().num_clusters == 12);
  CHECK(routers->RouterOptions<ClusterOptions>().temperature == 0.2);
  CHECK(routers->RouterOptions<MfOptions>().hidden_dim == 16);
  CHECK(routers->RouterOptions<MfOptions>().loss == MfOptions::Loss::kPairwise);
  CHECK(routers->RouterOptions<LinUcbOptions>().context_dim == 8);
  CHECK_FALSE(routers->RouterOptions<LinUcbOptions>().warm_start);
  CHECK(routers->removed_models == std::vector<std::string>{"gone"});
  // Writing a config and reading it back gives the same config.
  auto again = ParsePipelineConfig(PipelineConfigToJson(*routers));
  REQUIRE(again.ok());
  CHECK(PipelineConfigToJson(*again) == PipelineConfigToJson(*routers));

  auto message = [](std::string_view json) {
    auto parsed = ParsePipelineConfig(json);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(parsed.status().message());
  };
  CHECK(message(R"({"knn": {"kk": 3}})").find("knn.kk") != std::string::npos);
  CHECK(message(R"({"polcy": {}})").find("polcy") != std::string::npos);
  CHECK(message(R"({"knn": {"k": "ten"}})").find("knn.k") != std::string::npos);
  CHECK(message(R"({"knn": {"k": 0}})").find("knn.k") != std::string::npos);
  CHECK(message(R"({"knn": {"k": 99999999999}})").find("knn.k") != std::string::npos);
  CHECK(message(R"({"policy": {"lambda": -1}})").find("lambda") != std::string::npos);
  CHECK(message(R"({"policy": {"kind": "magic"}})").find("magic") != std::string::npos);
  CHECK(message(R"({"router": "forest"})").find("router") != std::string::npos);
  CHECK(message(R"({"cluster": {"temprature": 1}})").find("cluster.temprature") !=
        std::string::npos);
  CHECK(message(R"({"mf": {"loss": "hinge"}})").find("mf.loss") != std::string::npos);
  CHECK(message(R"({"mf": {"hidden_dim": 0}})").find("hidden_dim") != std::string::npos);
  CHECK(message(R"({"linucb": {"alpha": -1}})").find("alpha") != std::string::npos);
  CHECK(message(R"({"linucb": {"warm_start": 1}})").find("linucb.warm_start") !=
        std::string::npos);
  CHECK(message(R"({"models": [{"name": "m", "input_usd_per_mtok": -2}]})")
            .find("models[0].input_usd_per_mtok must be >= 0, got -2") != std::string::npos);
  CHECK(message(R"({"knn": )").find("JSON") != std::string::npos);
  CHECK(message("[1, 2]").find("object") != std::string::npos);
}

TEST_CASE("fitting rejects data the config does not match", "[pipeline][errors]") {
  SyntheticData s = GenerateSynthetic({.rows = 60});
  PipelineConfig config;
  config.models.push_back({.name = "not-a-column"});
  CHECK_FALSE(Pipeline::Fit(s.dataset, config).ok());
  CHECK_FALSE(Pipeline::Fit(Dataset{}, PipelineConfig{}).ok());
}

}  // namespace
}  // namespace router
