// The policy kinds PolicyConfig::kind can name: one line each.
#include <any>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "fmt/format.h"
#include "internal/option_schemas.h"
#include "internal/policy_kinds.h"
#include "router/budget_pacing_policy.h"
#include "router/max_utility_policy.h"
#include "router/quality_floor_policy.h"
#include "router/status.h"
#include "router/threshold_policy.h"

namespace router::internal {
namespace {

// A kind whose policy class PolicyType has
//   static StatusOr<unique_ptr<PolicyType>> Create(const Options&, Constraints, double optimism)
// and whose options Options declare kKind.
template <typename PolicyType, typename Options>
PolicyKind Kind(const OptionsSchema<Options>& schema) {
  PolicyKind kind;
  kind.name = Options::kKind;
  kind.options = EraseSchema(schema);
  kind.make = [](const std::any& options, const Constraints& constraints,
                 double optimism) -> absl::StatusOr<std::unique_ptr<Policy>> {
    if (options.has_value() && std::any_cast<Options>(&options) == nullptr) {
      return absl::InvalidArgumentError(fmt::format(
          "policy: the options held are not those of kind \"{}\" (use PolicyConfig::Set)",
          Options::kKind));
    }
    ROUTER_ASSIGN_OR_RETURN(
        auto policy,
        PolicyType::Create(HeldOrDefault<Options>(options), constraints, optimism));
    return std::unique_ptr<Policy>(std::move(policy));
  };
  return kind;
}

}  // namespace

const std::vector<PolicyKind>& PolicyKinds() {
  static const auto* kinds = new std::vector<PolicyKind>{
      Kind<MaxUtilityPolicy>(MaxUtilityOptionsSchema()),
      Kind<QualityFloorPolicy>(QualityFloorOptionsSchema()),
      Kind<BudgetPacingPolicy>(BudgetPacingOptionsSchema()),
      Kind<ThresholdPolicy>(ThresholdOptionsSchema()),
  };
  return *kinds;
}

const PolicyKind* FindPolicyKind(std::string_view name) {
  for (const PolicyKind& kind : PolicyKinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

}  // namespace router::internal
