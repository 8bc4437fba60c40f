// The router kinds PipelineConfig::router can name: one line each.
#include <memory>

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

constexpr RouterKind kRouterKinds[] = {
    {"knn", Make<KnnRouter, &PipelineConfig::knn>},
    {"cluster", Make<ClusterRouter, &PipelineConfig::cluster>},
    {"mf", Make<MfRouter, &PipelineConfig::mf>},
    {"linucb", Make<LinUcbRouter, &PipelineConfig::linucb>},
};

}  // namespace

absl::Span<const RouterKind> RouterKinds() { return kRouterKinds; }

}  // namespace router
