#include "router/sync_store.h"

namespace router {

absl::StatusOr<bool> SyncStore::Swap(std::string_view, uint64_t, uint64_t, std::string_view,
                                     std::string_view, uint64_t) {
  return absl::UnimplementedError("sync store: this store cannot swap rows (retire replicas)");
}

absl::Status MemorySyncStore::Put(std::string_view replica, uint64_t version,
                                  std::string_view payload) {
  std::lock_guard lock(mutex_);
  if (down_) return absl::UnavailableError("memory sync store: down");
  SyncRow& row = rows_[std::string(replica)];
  row.replica = std::string(replica);
  row.version = version;
  row.payload = std::string(payload);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SyncRow>> MemorySyncStore::Changed(
    const absl::flat_hash_map<std::string, uint64_t>& known,
    absl::flat_hash_map<std::string, uint64_t>* all) {
  std::lock_guard lock(mutex_);
  if (down_) return absl::UnavailableError("memory sync store: down");
  std::vector<SyncRow> changed;
  all->clear();
  for (const auto& [replica, row] : rows_) {
    (*all)[replica] = row.version;
    const auto seen = known.find(replica);
    if (seen == known.end() || seen->second != row.version) changed.push_back(row);
  }
  return changed;
}

absl::StatusOr<bool> MemorySyncStore::Swap(std::string_view row, uint64_t expected,
                                           uint64_t version, std::string_view payload,
                                           std::string_view erase, uint64_t erase_expected) {
  std::lock_guard lock(mutex_);
  if (down_) return absl::UnavailableError("memory sync store: down");
  auto version_of = [&](std::string_view name) -> uint64_t {
    const auto found = rows_.find(name);
    return found == rows_.end() ? 0 : found->second.version;
  };
  if (version_of(row) != expected) return false;
  if (!erase.empty() && erase_expected != kAnyVersion && version_of(erase) != erase_expected) {
    return false;
  }
  rows_[std::string(row)] =
      SyncRow{.replica = std::string(row), .version = version, .payload = std::string(payload)};
  if (!erase.empty()) {
    if (const auto gone = rows_.find(erase); gone != rows_.end()) rows_.erase(gone);
  }
  return true;
}

absl::Status MemorySyncStore::Clear() {
  std::lock_guard lock(mutex_);
  if (down_) return absl::UnavailableError("memory sync store: down");
  rows_.clear();
  return absl::OkStatus();
}

void MemorySyncStore::SetDown(bool down) {
  std::lock_guard lock(mutex_);
  down_ = down;
}

void MemorySyncStore::Inject(std::string replica, uint64_t version, std::string payload) {
  std::lock_guard lock(mutex_);
  rows_[replica] = SyncRow{.replica = replica, .version = version, .payload = std::move(payload)};
}

}  // namespace router
