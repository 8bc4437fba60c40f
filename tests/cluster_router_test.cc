#include "router/cluster_router.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.h"
#include "embed_all.h"
#include "skip.h"

#include "router/max_utility_policy.h"
#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace router {
namespace {

// Vectors around `topics` random centres (so k-means has real clusters to
// find), 0/1 scores whose rate depends on the topic and the model, ~10% of
// scores missing, random costs.
struct Reference {
  Dataset data;
  Catalog catalog;
  std::vector<int> topic;
};

Reference MakeReference(int64_t rows, int dim, int models, int topics, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  std::uniform_real_distribution<double> unit;
  std::vector<std::vector<float>> centre(topics, std::vector<float>(dim));
  for (auto& c : centre) {
    for (float& x : c) x = gauss(rng);
  }
  std::vector<double> skill(static_cast<size_t>(topics) * models);
  for (double& p : skill) p = unit(rng);
  Reference ref;
  for (int m = 0; m < models; ++m) {
    const std::string name = "model-" + std::to_string(m);
    ref.data.model_names.push_back(name);
    Profile profile;
    profile.name = name;
    profile.input_usd_per_mtok = 1.0 + m;
    REQUIRE(ref.catalog.Add(profile).ok());
  }
  ref.data.dim = dim;
  for (int64_t r = 0; r < rows; ++r) {
    const int t = static_cast<int>(r % topics);
    ref.topic.push_back(t);
    ref.data.ids.push_back("r" + std::to_string(r));
    ref.data.prompts.push_back("p");
    ref.data.sources.push_back("s");
    ref.data.splits.push_back(Split::kTrain);
    for (int d = 0; d < dim; ++d) ref.data.vectors.push_back(centre[t][d] + 0.3f * gauss(rng));
    for (int m = 0; m < models; ++m) {
      const double p = skill[static_cast<size_t>(t) * models + m];
      ref.data.scores.push_back(unit(rng) < 0.1 ? NAN : (unit(rng) < p ? 1.0 : 0.0));
      ref.data.costs.push_back(unit(rng) * 1e-3);
    }
  }
  return ref;
}

std::vector<float> RandomVector(int dim, std::mt19937& rng) {
  std::normal_distribution<float> gauss;
  std::vector<float> v(dim);
  for (float& x : v) x = gauss(rng);
  return v;
}

std::vector<double> Unit(absl::Span<const float> v) {
  double sq = 0;
  for (float x : v) sq += double(x) * x;
  std::vector<double> u(v.size());
  for (size_t i = 0; i < v.size(); ++i) u[i] = sq > 0 ? v[i] / std::sqrt(sq) : 0.0;
  return u;
}

double Dot(const std::vector<double>& a, const float* b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Everything the router should compute, recomputed in double from its
// centroids and the data.
struct BruteForce {
  int clusters, models, dim;
  std::vector<double> quality, se2, cost;
  std::vector<int> count;

  BruteForce(const ClusterRouter& router, const Dataset& data, double s)
      : clusters(router.num_clusters()), models(data.num_models()), dim(data.dim) {
    const float* c = router.centroids().data();
    std::vector<int> assign(data.rows());
    for (int64_t r = 0; r < data.rows(); ++r) {
      std::vector<double> u = Unit(data.vector(r));
      int best = 0;
      for (int k = 1; k < clusters; ++k) {
        if (Dot(u, c + k * dim) > Dot(u, c + best * dim)) best = k;
      }
      assign[r] = best;
    }
    quality.resize(clusters * models);
    se2.resize(clusters * models);
    cost.resize(clusters * models);
    count.resize(clusters * models);
    for (int m = 0; m < models; ++m) {
      double n = 0, sum = 0, sq = 0, cn = 0, csum = 0;
      for (int64_t r = 0; r < data.rows(); ++r) {
        if (!std::isnan(data.score(r, m))) n += 1, sum += data.score(r, m),
                                           sq += data.score(r, m) * data.score(r, m);
        if (!std::isnan(data.cost(r, m))) cn += 1, csum += data.cost(r, m);
      }
      const double g = sum / n, var = sq / n - g * g, gc = csum / cn;
      for (int k = 0; k < clusters; ++k) {
        double kn = 0, ksum = 0, ksq = 0, kcn = 0, kcsum = 0;
        for (int64_t r = 0; r < data.rows(); ++r) {
          if (assign[r] != k) continue;
          const double x = data.score(r, m);
          if (!std::isnan(x)) kn += 1, ksum += x, ksq += x * x;
          if (!std::isnan(data.cost(r, m))) kcn += 1, kcsum += data.cost(r, m);
        }
        const int cell = k * models + m;
        const double within = kn > 0 ? ksq - ksum * ksum / kn : 0.0;
        quality[cell] = (ksum + s * g) / (kn + s);
        se2[cell] = (within + s * var) / ((kn + s) * (kn + s));
        cost[cell] = (kcsum + s * gc) / (kcn + s);
        count[cell] = static_cast<int>(kn);
      }
    }
  }
};

TEST_CASE("cluster estimates equal a brute-force reference", "[cluster]") {
  Reference ref = MakeReference(600, 12, 3, 8, 1);
  const ClusterOptions options{.num_clusters = 10, .nearest_clusters = 3, .temperature = 0.1,
                               .prior_strength = 4.0};
  ClusterRouter router(options);
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE(router.num_clusters() == 10);
  REQUIRE(router.dim() == 12);
  CHECK(router.kind() == "cluster");
  int64_t total = 0;
  for (int64_t size : router.cluster_sizes()) total += size;
  CHECK(total == 600);
  for (int k = 0; k < 10; ++k) {
    double sq = 0;
    for (int d = 0; d < 12; ++d) sq += double(router.centroids()[k * 12 + d]) * router.centroids()[k * 12 + d];
    CHECK(std::sqrt(sq) == Approx(1.0).margin(1e-5));
  }
  BruteForce bf(router, ref.data, options.prior_strength);
  for (int k = 0; k < 10; ++k) {
    for (int m = 0; m < 3; ++m) CHECK(router.ClusterQuality(k, m) == Approx(bf.quality[k * 3 + m]));
  }

  std::mt19937 rng(99);
  for (int trial = 0; trial < 25; ++trial) {
    std::vector<float> q = RandomVector(12, rng);
    if (trial % 2 == 0) q = std::vector<float>(ref.data.vector(trial).begin(), ref.data.vector(trial).end());
    std::vector<double> u = Unit(q);
    std::vector<std::pair<double, int>> sims;
    for (int k = 0; k < 10; ++k) sims.push_back({Dot(u, router.centroids().data() + k * 12), k});
    std::sort(sims.begin(), sims.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<double> w(3);
    double z = 0;
    for (int i = 0; i < 3; ++i) z += w[i] = std::exp((sims[i].first - sims[0].first) / 0.1);
    for (double& x : w) x /= z;

    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
    REQUIRE(est.evidence.size() == 3);
    REQUIRE(est.per_model.size() == 3);
    for (int i = 0; i < 3; ++i) {
      CHECK(est.evidence[i].id == sims[i].second);
      CHECK(est.evidence[i].similarity == Approx(w[i]).margin(1e-5));
    }
    for (int m = 0; m < 3; ++m) {
      double quality = 0, cost = 0;
      int support = 0;
      for (int i = 0; i < 3; ++i) {
        const int cell = sims[i].second * 3 + m;
        quality += w[i] * bf.quality[cell];
        cost += w[i] * bf.cost[cell];
        support += bf.count[cell];
      }
      double variance = 0;
      for (int i = 0; i < 3; ++i) {
        const int cell = sims[i].second * 3 + m;
        variance += w[i] * (bf.se2[cell] + std::pow(bf.quality[cell] - quality, 2));
      }
      CHECK(est.per_model[m].quality == Approx(quality).margin(1e-6));
      CHECK(est.per_model[m].expected_cost_usd == Approx(cost).epsilon(1e-6));
      CHECK(est.per_model[m].uncertainty == Approx(std::sqrt(variance)).margin(1e-6));
      CHECK(est.per_model[m].support == support);
    }
  }
}

TEST_CASE("evidence is the nearest clusters with decreasing weights summing to one",
          "[cluster]") {
  Reference ref = MakeReference(400, 8, 2, 6, 2);
  for (int n : {1, 4, 50}) {
    ClusterRouter router(ClusterOptions{.num_clusters = 12, .nearest_clusters = n});
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    std::mt19937 rng(3);
    std::vector<float> q = RandomVector(8, rng);
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
    REQUIRE(est.evidence.size() == static_cast<size_t>(std::min(n, 12)));  // n > K: all K
    double total = 0;
    for (size_t i = 0; i < est.evidence.size(); ++i) {
      total += est.evidence[i].similarity;
      if (i > 0) CHECK(est.evidence[i].similarity <= est.evidence[i - 1].similarity);
      CHECK(est.evidence[i].id >= 0);
      CHECK(est.evidence[i].id < 12);
    }
    CHECK(total == Approx(1.0).margin(1e-5));
  }
}

TEST_CASE("a low temperature approaches the nearest cluster, a high one an even mix",
          "[cluster]") {
  Reference ref = MakeReference(400, 8, 2, 6, 4);
  std::mt19937 rng(5);
  std::vector<float> q = RandomVector(8, rng);
  ClusterRouter cold(ClusterOptions{.num_clusters = 8, .nearest_clusters = 3, .temperature = 1e-4});
  ClusterRouter hot(ClusterOptions{.num_clusters = 8, .nearest_clusters = 3, .temperature = 1e4});
  REQUIRE(cold.Fit(ref.data, ref.catalog).ok());
  REQUIRE(hot.Fit(ref.data, ref.catalog).ok());
  Estimates a, b;
  REQUIRE(cold.Estimate(Query{.vector = q}, &a).ok());
  REQUIRE(hot.Estimate(Query{.vector = q}, &b).ok());
  CHECK(a.evidence[0].similarity == Approx(1.0).margin(1e-6));
  CHECK(a.per_model[0].quality == Approx(cold.ClusterQuality(a.evidence[0].id, 0)));
  for (const Evidence& e : b.evidence) CHECK(e.similarity == Approx(1.0 / 3).margin(1e-3));
}

TEST_CASE("shrinkage pulls small clusters towards the model's mean", "[cluster]") {
  Reference ref = MakeReference(300, 6, 2, 30, 6);
  double g = 0, n = 0;
  for (int64_t r = 0; r < ref.data.rows(); ++r) {
    if (!std::isnan(ref.data.score(r, 0))) g += ref.data.score(r, 0), n += 1;
  }
  g /= n;
  ClusterRouter raw(ClusterOptions{.num_clusters = 40, .prior_strength = 0.0});
  ClusterRouter strong(ClusterOptions{.num_clusters = 40, .prior_strength = 1e6});
  REQUIRE(raw.Fit(ref.data, ref.catalog).ok());
  REQUIRE(strong.Fit(ref.data, ref.catalog).ok());
  double raw_spread = 0, strong_spread = 0;
  for (int k = 0; k < 40; ++k) {
    raw_spread = std::max(raw_spread, std::abs(raw.ClusterQuality(k, 0) - g));
    strong_spread = std::max(strong_spread, std::abs(strong.ClusterQuality(k, 0) - g));
  }
  CHECK(raw_spread > 0.3);  // 40 clusters of ~7 rows: some all 0 or all 1
  CHECK(strong_spread < 1e-4);
}

TEST_CASE("automatic K follows the documented rule, an explicit K above the rows fails",
          "[cluster]") {
  CHECK(AutoNumClusters(1) == 1);
  CHECK(AutoNumClusters(2) == 1);
  CHECK(AutoNumClusters(200) == 8);
  CHECK(AutoNumClusters(4800) == 40);
  CHECK(AutoNumClusters(5608) == 43);
  CHECK(AutoNumClusters(int64_t{1} << 30) == 256);
  for (int64_t rows = 1; rows < 3000; rows += 37) {
    CHECK(AutoNumClusters(rows) >= 1);
    CHECK(AutoNumClusters(rows) <= rows);
  }
  Reference ref = MakeReference(200, 4, 2, 3, 7);
  ClusterRouter automatic;
  REQUIRE(automatic.Fit(ref.data, ref.catalog).ok());
  CHECK(automatic.num_clusters() == AutoNumClusters(200));

  ClusterRouter exact_fit(ClusterOptions{.num_clusters = 200});
  CHECK(exact_fit.Fit(ref.data, ref.catalog).ok());
  ClusterRouter too_many(ClusterOptions{.num_clusters = 201});
  absl::Status status = too_many.Fit(ref.data, ref.catalog);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find("201") != std::string::npos);
  CHECK(too_many.dim() == 0);

  Reference tiny = MakeReference(3, 4, 2, 3, 8);
  ClusterRouter tiny_router;
  REQUIRE(tiny_router.Fit(tiny.data, tiny.catalog).ok());
  CHECK(tiny_router.num_clusters() == 1);
}

// Two sources whose prompts look alike (their centres have cosine
// similarity 0.92) and whose best models are opposite: "a-model" scores 1
// on alpha and 0 on beta, "b-model" the reverse. A third source, gamma,
// scores 0.5 on both.
Reference MakeTwoSources(int alpha_rows, int beta_rows, int gamma_rows) {
  std::mt19937 rng(31);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  Reference ref;
  ref.data.model_names = {"a-model", "b-model"};
  for (const std::string& name : ref.data.model_names) {
    Profile profile;
    profile.name = name;
    profile.input_usd_per_mtok = 1.0;
    REQUIRE(ref.catalog.Add(profile).ok());
  }
  ref.data.dim = 4;
  auto add = [&](const std::string& source, int rows, float tilt, double a, double b) {
    for (int r = 0; r < rows; ++r) {
      ref.data.ids.push_back(source + std::to_string(r));
      ref.data.prompts.push_back("p");
      ref.data.sources.push_back(source);
      ref.data.splits.push_back(Split::kTrain);
      for (float x : {1.0f, tilt, 0.0f, 0.0f}) ref.data.vectors.push_back(x + noise(rng));
      ref.data.scores.insert(ref.data.scores.end(), {a, b});
      ref.data.costs.insert(ref.data.costs.end(), {1e-4, 1e-4});
    }
  };
  add("alpha", alpha_rows, 0.2f, 1.0, 0.0);
  add("beta", beta_rows, -0.2f, 0.0, 1.0);
  add("gamma", gamma_rows, 0.0f, 0.5, 0.5);
  return ref;
}

TEST_CASE("a cluster mixing sources is split, from 10 rows of each", "[cluster][sources]") {
  const std::vector<float> alpha_query = {1.0f, 0.2f, 0.0f, 0.0f};
  const std::vector<float> beta_query = {1.0f, -0.2f, 0.0f, 0.0f};
  auto estimate = [](const ClusterRouter& router, const std::vector<float>& q) {
    Estimates out;
    REQUIRE(router.Estimate(Query{.vector = q, .input_tokens = 10}, &out).ok());
    return out;
  };
  // One k-means cluster takes every row; splitting gives each large source
  // its own. (Without kCentroids these sources would be classified, below.)
  const ClusterOptions one{.num_clusters = 1,
                           .assignment = ClusterOptions::Assignment::kCentroids};

  SECTION("10 rows of the smaller source: split, and each source's query finds its model") {
    const Reference ref = MakeTwoSources(100, 10, 0);
    ClusterRouter router(one);
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    REQUIRE(router.num_clusters() == 2);
    CHECK(router.cluster_sizes()[0] == 100);
    CHECK(router.cluster_sizes()[1] == 10);
    const Estimates alpha = estimate(router, alpha_query);
    const Estimates beta = estimate(router, beta_query);
    CHECK(alpha.per_model[0].quality > 0.9);
    CHECK(alpha.per_model[1].quality < 0.1);
    CHECK(beta.per_model[1].quality > beta.per_model[0].quality + 0.3);

    // Off, the same data keeps one cluster, where alpha's rows outvote beta's.
    ClusterRouter unsplit(ClusterOptions{.num_clusters = 1,
                                         .assignment = ClusterOptions::Assignment::kCentroids,
                                         .split_by_source = false});
    REQUIRE(unsplit.Fit(ref.data, ref.catalog).ok());
    CHECK(unsplit.num_clusters() == 1);
    CHECK(estimate(unsplit, beta_query).per_model[0].quality > 0.8);

    // The split state round-trips, although it holds more clusters than asked.
    std::string state, again;
    REQUIRE(router.SaveState(&state).ok());
    ClusterRouter loaded;
    REQUIRE(loaded.LoadState(state).ok());
    CHECK(loaded.num_clusters() == 2);
    REQUIRE(loaded.SaveState(&again).ok());
    CHECK(again == state);
  }
  SECTION("9 rows: not split") {
    const Reference ref = MakeTwoSources(100, 9, 0);
    ClusterRouter router(one);
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    CHECK(router.num_clusters() == 1);
  }
  SECTION("a third source with fewer than 10 rows gets no cluster; its rows join another") {
    const Reference ref = MakeTwoSources(100, 40, 5);
    ClusterRouter router(one);
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    REQUIRE(router.num_clusters() == 2);
    CHECK(router.cluster_sizes()[0] + router.cluster_sizes()[1] == 145);
  }
  SECTION("one source, or none named: the clusters of plain k-means, bit for bit") {
    Reference ref = MakeReference(400, 6, 2, 5, 14);  // every row of source "s"
    ClusterRouter split(ClusterOptions{.num_clusters = 7});
    ClusterRouter plain(ClusterOptions{.num_clusters = 7, .split_by_source = false});
    REQUIRE(split.Fit(ref.data, ref.catalog).ok());
    REQUIRE(plain.Fit(ref.data, ref.catalog).ok());
    CHECK(split.num_clusters() == 7);
    CHECK(std::equal(split.centroids().begin(), split.centroids().end(),
                     plain.centroids().begin(), plain.centroids().end()));
    std::fill(ref.data.sources.begin(), ref.data.sources.end(), "");
    ClusterRouter unnamed(ClusterOptions{.num_clusters = 7});
    REQUIRE(unnamed.Fit(ref.data, ref.catalog).ok());
    CHECK(std::equal(unnamed.centroids().begin(), unnamed.centroids().end(),
                     plain.centroids().begin(), plain.centroids().end()));
  }
}

// Two sources whose directions differ by 0.1 along axis 1, with a nuisance
// twice as large along (axis 1 + axis 2), the same for both: a centroid
// weighs axis 1 alike whatever the nuisance, a linear classifier learns to
// subtract axis 2. "a-model" scores 1 on alpha and 0 on beta, "b-model" the
// reverse.
Reference MakeNuisanceSources(int rows_each, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nuisance(0.0f, 0.2f);
  Reference ref = MakeTwoSources(0, 0, 0);
  ref.data.dim = 3;
  for (int r = 0; r < 2 * rows_each; ++r) {
    const bool alpha = r % 2 == 0;
    const float n = nuisance(rng);
    ref.data.ids.push_back(std::to_string(r));
    ref.data.prompts.push_back("p");
    ref.data.sources.push_back(alpha ? "alpha" : "beta");
    ref.data.splits.push_back(Split::kTrain);
    ref.data.vectors.insert(ref.data.vectors.end(), {1.0f, (alpha ? 0.05f : -0.05f) + n, n});
    ref.data.scores.insert(ref.data.scores.end(), {alpha ? 1.0 : 0.0, alpha ? 0.0 : 1.0});
    ref.data.costs.insert(ref.data.costs.end(), {1e-4, 1e-4});
  }
  return ref;
}

TEST_CASE("clusters by source, weighted by a learned classifier of the source",
          "[cluster][sources]") {
  using Assignment = ClusterOptions::Assignment;
  // The share of fresh queries of each source whose own best model gets the
  // higher quality.
  auto right_share = [](const ClusterRouter& router) {
    const Reference fresh = MakeNuisanceSources(200, 77);
    int right = 0;
    Estimates out;
    for (int64_t r = 0; r < fresh.data.rows(); ++r) {
      const Query query{.vector = fresh.data.vector(r), .input_tokens = 10};
      REQUIRE(router.Estimate(query, &out).ok());
      const bool alpha = fresh.data.sources[r] == "alpha";
      right += (out.per_model[0].quality > out.per_model[1].quality) == alpha;
    }
    return static_cast<double>(right) / fresh.data.rows();
  };

  SECTION("the classifier finds the source where the centroids cannot") {
    const Reference ref = MakeNuisanceSources(200, 3);
    ClusterRouter classified;  // kAuto: two sources of 10 rows or more
    REQUIRE(classified.Fit(ref.data, ref.catalog).ok());
    REQUIRE(classified.by_source_classifier());
    CHECK(classified.num_clusters() == 2);
    CHECK(classified.cluster_sizes()[0] == 200);
    CHECK(classified.cluster_sizes()[1] == 200);
    const double classified_share = right_share(classified);
    CHECK(classified_share > 0.95);

    // k-means with one cluster, split into the two sources' centroids.
    ClusterRouter centroids(
        ClusterOptions{.num_clusters = 1, .assignment = Assignment::kCentroids});
    REQUIRE(centroids.Fit(ref.data, ref.catalog).ok());
    CHECK_FALSE(centroids.by_source_classifier());
    const double centroid_share = right_share(centroids);
    CAPTURE(classified_share, centroid_share);
    CHECK(centroids.num_clusters() == 2);
    CHECK(centroid_share < 0.75);

    // The state round-trips byte for byte and estimates the same.
    std::string state, again;
    REQUIRE(classified.SaveState(&state).ok());
    ClusterRouter loaded;
    REQUIRE(loaded.LoadState(state).ok());
    CHECK(loaded.by_source_classifier());
    REQUIRE(loaded.SaveState(&again).ok());
    CHECK(again == state);
    CHECK(right_share(loaded) == classified_share);
    // A corrupt bias is refused and changes nothing.
    std::string corrupt = state;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const size_t bias_at = state.find(std::string(reinterpret_cast<const char*>(
                                          classified.centroids().data() + 5), sizeof(float))) +
                           sizeof(float) + 1 + 8;  // past Theta's last value, the flag, the length
    std::memcpy(corrupt.data() + bias_at, &nan, sizeof nan);
    const absl::Status refused = loaded.LoadState(corrupt);
    CHECK(refused.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(refused.message()), Catch::Contains("classifier biases"));
    again.clear();
    REQUIRE(loaded.SaveState(&again).ok());
    CHECK(again == state);
  }
  SECTION("a model onboarded from labelled rows takes the sources' clusters") {
    const Reference ref = MakeNuisanceSources(200, 3);
    ClusterRouter router;
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    // "c-model" is good on beta only.
    Reference labelled = MakeNuisanceSources(100, 9);
    labelled.data.model_names = {"c-model"};
    labelled.data.scores.clear();
    labelled.data.costs.clear();
    for (const std::string& source : labelled.data.sources) {
      labelled.data.scores.push_back(source == "beta" ? 1.0 : 0.0);
      labelled.data.costs.push_back(1e-4);
    }
    Profile profile;
    profile.name = "c-model";
    profile.input_usd_per_mtok = 1.0;
    REQUIRE(router.OnboardModel(profile, labelled.data).ok());
    CHECK(router.ClusterQuality(0, 2) < 0.1);  // alpha
    CHECK(router.ClusterQuality(1, 2) > 0.9);  // beta
  }
  SECTION("sources of 10 rows are used, of 9 not; kSources then refuses") {
    const Reference ten = MakeTwoSources(100, 10, 5);
    ClusterRouter router;
    REQUIRE(router.Fit(ten.data, ten.catalog).ok());
    CHECK(router.by_source_classifier());
    REQUIRE(router.num_clusters() == 2);
    // Gamma's 5 rows join one of the two.
    CHECK(router.cluster_sizes()[0] + router.cluster_sizes()[1] == 115);

    const Reference nine = MakeTwoSources(100, 9, 0);
    ClusterRouter automatic;
    REQUIRE(automatic.Fit(nine.data, nine.catalog).ok());
    CHECK_FALSE(automatic.by_source_classifier());
    ClusterRouter by_sources(ClusterOptions{.assignment = Assignment::kSources});
    REQUIRE(by_sources.Fit(ten.data, ten.catalog).ok());
    const absl::Status refused = by_sources.Fit(nine.data, nine.catalog);
    CHECK(refused.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(refused.message()), Catch::Contains("two or more sources"));
    CHECK(by_sources.num_clusters() == 2);  // the failed Fit changed nothing
    CHECK(by_sources.by_source_classifier());
  }
  SECTION("up to 256 sources are classified; more look like ids, not tasks") {
    for (const int count : {256, 257}) {
      INFO(count << " sources");
      Reference ref = MakeTwoSources(10 * count, 0, 0);
      for (int64_t r = 0; r < ref.data.rows(); ++r) {
        ref.data.sources[r] = "s" + std::to_string(r % count);
      }
      ClusterRouter router;
      REQUIRE(router.Fit(ref.data, ref.catalog).ok());
      CHECK(router.by_source_classifier() == (count <= 256));
      CHECK((router.num_clusters() == 256) == (count <= 256));
      if (count == 256) {
        // Every source weighed, highest weight first.
        Estimates out;
        REQUIRE(router.Estimate(Query{.vector = ref.data.vector(0)}, &out).ok());
        REQUIRE(out.evidence.size() == 256);
        double total = 0.0;
        std::vector<bool> seen(256, false);
        for (size_t i = 0; i < out.evidence.size(); ++i) {
          total += out.evidence[i].similarity;
          REQUIRE(out.evidence[i].id >= 0);
          REQUIRE(out.evidence[i].id < 256);
          seen[out.evidence[i].id] = true;
          if (i == 0) continue;
          CHECK(out.evidence[i - 1].similarity >= out.evidence[i].similarity);
        }
        CHECK(total == Approx(1.0).margin(1e-5));
        CHECK(std::count(seen.begin(), seen.end(), true) == 256);
      }
      ClusterRouter by_sources(ClusterOptions{.assignment = Assignment::kSources});
      CHECK(by_sources.Fit(ref.data, ref.catalog).ok() == (count <= 256));
    }
  }
}

TEST_CASE("a request naming its task gets that task's cluster alone", "[cluster][sources]") {
  Reference ref = MakeNuisanceSources(200, 3);
  // Names of one length, so the corruption below can swap them in place.
  for (std::string& source : ref.data.sources) source = source == "alpha" ? "task-one" : "task-two";
  ClusterRouter router;
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE(router.by_source_classifier());
  REQUIRE(router.cluster_sources().size() == 2);
  CHECK(router.cluster_sources()[0] == "task-one");  // first appearance
  CHECK(router.cluster_sources()[1] == "task-two");

  RequestOverrides one, two, unknown, none;
  one.task = "task-one";
  two.task = "task-two";
  unknown.task = "task-three";
  none.lambda = 1.0;  // overrides without a task
  // A query between the two sources, which the classifier cannot place.
  const std::vector<float> between = {1.0f, 0.0f, 0.0f};
  auto estimate = [&](const RequestOverrides* request) {
    Estimates out;
    REQUIRE(router.Estimate(Query{.vector = between, .input_tokens = 10, .overrides = request},
                            &out).ok());
    return out;
  };
  const Estimates inferred = estimate(nullptr);
  REQUIRE(inferred.evidence.size() == 2);
  CHECK(inferred.evidence[0].similarity < 0.9f);  // a real mix

  SECTION("the named task's cluster alone, with weight one") {
    for (const auto& [request, cluster] : {std::pair{&one, 0}, std::pair{&two, 1}}) {
      const Estimates told = estimate(request);
      REQUIRE(told.evidence.size() == 1);
      CHECK(told.evidence[0].id == cluster);
      CHECK(told.evidence[0].similarity == 1.0f);
      for (int m = 0; m < 2; ++m) {
        CHECK(told.per_model[m].quality == router.ClusterQuality(cluster, m));
      }
    }
    // Each source's own best model wins where the text could not tell.
    CHECK(estimate(&one).per_model[0].quality > estimate(&one).per_model[1].quality + 0.5);
    CHECK(estimate(&two).per_model[1].quality > estimate(&two).per_model[0].quality + 0.5);
  }
  SECTION("an unknown task, or none, leaves the classifier to infer it") {
    for (const RequestOverrides* request : {&unknown, &none}) {
      const Estimates out = estimate(request);
      REQUIRE(out.evidence.size() == inferred.evidence.size());
      for (int m = 0; m < 2; ++m) CHECK(out.per_model[m].quality == inferred.per_model[m].quality);
    }
  }
  SECTION("the batch path honours each query's task") {
    const std::vector<const RequestOverrides*> requests = {&one, nullptr, &two, &unknown, &two};
    std::vector<Query> queries;
    for (const RequestOverrides* request : requests) {
      queries.push_back(Query{.vector = between, .input_tokens = 10, .overrides = request});
    }
    std::vector<Estimates> batch(queries.size());
    REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
    for (size_t i = 0; i < queries.size(); ++i) {
      const Estimates single = estimate(requests[i]);
      REQUIRE(batch[i].evidence.size() == single.evidence.size());
      CHECK(batch[i].evidence[0].id == single.evidence[0].id);
      for (int m = 0; m < 2; ++m) {
        CHECK(batch[i].per_model[m].quality == Approx(single.per_model[m].quality).margin(1e-6));
      }
    }
  }
  SECTION("routers with centroids ignore the task") {
    ClusterRouter centroids(
        ClusterOptions{.num_clusters = 1, .assignment = ClusterOptions::Assignment::kCentroids});
    REQUIRE(centroids.Fit(ref.data, ref.catalog).ok());
    CHECK(centroids.cluster_sources().empty());
    Estimates told, plain;
    REQUIRE(centroids.Estimate(Query{.vector = between, .overrides = &two}, &told).ok());
    REQUIRE(centroids.Estimate(Query{.vector = between}, &plain).ok());
    CHECK(told.per_model[1].quality == plain.per_model[1].quality);
    CHECK(told.evidence.size() == plain.evidence.size());
  }
  SECTION("the names are saved; repeated names are refused; version 3 knows none") {
    std::string state;
    REQUIRE(router.SaveState(&state).ok());
    ClusterRouter loaded;
    REQUIRE(loaded.LoadState(state).ok());
    CHECK(loaded.cluster_sources().size() == 2);
    Estimates out;
    REQUIRE(loaded.Estimate(Query{.vector = between, .overrides = &two}, &out).ok());
    CHECK(out.evidence.size() == 1);
    CHECK(out.per_model[1].quality == router.ClusterQuality(1, 1));
    const auto described = loaded.Describe();
    CHECK(std::find(described.begin(), described.end(),
                    std::pair<std::string, std::string>{"tasks", "task-one, task-two"}) !=
          described.end());

    // The names follow the biases, each as a 64-bit length and its bytes.
    const size_t names_at = state.rfind("task-one") - sizeof(uint64_t) - sizeof(uint32_t);
    std::string repeated = state;
    repeated.replace(state.rfind("task-one"), 8, "task-two");
    const absl::Status refused = loaded.LoadState(repeated);
    CHECK(refused.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(refused.message()), Catch::Contains("a name repeats"));
    std::string miscounted = state;
    miscounted[names_at] = 3;
    CHECK(loaded.LoadState(miscounted).code() == absl::StatusCode::kDataLoss);
    std::string again;
    REQUIRE(loaded.SaveState(&again).ok());
    CHECK(again == state);  // the refusals changed nothing

    // Version 3 had no names: it loads, and a told task is then ignored.
    const size_t names_end = state.rfind("task-two") + 8;
    std::string v3 = state.substr(0, names_at) + state.substr(names_end);
    const uint32_t version3 = 3;
    std::memcpy(v3.data(), &version3, sizeof version3);
    ClusterRouter old;
    REQUIRE(old.LoadState(v3).ok());
    CHECK(old.by_source_classifier());
    CHECK(old.cluster_sources().empty());
    REQUIRE(old.Estimate(Query{.vector = between, .overrides = &two}, &out).ok());
    CHECK(out.evidence.size() == 2);
    CHECK(out.per_model[1].quality == Approx(inferred.per_model[1].quality).margin(1e-12));
    // Saved again (version 4, no names), it loads and still knows none.
    std::string resaved;
    REQUIRE(old.SaveState(&resaved).ok());
    REQUIRE(loaded.LoadState(resaved).ok());
    CHECK(loaded.cluster_sources().empty());
  }
}

TEST_CASE("the same seed gives the same clusters, whatever the threads", "[cluster]") {
  Reference ref = MakeReference(500, 10, 2, 5, 9);
  ClusterRouter a(ClusterOptions{.num_clusters = 16, .seed = 5});
  ClusterRouter b(ClusterOptions{.num_clusters = 16, .seed = 5});
  REQUIRE(a.Fit(ref.data, ref.catalog).ok());
  REQUIRE(b.Fit(ref.data, ref.catalog).ok());
  std::string sa, sb;
  REQUIRE(a.SaveState(&sa).ok());
  REQUIRE(b.SaveState(&sb).ok());
  CHECK(sa == sb);
  // Nor does the number of k-means threads change them.
  ClusterRouter threaded(ClusterOptions{.num_clusters = 16, .seed = 5, .kmeans_threads = 0});
  REQUIRE(threaded.Fit(ref.data, ref.catalog).ok());
  CHECK(std::equal(a.centroids().begin(), a.centroids().end(), threaded.centroids().begin(),
                   threaded.centroids().end()));
}

TEST_CASE("cluster batch estimates equal single estimates", "[cluster]") {
  Reference ref = MakeReference(400, 10, 3, 6, 4);
  ClusterOptions options{.num_clusters = 20, .nearest_clusters = 4};
  // Centroids, and the source classifier (whose biases the batch adds too).
  const bool by_source = GENERATE(false, true);
  if (by_source) {
    for (int64_t r = 0; r < ref.data.rows(); ++r) ref.data.sources[r] = "t" + std::to_string(r % 4);
    options.assignment = ClusterOptions::Assignment::kSources;
  }
  ClusterRouter router(options);
  std::mt19937 rng(5);
  std::vector<std::vector<float>> vectors;
  std::vector<Query> queries;
  for (int i = 0; i < 30; ++i) vectors.push_back(RandomVector(10, rng));
  for (size_t i = 0; i < vectors.size(); ++i) {
    queries.push_back(Query{.vector = vectors[i], .input_tokens = static_cast<int64_t>(i + 1)});
  }
  std::vector<Estimates> batch(queries.size());
  CHECK(router.EstimateBatch(queries, absl::MakeSpan(batch)).code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE(router.by_source_classifier() == by_source);
  REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
  std::vector<Estimates> too_few(queries.size() - 1);
  CHECK(router.EstimateBatch(queries, absl::MakeSpan(too_few)).code() ==
        absl::StatusCode::kInvalidArgument);
  for (size_t i = 0; i < queries.size(); ++i) {
    Estimates single;
    REQUIRE(router.Estimate(queries[i], &single).ok());
    REQUIRE(batch[i].evidence.size() == single.evidence.size());
    for (size_t e = 0; e < single.evidence.size(); ++e) {
      CHECK(batch[i].evidence[e].id == single.evidence[e].id);
    }
    for (int m = 0; m < 3; ++m) {
      CHECK(batch[i].per_model[m].quality == Approx(single.per_model[m].quality).margin(1e-6));
      CHECK(batch[i].per_model[m].uncertainty ==
            Approx(single.per_model[m].uncertainty).margin(1e-6));
      CHECK(batch[i].per_model[m].expected_cost_usd ==
            Approx(single.per_model[m].expected_cost_usd).margin(1e-9));
      CHECK(batch[i].per_model[m].support == single.per_model[m].support);
    }
  }
  std::vector<float> bad(10, NAN);
  queries[7] = Query{.vector = bad};
  absl::Status status = router.EstimateBatch(queries, absl::MakeSpan(batch));
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find("query 7") != std::string::npos);
}

TEST_CASE("concurrent estimates equal the single-threaded ones", "[cluster]") {
  Reference ref = MakeReference(500, 16, 4, 8, 18);
  ClusterRouter router(ClusterOptions{.num_clusters = 20});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937 rng(19);
  std::vector<std::vector<float>> vectors;
  std::vector<Estimates> expected(64);
  for (int i = 0; i < 64; ++i) {
    vectors.push_back(RandomVector(16, rng));
    REQUIRE(router.Estimate(Query{.vector = vectors[i]}, &expected[i]).ok());
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Estimates est;
      for (int round = 0; round < 20; ++round) {
        for (int i = 0; i < 64; ++i) {
          const int q = (i + 16 * t) % 64;
          if (!router.Estimate(Query{.vector = vectors[q]}, &est).ok() ||
              est.evidence[0].id != expected[q].evidence[0].id ||
              est.per_model[2].quality != expected[q].per_model[2].quality) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(mismatches == 0);
}

TEST_CASE("cost falls back to the catalog price when no cost was observed", "[cluster]") {
  Reference ref = MakeReference(60, 4, 2, 3, 9);
  // Model 0 has no cost anywhere; model 1 keeps its costs.
  for (int64_t r = 0; r < ref.data.rows(); ++r) ref.data.costs[r * 2] = NAN;
  ClusterRouter router(ClusterOptions{.num_clusters = 4});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  Estimates est;
  REQUIRE(router.Estimate(Query{.vector = ref.data.vector(0), .input_tokens = 1000}, &est).ok());
  CHECK(est.per_model[0].expected_cost_usd == Approx(1.0e-3));  // 1,000 tokens at $1/M
  CHECK(est.per_model[1].expected_cost_usd < 1e-3);  // observed costs are in [0, 1e-3)
  CHECK(est.per_model[1].expected_cost_usd != Approx(2.0e-3));  // not its price
  // Without a token count, a prompt of 8 bytes counts as 2 tokens.
  REQUIRE(router.Estimate(Query{.vector = ref.data.vector(0), .text = "12345678"}, &est).ok());
  CHECK(est.per_model[0].expected_cost_usd == Approx(2.0e-6));
}

TEST_CASE("a warm Estimate does not allocate", "[cluster]") {
  if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off under sanitizers");
  Reference ref = MakeReference(500, 32, 9, 10, 10);
  ClusterRouter router(ClusterOptions{.num_clusters = 24, .nearest_clusters = 3});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937 rng(11);
  std::vector<float> q1 = RandomVector(32, rng), q2 = RandomVector(32, rng);
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

TEST_CASE("only the direction of a query matters, even for huge values", "[cluster]") {
  Reference ref = MakeReference(200, 6, 2, 4, 16);
  ClusterRouter router(ClusterOptions{.num_clusters = 6});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937 rng(17);
  std::vector<float> q = RandomVector(6, rng);
  Estimates a;
  REQUIRE(router.Estimate(Query{.vector = q}, &a).ok());
  // Float sums of squares of these overflow or underflow.
  for (float factor : {1e37f, 1e-25f, 3.0f}) {
    std::vector<float> scaled = q;
    for (float& x : scaled) x *= factor;
    Estimates b;
    REQUIRE(router.Estimate(Query{.vector = scaled}, &b).ok());
    REQUIRE(a.evidence.size() == b.evidence.size());
    for (size_t i = 0; i < a.evidence.size(); ++i) {
      CHECK(a.evidence[i].id == b.evidence[i].id);
      CHECK(a.evidence[i].similarity == Approx(b.evidence[i].similarity).margin(1e-5));
    }
    CHECK(a.per_model[0].quality == Approx(b.per_model[0].quality).margin(1e-6));
  }
}

TEST_CASE("cluster rejects bad input and a failed Fit changes nothing", "[cluster][errors]") {
  Reference ref = MakeReference(80, 6, 2, 4, 10);
  ClusterRouter router(ClusterOptions{.num_clusters = 5});
  std::vector<float> q(6, 0.5f);
  Estimates est;
  CHECK(router.Estimate(Query{.vector = q}, &est).code() == absl::StatusCode::kFailedPrecondition);
  std::string state;
  CHECK(router.SaveState(&state).code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  CHECK(router.Estimate(Query{.vector = q}, nullptr).code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> short_q(5, 0.5f);
  CHECK(router.Estimate(Query{.vector = short_q}, &est).code() ==
        absl::StatusCode::kInvalidArgument);
  q[2] = NAN;
  CHECK(router.Estimate(Query{.vector = q}, &est).code() == absl::StatusCode::kInvalidArgument);
  q[2] = 0.5f;

  // Zero query vector: still answers (every similarity is 0).
  std::vector<float> zero(6, 0.0f);
  CHECK(router.Estimate(Query{.vector = zero}, &est).ok());

  Dataset no_vectors = ref.data;
  no_vectors.vectors.clear();
  no_vectors.dim = 0;
  CHECK_FALSE(router.Fit(no_vectors, ref.catalog).ok());
  Catalog extra = ref.catalog;
  REQUIRE(extra.Add(Profile{.name = "not-in-data"}).ok());
  CHECK(std::string(router.Fit(ref.data, extra).message()).find("not-in-data") !=
        std::string::npos);
  Dataset other_dim = MakeReference(80, 3, 2, 4, 11).data;
  other_dim.vectors[5] = NAN;
  CHECK_FALSE(router.Fit(other_dim, ref.catalog).ok());
  CHECK_FALSE(router.Fit(ref.data, Catalog{}).ok());

  const ClusterOptions bad_options[] = {
      {.num_clusters = -1},        {.nearest_clusters = 0},   {.temperature = 0.0},
      {.temperature = NAN},        {.temperature = INFINITY}, {.prior_strength = -1.0},
      {.prior_strength = INFINITY}, {.kmeans_iterations = 0}, {.kmeans_restarts = 0},
      {.kmeans_threads = -1},
  };
  for (const ClusterOptions& o : bad_options) {
    CHECK(ClusterRouter(o).Fit(ref.data, ref.catalog).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  // Still the first fit.
  CHECK(router.dim() == 6);
  CHECK(router.num_clusters() == 5);
  CHECK(router.Estimate(Query{.vector = q}, &est).ok());
}

TEST_CASE("cluster state round-trips bit-identically and bad state changes nothing",
          "[cluster][state]") {
  Reference ref = MakeReference(300, 8, 3, 5, 12);
  ClusterRouter router(ClusterOptions{.num_clusters = 9, .nearest_clusters = 2,
                                      .temperature = 0.2, .prior_strength = 3.0});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::string state;
  REQUIRE(router.SaveState(&state).ok());

  ClusterRouter loaded;
  REQUIRE(loaded.LoadState(state).ok());
  std::string again;
  REQUIRE(loaded.SaveState(&again).ok());
  CHECK(again == state);
  CHECK(loaded.options().nearest_clusters == 2);
  CHECK(loaded.options().temperature == 0.2);
  CHECK(loaded.catalog().size() == 3);
  std::mt19937 rng(13);
  for (int i = 0; i < 10; ++i) {
    std::vector<float> q = RandomVector(8, rng);
    Estimates a, b;
    REQUIRE(router.Estimate(Query{.vector = q, .input_tokens = 10}, &a).ok());
    REQUIRE(loaded.Estimate(Query{.vector = q, .input_tokens = 10}, &b).ok());
    for (int m = 0; m < 3; ++m) {
      CHECK(a.per_model[m].quality == b.per_model[m].quality);
      CHECK(a.per_model[m].uncertainty == b.per_model[m].uncertainty);
      CHECK(a.per_model[m].expected_cost_usd == b.per_model[m].expected_cost_usd);
      CHECK(a.per_model[m].support == b.per_model[m].support);
    }
  }

  // Every truncation fails cleanly and leaves the loaded router as it was.
  for (size_t cut = 0; cut < state.size(); cut += std::max<size_t>(1, state.size() / 97)) {
    CHECK(loaded.LoadState(std::string_view(state).substr(0, cut)).code() ==
          absl::StatusCode::kDataLoss);
  }
  CHECK(loaded.LoadState(state + "x").code() == absl::StatusCode::kDataLoss);
  auto corrupt_double = [&](size_t offset, double value) {
    std::string bad = state;
    std::memcpy(bad.data() + offset, &value, sizeof(value));
    return loaded.LoadState(bad);
  };
  CHECK(corrupt_double(12, -1.0).code() == absl::StatusCode::kDataLoss);   // temperature
  CHECK(corrupt_double(20, NAN).code() == absl::StatusCode::kDataLoss);    // prior strength
  // A quality value out of range: the first quality cell sits after the
  // centroids and the cluster sizes, found by its value.
  const double first_quality = router.ClusterQuality(0, 0);
  const size_t at = state.find(std::string(reinterpret_cast<const char*>(&first_quality), 8));
  REQUIRE(at != std::string::npos);
  CHECK(corrupt_double(at, 1.5).code() == absl::StatusCode::kDataLoss);
  std::string version = state;
  version[0] = 9;
  CHECK(loaded.LoadState(version).code() == absl::StatusCode::kDataLoss);

  std::string after;
  REQUIRE(loaded.SaveState(&after).ok());
  CHECK(after == state);
}

// ------------------------------------------------------------- onboarding

// Synthetic topic data with the built-in featurizer's vectors.
struct Embedded {
  SyntheticData synthetic;
  TextFeaturizer featurizer{TextFeaturizerOptions{.dim = 32}};
};

using testing::EmbedAll;

TEST_CASE("an onboarded model is chosen on its strong topics and only there",
          "[cluster][onboard]") {
  SyntheticData train = GenerateSynthetic({.rows = 1800, .seed = 21});
  SyntheticData labelled = GenerateSynthetic({.rows = 300, .seed = 22});
  TextFeaturizer featurizer(TextFeaturizerOptions{.dim = 32});
  REQUIRE(featurizer.Fit(train.dataset.prompts).ok());
  EmbedAll(featurizer, &train.dataset);
  EmbedAll(featurizer, &labelled.dataset);

  for (const std::string dropped : {"small-coder", "small-math"}) {
    DYNAMIC_SECTION("onboarding " << dropped) {
      Catalog without;
      Profile dropped_profile;
      for (const Profile& p : train.catalog.profiles()) {
        if (p.name == dropped) {
          dropped_profile = p;
        } else {
          REQUIRE(without.Add(p).ok());
        }
      }
      ClusterRouter router;  // the defaults
      REQUIRE(router.Fit(train.dataset, without).ok());
      const int before_models = router.catalog().size();

      // Estimates of the other models before onboarding, to check they stay.
      std::vector<std::string> prompts;
      std::vector<int> topic_of;
      for (int t = 0; t < static_cast<int>(train.topics.size()); ++t) {
        for (int i = 0; i < 20; ++i) {
          prompts.push_back(SyntheticPrompt(t, 1000 + 100 * t + i));
          topic_of.push_back(t);
        }
      }
      std::vector<float> v(featurizer.dim());
      std::vector<Estimates> before(prompts.size());
      for (size_t i = 0; i < prompts.size(); ++i) {
        REQUIRE(featurizer.Embed(prompts[i], absl::MakeSpan(v)).ok());
        REQUIRE(router.Estimate(Query{.vector = v, .text = prompts[i]}, &before[i]).ok());
      }

      REQUIRE(router.OnboardModel(dropped_profile, labelled.dataset).ok());
      REQUIRE(router.catalog().size() == before_models + 1);
      const int index = router.catalog().Find(dropped).value();
      CHECK(index == before_models);

      // For comparison, a router that had the model in training.
      ClusterRouter full;
      REQUIRE(full.Fit(train.dataset, train.catalog).ok());

      auto policy = MaxUtilityPolicy::Create(0.0).value();
      std::vector<int> chosen_on_topic(train.topics.size(), 0);
      std::vector<int> full_chose(train.topics.size(), 0);
      for (size_t i = 0; i < prompts.size(); ++i) {
        REQUIRE(featurizer.Embed(prompts[i], absl::MakeSpan(v)).ok());
        Estimates est;
        const Query query{.vector = v, .text = prompts[i]};
        REQUIRE(full.Estimate(query, &est).ok());
        Decision full_decision;
        REQUIRE(policy->Decide(est, full.catalog(), query, &full_decision).ok());
        if (full_decision.chosen.model == dropped) ++full_chose[topic_of[i]];
        REQUIRE(router.Estimate(query, &est).ok());
        for (int m = 0; m < before_models; ++m) {
          CHECK(est.per_model[m].quality == before[i].per_model[m].quality);
          CHECK(est.per_model[m].expected_cost_usd == before[i].per_model[m].expected_cost_usd);
        }
        CHECK(est.per_model[index].support > 0);
        Decision decision;
        REQUIRE(policy->Decide(est, router.catalog(), query, &decision).ok());
        if (decision.chosen.model == dropped) ++chosen_on_topic[topic_of[i]];
      }
      for (size_t t = 0; t < train.topics.size(); ++t) {
        INFO("topic " << train.topics[t]);
        if (train.best_model_of_topic[t] == dropped) {
          CHECK(chosen_on_topic[t] >= 16);  // of 20
          CHECK(chosen_on_topic[t] >= full_chose[t] - 2);
        } else {
          CHECK(chosen_on_topic[t] <= 2);
        }
      }

      // The onboarded model survives a state round trip.
      std::string state;
      REQUIRE(router.SaveState(&state).ok());
      ClusterRouter loaded;
      REQUIRE(loaded.LoadState(state).ok());
      CHECK(loaded.catalog().Find(dropped).ok());
      std::string again;
      REQUIRE(loaded.SaveState(&again).ok());
      CHECK(again == state);
    }
  }
}

TEST_CASE("onboarding rejects bad input and changes nothing on error",
          "[cluster][onboard][errors]") {
  Reference ref = MakeReference(200, 6, 3, 4, 14);
  Catalog two;
  REQUIRE(two.Add(ref.catalog.at(0)).ok());
  REQUIRE(two.Add(ref.catalog.at(1)).ok());
  const Profile newcomer = ref.catalog.at(2);

  ClusterRouter router(ClusterOptions{.num_clusters = 6});
  CHECK(router.OnboardModel(newcomer, ref.data).code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(router.Fit(ref.data, two).ok());
  std::string state;
  REQUIRE(router.SaveState(&state).ok());

  CHECK(router.OnboardModel(ref.catalog.at(1), ref.data).code() ==
        absl::StatusCode::kAlreadyExists);
  Dataset no_scores = ref.data;
  for (int64_t r = 0; r < no_scores.rows(); ++r) no_scores.scores[r * 3 + 2] = NAN;
  CHECK(router.OnboardModel(newcomer, no_scores).code() == absl::StatusCode::kInvalidArgument);
  Dataset wrong_dim = MakeReference(50, 5, 3, 4, 15).data;
  absl::Status dim_status = router.OnboardModel(newcomer, wrong_dim);
  CHECK(dim_status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(dim_status.message()).find("dimension 5") != std::string::npos);
  Dataset no_vectors = ref.data;
  no_vectors.vectors.clear();
  no_vectors.dim = 0;
  CHECK(router.OnboardModel(newcomer, no_vectors).code() == absl::StatusCode::kInvalidArgument);
  Dataset bad_vector = ref.data;
  bad_vector.vectors[6 * 3 + 1] = INFINITY;
  CHECK(router.OnboardModel(newcomer, bad_vector).code() == absl::StatusCode::kInvalidArgument);
  Profile unknown = newcomer;
  unknown.name = "not-a-column";
  CHECK(router.OnboardModel(unknown, ref.data).code() == absl::StatusCode::kInvalidArgument);
  Profile bad_price = newcomer;
  bad_price.input_usd_per_mtok = -1.0;
  CHECK(router.OnboardModel(bad_price, ref.data).code() == absl::StatusCode::kInvalidArgument);

  std::string after;
  REQUIRE(router.SaveState(&after).ok());
  CHECK(after == state);

  // And a valid onboarding works: the new model's clusters come from its rows.
  REQUIRE(router.OnboardModel(newcomer, ref.data).ok());
  CHECK(router.catalog().size() == 3);
  ClusterRouter refit(ClusterOptions{.num_clusters = 6});
  REQUIRE(refit.Fit(ref.data, ref.catalog).ok());
  // Same data, same clusters: onboarding model 2 equals fitting it.
  for (int k = 0; k < 6; ++k) {
    CHECK(router.ClusterQuality(k, 2) == Approx(refit.ClusterQuality(k, 2)));
  }
}

}  // namespace
}  // namespace router
