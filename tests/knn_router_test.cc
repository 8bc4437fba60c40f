#include "router/knn_router.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <catch2/catch.hpp>

#include "allocation_counter.h"
#include "skip.h"

namespace router {
namespace {

// Random reference data: `rows` unit-free vectors, scores with ~10% missing.
struct Reference {
  Dataset data;
  Catalog catalog;
};

Reference MakeReference(int64_t rows, int dim, int models, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  std::uniform_real_distribution<double> unit;
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
    ref.data.ids.push_back("r" + std::to_string(r));
    ref.data.prompts.push_back("p");
    ref.data.sources.push_back("s");
    ref.data.splits.push_back(Split::kTrain);
    for (int d = 0; d < dim; ++d) ref.data.vectors.push_back(gauss(rng));
    for (int m = 0; m < models; ++m) {
      ref.data.scores.push_back(unit(rng) < 0.1 ? NAN : std::round(unit(rng)));
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

double Cosine(absl::Span<const float> a, absl::Span<const float> b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST_CASE("kNN estimates equal a brute-force reference", "[knn]") {
  const int k = 15;
  Reference ref = MakeReference(600, 12, 3, 1);
  KnnRouter router(KnnOptions{.k = k});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE_FALSE(router.uses_hnsw());
  std::mt19937 rng(99);
  for (int trial = 0; trial < 25; ++trial) {
    std::vector<float> q = RandomVector(12, rng);
    // Brute force: sort every row by cosine similarity.
    std::vector<std::pair<double, int64_t>> sims;
    for (int64_t r = 0; r < ref.data.rows(); ++r) {
      sims.push_back({Cosine(q, ref.data.vector(r)), r});
    }
    std::sort(sims.begin(), sims.end(), [](auto& a, auto& b) { return a.first > b.first; });
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
    REQUIRE(est.evidence.size() == static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) {
      CHECK(est.evidence[i].id == sims[i].second);
      CHECK(est.evidence[i].similarity == Approx(sims[i].first).margin(1e-5));
    }
    for (int m = 0; m < 3; ++m) {
      double w_sum = 0, wq = 0, wq2 = 0, wc = 0;
      int support = 0;
      for (int i = 0; i < k; ++i) {
        const double w = std::max(sims[i].first, 1e-6);
        const double s = ref.data.score(sims[i].second, m);
        wc += w * ref.data.cost(sims[i].second, m);
        if (std::isnan(s)) continue;
        w_sum += w, wq += w * s, wq2 += w * s * s, ++support;
      }
      double w_all = 0;
      for (int i = 0; i < k; ++i) w_all += std::max(sims[i].first, 1e-6);
      const double mean = wq / w_sum;
      CHECK(est.per_model[m].support == support);
      CHECK(est.per_model[m].quality == Approx(mean).margin(1e-5));
      CHECK(est.per_model[m].uncertainty ==
            Approx(std::sqrt(std::max(wq2 / w_sum - mean * mean, 0.0))).margin(1e-4));
      CHECK(est.per_model[m].expected_cost_usd == Approx(wc / w_all).epsilon(1e-5));
    }
  }
}

TEST_CASE("the exact search keeps the lower row of equal similarities, across scan blocks",
          "[knn]") {
  // 1100 rows span three of the exact scan's blocks. Every row but one is
  // the same vector; row 1050, in the last block, is the query itself. The
  // nearest is row 1050, then the lowest ids of the equal rest: a scan that
  // mislabels rows past its first block, keeps the last of equals, or
  // returns the heap unsorted would name other rows.
  const int dim = 8;
  Reference ref = MakeReference(1100, dim, 2, 21);
  const std::vector<float> common = {1, 2, 0, 0, 1, 0, 0, 1};
  const std::vector<float> query = {0, 1, 0, 3, 0, 0, 1, 0};
  for (int64_t r = 0; r < ref.data.rows(); ++r) {
    const std::vector<float>& row = r == 1050 ? query : common;
    std::copy(row.begin(), row.end(), ref.data.vectors.begin() + r * dim);
  }
  KnnRouter router(KnnOptions{.k = 4});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE_FALSE(router.uses_hnsw());
  Estimates est;
  REQUIRE(router.Estimate(Query{.vector = query}, &est).ok());
  REQUIRE(est.evidence.size() == 4);
  const std::vector<int64_t> want = {1050, 0, 1, 2};
  for (int i = 0; i < 4; ++i) CHECK(est.evidence[i].id == want[i]);
  CHECK(est.evidence[0].similarity == Approx(1.0).margin(1e-6));
  CHECK(est.evidence[1].similarity == Approx(Cosine(query, common)).margin(1e-6));
}

TEST_CASE("uniform weighting averages the neighbours' scores", "[knn]") {
  Reference ref = MakeReference(200, 8, 2, 2);
  KnnRouter router(KnnOptions{.k = 5, .weighting = KnnOptions::Weighting::kUniform});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937 rng(3);
  std::vector<float> q = RandomVector(8, rng);
  Estimates est;
  REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
  for (int m = 0; m < 2; ++m) {
    double sum = 0;
    int n = 0;
    for (const Evidence& e : est.evidence) {
      const double s = ref.data.score(e.id, m);
      if (!std::isnan(s)) sum += s, ++n;
    }
    CHECK(est.per_model[m].quality == Approx(sum / n));
  }
}

TEST_CASE("batch estimates equal single estimates", "[knn]") {
  Reference ref = MakeReference(400, 10, 3, 4);
  KnnRouter router(KnnOptions{.k = 7});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  std::mt19937 rng(5);
  std::vector<std::vector<float>> vectors;
  std::vector<Query> queries;
  for (int i = 0; i < 30; ++i) vectors.push_back(RandomVector(10, rng));
  for (auto& v : vectors) queries.push_back(Query{.vector = v});
  std::vector<Estimates> batch(queries.size());
  REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
  std::vector<Estimates> too_few(queries.size() - 1);
  CHECK(router.EstimateBatch(queries, absl::MakeSpan(too_few)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Router::EstimateBatch(queries, absl::MakeSpan(too_few)).code() ==
        absl::StatusCode::kInvalidArgument);
  for (size_t i = 0; i < queries.size(); ++i) {
    Estimates single;
    REQUIRE(router.Estimate(queries[i], &single).ok());
    for (int m = 0; m < 3; ++m) {
      CHECK(batch[i].per_model[m].quality == Approx(single.per_model[m].quality).margin(1e-6));
      CHECK(batch[i].per_model[m].expected_cost_usd ==
            Approx(single.per_model[m].expected_cost_usd).margin(1e-9));
    }
  }
}

std::string StorageName(KnnOptions::HnswStorage storage) {
  return storage == KnnOptions::HnswStorage::kFloat  ? "float"
         : storage == KnnOptions::HnswStorage::kHalf ? "fp16"
                                                      : "sq8";
}

TEST_CASE("HNSW above the threshold finds nearly the exact neighbours, over any row storage",
          "[knn]") {
  // Catches rows stored other than asked (Describe reads the option, the
  // recall reads the index) and a walk that wanders: recall@10 against the
  // exact index, and each found row's similarity against the exact one.
  using Storage = KnnOptions::HnswStorage;
  const Storage storage = GENERATE(Storage::kFloat, Storage::kHalf, Storage::kBytes);
  INFO(StorageName(storage));
  Reference ref = MakeReference(3000, 16, 2, 6);
  KnnRouter exact(KnnOptions{.k = 10});
  KnnRouter hnsw(KnnOptions{.k = 10, .hnsw_threshold = 1000, .hnsw_storage = storage});
  REQUIRE(exact.Fit(ref.data, ref.catalog).ok());
  REQUIRE(hnsw.Fit(ref.data, ref.catalog).ok());
  REQUIRE(hnsw.uses_hnsw());
  const auto described = hnsw.Describe();
  CHECK(std::find(described.begin(), described.end(),
                  std::pair<std::string, std::string>{"row_storage", StorageName(storage)}) !=
        described.end());
  std::mt19937 rng(7);
  int overlap = 0, total = 0;
  double worst_similarity_error = 0.0;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> q = RandomVector(16, rng);
    Estimates a, b;
    REQUIRE(exact.Estimate(Query{.vector = q}, &a).ok());
    REQUIRE(hnsw.Estimate(Query{.vector = q}, &b).ok());
    for (const Evidence& e : a.evidence) {
      ++total;
      for (const Evidence& f : b.evidence) {
        if (e.id != f.id) continue;
        ++overlap;
        worst_similarity_error =
            std::max(worst_similarity_error, std::abs(double{e.similarity} - f.similarity));
      }
    }
  }
  CHECK(static_cast<double>(overlap) / total >= 0.9);  // recall@10
  // A row's similarity moves by its coding error only: none for floats (the
  // same kernel), 11 bits for halves, a 255th of each dimension's range for
  // 8-bit codes.
  CHECK(worst_similarity_error <= (storage == Storage::kFloat  ? 1e-6
                                   : storage == Storage::kHalf ? 1e-3
                                                               : 2e-2));
}

TEST_CASE("compressed HNSW rows survive SaveState and LoadState", "[knn][state]") {
  using Storage = KnnOptions::HnswStorage;
  const Storage storage = GENERATE(Storage::kFloat, Storage::kHalf, Storage::kBytes);
  INFO(StorageName(storage));
  Reference ref = MakeReference(1500, 16, 3, 21);
  KnnRouter original(KnnOptions{.k = 10, .hnsw_threshold = 1000, .hnsw_storage = storage});
  REQUIRE(original.Fit(ref.data, ref.catalog).ok());
  std::string state;
  REQUIRE(original.SaveState(&state).ok());
  KnnRouter loaded;
  REQUIRE(loaded.LoadState(state).ok());
  CHECK(loaded.options().hnsw_storage == storage);
  std::mt19937 rng(22);
  for (int trial = 0; trial < 20; ++trial) {
    const std::vector<float> q = RandomVector(16, rng);
    Estimates a, b;
    REQUIRE(original.Estimate(Query{.vector = q}, &a).ok());
    REQUIRE(loaded.Estimate(Query{.vector = q}, &b).ok());
    REQUIRE(a.evidence.size() == b.evidence.size());
    for (size_t i = 0; i < a.evidence.size(); ++i) {
      CHECK(a.evidence[i].id == b.evidence[i].id);
      CHECK(a.evidence[i].similarity == b.evidence[i].similarity);
    }
  }

  // A state whose options name other row storage than its index holds is
  // refused, and the router keeps what it had. The option's JSON is edited
  // in place to "sq8", padded with spaces to its old length (so float and
  // fp16 states only: no other name fits in "sq8"'s place).
  if (storage != Storage::kBytes) {
    const std::string from = "\"hnsw_storage\":\"" + StorageName(storage) + "\"";
    std::string to = "\"hnsw_storage\":\"sq8\"";
    to.resize(from.size(), ' ');
    const size_t at = state.find(from);
    REQUIRE(at != std::string::npos);
    std::string edited = state;
    edited.replace(at, from.size(), to);
    const absl::Status refused = loaded.LoadState(edited);
    INFO(refused.message());
    CHECK(refused.code() == absl::StatusCode::kDataLoss);
    CHECK(std::string(refused.message()).find("row storage") != std::string::npos);
    CHECK(loaded.options().hnsw_storage == storage);
  }
}

TEST_CASE("an HNSW batch finds what the same queries find one by one", "[knn]") {
  Reference ref = MakeReference(3000, 16, 3, 14);
  KnnRouter router(KnnOptions{.k = 10, .hnsw_threshold = 1000});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  REQUIRE(router.uses_hnsw());
  std::mt19937 rng(15);
  std::vector<std::vector<float>> vectors;
  std::vector<Query> queries;
  for (int i = 0; i < 64; ++i) vectors.push_back(RandomVector(16, rng));
  for (const auto& v : vectors) queries.push_back(Query{.vector = v});
  std::vector<Estimates> batch(queries.size());
  REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(batch)).ok());
  for (size_t i = 0; i < queries.size(); ++i) {
    Estimates single;
    REQUIRE(router.Estimate(queries[i], &single).ok());
    REQUIRE(batch[i].evidence.size() == single.evidence.size());
    for (size_t j = 0; j < single.evidence.size(); ++j) {
      CHECK(batch[i].evidence[j].id == single.evidence[j].id);
      CHECK(batch[i].evidence[j].similarity == single.evidence[j].similarity);
    }
    for (size_t m = 0; m < single.per_model.size(); ++m) {
      CHECK(batch[i].per_model[m].quality == single.per_model[m].quality);
    }
  }
}

TEST_CASE("batch_threads shares a batch without changing what it finds", "[knn]") {
  Reference ref = MakeReference(3000, 16, 3, 16);
  std::mt19937 rng(17);
  std::vector<std::vector<float>> vectors;
  std::vector<Query> queries;
  for (int i = 0; i < 40; ++i) vectors.push_back(RandomVector(16, rng));
  for (const auto& v : vectors) queries.push_back(Query{.vector = v});
  for (const int64_t threshold : {int64_t{1000000}, int64_t{1000}}) {
    std::vector<std::vector<Estimates>> results;
    for (const int threads : {1, 2, 0}) {
      KnnRouter router(KnnOptions{.k = 10, .hnsw_threshold = threshold, .batch_threads = threads});
      REQUIRE(router.Fit(ref.data, ref.catalog).ok());
      results.emplace_back(queries.size());
      REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(results.back())).ok());
    }
    for (size_t r = 1; r < results.size(); ++r) {
      for (size_t i = 0; i < queries.size(); ++i) {
        for (size_t m = 0; m < results[0][i].per_model.size(); ++m) {
          CHECK(results[r][i].per_model[m].quality == results[0][i].per_model[m].quality);
        }
      }
    }
  }
  KnnRouter too_many(KnnOptions{.batch_threads = 1025});
  const absl::Status refused = too_many.Fit(ref.data, ref.catalog);
  CHECK(refused.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(refused.message()).find("batch_threads") != std::string::npos);
}

TEST_CASE("a warm Estimate does not allocate, exact or HNSW", "[knn]") {
  if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off under sanitizers");
  Reference ref = MakeReference(3000, 16, 4, 12);
  using Storage = KnnOptions::HnswStorage;
  const std::pair<int64_t, Storage> indexes[] = {{1000000, Storage::kFloat},
                                                 {1000, Storage::kFloat},
                                                 {1000, Storage::kHalf},
                                                 {1000, Storage::kBytes}};
  for (const auto& [threshold, storage] : indexes) {
    KnnRouter router(
        KnnOptions{.k = 10, .hnsw_threshold = threshold, .hnsw_storage = storage});
    REQUIRE(router.Fit(ref.data, ref.catalog).ok());
    INFO("HNSW: " << router.uses_hnsw() << ", rows " << StorageName(storage));
    std::mt19937 rng(13);
    std::vector<float> q1 = RandomVector(16, rng), q2 = RandomVector(16, rng);
    Estimates est;
    REQUIRE(router.Estimate(Query{.vector = q1}, &est).ok());  // warm-up
    bool ok = false;
    const int64_t allocations = testing::AllocationsDuring([&] {
      ok = router.Estimate(Query{.vector = q2}, &est).ok() &&
           router.Estimate(Query{.vector = q1}, &est).ok();
    });
    CHECK(ok);
    CHECK(allocations == 0);
  }
}

TEST_CASE("a model without neighbour scores falls back to its mean", "[knn]") {
  Reference ref = MakeReference(50, 4, 2, 8);
  // Model 1 has scores only in the first 10 rows.
  for (int64_t r = 10; r < 50; ++r) ref.data.scores[r * 2 + 1] = NAN;
  // Varied known scores, mean 0.7: a constant, their max or a mean over all
  // rows would each give another figure.
  const double known[10] = {1, 0, 1, 1, 0, 1, 0, 1, 1, 1};
  for (int64_t r = 0; r < 10; ++r) ref.data.scores[r * 2 + 1] = known[r];
  // Query far from rows 0..9: point it at row 30 with k = 1.
  KnnRouter router(KnnOptions{.k = 1});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  Estimates est;
  REQUIRE(router.Estimate(Query{.vector = ref.data.vector(30)}, &est).ok());
  CHECK(est.evidence[0].id == 30);
  CHECK(est.per_model[1].support == 0);
  CHECK(est.per_model[1].quality == Approx(0.7));  // mean of the 10 known scores
  CHECK(est.per_model[1].uncertainty == 0.5);      // no evidence: the widest spread
}

// One model's reference rows: 2-d vectors and their scores.
Reference TwoDimensional(const std::vector<std::pair<float, float>>& rows,
                         const std::vector<double>& scores) {
  Reference ref;
  ref.data.model_names = {"m"};
  REQUIRE(ref.catalog.Add(Profile{.name = "m"}).ok());
  ref.data.dim = 2;
  for (size_t r = 0; r < rows.size(); ++r) {
    ref.data.ids.push_back("r" + std::to_string(r));
    ref.data.prompts.push_back("p");
    ref.data.sources.push_back("s");
    ref.data.splits.push_back(Split::kTrain);
    ref.data.vectors.insert(ref.data.vectors.end(), {rows[r].first, rows[r].second});
    ref.data.scores.push_back(scores[r]);
    ref.data.costs.push_back(1e-4);
  }
  return ref;
}

TEST_CASE("neighbours with negative similarity weigh almost nothing", "[knn]") {
  const std::vector<float> query = {1.0f, 0.0f};
  Estimates est;
  // One neighbour at cosine 0.196 scoring 1; two at about -0.96 and -0.89
  // scoring 0. Floored at 1e-6, the negative ones barely count: quality is
  // about 1. Raw similarities would give a negative quality; their absolute
  // values 0.096.
  Reference mixed = TwoDimensional({{0.2f, 1.0f}, {-1.0f, 0.3f}, {-1.0f, -0.5f}}, {1, 0, 0});
  KnnRouter router(KnnOptions{.k = 3});
  REQUIRE(router.Fit(mixed.data, mixed.catalog).ok());
  REQUIRE(router.Estimate(Query{.vector = query}, &est).ok());
  REQUIRE(est.evidence.size() == 3);
  CHECK(est.evidence[2].similarity < 0.0f);
  CHECK(est.per_model[0].quality == Approx(1.0).margin(1e-4));
  // Every neighbour negative: each weighs the floor, so the mean is plain
  // (0.5), not weighted by |similarity| (0.517).
  Reference opposite = TwoDimensional({{-1.0f, 0.3f}, {-1.0f, -0.5f}}, {1, 0});
  KnnRouter far(KnnOptions{.k = 2});
  REQUIRE(far.Fit(opposite.data, opposite.catalog).ok());
  REQUIRE(far.Estimate(Query{.vector = query}, &est).ok());
  CHECK(est.per_model[0].quality == Approx(0.5).margin(1e-9));
}

TEST_CASE("cost falls back to the catalog price when neighbours have none", "[knn]") {
  Reference ref = MakeReference(30, 4, 2, 9);
  for (double& c : ref.data.costs) c = NAN;
  KnnRouter router(KnnOptions{.k = 3});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  Estimates est;
  REQUIRE(router.Estimate(Query{.vector = ref.data.vector(0), .input_tokens = 1000}, &est).ok());
  // 1,000 input tokens at $2/M; no output price.
  CHECK(est.per_model[1].expected_cost_usd == Approx(2.0e-3));
}

TEST_CASE("kNN rejects bad input and a failed Fit changes nothing", "[knn][errors]") {
  Reference ref = MakeReference(40, 6, 2, 10);
  KnnRouter router;
  std::vector<float> q(6, 0.5f);
  Estimates est;
  CHECK(router.Estimate(Query{.vector = q}, &est).code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  CHECK(router.Estimate(Query{.vector = q}, nullptr).code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<float> short_q(5, 0.5f);
  CHECK(router.Estimate(Query{.vector = short_q}, &est).code() ==
        absl::StatusCode::kInvalidArgument);
  q[2] = NAN;
  absl::Status nan_status = router.Estimate(Query{.vector = q}, &est);
  CHECK(nan_status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(nan_status.message()).find("index 2") != std::string::npos);
  q[2] = INFINITY;
  CHECK_FALSE(router.Estimate(Query{.vector = q}, &est).ok());

  // Failing fits: no vectors, unknown model, bad vector, empty catalog.
  Dataset no_vectors = ref.data;
  no_vectors.vectors.clear();
  no_vectors.dim = 0;
  CHECK_FALSE(router.Fit(no_vectors, ref.catalog).ok());
  Catalog extra = ref.catalog;
  REQUIRE(extra.Add(Profile{.name = "not-in-data"}).ok());
  absl::Status unknown = router.Fit(ref.data, extra);
  CHECK(std::string(unknown.message()).find("not-in-data") != std::string::npos);
  Dataset bad = MakeReference(40, 3, 2, 11).data;
  bad.vectors[5] = NAN;
  CHECK_FALSE(router.Fit(bad, ref.catalog).ok());
  CHECK_FALSE(router.Fit(ref.data, Catalog{}).ok());
  CHECK_FALSE(KnnRouter(KnnOptions{.k = 0}).Fit(ref.data, ref.catalog).ok());
  // Still the first fit: dimension 6, answers queries.
  CHECK(router.dim() == 6);
  std::vector<float> ok_q(6, 0.25f);
  CHECK(router.Estimate(Query{.vector = ok_q}, &est).ok());
}

TEST_CASE("kNN validates feedback and learns nothing from it", "[knn][errors]") {
  Reference ref = MakeReference(40, 4, 2, 13);
  KnnRouter router(KnnOptions{.k = 5});
  std::vector<float> v(4, 0.5f);
  CHECK(router.Observe({.vector = v, .model = "model-0", .score = 1.0}).code() ==
        absl::StatusCode::kFailedPrecondition);  // not fitted
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  Estimates before, after;
  REQUIRE(router.Estimate(Query{.vector = v}, &before).ok());
  CHECK(router.Observe({.vector = v, .model = "model-0", .score = 0.0, .cost_usd = 1e-4}).ok());
  REQUIRE(router.Estimate(Query{.vector = v}, &after).ok());
  CHECK(after.per_model[0].quality == before.per_model[0].quality);

  CHECK(router.Observe({.vector = v, .model = "nope", .score = 1.0}).code() ==
        absl::StatusCode::kNotFound);
  CHECK(router.Observe({.vector = v, .model = "model-0", .score = NAN}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Observe({.vector = v, .model = "model-0", .score = 1.5}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(router.Observe({.vector = v, .model = "model-0", .score = 1, .cost_usd = -1}).code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<float> short_v(3, 0.5f);
  CHECK(router.Observe({.vector = short_v, .model = "model-0", .score = 1}).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("k larger than the reference set uses every row", "[knn]") {
  Reference ref = MakeReference(5, 4, 2, 12);
  KnnRouter router(KnnOptions{.k = 50});
  REQUIRE(router.Fit(ref.data, ref.catalog).ok());
  Estimates est;
  std::vector<float> q(4, 1.0f);
  REQUIRE(router.Estimate(Query{.vector = q}, &est).ok());
  CHECK(est.evidence.size() == 5);
}

}  // namespace
}  // namespace router
