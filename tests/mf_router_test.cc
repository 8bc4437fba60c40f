#include "router/mf_router.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "allocation_counter.h"
#include "skip.h"

namespace router {
namespace {

// Vectors around `topics` random centres; each model answers a row of topic
// t well with probability skill[t][m]; costs are random around a per-model
// price.
struct TopicData {
  Dataset data;
  Catalog catalog;
  std::vector<int> topic;
  std::vector<std::vector<float>> centres;
};

std::vector<std::vector<float>> Centres(int topics, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  std::vector<std::vector<float>> c(topics, std::vector<float>(dim));
  for (auto& centre : c) {
    for (float& x : centre) x = gauss(rng);
  }
  return c;
}

std::vector<float> Sample(const std::vector<float>& centre, std::mt19937& rng) {
  std::normal_distribution<float> gauss;
  std::vector<float> v(centre);
  for (float& x : v) x += 0.3f * gauss(rng);
  return v;
}

TopicData MakeTopicData(int64_t rows, const std::vector<std::vector<float>>& centres,
                        const std::vector<std::vector<double>>& skill,
                        const std::vector<std::string>& names, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit;
  TopicData t;
  t.centres = centres;
  const int models = static_cast<int>(names.size());
  for (int m = 0; m < models; ++m) {
    t.data.model_names.push_back(names[m]);
    Profile p;
    p.name = names[m];
    p.input_usd_per_mtok = 1.0 + m;
    REQUIRE(t.catalog.Add(p).ok());
  }
  t.data.dim = static_cast<int>(centres[0].size());
  for (int64_t r = 0; r < rows; ++r) {
    const int topic = static_cast<int>(r % centres.size());
    t.topic.push_back(topic);
    t.data.ids.push_back("r" + std::to_string(r) + "-" + std::to_string(seed));
    t.data.prompts.push_back("p");
    t.data.sources.push_back("s");
    t.data.splits.push_back(Split::kTrain);
    const std::vector<float> v = Sample(centres[topic], rng);
    t.data.vectors.insert(t.data.vectors.end(), v.begin(), v.end());
    for (int m = 0; m < models; ++m) {
      t.data.scores.push_back(unit(rng) < skill[topic][m] ? 1.0 : 0.0);
      t.data.costs.push_back(1e-4 * (m + 1) * (0.5 + unit(rng)));
    }
  }
  return t;
}

// 4 topics in 16 dimensions; model m is best on topic m (m < 3); topic 3
// is everyone's weak spot.
const std::vector<std::vector<double>> kSkill = {
    {0.9, 0.3, 0.4}, {0.3, 0.85, 0.4}, {0.4, 0.3, 0.9}, {0.3, 0.3, 0.3}};
const std::vector<std::string> kNames = {"a", "b", "c"};

TopicData Standard(int64_t rows = 1200, uint32_t seed = 1) {
  return MakeTopicData(rows, Centres(4, 16, 7), kSkill, kNames, seed);
}

MfOptions Small() {
  MfOptions o;
  o.hidden_dim = 8;
  o.epochs = 60;
  o.batch_size = 32;
  o.learning_rate = 3e-3;
  o.l2 = 1e-4;
  o.patience = 8;
  return o;
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// σ(wᵀ(v_m ⊙ W x̂) + b_m) in double, straight from the parameters.
double Reference(const MfParameters& p, absl::Span<const float> x, int m) {
  double norm = 0.0;
  for (float v : x) norm += double{v} * v;
  norm = std::sqrt(norm);
  double delta = p.biases[m];
  for (int k = 0; k < p.hidden_dim; ++k) {
    double z = 0.0;
    for (int j = 0; j < p.dim; ++j) z += double{p.projection[k * p.dim + j]} * x[j];
    if (norm > 0) z /= norm;
    delta += double{p.mixing[k]} * p.embeddings[m * p.hidden_dim + k] * z;
  }
  return Sigmoid(delta);
}

int Best(const Estimates& e) {
  int best = 0;
  for (int m = 1; m < static_cast<int>(e.per_model.size()); ++m) {
    if (e.per_model[m].quality > e.per_model[best].quality) best = m;
  }
  return best;
}

std::string State(const MfRouter& router) {
  std::string s;
  REQUIRE(router.SaveState(&s).ok());
  return s;
}

TEST_CASE("mf learns which model is best on each topic", "[mf]") {
  TopicData t = Standard();
  MfRouter router(Small());
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  CHECK(router.kind() == "mf");
  CHECK(router.dim() == 16);
  CHECK(router.epochs_run() >= router.best_epoch());
  CHECK(router.best_epoch() >= 1);
  std::mt19937 rng(5);
  for (int topic = 0; topic < 3; ++topic) {
    int right = 0;
    for (int i = 0; i < 20; ++i) {
      std::vector<float> q = Sample(t.centres[topic], rng);
      Estimates est;
      REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
      right += Best(est) == topic;
    }
    INFO("topic " << topic);
    CHECK(right >= 18);
  }
  // The quality is calibrated: near the true rate on a topic centre.
  Estimates est;
  REQUIRE(router.Estimate(Query{.vector = t.centres[0]}, &est).ok());
  CHECK(est.per_model[0].quality == Approx(0.9).margin(0.1));
  CHECK(est.per_model[1].quality == Approx(0.3).margin(0.1));
}

TEST_CASE("mf estimates follow the formula, with cost, spread and support", "[mf]") {
  TopicData t = Standard(400);
  // Model c has no observed cost: it gets the catalog price of the query.
  for (int64_t r = 0; r < t.data.rows(); ++r) t.data.costs[r * 3 + 2] = NAN;
  t.data.scores[0] = NAN;  // one missing score for model a
  for (int hidden : {8, 1}) {  // folded (M·d <= h·d + M·h) and not
    MfOptions o = Small();
    o.hidden_dim = hidden;
    MfRouter router(o);
    REQUIRE(router.Fit(t.data, t.catalog).ok());
    CHECK(router.folded() == (hidden == 8));
    const MfParameters& p = router.parameters();
    REQUIRE(p.hidden_dim == hidden);
    REQUIRE(p.num_models == 3);
    double cost_a = 0.0;
    for (int64_t r = 0; r < t.data.rows(); ++r) cost_a += t.data.costs[r * 3];
    cost_a /= static_cast<double>(t.data.rows());
    std::mt19937 rng(3);
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<float> q = Sample(t.centres[trial % 4], rng);
      for (float& x : q) x *= 3.0f;  // the scale of x does not matter
      Estimates est;
      REQUIRE(router.Estimate(Query{.vector = q, .input_tokens = 500}, &est).ok());
      REQUIRE(est.per_model.size() == 3);
      CHECK(est.evidence.empty());
      for (int m = 0; m < 3; ++m) {
        const ModelEstimate& e = est.per_model[m];
        CHECK(e.quality == Approx(Reference(p, q, m)).margin(1e-5));
        CHECK(e.uncertainty == Approx(std::sqrt(e.quality * (1 - e.quality))));
      }
      CHECK(est.per_model[0].expected_cost_usd == Approx(cost_a));
      // 500 input tokens at $3/M; no output price.
      CHECK(est.per_model[2].expected_cost_usd == Approx(1.5e-3));
      CHECK(est.per_model[0].support == 399);
      CHECK(est.per_model[1].support == 400);
    }
    // Huge finite elements overflow a float sum of squares but are valid.
    {
      std::vector<float> q = Sample(t.centres[1], rng), huge = q;
      for (float& x : huge) x *= 1e30f;
      Estimates small_est, huge_est;
      REQUIRE(router.Estimate(Query{.vector = q}, &small_est).ok());
      REQUIRE(router.Estimate(Query{.vector = huge}, &huge_est).ok());
      for (int m = 0; m < 3; ++m) {
        CHECK(huge_est.per_model[m].quality ==
              Approx(small_est.per_model[m].quality).margin(1e-5));
      }
      huge[2] = INFINITY;
      CHECK(router.Estimate(Query{.vector = huge}, &huge_est).code() ==
            absl::StatusCode::kInvalidArgument);
    }
    // The zero vector scores the biases alone.
    std::vector<float> zero(16, 0.0f);
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = zero}, &est).ok());
    CHECK(est.per_model[1].quality == Approx(Sigmoid(p.biases[1])));
  }
}

TEST_CASE("mf EstimateBatch equals Estimate", "[mf]") {
  TopicData t = Standard(400);
  for (int hidden : {8, 1}) {
    MfOptions o = Small();
    o.hidden_dim = hidden;
    MfRouter router(o);
    REQUIRE(router.Fit(t.data, t.catalog).ok());
    std::mt19937 rng(9);
    std::vector<std::vector<float>> vectors;
    std::vector<Query> queries;
    for (int i = 0; i < 17; ++i) vectors.push_back(Sample(t.centres[i % 4], rng));
    for (const auto& v : vectors) queries.push_back(Query{.vector = v, .text = "some text"});
    std::vector<Estimates> batch(queries.size());
    REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
    for (size_t i = 0; i < queries.size(); ++i) {
      Estimates one;
      REQUIRE(router.Estimate(queries[i], &one).ok());
      for (int m = 0; m < 3; ++m) {
        CHECK(batch[i].per_model[m].quality == Approx(one.per_model[m].quality).margin(1e-6));
        CHECK(batch[i].per_model[m].expected_cost_usd == one.per_model[m].expected_cost_usd);
        CHECK(batch[i].per_model[m].support == one.per_model[m].support);
      }
    }
    std::vector<Estimates> wrong(2);
    CHECK(router.EstimateBatch(queries, absl::MakeSpan(wrong)).code() ==
          absl::StatusCode::kInvalidArgument);
    std::vector<float> bad(15, 1.0f);
    queries[3].vector = bad;
    CHECK(router.EstimateBatch(queries, absl::MakeSpan(batch)).code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("mf training is bit-reproducible for a seed", "[mf]") {
  TopicData t = Standard(600);
  for (int threads : {1, 2, 3}) {
    MfOptions o = Small();
    o.num_threads = threads;
    MfRouter first(o), second(o);
    REQUIRE(first.Fit(t.data, t.catalog).ok());
    REQUIRE(second.Fit(t.data, t.catalog).ok());
    INFO("threads " << threads);
    CHECK(State(first) == State(second));
    // More threads sum in another order but learn the same thing.
    std::mt19937 rng(2);
    for (int topic = 0; topic < 3; ++topic) {
      Estimates est;
      std::vector<float> q = Sample(t.centres[topic], rng);
      REQUIRE(first.Estimate(Query{.vector = q}, &est).ok());
      CHECK(Best(est) == topic);
    }
  }
  MfOptions o = Small();
  MfRouter a(o);
  o.seed = 43;
  MfRouter b(o);
  REQUIRE(a.Fit(t.data, t.catalog).ok());
  REQUIRE(b.Fit(t.data, t.catalog).ok());
  CHECK(a.parameters().projection != b.parameters().projection);
}

TEST_CASE("mf reports progress and keeps the best epoch's parameters", "[mf]") {
  TopicData t = Standard(600);
  MfOptions o = Small();
  o.epochs = 200;
  o.learning_rate = 1e-2;  // overfits soon, so early stopping triggers
  o.l2 = 0.0;
  o.patience = 3;
  std::vector<MfEpochReport> reports;
  o.progress = [&](const MfEpochReport& r) { reports.push_back(r); };
  MfRouter router(o);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  REQUIRE(!reports.empty());
  CHECK(static_cast<int>(reports.size()) == router.epochs_run());
  REQUIRE(router.epochs_run() < 200);  // stopped early
  CHECK(router.epochs_run() - router.best_epoch() == 3);
  int best = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    CHECK(reports[i].epoch == static_cast<int>(i) + 1);
    CHECK(std::isfinite(reports[i].train_loss));
    CHECK(std::isfinite(reports[i].validation_loss));
    if (i > 0) CHECK(reports[i].elapsed_seconds >= reports[i - 1].elapsed_seconds);
    if (reports[i].validation_loss < reports[best].validation_loss) best = static_cast<int>(i);
  }
  CHECK(router.best_epoch() == best + 1);
  CHECK(reports[best].best);

  // The kept parameters are those of the best epoch: training for exactly
  // that many epochs (same seed, same path) ends on the same parameters.
  MfOptions exact = o;
  exact.progress = nullptr;
  exact.epochs = router.best_epoch();
  MfRouter shorter(exact);
  REQUIRE(shorter.Fit(t.data, t.catalog).ok());
  CHECK(shorter.parameters().projection == router.parameters().projection);
  CHECK(shorter.parameters().embeddings == router.parameters().embeddings);
  CHECK(shorter.parameters().biases == router.parameters().biases);

  // Without a validation split every epoch runs and reports NaN.
  reports.clear();
  o.validation_fraction = 0.0;
  o.epochs = 4;
  router.set_options(o);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  REQUIRE(reports.size() == 4);
  CHECK(std::isnan(reports.back().validation_loss));
  CHECK(router.best_epoch() == 4);
}

TEST_CASE("a throwing progress callback fails Fit and changes nothing", "[mf][errors]") {
  TopicData t = Standard(300);
  MfRouter router(Small());
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  const std::string before = State(router);
  MfOptions o = Small();
  o.seed = 99;
  o.progress = [](const MfEpochReport& r) {
    if (r.epoch == 2) throw std::runtime_error("stop");
  };
  router.set_options(o);
  CHECK(router.Fit(t.data, t.catalog).code() == absl::StatusCode::kAborted);
  router.set_options(Small());
  CHECK(State(router) == before);
}

TEST_CASE("mf validates its options in Fit", "[mf][errors]") {
  TopicData t = Standard(100);
  std::vector<std::function<void(MfOptions&)>> breakers = {
      [](MfOptions& o) { o.hidden_dim = 0; },
      [](MfOptions& o) { o.hidden_dim = 5000; },
      [](MfOptions& o) { o.epochs = 0; },
      [](MfOptions& o) { o.batch_size = 0; },
      [](MfOptions& o) { o.learning_rate = 0; },
      [](MfOptions& o) { o.learning_rate = NAN; },
      [](MfOptions& o) { o.l2 = -1; },
      [](MfOptions& o) { o.l2 = INFINITY; },
      [](MfOptions& o) { o.validation_fraction = -0.1; },
      [](MfOptions& o) { o.validation_fraction = 0.95; },
      [](MfOptions& o) { o.patience = 0; },
      [](MfOptions& o) { o.num_threads = 0; },
      [](MfOptions& o) { o.num_threads = 1000; },
      [](MfOptions& o) { o.onboard_l2 = 0; },
      [](MfOptions& o) { o.loss = static_cast<MfOptions::Loss>(7); },
  };
  for (size_t i = 0; i < breakers.size(); ++i) {
    MfOptions o = Small();
    breakers[i](o);
    MfRouter router(o);
    INFO("breaker " << i);
    CHECK(router.Fit(t.data, t.catalog).code() == absl::StatusCode::kInvalidArgument);
    CHECK(router.dim() == 0);
  }
}

TEST_CASE("mf rejects bad input and a failed Fit changes nothing", "[mf][errors]") {
  TopicData t = Standard(200);
  MfRouter router(Small());
  std::vector<float> q(16, 0.5f);
  Estimates est;
  CHECK(router.Estimate(Query{.vector = q}, &est).code() == absl::StatusCode::kFailedPrecondition);
  std::string state;
  CHECK(router.SaveState(&state).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(router.OnboardModel(Profile{.name = "x"}, t.data).code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  const std::string before = State(router);
  CHECK(router.Estimate(Query{.vector = q}, nullptr).code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> short_q(15, 0.5f), nan_q(16, NAN);
  CHECK(router.Estimate(Query{.vector = short_q}, &est).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Estimate(Query{.vector = nan_q}, &est).code() ==
        absl::StatusCode::kInvalidArgument);

  Dataset no_vectors = t.data;
  no_vectors.vectors.clear();
  CHECK(router.Fit(no_vectors, t.catalog).code() == absl::StatusCode::kInvalidArgument);
  Catalog other;
  REQUIRE(other.Add(Profile{.name = "unknown"}).ok());
  CHECK(router.Fit(t.data, other).code() == absl::StatusCode::kInvalidArgument);
  Dataset all_missing = t.data;
  for (double& s : all_missing.scores) s = NAN;
  all_missing.scores[0] = 1.0;  // every model needs a score; b and c have none
  CHECK(router.Fit(all_missing, t.catalog).code() == absl::StatusCode::kInvalidArgument);
  // Pairwise with no comparison (all scores equal) has nothing to learn.
  Dataset ties = t.data;
  for (double& s : ties.scores) s = 1.0;
  MfOptions pairwise = Small();
  pairwise.loss = MfOptions::Loss::kPairwise;
  router.set_options(pairwise);
  CHECK(router.Fit(ties, t.catalog).code() == absl::StatusCode::kInvalidArgument);
  router.set_options(Small());
  CHECK(State(router) == before);
}

TEST_CASE("mf state round-trips bit-identically", "[mf][state]") {
  TopicData t = Standard(300);
  MfOptions o = Small();
  o.loss = MfOptions::Loss::kPairwise;
  o.seed = 5;
  MfRouter router(o);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  const std::string state = State(router);

  int calls = 0;
  MfOptions other;
  other.progress = [&](const MfEpochReport&) { ++calls; };
  MfRouter loaded(other);
  REQUIRE(loaded.LoadState(state).ok());
  CHECK(State(loaded) == state);
  CHECK(loaded.options().loss == MfOptions::Loss::kPairwise);
  CHECK(loaded.options().seed == 5);
  CHECK(loaded.options().hidden_dim == 8);
  CHECK(loaded.folded() == router.folded());
  CHECK(loaded.best_epoch() == router.best_epoch());
  CHECK(loaded.catalog().size() == 3);
  std::mt19937 rng(4);
  for (int i = 0; i < 8; ++i) {
    std::vector<float> q = Sample(t.centres[i % 4], rng);
    Estimates a, b;
    REQUIRE(router.Estimate(Query{.vector = q}, &a).ok());
    REQUIRE(loaded.Estimate(Query{.vector = q}, &b).ok());
    for (int m = 0; m < 3; ++m) {
      CHECK(a.per_model[m].quality == b.per_model[m].quality);
      CHECK(a.per_model[m].expected_cost_usd == b.per_model[m].expected_cost_usd);
    }
  }
  // The loaded router keeps its own progress callback.
  loaded.set_options([&] {
    MfOptions again = loaded.options();
    again.epochs = 2;
    again.validation_fraction = 0;
    return again;
  }());
  REQUIRE(loaded.Fit(t.data, t.catalog).ok());
  CHECK(calls == 2);
}

TEST_CASE("mf LoadState rejects corrupt state and changes nothing", "[mf][state][errors]") {
  TopicData t = Standard(200);
  MfRouter source(Small());
  REQUIRE(source.Fit(t.data, t.catalog).ok());
  const std::string state = State(source);

  MfOptions o = Small();
  o.seed = 77;
  MfRouter router(o);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  const std::string before = State(router);

  // Every truncation fails.
  for (size_t n = 0; n < state.size(); n += 7) {
    INFO("prefix " << n);
    CHECK(router.LoadState(std::string_view(state).substr(0, n)).code() ==
          absl::StatusCode::kDataLoss);
  }
  CHECK(router.LoadState(state + "x").code() == absl::StatusCode::kDataLoss);
  // A bad version.
  std::string bad = state;
  bad[0] = 9;
  CHECK(router.LoadState(bad).code() == absl::StatusCode::kDataLoss);
  // A non-finite parameter: the last bias sits before the per-model
  // statistics (3 doubles + 3 + 3 int64 with three length prefixes) and the
  // two int32 epoch counts.
  const size_t tail = 3 * 8 + 3 * 8 + 3 * 8 + 3 * 8 + 2 * 4;
  bad = state;
  const float nan = NAN;
  std::memcpy(&bad[state.size() - tail - sizeof(float)], &nan, sizeof(float));
  absl::Status status = router.LoadState(bad);
  CHECK(status.code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(status.message()).find("biases") != std::string::npos);
  // A negative mean cost.
  bad = state;
  const double negative = -1.0;
  std::memcpy(&bad[state.size() - tail + 8], &negative, sizeof(double));
  CHECK(router.LoadState(bad).code() == absl::StatusCode::kDataLoss);
  // Options out of range: hidden_dim (right after the version) = 0.
  bad = state;
  const int32_t zero = 0;
  std::memcpy(&bad[4], &zero, sizeof(zero));
  CHECK(router.LoadState(bad).code() == absl::StatusCode::kDataLoss);

  CHECK(State(router) == before);
  REQUIRE(router.LoadState(state).ok());
  CHECK(State(router) == state);
}

TEST_CASE("a warm mf Estimate does not allocate", "[mf]") {
  if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off under sanitizers");
  TopicData t = Standard(300);
  for (int hidden : {8, 1}) {
    MfOptions o = Small();
    o.hidden_dim = hidden;
    MfRouter router(o);
    REQUIRE(router.Fit(t.data, t.catalog).ok());
    std::mt19937 rng(11);
    std::vector<float> q1 = Sample(t.centres[0], rng), q2 = Sample(t.centres[1], rng);
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q1}, &est).ok());  // warm-up
    bool ok = false;
    const int64_t allocations = testing::AllocationsDuring([&] {
      ok = router.Estimate(Query{.vector = q2, .text = "hello"}, &est).ok() &&
           router.Estimate(Query{.vector = q1}, &est).ok();
    });
    CHECK(ok);
    CHECK(allocations == 0);
  }
  // The counter does count: a fresh vector allocates.
  std::vector<float>* v = nullptr;
  CHECK(testing::AllocationsDuring([&] { v = new std::vector<float>(100); }) >= 1);
  delete v;
}

// Preference data by the documented convention: one comparison per row,
// winner 1, loser 0, every other model missing. Strength of model m on topic
// t is strength[t][m]; the winner is drawn by Bradley–Terry.
TopicData MakePreferences(int64_t rows, const std::vector<std::vector<float>>& centres,
                          const std::vector<std::vector<double>>& strength,
                          const std::vector<std::string>& names, uint32_t seed) {
  TopicData t = MakeTopicData(rows, centres, strength, names, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<double> unit;
  const int models = static_cast<int>(names.size());
  for (int64_t r = 0; r < rows; ++r) {
    const int a = static_cast<int>(rng() % models);
    const int b = (a + 1 + static_cast<int>(rng() % (models - 1))) % models;
    const int topic = t.topic[r];
    const bool a_wins = unit(rng) < Sigmoid(strength[topic][a] - strength[topic][b]);
    for (int m = 0; m < models; ++m) t.data.scores[r * models + m] = NAN;
    t.data.scores[r * models + a] = a_wins ? 1.0 : 0.0;
    t.data.scores[r * models + b] = a_wins ? 0.0 : 1.0;
  }
  return t;
}

TEST_CASE("mf learns from pairwise preferences", "[mf][pairwise]") {
  // Four models; on topic t model t is strongest, the others follow in a
  // topic-dependent order.
  const std::vector<std::vector<double>> strength = {
      {2.0, 0.0, -1.0, 0.5}, {-1.0, 2.0, 0.5, 0.0}, {0.0, -1.0, 2.0, 0.5}, {0.5, 0.0, -1.0, 2.0}};
  TopicData t =
      MakePreferences(4000, Centres(4, 16, 21), strength, {"w", "x", "y", "z"}, 3);
  MfOptions o = Small();
  o.loss = MfOptions::Loss::kPairwise;
  MfRouter router(o);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  // Centred: the biases and the embeddings average to zero.
  const MfParameters& p = router.parameters();
  double bias_sum = 0.0;
  for (float b : p.biases) bias_sum += b;
  CHECK(bias_sum == Approx(0.0).margin(1e-5));
  std::mt19937 rng(8);
  for (int topic = 0; topic < 4; ++topic) {
    std::vector<float> q = Sample(t.centres[topic], rng);
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
    INFO("topic " << topic);
    CHECK(Best(est) == topic);
    // The weakest model (strength -1) is ranked last.
    int worst = 0;
    for (int m = 1; m < 4; ++m) {
      if (est.per_model[m].quality < est.per_model[worst].quality) worst = m;
    }
    CHECK(strength[topic][worst] == -1.0);
    // Mean logit over models is 0: σ(δ) is a win rate against the average.
    double mean_logit = 0.0;
    for (const ModelEstimate& e : est.per_model) mean_logit += std::log(e.quality / (1 - e.quality));
    CHECK(mean_logit / 4 == Approx(0.0).margin(1e-4));
    // Differences of logits estimate the Bradley–Terry margins.
    const double margin = std::log(est.per_model[topic].quality / (1 - est.per_model[topic].quality)) -
                          std::log(est.per_model[worst].quality / (1 - est.per_model[worst].quality));
    CHECK(margin == Approx(3.0).margin(1.0));
  }
}

TEST_CASE("an onboarded model is preferred where it is strong", "[mf][onboard]") {
  TopicData t = Standard(1600);
  MfRouter router(Small());
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  const std::string before = State(router);

  // A specialist on topic 3, where every trained model is weak, and poor
  // elsewhere; 200 labelled rows with its scores only.
  const std::vector<std::vector<double>> skill = {{0.1}, {0.1}, {0.1}, {0.95}};
  TopicData labelled = MakeTopicData(200, t.centres, skill, {"specialist"}, 17);
  Profile profile{.name = "specialist", .input_usd_per_mtok = 0.5};
  REQUIRE(router.OnboardModel(profile, labelled.data).ok());
  REQUIRE(router.catalog().size() == 4);
  CHECK(router.catalog().at(3).name == "specialist");
  CHECK(router.parameters().num_models == 4);

  // The other models' parameters are untouched.
  MfRouter original;
  REQUIRE(original.LoadState(before).ok());
  const MfParameters& now = router.parameters();
  const MfParameters& was = original.parameters();
  CHECK(now.projection == was.projection);
  CHECK(now.mixing == was.mixing);
  CHECK(std::vector<float>(now.embeddings.begin(), now.embeddings.begin() + 3 * 8) ==
        was.embeddings);
  CHECK(std::vector<float>(now.biases.begin(), now.biases.begin() + 3) == was.biases);

  double cost = 0.0;
  for (int64_t r = 0; r < 200; ++r) cost += labelled.data.costs[r];
  cost /= 200;
  std::mt19937 rng(23);
  for (int topic = 0; topic < 4; ++topic) {
    int chosen = 0;
    for (int i = 0; i < 20; ++i) {
      std::vector<float> q = Sample(t.centres[topic], rng);
      Estimates est, old;
      REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
      REQUIRE(original.Estimate(Query{.vector = q}, &old).ok());
      for (int m = 0; m < 3; ++m) CHECK(est.per_model[m].quality == old.per_model[m].quality);
      CHECK(est.per_model[3].support == 200);
      CHECK(est.per_model[3].expected_cost_usd == Approx(cost));
      chosen += Best(est) == 3;
    }
    INFO("topic " << topic);
    if (topic == 3) {
      CHECK(chosen >= 19);
    } else {
      CHECK(chosen == 0);
    }
  }
  // The state round-trips with the new model.
  MfRouter reloaded;
  REQUIRE(reloaded.LoadState(State(router)).ok());
  CHECK(State(reloaded) == State(router));
}

TEST_CASE("pairwise onboarding learns from comparisons with the catalog", "[mf][onboard][pairwise]") {
  const std::vector<std::vector<double>> strength = {
      {2.0, 0.0, -1.0}, {-1.0, 2.0, 0.5}, {0.0, -1.0, 2.0}, {0.5, 0.0, -1.0}};
  const auto centres = Centres(4, 16, 21);
  TopicData t = MakePreferences(3000, centres, strength, {"w", "x", "y"}, 3);
  MfOptions o = Small();
  o.loss = MfOptions::Loss::kPairwise;
  MfRouter router(o);
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  // The newcomer "n" is strong (3.0) on topic 3 and weak (-2.0) elsewhere;
  // each labelled row compares it with one catalog model.
  std::vector<std::vector<double>> with_new = strength;
  for (int topic = 0; topic < 4; ++topic) with_new[topic].push_back(topic == 3 ? 3.0 : -2.0);
  TopicData labelled = MakePreferences(1200, centres, with_new, {"w", "x", "y", "n"}, 5);
  Dataset comparisons = labelled.data.Subset([&] {
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < labelled.data.rows(); ++r) {
      if (!std::isnan(labelled.data.score(r, 3))) rows.push_back(r);
    }
    return rows;
  }());
  REQUIRE(router.OnboardModel(Profile{.name = "n"}, comparisons).ok());
  std::mt19937 rng(6);
  for (int topic = 0; topic < 4; ++topic) {
    std::vector<float> q = Sample(centres[topic], rng);
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
    INFO("topic " << topic);
    CHECK((Best(est) == 3) == (topic == 3));
  }
  // Without any comparison (only the newcomer scored) there is nothing to fit.
  Dataset alone = comparisons;
  for (int64_t r = 0; r < alone.rows(); ++r) {
    for (int m = 0; m < 3; ++m) alone.scores[r * 4 + m] = NAN;
  }
  MfRouter fresh(o);
  REQUIRE(fresh.Fit(t.data, t.catalog).ok());
  CHECK(fresh.OnboardModel(Profile{.name = "n"}, alone).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("OnboardModel rejects bad input and changes nothing", "[mf][onboard][errors]") {
  TopicData t = Standard(300);
  MfRouter router(Small());
  REQUIRE(router.Fit(t.data, t.catalog).ok());
  const std::string before = State(router);
  const std::vector<std::vector<double>> skill = {{0.5}, {0.5}, {0.5}, {0.5}};
  TopicData labelled = MakeTopicData(50, t.centres, skill, {"new"}, 3);

  CHECK(router.OnboardModel(Profile{.name = "a"}, labelled.data).code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(router.OnboardModel(Profile{.name = "other"}, labelled.data).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.OnboardModel(Profile{.name = "new", .input_usd_per_mtok = -1}, labelled.data)
            .code() == absl::StatusCode::kInvalidArgument);
  Dataset no_scores = labelled.data;
  for (double& x : no_scores.scores) x = NAN;
  CHECK(router.OnboardModel(Profile{.name = "new"}, no_scores).code() ==
        absl::StatusCode::kInvalidArgument);
  Dataset other_dim = labelled.data;
  other_dim.dim = 8;
  other_dim.vectors.resize(static_cast<size_t>(other_dim.rows()) * 8);
  CHECK(router.OnboardModel(Profile{.name = "new"}, other_dim).code() ==
        absl::StatusCode::kInvalidArgument);
  Dataset no_vectors = labelled.data;
  no_vectors.vectors.clear();
  no_vectors.dim = 0;
  CHECK(router.OnboardModel(Profile{.name = "new"}, no_vectors).code() ==
        absl::StatusCode::kInvalidArgument);
  Dataset nan_vector = labelled.data;
  nan_vector.vectors[5] = NAN;
  CHECK(router.OnboardModel(Profile{.name = "new"}, nan_vector).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(State(router) == before);
  CHECK(router.catalog().size() == 3);
}

}  // namespace
}  // namespace router
