// File: router/estimate.h
//
// What a Router predicts for one query: per model, quality, uncertainty and
// cost, plus the evidence it used (neighbours or clusters) for the trace.
// Estimates is reused across calls so that routing does not allocate once its
// vectors have grown to size.
#ifndef ROUTER_ESTIMATE_H_
#define ROUTER_ESTIMATE_H_

#include <cstdint>
#include <vector>

namespace router {

// One model's prediction for one query.
struct ModelEstimate {
  // Predicted quality (expected score) in [0, 1].
  double quality = 0.0;
  // Spread of the prediction; its meaning is router-specific (kNN: weighted
  // standard deviation of neighbour scores; LinUCB: the UCB bonus).
  double uncertainty = 0.0;
  // Expected cost of answering this query, in USD.
  double expected_cost_usd = 0.0;
  // How many observations support the estimate (kNN: neighbours that had a
  // score for this model). 0 means the estimate is a prior.
  int support = 0;
};

// A reference item the router looked at (a neighbour, a cluster, ...).
struct Evidence {
  int64_t id = -1;          // row of the reference set, or cluster id
  float similarity = 0.0f;  // cosine similarity or weight
};

struct Estimates {
  // Indexed like the router's Catalog.
  std::vector<ModelEstimate> per_model;
  // Evidence in decreasing order of relevance.
  std::vector<Evidence> evidence;
};

}  // namespace router

#endif  // ROUTER_ESTIMATE_H_
