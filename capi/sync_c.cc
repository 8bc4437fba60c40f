// The C ABI's replica state sync (router_sync_* in router_c.h) over
// router::StateSync: the options JSON, the stores, and the handle's
// lifetime next to its router's.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "router/redis_sync_store.h"
#include "router/state_sync.h"
#include "router/status.h"
#include "router/sync_store.h"
#include "router_c.h"
#include "router_c_internal.h"

namespace router::capi {
namespace {

using Json = nlohmann::json;

// The process-wide named memory stores ("memory:NAME"), each with the
// replica ids syncing through it. A store lives while a sync uses it.
class MemoryStores {
 public:
  static MemoryStores& Get() {
    static MemoryStores* stores = new MemoryStores;  // never destroyed: used at exit
    return *stores;
  }

  absl::StatusOr<std::shared_ptr<MemorySyncStore>> Acquire(const std::string& name,
                                                           const std::string& replica) {
    std::lock_guard lock(mutex_);
    Named& named = stores_[name];
    if (named.store == nullptr) named.store = std::make_shared<MemorySyncStore>();
    if (!named.replicas.insert(replica).second) {
      return absl::AlreadyExistsError(fmt::format(
          "router_sync_start: replica_id '{}' already syncs through memory:{} in this process",
          replica, name));
    }
    return named.store;
  }

  void Release(const std::string& name, const std::string& replica) {
    std::lock_guard lock(mutex_);
    const auto it = stores_.find(name);
    if (it == stores_.end()) return;
    it->second.replicas.erase(replica);
    if (it->second.replicas.empty()) stores_.erase(it);
  }

 private:
  struct Named {
    std::shared_ptr<MemorySyncStore> store;
    std::set<std::string> replicas;
  };
  std::mutex mutex_;
  std::map<std::string, Named> stores_;  // guarded by mutex_
};

// A replica id's place in a memory store, given back when the sync stops.
struct MemoryLease {
  std::string name;
  std::string replica;
  bool held = false;  // Acquire succeeded
  ~MemoryLease() {
    if (held) MemoryStores::Get().Release(name, replica);
  }
};

struct StartOptions {
  SyncOptions sync;
  std::string store;         // "redis" or "memory:NAME", as given
  std::string memory_name;   // NAME of "memory:NAME"; empty for redis
  RedisOptions redis;
};

absl::Status OptionError(std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(
      fmt::format("router_sync_start: options_json: '{}' {}", key, what));
}

// Keys of `object` outside `known` are refused (named; values never shown).
absl::Status CheckKeys(const Json& object, std::string_view where,
                       std::initializer_list<std::string_view> known) {
  for (const auto& item : object.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || item.key() == k;
    if (!found) {
      std::string names;
      for (std::string_view k : known) names += fmt::format("{}{}", names.empty() ? "" : ", ", k);
      return absl::InvalidArgumentError(
          fmt::format("router_sync_start: options_json: unknown key '{}{}' (known: {})", where,
                      item.key(), names));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadString(const Json& object, const char* key, std::string_view path,
                        std::string* out) {
  const auto it = object.find(key);
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_string()) return OptionError(path, "must be a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadInt(const Json& object, const char* key, std::string_view path, int* out) {
  const auto it = object.find(key);
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_number_integer()) return OptionError(path, "must be an integer");
  const bool in_range = it->is_number_unsigned()
                            ? it->get<uint64_t>() <= INT32_MAX
                            : it->get<int64_t>() >= INT32_MIN && it->get<int64_t>() <= INT32_MAX;
  if (!in_range) return OptionError(path, "is out of range");
  *out = static_cast<int>(it->get<int64_t>());
  return absl::OkStatus();
}

bool IsName(std::string_view name) {
  return !name.empty() && name.size() <= 128 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789-_.:") == std::string_view::npos;
}

// The options JSON, over `defaults` (the router's config's "sync" block, or
// null when it has none): with a block every key is optional, and those
// given override the block's. Messages name keys, never values (a password
// may be among them); the parser's own message quotes the input, so it is
// not used.
absl::StatusOr<StartOptions> ParseOptions(std::string_view text, const SyncConfig* defaults) {
  Json json;
  try {
    json = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(fmt::format(
        "router_sync_start: options_json is not valid JSON (near byte {} of {})",
        std::min<size_t>(e.byte, text.size()), text.size()));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError("router_sync_start: options_json must be a JSON object");
  }
  ROUTER_RETURN_IF_ERROR(CheckKeys(json, "", {"replica_id", "store", "interval_ms", "redis"}));
  StartOptions o;
  if (defaults != nullptr) {
    o.sync = SyncOptionsFromConfig(*defaults);
    o.store = defaults->store;
    o.redis = RedisOptionsFromConfig(*defaults);
  }
  constexpr std::string_view kOrBlock = " (or a \"sync\" block in the router's config)";
  if (defaults == nullptr && !json.contains("replica_id")) {
    return OptionError("replica_id", fmt::format("is required{}", kOrBlock));
  }
  ROUTER_RETURN_IF_ERROR(ReadString(json, "replica_id", "replica_id", &o.sync.replica_id));
  if (!IsName(o.sync.replica_id)) {
    return OptionError("replica_id", "must be 1 to 128 letters, digits or '-_.:'");
  }
  ROUTER_RETURN_IF_ERROR(ReadInt(json, "interval_ms", "interval_ms", &o.sync.interval_ms));
  if (defaults == nullptr && !json.contains("store")) {
    return OptionError("store",
                       fmt::format("is required (\"redis\" or \"memory:NAME\"){}", kOrBlock));
  }
  ROUTER_RETURN_IF_ERROR(ReadString(json, "store", "store", &o.store));
  constexpr std::string_view kMemory = "memory:";
  if (o.store.rfind(kMemory, 0) == 0) {
    o.memory_name = o.store.substr(kMemory.size());
    if (!IsName(o.memory_name)) {
      return OptionError("store",
                         "must be \"memory:NAME\" with NAME 1 to 128 letters, digits or '-_.:'");
    }
  } else if (o.store != "redis") {
    return OptionError("store", "must be \"redis\" or \"memory:NAME\"");
  }
  if (const auto redis = json.find("redis"); redis != json.end()) {
    if (o.store != "redis") {
      return OptionError("redis", "is only allowed with \"store\": \"redis\"");
    }
    if (!redis->is_object()) return OptionError("redis", "must be an object");
    ROUTER_RETURN_IF_ERROR(CheckKeys(*redis, "redis.", {"host", "port", "password", "password_env",
                                                        "key_prefix", "timeout_ms"}));
    ROUTER_RETURN_IF_ERROR(ReadString(*redis, "host", "redis.host", &o.redis.host));
    ROUTER_RETURN_IF_ERROR(ReadInt(*redis, "port", "redis.port", &o.redis.port));
    ROUTER_RETURN_IF_ERROR(ReadString(*redis, "password", "redis.password", &o.redis.password));
    ROUTER_RETURN_IF_ERROR(
        ReadString(*redis, "password_env", "redis.password_env", &o.redis.password_env));
    ROUTER_RETURN_IF_ERROR(
        ReadString(*redis, "key_prefix", "redis.key_prefix", &o.redis.key_prefix));
    ROUTER_RETURN_IF_ERROR(ReadInt(*redis, "timeout_ms", "redis.timeout_ms", &o.redis.timeout_ms));
  }
  return o;
}

std::string StatusJson(const SyncStatus& s, const std::string& replica, const std::string& store) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  json["replica_id"] = replica;
  json["store"] = store;
  json["connected"] = s.connected;
  json["rounds"] = s.rounds;
  json["failed_rounds"] = s.failed_rounds;
  json["published"] = s.published;
  json["applied"] = s.applied;
  json["rejected"] = s.rejected;
  json["replicas"] = s.replicas;
  json["lag_ms"] = s.lag_ms;
  json["last_error"] = s.last_error;
  json["rows"] = nlohmann::ordered_json::array();
  for (const SyncStatus::Row& row : s.rows) {
    json["rows"].push_back({{"replica", row.replica}, {"unchanged_ms", row.unchanged_ms}});
  }
  // A store's error may carry bytes that are not UTF-8: replaced, not thrown.
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

// Shared by the router (weakly) and the handle (strongly): the router stops
// the sync at router_free even while the handle lives on.
struct SyncLink {
  std::string replica_id;
  std::string store;                   // as in the options: "redis", "memory:NAME"
  mutable std::shared_mutex mutex;     // exclusive only to stop the sync
  std::unique_ptr<MemoryLease> lease;  // guarded by mutex; outlives `sync`
  std::unique_ptr<StateSync> sync;     // guarded by mutex; null once stopped

  void Stop() {
    std::unique_lock lock(mutex);
    sync.reset();  // joins the thread after one last round
    lease.reset();
  }
};

namespace {

// A call on a handle whose sync router_free stopped.
absl::Status Stopped(const char* fn) {
  return absl::FailedPreconditionError(
      fmt::format("{}: the sync was stopped, because its router was freed", fn));
}

}  // namespace
}  // namespace router::capi

struct router_sync_s {
  std::shared_ptr<router::capi::SyncLink> link;
};

router_s::~router_s() {
  std::shared_ptr<router::capi::SyncLink> link;
  {
    std::lock_guard lock(sync_mutex);
    link = sync.lock();
  }
  if (link == nullptr) return;
  try {
    link->Stop();  // `live` is still whole here
  } catch (...) {
    // Nothing may cross the ABI; the StateSync is gone either way.
  }
}

using router::capi::Guard;

extern "C" {

router_status_t router_sync_start(router_t* router, const char* options_json,
                                  router_sync_t** out) {
  if (out != nullptr) *out = nullptr;
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(options_json);
    ROUTER_C_REQUIRE(out);
    // The config's block, if any, gives the defaults (docs/scale-out.md).
    const std::optional<router::SyncConfig> block = router->live.Snapshot()->config().sync;
    ROUTER_ASSIGN_OR_RETURN(
        router::capi::StartOptions options,
        router::capi::ParseOptions(options_json, block.has_value() ? &*block : nullptr));
    std::lock_guard lock(router->sync_mutex);
    if (const auto running = router->sync.lock(); running != nullptr) {
      std::shared_lock running_lock(running->mutex);
      if (running->sync != nullptr) {
        return absl::FailedPreconditionError(fmt::format(
            "{}: the router already syncs as replica {}", fn, router->synced_as));
      }
    }
    // A new StateSync takes the router's state for its own, as loaded: on a
    // router that already merged other replicas' learning (or adopted its
    // own row) it would add all of that a second time.
    if (!router->synced_as.empty()) {
      return absl::FailedPreconditionError(fmt::format(
          "{}: the router synced before (as replica {}); a router syncs once, since a second "
          "sync would count what it learned twice: load it again (router_load) to sync anew",
          fn, router->synced_as));
    }
    // Everything that allocates comes before the first round, so that a
    // failure (out of memory included) writes nothing to the store.
    auto handle = std::make_unique<router_sync_s>();
    handle->link = std::make_shared<router::capi::SyncLink>();
    router::capi::SyncLink& link = *handle->link;
    link.replica_id = options.sync.replica_id;
    link.store = options.store;
    std::string synced_as = fmt::format("'{}' through {}", link.replica_id, link.store);
    std::shared_ptr<router::SyncStore> store;
    if (options.memory_name.empty()) {
      ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<router::RedisSyncStore> redis,
                              router::RedisSyncStore::Create(std::move(options.redis)));
      store = std::move(redis);
    } else {
      link.lease = std::make_unique<router::capi::MemoryLease>();
      link.lease->name = options.memory_name;
      link.lease->replica = options.sync.replica_id;
      ROUTER_ASSIGN_OR_RETURN(store, router::capi::MemoryStores::Get().Acquire(
                                         options.memory_name, options.sync.replica_id));
      link.lease->held = true;
    }
    ROUTER_ASSIGN_OR_RETURN(link.sync, router::StateSync::Start(&router->live, std::move(store),
                                                                std::move(options.sync)));
    router->sync = handle->link;
    router->synced_as.swap(synced_as);
    *out = handle.release();
    return absl::OkStatus();
  });
}

router_status_t router_sync_now(router_sync_t* sync) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(sync);
    std::shared_lock lock(sync->link->mutex);
    if (sync->link->sync == nullptr) return router::capi::Stopped(fn);
    return sync->link->sync->SyncNow();
  });
}

router_status_t router_sync_retire(router_sync_t* sync) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(sync);
    std::shared_lock lock(sync->link->mutex);
    if (sync->link->sync == nullptr) return router::capi::Stopped(fn);
    return sync->link->sync->Retire();
  });
}

router_status_t router_sync_fold(router_sync_t* sync, const char* replica_id) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(sync);
    ROUTER_C_REQUIRE(replica_id);
    std::shared_lock lock(sync->link->mutex);
    if (sync->link->sync == nullptr) return router::capi::Stopped(fn);
    return sync->link->sync->Fold(replica_id);
  });
}

router_status_t router_sync_status_json(const router_sync_t* sync, char* buf, size_t capacity,
                                        size_t* out_needed) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(sync);
    if (capacity > 0) ROUTER_C_REQUIRE(buf);
    const router::capi::SyncLink& link = *sync->link;
    std::shared_lock lock(link.mutex);
    if (link.sync == nullptr) return router::capi::Stopped(fn);
    router::capi::CopyOut(
        router::capi::StatusJson(link.sync->status(), link.replica_id, link.store), buf, capacity,
        out_needed);
    return absl::OkStatus();
  });
}

void router_sync_stop(router_sync_t* sync) {
  if (sync == nullptr) return;
  try {
    sync->link->Stop();
  } catch (...) {
    // Nothing may cross the ABI; the StateSync is gone either way.
  }
  delete sync;
}

}  // extern "C"
