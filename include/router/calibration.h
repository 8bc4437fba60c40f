// File: router/calibration.h
//
// Calibration of predicted quality: how far a router's predicted quality is
// from the score it turns out to get, and a per-model correction for it.
// A quality floor ("the cheapest model predicted to reach tau") means what it
// says only when a prediction of 0.7 is followed by a mean score of 0.7.
//
//   * MeasureCalibration: the expected calibration error (ECE) of a set of
//     (predicted, realised) pairs over equal-width bins, with the per-bin
//     table a reliability diagram plots.
//   * MonotoneCalibrator: one non-decreasing map from predicted to expected
//     realised quality, fitted by pool-adjacent-violators (isotonic) or as
//     a sigmoid of the prediction's logit (Platt).
//   * QualityCalibrator: one MonotoneCalibrator per model (by catalog name),
//     applied to a router's Estimates, with SaveState/LoadState (the
//     "calibration" section of a pipeline file).
//   * CrossFitCalibrator: fits one on cross-fitted predictions of train.
//
// Fit the calibrators on predictions for rows the router was not fitted on
// (a held-out fold of the training data, or cross-fitting), never on the rows
// the calibration is then measured on.
#ifndef ROUTER_CALIBRATION_H_
#define ROUTER_CALIBRATION_H_

// Experimental tier (docs/architecture.md, "Two tiers"): the classes of the
// calibration layer of issue 22. A pipeline uses them through its config
// ("calibration") and saves them in its file; hosts need not include this.
// Its API may change in any release. Define ROUTER_EXPERIMENTAL before
// including it to say you accept that.
#ifndef ROUTER_EXPERIMENTAL
#error "router/calibration.h is experimental: define ROUTER_EXPERIMENTAL to use it"
#endif

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/catalog.h"
#include "router/dataset.h"
#include "router/estimate.h"
#include "router/pipeline_config.h"
#include "router/export.h"

namespace router {

// ---------------------------------------------------------------------------
// Measuring calibration.

// One bin of a reliability diagram.
struct ReliabilityBin {
  double lower = 0.0;  // the bin covers [lower, upper); the last bin also holds upper
  double upper = 0.0;
  int64_t count = 0;
  double mean_predicted = 0.0;  // NaN when count == 0
  double mean_realised = 0.0;   // NaN when count == 0
};

struct CalibrationTable {
  int64_t pairs = 0;
  // Sum over bins of (count / pairs) * |mean_predicted - mean_realised|.
  double expected_calibration_error = 0.0;
  std::vector<ReliabilityBin> bins;  // `bins` equal-width bins over [0, 1]
};

// The ECE of `predicted` against `realised` (same length, every value
// finite) over `bins` equal-width bins of [0, 1]. Bin b covers
// [b/bins, (b+1)/bins): a prediction exactly on an edge goes to the bin
// above it, 1.0 to the last bin; predictions below 0 count in the first bin
// and above 1 in the last (their own mean is what is compared). Fails on an
// empty input, a size mismatch, a non-finite value or bins < 1.
ROUTER_EXPORT absl::StatusOr<CalibrationTable> MeasureCalibration(
    absl::Span<const double> predicted, absl::Span<const double> realised, int bins = 10);

// The bin of `predicted` under MeasureCalibration's rule.
ROUTER_EXPORT int ReliabilityBinIndex(double predicted, int bins);

// ---------------------------------------------------------------------------
// Correcting it.

// How a calibrator maps predictions (config "calibration.method").
enum class CalibrationMethod {
  // Weighted isotonic regression: any non-decreasing map; needs many pairs.
  kIsotonic,
  // Platt scaling: sigmoid(a * logit(p) + b), a >= 0, by weighted maximum
  // likelihood; two parameters, so it suits few pairs and cannot overfit
  // the shape.
  kPlatt,
};

// The method named "isotonic" or "platt" (config "calibration.method",
// `router eval --calibration-method`); InvalidArgument for any other name.
ROUTER_EXPORT absl::StatusOr<CalibrationMethod> CalibrationMethodNamed(std::string_view name);

// A non-decreasing map from predicted to expected realised quality, held as
// knots with linear interpolation between them.
//
// FitIsotonic: weighted isotonic regression (least squares,
// pool-adjacent-violators). Pairs with equal predictions are first merged
// into one point (weighted mean of the realised values), so equal inputs
// always map to equal outputs. Each PAV block contributes a
// knot at its smallest and its largest prediction, both at the block's value
// (as scikit-learn's IsotonicRegression does). That reproduces the fit
// exactly on the fitted predictions and stays continuous in the gaps
// between blocks, where a step function would jump at an arbitrary point;
// outside the fitted range the end values hold.
//
// FitPlatt: the fitted sigmoid, held as its values at 201 evenly spaced
// predictions over [0, 1] (within 1e-3 of the sigmoid wherever a <= 4);
// a fitted slope below 0 (worse than useless predictions) becomes the
// constant map at the weighted mean realised value.
//
// Not thread-safe for a Fit or LoadState against Apply; Apply alone is const.
class ROUTER_EXPORT MonotoneCalibrator {
 public:
  // Fits on `predicted` and `realised` (same length, at least one pair,
  // every value finite; FitPlatt also needs realised values in [0, 1]) with
  // `weights` (empty: all 1; otherwise the same length, each finite and
  // > 0). On an error nothing changes.
  absl::Status FitIsotonic(absl::Span<const double> predicted, absl::Span<const double> realised,
                           absl::Span<const double> weights = {});
  absl::Status FitPlatt(absl::Span<const double> predicted, absl::Span<const double> realised,
                        absl::Span<const double> weights = {});
  absl::Status Fit(CalibrationMethod method, absl::Span<const double> predicted,
                   absl::Span<const double> realised, absl::Span<const double> weights = {});

  // The calibrated value of `predicted`; `predicted` itself when not fitted,
  // NaN for NaN.
  double Apply(double predicted) const;

  bool fitted() const { return !knot_x_.empty(); }
  // The knots: strictly increasing predictions, non-decreasing values.
  const std::vector<double>& knot_x() const { return knot_x_; }
  const std::vector<double>& knot_y() const { return knot_y_; }

 private:
  friend class QualityCalibrator;  // reads and writes the knots in its state
  std::vector<double> knot_x_, knot_y_;
};

// One MonotoneCalibrator per model, by model name. Models without one keep
// their predictions.
class ROUTER_EXPORT QualityCalibrator {
 public:
  // Fits model `model`'s calibrator (replacing any before). Errors as
  // MonotoneCalibrator's, plus an empty name and a realised quality outside
  // [0, 1]; on an error nothing changes.
  absl::Status FitModel(std::string_view model, absl::Span<const double> predicted,
                        absl::Span<const double> realised,
                        absl::Span<const double> weights = {},
                        CalibrationMethod method = CalibrationMethod::kIsotonic);
  // Forgets model `model`'s calibrator (a no-op when there is none).
  void Remove(std::string_view model) {
    if (auto it = by_model_.find(model); it != by_model_.end()) by_model_.erase(it);
  }

  // Replaces each per_model[m].quality (m indexing `catalog`) by its
  // calibrated value. Fails, changing nothing, when `estimates` has a
  // different number of models than `catalog`.
  absl::Status Apply(const Catalog& catalog, Estimates* estimates) const;

  // The calibrator of `model`, or nullptr.
  const MonotoneCalibrator* Find(std::string_view model) const;
  int size() const { return static_cast<int>(by_model_.size()); }
  // The models with a calibrator, in name order.
  std::vector<std::string> models() const;

  // Appends the state (a version, then each model's name and knots) to `out`.
  absl::Status SaveState(std::string* out) const;
  // Replaces everything by a state SaveState wrote, after validating all of
  // it (version, names non-empty and unique, knots finite, x strictly
  // increasing, y non-decreasing and in [0, 1], nothing left over); on an
  // error nothing changes.
  absl::Status LoadState(std::string_view state);

 private:
  // Ordered, so that SaveState writes the same bytes for the same fit.
  std::map<std::string, MonotoneCalibrator, std::less<>> by_model_;
};

// Fits a calibrator per model of the pipeline `config` describes, on
// cross-fitted predictions for `train` (folds >= 2): the rows are cut into
// folds by prompt (distinct prompts in order of first appearance, dealt
// round-robin, so each fold gets a share of every task when rows come
// grouped by task), a pipeline is fitted on all folds but one and
// estimates the held-out one, so every row gets a prediction from a router
// that never saw it. Cells without a score are skipped. Fold pipelines take
// `config` with no calibration and the router's costs. `fit_pairs`, when
// not null, receives the number of pairs used.
ROUTER_EXPORT absl::StatusOr<QualityCalibrator> CrossFitCalibrator(
    const Dataset& train, const PipelineConfig& config, int folds, CalibrationMethod method,
    int64_t* fit_pairs = nullptr);

// The fold (0 .. folds-1) of each row of `data`, by prompt, as
// CrossFitCalibrator deals them.
ROUTER_EXPORT std::vector<int> PromptFolds(const Dataset& data, int folds);

}  // namespace router

#endif  // ROUTER_CALIBRATION_H_
