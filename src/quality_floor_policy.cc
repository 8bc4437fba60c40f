#include "router/quality_floor_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "router/status.h"

namespace router {

absl::StatusOr<std::unique_ptr<QualityFloorPolicy>> QualityFloorPolicy::Create(
    double tau, Constraints constraints) {
  if (!std::isfinite(tau) || tau < 0.0 || tau > 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tau must lie in [0, 1], got ", tau));
  }
  return std::unique_ptr<QualityFloorPolicy>(
      new QualityFloorPolicy(tau, std::move(constraints)));
}

absl::Status QualityFloorPolicy::Decide(const Estimates& estimates,
                                        const Catalog& catalog, const Query& query,
                                        Decision* out) const {
  ROUTER_RETURN_IF_ERROR(CollectEligible(estimates, catalog, query, out));
  const double tau = tau_;
  std::sort(out->ranked.begin(), out->ranked.end(),
            [tau](const Candidate& a, const Candidate& b) {
              const bool a_meets = a.predicted_quality >= tau;
              const bool b_meets = b.predicted_quality >= tau;
              if (a_meets != b_meets) return a_meets;
              if (a_meets) {
                if (a.expected_cost_usd != b.expected_cost_usd) {
                  return a.expected_cost_usd < b.expected_cost_usd;
                }
                if (a.predicted_quality != b.predicted_quality) {
                  return a.predicted_quality > b.predicted_quality;
                }
              } else {
                if (a.predicted_quality != b.predicted_quality) {
                  return a.predicted_quality > b.predicted_quality;
                }
                if (a.expected_cost_usd != b.expected_cost_usd) {
                  return a.expected_cost_usd < b.expected_cost_usd;
                }
              }
              return a.model_index < b.model_index;
            });
  out->chosen = out->ranked.front();
  out->trace.policy_parameters = absl::StrCat("tau=", tau_);
  if (out->chosen.predicted_quality < tau) {
    out->trace.note = absl::StrCat("no eligible model is predicted to reach tau=", tau_,
                                   "; chose the highest predicted quality");
  }
  return absl::OkStatus();
}

}  // namespace router
