#include "router/max_utility_policy.h"

#include <cmath>

#include "fmt/format.h"
#include "router/status.h"

namespace router {
namespace {

absl::Status ValidateLambda(double lambda, const char* what) {
  if (!std::isfinite(lambda) || lambda < 0.0) {
    return absl::InvalidArgumentError(
        fmt::format("{} must be finite and >= 0, got {}", what, lambda));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MaxUtilityPolicy>> MaxUtilityPolicy::Create(
    double lambda, Constraints constraints, double optimism) {
  ROUTER_RETURN_IF_ERROR(ValidateLambda(lambda, "lambda"));
  ROUTER_RETURN_IF_ERROR(ValidateOptimism(optimism));
  return std::unique_ptr<MaxUtilityPolicy>(
      new MaxUtilityPolicy(lambda, std::move(constraints), optimism));
}

void MaxUtilityPolicy::AppendStateJson(std::string* json) const {
  *json += fmt::format(",\"lambda\":{}", lambda_);
}

absl::Status MaxUtilityPolicy::Decide(const Estimates& estimates, const Catalog& catalog,
                                      const Query& query, Decision* out) const {
  double lambda = lambda_;
  if (query.overrides != nullptr && query.overrides->lambda) {
    lambda = *query.overrides->lambda;
    ROUTER_RETURN_IF_ERROR(ValidateLambda(lambda, "the request's lambda"));
  }
  ROUTER_RETURN_IF_ERROR(CollectEligible(estimates, catalog, query, out));
  for (Candidate& candidate : out->ranked) {
    candidate.utility = RankingQuality(candidate) - lambda * candidate.expected_cost_usd;
  }
  SortByUtility(&out->ranked);
  out->chosen = out->ranked.front();
  out->trace.policy_parameters =
      fmt::format("lambda={:g}{}{}", lambda, lambda != lambda_ ? " (request override)" : "",
                  OptimismParameter());
  return absl::OkStatus();
}

}  // namespace router
