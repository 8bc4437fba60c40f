// File: router/max_utility_policy.h
//
// MaxUtilityPolicy picks the model with the highest utility
//     u_m = q_m - lambda * c_m
// where q_m is predicted quality in [0, 1] and c_m the expected cost in USD.
// lambda is the quality a user would give up to save one dollar per request:
// lambda = 1000 means "+0.1 quality is worth $0.0001 more per request".
// lambda = 0 picks the best predicted quality; a large lambda, the cheapest.
// Ties go to the cheaper model, then to the lower catalog index.
#ifndef ROUTER_MAX_UTILITY_POLICY_H_
#define ROUTER_MAX_UTILITY_POLICY_H_

#include "router/export.h"
#include "router/policy.h"

namespace router {

// Options of the "max_utility" kind (PolicyConfig::Set).
struct MaxUtilityOptions {
  static constexpr const char* kKind = "max_utility";
  double lambda = 0.0;  // quality per USD; finite and >= 0
};

class ROUTER_EXPORT MaxUtilityPolicy : public Policy {
 public:
  // `lambda` must be finite and >= 0 (checked by Create).
  static absl::StatusOr<std::unique_ptr<MaxUtilityPolicy>> Create(
      double lambda, Constraints constraints = {}, double optimism = 0.0);
  static absl::StatusOr<std::unique_ptr<MaxUtilityPolicy>> Create(
      const MaxUtilityOptions& options, Constraints constraints = {}, double optimism = 0.0) {
    return Create(options.lambda, std::move(constraints), optimism);
  }

  std::string_view name() const override { return "max_utility"; }
  absl::Status Decide(const Estimates& estimates, const Catalog& catalog,
                      const Query& query, Decision* out) const override;

  double lambda() const { return lambda_; }

 protected:
  void AppendStateJson(std::string* json) const override;

 private:
  MaxUtilityPolicy(double lambda, Constraints constraints, double optimism)
      : Policy(std::move(constraints), optimism), lambda_(lambda) {}
  double lambda_;
};

}  // namespace router

#endif  // ROUTER_MAX_UTILITY_POLICY_H_
