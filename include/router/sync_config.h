// File: router/sync_config.h
//
// SyncConfig: the optional "sync" block of a pipeline config
// (router/pipeline_config.h), which says how a replica shares its state
// with the other replicas of its deployment (router/state_sync.h,
// docs/scale-out.md). Its keys are router_sync_start's (router_c.h), less
// "password": a password is never part of a config; it is read, at connect
// time, from the environment variable that `redis.password_env` names.
//
//   "sync": {"replica_id": "pod-3", "interval_ms": 200,
//            "redis": {"host": "redis.internal", "key_prefix": "gateway-prod",
//                      "password_env": "ROUTER_REDIS_PASSWORD"}}
//
// The block only describes a sync; nothing starts one by itself. A host
// starts it from the block with StateSync::Start(live, store,
// SyncOptionsFromConfig(block)) and RedisSyncStore::Create(
// RedisOptionsFromConfig(block)), or through the C ABI with
// router_sync_start(router, "{}", &sync). The block is kept in saved files,
// so every replica loading the file finds it.
#ifndef ROUTER_SYNC_CONFIG_H_
#define ROUTER_SYNC_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "router/export.h"

namespace router {

struct SyncConfig {
  // This replica's name in the store; "" (the default) takes
  // DefaultReplicaId() when the sync starts, since a config shared by every
  // replica cannot name each one. Else 1 to 128 letters, digits or "-_.:".
  std::string replica_id;
  // "redis", or "memory:NAME" for a store in the process's memory, shared
  // by the routers of that process started with the same NAME (in-process
  // replicas and tests; the C ABI and the CLI know it).
  std::string store = "redis";
  // Milliseconds between background rounds, in [0, 3600000]; 0 starts no
  // thread (the host runs rounds itself). This bounds how stale a replica's
  // view of the others is: one interval plus one store round trip.
  int interval_ms = 200;
  // Used when `store` is "redis" (RedisOptions, router/redis_sync_store.h).
  struct Redis {
    std::string host = "127.0.0.1";
    int port = 6379;  // [1, 65535]
    // One per deployment: 1 to 128 letters, digits or "-_.:{}".
    std::string key_prefix = "router";
    // The environment variable holding the AUTH password ("" or unset: no
    // AUTH). Its name only: the value is read when the store connects.
    std::string password_env = "ROUTER_REDIS_PASSWORD";
    int timeout_ms = 1000;  // connect and command timeout, [1, 60000]
  };
  Redis redis;
};

// InvalidArgument naming the first key out of its rules, as
// "config: 'sync.redis.key_prefix' must be ..." (`path` is the block's key).
// ParsePipelineConfig checks this; a host that builds a SyncConfig in code
// may call it.
ROUTER_EXPORT absl::Status ValidateSyncConfig(const SyncConfig& config,
                                              const std::string& path = "sync");

// "<host name>-<process id>", cut to the replica id's characters and
// length: unique among the processes of one host, and stable across
// restarts of a container whose process id does not change. A replica that
// restarts under another id does not take back its row (its learning still
// counts, in the row it left). Set replica_id (a pod name) when host names
// may repeat in a deployment.
ROUTER_EXPORT std::string DefaultReplicaId();

}  // namespace router

#endif  // ROUTER_SYNC_CONFIG_H_
