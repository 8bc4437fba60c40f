// File: router/policy.h
//
// A Policy turns a router's Estimates into a Decision: it applies the
// Constraints, ranks the eligible models by its own criterion, and records
// why in the Decision's trace.
//
// Thread safety: Decide is const and may be called from many threads at once.
#ifndef ROUTER_POLICY_H_
#define ROUTER_POLICY_H_

#include <string_view>

#include "absl/status/status.h"
#include "router/export.h"
#include "router/catalog.h"
#include "router/constraints.h"
#include "router/decision.h"
#include "router/estimate.h"
#include "router/query.h"

namespace router {

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

  const Constraints& constraints() const { return constraints_; }

 protected:
  explicit Policy(Constraints constraints) : constraints_(std::move(constraints)) {}

  // Fills out->ranked with every model that passes the constraints (unsorted,
  // utility left at 0) and out->trace.excluded with the others. Resets `out`.
  absl::Status CollectEligible(const Estimates& estimates, const Catalog& catalog,
                               const Query& query, Decision* out) const;

 private:
  Constraints constraints_;
};

}  // namespace router

#endif  // ROUTER_POLICY_H_
