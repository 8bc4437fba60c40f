// The bytes of StateSync's rows (router/state_sync.h): a replica's payload,
// and the archive row that holds the sum of the replicas that retired
// (StateSync::Retire). Both are framed alike, a magic, a version and a
// CRC-32 of everything before it, so a damaged row is refused before
// anything reads it:
//   1: replica, life, base, learned statistics, policy kind, counters.
//   2: the same, then the models added at run time: their profiles (as a
//      catalog) and each one's origin, the replica that onboarded it.
//   3: the same as 1, then the run-time catalog changes
//      (internal/synced_catalog.h): per model added at run time its
//      onboardings (origin, id, profile); the removed onboardings
//      (tombstones); the price changes.
//   4: an archive, only in an archive row (IsArchiveRow): the same as 1
//      (replica: the row's name, life 0; the learned statistics, policy
//      kind and counters are sums over the retired replicas), then the
//      retired (replica id, life) pairs it holds, oldest first.
// A payload without run-time catalog changes is written as version 1, which
// replicas of older builds still read; version 2 is read, never written. An
// older build refuses the archive (version 4) and counts it in `rejected`.
#ifndef ROUTER_INTERNAL_SYNC_PAYLOAD_H_
#define ROUTER_INTERNAL_SYNC_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "internal/synced_catalog.h"

namespace router::internal {

// Archive rows' names start with this: '~' is never in a replica id
// (sync_names.h), so no replica can write over one. Builds before archives
// were kept per fitted file wrote the prefix alone; readers still add it.
inline constexpr char kArchivePrefix[] = "~retired";

// The archive row of the replicas of fitted file `base` (Router::shared_base;
// 0 for none) whose policy is of kind `policy_kind`: one archive per pair,
// so that replicas of a new file (a rollout) or another policy retire into
// an archive of their own, which only ever grows. "~retired.<base in
// hex>.<kind>", the kind as its fingerprint when it is not a plain name.
std::string ArchiveRow(uint64_t base, std::string_view policy_kind);
bool IsArchiveRow(std::string_view row);
// The archive keeps the most recent retirements. Older ones are only needed
// by a reader that still holds a row of such a replica, read before that
// many later retirements: it would add that replica's last row once more.
inline constexpr size_t kMaxRetired = 4096;

using Retired = std::pair<std::string, uint64_t>;  // (replica id, life)

struct Payload {
  std::string replica;
  uint64_t life = 0;
  uint64_t base = 0;  // 0: no learned statistics
  std::string learned;
  std::string policy_kind;
  std::vector<double> counters;
  SyncedCatalog catalog;
  std::vector<Retired> retired;  // the archive's (version 4) only
};

// The payload's bytes: version 4 for an archive row, else 1 or 3.
std::string Encode(const Payload& p);
// Checks and reads the payload of row `row`. DataLoss (or InvalidArgument
// for a version this build does not read) naming what is wrong.
absl::StatusOr<Payload> Decode(std::string_view bytes, std::string_view row);

// An archive row's version in the store: a 64-bit fingerprint of its bytes
// (never 0, which means "no row"). The archive is rewritten by any replica,
// and again after a store was emptied, so a counter could give two
// contents one version; a fingerprint cannot (but by a 2^-64 chance).
uint64_t ArchiveVersion(std::string_view payload);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_SYNC_PAYLOAD_H_
