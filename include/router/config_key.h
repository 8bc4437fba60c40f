// File: router/config_key.h
//
// ConfigKey describes one key of the JSON config (router/pipeline_config.h):
// what ConfigKeys() lists, generated from the options' declarations, for
// docs, tools and hosts that build configs.
#ifndef ROUTER_CONFIG_KEY_H_
#define ROUTER_CONFIG_KEY_H_

#include <cmath>
#include <string>
#include <vector>

namespace router {

// One key of the JSON config, as its declaration gives it.
struct ConfigKey {
  std::string key;            // dotted path: "linucb.ridge", "models[].tags"
  std::string type;           // "integer", "number", "boolean", "string", ...
  std::string allowed;        // "> 0", "in [0, 1]", "\"a\" or \"b\"", or empty
  std::string default_json;   // the default, as JSON text
  std::string doc;            // one line
  // For numbers: the allowed range (infinite when unbounded; finite always).
  double min = -HUGE_VAL, max = HUGE_VAL;
  bool min_open = false, max_open = false;
  // For strings with a fixed set of values: the values.
  std::vector<std::string> choices;
  // For a policy kind's own option ("policy.tau"): that kind; the key is
  // read only when "policy.kind" names it. Empty for every other key.
  std::string policy_kind;
};

}  // namespace router

#endif  // ROUTER_CONFIG_KEY_H_
