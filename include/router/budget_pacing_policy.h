// File: router/budget_pacing_policy.h
//
// BudgetPacingPolicy holds the average cost per request at a target the
// operator sets ("$0.15 per 1k requests"), spending it where the router
// expects the most quality. It ranks like MaxUtilityPolicy,
//     u_m = q_m - lambda_t * c_m,
// but lambda_t is a dual price that follows the spend (the online
// primal-dual scheme of budget-constrained routing, e.g. PORT): after each
// decision
//     mu <- clamp(mu + step * (c_chosen / target - 1), 0, max_multiplier)
//     lambda_t = mu / target
// so lambda rises while spending runs ahead of the target and falls while it
// runs behind. mu is, up to the clamp, step times the cumulative overspend in
// units of the target, so the realised average cost converges to the target
// whenever the target is reachable (between the cheapest and the dearest
// models' costs); below the cheapest it settles on the cheapest model.
//
// The spend that paces is the chosen model's expected cost at decision time
// (the router's estimate). A host that learns the real cost later can report
// the realised cost with Policy::RecordRealisedCost, so biased estimates do not bias
// the realised average.
//
// State (mu, spend, requests) is observable and can be restored, so a server
// checkpoints it with the pipeline (Pipeline::Save writes it) or moves it to
// a new policy. Thread safety: Decide may run on many threads; each decision
// reads and updates the state under a short lock.
#ifndef ROUTER_BUDGET_PACING_POLICY_H_
#define ROUTER_BUDGET_PACING_POLICY_H_

#include <cstdint>
#include <mutex>

#include "router/export.h"
#include "router/policy.h"

namespace router {

struct PacingState {
  double multiplier = 0.0;  // mu: lambda = mu / target_cost_usd
  double spend_usd = 0.0;   // expected cost of every paced decision, plus corrections
  int64_t requests = 0;     // decisions counted in spend_usd
};

// Options of the "budget" kind (PolicyConfig::Set).
struct BudgetPacingOptions {
  static constexpr const char* kKind = "budget";
  // The average cost per request to hold, USD; finite and > 0.
  double target_cost_usd = 0.0;
  // Dual step per request, in units of the target; (0, 10].
  double step = 0.01;
  // Upper bound of mu; a mu this high makes cost dominate any quality gap.
  double max_multiplier = 1000.0;
  // Where the pacing starts (a restored checkpoint, or a warm guess).
  PacingState initial;
};

class ROUTER_EXPORT BudgetPacingPolicy : public Policy {
 public:
  static absl::StatusOr<std::unique_ptr<BudgetPacingPolicy>> Create(
      const BudgetPacingOptions& options, Constraints constraints = {}, double optimism = 0.0);

  std::string_view name() const override { return "budget"; }
  absl::Status Decide(const Estimates& estimates, const Catalog& catalog,
                      const Query& query, Decision* out) const override;

  const BudgetPacingOptions& options() const { return options_; }
  PacingState state() const;
  // Replaces the state; InvalidArgument for a negative or non-finite field.
  absl::Status Restore(const PacingState& state);

  // Sets `config`'s options to these with the live pacing state as `initial`.
  void Checkpoint(PolicyConfig* config) const override;

  // {spend_usd, requests} of this policy's own decisions and cost reports.
  std::vector<double> SharedCounters() const override;

 protected:
  void AppendStateJson(std::string* json) const override;
  // Adds (realised - expected) to the spend and moves mu accordingly.
  void OnRealisedCost(double expected_cost_usd, double realised_cost_usd) const override;
  // Other replicas' spend and requests move the state as this policy's own
  // would (requests >= 0).
  absl::Status OnSharedCounters(absl::Span<const double> increments) const override;

 private:
  BudgetPacingPolicy(const BudgetPacingOptions& options, Constraints constraints,
                     double optimism)
      : Policy(std::move(constraints), optimism), options_(options), state_(options.initial) {}
  void Charge(double cost_usd, bool counts_as_request) const;
  // Moves the state by `cost_usd` of spend over `requests` requests; the
  // caller holds mutex_.
  void ChargeLocked(double cost_usd, double requests) const;

  BudgetPacingOptions options_;
  mutable std::mutex mutex_;
  mutable PacingState state_;  // guarded by mutex_
  // This policy's own share of state_ (SharedCounters); guarded by mutex_.
  mutable double own_spend_usd_ = 0.0;
  mutable int64_t own_requests_ = 0;
};

}  // namespace router

#endif  // ROUTER_BUDGET_PACING_POLICY_H_
