#include "router/live_pipeline.h"

#include <utility>

#include "router/status.h"

namespace router {

LivePipeline::LivePipeline(std::unique_ptr<Pipeline> pipeline)
    : current_(std::move(pipeline)) {}

std::shared_ptr<const Pipeline> LivePipeline::Snapshot() const {
  absl::ReaderMutexLock lock(&mutex_);
  return current_;
}

absl::Status LivePipeline::Reload(const std::string& path) {
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> loaded, Pipeline::Load(path));
  Replace(std::move(loaded));
  return absl::OkStatus();
}

void LivePipeline::Replace(std::unique_ptr<Pipeline> pipeline) {
  std::shared_ptr<const Pipeline> next(std::move(pipeline));
  {
    absl::MutexLock lock(&mutex_);
    current_.swap(next);
    ++generation_;
  }
  // `next` now holds the previous pipeline: if no route still uses it, it is
  // freed here, outside the lock.
}

uint64_t LivePipeline::generation() const {
  absl::ReaderMutexLock lock(&mutex_);
  return generation_;
}

}  // namespace router
