// File: router/policy.h
//
// A Policy turns a router's Estimates into a Decision: it applies the
// Constraints, ranks the eligible models by its own criterion, and records
// why in the Decision's trace.
//
// Thread safety: Decide is const and may be called from many threads at once.
#ifndef ROUTER_POLICY_H_
#define ROUTER_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/catalog.h"
#include "router/constraints.h"
#include "router/decision.h"
#include "router/estimate.h"
#include "router/query.h"

namespace router {

struct PolicyConfig;  // router/policy_config.h

class ROUTER_EXPORT Policy {
 public:
  virtual ~Policy() = default;

  // Short name: "max_utility", "quality_floor", ...
  virtual std::string_view name() const = 0;

  // Chooses a model. `estimates.per_model` must be indexed like `catalog`.
  // Fails with FailedPrecondition when every model is excluded, and with
  // InvalidArgument when the estimates do not match the catalog.
  virtual absl::Status Decide(const Estimates& estimates, const Catalog& catalog,
                              const Query& query, Decision* out) const = 0;

  // InvalidArgument when the policy names a model `catalog` lacks (a
  // threshold policy's pair, say). Checked when a pipeline takes the policy.
  virtual absl::Status CheckModels(const Catalog& /*catalog*/) const { return absl::OkStatus(); }

  const Constraints& constraints() const { return constraints_; }

  // Weight of the estimate's uncertainty in the quality a policy ranks by:
  // q + optimism * uncertainty. 0 ranks by the prediction alone; 1 is
  // optimism in the face of uncertainty, which makes a bandit router
  // (LinUCB, whose uncertainty is its UCB bonus) explore.
  double optimism() const { return optimism_; }

  // Fails unless `optimism` is finite and >= 0.
  static absl::Status ValidateOptimism(double optimism);

  // The live state as one JSON object: "kind", "optimism", and this kind's
  // parameters and state (a budget policy's spend, a threshold policy's
  // realised share). For hosts' dashboards; router_policy_state_json.
  std::string StateJson() const;

  // Reports what an earlier decision really cost: the chosen candidate's
  // expected_cost_usd at decision time and the cost the host observed. A
  // budget policy paces on the difference; the others ignore it.
  // InvalidArgument, changing nothing, unless both are finite and >= 0.
  // Const like Decide (a policy's live state is internally synchronised), so
  // a host may call it on the policy of a shared pipeline.
  absl::Status RecordRealisedCost(double expected_cost_usd, double realised_cost_usd) const;

  // Sharing live state between replicas of one host (StateSync,
  // router/state_sync.h). The counters this policy accumulated from its own
  // decisions since it was created, all additive: a budget policy's
  // {spend_usd, requests}, a threshold policy's {strong decisions,
  // decisions, strong and all decisions that steer the share}. Empty for a
  // policy without shared state (the default).
  virtual std::vector<double> SharedCounters() const { return {}; }
  // Adds other replicas' increments of SharedCounters, as if their decisions
  // had been made here: a budget policy then paces on the global spend, a
  // threshold policy holds the global strong share. InvalidArgument,
  // changing nothing, for a size other than SharedCounters' or values the
  // kind cannot have (not finite, counts < 0). Const and internally
  // synchronised like RecordRealisedCost.
  absl::Status AddSharedCounters(absl::Span<const double> increments) const;
  // The largest count a shared counter may reach (2^50): no sum overflows.
  static constexpr double kMaxSharedCount = 1125899906842624.0;

  // Writes the live state that a restored policy must start from into
  // `config`'s options (a budget policy's pacing state, a threshold
  // policy's moved threshold), so a saved pipeline resumes where it left.
  // Stateless policies write nothing.
  virtual void Checkpoint(PolicyConfig* /*config*/) const {}

 protected:
  explicit Policy(Constraints constraints, double optimism = 0.0)
      : constraints_(std::move(constraints)), optimism_(optimism) {}

  // Fills out->ranked with every model that passes the constraints and the
  // request's allow-list (unsorted, utility left at 0) and
  // out->trace.excluded with the others. Resets `out`. InvalidArgument when
  // the request's allow-list names a model the catalog does not have.
  absl::Status CollectEligible(const Estimates& estimates, const Catalog& catalog,
                               const Query& query, Decision* out) const;

  // The quality `candidate` is ranked by (see optimism()).
  double RankingQuality(const Candidate& candidate) const {
    return candidate.predicted_quality + optimism_ * candidate.uncertainty;
  }

  // Sorts by utility, best first; ties go to the cheaper model, then to the
  // lower catalog index, so decisions are deterministic.
  static void SortByUtility(std::vector<Candidate>* candidates);

  // ", optimism=<v>" when optimism is not 0, for Trace::policy_parameters.
  std::string OptimismParameter() const;

  // RecordRealisedCost's work, once the costs are checked.
  virtual void OnRealisedCost(double /*expected_cost_usd*/, double /*realised_cost_usd*/) const {}

  // AddSharedCounters' work once the size and finiteness are checked; the
  // kind checks the rest.
  virtual absl::Status OnSharedCounters(absl::Span<const double> /*increments*/) const {
    return absl::OkStatus();
  }

  // Appends this kind's `,"key":value` pairs to StateJson's object.
  virtual void AppendStateJson(std::string* /*json*/) const {}
  // `text` as a JSON string literal, quotes included.
  static std::string JsonQuote(std::string_view text);

 private:
  Constraints constraints_;
  double optimism_ = 0.0;
};

}  // namespace router

#endif  // ROUTER_POLICY_H_
