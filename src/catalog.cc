#include "router/catalog.h"

#include <cmath>

#include "fmt/format.h"
#include "router/status.h"

namespace router {
namespace {

bool IsValidAmount(double value) { return std::isfinite(value) && value >= 0.0; }

}  // namespace

absl::Status Catalog::Add(Profile profile) {
  if (profile.name.empty()) {
    return absl::InvalidArgumentError("model name must not be empty");
  }
  if (index_by_name_.contains(profile.name)) {
    return absl::InvalidArgumentError(
        fmt::format("model '{}' is already in the catalog", profile.name));
  }
  if (!IsValidAmount(profile.input_usd_per_mtok) ||
      !IsValidAmount(profile.output_usd_per_mtok) ||
      !IsValidAmount(profile.expected_output_tokens) ||
      !IsValidAmount(profile.p50_latency_ms) || profile.context_window < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "model '{}': prices, token counts, latency and context window must be finite and >= 0",
        profile.name));
  }
  // Profile first, index second, undone if the index cannot grow: an
  // allocation failure leaves the catalog as it was.
  profiles_.push_back(std::move(profile));
  try {
    index_by_name_.emplace(profiles_.back().name, size() - 1);
  } catch (...) {
    profiles_.pop_back();
    throw;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Catalog::Find(std::string_view name) const {
  auto it = index_by_name_.find(name);
  if (it == index_by_name_.end()) {
    return absl::NotFoundError(fmt::format("unknown model '{}'", name));
  }
  return it->second;
}

Catalog Catalog::Without(int index) const {
  Catalog out;
  for (int m = 0; m < size(); ++m) {
    if (m == index) continue;
    out.index_by_name_.emplace(profiles_[m].name, static_cast<int>(out.profiles_.size()));
    out.profiles_.push_back(profiles_[m]);
  }
  return out;
}

}  // namespace router
