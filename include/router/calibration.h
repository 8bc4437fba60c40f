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
//   * IsotonicCalibrator: one non-decreasing map from predicted to expected
//     realised quality, fitted by pool-adjacent-violators (PAV).
//   * QualityCalibrator: one IsotonicCalibrator per model (by catalog name),
//     applied to a router's Estimates, with SaveState/LoadState so that it can
//     later ride in a pipeline file.
//
// Fit the calibrators on predictions for rows the router was not fitted on
// (a held-out fold of the training data, or cross-fitting), never on the rows
// the calibration is then measured on.
#ifndef ROUTER_CALIBRATION_H_
#define ROUTER_CALIBRATION_H_

// Experimental tier (docs/architecture.md, "Two tiers"): the calibration
// layer of issue 22, not yet part of a pipeline file or config.
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
#include "router/estimate.h"
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

// A non-decreasing map fitted by weighted isotonic regression (least
// squares, pool-adjacent-violators). Pairs with equal predictions are first
// merged into one point (weighted mean of the realised values), so equal
// inputs always map to equal outputs.
//
// Apply interpolates linearly between knots: each PAV block contributes a
// knot at its smallest and its largest prediction, both at the block's value
// (as scikit-learn's IsotonicRegression does). That reproduces the fit
// exactly on the fitted predictions and stays continuous in the gaps
// between blocks, where a step function would jump at an arbitrary point;
// outside the fitted range the end values hold.
//
// Not thread-safe for Fit/LoadState against Apply; Apply alone is const.
class ROUTER_EXPORT IsotonicCalibrator {
 public:
  // Fits on `predicted` and `realised` (same length, at least one pair,
  // every value finite) with `weights` (empty: all 1; otherwise the same
  // length, each finite and > 0). On an error nothing changes.
  absl::Status Fit(absl::Span<const double> predicted, absl::Span<const double> realised,
                   absl::Span<const double> weights = {});

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

// One IsotonicCalibrator per model, by model name. Models without one keep
// their predictions.
class ROUTER_EXPORT QualityCalibrator {
 public:
  // Fits model `model`'s calibrator (replacing any before). Errors as
  // IsotonicCalibrator::Fit, plus an empty name; on an error nothing changes.
  absl::Status FitModel(std::string_view model, absl::Span<const double> predicted,
                        absl::Span<const double> realised,
                        absl::Span<const double> weights = {});

  // Replaces each per_model[m].quality (m indexing `catalog`) by its
  // calibrated value. Fails, changing nothing, when `estimates` has a
  // different number of models than `catalog`.
  absl::Status Apply(const Catalog& catalog, Estimates* estimates) const;

  // The calibrator of `model`, or nullptr.
  const IsotonicCalibrator* Find(std::string_view model) const;
  int size() const { return static_cast<int>(by_model_.size()); }

  // Appends the state (a version, then each model's name and knots) to `out`.
  absl::Status SaveState(std::string* out) const;
  // Replaces everything by a state SaveState wrote, after validating all of
  // it (version, names non-empty and unique, knots finite, x strictly
  // increasing, y non-decreasing, nothing left over); on an error nothing
  // changes.
  absl::Status LoadState(std::string_view state);

 private:
  // Ordered, so that SaveState writes the same bytes for the same fit.
  std::map<std::string, IsotonicCalibrator, std::less<>> by_model_;
};

}  // namespace router

#endif  // ROUTER_CALIBRATION_H_
