// File: router/evaluation.h
//
// Offline evaluation on a labelled test set, the way the routing literature
// does it. A router's estimates are computed once per test row; each policy
// setting (a lambda of MaxUtilityPolicy, say) is then replayed against the
// observed scores and costs to give one operating point (mean cost, mean
// quality). The points of a sweep form a cost-quality curve; its
// non-decreasing convex hull and the area under it (AIQ, RouterBench: Hu et
// al., arXiv 2403.12031) summarise the router in one number.
#ifndef ROUTER_EVALUATION_H_
#define ROUTER_EVALUATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/catalog.h"
#include "router/dataset.h"
#include "router/estimate.h"
#include "router/policy.h"

namespace router {

struct OperatingPoint {
  double cost_usd = 0.0;  // mean cost per query
  double quality = 0.0;   // mean observed score
};

struct ModelPoint {
  std::string model;
  OperatingPoint point;
};

// Each model's mean score and cost over `test`. Fails unless every cell of
// `test` has a score and a cost.
ROUTER_EXPORT absl::StatusOr<std::vector<ModelPoint>> SingleModelPoints(const Dataset& test);

// Per row the best score, ties to the cheaper model.
ROUTER_EXPORT absl::StatusOr<OperatingPoint> OraclePoint(const Dataset& test);

// The operating point of `policy` deciding from `estimates` (one per row of
// `test`, indexed like `catalog`); catalog models are matched to the dataset's
// columns by name.
ROUTER_EXPORT absl::StatusOr<OperatingPoint> Replay(const Dataset& test, const Catalog& catalog,
                                      absl::Span<const Estimates> estimates,
                                      const Policy& policy);

// The non-decreasing upper convex hull of `points`, sorted by cost: the
// operating points reachable by mixing two configurations at random.
ROUTER_EXPORT std::vector<OperatingPoint> NonDecreasingHull(absl::Span<const OperatingPoint> points);

// AIQ as the paper defines it: the area under the non-decreasing hull of
// `points` over [cost_min, cost_max], divided by the range. The hull is
// extended flat to both ends. Requires cost_max > cost_min.
ROUTER_EXPORT double Aiq(absl::Span<const OperatingPoint> points, double cost_min, double cost_max);

// The highest quality the hull of `points` reaches at cost <= `cost_usd`
// (linear between hull vertices); 0 when no point costs that little.
ROUTER_EXPORT double QualityAtCost(absl::Span<const OperatingPoint> points, double cost_usd);

// A lambda sweep suited to `test`: 0, then `count` values log-spaced from
// 1e-3 to 1e3 divided by the median cost of the test set.
ROUTER_EXPORT std::vector<double> LambdaGrid(const Dataset& test, int count = 61);

}  // namespace router

#endif  // ROUTER_EVALUATION_H_
