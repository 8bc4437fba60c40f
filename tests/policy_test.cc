// Tests of MaxUtilityPolicy, QualityFloorPolicy and the constraints they share.
#include <cmath>
#include <cstdlib>
#include <new>
#include <string>

#include <catch2/catch.hpp>

#include "allocation_counter.h"
#include "skip.h"

#include "router/max_utility_policy.h"
#include "router/quality_floor_policy.h"

namespace router {
namespace {

// Three models: cheap/weak, mid, expensive/strong.
Catalog ThreeModels() {
  Catalog catalog;
  REQUIRE(catalog.Add({.name = "cheap", .input_usd_per_mtok = 0.1, .context_window = 4000,
                       .tags = {"small"}}).ok());
  REQUIRE(catalog.Add({.name = "mid", .input_usd_per_mtok = 1.0, .p50_latency_ms = 900,
                       .tags = {"mid"}}).ok());
  REQUIRE(catalog.Add({.name = "strong", .input_usd_per_mtok = 10.0,
                       .p50_latency_ms = 3000, .tags = {"large"}}).ok());
  return catalog;
}

Estimates Make(std::vector<std::pair<double, double>> quality_cost) {
  Estimates e;
  for (auto [q, c] : quality_cost) e.per_model.push_back({.quality = q, .expected_cost_usd = c});
  return e;
}

TEST_CASE("max utility trades quality against cost by lambda", "[policy]") {
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  Decision d;
  auto pick = [&](double lambda) {
    auto policy = MaxUtilityPolicy::Create(lambda).value();
    REQUIRE(policy->Decide(est, catalog, Query{}, &d).ok());
    return d.chosen.model;
  };
  CHECK(pick(0) == "strong");
  CHECK(pick(20) == "strong");   // 0.9-0.2 = 0.7 > 0.7-0.04 = 0.66 > 0.48
  CHECK(pick(50) == "mid");      // 0.4 < 0.6 > 0.45
  CHECK(pick(1000) == "cheap");
  // Ranked: all three, best first; fallbacks exclude the chosen one.
  REQUIRE(d.ranked.size() == 3);
  CHECK(d.ranked[0].model == "cheap");
  CHECK(d.Fallbacks().size() == 2);
  CHECK(d.ranked[1].utility >= d.ranked[2].utility);
  CHECK(d.trace.policy == "max_utility");
  CHECK(d.trace.policy_parameters == "lambda=1000");
}

TEST_CASE("ties go to the cheaper model, then to catalog order", "[policy]") {
  Catalog catalog = ThreeModels();
  auto policy = MaxUtilityPolicy::Create(0).value();
  Decision d;
  REQUIRE(policy->Decide(Make({{0.8, 0.005}, {0.8, 0.001}, {0.8, 0.001}}), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "mid");
  CHECK(d.ranked[1].model == "strong");
  CHECK(d.ranked[2].model == "cheap");
}

TEST_CASE("quality floor picks the cheapest model that reaches tau", "[policy]") {
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  Decision d;
  auto pick = [&](double tau) {
    auto policy = QualityFloorPolicy::Create(tau).value();
    REQUIRE(policy->Decide(est, catalog, Query{}, &d).ok());
    return d.chosen.model;
  };
  CHECK(pick(0.4) == "cheap");
  CHECK(pick(0.6) == "mid");
  CHECK(d.ranked[1].model == "strong");  // also meets the floor, costs more
  CHECK(d.ranked[2].model == "cheap");
  CHECK(d.trace.note.empty());
  CHECK(pick(0.85) == "strong");
  CHECK(pick(0.95) == "strong");  // nobody reaches it: the best quality
  CHECK_FALSE(d.trace.note.empty());
}

TEST_CASE("quality floor: a prediction exactly at tau meets it", "[policy][boundary]") {
  // 0.7 is the same double on both sides: ">=" keeps "mid", ">" would not.
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  auto policy = QualityFloorPolicy::Create(0.7).value();
  Decision d;
  REQUIRE(policy->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "mid");
  CHECK(d.trace.note.empty());
  // Just above it, "mid" falls short and the dearer "strong" is the cheapest
  // that reaches the floor.
  policy = QualityFloorPolicy::Create(std::nextafter(0.7, 1.0)).value();
  REQUIRE(policy->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "strong");
}

TEST_CASE("constraints exclude models and say why", "[policy][constraints]") {
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  Decision d;
  auto decide = [&](Constraints c, Query q = {}) {
    auto policy = MaxUtilityPolicy::Create(0, std::move(c)).value();
    return policy->Decide(est, catalog, q, &d);
  };
  REQUIRE(decide({.denied_models = {"strong"}}).ok());
  CHECK(d.chosen.model == "mid");
  REQUIRE(d.trace.excluded.size() == 1);
  CHECK(d.trace.excluded[0].model == "strong");
  CHECK(d.trace.excluded[0].reason == "denied by name");

  REQUIRE(decide({.allowed_models = {"cheap"}}).ok());
  CHECK(d.chosen.model == "cheap");
  CHECK(d.ranked.size() == 1);

  REQUIRE(decide({.allowed_tags = {"small", "mid"}}).ok());
  CHECK(d.chosen.model == "mid");
  REQUIRE(decide({.denied_tags = {"large"}}).ok());
  CHECK(d.chosen.model == "mid");
  REQUIRE(decide({.max_latency_ms = 1000}).ok());
  CHECK(d.chosen.model == "mid");

  // The cheap model's 4000-token window cannot hold 3900 + 200 tokens.
  est = Make({{0.9, 0.001}, {0.7, 0.002}, {0.5, 0.010}});
  REQUIRE(decide({}, Query{.input_tokens = 3900}).ok());
  CHECK(d.chosen.model == "mid");
  CHECK(d.trace.excluded[0].reason.find("context window") != std::string::npos);
  REQUIRE(decide({.enforce_context_window = false}, Query{.input_tokens = 3900}).ok());
  CHECK(d.chosen.model == "cheap");

  absl::Status none = decide({.allowed_models = {"nonexistent"}});
  CHECK(none.code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a context window violation is told exactly, however many tokens are needed",
          "[policy][constraints]") {
  Constraints constraints;
  Profile profile{.name = "m", .context_window = 4000};
  profile.expected_output_tokens = 200;
  CHECK(constraints.Violation(profile, 3800) == "");  // 4000 needed: fits exactly
  CHECK(constraints.Violation(profile, 3801) == "context window 4000 < 4001 tokens needed");
  // A file may hold any finite count (saved_router_fuzz found 2.5e267); the
  // message must not convert it to an integer (undefined behaviour).
  profile.expected_output_tokens = 1e300;
  CHECK(constraints.Violation(profile, 1).find("context window 4000 < 1") == 0);
}

TEST_CASE("a reused Decision matches a fresh one and a warm Decide allocates nothing",
          "[policy]") {
  // Names longer than std::string's small buffer, as real model names are.
  Catalog catalog;
  for (const char* name : {"provider-small-model-2024-07-18", "provider-medium-model-2024-08-06",
                           "provider-large-model-2024-10-22"}) {
    REQUIRE(catalog.Add({.name = name, .input_usd_per_mtok = 1.0}).ok());
  }
  const Estimates a = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  const Estimates b = Make({{0.9, 0.001}, {0.2, 0.002}, {0.4, 0.010}});
  auto utility = MaxUtilityPolicy::Create(20).value();
  auto floor = QualityFloorPolicy::Create(0.6).value();
  auto only_two = MaxUtilityPolicy::Create(
      20, Constraints{.denied_models = {"provider-large-model-2024-10-22"}}).value();
  Decision reused;
  for (const Policy* policy :
       std::initializer_list<const Policy*>{utility.get(), floor.get(), only_two.get(), utility.get()}) {
    for (const Estimates* est : std::initializer_list<const Estimates*>{&a, &b}) {
      Decision fresh;
      REQUIRE(policy->Decide(*est, catalog, Query{}, &fresh).ok());
      REQUIRE(policy->Decide(*est, catalog, Query{}, &reused).ok());
      CHECK(reused.chosen.model == fresh.chosen.model);
      REQUIRE(reused.ranked.size() == fresh.ranked.size());
      for (size_t i = 0; i < fresh.ranked.size(); ++i) {
        CHECK(reused.ranked[i].model == fresh.ranked[i].model);
        CHECK(reused.ranked[i].model_index == fresh.ranked[i].model_index);
        CHECK(reused.ranked[i].utility == fresh.ranked[i].utility);
      }
    }
  }
  // Warm: sorting moves the name buffers between candidates, so a buffer may
  // still grow once when it first receives a longer name; a few calls give
  // every buffer room for the longest.
  for (int i = 0; i < 8; ++i) REQUIRE(utility->Decide(i % 2 ? a : b, catalog, Query{}, &reused).ok());
  if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off under sanitizers");
  bool ok = false;
  const int64_t allocations = testing::AllocationsDuring([&] {
    ok = utility->Decide(b, catalog, Query{}, &reused).ok() &&
         utility->Decide(a, catalog, Query{}, &reused).ok();
  });
  CHECK(ok);
  CHECK(allocations == 0);
}

TEST_CASE("policies reject bad parameters and mismatched estimates", "[policy][errors]") {
  CHECK_FALSE(MaxUtilityPolicy::Create(-1).ok());
  CHECK_FALSE(MaxUtilityPolicy::Create(NAN).ok());
  CHECK_FALSE(MaxUtilityPolicy::Create(INFINITY).ok());
  CHECK_FALSE(QualityFloorPolicy::Create(1.5).ok());
  CHECK_FALSE(QualityFloorPolicy::Create(NAN).ok());

  Catalog catalog = ThreeModels();
  auto policy = MaxUtilityPolicy::Create(1).value();
  Decision d;
  CHECK(policy->Decide(Make({{0.5, 0.1}}), catalog, Query{}, &d).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(policy->Decide(Make({}), Catalog{}, Query{}, &d).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(policy->Decide(Make({{0.5, 0.1}, {0.5, 0.1}, {0.5, 0.1}}), catalog, Query{}, nullptr)
            .code() == absl::StatusCode::kInvalidArgument);
  // A NaN estimate excludes its model instead of poisoning the ranking.
  REQUIRE(policy->Decide(Make({{NAN, 0.001}, {0.6, 0.002}, {0.5, NAN}}), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "mid");
  CHECK(d.trace.excluded.size() == 2);
}

TEST_CASE("catalog rejects duplicates and bad prices", "[catalog][errors]") {
  Catalog catalog;
  CHECK(catalog.Add({.name = "a"}).ok());
  CHECK_FALSE(catalog.Add({.name = "a"}).ok());
  CHECK_FALSE(catalog.Add({.name = ""}).ok());
  CHECK_FALSE(catalog.Add({.name = "b", .input_usd_per_mtok = -1}).ok());
  CHECK_FALSE(catalog.Add({.name = "c", .output_usd_per_mtok = NAN}).ok());
  CHECK(catalog.size() == 1);
  CHECK(catalog.Find("a").value() == 0);
  CHECK(catalog.Find("zzz").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("decision explains itself in text and JSON", "[decision]") {
  Catalog catalog = ThreeModels();
  auto policy = MaxUtilityPolicy::Create(0, {.denied_models = {"mid"}}).value();
  Decision d;
  REQUIRE(policy->Decide(Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}}), catalog, Query{}, &d).ok());
  const std::string text = d.Explain();
  CHECK(text.find("Chose strong") != std::string::npos);
  CHECK(text.find("max_utility") != std::string::npos);
  CHECK(text.find("Fallbacks in order: cheap") != std::string::npos);
  CHECK(text.find("mid (denied by name)") != std::string::npos);
  const std::string json = d.ToJson();
  CHECK(json.find("\"chosen\":{") != std::string::npos);
  CHECK(json.find("\"reason\":\"denied by name\"") != std::string::npos);
}

}  // namespace
}  // namespace router

namespace router {
namespace {

TEST_CASE("optimism ranks by quality plus uncertainty", "[policy]") {
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.6, 0.001}, {0.5, 0.001}, {0.4, 0.001}});
  est.per_model[2].uncertainty = 0.3;  // 'strong' is barely known
  Decision d;
  REQUIRE(MaxUtilityPolicy::Create(0)->get()->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "cheap");
  auto optimistic = MaxUtilityPolicy::Create(0, {}, 1.0).value();
  REQUIRE(optimistic->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "strong");  // 0.4 + 0.3 > 0.6
  CHECK(d.trace.policy_parameters == "lambda=0, optimism=1");
  CHECK_FALSE(MaxUtilityPolicy::Create(0, {}, -1.0).ok());
  CHECK_FALSE(MaxUtilityPolicy::Create(0, {}, NAN).ok());
  CHECK_FALSE(QualityFloorPolicy::Create(0.5, {}, INFINITY).ok());
}

TEST_CASE("a model marked unavailable is skipped by every policy", "[policy]") {
  Catalog catalog = ThreeModels();
  catalog.mutable_at(2).available = false;
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  Decision d;
  REQUIRE(MaxUtilityPolicy::Create(0)->get()->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "mid");
  REQUIRE(d.trace.excluded.size() == 1);
  CHECK(d.trace.excluded[0].model == "strong");
  CHECK(d.trace.excluded[0].reason == "marked unavailable");
  for (int m = 0; m < 3; ++m) catalog.mutable_at(m).available = false;
  const absl::Status none = MaxUtilityPolicy::Create(0)->get()->Decide(est, catalog, Query{}, &d);
  CHECK(none.code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("per-request overrides replace lambda, tau and narrow the models", "[policy]") {
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  Decision d;
  auto utility = MaxUtilityPolicy::Create(0).value();
  RequestOverrides cheap_request;
  cheap_request.lambda = 1000;
  Query query;
  query.overrides = &cheap_request;
  REQUIRE(utility->Decide(est, catalog, query, &d).ok());
  CHECK(d.chosen.model == "cheap");
  CHECK(d.trace.policy_parameters == "lambda=1000 (request override)");
  // The policy's own lambda is untouched for the next request.
  REQUIRE(utility->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "strong");

  auto floor = QualityFloorPolicy::Create(0.8).value();
  REQUIRE(floor->Decide(est, catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "strong");
  RequestOverrides lenient;
  lenient.tau = 0.6;
  query.overrides = &lenient;
  REQUIRE(floor->Decide(est, catalog, query, &d).ok());
  CHECK(d.chosen.model == "mid");

  RequestOverrides tenant;
  tenant.allowed_models = {"cheap", "mid"};
  query.overrides = &tenant;
  REQUIRE(utility->Decide(est, catalog, query, &d).ok());
  CHECK(d.chosen.model == "mid");
  REQUIRE(d.trace.excluded.size() == 1);
  CHECK(d.trace.excluded[0].reason == "not in the request's allowed models");
}

TEST_CASE("bad per-request overrides are clear errors", "[policy]") {
  Catalog catalog = ThreeModels();
  Estimates est = Make({{0.5, 0.001}, {0.7, 0.002}, {0.9, 0.010}});
  Decision d;
  Query query;
  RequestOverrides bad;
  query.overrides = &bad;
  bad.lambda = NAN;
  CHECK(MaxUtilityPolicy::Create(0)->get()->Decide(est, catalog, query, &d).code() ==
        absl::StatusCode::kInvalidArgument);
  bad.lambda = -1;
  CHECK(MaxUtilityPolicy::Create(0)->get()->Decide(est, catalog, query, &d).code() ==
        absl::StatusCode::kInvalidArgument);
  bad.lambda.reset();
  bad.tau = 1.5;
  CHECK(QualityFloorPolicy::Create(0.5)->get()->Decide(est, catalog, query, &d).code() ==
        absl::StatusCode::kInvalidArgument);
  bad.tau.reset();
  bad.allowed_models = {"cheap", "no-such-model"};
  const absl::Status unknown = MaxUtilityPolicy::Create(0)->get()->Decide(est, catalog, query, &d);
  CHECK(unknown.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(unknown.message()).find("no-such-model") != std::string::npos);
}

}  // namespace
}  // namespace router
