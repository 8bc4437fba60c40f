// ParsePipelineConfig and MakePolicy: the JSON face of PipelineConfig.
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "router/budget_pacing_policy.h"
#include "router/cluster_router.h"
#include "router/linucb_router.h"
#include "router/max_utility_policy.h"
#include "router/mf_router.h"
#include "router/pipeline.h"
#include "router/quality_floor_policy.h"
#include "router/threshold_policy.h"
#include "router/status.h"

namespace router {
namespace {

using Json = nlohmann::json;

// Rejects keys of `object` (at `path`) that are not in `known`, so that a
// misspelt option is an error instead of a silently ignored default.
absl::Status CheckKeys(const Json& object, const std::string& path,
                       std::initializer_list<const char*> known) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("config: '", path, "' must be an object"));
  }
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool found = false;
    for (const char* key : known) found = found || it.key() == key;
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: unknown key '", path.empty() ? "" : path + ".", it.key(),
          "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

std::string KeyPath(const std::string& path, const char* key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

absl::Status ReadNumber(const Json& object, const std::string& path, const char* key,
                        double* out) {
  if (!object.contains(key)) return absl::OkStatus();
  const Json& value = object.at(key);
  if (!value.is_number() || !std::isfinite(value.get<double>())) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: '", KeyPath(path, key), "' must be a finite number"));
  }
  *out = value.get<double>();
  return absl::OkStatus();
}

template <typename Int>
absl::Status ReadInt(const Json& object, const std::string& path, const char* key,
                     Int* out) {
  if (!object.contains(key)) return absl::OkStatus();
  const Json& value = object.at(key);
  const absl::Status error = absl::InvalidArgumentError(absl::StrCat(
      "config: '", KeyPath(path, key), "' must be an integer in [",
      std::numeric_limits<Int>::min(), ", ", std::numeric_limits<Int>::max(), "]"));
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<Int>::max())) return error;
    *out = static_cast<Int>(v);
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < 0 && !std::numeric_limits<Int>::is_signed) return error;
    if (std::numeric_limits<Int>::is_signed &&
        (v < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
         v > static_cast<int64_t>(std::numeric_limits<Int>::max()))) {
      return error;
    }
    *out = static_cast<Int>(v);
  } else {
    return error;
  }
  return absl::OkStatus();
}

absl::Status ReadString(const Json& object, const std::string& path, const char* key,
                        std::string* out) {
  if (!object.contains(key)) return absl::OkStatus();
  const Json& value = object.at(key);
  if (!value.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: '", KeyPath(path, key), "' must be a string"));
  }
  *out = value.get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadStrings(const Json& object, const std::string& path, const char* key,
                         std::vector<std::string>* out) {
  if (!object.contains(key)) return absl::OkStatus();
  const Json& value = object.at(key);
  const absl::Status error = absl::InvalidArgumentError(
      absl::StrCat("config: '", KeyPath(path, key), "' must be an array of strings"));
  if (!value.is_array()) return error;
  out->clear();
  for (const Json& item : value) {
    if (!item.is_string()) return error;
    out->push_back(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseKnn(const Json& json, KnnOptions* knn) {
  const std::string path = "knn";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"k", "weighting", "hnsw_threshold", "hnsw_m",
                                    "hnsw_ef_construction", "hnsw_ef_search"}));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "k", &knn->k));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "hnsw_threshold", &knn->hnsw_threshold));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "hnsw_m", &knn->hnsw_m));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "hnsw_ef_construction", &knn->hnsw_ef_construction));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "hnsw_ef_search", &knn->hnsw_ef_search));
  std::string weighting = knn->weighting == KnnOptions::Weighting::kUniform ? "uniform"
                                                                            : "similarity";
  ROUTER_RETURN_IF_ERROR(ReadString(json, path, "weighting", &weighting));
  if (weighting == "uniform") {
    knn->weighting = KnnOptions::Weighting::kUniform;
  } else if (weighting == "similarity") {
    knn->weighting = KnnOptions::Weighting::kSimilarity;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: 'knn.weighting' must be \"uniform\" or \"similarity\", got \"", weighting,
        "\""));
  }
  if (knn->k < 1) return absl::InvalidArgumentError("config: 'knn.k' must be >= 1");
  return absl::OkStatus();
}

absl::Status ParseCluster(const Json& json, ClusterOptions* cluster) {
  const std::string path = "cluster";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"num_clusters", "nearest_clusters", "temperature",
                                    "prior_strength", "kmeans_iterations", "kmeans_restarts",
                                    "seed"}));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "num_clusters", &cluster->num_clusters));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "nearest_clusters", &cluster->nearest_clusters));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "temperature", &cluster->temperature));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "prior_strength", &cluster->prior_strength));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "kmeans_iterations", &cluster->kmeans_iterations));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "kmeans_restarts", &cluster->kmeans_restarts));
  return ReadInt(json, path, "seed", &cluster->seed);
}

absl::Status ParseMf(const Json& json, MfOptions* mf) {
  const std::string path = "mf";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"hidden_dim", "epochs", "batch_size", "learning_rate", "l2",
                                    "validation_fraction", "patience", "seed", "loss",
                                    "num_threads", "onboard_l2"}));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "hidden_dim", &mf->hidden_dim));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "epochs", &mf->epochs));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "batch_size", &mf->batch_size));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "learning_rate", &mf->learning_rate));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "l2", &mf->l2));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "validation_fraction", &mf->validation_fraction));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "patience", &mf->patience));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "seed", &mf->seed));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "num_threads", &mf->num_threads));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "onboard_l2", &mf->onboard_l2));
  std::string loss = mf->loss == MfOptions::Loss::kPairwise ? "pairwise" : "pointwise";
  ROUTER_RETURN_IF_ERROR(ReadString(json, path, "loss", &loss));
  if (loss != "pointwise" && loss != "pairwise") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: 'mf.loss' must be \"pointwise\" or \"pairwise\", got \"", loss, "\""));
  }
  mf->loss = loss == "pairwise" ? MfOptions::Loss::kPairwise : MfOptions::Loss::kPointwise;
  return ValidateMfOptions(*mf);
}

absl::Status ReadBool(const Json& object, const std::string& path, const char* key, bool* out) {
  if (!object.contains(key)) return absl::OkStatus();
  if (!object.at(key).is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: '", KeyPath(path, key), "' must be true or false"));
  }
  *out = object.at(key).get<bool>();
  return absl::OkStatus();
}

absl::Status ParseLinUcb(const Json& json, LinUcbOptions* linucb) {
  const std::string path = "linucb";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"context_dim", "alpha", "ridge", "prior_quality", "seed",
                                    "warm_start", "reinvert_every", "whiten", "clusters"}));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "context_dim", &linucb->context_dim));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "alpha", &linucb->alpha));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "ridge", &linucb->ridge));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "prior_quality", &linucb->prior_quality));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "seed", &linucb->seed));
  ROUTER_RETURN_IF_ERROR(ReadBool(json, path, "warm_start", &linucb->warm_start));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "reinvert_every", &linucb->reinvert_every));
  ROUTER_RETURN_IF_ERROR(ReadBool(json, path, "whiten", &linucb->whiten));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "clusters", &linucb->clusters));
  return ValidateLinUcbOptions(*linucb);
}

absl::Status ParseFeaturizer(const Json& json, TextFeaturizerOptions* options) {
  const std::string path = "featurizer";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"word_buckets", "char_buckets", "min_char_ngram",
                                    "max_char_ngram", "dim", "seed", "power_iterations",
                                    "max_text_bytes"}));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "word_buckets", &options->word_buckets));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "char_buckets", &options->char_buckets));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "min_char_ngram", &options->min_char_ngram));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "max_char_ngram", &options->max_char_ngram));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "dim", &options->dim));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "seed", &options->seed));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "power_iterations", &options->power_iterations));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "max_text_bytes", &options->max_text_bytes));
  return absl::OkStatus();
}

absl::Status ParseLimits(const Json& json, Limits* limits) {
  const std::string path = "limits";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"max_prompt_bytes", "max_batch_size", "max_models",
                                    "max_section_bytes"}));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "max_prompt_bytes", &limits->max_prompt_bytes));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "max_batch_size", &limits->max_batch_size));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "max_models", &limits->max_models));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "max_section_bytes", &limits->max_section_bytes));
  return ValidateLimits(*limits);
}

absl::Status ParseConstraints(const Json& json, Constraints* constraints) {
  const std::string path = "policy.constraints";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"allowed_models", "denied_models", "allowed_tags",
                                    "denied_tags", "max_latency_ms",
                                    "enforce_context_window"}));
  ROUTER_RETURN_IF_ERROR(ReadStrings(json, path, "allowed_models", &constraints->allowed_models));
  ROUTER_RETURN_IF_ERROR(ReadStrings(json, path, "denied_models", &constraints->denied_models));
  ROUTER_RETURN_IF_ERROR(ReadStrings(json, path, "allowed_tags", &constraints->allowed_tags));
  ROUTER_RETURN_IF_ERROR(ReadStrings(json, path, "denied_tags", &constraints->denied_tags));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "max_latency_ms", &constraints->max_latency_ms));
  if (json.contains("enforce_context_window")) {
    if (!json.at("enforce_context_window").is_boolean()) {
      return absl::InvalidArgumentError(
          "config: 'policy.constraints.enforce_context_window' must be true or false");
    }
    constraints->enforce_context_window = json.at("enforce_context_window").get<bool>();
  }
  return absl::OkStatus();
}

absl::Status ParsePacingState(const Json& json, PacingState* state) {
  const std::string path = "policy.pacing_state";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path, {"multiplier", "spend_usd", "requests"}));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "multiplier", &state->multiplier));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "spend_usd", &state->spend_usd));
  return ReadInt(json, path, "requests", &state->requests);
}

// One budget class: a set of per-request overrides, checked as a request's
// would be (a finite lambda >= 0, a tau in [-1, 1]).
absl::Status ParseBudgetClass(const Json& json, const std::string& path,
                              RequestOverrides* overrides) {
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path, {"lambda", "tau", "allowed_models"}));
  if (json.contains("lambda")) {
    double lambda = 0.0;
    ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "lambda", &lambda));
    if (!std::isfinite(lambda) || lambda < 0.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: '", path, ".lambda' must be finite and >= 0"));
    }
    overrides->lambda = lambda;
  }
  if (json.contains("tau")) {
    double tau = 0.0;
    ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "tau", &tau));
    if (!(tau >= -1.0 && tau <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: '", path, ".tau' must be in [-1, 1]"));
    }
    overrides->tau = tau;
  }
  return ReadStrings(json, path, "allowed_models", &overrides->allowed_models);
}

absl::Status ParseBudgetClasses(const Json& json, PolicyConfig* policy) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("config: 'policy.budget_classes' must be an object");
  }
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key().empty()) {
      return absl::InvalidArgumentError("config: a budget class has an empty name");
    }
    ROUTER_RETURN_IF_ERROR(ParseBudgetClass(it.value(), "policy.budget_classes." + it.key(),
                                            &policy->budget_classes[it.key()]));
  }
  return absl::OkStatus();
}

Json BudgetClassesJson(const std::map<std::string, RequestOverrides>& classes) {
  Json json = Json::object();
  for (const auto& [name, overrides] : classes) {
    Json entry = Json::object();
    if (overrides.lambda) entry["lambda"] = *overrides.lambda;
    if (overrides.tau) entry["tau"] = *overrides.tau;
    if (!overrides.allowed_models.empty()) entry["allowed_models"] = overrides.allowed_models;
    json[name] = std::move(entry);
  }
  return json;
}

absl::Status ParsePolicy(const Json& json, PolicyConfig* policy) {
  const std::string path = "policy";
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"kind", "lambda", "tau", "optimism", "target_cost_usd",
                                    "pacing_step", "pacing_state", "strong", "weak",
                                    "threshold", "strong_share", "share_step", "constraints",
                                    "budget_classes"}));
  ROUTER_RETURN_IF_ERROR(ReadString(json, path, "kind", &policy->kind));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "lambda", &policy->lambda));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "tau", &policy->tau));
  if (json.contains("optimism") && !json.at("optimism").is_null()) {
    double optimism = 0.0;
    ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "optimism", &optimism));
    policy->optimism = optimism;
  }
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "target_cost_usd", &policy->target_cost_usd));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "pacing_step", &policy->pacing_step));
  if (json.contains("pacing_state")) {
    ROUTER_RETURN_IF_ERROR(ParsePacingState(json.at("pacing_state"), &policy->pacing_state));
  }
  ROUTER_RETURN_IF_ERROR(ReadString(json, path, "strong", &policy->strong));
  ROUTER_RETURN_IF_ERROR(ReadString(json, path, "weak", &policy->weak));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "threshold", &policy->threshold));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "strong_share", &policy->strong_share));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "share_step", &policy->share_step));
  if (json.contains("constraints")) {
    ROUTER_RETURN_IF_ERROR(ParseConstraints(json.at("constraints"), &policy->constraints));
  }
  if (json.contains("budget_classes")) {
    ROUTER_RETURN_IF_ERROR(ParseBudgetClasses(json.at("budget_classes"), policy));
  }
  // Validate values now, so a bad config fails at parse time.
  return MakePolicy(*policy).status();
}

// `text` as JSON; `what` names it in the error.
absl::StatusOr<Json> ParseJsonText(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(what), ": not valid JSON: ", e.what()));
  }
}

// `path` names the object in errors ("models[2]").
absl::Status ParseModel(const Json& json, const std::string& path, Profile* profile) {
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, path,
                                   {"name", "input_usd_per_mtok", "output_usd_per_mtok",
                                    "expected_output_tokens", "p50_latency_ms",
                                    "context_window", "tags", "available"}));
  ROUTER_RETURN_IF_ERROR(ReadString(json, path, "name", &profile->name));
  if (profile->name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("config: '", path, ".name' is required"));
  }
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "input_usd_per_mtok", &profile->input_usd_per_mtok));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "output_usd_per_mtok", &profile->output_usd_per_mtok));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "expected_output_tokens", &profile->expected_output_tokens));
  ROUTER_RETURN_IF_ERROR(ReadNumber(json, path, "p50_latency_ms", &profile->p50_latency_ms));
  ROUTER_RETURN_IF_ERROR(ReadInt(json, path, "context_window", &profile->context_window));
  ROUTER_RETURN_IF_ERROR(ReadStrings(json, path, "tags", &profile->tags));
  ROUTER_RETURN_IF_ERROR(ReadBool(json, path, "available", &profile->available));
  // Catalog::Add checks the ranges; check them here too for an early error.
  Catalog probe;
  return probe.Add(*profile);
}

}  // namespace

absl::StatusOr<Profile> ParseProfile(std::string_view text) {
  ROUTER_ASSIGN_OR_RETURN(const Json json, ParseJsonText(text, "model profile"));
  Profile profile;
  ROUTER_RETURN_IF_ERROR(ParseModel(json, "profile", &profile));
  return profile;
}

absl::StatusOr<PolicyConfig> ParsePolicyConfig(std::string_view text) {
  ROUTER_ASSIGN_OR_RETURN(const Json json, ParseJsonText(text, "policy"));
  PolicyConfig policy;
  ROUTER_RETURN_IF_ERROR(ParsePolicy(json, &policy));
  return policy;
}

absl::StatusOr<PipelineConfig> ParsePipelineConfig(std::string_view text) {
  PipelineConfig config;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return config;
  ROUTER_ASSIGN_OR_RETURN(const Json json, ParseJsonText(text, "config"));
  ROUTER_RETURN_IF_ERROR(
      CheckKeys(json, "", {"router", "knn", "cluster", "mf", "linucb", "embedder", "featurizer",
                           "policy", "models", "removed_models", "limits"}));
  ROUTER_RETURN_IF_ERROR(ReadStrings(json, "", "removed_models", &config.removed_models));
  ROUTER_RETURN_IF_ERROR(ReadString(json, "", "router", &config.router));
  ROUTER_RETURN_IF_ERROR(MakeRouter(config).status());
  ROUTER_RETURN_IF_ERROR(ReadString(json, "", "embedder", &config.embedder));
  if (config.embedder != "auto" && config.embedder != "builtin" && config.embedder != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: 'embedder' must be \"auto\", \"builtin\" or \"none\", got \"",
        config.embedder, "\""));
  }
  if (json.contains("knn")) ROUTER_RETURN_IF_ERROR(ParseKnn(json.at("knn"), &config.knn));
  if (json.contains("cluster")) {
    ROUTER_RETURN_IF_ERROR(ParseCluster(json.at("cluster"), &config.cluster));
  }
  if (json.contains("mf")) ROUTER_RETURN_IF_ERROR(ParseMf(json.at("mf"), &config.mf));
  if (json.contains("linucb")) {
    ROUTER_RETURN_IF_ERROR(ParseLinUcb(json.at("linucb"), &config.linucb));
  }
  if (json.contains("featurizer")) {
    ROUTER_RETURN_IF_ERROR(ParseFeaturizer(json.at("featurizer"), &config.featurizer));
  }
  if (json.contains("policy")) {
    ROUTER_RETURN_IF_ERROR(ParsePolicy(json.at("policy"), &config.policy));
  }
  if (json.contains("limits")) {
    ROUTER_RETURN_IF_ERROR(ParseLimits(json.at("limits"), &config.limits));
  }
  if (json.contains("models")) {
    const Json& models = json.at("models");
    if (!models.is_array()) {
      return absl::InvalidArgumentError("config: 'models' must be an array of objects");
    }
    for (size_t i = 0; i < models.size(); ++i) {
      Profile profile;
      ROUTER_RETURN_IF_ERROR(ParseModel(models[i], absl::StrCat("models[", i, "]"), &profile));
      config.models.push_back(std::move(profile));
    }
  }
  return config;
}

std::string PipelineConfigToJson(const PipelineConfig& config) {
  const Constraints& c = config.policy.constraints;
  Json json = {
      {"router", config.router},
      {"embedder", config.embedder},
      {"knn",
       {{"k", config.knn.k},
        {"weighting",
         config.knn.weighting == KnnOptions::Weighting::kUniform ? "uniform" : "similarity"},
        {"hnsw_threshold", config.knn.hnsw_threshold},
        {"hnsw_m", config.knn.hnsw_m},
        {"hnsw_ef_construction", config.knn.hnsw_ef_construction},
        {"hnsw_ef_search", config.knn.hnsw_ef_search}}},
      {"cluster",
       {{"num_clusters", config.cluster.num_clusters},
        {"nearest_clusters", config.cluster.nearest_clusters},
        {"temperature", config.cluster.temperature},
        {"prior_strength", config.cluster.prior_strength},
        {"kmeans_iterations", config.cluster.kmeans_iterations},
        {"kmeans_restarts", config.cluster.kmeans_restarts},
        {"seed", config.cluster.seed}}},
      {"mf",
       {{"hidden_dim", config.mf.hidden_dim},
        {"epochs", config.mf.epochs},
        {"batch_size", config.mf.batch_size},
        {"learning_rate", config.mf.learning_rate},
        {"l2", config.mf.l2},
        {"validation_fraction", config.mf.validation_fraction},
        {"patience", config.mf.patience},
        {"seed", config.mf.seed},
        {"loss", config.mf.loss == MfOptions::Loss::kPairwise ? "pairwise" : "pointwise"},
        {"num_threads", config.mf.num_threads},
        {"onboard_l2", config.mf.onboard_l2}}},
      {"linucb",
       {{"context_dim", config.linucb.context_dim},
        {"alpha", config.linucb.alpha},
        {"ridge", config.linucb.ridge},
        {"prior_quality", config.linucb.prior_quality},
        {"seed", config.linucb.seed},
        {"warm_start", config.linucb.warm_start},
        {"reinvert_every", config.linucb.reinvert_every},
        {"whiten", config.linucb.whiten},
        {"clusters", config.linucb.clusters}}},
      {"featurizer",
       {{"word_buckets", config.featurizer.word_buckets},
        {"char_buckets", config.featurizer.char_buckets},
        {"min_char_ngram", config.featurizer.min_char_ngram},
        {"max_char_ngram", config.featurizer.max_char_ngram},
        {"dim", config.featurizer.dim},
        {"seed", config.featurizer.seed},
        {"power_iterations", config.featurizer.power_iterations},
        {"max_text_bytes", config.featurizer.max_text_bytes}}},
      {"policy",
       {{"kind", config.policy.kind},
        {"lambda", config.policy.lambda},
        {"tau", config.policy.tau},
        {"optimism", config.policy.optimism ? Json(*config.policy.optimism) : Json(nullptr)},
        {"target_cost_usd", config.policy.target_cost_usd},
        {"pacing_step", config.policy.pacing_step},
        {"pacing_state",
         {{"multiplier", config.policy.pacing_state.multiplier},
          {"spend_usd", config.policy.pacing_state.spend_usd},
          {"requests", config.policy.pacing_state.requests}}},
        {"strong", config.policy.strong},
        {"weak", config.policy.weak},
        {"threshold", config.policy.threshold},
        {"strong_share", config.policy.strong_share},
        {"share_step", config.policy.share_step},
        {"constraints",
         {{"allowed_models", c.allowed_models},
          {"denied_models", c.denied_models},
          {"allowed_tags", c.allowed_tags},
          {"denied_tags", c.denied_tags},
          {"max_latency_ms", c.max_latency_ms},
          {"enforce_context_window", c.enforce_context_window}}},
        {"budget_classes", BudgetClassesJson(config.policy.budget_classes)}}},
  };
  Json models = Json::array();
  for (const Profile& p : config.models) {
    models.push_back({{"name", p.name},
                      {"input_usd_per_mtok", p.input_usd_per_mtok},
                      {"output_usd_per_mtok", p.output_usd_per_mtok},
                      {"expected_output_tokens", p.expected_output_tokens},
                      {"p50_latency_ms", p.p50_latency_ms},
                      {"context_window", p.context_window},
                      {"tags", p.tags},
                      {"available", p.available}});
  }
  json["models"] = std::move(models);
  json["removed_models"] = config.removed_models;
  json["limits"] = {{"max_prompt_bytes", config.limits.max_prompt_bytes},
                    {"max_batch_size", config.limits.max_batch_size},
                    {"max_models", config.limits.max_models},
                    {"max_section_bytes", config.limits.max_section_bytes}};
  return json.dump(2);
}

absl::StatusOr<std::unique_ptr<Router>> MakeRouter(const PipelineConfig& config) {
  if (config.router == "knn") return std::unique_ptr<Router>(new KnnRouter(config.knn));
  if (config.router == "cluster") {
    return std::unique_ptr<Router>(new ClusterRouter(config.cluster));
  }
  if (config.router == "mf") return std::unique_ptr<Router>(new MfRouter(config.mf));
  if (config.router == "linucb") return std::unique_ptr<Router>(new LinUcbRouter(config.linucb));
  return absl::InvalidArgumentError(absl::StrCat(
      "config: 'router' must be \"knn\", \"cluster\", \"mf\" or \"linucb\", got \"",
      config.router, "\""));
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
  return absl::InvalidArgumentError(absl::StrCat(
      "policy kind must be \"max_utility\", \"quality_floor\", \"budget\" or \"threshold\", "
      "got \"", config.kind, "\""));
}

}  // namespace router
