// File: router/constraints.h
//
// Constraints narrow the set of models a policy may pick. They are shared by
// every Policy: a model that fails any constraint is excluded, and the reason
// is recorded in the Decision's trace.
#ifndef ROUTER_CONSTRAINTS_H_
#define ROUTER_CONSTRAINTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "router/export.h"
#include "router/profile.h"

namespace router {

struct ROUTER_EXPORT Constraints {
  // When non-empty, only these models may be chosen.
  std::vector<std::string> allowed_models;
  // These models are never chosen.
  std::vector<std::string> denied_models;
  // When non-empty, a model must carry at least one of these tags.
  std::vector<std::string> allowed_tags;
  // A model carrying any of these tags is never chosen.
  std::vector<std::string> denied_tags;
  // Models whose p50 latency exceeds this are excluded (0 = no ceiling).
  double max_latency_ms = 0.0;
  // When true (the default), a model is excluded if its context window is
  // smaller than the request's input tokens plus its expected output tokens.
  bool enforce_context_window = true;

  // A model marked unavailable (Profile::available) fails every Constraints.
  //
  // Returns an empty string if `profile` satisfies the constraints for a
  // request of `input_tokens`, otherwise a short reason ("denied by name",
  // "context window 8192 < 9000 tokens", ...).
  std::string Violation(const Profile& profile, int64_t input_tokens) const;
};

}  // namespace router

#endif  // ROUTER_CONSTRAINTS_H_
