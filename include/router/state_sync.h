// File: router/state_sync.h
//
// StateSync lets the replicas of one deployment share what they learn and
// what they spend. Each replica routes on its own LivePipeline; a StateSync
// beside it publishes, through a SyncStore (router/sync_store.h; Redis in
// production), the replica's own contributions since it started:
//   - its router's learned statistics (Router::SaveLearned: LinUCB's per-arm
//     sums), exchanged only between replicas of the same fitted file
//     (Router::shared_base);
//   - its policy's counters (Policy::SharedCounters: a budget policy's spend
//     and requests, a threshold policy's decisions), exchanged between
//     replicas whose policies are of the same kind;
//   - the models added to it at run time (LivePipeline::AddModel), each
//     with its profile and its origin (the replica that onboarded it), which
//     travel with the learned statistics (same base). The statistics carry
//     the onboarded arm's start (its labelled rows' sums), so a replica that
//     lacks the model adds it at the prior (AddModel with no rows, so the
//     policy and catalog take it as they take a local one) and then the
//     statistics, before any route sees it; from then on it merges like any
//     other arm. A replica that has the name already does not add it again.
//     When several replicas onboard one name, their arms' statistics add up
//     (the labelled rows of each count once) and every replica takes the
//     profile published by the lowest origin (replica ids compared as byte
//     strings), whatever order the rows arrive in; a model from this
//     replica's own file is left alone;
//   - the removals of models added at run time (LivePipeline::RemoveModel):
//     a tombstone per onboarding (origin replica and a random id), which
//     every replica republishes, so a removed onboarding is removed once
//     everywhere and never taken from a row again, while a later AddModel
//     of the name (another onboarding) travels as a first one does;
//   - price changes (LivePipeline::SetPrice) of every model: per model the
//     greatest (hybrid logical clock, replica id) wins everywhere;
// and adds to its own pipeline what every other replica published since it
// last looked (the increment between two of their payloads).
//
// Why whole contributions and not a stream of deltas: a contribution only
// grows, so applying "now - what I applied before" is idempotent. A replica
// that missed rounds, a store that lost a write or was restarted empty, a
// replica that comes back after an outage: each catches up with one read
// and nothing is counted twice or lost (Redis down means the contribution
// waits in the replica, whole; there is no buffer to overflow). A store
// holds one row per replica id, so its size is bounded by the number of
// replicas, not by history. A new replica reads every row once. A replica
// restarted under the same id adopts its previous row (Router::AddLearned
// with adopt), so its earlier learning is neither lost nor counted twice.
//
// Retiring: a replica that leaves for good (a pod deleted at a rollout)
// calls Retire() before it is destroyed. Its last contribution is added to
// an archive row shared by the replicas of its fitted file and policy kind,
// and its own row deleted, in one atomic step of the store, so the store
// holds one row per live replica plus one archive per (file, policy kind)
// that retired replicas, rather than one per replica id that ever ran.
// Readers move what they had added from that replica into what they added
// from its archive, so nothing is counted twice or lost; a new replica adds
// every archive whole (statistics from its own file's, counters from every
// one of its policy kind, as for rows). A replica killed instead keeps its
// row, which keeps counting, until a live replica folds it (Fold) once the
// host knows it is gone.
//
// Consistency: routes never wait for the network. A route sees other
// replicas' learning at most one interval plus one store round trip late
// (bounded staleness); SyncNow() rounds on demand.
//
//   auto store = router::RedisSyncStore::Connect(redis_options);
//   auto sync = router::StateSync::Start(&live, *std::move(store), {.replica_id = "pod-3"});
//   ... (*sync)->status() ...
//
// Thread safety: status(), SyncNow() and Retire() may be called from any
// thread.
#ifndef ROUTER_STATE_SYNC_H_
#define ROUTER_STATE_SYNC_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "router/export.h"
#include "router/live_pipeline.h"
#include "router/sync_config.h"
#include "router/sync_store.h"

namespace router {
namespace internal {
struct Payload;
}  // namespace internal

struct SyncOptions {
  // This replica's name in the store: unique in the deployment, and best
  // kept across restarts (a pod name), so a restarted replica takes its
  // row back. Letters, digits and "-_.:"; 1 to 128 characters.
  std::string replica_id;
  // Milliseconds between rounds on the sync thread; 0 starts no thread
  // (the host calls SyncNow). In [0, 3600000].
  int interval_ms = 200;
};

// The SyncOptions of a config's "sync" block (router/sync_config.h): its
// interval, and its replica_id or, when that is empty, DefaultReplicaId().
ROUTER_EXPORT SyncOptions SyncOptionsFromConfig(const SyncConfig& config);

struct SyncStatus {
  bool connected = false;       // the last round reached the store
  int64_t rounds = 0;           // rounds that reached the store
  int64_t failed_rounds = 0;    // rounds that did not (store unreachable)
  int64_t published = 0;        // payloads this replica wrote
  int64_t applied = 0;          // other replicas' payloads added
  int64_t rejected = 0;         // payloads (or models in them) refused: corrupt,
                                // hostile, another base, a newer payload version
  int64_t replicas = 0;         // rows in the store at the last round, this one included
                                // (the archives of retired replicas are not)
  // Milliseconds since the last round that reached the store (-1: never):
  // how stale this replica's view of the others may be.
  int64_t lag_ms = -1;
  // The last refusal or store error, for logs ("" if none).
  std::string last_error;
  // The other replicas' rows in the store at the last round (archives
  // aside), by replica id, each with the milliseconds since this replica
  // saw it change, or first saw it: where a host looks for the rows of
  // replicas that are gone (StateSync::Fold). A hint, not proof: an idle
  // replica publishes nothing, so its row does not change either.
  struct Row {
    std::string replica;
    int64_t unchanged_ms = 0;
  };
  std::vector<Row> rows;
};

class ROUTER_EXPORT StateSync {
 public:
  // Starts sharing `live`'s state (which must outlive the StateSync)
  // through `store`. InvalidArgument for bad options; FailedPrecondition
  // when `live` has had a StateSync before (its router holds what that one
  // merged: a restarted replica is a new LivePipeline loaded from the file).
  // The first round runs before Start returns when it can reach the store
  // (its failure is not an error: the thread retries).
  static absl::StatusOr<std::unique_ptr<StateSync>> Start(LivePipeline* live,
                                                          std::shared_ptr<SyncStore> store,
                                                          SyncOptions options);
  // Stops the thread after one last round.
  ~StateSync();
  StateSync(const StateSync&) = delete;
  StateSync& operator=(const StateSync&) = delete;

  // One round now, on the caller's thread: read what changed, add it, and
  // publish this replica's contribution if it changed. Unavailable when the
  // store cannot be reached.
  // FailedPrecondition ("retired") after Retire.
  absl::Status SyncNow();

  // For a replica leaving for good: runs a last round, then folds this
  // replica's contribution into the archive row of its fitted file and
  // policy kind and deletes its own row, atomically (SyncStore::Swap; a
  // lost race is read again and retried). After it succeeds the StateSync
  // runs no more rounds, not even in its destructor. On error nothing was
  // folded and the row stays and counts: Unavailable (store unreachable),
  // Aborted (lost the race each time), FailedPrecondition (already
  // retired, or the archive row holds another file's statistics or another
  // kind's counters, which only a hostile write puts there), Unimplemented
  // (a store without Swap), DataLoss (a damaged archive).
  absl::Status Retire();

  // Folds the row of replica `replica_id`, known to be gone for good (its
  // process killed, its node lost, with no restart under that id), into the
  // archive of its fitted file and policy kind, as its own Retire would
  // have, and deletes the row: what it published still counts, once, and
  // the store no longer holds it. Run by a host that knows the replica is
  // gone (an orchestrator's pod list). Runs a round first. A replica
  // folded while still alive finds its row in the archive at its next
  // round and stops syncing (FailedPrecondition); what it learned after the
  // fold is not shared. Errors change nothing: InvalidArgument (not a
  // replica id, or this replica's own: it retires), NotFound (no such row),
  // FailedPrecondition (a row of another fitted file, which a replica of
  // that file folds; or this replica retired), Aborted (the archive or the
  // row kept changing: is it alive?), Unavailable, Unimplemented (a store
  // without Swap), DataLoss (a damaged row or archive).
  absl::Status Fold(std::string_view replica_id);

  SyncStatus status() const;

 private:
  StateSync(LivePipeline* live, std::shared_ptr<SyncStore> store, SyncOptions options);
  absl::Status RoundLocked();
  // Folds `replica`'s contribution (this replica's own: Retire) into its
  // archive row and deletes its row, in one swap of the store.
  absl::Status FoldLocked(const std::string& replica);
  struct Archive;
  // Adds an archive row's increment (`bytes`, read as `archive`) to `next`
  // and `policy`, moving what was added from the replicas it retired into
  // what was added from it (`held`). On error (refused statistics) nothing
  // changed, but when only the counters were refused.
  absl::Status ApplyArchive(const Pipeline& next, const Policy& policy,
                            const std::vector<std::string>& restarted_here, Archive* held,
                            internal::Payload archive, std::string bytes);
  // Whether a row of this (replica, life) is stale: an archive holds it.
  bool IsRetired(const std::pair<std::string, uint64_t>& replica_life) const;
  // Counts a round's outcome in status_.
  void Record(const absl::Status& round);
  void Run();

  // The onboardings (origin, id) of each model added at run time: an arm
  // whose set shares none with an earlier one started again.
  using Arms = std::map<std::string, std::vector<std::pair<std::string, uint64_t>>>;
  // What was added from one other replica: its last payload's parts.
  struct Applied {
    uint64_t life = 0;
    uint64_t base = 0;
    std::string learned;
    Arms arms;
    std::string policy_kind;
    std::vector<double> counters;
  };

  LivePipeline* live_;
  std::shared_ptr<SyncStore> store_;
  SyncOptions options_;
  uint64_t life_;  // this run's id, random; adopted from a previous row

  std::mutex round_mutex_;  // one round at a time; guards what follows
  bool adopted_ = false;    // the previous run's row was looked for
  uint64_t version_ = 0;
  std::string published_;   // the last payload written
  absl::flat_hash_map<std::string, uint64_t> known_;
  absl::flat_hash_map<std::string, Applied> applied_;
  Arms arms_;  // this replica's, at the last round
  bool retired_ = false;  // Retire succeeded: no more rounds
  // One archive row, as this replica last added it.
  struct Archive {
    // What was added from it: its statistics and counters, with those of
    // the retired replicas moved into it (arms: the union of theirs).
    Applied added;
    // The (replica, life) pairs it held, oldest first, and as a set: a
    // later row of one is stale and added no more.
    std::vector<std::pair<std::string, uint64_t>> retired;
    std::set<std::pair<std::string, uint64_t>> retired_set;
    std::string payload;  // its bytes: written back if the store loses it
  };
  std::map<std::string, Archive> archives_;  // by row name
  // This replica's own policy counters: the sum over the policy objects it
  // routed with (a SetPolicy starts a new one), by policy kind.
  absl::flat_hash_map<std::string, std::vector<double>> own_counters_;
  std::shared_ptr<const Pipeline> last_pipeline_;  // keeps last_policy_ alive
  const Policy* last_policy_ = nullptr;
  std::vector<double> last_policy_counters_;

  mutable std::mutex status_mutex_;
  SyncStatus status_;                 // guarded by status_mutex_
  int64_t last_success_ms_ = -1;     // guarded by status_mutex_ (steady clock)
  // When each other replica's row last changed, as seen here (steady
  // clock), for status().rows; guarded by status_mutex_.
  std::map<std::string, int64_t> row_changed_ms_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mutex_
  std::thread thread_;
};

}  // namespace router

#endif  // ROUTER_STATE_SYNC_H_
