// File: router/policy_config.h
//
// PolicyConfig: which policy a pipeline decides with, that kind's own
// options, and what every kind shares (optimism, constraints, budget
// classes). Each policy kind declares its options struct in its own header
// (MaxUtilityOptions in max_utility_policy.h, ...) and registers it in
// src/policy_kinds.cc; nothing else in the library names a concrete kind.
//
//   PolicyConfig policy;
//   policy.Set(QualityFloorOptions{.tau = 0.8});
//   policy.constraints.denied_tags = {"preview"};
//
// In JSON the kind's keys sit beside the shared ones:
//   {"kind": "quality_floor", "tau": 0.8, "constraints": {...}}
#ifndef ROUTER_POLICY_CONFIG_H_
#define ROUTER_POLICY_CONFIG_H_

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/constraints.h"
#include "router/export.h"
#include "router/kind_options.h"
#include "router/policy.h"
#include "router/request_overrides.h"

namespace router {

struct PolicyConfig {
  // A registered kind: "max_utility", "quality_floor", "budget" or
  // "threshold" (PolicyKindNames()).
  std::string kind = "max_utility";
  // The kind's options struct (QualityFloorOptions for "quality_floor", ...);
  // empty means that kind's defaults. Set() keeps it and `kind` in step.
  std::any options;
  // Weight of the estimates' uncertainty in ranking (Policy::optimism()).
  // Unset: 1 when the router learns online (so LinUCB explores), else 0.
  std::optional<double> optimism;
  Constraints constraints;
  // Named sets of per-request overrides ("free": a high lambda and small
  // models only; "premium": a low lambda). A request names one in
  // RequestOverrides::budget_class; their budget_class fields are unused.
  std::map<std::string, RequestOverrides> budget_classes;

  // Makes `kind_options`' kind the policy, with those options.
  template <typename KindOptions>
  void Set(KindOptions kind_options) {
    kind = KindOptions::kKind;
    options = std::move(kind_options);
  }

  // The options if the policy is of KindOptions' kind, else nullptr. Parsed
  // configs always hold their kind's options; a config whose kind was set
  // by name alone holds none until Set.
  template <typename KindOptions>
  const KindOptions* Get() const {
    if (kind != KindOptions::kKind) return nullptr;
    return std::any_cast<KindOptions>(&options);
  }
};

// Parses a policy object, as the "policy" of a config: the shared keys, the
// kind's own keys, and keys of the other registered kinds, which are
// accepted and ignored (switching kind is then a one-key change, and saved
// files of format 1, which carry every kind's keys, load). Any other key is
// an error naming it. The values are validated together.
ROUTER_EXPORT absl::StatusOr<PolicyConfig> ParsePolicyConfig(std::string_view json);

// Builds the Policy a PolicyConfig describes; an unset optimism resolves by
// `router_learns_online`. InvalidArgument for an unknown kind, options of
// another kind's type, or a value out of range.
ROUTER_EXPORT absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(
    const PolicyConfig& config, bool router_learns_online = false);

// The registered policy kinds' names, in registration order. Thread-safe.
ROUTER_EXPORT std::vector<std::string> PolicyKindNames();

// A policy kind a host adds (a policy of its own): its name in
// PolicyConfig::kind and how to build it from the config (its shared keys,
// and its own options in PolicyConfig::options) and the resolved optimism.
struct PolicyKind {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<Policy>>(const PolicyConfig& config,
                                                        double optimism)>
      make;
  // Optional: the kind's keys in the "policy" object, read into and written
  // from PolicyConfig::options. Without it, such a kind takes the shared
  // keys only in JSON and its options are set from C++.
  KindOptionsJson options_json = {};
};

// Adds a policy kind, so configs can name it and saved files of it load.
// AlreadyExists for a name already registered; InvalidArgument for an empty
// name, no factory, options_json with one function of the two, or a key
// that is a shared key. Thread-safe.
ROUTER_EXPORT absl::Status RegisterPolicyKind(PolicyKind kind);

}  // namespace router

#endif  // ROUTER_POLICY_CONFIG_H_
