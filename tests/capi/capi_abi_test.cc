// The C ABI from C++: frozen status values, the per-thread last error,
// concurrent routing on one router, and the SIMD target next to the C++
// library's (this test links both).
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "absl/status/status.h"
#include "catch2/catch.hpp"
#include "router/version.h"
#include "router_c.h"
#include "topic_dataset.h"

namespace {

struct FrozenCode {
  router_status_t value;
  int frozen;
  absl::StatusCode absl_code;
  const char* name;
};

// Values are frozen forever: a change here is an ABI break.
const FrozenCode kCodes[] = {
    {ROUTER_OK, 0, absl::StatusCode::kOk, "ROUTER_OK"},
    {ROUTER_CANCELLED, 1, absl::StatusCode::kCancelled, "ROUTER_CANCELLED"},
    {ROUTER_UNKNOWN, 2, absl::StatusCode::kUnknown, "ROUTER_UNKNOWN"},
    {ROUTER_INVALID_ARGUMENT, 3, absl::StatusCode::kInvalidArgument, "ROUTER_INVALID_ARGUMENT"},
    {ROUTER_DEADLINE_EXCEEDED, 4, absl::StatusCode::kDeadlineExceeded,
     "ROUTER_DEADLINE_EXCEEDED"},
    {ROUTER_NOT_FOUND, 5, absl::StatusCode::kNotFound, "ROUTER_NOT_FOUND"},
    {ROUTER_ALREADY_EXISTS, 6, absl::StatusCode::kAlreadyExists, "ROUTER_ALREADY_EXISTS"},
    {ROUTER_PERMISSION_DENIED, 7, absl::StatusCode::kPermissionDenied,
     "ROUTER_PERMISSION_DENIED"},
    {ROUTER_RESOURCE_EXHAUSTED, 8, absl::StatusCode::kResourceExhausted,
     "ROUTER_RESOURCE_EXHAUSTED"},
    {ROUTER_FAILED_PRECONDITION, 9, absl::StatusCode::kFailedPrecondition,
     "ROUTER_FAILED_PRECONDITION"},
    {ROUTER_ABORTED, 10, absl::StatusCode::kAborted, "ROUTER_ABORTED"},
    {ROUTER_OUT_OF_RANGE, 11, absl::StatusCode::kOutOfRange, "ROUTER_OUT_OF_RANGE"},
    {ROUTER_UNIMPLEMENTED, 12, absl::StatusCode::kUnimplemented, "ROUTER_UNIMPLEMENTED"},
    {ROUTER_INTERNAL, 13, absl::StatusCode::kInternal, "ROUTER_INTERNAL"},
    {ROUTER_UNAVAILABLE, 14, absl::StatusCode::kUnavailable, "ROUTER_UNAVAILABLE"},
    {ROUTER_DATA_LOSS, 15, absl::StatusCode::kDataLoss, "ROUTER_DATA_LOSS"},
    {ROUTER_UNAUTHENTICATED, 16, absl::StatusCode::kUnauthenticated, "ROUTER_UNAUTHENTICATED"},
};

std::string WriteDataset() {
  return router_test::WriteTopicDataset(
      std::filesystem::temp_directory_path() /
          ("router_capi_abi_test_" + std::to_string(::getpid()) + ".jsonl"),
      120, /*with_costs=*/false);
}

}  // namespace

TEST_CASE("status codes are unique, frozen and equal to absl::StatusCode") {
  std::set<int> values;
  std::set<std::string> names;
  for (const FrozenCode& code : kCodes) {
    CHECK(code.value == code.frozen);
    CHECK(code.value == static_cast<int>(code.absl_code));
    CHECK(std::string(router_status_name(code.value)) == code.name);
    values.insert(code.value);
    names.insert(router_status_name(code.value));
  }
  CHECK(values.size() == std::size(kCodes));
  CHECK(names.size() == std::size(kCodes));
  CHECK(std::string(router_status_name(17)) == "ROUTER_UNKNOWN_STATUS");
}

TEST_CASE("the last error message is per thread") {
  REQUIRE(router_dim(nullptr, nullptr) == ROUTER_INVALID_ARGUMENT);
  const std::string mine = router_last_error_message();
  CHECK(!mine.empty());
  std::string other = "not read";
  std::thread([&] { other = router_last_error_message(); }).join();
  CHECK(other.empty());
  std::thread([&] {
    int32_t index = 0;
    router_decision_model_index(nullptr, &index);
    other = router_last_error_message();
  }).join();
  CHECK(other.find("decision") != std::string::npos);
  CHECK(router_last_error_message() == mine);  // untouched by the other thread
}

TEST_CASE("router_simd_target is the C++ library's SimdTargetName, static and stable") {
  REQUIRE(router_dim(nullptr, nullptr) == ROUTER_INVALID_ARGUMENT);
  const std::string error = router_last_error_message();
  const char* name = router_simd_target();
  REQUIRE(name != nullptr);
  INFO(name);
  CHECK(std::string(name) == router::SimdTargetName());
  CHECK(!std::string(name).empty());
  CHECK(std::string(name) != "Unknown");  // hwy::TargetName of no target
  CHECK(router_simd_target() == name);    // the same static string every time
  const char* other = nullptr;
  std::thread([&] { other = router_simd_target(); }).join();
  CHECK(other == name);
  CHECK(router_last_error_message() == error);  // never touches the message
}

TEST_CASE("one router routes from many threads at once") {
  const std::string path = WriteDataset();
  router_t* router = nullptr;
  REQUIRE(router_create_from_dataset(path.c_str(), nullptr, &router) == ROUTER_OK);
  std::filesystem::remove(path);

  const std::vector<std::string> prompts = {"fix the python bug", "a rhyme for my poem",
                                            "compile error, segfault", "the novel's story"};
  const std::vector<std::string> expected = {"coder", "writer", "coder", "writer"};
  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t p = static_cast<size_t>(t + i) % prompts.size();
        router_decision_t* decision = nullptr;
        const char* model = nullptr;
        if (router_route_text(router, prompts[p].c_str(), &decision) != ROUTER_OK ||
            router_decision_model(decision, &model) != ROUTER_OK) {
          ++failures;
        } else if (expected[p] != model) {
          ++mismatches;
        }
        router_decision_free(decision);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  router_free(router);
}
