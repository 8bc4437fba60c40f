/* c_check.h: what the C ABI's C tests share. CHECK counts a condition;
 * EXPECT checks a call's status and that the last error agrees with it (a
 * message after a failure, none after a success). Each test program prints
 * g_passed and g_failed at the end. Each writes its files under the prefix
 * its one argument gives (SetPrefix, PathOf). Static: include it in one file
 * per program. */
#ifndef ROUTER_TESTS_CAPI_C_CHECK_H_
#define ROUTER_TESTS_CAPI_C_CHECK_H_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static char g_prefix[1024];

/* Takes FILE_PREFIX, the program's one argument; 0 (after the usage) if it
 * is missing or too long. */
static int SetPrefix(int argc, char** argv) {
  if (argc != 2 || strlen(argv[1]) >= sizeof(g_prefix)) {
    fprintf(stderr, "usage: %s FILE_PREFIX\n", argv[0]);
    return 0;
  }
  strcpy(g_prefix, argv[1]);
  return 1;
}

/* `name` under the prefix, in `buf`; exits (2) if it does not fit. */
static const char* PathOf(const char* name, char* buf, size_t size) {
  int n = snprintf(buf, size, "%s%s", g_prefix, name);
  if (n < 0 || (size_t)n >= size) {
    fprintf(stderr, "path too long\n");
    exit(2);
  }
  return buf;
}

#endif /* ROUTER_TESTS_CAPI_C_CHECK_H_ */
