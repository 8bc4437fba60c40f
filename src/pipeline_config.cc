// The JSON face of PipelineConfig: its schema (composed of the options'
// schemas in internal/option_schemas.cc), parsing, printing, the reference
// table for the docs, and MakeRouter / MakePolicy.
#include <string>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "internal/option_schemas.h"
#include "internal/options_schema.h"
#include "nlohmann/json.hpp"
#include "router/budget_pacing_policy.h"
#include "router/max_utility_policy.h"
#include "router/pipeline_config.h"
#include "router/quality_floor_policy.h"
#include "router/status.h"
#include "router/threshold_policy.h"

namespace router {
namespace {

using internal::Json;
using internal::OptionsSchema;
using internal::Range;

// One budget class: per-request overrides, each field optional, checked as
// a request's would be.
const OptionsSchema<RequestOverrides>& BudgetClassSchema() {
  using O = RequestOverrides;
  static const auto& schema =
      (new OptionsSchema<O>("policy.budget_classes.*"))
          ->OptionalNumber("lambda", &O::lambda, Range::AtLeast(0), "The class's lambda.")
          .OptionalNumber("tau", &O::tau, Range::Closed(-1, 1), "The class's tau.")
          .Strings("allowed_models", &O::allowed_models, "The class's allowed models.");
  return schema;
}

absl::Status ReadBudgetClasses(const Json& json, const std::string& path, PolicyConfig* policy) {
  if (!json.is_object()) return internal::ConfigError(path, "must be an object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key().empty()) {
      return absl::InvalidArgumentError("config: a budget class has an empty name");
    }
    ROUTER_RETURN_IF_ERROR(BudgetClassSchema().Read(it.value(), path + "." + it.key(),
                                                    &policy->budget_classes[it.key()]));
  }
  return absl::OkStatus();
}

Json BudgetClassesJson(const PolicyConfig& policy) {
  Json json = Json::object();
  for (const auto& [name, overrides] : policy.budget_classes) {
    Json entry = BudgetClassSchema().Write(overrides);
    for (const char* optional : {"lambda", "tau"}) {
      if (entry[optional].is_null()) entry.erase(optional);
    }
    json[name] = std::move(entry);
  }
  return json;
}

std::vector<std::string> PolicyKindNames() {
  return {"max_utility", "quality_floor", "budget", "threshold"};
}

const OptionsSchema<PolicyConfig>& PolicyConfigSchema() {
  using O = PolicyConfig;
  static const auto& schema =
      (new OptionsSchema<O>("policy"))
          ->Choice("kind", &O::kind, PolicyKindNames(),
                   "The policy (docs/policies.md); only its own fields below apply.")
          .Number("lambda", &O::lambda, Range::AtLeast(0),
                  "max_utility: quality per USD per request; 0 picks the best quality.")
          .Number("tau", &O::tau, Range::Closed(0, 1),
                  "quality_floor: the cheapest model predicted at or above tau wins.")
          .OptionalNumber("optimism", &O::optimism, Range::AtLeast(0),
                          "Weight of uncertainty in ranking; null = 1 for online routers, "
                          "else 0.")
          .Number("target_cost_usd", &O::target_cost_usd, Range::AtLeast(0),
                  "budget: the average cost per request to hold (> 0 for that kind).")
          .Number("pacing_step", &O::pacing_step, Range::LeftOpen(0, 10),
                  "budget: dual step per request, in units of the target.")
          .Number("max_multiplier", &O::max_multiplier, Range::Above(0),
                  "budget: upper bound of the dual multiplier mu.")
          .Object("pacing_state", &O::pacing_state, internal::PacingStateSchema(),
                  "budget: the pacing state to start from (saves write the live state).")
          .String("strong", &O::strong, "threshold: the strong model.")
          .String("weak", &O::weak, "threshold: the weak model.")
          .Number("threshold", &O::threshold, Range::Closed(-1, 1),
                  "threshold: strong when q_strong - q_weak exceeds it.")
          .Number("strong_share", &O::strong_share, Range{.max = 1},
                  "threshold: share of strong decisions to hold online; < 0 keeps the "
                  "threshold fixed.")
          .Number("share_step", &O::share_step, Range::LeftOpen(0, 1),
                  "threshold: step of the share control.")
          .Object("constraints", &O::constraints, internal::ConstraintsSchema(),
                  "Models excluded before the policy ranks.")
          .Custom("budget_classes", "object", "Named per-request overrides (lambda, tau, "
                  "allowed_models), chosen by RequestOverrides::budget_class.",
                  ReadBudgetClasses, BudgetClassesJson);
  return schema;
}

// A profile, read like any object, then checked as Catalog::Add would.
absl::Status ReadProfile(const Json& json, const std::string& path, Profile* profile) {
  ROUTER_RETURN_IF_ERROR(internal::ProfileSchema().Read(json, path, profile));
  if (profile->name.empty()) return internal::ConfigError(path + ".name", "is required");
  Catalog probe;
  return probe.Add(*profile);
}

absl::Status ReadModels(const Json& json, const std::string& path, PipelineConfig* config) {
  if (!json.is_array()) return internal::ConfigError(path, "must be an array of objects");
  config->models.clear();
  for (size_t i = 0; i < json.size(); ++i) {
    Profile profile;
    ROUTER_RETURN_IF_ERROR(ReadProfile(json[i], fmt::format("{}[{}]", path, i), &profile));
    config->models.push_back(std::move(profile));
  }
  return absl::OkStatus();
}

Json ModelsJson(const PipelineConfig& config) {
  Json models = Json::array();
  for (const Profile& profile : config.models) {
    models.push_back(internal::ProfileSchema().Write(profile));
  }
  return models;
}

std::vector<std::string> RouterKindNames() {
  std::vector<std::string> names;
  for (const RouterKind& kind : RouterKinds()) names.emplace_back(kind.name);
  return names;
}

const OptionsSchema<PipelineConfig>& PipelineConfigSchema() {
  using O = PipelineConfig;
  static const auto& schema =
      (new OptionsSchema<O>(""))
          ->Choice("router", &O::router, RouterKindNames,
                   "The router kind; only its own options block is used.")
          .Choice("embedder", &O::embedder, {"auto", "builtin", "none"},
                  "auto: the built-in featurizer unless the data has vectors; builtin: "
                  "always; none: vectors only.")
          .Object("knn", &O::knn, internal::KnnOptionsSchema(), "kNN router options.")
          .Object("cluster", &O::cluster, internal::ClusterOptionsSchema(),
                  "Cluster router options.")
          .Object("mf", &O::mf, internal::MfOptionsSchema(), "MF router options.")
          .Object("linucb", &O::linucb, internal::LinUcbOptionsSchema(),
                  "LinUCB router options.")
          .Object("featurizer", &O::featurizer, internal::TextFeaturizerOptionsSchema(),
                  "Built-in text featurizer options.")
          .Object("policy", &O::policy, PolicyConfigSchema(), "The policy.")
          .Custom("models", "array of objects",
                  "Profiles of the data's models (each as models[] below).", ReadModels,
                  ModelsJson)
          .Strings("removed_models", &O::removed_models,
                   "Models taken out of service at run time (written by saves).")
          .Object("limits", &O::limits, internal::LimitsSchema(), "Size limits.");
  return schema;
}

// `text` as JSON; `what` names it in the error.
absl::StatusOr<Json> ParseJsonText(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}: not valid JSON: {}", what, e.what()));
  }
}

}  // namespace

absl::StatusOr<Profile> ParseProfile(std::string_view text) {
  ROUTER_ASSIGN_OR_RETURN(const Json json, ParseJsonText(text, "model profile"));
  Profile profile;
  ROUTER_RETURN_IF_ERROR(ReadProfile(json, "profile", &profile));
  return profile;
}

absl::StatusOr<PolicyConfig> ParsePolicyConfig(std::string_view text) {
  ROUTER_ASSIGN_OR_RETURN(const Json json, ParseJsonText(text, "policy"));
  PolicyConfig policy;
  ROUTER_RETURN_IF_ERROR(PolicyConfigSchema().Read(json, "policy", &policy));
  ROUTER_RETURN_IF_ERROR(MakePolicy(policy).status());
  return policy;
}

absl::StatusOr<PipelineConfig> ParsePipelineConfig(std::string_view text) {
  PipelineConfig config;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return config;
  ROUTER_ASSIGN_OR_RETURN(const Json json, ParseJsonText(text, "config"));
  ROUTER_RETURN_IF_ERROR(PipelineConfigSchema().Read(json, "", &config));
  // Validate the policy's values together now, so a bad config fails here.
  ROUTER_RETURN_IF_ERROR(MakePolicy(config.policy).status());
  return config;
}

std::string PipelineConfigToJson(const PipelineConfig& config) {
  return PipelineConfigSchema().Write(config).dump(2);
}

std::vector<ConfigKey> ConfigKeys() {
  // Named defaults, not temporaries: GCC 12 warns (wrongly) that a temporary
  // PipelineConfig's std::function member may be used uninitialised.
  const PipelineConfig config_defaults;
  const Profile profile_defaults;
  std::vector<ConfigKey> keys;
  PipelineConfigSchema().Describe("", config_defaults, &keys);
  internal::ProfileSchema().Describe("models[]", profile_defaults, &keys);
  return keys;
}

std::string ConfigReferenceMarkdown() {
  std::string table = "| key | type | allowed | default | meaning |\n|---|---|---|---|---|\n";
  for (const ConfigKey& key : ConfigKeys()) {
    table += fmt::format("| `{}` | {} | {} | `{}` | {} |\n", key.key, key.type, key.allowed,
                         key.default_json, key.doc);
  }
  return table;
}

absl::StatusOr<std::unique_ptr<Router>> MakeRouter(const PipelineConfig& config) {
  for (const RouterKind& kind : RouterKinds()) {
    if (kind.name == config.router) return kind.make(config);
  }
  return absl::InvalidArgumentError(
      fmt::format("config: 'router' must be one of \"{}\", got \"{}\"",
                  fmt::join(RouterKindNames(), "\", \""), config.router));
}

absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(const PolicyConfig& config,
                                                   bool router_learns_online) {
  const double optimism = config.optimism.value_or(router_learns_online ? 1.0 : 0.0);
  if (config.kind == "max_utility") {
    ROUTER_ASSIGN_OR_RETURN(
        auto policy, MaxUtilityPolicy::Create(config.lambda, config.constraints, optimism));
    return std::unique_ptr<Policy>(std::move(policy));
  }
  if (config.kind == "quality_floor") {
    ROUTER_ASSIGN_OR_RETURN(
        auto policy, QualityFloorPolicy::Create(config.tau, config.constraints, optimism));
    return std::unique_ptr<Policy>(std::move(policy));
  }
  if (config.kind == "budget") {
    BudgetPacingOptions options;
    options.target_cost_usd = config.target_cost_usd;
    options.step = config.pacing_step;
    options.max_multiplier = config.max_multiplier;
    options.initial = config.pacing_state;
    ROUTER_ASSIGN_OR_RETURN(auto policy,
                            BudgetPacingPolicy::Create(options, config.constraints, optimism));
    return std::unique_ptr<Policy>(std::move(policy));
  }
  if (config.kind == "threshold") {
    ROUTER_ASSIGN_OR_RETURN(auto policy,
                            ThresholdPolicy::Create(config.strong, config.weak, config.threshold,
                                                    config.constraints, optimism));
    ROUTER_RETURN_IF_ERROR(policy->TrackShare(config.strong_share, config.share_step));
    return std::unique_ptr<Policy>(std::move(policy));
  }
  return absl::InvalidArgumentError(
      fmt::format("policy kind must be one of \"{}\", got \"{}\"",
                  fmt::join(PolicyKindNames(), "\", \""), config.kind));
}

}  // namespace router
