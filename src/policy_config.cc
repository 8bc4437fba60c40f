// The JSON face of PolicyConfig (shared keys plus the kind's own, read
// through the registered kinds' schemas) and MakePolicy.
#include "router/policy_config.h"

#include <string>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "internal/option_schemas.h"
#include "internal/policy_kinds.h"
#include "router/status.h"

namespace router {
namespace internal {
namespace {

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
  if (!json.is_object()) return ConfigError(path, "must be an object");
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

// The keys every kind shares.
const OptionsSchema<PolicyConfig>& SharedSchema() {
  using O = PolicyConfig;
  static const auto& schema =
      (new OptionsSchema<O>("policy"))
          ->Choice("kind", &O::kind, PolicyKindNames,
                   "The policy (docs/policies.md); the keys prefixed with its name below are "
                   "its options.")
          .OptionalNumber("optimism", &O::optimism, Range::AtLeast(0),
                          "Weight of uncertainty in ranking; null = 1 for online routers, "
                          "else 0.")
          .Object("constraints", &O::constraints, ConstraintsSchema(),
                  "Models excluded before the policy ranks.")
          .Custom("budget_classes", "object", "Named per-request overrides (lambda, tau, "
                  "allowed_models), chosen by RequestOverrides::budget_class.",
                  ReadBudgetClasses, BudgetClassesJson);
  return schema;
}

}  // namespace

absl::Status ReadPolicyConfig(const Json& json, const std::string& path, PolicyConfig* policy) {
  if (!json.is_object()) return ConfigError(path, "must be an object");
  // The kind first: it decides which of the other keys are its options.
  if (json.contains("kind")) {
    ROUTER_RETURN_IF_ERROR(SharedSchema().Read(Json{{"kind", json["kind"]}}, path, policy));
  }
  const RegisteredPolicyKind* kind = FindPolicyKind(policy->kind);
  if (kind == nullptr) {
    return ConfigError(JoinPath(path, "kind"),
                       fmt::format("must be one of \"{}\", got \"{}\"",
                                   fmt::join(PolicyKindNames(), "\", \""), policy->kind));
  }
  Json shared = Json::object();
  Json own = Json::object();
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (SharedSchema().HasKey(it.key())) {
      if (it.key() != "kind") shared[it.key()] = it.value();
    } else if (kind->options.has_key(it.key())) {
      own[it.key()] = it.value();
    }
  }
  // Another kind's keys are checked against that kind's schema, then dropped.
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (shared.contains(it.key()) || own.contains(it.key()) || it.key() == "kind") continue;
    bool known = false;
    for (const RegisteredPolicyKind* other : PolicyKinds()) {
      if (other == kind || !other->options.has_key(it.key())) continue;
      known = true;
      std::any scratch;
      ROUTER_RETURN_IF_ERROR(other->options.read(Json{{it.key(), it.value()}}, path, &scratch));
    }
    if (!known) {
      std::vector<std::string> keys = SharedSchema().Keys();
      const Json own_keys = kind->options.write(policy->options);
      for (const auto& item : own_keys.items()) keys.push_back(item.key());
      return absl::InvalidArgumentError(
          fmt::format("config: unknown key '{}' (known for policy kind \"{}\": {})",
                      JoinPath(path, it.key()), kind->name, fmt::join(keys, ", ")));
    }
  }
  ROUTER_RETURN_IF_ERROR(SharedSchema().Read(shared, path, policy));
  return kind->options.read(own, path, &policy->options);
}

Json PolicyConfigJson(const PolicyConfig& policy) {
  Json json = SharedSchema().Write(policy);
  if (const RegisteredPolicyKind* kind = FindPolicyKind(policy.kind)) {
    json.update(kind->options.write(policy.options));
  }
  return json;
}

bool IsSharedPolicyKey(const std::string& key) { return SharedSchema().HasKey(key); }

void DescribePolicyConfig(const std::string& path, std::vector<ConfigKey>* out) {
  const PolicyConfig defaults;
  SharedSchema().Describe(path, defaults, out);
  for (const RegisteredPolicyKind* kind : PolicyKinds()) {
    const size_t first = out->size();
    kind->options.describe(path, out);
    for (size_t i = first; i < out->size(); ++i) {
      (*out)[i].doc = fmt::format("{}: {}", kind->name, (*out)[i].doc);
      (*out)[i].policy_kind = kind->name;
    }
  }
}

}  // namespace internal

std::vector<std::string> PolicyKindNames() {
  std::vector<std::string> names;
  for (const internal::RegisteredPolicyKind* kind : internal::PolicyKinds()) {
    names.push_back(kind->name);
  }
  return names;
}

absl::StatusOr<PolicyConfig> ParsePolicyConfig(std::string_view text) {
  ROUTER_ASSIGN_OR_RETURN(const internal::Json json, internal::ParseJsonText(text, "policy"));
  PolicyConfig policy;
  ROUTER_RETURN_IF_ERROR(internal::ReadPolicyConfig(json, "policy", &policy));
  ROUTER_RETURN_IF_ERROR(MakePolicy(policy).status());
  return policy;
}

absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(const PolicyConfig& config,
                                                   bool router_learns_online) {
  const internal::RegisteredPolicyKind* kind = internal::FindPolicyKind(config.kind);
  if (kind == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("policy kind must be one of \"{}\", got \"{}\"",
                    fmt::join(PolicyKindNames(), "\", \""), config.kind));
  }
  // As MakeRouter checks a router kind's options.
  if (config.options.has_value() && !kind->options.holds(config.options)) {
    return absl::InvalidArgumentError(fmt::format(
        "policy: the options held are not those of kind \"{}\" (use PolicyConfig::Set)",
        config.kind));
  }
  const double optimism = config.optimism.value_or(router_learns_online ? 1.0 : 0.0);
  return kind->make(config, optimism);
}

}  // namespace router
