// The policy kinds PolicyConfig::kind can name (src/policy_kinds.cc), each
// with its options' schema and factory, and the JSON face of PolicyConfig
// built on them (src/policy_config.cc). Only these two files know which
// built-in kinds exist; hosts add theirs with RegisterPolicyKind.
#ifndef ROUTER_INTERNAL_POLICY_KINDS_H_
#define ROUTER_INTERNAL_POLICY_KINDS_H_

#include <any>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "internal/any_options.h"
#include "internal/options_schema.h"
#include "router/config_key.h"
#include "router/constraints.h"
#include "router/policy.h"
#include "router/policy_config.h"

namespace router::internal {

struct RegisteredPolicyKind {
  std::string name;
  // The kind's options (PolicyConfig::options), whose keys sit in the
  // policy object beside the shared ones (a host's: HostOptionsSchema).
  AnyOptionsSchema options;
  // The policy (MakePolicy has checked that config.options, if set, is this
  // kind's struct).
  std::function<absl::StatusOr<std::unique_ptr<Policy>>(const PolicyConfig& config,
                                                        double optimism)>
      make;
};

// The registered kinds, built-in ones first, in order; the pointers stay
// valid until exit. nullptr from Find for an unknown name. Thread-safe.
std::vector<const RegisteredPolicyKind*> PolicyKinds();
const RegisteredPolicyKind* FindPolicyKind(std::string_view name);

// The "policy" object of a config: read (ParsePolicyConfig's rules), written
// (the shared keys and the kind's own), and described for the reference.
absl::Status ReadPolicyConfig(const Json& json, const std::string& path, PolicyConfig* policy);
Json PolicyConfigJson(const PolicyConfig& policy);
void DescribePolicyConfig(const std::string& path, std::vector<ConfigKey>* out);
// Whether `key` is one every kind shares ("kind", "constraints", ...).
bool IsSharedPolicyKey(const std::string& key);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_POLICY_KINDS_H_
