#include "router/redis_sync_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "internal/sync_names.h"
#include "router/status.h"

#ifdef ROUTER_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

namespace router {
namespace {

absl::Status CheckOptions(const RedisOptions& o) {
  if (!internal::IsKeyPrefix(o.key_prefix)) {
    return absl::InvalidArgumentError(fmt::format(
        "redis: key_prefix must be 1 to 128 letters, digits or '-_.:{{}}', got '{}'",
        o.key_prefix));
  }
  if (o.host.empty() || o.port < 1 || o.port > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("redis: need a host and a port in [1, 65535], got '{}':{}", o.host, o.port));
  }
  if (o.timeout_ms < 1 || o.timeout_ms > 60000) {
    return absl::InvalidArgumentError(
        fmt::format("redis: timeout_ms must lie in [1, 60000], got {}", o.timeout_ms));
  }
  return absl::OkStatus();
}

}  // namespace

#ifndef ROUTER_HAVE_HIREDIS

struct RedisSyncStore::Connection {};

bool RedisSyncAvailable() { return false; }

absl::StatusOr<std::unique_ptr<RedisSyncStore>> RedisSyncStore::Create(RedisOptions options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  return absl::UnimplementedError(
      "redis: this build of librouter has no Redis support (build it with libhiredis-dev)");
}

RedisSyncStore::RedisSyncStore(RedisOptions options) : options_(std::move(options)) {}
RedisSyncStore::~RedisSyncStore() = default;
absl::Status RedisSyncStore::Put(std::string_view, uint64_t, std::string_view) {
  return absl::UnimplementedError("redis: not built");
}
absl::StatusOr<std::vector<SyncRow>> RedisSyncStore::Changed(
    const absl::flat_hash_map<std::string, uint64_t>&, absl::flat_hash_map<std::string, uint64_t>*) {
  return absl::UnimplementedError("redis: not built");
}
absl::StatusOr<bool> RedisSyncStore::Swap(std::string_view, uint64_t, uint64_t, std::string_view,
                                          std::string_view, uint64_t) {
  return absl::UnimplementedError("redis: not built");
}
absl::Status RedisSyncStore::Clear() { return absl::UnimplementedError("redis: not built"); }

#else

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

constexpr int64_t kFirstBackoffMs = 100;
constexpr int64_t kLastBackoffMs = 10000;

}  // namespace

struct RedisSyncStore::Connection {
  redisContext* context = nullptr;
  int64_t next_attempt_ms = 0;
  int64_t backoff_ms = kFirstBackoffMs;

  ~Connection() { Drop(); }
  void Drop() {
    if (context != nullptr) redisFree(context);
    context = nullptr;
  }
};

bool RedisSyncAvailable() { return true; }

absl::StatusOr<std::unique_ptr<RedisSyncStore>> RedisSyncStore::Create(RedisOptions options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (options.password.empty() && !options.password_env.empty()) {
    if (const char* from_env = std::getenv(options.password_env.c_str()); from_env != nullptr) {
      options.password = from_env;
    }
  }
  return std::unique_ptr<RedisSyncStore>(new RedisSyncStore(std::move(options)));
}

RedisSyncStore::RedisSyncStore(RedisOptions options)
    : options_(std::move(options)), connection_(std::make_unique<Connection>()) {}

RedisSyncStore::~RedisSyncStore() = default;

namespace {

// Connects (and authenticates) if needed, honouring the backoff.
absl::Status Ensure(RedisSyncStore::Connection* c, const RedisOptions& o) {
  if (c->context != nullptr) return absl::OkStatus();
  const int64_t now = NowMs();
  if (now < c->next_attempt_ms) {
    return absl::UnavailableError(fmt::format(
        "redis {}:{}: unreachable, next attempt in {} ms", o.host, o.port, c->next_attempt_ms - now));
  }
  auto fail = [&](std::string why) {
    c->Drop();
    c->next_attempt_ms = NowMs() + c->backoff_ms;
    c->backoff_ms = std::min(c->backoff_ms * 2, kLastBackoffMs);
    return absl::UnavailableError(fmt::format("redis {}:{}: {}", o.host, o.port, why));
  };
  const timeval timeout{o.timeout_ms / 1000, (o.timeout_ms % 1000) * 1000};
  c->context = redisConnectWithTimeout(o.host.c_str(), o.port, timeout);
  if (c->context == nullptr) return fail("cannot allocate a connection");
  if (c->context->err != 0) return fail(c->context->errstr);
  redisSetTimeout(c->context, timeout);
  if (!o.password.empty()) {
    Reply reply(static_cast<redisReply*>(redisCommand(c->context, "AUTH %b", o.password.data(),
                                                      o.password.size())));
    // The reply's text never names the password; say only that AUTH failed.
    if (reply == nullptr) return fail("AUTH: no reply");
    if (reply->type == REDIS_REPLY_ERROR) return fail("AUTH refused");
  }
  c->backoff_ms = kFirstBackoffMs;
  return absl::OkStatus();
}

// Runs `argv` (pipelined, in order) and returns the replies; Unavailable,
// dropping the connection, on any transport error.
absl::StatusOr<std::vector<Reply>> Run(RedisSyncStore::Connection* c, const RedisOptions& o,
                                       const std::vector<std::vector<std::string>>& commands) {
  if (absl::Status s = Ensure(c, o); !s.ok()) return s;
  for (const auto& command : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& a : command) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    redisAppendCommandArgv(c->context, static_cast<int>(argv.size()), argv.data(), lengths.data());
  }
  std::vector<Reply> replies;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c->context, &raw) != REDIS_OK || raw == nullptr) {
      const std::string why = c->context->errstr[0] != '\0' ? c->context->errstr : "no reply";
      c->Drop();
      c->next_attempt_ms = NowMs() + c->backoff_ms;
      c->backoff_ms = std::min(c->backoff_ms * 2, kLastBackoffMs);
      return absl::UnavailableError(fmt::format("redis {}:{}: {}", o.host, o.port, why));
    }
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

// A version as the versions hash holds it (a decimal string); 0 for one
// that is not a number.
uint64_t VersionOf(const redisReply& r) {
  return std::strtoull(std::string(r.str, r.len).c_str(), nullptr, 10);
}

absl::Status ReplyError(const redisReply& r, std::string_view what) {
  return absl::InternalError(
      fmt::format("redis: {} failed: {}", what, std::string_view(r.str, r.len)));
}

}  // namespace

absl::Status RedisSyncStore::Put(std::string_view replica, uint64_t version,
                                 std::string_view payload) {
  const std::string& prefix = options_.key_prefix;
  absl::StatusOr<std::vector<Reply>> replies =
      Run(connection_.get(), options_,
          {{"MULTI"},
           {"SET", fmt::format("{}:state:{}", prefix, replica), std::string(payload)},
           {"HSET", prefix + ":versions", std::string(replica), std::to_string(version)},
           {"EXEC"}});
  if (!replies.ok()) return replies.status();
  const redisReply& exec = *replies->back();
  if (exec.type == REDIS_REPLY_ERROR) return ReplyError(exec, "writing the row");
  if (exec.type != REDIS_REPLY_ARRAY) return absl::InternalError("redis: EXEC did not run");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SyncRow>> RedisSyncStore::Changed(
    const absl::flat_hash_map<std::string, uint64_t>& known,
    absl::flat_hash_map<std::string, uint64_t>* all) {
  const std::string& prefix = options_.key_prefix;
  absl::StatusOr<std::vector<Reply>> versions =
      Run(connection_.get(), options_, {{"HGETALL", prefix + ":versions"}});
  if (!versions.ok()) return versions.status();
  const redisReply& table = *versions->front();
  if (table.type == REDIS_REPLY_ERROR) return ReplyError(table, "reading the versions");
  all->clear();
  std::vector<std::vector<std::string>> gets;
  std::vector<SyncRow> changed;
  for (size_t i = 0; table.type == REDIS_REPLY_ARRAY && i + 1 < table.elements; i += 2) {
    const redisReply& key = *table.element[i];
    const redisReply& value = *table.element[i + 1];
    if (key.type != REDIS_REPLY_STRING || value.type != REDIS_REPLY_STRING) continue;
    std::string replica(key.str, key.len);
    // A version that is not a number cannot match what a replica knows, so
    // the row is read and its payload judged by the reader.
    const uint64_t version = VersionOf(value);
    (*all)[replica] = version;
    const auto seen = known.find(replica);
    if (seen != known.end() && seen->second == version) continue;
    gets.push_back({"GET", fmt::format("{}:state:{}", prefix, replica)});
    changed.push_back(SyncRow{.replica = std::move(replica), .version = version, .payload = {}});
  }
  if (gets.empty()) return changed;
  absl::StatusOr<std::vector<Reply>> payloads = Run(connection_.get(), options_, gets);
  if (!payloads.ok()) return payloads.status();
  std::vector<SyncRow> present;
  for (size_t i = 0; i < changed.size(); ++i) {
    const redisReply& r = *(*payloads)[i];
    if (r.type != REDIS_REPLY_STRING) continue;  // deleted meanwhile
    changed[i].payload.assign(r.str, r.len);
    present.push_back(std::move(changed[i]));
  }
  return present;
}

absl::StatusOr<bool> RedisSyncStore::Swap(std::string_view row, uint64_t expected,
                                          uint64_t version, std::string_view payload,
                                          std::string_view erase, uint64_t erase_expected) {
  const std::string& prefix = options_.key_prefix;
  const std::string key = fmt::format("{}:state:{}", prefix, row);
  const std::string erase_key = fmt::format("{}:state:{}", prefix, erase);
  const bool check_erase = !erase.empty() && erase_expected != kAnyVersion;
  // Only the rows' keys are watched: every write of a row SETs its key (and
  // Clear deletes it), while the versions hash changes at every replica's
  // round, which would make a retirement lose to ordinary writes.
  std::vector<std::vector<std::string>> reads = {
      {"WATCH", key}, {"HGET", prefix + ":versions", std::string(row)}};
  if (check_erase) {
    reads.push_back({"WATCH", erase_key});
    reads.push_back({"HGET", prefix + ":versions", std::string(erase)});
  }
  absl::StatusOr<std::vector<Reply>> read = Run(connection_.get(), options_, reads);
  if (!read.ok()) return read.status();
  auto version_at = [&](size_t i) -> absl::StatusOr<uint64_t> {
    const redisReply& now = *(*read)[i];
    if (now.type == REDIS_REPLY_ERROR) return ReplyError(now, "reading a row's version");
    return now.type == REDIS_REPLY_STRING ? VersionOf(now) : 0;
  };
  ROUTER_ASSIGN_OR_RETURN(const uint64_t current, version_at(1));
  uint64_t erase_current = erase_expected;
  if (check_erase) {
    ROUTER_ASSIGN_OR_RETURN(erase_current, version_at(3));
  }
  if (current != expected || erase_current != erase_expected) {
    absl::StatusOr<std::vector<Reply>> unwatch = Run(connection_.get(), options_, {{"UNWATCH"}});
    if (!unwatch.ok()) return unwatch.status();
    return false;
  }
  std::vector<std::vector<std::string>> commands = {
      {"MULTI"},
      {"SET", key, std::string(payload)},
      {"HSET", prefix + ":versions", std::string(row), std::to_string(version)}};
  if (!erase.empty()) {
    commands.push_back({"DEL", erase_key});
    commands.push_back({"HDEL", prefix + ":versions", std::string(erase)});
  }
  commands.push_back({"EXEC"});
  absl::StatusOr<std::vector<Reply>> replies = Run(connection_.get(), options_, commands);
  if (!replies.ok()) return replies.status();
  const redisReply& exec = *replies->back();
  if (exec.type == REDIS_REPLY_ERROR) return ReplyError(exec, "swapping the row");
  if (exec.type == REDIS_REPLY_NIL) return false;  // the watched key changed: a lost race
  if (exec.type != REDIS_REPLY_ARRAY) return absl::InternalError("redis: EXEC did not run");
  return true;
}

absl::Status RedisSyncStore::Clear() {
  absl::flat_hash_map<std::string, uint64_t> all;
  ROUTER_ASSIGN_OR_RETURN(std::vector<SyncRow> rows, Changed({}, &all));
  std::vector<std::string> del = {"DEL", options_.key_prefix + ":versions"};
  for (const auto& [replica, version] : all) {
    del.push_back(fmt::format("{}:state:{}", options_.key_prefix, replica));
  }
  absl::StatusOr<std::vector<Reply>> replies = Run(connection_.get(), options_, {del});
  if (!replies.ok()) return replies.status();
  if (replies->front()->type == REDIS_REPLY_ERROR) return ReplyError(*replies->front(), "DEL");
  return absl::OkStatus();
}

#endif  // ROUTER_HAVE_HIREDIS

}  // namespace router
