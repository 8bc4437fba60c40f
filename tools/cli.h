// The `router` command line: what every command shares. Each command lives
// in its own file (eval_command.cc, fit_command.cc, ...) and is a function
// from its arguments to an exit code.
#ifndef ROUTER_TOOLS_CLI_H_
#define ROUTER_TOOLS_CLI_H_

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "args.h"

namespace router::cli {

// Exit codes, documented in docs/cli.md; scripts depend on them.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,     // bad command line: unknown command or flag, missing value
  kExitInput = 2,     // a file is missing, malformed or inconsistent, or cannot be written
  kExitInternal = 3,  // a failure that is a bug or an environment problem
};

// Prints "router <command>: <message>" to stderr and returns `code`.
int Fail(std::string_view command, ExitCode code, std::string_view message);
int Fail(std::string_view command, ExitCode code, const absl::Status& status);

// Parses a command's flags into *args. Returns the exit code to stop with:
// a usage error (printed), or kExitOk once `help` is printed for --help;
// nullopt to go on.
std::optional<int> ParseCommandArgs(std::string_view command, int argc, char** argv,
                                    absl::Span<const FlagSpec> flags, const std::string& help,
                                    Args* args);

// For the commands that read routing data (eval, fit, replay): a usage
// error's exit code for a positional argument or a missing --data, else
// nullopt.
std::optional<int> CheckDataArgs(std::string_view command, const Args& args);

// The exit code for a library error met while processing the user's files:
// invalid or missing input (InvalidArgument, NotFound, DataLoss, ...) is an
// input error, anything else internal.
ExitCode InputOrInternal(const absl::Status& status);

// True for the router kinds the library registers (RouterKinds()).
bool IsKnownRouterKind(std::string_view kind);
// Their names, comma-separated, for messages.
std::string KnownRouterKinds();

// "router <command> <flags...>" as typed, for the reports commands write.
std::string CommandLine(int argc, char** argv);
// Creates the output directory `dir` and its parents; an error names it.
absl::Status MakeOutputDir(const std::filesystem::path& dir);
// Writes `text` to `path`, replacing it; an error names the file.
absl::Status WriteTextFile(const std::filesystem::path& path, const std::string& text);

// Commands: argv[0] is the command name ("eval"), flags follow.
int RunEval(int argc, char** argv);
int RunFit(int argc, char** argv);
int RunRoute(int argc, char** argv);
int RunInspect(int argc, char** argv);
int RunReplay(int argc, char** argv);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_CLI_H_
