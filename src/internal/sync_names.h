// The names sync holds to one rule: replica ids (and the names of in-process
// memory stores) are 1 to 128 letters, digits or "-_.:"; Redis key prefixes
// may also hold "{}" (a hash tag). StateSync, RedisSyncStore and the config's
// "sync" block check with these.
#ifndef ROUTER_INTERNAL_SYNC_NAMES_H_
#define ROUTER_INTERNAL_SYNC_NAMES_H_

#include <cstddef>
#include <string_view>

namespace router::internal {

inline constexpr std::string_view kSyncNameChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:";
inline constexpr size_t kMaxSyncName = 128;

inline bool IsSyncName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxSyncName &&
         name.find_first_not_of(kSyncNameChars) == std::string_view::npos;
}

inline bool IsKeyPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > kMaxSyncName) return false;
  for (char c : prefix) {
    if (kSyncNameChars.find(c) == std::string_view::npos && c != '{' && c != '}') return false;
  }
  return true;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_SYNC_NAMES_H_
