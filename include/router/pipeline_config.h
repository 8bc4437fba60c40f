// File: router/pipeline_config.h
//
// PipelineConfig: what a Pipeline is fitted with (router kind and options,
// embedder, policy, model profiles, limits), and its JSON form. Every field
// of every options struct is declared once, in src/internal/option_schemas.cc
// and src/pipeline_config.cc; that declaration drives parsing, printing,
// range validation and docs/configuration.md's reference table.
#ifndef ROUTER_PIPELINE_CONFIG_H_
#define ROUTER_PIPELINE_CONFIG_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/budget_pacing_policy.h"
#include "router/cluster_router.h"
#include "router/config_key.h"
#include "router/constraints.h"
#include "router/export.h"
#include "router/knn_router.h"
#include "router/limits.h"
#include "router/linucb_router.h"
#include "router/mf_router.h"
#include "router/policy.h"
#include "router/profile.h"
#include "router/request_overrides.h"
#include "router/router.h"
#include "router/text_featurizer.h"

namespace router {

struct PolicyConfig {
  // "max_utility", "quality_floor", "budget" (BudgetPacingPolicy) or
  // "threshold" (ThresholdPolicy); the fields of that kind apply.
  std::string kind = "max_utility";
  double lambda = 0.0;  // max_utility: quality per USD
  double tau = 0.7;     // quality_floor: the floor
  // Weight of the estimates' uncertainty in ranking (Policy::optimism()).
  // Unset: 1 when the router learns online (so LinUCB explores), else 0.
  std::optional<double> optimism;
  // budget: the average cost per request to hold, the dual step, and the
  // pacing state to start from (Pipeline::Save writes the live state here).
  double target_cost_usd = 0.0;
  double pacing_step = 0.01;
  double max_multiplier = 1000.0;  // BudgetPacingOptions::max_multiplier
  PacingState pacing_state;
  // threshold: the pair, the threshold on q_strong - q_weak, and the share
  // of strong decisions to hold by moving it (< 0: a fixed threshold).
  // Pipeline::Save writes the live threshold here.
  std::string strong;
  std::string weak;
  double threshold = 0.0;
  double strong_share = -1.0;
  double share_step = 0.01;
  Constraints constraints;
  // Named sets of per-request overrides ("free": a high lambda and small
  // models only; "premium": a low lambda). A request names one in
  // RequestOverrides::budget_class; their budget_class fields are unused.
  std::map<std::string, RequestOverrides> budget_classes;
};

struct PipelineConfig {
  // "knn", "cluster", "mf" or "linucb"; the options of that kind apply.
  std::string router = "knn";
  KnnOptions knn;
  ClusterOptions cluster;
  MfOptions mf;  // its progress callback is not part of the JSON
  LinUcbOptions linucb;
  // "auto": the built-in featurizer when the data has no vectors, else none.
  // "builtin": always fit the featurizer on the prompts (and ignore vectors).
  // "none": the data must carry vectors; text routing is unavailable.
  std::string embedder = "auto";
  TextFeaturizerOptions featurizer;
  PolicyConfig policy;
  // Profiles for the data's models (prices, context window, tags). Models of
  // the data without a profile here get a profile with their name only.
  // After a fit, a profile here overrides the fitted one at routing time (a
  // price change: see Pipeline::WithProfile).
  std::vector<Profile> models;
  // Models taken out of service at run time (Pipeline::WithoutModel): the
  // router still estimates them, the policy never sees them.
  std::vector<std::string> removed_models;
  // Size limits for routing and fitting with this pipeline (router/limits.h).
  Limits limits;
};

// Parses a JSON config; every field is optional. Unknown keys are errors, so
// a typo does not silently fall back to a default. Errors name the key.
ROUTER_EXPORT absl::StatusOr<PipelineConfig> ParsePipelineConfig(std::string_view json);

// Parses the "policy" object of a config on its own (same rules).
ROUTER_EXPORT absl::StatusOr<PolicyConfig> ParsePolicyConfig(std::string_view json);

// Parses one entry of a config's "models" list on its own (same rules):
// {"name": "m", "input_usd_per_mtok": 0.5, ...}.
ROUTER_EXPORT absl::StatusOr<Profile> ParseProfile(std::string_view json);

// The JSON text of `config`, every field written; ParsePipelineConfig reads
// it back to an equal config.
ROUTER_EXPORT std::string PipelineConfigToJson(const PipelineConfig& config);

// An unfitted router of the kind and options `config` names.
ROUTER_EXPORT absl::StatusOr<std::unique_ptr<Router>> MakeRouter(const PipelineConfig& config);

// Builds the Policy a PolicyConfig describes; an unset optimism resolves by
// `router_learns_online`.
ROUTER_EXPORT absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(
    const PolicyConfig& config, bool router_learns_online = false);

// A router kind: its name in PipelineConfig::router and how to make an
// unfitted router of it from a config. The config parser, MakeRouter,
// Pipeline::Load and the CLI know kinds only through this registry.
struct RouterKind {
  std::string name;
  std::function<std::unique_ptr<Router>(const PipelineConfig& config)> make;
};

// The registered kinds: the built-in ones (src/router_kinds.cc) first, then
// those added by RegisterRouterKind, in order. Thread-safe.
ROUTER_EXPORT std::vector<RouterKind> RouterKinds();

// Adds a router kind, so configs can name it and saved files of it load (a
// host's own router, say). AlreadyExists for a name already registered;
// InvalidArgument for an empty name or no factory. Thread-safe.
ROUTER_EXPORT absl::Status RegisterRouterKind(RouterKind kind);

// Every key of the config, in the order of the JSON that
// PipelineConfigToJson writes (models[] keys last).
ROUTER_EXPORT std::vector<ConfigKey> ConfigKeys();

// ConfigKeys() as a Markdown table. docs/configuration.md carries it
// between markers; a test checks that it is current.
ROUTER_EXPORT std::string ConfigReferenceMarkdown();

}  // namespace router

#endif  // ROUTER_PIPELINE_CONFIG_H_

