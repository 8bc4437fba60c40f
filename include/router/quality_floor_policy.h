// File: router/quality_floor_policy.h
//
// QualityFloorPolicy picks the cheapest model whose predicted quality is at
// least tau. When no eligible model reaches tau it picks the one with the
// highest predicted quality and says so in the trace. The ranking puts every
// model that meets the floor first (cheapest first), then the rest by quality.
#ifndef ROUTER_QUALITY_FLOOR_POLICY_H_
#define ROUTER_QUALITY_FLOOR_POLICY_H_

#include "router/export.h"
#include "router/policy.h"

namespace router {

// Options of the "quality_floor" kind (PolicyConfig::Set).
struct QualityFloorOptions {
  static constexpr const char* kKind = "quality_floor";
  double tau = 0.7;  // the floor, in [0, 1]
};

class ROUTER_EXPORT QualityFloorPolicy : public Policy {
 public:
  // `tau` must lie in [0, 1] (checked by Create).
  static absl::StatusOr<std::unique_ptr<QualityFloorPolicy>> Create(
      double tau, Constraints constraints = {}, double optimism = 0.0);
  static absl::StatusOr<std::unique_ptr<QualityFloorPolicy>> Create(
      const QualityFloorOptions& options, Constraints constraints = {}, double optimism = 0.0) {
    return Create(options.tau, std::move(constraints), optimism);
  }

  std::string_view name() const override { return "quality_floor"; }
  absl::Status Decide(const Estimates& estimates, const Catalog& catalog,
                      const Query& query, Decision* out) const override;

  double tau() const { return tau_; }

 protected:
  void AppendStateJson(std::string* json) const override;

 private:
  QualityFloorPolicy(double tau, Constraints constraints, double optimism)
      : Policy(std::move(constraints), optimism), tau_(tau) {}
  double tau_;
};

}  // namespace router

#endif  // ROUTER_QUALITY_FLOOR_POLICY_H_
