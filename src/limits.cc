#include "router/limits.h"

#include "fmt/format.h"
#include "internal/option_schemas.h"

namespace router {

absl::Status ValidateLimits(const Limits& limits) { return internal::CheckRanges(limits); }

absl::Status CheckLimit(std::string_view what, int64_t size, int64_t limit,
                        std::string_view limit_name, absl::StatusCode code) {
  if (size <= limit) return absl::OkStatus();
  return absl::Status(code, fmt::format("{} of {} exceeds limits.{} = {}", what, size,
                                        limit_name, limit));
}

}  // namespace router
