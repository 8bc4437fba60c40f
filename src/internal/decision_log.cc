#include "internal/decision_log.h"

#include <algorithm>
#include <utility>

#include "fmt/format.h"

namespace router::internal {

DecisionLog::DecisionLog(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

uint64_t DecisionLog::Record(absl::Span<const float> vector, std::string model) {
  LoggedDecision entry{std::vector<float>(vector.begin(), vector.end()), std::move(model)};
  std::lock_guard lock(mutex_);
  const uint64_t id = next_id_++;
  // The id goes in the order first: if the entry then fails to allocate, an
  // id without an entry is harmless (its erase finds nothing).
  order_.push_back(id);
  entries_.emplace(id, std::move(entry));
  // A decision expires once `capacity_` newer ones exist, whether or not
  // others were taken meanwhile; so both containers stay within capacity.
  while (order_.front() + capacity_ < next_id_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  return id;
}

absl::StatusOr<LoggedDecision> DecisionLog::Take(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    const char* why = id == 0 || id >= next_id_ ? "was never issued"
                                                : "was already reported or has expired "
                                                  "(the log keeps the most recent decisions)";
    return absl::NotFoundError(fmt::format("decision id {} {}", id, why));
  }
  LoggedDecision entry = std::move(it->second);
  entries_.erase(it);
  return entry;
}

size_t DecisionLog::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace router::internal
