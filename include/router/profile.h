// File: router/profile.h
//
// A Profile describes one candidate model: its stable name, its prices and the
// operational facts that policies use as constraints. Profiles are plain data.
#ifndef ROUTER_PROFILE_H_
#define ROUTER_PROFILE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace router {

struct Profile {
  // Stable name, unique within a Catalog (e.g. "gpt-4o-mini").
  std::string name;
  // Prices in USD per one million tokens.
  double input_usd_per_mtok = 0.0;
  double output_usd_per_mtok = 0.0;
  // Typical completion length, used to turn prices into a per-request cost.
  double expected_output_tokens = 200.0;
  // Median latency of a request, in milliseconds (0 = unknown).
  double p50_latency_ms = 0.0;
  // Maximum input + output tokens (0 = unlimited / unknown).
  int64_t context_window = 0;
  // Free-form labels that constraints can allow or deny ("code", "local", ...).
  std::vector<std::string> tags;
  // False while the host has marked the model down (an outage, a rate
  // limit): every policy skips it until it is marked up again.
  bool available = true;

  // Expected cost in USD of one request with `input_tokens` prompt tokens.
  double ExpectedCostUsd(int64_t input_tokens) const {
    return (static_cast<double>(input_tokens) * input_usd_per_mtok +
            expected_output_tokens * output_usd_per_mtok) *
           1e-6;
  }

  bool HasTag(const std::string& tag) const {
    for (const std::string& t : tags) {
      if (t == tag) return true;
    }
    return false;
  }
};

}  // namespace router

#endif  // ROUTER_PROFILE_H_
