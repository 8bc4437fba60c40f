// File: router/status.h
//
// Error handling for librouter. Every fallible call returns `absl::Status` or
// `absl::StatusOr<T>`; nothing throws out of the library. The two macros below
// are our own because Debian's Abseil (20220623) predates ABSL_RETURN_IF_ERROR.
#ifndef ROUTER_STATUS_H_
#define ROUTER_STATUS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define ROUTER_INTERNAL_CONCAT2(a, b) a##b
#define ROUTER_INTERNAL_CONCAT(a, b) ROUTER_INTERNAL_CONCAT2(a, b)

// ROUTER_RETURN_IF_ERROR(expr): evaluates `expr` (an absl::Status) and returns
// it from the enclosing function when it is not OK.
#define ROUTER_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status router_status_ = (expr);          \
    if (!router_status_.ok()) return router_status_; \
  } while (0)

// ROUTER_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>);
// on error returns its status, otherwise moves the value into `lhs`, which may
// be a declaration (`auto x`) or an existing variable.
#define ROUTER_ASSIGN_OR_RETURN(lhs, expr) \
  ROUTER_INTERNAL_ASSIGN_OR_RETURN(        \
      ROUTER_INTERNAL_CONCAT(router_statusor_, __LINE__), lhs, expr)

#define ROUTER_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) return std::move(tmp).status();         \
  lhs = std::move(tmp).value()

namespace router {

// Debian's Abseil is built with its own absl::string_view rather than
// std::string_view, so the two do not convert implicitly. These bridge them.
inline std::string_view StdView(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

// `status` with "prefix: " put before its message; OK stays OK.
inline absl::Status Annotate(const absl::Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  std::string message(prefix);
  message += ": ";
  message += StdView(status.message());
  return absl::Status(status.code(), message);
}

}  // namespace router

#endif  // ROUTER_STATUS_H_
