// File: router/decision.h
//
// A Decision is what a Policy returns: the chosen model, ranked fallbacks, and
// a Trace holding everything needed to explain the choice after the fact.
#ifndef ROUTER_DECISION_H_
#define ROUTER_DECISION_H_

#include <string>
#include <vector>

#include "router/export.h"
#include "router/estimate.h"

namespace router {

// A model considered by the policy, with the figures the policy ranked it by.
struct Candidate {
  int model_index = -1;
  std::string model;
  double predicted_quality = 0.0;
  double uncertainty = 0.0;
  double expected_cost_usd = 0.0;
  // The score the policy ranked by, higher is better: max_utility and budget
  // q' - lambda * cost; quality_floor q'; threshold, for the strong model,
  // q'_strong - q'_weak. q' = predicted_quality + optimism * uncertainty.
  double utility = 0.0;
};

// A model the policy could not choose, and why.
struct Exclusion {
  std::string model;
  std::string reason;
};

struct Trace {
  std::string router_kind;         // "knn", ...
  std::string policy;              // "max_utility", "quality_floor", ...
  std::string policy_parameters;   // e.g. "lambda=2000", then the request's
                                   // budget_class and task if named (human readable)
  std::vector<Exclusion> excluded; // constraints that removed models
  std::vector<Evidence> evidence;  // neighbours / clusters the router used
  std::string note;                // e.g. "no model met the floor; chose best"
};

struct ROUTER_EXPORT Decision {
  // Set when the decision was logged for feedback (LivePipeline with a router
  // that learns online): report its outcome with this id. 0 otherwise.
  uint64_t id = 0;
  // The chosen model; equal to ranked.front() when a model was chosen.
  Candidate chosen;
  // Every eligible model, best first. ranked[1..] are the fallbacks, in the
  // order a host should retry them.
  std::vector<Candidate> ranked;
  Trace trace;

  // The fallbacks: ranked minus the chosen model.
  std::vector<Candidate> Fallbacks() const {
    return ranked.size() > 1
               ? std::vector<Candidate>(ranked.begin() + 1, ranked.end())
               : std::vector<Candidate>{};
  }

  // One readable paragraph explaining the decision from its trace alone.
  std::string Explain() const;
  // The same content as a JSON object.
  std::string ToJson() const;
};

}  // namespace router

#endif  // ROUTER_DECISION_H_
