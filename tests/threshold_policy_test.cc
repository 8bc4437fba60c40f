// Tests of ThresholdPolicy: the strong/weak rule, calibration to a share,
// the realised share, constraints on the pair, bad input.
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "router/threshold_policy.h"

namespace router {
namespace {

Catalog Models() {
  Catalog catalog;
  for (const char* name : {"weak", "other", "strong"}) REQUIRE(catalog.Add({.name = name}).ok());
  return catalog;
}

Estimates Make(double weak, double strong) {
  Estimates e;
  e.per_model = {{.quality = weak, .expected_cost_usd = 1e-4},
                 {.quality = 0.99, .expected_cost_usd = 1e-5},
                 {.quality = strong, .expected_cost_usd = 1e-3}};
  return e;
}

TEST_CASE("strong when the expected gain exceeds the threshold, and only the pair", "[threshold]") {
  const Catalog catalog = Models();
  auto policy = ThresholdPolicy::Create("strong", "weak", 0.1).value();
  Decision d;
  REQUIRE(policy->Decide(Make(0.5, 0.7), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "strong");
  REQUIRE(d.ranked.size() == 2);
  CHECK(d.ranked[1].model == "weak");
  CHECK(d.chosen.utility == Approx(0.2));
  REQUIRE(d.trace.excluded.size() == 1);  // 'other' is outside the pair
  CHECK(d.trace.excluded[0].reason == "not in the strong/weak pair");
  REQUIRE(policy->Decide(Make(0.5, 0.55), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "weak");
  CHECK(policy->routing_share().decisions == 2);
  CHECK(policy->routing_share().strong == 1);
  CHECK(d.trace.policy_parameters == "strong=strong, weak=weak, threshold=0.1");
}

TEST_CASE("a gain exactly at the threshold stays weak: strong only above it", "[threshold][boundary]") {
  // 0.75 - 0.5 is exactly 0.25 in binary, like the threshold.
  const Catalog catalog = Models();
  Decision d;
  auto at = ThresholdPolicy::Create("strong", "weak", 0.25).value();
  REQUIRE(at->Decide(Make(0.5, 0.75), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "weak");
  auto below = ThresholdPolicy::Create("strong", "weak", std::nextafter(0.25, 0.0)).value();
  REQUIRE(below->Decide(Make(0.5, 0.75), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "strong");
}

TEST_CASE("calibration hits the target share on fresh queries from the same distribution",
          "[threshold]") {
  const Catalog catalog = Models();
  std::mt19937_64 rng(3);
  std::normal_distribution<double> gap(0.1, 0.15);
  auto sample_of = [&](int n) {
    std::vector<Estimates> out;
    for (int i = 0; i < n; ++i) out.push_back(Make(0.5, std::clamp(0.5 + gap(rng), 0.0, 1.0)));
    return out;
  };
  const std::vector<Estimates> calibration = sample_of(4000);
  const std::vector<Estimates> fresh = sample_of(4000);
  for (double target : {0.2, 0.5, 0.8}) {
    const double threshold =
        ThresholdPolicy::Calibrate(calibration, catalog, "strong", "weak", target).value();
    auto policy = ThresholdPolicy::Create("strong", "weak", threshold).value();
    Decision d;
    for (const Estimates& e : fresh) REQUIRE(policy->Decide(e, catalog, Query{}, &d).ok());
    INFO("target " << target << " threshold " << threshold);
    CHECK(std::abs(policy->routing_share().share() - target) < 0.03);
  }
  // The extremes send everything one way.
  for (double target : {0.0, 1.0}) {
    const double threshold =
        ThresholdPolicy::Calibrate(calibration, catalog, "strong", "weak", target).value();
    auto policy = ThresholdPolicy::Create("strong", "weak", threshold).value();
    Decision d;
    for (const Estimates& e : calibration) REQUIRE(policy->Decide(e, catalog, Query{}, &d).ok());
    CHECK(policy->routing_share().share() == target);
  }
}

TEST_CASE("an excluded half of the pair leaves the other, both excluded is an error",
          "[threshold]") {
  Catalog catalog = Models();
  auto policy = ThresholdPolicy::Create("strong", "weak", 0.0).value();
  catalog.mutable_at(2).available = false;
  Decision d;
  REQUIRE(policy->Decide(Make(0.1, 0.9), catalog, Query{}, &d).ok());
  CHECK(d.chosen.model == "weak");
  CHECK(d.trace.note.find("'strong' is excluded") != std::string::npos);
  catalog.mutable_at(0).available = false;
  const absl::Status both = policy->Decide(Make(0.1, 0.9), catalog, Query{}, &d);
  CHECK(both.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(both.message()).find("both") != std::string::npos);
}

TEST_CASE("a per-request threshold overrides the calibrated one", "[threshold]") {
  const Catalog catalog = Models();
  auto policy = ThresholdPolicy::Create("strong", "weak", 0.5).value();
  RequestOverrides eager;
  eager.tau = -1.0;
  Query query;
  query.overrides = &eager;
  Decision d;
  REQUIRE(policy->Decide(Make(0.5, 0.5), catalog, query, &d).ok());
  CHECK(d.chosen.model == "strong");
  eager.tau = 2.0;
  CHECK(policy->Decide(Make(0.5, 0.5), catalog, query, &d).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("bad threshold input is refused", "[threshold]") {
  const Catalog catalog = Models();
  CHECK_FALSE(ThresholdPolicy::Create("strong", "strong", 0).ok());
  CHECK_FALSE(ThresholdPolicy::Create("", "weak", 0).ok());
  CHECK_FALSE(ThresholdPolicy::Create("strong", "weak", NAN).ok());
  CHECK_FALSE(ThresholdPolicy::Create("strong", "weak", 3).ok());
  auto unknown = ThresholdPolicy::Create("gpt-9", "weak", 0).value();
  Decision d;
  CHECK(unknown->Decide(Make(0.5, 0.5), catalog, Query{}, &d).code() ==
        absl::StatusCode::kNotFound);
  const std::vector<Estimates> sample = {Make(0.5, 0.6)};
  CHECK_FALSE(ThresholdPolicy::Calibrate({}, catalog, "strong", "weak", 0.5).ok());
  CHECK_FALSE(ThresholdPolicy::Calibrate(sample, catalog, "strong", "weak", 1.5).ok());
  CHECK_FALSE(ThresholdPolicy::Calibrate(sample, catalog, "strong", "nope", 0.5).ok());
  std::vector<Estimates> nan_sample = {Make(NAN, 0.6)};
  CHECK_FALSE(ThresholdPolicy::Calibrate(nan_sample, catalog, "strong", "weak", 0.5).ok());
}

}  // namespace
}  // namespace router

namespace router {
namespace {

TEST_CASE("share tracking holds the target even when calibration was off", "[threshold]") {
  const Catalog catalog = Models();
  std::mt19937_64 rng(11);
  std::normal_distribution<double> gap(0.2, 0.1);  // the stream: strong gains a lot
  for (double target : {0.2, 0.5, 0.8}) {
    // Threshold 0, as if calibrated on traffic where strong gained nothing:
    // about 98% of this stream would go strong without tracking.
    auto policy = ThresholdPolicy::Create("strong", "weak", 0.0).value();
    REQUIRE(policy->TrackShare(target, 0.01).ok());
    Decision d;
    for (int i = 0; i < 3000; ++i) {
      REQUIRE(policy->Decide(Make(0.4, std::clamp(0.4 + gap(rng), 0.0, 1.0)), catalog, Query{},
                             &d).ok());
    }
    INFO("target " << target << " realised " << policy->routing_share().share());
    CHECK(std::abs(policy->routing_share().share() - target) < 0.03);
    CHECK(policy->threshold() > 0.0);
  }
  auto fixed = ThresholdPolicy::Create("strong", "weak", 0.0).value();
  CHECK(fixed->target_share() < 0);
  CHECK_FALSE(fixed->TrackShare(1.5, 0.01).ok());
  CHECK_FALSE(fixed->TrackShare(0.5, 0.0).ok());
  CHECK_FALSE(fixed->TrackShare(NAN, 0.01).ok());
}

}  // namespace
}  // namespace router
