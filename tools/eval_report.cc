// BuildReport: every figure of `router eval`, from the estimates alone.
#include "eval_report.h"

#include <cmath>
#include <limits>

#include "fmt/format.h"
#include "router/query.h"
#include "router/status.h"

namespace router::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<OperatingPoint> PointsOf(absl::Span<const ModelPoint> models) {
  std::vector<OperatingPoint> points;
  for (const ModelPoint& m : models) points.push_back(m.point);
  return points;
}

// Highest quality, ties to the cheaper; and lowest cost, ties to the better.
const ModelPoint& BestOf(absl::Span<const ModelPoint> models) {
  const ModelPoint* best = &models[0];
  for (const ModelPoint& m : models) {
    if (m.point.quality > best->point.quality ||
        (m.point.quality == best->point.quality && m.point.cost_usd < best->point.cost_usd)) {
      best = &m;
    }
  }
  return *best;
}

const ModelPoint& CheapestOf(absl::Span<const ModelPoint> models, std::string_view except = "") {
  const ModelPoint* cheapest = nullptr;
  for (const ModelPoint& m : models) {
    if (m.model == except) continue;
    if (cheapest == nullptr || m.point.cost_usd < cheapest->point.cost_usd ||
        (m.point.cost_usd == cheapest->point.cost_usd &&
         m.point.quality > cheapest->point.quality)) {
      cheapest = &m;
    }
  }
  return cheapest != nullptr ? *cheapest : models[0];
}

// Fills the curve figures of `row` from `curve` (its points plus whatever
// the row's hull should include).
void FillCurveFigures(const std::vector<OperatingPoint>& curve, const EvalReport& report,
                      const ModelPoint& best, bool with_aiq, CurveFigures* row) {
  row->hull = NonDecreasingHull(curve);
  row->aiq = with_aiq && report.cost_max > report.cost_min
                 ? Aiq(curve, report.cost_min, report.cost_max)
                 : kNaN;
  row->quality_at_best_single_cost = QualityAtCost(curve, best.point.cost_usd);
  row->cost_to_best_single_quality = CostToReachQuality(curve, best.point.quality);
  row->max_quality = MaxQualityPoint(curve);
}

absl::StatusOr<int> ModelIndex(const std::vector<ModelPoint>& singles, const std::string& name,
                               const char* flag) {
  std::string names;
  for (size_t i = 0; i < singles.size(); ++i) {
    if (singles[i].model == name) return static_cast<int>(i);
    names += (i ? ", " : "") + singles[i].model;
  }
  return absl::InvalidArgumentError(
      fmt::format("{}: no model '{}' in the data (models: {})", flag, name, names));
}

absl::Status FillStrongWeak(const Dataset& test, absl::Span<const RouterRun> runs,
                            const ReportOptions& options, EvalReport* report) {
  const std::vector<ModelPoint>& singles = report->singles;
  const ModelPoint& best = BestOf(singles);
  report->strong = options.strong.empty() ? best.model : options.strong;
  report->weak = options.weak.empty() ? CheapestOf(singles, report->strong).model : options.weak;
  ROUTER_ASSIGN_OR_RETURN(int s, ModelIndex(singles, report->strong, "--strong"));
  ROUTER_ASSIGN_OR_RETURN(int w, ModelIndex(singles, report->weak, "--weak"));
  if (s == w) {
    return absl::InvalidArgumentError(
        fmt::format("--strong and --weak name the same model '{}'", report->strong));
  }
  report->strong_quality = singles[s].point.quality;
  report->weak_quality = singles[w].point.quality;
  report->threshold_bins = options.threshold_bins;
  report->target_strong_share = options.target_strong_share;
  const int sc = test.ModelColumn(report->strong), wc = test.ModelColumn(report->weak);
  for (const RouterRun& run : runs) {
    StrongWeakFigures f;
    f.router = run.name;
    ROUTER_ASSIGN_OR_RETURN(std::vector<double> scores,
                            StrongWeakScores(*run.catalog, run.estimates, report->strong,
                                             report->weak));
    ROUTER_ASSIGN_OR_RETURN(f.curve, ThresholdSweep(test, report->strong, report->weak, scores,
                                                    options.threshold_bins));
    f.apgr = Apgr(f.curve, report->weak_quality, report->strong_quality);
    f.cpt50 = CallPerformanceThreshold(f.curve, report->weak_quality, report->strong_quality, 0.5);
    f.cpt80 = CallPerformanceThreshold(f.curve, report->weak_quality, report->strong_quality, 0.8);
    std::vector<double> sample = scores;
    if (!run.calibration_estimates.empty()) {
      ROUTER_ASSIGN_OR_RETURN(sample, StrongWeakScores(*run.catalog, run.calibration_estimates,
                                                       report->strong, report->weak));
    }
    f.threshold = CalibrateThreshold(sample, options.target_strong_share);
    // The calibrated threshold applied to the evaluation rows.
    f.realised.threshold = f.threshold;
    for (int64_t r = 0; r < test.rows(); ++r) {
      const bool strong = scores[r] >= f.threshold;
      f.realised.strong_share += strong ? 1.0 : 0.0;
      f.realised.quality += test.score(r, strong ? sc : wc);
      f.realised.cost_usd += test.cost(r, strong ? sc : wc);
    }
    const double n = static_cast<double>(test.rows());
    f.realised.strong_share /= n;
    f.realised.quality /= n;
    f.realised.cost_usd /= n;
    report->strong_weak.push_back(std::move(f));
  }
  return absl::OkStatus();
}

absl::Status FillSources(const Dataset& test, absl::Span<const RouterRun> runs,
                         EvalReport* report) {
  for (const SourceRows& group : RowsBySource(test)) {
    const Dataset sub = test.Subset(group.rows);
    SourceFigures f;
    f.source = group.source;
    f.rows = sub.rows();
    ROUTER_ASSIGN_OR_RETURN(std::vector<ModelPoint> singles, SingleModelPoints(sub));
    ROUTER_ASSIGN_OR_RETURN(OperatingPoint oracle, OraclePoint(sub));
    const ModelPoint& best = BestOf(singles);
    f.best_model = best.model;
    f.best_quality = best.point.quality;
    f.oracle_quality = oracle.quality;
    const std::vector<OperatingPoint> zero = PointsOf(singles);
    double lo = zero[0].cost_usd, hi = zero[0].cost_usd;
    for (const OperatingPoint& p : zero) lo = std::min(lo, p.cost_usd), hi = std::max(hi, p.cost_usd);
    const bool has_range = hi > lo;
    f.zero_router_aiq = has_range ? Aiq(zero, lo, hi) : kNaN;
    for (const RouterRun& run : runs) {
      std::vector<Estimates> estimates;
      estimates.reserve(group.rows.size());
      for (int64_t r : group.rows) estimates.push_back(run.estimates[r]);
      ROUTER_ASSIGN_OR_RETURN(std::vector<OperatingPoint> sweep,
                              LambdaSweep(sub, *run.catalog, estimates, report->lambdas));
      sweep.insert(sweep.end(), zero.begin(), zero.end());
      f.router_aiq.push_back(has_range ? Aiq(sweep, lo, hi) : kNaN);
    }
    report->sources.push_back(std::move(f));
  }
  return absl::OkStatus();
}

// Adds |predicted - observed| / observed of every cell with a positive
// observed cost to `figures`; `predict(row, model)` is in catalog order.
template <typename Predict>
absl::Status AddCostError(const Dataset& test, const Catalog& catalog, Predict predict,
                          CostErrorFigures* figures) {
  double total = 0.0;
  for (int m = 0; m < catalog.size(); ++m) {
    const int column = test.ModelColumn(catalog.at(m).name);
    if (column < 0) {
      return absl::InternalError(fmt::format("model '{}' is not a column", catalog.at(m).name));
    }
    for (int64_t r = 0; r < test.rows(); ++r) {
      const double observed = test.cost(r, column);
      if (!(observed > 0.0)) continue;
      total += std::abs(predict(r, m) - observed) / observed;
      ++figures->cells;
    }
  }
  figures->mape = figures->cells > 0 ? total / static_cast<double>(figures->cells) : kNaN;
  return absl::OkStatus();
}

absl::Status FillCostError(const Dataset& test, absl::Span<const RouterRun> runs,
                           EvalReport* report) {
  for (const RouterRun& run : runs) {
    CostErrorFigures figures{.name = run.name};
    ROUTER_RETURN_IF_ERROR(AddCostError(
        test, *run.catalog,
        [&](int64_t r, int m) { return run.estimates[r].per_model[m].expected_cost_usd; },
        &figures));
    report->cost_error.push_back(std::move(figures));
  }
  if (runs.empty()) return absl::OkStatus();
  const Catalog& catalog = *runs.front().catalog;
  for (int m = 0; m < catalog.size(); ++m) {
    const Profile& profile = catalog.at(m);
    if (!(profile.input_usd_per_mtok > 0.0 || profile.output_usd_per_mtok > 0.0)) {
      return absl::OkStatus();  // an unpriced model: no price table to compare with
    }
  }
  CostErrorFigures figures{.name = "price table"};
  ROUTER_RETURN_IF_ERROR(AddCostError(
      test, catalog,
      [&](int64_t r, int m) {
        // The tokens every router assumes when the host passes none.
        return catalog.at(m).ExpectedCostUsd(EstimateInputTokens(test.prompts[r]));
      },
      &figures));
  report->cost_error.push_back(std::move(figures));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EvalReport> BuildReport(const Dataset& test, absl::Span<const RouterRun> runs,
                                       const ReportOptions& options) {
  EvalReport report;
  ROUTER_ASSIGN_OR_RETURN(report.singles, SingleModelPoints(test));
  ROUTER_ASSIGN_OR_RETURN(report.oracle, OraclePoint(test));
  for (const RouterRun& run : runs) {
    if (run.catalog == nullptr || run.estimates.size() != static_cast<size_t>(test.rows())) {
      return absl::InternalError(fmt::format("router '{}': {} estimates for {} rows", run.name,
                                             run.estimates.size(), test.rows()));
    }
  }
  const ModelPoint& best = BestOf(report.singles);
  const ModelPoint& cheapest = CheapestOf(report.singles);
  report.best_model = best.model;
  report.cheapest_model = cheapest.model;
  const std::vector<OperatingPoint> zero = PointsOf(report.singles);
  report.cost_min = report.cost_max = zero[0].cost_usd;
  for (const OperatingPoint& p : zero) {
    report.cost_min = std::min(report.cost_min, p.cost_usd);
    report.cost_max = std::max(report.cost_max, p.cost_usd);
  }
  report.lambdas = LambdaGrid(test, options.lambda_count);

  // Routers: the lambda sweep plus the single models, as RouterBench and
  // python_baselines.py score them (a router can always fall back to mixing
  // single models).
  // Per row, the curve AIQ is computed on (empty for single-model rows).
  std::vector<std::vector<OperatingPoint>> curves;
  for (const RouterRun& run : runs) {
    CurveFigures row;
    row.name = run.name;
    row.is_router = true;
    row.lambdas = report.lambdas;
    ROUTER_ASSIGN_OR_RETURN(row.points,
                            LambdaSweep(test, *run.catalog, run.estimates, report.lambdas));
    std::vector<OperatingPoint> curve = zero;
    curve.insert(curve.end(), row.points.begin(), row.points.end());
    FillCurveFigures(curve, report, best, true, &row);
    curves.push_back(std::move(curve));
    report.rows.push_back(std::move(row));
  }
  auto reference = [&](std::string name, std::vector<OperatingPoint> points,
                       std::vector<OperatingPoint> curve, bool with_aiq) {
    CurveFigures row;
    row.name = std::move(name);
    row.points = std::move(points);
    FillCurveFigures(curve, report, best, with_aiq, &row);
    curves.push_back(with_aiq ? std::move(curve) : std::vector<OperatingPoint>{});
    report.rows.push_back(std::move(row));
  };
  std::vector<OperatingPoint> with_oracle = zero;
  with_oracle.push_back(report.oracle);
  reference("oracle", {report.oracle}, with_oracle, true);
  reference("best single: " + best.model, {best.point}, {best.point}, false);
  reference("cheapest: " + cheapest.model, {cheapest.point}, {cheapest.point}, false);
  reference("zero router (single-model hull)", zero, zero, true);

  report.routerbench_cost_max = RouterBenchCostMax(curves);
  for (size_t i = 0; i < report.rows.size(); ++i) {
    report.rows[i].aiq_routerbench_code =
        curves[i].empty() ? kNaN : AiqRouterBenchCode(curves[i], report.routerbench_cost_max);
  }
  ROUTER_RETURN_IF_ERROR(FillStrongWeak(test, runs, options, &report));
  ROUTER_RETURN_IF_ERROR(FillSources(test, runs, &report));
  ROUTER_RETURN_IF_ERROR(FillCostError(test, runs, &report));
  for (const RouterRun& run : runs) {
    if (run.calibrated_estimates.empty()) continue;
    ROUTER_ASSIGN_OR_RETURN(
        CalibrationFigures figures,
        MeasureRouterCalibration(test, *run.catalog, run.estimates, run.calibrated_estimates,
                                 options.calibration_bins, options.floor_taus));
    figures.router = run.name;
    figures.folds = run.calibration_folds;
    figures.method = run.calibration_method;
    figures.fit_pairs = run.calibration_fit_pairs;
    report.calibration.push_back(std::move(figures));
  }
  return report;
}

}  // namespace router::cli
