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

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "router/export.h"
#include "router/pipeline.h"

namespace router {

class ROUTER_EXPORT LivePipeline {
 public:
  // `pipeline` must not be null.
  explicit LivePipeline(std::unique_ptr<Pipeline> pipeline);

  // The pipeline to route one request (or a batch) with.
  std::shared_ptr<const Pipeline> Snapshot() const;

  // Loads `path` (Pipeline::Load) and, if it is valid, makes it the current
  // pipeline. On error the current pipeline keeps serving and the status
  // says why the file was refused.
  absl::Status Reload(const std::string& path);

  // Makes `pipeline` (not null) the current pipeline.
  void Replace(std::unique_ptr<Pipeline> pipeline);

  // How many times the pipeline was replaced (0 for the first one).
  uint64_t generation() const;

 private:
  mutable absl::Mutex mutex_;
  std::shared_ptr<const Pipeline> current_ ABSL_GUARDED_BY(mutex_);
  uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace router

#endif  // ROUTER_LIVE_PIPELINE_H_
