// StateSync under load: two replicas route and learn on several threads
// while their sync threads exchange state every millisecond. Once everyone
// stops and syncs, each replica must equal one learner that saw all the
// feedback: no update lost or applied twice. Run under TSan by
// scripts/test.sh.
#include "router/state_sync.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "router/linucb_router.h"
#include "router/synthetic.h"

namespace router {
namespace {

namespace fs = std::filesystem;

TEST_CASE("replicas learning on many threads while syncing equal one learner",
          "[concurrency][sync]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 200, .seed = 5});
  PipelineConfig config;
  config.router = "linucb";
  config.RouterOptions<LinUcbOptions>().context_dim = 4;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 8;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  const std::string path =
      (fs::temp_directory_path() / ("sync-concurrency-" + std::to_string(::getpid()))).string();
  REQUIRE((*fitted)->Save(path).ok());
  auto load = [&] {
    auto loaded = Pipeline::Load(path);
    REQUIRE(loaded.ok());
    return std::make_unique<LivePipeline>(std::move(loaded).value());
  };
  auto single = load();
  auto r1 = load();
  auto r2 = load();
  fs::remove(path);

  // Feedback i: one of a few prompts' vectors, a model and a score.
  const int dim = single->Snapshot()->dim();
  std::vector<std::vector<float>> vectors;
  for (int p = 0; p < 5; ++p) {
    std::vector<float> v(dim);
    REQUIRE(single->Snapshot()->Embed(SyntheticPrompt(p % 4, p), absl::MakeSpan(v)).ok());
    vectors.push_back(std::move(v));
  }
  const std::vector<std::string> models = [&] {
    std::vector<std::string> names;
    for (const Profile& p : synthetic.catalog.profiles()) names.push_back(p.name);
    return names;
  }();
  auto outcome = [&](int i) {
    Feedback f;
    f.vector = vectors[i % vectors.size()];
    f.model = models[i % models.size()];
    f.score = (i % 3) / 2.0;
    f.cost_usd = 1e-4;
    return f;
  };

  auto store = std::make_shared<MemorySyncStore>();
  auto s1 = StateSync::Start(r1.get(), store, {.replica_id = "r1", .interval_ms = 1});
  auto s2 = StateSync::Start(r2.get(), store, {.replica_id = "r2", .interval_ms = 1});
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());

  constexpr int kPerThread = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      LivePipeline& live = t % 2 == 0 ? *r1 : *r2;
      Decision decision;
      for (int i = t * kPerThread; i < (t + 1) * kPerThread; ++i) {
        if (!live.RouteText(SyntheticPrompt(i % 4, i), &decision).ok()) ++failures;
        if (!live.Observe(outcome(i)).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 4 * kPerThread; ++i) REQUIRE(single->Observe(outcome(i)).ok());
  CHECK(failures.load() == 0);

  REQUIRE((*s1)->SyncNow().ok());
  REQUIRE((*s2)->SyncNow().ok());
  REQUIRE((*s1)->SyncNow().ok());
  CHECK((*s1)->status().rejected == 0);
  CHECK((*s2)->status().rejected == 0);
  for (const auto& v : vectors) {
    Query q;
    q.vector = v;
    Estimates want, got1, got2;
    REQUIRE(single->Snapshot()->router().Estimate(q, &want).ok());
    REQUIRE(r1->Snapshot()->router().Estimate(q, &got1).ok());
    REQUIRE(r2->Snapshot()->router().Estimate(q, &got2).ok());
    for (size_t m = 0; m < want.per_model.size(); ++m) {
      CHECK(got1.per_model[m].quality == Approx(want.per_model[m].quality).margin(1e-9));
      CHECK(got2.per_model[m].quality == Approx(want.per_model[m].quality).margin(1e-9));
      CHECK(got1.per_model[m].uncertainty == Approx(want.per_model[m].uncertainty).margin(1e-9));
      CHECK(got1.per_model[m].support == want.per_model[m].support);
      CHECK(got2.per_model[m].support == want.per_model[m].support);
    }
  }
}

}  // namespace
}  // namespace router
