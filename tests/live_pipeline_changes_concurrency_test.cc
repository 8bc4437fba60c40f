// Every kind of run-time change at once under load: threads route without
// pause while another thread reloads, removes and re-adds models (onboarding
// on the cluster router), changes prices, marks models down and up, and
// swaps the policy. No route may fail, and no route that starts after a
// removal or an outage completed may choose that model. Run under TSan by
// scripts/test.sh.
#include "router/cluster_router.h"
#include "router/linucb_router.h"
#include "router/live_pipeline.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "router/synthetic.h"
#include "router/max_utility_policy.h"
#include "router/budget_pacing_policy.h"
#include "wait_until.h"

namespace router {
namespace {

// Eight labelled rows that onboard model `name`, each scored 0.9.
Dataset LabelledFor(const SyntheticData& synthetic, const std::string& name) {
  Dataset labelled = synthetic.dataset.Subset(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  labelled.model_names = {name};
  labelled.scores.assign(labelled.rows(), 0.9);
  labelled.costs.assign(labelled.rows(), 1e-4);
  return labelled;
}

// A cluster router (it can onboard models) over a 16-d featurizer.
std::unique_ptr<Pipeline> FitCluster(const SyntheticData& synthetic, int clusters) {
  PipelineConfig config;
  config.router = "cluster";
  config.RouterOptions<ClusterOptions>().num_clusters = clusters;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 16;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  return std::move(fitted).value();
}

TEST_CASE("routes never fail or choose a withdrawn model while everything changes",
          "[concurrency][changes]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 8});
  std::unique_ptr<Pipeline> fitted = FitCluster(synthetic, 6);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("changes-" + std::to_string(::getpid()) + ".router")).string();
  REQUIRE(fitted->Save(path).ok());
  LivePipeline live(std::move(fitted));

  // The model no new route may choose (empty: none), published after the
  // change that withdrew it returned, cleared before the change that brings
  // it back starts. Each clear bumps `clears`: a route is checked only if no
  // clear happened between its reading `withdrawn` and its end, since a
  // thread that stalls past the clear may route on the model's return.
  std::atomic<const std::string*> withdrawn{nullptr};
  std::atomic<uint64_t> clears{0};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, violations{0}, routed{0}, checked{0};
  std::vector<std::thread> routers;
  for (int t = 0; t < 3; ++t) {
    routers.emplace_back([&, t] {
      Decision decision;
      for (int i = 0; !stop.load(); ++i) {
        const uint64_t clears_before = clears.load();
        const std::string* banned = withdrawn.load();
        if (!live.RouteText(SyntheticPrompt(i % 6, t * 100000 + i), &decision).ok()) {
          ++failures;
          continue;
        }
        ++routed;
        if (banned != nullptr && clears.load() == clears_before) {
          ++checked;
          if (decision.chosen.model == *banned) ++violations;
        }
      }
    });
  }

  const std::vector<std::string> names = {"small-coder", "small-math", "mid-writer"};
  PolicyConfig cheap;
  cheap.Set(MaxUtilityOptions{.lambda = 5000});
  PolicyConfig budget;
  budget.Set(BudgetPacingOptions{.target_cost_usd = 2e-4});
  for (int round = 0; round < 6; ++round) {
    const std::string& name = names[round % names.size()];
    // An outage: marked down, then up.
    REQUIRE(live.SetAvailable(name, false).ok());
    const int checked_before_outage = checked.load();
    withdrawn = &name;
    WaitUntil([&] { return checked.load() > checked_before_outage; }, 3);
    withdrawn = nullptr;
    ++clears;
    REQUIRE(live.SetAvailable(name, true).ok());
    // A price change and a policy swap.
    Profile profile = live.Snapshot()->catalog().at(live.Snapshot()->catalog().Find(name).value());
    profile.input_usd_per_mtok *= 1.5;
    REQUIRE(live.SetProfile(profile).ok());
    REQUIRE(live.SetPolicy(round % 2 ? cheap : budget).ok());
    // A removal, then the saved pipeline comes back by reload.
    REQUIRE(live.RemoveModel(name).ok());
    const int checked_before_removal = checked.load();
    withdrawn = &name;
    WaitUntil([&] { return checked.load() > checked_before_removal; }, 3);
    withdrawn = nullptr;
    ++clears;
    REQUIRE(live.Reload(path).ok());
    // Onboard a new model from labelled rows (cluster routers can).
    Profile newcomer{.name = "newcomer-" + std::to_string(round), .input_usd_per_mtok = 0.2};
    const Dataset labelled = LabelledFor(synthetic, newcomer.name);
    REQUIRE(live.AddModel(newcomer, labelled).ok());
    REQUIRE(live.Snapshot()->catalog().Find(newcomer.name).ok());
  }
  stop = true;
  for (std::thread& thread : routers) thread.join();
  std::filesystem::remove(path);
  CHECK(failures.load() == 0);
  CHECK(violations.load() == 0);
  CHECK(routed.load() > 0);
  CHECK(checked.load() > 0);
  CHECK(live.generation() >= 6 * 6);
}

TEST_CASE("no LinUCB update is lost while models are added and removed",
          "[concurrency][changes]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 10});
  PipelineConfig config;
  config.router = "linucb";
  config.RouterOptions<LinUcbOptions>().context_dim = 8;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 16;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  LivePipeline live(std::move(fitted).value());
  const std::string target = synthetic.catalog.at(0).name;
  auto updates_of_target = [&] {
    const auto& router = dynamic_cast<const LinUcbRouter&>(live.Snapshot()->router());
    return router.snapshot().updates(router.catalog().Find(target).value());
  };
  const int64_t updates_before = updates_of_target();
  std::vector<float> vector(live.Snapshot()->dim());
  REQUIRE(live.Snapshot()->Embed(SyntheticPrompt(1, 77), absl::MakeSpan(vector)).ok());

  // One thread reports outcomes for `target` without pause while models are
  // added and removed: each change copies the router, and an update that
  // landed on the outgoing copy after it was taken would be missing from the
  // new one.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> accepted{0}, refused{0};
  std::thread feeder([&] {
    Feedback feedback;
    feedback.vector = vector;
    feedback.model = target;
    feedback.score = 0.75;
    feedback.cost_usd = 1e-4;
    while (!stop.load()) (live.Observe(feedback).ok() ? accepted : refused)++;
  });
  for (int round = 0; round < 8; ++round) {
    Profile newcomer{.name = "newcomer-" + std::to_string(round), .input_usd_per_mtok = 0.2};
    const Dataset labelled = LabelledFor(synthetic, newcomer.name);
    REQUIRE(live.AddModel(newcomer, labelled).ok());
    if (round % 2 == 1) REQUIRE(live.RemoveModel("newcomer-" + std::to_string(round - 1)).ok());
    WaitUntil([&] { return accepted.load() > round * 50; }, 3);
  }
  stop = true;
  feeder.join();
  CHECK(refused.load() == 0);
  CHECK(accepted.load() > 0);
  CHECK(updates_of_target() == updates_before + accepted.load());
}

TEST_CASE("no run-time change is lost when changes race each other and routes",
          "[concurrency][changes]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 200, .seed = 9});
  LivePipeline live(FitCluster(synthetic, 4));

  // Prices and availability of one model change from two threads at once,
  // while a third adds models and three more route. A change computed from a
  // stale copy of the profile (read outside the update lock) would undo the
  // other thread's latest change.
  const std::string target = "small-coder";
  constexpr int kChanges = 40, kAdditions = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, routed{0}, change_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      Decision decision;
      for (int i = 0; !stop.load(); ++i) {
        if (!live.RouteText(SyntheticPrompt(i % 6, t * 100000 + i), &decision).ok()) ++failures;
        ++routed;
      }
    });
  }
  // The changes start once the routing threads are routing, so that they race
  // routes (and routed > 0 below holds) even when a loaded machine would run
  // every change before a routing thread is scheduled.
  CHECK(WaitUntil([&] { return routed.load() >= 9; }, 0, 10000));
  std::vector<std::thread> changers;
  changers.emplace_back([&] {
    for (int i = 1; i <= kChanges; ++i) {
      if (!live.SetPrice(target, i, 2.0 * i).ok()) ++change_errors;
    }
  });
  changers.emplace_back([&] {
    for (int i = 1; i <= kChanges; ++i) {
      if (!live.SetAvailable(target, i % 2 == 0).ok()) ++change_errors;
    }
  });
  changers.emplace_back([&] {
    for (int i = 0; i < kAdditions; ++i) {
      Profile newcomer{.name = "added-" + std::to_string(i), .input_usd_per_mtok = 0.1};
      Dataset labelled = synthetic.dataset.Subset(std::vector<int64_t>{0, 1, 2, 3, 4, 5});
      labelled.model_names = {newcomer.name};
      labelled.scores.assign(labelled.rows(), 0.8);
      labelled.costs.assign(labelled.rows(), 1e-4);
      if (!live.AddModel(newcomer, labelled).ok()) ++change_errors;
    }
  });
  for (std::thread& changer : changers) changer.join();
  stop = true;
  for (std::thread& thread : threads) thread.join();

  CHECK(failures.load() == 0);
  CHECK(change_errors.load() == 0);
  CHECK(routed.load() > 0);
  // Every change took effect, and the last of each thread is what remains.
  const auto last = live.Snapshot();
  const Profile& profile = last->catalog().at(last->catalog().Find(target).value());
  CHECK(profile.input_usd_per_mtok == kChanges);
  CHECK(profile.output_usd_per_mtok == 2.0 * kChanges);
  CHECK(profile.available == (kChanges % 2 == 0));
  for (int i = 0; i < kAdditions; ++i) {
    CHECK(last->catalog().Find("added-" + std::to_string(i)).ok());
  }
  CHECK(live.generation() == 2 * kChanges + kAdditions);
}

}  // namespace
}  // namespace router
