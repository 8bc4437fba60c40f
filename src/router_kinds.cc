// The router kinds PipelineConfig::router can name: one line each for the
// built-in ones (the router, its options and their schema), and
// RegisterRouterKind for the rest.
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "internal/option_schemas.h"
#include "internal/router_kinds.h"
#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/mf_router.h"
#include "router/pipeline_config.h"
#include "router/stacked_router.h"

namespace router {
namespace {

struct BuiltInKind {
  RouterKind kind;
  internal::RouterOptionsKind options;
};

// A kind whose router class KindRouter is made from its Options
// (Options::kKind names the kind).
template <typename KindRouter, typename Options>
BuiltInKind BuiltIn(const internal::OptionsSchema<Options>& schema, const char* doc) {
  return {RouterKind{Options::kKind,
                     [](const PipelineConfig& config) {
                       return std::make_unique<KindRouter>(config.RouterOptions<Options>());
                     }},
          internal::RouterOptionsKind{Options::kKind, doc, internal::EraseSchema(schema)}};
}

// The stacked router: its bases are made from the same config, so each
// takes its options from its own block ("knn": {...}).
BuiltInKind Stacked() {
  return {RouterKind{StackedOptions::kKind,
                     [](const PipelineConfig& config) {
                       return std::make_unique<StackedRouter>(
                           config.RouterOptions<StackedOptions>(),
                           [config](std::string_view kind) {
                             PipelineConfig base = config;
                             base.router = std::string(kind);
                             return MakeRouter(base);
                           });
                     }},
          internal::RouterOptionsKind{StackedOptions::kKind,
                                      "Stacked router options (its bases use their own blocks).",
                                      internal::EraseSchema(internal::StackedOptionsSchema())}};
}

const std::vector<BuiltInKind>& BuiltInKinds() {
  static const auto* kinds = new std::vector<BuiltInKind>{
      BuiltIn<KnnRouter>(internal::KnnOptionsSchema(), "kNN router options."),
      BuiltIn<ClusterRouter>(internal::ClusterOptionsSchema(), "Cluster router options."),
      BuiltIn<MfRouter>(internal::MfOptionsSchema(), "MF router options."),
      BuiltIn<LinUcbRouter>(internal::LinUcbOptionsSchema(), "LinUCB router options."),
      Stacked(),
  };
  return *kinds;
}

struct Registry {
  std::mutex mutex;
  std::vector<RouterKind> kinds;
};

Registry& TheRegistry() {
  static Registry* registry = [] {  // never destroyed: used until exit
    auto* made = new Registry();
    for (const BuiltInKind& built_in : BuiltInKinds()) made->kinds.push_back(built_in.kind);
    return made;
  }();
  return *registry;
}

}  // namespace

namespace internal {

const std::vector<RouterOptionsKind>& RouterOptionsKinds() {
  static const auto* kinds = [] {
    auto* made = new std::vector<RouterOptionsKind>();
    for (const BuiltInKind& built_in : BuiltInKinds()) made->push_back(built_in.options);
    return made;
  }();
  return *kinds;
}

const RouterOptionsKind* FindRouterOptionsKind(std::string_view name) {
  for (const RouterOptionsKind& kind : RouterOptionsKinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

}  // namespace internal

std::vector<RouterKind> RouterKinds() {
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  return registry.kinds;
}

absl::Status RegisterRouterKind(RouterKind kind) {
  if (kind.name.empty() || !kind.make) {
    return absl::InvalidArgumentError("a router kind needs a name and a factory");
  }
  ROUTER_RETURN_IF_ERROR(internal::CheckKindOptionsJson(
      kind.options_json, fmt::format("router kind \"{}\"", kind.name)));
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  for (const RouterKind& known : registry.kinds) {
    if (known.name == kind.name) {
      return absl::AlreadyExistsError(
          fmt::format("router kind \"{}\" is already registered", kind.name));
    }
  }
  // Its options block would be the key's value ("policy": {...}).
  if (internal::IsPipelineConfigKey(kind.name)) {
    return absl::InvalidArgumentError(
        fmt::format("router kind \"{}\": the name is a key of the config", kind.name));
  }
  registry.kinds.push_back(std::move(kind));
  return absl::OkStatus();
}

}  // namespace router
