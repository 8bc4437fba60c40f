#include "cli.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "fmt/format.h"
#include "router/pipeline_config.h"
#include "router/status.h"

namespace router::cli {

int Fail(std::string_view command, ExitCode code, std::string_view message) {
  std::string line = "router";
  if (!command.empty()) {
    line += ' ';
    line += command;
  }
  line += ": ";
  line += message;
  std::fprintf(stderr, "%s\n", line.c_str());
  return code;
}

int Fail(std::string_view command, ExitCode code, const absl::Status& status) {
  return Fail(command, code, StdView(status.message()));
}

std::string CommandLine(int argc, char** argv) {
  std::string line = "router";
  for (int i = 0; i < argc; ++i) line += std::string(" ") + argv[i];
  return line;
}

absl::Status MakeOutputDir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        fmt::format("{}: cannot create: {}", dir.string(), error.message()));
  }
  return absl::OkStatus();
}

absl::Status WriteTextFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError(fmt::format("{}: cannot write", path.string()));
  return absl::OkStatus();
}

bool IsKnownRouterKind(std::string_view kind) {
  for (const RouterKind& known : RouterKinds()) {
    if (known.name == kind) return true;
  }
  return false;
}

std::string KnownRouterKinds() {
  std::string names;
  for (const RouterKind& kind : RouterKinds()) {
    names += fmt::format("{}{}", names.empty() ? "" : ", ", kind.name);
  }
  return names;
}

std::optional<int> ParseCommandArgs(std::string_view command, int argc, char** argv,
                                    absl::Span<const FlagSpec> flags, const std::string& help,
                                    Args* args) {
  auto parsed = Args::Parse(argc, argv, flags);
  if (!parsed.ok()) return Fail(command, kExitUsage, parsed.status());
  *args = *std::move(parsed);
  if (args->help()) {
    std::fputs(help.c_str(), stdout);
    return kExitOk;
  }
  return std::nullopt;
}

std::optional<int> CheckDataArgs(std::string_view command, const Args& args) {
  if (!args.positional().empty()) {
    return Fail(command, kExitUsage, fmt::format("unexpected argument '{}'", args.positional()[0]));
  }
  if (!args.Has("data")) return Fail(command, kExitUsage, "--data FILE is required");
  return std::nullopt;
}

ExitCode InputOrInternal(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kUnimplemented:
      return kExitInput;
    default:
      return kExitInternal;
  }
}

}  // namespace router::cli
