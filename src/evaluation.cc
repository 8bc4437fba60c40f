#include "router/evaluation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "router/status.h"

namespace router {
namespace {

absl::Status RequireComplete(const Dataset& test) {
  if (test.rows() == 0) return absl::InvalidArgumentError("the test set has no rows");
  for (int64_t r = 0; r < test.rows(); ++r) {
    for (int m = 0; m < test.num_models(); ++m) {
      if (std::isnan(test.score(r, m)) || std::isnan(test.cost(r, m))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "evaluation needs every score and cost; row '", test.ids[r],
            "' lacks one for model '", test.model_names[m], "'"));
      }
    }
  }
  return absl::OkStatus();
}

// Cross product of (b - a) and (c - a): > 0 when c lies above the line a-b.
double Cross(const OperatingPoint& a, const OperatingPoint& b, const OperatingPoint& c) {
  return (b.cost_usd - a.cost_usd) * (c.quality - a.quality) -
         (b.quality - a.quality) * (c.cost_usd - a.cost_usd);
}

double Interpolate(const OperatingPoint& a, const OperatingPoint& b, double cost) {
  if (b.cost_usd <= a.cost_usd) return std::max(a.quality, b.quality);
  const double t = (cost - a.cost_usd) / (b.cost_usd - a.cost_usd);
  return a.quality + t * (b.quality - a.quality);
}

}  // namespace

absl::StatusOr<std::vector<ModelPoint>> SingleModelPoints(const Dataset& test) {
  ROUTER_RETURN_IF_ERROR(RequireComplete(test));
  std::vector<ModelPoint> points;
  for (int m = 0; m < test.num_models(); ++m) {
    double quality = 0.0, cost = 0.0;
    for (int64_t r = 0; r < test.rows(); ++r) {
      quality += test.score(r, m);
      cost += test.cost(r, m);
    }
    const double n = static_cast<double>(test.rows());
    points.push_back({test.model_names[m], {cost / n, quality / n}});
  }
  return points;
}

absl::StatusOr<OperatingPoint> OraclePoint(const Dataset& test) {
  ROUTER_RETURN_IF_ERROR(RequireComplete(test));
  double quality = 0.0, cost = 0.0;
  for (int64_t r = 0; r < test.rows(); ++r) {
    int best = 0;
    for (int m = 1; m < test.num_models(); ++m) {
      const double s = test.score(r, m), best_s = test.score(r, best);
      if (s > best_s || (s == best_s && test.cost(r, m) < test.cost(r, best))) best = m;
    }
    quality += test.score(r, best);
    cost += test.cost(r, best);
  }
  const double n = static_cast<double>(test.rows());
  return OperatingPoint{cost / n, quality / n};
}

absl::StatusOr<OperatingPoint> Replay(const Dataset& test, const Catalog& catalog,
                                      absl::Span<const Estimates> estimates,
                                      const Policy& policy) {
  ROUTER_RETURN_IF_ERROR(RequireComplete(test));
  if (estimates.size() != static_cast<size_t>(test.rows())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Replay: ", estimates.size(), " estimates for ", test.rows(), " test rows"));
  }
  std::vector<int> column(catalog.size());
  for (int m = 0; m < catalog.size(); ++m) {
    column[m] = test.ModelColumn(catalog.at(m).name);
    if (column[m] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Replay: model '", catalog.at(m).name, "' is not a column of the test set"));
    }
  }
  double quality = 0.0, cost = 0.0;
  Decision decision;
  for (int64_t r = 0; r < test.rows(); ++r) {
    Query query;
    query.text = test.prompts[r];
    ROUTER_RETURN_IF_ERROR(policy.Decide(estimates[r], catalog, query, &decision));
    const int c = column[decision.chosen.model_index];
    quality += test.score(r, c);
    cost += test.cost(r, c);
  }
  const double n = static_cast<double>(test.rows());
  return OperatingPoint{cost / n, quality / n};
}

std::vector<OperatingPoint> NonDecreasingHull(absl::Span<const OperatingPoint> points) {
  std::vector<OperatingPoint> sorted(points.begin(), points.end());
  std::sort(sorted.begin(), sorted.end(), [](const OperatingPoint& a, const OperatingPoint& b) {
    return a.cost_usd != b.cost_usd ? a.cost_usd < b.cost_usd : a.quality > b.quality;
  });
  // Andrew's monotone chain, upper half.
  std::vector<OperatingPoint> hull;
  for (const OperatingPoint& p : sorted) {
    if (!hull.empty() && hull.back().cost_usd == p.cost_usd) continue;  // lower twin
    while (hull.size() >= 2 && Cross(hull[hull.size() - 2], hull.back(), p) >= 0.0) {
      hull.pop_back();
    }
    hull.push_back(p);
  }
  // Keep the rising part: up to and including the highest quality.
  auto top = std::max_element(hull.begin(), hull.end(),
                              [](const OperatingPoint& a, const OperatingPoint& b) {
                                return a.quality < b.quality;
                              });
  if (top != hull.end()) hull.erase(top + 1, hull.end());
  return hull;
}

double QualityAtCost(absl::Span<const OperatingPoint> points, double cost_usd) {
  const std::vector<OperatingPoint> hull = NonDecreasingHull(points);
  if (hull.empty() || cost_usd < hull.front().cost_usd) return 0.0;
  for (size_t i = 1; i < hull.size(); ++i) {
    if (cost_usd <= hull[i].cost_usd) return Interpolate(hull[i - 1], hull[i], cost_usd);
  }
  return hull.back().quality;
}

double Aiq(absl::Span<const OperatingPoint> points, double cost_min, double cost_max) {
  const std::vector<OperatingPoint> hull = NonDecreasingHull(points);
  if (hull.empty() || !(cost_max > cost_min)) return 0.0;
  // The hull as a function of cost, extended flat beyond its ends.
  auto value = [&](double c) {
    if (c <= hull.front().cost_usd) return hull.front().quality;
    for (size_t i = 1; i < hull.size(); ++i) {
      if (c <= hull[i].cost_usd) return Interpolate(hull[i - 1], hull[i], c);
    }
    return hull.back().quality;
  };
  // Integrate the piecewise-linear function exactly over its breakpoints.
  std::vector<double> xs = {cost_min, cost_max};
  for (const OperatingPoint& p : hull) {
    if (p.cost_usd > cost_min && p.cost_usd < cost_max) xs.push_back(p.cost_usd);
  }
  std::sort(xs.begin(), xs.end());
  double area = 0.0;
  for (size_t i = 1; i < xs.size(); ++i) {
    area += (xs[i] - xs[i - 1]) * (value(xs[i]) + value(xs[i - 1])) / 2.0;
  }
  return area / (cost_max - cost_min);
}

std::vector<double> LambdaGrid(const Dataset& test, int count) {
  std::vector<double> costs;
  for (double c : test.costs) {
    if (std::isfinite(c) && c > 0.0) costs.push_back(c);
  }
  double median = 1.0;
  if (!costs.empty()) {
    std::nth_element(costs.begin(), costs.begin() + costs.size() / 2, costs.end());
    median = costs[costs.size() / 2];
  }
  std::vector<double> grid = {0.0};
  for (int i = 0; i < count; ++i) {
    const double exponent = count > 1 ? -3.0 + 6.0 * i / (count - 1) : 0.0;
    grid.push_back(std::pow(10.0, exponent) / median);
  }
  return grid;
}

}  // namespace router
