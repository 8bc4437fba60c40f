#include "router/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "router/pipeline.h"
#include "router/status.h"

namespace router {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint32_t kCalibratorStateVersion = 1;
// Platt: predictions are clamped to [kPlattClamp, 1 - kPlattClamp] before the
// logit, and the fitted sigmoid is kept at kPlattKnots points.
constexpr double kPlattClamp = 1e-3;
constexpr int kPlattKnots = 201;

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

absl::Status MonotoneCalibrator::FitIsotonic(absl::Span<const double> predicted,
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

absl::Status MonotoneCalibrator::FitPlatt(absl::Span<const double> predicted,
                                          absl::Span<const double> realised,
                                          absl::Span<const double> weights) {
  ROUTER_RETURN_IF_ERROR(CheckPairs(predicted, realised, weights, "Platt calibrator"));
  for (size_t i = 0; i < realised.size(); ++i) {
    if (realised[i] < 0.0 || realised[i] > 1.0) {
      return absl::InvalidArgumentError(
          fmt::format("Platt calibrator: realised value {} is {}, not in [0, 1]", i, realised[i]));
    }
  }
  const size_t n = predicted.size();
  std::vector<double> logit(n);
  double weight_total = 0.0, realised_total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double p = std::clamp(predicted[i], kPlattClamp, 1.0 - kPlattClamp);
    logit[i] = std::log(p / (1.0 - p));
    const double w = weights.empty() ? 1.0 : weights[i];
    weight_total += w;
    realised_total += w * realised[i];
  }
  // Newton's method on the weighted log loss of sigmoid(a * logit + b),
  // from the identity map, halving a step that does not lower the loss.
  auto loss = [&](double a, double b) {
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
      const double z = a * logit[i] + b;
      // log(1 + e^z) - y z, computed without overflow.
      const double softplus = z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
      total += (weights.empty() ? 1.0 : weights[i]) * (softplus - realised[i] * z);
    }
    return total;
  };
  double a = 1.0, b = 0.0, current = loss(a, b);
  for (int iteration = 0; iteration < 100; ++iteration) {
    double ga = 0.0, gb = 0.0, haa = 1e-9, hab = 0.0, hbb = 1e-9;
    for (size_t i = 0; i < n; ++i) {
      const double w = weights.empty() ? 1.0 : weights[i];
      const double q = 1.0 / (1.0 + std::exp(-(a * logit[i] + b)));
      const double r = w * (q - realised[i]), h = w * q * (1.0 - q);
      ga += r * logit[i], gb += r;
      haa += h * logit[i] * logit[i], hab += h * logit[i], hbb += h;
    }
    const double det = haa * hbb - hab * hab;
    if (!(det > 0.0)) break;
    double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    double step = 1.0, next = loss(a - da, b - db);
    while (!(next <= current) && step > 1e-6) {
      step *= 0.5;
      next = loss(a - step * da, b - step * db);
    }
    if (!(next <= current)) break;
    a -= step * da, b -= step * db;
    const bool converged = current - next <= 1e-12 * (1.0 + std::abs(current));
    current = next;
    if (converged) break;
  }
  if (!(a >= 0.0) || !std::isfinite(b)) {
    // Predictions that order the outcomes backwards carry no usable signal.
    const double mean = std::clamp(realised_total / weight_total, kPlattClamp, 1.0 - kPlattClamp);
    a = 0.0, b = std::log(mean / (1.0 - mean));
  }
  std::vector<double> x(kPlattKnots), y(kPlattKnots);
  for (int k = 0; k < kPlattKnots; ++k) {
    x[k] = static_cast<double>(k) / (kPlattKnots - 1);
    const double p = std::clamp(x[k], kPlattClamp, 1.0 - kPlattClamp);
    y[k] = 1.0 / (1.0 + std::exp(-(a * std::log(p / (1.0 - p)) + b)));
    if (k > 0) y[k] = std::max(y[k], y[k - 1]);  // rounding must not break monotonicity
  }
  knot_x_ = std::move(x);
  knot_y_ = std::move(y);
  return absl::OkStatus();
}

absl::StatusOr<CalibrationMethod> CalibrationMethodNamed(std::string_view name) {
  if (name == "isotonic") return CalibrationMethod::kIsotonic;
  if (name == "platt") return CalibrationMethod::kPlatt;
  return absl::InvalidArgumentError(
      fmt::format("calibration method must be isotonic or platt, not '{}'", name));
}

absl::Status MonotoneCalibrator::Fit(CalibrationMethod method, absl::Span<const double> predicted,
                                     absl::Span<const double> realised,
                                     absl::Span<const double> weights) {
  return method == CalibrationMethod::kPlatt ? FitPlatt(predicted, realised, weights)
                                             : FitIsotonic(predicted, realised, weights);
}

double MonotoneCalibrator::Apply(double predicted) const {
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
                                         absl::Span<const double> weights,
                                         CalibrationMethod method) {
  if (model.empty()) return absl::InvalidArgumentError("quality calibrator: empty model name");
  for (size_t i = 0; i < realised.size(); ++i) {
    if (!(realised[i] >= 0.0 && realised[i] <= 1.0)) {
      return absl::InvalidArgumentError(fmt::format(
          "quality calibrator: model '{}': realised quality {} is {}, not in [0, 1]", model, i,
          realised[i]));
    }
  }
  MonotoneCalibrator calibrator;
  ROUTER_RETURN_IF_ERROR(Annotate(calibrator.Fit(method, predicted, realised, weights),
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
    if (const MonotoneCalibrator* calibrator = Find(catalog.at(m).name)) {
      estimates->per_model[m].quality = calibrator->Apply(estimates->per_model[m].quality);
    }
  }
  return absl::OkStatus();
}

const MonotoneCalibrator* QualityCalibrator::Find(std::string_view model) const {
  auto it = by_model_.find(model);
  return it == by_model_.end() ? nullptr : &it->second;
}

std::vector<std::string> QualityCalibrator::models() const {
  std::vector<std::string> names;
  for (const auto& [name, unused] : by_model_) names.push_back(name);
  return names;
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
  std::map<std::string, MonotoneCalibrator, std::less<>> by_model;
  // Stops at the first failure: a corrupt count must not spin.
  for (uint64_t i = 0; i < models && r.status().ok(); ++i) {
    std::string model;
    MonotoneCalibrator calibrator;
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
      // A quality maps to a quality: the policy and the trace take it as one.
      if (!(y[k] >= 0.0 && y[k] <= 1.0)) r.Fail("knots y", "outside [0, 1]");
    }
    by_model.emplace(std::move(model), std::move(calibrator));
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  by_model_ = std::move(by_model);
  return absl::OkStatus();
}

std::vector<int> PromptFolds(const Dataset& data, int folds) {
  std::unordered_map<std::string_view, int> fold_of_prompt;
  std::vector<int> fold(data.rows());
  for (int64_t r = 0; r < data.rows(); ++r) {
    auto [it, added] = fold_of_prompt.try_emplace(data.prompts[r],
                                                  static_cast<int>(fold_of_prompt.size() % folds));
    fold[r] = it->second;
  }
  return fold;
}

absl::StatusOr<QualityCalibrator> CrossFitCalibrator(const Dataset& train,
                                                     const PipelineConfig& config, int folds,
                                                     CalibrationMethod method,
                                                     int64_t* fit_pairs) {
  if (folds < 2) return absl::InvalidArgumentError("cross-fitting needs at least 2 folds");
  PipelineConfig fold_config = config;
  fold_config.calibration.method = "none";
  fold_config.cost = "router";
  const std::vector<int> fold = PromptFolds(train, folds);
  // Per model: the (predicted, realised) pairs of its held-out rows.
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> pairs;
  for (int k = 0; k < folds; ++k) {
    std::vector<int64_t> fit_rows, held_rows;
    for (int64_t r = 0; r < train.rows(); ++r) (fold[r] == k ? held_rows : fit_rows).push_back(r);
    if (fit_rows.empty() || held_rows.empty()) continue;  // fewer prompts than folds
    const Dataset held = train.Subset(held_rows);
    ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline,
                            Pipeline::Fit(train.Subset(fit_rows), fold_config));
    std::vector<Estimates> estimates(held.rows());
    if (held.has_vectors() && pipeline->embedder() == nullptr) {
      std::vector<Query> queries(held.rows());
      for (int64_t r = 0; r < held.rows(); ++r) {
        queries[r].vector = held.vector(r);
        queries[r].text = held.prompts[r];
      }
      ROUTER_RETURN_IF_ERROR(pipeline->EstimateBatch(queries, absl::MakeSpan(estimates)));
    } else {
      for (int64_t r = 0; r < held.rows(); ++r) {
        ROUTER_RETURN_IF_ERROR(pipeline->EstimateText(held.prompts[r], &estimates[r]));
      }
    }
    const Catalog& catalog = pipeline->catalog();
    for (int m = 0; m < catalog.size(); ++m) {
      const std::string& model = catalog.at(m).name;
      const int column = held.ModelColumn(model);
      if (column < 0) continue;
      auto& [predicted, realised] = pairs[model];
      for (int64_t r = 0; r < held.rows(); ++r) {
        const double score = held.score(r, column);
        if (std::isnan(score)) continue;
        predicted.push_back(estimates[r].per_model[m].quality);
        realised.push_back(score);
      }
    }
  }
  QualityCalibrator calibrator;
  int64_t used = 0;
  for (const auto& [model, model_pairs] : pairs) {
    const auto& [predicted, realised] = model_pairs;
    if (predicted.empty()) continue;
    ROUTER_RETURN_IF_ERROR(calibrator.FitModel(model, predicted, realised, {}, method));
    used += static_cast<int64_t>(predicted.size());
  }
  if (fit_pairs != nullptr) *fit_pairs = used;
  return calibrator;
}

}  // namespace router
