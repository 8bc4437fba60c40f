// router_c.h must compile as C++ and give C linkage (extern "C" guards): this
// program links against librouter_c by the unmangled names.
#include "router_c.h"

#include <type_traits>

static_assert(std::is_same_v<router_status_t, int32_t>);
static_assert(std::is_same_v<decltype(&router_free), void (*)(router_t*)>);

int main() {
  router_free(nullptr);
  router_decision_free(nullptr);
  return router_abi_version() == ROUTER_ABI_VERSION ? 0 : 1;
}
