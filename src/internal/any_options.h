// AnyOptionsSchema: an options struct's schema (internal/options_schema.h)
// behind std::any, for the registries whose options only the kind's own
// code knows by type: policy kinds (PolicyConfig::options) and router kinds
// (PipelineConfig::router_options).
#ifndef ROUTER_INTERNAL_ANY_OPTIONS_H_
#define ROUTER_INTERNAL_ANY_OPTIONS_H_

#include <algorithm>
#include <any>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "internal/options_schema.h"
#include "router/config_key.h"
#include "router/kind_options.h"
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

// InvalidArgument, naming `kind` ("router kind \"x\""), when `json` has one
// of its two functions but not the other.
inline absl::Status CheckKindOptionsJson(const KindOptionsJson& json, std::string_view kind) {
  if ((json.read == nullptr) != (json.write == nullptr)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: options_json needs both read and write, or neither", kind));
  }
  return absl::OkStatus();
}

// A host kind's options (router/kind_options.h). Its struct is the host's
// business: `holds` accepts anything, and its factory casts. Disabled, the
// kind has no keys; it has no rows in the reference either way.
inline AnyOptionsSchema HostOptionsSchema(KindOptionsJson json) {
  AnyOptionsSchema erased;
  erased.holds = [](const std::any&) { return true; };
  erased.describe = [](const std::string&, std::vector<ConfigKey>*) {};
  if (!json.enabled()) {
    erased.has_key = [](const std::string&) { return false; };
    erased.read = [](const Json&, const std::string&, std::any*) { return absl::OkStatus(); };
    erased.write = [](const std::any&) { return Json::object(); };
    return erased;
  }
  erased.has_key = [keys = json.keys](const std::string& key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  erased.read = [read = json.read](const Json& value, const std::string& path,
                                   std::any* options) {
    std::any updated = *options;
    if (absl::Status status = read(value.dump(), &updated); !status.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("config: '{}': {}", path, StdView(status.message())));
    }
    *options = std::move(updated);
    return absl::OkStatus();
  };
  // A write that is not a JSON object (a host's bug) is written as {}.
  erased.write = [write = json.write](const std::any& options) {
    const std::string text = write(options);
    Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    return value.is_object() ? value : Json::object();
  };
  return erased;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_ANY_OPTIONS_H_
