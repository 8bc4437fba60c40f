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

// The instruction set the library's SIMD kernels (text featurizer) chose at
// run time for this CPU: "AVX3" (AVX-512), "AVX2", "SSE4", "SSSE3", or
// "SCALAR" / "EMU128" (no SIMD beyond the baseline); on ARM "NEON", "SVE", ... The build targets no CPU in
// particular, so this is what to quote in a performance report. A static
// string; thread-safe.
ROUTER_EXPORT const char* SimdTargetName();

}  // namespace router

#endif  // ROUTER_VERSION_H_
