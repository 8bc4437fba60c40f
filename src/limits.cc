#include "router/limits.h"

#include "fmt/format.h"

namespace router {

absl::Status ValidateLimits(const Limits& limits) {
  if (limits.max_prompt_bytes < 1 || limits.max_batch_size < 1 || limits.max_models < 1 ||
      limits.max_section_bytes < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "limits must be >= 1, got max_prompt_bytes {}, max_batch_size {}, max_models {}, "
        "max_section_bytes {}",
        limits.max_prompt_bytes, limits.max_batch_size, limits.max_models,
        limits.max_section_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckLimit(std::string_view what, int64_t size, int64_t limit,
                        std::string_view limit_name, absl::StatusCode code) {
  if (size <= limit) return absl::OkStatus();
  return absl::Status(code, fmt::format("{} of {} exceeds limits.{} = {}", what, size,
                                        limit_name, limit));
}

}  // namespace router
