// File: router/request_overrides.h
//
// RequestOverrides lets one request carry its own parameters. Most are the
// policy's: a premium user's request may buy quality with a lower lambda, a
// batch job may be held to a cheaper floor, a tenant may be restricted to its
// contracted models. A Query points at them; unset fields leave the policy's
// own values. Sets of policy overrides used again and again are configured
// once, by name, as the policy's budget classes ("free", "premium") and named
// per request. One is the router's: the task the request comes from, when
// the host knows it.
#ifndef ROUTER_REQUEST_OVERRIDES_H_
#define ROUTER_REQUEST_OVERRIDES_H_

#include <optional>
#include <string>
#include <vector>

namespace router {

struct RequestOverrides {
  // Replaces lambda (quality per USD) for this request: max_utility's
  // lambda, or budget pacing's dual price (the request is then not paced,
  // but its cost still counts towards the budget). Finite, >= 0.
  std::optional<double> lambda;
  // Replaces quality_floor's tau and the threshold policy's threshold.
  // quality_floor: [0, 1]; threshold: [-1, 1].
  std::optional<double> tau;
  // When non-empty, only these models may be chosen for this request, on top
  // of the policy's constraints. Each must name a model of the catalog.
  std::vector<std::string> allowed_models;
  // The name of one of the policy's budget classes (PolicyConfig::
  // budget_classes): its lambda, tau and allow-list apply to this request,
  // except the fields this request sets itself. Empty: none. An unknown
  // name is an error (NotFound), not a silent default.
  std::string budget_class;
  // The task or application this request comes from, when the host knows it
  // (a gateway's route, an app id): the name the training rows gave as their
  // source (Dataset::sources). A router that learned estimates per task uses
  // that task's instead of inferring it from the text: ClusterRouter with
  // its source clusters (cluster_router.h, "Told the task"). Routers without
  // per-task estimates ignore it, and so does ClusterRouter for a name it
  // did not learn: neither is an error, the task is then inferred as usual.
  // Budget classes do not set it.
  std::string task;

  bool empty() const {
    return !lambda && !tau && allowed_models.empty() && budget_class.empty() && task.empty();
  }
};

}  // namespace router

#endif  // ROUTER_REQUEST_OVERRIDES_H_
