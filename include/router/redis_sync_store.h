// File: router/redis_sync_store.h
//
// RedisSyncStore keeps StateSync's rows (router/sync_store.h) in Redis:
//   <prefix>:versions        a hash, replica id -> row version
//   <prefix>:state:<replica> a string, the replica's payload
// A row is written in one MULTI/EXEC, so a reader never sees a version
// without its payload. Swap (StateSync::Retire) WATCHes the swapped row's
// key, checks its version, and writes it and deletes the other row in one
// MULTI/EXEC; an EXEC that Redis aborts (the row changed) is a lost race.
// Two deployments sharing one Redis use two prefixes and never touch each
// other's keys.
//
// Faults: the connection is made on first use and again after any error,
// with a backoff that doubles from 100 ms to 10 s; until it succeeds every
// call fails fast with Unavailable (StateSync then keeps routing on local
// state and publishes its whole contribution once Redis is back).
// The password (AUTH) comes from the options or from an environment
// variable; it never appears in an error or a log.
//
// Available when the library is built with hiredis (libhiredis-dev);
// without it Connect returns Unimplemented.
#ifndef ROUTER_REDIS_SYNC_STORE_H_
#define ROUTER_REDIS_SYNC_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "router/export.h"
#include "router/sync_config.h"
#include "router/sync_store.h"

namespace router {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;  // [1, 65535]
  // AUTH password; when empty, the value of the environment variable
  // `password_env` (if set and not empty); else no AUTH.
  std::string password;
  std::string password_env = "ROUTER_REDIS_PASSWORD";
  // Prefix of every key: one per deployment. Letters, digits and "-_.:{}",
  // 1 to 128 characters.
  std::string key_prefix = "router";
  // Connect and command timeout, milliseconds; [1, 60000].
  int timeout_ms = 1000;
};

// The RedisOptions of a config's "sync" block (router/sync_config.h):
// host, port, key prefix, timeout and password_env; `password` stays empty,
// so the password is read from that environment variable at connect time.
ROUTER_EXPORT RedisOptions RedisOptionsFromConfig(const SyncConfig& config);

// True when this build has the Redis store.
ROUTER_EXPORT bool RedisSyncAvailable();

class ROUTER_EXPORT RedisSyncStore : public SyncStore {
 public:
  // Checks the options; connects lazily. InvalidArgument for bad options,
  // Unimplemented in a build without hiredis.
  static absl::StatusOr<std::unique_ptr<RedisSyncStore>> Create(RedisOptions options);
  ~RedisSyncStore() override;

  absl::Status Put(std::string_view replica, uint64_t version,
                   std::string_view payload) override;
  absl::StatusOr<std::vector<SyncRow>> Changed(
      const absl::flat_hash_map<std::string, uint64_t>& known,
      absl::flat_hash_map<std::string, uint64_t>* all) override;
  absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                            std::string_view payload, std::string_view erase,
                            uint64_t erase_expected) override;
  // Deletes the prefix's keys: the versions hash and every row it lists.
  absl::Status Clear() override;

  struct Connection;  // hiredis' context and the backoff state

 private:
  explicit RedisSyncStore(RedisOptions options);
  RedisOptions options_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace router

#endif  // ROUTER_REDIS_SYNC_STORE_H_
