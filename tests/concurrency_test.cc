// Many threads route through one fitted pipeline at once: every decision must
// equal the one made alone. Run under TSan by scripts/test.sh.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "router/knn_router.h"
#include "router/pipeline.h"
#include "router/synthetic.h"
#include "router/max_utility_policy.h"

namespace router {
namespace {

TEST_CASE("concurrent routing gives the single-threaded decisions", "[concurrency]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 600, .seed = 3});
  PipelineConfig config;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 32;
  config.RouterOptions<KnnOptions>().k = 10;
  config.policy.Set(MaxUtilityOptions{.lambda = 50});
  auto pipeline = Pipeline::Fit(synthetic.dataset, config).value();

  std::vector<std::string> prompts;
  std::vector<std::string> expected;
  for (int i = 0; i < 48; ++i) {
    prompts.push_back(SyntheticPrompt(i % 6, 100 + i));
    Decision d;
    REQUIRE(pipeline->RouteText(prompts.back(), &d).ok());
    expected.push_back(d.chosen.model);
  }

  constexpr int kThreads = 4;
  constexpr int kRounds = 5;
  std::atomic<int> mismatches{0}, failures{0}, routed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Decision d;
      std::vector<float> vector(pipeline->dim());
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < prompts.size(); ++i) {
          // Alternate text routing and vector routing.
          absl::Status s;
          if ((i + t) % 2 == 0) {
            s = pipeline->RouteText(prompts[i], &d);
          } else {
            s = pipeline->Embed(prompts[i], absl::MakeSpan(vector));
            if (s.ok()) s = pipeline->Route(Query{.vector = vector, .text = prompts[i]}, &d);
          }
          if (!s.ok()) {
            ++failures;
          } else if (d.chosen.model != expected[i]) {
            ++mismatches;
          }
          ++routed;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  CHECK(routed == kThreads * kRounds * static_cast<int>(prompts.size()));
}

}  // namespace
}  // namespace router
