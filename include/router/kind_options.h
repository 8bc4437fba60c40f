// File: router/kind_options.h
//
// KindOptionsJson: how a router or policy kind that a host registers
// (RegisterRouterKind, RegisterPolicyKind) reads and writes its options in
// JSON, so configs can set them and saved files keep them. The built-in
// kinds declare theirs in the library; a host's kind brings two functions
// over its own options struct, held in a std::any:
//
//   KindOptionsJson json;
//   json.keys = {"min_quality"};  // a policy kind's keys
//   json.read = [](std::string_view text, std::any* options) { ... };
//   json.write = [](const std::any& options) { return std::string(...); };
//
// A kind registered without them has no options in JSON (they can still be
// set from C++: PipelineConfig::router_options, PolicyConfig::options).
#ifndef ROUTER_KIND_OPTIONS_H_
#define ROUTER_KIND_OPTIONS_H_

#include <any>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace router {

struct KindOptionsJson {
  // A policy kind's keys: they sit in the "policy" object beside the shared
  // ones, so the parser must know which are the kind's. A router kind's
  // options are its own "<name>": {...} block, and this is unused.
  std::vector<std::string> keys;
  // Reads `json_object` (the text of a JSON object: some or all of the
  // kind's keys) over `*options`, which is empty (the defaults) or holds the
  // kind's struct, and leaves it holding the struct. An error (a bad value,
  // an unknown key) should name the key; the parser adds where it was.
  std::function<absl::Status(std::string_view json_object, std::any* options)> read;
  // The text of a JSON object with every option of `options` (empty: the
  // defaults). Its keys are the kind's keys.
  std::function<std::string(const std::any& options)> write;

  // Whether the kind has options in JSON (both functions are set).
  bool enabled() const { return read != nullptr && write != nullptr; }
};

}  // namespace router

#endif  // ROUTER_KIND_OPTIONS_H_
