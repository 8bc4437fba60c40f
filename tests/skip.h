// Skipping a test so that ctest shows it: under ctest (which sets
// ROUTER_TEST_SKIP_CODE for every test program) the process exits with that
// code and ctest reports the test "Skipped" with the reason on stdout; run by
// hand, the reason is a Catch2 warning and the test case returns.
//
//   if (!testing::kCountsAllocations) ROUTER_SKIP("allocation counting is off");
#ifndef ROUTER_TESTS_SKIP_H_
#define ROUTER_TESTS_SKIP_H_

#include <cstdio>
#include <cstdlib>

#include <catch2/catch.hpp>

namespace router::testing {

// The exit code ctest takes for "skipped", or 0 outside ctest.
inline int SkipExitCode() {
  const char* code = std::getenv("ROUTER_TEST_SKIP_CODE");
  return code != nullptr ? std::atoi(code) : 0;
}

}  // namespace router::testing

#define ROUTER_SKIP(reason)                                           \
  do {                                                                \
    std::printf("SKIP: %s\n", reason);                                \
    std::fflush(stdout);                                              \
    if (const int code = ::router::testing::SkipExitCode(); code > 0) \
      std::_Exit(code);                                               \
    WARN("SKIP: " << reason);                                         \
    return;                                                           \
  } while (false)

#endif  // ROUTER_TESTS_SKIP_H_
