#include "router/policy.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace router {

absl::Status Policy::CollectEligible(const Estimates& estimates, const Catalog& catalog,
                                     const Query& query, Decision* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("decision output is null");
  if (estimates.per_model.size() != static_cast<size_t>(catalog.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("estimates cover ", estimates.per_model.size(),
                     " models but the catalog has ", catalog.size()));
  }
  if (catalog.empty()) return absl::FailedPreconditionError("the catalog is empty");

  out->ranked.clear();
  out->trace.excluded.clear();
  out->trace.note.clear();
  out->trace.policy.assign(name());
  out->trace.evidence.assign(estimates.evidence.begin(), estimates.evidence.end());

  const int64_t input_tokens = InputTokens(query);
  for (int m = 0; m < catalog.size(); ++m) {
    const Profile& profile = catalog.at(m);
    const ModelEstimate& estimate = estimates.per_model[m];
    if (!std::isfinite(estimate.quality) || !std::isfinite(estimate.expected_cost_usd)) {
      out->trace.excluded.push_back({profile.name, "no finite estimate"});
      continue;
    }
    std::string violation = constraints_.Violation(profile, input_tokens);
    if (!violation.empty()) {
      out->trace.excluded.push_back({profile.name, std::move(violation)});
      continue;
    }
    Candidate& candidate = out->ranked.emplace_back();
    candidate.model_index = m;
    candidate.model = profile.name;
    candidate.predicted_quality = estimate.quality;
    candidate.uncertainty = estimate.uncertainty;
    candidate.expected_cost_usd = estimate.expected_cost_usd;
  }
  if (out->ranked.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no eligible model: all ", catalog.size(),
                     " models are excluded by the constraints"));
  }
  return absl::OkStatus();
}

}  // namespace router
