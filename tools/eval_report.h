// What `router eval` reports, computed from each router's estimates on the
// evaluation rows: the cost-quality figures of every router and of the
// reference rows (oracle, best single model, cheapest model, zero router),
// RouteLLM's strong/weak figures, a per-source breakdown, and the
// calibration of predicted quality (eval_calibration.h). Kept apart
// from the command so the figures can be checked without fitting anything.
#ifndef ROUTER_TOOLS_EVAL_REPORT_H_
#define ROUTER_TOOLS_EVAL_REPORT_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "eval_calibration.h"
#include "router/catalog.h"
#include "router/dataset.h"
#include "router/estimate.h"
#include "router/evaluation.h"

namespace router::cli {

// One fitted router's output on the evaluation rows.
struct RouterRun {
  std::string name;                  // "knn", ...
  const Catalog* catalog = nullptr;  // the router's catalog (Estimates order)
  std::vector<Estimates> estimates;  // one per evaluation row
  // Estimates on a calibration sample (training rows, say) for the strong/
  // weak threshold; when empty, the evaluation rows serve.
  std::vector<Estimates> calibration_estimates;
  // The evaluated rows' estimates through the router's cross-fitted
  // QualityCalibrator; empty when calibration is off.
  std::vector<Estimates> calibrated_estimates;
  int calibration_folds = 0;
  std::string calibration_method;  // "isotonic" or "platt"
  int64_t calibration_fit_pairs = 0;
  double fit_seconds = 0.0;
  double estimate_seconds = 0.0;
  double calibration_seconds = 0.0;  // cross-fitting: the refits and their estimates
};

struct ReportOptions {
  std::string strong;  // empty: the best single model
  std::string weak;    // empty: the cheapest model
  int lambda_count = 61;
  int threshold_bins = 10;            // RouteLLM's sweep; 0 = every distinct score
  double target_strong_share = 0.5;   // for the calibrated threshold
  int calibration_bins = 10;          // reliability bins for the ECE
  std::vector<double> floor_taus = DefaultFloorTaus();
};

// One row of the main table. NaN (or +inf for a cost never reached) marks a
// figure that does not apply.
struct CurveFigures {
  std::string name;
  bool is_router = false;
  std::vector<double> lambdas;         // routers: the lambda of each point
  std::vector<OperatingPoint> points;  // routers: the sweep; references: their points
  std::vector<OperatingPoint> hull;    // of points plus the single models
  double aiq = 0.0;                    // paper definition
  double aiq_routerbench_code = 0.0;
  double quality_at_best_single_cost = 0.0;
  double cost_to_best_single_quality = 0.0;
  OperatingPoint max_quality;
};

struct StrongWeakFigures {
  std::string router;
  std::vector<ThresholdPoint> curve;
  double apgr = 0.0, cpt50 = 0.0, cpt80 = 0.0;
  double threshold = 0.0;  // calibrated on the sample for the target share
  ThresholdPoint realised;  // that threshold applied to the evaluation rows
};

struct SourceFigures {
  std::string source;
  int64_t rows = 0;
  std::string best_model;
  double best_quality = 0.0;
  double oracle_quality = 0.0;
  double zero_router_aiq = 0.0;
  std::vector<double> router_aiq;  // per router, in run order (paper definition)
};

// How far predicted per-request costs are from the observed ones: the mean
// absolute percentage error over every (row, model) cell whose observed
// cost is positive.
struct CostErrorFigures {
  std::string name;  // a router, or "price table"
  double mape = 0.0;
  int64_t cells = 0;
};

struct EvalReport {
  std::vector<ModelPoint> singles;
  OperatingPoint oracle;
  std::string best_model, cheapest_model;
  double cost_min = 0.0, cost_max = 0.0;  // the single models' cost range
  double routerbench_cost_max = 0.0;      // calc_AIQ's common cost_max
  std::vector<double> lambdas;
  std::vector<CurveFigures> rows;  // routers (run order), then the references
  std::string strong, weak;
  double strong_quality = 0.0, weak_quality = 0.0;
  int threshold_bins = 10;
  double target_strong_share = 0.5;
  std::vector<StrongWeakFigures> strong_weak;  // per router
  std::vector<SourceFigures> sources;
  std::vector<CalibrationFigures> calibration;  // per router that has calibrated estimates
  // Each router's expected_cost_usd, then the price table (every model's
  // Profile::ExpectedCostUsd at the prompt's estimated tokens) when the
  // catalog prices every model.
  std::vector<CostErrorFigures> cost_error;
};

// Computes every figure. `test` holds the evaluation rows (complete: every
// score and cost), each run's estimates are aligned with them.
absl::StatusOr<EvalReport> BuildReport(const Dataset& test, absl::Span<const RouterRun> runs,
                                       const ReportOptions& options);

// The aligned tables for a terminal.
void PrintReport(const EvalReport& report, std::FILE* out);

// The same as JSON (NaN and infinity become null); `header` holds the
// run's description (data, split, timing) and is merged in at the top.
std::string ReportJson(const EvalReport& report, const std::string& header_json);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_EVAL_REPORT_H_
