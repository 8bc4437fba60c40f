// File: router/mf_router.h
//
// MfRouter: RouteLLM-style matrix factorisation. A learned projection W maps
// the query into a latent space shared by all models; each model has an
// embedding v_m and a bias b_m there, and a shared vector w mixes the latent
// dimensions:
//   q_m(x) = σ(wᵀ(v_m ⊙ W x̂) + b_m),   x̂ = x / |x|  (a zero vector stays 0)
// Training (mf_trainer.h, experimental; the options in mf_options.h) is in
// C++ with Eigen: pointwise logistic loss on scores, or a pairwise
// Bradley–Terry loss for preference data, Adam, L2, early stopping on a
// seeded validation split, bit-reproducible for a seed.
//
// What Estimate reports, per model:
//   quality      q_m(x) above. After a pairwise fit this is m's probability
//                of beating a model of the training pool's average strength
//                (mf_options.h), not an expected score.
//   uncertainty  sqrt(q (1 − q)): the standard deviation of a 0/1 score whose
//                mean is q (the same unit as the kNN router's spread of
//                neighbour scores). It is not the model's epistemic doubt.
//   cost         the model's mean observed cost over the training rows that
//                have one (per query, not per token); for a model with no
//                observed cost, the catalog price of this query's tokens.
//   support      the number of training rows with a score for the model
//                (for an onboarded model: its labelled rows).
// No evidence is reported.
//
// Speed: every layer is linear up to the sigmoid, so the router folds them at
// Fit and Load. With M models, hidden size h and dimension d it keeps
// A = diag(w)·V·W (M x d) when M·d <= h·d + M·h (always when M <= h) and
// scores a query with one M x d product; otherwise it keeps Z = V·diag(w)
// (M x h) and computes W x (h x d) then Z (W x) (M x h). Estimate allocates
// nothing once a thread's scratch has grown; EstimateBatch uses one matrix
// product for the whole batch (reusing per-thread buffers for batches of up
// to 2^20 query floats). Measured (benchmarks/mf_bench.cc, SSE2 build, busy
// 2-core VM): d = 1024, M = 16, h = 128 routes in about 1.0 µs at the median,
// 1.4x the bare 16 x 1024 product; the unfolded two-stage product alone would
// take about 7 µs of CPU.
//
// MF is an offline router: Observe validates the feedback and learns nothing.
//
// Thread safety: as for every Router (router.h). Fit, LoadState and
// OnboardModel are not thread-safe with routing.
#ifndef ROUTER_MF_ROUTER_H_
#define ROUTER_MF_ROUTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "router/export.h"
#include "router/mf_options.h"
#include "router/router.h"

namespace router {

class ROUTER_EXPORT MfRouter : public Router {
 public:
  explicit MfRouter(MfOptions options = {});
  ~MfRouter() override;

  std::string_view kind() const override { return "mf"; }
  int dim() const override { return state_.params.dim; }
  const Catalog& catalog() const override { return state_.catalog; }
  const MfOptions& options() const { return options_; }
  // Replaces the options (and the progress callback) used by the next Fit.
  void set_options(MfOptions options) { options_ = std::move(options); }

  // The learned parameters (empty before Fit).
  const MfParameters& parameters() const { return state_.params; }
  // Epochs trained by the last Fit, and the one whose parameters were kept.
  int epochs_run() const { return state_.epochs_run; }
  int best_epoch() const { return state_.best_epoch; }
  // True when routing uses the folded M x d matrix (see above).
  bool folded() const { return state_.folded; }

  // Validates the options (ValidateMfOptions), then trains on every row of
  // `data` (the validation split is carved from them, seeded). On error the
  // router is unchanged.
  absl::Status Fit(const Dataset& data, const Catalog& catalog) override;
  absl::Status Estimate(const Query& query, Estimates* out) const override;
  absl::Status EstimateBatch(absl::Span<const Query> queries,
                             absl::Span<Estimates> out) const override;

  // Fits only the new model's v and b (W and w frozen; the other models are
  // not touched) on the rows of `labelled` that have a score for
  // `profile.name`, by ridge logistic regression pulled towards the mean of
  // the trained models' parameters with strength options().onboard_l2
  // (FitModelEmbedding). Pointwise routers fit the new model's scores;
  // pairwise routers fit its comparisons with the catalog models scored on
  // the same rows (it wins where its score is higher). Its cost is the mean
  // of its observed costs on those rows, else the catalog price.
  // AlreadyExists if the catalog has the name; InvalidArgument if `labelled`
  // has no such column, no usable row, or vectors of another dimension.
  absl::Status OnboardModel(const Profile& profile, const Dataset& labelled) override;

  // Options (without the callback), catalog, parameters, per-model cost and
  // support, and the training summary.
  absl::Status RemoveModel(std::string_view name) override;
  absl::StatusOr<std::unique_ptr<Router>> Clone() const override;
  absl::Status SaveState(std::string* out) const override;
  // Keeps this router's progress callback; everything else comes from
  // `state`.
  absl::Status LoadState(std::string_view state) override;
  std::vector<std::pair<std::string, std::string>> Describe() const override;

 private:
  MfOptions options_;
  // The learned state: Fit, OnboardModel and LoadState build a new one and
  // commit it in one assignment, so a failure leaves the router as it was.
  struct State {
    Catalog catalog;
    MfParameters params;
    std::vector<double> mean_cost;   // per model; meaningful when cost_count > 0
    std::vector<int64_t> cost_count; // per model: rows with an observed cost
    std::vector<int64_t> support;    // per model: rows with a score
    int epochs_run = 0;
    int best_epoch = 0;
    // Derived, not saved: A (M x d) when folded, else Z (M x h); row-major.
    bool folded = false;
    std::vector<float> scoring;
  };
  State state_;
};

}  // namespace router

#endif  // ROUTER_MF_ROUTER_H_
