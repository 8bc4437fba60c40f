#include "router/evaluation.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "fmt/format.h"
#include "router/max_utility_policy.h"
#include "router/status.h"

namespace router {
namespace {

absl::Status RequireComplete(const Dataset& test) {
  if (test.rows() == 0) return absl::InvalidArgumentError("the test set has no rows");
  for (int64_t r = 0; r < test.rows(); ++r) {
    for (int m = 0; m < test.num_models(); ++m) {
      if (std::isnan(test.score(r, m)) || std::isnan(test.cost(r, m))) {
        return absl::InvalidArgumentError(
            fmt::format("evaluation needs every score and cost; row '{}' lacks one for model '{}'",
                        test.ids[r], test.model_names[m]));
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
    return absl::InvalidArgumentError(
        fmt::format("Replay: {} estimates for {} test rows", estimates.size(), test.rows()));
  }
  std::vector<int> column(catalog.size());
  for (int m = 0; m < catalog.size(); ++m) {
    column[m] = test.ModelColumn(catalog.at(m).name);
    if (column[m] < 0) {
      return absl::InvalidArgumentError(
          fmt::format("Replay: model '{}' is not a column of the test set", catalog.at(m).name));
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

absl::StatusOr<std::vector<OperatingPoint>> LambdaSweep(const Dataset& test,
                                                       const Catalog& catalog,
                                                       absl::Span<const Estimates> estimates,
                                                       absl::Span<const double> lambdas,
                                                       const Constraints& constraints) {
  std::vector<OperatingPoint> points;
  points.reserve(lambdas.size());
  for (double lambda : lambdas) {
    ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<MaxUtilityPolicy> policy,
                            MaxUtilityPolicy::Create(lambda, constraints));
    ROUTER_ASSIGN_OR_RETURN(OperatingPoint point, Replay(test, catalog, estimates, *policy));
    points.push_back(point);
  }
  return points;
}

double AiqRouterBenchCode(absl::Span<const OperatingPoint> points, double cost_max) {
  std::vector<OperatingPoint> hull = NonDecreasingHull(points);
  if (hull.empty() || !(cost_max > 0.0)) return 0.0;
  // Cut the hull at cost_max (interpolating the crossing segment), then
  // extend it flat to cost_max as calc_AIQ does.
  while (hull.size() >= 2 && hull[hull.size() - 2].cost_usd >= cost_max) hull.pop_back();
  if (hull.back().cost_usd > cost_max) {
    if (hull.size() == 1) return 0.0;
    hull.back() = {cost_max, Interpolate(hull[hull.size() - 2], hull.back(), cost_max)};
  }
  if (hull.back().cost_usd < cost_max) hull.push_back({cost_max, hull.back().quality});
  double area = 0.0;
  for (size_t i = 1; i < hull.size(); ++i) {
    area += (hull[i].cost_usd - hull[i - 1].cost_usd) * (hull[i].quality + hull[i - 1].quality) /
            2.0;
  }
  return area / cost_max;
}

double RouterBenchCostMax(absl::Span<const std::vector<OperatingPoint>> curves) {
  double cost_max = 0.0;
  for (const std::vector<OperatingPoint>& curve : curves) {
    for (const OperatingPoint& p : NonDecreasingHull(curve)) cost_max = std::max(cost_max, p.cost_usd);
  }
  return cost_max;
}

double CostToReachQuality(absl::Span<const OperatingPoint> points, double quality) {
  const std::vector<OperatingPoint> hull = NonDecreasingHull(points);
  if (hull.empty() || hull.back().quality < quality) return std::numeric_limits<double>::infinity();
  if (hull.front().quality >= quality) return hull.front().cost_usd;
  for (size_t i = 1; i < hull.size(); ++i) {
    const OperatingPoint& a = hull[i - 1];
    const OperatingPoint& b = hull[i];
    if (b.quality >= quality) {
      // The hull rises strictly between vertices, so b.quality > a.quality.
      const double t = (quality - a.quality) / (b.quality - a.quality);
      return a.cost_usd + t * (b.cost_usd - a.cost_usd);
    }
  }
  return hull.back().cost_usd;  // not reached: hull.back().quality >= quality
}

OperatingPoint MaxQualityPoint(absl::Span<const OperatingPoint> points) {
  const std::vector<OperatingPoint> hull = NonDecreasingHull(points);
  if (hull.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan};
  }
  return hull.back();
}

absl::StatusOr<std::vector<double>> StrongWeakScores(const Catalog& catalog,
                                                     absl::Span<const Estimates> estimates,
                                                     std::string_view strong,
                                                     std::string_view weak) {
  ROUTER_ASSIGN_OR_RETURN(int s, catalog.Find(strong));
  ROUTER_ASSIGN_OR_RETURN(int w, catalog.Find(weak));
  std::vector<double> scores;
  scores.reserve(estimates.size());
  for (size_t r = 0; r < estimates.size(); ++r) {
    const std::vector<ModelEstimate>& m = estimates[r].per_model;
    if (m.size() != static_cast<size_t>(catalog.size())) {
      return absl::InvalidArgumentError(
          fmt::format("StrongWeakScores: estimate {} has {} models, the catalog {}", r, m.size(),
                      catalog.size()));
    }
    scores.push_back(m[s].quality - m[w].quality);
  }
  return scores;
}

double Quantile(absl::Span<const double> values, double q) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  const double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(position));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (position - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double CalibrateThreshold(absl::Span<const double> scores, double strong_share) {
  return Quantile(scores, 1.0 - strong_share);
}

absl::StatusOr<std::vector<ThresholdPoint>> ThresholdSweep(const Dataset& test,
                                                           std::string_view strong,
                                                           std::string_view weak,
                                                           absl::Span<const double> scores,
                                                           int bins) {
  const int s = test.ModelColumn(strong), w = test.ModelColumn(weak);
  if (s < 0 || w < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "ThresholdSweep: model '{}' is not a column of the test set", (s < 0 ? strong : weak)));
  }
  const int64_t n = test.rows();
  if (n == 0 || scores.size() != static_cast<size_t>(n)) {
    return absl::InvalidArgumentError(
        fmt::format("ThresholdSweep: {} scores for {} test rows", scores.size(), n));
  }
  if (bins < 0) return absl::InvalidArgumentError("ThresholdSweep: bins must be >= 0");
  for (int64_t r = 0; r < n; ++r) {
    for (int m : {s, w}) {
      if (std::isnan(test.score(r, m)) || std::isnan(test.cost(r, m))) {
        return absl::InvalidArgumentError(
            fmt::format("ThresholdSweep: row '{}' lacks a score or cost for model '{}'",
                        test.ids[r], test.model_names[m]));
      }
    }
    if (std::isnan(scores[r])) {
      return absl::InvalidArgumentError(
          fmt::format("ThresholdSweep: the score of row '{}' is NaN", test.ids[r]));
    }
  }
  // Rows by score, highest first: every threshold sends a prefix of them to
  // the strong model, so prefix sums of the switch's gains give each point.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  std::vector<double> sorted_scores(n), quality_gain(n + 1, 0.0), cost_gain(n + 1, 0.0);
  double weak_quality = 0.0, weak_cost = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = order[i];
    sorted_scores[i] = scores[r];
    quality_gain[i + 1] = quality_gain[i] + test.score(r, s) - test.score(r, w);
    cost_gain[i + 1] = cost_gain[i] + test.cost(r, s) - test.cost(r, w);
    weak_quality += test.score(r, w);
    weak_cost += test.cost(r, w);
  }
  const double rows = static_cast<double>(n);
  auto point = [&](double threshold, bool strict) {
    // Number of rows with score >= threshold (or > threshold when strict).
    // (sorted_scores descends: lower_bound finds the first score <= threshold,
    // upper_bound the first score < threshold.)
    auto end = strict ? std::lower_bound(sorted_scores.begin(), sorted_scores.end(), threshold,
                                         std::greater<double>())
                      : std::upper_bound(sorted_scores.begin(), sorted_scores.end(), threshold,
                                         std::greater<double>());
    const int64_t k = end - sorted_scores.begin();
    return ThresholdPoint{threshold, static_cast<double>(k) / rows,
                          (weak_quality + quality_gain[k]) / rows,
                          (weak_cost + cost_gain[k]) / rows};
  };
  std::vector<ThresholdPoint> curve;
  if (bins > 0) {
    for (int i = 0; i <= bins; ++i) {
      curve.push_back(point(Quantile(scores, static_cast<double>(i) / bins), i == bins));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0 || sorted_scores[i] != sorted_scores[i - 1]) {
        curve.push_back(point(sorted_scores[i], false));
      }
    }
    curve.push_back(point(std::numeric_limits<double>::infinity(), false));
  }
  std::stable_sort(curve.begin(), curve.end(), [](const ThresholdPoint& a, const ThresholdPoint& b) {
    return a.strong_share != b.strong_share ? a.strong_share < b.strong_share
                                            : a.threshold > b.threshold;
  });
  return curve;
}

double Apgr(absl::Span<const ThresholdPoint> curve, double weak_quality, double strong_quality) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (curve.size() < 2 || strong_quality == weak_quality) return nan;
  std::vector<ThresholdPoint> sorted(curve.begin(), curve.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const ThresholdPoint& a, const ThresholdPoint& b) {
    return a.strong_share < b.strong_share;
  });
  double area = 0.0;
  for (size_t i = 1; i < sorted.size(); ++i) {
    area += (sorted[i].strong_share - sorted[i - 1].strong_share) *
            (sorted[i].quality + sorted[i - 1].quality) / 2.0;
  }
  const double span = sorted.back().strong_share - sorted.front().strong_share;
  if (!(span > 0.0)) return nan;
  return (area - weak_quality * span) / ((strong_quality - weak_quality) * span);
}

double CallPerformanceThreshold(absl::Span<const ThresholdPoint> curve, double weak_quality,
                                double strong_quality, double pgr) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (curve.empty()) return nan;
  std::vector<ThresholdPoint> sorted(curve.begin(), curve.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const ThresholdPoint& a, const ThresholdPoint& b) {
    return a.strong_share < b.strong_share;
  });
  const double target = weak_quality + pgr * (strong_quality - weak_quality);
  if (sorted.front().quality >= target) return sorted.front().strong_share;
  for (size_t i = 1; i < sorted.size(); ++i) {
    const ThresholdPoint& a = sorted[i - 1];
    const ThresholdPoint& b = sorted[i];
    if (b.quality >= target) {
      // a.quality < target <= b.quality: the crossing lies on this segment.
      const double t = (target - a.quality) / (b.quality - a.quality);
      return a.strong_share + t * (b.strong_share - a.strong_share);
    }
  }
  return nan;
}

std::vector<SourceRows> RowsBySource(const Dataset& data) {
  std::vector<SourceRows> groups;
  std::unordered_map<std::string, size_t> index;  // not absl: see catalog.h
  for (int64_t r = 0; r < data.rows(); ++r) {
    const std::string& source = r < static_cast<int64_t>(data.sources.size()) ? data.sources[r] : "";
    auto [it, inserted] = index.try_emplace(source, groups.size());
    if (inserted) groups.push_back({source, {}});
    groups[it->second].rows.push_back(r);
  }
  return groups;
}

}  // namespace router
