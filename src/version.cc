#include "router/version.h"

#include "internal/simd.h"

#define ROUTER_STRINGIFY2(x) #x
#define ROUTER_STRINGIFY(x) ROUTER_STRINGIFY2(x)

namespace router {

const char* VersionString() {
  return ROUTER_STRINGIFY(ROUTER_VERSION_MAJOR) "." ROUTER_STRINGIFY(
      ROUTER_VERSION_MINOR) "." ROUTER_STRINGIFY(ROUTER_VERSION_PATCH);
}

const char* SimdTargetName() { return internal::simd::SimdTargetName(); }

}  // namespace router
