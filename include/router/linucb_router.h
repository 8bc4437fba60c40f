// File: router/linucb_router.h
//
// LinUcbRouter: a contextual bandit that keeps learning from the feedback of
// routed requests. Disjoint LinUCB (Li, Chu, Langford and Schapire, WWW 2010):
// every model ("arm") m has its own ridge regression of the score on a
// context x (c numbers):
//
//   A_m = ridge * I + sum_t x_t x_t^T        (c x c)
//   b_m = ridge * prior + sum_t r_t x_t      (prior = prior_quality on the bias)
//   theta_m = A_m^-1 b_m
//   quality_m     = clamp(theta_m^T x, 0, 1)                 (ModelEstimate::quality)
//   uncertainty_m = alpha * sqrt(x^T A_m^-1 x)               (ModelEstimate::uncertainty)
//   support_m     = number of updates of arm m (warm start + online + onboarding rows)
//
// The router does not choose. The bandit's choice, argmax of
// quality + uncertainty (minus lambda * cost), is a Policy's job: a policy
// that adds the uncertainty is optimistic and explores; one that reads only
// quality exploits. With alpha = 0 the uncertainty is 0, so every policy
// exploits purely; alpha scales the confidence width (Li et al.'s theory
// gives 1 + sqrt(ln(2/delta)/2); in practice it is tuned). An arm without data
// predicts prior_quality with the widest uncertainty.
//
// Context. The query vector is L2-normalised (the zero vector stays zero),
// centred on the training mean and projected on the top principal components
// of the Fit data (at most context_dim of them, fewer when the data's
// numerical rank is lower), then a bias term 1 is appended: c = reduced + 1.
// Optionally (LinUcbOptions::clusters = K > 0) the one-hot of the nearest of
// K k-means centroids of the training vectors goes between the two, c =
// reduced + K + 1: a linear model on an embedding fits per-topic differences
// poorly, and the cluster indicators let each arm learn a quality per region
// (GreenServ's bandit context has such a semantic-cluster one-hot).
// The PCA is exact (symmetric eigen-decomposition of the covariance) up to
// 1024 input dimensions and a seeded randomized subspace iteration above;
// each component's sign is fixed so that its largest-magnitude entry is
// positive. Without `whiten` the components are scaled together so that the
// training contexts have mean squared norm 1 (the bias's), which makes
// `ridge` about the same number of pseudo-observations for every embedding;
// with `whiten` each component is scaled to unit variance. Normalising first
// bounds every context, which keeps the arms' statistics finite however
// extreme the inputs. The projection is part of the saved state.
//
// Tuning. The defaults are the textbook ones. Learning from bandit feedback
// alone on llmrouter-9model, context_dim = 32, clusters = 16, ridge = 10,
// prior_quality = 0.8 and alpha = 0.2 did better (examples/configs/
// linucb-bandit.json; docs/results.md, "Learning from bandit feedback").
// Routed through a Pipeline, the policy ranks by quality + uncertainty
// (PolicyConfig::optimism defaults to 1 for this router), which is what makes
// it explore.
//
// Cost. ModelEstimate::expected_cost_usd is the running mean of the costs
// observed for the arm (Fit data and feedback; a reported cost of 0 counts as
// an observation), or the catalog price for the query's tokens until the arm
// has one. The policy's lambda * cost applies on top of the reward, which is
// the score alone, so one trained bandit serves every lambda.
//
// Learning. Fit learns the projection and, with warm_start, replays the
// labelled rows: every row with a score for model m updates arm m (the data
// are full-information, so every model learns from every row). Observe then
// learns from one routed request; OnboardModel adds an arm (from the labelled
// rows it is given, else at the prior, where its wide confidence makes an
// optimistic policy try it); RemoveModel drops one.
//
// Numerics. A_m^-1 is kept by Sherman-Morrison rank-one updates, O(c^2) per
// update and no inversion. The update is exactly symmetric (u u^T / (1 +
// x^T u) with u = A^-1 x), so rounding drift shows only as a loss of accuracy;
// every `reinvert_every` updates of an arm A_m^-1 is recomputed from A_m (a
// Cholesky solve, O(c^3), then symmetrised), which bounds the drift, and an
// update whose Sherman-Morrison denominator is not >= 1 or not finite (only
// possible after drift) re-inverts at once. Contexts are bounded (see above),
// so a storm of feedback, however long and whatever its scores, keeps the
// estimates finite; A only grows, so old feedback is never forgotten (no
// discounting: a model whose quality changes adapts at the rate 1/updates).
// Snapshot::InverseResidual reports max |A A^-1 - I| for monitoring.
//
// Indexes and concurrency. The router's state is an immutable snapshot
// (catalog, projection, one immutable arm per model) published through a
// shared pointer. Estimate, EstimateBatch, dim() and catalog() take the
// current snapshot and never wait for an update: they may run from any number
// of threads while Observe, OnboardModel, RemoveModel, Fit and LoadState run.
// Writers are serialised by a mutex; each builds a new snapshot (copying only
// the one arm an update touches) and publishes it atomically, so a reader sees
// every update completely or not at all, and no update is lost.
//   * An Estimates is indexed like the catalog of the snapshot that made it.
//     OnboardModel appends (existing indexes stay); RemoveModel shifts the
//     models after the removed one down by one. A caller that needs names for
//     the indexes while models can change must take both from one snapshot:
//     `auto s = router.snapshot(); s.Estimate(q, &e); s.catalog().at(i)` (or
//     the 3-argument Estimate, which returns the catalog it used). Calling
//     Estimate() and then catalog() separately can straddle a change: a single
//     onboard or removal then shows as a size mismatch (which a Policy
//     rejects), but a removal plus an onboard in between would go unnoticed.
//   * catalog() returns the catalog current at the call. The reference stays
//     valid for the router's lifetime (every published catalog is kept; they
//     change only on Fit, LoadState, OnboardModel and RemoveModel).
//   * Once RemoveModel returns, no Estimate that starts afterwards lists the
//     model, and Observe for it fails with NotFound (nothing changes: the host
//     may ignore that error). Estimates already running may still list it.
//   * Fit and LoadState replace the whole state; feedback accepted before they
//     publish is not carried over.
#ifndef ROUTER_LINUCB_ROUTER_H_
#define ROUTER_LINUCB_ROUTER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/router.h"

namespace router {

namespace internal {
struct LinUcbLearned;
struct LinUcbState;
}  // namespace internal

struct LinUcbOptions {
  static constexpr const char* kKind = "linucb";  // PipelineConfig::router
  // Principal components kept (the context has one more number, the bias).
  // In [1, 1024]; Fit lowers it to the input dimension and the data's rank.
  int context_dim = 64;
  // Width of the confidence bonus reported as uncertainty; finite, >= 0.
  // 0 = pure exploitation.
  double alpha = 0.3;
  // Ridge regularisation: A starts at ridge * I; finite, > 0.
  double ridge = 1.0;
  // Score an arm predicts before it has data (the ridge pulls towards it);
  // in [0, 1].
  double prior_quality = 0.5;
  // Seed of the randomized PCA (above 1024 input dimensions) and of k-means.
  uint64_t seed = 42;
  // Fit replays the labelled rows into the arms; false: Fit learns only the
  // projection and every arm starts at the prior (pure online learning).
  bool warm_start = true;
  // Each arm's A^-1 is recomputed from A after this many updates; >= 1.
  int reinvert_every = 256;
  // Scale each principal component to unit variance (else all together).
  bool whiten = false;
  // k-means clusters learned at Fit (0 = none, the default): when > 0 the
  // context also holds the one-hot of the query's nearest centroid, so each
  // arm learns a quality per cluster on top of the linear part (the
  // "semantic cluster" feature of GreenServ). In [0, 1024]; lowered to the
  // number of rows.
  int clusters = 0;
};

// InvalidArgument naming the first option out of range.
ROUTER_EXPORT absl::Status ValidateLinUcbOptions(const LinUcbOptions& options);

// An immutable view of the router's state at one moment: estimates made
// through it are indexed like its catalog(), whatever happens to the router
// meanwhile. Cheap to copy (a shared pointer); thread-safe.
class ROUTER_EXPORT LinUcbSnapshot {
 public:
  LinUcbSnapshot(const LinUcbSnapshot&) = default;
  LinUcbSnapshot& operator=(const LinUcbSnapshot&) = default;
  ~LinUcbSnapshot();

  // 0 before Fit.
  int dim() const;
  // Context dimension c (principal components + clusters + bias); 0 before
  // Fit.
  int context_dim() const;
  const Catalog& catalog() const;
  const LinUcbOptions& options() const;
  // Increases with every published change (update, onboard, removal, fit, load).
  uint64_t version() const;
  // Feedback applied by Observe since the last Fit or LoadState (saved).
  int64_t online_updates() const;

  absl::Status Estimate(const Query& query, Estimates* out) const;
  absl::Status EstimateBatch(absl::Span<const Query> queries, absl::Span<Estimates> out) const;

  // Updates of model `index`'s arm (its support), or -1 for a bad index.
  int64_t updates(int index) const;
  // max |A A^-1 - I| of model `index`'s arm (drift of the kept inverse), or
  // NaN for a bad index.
  double InverseResidual(int index) const;

 private:
  friend class LinUcbRouter;
  explicit LinUcbSnapshot(std::shared_ptr<const internal::LinUcbState> state);
  std::shared_ptr<const internal::LinUcbState> state_;
};

class ROUTER_EXPORT LinUcbRouter : public Router {
 public:
  // The options are checked by Fit (ValidateLinUcbOptions).
  explicit LinUcbRouter(LinUcbOptions options = {});
  ~LinUcbRouter() override;
  LinUcbRouter(const LinUcbRouter&) = delete;
  LinUcbRouter& operator=(const LinUcbRouter&) = delete;

  std::string_view kind() const override { return "linucb"; }
  bool learns_online() const override { return true; }
  int dim() const override;
  // The current catalog; see "Indexes and concurrency" above.
  const Catalog& catalog() const override;
  // The current options (LoadState replaces them).
  LinUcbOptions options() const;

  // The current state; estimates through it are indexed like its catalog.
  LinUcbSnapshot snapshot() const;

  // Every catalog model must have a column with a score in `data` when
  // warm_start is on; with it off, only the vectors are used. On error the
  // router is unchanged.
  absl::Status Fit(const Dataset& data, const Catalog& catalog) override;
  absl::Status Estimate(const Query& query, Estimates* out) const override;
  // As Estimate, and sets *catalog to the catalog `out` is indexed like.
  absl::Status Estimate(const Query& query, Estimates* out,
                        std::shared_ptr<const Catalog>* catalog) const;
  // One snapshot for the whole batch.
  absl::Status EstimateBatch(absl::Span<const Query> queries,
                             absl::Span<Estimates> out) const override;

  // One Sherman-Morrison update of the arm of feedback.model with the
  // feedback's context and score. InvalidArgument for a vector of the wrong
  // dimension or with a non-finite value, a score outside [0, 1] or a cost
  // that is negative or not finite; NotFound for a model not in the catalog;
  // FailedPrecondition before Fit. On error nothing changes.
  absl::Status Observe(const Feedback& feedback) override;

  // Adds an arm for `profile` at the end of the catalog. `labelled` may be
  // empty (no rows): the arm starts at the prior. Otherwise it must carry
  // vectors of dimension dim() and a column for profile.name with at least
  // one score; each scored row updates the arm (and its cost, if any). Fails
  // (InvalidArgument) for a name already in the catalog or an invalid
  // profile; on error nothing changes. Thread-safe with routing.
  absl::Status OnboardModel(const Profile& profile, const Dataset& labelled) override;

  // Removes the model's arm; the models after it move down one index.
  // NotFound for an unknown name, FailedPrecondition for the last model.
  // Thread-safe with routing; see "Indexes and concurrency" above.
  absl::Status RemoveModel(std::string_view name) override;

  // Options, catalog, projection, every arm's A, A^-1, b, counts and costs,
  // and the online update count. Loading and saving again gives the same
  // bytes. LoadState validates everything first and is thread-safe with
  // routing.
  absl::StatusOr<std::unique_ptr<Router>> Clone() const override;

  // Replicas share arms (Router::SaveLearned): the statistics are, per arm,
  // the sums of z z^T and r z, the update count and the observed costs of
  // this router's own Observe calls since its base, and of the labelled rows
  // of the models it onboarded since (so a replica that adds such a model at
  // the prior, then these statistics, has the arm this router onboarded;
  // StateSync does that). AddLearned adds another
  // replica's increments to the arms of the same name and re-inverts them,
  // checking them first (finite, counts that do not fall, A's increment
  // positive semi-definite in its diagonal and Cauchy-Schwarz bounds).
  uint64_t shared_base() const override;
  absl::Status SaveLearned(std::string* out) const override;
  absl::Status AddLearned(std::string_view now, std::string_view before,
                          bool adopt = false) override;
  absl::StatusOr<std::string> LearnedWithout(
      std::string_view learned, const std::vector<std::string>& models) const override;
  absl::StatusOr<std::string> SumLearned(std::string_view a, std::string_view b) const override;

  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view state) override;
  std::vector<std::pair<std::string, std::string>> Describe() const override;

 private:
  std::shared_ptr<const internal::LinUcbState> Current() const;
  // Publishes `next` (the caller holds update_mu_), keeping its catalog
  // alive.
  void Publish(std::shared_ptr<internal::LinUcbState> next);

  // std:: (pthread) locks rather than absl::Mutex: Debian's Abseil is not
  // built with TSan, so TSan cannot see absl::Mutex's synchronisation.
  // Serialises writers (Fit's publication, Observe, OnboardModel,
  // RemoveModel, LoadState, AddLearned) and guards own_learned_.
  mutable std::mutex update_mu_;
  // This router's own learning per arm since its base, indexed like the
  // current catalog (Router::SaveLearned). Kept outside the published state
  // so that Observe adds to it in place instead of copying it.
  std::vector<internal::LinUcbLearned> own_learned_;
  // Guards state_ and catalogs_; held only to copy or swap the pointer
  // (shared by readers, exclusive in Publish).
  mutable std::shared_mutex state_mu_;
  std::shared_ptr<const internal::LinUcbState> state_;
  // Every catalog ever published, so that catalog() references stay valid.
  std::vector<std::shared_ptr<const Catalog>> catalogs_;
};

}  // namespace router

#endif  // ROUTER_LINUCB_ROUTER_H_
