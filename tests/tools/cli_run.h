// What the tests of the `router` program share: running the built binary
// (ROUTER_CLI_PATH) with files in a scratch directory, and the generated
// data they run it on.
#ifndef ROUTER_TESTS_TOOLS_CLI_RUN_H_
#define ROUTER_TESTS_TOOLS_CLI_RUN_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "router/dataset.h"
#include "router/synthetic.h"

namespace router::testing {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteAll(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A scratch directory per test program run, removed at exit.
inline const fs::path& Scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("router_cli_test_" + std::to_string(getpid()));
    fs::create_directories(d);
    return d;
  }();
  static const struct Cleanup {
    ~Cleanup() { fs::remove_all(dir); }
  } cleanup;
  return dir;
}

// Runs `router <args>` with `input` on stdin; arguments are passed to the
// shell as written, so tests quote where needed.
inline RunResult Run(const std::string& args, const std::string& input = "") {
  const fs::path in = Scratch() / "stdin", out = Scratch() / "stdout", err = Scratch() / "stderr";
  WriteAll(in, input);
  const std::string command = std::string("'") + ROUTER_CLI_PATH + "' " + args + " <'" +
                              in.string() + "' >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadAll(out);
  result.err = ReadAll(err);
  return result;
}

// The generated data of synthetic.h (1500 rows, the default seed).
inline SyntheticData Synthetic1500() { return GenerateSynthetic({.rows = 1500}); }

// Synthetic1500() as JSONL, written once.
inline const fs::path& SyntheticFile() {
  static const fs::path path = [] {
    const fs::path p = Scratch() / "synthetic.jsonl";
    REQUIRE(SaveJsonl(Synthetic1500().dataset, p.string()).ok());
    return p;
  }();
  return path;
}

}  // namespace router::testing

#endif  // ROUTER_TESTS_TOOLS_CLI_RUN_H_
