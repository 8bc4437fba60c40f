// Calibration in `router eval`: per router, a QualityCalibrator fitted on
// cross-fitted predictions for the training rows, and the figures that show
// what it changes on the evaluated rows: the expected calibration error, the
// reliability bins, and the quality floor's decisions at a grid of tau.
//
// Cross-fitting (router::CrossFitCalibrator): the training rows are cut into
// K folds by prompt (all rows with one prompt in one fold, as
// --dedup-train-prompts keeps test prompts out of train), the router is
// refitted on K - 1 folds and estimates the held-out one, so every training
// row gets a prediction from a router that never saw it. Each model's
// calibrator is fitted on those (prediction, score) pairs; the evaluated
// rows are never used. The router that estimates the evaluated
// rows is the one fitted on all of train, as usual; its calibrator comes from
// routers fitted on (K-1)/K of it, which are a little less sure, the usual
// price of cross-fitting. The text featurizer is not refitted per fold (it
// is unsupervised and fitting it is the slow part), so the held-out prompts
// took part in its idf and projection.
#ifndef ROUTER_TOOLS_EVAL_CALIBRATION_H_
#define ROUTER_TOOLS_EVAL_CALIBRATION_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/calibration.h"
#include "router/catalog.h"
#include "router/dataset.h"
#include "router/estimate.h"
#include "router/pipeline_config.h"
#include "router/router.h"

namespace router::cli {

// `estimates` with every model's quality mapped through `calibrator`.
absl::StatusOr<std::vector<Estimates>> Calibrated(const QualityCalibrator& calibrator,
                                                  const Catalog& catalog,
                                                  absl::Span<const Estimates> estimates);

// QualityFloorPolicy at one tau, replayed on the evaluated rows.
struct FloorPoint {
  double tau = 0.0;
  double feasible_share = 0.0;     // rows where some model is predicted >= tau
  double predicted_quality = 0.0;  // mean predicted quality of the chosen models
  double realised_quality = 0.0;   // mean score of the chosen models, all rows
  double realised_feasible = 0.0;  // the same over the feasible rows (NaN: none)
  double cost_usd = 0.0;           // mean cost of the chosen models
};

struct CalibrationFigures {
  std::string router;
  int folds = 0;
  std::string method;  // "isotonic" or "platt"
  int64_t fit_pairs = 0;  // cross-fitted (prediction, score) pairs
  // Over every (evaluated row, model) pair: what the floor compares to tau.
  CalibrationTable before, after;
  // Over the model with the highest predicted quality in each row only:
  // selection picks the models whose quality is over-estimated, so this is
  // where a router's optimism shows.
  double top_model_ece_before = 0.0, top_model_ece_after = 0.0;
  // The ECE a perfectly calibrated router would still show on these pairs,
  // from the sampling noise of the scores alone: the mean ECE over draws of
  // 0/1 scores with P(1) = the raw prediction. Below it, a lower ECE means
  // nothing; scores that are not 0/1 have less noise than this assumes.
  double calibrated_noise_ece = 0.0;
  std::vector<FloorPoint> floor_before, floor_after;
};

// The figures of one router from its raw and calibrated estimates of `test`.
absl::StatusOr<CalibrationFigures> MeasureRouterCalibration(
    const Dataset& test, const Catalog& catalog, absl::Span<const Estimates> raw,
    absl::Span<const Estimates> calibrated, int bins, absl::Span<const double> taus);

// The default tau grid: 0.30, 0.35, ..., 0.90.
std::vector<double> DefaultFloorTaus();

}  // namespace router::cli

#endif  // ROUTER_TOOLS_EVAL_CALIBRATION_H_
