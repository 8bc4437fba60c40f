#include "router/policy.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace router {

absl::Status Policy::ValidateOptimism(double optimism) {
  if (!std::isfinite(optimism) || optimism < 0.0) {
    return absl::InvalidArgumentError(
        fmt::format("optimism must be finite and >= 0, got {}", optimism));
  }
  return absl::OkStatus();
}

absl::Status Policy::RecordRealisedCost(double expected_cost_usd,
                                        double realised_cost_usd) const {
  for (const double cost : {expected_cost_usd, realised_cost_usd}) {
    if (!std::isfinite(cost) || cost < 0.0) {
      return absl::InvalidArgumentError(fmt::format(
          "realised cost: costs must be finite and >= 0, got expected {} and realised {}",
          expected_cost_usd, realised_cost_usd));
    }
  }
  OnRealisedCost(expected_cost_usd, realised_cost_usd);
  return absl::OkStatus();
}

absl::Status Policy::AddSharedCounters(absl::Span<const double> increments) const {
  const size_t expected = SharedCounters().size();
  if (increments.size() != expected) {
    return absl::InvalidArgumentError(
        fmt::format("shared counters: the {} policy has {} counters, got {}", name(), expected,
                    increments.size()));
  }
  for (const double v : increments) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          fmt::format("shared counters: increments must be finite, got {}", v));
    }
  }
  return OnSharedCounters(increments);
}

void Policy::SortByUtility(std::vector<Candidate>* candidates) {
  std::sort(candidates->begin(), candidates->end(), [](const Candidate& a, const Candidate& b) {
    if (a.utility != b.utility) return a.utility > b.utility;
    if (a.expected_cost_usd != b.expected_cost_usd) {
      return a.expected_cost_usd < b.expected_cost_usd;
    }
    return a.model_index < b.model_index;
  });
}

std::string Policy::StateJson() const {
  std::string json = fmt::format("{{\"kind\":{},\"optimism\":{}", JsonQuote(name()), optimism_);
  AppendStateJson(&json);
  return json + "}";
}

std::string Policy::JsonQuote(std::string_view text) {
  return nlohmann::json(std::string(text)).dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

std::string Policy::OptimismParameter() const {
  return optimism_ == 0.0 ? std::string() : fmt::format(", optimism={:g}", optimism_);
}

absl::Status Policy::CollectEligible(const Estimates& estimates, const Catalog& catalog,
                                     const Query& query, Decision* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("decision output is null");
  if (estimates.per_model.size() != static_cast<size_t>(catalog.size())) {
    return absl::InvalidArgumentError(
        fmt::format("estimates cover {} models but the catalog has {}", estimates.per_model.size(),
                    catalog.size()));
  }
  if (catalog.empty()) return absl::FailedPreconditionError("the catalog is empty");
  const std::vector<std::string>* request_allowed = nullptr;
  if (query.overrides != nullptr && !query.overrides->allowed_models.empty()) {
    request_allowed = &query.overrides->allowed_models;
    for (const std::string& name : *request_allowed) {
      if (!catalog.Find(name).ok()) {
        return absl::InvalidArgumentError(fmt::format(
            "the request's allowed models name '{}', which is not in the catalog", name));
      }
    }
  }

  // `ranked` keeps its elements between calls and they are overwritten in
  // place, so model names longer than the small-string buffer do not cost an
  // allocation per model and route once a Decision has been used.
  size_t ranked = 0;
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
    if (request_allowed != nullptr &&
        std::find(request_allowed->begin(), request_allowed->end(), profile.name) ==
            request_allowed->end()) {
      out->trace.excluded.push_back({profile.name, "not in the request's allowed models"});
      continue;
    }
    std::string violation = constraints_.Violation(profile, input_tokens);
    if (!violation.empty()) {
      out->trace.excluded.push_back({profile.name, std::move(violation)});
      continue;
    }
    if (ranked == out->ranked.size()) out->ranked.emplace_back();
    Candidate& candidate = out->ranked[ranked++];
    candidate.model_index = m;
    candidate.model.assign(profile.name);
    candidate.predicted_quality = estimate.quality;
    candidate.uncertainty = estimate.uncertainty;
    candidate.expected_cost_usd = estimate.expected_cost_usd;
    candidate.utility = 0.0;
  }
  out->ranked.resize(ranked);
  if (out->ranked.empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "no eligible model: all {} models are excluded by the constraints", catalog.size()));
  }
  return absl::OkStatus();
}

}  // namespace router
