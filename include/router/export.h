// File: router/export.h
//
// ROUTER_EXPORT marks the C++ API that librouter exports. The library is
// built with -fvisibility=hidden, so everything else (and every symbol of the
// FAISS, fmt and Eigen code linked into it) stays private.
#ifndef ROUTER_EXPORT_H_
#define ROUTER_EXPORT_H_

#if defined(_WIN32)
#define ROUTER_EXPORT
#else
#define ROUTER_EXPORT __attribute__((visibility("default")))
#endif

#endif  // ROUTER_EXPORT_H_
