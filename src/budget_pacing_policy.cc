#include "router/budget_pacing_policy.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "router/policy_config.h"
#include "router/status.h"

namespace router {
namespace {

absl::Status ValidateState(const PacingState& state) {
  if (!std::isfinite(state.multiplier) || state.multiplier < 0.0 ||
      !std::isfinite(state.spend_usd) || state.requests < 0) {
    return absl::InvalidArgumentError(
        fmt::format("pacing state must have a finite multiplier >= 0, a finite spend and requests "
                    ">= 0; got multiplier={} spend_usd={} requests={}",
                    state.multiplier, state.spend_usd, state.requests));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BudgetPacingPolicy>> BudgetPacingPolicy::Create(
    const BudgetPacingOptions& options, Constraints constraints, double optimism) {
  if (!std::isfinite(options.target_cost_usd) || options.target_cost_usd <= 0.0) {
    return absl::InvalidArgumentError(fmt::format(
        "budget target_cost_usd must be finite and > 0, got {}", options.target_cost_usd));
  }
  if (!std::isfinite(options.step) || options.step <= 0.0 || options.step > 10.0) {
    return absl::InvalidArgumentError(
        fmt::format("budget step must lie in (0, 10], got {}", options.step));
  }
  if (!std::isfinite(options.max_multiplier) || options.max_multiplier <= 0.0) {
    return absl::InvalidArgumentError(fmt::format(
        "budget max_multiplier must be finite and > 0, got {}", options.max_multiplier));
  }
  ROUTER_RETURN_IF_ERROR(ValidateState(options.initial));
  ROUTER_RETURN_IF_ERROR(ValidateOptimism(optimism));
  return std::unique_ptr<BudgetPacingPolicy>(
      new BudgetPacingPolicy(options, std::move(constraints), optimism));
}

void BudgetPacingPolicy::Checkpoint(PolicyConfig* config) const {
  BudgetPacingOptions resumed = options_;
  resumed.initial = state();
  config->Set(resumed);
}

void BudgetPacingPolicy::AppendStateJson(std::string* json) const {
  const PacingState s = state();
  const double target = options_.target_cost_usd;
  *json += fmt::format(
      ",\"target_cost_usd\":{},\"multiplier\":{},\"lambda\":{},\"spend_usd\":{},"
      "\"requests\":{},\"average_cost_usd\":{}",
      target, s.multiplier, s.multiplier / target, s.spend_usd, s.requests,
      s.requests > 0 ? s.spend_usd / static_cast<double>(s.requests) : 0.0);
}

PacingState BudgetPacingPolicy::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

absl::Status BudgetPacingPolicy::Restore(const PacingState& state) {
  ROUTER_RETURN_IF_ERROR(ValidateState(state));
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = state;
  state_.multiplier = std::min(state_.multiplier, options_.max_multiplier);
  return absl::OkStatus();
}

void BudgetPacingPolicy::OnRealisedCost(double expected_cost_usd,
                                        double realised_cost_usd) const {
  Charge(realised_cost_usd - expected_cost_usd, /*counts_as_request=*/false);
}

void BudgetPacingPolicy::Charge(double cost_usd, bool counts_as_request) const {
  std::lock_guard<std::mutex> lock(mutex_);
  own_spend_usd_ += cost_usd;
  if (counts_as_request) ++own_requests_;
  ChargeLocked(cost_usd, counts_as_request ? 1.0 : 0.0);
}

void BudgetPacingPolicy::ChargeLocked(double cost_usd, double requests) const {
  state_.spend_usd += cost_usd;
  state_.requests += static_cast<int64_t>(requests);
  // Each request's own target allowance is the -1; a correction (no
  // request) moves mu by the overspend it reveals alone.
  const double delta = cost_usd / options_.target_cost_usd - requests;
  state_.multiplier =
      std::clamp(state_.multiplier + options_.step * delta, 0.0, options_.max_multiplier);
}

std::vector<double> BudgetPacingPolicy::SharedCounters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {own_spend_usd_, static_cast<double>(own_requests_)};
}

absl::Status BudgetPacingPolicy::OnSharedCounters(absl::Span<const double> increments) const {
  const double spend_usd = increments[0], requests = increments[1];
  if (requests < 0.0 || requests != std::floor(requests) || requests > kMaxSharedCount) {
    return absl::InvalidArgumentError(fmt::format(
        "shared counters: budget requests must be a whole number in [0, 2^50], got {}",
        requests));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!std::isfinite(state_.spend_usd + spend_usd) ||
      static_cast<double>(state_.requests) + requests > kMaxSharedCount) {
    return absl::InvalidArgumentError("shared counters: the budget's totals would overflow");
  }
  ChargeLocked(spend_usd, requests);
  return absl::OkStatus();
}

absl::Status BudgetPacingPolicy::Decide(const Estimates& estimates, const Catalog& catalog,
                                        const Query& query, Decision* out) const {
  const bool overridden = query.overrides != nullptr && query.overrides->lambda.has_value();
  double lambda;
  if (overridden) {
    lambda = *query.overrides->lambda;
    if (!std::isfinite(lambda) || lambda < 0.0) {
      return absl::InvalidArgumentError(
          fmt::format("the request's lambda must be finite and >= 0, got {}", lambda));
    }
  } else {
    lambda = state().multiplier / options_.target_cost_usd;
  }
  ROUTER_RETURN_IF_ERROR(CollectEligible(estimates, catalog, query, out));
  for (Candidate& candidate : out->ranked) {
    candidate.utility = RankingQuality(candidate) - lambda * candidate.expected_cost_usd;
  }
  SortByUtility(&out->ranked);
  out->chosen = out->ranked.front();
  Charge(out->chosen.expected_cost_usd, /*counts_as_request=*/true);
  const PacingState after = state();
  out->trace.policy_parameters =
      fmt::format("target_cost_usd={:g}, lambda={:g}{}, average_cost_usd={:g} over {} requests{}",
                  options_.target_cost_usd, lambda, overridden ? " (request override)" : "",
                  after.requests > 0 ? after.spend_usd / static_cast<double>(after.requests) : 0.0,
                  after.requests, OptimismParameter());
  return absl::OkStatus();
}

}  // namespace router
