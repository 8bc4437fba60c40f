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

// Experimental tier (docs/architecture.md, "Two tiers"): the figures of `router eval`, whose set and
// signatures still move with the evaluation work.
// Its API may change in any release. Define ROUTER_EXPERIMENTAL before
// including it to say you accept that.
#ifndef ROUTER_EXPERIMENTAL
#error "router/evaluation.h is experimental: define ROUTER_EXPERIMENTAL to use it"
#endif

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/catalog.h"
#include "router/constraints.h"
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

// The operating points of MaxUtilityPolicy (with `constraints`) at each
// lambda of `lambdas`, in order: one Replay per lambda.
ROUTER_EXPORT absl::StatusOr<std::vector<OperatingPoint>> LambdaSweep(
    const Dataset& test, const Catalog& catalog, absl::Span<const Estimates> estimates,
    absl::Span<const double> lambdas, const Constraints& constraints = {});

// ---------------------------------------------------------------------------
// Figures read off a cost-quality curve. Each takes the raw operating points
// and works on their non-decreasing hull, like Aiq.

// AIQ as the RouterBench *code* computes it (evaluation/AIQ.py, calc_AIQ),
// which is not the paper's definition implemented by Aiq: the hull is
// integrated by the trapezoid rule from its own first (cheapest) point, not
// from a common cost_min, then extended flat to `cost_max`, and the area is
// divided by cost_max, not by (cost_max - cost_min). The cost below the
// hull's first point thus counts as zero quality, and the value is only
// comparable between curves scored with the same cost_max; calc_AIQ uses
// RouterBenchCostMax of all the curves it compares. The hull beyond
// `cost_max` is cut off. 0 when `points` is empty or cost_max <= 0.
ROUTER_EXPORT double AiqRouterBenchCode(absl::Span<const OperatingPoint> points,
                                        double cost_max);

// calc_AIQ's common cost_max: the largest cost on the non-decreasing hulls
// of `curves` (0 when all are empty).
ROUTER_EXPORT double RouterBenchCostMax(absl::Span<const std::vector<OperatingPoint>> curves);

// The lowest cost at which the hull of `points` reaches `quality` (linear
// between hull vertices); +infinity when it never does.
ROUTER_EXPORT double CostToReachQuality(absl::Span<const OperatingPoint> points, double quality);

// The point of highest quality, the cheapest one among ties (the hull's last
// vertex); NaN cost and quality when `points` is empty.
ROUTER_EXPORT OperatingPoint MaxQualityPoint(absl::Span<const OperatingPoint> points);

// ---------------------------------------------------------------------------
// Two models: RouteLLM's strong/weak protocol (Ong et al., arXiv 2406.18665;
// routellm/evals/evaluate.py). A router gives each query a score; a query
// goes to the strong model when its score is >= a threshold. Sweeping the
// threshold trades the share of strong calls for quality. PGR (performance
// gap recovered) at a threshold is (quality - weak) / (strong - weak), where
// strong and weak are the qualities of always calling one model.

// One threshold of a strong/weak sweep.
struct ThresholdPoint {
  double threshold = 0.0;
  double strong_share = 0.0;  // fraction of rows sent to the strong model
  double quality = 0.0;       // mean observed score
  double cost_usd = 0.0;      // mean observed cost
};

// Per estimate, the router's preference for the strong model: predicted
// quality of `strong` minus predicted quality of `weak` (catalog names).
ROUTER_EXPORT absl::StatusOr<std::vector<double>> StrongWeakScores(
    const Catalog& catalog, absl::Span<const Estimates> estimates, std::string_view strong,
    std::string_view weak);

// The q-quantile of `values` with linear interpolation between order
// statistics (numpy's default); q is clamped to [0, 1]. NaN when empty.
ROUTER_EXPORT double Quantile(absl::Span<const double> values, double q);

// RouteLLM's calibration (calibrate_threshold.py): the threshold that sends
// about `strong_share` of a sample's `scores` to the strong model, the
// (1 - strong_share)-quantile. Ties at the threshold make the realised share
// differ; so does traffic unlike the sample.
ROUTER_EXPORT double CalibrateThreshold(absl::Span<const double> scores, double strong_share);

// The operating points of thresholds over `scores` (one per row of `test`)
// for the pair of model columns `strong` and `weak`, sorted by strong share
// (ties: by threshold, descending). With bins > 0, RouteLLM's sweep: the
// thresholds are the quantiles 0, 1/bins, ..., 1 of the scores, each routing
// score >= threshold to the strong model, except the largest, which routes
// score > threshold (about 0% strong). With bins == 0, the exact curve: every
// distinct score, plus +infinity (0% strong). Fails when a size does not
// match, a model is not a column of `test`, or a cell of the pair is missing.
ROUTER_EXPORT absl::StatusOr<std::vector<ThresholdPoint>> ThresholdSweep(
    const Dataset& test, std::string_view strong, std::string_view weak,
    absl::Span<const double> scores, int bins = 10);

// APGR, as evaluate.py computes it: the trapezoid area under quality over
// strong share minus the area under the constant `weak_quality`, divided by
// the same for `strong_quality`, on the curve's own share grid. When the
// curve spans shares [0, 1] this is the mean PGR; a random router scores
// about 0.5. NaN when the qualities are equal or the curve spans no share.
ROUTER_EXPORT double Apgr(absl::Span<const ThresholdPoint> curve, double weak_quality,
                          double strong_quality);

// CPT(pgr): the lowest share of strong calls at which `curve` (by share,
// linear between its points) first reaches PGR = `pgr` (0.5 for CPT(50%)).
// A first-crossing search: evaluate.py's np.interp assumes quality rises
// with share, which real curves do not. NaN when the curve never reaches it.
ROUTER_EXPORT double CallPerformanceThreshold(absl::Span<const ThresholdPoint> curve,
                                              double weak_quality, double strong_quality,
                                              double pgr);

// ---------------------------------------------------------------------------
// Per-task breakdown.

struct SourceRows {
  std::string source;
  std::vector<int64_t> rows;
};

// The rows of each source (task label) of `data`, sources in order of first
// appearance; rows with an empty source form a group named "".
ROUTER_EXPORT std::vector<SourceRows> RowsBySource(const Dataset& data);

}  // namespace router

#endif  // ROUTER_EVALUATION_H_
