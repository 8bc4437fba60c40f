// `router`: fit, evaluate, route and inspect LLM routers from the shell.
// Dispatches to one function per command (cli.h); docs/cli.md is the manual.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli.h"
#include "router/version.h"

namespace {

constexpr const char* kHelp =
    "Usage: router <command> [options]\n"
    "\n"
    "Commands:\n"
    "  eval      fit routers on the train split and report cost-quality figures on the test\n"
    "            split (AIQ, APGR/CPT, references, per-source breakdown, plot)\n"
    "  fit       fit one router on routing data and save it to a model file\n"
    "  route     route prompts with a saved model; JSON lines out\n"
    "  inspect   describe a saved model: catalog, router, hyperparameters, sizes\n"
    "  replay    stream the data through a pipeline in seeded orders with only the chosen\n"
    "            model's outcome revealed: online learning, budget pacing, learning curves\n"
    "\n"
    "Run 'router <command> --help' for a command's options.\n"
    "\n"
    "Exit codes: 0 ok, 1 usage error, 2 input error (a file missing, malformed or\n"
    "inconsistent, or an output that cannot be written), 3 internal error.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace router::cli;
  if (argc < 2) {
    std::fputs(kHelp, stderr);
    return kExitUsage;
  }
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (command == "--version" || command == "version") {
    std::printf("router %s (SIMD: %s)\n", router::VersionString(), router::SimdTargetName());
    return kExitOk;
  }
  // Each command sees its own name as argv[0].
  if (command == "eval") return RunEval(argc - 1, argv + 1);
  if (command == "fit") return RunFit(argc - 1, argv + 1);
  if (command == "route") return RunRoute(argc - 1, argv + 1);
  if (command == "inspect") return RunInspect(argc - 1, argv + 1);
  if (command == "replay") return RunReplay(argc - 1, argv + 1);
  std::fprintf(stderr, "router: unknown command '%s'\n\n%s", argv[1], kHelp);
  return kExitUsage;
}
