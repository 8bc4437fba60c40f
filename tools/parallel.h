// ParallelFor: runs fn(begin, end) over consecutive ranges of at most
// `chunk` indices covering [0, n), on `threads` threads (the calling one
// included), reporting the indices done to a Progress from the calling
// thread. For work that is independent per row and thread-safe (Embed,
// EstimateBatch).
#ifndef ROUTER_TOOLS_PARALLEL_H_
#define ROUTER_TOOLS_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "progress.h"

namespace router::cli {

// The number of threads to use by default: the machine's cores.
inline int DefaultThreads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Returns the first error any call returned (the others stop soon after).
template <typename Fn>
absl::Status ParallelFor(int64_t n, int64_t chunk, int threads, Progress* progress, Fn fn) {
  chunk = std::max<int64_t>(1, chunk);
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  absl::Status first_error;
  std::mutex error_mutex;
  auto work = [&](bool report) {
    for (;;) {
      const int64_t begin = next.fetch_add(chunk);
      if (begin >= n || failed.load()) return;
      const int64_t end = std::min(n, begin + chunk);
      absl::Status status = fn(begin, end);
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) first_error = std::move(status);
        failed.store(true);
        return;
      }
      done.fetch_add(end - begin);
      if (report && progress != nullptr) progress->Update(done.load());
    }
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < std::max(1, threads); ++t) workers.emplace_back(work, false);
  work(true);
  for (std::thread& worker : workers) worker.join();
  if (progress != nullptr) progress->Update(done.load());
  return first_error;
}

}  // namespace router::cli

#endif  // ROUTER_TOOLS_PARALLEL_H_
