#include "router/quality_floor_policy.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "router/status.h"

namespace router {
namespace {

absl::Status ValidateTau(double tau, const char* what) {
  if (!std::isfinite(tau) || tau < 0.0 || tau > 1.0) {
    return absl::InvalidArgumentError(fmt::format("{} must lie in [0, 1], got {}", what, tau));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<QualityFloorPolicy>> QualityFloorPolicy::Create(
    double tau, Constraints constraints, double optimism) {
  ROUTER_RETURN_IF_ERROR(ValidateTau(tau, "tau"));
  ROUTER_RETURN_IF_ERROR(ValidateOptimism(optimism));
  return std::unique_ptr<QualityFloorPolicy>(
      new QualityFloorPolicy(tau, std::move(constraints), optimism));
}

void QualityFloorPolicy::AppendStateJson(std::string* json) const {
  *json += fmt::format(",\"tau\":{}", tau_);
}

absl::Status QualityFloorPolicy::Decide(const Estimates& estimates,
                                        const Catalog& catalog, const Query& query,
                                        Decision* out) const {
  double tau = tau_;
  if (query.overrides != nullptr && query.overrides->tau) {
    tau = *query.overrides->tau;
    ROUTER_RETURN_IF_ERROR(ValidateTau(tau, "the request's tau"));
  }
  ROUTER_RETURN_IF_ERROR(CollectEligible(estimates, catalog, query, out));
  for (Candidate& candidate : out->ranked) candidate.utility = RankingQuality(candidate);
  // utility holds the ranking quality here (prediction plus optimism).
  std::sort(out->ranked.begin(), out->ranked.end(),
            [tau](const Candidate& a, const Candidate& b) {
              const bool a_meets = a.utility >= tau;
              const bool b_meets = b.utility >= tau;
              if (a_meets != b_meets) return a_meets;
              if (a_meets) {
                if (a.expected_cost_usd != b.expected_cost_usd) {
                  return a.expected_cost_usd < b.expected_cost_usd;
                }
                if (a.utility != b.utility) return a.utility > b.utility;
              } else {
                if (a.utility != b.utility) return a.utility > b.utility;
                if (a.expected_cost_usd != b.expected_cost_usd) {
                  return a.expected_cost_usd < b.expected_cost_usd;
                }
              }
              return a.model_index < b.model_index;
            });
  out->chosen = out->ranked.front();
  out->trace.policy_parameters = fmt::format(
      "tau={:g}{}{}", tau, tau != tau_ ? " (request override)" : "", OptimismParameter());
  if (out->chosen.utility < tau) {
    out->trace.note = fmt::format(
        "no eligible model is predicted to reach tau={:g}; chose the highest predicted quality",
        tau);
  }
  return absl::OkStatus();
}

}  // namespace router
