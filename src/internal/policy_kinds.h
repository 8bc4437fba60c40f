// The policy kinds PolicyConfig::kind can name (src/policy_kinds.cc), each
// with its options' schema and factory, and the JSON face of PolicyConfig
// built on them (src/policy_config.cc). Only these two files know which
// kinds exist.
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

struct PolicyKind {
  std::string name;
  // The kind's options (PolicyConfig::options), whose keys sit in the
  // policy object beside the shared ones.
  AnyOptionsSchema options;
  // The policy; InvalidArgument when `options` holds another kind's struct.
  std::function<absl::StatusOr<std::unique_ptr<Policy>>(
      const std::any& options, const Constraints& constraints, double optimism)>
      make;
};

// The registered kinds, in order. nullptr from Find for an unknown name.
const std::vector<PolicyKind>& PolicyKinds();
const PolicyKind* FindPolicyKind(std::string_view name);

// The "policy" object of a config: read (ParsePolicyConfig's rules), written
// (the shared keys and the kind's own), and described for the reference.
absl::Status ReadPolicyConfig(const Json& json, const std::string& path, PolicyConfig* policy);
Json PolicyConfigJson(const PolicyConfig& policy);
void DescribePolicyConfig(const std::string& path, std::vector<ConfigKey>* out);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_POLICY_KINDS_H_
