#include "router/evaluation.h"

#include <algorithm>
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

}  // namespace
}  // namespace router
