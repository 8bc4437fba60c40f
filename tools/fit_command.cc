// `router fit`: fits one router (with the built-in featurizer unless the
// data brings vectors) and saves the whole pipeline to one model file.
#include <cstdio>

#include "args.h"
#include "cli.h"
#include "data_input.h"
#include "fmt/format.h"
#include "progress.h"
#include "router/pipeline.h"
#include "router/status.h"

namespace router::cli {
namespace {

constexpr const char* kCommand = "fit";

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"data", "", "FILE", "routing data, JSONL (required)"},
      {"vectors", "", "FILE", "query vectors, .npy float32 (N x d), one row per JSONL row;\n"
                              "the model then routes vectors, not text"},
      {"router", "", "KIND", "knn, cluster, mf, linucb or stacked (default: the config's, else knn)"},
      {"config", "", "FILE", "pipeline config JSON (router options, featurizer, policy, models)"},
      {"rows", "", "WHICH", "rows to fit on: fit (default: split train or unset, as every\n"
                            "door fits) or all (validation and test rows too)"},
      {"output", "o", "FILE", "model file to write (required)"},
      {"quiet", "q", "", "no progress on stderr"},
  };
  return flags;
}

std::string Help() {
  return FormatHelp(
      "router fit --data FILE [--router KIND] [--config FILE] -o MODEL",
      "Fits a router on routing data and saves it, with its featurizer,\n"
      "catalog, policy and the data's fingerprint, to one file that\n"
      "'router route' and the library's Pipeline::Load read.",
      Flags());
}

}  // namespace

int RunFit(int argc, char** argv) {
  Args args;
  if (auto done = ParseCommandArgs(kCommand, argc, argv, Flags(), Help(), &args)) {
    return *done;
  }
  if (auto usage_error = CheckDataArgs(kCommand, args)) return *usage_error;
  if (!args.Has("output")) return Fail(kCommand, kExitUsage, "-o/--output FILE is required");
  // "train" is the old name of the default rule, kept for scripts.
  const std::string which_rows = args.Get("rows", "fit");
  if (which_rows != "all" && which_rows != "fit" && which_rows != "train") {
    return Fail(kCommand, kExitUsage, fmt::format("--rows must be fit or all, got '{}'", which_rows));
  }
  const bool quiet = args.Has("quiet");

  auto config = LoadConfig(args.Get("config"));
  if (!config.ok()) return Fail(kCommand, kExitInput, config.status());
  if (args.Has("router")) config->router = args.Get("router");
  if (!IsKnownRouterKind(config->router)) {
    return Fail(kCommand, kExitUsage, fmt::format("unknown router '{}' (known: {})",
                                                  config->router, KnownRouterKinds()));
  }
  auto input = LoadInput(args.Get("data"), args.Get("vectors"));
  if (!input.ok()) return Fail(kCommand, InputOrInternal(input.status()), input.status());
  Dataset train = which_rows == "all" ? std::move(input->data)
                                      : input->data.Subset(input->data.FitRows());
  if (train.rows() == 0) {
    return Fail(kCommand, kExitInput,
                fmt::format("{}: no rows to fit on (every row is validation or test)", input->path));
  }

  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline;
  {
    Progress progress(fmt::format("fitting {} on {} rows", config->router, train.rows()), 0,
                      !quiet);
    pipeline = Pipeline::Fit(train, *config);
  }
  if (!pipeline.ok()) {
    return Fail(kCommand, InputOrInternal(pipeline.status()),
                Annotate(pipeline.status(), fmt::format("fitting router '{}'", config->router)));
  }
  const std::string output = args.Get("output");
  if (absl::Status s = (*pipeline)->Save(output); !s.ok()) {
    return Fail(kCommand, InputOrInternal(s), s);
  }
  if (!quiet) {
    std::fprintf(stderr, "wrote %s: %s router, %d models, %lld training rows, data %s\n",
                 output.c_str(), std::string((*pipeline)->router().kind()).c_str(),
                 (*pipeline)->catalog().size(),
                 static_cast<long long>((*pipeline)->training_rows()),
                 (*pipeline)->data_fingerprint().c_str());
  }
  return kExitOk;
}

}  // namespace router::cli
