// DecisionLog remembers recent routing decisions so a host can report their
// outcome later by id (bandit feedback arrives after the model answered).
// Each entry keeps the query vector and the chosen model; the log holds at
// most `capacity` entries and forgets the oldest first, so memory stays at
// capacity x (dim x 4 bytes + a little).
//
// Thread safety: every method may be called from many threads at once (one
// short critical section each).
//
// Internal: LivePipeline holds one behind a pointer, and hosts reach it
// through LivePipeline::Feedback. Its test compiles this file's source.
#ifndef ROUTER_INTERNAL_DECISION_LOG_H_
#define ROUTER_INTERNAL_DECISION_LOG_H_

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include <mutex>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace router::internal {

struct LoggedDecision {
  std::vector<float> vector;
  std::string model;
};

class DecisionLog {
 public:
  // `capacity` >= 1 decisions are remembered.
  explicit DecisionLog(size_t capacity = 65536);

  // Remembers a decision; returns its id (never 0, increasing).
  uint64_t Record(absl::Span<const float> vector, std::string model);

  // Removes and returns the decision `id`: each outcome is reported once.
  // NotFound when the id was never issued, was already reported, or was
  // forgotten because more than `capacity` decisions came after it.
  absl::StatusOr<LoggedDecision> Take(uint64_t id);

  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  // A standard mutex, which ThreadSanitizer understands (Debian's Abseil is
  // not instrumented). Guards everything below.
  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  // std::unordered_map rather than absl::flat_hash_map: Debian's Abseil
  // (20220623) sets the new capacity before allocating in a rehash, so an
  // allocation failure there leaves a map that crashes when destroyed.
  std::unordered_map<uint64_t, LoggedDecision> entries_;
  std::deque<uint64_t> order_;  // ids, oldest first
};

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_DECISION_LOG_H_
