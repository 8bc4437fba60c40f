// The policy kinds PolicyConfig::kind can name: one line each.
#include <any>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "internal/option_schemas.h"
#include "internal/policy_kinds.h"
#include "router/budget_pacing_policy.h"
#include "router/max_utility_policy.h"
#include "router/quality_floor_policy.h"
#include "router/status.h"
#include "router/threshold_policy.h"

namespace router {
namespace internal {
namespace {

// A kind whose policy class PolicyType has
//   static StatusOr<unique_ptr<PolicyType>> Create(const Options&, Constraints, double optimism)
// and whose options Options declare kKind.
template <typename PolicyType, typename Options>
RegisteredPolicyKind Kind(const OptionsSchema<Options>& schema) {
  RegisteredPolicyKind kind;
  kind.name = Options::kKind;
  kind.options = EraseSchema(schema);
  kind.make = [](const PolicyConfig& config,
                 double optimism) -> absl::StatusOr<std::unique_ptr<Policy>> {
    ROUTER_ASSIGN_OR_RETURN(auto policy,
                            PolicyType::Create(HeldOrDefault<Options>(config.options),
                                               config.constraints, optimism));
    return std::unique_ptr<Policy>(std::move(policy));
  };
  return kind;
}

struct Registry {
  std::mutex mutex;
  // A deque: registering appends without moving the kinds already there.
  std::deque<RegisteredPolicyKind> kinds;
};

Registry& TheRegistry() {
  static Registry* registry = [] {  // never destroyed: used until exit
    auto* made = new Registry();
    made->kinds.push_back(Kind<MaxUtilityPolicy>(MaxUtilityOptionsSchema()));
    made->kinds.push_back(Kind<QualityFloorPolicy>(QualityFloorOptionsSchema()));
    made->kinds.push_back(Kind<BudgetPacingPolicy>(BudgetPacingOptionsSchema()));
    made->kinds.push_back(Kind<ThresholdPolicy>(ThresholdOptionsSchema()));
    return made;
  }();
  return *registry;
}

}  // namespace

std::vector<const RegisteredPolicyKind*> PolicyKinds() {
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  std::vector<const RegisteredPolicyKind*> kinds;
  for (const RegisteredPolicyKind& kind : registry.kinds) kinds.push_back(&kind);
  return kinds;
}

const RegisteredPolicyKind* FindPolicyKind(std::string_view name) {
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  for (const RegisteredPolicyKind& kind : registry.kinds) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

}  // namespace internal

absl::Status RegisterPolicyKind(PolicyKind kind) {
  if (kind.name.empty() || !kind.make) {
    return absl::InvalidArgumentError("a policy kind needs a name and a factory");
  }
  KindOptionsJson& json = kind.options_json;
  ROUTER_RETURN_IF_ERROR(
      internal::CheckKindOptionsJson(json, fmt::format("policy kind \"{}\"", kind.name)));
  for (const std::string& key : json.keys) {
    if (internal::IsSharedPolicyKey(key)) {
      return absl::InvalidArgumentError(fmt::format(
          "policy kind \"{}\": option key '{}' is a key every policy shares", kind.name, key));
    }
  }
  internal::Registry& registry = internal::TheRegistry();
  std::lock_guard lock(registry.mutex);
  for (const internal::RegisteredPolicyKind& known : registry.kinds) {
    if (known.name == kind.name) {
      return absl::AlreadyExistsError(
          fmt::format("policy kind \"{}\" is already registered", kind.name));
    }
  }
  registry.kinds.push_back(
      internal::RegisteredPolicyKind{.name = std::move(kind.name),
                                     .options = internal::HostOptionsSchema(std::move(json)),
                                     .make = std::move(kind.make)});
  return absl::OkStatus();
}

}  // namespace router
