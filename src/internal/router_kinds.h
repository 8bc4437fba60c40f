// The built-in router kinds' options schemas (src/router_kinds.cc), by kind
// name: what the config's "knn": {...}, "cluster": {...} blocks are read,
// written and described with. Kinds a host registers (RegisterRouterKind)
// bring their block's functions (RouterKind::options_json), which
// ParsePipelineConfig and PipelineConfigToJson call.
#ifndef ROUTER_INTERNAL_ROUTER_KINDS_H_
#define ROUTER_INTERNAL_ROUTER_KINDS_H_

#include <string>
#include <string_view>
#include <vector>

#include "internal/any_options.h"

namespace router::internal {

struct RouterOptionsKind {
  std::string name;
  std::string doc;  // one line, for the reference
  AnyOptionsSchema options;
};

const std::vector<RouterOptionsKind>& RouterOptionsKinds();
const RouterOptionsKind* FindRouterOptionsKind(std::string_view name);

// Whether `key` is a top-level key of the config ("router", "policy", and
// the built-in kinds' blocks), which a host's kind must not be named.
bool IsPipelineConfigKey(const std::string& key);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_ROUTER_KINDS_H_
