#include "router/stacked_router.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.h"
#include "embed_all.h"
#include "skip.h"

#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/pipeline_config.h"
#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace router {
namespace {

using testing::EmbedAll;

// Generated data with a known best model per topic, embedded.
struct Topics {
  SyntheticData train;
  TextFeaturizer featurizer{TextFeaturizerOptions{.dim = 32}};
};

Topics& SharedTopics() {
  static Topics* topics = [] {
    auto* made = new Topics{GenerateSynthetic({.rows = 1500, .seed = 31})};
    REQUIRE(made->featurizer.Fit(made->train.dataset.prompts).ok());
    EmbedAll(made->featurizer, &made->train.dataset);
    return made;
  }();
  return *topics;
}

StackedRouter::BaseFactory KnnWithK(int k) {
  return [k](std::string_view kind) -> absl::StatusOr<std::unique_ptr<Router>> {
    if (kind == "knn") return std::make_unique<KnnRouter>(KnnOptions{.k = k});
    if (kind == "cluster") return std::make_unique<ClusterRouter>(ClusterOptions{.num_clusters = 1});
    PipelineConfig config;
    config.router = std::string(kind);
    return MakeRouter(config);
  };
}

double Objective(absl::Span<const double> x, absl::Span<const double> y, int bases,
                 absl::Span<const double> w) {
  double sum = 0;
  for (size_t r = 0; r < y.size(); ++r) {
    if (std::isnan(y[r])) continue;
    double p = 0;
    for (int b = 0; b < bases; ++b) p += w[b] * x[r * bases + b];
    sum += (y[r] - p) * (y[r] - p);
  }
  return sum;
}

TEST_CASE("ConvexWeights finds the best convex combination", "[stacked]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> unit;
  const int rows = 400, bases = 3;
  std::vector<double> x(rows * bases), y(rows);
  for (double& v : x) v = unit(rng);

  SECTION("scores that are a convex mixture give back its weights") {
    for (int r = 0; r < rows; ++r) y[r] = 0.7 * x[r * 3] + 0.3 * x[r * 3 + 1];
    y[7] = NAN;  // skipped, not poison
    const std::vector<double> w = ConvexWeights(x, y, bases).value();
    CHECK(w[0] == Approx(0.7).margin(1e-6));
    CHECK(w[1] == Approx(0.3).margin(1e-6));
    CHECK(w[2] == Approx(0.0).margin(1e-6));
  }
  SECTION("one base exactly right takes all the weight") {
    for (int r = 0; r < rows; ++r) y[r] = x[r * 3 + 2];
    const std::vector<double> w = ConvexWeights(x, y, bases).value();
    CHECK(w[2] == Approx(1.0).margin(1e-6));
  }
  SECTION("an unconstrained optimum outside the simplex is projected, and no grid point beats "
          "it") {
    for (int r = 0; r < rows; ++r) y[r] = 1.4 * x[r * 3] - 0.4 * x[r * 3 + 1] + 0.05 * unit(rng);
    const std::vector<double> w = ConvexWeights(x, y, bases).value();
    double sum = 0;
    for (double v : w) {
      CHECK(v >= 0.0);
      sum += v;
    }
    CHECK(sum == Approx(1.0).margin(1e-12));
    const double best = Objective(x, y, bases, w);
    for (int a = 0; a <= 50; ++a) {
      for (int b = 0; a + b <= 50; ++b) {
        const std::vector<double> grid = {a / 50.0, b / 50.0, (50 - a - b) / 50.0};
        CHECK(best <= Objective(x, y, bases, grid) + 1e-9);
      }
    }
  }
  SECTION("bad input is refused") {
    CHECK(ConvexWeights(x, y, 0).status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(ConvexWeights(absl::MakeConstSpan(x).subspan(1), y, bases).status().code() ==
          absl::StatusCode::kInvalidArgument);
    std::vector<double> bad = x;
    bad[5] = NAN;  // row 1
    CHECK(ConvexWeights(bad, y, bases).status().code() == absl::StatusCode::kInvalidArgument);
    std::vector<double> infinite = y;
    infinite[0] = INFINITY;
    CHECK(ConvexWeights(x, infinite, bases).status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("no scored row gives equal weights") {
    std::fill(y.begin(), y.end(), NAN);
    const std::vector<double> w = ConvexWeights(x, y, bases).value();
    for (double v : w) CHECK(v == Approx(1.0 / 3));
  }
}

TEST_CASE("the stacked router finds each topic's best model and combines its bases exactly",
          "[stacked]") {
  Topics& topics = SharedTopics();
  const SyntheticData& train = topics.train;
  StackedRouter router(StackedOptions{.bases = {"knn", "cluster"}, .folds = 4});
  REQUIRE(router.Fit(train.dataset, train.catalog).ok());
  REQUIRE(router.num_bases() == 2);
  REQUIRE(router.base(0).kind() == "knn");
  REQUIRE(router.base(1).kind() == "cluster");

  const int models = train.catalog.size();
  for (int m = 0; m < models; ++m) {
    CHECK(router.weight(m, 0) >= 0.0);
    CHECK(router.weight(m, 1) >= 0.0);
    CHECK(router.weight(m, 0) + router.weight(m, 1) == Approx(1.0).margin(1e-12));
  }

  int near_best = 0, total = 0;
  std::vector<float> v(topics.featurizer.dim());
  Estimates stacked, knn, cluster;
  for (int t = 0; t < static_cast<int>(train.topics.size()); ++t) {
    for (int i = 0; i < 15; ++i) {
      const std::string prompt = SyntheticPrompt(t, 5000 + 100 * t + i);
      REQUIRE(topics.featurizer.Embed(prompt, absl::MakeSpan(v)).ok());
      const Query query{.vector = v, .text = prompt};
      REQUIRE(router.Estimate(query, &stacked).ok());
      REQUIRE(router.base(0).Estimate(query, &knn).ok());
      REQUIRE(router.base(1).Estimate(query, &cluster).ok());
      int chosen = 0;
      for (int m = 0; m < models; ++m) {
        const double w0 = router.weight(m, 0), w1 = router.weight(m, 1);
        const ModelEstimate& a = knn.per_model[m];
        const ModelEstimate& b = cluster.per_model[m];
        const double q = w0 * a.quality + w1 * b.quality;
        CHECK(stacked.per_model[m].quality == Approx(q).margin(1e-12));
        CHECK(stacked.per_model[m].expected_cost_usd ==
              Approx(w0 * a.expected_cost_usd + w1 * b.expected_cost_usd).margin(1e-15));
        const double spread = w0 * (a.uncertainty * a.uncertainty + (a.quality - q) * (a.quality - q)) +
                              w1 * (b.uncertainty * b.uncertainty + (b.quality - q) * (b.quality - q));
        CHECK(stacked.per_model[m].uncertainty == Approx(std::sqrt(spread)).margin(1e-12));
        if (stacked.per_model[m].quality > stacked.per_model[chosen].quality) chosen = m;
      }
      // The evidence is the lead base's.
      const Estimates& lead = router.Describe()[2].second == "knn" ? knn : cluster;
      REQUIRE(stacked.evidence.size() == lead.evidence.size());
      if (!lead.evidence.empty()) CHECK(stacked.evidence[0].id == lead.evidence[0].id);

      const double best = train.expected_score[t * models +
                                               train.catalog.Find(train.best_model_of_topic[t]).value()];
      near_best += train.expected_score[t * models + chosen] >= best - 0.05;
      ++total;
    }
  }
  CHECK(near_best >= 0.95 * total);
}

TEST_CASE("the weights come from out-of-fold predictions, folded by query vector", "[stacked]") {
  // Scores are coin flips unrelated to the vectors, and every row appears
  // twice. A 1-nearest-neighbour base then predicts a row's own score when
  // asked in sample, or when the row's twin sits in another fold: a
  // combiner fitted either way would give it all the weight. Out of fold,
  // by vector, it predicts another row's coin and loses to the mean (a
  // one-cluster router).
  std::mt19937 rng(9);
  std::normal_distribution<float> gauss;
  std::bernoulli_distribution coin(0.5);
  Dataset data;
  data.model_names = {"a", "b"};
  data.dim = 8;
  Catalog catalog;
  REQUIRE(catalog.Add(Profile{.name = "a"}).ok());
  REQUIRE(catalog.Add(Profile{.name = "b"}).ok());
  for (int r = 0; r < 300; ++r) {
    std::vector<float> v(8);
    for (float& x : v) x = gauss(rng);
    const double sa = coin(rng), sb = coin(rng);
    for (int twin = 0; twin < 2; ++twin) {
      data.ids.push_back("r" + std::to_string(r) + "-" + std::to_string(twin));
      data.prompts.push_back("p");
      data.sources.push_back("s");
      data.splits.push_back(Split::kTrain);
      data.vectors.insert(data.vectors.end(), v.begin(), v.end());
      data.scores.insert(data.scores.end(), {sa, sb});
      data.costs.insert(data.costs.end(), {1e-4, 1e-3});
    }
  }
  StackedRouter router(StackedOptions{.bases = {"knn", "cluster"}, .folds = 5}, KnnWithK(1));
  REQUIRE(router.Fit(data, catalog).ok());
  for (int m = 0; m < 2; ++m) {
    INFO("model " << m);
    CHECK(router.weight(m, 0) < 0.2);
  }
}

TEST_CASE("a batch estimates as single queries do", "[stacked]") {
  Topics& topics = SharedTopics();
  StackedRouter router(StackedOptions{.bases = {"knn", "cluster"}, .folds = 3});
  REQUIRE(router.Fit(topics.train.dataset, topics.train.catalog).ok());
  const int count = 12, dim = topics.featurizer.dim();
  std::vector<float> vectors(count * dim);
  std::vector<Query> queries;
  for (int i = 0; i < count; ++i) {
    auto row = absl::MakeSpan(vectors.data() + i * dim, dim);
    REQUIRE(topics.featurizer.Embed(SyntheticPrompt(i % 6, 900 + i), row).ok());
    queries.push_back(Query{.vector = row});
  }
  std::vector<Estimates> batch(count);
  REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
  for (int i = 0; i < count; ++i) {
    Estimates single;
    REQUIRE(router.Estimate(queries[i], &single).ok());
    REQUIRE(single.per_model.size() == batch[i].per_model.size());
    for (size_t m = 0; m < single.per_model.size(); ++m) {
      CHECK(batch[i].per_model[m].quality == Approx(single.per_model[m].quality).margin(1e-9));
      CHECK(batch[i].per_model[m].expected_cost_usd ==
            Approx(single.per_model[m].expected_cost_usd).margin(1e-12));
      CHECK(batch[i].per_model[m].support == single.per_model[m].support);
    }
    CHECK(batch[i].evidence.size() == single.evidence.size());
  }
  std::vector<Estimates> too_few(count - 1);
  CHECK(router.EstimateBatch(queries, absl::MakeSpan(too_few)).code() ==
        absl::StatusCode::kInvalidArgument);
  // A query of the wrong dimension, or with a NaN, is refused.
  Estimates out;
  std::vector<float> short_vector(dim - 1, 0.5f), with_nan(dim, 0.5f);
  with_nan[3] = NAN;
  CHECK(router.Estimate(Query{.vector = short_vector}, &out).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Estimate(Query{.vector = with_nan}, &out).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("bad options and data are refused and change nothing", "[stacked]") {
  Topics& topics = SharedTopics();
  const SyntheticData& train = topics.train;
  const auto refused = [&](StackedOptions options, const std::string& words) {
    StackedRouter router(options);
    const absl::Status status = router.Fit(train.dataset, train.catalog);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()), Catch::Contains(words));
    Estimates out;
    std::vector<float> v(train.dataset.dim, 0.5f);
    CHECK(router.Estimate(Query{.vector = v}, &out).code() ==
          absl::StatusCode::kFailedPrecondition);
  };
  refused({.bases = {}}, "at least one");
  refused({.bases = {"knn", "stacked"}}, "stacked");
  refused({.bases = {"knn", "knn"}}, "twice");
  refused({.bases = {"knn", "nope"}}, "nope");
  refused({.bases = {"knn"}, .folds = 1}, "folds");

  Dataset few = train.dataset.Subset(std::vector<int64_t>{0, 1, 2});
  StackedRouter router(StackedOptions{.bases = {"knn"}, .folds = 4});
  const absl::Status status = router.Fit(few, train.catalog);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("fewer than folds"));
}

TEST_CASE("save and load keep every estimate, and a damaged state changes nothing",
          "[stacked][state]") {
  Topics& topics = SharedTopics();
  const SyntheticData& train = topics.train;
  StackedRouter router(StackedOptions{.bases = {"knn", "cluster"}, .folds = 3});
  REQUIRE(router.Fit(train.dataset, train.catalog).ok());
  std::string state;
  REQUIRE(router.SaveState(&state).ok());

  std::vector<std::vector<float>> queries;
  for (int t = 0; t < 4; ++t) {
    std::vector<float> v(topics.featurizer.dim());
    REQUIRE(topics.featurizer.Embed(SyntheticPrompt(t, 77 + t), absl::MakeSpan(v)).ok());
    queries.push_back(v);
  }
  const auto same_estimates = [&](const Router& a, const Router& b) {
    for (const auto& v : queries) {
      Estimates x, y;
      REQUIRE(a.Estimate(Query{.vector = v}, &x).ok());
      REQUIRE(b.Estimate(Query{.vector = v}, &y).ok());
      REQUIRE(x.per_model.size() == y.per_model.size());
      for (size_t m = 0; m < x.per_model.size(); ++m) {
        CHECK(x.per_model[m].quality == y.per_model[m].quality);
        CHECK(x.per_model[m].uncertainty == y.per_model[m].uncertainty);
        CHECK(x.per_model[m].expected_cost_usd == y.per_model[m].expected_cost_usd);
      }
    }
  };

  StackedRouter loaded;  // default options: the state's replace them
  REQUIRE(loaded.LoadState(state).ok());
  CHECK(loaded.options().bases == std::vector<std::string>{"knn", "cluster"});
  CHECK(loaded.options().folds == 3);
  CHECK(loaded.Describe() == router.Describe());
  same_estimates(router, loaded);

  SECTION("truncated anywhere") {
    for (size_t cut = 0; cut < state.size(); cut += 1 + state.size() / 60) {
      INFO("cut at " << cut);
      CHECK(!loaded.LoadState(std::string_view(state).substr(0, cut)).ok());
    }
    same_estimates(router, loaded);
  }
  SECTION("weights that are not a convex combination") {
    const double first = router.weight(0, 0);
    const size_t at = state.find(std::string(reinterpret_cast<const char*>(&first), 8));
    REQUIRE(at != std::string::npos);
    for (double bad : {std::nan(""), 1.5, -0.25}) {
      std::string damaged = state;
      std::memcpy(damaged.data() + at, &bad, 8);
      const absl::Status status = loaded.LoadState(damaged);
      CHECK(status.code() == absl::StatusCode::kDataLoss);
      CHECK_THAT(std::string(status.message()), Catch::Contains("weights"));
    }
    same_estimates(router, loaded);
  }
  SECTION("a base kind the host cannot make") {
    StackedRouter no_cluster(StackedOptions{}, [](std::string_view kind)
                                 -> absl::StatusOr<std::unique_ptr<Router>> {
      if (kind == "knn") return std::make_unique<KnnRouter>();
      return absl::InvalidArgumentError("no such kind here");
    });
    const absl::Status status = no_cluster.LoadState(state);
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(status.message()), Catch::Contains("no such kind here"));
    CHECK(no_cluster.num_bases() == 0);
  }
}

TEST_CASE("onboarding, removal, clones and feedback reach every base", "[stacked][onboard]") {
  Topics& topics = SharedTopics();
  const SyntheticData& train = topics.train;
  Catalog without;
  Profile dropped;
  for (const Profile& p : train.catalog.profiles()) {
    if (p.name == "small-math") {
      dropped = p;
    } else {
      REQUIRE(without.Add(p).ok());
    }
  }
  StackedRouter router(StackedOptions{.bases = {"knn", "cluster", "linucb"}, .folds = 3});
  REQUIRE(router.Fit(train.dataset, without).ok());
  CHECK(router.learns_online());
  const int fitted = without.size();
  std::vector<double> weights_before;
  for (int m = 0; m < fitted; ++m) {
    for (int b = 0; b < 3; ++b) weights_before.push_back(router.weight(m, b));
  }

  auto copy = router.Clone();
  REQUIRE(copy.ok());

  const absl::Status onboarded = router.OnboardModel(dropped, train.dataset);
  INFO(onboarded.message());
  REQUIRE(onboarded.ok());
  REQUIRE(router.catalog().size() == fitted + 1);
  // kNN cannot onboard: it stays without the model, with weight 0 in it; the
  // others take the fitted models' mean weights, renormalised over them.
  CHECK(router.base(0).catalog().size() == fitted);
  CHECK(router.weight(fitted, 0) == 0.0);
  double mean[3] = {0, 0, 0};
  for (int b = 1; b < 3; ++b) {
    CHECK(router.base(b).catalog().size() == fitted + 1);
    for (int m = 0; m < fitted; ++m) mean[b] += weights_before[m * 3 + b] / fitted;
  }
  for (int b = 1; b < 3; ++b) {
    CHECK(router.weight(fitted, b) == Approx(mean[b] / (mean[1] + mean[2])).margin(1e-12));
  }
  // Its estimate mixes the bases that have it.
  {
    std::vector<float> v(topics.featurizer.dim());
    REQUIRE(topics.featurizer.Embed(SyntheticPrompt(1, 11), absl::MakeSpan(v)).ok());
    Estimates all, cluster, linucb;
    REQUIRE(router.Estimate(Query{.vector = v}, &all).ok());
    REQUIRE(router.base(1).Estimate(Query{.vector = v}, &cluster).ok());
    REQUIRE(router.base(2).Estimate(Query{.vector = v}, &linucb).ok());
    CHECK(all.per_model[fitted].quality ==
          Approx(router.weight(fitted, 1) * cluster.per_model[fitted].quality +
                 router.weight(fitted, 2) * linucb.per_model[fitted].quality)
              .margin(1e-12));
    // Feedback on it reaches the bases that have it, and is not refused.
    REQUIRE(router.Observe({.vector = v, .model = dropped.name, .score = 1}).ok());
  }
  // A state with a base that lacks a model saves and loads.
  {
    std::string state;
    REQUIRE(router.SaveState(&state).ok());
    StackedRouter loaded;
    REQUIRE(loaded.LoadState(state).ok());
    CHECK(loaded.Describe() == router.Describe());
    CHECK(loaded.weight(fitted, 0) == 0.0);
  }
  // With no base able to onboard, nothing changes.
  StackedRouter knn_only(StackedOptions{.bases = {"knn"}, .folds = 2});
  REQUIRE(knn_only.Fit(train.dataset, without).ok());
  CHECK(knn_only.OnboardModel(dropped, train.dataset).code() == absl::StatusCode::kUnimplemented);
  CHECK(knn_only.catalog().size() == fitted);
  CHECK(router.OnboardModel(dropped, train.dataset).code() == absl::StatusCode::kAlreadyExists);
  CHECK(router.catalog().size() == fitted + 1);
  // The clone taken before is untouched.
  CHECK((*copy)->catalog().size() == fitted);

  const std::string removed = without.at(0).name;
  REQUIRE(router.RemoveModel(removed).ok());
  CHECK(!router.catalog().Find(removed).ok());
  for (int b = 0; b < 3; ++b) CHECK(!router.base(b).catalog().Find(removed).ok());
  for (int m = 1; m < fitted; ++m) {
    for (int b = 0; b < 3; ++b) CHECK(router.weight(m - 1, b) == weights_before[m * 3 + b]);
  }
  CHECK(router.RemoveModel("no-such-model").code() == absl::StatusCode::kNotFound);

  // Feedback: refused whole when bad, learned by the online base when good.
  std::vector<float> v(topics.featurizer.dim());
  REQUIRE(topics.featurizer.Embed(SyntheticPrompt(0, 3), absl::MakeSpan(v)).ok());
  const std::string model = router.catalog().at(0).name;
  std::vector<float> short_vector(v.begin(), v.end() - 1);
  CHECK(router.Observe({.vector = short_vector, .model = model, .score = 1}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Observe({.vector = v, .model = model, .score = NAN}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Observe({.vector = v, .model = "no-such-model", .score = 1}).code() ==
        absl::StatusCode::kNotFound);
  Estimates before, after;
  REQUIRE(router.base(2).Estimate(Query{.vector = v}, &before).ok());
  for (int i = 0; i < 20; ++i) REQUIRE(router.Observe({.vector = v, .model = model, .score = 1}).ok());
  REQUIRE(router.base(2).Estimate(Query{.vector = v}, &after).ok());
  CHECK(after.per_model[0].quality > before.per_model[0].quality);
}

TEST_CASE("a config names the stacked kind and sets its bases' options", "[stacked][config]") {
  absl::StatusOr<PipelineConfig> config = ParsePipelineConfig(
      R"({"router": "stacked", "stacked": {"bases": ["knn", "cluster"], "folds": 3},
          "knn": {"k": 7}})");
  REQUIRE(config.ok());
  absl::StatusOr<std::unique_ptr<Router>> made = MakeRouter(*config);
  REQUIRE(made.ok());
  auto& router = dynamic_cast<StackedRouter&>(**made);
  CHECK(router.options().folds == 3);
  const SyntheticData& train = SharedTopics().train;
  REQUIRE(router.Fit(train.dataset, train.catalog).ok());
  CHECK(dynamic_cast<const KnnRouter&>(router.base(0)).options().k == 7);

  for (const char* bad : {R"({"router": "stacked", "stacked": {"bases": []}})",
                          R"({"router": "stacked", "stacked": {"bases": ["knn", "knn"]}})",
                          R"({"router": "stacked", "stacked": {"folds": 1}})",
                          R"({"router": "stacked", "stacked": {"bases": "knn"}})"}) {
    INFO(bad);
    CHECK(!ParsePipelineConfig(bad).ok());
  }
}

TEST_CASE("a warm stacked route allocates nothing", "[stacked][alloc]") {
  if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off under sanitizers");
  const SyntheticData& train = SharedTopics().train;
  StackedRouter router(StackedOptions{.bases = {"knn", "cluster"}, .folds = 2});
  REQUIRE(router.Fit(train.dataset, train.catalog).ok());
  std::vector<float> v(train.dataset.dim, 0.25f);
  Estimates out;
  REQUIRE(router.Estimate(Query{.vector = v}, &out).ok());
  bool ok = false;
  const int64_t allocations =
      testing::AllocationsDuring([&] { ok = router.Estimate(Query{.vector = v}, &out).ok(); });
  CHECK(ok);
  CHECK(allocations == 0);
}

}  // namespace
}  // namespace router
