// File: router/limits.h
//
// Size limits that bound the memory and time one call can take, so that a
// huge prompt, batch or file cannot take a host down. Input over a limit is
// rejected with a status that names the limit and the size; nothing is
// silently truncated. The defaults are far above real use (a 1 MiB prompt is
// ~250k tokens) and well below what would exhaust a server.
//
// Requests (a prompt, a batch, a fit) over a limit are InvalidArgument: the
// caller passed too much. A saved file over a limit is ResourceExhausted:
// the file may be sound, this process will not take it. Limits for routing
// come from PipelineConfig::limits ("limits" in the JSON config, kept in
// saved files); the limits a load enforces are the loading host's
// (Pipeline::Load's argument), never the file's own.
#ifndef ROUTER_LIMITS_H_
#define ROUTER_LIMITS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "router/export.h"

namespace router {

struct Limits {
  // Bytes of one prompt that RouteText, EstimateText and Embed take.
  int64_t max_prompt_bytes = int64_t{1} << 20;
  // Queries in one batch call (router_route_batch).
  int64_t max_batch_size = int64_t{1} << 20;
  // Models in a pipeline: at fit, when onboarding, and in a loaded file.
  int64_t max_models = 4096;
  // Bytes of one section of a loaded file (the router state is the largest:
  // a kNN router over 1M 256-d vectors is about 1 GiB).
  int64_t max_section_bytes = int64_t{16} << 30;
};

// InvalidArgument unless every limit is > 0.
ROUTER_EXPORT absl::Status ValidateLimits(const Limits& limits);

// OK when `size` <= `limit`; otherwise `code` with a message such as
// "prompt of 2000000 bytes exceeds limits.max_prompt_bytes = 1048576".
ROUTER_EXPORT absl::Status CheckLimit(std::string_view what, int64_t size, int64_t limit,
                                      std::string_view limit_name,
                                      absl::StatusCode code = absl::StatusCode::kInvalidArgument);

}  // namespace router

#endif  // ROUTER_LIMITS_H_
