// `router eval`: fits each router on the training rows, sweeps lambda on the
// evaluation rows and reports the literature's figures (eval_report.h) as
// tables on stdout, and as report.json, plot.svg and reliability.svg under
// --out.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "args.h"
#include "cli.h"
#include "data_input.h"
#include "eval_report.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "parallel.h"
#include "progress.h"
#include "reliability_plot.h"
#include "router/pipeline.h"
#include "router/status.h"
#include "router/text_featurizer.h"
#include "svg_plot.h"

namespace router::cli {
namespace {

constexpr const char* kCommand = "eval";
// Training rows whose estimates calibrate the strong/weak threshold.
constexpr int64_t kCalibrationRows = 1000;

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"data", "", "FILE", "routing data, JSONL (required)"},
      {"vectors", "", "FILE", "query vectors, .npy float32 (N x d), one row per JSONL row;\n"
                              "without it the built-in text featurizer embeds the prompts"},
      {"routers", "", "LIST", "comma-separated router kinds: knn, cluster, mf, linucb, stacked\n"
                              "(default: knn)"},
      {"config", "", "FILE", "pipeline config JSON (router options, featurizer, models);\n"
                             "its 'router' key is overridden by --routers"},
      {"split", "", "NAME", "split to evaluate on: test (default) or validation"},
      {"dedup-train-prompts", "", "", "drop evaluated rows whose prompt also occurs in train"},
      {"tell-task", "", "", "route each row as a request naming its task: the row's source\n"
                            "as RequestOverrides::task (what a host that knows each\n"
                            "request's task or app can pass); the cluster router then uses\n"
                            "that task's estimates"},
      {"out", "", "DIR", "write DIR/report.json and DIR/plot.svg"},
      {"strong", "", "MODEL", "strong model of the RouteLLM pair (default: best single model)"},
      {"weak", "", "MODEL", "weak model of the pair (default: the cheapest other model)"},
      {"strong-share", "", "F", "target share of strong calls for the calibrated threshold\n"
                                "(default 0.5)"},
      {"lambdas", "", "N", "log-spaced lambda values in the sweep, plus 0 (default 61)"},
      {"threshold-bins", "", "N", "quantile thresholds for APGR/CPT (default 10, RouteLLM's);\n"
                                  "0 = every distinct score"},
      {"calibration-folds", "", "N", "folds of train for the cross-fitted quality calibrators\n"
                                     "(default 5; 0 = no calibration figures)"},
      {"calibration-method", "", "NAME", "the calibrators: isotonic (default) or platt; the\n"
                                         "config's calibration is ignored, so that raw and\n"
                                         "calibrated estimates are both shown"},
      {"calibration-bins", "", "N", "equal-width bins of the calibration error (default 10)"},
      {"threads", "", "N", "threads for featurizing and estimating (default: all cores)"},
      {"quiet", "q", "", "no progress on stderr"},
  };
  return flags;
}

std::string Help() {
  return FormatHelp(
      "router eval --data FILE [options]",
      "Fits each router on the train split and reports, on the evaluated split, AIQ (paper\n"
      "and RouterBench-code variants), quality at the best single model's cost, cost to reach\n"
      "its quality, max quality, the oracle / best single / cheapest / zero-router references,\n"
      "RouteLLM's APGR and CPT for a strong/weak pair, a per-source breakdown, the error of\n"
      "predicted costs (MAPE, beside the config's price table), and the\n"
      "calibration of predicted quality (ECE before and after per-model calibrators\n"
      "cross-fitted on train) with the quality floor's decisions at tau = 0.30 .. 0.90.",
      Flags());
}

// Through the pipeline, so the figures include per-prompt costs.
absl::StatusOr<std::vector<Estimates>> EstimateAll(const Pipeline& pipeline, const Dataset& data,
                                                   const std::string& what, int threads,
                                                   bool tell_task, bool quiet) {
  std::vector<Estimates> estimates(data.rows());
  // --tell-task: each row's request names the row's source.
  std::vector<RequestOverrides> requests(tell_task ? data.rows() : 0);
  for (int64_t r = 0; r < static_cast<int64_t>(requests.size()); ++r) {
    requests[r].task = data.sources[r];
  }
  Progress progress(what, data.rows(), !quiet);
  // Batches let the router search many queries at once (FAISS does it faster).
  ROUTER_RETURN_IF_ERROR(ParallelFor(data.rows(), 64, threads, &progress,
                                     [&](int64_t begin, int64_t end) {
    std::vector<Query> queries(end - begin);
    for (int64_t r = begin; r < end; ++r) {
      queries[r - begin].vector = data.vector(r);
      queries[r - begin].text = data.prompts[r];
      if (tell_task) queries[r - begin].overrides = &requests[r];
    }
    return pipeline.EstimateBatch(queries,
                                  absl::MakeSpan(estimates).subspan(begin, end - begin));
  }));
  return estimates;
}

CostQualityPlot MakePlot(const EvalReport& report, const std::string& title) {
  CostQualityPlot plot;
  plot.title = title;
  for (const CurveFigures& row : report.rows) {
    if (row.is_router) plot.series.push_back({row.name, row.points, row.hull, false});
  }
  for (const CurveFigures& row : report.rows) {
    if (row.name.rfind("zero router", 0) == 0) {
      plot.series.push_back({"zero router (single-model hull)", {}, row.hull, true});
    }
  }
  for (const ModelPoint& m : report.singles) plot.models.push_back({m.model, m.point});
  plot.oracle = PlotMarker{"oracle", report.oracle};
  return plot;
}

// The command's settings, from its flags.
struct Settings {
  std::vector<std::string> routers;
  ReportOptions report;
  Split split = Split::kTest;
  std::string split_name;
  int calibration_folds = 5;
  std::string calibration_method = "isotonic";  // checked by CalibrationMethodNamed
  int threads = 1;
  bool tell_task = false;
  bool quiet = false;
};

// The flags' values; a usage error's exit code when one is wrong.
int ReadSettings(const Args& args, Settings* settings) {
  settings->routers = SplitList(args.Get("routers", "knn"));
  if (settings->routers.empty()) return Fail(kCommand, kExitUsage, "--routers names no router");
  for (const std::string& name : settings->routers) {
    if (!IsKnownRouterKind(name)) {
      return Fail(kCommand, kExitUsage,
                  fmt::format("unknown router '{}' (known: {})", name, KnownRouterKinds()));
    }
  }
  auto share = args.GetDouble("strong-share", 0.5);
  auto lambdas = args.GetInt("lambdas", 61);
  auto bins = args.GetInt("threshold-bins", 10);
  auto threads = args.GetInt("threads", DefaultThreads());
  auto split = ParseSplitName(args.Get("split", "test"));
  auto folds = args.GetInt("calibration-folds", 5);
  auto calibration_bins = args.GetInt("calibration-bins", 10);
  for (const absl::Status& s : {share.status(), lambdas.status(), bins.status(), threads.status(),
                                split.status(), folds.status(), calibration_bins.status()}) {
    if (!s.ok()) return Fail(kCommand, kExitUsage, s);
  }
  if (*share < 0.0 || *share > 1.0 || *lambdas < 1 || *bins < 0 || *threads < 1) {
    return Fail(kCommand, kExitUsage,
                "--strong-share must lie in [0, 1], --lambdas and --threads be >= 1, "
                "--threshold-bins >= 0");
  }
  if (*folds == 1 || *folds < 0 || *folds > 100 || *calibration_bins < 1 ||
      *calibration_bins > 1000) {
    return Fail(kCommand, kExitUsage,
                "--calibration-folds must be 0 (off) or 2 to 100, --calibration-bins 1 to 1000");
  }
  settings->calibration_folds = static_cast<int>(*folds);
  settings->calibration_method = args.Get("calibration-method", "isotonic");
  if (absl::Status s = CalibrationMethodNamed(settings->calibration_method).status(); !s.ok()) {
    return Fail(kCommand, kExitUsage, Annotate(s, "--calibration-method"));
  }
  settings->report.calibration_bins = static_cast<int>(*calibration_bins);
  settings->report.strong = args.Get("strong");
  settings->report.weak = args.Get("weak");
  if (!settings->report.strong.empty() && settings->report.strong == settings->report.weak) {
    return Fail(kCommand, kExitUsage, fmt::format("--strong and --weak name the same model '{}'",
                                                  settings->report.strong));
  }
  settings->report.target_strong_share = *share;
  settings->report.lambda_count = *lambdas;
  settings->report.threshold_bins = *bins;
  settings->split = *split;
  settings->split_name = args.Get("split", "test");
  settings->threads = *threads;
  settings->quiet = args.Has("quiet");
  settings->tell_task = args.Has("tell-task");
  return kExitOk;
}

// The rows a run fits on and evaluates, and the training rows that
// calibrate the strong/weak threshold.
struct Rows {
  TrainEvalRows split;
  Dataset train, test, calibration;
};

int SelectRows(const Args& args, const Settings& settings, InputData* input, Rows* out) {
  for (const std::string* name : {&settings.report.strong, &settings.report.weak}) {
    if (!name->empty() && input->data.ModelColumn(*name) < 0) {
      return Fail(kCommand, kExitUsage,
                  fmt::format("--{}: no model '{}' in {}",
                              name == &settings.report.strong ? "strong" : "weak", *name,
                              input->path));
    }
  }
  auto rows = SplitTrainEval(input, settings.split, args.Has("dedup-train-prompts"));
  if (!rows.ok()) return Fail(kCommand, kExitInput, rows.status());
  if (absl::Status s = RequireCompleteRows(*input, rows->eval); !s.ok()) {
    return Fail(kCommand, kExitInput, s);
  }
  out->split = *std::move(rows);
  out->train = input->data.Subset(out->split.train);
  out->test = input->data.Subset(out->split.eval);
  if (settings.quiet) return kExitOk;
  std::fprintf(stderr, "%s: %lld rows, %d models; train %lld, %s %lld%s%s\n",
               input->path.c_str(), static_cast<long long>(input->data.rows()),
               input->data.num_models(), static_cast<long long>(out->train.rows()),
               settings.split_name.c_str(), static_cast<long long>(out->test.rows()),
               out->split.dropped_duplicates > 0
                   ? fmt::format(" ({} dropped: prompt also in train)",
                                 out->split.dropped_duplicates).c_str()
                   : "",
               out->split.assigned > 0
                   ? fmt::format("; {} rows had no split and were assigned one",
                                 out->split.assigned).c_str()
                   : "");
  return kExitOk;
}

// Featurizes train and test once for all routers (Pipeline::Fit would refit
// the featurizer per router) when the config asks for the built-in one; the
// pipelines then take the vectors. Fills the calibration sample.
int FeaturizeOnce(const Settings& settings, PipelineConfig* config, Rows* rows,
                  double* seconds) {
  const bool featurize = config->embedder == "builtin" ||
                         (config->embedder == "auto" && !rows->train.has_vectors());
  if (featurize) {
    const Stopwatch clock;
    TextFeaturizer featurizer(config->featurizer);
    {
      Progress progress("fitting the text featurizer", 0, !settings.quiet);
      if (absl::Status s = featurizer.Fit(rows->train.prompts); !s.ok()) {
        return Fail(kCommand, InputOrInternal(s), Annotate(s, "fitting the text featurizer"));
      }
    }
    for (auto [data, what] :
         {std::pair{&rows->train, "train"}, std::pair{&rows->test, "evaluated rows"}}) {
      if (absl::Status s = EmbedAll(featurizer, what, settings.threads, settings.quiet, data);
          !s.ok()) {
        return Fail(kCommand, InputOrInternal(s), s);
      }
    }
    config->embedder = "none";
    *seconds = clock.Seconds();
  }
  std::vector<int64_t> calibration_rows;
  const int64_t stride = (rows->train.rows() + kCalibrationRows - 1) / kCalibrationRows;
  for (int64_t r = 0; r < rows->train.rows(); r += stride) calibration_rows.push_back(r);
  rows->calibration = rows->train.Subset(calibration_rows);
  return kExitOk;
}

// Fits router `i` of the settings and estimates the evaluated rows and the
// calibration sample with it.
int RunRouter(const Settings& settings, size_t i, const PipelineConfig& base, const Rows& rows,
              std::unique_ptr<Pipeline>* pipeline_out, RouterRun* run) {
  const std::string& kind = settings.routers[i];
  const size_t count = settings.routers.size();
  PipelineConfig config = base;
  config.router = kind;
  config.calibration.method = "none";  // the raw estimates; calibrated ones below
  run->name = kind;
  const Stopwatch fit_clock;
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline;
  {
    Progress progress(fmt::format("[{}/{}] fitting {}", i + 1, count, kind), 0, !settings.quiet);
    pipeline = Pipeline::Fit(rows.train, config);
  }
  if (!pipeline.ok()) {
    return Fail(kCommand, InputOrInternal(pipeline.status()),
                Annotate(pipeline.status(), fmt::format("fitting router '{}'", kind)));
  }
  run->fit_seconds = fit_clock.Seconds();
  const Stopwatch estimate_clock;
  const Pipeline& fitted = **pipeline;
  auto estimates = EstimateAll(fitted, rows.test,
                               fmt::format("[{}/{}] estimating {}", i + 1, count, kind),
                               settings.threads, settings.tell_task, settings.quiet);
  auto calibration_estimates =
      estimates.ok() ? EstimateAll(fitted, rows.calibration, "  calibration sample",
                                   settings.threads, settings.tell_task, settings.quiet)
                     : estimates;
  for (const auto* e : {&estimates, &calibration_estimates}) {
    if (!e->ok()) return Fail(kCommand, kExitInternal, e->status());
  }
  run->estimate_seconds = estimate_clock.Seconds();
  run->catalog = &(*pipeline)->catalog();
  run->estimates = *std::move(estimates);
  run->calibration_estimates = *std::move(calibration_estimates);
  *pipeline_out = *std::move(pipeline);
  if (settings.calibration_folds == 0) return kExitOk;

  // The calibrator: cross-fitted on train, never on the evaluated rows.
  const Stopwatch calibration_clock;
  absl::StatusOr<QualityCalibrator> calibrator;
  {
    Progress progress(fmt::format("[{}/{}] cross-fitting {}'s calibrators ({} folds)", i + 1,
                                  count, kind, settings.calibration_folds),
                      0, !settings.quiet);
    calibrator = CrossFitCalibrator(rows.train, config, settings.calibration_folds,
                                    *CalibrationMethodNamed(settings.calibration_method),
                                    &run->calibration_fit_pairs);
  }
  if (!calibrator.ok()) {
    return Fail(kCommand, InputOrInternal(calibrator.status()),
                Annotate(calibrator.status(), fmt::format("calibrating router '{}'", kind)));
  }
  auto calibrated = Calibrated(*calibrator, *run->catalog, run->estimates);
  if (!calibrated.ok()) return Fail(kCommand, kExitInternal, calibrated.status());
  run->calibrated_estimates = *std::move(calibrated);
  run->calibration_folds = settings.calibration_folds;
  run->calibration_method = settings.calibration_method;
  run->calibration_seconds = calibration_clock.Seconds();
  return kExitOk;
}

// Per router, its reliability bins before and after calibration.
std::string ReliabilitySvg(const EvalReport& report, const std::string& title) {
  std::vector<ReliabilityPanel> panels;
  for (const CalibrationFigures& f : report.calibration) {
    panels.push_back(
        {f.router,
         {{fmt::format("raw: ECE {:.3f}", f.before.expected_calibration_error), "#ff7f0e",
           f.before.bins},
          {fmt::format("calibrated: ECE {:.3f}", f.after.expected_calibration_error), "#1f77b4",
           f.after.bins}}});
  }
  return RenderReliabilityDiagram("Reliability of predicted quality, " + title, panels);
}

// DIR/report.json, DIR/plot.svg and, with calibration, DIR/reliability.svg (--out DIR).
int WriteEvalFiles(const Args& args, const Settings& settings, const InputData& input,
                   const Rows& rows, const EvalReport& report,
                   const std::vector<RouterRun>& runs, double featurize_seconds,
                   double total_seconds, const std::string& command_line) {
  const std::filesystem::path dir = args.Get("out");
  if (absl::Status s = MakeOutputDir(dir); !s.ok()) return Fail(kCommand, kExitInput, s);
  nlohmann::ordered_json header;
  header["command"] = command_line;
  header["data"] = input.path;
  header["data_fingerprint"] = Fingerprint(input.data);
  header["vectors"] = args.Get("vectors");
  header["config"] = args.Get("config");
  header["split"] = settings.split_name;
  header["train_rows"] = rows.train.rows();
  header["evaluated_rows"] = rows.test.rows();
  header["dropped_rows_with_train_prompts"] = rows.split.dropped_duplicates;
  header["rows_assigned_a_split"] = rows.split.assigned;
  header["models"] = rows.test.model_names;
  header["featurize_seconds"] = featurize_seconds;
  nlohmann::ordered_json timing = nlohmann::ordered_json::array();
  for (const RouterRun& run : runs) {
    timing.push_back({{"router", run.name}, {"fit_seconds", run.fit_seconds},
                      {"estimate_seconds", run.estimate_seconds},
                      {"calibration_seconds", run.calibration_seconds}});
  }
  header["routers"] = std::move(timing);
  header["total_seconds"] = total_seconds;
  const std::string title = fmt::format("{} ({} split, {} rows)",
                                        std::filesystem::path(input.path).filename().string(),
                                        settings.split_name, rows.test.rows());
  std::vector<std::pair<std::string, std::string>> files = {
      {"report.json", ReportJson(report, header.dump())},
      {"plot.svg", RenderSvg(MakePlot(report, title))}};
  if (!report.calibration.empty()) {
    files.emplace_back("reliability.svg", ReliabilitySvg(report, title));
  }
  std::string written;
  for (const auto& [name, text] : files) {
    if (absl::Status s = WriteTextFile(dir / name, text); !s.ok()) {
      return Fail(kCommand, kExitInput, s);
    }
    written += (written.empty() ? "" : ", ") + (dir / name).string();
  }
  if (!settings.quiet) std::fprintf(stderr, "wrote %s\n", written.c_str());
  return kExitOk;
}

}  // namespace

int RunEval(int argc, char** argv) {
  const Stopwatch total_clock;
  Args args;
  if (auto done = ParseCommandArgs(kCommand, argc, argv, Flags(), Help(), &args)) {
    return *done;
  }
  if (auto usage_error = CheckDataArgs(kCommand, args)) return *usage_error;
  Settings settings;
  if (int code = ReadSettings(args, &settings); code != kExitOk) return code;
  auto config = LoadConfig(args.Get("config"));
  if (!config.ok()) return Fail(kCommand, kExitInput, config.status());
  auto input = LoadInput(args.Get("data"), args.Get("vectors"));
  if (!input.ok()) return Fail(kCommand, InputOrInternal(input.status()), input.status());
  Rows rows;
  if (int code = SelectRows(args, settings, &*input, &rows); code != kExitOk) return code;
  double featurize_seconds = 0.0;
  if (int code = FeaturizeOnce(settings, &*config, &rows, &featurize_seconds); code != kExitOk) {
    return code;
  }

  // The pipelines own the catalogs the runs point to: they live until the end.
  std::vector<std::unique_ptr<Pipeline>> pipelines(settings.routers.size());
  std::vector<RouterRun> runs(settings.routers.size());
  for (size_t i = 0; i < settings.routers.size(); ++i) {
    if (int code = RunRouter(settings, i, *config, rows, &pipelines[i], &runs[i]);
        code != kExitOk) {
      return code;
    }
  }
  auto report = BuildReport(rows.test, runs, settings.report);
  if (!report.ok()) return Fail(kCommand, kExitInternal, report.status());
  std::printf("router eval: %s, %s split: %lld rows evaluated, %lld train rows, %d models\n",
              input->path.c_str(), settings.split_name.c_str(),
              static_cast<long long>(rows.test.rows()), static_cast<long long>(rows.train.rows()),
              rows.test.num_models());
  if (rows.split.dropped_duplicates > 0) {
    std::printf("(%lld evaluated rows dropped: their prompt occurs in train)\n",
                static_cast<long long>(rows.split.dropped_duplicates));
  }
  PrintReport(*report, stdout);
  std::fflush(stdout);

  const double total_seconds = total_clock.Seconds();
  if (args.Has("out")) {
    if (int code = WriteEvalFiles(args, settings, *input, rows, *report, runs, featurize_seconds,
                                  total_seconds, CommandLine(argc, argv));
        code != kExitOk) {
      return code;
    }
  }
  if (!settings.quiet) std::fprintf(stderr, "total %s\n", FormatDuration(total_seconds).c_str());
  return kExitOk;
}

}  // namespace router::cli
