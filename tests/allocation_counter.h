// Counts heap allocations in a test program, to check that warm paths
// allocate nothing. Include it in one source file per program: it replaces
// malloc, calloc and realloc (which operator new and Eigen both call) with
// versions that count the calls made on this thread inside
// AllocationsDuring. Sanitizers bring their own allocator, so under them
// nothing is replaced, nothing is counted and kCountsAllocations is false.
#ifndef ROUTER_TESTS_ALLOCATION_COUNTER_H_
#define ROUTER_TESTS_ALLOCATION_COUNTER_H_

#include <cstddef>
#include <cstdint>

#include "sanitizer.h"

namespace router::testing {

inline constexpr bool kCountsAllocations = !ROUTER_TEST_UNDER_SANITIZER;
inline thread_local bool counting_allocations = false;
inline thread_local int64_t allocations_counted = 0;

// How many allocations `f()` made on this thread (0 where not counted).
template <typename F>
int64_t AllocationsDuring(F&& f) {
  allocations_counted = 0;
  counting_allocations = true;
  f();
  counting_allocations = false;
  return allocations_counted;
}

}  // namespace router::testing

#if !ROUTER_TEST_UNDER_SANITIZER
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* malloc(size_t size) {
  if (router::testing::counting_allocations) ++router::testing::allocations_counted;
  return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) {
  if (router::testing::counting_allocations) ++router::testing::allocations_counted;
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) {
  if (router::testing::counting_allocations) ++router::testing::allocations_counted;
  return __libc_realloc(p, size);
}
}
#endif

#endif  // ROUTER_TESTS_ALLOCATION_COUNTER_H_
