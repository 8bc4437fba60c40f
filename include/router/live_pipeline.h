// File: router/live_pipeline.h
//
// LivePipeline holds the Pipeline a server routes with and lets it be
// replaced while routes are in flight: a route takes a snapshot (a shared
// pointer to an immutable Pipeline) and finishes on it even if a reload
// swaps in a new one meanwhile. The old pipeline is freed when its last
// route ends.
//
//   router::LivePipeline live(std::move(fitted));
//   auto snapshot = live.Snapshot();        // per request
//   snapshot->RouteText(prompt, &decision);
//   live.Reload("model-v2.router");         // from any thread, any time
//
// Thread safety: every method may be called from many threads at once.
// Snapshot() takes a reader lock for as long as it takes to copy a shared
// pointer; Reload loads and validates the file before taking the lock, so
// routes never wait for disk.
#ifndef ROUTER_LIVE_PIPELINE_H_
#define ROUTER_LIVE_PIPELINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <mutex>
#include <shared_mutex>

#include "absl/status/status.h"
#include "router/export.h"
#include "router/pipeline.h"

namespace router {

namespace internal {
class DecisionLog;
struct SyncedCatalog;
struct SyncPlanned;
}  // namespace internal
class StateSync;

class ROUTER_EXPORT LivePipeline {
 public:
  // `pipeline` must not be null.
  explicit LivePipeline(std::unique_ptr<Pipeline> pipeline,
                        size_t decision_log_capacity = 65536);
  ~LivePipeline();

  // The pipeline to route one request (or a batch) with.
  std::shared_ptr<const Pipeline> Snapshot() const;

  // Routes with the current pipeline. When its router learns online, the
  // decision is logged and gets an id (Decision::id) for Feedback.
  absl::Status Route(const Query& query, Decision* out) const;
  absl::Status RouteText(std::string_view text, Decision* out,
                         const RequestOverrides* overrides = nullptr) const;

  // Reports the outcome of decision `decision_id`: the observed score in
  // [0, 1] and cost in USD. InvalidArgument for a bad score or cost (the id
  // stays valid); NotFound for an unknown, already reported or expired id
  // (the log keeps the last `decision_log_capacity` decisions), or for a
  // model removed since. Applied to the current pipeline's router.
  absl::Status Feedback(uint64_t decision_id, double score, double cost_usd) const;
  // Reports an outcome with the query vector itself.
  absl::Status Observe(const router::Feedback& feedback) const;
  // Adds another replica's learned statistics to the current pipeline's
  // router (Pipeline::AddLearned), serialised with AddModel and RemoveModel
  // like Observe, so none lands on an outgoing copy. StateSync calls it.
  absl::Status AddLearned(std::string_view now, std::string_view before, bool adopt) const;
  // Reports what a decision really cost to the current policy
  // (Policy::RecordRealisedCost): a budget policy paces on it.
  absl::Status RecordRealisedCost(double expected_cost_usd, double realised_cost_usd) const;

  // Loads `path` (Pipeline::Load) and, if it is valid, makes it the current
  // pipeline. On error the current pipeline keeps serving and the status
  // says why the file was refused.
  absl::Status Reload(const std::string& path);

  // Makes `pipeline` (not null) the current pipeline. It has no models
  // added at run time (AddModel) as far as StateSync is concerned.
  void Replace(std::unique_ptr<Pipeline> pipeline);

  // Run-time catalog and policy changes (Pipeline::WithoutModel and
  // friends), applied to the current pipeline and swapped in. Changes are
  // serialised with each other and with Reload, so none is lost; routes
  // never wait for them. Once RemoveModel returns, no route that starts
  // afterwards can choose the model. On error nothing changes.
  absl::Status RemoveModel(std::string_view name);
  // A whole new profile; under a StateSync it stays this replica's own.
  absl::Status SetProfile(const Profile& profile);
  // New prices for model `name`, the rest of its profile as it is when the
  // change applies (Pipeline::WithPrice). Under a StateSync the change
  // reaches the other replicas of the same fitted file, and of concurrent
  // changes of one model every replica keeps the same one, the last by a
  // hybrid logical clock (router/state_sync.h).
  absl::Status SetPrice(std::string_view name, double input_usd_per_mtok,
                        double output_usd_per_mtok);
  // AddModel and RemoveModel change a copy of the router (Router::Clone).
  // Feedback and Observe wait while they run, so an online router loses no
  // update to the outgoing copy; routes do not wait. Under a StateSync, a
  // model added here reaches the other replicas (router/state_sync.h), and
  // the removal of a model added at run time (here or elsewhere) reaches
  // them too; sync never brings a removed onboarding back. Removing a
  // model of the fitted file stays this replica's own.
  absl::Status AddModel(const Profile& profile, const Dataset& labelled);
  absl::Status SetPolicy(const PolicyConfig& policy);
  // Marks a model down (skipped by every policy) or up again.
  absl::Status SetAvailable(std::string_view name, bool available);
  // Recalibrates the threshold policy on `sample`
  // (Pipeline::WithCalibratedThreshold); returns the new threshold.
  absl::StatusOr<double> CalibrateThreshold(absl::Span<const Query> sample, double strong_share);

  // How many times the pipeline was replaced (0 for the first one).
  uint64_t generation() const;

 private:
  friend class StateSync;
  // Set by the first StateSync::Start: a second one would add again what
  // the first already merged into the router.
  std::atomic<bool> synced_{false};

  using EditSynced = std::function<void(internal::SyncedCatalog*)>;

  // The current pipeline, and in `synced` its run-time catalog changes
  // (models added at run time, removals, price changes: StateSync shares
  // them), read together.
  std::shared_ptr<const Pipeline> Snapshot(
      std::shared_ptr<const internal::SyncedCatalog>* synced) const;
  // What a sync round changes, given the pipeline and its catalog changes.
  using SyncPlan =
      std::function<internal::SyncPlanned(const Pipeline&, const internal::SyncedCatalog&)>;
  using SyncThen = std::function<void(const Pipeline&, const internal::SyncedCatalog&)>;
  // For StateSync: applies what `plan` returns for the current pipeline (its
  // changes in order: a model its router lacks is added at the prior,
  // AddModel with no rows; one it has takes the profile, keeping its
  // availability; a removed one is removed), skipping those the pipeline
  // refuses (each error in `refused`), records the plan's catalog changes,
  // and calls `then` on the result before any route sees it. Feedback waits
  // meanwhile, as for AddModel. Without changes to the pipeline, `then` gets
  // the current pipeline while feedback runs, as AddLearned does.
  void ApplySynced(const SyncPlan& plan, const SyncThen& then, std::vector<absl::Status>* refused);

  // Applies `change` to the current pipeline and swaps the result in, with
  // `edit` applied to the run-time models (none: they stay).
  template <typename Change>
  absl::Status Update(Change change, const EditSynced& edit = {});
  // Makes `next` current, and `synced` (unless null) its catalog changes.
  void Swap(std::shared_ptr<const Pipeline> next,
            std::shared_ptr<const internal::SyncedCatalog> synced);

  // Internally synchronised; behind a pointer so that its header stays out
  // of the installed set.
  std::unique_ptr<internal::DecisionLog> decisions_;
  // Standard (pthread) locks rather than absl::Mutex: ThreadSanitizer sees
  // through them, and Debian's Abseil is not built for it.
  // Held by writers for a whole change, so two changes do not race.
  std::mutex update_mutex_;
  // Shared by Feedback and Observe; held exclusively by AddModel and
  // RemoveModel, whose new pipeline has a copy of the router, so no update
  // lands on the outgoing copy alone. Routes never take it. Taken before
  // update_mutex_.
  mutable std::shared_mutex observe_mutex_;
  mutable std::shared_mutex mutex_;
  std::shared_ptr<const Pipeline> current_;  // guarded by mutex_
  // Never null; guarded by mutex_, changes with current_.
  std::shared_ptr<const internal::SyncedCatalog> synced_catalog_;
  uint64_t generation_ = 0;                  // guarded by mutex_
};

}  // namespace router

#endif  // ROUTER_LIVE_PIPELINE_H_
