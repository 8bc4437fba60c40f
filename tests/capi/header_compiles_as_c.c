/* router_c.h must compile as strict C99 (-std=c99 -pedantic -Werror) on its
 * own, with nothing included before it. */
#include "router_c.h"

/* Every type and macro is usable from C. */
static router_status_t Status(void) { return ROUTER_OK; }

int main(void) {
  router_t* router = NULL;
  router_decision_t* decision = NULL;
  (void)router;
  (void)decision;
  return router_abi_version() == ROUTER_ABI_VERSION && Status() == 0 ? 0 : 1;
}
