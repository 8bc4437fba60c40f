// File: router/catalog.h
//
// A Catalog is the ordered set of candidate models a router chooses from. Each
// model has a dense index (its position) used by Estimates and Decisions, and a
// stable name used by everything that crosses an API boundary.
#ifndef ROUTER_CATALOG_H_
#define ROUTER_CATALOG_H_

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "router/export.h"
#include "router/profile.h"

namespace router {

class ROUTER_EXPORT Catalog {
 public:
  Catalog() = default;

  // Adds a model. Fails with InvalidArgument on an empty or duplicate name, or
  // on a negative or non-finite price.
  absl::Status Add(Profile profile);

  // Index of the model called `name`, or NotFound.
  absl::StatusOr<int> Find(std::string_view name) const;

  int size() const { return static_cast<int>(profiles_.size()); }
  bool empty() const { return profiles_.empty(); }
  const Profile& at(int index) const { return profiles_[index]; }
  Profile& mutable_at(int index) { return profiles_[index]; }
  const std::vector<Profile>& profiles() const { return profiles_; }

  // This catalog without the model at `index` (the later ones move up one).
  Catalog Without(int index) const;

 private:
  std::vector<Profile> profiles_;
  // A standard map: Debian's Abseil flat_hash_map (20220623) is not safe
  // against an allocation failure while it grows or is copied (it crashes
  // when destroyed afterwards). Looked up by string_view without a copy.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const {
      return std::hash<std::string_view>{}(name);
    }
  };
  std::unordered_map<std::string, int, NameHash, std::equal_to<>> index_by_name_;
};

}  // namespace router

#endif  // ROUTER_CATALOG_H_
