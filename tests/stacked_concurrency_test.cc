// StackedRouter under concurrent use: threads route while another sends
// feedback, which its online base (LinUCB) learns from. Run under TSan by
// scripts/test.sh. Every check is an invariant, so the outcome does not
// depend on the interleaving:
//   * no route fails, and no estimate is NaN, infinite or out of range;
//   * every estimate has one entry per catalog model;
//   * no update is lost: the LinUCB base's update count per arm is its
//     initial count plus the feedback accepted for it.
#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "embed_all.h"
#include "router/linucb_router.h"
#include "router/stacked_router.h"
#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace router {
namespace {

TEST_CASE("a stacked router routes while its online base learns", "[concurrency][stacked]") {
  SyntheticData syn = GenerateSynthetic({.rows = 240, .seed = 8});
  TextFeaturizer featurizer({.word_buckets = 512, .char_buckets = 512, .dim = 16});
  REQUIRE(featurizer.Fit(syn.dataset.prompts).ok());
  Dataset& data = syn.dataset;
  testing::EmbedAll(featurizer, &data);
  StackedRouter router(StackedOptions{.bases = {"knn", "linucb"}, .folds = 2});
  REQUIRE(router.Fit(data, syn.catalog).ok());
  REQUIRE(router.learns_online());
  const auto& linucb = dynamic_cast<const LinUcbRouter&>(router.base(1));
  const int models = router.catalog().size();
  std::vector<int64_t> initial(models);
  for (int m = 0; m < models; ++m) initial[m] = linucb.snapshot().updates(m);

  std::vector<std::vector<float>> queries;
  for (int i = 0; i < 40; ++i) {
    queries.emplace_back(featurizer.dim());
    REQUIRE(featurizer.Embed(SyntheticPrompt(i % 6, 300 + i), absl::MakeSpan(queries.back())).ok());
  }

  std::atomic<int> failures{0}, insane{0}, wrong_size{0};
  auto route = [&](int seed) {
    Estimates out;
    for (int i = 0; i < 400; ++i) {
      const auto& v = queries[(i * 7 + seed) % queries.size()];
      if (!router.Estimate(Query{.vector = v}, &out).ok()) {
        ++failures;
        continue;
      }
      if (static_cast<int>(out.per_model.size()) != models) ++wrong_size;
      for (const ModelEstimate& e : out.per_model) {
        if (!(e.quality >= 0.0 && e.quality <= 1.0) || !std::isfinite(e.uncertainty) ||
            !std::isfinite(e.expected_cost_usd)) {
          ++insane;
        }
      }
    }
  };
  std::vector<int64_t> accepted(models, 0);
  std::atomic<int> refused{0};
  auto learn = [&] {
    std::mt19937 rng(3);
    for (int i = 0; i < 300; ++i) {
      const int m = static_cast<int>(rng() % models);
      const Feedback feedback{.vector = queries[rng() % queries.size()],
                              .model = router.catalog().at(m).name,
                              .score = (rng() % 2) * 1.0,
                              .cost_usd = 1e-4};
      if (router.Observe(feedback).ok()) {
        ++accepted[m];
      } else {
        ++refused;
      }
    }
  };
  std::thread a(route, 1), b(route, 2), c(learn);
  a.join();
  b.join();
  c.join();

  CHECK(failures == 0);
  CHECK(insane == 0);
  CHECK(wrong_size == 0);
  CHECK(refused == 0);
  for (int m = 0; m < models; ++m) {
    INFO("model " << m);
    CHECK(linucb.snapshot().updates(m) == initial[m] + accepted[m]);
  }
}

}  // namespace
}  // namespace router
