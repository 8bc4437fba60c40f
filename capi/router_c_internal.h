// What the C ABI's implementation files (router_c.cc, sync_c.cc) share: the
// router handle's struct and the helpers every entry point runs through.
// Internal to librouter_c: not installed, nothing here is exported.
#ifndef ROUTER_C_INTERNAL_H_
#define ROUTER_C_INTERNAL_H_

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "router/live_pipeline.h"
#include "router/pipeline.h"
#include "router_c.h"

namespace router::capi {
struct SyncLink;  // sync_c.cc: a router's state sync, shared with its handle
}  // namespace router::capi

struct router_s {
  explicit router_s(std::unique_ptr<router::Pipeline> pipeline) : live(std::move(pipeline)) {}
  // Stops a sync still attached to the router (sync_c.cc) before `live` goes.
  ~router_s();

  router::LivePipeline live;
  // Model names handed out by router_model_name, interned so that the
  // borrowed pointers stay valid until router_free even across reloads.
  mutable std::mutex names_mutex;
  mutable std::set<std::string> names;  // guarded by names_mutex
  // The router's state sync, if one was started (router_sync_start): one
  // per router, ever. Weak, so router_sync_stop alone frees it.
  std::mutex sync_mutex;
  std::weak_ptr<router::capi::SyncLink> sync;  // guarded by sync_mutex
  std::string synced_as;  // guarded by sync_mutex: "'<replica>' through <store>" once started
};

namespace router::capi {

inline std::string& LastError() {
  thread_local std::string message;
  return message;
}

inline void ClearError() noexcept { LastError().clear(); }

inline router_status_t Fail(router_status_t code, absl::string_view message) noexcept {
  try {
    LastError().assign(message.data(), message.size());
  } catch (...) {
    LastError().clear();  // out of memory: keep the code, lose the text
  }
  return code;
}

inline router_status_t FromStatus(const absl::Status& status) noexcept {
  if (status.ok()) return ROUTER_OK;
  return Fail(static_cast<router_status_t>(status.code()), status.message());
}

// Clears the thread's last error, then runs `body(function)` (returning
// absl::Status) so that nothing escapes.
template <typename Body>
router_status_t Guard(const char* function, Body&& body) noexcept {
  ClearError();
  try {
    return FromStatus(body(function));
  } catch (const std::bad_alloc& e) {
    return Fail(ROUTER_RESOURCE_EXHAUSTED, fmt::format("out of memory: {}", e.what()));
  } catch (const std::exception& e) {
    return Fail(ROUTER_INTERNAL, fmt::format("unexpected exception: {}", e.what()));
  } catch (...) {
    return Fail(ROUTER_UNKNOWN, "unexpected non-standard exception");
  }
}

inline absl::Status NullArgument(const char* function, const char* argument) {
  return absl::InvalidArgumentError(fmt::format("{}: {} is NULL", function, argument));
}

// Inside a Guard body, whose parameter `fn` is the entry point's name.
#define ROUTER_C_REQUIRE(pointer)                                                \
  do {                                                                           \
    if ((pointer) == nullptr) return ::router::capi::NullArgument(fn, #pointer); \
  } while (0)

// Copies `text` into buf snprintf-style, cutting at a UTF-8 boundary.
inline void CopyOut(const std::string& text, char* buf, size_t capacity, size_t* out_needed) {
  if (capacity > 0) {
    size_t n = std::min(text.size(), capacity - 1);
    if (n < text.size()) {
      // Back up over continuation bytes (10xxxxxx) so no character is split.
      while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    }
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  if (out_needed != nullptr) *out_needed = text.size() + 1;
}

}  // namespace router::capi

#endif  // ROUTER_C_INTERNAL_H_
