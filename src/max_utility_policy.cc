#include "router/max_utility_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "router/status.h"

namespace router {

absl::StatusOr<std::unique_ptr<MaxUtilityPolicy>> MaxUtilityPolicy::Create(
    double lambda, Constraints constraints) {
  if (!std::isfinite(lambda) || lambda < 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lambda must be finite and >= 0, got ", lambda));
  }
  return std::unique_ptr<MaxUtilityPolicy>(
      new MaxUtilityPolicy(lambda, std::move(constraints)));
}

absl::Status MaxUtilityPolicy::Decide(const Estimates& estimates, const Catalog& catalog,
                                      const Query& query, Decision* out) const {
  ROUTER_RETURN_IF_ERROR(CollectEligible(estimates, catalog, query, out));
  for (Candidate& candidate : out->ranked) {
    candidate.utility = candidate.predicted_quality - lambda_ * candidate.expected_cost_usd;
  }
  // Deterministic order: utility, then cheaper, then catalog order.
  std::sort(out->ranked.begin(), out->ranked.end(),
            [](const Candidate& a, const Candidate& b) {
              if (a.utility != b.utility) return a.utility > b.utility;
              if (a.expected_cost_usd != b.expected_cost_usd) {
                return a.expected_cost_usd < b.expected_cost_usd;
              }
              return a.model_index < b.model_index;
            });
  out->chosen = out->ranked.front();
  out->trace.policy_parameters = absl::StrCat("lambda=", lambda_);
  return absl::OkStatus();
}

}  // namespace router
