#include "eval_calibration.h"

#include <cmath>
#include <algorithm>
#include <limits>
#include <random>
#include <string_view>
#include <unordered_map>

#include "fmt/format.h"
#include "router/pipeline.h"
#include "router/quality_floor_policy.h"
#include "router/status.h"

namespace router::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per catalog model, its column of `data`.
absl::StatusOr<std::vector<int>> Columns(const Dataset& data, const Catalog& catalog) {
  std::vector<int> column(catalog.size());
  for (int m = 0; m < catalog.size(); ++m) {
    column[m] = data.ModelColumn(catalog.at(m).name);
    if (column[m] < 0) {
      return absl::InvalidArgumentError(
          fmt::format("model '{}' is not a column of the data", catalog.at(m).name));
    }
  }
  return column;
}

// Per row, the (prediction, score) pair of the model with the highest
// predicted quality (ties: the first).
double TopModelEce(const Dataset& test, absl::Span<const int> column,
                   absl::Span<const Estimates> estimates, int bins) {
  std::vector<double> predicted, realised;
  for (int64_t r = 0; r < test.rows(); ++r) {
    const auto& per_model = estimates[r].per_model;
    size_t top = 0;
    for (size_t m = 1; m < per_model.size(); ++m) {
      if (per_model[m].quality > per_model[top].quality) top = m;
    }
    predicted.push_back(per_model[top].quality);
    realised.push_back(test.score(r, column[top]));
  }
  auto table = MeasureCalibration(predicted, realised, bins);
  return table.ok() ? table->expected_calibration_error : kNaN;
}

// See CalibrationFigures::calibrated_noise_ece. Seeded: the same figure
// every run.
double NoiseEce(absl::Span<const double> predicted, int bins) {
  constexpr int kDraws = 200;
  std::mt19937_64 rng(22);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> drawn(predicted.size());
  double total = 0.0;
  for (int d = 0; d < kDraws; ++d) {
    for (size_t i = 0; i < predicted.size(); ++i) {
      drawn[i] = uniform(rng) < std::clamp(predicted[i], 0.0, 1.0) ? 1.0 : 0.0;
    }
    auto table = MeasureCalibration(predicted, drawn, bins);
    if (!table.ok()) return kNaN;
    total += table->expected_calibration_error;
  }
  return total / kDraws;
}

absl::StatusOr<std::vector<FloorPoint>> FloorSweep(const Dataset& test, const Catalog& catalog,
                                                   absl::Span<const int> column,
                                                   absl::Span<const Estimates> estimates,
                                                   absl::Span<const double> taus) {
  std::vector<FloorPoint> points;
  Decision decision;
  for (double tau : taus) {
    ROUTER_ASSIGN_OR_RETURN(auto policy, QualityFloorPolicy::Create(tau));
    FloorPoint point;
    point.tau = tau;
    double feasible_quality = 0.0;
    int64_t feasible = 0;
    for (int64_t r = 0; r < test.rows(); ++r) {
      Query query;
      query.text = test.prompts[r];
      ROUTER_RETURN_IF_ERROR(policy->Decide(estimates[r], catalog, query, &decision));
      const int c = column[decision.chosen.model_index];
      const double score = test.score(r, c);
      // utility holds the ranking quality (the prediction, no optimism here).
      if (decision.chosen.utility >= tau) ++feasible, feasible_quality += score;
      point.predicted_quality += decision.chosen.predicted_quality;
      point.realised_quality += score;
      point.cost_usd += test.cost(r, c);
    }
    const double n = static_cast<double>(test.rows());
    point.feasible_share = feasible / n;
    point.predicted_quality /= n;
    point.realised_quality /= n;
    point.cost_usd /= n;
    point.realised_feasible = feasible > 0 ? feasible_quality / feasible : kNaN;
    points.push_back(point);
  }
  return points;
}

}  // namespace

absl::StatusOr<std::vector<Estimates>> Calibrated(const QualityCalibrator& calibrator,
                                                  const Catalog& catalog,
                                                  absl::Span<const Estimates> estimates) {
  std::vector<Estimates> out(estimates.begin(), estimates.end());
  for (Estimates& e : out) ROUTER_RETURN_IF_ERROR(calibrator.Apply(catalog, &e));
  return out;
}

absl::StatusOr<CalibrationFigures> MeasureRouterCalibration(
    const Dataset& test, const Catalog& catalog, absl::Span<const Estimates> raw,
    absl::Span<const Estimates> calibrated, int bins, absl::Span<const double> taus) {
  if (raw.size() != static_cast<size_t>(test.rows()) || calibrated.size() != raw.size()) {
    return absl::InternalError(fmt::format("calibration: {} and {} estimates for {} rows",
                                           raw.size(), calibrated.size(), test.rows()));
  }
  ROUTER_ASSIGN_OR_RETURN(std::vector<int> column, Columns(test, catalog));
  CalibrationFigures figures;
  for (auto [estimates, table] : {std::pair{raw, &figures.before},
                                  std::pair{calibrated, &figures.after}}) {
    std::vector<double> predicted, realised;
    for (int64_t r = 0; r < test.rows(); ++r) {
      for (int m = 0; m < catalog.size(); ++m) {
        predicted.push_back(estimates[r].per_model[m].quality);
        realised.push_back(test.score(r, column[m]));
      }
    }
    ROUTER_ASSIGN_OR_RETURN(*table, MeasureCalibration(predicted, realised, bins));
    if (table == &figures.before) figures.calibrated_noise_ece = NoiseEce(predicted, bins);
  }
  figures.top_model_ece_before = TopModelEce(test, column, raw, bins);
  figures.top_model_ece_after = TopModelEce(test, column, calibrated, bins);
  ROUTER_ASSIGN_OR_RETURN(figures.floor_before, FloorSweep(test, catalog, column, raw, taus));
  ROUTER_ASSIGN_OR_RETURN(figures.floor_after,
                          FloorSweep(test, catalog, column, calibrated, taus));
  return figures;
}

std::vector<double> DefaultFloorTaus() {
  std::vector<double> taus;
  for (int i = 30; i <= 90; i += 5) taus.push_back(i / 100.0);
  return taus;
}

}  // namespace router::cli
