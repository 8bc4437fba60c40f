#include "router/constraints.h"

#include <algorithm>

#include "fmt/format.h"

namespace router {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::string Constraints::Violation(const Profile& profile, int64_t input_tokens) const {
  if (!profile.available) return "marked unavailable";
  if (!allowed_models.empty() && !Contains(allowed_models, profile.name)) {
    return "not in the allowed models";
  }
  if (Contains(denied_models, profile.name)) return "denied by name";
  if (!allowed_tags.empty() &&
      std::none_of(allowed_tags.begin(), allowed_tags.end(),
                   [&](const std::string& tag) { return profile.HasTag(tag); })) {
    return "has none of the allowed tags";
  }
  for (const std::string& tag : denied_tags) {
    if (profile.HasTag(tag)) return fmt::format("denied by tag '{}'", tag);
  }
  if (max_latency_ms > 0.0 && profile.p50_latency_ms > max_latency_ms) {
    return fmt::format("p50 latency {} ms > ceiling {} ms", profile.p50_latency_ms, max_latency_ms);
  }
  if (enforce_context_window && profile.context_window > 0) {
    const double needed =
        static_cast<double>(input_tokens) + profile.expected_output_tokens;
    if (needed > static_cast<double>(profile.context_window)) {
      // Printed as a double: a profile's expected output tokens may be any
      // finite number >= 0, beyond what an integer holds.
      return fmt::format("context window {} < {:.0f} tokens needed", profile.context_window,
                         needed);
    }
  }
  return "";
}

}  // namespace router
