// PrintReport and ReportJson: the two faces of an EvalReport.
#include <algorithm>
#include <cmath>

#include "eval_report.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace router::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string Fixed(double value, int digits = 3) {
  if (std::isnan(value)) return "-";
  if (std::isinf(value)) return "never";
  return fmt::format("{:.{}f}", value, digits);
}

std::string Cost(double usd) {
  if (std::isnan(usd)) return "-";
  if (std::isinf(usd)) return "never";
  return fmt::format("{:.3g}", usd);
}

// A cost and its share of `reference`: "1.5e-04 (60%)".
std::string CostVs(double usd, double reference) {
  if (!std::isfinite(usd) || !(reference > 0.0)) return Cost(usd);
  return fmt::format("{} ({:.0f}%)", Cost(usd), 100.0 * usd / reference);
}

std::string Percent(double share) {
  return std::isfinite(share) ? fmt::format("{:.1f}%", 100.0 * share) : Cost(share);
}

// Prints `cells` (first row: the header) as left-aligned columns.
void PrintTable(const std::vector<std::vector<std::string>>& cells, std::FILE* out) {
  std::vector<size_t> width;
  for (const auto& row : cells) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += c + 1 < row.size() ? fmt::format("{:<{}}  ", row[c], width[c]) : row[c];
    }
    std::fprintf(out, "  %s\n", line.c_str());
  }
}

Json Num(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

Json PointJson(const OperatingPoint& p) {
  return Json{{"cost_usd", Num(p.cost_usd)}, {"quality", Num(p.quality)}};
}

Json PointsJson(const std::vector<OperatingPoint>& points) {
  Json out = Json::array();
  for (const OperatingPoint& p : points) out.push_back(PointJson(p));
  return out;
}

// "raw / calibrated" in one cell.
std::string Pair(const std::string& raw, const std::string& calibrated) {
  return raw + " / " + calibrated;
}

void PrintCalibration(const EvalReport& report, std::FILE* out) {
  if (report.calibration.empty()) return;
  const CalibrationFigures& first = report.calibration.front();
  std::fprintf(out,
               "\nCalibration of predicted quality (ECE over %zu equal-width bins; raw / "
               "calibrated; per-model\n%s calibrators fitted on %d-fold cross-fitted "
               "predictions for the training rows)\n",
               first.before.bins.size(), first.method.c_str(), first.folds);
  std::vector<std::vector<std::string>> ece = {
      {"", "ECE, every (row, model)", "ECE, top predicted model",
       "noise floor", "evaluated pairs", "calibration pairs"}};
  for (const CalibrationFigures& f : report.calibration) {
    ece.push_back({f.router,
                   Pair(Fixed(f.before.expected_calibration_error),
                        Fixed(f.after.expected_calibration_error)),
                   Pair(Fixed(f.top_model_ece_before), Fixed(f.top_model_ece_after)),
                   Fixed(f.calibrated_noise_ece), std::to_string(f.before.pairs),
                   std::to_string(f.fit_pairs)});
  }
  PrintTable(ece, out);
  std::fprintf(out,
               "  noise floor: the ECE a perfectly calibrated router would show on these pairs "
               "(0/1 scores\n  drawn with P(1) = the raw prediction, mean of 200 draws).\n");

  std::fprintf(out,
               "\nQuality floor (QualityFloorPolicy at tau on the evaluated rows; raw / "
               "calibrated estimates)\n");
  std::vector<std::vector<std::string>> floor = {
      {"", "tau", "feasible", "predicted", "realised", "realised - tau", "realised, feasible",
       "cost"}};
  for (const CalibrationFigures& f : report.calibration) {
    for (size_t i = 0; i < f.floor_before.size() && i < f.floor_after.size(); ++i) {
      const FloorPoint& raw = f.floor_before[i];
      const FloorPoint& cal = f.floor_after[i];
      floor.push_back({i == 0 ? f.router : "", fmt::format("{:.2f}", raw.tau),
                       Pair(Percent(raw.feasible_share), Percent(cal.feasible_share)),
                       Pair(Fixed(raw.predicted_quality), Fixed(cal.predicted_quality)),
                       Pair(Fixed(raw.realised_quality), Fixed(cal.realised_quality)),
                       Pair(fmt::format("{:+.3f}", raw.realised_quality - raw.tau),
                            fmt::format("{:+.3f}", cal.realised_quality - cal.tau)),
                       Pair(Fixed(raw.realised_feasible), Fixed(cal.realised_feasible)),
                       Pair(Cost(raw.cost_usd), Cost(cal.cost_usd))});
    }
  }
  PrintTable(floor, out);
  std::fprintf(out,
               "  feasible: rows where some model is predicted >= tau (elsewhere the policy "
               "takes the highest\n  prediction); predicted, realised, cost: means over all "
               "evaluated rows of the chosen model's\n  predicted quality, score and cost; "
               "realised, feasible: the mean score over the feasible rows.\n");
}

Json BinsJson(const CalibrationTable& table) {
  Json bins = Json::array();
  for (const ReliabilityBin& b : table.bins) {
    bins.push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count},
                    {"mean_predicted", Num(b.mean_predicted)},
                    {"mean_realised", Num(b.mean_realised)}});
  }
  return Json{{"ece", Num(table.expected_calibration_error)}, {"pairs", table.pairs},
              {"bins", std::move(bins)}};
}

Json FloorJson(const std::vector<FloorPoint>& points) {
  Json out = Json::array();
  for (const FloorPoint& p : points) {
    out.push_back({{"tau", p.tau}, {"feasible_share", Num(p.feasible_share)},
                   {"predicted_quality", Num(p.predicted_quality)},
                   {"realised_quality", Num(p.realised_quality)},
                   {"realised_quality_feasible_rows", Num(p.realised_feasible)},
                   {"cost_usd", Num(p.cost_usd)}});
  }
  return out;
}

}  // namespace

void PrintReport(const EvalReport& report, std::FILE* out) {
  const ModelPoint* best = nullptr;
  for (const ModelPoint& m : report.singles) {
    if (m.model == report.best_model) best = &m;
  }
  const double best_cost = best ? best->point.cost_usd : 0.0;
  std::fprintf(out,
               "\nCost-quality (mean per query; costs in USD; %% = share of the best single "
               "model's cost)\n");
  std::vector<std::vector<std::string>> main = {
      {"", "AIQ", "AIQ (RB code)", "quality @ best's cost", "cost to best's quality",
       "max quality", "at cost"}};
  for (const CurveFigures& row : report.rows) {
    main.push_back({row.name, Fixed(row.aiq), Fixed(row.aiq_routerbench_code),
                    Fixed(row.quality_at_best_single_cost),
                    CostVs(row.cost_to_best_single_quality, best_cost),
                    Fixed(row.max_quality.quality), CostVs(row.max_quality.cost_usd, best_cost)});
  }
  PrintTable(main, out);
  std::fprintf(out,
               "  AIQ: area under the non-decreasing hull of the lambda sweep plus the single "
               "models,\n  over the single models' cost range [%s, %s], divided by its width "
               "(RouterBench paper).\n  AIQ (RB code): as RouterBench's AIQ.py computes it: "
               "trapz from the hull's first point\n  to the common c_max %s, divided by c_max.\n",
               Cost(report.cost_min).c_str(), Cost(report.cost_max).c_str(),
               Cost(report.routerbench_cost_max).c_str());

  std::fprintf(out,
               "\nStrong/weak pair (RouteLLM): strong %s (quality %.3f), weak %s (quality %.3f)\n",
               report.strong.c_str(), report.strong_quality, report.weak.c_str(),
               report.weak_quality);
  const std::string target = fmt::format("{:.0f}%", 100.0 * report.target_strong_share);
  std::vector<std::vector<std::string>> pair = {
      {"", "APGR", "CPT(50%)", "CPT(80%)", "threshold for " + target + " strong",
       "strong share", "quality", "cost"}};
  for (const StrongWeakFigures& f : report.strong_weak) {
    pair.push_back({f.router, Fixed(f.apgr), Percent(f.cpt50), Percent(f.cpt80),
                    fmt::format("{:.4g}", f.threshold), Percent(f.realised.strong_share),
                    Fixed(f.realised.quality), Cost(f.realised.cost_usd)});
  }
  pair.push_back({"random (reference)", "0.500", "50.0%", "80.0%"});
  PrintTable(pair, out);
  std::fprintf(out,
               "  score = predicted quality of strong - of weak; strong when score >= "
               "threshold. %s.\n  The threshold is the (1 - share)-quantile of the scores on "
               "training rows; strong share,\n  quality and cost are what it gives on the "
               "evaluated rows.\n",
               report.threshold_bins > 0
                   ? fmt::format("APGR/CPT over RouteLLM's {} quantile thresholds",
                                 report.threshold_bins).c_str()
                   : "APGR/CPT over every distinct score");

  std::fprintf(out, "\nPer source (AIQ over each source's own single-model cost range)\n");
  std::vector<std::string> header = {"source", "rows", "best single model", "quality",
                                     "oracle", "zero router"};
  for (const CurveFigures& row : report.rows) {
    if (row.is_router) header.push_back(row.name);
  }
  std::vector<std::vector<std::string>> sources = {header};
  for (const SourceFigures& f : report.sources) {
    std::vector<std::string> cells = {f.source.empty() ? "(none)" : f.source,
                                      std::to_string(f.rows), f.best_model,
                                      Fixed(f.best_quality), Fixed(f.oracle_quality),
                                      Fixed(f.zero_router_aiq)};
    for (double aiq : f.router_aiq) cells.push_back(Fixed(aiq));
    sources.push_back(std::move(cells));
  }
  PrintTable(sources, out);

  std::fprintf(out, "\nCost prediction error (mean absolute %% error over every row and model)\n");
  std::vector<std::vector<std::string>> costs = {{"", "MAPE", "cells"}};
  for (const CostErrorFigures& f : report.cost_error) {
    costs.push_back({f.name, Percent(f.mape), std::to_string(f.cells)});
  }
  PrintTable(costs, out);
  std::fprintf(out, "  price table: each model's list prices at the prompt's estimated tokens "
                    "(shown when\n  the config prices every model).\n");
  PrintCalibration(report, out);
}

std::string ReportJson(const EvalReport& report, const std::string& header_json) {
  Json json = header_json.empty() ? Json::object() : Json::parse(header_json);
  Json singles = Json::array();
  for (const ModelPoint& m : report.singles) {
    singles.push_back({{"model", m.model}, {"cost_usd", m.point.cost_usd},
                       {"quality", m.point.quality}});
  }
  json["single_models"] = std::move(singles);
  json["best_single_model"] = report.best_model;
  json["cheapest_model"] = report.cheapest_model;
  json["oracle"] = PointJson(report.oracle);
  json["cost_range_usd"] = {Num(report.cost_min), Num(report.cost_max)};
  json["routerbench_code_cost_max_usd"] = Num(report.routerbench_cost_max);
  json["lambdas"] = report.lambdas;
  Json rows = Json::array();
  for (const CurveFigures& row : report.rows) {
    Json r = {{"name", row.name},
              {"kind", row.is_router ? "router" : "reference"},
              {"aiq", Num(row.aiq)},
              {"aiq_routerbench_code", Num(row.aiq_routerbench_code)},
              {"quality_at_best_single_cost", Num(row.quality_at_best_single_cost)},
              {"cost_to_best_single_quality_usd", Num(row.cost_to_best_single_quality)},
              {"max_quality", Num(row.max_quality.quality)},
              {"cost_at_max_quality_usd", Num(row.max_quality.cost_usd)},
              {"points", PointsJson(row.points)},
              {"hull", PointsJson(row.hull)}};
    rows.push_back(std::move(r));
  }
  json["rows"] = std::move(rows);
  Json pair = {{"strong", report.strong},
               {"weak", report.weak},
               {"strong_quality", Num(report.strong_quality)},
               {"weak_quality", Num(report.weak_quality)},
               {"threshold_bins", report.threshold_bins},
               {"target_strong_share", Num(report.target_strong_share)}};
  Json routers = Json::array();
  for (const StrongWeakFigures& f : report.strong_weak) {
    Json curve = Json::array();
    for (const ThresholdPoint& p : f.curve) {
      curve.push_back({{"threshold", Num(p.threshold)}, {"strong_share", Num(p.strong_share)},
                       {"quality", Num(p.quality)}, {"cost_usd", Num(p.cost_usd)}});
    }
    routers.push_back({{"router", f.router},
                       {"apgr", Num(f.apgr)},
                       {"cpt50", Num(f.cpt50)},
                       {"cpt80", Num(f.cpt80)},
                       {"calibrated_threshold", Num(f.threshold)},
                       {"realised_strong_share", Num(f.realised.strong_share)},
                       {"realised_quality", Num(f.realised.quality)},
                       {"realised_cost_usd", Num(f.realised.cost_usd)},
                       {"curve", std::move(curve)}});
  }
  pair["routers"] = std::move(routers);
  json["strong_weak"] = std::move(pair);
  Json sources = Json::array();
  for (const SourceFigures& f : report.sources) {
    Json aiq = Json::object();
    size_t i = 0;
    for (const CurveFigures& row : report.rows) {
      if (row.is_router && i < f.router_aiq.size()) aiq[row.name] = Num(f.router_aiq[i++]);
    }
    sources.push_back({{"source", f.source},
                       {"rows", f.rows},
                       {"best_single_model", f.best_model},
                       {"best_single_quality", Num(f.best_quality)},
                       {"oracle_quality", Num(f.oracle_quality)},
                       {"zero_router_aiq", Num(f.zero_router_aiq)},
                       {"router_aiq", std::move(aiq)}});
  }
  json["per_source"] = std::move(sources);
  Json cost_error = Json::array();
  for (const CostErrorFigures& f : report.cost_error) {
    cost_error.push_back({{"name", f.name}, {"mape", Num(f.mape)}, {"cells", f.cells}});
  }
  json["cost_error"] = std::move(cost_error);
  if (!report.calibration.empty()) {
    Json calibration = Json::array();
    for (const CalibrationFigures& f : report.calibration) {
      calibration.push_back({{"router", f.router},
                             {"folds", f.folds},
                             {"method", f.method},
                             {"calibration_pairs", f.fit_pairs},
                             {"before", BinsJson(f.before)},
                             {"after", BinsJson(f.after)},
                             {"top_model_ece_before", Num(f.top_model_ece_before)},
                             {"top_model_ece_after", Num(f.top_model_ece_after)},
                             {"calibrated_noise_ece", Num(f.calibrated_noise_ece)},
                             {"quality_floor_before", FloorJson(f.floor_before)},
                             {"quality_floor_after", FloorJson(f.floor_after)}});
    }
    json["calibration"] = std::move(calibration);
  }
  return json.dump(2) + "\n";
}

}  // namespace router::cli
