// Progress on stderr for long work (featurizing, fitting, estimating): on a
// terminal, one line redrawn at most ten times a second with the count, the
// percentage and an ETA from the rate so far; elsewhere (a log, a pipe) only
// the closing line, so logs stay readable. Work of unknown size (a single
// library call such as a router's Fit) shows the time elapsed instead,
// redrawn by a ticker thread.
#ifndef ROUTER_TOOLS_PROGRESS_H_
#define ROUTER_TOOLS_PROGRESS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

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

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports that `done` of `total` items are finished. Call from one thread.
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
  // The elapsed-time ticker, for total == 0 on a terminal.
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stop_ = false;
  std::thread ticker_;
};

// "1.2 s", "3 min 05 s".
std::string FormatDuration(double seconds);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_PROGRESS_H_
