#include "router/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "router/status.h"

namespace router {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint32_t kCalibratorStateVersion = 1;

absl::Status CheckPairs(absl::Span<const double> predicted, absl::Span<const double> realised,
                        absl::Span<const double> weights, const char* what) {
  if (predicted.empty()) return absl::InvalidArgumentError(fmt::format("{}: no pairs", what));
  if (predicted.size() != realised.size() || (!weights.empty() && weights.size() != predicted.size())) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} predictions, {} realised values, {} weights", what, predicted.size(),
                    realised.size(), weights.size()));
  }
  for (size_t i = 0; i < predicted.size(); ++i) {
    if (!std::isfinite(predicted[i]) || !std::isfinite(realised[i])) {
      return absl::InvalidArgumentError(
          fmt::format("{}: pair {} is not finite ({}, {})", what, i, predicted[i], realised[i]));
    }
    if (!weights.empty() && !(weights[i] > 0.0 && std::isfinite(weights[i]))) {
      return absl::InvalidArgumentError(
          fmt::format("{}: weight {} is {}, not positive and finite", what, i, weights[i]));
    }
  }
  return absl::OkStatus();
}

// A run of pooled points: PAV's unit, and the knots it leaves behind.
struct Block {
  double weighted_sum = 0.0;  // sum of weight * realised
  double weight = 0.0;
  double x_min = 0.0, x_max = 0.0;
  double value() const { return weighted_sum / weight; }
};

}  // namespace

int ReliabilityBinIndex(double predicted, int bins) {
  if (bins <= 1 || !(predicted > 0.0)) return 0;
  if (predicted >= 1.0) return bins - 1;
  int b = std::clamp(static_cast<int>(predicted * bins), 0, bins - 1);
  // The product can round across an edge; the edges are the doubles b / bins.
  while (b > 0 && predicted < static_cast<double>(b) / bins) --b;
  while (b + 1 < bins && predicted >= static_cast<double>(b + 1) / bins) ++b;
  return b;
}

absl::StatusOr<CalibrationTable> MeasureCalibration(absl::Span<const double> predicted,
                                                    absl::Span<const double> realised, int bins) {
  if (bins < 1) return absl::InvalidArgumentError(fmt::format("bins must be >= 1, got {}", bins));
  ROUTER_RETURN_IF_ERROR(CheckPairs(predicted, realised, {}, "calibration"));
  CalibrationTable table;
  table.pairs = static_cast<int64_t>(predicted.size());
  table.bins.resize(bins);
  std::vector<double> sum_predicted(bins, 0.0), sum_realised(bins, 0.0);
  for (size_t i = 0; i < predicted.size(); ++i) {
    const int b = ReliabilityBinIndex(predicted[i], bins);
    ++table.bins[b].count;
    sum_predicted[b] += predicted[i];
    sum_realised[b] += realised[i];
  }
  for (int b = 0; b < bins; ++b) {
    ReliabilityBin& bin = table.bins[b];
    bin.lower = static_cast<double>(b) / bins;
    bin.upper = static_cast<double>(b + 1) / bins;
    if (bin.count == 0) {
      bin.mean_predicted = bin.mean_realised = kNaN;
      continue;
    }
    bin.mean_predicted = sum_predicted[b] / bin.count;
    bin.mean_realised = sum_realised[b] / bin.count;
    table.expected_calibration_error += static_cast<double>(bin.count) / table.pairs *
                                        std::abs(bin.mean_predicted - bin.mean_realised);
  }
  return table;
}

absl::Status IsotonicCalibrator::Fit(absl::Span<const double> predicted,
                                     absl::Span<const double> realised,
                                     absl::Span<const double> weights) {
  ROUTER_RETURN_IF_ERROR(CheckPairs(predicted, realised, weights, "isotonic calibrator"));
  std::vector<size_t> order(predicted.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return predicted[a] < predicted[b]; });
  // Pool-adjacent-violators over the points in order of prediction; equal
  // predictions enter as one point, so they cannot be split across blocks.
  std::vector<Block> blocks;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    const double w = weights.empty() ? 1.0 : weights[i];
    if (!blocks.empty() && blocks.back().x_max == predicted[i]) {
      blocks.back().weighted_sum += w * realised[i];
      blocks.back().weight += w;
    } else {
      blocks.push_back({w * realised[i], w, predicted[i], predicted[i]});
    }
    // Pool only once the whole tie has entered.
    if (k + 1 < order.size() && predicted[order[k + 1]] == predicted[i]) continue;
    while (blocks.size() >= 2 && blocks[blocks.size() - 2].value() > blocks.back().value()) {
      Block last = blocks.back();
      blocks.pop_back();
      blocks.back().weighted_sum += last.weighted_sum;
      blocks.back().weight += last.weight;
      blocks.back().x_max = last.x_max;
    }
  }
  std::vector<double> x, y;
  for (const Block& block : blocks) {
    x.push_back(block.x_min), y.push_back(block.value());
    if (block.x_max > block.x_min) x.push_back(block.x_max), y.push_back(block.value());
  }
  knot_x_ = std::move(x);
  knot_y_ = std::move(y);
  return absl::OkStatus();
}

double IsotonicCalibrator::Apply(double predicted) const {
  if (knot_x_.empty() || std::isnan(predicted)) return predicted;
  if (predicted <= knot_x_.front()) return knot_y_.front();
  if (predicted >= knot_x_.back()) return knot_y_.back();
  const size_t hi = std::upper_bound(knot_x_.begin(), knot_x_.end(), predicted) - knot_x_.begin();
  const size_t lo = hi - 1;
  const double t = (predicted - knot_x_[lo]) / (knot_x_[hi] - knot_x_[lo]);
  return knot_y_[lo] + t * (knot_y_[hi] - knot_y_[lo]);
}

absl::Status QualityCalibrator::FitModel(std::string_view model,
                                         absl::Span<const double> predicted,
                                         absl::Span<const double> realised,
                                         absl::Span<const double> weights) {
  if (model.empty()) return absl::InvalidArgumentError("quality calibrator: empty model name");
  IsotonicCalibrator calibrator;
  ROUTER_RETURN_IF_ERROR(Annotate(calibrator.Fit(predicted, realised, weights),
                                  fmt::format("model '{}'", model)));
  by_model_.insert_or_assign(std::string(model), std::move(calibrator));
  return absl::OkStatus();
}

absl::Status QualityCalibrator::Apply(const Catalog& catalog, Estimates* estimates) const {
  if (estimates->per_model.size() != static_cast<size_t>(catalog.size())) {
    return absl::InvalidArgumentError(
        fmt::format("quality calibrator: {} estimates for a catalog of {} models",
                    estimates->per_model.size(), catalog.size()));
  }
  for (int m = 0; m < catalog.size(); ++m) {
    if (const IsotonicCalibrator* calibrator = Find(catalog.at(m).name)) {
      estimates->per_model[m].quality = calibrator->Apply(estimates->per_model[m].quality);
    }
  }
  return absl::OkStatus();
}

const IsotonicCalibrator* QualityCalibrator::Find(std::string_view model) const {
  auto it = by_model_.find(model);
  return it == by_model_.end() ? nullptr : &it->second;
}

absl::Status QualityCalibrator::SaveState(std::string* out) const {
  internal::ByteWriter w(out);
  w.Put(kCalibratorStateVersion);
  w.Put<uint64_t>(by_model_.size());
  for (const auto& [model, calibrator] : by_model_) {
    w.PutString(model);
    w.PutVector(calibrator.knot_x_);
    w.PutVector(calibrator.knot_y_);
  }
  return absl::OkStatus();
}

absl::Status QualityCalibrator::LoadState(std::string_view state) {
  internal::ByteReader r(state, "quality calibrator state");
  uint32_t version = 0;
  uint64_t models = 0;
  r.GetVersion(&version, kCalibratorStateVersion) && r.Get(&models, "model count");
  std::map<std::string, IsotonicCalibrator, std::less<>> by_model;
  // Stops at the first failure: a corrupt count must not spin.
  for (uint64_t i = 0; i < models && r.status().ok(); ++i) {
    std::string model;
    IsotonicCalibrator calibrator;
    if (!r.GetString(&model, "model name") || !r.GetVector(&calibrator.knot_x_, "knots x") ||
        !r.GetVector(&calibrator.knot_y_, calibrator.knot_x_.size(), "knots y")) {
      break;
    }
    const std::vector<double>& x = calibrator.knot_x_;
    const std::vector<double>& y = calibrator.knot_y_;
    if (model.empty()) r.Fail("model name", "empty");
    if (by_model.count(model) > 0) r.Fail("model name", fmt::format("'{}' repeated", model));
    if (x.empty()) r.Fail("knots", fmt::format("model '{}' has none", model));
    for (size_t k = 0; k < x.size(); ++k) {
      if (!std::isfinite(x[k]) || !std::isfinite(y[k])) r.Fail("knots", "not finite");
      if (k > 0 && !(x[k] > x[k - 1])) r.Fail("knots x", "not strictly increasing");
      if (k > 0 && !(y[k] >= y[k - 1])) r.Fail("knots y", "decreasing");
    }
    by_model.emplace(std::move(model), std::move(calibrator));
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  by_model_ = std::move(by_model);
  return absl::OkStatus();
}

}  // namespace router
