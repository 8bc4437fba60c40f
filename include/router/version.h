// File: router/version.h
//
// Library version. The C ABI (capi/router_c.h) repeats these numbers as macros
// and adds an ABI version; saved files carry their own format version.
#ifndef ROUTER_VERSION_H_
#define ROUTER_VERSION_H_

#define ROUTER_VERSION_MAJOR 0
#define ROUTER_VERSION_MINOR 1
#define ROUTER_VERSION_PATCH 0
#define ROUTER_VERSION_NUMBER \
  (ROUTER_VERSION_MAJOR * 10000 + ROUTER_VERSION_MINOR * 100 + ROUTER_VERSION_PATCH)

#include "router/export.h"

namespace router {

// The version of the library actually linked, as "MAJOR.MINOR.PATCH".
ROUTER_EXPORT const char* VersionString();

}  // namespace router

#endif  // ROUTER_VERSION_H_
