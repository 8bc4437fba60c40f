// A small command-line flag parser: "--name value", "--name=value", a short
// alias ("-o value"), boolean flags, positional arguments, and "--" to end
// the flags. Unknown flags and missing values are errors that name the flag.
#ifndef ROUTER_TOOLS_ARGS_H_
#define ROUTER_TOOLS_ARGS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace router::cli {

struct FlagSpec {
  std::string name;        // without dashes: "data"
  std::string short_name;  // one letter or empty: "o" for -o
  std::string value_name;  // empty for a boolean flag: "FILE"
  std::string help;
};

class Args {
 public:
  // Parses argv[1..argc). "--help" and "-h" are always accepted (help()).
  static absl::StatusOr<Args> Parse(int argc, char** argv, absl::Span<const FlagSpec> specs);

  bool help() const { return help_; }
  bool Has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The flag's value, or `fallback` when absent.
  std::string Get(std::string_view name, std::string fallback = "") const;
  // The flag's value as a number; InvalidArgument naming the flag if it is not one.
  absl::StatusOr<double> GetDouble(std::string_view name, double fallback) const;
  absl::StatusOr<int> GetInt(std::string_view name, int fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  bool help_ = false;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// "Usage: <usage>\n\n<description>\n\nOptions:\n  --flag VALUE  help..."
std::string FormatHelp(std::string_view usage, std::string_view description,
                       absl::Span<const FlagSpec> specs);

// Splits "a,b,,c" into {"a", "b", "c"}.
std::vector<std::string> SplitList(std::string_view list);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_ARGS_H_
