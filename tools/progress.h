// Progress on stderr for long work (featurizing, fitting, estimating): on a
// terminal, one line redrawn at most ten times a second with the count, the
// percentage and an ETA from the rate so far; elsewhere (a log, a pipe) only
// the closing line, so logs stay readable.
#ifndef ROUTER_TOOLS_PROGRESS_H_
#define ROUTER_TOOLS_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace router::cli {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

class Progress {
 public:
  // `total` may be 0 for work of unknown size (no percentage, no ETA).
  // Nothing is printed when `enabled` is false (--quiet).
  Progress(std::string label, int64_t total, bool enabled);
  ~Progress();

  // Reports that `done` of `total` items are finished. Thread-compatible:
  // call from one thread.
  void Update(int64_t done);
  // Prints the closing line ("label: 5608 in 2.1 s"), once.
  void Finish(const std::string& note = "");

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool interactive_;
  bool finished_ = false;
  Stopwatch clock_;
  double last_draw_ = -1.0;
};

// "1.2 s", "3 min 05 s".
std::string FormatDuration(double seconds);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_PROGRESS_H_
