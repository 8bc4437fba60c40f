// Test helper for concurrency tests: wait on another thread's progress
// without a fixed sleep that a loaded machine can outrun.
#ifndef ROUTER_TESTS_WAIT_UNTIL_H_
#define ROUTER_TESTS_WAIT_UNTIL_H_

#include <chrono>
#include <thread>

namespace router {

// Sleeps at least `min_ms`, then polls `done` every millisecond for at most
// `max_ms` more. Returns whether `done` held.
template <typename Predicate>
bool WaitUntil(Predicate done, int min_ms, int max_ms = 2000) {
  std::this_thread::sleep_for(std::chrono::milliseconds(min_ms));
  for (int waited = 0; !done() && waited < max_ms; ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

}  // namespace router

#endif  // ROUTER_TESTS_WAIT_UNTIL_H_
