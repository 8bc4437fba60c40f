// The router kinds PipelineConfig::router can name: one line each for the
// built-in ones, and RegisterRouterKind for the rest.
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/mf_router.h"
#include "router/pipeline_config.h"

namespace router {
namespace {

template <typename Kind, auto Member>
std::unique_ptr<Router> Make(const PipelineConfig& config) {
  return std::make_unique<Kind>(config.*Member);
}

struct Registry {
  std::mutex mutex;
  std::vector<RouterKind> kinds = {
      {"knn", Make<KnnRouter, &PipelineConfig::knn>},
      {"cluster", Make<ClusterRouter, &PipelineConfig::cluster>},
      {"mf", Make<MfRouter, &PipelineConfig::mf>},
      {"linucb", Make<LinUcbRouter, &PipelineConfig::linucb>},
  };
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

}  // namespace

std::vector<RouterKind> RouterKinds() {
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  return registry.kinds;
}

absl::Status RegisterRouterKind(RouterKind kind) {
  if (kind.name.empty() || !kind.make) {
    return absl::InvalidArgumentError("a router kind needs a name and a factory");
  }
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  for (const RouterKind& known : registry.kinds) {
    if (known.name == kind.name) {
      return absl::AlreadyExistsError(
          fmt::format("router kind \"{}\" is already registered", kind.name));
    }
  }
  registry.kinds.push_back(std::move(kind));
  return absl::OkStatus();
}

}  // namespace router
