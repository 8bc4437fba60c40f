#include "cli.h"

#include <cstdio>
#include <string>

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

bool IsKnownRouterKind(std::string_view kind) {
  return kind == "knn" || kind == "cluster" || kind == "mf" || kind == "linucb";
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
