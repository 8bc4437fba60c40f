// router_sync_start from the router's configuration: a config's "sync" block
// (docs/configuration.md) travels through router_save/router_load and gives
// router_sync_start its defaults, so "{}" starts the sync it describes and
// the keys given override it. With a redis-server on the machine, the block's
// password_env is where the password comes from (else that case is skipped).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "catch2/catch.hpp"
#include "router_c.h"
#include "redis_daemon.h"
#include "skip.h"
#include "topic_dataset.h"

namespace {

namespace fs = std::filesystem;

const std::string kPid = std::to_string(::getpid());

std::string Dataset() {
  static const std::string path = router_test::WriteTopicDataset(
      fs::temp_directory_path() / ("router_capi_sync_config_" + kPid + ".jsonl"), 80,
      /*with_costs=*/true);
  return path;
}

// A LinUCB router fitted with `config`; REQUIREs success.
router_t* Fit(const std::string& config) {
  router_t* router = nullptr;
  const router_status_t status =
      router_create_from_dataset(Dataset().c_str(), config.c_str(), &router);
  INFO(config << ": " << router_last_error_message());
  REQUIRE(status == ROUTER_OK);
  return router;
}

router_t* Load(const std::string& path) {
  router_t* router = nullptr;
  const router_status_t status = router_load(path.c_str(), &router);
  INFO(router_last_error_message());
  REQUIRE(status == ROUTER_OK);
  return router;
}

std::string Status(const router_sync_t* sync) {
  char text[2048] = {};
  size_t needed = 0;
  REQUIRE(router_sync_status_json(sync, text, sizeof(text), &needed) == ROUTER_OK);
  return text;
}

constexpr const char* kPrompt = "fix this python bug";

// One piece of feedback for kPrompt, to `router`'s "coder".
void Feedback(router_t* router) {
  float vector[4096];
  int32_t dim = 0;
  REQUIRE(router_dim(router, &dim) == ROUTER_OK);
  REQUIRE(dim <= 4096);
  REQUIRE(router_embed_text(router, kPrompt, vector, 4096) == ROUTER_OK);
  REQUIRE(router_feedback_vector(router, vector, static_cast<size_t>(dim), "coder", 1.0, 0.002) ==
          ROUTER_OK);
}

// The router's estimate of "coder" for kPrompt.
double Estimate(const router_t* router) {
  const char* model = "coder";
  router_route_options_t options = {};
  options.struct_size = sizeof(options);
  options.allowed_models = &model;
  options.allowed_model_count = 1;
  router_decision_t* decision = nullptr;
  REQUIRE(router_route_text_with(router, kPrompt, &options, &decision) == ROUTER_OK);
  double quality = -1;
  CHECK(router_decision_quality(decision, &quality) == ROUTER_OK);
  router_decision_free(decision);
  return quality;
}

// b has what a learned: b's estimate is a's (and not what it was).
void CheckShared(router_t* a, router_t* b, double before) {
  CHECK(Estimate(a) != before);
  CHECK(Estimate(b) == Approx(Estimate(a)).margin(1e-9));
}

struct SavedFile {
  std::string path;
  ~SavedFile() { fs::remove(path); }
};

TEST_CASE("a config's sync block starts with \"{}\", and keys given override it",
          "[capi][sync]") {
  const std::string store = "memory:capi-config-" + kPid;
  router_t* fitted = Fit(R"({"router": "linucb", "sync": {"store": ")" + store +
                         R"(", "interval_ms": 0}})");
  // The block is saved with the router, so every replica loading it has it.
  SavedFile file{(fs::temp_directory_path() / ("router_capi_sync_config_" + kPid + ".router"))
                     .string()};
  REQUIRE(router_save(fitted, file.path.c_str()) == ROUTER_OK);
  router_free(fitted);
  router_t* a = Load(file.path);
  router_t* b = Load(file.path);
  router_t* c = Load(file.path);

  router_sync_t* sa = nullptr;
  const router_status_t started = router_sync_start(a, "{}", &sa);
  INFO(router_last_error_message());
  REQUIRE(started == ROUTER_OK);
  // No replica_id in the block: "<host name>-<process id>".
  const std::string status_a = Status(sa);
  CHECK(status_a.find("-" + kPid + "\",") != std::string::npos);
  CHECK(status_a.find("\"store\":\"" + store + "\"") != std::string::npos);

  // A second router of this process gets the same generated id: refused,
  // nothing started; naming the replica is the way.
  router_sync_t* sb = reinterpret_cast<router_sync_t*>(&sa);
  CHECK(router_sync_start(b, "{}", &sb) == ROUTER_ALREADY_EXISTS);
  CHECK(sb == nullptr);
  CHECK(std::string(router_last_error_message()).find("already syncs") != std::string::npos);
  REQUIRE(router_sync_start(b, R"({"replica_id": "b"})", &sb) == ROUTER_OK);
  CHECK(Status(sb).find("\"replica_id\":\"b\"") != std::string::npos);

  // interval_ms 0 (the block's): rounds run when the host asks.
  const double before = Estimate(b);
  Feedback(a);
  REQUIRE(router_sync_now(sa) == ROUTER_OK);
  REQUIRE(router_sync_now(sb) == ROUTER_OK);
  CheckShared(a, b, before);
  CHECK(Status(sb).find("\"replicas\":2") != std::string::npos);

  // The store overridden: c is alone in another one.
  router_sync_t* sc = nullptr;
  const std::string other = "memory:capi-config-other-" + kPid;
  REQUIRE(router_sync_start(c, (R"({"replica_id": "c", "store": ")" + other + "\"}").c_str(),
                            &sc) == ROUTER_OK);
  REQUIRE(router_sync_now(sc) == ROUTER_OK);
  CHECK(Status(sc).find("\"replicas\":1") != std::string::npos);
  CHECK(Status(sc).find("\"store\":\"" + other + "\"") != std::string::npos);

  // Overrides are read as router_sync_start's keys, with its rules.
  router_t* d = Load(file.path);
  router_sync_t* sd = nullptr;
  CHECK(router_sync_start(d, R"({"replica_id": "d", "interval_ms": -1})", &sd) ==
        ROUTER_INVALID_ARGUMENT);
  CHECK(sd == nullptr);
  CHECK(router_sync_start(d, R"({"bogus": 1})", &sd) == ROUTER_INVALID_ARGUMENT);
  CHECK(std::string(router_last_error_message()).find("bogus") != std::string::npos);
  CHECK(router_sync_start(d, R"({"redis": {}})", &sd) == ROUTER_INVALID_ARGUMENT);  // memory store
  CHECK(std::string(router_last_error_message()).find("redis") != std::string::npos);

  // b retires: a last round, then its row folded into the store's archive.
  // a keeps what b learned last, and b runs no more rounds.
  const double before_retire = Estimate(a);
  Feedback(b);
  CHECK(router_sync_retire(nullptr) == ROUTER_INVALID_ARGUMENT);
  REQUIRE(router_sync_retire(sb) == ROUTER_OK);
  CHECK(router_sync_retire(sb) == ROUTER_FAILED_PRECONDITION);
  CHECK(router_sync_now(sb) == ROUTER_FAILED_PRECONDITION);
  CHECK(std::string(router_last_error_message()).find("retired") != std::string::npos);
  REQUIRE(router_sync_now(sa) == ROUTER_OK);
  CHECK(Status(sa).find("\"replicas\":1") != std::string::npos);  // b's row is gone
  CHECK(Estimate(a) != before_retire);
  CHECK(Estimate(a) == Approx(Estimate(b)).margin(1e-9));

  // e stops without retiring (a last round publishes its row, which stays
  // and counts); a folds it as gone: a's estimates do not move.
  router_t* e = Load(file.path);
  router_sync_t* se = nullptr;
  REQUIRE(router_sync_start(e, R"({"replica_id": "e"})", &se) == ROUTER_OK);
  Feedback(e);
  router_sync_stop(se);
  REQUIRE(router_sync_now(sa) == ROUTER_OK);
  CHECK(Status(sa).find("\"replicas\":2") != std::string::npos);
  CHECK(Status(sa).find("\"rows\":[{\"replica\":\"e\",\"unchanged_ms\":") !=
        std::string::npos);
  const double with_e = Estimate(a);
  CHECK(with_e != Estimate(b));  // b retired before e learned
  CHECK(router_sync_fold(nullptr, "e") == ROUTER_INVALID_ARGUMENT);
  CHECK(router_sync_fold(sa, nullptr) == ROUTER_INVALID_ARGUMENT);
  CHECK(router_sync_fold(sa, "no such id!") == ROUTER_INVALID_ARGUMENT);
  CHECK(router_sync_fold(sa, "f") == ROUTER_NOT_FOUND);
  CHECK(router_sync_fold(sb, "e") == ROUTER_FAILED_PRECONDITION);  // b retired
  REQUIRE(router_sync_fold(sa, "e") == ROUTER_OK);
  REQUIRE(router_sync_now(sa) == ROUTER_OK);
  CHECK(Status(sa).find("\"replicas\":1") != std::string::npos);
  CHECK(Status(sa).find("\"rows\":[]") != std::string::npos);
  CHECK(Estimate(a) == Approx(with_e).margin(1e-12));
  CHECK(router_sync_fold(sa, "e") == ROUTER_NOT_FOUND);

  router_sync_stop(sc);
  router_sync_stop(sb);
  router_sync_stop(sa);
  router_free(e);
  router_free(d);
  router_free(c);
  router_free(b);
  router_free(a);
}

TEST_CASE("without a sync block, replica_id and store stay required", "[capi][sync]") {
  router_t* router = Fit(R"({"router": "linucb"})");
  router_sync_t* sync = nullptr;
  CHECK(router_sync_start(router, "{}", &sync) == ROUTER_INVALID_ARGUMENT);
  CHECK(sync == nullptr);
  const std::string message = router_last_error_message();
  CHECK(message.find("replica_id") != std::string::npos);
  CHECK(message.find("\"sync\" block") != std::string::npos);
  CHECK(router_sync_start(router, R"({"replica_id": "x"})", &sync) == ROUTER_INVALID_ARGUMENT);
  CHECK(std::string(router_last_error_message()).find("store") != std::string::npos);
  router_free(router);
}

TEST_CASE("a bad sync block is refused when the router is made", "[capi][sync]") {
  struct Case {
    const char* config;
    const char* named;
  };
  const Case cases[] = {
      {R"({"sync": {"interval_ms": -1}})", "sync.interval_ms"},
      {R"({"sync": {"redis": {"key_prefix": ""}}})", "sync.redis.key_prefix"},
      {R"({"sync": {"replica_id": 3}})", "sync.replica_id"},
      {R"({"sync": {"bogus": true}})", "sync.bogus"},
      {R"({"sync": {"redis": {"password": "hunter2"}}})", "sync.redis.password"},
  };
  for (const Case& c : cases) {
    INFO(c.config);
    router_t* router = reinterpret_cast<router_t*>(&router);
    CHECK(router_create_from_dataset(Dataset().c_str(), c.config, &router) ==
          ROUTER_INVALID_ARGUMENT);
    CHECK(router == nullptr);
    const std::string message = router_last_error_message();
    CHECK(message.find(c.named) != std::string::npos);
    CHECK(message.find("hunter2") == std::string::npos);
  }
}

// A redis-server of the test's own, with a password, on a free port.
TEST_CASE("through Redis, the password comes from the variable the block names",
          "[capi][sync][redis]") {
  if (!router::testing::RedisServerInstalled()) ROUTER_SKIP("redis-server is not installed");
  const int port = 40000 + static_cast<int>(::getpid() % 20000);
  const router::testing::RedisDaemon redis(port, "sesame", "capi-redis-" + kPid);
  REQUIRE(redis.started());

  constexpr const char* kVariable = "ROUTER_CAPI_SYNC_CONFIG_TEST_PASSWORD";
  REQUIRE(::setenv(kVariable, "sesame", 1) == 0);
  router_t* a = Fit(R"({"router": "linucb", "sync": {"interval_ms": 0, "redis": {"port": )" +
                    std::to_string(port) + R"(, "key_prefix": "capi-config-)" + kPid +
                    R"(", "password_env": ")" + kVariable + R"(", "timeout_ms": 500}}})");
  SavedFile file{(fs::temp_directory_path() / ("router_capi_sync_redis_" + kPid + ".router"))
                     .string()};
  REQUIRE(router_save(a, file.path.c_str()) == ROUTER_OK);
  router_t* b = Load(file.path);

  router_sync_t* sa = nullptr;
  const router_status_t started = router_sync_start(a, R"({"replica_id": "a"})", &sa);
  if (started == ROUTER_UNIMPLEMENTED) {
    router_free(b);
    router_free(a);
    ROUTER_SKIP("this build has no Redis store (hiredis not found)");
  }
  INFO(router_last_error_message());
  REQUIRE(started == ROUTER_OK);
  // Wait for the server to accept (the store reconnects with a backoff).
  bool up = false;
  for (int i = 0; i < 150 && !up; ++i) {
    up = router_sync_now(sa) == ROUTER_OK;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(up);
  router_sync_t* sb = nullptr;
  REQUIRE(router_sync_start(b, R"({"replica_id": "b"})", &sb) == ROUTER_OK);
  const double before = Estimate(b);
  Feedback(a);
  REQUIRE(router_sync_now(sa) == ROUTER_OK);
  REQUIRE(router_sync_now(sb) == ROUTER_OK);
  CheckShared(a, b, before);
  const std::string status_b = Status(sb);
  CHECK(status_b.find("\"connected\":true") != std::string::npos);
  CHECK(status_b.find("\"replicas\":2") != std::string::npos);

  // A wrong password in the variable: refused, and never echoed.
  REQUIRE(::setenv(kVariable, "not-sesame", 1) == 0);
  router_t* c = Load(file.path);
  router_sync_t* sc = nullptr;
  REQUIRE(router_sync_start(c, R"({"replica_id": "c"})", &sc) == ROUTER_OK);
  CHECK(router_sync_now(sc) == ROUTER_UNAVAILABLE);
  CHECK(std::string(router_last_error_message()).find("not-sesame") == std::string::npos);
  const std::string status_c = Status(sc);
  CHECK(status_c.find("\"connected\":false") != std::string::npos);
  CHECK(status_c.find("not-sesame") == std::string::npos);
  ::unsetenv(kVariable);

  router_sync_stop(sc);
  router_sync_stop(sb);
  router_sync_stop(sa);
  router_free(c);
  router_free(b);
  router_free(a);
}

}  // namespace
