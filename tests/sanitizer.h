// ROUTER_TEST_UNDER_SANITIZER: 1 when the program is built with ASan, TSan or
// MSan, whose allocators a test must not replace. GCC defines
// __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__; clang 14 answers only through
// __has_feature.
#ifndef ROUTER_TESTS_SANITIZER_H_
#define ROUTER_TESTS_SANITIZER_H_

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ROUTER_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define ROUTER_TEST_UNDER_SANITIZER 1
#endif
#endif
#ifndef ROUTER_TEST_UNDER_SANITIZER
#define ROUTER_TEST_UNDER_SANITIZER 0
#endif

#endif  // ROUTER_TESTS_SANITIZER_H_
