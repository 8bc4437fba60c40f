#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "fmt/format.h"

namespace router::cli {

absl::StatusOr<Args> Args::Parse(int argc, char** argv, absl::Span<const FlagSpec> specs) {
  Args args;
  auto find = [&](std::string_view name, bool is_short) -> const FlagSpec* {
    for (const FlagSpec& spec : specs) {
      if (is_short ? spec.short_name == name : spec.name == name) return &spec;
    }
    return nullptr;
  };
  bool flags_ended = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      args.positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      args.help_ = true;
      continue;
    }
    const bool is_short = arg[1] != '-';
    std::string_view name = arg.substr(is_short ? 1 : 2);
    std::string_view inline_value;
    bool has_inline_value = false;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    const FlagSpec* spec = find(name, is_short);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(fmt::format("unknown option '{}'", arg));
    }
    std::string value;
    if (spec->value_name.empty()) {
      if (has_inline_value) {
        return absl::InvalidArgumentError(
            fmt::format("option '--{}' takes no value", spec->name));
      }
      value = "true";
    } else if (has_inline_value) {
      value = std::string(inline_value);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          fmt::format("option '--{}' needs a value ({})", spec->name, spec->value_name));
    }
    args.values_[spec->name] = std::move(value);
  }
  return args;
}

std::string Args::Get(std::string_view name, std::string fallback) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<double> Args::GetDouble(std::string_view name, double fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || errno != 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        fmt::format("option '--{}' needs a number, got '{}'", name, it->second));
  }
  return value;
}

absl::StatusOr<int> Args::GetInt(std::string_view name, int fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || errno != 0 || value < -(1L << 30) ||
      value > (1L << 30)) {
    return absl::InvalidArgumentError(
        fmt::format("option '--{}' needs an integer, got '{}'", name, it->second));
  }
  return static_cast<int>(value);
}

std::string FormatHelp(std::string_view usage, std::string_view description,
                       absl::Span<const FlagSpec> specs) {
  std::string out = fmt::format("Usage: {}\n\n{}\n", usage, description);
  if (specs.empty()) return out;
  out += "\nOptions:\n";
  for (const FlagSpec& spec : specs) {
    std::string left = spec.short_name.empty() ? "    " : fmt::format("-{}, ", spec.short_name);
    left += "--" + spec.name;
    if (!spec.value_name.empty()) left += " " + spec.value_name;
    out += fmt::format("  {:<28} ", left);
    // Continuation lines of the help text line up under its first line.
    for (char c : spec.help) {
      out += c;
      if (c == '\n') out += std::string(31, ' ');
    }
    out += "\n";
  }
  out += fmt::format("  {:<28} {}\n", "-h, --help", "show this help");
  return out;
}

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    if (comma > start) items.emplace_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

}  // namespace router::cli
