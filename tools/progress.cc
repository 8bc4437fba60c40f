#include "progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "fmt/format.h"

namespace router::cli {

std::string FormatDuration(double seconds) {
  if (seconds < 60.0) return fmt::format("{:.1f} s", seconds);
  const int whole = static_cast<int>(std::lround(seconds));
  return fmt::format("{} min {:02d} s", whole / 60, whole % 60);
}

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      interactive_(enabled && isatty(STDERR_FILENO) == 1) {
  if (!interactive_) return;
  std::fprintf(stderr, "%s ...", label_.c_str());
  std::fflush(stderr);
  if (total_ > 0) return;
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_signal_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; })) {
      std::fprintf(stderr, "\r\033[K%s ... %s", label_.c_str(),
                   FormatDuration(clock_.Seconds()).c_str());
      std::fflush(stderr);
    }
  });
}

Progress::~Progress() { Finish(); }

void Progress::Update(int64_t done) {
  if (!interactive_ || finished_) return;
  const double now = clock_.Seconds();
  if (now - last_draw_ < 0.1 && done < total_) return;
  last_draw_ = now;
  std::string line = fmt::format("\r\033[K{} {}", label_, done);
  if (total_ > 0) {
    line += fmt::format("/{} ({:.0f}%)", total_, 100.0 * done / total_);
    if (done > 0 && done < total_) {
      line += fmt::format("  ETA {}", FormatDuration(now / done * (total_ - done)));
    }
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::Finish(const std::string& note) {
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (ticker_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    stop_signal_.notify_one();
    ticker_.join();
  }
  std::string line = interactive_ ? "\r\033[K" : "";
  line += fmt::format("{}: ", label_);
  if (total_ > 0) line += fmt::format("{} in ", total_);
  line += FormatDuration(clock_.Seconds());
  if (!note.empty()) line += " (" + note + ")";
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace router::cli
