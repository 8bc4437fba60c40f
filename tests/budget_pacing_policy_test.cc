// Tests of BudgetPacingPolicy: the realised average cost lands on the target
// over a stream, the state is observable and restorable, bad input is refused.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "router/budget_pacing_policy.h"
#include "router/policy_config.h"

namespace router {
namespace {

// Three models whose quality rises with cost: cheap 1e-4, mid 5e-4, dear 2e-3.
Catalog Models() {
  Catalog catalog;
  for (const char* name : {"cheap", "mid", "dear"}) REQUIRE(catalog.Add({.name = name}).ok());
  return catalog;
}

// A stream of queries: each model's quality varies per query, so the policy
// has a real choice to make and quality gaps differ from query to query.
struct Stream {
  std::mt19937_64 rng{7};
  std::uniform_real_distribution<double> noise{-0.15, 0.15};
  Estimates Next() {
    Estimates e;
    e.per_model = {{.quality = 0.5 + noise(rng), .expected_cost_usd = 1e-4},
                   {.quality = 0.65 + noise(rng), .expected_cost_usd = 5e-4},
                   {.quality = 0.8 + noise(rng), .expected_cost_usd = 2e-3}};
    return e;
  }
};

double RealisedAverageCost(BudgetPacingPolicy& policy, int requests) {
  const Catalog catalog = Models();
  Stream stream;
  Decision d;
  double spend = 0.0;
  for (int i = 0; i < requests; ++i) {
    REQUIRE(policy.Decide(stream.Next(), catalog, Query{}, &d).ok());
    spend += d.chosen.expected_cost_usd;
  }
  return spend / requests;
}

TEST_CASE("the realised average cost lands within 5% of each reachable target", "[budget]") {
  for (double target : {2e-4, 5e-4, 1e-3}) {
    auto policy = BudgetPacingPolicy::Create({.target_cost_usd = target}).value();
    const double average = RealisedAverageCost(*policy, 20000);
    INFO("target " << target << " realised " << average);
    CHECK(std::abs(average - target) / target < 0.05);
    const PacingState state = policy->state();
    CHECK(state.requests == 20000);
    CHECK(state.spend_usd / state.requests == Approx(average).epsilon(1e-9));
  }
}

TEST_CASE("a target below the cheapest model settles on the cheapest", "[budget]") {
  auto policy = BudgetPacingPolicy::Create({.target_cost_usd = 5e-5}).value();
  RealisedAverageCost(*policy, 2000);
  const Catalog catalog = Models();
  Stream stream;
  Decision d;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(policy->Decide(stream.Next(), catalog, Query{}, &d).ok());
    CHECK(d.chosen.model == "cheap");
  }
  CHECK(policy->state().multiplier <= policy->options().max_multiplier);
}

TEST_CASE("a generous target buys the best predicted quality", "[budget]") {
  auto policy = BudgetPacingPolicy::Create({.target_cost_usd = 1.0}).value();
  const Catalog catalog = Models();
  Decision d;
  Estimates e;
  e.per_model = {{.quality = 0.5, .expected_cost_usd = 1e-4},
                 {.quality = 0.6, .expected_cost_usd = 5e-4},
                 {.quality = 0.9, .expected_cost_usd = 2e-3}};
  REQUIRE(policy->Decide(e, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "dear");
  CHECK(d.trace.policy == "budget");
  CHECK(d.trace.policy_parameters.find("target_cost_usd=1") == 0);
}

TEST_CASE("pacing state restores, bad states are refused", "[budget]") {
  auto first = BudgetPacingPolicy::Create({.target_cost_usd = 5e-4}).value();
  RealisedAverageCost(*first, 3000);
  const PacingState saved = first->state();
  CHECK(saved.multiplier > 0.0);
  auto second = BudgetPacingPolicy::Create({.target_cost_usd = 5e-4, .initial = saved}).value();
  CHECK(second->state().multiplier == saved.multiplier);
  CHECK(second->state().requests == saved.requests);
  auto third = BudgetPacingPolicy::Create({.target_cost_usd = 5e-4}).value();
  REQUIRE(third->Restore(saved).ok());
  CHECK(third->state().spend_usd == saved.spend_usd);
  // Bad states are refused and change nothing.
  CHECK(third->Restore({.multiplier = NAN}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(third->Restore({.multiplier = -1}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(third->Restore({.requests = -5}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(third->state().spend_usd == saved.spend_usd);
}

// The models a policy chooses for the next `requests` queries of `stream`.
std::vector<std::string> Choices(const Policy& policy, Stream stream, int requests) {
  const Catalog catalog = Models();
  std::vector<std::string> chosen;
  Decision d;
  for (int i = 0; i < requests; ++i) {
    REQUIRE(policy.Decide(stream.Next(), catalog, Query{}, &d).ok());
    chosen.push_back(d.chosen.model);
  }
  return chosen;
}

TEST_CASE("a restored policy continues where it left: the uninterrupted policy's choices",
          "[budget]") {
  const BudgetPacingOptions options{.target_cost_usd = 5e-4};
  auto uninterrupted = BudgetPacingPolicy::Create(options).value();
  const Catalog catalog = Models();
  Stream stream;
  Decision d;
  for (int i = 0; i < 3000; ++i) {
    REQUIRE(uninterrupted->Decide(stream.Next(), catalog, Query{}, &d).ok());
  }
  // Checkpointed three ways: as the options' initial state, by Restore, and
  // through a PolicyConfig (what a saved pipeline keeps).
  const PacingState saved = uninterrupted->state();
  BudgetPacingOptions with_initial = options;
  with_initial.initial = saved;
  auto from_initial = BudgetPacingPolicy::Create(with_initial).value();
  auto restored = BudgetPacingPolicy::Create(options).value();
  REQUIRE(restored->Restore(saved).ok());
  PolicyConfig checkpoint;
  uninterrupted->Checkpoint(&checkpoint);
  auto from_config = MakePolicy(checkpoint).value();

  // The next 2000 queries: every restored policy makes the same choices.
  const std::vector<std::string> expected = Choices(*uninterrupted, stream, 2000);
  CHECK(Choices(*from_initial, stream, 2000) == expected);
  CHECK(Choices(*restored, stream, 2000) == expected);
  CHECK(Choices(*from_config, stream, 2000) == expected);
  CHECK(restored->state().multiplier == uninterrupted->state().multiplier);
  // A policy that starts afresh chooses otherwise (its dual price is 0, so
  // it buys the best quality until it has overspent).
  auto fresh = BudgetPacingPolicy::Create(options).value();
  const std::vector<std::string> fresh_choices = Choices(*fresh, stream, 2000);
  int differ = 0;
  for (size_t i = 0; i < expected.size(); ++i) differ += fresh_choices[i] != expected[i];
  CHECK(differ > 20);
}

TEST_CASE("cost corrections move spend and the dual price", "[budget]") {
  auto policy = BudgetPacingPolicy::Create({.target_cost_usd = 5e-4}).value();
  // Expected 2e-3, realised 3e-3: 1e-3 more spend, no request.
  REQUIRE(policy->RecordRealisedCost(2e-3, 3e-3).ok());
  CHECK(policy->state().spend_usd == Approx(1e-3));
  CHECK(policy->state().requests == 0);
  CHECK(policy->state().multiplier == Approx(0.01 * 2.0));
  // Bad costs are refused and change nothing.
  for (const auto& [expected, realised] : std::vector<std::pair<double, double>>{
           {NAN, 1e-3}, {1e-3, INFINITY}, {-1e-3, 1e-3}, {1e-3, -1e-9}}) {
    CHECK(policy->RecordRealisedCost(expected, realised).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(policy->state().spend_usd == Approx(1e-3));
  // A realised cost below the estimate takes spend back.
  REQUIRE(policy->RecordRealisedCost(1e-3, 0.0).ok());
  CHECK(policy->state().spend_usd == Approx(0.0).margin(1e-15));
}

TEST_CASE("a per-request lambda bypasses pacing but its cost counts", "[budget]") {
  auto policy = BudgetPacingPolicy::Create({.target_cost_usd = 1.0}).value();
  const Catalog catalog = Models();
  Estimates e;
  e.per_model = {{.quality = 0.5, .expected_cost_usd = 1e-4},
                 {.quality = 0.6, .expected_cost_usd = 5e-4},
                 {.quality = 0.9, .expected_cost_usd = 2e-3}};
  RequestOverrides frugal;
  frugal.lambda = 1e6;
  Query query;
  query.overrides = &frugal;
  Decision d;
  REQUIRE(policy->Decide(e, catalog, query, &d).ok());
  CHECK(d.chosen.model == "cheap");
  CHECK(policy->state().requests == 1);
  CHECK(policy->state().spend_usd == Approx(1e-4));
}

TEST_CASE("bad budget options are refused", "[budget]") {
  CHECK(BudgetPacingPolicy::Create({.target_cost_usd = 0}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(BudgetPacingPolicy::Create({.target_cost_usd = -1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(BudgetPacingPolicy::Create({.target_cost_usd = NAN}).ok());
  CHECK_FALSE(BudgetPacingPolicy::Create({.target_cost_usd = 1e-3, .step = 0}).ok());
  CHECK_FALSE(BudgetPacingPolicy::Create({.target_cost_usd = 1e-3, .step = NAN}).ok());
  CHECK_FALSE(BudgetPacingPolicy::Create({.target_cost_usd = 1e-3, .max_multiplier = -1}).ok());
  CHECK_FALSE(
      BudgetPacingPolicy::Create({.target_cost_usd = 1e-3, .initial = {.spend_usd = INFINITY}})
          .ok());
}

}  // namespace
}  // namespace router
