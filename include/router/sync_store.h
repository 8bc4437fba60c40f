// File: router/sync_store.h
//
// SyncStore is where replicas of one deployment meet (StateSync,
// router/state_sync.h): a table of one payload per replica, each with a
// version that grows when the payload changes. A replica writes only its
// own row and reads the rows that changed since it last looked. Payloads
// are opaque to the store; StateSync validates what it reads.
//
// Two implementations ship: MemorySyncStore (one process: tests and the
// replay simulation) and RedisSyncStore (router/redis_sync_store.h, when the
// library is built with hiredis). Any store with atomic writes of one row
// will do; retiring replicas (StateSync::Retire, StateSync::Fold) also
// needs Swap, a compare-and-swap of one row that deletes another in the
// same step.
//
// Thread safety: a store is used by one StateSync thread at a time;
// MemorySyncStore may be shared by many StateSyncs at once.
#ifndef ROUTER_SYNC_STORE_H_
#define ROUTER_SYNC_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "router/export.h"

namespace router {

struct SyncRow {
  std::string replica;
  uint64_t version = 0;
  std::string payload;
};

class ROUTER_EXPORT SyncStore {
 public:
  virtual ~SyncStore() = default;

  // Replaces `replica`'s row by `payload` at `version`.
  virtual absl::Status Put(std::string_view replica, uint64_t version,
                           std::string_view payload) = 0;

  // The rows whose version differs from `known[replica]` (every row when
  // `known` lacks it), and in `*all` the version of every row present.
  virtual absl::StatusOr<std::vector<SyncRow>> Changed(
      const absl::flat_hash_map<std::string, uint64_t>& known,
      absl::flat_hash_map<std::string, uint64_t>* all) = 0;

  // Swap's `erase_expected` when the erased row may be at any version.
  static constexpr uint64_t kAnyVersion = ~uint64_t{0};

  // Replaces row `row` by `payload` at `version` only if its version is
  // still `expected` (0: the row is absent), and in the same atomic step
  // deletes row `erase` (none when empty), which must be at
  // `erase_expected` (or kAnyVersion). False, changing nothing, when either
  // row is not at its expected version any more: a lost race, to read again
  // and retry. StateSync::Retire and StateSync::Fold fold a replica's row
  // into an archive row with it. Unimplemented by default (that store
  // cannot retire).
  virtual absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                                    std::string_view payload, std::string_view erase,
                                    uint64_t erase_expected);

  // Deletes every row: a deployment's reset (replicas still running write
  // theirs again at their next round).
  virtual absl::Status Clear() = 0;
};

// A store in this process's memory. Shared between the StateSyncs of
// in-process replicas (a std::shared_ptr each); Clear() simulates a store
// restarted empty (as would losing Redis without persistence).
class ROUTER_EXPORT MemorySyncStore : public SyncStore {
 public:
  absl::Status Put(std::string_view replica, uint64_t version,
                   std::string_view payload) override;
  absl::StatusOr<std::vector<SyncRow>> Changed(
      const absl::flat_hash_map<std::string, uint64_t>& known,
      absl::flat_hash_map<std::string, uint64_t>* all) override;
  absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                            std::string_view payload, std::string_view erase,
                            uint64_t erase_expected) override;

  absl::Status Clear() override;
  // While down, every call fails with Unavailable (a network outage).
  void SetDown(bool down);
  // Writes a row directly (tests: hostile payloads).
  void Inject(std::string replica, uint64_t version, std::string payload);

 private:
  std::mutex mutex_;
  std::map<std::string, SyncRow, std::less<>> rows_;  // guarded by mutex_
  bool down_ = false;                                  // guarded by mutex_
};

}  // namespace router

#endif  // ROUTER_SYNC_STORE_H_
