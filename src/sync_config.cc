// The "sync" block of a config: its schema, its rules, and the options
// StateSync and RedisSyncStore take from it.
#include "router/sync_config.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "fmt/format.h"
#include "internal/options_schema.h"
#include "internal/sync_names.h"
#include "internal/sync_config_json.h"
#include "router/redis_sync_store.h"
#include "router/state_sync.h"
#include "router/status.h"

namespace router {
namespace {

using internal::ConfigError;
using internal::JoinPath;
using internal::OptionsSchema;
using internal::Range;

using internal::IsKeyPrefix;
using internal::IsSyncName;
using internal::kMaxSyncName;
using internal::kSyncNameChars;

const OptionsSchema<SyncConfig::Redis>& RedisConfigSchema() {
  using O = SyncConfig::Redis;
  static const auto& schema =
      (new OptionsSchema<O>("sync.redis"))
          ->String("host", &O::host, "Redis host name or address.")
          .Integer("port", &O::port, Range::Closed(1, 65535), "Redis port.")
          .String("key_prefix", &O::key_prefix,
                  "Prefix of every key, one per deployment: 1 to 128 letters, digits or "
                  "\"-_.:{}\".")
          .String("password_env", &O::password_env,
                  "Environment variable holding the AUTH password (\"\" or unset: no AUTH); "
                  "a config never holds the password itself.")
          .Integer("timeout_ms", &O::timeout_ms, Range::Closed(1, 60000),
                   "Connect and command timeout, ms.");
  return schema;
}

const OptionsSchema<SyncConfig>& SyncConfigSchema() {
  using O = SyncConfig;
  static const auto& schema =
      (new OptionsSchema<O>("sync"))
          ->String("replica_id", &O::replica_id,
                   "This replica's name in the store: 1 to 128 letters, digits or \"-_.:\"; "
                   "\"\" = <host name>-<process id>.")
          .String("store", &O::store,
                  "\"redis\", or \"memory:NAME\" (a store in this process, for in-process "
                  "replicas and tests).")
          .Integer("interval_ms", &O::interval_ms, Range::Closed(0, 3600000),
                   "Milliseconds between sync rounds (the staleness bound); 0 = no thread, "
                   "the host runs rounds.")
          .Object("redis", &O::redis, RedisConfigSchema(), "The Redis store.");
  return schema;
}

}  // namespace

absl::Status ValidateSyncConfig(const SyncConfig& config, const std::string& path) {
  if (absl::Status s = SyncConfigSchema().Validate(config, path); !s.ok()) {
    return absl::InvalidArgumentError(fmt::format("config: {}", StdView(s.message())));
  }
  if (!config.replica_id.empty() && !IsSyncName(config.replica_id)) {
    return ConfigError(JoinPath(path, "replica_id"),
                       "must be \"\" or 1 to 128 letters, digits or '-_.:'");
  }
  constexpr std::string_view kMemory = "memory:";
  const std::string_view store = config.store;
  if (store != "redis" &&
      !(store.substr(0, kMemory.size()) == kMemory && IsSyncName(store.substr(kMemory.size())))) {
    return ConfigError(JoinPath(path, "store"),
                       "must be \"redis\" or \"memory:NAME\" (NAME: 1 to 128 letters, digits "
                       "or '-_.:')");
  }
  const std::string redis = JoinPath(path, "redis");
  const SyncConfig::Redis& r = config.redis;
  if (r.host.empty() || r.host.size() > 255 ||
      r.host.find_first_of(" \t\r\n") != std::string::npos) {
    return ConfigError(JoinPath(redis, "host"), "must be 1 to 255 characters, no spaces");
  }
  if (!IsKeyPrefix(r.key_prefix)) {
    return ConfigError(JoinPath(redis, "key_prefix"),
                       "must be 1 to 128 letters, digits or '-_.:{}'");
  }
  // Printable, no '=' (which cannot be in a variable's name). The value is
  // never shown: a password pasted here by mistake stays out of messages.
  const bool env_ok = r.password_env.size() <= 255 &&
                      std::all_of(r.password_env.begin(), r.password_env.end(),
                                  [](char c) { return c > ' ' && c < 127 && c != '='; });
  if (!env_ok) {
    return ConfigError(JoinPath(redis, "password_env"),
                       "must be the name of an environment variable (up to 255 printable "
                       "characters, no spaces or '='), or \"\"");
  }
  return absl::OkStatus();
}

std::string DefaultReplicaId() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string id;
  for (const char* c = host; *c != '\0'; ++c) {
    id += kSyncNameChars.find(*c) != std::string_view::npos ? *c : '-';
  }
  if (id.empty()) id = "replica";
  const std::string pid = fmt::format("-{}", ::getpid());
  if (id.size() + pid.size() > kMaxSyncName) id.resize(kMaxSyncName - pid.size());
  return id + pid;
}

SyncOptions SyncOptionsFromConfig(const SyncConfig& config) {
  return {.replica_id = config.replica_id.empty() ? DefaultReplicaId() : config.replica_id,
          .interval_ms = config.interval_ms};
}

RedisOptions RedisOptionsFromConfig(const SyncConfig& config) {
  return {.host = config.redis.host,
          .port = config.redis.port,
          .password = "",
          .password_env = config.redis.password_env,
          .key_prefix = config.redis.key_prefix,
          .timeout_ms = config.redis.timeout_ms};
}

namespace internal {

absl::Status ReadSyncConfig(const Json& json, const std::string& path,
                            std::optional<SyncConfig>* out) {
  if (json.is_null()) {
    out->reset();
    return absl::OkStatus();
  }
  if (!json.is_object()) return ConfigError(path, "must be an object or null");
  // A clearer refusal than "unknown key" for the one key people will try.
  const auto redis = json.find("redis");
  if (json.contains("password") ||
      (redis != json.end() && redis->is_object() && redis->contains("password"))) {
    return ConfigError(JoinPath(path, json.contains("password") ? "password" : "redis.password"),
                       "is not allowed: a config never holds a password; name the environment "
                       "variable that does in 'redis.password_env'");
  }
  SyncConfig config;
  ROUTER_RETURN_IF_ERROR(SyncConfigSchema().Read(json, path, &config));
  ROUTER_RETURN_IF_ERROR(ValidateSyncConfig(config, path));
  *out = std::move(config);
  return absl::OkStatus();
}

Json SyncConfigJson(const std::optional<SyncConfig>& config) {
  return config.has_value() ? SyncConfigSchema().Write(*config) : Json(nullptr);
}

void DescribeSyncConfig(const std::string& path, std::vector<ConfigKey>* out) {
  const SyncConfig defaults;
  SyncConfigSchema().Describe(path, defaults, out);
}

}  // namespace internal
}  // namespace router
