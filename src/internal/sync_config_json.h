// The "sync" block of a config (router/sync_config.h) in JSON: read (unknown
// keys, types and ranges refused, naming the key), written, and described
// for the reference table, as pipeline_config.cc composes them.
#ifndef ROUTER_INTERNAL_SYNC_CONFIG_JSON_H_
#define ROUTER_INTERNAL_SYNC_CONFIG_JSON_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "internal/options_schema.h"
#include "router/sync_config.h"

namespace router::internal {

// null: no sync; an object: a block, its absent keys at their defaults.
// `*out` is set only on success.
absl::Status ReadSyncConfig(const Json& json, const std::string& path,
                            std::optional<SyncConfig>* out);
// null when there is no block, else every key.
Json SyncConfigJson(const std::optional<SyncConfig>& config);
void DescribeSyncConfig(const std::string& path, std::vector<ConfigKey>* out);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_SYNC_CONFIG_JSON_H_
