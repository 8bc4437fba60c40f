// File: router/stacked_router.h
//
// StackedRouter: combines the estimates of several base routers (kNN, the
// cluster router, MF, LinUCB, or a host's own kinds) into one estimate per
// model, with weights learned on out-of-fold predictions. This is stacking
// in the "Super Learner" form (van der Laan, Polley and Hubbard, 2007): per
// model m, the weights w_m are the convex combination (w >= 0, sum w = 1)
// that minimises the squared error of the bases' out-of-fold predicted
// qualities against the observed scores.
//
// Why convex least squares and not a logistic combiner: the bases already
// predict calibrated-looking local means (docs/results.md), and a convex
// mixture of them stays in [0, 1], keeps that property, and on its fitting
// rows is never worse than the best single base (which is one vertex of
// the simplex). On llmrouter-9model a per-model logistic combiner lost
// 0.004-0.02 AIQ on test against the best base; the convex one did not
// (docs/results.md, "Combining routers").
//
// Fit:
//   1. The rows are dealt into `folds` folds by distinct query vector (rows
//      with the same vector, i.e. the same prompt, share a fold), round-robin
//      in order of first appearance.
//   2. For each fold, each base is fitted on the other folds and predicts
//      the held-out rows: every row gets an out-of-fold prediction from
//      every base. A base is never asked about a row it was fitted on.
//   3. Per model, the weights solve
//          min_w sum_rows (score - sum_b w_b q_b)^2,  w >= 0, sum_b w_b = 1
//      over the rows with a score for the model (projected gradient on the
//      B x B Gram matrix).
//   4. Each base is fitted once more on all the rows: these are the bases
//      that route.
//   Fit costs (folds + 1) fits of each base.
//
// Estimate, for each model, with the bases' estimates q_b, u_b, c_b:
//     quality     = sum_b w_b q_b
//     uncertainty = sqrt(sum_b w_b (u_b^2 + (q_b - quality)^2))
//     cost        = sum_b w_b c_b
//     support     = the largest support of a base with w_b > 0
//   (the uncertainty is the spread of the mixture, as in the cluster
//   router). The evidence is the lead base's (the one with the largest
//   weight summed over models). A warm Estimate allocates nothing when its
//   bases' do not.
//
// Feedback goes to every base (an online base such as LinUCB learns; the
// others ignore it); the weights stay as fitted. OnboardModel onboards the
// model on every base that can (kNN cannot: it keeps no per-model state
// apart from the reference rows' scores), with the weights the fitted models
// have on average over those bases.
// A stacked router does not share learned statistics between replicas
// (shared_base() is 0) even when a base could.
//
// Thread safety: as Router; Observe is as thread-safe as its bases'.
#ifndef ROUTER_STACKED_ROUTER_H_
#define ROUTER_STACKED_ROUTER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/router.h"

namespace router {

// The defaults were chosen on validation folds of llmrouter-9model's train
// split (nested 5-fold AIQ of the convex combination, not the test split):
// knn + cluster + mf 0.6306, + linucb 0.6304, knn + cluster 0.6295, knn +
// mf 0.6298; the best single base 0.6316 (kNN, k = 80) to 0.6195 (MF).
struct StackedOptions {
  static constexpr const char* kKind = "stacked";  // PipelineConfig::router
  // The base routers' kinds, each at most once; not "stacked". In a
  // pipeline config each base takes its options from its own block
  // ("knn": {...}).
  std::vector<std::string> bases = {"knn", "cluster", "mf"};
  // Folds of the out-of-fold predictions the weights are fitted on.
  int folds = 5;
};

class ROUTER_EXPORT StackedRouter : public Router {
 public:
  // Makes an unfitted router of a base kind.
  using BaseFactory =
      std::function<absl::StatusOr<std::unique_ptr<Router>>(std::string_view kind)>;

  // `make_base` defaults to the registered kinds with their default options
  // (MakeRouter). A pipeline config's factory passes one that uses the
  // config's blocks.
  explicit StackedRouter(StackedOptions options = {}, BaseFactory make_base = nullptr);
  ~StackedRouter() override;

  std::string_view kind() const override { return "stacked"; }
  int dim() const override { return dim_; }
  const Catalog& catalog() const override { return catalog_; }
  const StackedOptions& options() const { return options_; }

  // The fitted bases, in options().bases order (empty before Fit).
  int num_bases() const { return static_cast<int>(bases_.size()); }
  const Router& base(int index) const { return *bases_[index]; }
  // The weight of base `base` in model `model`'s estimate.
  double weight(int model, int base) const {
    return weights_[static_cast<size_t>(model) * bases_.size() + base];
  }

  // InvalidArgument for options that are out of range (no base, a repeated
  // or "stacked" base, folds < 2), for an unknown base kind, or for fewer
  // distinct query vectors than folds; a base's Fit error, naming the base
  // and the fold. On error the router is unchanged.
  absl::Status Fit(const Dataset& data, const Catalog& catalog) override;
  absl::Status Estimate(const Query& query, Estimates* out) const override;
  absl::Status EstimateBatch(absl::Span<const Query> queries,
                             absl::Span<Estimates> out) const override;
  absl::Status Observe(const Feedback& feedback) override;
  bool learns_online() const override;
  // Onboards on a copy of every base first. A base whose OnboardModel is
  // Unimplemented is left without the model (weight 0 in it); any other
  // base error, or no base able to onboard, leaves the router unchanged.
  absl::Status OnboardModel(const Profile& profile, const Dataset& labelled) override;
  absl::Status RemoveModel(std::string_view name) override;
  absl::StatusOr<std::unique_ptr<Router>> Clone() const override;
  std::vector<std::pair<std::string, std::string>> Describe() const override;
  // The state holds each base's own state with its kind; LoadState makes
  // the bases through the factory and checks that they agree with the
  // stacked router's catalog and dimension, and that each model's weights
  // are finite, >= 0 and sum to 1.
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view state) override;

 private:
  // Unfitted bases of `options` (this router's, or a state's being loaded).
  absl::StatusOr<std::vector<std::unique_ptr<Router>>> MakeBases(
      const StackedOptions& options) const;
  absl::StatusOr<std::vector<std::unique_ptr<Router>>> CloneBases() const;
  void Combine(absl::Span<const Estimates> base_estimates, Estimates* out) const;

  StackedOptions options_;
  BaseFactory make_base_;
  // The fitted state, replaced whole by Fit, OnboardModel, RemoveModel and
  // LoadState.
  Catalog catalog_;
  int dim_ = 0;
  std::vector<std::unique_ptr<Router>> bases_;
  std::vector<double> weights_;  // catalog.size() x bases, row-major
  // Per base, each catalog model's index in the base's catalog; -1 where a
  // base that cannot onboard lacks an onboarded model (its weight is 0).
  std::vector<std::vector<int>> base_columns_;
  int lead_base_ = 0;            // whose evidence Estimate reports
};

// The convex weights of step 3 above: argmin ||scores - predictions w||^2
// over w >= 0, sum w = 1. `predictions` is rows x bases, row-major; rows
// whose score is NaN are skipped. With no rows, equal weights. Exposed for
// tests and tools. InvalidArgument for bases < 1, sizes that do not match,
// or a scored row with a non-finite prediction, or an infinite score.
ROUTER_EXPORT absl::StatusOr<std::vector<double>> ConvexWeights(
    absl::Span<const double> predictions, absl::Span<const double> scores, int bases);

}  // namespace router

#endif  // ROUTER_STACKED_ROUTER_H_
