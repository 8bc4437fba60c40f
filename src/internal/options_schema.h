// OptionsSchema<T>: the one declaration of an options struct's fields (JSON
// key, member, allowed range or values, one line of doc). It drives JSON
// parsing (unknown keys rejected), JSON printing, range validation and the
// reference table in docs/configuration.md, so those cannot drift apart.
//
//   const OptionsSchema<KnnOptions>& KnnOptionsSchema() {
//     static const auto* schema = &(*new OptionsSchema<KnnOptions>("knn"))
//         .Integer("k", &KnnOptions::k, Range::AtLeast(1), "neighbours per query");
//     return *schema;
//   }
//
// Cross-field rules (min <= max and the like) stay in the component's own
// Validate function, which calls Validate() here first.
#ifndef ROUTER_INTERNAL_OPTIONS_SCHEMA_H_
#define ROUTER_INTERNAL_OPTIONS_SCHEMA_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "router/config_key.h"
#include "router/status.h"

namespace router::internal {

using Json = nlohmann::json;
using router::ConfigKey;

// Allowed values of a numeric field; every number must also be finite.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;
  bool max_open = false;

  static Range Any() { return {}; }
  static Range AtLeast(double v) { return {.min = v}; }
  static Range Above(double v) { return {.min = v, .min_open = true}; }
  static Range Closed(double lo, double hi) { return {.min = lo, .max = hi}; }
  static Range LeftOpen(double lo, double hi) { return {.min = lo, .max = hi, .min_open = true}; }

  bool Contains(double v) const {
    if (!std::isfinite(v)) return false;
    if (min_open ? !(v > min) : !(v >= min)) return false;
    return max_open ? v < max : v <= max;
  }
  // ">= 1", "> 0", "in [0, 1]", "in (0, 10]", "any".
  std::string Describe() const {
    const bool has_min = std::isfinite(min), has_max = std::isfinite(max);
    if (has_min && has_max) {
      return fmt::format("in {}{}, {}{}", min_open ? "(" : "[", min, max, max_open ? ")" : "]");
    }
    if (has_min) return fmt::format("{} {}", min_open ? ">" : ">=", min);
    if (has_max) return fmt::format("{} {}", max_open ? "<" : "<=", max);
    return "any";
  }
};

inline std::string JoinPath(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

inline absl::Status ConfigError(const std::string& key_path, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("config: '{}' {}", key_path, what));
}

// `text` as JSON; `what` names it in the error.
inline absl::StatusOr<Json> ParseJsonText(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}: not valid JSON: {}", what, e.what()));
  }
}

template <typename Options>
class OptionsSchema {
 public:
  // `name` is the object's key in the config ("knn", "policy.constraints").
  explicit OptionsSchema(std::string name) : name_(std::move(name)) {}
  OptionsSchema(const OptionsSchema&) = delete;
  OptionsSchema& operator=(const OptionsSchema&) = delete;

  template <typename Int>
  OptionsSchema& Integer(const char* key, Int Options::*member, Range range, const char* doc) {
    static_assert(std::is_integral_v<Int>);
    Field field = MakeField(key, "integer", range.Describe(), doc);
    field.range = range;
    field.read = [member, range](const Json& v, const std::string& at, Options* o) {
      const std::optional<Int> value = ToInteger<Int>(v);
      if (!value) {
        return ConfigError(at, fmt::format("must be an integer in [{}, {}]",
                                           std::numeric_limits<Int>::min(),
                                           std::numeric_limits<Int>::max()));
      }
      o->*member = *value;
      return absl::OkStatus();
    };
    field.write = [member](const Options& o) { return Json(o.*member); };
    field.check = [member, range](const Options& o, const std::string& at) {
      return CheckRange(static_cast<double>(o.*member), range, at);
    };
    return Add(std::move(field));
  }

  OptionsSchema& Number(const char* key, double Options::*member, Range range, const char* doc) {
    Field field = MakeField(key, "number", range.Describe(), doc);
    field.range = range;
    field.read = [member](const Json& v, const std::string& at, Options* o) {
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        return ConfigError(at, "must be a finite number");
      }
      o->*member = v.get<double>();
      return absl::OkStatus();
    };
    field.write = [member](const Options& o) { return Json(o.*member); };
    field.check = [member, range](const Options& o, const std::string& at) {
      return CheckRange(o.*member, range, at);
    };
    return Add(std::move(field));
  }

  // A number that may be null (unset).
  OptionsSchema& OptionalNumber(const char* key, std::optional<double> Options::*member,
                                Range range, const char* doc) {
    Field field = MakeField(key, "number or null", range.Describe(), doc);
    field.range = range;
    field.read = [member](const Json& v, const std::string& at, Options* o) {
      if (v.is_null()) {
        (o->*member).reset();
        return absl::OkStatus();
      }
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        return ConfigError(at, "must be a finite number or null");
      }
      o->*member = v.get<double>();
      return absl::OkStatus();
    };
    field.write = [member](const Options& o) {
      return (o.*member).has_value() ? Json(*(o.*member)) : Json(nullptr);
    };
    field.check = [member, range](const Options& o, const std::string& at) {
      return (o.*member).has_value() ? CheckRange(*(o.*member), range, at) : absl::OkStatus();
    };
    return Add(std::move(field));
  }

  OptionsSchema& Boolean(const char* key, bool Options::*member, const char* doc) {
    Field field = MakeField(key, "boolean", "true or false", doc);
    field.read = [member](const Json& v, const std::string& at, Options* o) {
      if (!v.is_boolean()) return ConfigError(at, "must be true or false");
      o->*member = v.get<bool>();
      return absl::OkStatus();
    };
    field.write = [member](const Options& o) { return Json(o.*member); };
    return Add(std::move(field));
  }

  // A free-form string (model names and the like).
  OptionsSchema& String(const char* key, std::string Options::*member, const char* doc) {
    Field field = MakeField(key, "string", "", doc);
    field.read = [member](const Json& v, const std::string& at, Options* o) {
      if (!v.is_string()) return ConfigError(at, "must be a string");
      o->*member = v.get<std::string>();
      return absl::OkStatus();
    };
    field.write = [member](const Options& o) { return Json(o.*member); };
    return Add(std::move(field));
  }

  // A string member that must be one of `names`.
  OptionsSchema& Choice(const char* key, std::string Options::*member,
                        std::vector<std::string> names, const char* doc) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (std::string& n : names) pairs.emplace_back(n, n);
    return Enum(key, member, std::move(pairs), doc);
  }

  // A string member that must be one of the names `names()` returns when it
  // is read (a registry that grows at run time).
  OptionsSchema& Choice(const char* key, std::string Options::*member,
                        std::function<std::vector<std::string>()> names, const char* doc) {
    Field field = MakeField(key, "string", "", doc);
    field.names = names;
    field.read = [member, names](const Json& v, const std::string& at, Options* o) {
      const std::vector<std::string> allowed = names();
      if (v.is_string()) {
        for (const std::string& name : allowed) {
          if (v.get<std::string>() == name) {
            o->*member = name;
            return absl::OkStatus();
          }
        }
      }
      return ConfigError(at, fmt::format("must be {}, got {}", Alternatives(allowed), v.dump()));
    };
    field.write = [member](const Options& o) { return Json(o.*member); };
    return Add(std::move(field));
  }

  // An enum member spelt as one of `names` in JSON.
  template <typename Value>
  OptionsSchema& Enum(const char* key, Value Options::*member,
                      std::vector<std::pair<std::string, Value>> names, const char* doc) {
    std::vector<std::string> spelt;
    for (const auto& named : names) spelt.push_back(named.first);
    const std::string allowed = Alternatives(spelt);
    Field field = MakeField(key, "string", allowed, doc);
    for (const auto& named : names) field.choices.push_back(named.first);
    field.read = [member, names, allowed](const Json& v, const std::string& at, Options* o) {
      if (v.is_string()) {
        for (const auto& [name, value] : names) {
          if (v.get<std::string>() == name) {
            o->*member = value;
            return absl::OkStatus();
          }
        }
      }
      return ConfigError(at, fmt::format("must be {}, got {}", allowed, v.dump()));
    };
    field.write = [member, names](const Options& o) {
      for (const auto& [name, value] : names) {
        if (o.*member == value) return Json(name);
      }
      return Json(nullptr);
    };
    field.check = [member, names, allowed](const Options& o, const std::string& at) {
      for (const auto& [name, value] : names) {
        if (o.*member == value) return absl::OkStatus();
      }
      return absl::InvalidArgumentError(fmt::format("{} must be {}", at, allowed));
    };
    return Add(std::move(field));
  }

  OptionsSchema& Strings(const char* key, std::vector<std::string> Options::*member,
                         const char* doc) {
    Field field = MakeField(key, "array of strings", "", doc);
    field.read = [member](const Json& v, const std::string& at, Options* o) {
      if (!v.is_array()) return ConfigError(at, "must be an array of strings");
      std::vector<std::string> values;
      for (const Json& item : v) {
        if (!item.is_string()) return ConfigError(at, "must be an array of strings");
        values.push_back(item.get<std::string>());
      }
      o->*member = std::move(values);
      return absl::OkStatus();
    };
    field.write = [member](const Options& o) { return Json(o.*member); };
    return Add(std::move(field));
  }

  // A nested object with a schema of its own.
  template <typename Nested>
  OptionsSchema& Object(const char* key, Nested Options::*member,
                        const OptionsSchema<Nested>& nested, const char* doc) {
    Field field = MakeField(key, "object", "", doc);
    field.read = [member, &nested](const Json& v, const std::string& at, Options* o) {
      return nested.Read(v, at, &(o->*member));
    };
    field.write = [member, &nested](const Options& o) { return nested.Write(o.*member); };
    field.check = [member, &nested](const Options& o, const std::string& at) {
      return nested.Validate(o.*member, at);
    };
    field.describe = [member, &nested](const std::string& at, const Options& defaults,
                                       std::vector<ConfigKey>* out) {
      nested.Describe(at, defaults.*member, out);
    };
    return Add(std::move(field));
  }

  // A field read and written by hand (a map of named entries, say).
  // `describe`, when given, writes its reference rows (an object whose keys
  // are known only at run time); otherwise it is one row.
  OptionsSchema& Custom(
      const char* key, const char* type, const char* doc,
      std::function<absl::Status(const Json&, const std::string&, Options*)> read,
      std::function<Json(const Options&)> write,
      std::function<void(const std::string&, std::vector<ConfigKey>*)> describe = nullptr) {
    Field field = MakeField(key, type, "", doc);
    field.read = std::move(read);
    field.write = std::move(write);
    if (describe) {
      field.describe = [describe](const std::string& at, const Options&,
                                  std::vector<ConfigKey>* out) { describe(at, out); };
    }
    return Add(std::move(field));
  }

  bool HasKey(const std::string& key) const { return Find(key) != nullptr; }

  // The keys, in declaration order.
  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    for (const Field& field : fields_) keys.push_back(field.key);
    return keys;
  }

  // A rule that ties fields together (min <= max, say), checked by Validate
  // and after Read, once every field is in range. Returns a message naming
  // the fields, or "" when the rule holds.
  OptionsSchema& Rule(std::function<std::string(const Options&)> rule) {
    rules_.push_back(std::move(rule));
    return *this;
  }

  // Reads the keys of `json` (an object; `path` names it in errors) into
  // `out`, leaving absent keys as they are. Unknown keys and values of the
  // wrong type or out of range are InvalidArgument naming the key.
  absl::Status Read(const Json& json, const std::string& path, Options* out) const {
    if (!json.is_object()) return ConfigError(path, "must be an object");
    for (auto it = json.begin(); it != json.end(); ++it) {
      const Field* field = Find(it.key());
      if (field == nullptr) {
        std::string known;
        for (const Field& f : fields_) known += (known.empty() ? "" : ", ") + f.key;
        return absl::InvalidArgumentError(fmt::format("config: unknown key '{}' (known: {})",
                                                      JoinPath(path, it.key()), known));
      }
      const std::string at = JoinPath(path, field->key);
      if (absl::Status s = field->read(it.value(), at, out); !s.ok()) return s;
      if (field->check) {
        if (absl::Status s = field->check(*out, at); !s.ok()) {
          return absl::InvalidArgumentError(fmt::format("config: {}", StdView(s.message())));
        }
      }
    }
    if (absl::Status s = CheckRules(*out, path); !s.ok()) {
      return absl::InvalidArgumentError(fmt::format("config: {}", StdView(s.message())));
    }
    return absl::OkStatus();
  }

  // Every field of `options`, by key.
  Json Write(const Options& options) const {
    Json json = Json::object();
    for (const Field& field : fields_) json[field.key] = field.write(options);
    return json;
  }

  // InvalidArgument naming the first field out of its range ("linucb.ridge
  // must be > 0, got -1"); `path` prefixes the key.
  absl::Status Validate(const Options& options, const std::string& path) const {
    for (const Field& field : fields_) {
      if (!field.check) continue;
      if (absl::Status s = field.check(options, JoinPath(path, field.key)); !s.ok()) return s;
    }
    return CheckRules(options, path);
  }
  absl::Status Validate(const Options& options) const { return Validate(options, name_); }

  // Appends a row per field (nested objects' fields flattened), with the
  // defaults of `defaults`.
  void Describe(const std::string& path, const Options& defaults,
                std::vector<ConfigKey>* out) const {
    for (const Field& field : fields_) {
      const std::string at = JoinPath(path, field.key);
      if (field.describe) {
        field.describe(at, defaults, out);
        continue;
      }
      std::string allowed = field.allowed;
      std::vector<std::string> choices = field.choices;
      if (field.names) {
        choices = field.names();
        allowed = Alternatives(choices);
      }
      ConfigKey row{.key = at,
                    .type = field.type,
                    .allowed = allowed,
                    .default_json = field.write(defaults).dump(),
                    .doc = field.doc,
                    .choices = choices,
                    .policy_kind = ""};
      if (field.range) {
        row.min = field.range->min;
        row.max = field.range->max;
        row.min_open = field.range->min_open;
        row.max_open = field.range->max_open;
      }
      out->push_back(std::move(row));
    }
  }

 private:
  struct Field {
    std::string key;
    std::string type;
    std::string allowed;
    std::string doc;
    std::optional<Range> range;         // numbers
    std::vector<std::string> choices;   // strings with fixed values
    std::function<std::vector<std::string>()> names;  // strings with run-time values
    std::function<absl::Status(const Json&, const std::string&, Options*)> read;
    std::function<Json(const Options&)> write;
    std::function<absl::Status(const Options&, const std::string&)> check;  // may be empty
    std::function<void(const std::string&, const Options&, std::vector<ConfigKey>*)> describe;
  };

  static Field MakeField(const char* key, const char* type, std::string allowed,
                         const char* doc) {
    Field field;
    field.key = key;
    field.type = type;
    field.allowed = std::move(allowed);
    field.doc = doc;
    return field;
  }

  OptionsSchema& Add(Field field) {
    fields_.push_back(std::move(field));
    return *this;
  }

  const Field* Find(const std::string& key) const {
    for (const Field& field : fields_) {
      if (field.key == key) return &field;
    }
    return nullptr;
  }

  absl::Status CheckRules(const Options& options, const std::string& path) const {
    for (const auto& rule : rules_) {
      const std::string broken = rule(options);
      if (!broken.empty()) {
        return absl::InvalidArgumentError(
            path.empty() ? broken : fmt::format("{}: {}", path, broken));
      }
    }
    return absl::OkStatus();
  }

  // "\"a\"", "\"a\" or \"b\"", "\"a\", \"b\" or \"c\"".
  static std::string Alternatives(const std::vector<std::string>& names) {
    std::string text;
    for (size_t i = 0; i < names.size(); ++i) {
      text += fmt::format("{}\"{}\"", i == 0 ? "" : i + 1 == names.size() ? " or " : ", ",
                          names[i]);
    }
    return text;
  }

  static absl::Status CheckRange(double value, const Range& range, const std::string& at) {
    if (range.Contains(value)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        fmt::format("{} must be {}, got {}", at, range.Describe(), value));
  }

  template <typename Int>
  static std::optional<Int> ToInteger(const Json& v) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<Int>::max())) return std::nullopt;
      return static_cast<Int>(u);
    }
    if (v.is_number_integer()) {
      const int64_t i = v.get<int64_t>();
      if constexpr (std::is_signed_v<Int>) {
        if (i < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
            i > static_cast<int64_t>(std::numeric_limits<Int>::max())) {
          return std::nullopt;
        }
      } else {
        if (i < 0 || static_cast<uint64_t>(i) > std::numeric_limits<Int>::max()) {
          return std::nullopt;
        }
      }
      return static_cast<Int>(i);
    }
    return std::nullopt;
  }

  std::string name_;
  std::vector<Field> fields_;
  std::vector<std::function<std::string(const Options&)>> rules_;
};

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_OPTIONS_SCHEMA_H_
