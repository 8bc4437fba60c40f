#include "router/evaluation.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "router/max_utility_policy.h"

namespace router {
namespace {

TEST_CASE("the non-decreasing hull keeps the rising upper envelope", "[evaluation]") {
  std::vector<OperatingPoint> points = {
      {1, 0.2}, {2, 0.5}, {3, 0.55}, {4, 0.9}, {5, 0.8}, {2.5, 0.3}, {1.5, 0.1}};
  std::vector<OperatingPoint> hull = NonDecreasingHull(points);
  // (3, 0.55) lies below the chord (2, 0.5)-(4, 0.9); (5, 0.8) falls.
  REQUIRE(hull.size() == 3);
  CHECK(hull[0].cost_usd == 1);
  CHECK(hull[1].cost_usd == 2);
  CHECK(hull[2].cost_usd == 4);
}

TEST_CASE("AIQ integrates the hull over the cost range", "[evaluation]") {
  // A single point: flat line, AIQ equals its quality.
  CHECK(Aiq(std::vector<OperatingPoint>{{2, 0.6}}, 1, 3) == Approx(0.6));
  // Two points at the ends: the trapezoid's mean height.
  CHECK(Aiq(std::vector<OperatingPoint>{{1, 0.2}, {3, 0.6}}, 1, 3) == Approx(0.4));
  // (0,0) to (1,1), then flat to 2: area 0.5 + 1 over range 2.
  CHECK(Aiq(std::vector<OperatingPoint>{{0, 0}, {1, 1}}, 0, 2) == Approx(0.75));
  // A hull crossing cost_min is interpolated, not clamped.
  CHECK(Aiq(std::vector<OperatingPoint>{{0, 0}, {2, 1}}, 1, 2) == Approx(0.75));
  CHECK(QualityAtCost(std::vector<OperatingPoint>{{1, 0.2}, {3, 0.6}}, 2) == Approx(0.4));
  CHECK(QualityAtCost(std::vector<OperatingPoint>{{1, 0.2}, {3, 0.6}}, 0.5) == 0.0);
  CHECK(QualityAtCost(std::vector<OperatingPoint>{{1, 0.2}, {3, 0.6}}, 10) == Approx(0.6));
}

// The RouterBench definition, computed the slow way: the upper envelope at c
// is the best interpolation over every pair of points around c; the
// non-decreasing hull stops rising at the best point and stays flat after it
// (and before the cheapest point).
double SlowHullValue(const std::vector<OperatingPoint>& p, double c) {
  double best_cost = p[0].cost_usd, best_quality = -1, min_cost = p[0].cost_usd;
  for (const OperatingPoint& x : p) {
    if (x.quality > best_quality) best_quality = x.quality, best_cost = x.cost_usd;
    min_cost = std::min(min_cost, x.cost_usd);
  }
  c = std::clamp(c, min_cost, best_cost);
  double env = -1;
  for (const OperatingPoint& a : p) {
    for (const OperatingPoint& b : p) {
      if (a.cost_usd <= c && c <= b.cost_usd) {
        const double t = b.cost_usd > a.cost_usd ? (c - a.cost_usd) / (b.cost_usd - a.cost_usd) : 0;
        env = std::max(env, a.quality + t * (b.quality - a.quality));
      }
    }
  }
  return env;
}

TEST_CASE("AIQ matches a numerical integral of the slow definition", "[evaluation]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<OperatingPoint> points;
    for (int i = 0; i < 10; ++i) points.push_back({u(rng), u(rng)});
    const double lo = 0.1, hi = 0.9;
    const int steps = 4000;
    double sum = 0;
    for (int s = 0; s < steps; ++s) sum += SlowHullValue(points, lo + (hi - lo) * (s + 0.5) / steps);
    CHECK(Aiq(points, lo, hi) == Approx(sum / steps).margin(1e-4));
  }
}

Dataset TwoModelTest() {
  Dataset d;
  d.model_names = {"weak", "strong"};
  // Row 0: both right; row 1: only strong; row 2: only weak.
  d.scores = {1, 1, 0, 1, 1, 0};
  d.costs = {1, 10, 1, 10, 1, 10};
  for (int r = 0; r < 3; ++r) {
    d.ids.push_back("r" + std::to_string(r));
    d.prompts.push_back("p");
    d.sources.push_back("s");
    d.splits.push_back(Split::kTest);
  }
  return d;
}

TEST_CASE("single models, oracle and replay on a tiny test set", "[evaluation]") {
  Dataset test = TwoModelTest();
  auto singles = SingleModelPoints(test).value();
  CHECK(singles[0].point.quality == Approx(2.0 / 3));
  CHECK(singles[1].point.cost_usd == Approx(10));
  OperatingPoint oracle = OraclePoint(test).value();
  CHECK(oracle.quality == Approx(1.0));
  CHECK(oracle.cost_usd == Approx((1 + 10 + 1) / 3.0));  // ties go to the cheaper

  Catalog catalog;
  REQUIRE(catalog.Add({.name = "weak"}).ok());
  REQUIRE(catalog.Add({.name = "strong"}).ok());
  // Perfect estimates: the replay of lambda = 0.01 reproduces the oracle.
  std::vector<Estimates> est(3);
  for (int r = 0; r < 3; ++r) {
    for (int m = 0; m < 2; ++m) {
      est[r].per_model.push_back({.quality = test.score(r, m), .expected_cost_usd = test.cost(r, m)});
    }
  }
  auto policy = MaxUtilityPolicy::Create(0.01).value();
  OperatingPoint p = Replay(test, catalog, est, *policy).value();
  CHECK(p.quality == Approx(oracle.quality));
  CHECK(p.cost_usd == Approx(oracle.cost_usd));

  test.scores[0] = NAN;
  CHECK_FALSE(SingleModelPoints(test).ok());
  CHECK_FALSE(Replay(TwoModelTest(), catalog, absl::MakeSpan(est).subspan(0, 2), *policy).ok());
}

TEST_CASE("the lambda grid starts at zero and increases", "[evaluation]") {
  std::vector<double> grid = LambdaGrid(TwoModelTest(), 7);
  REQUIRE(grid.size() == 8);
  CHECK(grid[0] == 0.0);
  for (size_t i = 1; i < grid.size(); ++i) CHECK(grid[i] > grid[i - 1]);
}

TEST_CASE("LambdaSweep replays one point per lambda", "[evaluation]") {
  Dataset test = TwoModelTest();
  Catalog catalog;
  REQUIRE(catalog.Add({.name = "weak"}).ok());
  REQUIRE(catalog.Add({.name = "strong"}).ok());
  std::vector<Estimates> est(3);
  for (int r = 0; r < 3; ++r) {
    for (int m = 0; m < 2; ++m) {
      est[r].per_model.push_back({.quality = test.score(r, m), .expected_cost_usd = test.cost(r, m)});
    }
  }
  auto points = LambdaSweep(test, catalog, est, std::vector<double>{0.01, 1e6}).value();
  REQUIRE(points.size() == 2);
  CHECK(points[0].quality == Approx(1.0));  // perfect estimates: the oracle
  CHECK(points[1].quality == Approx(2.0 / 3));  // price dominates: always weak
  CHECK(points[1].cost_usd == Approx(1.0));
  CHECK_FALSE(LambdaSweep(test, catalog, est, std::vector<double>{-1.0}).ok());
}

TEST_CASE("AIQ, RouterBench code variant, by hand", "[evaluation]") {
  const std::vector<OperatingPoint> two = {{1, 0.2}, {3, 0.6}};
  // trapz from the hull's first point (not from a common cost_min), flat to
  // cost_max, divided by cost_max: (2 * 0.4 + 1 * 0.6) / 4.
  CHECK(AiqRouterBenchCode(two, 4) == Approx(0.35));
  CHECK(Aiq(two, 1, 4) == Approx(1.4 / 3));  // the paper's, for contrast
  // cost_max inside the hull cuts it: (1, 0.2)-(2, 0.4), area 0.3, over 2.
  CHECK(AiqRouterBenchCode(two, 2) == Approx(0.15));
  // A single point counts from its own cost: 0.6 * (3 - 2) / 3.
  CHECK(AiqRouterBenchCode(std::vector<OperatingPoint>{{2, 0.6}}, 3) == Approx(0.2));
  CHECK(AiqRouterBenchCode(std::vector<OperatingPoint>{{2, 0.6}}, 2) == 0.0);
  // All-equal costs: the best of them, from cost 2 to 4.
  const std::vector<OperatingPoint> same_cost = {{2, 0.3}, {2, 0.7}, {2, 0.5}};
  CHECK(AiqRouterBenchCode(same_cost, 4) == Approx(0.35));
  CHECK(Aiq(same_cost, 1, 4) == Approx(0.7));
  // Non-monotone: (3, 0.4) lies under the hull (1,.5)-(2,.9)-(4,.95).
  const std::vector<OperatingPoint> bumpy = {{1, 0.5}, {2, 0.9}, {3, 0.4}, {4, 0.95}};
  CHECK(AiqRouterBenchCode(bumpy, 4) == Approx((0.7 + 1.85) / 4));
  CHECK(AiqRouterBenchCode({}, 4) == 0.0);
  CHECK(AiqRouterBenchCode(two, 0) == 0.0);
}

TEST_CASE("RouterBench's common cost_max is the largest hull cost", "[evaluation]") {
  // The first curve's hull stops at its best point (3, 0.6): (5, 0.5) falls.
  std::vector<std::vector<OperatingPoint>> curves = {{{1, 0.2}, {3, 0.6}, {5, 0.5}},
                                                     {{2, 0.1}, {2.5, 0.3}}};
  CHECK(RouterBenchCostMax(curves) == 3.0);
  curves[1].push_back({4, 0.35});
  CHECK(RouterBenchCostMax(curves) == 4.0);
  CHECK(RouterBenchCostMax({}) == 0.0);
}

TEST_CASE("cost to reach a quality and the max-quality point", "[evaluation]") {
  const std::vector<OperatingPoint> two = {{1, 0.2}, {3, 0.6}};
  CHECK(CostToReachQuality(two, 0.4) == Approx(2.0));
  CHECK(CostToReachQuality(two, 0.1) == 1.0);  // reached at the first point
  CHECK(CostToReachQuality(two, 0.6) == 3.0);
  CHECK(std::isinf(CostToReachQuality(two, 0.7)));
  // Non-monotone with a tie at the top: the cheaper of (4,.95) and (5,.95).
  const std::vector<OperatingPoint> bumpy = {{1, 0.5}, {2, 0.9}, {3, 0.4}, {5, 0.95}, {4, 0.95}};
  CHECK(CostToReachQuality(bumpy, 0.925) == Approx(3.0));  // halfway from (2,.9) to (4,.95)
  CHECK(CostToReachQuality(bumpy, 0.95) == Approx(4.0));
  CHECK(CostToReachQuality(bumpy, 0.45) == 1.0);
  OperatingPoint best = MaxQualityPoint(bumpy);
  CHECK(best.cost_usd == 4.0);
  CHECK(best.quality == 0.95);
  // A single point; all-equal costs.
  CHECK(CostToReachQuality(std::vector<OperatingPoint>{{2, 0.6}}, 0.5) == 2.0);
  CHECK(std::isinf(CostToReachQuality(std::vector<OperatingPoint>{{2, 0.6}}, 0.61)));
  const std::vector<OperatingPoint> same_cost = {{2, 0.3}, {2, 0.7}};
  CHECK(CostToReachQuality(same_cost, 0.5) == 2.0);
  CHECK(MaxQualityPoint(same_cost).quality == 0.7);
  CHECK(std::isnan(MaxQualityPoint({}).quality));
  CHECK(std::isinf(CostToReachQuality({}, 0.0)));
}

TEST_CASE("quantiles interpolate like numpy, calibration takes the upper one", "[evaluation]") {
  const std::vector<double> v = {3, 1, 2, 4};
  CHECK(Quantile(v, 0.5) == Approx(2.5));
  CHECK(Quantile(v, 0.0) == 1.0);
  CHECK(Quantile(v, 1.0) == 4.0);
  CHECK(Quantile(v, 1.0 / 3) == Approx(2.0));
  CHECK(Quantile(v, 2.0) == 4.0);  // clamped
  CHECK(Quantile(std::vector<double>{5}, 0.3) == 5.0);
  CHECK(std::isnan(Quantile({}, 0.5)));
  // 25% strong: the 0.75-quantile.
  CHECK(CalibrateThreshold(v, 0.25) == Approx(3.25));
}

// Four rows, router scores 0.9, 0.1, 0.5, 0.5 (two tie). The strong model
// (cost 10) is right on rows 0, 2, 3; the weak one (cost 1) on row 2 only.
Dataset StrongWeakTest() {
  Dataset d;
  d.model_names = {"weak", "strong"};
  d.scores = {0, 1, 0, 0, 1, 1, 0, 1};
  d.costs = {1, 10, 1, 10, 1, 10, 1, 10};
  for (int r = 0; r < 4; ++r) {
    d.ids.push_back("r" + std::to_string(r));
    d.prompts.push_back("p");
    d.sources.push_back("s");
    d.splits.push_back(Split::kTest);
  }
  return d;
}

TEST_CASE("threshold sweep, APGR and CPT on a hand-computed pair", "[evaluation]") {
  const Dataset test = StrongWeakTest();
  const std::vector<double> scores = {0.9, 0.1, 0.5, 0.5};
  // Exact curve: thresholds +inf, 0.9, 0.5 (both ties go strong), 0.1.
  auto curve = ThresholdSweep(test, "strong", "weak", scores, 0).value();
  REQUIRE(curve.size() == 4);
  const double shares[] = {0, 0.25, 0.75, 1}, qualities[] = {0.25, 0.5, 0.75, 0.75},
               costs[] = {1, 3.25, 7.75, 10};
  for (int i = 0; i < 4; ++i) {
    CHECK(curve[i].strong_share == Approx(shares[i]));
    CHECK(curve[i].quality == Approx(qualities[i]));
    CHECK(curve[i].cost_usd == Approx(costs[i]));
  }
  CHECK(std::isinf(curve[0].threshold));
  CHECK(curve[2].threshold == 0.5);
  // weak alone 0.25, strong alone 0.75. Area: .09375 + .3125 + .1875.
  CHECK(Apgr(curve, 0.25, 0.75) == Approx((0.59375 - 0.25) / 0.5));
  CHECK(CallPerformanceThreshold(curve, 0.25, 0.75, 0.5) == Approx(0.25));  // on a point
  CHECK(CallPerformanceThreshold(curve, 0.25, 0.75, 0.8) == Approx(0.55));  // interpolated
  CHECK(CallPerformanceThreshold(curve, 0.25, 0.75, 1.0) == Approx(0.75));
  CHECK(std::isnan(CallPerformanceThreshold(curve, 0.25, 0.75, 1.2)));
  CHECK(std::isnan(Apgr(curve, 0.5, 0.5)));

  // RouteLLM's binned sweep, 2 bins: quantiles 0.1, 0.5 and 0.9 (strict).
  auto binned = ThresholdSweep(test, "strong", "weak", scores, 2).value();
  REQUIRE(binned.size() == 3);
  CHECK(binned[0].strong_share == 0.0);
  CHECK(binned[1].strong_share == Approx(0.75));  // the tie at 0.5 goes together
  CHECK(binned[2].strong_share == 1.0);
  // Calibrated for 50% strong, the tie sends 75%.
  CHECK(CalibrateThreshold(scores, 0.5) == Approx(0.5));

  // A single row: two points, 0% and 100%.
  auto one = ThresholdSweep(test.Subset(std::vector<int64_t>{0}), "strong", "weak",
                            std::vector<double>{0.3}, 0).value();
  REQUIRE(one.size() == 2);
  CHECK(one[0].quality == 0.0);
  CHECK(one[1].quality == 1.0);
  // All scores equal: nothing between all-weak and all-strong.
  auto flat = ThresholdSweep(test, "strong", "weak", std::vector<double>(4, 0.2), 0).value();
  REQUIRE(flat.size() == 2);
  CHECK(Apgr(flat, 0.25, 0.75) == Approx(0.5));  // the straight line: a random router

  CHECK_FALSE(ThresholdSweep(test, "strong", "nope", scores).ok());
  CHECK_FALSE(ThresholdSweep(test, "strong", "weak", std::vector<double>{0.1}).ok());
  CHECK_FALSE(ThresholdSweep(test, "strong", "weak", scores, -1).ok());
}

TEST_CASE("CPT finds the first crossing of a non-monotone curve", "[evaluation]") {
  // Quality dips at 40% strong; np.interp on this curve would be undefined.
  const std::vector<ThresholdPoint> curve = {
      {0, 0.6, 0.7, 0}, {0, 1.0, 0.8, 0}, {0, 0.0, 0.2, 0}, {0, 0.2, 0.6, 0}, {0, 0.4, 0.4, 0}};
  CHECK(CallPerformanceThreshold(curve, 0.2, 0.8, 0.5) == Approx(0.15));
  CHECK(CallPerformanceThreshold(curve, 0.2, 0.8, 0.8) == Approx(0.4 + 0.2 * 0.28 / 0.3));
  CHECK(Apgr(curve, 0.2, 0.8) == Approx((0.59 - 0.2) / 0.6));
}

TEST_CASE("strong/weak scores and rows by source", "[evaluation]") {
  Catalog catalog;
  REQUIRE(catalog.Add({.name = "weak"}).ok());
  REQUIRE(catalog.Add({.name = "strong"}).ok());
  std::vector<Estimates> est(2);
  est[0].per_model = {{.quality = 0.2}, {.quality = 0.9}};
  est[1].per_model = {{.quality = 0.6}, {.quality = 0.5}};
  auto scores = StrongWeakScores(catalog, est, "strong", "weak").value();
  CHECK(scores[0] == Approx(0.7));
  CHECK(scores[1] == Approx(-0.1));
  CHECK_FALSE(StrongWeakScores(catalog, est, "strong", "missing").ok());

  Dataset d = StrongWeakTest();
  d.sources = {"a", "b", "a", ""};
  std::vector<SourceRows> groups = RowsBySource(d);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].source == "a");
  CHECK(groups[0].rows == std::vector<int64_t>{0, 2});
  CHECK(groups[1].rows == std::vector<int64_t>{1});
  CHECK(groups[2].source == "");
}

}  // namespace
}  // namespace router
