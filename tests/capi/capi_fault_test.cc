// Faults through the C ABI: an allocation that fails anywhere inside a call
// surfaces as ROUTER_RESOURCE_EXHAUSTED (never an abort, never another
// exception), changes nothing, and leaks nothing; a feedback storm of
// extreme values leaves every estimate finite and in range.
//
// The allocation hook replaces the global operator new/delete of this
// program; librouter_c's calls to operator new resolve to it. It fails one
// chosen allocation of the calling thread, so the failure lands at every
// point of a call in turn (threads the library starts, e.g. OpenMP's, are
// never failed: an exception cannot leave a parallel region, and FAISS
// starts none for single-query searches).
//
// Calls that parse or write JSON are failed only in allocations of 1 KiB or
// more: nlohmann::json's destructor allocates (json_value::destroy moves the
// children of an array or object into a std::vector to avoid recursion), so
// a failure of one of those small allocations ends in std::terminate, a
// limitation of that library this test found (docs/reliability.md). Large
// allocations, the ones that fail first when memory runs short, are failed
// in every call; calls without JSON have every allocation failed.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <unistd.h>

#include "catch2/catch.hpp"
#include "router_c.h"
#include "topic_dataset.h"

namespace {

// -1: off. Otherwise the number of allocations of the armed thread to let
// through before one fails.
thread_local int64_t g_fail_after = -1;
thread_local int64_t g_allocations = 0;  // counted while armed
thread_local bool g_failed = false;
thread_local size_t g_min_size = 0;  // smaller allocations are left alone

void* Allocate(size_t size) {
  if (g_fail_after >= 0 && size >= g_min_size) {
    ++g_allocations;
    if (g_fail_after-- == 0) {
      g_failed = true;
      throw std::bad_alloc();
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

}  // namespace

// Every non-aligned form is replaced, so memory from one always returns
// through another (aligned forms keep the runtime's own pair).
void* operator new(size_t size) { return Allocate(size); }
void* operator new[](size_t size) { return Allocate(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try {
    return Allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  try {
    return Allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;

std::string WriteDataset(const fs::path& path) {
  return router_test::WriteTopicDataset(path, 60, /*with_costs=*/true);
}

const char* kConfigs[] = {
    R"({"router": "knn", "knn": {"k": 5}, "featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})",
    R"({"router": "linucb", "linucb": {"context_dim": 4}, "featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})",
    R"({"router": "cluster", "cluster": {"num_clusters": 2}, "featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})",
    R"({"router": "mf", "mf": {"hidden_dim": 4, "epochs": 3}, "featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})",
    R"({"router": "stacked", "stacked": {"bases": ["knn", "cluster"], "folds": 2}, "knn": {"k": 5}, "cluster": {"num_clusters": 2}, "featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})",
    // Priced, so with per-prompt costs, and with the calibration layer.
    R"({"router": "cluster", "cluster": {"num_clusters": 2}, "calibration": {"method": "platt", "folds": 2}, "models": [{"name": "coder", "input_usd_per_mtok": 1, "output_usd_per_mtok": 4}, {"name": "writer", "input_usd_per_mtok": 0.5, "output_usd_per_mtok": 2}], "featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})",
};

// Runs `call` (which makes only C ABI calls) once with the hook counting its
// allocations, then once per allocation (or, for calls with many, at about
// `samples` points spread over them) with that allocation failing. Each run
// must return ROUTER_OK or, when the failure was hit, ROUTER_RESOURCE_EXHAUSTED
// with an "out of memory" message; `check(status)` then looks at the state
// (unhooked, so the test's own allocations never fail).
template <typename Call, typename Check>
void FailEachAllocation(const char* what, size_t min_size, Call call, Check check,
                        int64_t samples = 400) {
  g_min_size = min_size;
  g_allocations = 0;
  g_fail_after = std::numeric_limits<int64_t>::max();
  router_status_t status = call();
  g_fail_after = -1;
  REQUIRE(status == ROUTER_OK);
  check(status);
  const int64_t total = g_allocations;
  INFO(what << ": " << total << " allocations");
  REQUIRE(total > 0);
  const int64_t step = std::max<int64_t>(1, total / samples);
  int64_t exhausted = 0;
  for (int64_t n = 0; n < total; n += step) {
    g_failed = false;
    g_fail_after = n;
    status = call();
    g_fail_after = -1;
    INFO("failing allocation " << n << ": " << router_status_name(status) << " "
                               << router_last_error_message());
    if (g_failed) {
      // A failure may be absorbed inside the library, never turned into
      // another error.
      REQUIRE((status == ROUTER_RESOURCE_EXHAUSTED || status == ROUTER_OK));
      if (status == ROUTER_RESOURCE_EXHAUSTED) {
        ++exhausted;
        REQUIRE(std::string(router_last_error_message()).find("out of memory") !=
                std::string::npos);
      }
    } else {
      REQUIRE(status == ROUTER_OK);
    }
    check(status);
  }
  INFO(exhausted << " runs ended in ROUTER_RESOURCE_EXHAUSTED");
  REQUIRE(exhausted > 0);
}

// Calls that parse or write JSON fail only allocations of at least this size.
constexpr size_t kLarge = 1024;
// Fitting parses the JSONL dataset with nlohmann::json, whose parser is not
// exception-safe: a failed allocation inside Json::parse leaves a
// half-built value that its destructor frees through a wild pointer (found
// by this test; docs/reliability.md). A fit is failed only in allocations
// of 64 KiB or more: the file buffer, the featurizer's matrices, the index.
constexpr size_t kHuge = 1024;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("an allocation failure anywhere in a call is ROUTER_RESOURCE_EXHAUSTED",
          "[fault][alloc]") {
  const fs::path dir = fs::temp_directory_path() /
                       ("router_capi_fault_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string dataset = WriteDataset(dir / "data.jsonl");
  const std::string saved = (dir / "router.bin").string();

  for (const char* config : kConfigs) {
    INFO(config);
    router_t* router = nullptr;
    REQUIRE(router_create_from_dataset(dataset.c_str(), config, &router) == ROUTER_OK);
    REQUIRE(router_save(router, saved.c_str()) == ROUTER_OK);
    const std::string saved_bytes = ReadAll(saved);

    router_t* made = nullptr;
    FailEachAllocation(
        "create", kHuge,
        [&] { return router_create_from_dataset(dataset.c_str(), config, &made); },
        [&](router_status_t status) {
          REQUIRE((status == ROUTER_OK) == (made != nullptr));  // no stale handle
          router_free(made);
          made = nullptr;
        },
        150);

    router_decision_t* decision = nullptr;
    const auto check_decision = [&](router_status_t status) {
      REQUIRE((status == ROUTER_OK) == (decision != nullptr));
      router_decision_free(decision);
      decision = nullptr;
    };
    FailEachAllocation(
        "route_text", 0,
        [&] { return router_route_text(router, "fix the python bug", &decision); },
        check_decision);
    int32_t dim = 0;
    REQUIRE(router_dim(router, &dim) == ROUTER_OK);
    const std::vector<float> vector(dim, 0.3f);
    FailEachAllocation(
        "route_vector", 0,
        [&] { return router_route_vector(router, vector.data(), dim, 10, &decision); },
        check_decision);

    REQUIRE(router_route_text(router, "a rhyme for my poem", &decision) == ROUTER_OK);
    std::vector<char> buf(4096);
    FailEachAllocation(
        "decision_explain", 0,
        [&] { return router_decision_explain(decision, buf.data(), buf.size(), nullptr); },
        [&](router_status_t status) {
          if (status == ROUTER_OK) REQUIRE(std::strlen(buf.data()) > 20);
        });
    router_decision_free(decision);

    // A changed router, so that a save that goes through and one that fails
    // leave different files: the new image, or the old one intact.
    REQUIRE(router_set_model_price(router, "writer", 9.0, 9.0) == ROUTER_OK);
    const std::string changed = (dir / "changed.bin").string();
    REQUIRE(router_save(router, changed.c_str()) == ROUTER_OK);
    const std::string changed_bytes = ReadAll(changed);
    REQUIRE(changed_bytes != saved_bytes);
    std::string on_disk = saved_bytes;
    FailEachAllocation(
        "save", kLarge, [&] { return router_save(router, saved.c_str()); },
        [&](router_status_t status) {
          if (status == ROUTER_OK) on_disk = changed_bytes;
          REQUIRE(ReadAll(saved) == on_disk);
        });
    REQUIRE(on_disk == changed_bytes);  // some save went through

    router_t* loaded = nullptr;
    FailEachAllocation(
        "load", kLarge, [&] { return router_load(saved.c_str(), &loaded); },
        [&](router_status_t status) {
          REQUIRE((status == ROUTER_OK) == (loaded != nullptr));
          router_free(loaded);
          loaded = nullptr;
        });

    router_t* copy = nullptr;
    REQUIRE(router_load(saved.c_str(), &copy) == ROUTER_OK);
    FailEachAllocation(
        "remove_model", 0, [&] { return router_remove_model(copy, "writer"); },
        [&](router_status_t status) {
          int32_t count = 0;
          REQUIRE(router_model_count(copy, &count) == ROUTER_OK);
          REQUIRE(count == (status == ROUTER_OK ? 1 : 2));  // all or nothing
          router_free(copy);
          REQUIRE(router_load(saved.c_str(), &copy) == ROUTER_OK);
        });
    router_free(copy);
    router_free(router);
  }
  fs::remove_all(dir);
}

TEST_CASE("a feedback storm through the C ABI keeps every estimate finite",
          "[fault][feedback]") {
  const fs::path dir = fs::temp_directory_path() /
                       ("router_capi_storm_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string dataset = WriteDataset(dir / "data.jsonl");
  router_t* router = nullptr;
  REQUIRE(router_create_from_dataset(dataset.c_str(), kConfigs[1], &router) == ROUTER_OK);
  int32_t dim = 0;
  REQUIRE(router_dim(router, &dim) == ROUTER_OK);

  std::vector<std::vector<float>> probes;
  for (const char* prompt : {"fix the python bug", "a rhyme for my poem", "", "zyzzyva"}) {
    std::vector<float> v(dim);
    REQUIRE(router_embed_text(router, prompt, v.data(), v.size()) == ROUTER_OK);
    probes.push_back(v);
  }
  probes.push_back(std::vector<float>(dim, 3e38f));
  probes.push_back(std::vector<float>(dim, -1e-40f));

  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const double scores[] = {0.0, 1.0, 1.0, 0.0, 0.25, -1.0, 2.0, nan, inf, -0.0, 1e-310};
  const double costs[] = {0.0, 1e9, nan, -inf, 1e-12};
  const char* models[] = {"coder", "writer", "nobody"};
  constexpr int kCalls = 100000;
  int accepted = 0;
  for (int call = 0; call < kCalls; ++call) {
    const double score = scores[call % std::size(scores)];
    const double cost = costs[call % std::size(costs)];
    const char* model = models[call % std::size(models)];
    const std::vector<float>& probe = probes[call % probes.size()];
    router_status_t status;
    if (call % 3 == 0) {
      router_decision_t* decision = nullptr;
      REQUIRE(router_route_vector(router, probe.data(), probe.size(), 0, &decision) == ROUTER_OK);
      uint64_t id = 0;
      REQUIRE(router_decision_id(decision, &id) == ROUTER_OK);
      router_decision_free(decision);
      status = router_feedback(router, id, score, cost);
    } else {
      status = router_feedback_vector(router, probe.data(), probe.size(), model, score, cost);
    }
    const bool valid = std::isfinite(score) && score >= 0.0 && score <= 1.0 &&
                       std::isfinite(cost) && cost >= 0.0 &&
                       (call % 3 == 0 || std::string(model) != "nobody");
    if (valid) {
      REQUIRE(status == ROUTER_OK);
      ++accepted;
    } else {
      REQUIRE(status != ROUTER_OK);
    }
  }
  REQUIRE(accepted > kCalls / 5);

  std::vector<float> rows;
  for (const auto& probe : probes) rows.insert(rows.end(), probe.begin(), probe.end());
  const size_t count = probes.size();
  std::vector<int32_t> index(count);
  std::vector<double> quality(count), cost(count);
  REQUIRE(router_route_batch(router, rows.data(), count, dim, dim, nullptr, index.data(),
                             quality.data(), cost.data()) == ROUTER_OK);
  for (size_t i = 0; i < count; ++i) {
    REQUIRE(std::isfinite(quality[i]));
    REQUIRE(quality[i] >= 0.0);
    REQUIRE(quality[i] <= 1.0);
    REQUIRE(std::isfinite(cost[i]));
    REQUIRE(cost[i] >= 0.0);
  }
  router_free(router);
  fs::remove_all(dir);
}

}  // namespace

namespace {

TEST_CASE("a batch over limits.max_batch_size is refused through the C ABI", "[limits]") {
  const fs::path dir = fs::temp_directory_path() /
                       ("router_capi_limits_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string dataset = WriteDataset(dir / "data.jsonl");
  router_t* router = nullptr;
  REQUIRE(router_create_from_dataset(
              dataset.c_str(),
              R"({"knn": {"k": 5}, "featurizer": {"dim": 8}, "limits": {"max_batch_size": 2}})",
              &router) == ROUTER_OK);
  int32_t dim = 0;
  REQUIRE(router_dim(router, &dim) == ROUTER_OK);
  std::vector<float> rows(3 * dim, 0.5f);
  std::vector<int32_t> index(3, -1);
  REQUIRE(router_route_batch(router, rows.data(), 2, dim, dim, nullptr, index.data(), nullptr,
                             nullptr) == ROUTER_OK);
  REQUIRE(router_route_batch(router, rows.data(), 3, dim, dim, nullptr, index.data(), nullptr,
                             nullptr) == ROUTER_INVALID_ARGUMENT);
  REQUIRE(std::string(router_last_error_message()) ==
          "a batch of 3 exceeds limits.max_batch_size = 2");
  REQUIRE(index[2] == -1);  // refused before any query ran
  router_free(router);
  fs::remove_all(dir);
}

}  // namespace
