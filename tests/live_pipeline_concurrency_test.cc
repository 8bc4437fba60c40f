// Hot reload under load: threads route without pause while another thread
// reloads between two saved pipelines (and tries a damaged file). No route
// may fail, and a route that starts after a reload returned must see the new
// pipeline. Run under TSan by scripts/test.sh.
#include "router/knn_router.h"
#include "router/live_pipeline.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "router/synthetic.h"
#include "wait_until.h"

namespace router {
namespace {

namespace fs = std::filesystem;

TEST_CASE("routes never fail or see a replaced pipeline during reloads",
          "[concurrency][reload]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 4});
  PipelineConfig config;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 16;
  config.RouterOptions<KnnOptions>().k = 8;
  auto open = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(open.ok());
  // The second pipeline may only choose "tiny".
  config.policy.constraints.allowed_models = {"tiny"};
  auto tiny_only = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(tiny_only.ok());

  const fs::path dir = fs::temp_directory_path() / ("reload-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string open_path = (dir / "open.router").string();
  const std::string tiny_path = (dir / "tiny.router").string();
  const std::string damaged_path = (dir / "damaged.router").string();
  REQUIRE((*open)->Save(open_path).ok());
  REQUIRE((*tiny_only)->Save(tiny_path).ok());
  { std::ofstream(damaged_path) << "LROUTER and then nonsense"; }

  LivePipeline live(std::move(open).value());
  // Generation g serves tiny_path when g is odd (reloads alternate); 0 while
  // a reload is under way.
  std::atomic<uint64_t> completed_generation{0};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, stale{0}, routed{0};

  std::vector<std::thread> routers;
  for (int t = 0; t < 3; ++t) {
    routers.emplace_back([&, t] {
      Decision decision;
      for (int i = 0; !stop.load(); ++i) {
        const uint64_t generation_before = completed_generation.load();
        auto snapshot = live.Snapshot();
        if (!snapshot->RouteText(SyntheticPrompt((t + i) % 6, i), &decision).ok()) {
          ++failures;
          continue;
        }
        ++routed;
        // Started after an odd generation completed and before the next one
        // could complete: must be the tiny-only pipeline.
        const bool tiny_expected = generation_before % 2 == 1 &&
                                   completed_generation.load() == generation_before;
        if (tiny_expected && decision.chosen.model != "tiny") ++stale;
      }
    });
  }

  int refused = 0;
  for (int reload = 1; reload <= 20; ++reload) {
    if (!live.Reload(damaged_path).ok()) ++refused;
    completed_generation.store(0);  // a swap is under way: no expectation
    REQUIRE(live.Reload(reload % 2 == 1 ? tiny_path : open_path).ok());
    completed_generation.store(live.generation());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& thread : routers) thread.join();

  CHECK(failures.load() == 0);
  CHECK(stale.load() == 0);
  CHECK(refused == 20);
  CHECK(routed.load() > 0);
  CHECK(live.generation() == 20);  // refused reloads do not count
  fs::remove_all(dir);
}

TEST_CASE("once RemoveModel returns, no new route chooses the model",
          "[concurrency][changes]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 6});
  PipelineConfig config;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 16;
  config.RouterOptions<KnnOptions>().k = 8;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  const std::unique_ptr<Pipeline> original = std::move(fitted).value();
  LivePipeline live(original->WithPolicy(original->config().policy).value());

  // Odd while a removal of `removed` is in force (it completed, and the model
  // has not started to come back); it changes before every Replace. A route
  // is checked only if the epoch was odd before it took its snapshot and is
  // unchanged after it routed: a thread that read an odd epoch and then
  // stalled past the Replace would otherwise count a false violation.
  std::atomic<uint64_t> epoch{0};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, violations{0}, routed{0}, checked{0};
  const std::string removed = "small-coder";
  std::vector<std::thread> routers;
  for (int t = 0; t < 3; ++t) {
    routers.emplace_back([&, t] {
      Decision decision;
      for (int i = 0; !stop.load(); ++i) {
        const uint64_t epoch_before = epoch.load();
        if (!live.Snapshot()->RouteText(SyntheticPrompt(0, t * 100000 + i), &decision).ok()) {
          ++failures;
          continue;
        }
        ++routed;
        if (epoch_before % 2 == 1 && epoch.load() == epoch_before) {
          ++checked;
          if (decision.chosen.model == removed) ++violations;
        }
      }
    });
  }
  for (uint64_t round = 0; round < 10; ++round) {
    REQUIRE(live.RemoveModel(removed).ok());
    const int checked_before = checked.load();
    epoch = 2 * round + 1;
    WaitUntil([&] { return checked.load() > checked_before; }, 5);
    epoch = 2 * round + 2;  // before the model comes back
    live.Replace(original->WithPolicy(original->config().policy).value());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& thread : routers) thread.join();
  CHECK(failures.load() == 0);
  CHECK(violations.load() == 0);
  CHECK(routed.load() > 0);
  CHECK(checked.load() > 0);  // the removal was really exercised
}

}  // namespace
}  // namespace router
