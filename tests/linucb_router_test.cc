#include "router/linucb_router.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.h"
#include "embed_all.h"
#include "skip.h"

#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace router {
namespace {

// ------------------------------------------------------------------ helpers

// Deterministic uniform [0, 1) from a 64-bit Mersenne Twister (the engine's
// output is fixed by the standard; distributions are not).
double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

struct RandomData {
  Dataset data;
  Catalog catalog;
};

// `rows` Gaussian vectors of dimension `dim`, `models` models with 0/1 or
// fractional scores (about 10% missing) and small costs.
RandomData MakeRandom(int64_t rows, int dim, int models, uint64_t seed,
                      double missing = 0.1) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss;
  RandomData out;
  for (int m = 0; m < models; ++m) {
    Profile p;
    p.name = "model-" + std::to_string(m);
    p.input_usd_per_mtok = 1.0 + m;
    p.output_usd_per_mtok = 2.0 + m;
    REQUIRE(out.catalog.Add(p).ok());
    out.data.model_names.push_back(p.name);
  }
  out.data.dim = dim;
  for (int64_t r = 0; r < rows; ++r) {
    out.data.ids.push_back("r" + std::to_string(r));
    out.data.prompts.push_back("p");
    out.data.sources.push_back("s");
    out.data.splits.push_back(Split::kTrain);
    for (int d = 0; d < dim; ++d) out.data.vectors.push_back(gauss(rng));
    for (int m = 0; m < models; ++m) {
      const bool absent = Uniform(rng) < missing;
      out.data.scores.push_back(absent ? NAN : std::round(Uniform(rng) * 4.0) / 4.0);
      out.data.costs.push_back(absent ? NAN : Uniform(rng) * 1e-3);
    }
  }
  return out;
}

std::vector<float> RandomVector(int dim, std::mt19937_64& rng) {
  std::normal_distribution<float> gauss;
  std::vector<float> v(dim);
  for (float& x : v) x = gauss(rng);
  return v;
}

std::string StateOf(const LinUcbRouter& router) {
  std::string state;
  REQUIRE(router.SaveState(&state).ok());
  return state;
}

bool FiniteEstimates(const Estimates& e) {
  for (const ModelEstimate& m : e.per_model) {
    if (!std::isfinite(m.quality) || m.quality < 0.0 || m.quality > 1.0) return false;
    if (!std::isfinite(m.uncertainty) || m.uncertainty < 0.0) return false;
    if (!std::isfinite(m.expected_cost_usd) || m.expected_cost_usd < 0.0) return false;
  }
  return true;
}

// Synthetic data embedded with the built-in featurizer.
struct Embedded {
  SyntheticData synthetic;
  TextFeaturizer featurizer;
};

std::unique_ptr<Embedded> EmbedSynthetic(int64_t rows, uint64_t seed, int dim = 48) {
  auto out = std::make_unique<Embedded>();
  out->synthetic = GenerateSynthetic({.rows = rows, .seed = seed});
  out->featurizer = TextFeaturizer({.dim = dim});
  Dataset& data = out->synthetic.dataset;
  REQUIRE(out->featurizer.Fit(data.prompts).ok());
  testing::EmbedAll(out->featurizer, &data);
  return out;
}

std::vector<float> EmbedText(const TextFeaturizer& featurizer, const std::string& text) {
  std::vector<float> v(featurizer.dim());
  REQUIRE(featurizer.Embed(text, absl::MakeSpan(v)).ok());
  return v;
}

// Index of the largest quality + uncertainty - lambda * cost (ties: lower index).
int Optimistic(const Estimates& e, double lambda = 0.0) {
  int best = 0;
  double best_value = -1e300;
  for (int m = 0; m < static_cast<int>(e.per_model.size()); ++m) {
    const ModelEstimate& x = e.per_model[m];
    const double value = x.quality + x.uncertainty - lambda * x.expected_cost_usd;
    if (value > best_value) {
      best_value = value;
      best = m;
    }
  }
  return best;
}

int Greedy(const Estimates& e) {
  int best = 0;
  for (int m = 1; m < static_cast<int>(e.per_model.size()); ++m) {
    if (e.per_model[m].quality > e.per_model[best].quality) best = m;
  }
  return best;
}

// Solves the small dense system M x = y by Gaussian elimination with partial
// pivoting (test reference, n <= 16).
std::vector<double> Solve(std::vector<std::vector<double>> m, std::vector<double> y) {
  const size_t n = y.size();
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
    }
    std::swap(m[col], m[pivot]);
    std::swap(y[col], y[pivot]);
    for (size_t r = col + 1; r < n; ++r) {
      const double f = m[r][col] / m[col][col];
      for (size_t k = col; k < n; ++k) m[r][k] -= f * m[col][k];
      y[r] -= f * y[col];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = y[i];
    for (size_t k = i + 1; k < n; ++k) s -= m[i][k] * x[k];
    x[i] = s / m[i][i];
  }
  return x;
}

// ------------------------------------------------------------------ options

TEST_CASE("LinUCB options are validated", "[linucb]") {
  CHECK(ValidateLinUcbOptions({}).ok());
  std::vector<LinUcbOptions> bad(10);
  bad[0].context_dim = 0;
  bad[1].context_dim = 1025;
  bad[2].alpha = -0.1;
  bad[3].alpha = NAN;
  bad[4].ridge = 0.0;
  bad[5].ridge = INFINITY;
  bad[6].prior_quality = 1.5;
  bad[7].reinvert_every = 0;
  bad[8].clusters = -1;
  bad[9].clusters = 1025;
  RandomData ref = MakeRandom(50, 4, 2, 1);
  for (const LinUcbOptions& options : bad) {
    CHECK(ValidateLinUcbOptions(options).code() == absl::StatusCode::kInvalidArgument);
    LinUcbRouter router(options);
    CHECK(router.Fit(ref.data, ref.catalog).code() == absl::StatusCode::kInvalidArgument);
    CHECK(router.dim() == 0);
  }
}

TEST_CASE("LinUCB before Fit", "[linucb]") {
  LinUcbRouter router;
  CHECK(router.kind() == "linucb");
  CHECK(router.dim() == 0);
  CHECK(router.catalog().empty());
  std::vector<float> v(4, 1.0f);
  Estimates e;
  CHECK(router.Estimate(Query{.vector = v}, &e).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(router.Observe({.vector = v, .model = "a", .score = 1.0}).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(router.OnboardModel(Profile{.name = "a"}, Dataset{}).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(router.RemoveModel("a").code() == absl::StatusCode::kFailedPrecondition);
  std::string state;
  CHECK(router.SaveState(&state).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("LinUCB Fit rejects bad data and leaves the router unchanged", "[linucb]") {
  RandomData ref = MakeRandom(80, 6, 3, 2);
  LinUcbRouter router(LinUcbOptions{.context_dim = 4});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  const std::string before = StateOf(router);

  Dataset no_vectors = ref.data;
  no_vectors.vectors.clear();
  no_vectors.dim = 0;
  CHECK(router.Fit(no_vectors, ref.catalog).code() == absl::StatusCode::kInvalidArgument);
  Dataset nan_vector = ref.data;
  nan_vector.vectors[7] = NAN;
  CHECK(router.Fit(nan_vector, ref.catalog).code() == absl::StatusCode::kInvalidArgument);
  Catalog unknown = ref.catalog;
  REQUIRE(unknown.Add(Profile{.name = "not-in-data"}).ok());
  CHECK(router.Fit(ref.data, unknown).code() == absl::StatusCode::kInvalidArgument);
  CHECK(router.Fit(ref.data, Catalog{}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(StateOf(router) == before);

  // Without warm start, scores are not needed.
  LinUcbRouter cold(LinUcbOptions{.context_dim = 4, .warm_start = false});
  CHECK(cold.Fit(ref.data, unknown).ok());
  CHECK(cold.snapshot().updates(3) == 0);
}

TEST_CASE("LinUCB Fit is deterministic and reduces to the data's rank", "[linucb]") {
  RandomData ref = MakeRandom(120, 10, 3, 3);
  LinUcbRouter a(LinUcbOptions{.context_dim = 6}), b(LinUcbOptions{.context_dim = 6});
  REQUIRE(a.Fit(ref.data, ref.catalog).ok());
  REQUIRE(b.Fit(ref.data, ref.catalog).ok());
  CHECK(StateOf(a) == StateOf(b));
  CHECK(a.dim() == 10);
  CHECK(a.snapshot().context_dim() == 7);

  // context_dim above the input dimension is lowered to it.
  LinUcbRouter wide(LinUcbOptions{.context_dim = 64});
  REQUIRE(wide.Fit(ref.data, ref.catalog).ok());
  CHECK(wide.snapshot().context_dim() == 11);

  // Rank 2 data: only two components survive.
  RandomData low = MakeRandom(60, 8, 2, 4);
  std::mt19937_64 rng(5);
  std::vector<float> u = RandomVector(8, rng), w = RandomVector(8, rng);
  for (int64_t r = 0; r < low.data.rows(); ++r) {
    const float s = static_cast<float>(Uniform(rng) + 0.5), t = static_cast<float>(Uniform(rng));
    for (int d = 0; d < 8; ++d) low.data.vectors[r * 8 + d] = s * u[d] + t * w[d];
  }
  LinUcbRouter ranked(LinUcbOptions{.context_dim = 6});
  REQUIRE(ranked.Fit(low.data, low.catalog).ok());
  CHECK(ranked.snapshot().context_dim() <= 3);
  CHECK(ranked.snapshot().context_dim() >= 2);

  // Identical vectors: no component, the context is the bias alone.
  RandomData same = MakeRandom(10, 4, 2, 6);
  for (int64_t r = 0; r < same.data.rows(); ++r) {
    for (int d = 0; d < 4; ++d) same.data.vectors[r * 4 + d] = static_cast<float>(d + 1);
  }
  LinUcbRouter constant;
  REQUIRE(constant.Fit(same.data, same.catalog).ok());
  CHECK(constant.snapshot().context_dim() == 1);

  // Clusters add their one-hot; more clusters than rows are lowered.
  LinUcbRouter clustered(LinUcbOptions{.context_dim = 6, .clusters = 5});
  REQUIRE(clustered.Fit(ref.data, ref.catalog).ok());
  CHECK(clustered.snapshot().context_dim() == 6 + 5 + 1);
  LinUcbRouter clustered_again(LinUcbOptions{.context_dim = 6, .clusters = 5});
  REQUIRE(clustered_again.Fit(ref.data, ref.catalog).ok());
  CHECK(StateOf(clustered) == StateOf(clustered_again));
  LinUcbRouter few_rows(LinUcbOptions{.context_dim = 2, .clusters = 50});
  REQUIRE(few_rows.Fit(same.data, same.catalog).ok());
  CHECK(few_rows.snapshot().context_dim() == 0 + 10 + 1);
  Estimates e;
  std::vector<float> q = RandomVector(4, rng);
  REQUIRE(constant.Estimate(Query{.vector = q}, &e).ok());
  CHECK(FiniteEstimates(e));
}

TEST_CASE("LinUCB randomized PCA above 1024 dimensions is seeded", "[linucb]") {
  RandomData ref = MakeRandom(40, 1100, 2, 7);
  LinUcbRouter a(LinUcbOptions{.context_dim = 8, .seed = 1});
  LinUcbRouter b(LinUcbOptions{.context_dim = 8, .seed = 1});
  REQUIRE(a.Fit(ref.data, ref.catalog).ok());
  REQUIRE(b.Fit(ref.data, ref.catalog).ok());
  CHECK(a.snapshot().context_dim() == 9);
  CHECK(StateOf(a) == StateOf(b));
  std::mt19937_64 rng(8);
  std::vector<float> q = RandomVector(1100, rng);
  Estimates e;
  REQUIRE(a.Estimate(Query{.vector = q}, &e).ok());
  CHECK(FiniteEstimates(e));
}

// ------------------------------------------------------------------ the model

// A vector of group `group` (< dim): the group's axis plus noise, so that
// groups lie far apart on the unit sphere and k-means finds them.
std::vector<float> GroupVector(int group, int dim, std::mt19937_64& rng) {
  std::normal_distribution<float> noise(0.0f, 0.12f);
  std::vector<float> v(dim);
  for (int d = 0; d < dim; ++d) v[d] = (d == group ? 1.0f : 0.0f) + noise(rng);
  return v;
}

// With every principal component kept and without whitening, the context is
// an orthogonal rotation of the centred unit vector scaled by s = 1 /
// sqrt(total variance), plus the bias. LinUCB on it equals ridge regression on
// f = [x/|x| - mean; 1] with penalty diag(ridge / s^2, ..., ridge) and the
// prior on the bias, which this test computes directly. Whitened, the
// context is Lambda^-1/2 V^T (x/|x| - mean): the same regression with the
// penalty ridge * Sigma (the unit vectors' covariance) on the feature block.
// With K clusters, the one-hot of the nearest centroid goes between the two,
// with penalty ridge * I: here the vectors come in K well-separated groups,
// so the nearest centroid is the vector's group (up to the centroids' order,
// which the isotropic penalty does not see).
TEST_CASE("LinUCB estimates equal a direct ridge-regression reference", "[linucb]") {
  const bool whiten = GENERATE(false, true);
  const int clusters = GENERATE(0, 3);
  INFO("whiten " << whiten << ", clusters " << clusters);
  const int dim = 5;
  RandomData ref = MakeRandom(60, dim, 3, 11);
  std::mt19937_64 group_rng(13);
  std::vector<int> group_of_row(ref.data.rows(), -1);
  if (clusters > 0) {
    for (int64_t r = 0; r < ref.data.rows(); ++r) {
      group_of_row[r] = static_cast<int>(r % clusters);
      const std::vector<float> v = GroupVector(group_of_row[r], dim, group_rng);
      std::copy(v.begin(), v.end(), ref.data.vectors.begin() + r * dim);
    }
  }
  const LinUcbOptions options{.context_dim = 8, .alpha = 0.7, .ridge = 0.5,
                              .prior_quality = 0.3, .reinvert_every = 1000000,
                              .whiten = whiten, .clusters = clusters};
  LinUcbRouter router(options);
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE(router.snapshot().context_dim() == dim + clusters + 1);

  auto unit = [](absl::Span<const float> v) {
    double n = 0;
    for (float x : v) n += double(x) * x;
    std::vector<double> u(v.size());
    for (size_t i = 0; i < v.size(); ++i) u[i] = v[i] / std::sqrt(n);
    return u;
  };
  std::vector<double> mean(dim, 0.0);
  for (int64_t r = 0; r < ref.data.rows(); ++r) {
    std::vector<double> u = unit(ref.data.vector(r));
    for (int d = 0; d < dim; ++d) mean[d] += u[d] / ref.data.rows();
  }
  std::vector<std::vector<double>> covariance(dim, std::vector<double>(dim, 0.0));
  for (int64_t r = 0; r < ref.data.rows(); ++r) {
    std::vector<double> u = unit(ref.data.vector(r));
    for (int i = 0; i < dim; ++i) {
      for (int j = 0; j < dim; ++j) {
        covariance[i][j] += (u[i] - mean[i]) * (u[j] - mean[j]) / ref.data.rows();
      }
    }
  }
  double total_variance = 0.0;
  for (int d = 0; d < dim; ++d) total_variance += covariance[d][d];
  // The feature block's penalty: ridge / s^2 on the diagonal, or ridge * Sigma.
  auto penalty = [&](int i, int j) {
    if (whiten) return options.ridge * covariance[i][j];
    return i == j ? options.ridge * total_variance : 0.0;
  };

  // `group`: the vector's group, when clustered.
  auto features = [&](absl::Span<const float> v, int group) {
    std::vector<double> f = unit(v);
    for (int d = 0; d < dim; ++d) f[d] -= mean[d];
    for (int k = 0; k < clusters; ++k) f.push_back(k == group ? 1.0 : 0.0);
    f.push_back(1.0);
    return f;
  };
  // Per model: M = P + sum f f^T, y = ridge * prior * e + sum r f.
  const int c = dim + clusters + 1;
  std::vector<std::vector<std::vector<double>>> mats(3, std::vector<std::vector<double>>(
                                                            c, std::vector<double>(c, 0.0)));
  std::vector<std::vector<double>> rhs(3, std::vector<double>(c, 0.0));
  for (int m = 0; m < 3; ++m) {
    for (int i = 0; i < dim; ++i) {
      for (int j = 0; j < dim; ++j) mats[m][i][j] = penalty(i, j);
    }
    for (int i = dim; i < c; ++i) mats[m][i][i] = options.ridge;
    rhs[m][c - 1] = options.ridge * options.prior_quality;
  }
  auto add = [&](int m, const std::vector<double>& f, double score) {
    for (int i = 0; i < c; ++i) {
      for (int j = 0; j < c; ++j) mats[m][i][j] += f[i] * f[j];
      rhs[m][i] += score * f[i];
    }
  };
  for (int64_t r = 0; r < ref.data.rows(); ++r) {
    for (int m = 0; m < 3; ++m) {
      if (!std::isnan(ref.data.score(r, m))) {
        add(m, features(ref.data.vector(r), group_of_row[r]), ref.data.score(r, m));
      }
    }
  }

  std::mt19937_64 rng(12);
  // A query (of a random group when clustered) and its group.
  auto draw = [&](int* group) {
    *group = clusters > 0 ? static_cast<int>(rng() % clusters) : -1;
    return clusters > 0 ? GroupVector(*group, dim, rng) : RandomVector(dim, rng);
  };
  auto compare = [&]() {
    for (int trial = 0; trial < 10; ++trial) {
      int group = -1;
      std::vector<float> q = draw(&group);
      std::vector<double> f = features(q, group);
      Estimates e;
      REQUIRE(router.Estimate(Query{.vector = q}, &e).ok());
      REQUIRE(e.per_model.size() == 3);
      for (int m = 0; m < 3; ++m) {
        std::vector<double> theta = Solve(mats[m], rhs[m]);
        std::vector<double> minv_f = Solve(mats[m], f);
        double mean_score = 0.0, width_sq = 0.0;
        for (int i = 0; i < c; ++i) {
          mean_score += theta[i] * f[i];
          width_sq += f[i] * minv_f[i];
        }
        CHECK(e.per_model[m].quality == Approx(std::clamp(mean_score, 0.0, 1.0)).margin(2e-5));
        CHECK(e.per_model[m].uncertainty ==
              Approx(options.alpha * std::sqrt(width_sq)).margin(2e-5));
      }
    }
  };
  compare();

  // Online updates (Sherman-Morrison, no re-inversion) keep matching.
  for (int step = 0; step < 200; ++step) {
    int group = -1;
    std::vector<float> v = draw(&group);
    const int m = step % 3;
    const double score = Uniform(rng);
    REQUIRE(router.Observe({.vector = v, .model = "model-" + std::to_string(m),
                            .score = score, .cost_usd = 1e-4})
                .ok());
    add(m, features(v, group), score);
  }
  compare();
  for (int m = 0; m < 3; ++m) CHECK(router.snapshot().InverseResidual(m) < 1e-9);
}

TEST_CASE("LinUCB support, cost and online_updates", "[linucb]") {
  RandomData ref = MakeRandom(100, 6, 2, 13, /*missing=*/0.0);
  // Model 1 has no costs in the data: the catalog price applies.
  for (int64_t r = 0; r < ref.data.rows(); ++r) ref.data.costs[r * 2 + 1] = NAN;
  ref.data.scores[0 * 2 + 0] = NAN;  // model 0 misses one score
  LinUcbRouter router(LinUcbOptions{.context_dim = 4, .alpha = 0.2});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937_64 rng(14);
  std::vector<float> q = RandomVector(6, rng);
  Estimates e;
  REQUIRE(router.Estimate(Query{.vector = q, .input_tokens = 1000}, &e).ok());
  CHECK(e.per_model[0].support == 99);
  CHECK(e.per_model[1].support == 100);
  double cost_sum = 0.0;
  for (int64_t r = 0; r < ref.data.rows(); ++r) cost_sum += ref.data.cost(r, 0);
  CHECK(e.per_model[0].expected_cost_usd == Approx(cost_sum / 100.0));
  // 1,000 input tokens at $2/M plus 200 expected output tokens at $3/M.
  CHECK(e.per_model[1].expected_cost_usd == Approx(2.6e-3));
  CHECK(e.evidence.empty());
  CHECK(router.snapshot().online_updates() == 0);

  // Feedback: support + 1, the observed cost replaces the price, and the
  // estimate moves towards the score.
  const double before = e.per_model[1].quality;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(router.Observe({.vector = q, .model = "model-1", .score = 1.0, .cost_usd = 0.002}).ok());
  }
  Estimates after;
  REQUIRE(router.Estimate(Query{.vector = q, .input_tokens = 1000}, &after).ok());
  CHECK(after.per_model[1].support == 105);
  CHECK(after.per_model[1].expected_cost_usd == Approx(0.002));
  CHECK(after.per_model[1].quality > before);
  CHECK(after.per_model[1].uncertainty < e.per_model[1].uncertainty);
  CHECK(after.per_model[0].quality == e.per_model[0].quality);  // other arms untouched
  CHECK(router.snapshot().online_updates() == 5);

  // alpha = 0: pure exploitation, no bonus.
  LinUcbRouter greedy(LinUcbOptions{.context_dim = 4, .alpha = 0.0});
  REQUIRE(greedy.Fit(ref.data, ref.catalog).ok());
  REQUIRE(greedy.Estimate(Query{.vector = q}, &e).ok());
  for (const ModelEstimate& m : e.per_model) CHECK(m.uncertainty == 0.0);
}

TEST_CASE("LinUCB Observe validates everything and changes nothing on error", "[linucb]") {
  RandomData ref = MakeRandom(60, 5, 2, 15);
  LinUcbRouter router(LinUcbOptions{.context_dim = 3});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  const std::string before = StateOf(router);
  const uint64_t version = router.snapshot().version();
  std::vector<float> good(5, 0.5f), short_vector(4, 0.5f), nan_vector(5, 0.5f),
      inf_vector(5, 0.5f);
  nan_vector[2] = NAN;
  inf_vector[4] = INFINITY;
  using C = absl::StatusCode;
  CHECK(router.Observe({.vector = short_vector, .model = "model-0", .score = 1}).code() ==
        C::kInvalidArgument);
  CHECK(router.Observe({.vector = {}, .model = "model-0", .score = 1}).code() ==
        C::kInvalidArgument);
  CHECK(router.Observe({.vector = nan_vector, .model = "model-0", .score = 1}).code() ==
        C::kInvalidArgument);
  CHECK(router.Observe({.vector = inf_vector, .model = "model-0", .score = 1}).code() ==
        C::kInvalidArgument);
  CHECK(router.Observe({.vector = good, .model = "nope", .score = 1}).code() == C::kNotFound);
  for (double score : {-0.01, 1.01, double(NAN), double(INFINITY)}) {
    CHECK(router.Observe({.vector = good, .model = "model-0", .score = score}).code() ==
          C::kInvalidArgument);
  }
  for (double cost : {-1e-6, double(NAN), double(INFINITY)}) {
    CHECK(router.Observe({.vector = good, .model = "model-0", .score = 1, .cost_usd = cost})
              .code() == C::kInvalidArgument);
  }
  CHECK(StateOf(router) == before);
  CHECK(router.snapshot().version() == version);
  // Boundary values are accepted.
  CHECK(router.Observe({.vector = good, .model = "model-0", .score = 0.0}).ok());
  CHECK(router.Observe({.vector = good, .model = "model-0", .score = 1.0}).ok());
  CHECK(router.snapshot().version() == version + 2);
}

TEST_CASE("LinUCB EstimateBatch equals Estimate", "[linucb]") {
  RandomData ref = MakeRandom(80, 7, 3, 16);
  LinUcbRouter router(LinUcbOptions{.context_dim = 5});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937_64 rng(17);
  std::vector<std::vector<float>> vectors;
  std::vector<Query> queries;
  for (int i = 0; i < 9; ++i) vectors.push_back(RandomVector(7, rng));
  for (const auto& v : vectors) queries.push_back(Query{.vector = v, .input_tokens = 10});
  std::vector<Estimates> batch(queries.size());
  REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
  for (size_t i = 0; i < queries.size(); ++i) {
    Estimates one;
    REQUIRE(router.Estimate(queries[i], &one).ok());
    for (int m = 0; m < 3; ++m) {
      CHECK(batch[i].per_model[m].quality == one.per_model[m].quality);
      CHECK(batch[i].per_model[m].uncertainty == one.per_model[m].uncertainty);
    }
  }
  std::vector<Estimates> wrong(2);
  CHECK(router.EstimateBatch(queries, absl::MakeSpan(wrong)).code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<float> bad(3);
  queries[4] = Query{.vector = bad};
  CHECK(router.EstimateBatch(queries, absl::MakeSpan(batch)).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("LinUCB Estimate allocates nothing once warm", "[linucb][alloc]") {
  if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off under sanitizers");
  // With clusters the projection's scratch holds 5 components, then 3
  // centroid scores: it must not be resized between the two.
  const int clusters = GENERATE(0, 3);
  INFO("clusters " << clusters);
  RandomData ref = MakeRandom(80, 40, 3, 31);
  LinUcbRouter router(LinUcbOptions{.context_dim = 5, .clusters = clusters});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937_64 rng(32);
  const std::vector<float> q1 = RandomVector(40, rng), q2 = RandomVector(40, rng);
  Estimates estimates;
  REQUIRE(router.Estimate(Query{.vector = q1}, &estimates).ok());  // warm-up
  bool ok = false;
  int64_t allocations = testing::AllocationsDuring([&] {
    ok = router.Estimate(Query{.vector = q2}, &estimates).ok() &&
         router.Estimate(Query{.vector = q1}, &estimates).ok();
  });
  CHECK(ok);
  CHECK(allocations == 0);
  // A new snapshot (an updated arm) needs no new scratch either.
  REQUIRE(router.Observe(Feedback{.vector = q1, .model = "model-1", .score = 1.0}).ok());
  allocations = testing::AllocationsDuring(
      [&] { ok = router.Estimate(Query{.vector = q2}, &estimates).ok(); });
  CHECK(ok);
  CHECK(allocations == 0);
}

// ------------------------------------------------------------------ numerics

TEST_CASE("LinUCB stays finite under a storm of extreme feedback", "[linucb]") {
  RandomData ref = MakeRandom(60, 8, 2, 18);
  for (int reinvert_every : {64, 1000000}) {
    LinUcbRouter router(LinUcbOptions{.context_dim = 6, .alpha = 1.0, .ridge = 1e-3,
                                      .reinvert_every = reinvert_every});
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    std::mt19937_64 rng(19);
    std::vector<std::vector<float>> extremes;
    extremes.push_back(std::vector<float>(8, FLT_MAX));
    extremes.push_back(std::vector<float>(8, -FLT_MAX));
    extremes.push_back(std::vector<float>(8, FLT_MIN));
    extremes.push_back(std::vector<float>(8, 0.0f));
    std::vector<float> one_hot(8, 0.0f);
    one_hot[3] = 1e30f;
    extremes.push_back(one_hot);
    std::vector<float> mixed(8, 1.0f);
    mixed[0] = FLT_MAX;
    mixed[1] = -FLT_MAX;
    mixed[2] = 1e-38f;
    extremes.push_back(mixed);
    for (int step = 0; step < 20000; ++step) {
      const std::vector<float> v =
          step % 3 == 0 ? RandomVector(8, rng) : extremes[step % extremes.size()];
      const double score = (step / 7) % 2 == 0 ? 1.0 : 0.0;
      REQUIRE(router.Observe({.vector = v, .model = step % 5 == 0 ? "model-1" : "model-0",
                              .score = score, .cost_usd = step % 2 ? 0.0 : 1e6})
                  .ok());
    }
    for (const auto& v : extremes) {
      Estimates e;
      REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
      CHECK(FiniteEstimates(e));
    }
    for (int m = 0; m < 2; ++m) {
      const double residual = router.snapshot().InverseResidual(m);
      INFO("reinvert_every " << reinvert_every << " model " << m << " residual " << residual);
      CHECK(residual < 1e-6);
    }
    // The state is still one LoadState accepts.
    LinUcbRouter copy;
    CHECK(copy.LoadState(StateOf(router)).ok());
  }
}

// ------------------------------------------------------------------ learning

TEST_CASE("LinUCB warm start finds the best model of every topic", "[linucb]") {
  auto embedded = EmbedSynthetic(1500, 21);
  const SyntheticData& syn = embedded->synthetic;
  const int clusters = GENERATE(0, 6);
  LinUcbRouter router(LinUcbOptions{.context_dim = 16, .alpha = 0.1, .clusters = clusters});
  REQUIRE(router.Fit(syn.dataset, syn.catalog).ok());
  INFO("clusters " << clusters);
  for (size_t topic = 0; topic < syn.topics.size(); ++topic) {
    // Mean predicted quality over fresh prompts of the topic.
    std::vector<double> mean(syn.catalog.size(), 0.0);
    for (int i = 0; i < 40; ++i) {
      std::vector<float> v =
          EmbedText(embedded->featurizer, SyntheticPrompt(static_cast<int>(topic), 500 + i));
      Estimates e;
      REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
      REQUIRE(FiniteEstimates(e));
      for (int m = 0; m < syn.catalog.size(); ++m) mean[m] += e.per_model[m].quality / 40.0;
    }
    const int best = static_cast<int>(std::max_element(mean.begin(), mean.end()) - mean.begin());
    INFO("topic " << syn.topics[topic]);
    CHECK(syn.catalog.at(best).name == syn.best_model_of_topic[topic]);
  }
}

// Pure bandit feedback: no labels at Fit (the prompts only give the
// projection); stream prompts, choose by quality + uncertainty, reveal the
// chosen model's score only.
TEST_CASE("LinUCB learns the best model per topic online from bandit feedback", "[linucb]") {
  auto embedded = EmbedSynthetic(1200, 22);
  const SyntheticData& syn = embedded->synthetic;
  const int num_models = syn.catalog.size();
  const int num_topics = static_cast<int>(syn.topics.size());
  LinUcbRouter router(LinUcbOptions{.context_dim = 16, .alpha = 0.5, .warm_start = false});
  REQUIRE(router.Fit(syn.dataset, syn.catalog).ok());
  std::mt19937_64 rng(23);
  const int steps = 3000;
  int best_late = 0, late = 0;
  double regret_first = 0.0, regret_last = 0.0;
  for (int t = 0; t < steps; ++t) {
    const int topic = static_cast<int>(Uniform(rng) * num_topics);
    std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(topic, 10000 + t));
    Estimates e;
    REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
    const int chosen = Optimistic(e);
    const double p = syn.expected_score[topic * num_models + chosen];
    const double score = Uniform(rng) < p ? 1.0 : 0.0;
    REQUIRE(router.Observe({.vector = v, .model = syn.catalog.at(chosen).name, .score = score})
                .ok());
    const double best_p = *std::max_element(syn.expected_score.begin() + topic * num_models,
                                            syn.expected_score.begin() + (topic + 1) * num_models);
    if (t < 1000) regret_first += best_p - p;
    if (t >= steps - 1000) {
      regret_last += best_p - p;
      ++late;
      best_late += syn.catalog.at(chosen).name == syn.best_model_of_topic[topic];
    }
  }
  INFO("regret first 1000: " << regret_first << ", last 1000: " << regret_last
                             << ", best chosen late: " << best_late << "/" << late);
  CHECK(best_late >= 0.8 * late);
  CHECK(regret_last < 0.5 * regret_first);
  // Exploiting (quality alone) now picks the best model of every topic.
  for (int topic = 0; topic < num_topics; ++topic) {
    std::vector<double> mean(num_models, 0.0);
    for (int i = 0; i < 30; ++i) {
      std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(topic, 90000 + i));
      Estimates e;
      REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
      for (int m = 0; m < num_models; ++m) mean[m] += e.per_model[m].quality;
    }
    const int best = static_cast<int>(std::max_element(mean.begin(), mean.end()) - mean.begin());
    INFO("topic " << syn.topics[topic]);
    CHECK(syn.catalog.at(best).name == syn.best_model_of_topic[topic]);
  }
}

// ------------------------------------------------------------------ arms at run time

TEST_CASE("LinUCB onboards a model: fresh, from labelled rows, and explored", "[linucb]") {
  auto embedded = EmbedSynthetic(1200, 24);
  const SyntheticData& syn = embedded->synthetic;
  // Fit without small-coder, the best model for code.
  Catalog without;
  for (const Profile& p : syn.catalog.profiles()) {
    if (p.name != "small-coder") REQUIRE(without.Add(p).ok());
  }
  const LinUcbOptions options{.context_dim = 16, .alpha = 0.5, .ridge = 1.0};
  LinUcbRouter router(options);
  REQUIRE(router.Fit(syn.dataset, without).ok());
  const Catalog& old_catalog = router.catalog();
  REQUIRE(old_catalog.size() == 4);
  const Profile coder = syn.catalog.at(syn.catalog.Find("small-coder").value());

  SECTION("errors change nothing") {
    const std::string before = StateOf(router);
    Profile negative = coder;
    negative.input_usd_per_mtok = -1;
    CHECK(router.OnboardModel(negative, Dataset{}).code() == absl::StatusCode::kInvalidArgument);
    CHECK(router.OnboardModel(syn.catalog.at(3), Dataset{}).code() ==
          absl::StatusCode::kInvalidArgument);  // already in the catalog
    Dataset no_vectors = syn.dataset;
    no_vectors.vectors.clear();
    no_vectors.dim = 0;
    CHECK(router.OnboardModel(coder, no_vectors).code() == absl::StatusCode::kInvalidArgument);
    Dataset no_column = syn.dataset.Subset(std::vector<int64_t>{0, 1, 2});
    no_column.model_names[0] = "renamed";
    CHECK(router.OnboardModel(coder, no_column).code() == absl::StatusCode::kInvalidArgument);
    Dataset nan_vector = syn.dataset.Subset(std::vector<int64_t>{0, 1, 2});
    nan_vector.vectors[nan_vector.dim + 1] = NAN;
    CHECK(router.OnboardModel(coder, nan_vector).code() == absl::StatusCode::kInvalidArgument);
    CHECK(StateOf(router) == before);
    CHECK(router.catalog().size() == 4);
  }

  SECTION("a fresh arm predicts the prior with the widest bonus") {
    REQUIRE(router.OnboardModel(coder, Dataset{}).ok());
    CHECK(router.catalog().size() == 5);
    CHECK(router.catalog().at(4).name == "small-coder");
    CHECK(old_catalog.size() == 4);  // earlier references stay valid
    std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(0, 77));
    Estimates e;
    REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
    REQUIRE(e.per_model.size() == 5);
    CHECK(e.per_model[4].support == 0);
    CHECK(e.per_model[4].quality == Approx(options.prior_quality));
    for (int m = 0; m < 4; ++m) CHECK(e.per_model[4].uncertainty > e.per_model[m].uncertainty);

    // Routing optimistically on code prompts tries it and keeps it.
    std::mt19937_64 rng(25);
    const int code = 0;
    int coder_late = 0;
    for (int t = 0; t < 400; ++t) {
      std::vector<float> q = EmbedText(embedded->featurizer, SyntheticPrompt(code, 3000 + t));
      REQUIRE(router.Estimate(Query{.vector = q}, &e).ok());
      const int chosen = Optimistic(e);
      const std::string& name = router.catalog().at(chosen).name;
      const double p = syn.expected_score[code * syn.catalog.size() +
                                          syn.catalog.Find(name).value()];
      REQUIRE(router.Observe({.vector = q, .model = name, .score = Uniform(rng) < p ? 1.0 : 0.0})
                  .ok());
      if (t >= 300) coder_late += name == "small-coder";
    }
    CHECK(coder_late >= 80);
  }

  SECTION("from labelled rows") {
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < 300; ++r) rows.push_back(r);
    Dataset labelled = syn.dataset.Subset(rows);
    REQUIRE(router.OnboardModel(coder, labelled).ok());
    Estimates e;
    std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(0, 78));
    REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
    CHECK(e.per_model[4].support == 300);
    CHECK(e.per_model[4].quality > 0.7);  // small-coder is good at code
    v = EmbedText(embedded->featurizer, SyntheticPrompt(2, 79));  // history
    REQUIRE(router.Estimate(Query{.vector = v}, &e).ok());
    CHECK(e.per_model[4].quality < 0.55);
  }
}

TEST_CASE("LinUCB removes a model: indexes shift, feedback for it is refused", "[linucb]") {
  RandomData ref = MakeRandom(80, 6, 4, 26);
  LinUcbRouter router(LinUcbOptions{.context_dim = 4});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937_64 rng(27);
  std::vector<float> q = RandomVector(6, rng);
  Estimates before;
  REQUIRE(router.Estimate(Query{.vector = q}, &before).ok());
  const Catalog& old_catalog = router.catalog();
  LinUcbSnapshot old_snapshot = router.snapshot();

  CHECK(router.RemoveModel("unknown").code() == absl::StatusCode::kNotFound);
  REQUIRE(router.RemoveModel("model-1").ok());
  CHECK(router.RemoveModel("model-1").code() == absl::StatusCode::kNotFound);
  Estimates after;
  std::shared_ptr<const Catalog> catalog;
  REQUIRE(router.Estimate(Query{.vector = q}, &after, &catalog).ok());
  REQUIRE(after.per_model.size() == 3);
  REQUIRE(catalog->size() == 3);
  CHECK(catalog->at(0).name == "model-0");
  CHECK(catalog->at(1).name == "model-2");
  CHECK(catalog->at(2).name == "model-3");
  CHECK(after.per_model[0].quality == before.per_model[0].quality);
  CHECK(after.per_model[1].quality == before.per_model[2].quality);
  CHECK(after.per_model[2].quality == before.per_model[3].quality);
  CHECK(router.catalog().size() == 3);
  // What was taken before the removal still reads the old state.
  CHECK(old_catalog.size() == 4);
  CHECK(old_snapshot.catalog().size() == 4);
  Estimates old;
  REQUIRE(old_snapshot.Estimate(Query{.vector = q}, &old).ok());
  CHECK(old.per_model.size() == 4);

  CHECK(router.Observe({.vector = q, .model = "model-1", .score = 1}).code() ==
        absl::StatusCode::kNotFound);
  REQUIRE(router.RemoveModel("model-0").ok());
  REQUIRE(router.RemoveModel("model-2").ok());
  CHECK(router.RemoveModel("model-3").code() == absl::StatusCode::kFailedPrecondition);
  CHECK(router.catalog().size() == 1);

  // A removed name may come back, as a new arm.
  REQUIRE(router.OnboardModel(Profile{.name = "model-1"}, Dataset{}).ok());
  REQUIRE(router.Estimate(Query{.vector = q}, &after).ok());
  CHECK(after.per_model.size() == 2);
  CHECK(after.per_model[1].support == 0);
}

// ------------------------------------------------------------------ state

TEST_CASE("LinUCB state round trip is bit-identical and keeps learning the same", "[linucb]") {
  RandomData ref = MakeRandom(90, 6, 3, 28);
  LinUcbRouter router(LinUcbOptions{.context_dim = 4, .alpha = 0.4, .ridge = 0.7,
                                    .prior_quality = 0.2, .seed = 9, .reinvert_every = 5,
                                    .whiten = true, .clusters = 3});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937_64 rng(29);
  for (int i = 0; i < 13; ++i) {
    std::vector<float> v = RandomVector(6, rng);
    REQUIRE(router.Observe({.vector = v, .model = "model-" + std::to_string(i % 3),
                            .score = Uniform(rng), .cost_usd = 1e-4 * i})
                .ok());
  }
  REQUIRE(router.OnboardModel(Profile{.name = "late", .input_usd_per_mtok = 3}, Dataset{}).ok());
  REQUIRE(router.RemoveModel("model-0").ok());
  const std::string state = StateOf(router);

  LinUcbRouter loaded;
  REQUIRE(loaded.LoadState(state).ok());
  CHECK(StateOf(loaded) == state);
  CHECK(loaded.options().whiten);
  CHECK(loaded.options().reinvert_every == 5);
  CHECK(loaded.options().clusters == 3);
  CHECK(loaded.snapshot().context_dim() == 4 + 3 + 1);
  CHECK(loaded.dim() == 6);
  CHECK(loaded.snapshot().online_updates() == 13);
  REQUIRE(loaded.catalog().size() == 3);
  CHECK(loaded.catalog().at(2).name == "late");

  for (int i = 0; i < 7; ++i) {
    std::vector<float> v = RandomVector(6, rng);
    Estimates a, b;
    REQUIRE(router.Estimate(Query{.vector = v}, &a).ok());
    REQUIRE(loaded.Estimate(Query{.vector = v}, &b).ok());
    for (int m = 0; m < 3; ++m) {
      CHECK(a.per_model[m].quality == b.per_model[m].quality);
      CHECK(a.per_model[m].uncertainty == b.per_model[m].uncertainty);
      CHECK(a.per_model[m].expected_cost_usd == b.per_model[m].expected_cost_usd);
      CHECK(a.per_model[m].support == b.per_model[m].support);
    }
    const Feedback f{.vector = v, .model = "late", .score = 1.0, .cost_usd = 1e-3};
    REQUIRE(router.Observe(f).ok());
    REQUIRE(loaded.Observe(f).ok());
  }
  CHECK(StateOf(loaded) == StateOf(router));
}

TEST_CASE("LinUCB LoadState rejects corrupt states and changes nothing", "[linucb]") {
  RandomData ref = MakeRandom(40, 4, 2, 30);
  LinUcbRouter source(LinUcbOptions{.context_dim = 2, .clusters = 2});
  REQUIRE(source.Fit(ref.data, ref.catalog).ok());
  const std::string state = StateOf(source);

  RandomData other = MakeRandom(30, 3, 1, 31);
  LinUcbRouter router(LinUcbOptions{.context_dim = 2});
  REQUIRE(router.Fit(other.data, other.catalog).ok());
  const std::string before = StateOf(router);

  for (size_t cut = 0; cut < state.size(); ++cut) {
    const absl::Status s = router.LoadState(std::string_view(state).substr(0, cut));
    REQUIRE(s.code() == absl::StatusCode::kDataLoss);
  }
  CHECK(router.LoadState(state + "x").code() == absl::StatusCode::kDataLoss);
  std::string newer = state;
  newer[0] = static_cast<char>(state[0] + 1);  // a version this build does not know
  CHECK(router.LoadState(newer).code() == absl::StatusCode::kDataLoss);
  // Flip every byte: never a crash; either rejected or a valid state.
  int accepted = 0;
  for (size_t i = 0; i < state.size(); ++i) {
    std::string flipped = state;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
    LinUcbRouter target(LinUcbOptions{.context_dim = 2});
    REQUIRE(target.Fit(other.data, other.catalog).ok());
    const absl::Status s = target.LoadState(flipped);
    if (s.ok()) {
      ++accepted;
      std::vector<float> q(4, 0.25f);
      Estimates e;
      REQUIRE(target.Estimate(Query{.vector = q}, &e).ok());
      CHECK(FiniteEstimates(e));
    } else {
      CHECK(s.code() == absl::StatusCode::kDataLoss);
    }
  }
  INFO("accepted flips: " << accepted);
  CHECK(StateOf(router) == before);
  CHECK(router.dim() == 3);
}

}  // namespace
}  // namespace router

namespace router {
namespace {

TEST_CASE("LinUCB LearnedWithout drops the named arms and refuses bytes that are not statistics",
          "[linucb][sync]") {
  auto embedded = EmbedSynthetic(300, 31, 16);
  const SyntheticData& syn = embedded->synthetic;
  LinUcbRouter learner(LinUcbOptions{.context_dim = 8});
  REQUIRE(learner.Fit(syn.dataset, syn.catalog).ok());
  auto prior = learner.Clone();
  REQUIRE(prior.ok());
  const std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(0, 77));
  const std::string kept = syn.catalog.at(0).name, dropped = syn.catalog.at(1).name;
  for (const std::string& model : {kept, dropped}) {
    REQUIRE(learner.Observe({.vector = v, .model = model, .score = 1.0}).ok());
  }
  std::string learned;
  REQUIRE(learner.SaveLearned(&learned).ok());
  absl::StatusOr<std::string> without = learner.LearnedWithout(learned, {dropped});
  REQUIRE(without.ok());
  // Added to a copy at the fitted state, it teaches the kept arm only.
  Estimates before, after;
  REQUIRE((*prior)->Estimate(Query{.vector = v}, &before).ok());
  REQUIRE((*prior)->AddLearned(*without, "").ok());
  REQUIRE((*prior)->Estimate(Query{.vector = v}, &after).ok());
  CHECK(after.per_model[0].quality > before.per_model[0].quality);
  CHECK(after.per_model[1].quality == before.per_model[1].quality);

  CHECK(learner.LearnedWithout("not statistics", {dropped}).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(learner.LearnedWithout(learned.substr(0, learned.size() / 2), {}).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("LinUCB SumLearned adds two replicas' statistics arm by arm", "[linucb][sync]") {
  auto embedded = EmbedSynthetic(300, 31, 16);
  const SyntheticData& syn = embedded->synthetic;
  LinUcbRouter a(LinUcbOptions{.context_dim = 8});
  REQUIRE(a.Fit(syn.dataset, syn.catalog).ok());
  auto b = a.Clone(), both = a.Clone(), summed = a.Clone();
  REQUIRE(b.ok());
  REQUIRE(both.ok());
  REQUIRE(summed.ok());
  // a and b learn on different arms (and one in common); `both` sees it all.
  const std::string m0 = syn.catalog.at(0).name, m1 = syn.catalog.at(1).name,
                    m2 = syn.catalog.at(2).name;
  for (int i = 0; i < 6; ++i) {
    const std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(i % 4, 50 + i));
    const Feedback fa{.vector = v, .model = i % 2 == 0 ? m0 : m1, .score = 0.25 * (i % 5),
                      .cost_usd = 1e-3};
    const Feedback fb{.vector = v, .model = i % 2 == 0 ? m2 : m1, .score = 1.0 - 0.2 * i,
                      .cost_usd = 2e-3};
    REQUIRE(a.Observe(fa).ok());
    REQUIRE((*b)->Observe(fb).ok());
    REQUIRE((*both)->Observe(fa).ok());
    REQUIRE((*both)->Observe(fb).ok());
  }
  std::string la, lb;
  REQUIRE(a.SaveLearned(&la).ok());
  REQUIRE((*b)->SaveLearned(&lb).ok());
  absl::StatusOr<std::string> sum = a.SumLearned(la, lb);
  REQUIRE(sum.ok());
  // The sum added to the fitted state equals one learner that saw both.
  REQUIRE((*summed)->AddLearned(*sum, "").ok());
  for (int i = 0; i < 4; ++i) {
    const std::vector<float> v = EmbedText(embedded->featurizer, SyntheticPrompt(i, 900 + i));
    Estimates x, y;
    REQUIRE((*summed)->Estimate(Query{.vector = v}, &x).ok());
    REQUIRE((*both)->Estimate(Query{.vector = v}, &y).ok());
    for (size_t m = 0; m < x.per_model.size(); ++m) {
      CHECK(x.per_model[m].quality == Approx(y.per_model[m].quality).margin(1e-9));
      CHECK(x.per_model[m].uncertainty == Approx(y.per_model[m].uncertainty).margin(1e-9));
      CHECK(x.per_model[m].expected_cost_usd ==
            Approx(y.per_model[m].expected_cost_usd).margin(1e-12));
    }
  }
  // Empty is nothing; an input that is not statistics, or of another base, is refused.
  CHECK(a.SumLearned("", la).value() == la);
  CHECK(a.SumLearned(la, "").value() == la);
  CHECK(a.SumLearned("", "").value().empty());
  CHECK(a.SumLearned(la, "not statistics").status().code() == absl::StatusCode::kDataLoss);
  CHECK(a.SumLearned(la.substr(0, la.size() / 2), lb).status().code() ==
        absl::StatusCode::kDataLoss);
  LinUcbRouter other(LinUcbOptions{.context_dim = 4});
  REQUIRE(other.Fit(syn.dataset, syn.catalog).ok());
  REQUIRE(other.Observe({.vector = EmbedText(embedded->featurizer, SyntheticPrompt(0, 1)),
                         .model = m0, .score = 1.0}).ok());
  std::string lo;
  REQUIRE(other.SaveLearned(&lo).ok());
  CHECK(a.SumLearned(la, lo).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace router
