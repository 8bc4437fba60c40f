// File: router/pipeline.h
//
// A Pipeline is the whole routing path in one object: an optional Embedder
// (the built-in TextFeaturizer unless the data carries its own vectors), a
// fitted Router and a Policy. It is what the C ABI's router_t wraps.
//
//   auto data = router::LoadJsonl("queries.jsonl");
//   auto config = router::ParsePipelineConfig(R"({"policy": {"lambda": 2000}})");
//   auto pipeline = router::Pipeline::Fit(*data, *config);
//   router::Decision decision;
//   (*pipeline)->RouteText("Prove that sqrt(2) is irrational.", &decision);
//
// Thread safety: after Fit, every const method may be called from many
// threads at once.
#ifndef ROUTER_PIPELINE_H_
#define ROUTER_PIPELINE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/export.h"
#include "router/catalog.h"
#include "router/constraints.h"
#include "router/dataset.h"
#include "router/decision.h"
#include "router/embedder.h"
#include "router/knn_router.h"
#include "router/policy.h"
#include "router/profile.h"
#include "router/router.h"
#include "router/text_featurizer.h"

namespace router {

struct PolicyConfig {
  std::string kind = "max_utility";  // or "quality_floor"
  double lambda = 0.0;               // max_utility: quality per USD
  double tau = 0.7;                  // quality_floor: the floor
  Constraints constraints;
};

struct PipelineConfig {
  std::string router = "knn";
  KnnOptions knn;
  // "auto": the built-in featurizer when the data has no vectors, else none.
  // "builtin": always fit the featurizer on the prompts (and ignore vectors).
  // "none": the data must carry vectors; text routing is unavailable.
  std::string embedder = "auto";
  TextFeaturizerOptions featurizer;
  PolicyConfig policy;
  // Profiles for the data's models (prices, context window, tags). Models of
  // the data without a profile here get a profile with their name only.
  std::vector<Profile> models;
};

// Parses a JSON config; every field is optional. Unknown keys are errors, so
// a typo does not silently fall back to a default. Errors name the key.
ROUTER_EXPORT absl::StatusOr<PipelineConfig> ParsePipelineConfig(std::string_view json);

// Builds the Policy a PolicyConfig describes.
ROUTER_EXPORT absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(const PolicyConfig& config);

class ROUTER_EXPORT Pipeline {
 public:
  // Fits the embedder (if any) and the router on the rows of `train`.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Fit(const Dataset& train,
                                                       const PipelineConfig& config);

  // Routes a prompt. FailedPrecondition when the pipeline has no embedder.
  absl::Status RouteText(std::string_view text, Decision* out) const;
  // Routes a query whose vector the host computed (dimension dim()).
  absl::Status Route(const Query& query, Decision* out) const;

  // The router's estimates for a prompt or a query (for evaluation and tools).
  absl::Status EstimateText(std::string_view text, Estimates* out) const;
  absl::Status Estimate(const Query& query, Estimates* out) const;

  // Embeds `text` into `out` (dim() floats).
  absl::Status Embed(std::string_view text, absl::Span<float> out) const;

  // Replaces the policy (not thread-safe with concurrent routing).
  void set_policy(std::unique_ptr<Policy> policy) { policy_ = std::move(policy); }

  int dim() const { return router_->dim(); }
  const Catalog& catalog() const { return router_->catalog(); }
  const Router& router() const { return *router_; }
  const Policy& policy() const { return *policy_; }
  // Null when the pipeline routes vectors only.
  const Embedder* embedder() const { return embedder_.get(); }

 private:
  Pipeline() = default;
  // A Query over `text` and its vector, embedded into a per-thread buffer
  // that stays valid until the next call on this thread.
  absl::StatusOr<Query> EmbedQuery(std::string_view text) const;

  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Policy> policy_;
};

}  // namespace router

#endif  // ROUTER_PIPELINE_H_
