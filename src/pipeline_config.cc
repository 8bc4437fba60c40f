// The JSON face of PipelineConfig: its schema (composed of the options'
// schemas in internal/option_schemas.cc and the policy's in
// policy_config.cc), parsing, printing, the reference table for the docs,
// and MakeRouter.
#include <string>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "internal/any_options.h"
#include "internal/option_schemas.h"
#include "internal/options_schema.h"
#include "internal/policy_kinds.h"
#include "nlohmann/json.hpp"
#include "internal/router_kinds.h"
#include "internal/sync_config_json.h"
#include "router/pipeline_config.h"
#include "router/status.h"

namespace router {
namespace {

using internal::Json;
using internal::OptionsSchema;
using internal::Range;

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

// A config's options block of router kind `kind` ("knn": {...}).
void AddRouterOptions(const internal::RouterOptionsKind& kind,
                      OptionsSchema<PipelineConfig>* schema) {
  schema->Custom(
      kind.name.c_str(), "object", kind.doc.c_str(),
      [&kind](const Json& json, const std::string& path, PipelineConfig* config) {
        return kind.options.read(json, path, &config->router_options[kind.name]);
      },
      [&kind](const PipelineConfig& config) {
        const auto it = config.router_options.find(kind.name);
        return kind.options.write(it == config.router_options.end() ? std::any() : it->second);
      },
      kind.options.describe);
}

const OptionsSchema<PipelineConfig>& PipelineConfigSchema() {
  using O = PipelineConfig;
  static const auto& schema = [] () -> const OptionsSchema<O>& {
    auto* made = new OptionsSchema<O>("");
    made->Choice("router", &O::router, RouterKindNames,
                 "The router kind; only its own options block is used.")
        .Choice("embedder", &O::embedder, {"auto", "builtin", "none"},
                "auto: the built-in featurizer unless the data has vectors; builtin: "
                "always; none: vectors only.")
        .Choice("cost", &O::cost, {"per_prompt", "router"},
                "per_prompt: input tokens at the input price plus output tokens learned "
                "per prompt, for priced models; router: the router's cost estimate.");
    for (const internal::RouterOptionsKind& kind : internal::RouterOptionsKinds()) {
      AddRouterOptions(kind, made);
    }
    made->Object("featurizer", &O::featurizer, internal::TextFeaturizerOptionsSchema(),
                 "Built-in text featurizer options.")
        .Custom(
            "policy", "object", "The policy.",
            [](const Json& json, const std::string& path, O* config) {
              return internal::ReadPolicyConfig(json, path, &config->policy);
            },
            [](const O& config) { return internal::PolicyConfigJson(config.policy); },
            internal::DescribePolicyConfig)
        .Custom("models", "array of objects",
                "Profiles of the data's models (each as models[] below).", ReadModels,
                ModelsJson)
        .Strings("removed_models", &O::removed_models,
                 "Models taken out of service at run time (written by saves).")
        .Object("calibration", &O::calibration, internal::CalibrationConfigSchema(),
                "The optional calibration layer of predicted quality.")
        .Object("limits", &O::limits, internal::LimitsSchema(), "Size limits.")
        .Custom(
            "sync", "object or null",
            "How replicas share state (docs/scale-out.md); absent or null: no sync.",
            [](const Json& json, const std::string& path, O* config) {
              return internal::ReadSyncConfig(json, path, &config->sync);
            },
            [](const O& config) { return internal::SyncConfigJson(config.sync); },
            internal::DescribeSyncConfig);
    return *made;
  }();
  return schema;
}

// Host kinds' options blocks (RouterKind::options_json), which the schema,
// built once, does not list: read through the kind's erased schema (as a
// host's policy options are), then taken out of `json` for the schema.
absl::Status ReadHostRouterOptions(Json* json, PipelineConfig* config) {
  if (!json->is_object()) return absl::OkStatus();  // the schema says so
  for (const RouterKind& kind : RouterKinds()) {
    const auto it = json->find(kind.name);
    if (!kind.options_json.enabled() || it == json->end()) continue;
    ROUTER_RETURN_IF_ERROR(internal::HostOptionsSchema(kind.options_json)
                               .read(*it, kind.name, &config->router_options[kind.name]));
    json->erase(it);
  }
  return absl::OkStatus();
}

// Writes the blocks of the host kinds that `config` holds options for or
// routes with.
void WriteHostRouterOptions(const PipelineConfig& config, Json* json) {
  for (const RouterKind& kind : RouterKinds()) {
    if (!kind.options_json.enabled()) continue;
    const auto it = config.router_options.find(kind.name);
    if (it == config.router_options.end() && config.router != kind.name) continue;
    (*json)[kind.name] = internal::HostOptionsSchema(kind.options_json)
                             .write(it == config.router_options.end() ? std::any() : it->second);
  }
}

}  // namespace

namespace internal {
bool IsPipelineConfigKey(const std::string& key) { return PipelineConfigSchema().HasKey(key); }
}  // namespace internal

absl::StatusOr<Profile> ParseProfile(std::string_view text) {
  ROUTER_ASSIGN_OR_RETURN(const Json json, internal::ParseJsonText(text, "model profile"));
  Profile profile;
  ROUTER_RETURN_IF_ERROR(ReadProfile(json, "profile", &profile));
  return profile;
}

absl::StatusOr<PipelineConfig> ParsePipelineConfig(std::string_view text) {
  PipelineConfig config;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return config;
  ROUTER_ASSIGN_OR_RETURN(Json json, internal::ParseJsonText(text, "config"));
  ROUTER_RETURN_IF_ERROR(ReadHostRouterOptions(&json, &config));
  ROUTER_RETURN_IF_ERROR(PipelineConfigSchema().Read(json, "", &config));
  // Validate the policy's values together now, so a bad config fails here.
  ROUTER_RETURN_IF_ERROR(MakePolicy(config.policy).status());
  return config;
}

std::string PipelineConfigToJson(const PipelineConfig& config) {
  Json json = PipelineConfigSchema().Write(config);
  // No block, no key: a file saved without sync stays readable by versions
  // that do not know the key.
  if (json["sync"].is_null()) json.erase("sync");
  WriteHostRouterOptions(config, &json);
  return json.dump(2);
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
  // Options under the kind's name must be that kind's struct.
  if (const internal::RouterOptionsKind* options = internal::FindRouterOptionsKind(config.router)) {
    const auto it = config.router_options.find(config.router);
    if (it != config.router_options.end() && it->second.has_value() &&
        !options->options.holds(it->second)) {
      return absl::InvalidArgumentError(fmt::format(
          "config: the options held for router kind \"{}\" are of another type (use "
          "PipelineConfig::RouterOptions)",
          config.router));
    }
  }
  for (const RouterKind& kind : RouterKinds()) {
    if (kind.name != config.router) continue;
    std::unique_ptr<Router> router = kind.make(config);
    if (router == nullptr || router->kind() != kind.name) {
      return absl::InvalidArgumentError(fmt::format(
          "router kind \"{}\": its factory made {}", kind.name,
          router == nullptr ? "no router"
                            : fmt::format("a router whose kind() is \"{}\"", router->kind())));
    }
    return router;
  }
  return absl::InvalidArgumentError(
      fmt::format("config: 'router' must be one of \"{}\", got \"{}\"",
                  fmt::join(RouterKindNames(), "\", \""), config.router));
}

}  // namespace router
