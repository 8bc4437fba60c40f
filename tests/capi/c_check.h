/* c_check.h: the checks the C ABI's C tests share. CHECK counts a condition;
 * EXPECT checks a call's status and that the last error agrees with it (a
 * message after a failure, none after a success). Each test program prints
 * g_passed and g_failed at the end. Static: include it in one file per
 * program. */
#ifndef ROUTER_TESTS_CAPI_C_CHECK_H_
#define ROUTER_TESTS_CAPI_C_CHECK_H_

#include <stdio.h>

#include "router_c.h"

static int g_passed = 0;
static int g_failed = 0;

static void Check(int ok, const char* what, const char* file, int line) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
  }
}
#define CHECK(cond) Check((cond) != 0, #cond, __FILE__, __LINE__)

/* Checks a call's status; a failure must leave a message, a success none. */
static void CheckStatus(router_status_t got, router_status_t want, const char* what,
                        const char* file, int line) {
  const char* message = router_last_error_message();
  if (got != want) {
    ++g_failed;
    fprintf(stderr, "%s:%d: FAILED: %s\n  returned %s, expected %s; message: \"%s\"\n", file,
            line, what, router_status_name(got), router_status_name(want),
            message ? message : "(NULL)");
  } else if (message == NULL || (want == ROUTER_OK) != (message[0] == '\0')) {
    ++g_failed;
    fprintf(stderr, "%s:%d: FAILED: %s\n  returned %s as expected, but the last error is \"%s\"\n",
            file, line, what, router_status_name(got), message ? message : "(NULL)");
  } else {
    ++g_passed;
  }
}
#define EXPECT(call, want) CheckStatus((call), (want), #call, __FILE__, __LINE__)

#endif /* ROUTER_TESTS_CAPI_C_CHECK_H_ */
