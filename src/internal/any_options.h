// AnyOptionsSchema: an options struct's schema (internal/options_schema.h)
// behind std::any, for the registries whose options only the kind's own
// code knows by type: policy kinds (PolicyConfig::options) and router kinds
// (PipelineConfig::router_options).
#ifndef ROUTER_INTERNAL_ANY_OPTIONS_H_
#define ROUTER_INTERNAL_ANY_OPTIONS_H_

#include <any>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "internal/options_schema.h"
#include "router/config_key.h"
#include "router/status.h"

namespace router::internal {

struct AnyOptionsSchema {
  // Whether `options` holds this schema's struct.
  std::function<bool(const std::any& options)> holds;
  // Whether `key` is one of the struct's keys.
  std::function<bool(const std::string& key)> has_key;
  // Reads the keys of `json` into `options`, which ends up holding the
  // struct: the one it held, updated, or the defaults, updated.
  std::function<absl::Status(const Json& json, const std::string& path, std::any* options)> read;
  // Every key of the struct held; empty (or another type) writes the defaults.
  std::function<Json(const std::any& options)> write;
  // A reference row per key, under `path`.
  std::function<void(const std::string& path, std::vector<ConfigKey>* out)> describe;
};

// Options held by `options`; the defaults when it is empty or another type.
template <typename Options>
Options HeldOrDefault(const std::any& options) {
  const Options* held = std::any_cast<Options>(&options);
  return held != nullptr ? *held : Options{};
}

template <typename Options>
AnyOptionsSchema EraseSchema(const OptionsSchema<Options>& schema) {
  AnyOptionsSchema erased;
  erased.holds = [](const std::any& options) {
    return std::any_cast<Options>(&options) != nullptr;
  };
  erased.has_key = [&schema](const std::string& key) { return schema.HasKey(key); };
  erased.read = [&schema](const Json& json, const std::string& path, std::any* options) {
    Options value = HeldOrDefault<Options>(*options);
    ROUTER_RETURN_IF_ERROR(schema.Read(json, path, &value));
    *options = std::move(value);
    return absl::OkStatus();
  };
  erased.write = [&schema](const std::any& options) {
    return schema.Write(HeldOrDefault<Options>(options));
  };
  erased.describe = [&schema](const std::string& path, std::vector<ConfigKey>* out) {
    const Options defaults;
    schema.Describe(path, defaults, out);
  };
  return erased;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_ANY_OPTIONS_H_
