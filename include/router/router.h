// File: router/router.h
//
// A Router predicts, for one query, each candidate model's quality, the
// uncertainty of that prediction and the expected cost. It does not choose:
// a Policy (policy.h) turns its Estimates into a Decision. Keeping the two
// apart lets one fitted router serve any cost-quality trade-off, and lets an
// evaluation sweep the trade-off without querying the router again.
//
// Thread safety: after Fit, Estimate and EstimateBatch are const and may be
// called from many threads at once.
#ifndef ROUTER_ROUTER_H_
#define ROUTER_ROUTER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/catalog.h"
#include "router/dataset.h"
#include "router/estimate.h"
#include "router/query.h"

namespace router {

// The outcome of a routed request, reported by the host.
struct Feedback {
  absl::Span<const float> vector;  // the query vector that was routed
  std::string model;               // the model that answered
  double score = 0.0;              // observed quality in [0, 1]
  double cost_usd = 0.0;           // observed cost
};

class ROUTER_EXPORT Router {
 public:
  virtual ~Router() = default;

  // The name of its kind: "knn", "cluster", "mf", "linucb", or the name a
  // host registered it under (RegisterRouterKind).
  virtual std::string_view kind() const = 0;

  // Dimension of the query vectors; 0 before Fit.
  virtual int dim() const = 0;

  // The models this router estimates, in Estimates order.
  virtual const Catalog& catalog() const = 0;

  // Learns from `data` (which must carry vectors) to estimate the models of
  // `catalog`. Every catalog model must be a column of `data`; columns not in
  // the catalog are ignored. On error the router is left unchanged.
  virtual absl::Status Fit(const Dataset& data, const Catalog& catalog) = 0;

  // Fills `out` (resized as needed, its capacity reused) for one query.
  virtual absl::Status Estimate(const Query& query, Estimates* out) const = 0;

  // Estimates for many queries; `out` must have queries.size() elements.
  // The default calls Estimate in a loop.
  virtual absl::Status EstimateBatch(absl::Span<const Query> queries,
                                     absl::Span<Estimates> out) const;

  // Learns from one routed request. Offline routers (kNN) ignore feedback
  // after validating it, and return OK.
  virtual absl::Status Observe(const Feedback& feedback);

  // True for routers that learn from Observe (LinUCB); hosts then keep the
  // query of each decision until its outcome is reported (DecisionLog).
  virtual bool learns_online() const { return false; }

  // Adds a model that was not in the training data, learning its estimates
  // from a small labelled set (the rows of `labelled` with a score for
  // `profile.name`; they must carry vectors) without refitting or changing
  // the other models. Not thread-safe with routing. The default returns
  // Unimplemented; routers that can onboard override it.
  virtual absl::Status OnboardModel(const Profile& profile, const Dataset& labelled);

  // Forgets model `name`: later estimates leave it out and the models after
  // it move up one index. NotFound for an unknown model, FailedPrecondition
  // for the last one. Not thread-safe with routing (LinUCB's is); pipelines
  // remove on a Clone. The default returns Unimplemented.
  virtual absl::Status RemoveModel(std::string_view name);

  // An independent copy of this router, fitted state included: changing one
  // (Observe, OnboardModel) leaves the other as it was. Immutable parts (a
  // kNN index, LinUCB's published arms) are shared, not copied, so a copy
  // costs little. Pipeline::WithModel onboards on a copy. The default
  // returns Unimplemented.
  virtual absl::StatusOr<std::unique_ptr<Router>> Clone() const;

  // Facts about the fitted state, in order, for `router inspect` and hosts'
  // logs: {"index", "hnsw"}, {"reference_rows", "20000"}. Empty by default
  // and before Fit.
  virtual std::vector<std::pair<std::string, std::string>> Describe() const { return {}; }

  // Sharing online learning between replicas of one host (StateSync,
  // router/state_sync.h). A router that learns online can report what it
  // learned from its own Observe calls since its base (its last Fit or
  // LoadState) as additive statistics, and add what other replicas of the
  // same base learned. Replicas that have exchanged everything estimate like
  // one router that saw all their feedback, up to rounding.
  //
  // Identifies the router's base: replicas exchange statistics only when
  // theirs match (the same fitted file). 0 for a router that does not share
  // (the default).
  virtual uint64_t shared_base() const { return 0; }
  // Appends this router's own learned statistics, in its own versioned
  // layout; statistics added by AddLearned are not included. Unimplemented
  // by default.
  virtual absl::Status SaveLearned(std::string* out) const;
  // Adds `now - before`, two SaveLearned outputs of one other replica, the
  // later first; `before` may be empty (nothing added from it yet). A model
  // this router does not have is skipped. FailedPrecondition for another
  // base or context size, DataLoss for bytes that are not valid statistics;
  // on error nothing changes. Thread-safe with routing where Observe is.
  // With `adopt`, the statistics also count as this router's own from then
  // on (SaveLearned includes them): a restarted replica takes back what its
  // previous run published. Unimplemented by default.
  virtual absl::Status AddLearned(std::string_view now, std::string_view before,
                                  bool adopt = false);
  // `learned` (a SaveLearned output) without the statistics of the models
  // in `models`. StateSync passes it as `before` when an arm started again
  // (a model removed and added anew), so that its new statistics are added
  // whole rather than less the old ones. DataLoss for bytes that are not
  // valid statistics; Unimplemented by default.
  virtual absl::StatusOr<std::string> LearnedWithout(
      std::string_view learned, const std::vector<std::string>& models) const;
  // The sum of two SaveLearned outputs of one base, per model (the union of
  // their models); an empty input is nothing. StateSync folds a retired
  // replica's statistics into the archive row with it (StateSync::Retire).
  // InvalidArgument for two bases, DataLoss for bytes that are not valid
  // statistics; Unimplemented by default.
  virtual absl::StatusOr<std::string> SumLearned(std::string_view a, std::string_view b) const;

  // Appends the fitted state (options, catalog, learned parameters) to `out`
  // in this router's own little-endian layout. The saved-file format wraps
  // it with a checksum; nothing else reads it. FailedPrecondition before Fit.
  virtual absl::Status SaveState(std::string* out) const = 0;

  // Replaces the whole state by one SaveState wrote. Validates everything
  // (sizes, finiteness, consistency) before changing anything: on error the
  // router is unchanged and the status (DataLoss for corrupt bytes) names the
  // field. Not thread-safe with routing.
  virtual absl::Status LoadState(std::string_view state) = 0;

 protected:
  // InvalidArgument unless a batch has as many outputs as queries; for
  // EstimateBatch overrides.
  static absl::Status CheckBatchSizes(size_t queries, size_t outputs);
};

// Checks a reported outcome: a score in [0, 1] and a finite cost >= 0.
// InvalidArgument naming the bad figure. Every door that takes feedback
// calls it (Router::Observe, LivePipeline::Feedback).
ROUTER_EXPORT absl::Status ValidateOutcome(double score, double cost_usd);

// Checks that `vector` has `dim` finite elements; the error names `what`.
ROUTER_EXPORT absl::Status ValidateVector(absl::Span<const float> vector, int dim,
                            std::string_view what = "query vector");

}  // namespace router

#endif  // ROUTER_ROUTER_H_
