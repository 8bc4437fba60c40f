// File: router/mf_trainer.h
//
// The training half of MfRouter: the whole model's fit (TrainMf) and one new
// model's against a frozen projection (FitModelEmbedding). MfRouter calls
// them; the model, its losses and the options are described in
// mf_options.h.
#ifndef ROUTER_MF_TRAINER_H_
#define ROUTER_MF_TRAINER_H_

// Experimental tier (docs/architecture.md, "Two tiers"): the training loop
// behind MfRouter, public for tools that train or inspect parameters
// directly. Its API may change in any release. Define ROUTER_EXPERIMENTAL
// before including it to say you accept that.
#ifndef ROUTER_EXPERIMENTAL
#error "router/mf_trainer.h is experimental: define ROUTER_EXPERIMENTAL to use it"
#endif

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/mf_options.h"

namespace router {

struct MfTrainingResult {
  MfParameters parameters;
  int epochs_run = 0;
  int best_epoch = 0;                // the epoch whose parameters were kept
  double best_validation_loss = 0.0; // NaN without a validation split
};

// Trains on `rows` query vectors (rows x dim, row-major, each already
// L2-normalised or zero) and their scores (rows x num_models, NaN where
// missing, else in [0, 1]). InvalidArgument on bad options or sizes, or when
// the training part has nothing to learn from (no scored cell, or no
// comparison for the pairwise loss); Aborted if `progress` threw.
ROUTER_EXPORT absl::StatusOr<MfTrainingResult> TrainMf(absl::Span<const float> vectors,
                                                       int dim,
                                                       absl::Span<const double> scores,
                                                       int num_models,
                                                       const MfOptions& options);

// One observation for FitModelEmbedding: the target t in [0, 1] of
// σ(δ_new(x_row) + offset). Pointwise: t is the score and offset 0.
// Pairwise, against trained model k: t is 1 if the new model won, 0 if it
// lost, and offset = −δ_k(x_row).
struct MfObservation {
  int64_t row = 0;
  double target = 0.0;
  double offset = 0.0;
};

// Fits the embedding v and bias b of one new model with W and w frozen:
// ridge logistic regression on the features w ⊙ (W x), minimising
//   Σ_i BCE(σ(vᵀ(w ⊙ W x_i) + b + offset_i), t_i) + l2 (|v − v0|² + (b − b0)²)
// by Newton's method with step halving (deterministic; converges in a few
// iterations). `vectors` are normalised like TrainMf's. Returns v
// (hidden_dim) followed by b.
ROUTER_EXPORT absl::StatusOr<std::vector<float>> FitModelEmbedding(
    const MfParameters& frozen, absl::Span<const float> vectors,
    absl::Span<const MfObservation> observations, absl::Span<const float> prior,
    double l2);

}  // namespace router

#endif  // ROUTER_MF_TRAINER_H_
