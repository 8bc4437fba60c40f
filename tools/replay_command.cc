// `router replay`: streams routing data through a fitted pipeline in seeded
// random orders, as live traffic would arrive, revealing only the chosen
// model's score and cost. Routers that learn online (LinUCB) learn from that
// bandit feedback; a budget policy paces on the costs; a threshold policy's
// realised strong share is counted. Reports cumulative quality and cost, the
// second half of the stream, regret against the best fixed model and the
// oracle (both in hindsight), and learning curves (replay.json, curve.svg).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "args.h"
#include "cli.h"
#include "data_input.h"
#include "fmt/format.h"
#include "line_plot.h"
#include "nlohmann/json.hpp"
#include "parallel.h"
#include "progress.h"
#include "replay_replicas.h"
#include "router/budget_pacing_policy.h"
#include "router/linucb_router.h"
#include "router/threshold_policy.h"
#include "router/pipeline.h"
#include "router/status.h"
#include "router/text_featurizer.h"

namespace router::cli {

// ---------------------------------------------------------------- shared
// with replay_replicas.cc (replay_replicas.h)

// Per row of `order`, the best score (ties: cheaper) as a model index.
int OracleModel(const Dataset& data, int64_t row) {
  int best = 0;
  for (int m = 1; m < data.num_models(); ++m) {
    const double s = data.score(row, m), b = data.score(row, best);
    if (s > b || (s == b && data.cost(row, m) < data.cost(row, best))) best = m;
  }
  return best;
}

// Per model of the pipeline's catalog, by index, its column in `data`.
absl::StatusOr<std::vector<int>> CatalogColumns(const Pipeline& pipeline, const Dataset& data) {
  std::vector<int> column_of(pipeline.catalog().size());
  for (int m = 0; m < pipeline.catalog().size(); ++m) {
    column_of[m] = data.ModelColumn(pipeline.catalog().at(m).name);
    if (column_of[m] < 0) {
      return absl::InvalidArgumentError(fmt::format("model '{}' has no column in the data",
                                                    pipeline.catalog().at(m).name));
    }
  }
  return column_of;
}

absl::StatusOr<int> RouteRow(const Pipeline& pipeline, const Dataset& data, int64_t row,
                             const std::vector<int>& column_of, bool learns, bool cost_feedback,
                             Decision* decision) {
  Query query;
  query.vector = data.vector(row);
  query.text = data.prompts[row];
  ROUTER_RETURN_IF_ERROR(Annotate(pipeline.Route(query, decision),
                                  fmt::format("routing row '{}'", data.ids[row])));
  const int column = column_of[decision->chosen.model_index];
  const double score = data.score(row, column), cost = data.cost(row, column);
  if (learns) {
    Feedback feedback;
    feedback.vector = query.vector;
    feedback.model = decision->chosen.model;
    feedback.score = score;
    feedback.cost_usd = cost;
    ROUTER_RETURN_IF_ERROR(pipeline.Observe(feedback));
  }
  if (cost_feedback && !std::isnan(cost)) {  // a budget policy paces on it
    ROUTER_RETURN_IF_ERROR(
        pipeline.policy().RecordRealisedCost(decision->chosen.expected_cost_usd, cost));
  }
  return column;
}

namespace {

constexpr const char* kCommand = "replay";
constexpr int64_t kCalibrationRows = 1000;
constexpr int kCurvePoints = 60;

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"data", "", "FILE", "routing data, JSONL (required)"},
      {"vectors", "", "FILE", "query vectors, .npy float32, one row per JSONL row; without it\n"
                              "the built-in text featurizer embeds the prompts"},
      {"config", "", "FILE", "pipeline config JSON: router, its options, policy, models"},
      {"router", "", "KIND", "overrides the config's router: knn, cluster, mf, linucb, stacked"},
      {"stream", "", "WHICH", "test (default): fit on the train split, stream the test split;\n"
                              "all: stream every row through a router that learns online,\n"
                              "fitted without labels (pure bandit feedback)"},
      {"warm-start", "", "N", "with --stream all: the first N rows of each order are an offline\n"
                              "evaluation set, replayed with every model's score revealed;\n"
                              "the rest are streamed and measured (default 0)"},
      {"no-feedback", "", "", "report no outcome to the router while streaming: the baseline\n"
                              "of the same router frozen after its fit and warm start"},
      {"orders", "", "N", "seeded stream orders to run (default 5)"},
      {"seed", "", "S", "seed of the first order; order i uses S + i (default 1)"},
      {"strong-share", "", "F", "threshold policy: calibrate on up to 1000 training rows so\n"
                                "that this share goes to the strong model, and hold it online"},
      {"fixed-threshold", "", "", "threshold policy: keep the calibrated threshold (no online\n"
                                  "share tracking)"},
      {"no-cost-feedback", "", "", "budget policy: pace on the estimated costs only (by default\n"
                                   "the realised cost of each call is reported back)"},
      {"replicas", "", "N", "split each order across N in-process replicas and compare N\n"
                            "synced replicas, N isolated ones and one process (2 to 64;\n"
                            "docs/scale-out.md)"},
      {"traffic", "", "W,...", "with --replicas: each replica's share of the traffic\n"
                               "(default even), e.g. 0.7,0.2,0.1"},
      {"sync-every", "", "K", "with --replicas: rows between sync rounds (default 20)"},
      {"redis", "", "HOST:PORT", "with --replicas: sync through this Redis (password from\n"
                                 "ROUTER_REDIS_PASSWORD) instead of an in-memory store; a\n"
                                 "config's \"sync\" block with \"store\": \"redis\" does the\n"
                                 "same (and names the password's variable)"},
      {"out", "", "DIR", "write DIR/replay.json and DIR/curve.svg (with --replicas,\n"
                         "DIR/replicas.json)"},
      {"threads", "", "N", "threads for featurizing (default: all cores)"},
      {"quiet", "q", "", "no progress on stderr"},
  };
  return flags;
}

std::string Help() {
  return FormatHelp(
      "router replay --data FILE [options]",
      "Streams the data through a pipeline in seeded random orders, revealing only the chosen\n"
      "model's score and cost, and reports cumulative quality and cost, the second half of the\n"
      "stream, regret against the best fixed model and the oracle, and learning curves.",
      Flags());
}

// Averages of a fixed choice of model per row over a stream (whole, second half).
struct Baseline {
  double quality = 0, cost = 0, half_quality = 0, half_cost = 0;
};

struct OrderResult {
  uint64_t seed = 0;
  int best_fixed = 0;  // the model with the highest mean score over the streamed rows
  double quality = 0, cost = 0, half_quality = 0, half_cost = 0;
  Baseline fixed, oracle;
  double regret_fixed = 0, regret_oracle = 0;  // summed over the whole stream
  double half_regret_fixed = 0, half_regret_oracle = 0;
  std::vector<std::pair<double, double>> quality_curve, cost_curve;  // (queries, cumulative mean)
  std::vector<std::pair<double, double>> share_curve;  // threshold policy: cumulative strong share
  std::vector<int64_t> half_picks;  // per model, in the second half
  std::string policy_state;         // Pipeline::PolicyStateJson() at the end
  double seconds = 0;
};

// The model with the highest mean score over `rows`, in hindsight.
int BestFixedModel(const Dataset& data, const std::vector<int64_t>& rows) {
  std::vector<double> total(data.num_models(), 0.0);
  for (int64_t r : rows) {
    for (int m = 0; m < data.num_models(); ++m) total[m] += data.score(r, m);
  }
  return static_cast<int>(std::max_element(total.begin(), total.end()) - total.begin());
}

std::vector<int64_t> Shuffled(std::vector<int64_t> rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::shuffle(rows.begin(), rows.end(), rng);
  return rows;
}


template <typename ModelOf>
Baseline Averages(const Dataset& data, const std::vector<int64_t>& order, ModelOf model_of) {
  Baseline b;
  const size_t half = order.size() / 2;
  for (size_t t = 0; t < order.size(); ++t) {
    const int m = model_of(order[t]);
    const double q = data.score(order[t], m), c = data.cost(order[t], m);
    b.quality += q, b.cost += c;
    if (t >= half) b.half_quality += q, b.half_cost += c;
  }
  const double n = static_cast<double>(order.size()), n_half = static_cast<double>(order.size() - half);
  b.quality /= n, b.cost /= n, b.half_quality /= n_half, b.half_cost /= n_half;
  return b;
}


// Reports every model's score and cost on `rows` to `pipeline` (full
// information, as an offline evaluation set gives), before streaming.
absl::Status WarmStart(const Pipeline& pipeline, const Dataset& data,
                       const std::vector<int64_t>& rows) {
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> column_of, CatalogColumns(pipeline, data));
  for (int64_t row : rows) {
    for (int m = 0; m < pipeline.catalog().size(); ++m) {
      Feedback feedback;
      feedback.vector = data.vector(row);
      feedback.model = pipeline.catalog().at(m).name;
      feedback.score = data.score(row, column_of[m]);
      feedback.cost_usd = data.cost(row, column_of[m]);
      ROUTER_RETURN_IF_ERROR(Annotate(pipeline.Observe(feedback),
                                      fmt::format("warm start, row '{}'", data.ids[row])));
    }
  }
  return absl::OkStatus();
}

// Streams `order` through `pipeline`; `data` holds the vectors.
absl::StatusOr<OrderResult> RunOrder(const Pipeline& pipeline, const Dataset& data,
                                     const std::vector<int64_t>& order, int best_fixed,
                                     bool feedback_on, bool cost_feedback) {
  OrderResult r;
  const Stopwatch clock;
  const int64_t n = static_cast<int64_t>(order.size()), half = n / 2;
  const bool learns = feedback_on && pipeline.router().learns_online();
  const ThresholdOptions* pair_options = pipeline.config().policy.Get<ThresholdOptions>();
  const bool pair = pair_options != nullptr;
  const std::string strong = pair ? pair_options->strong : std::string();
  int64_t strong_count = 0;
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> column_of, CatalogColumns(pipeline, data));
  r.half_picks.assign(data.num_models(), 0);
  const int64_t curve_every = std::max<int64_t>(1, n / kCurvePoints);
  double q_sum = 0, c_sum = 0;
  Decision decision;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t row = order[t];
    ROUTER_ASSIGN_OR_RETURN(const int column, RouteRow(pipeline, data, row, column_of, learns,
                                                       cost_feedback, &decision));
    const double score = data.score(row, column), cost = data.cost(row, column);
    const double fixed = data.score(row, best_fixed);
    const double oracle = data.score(row, OracleModel(data, row));
    q_sum += score, c_sum += cost;
    strong_count += decision.chosen.model == strong;
    r.regret_fixed += fixed - score;
    r.regret_oracle += oracle - score;
    if (t >= half) {
      r.half_quality += score, r.half_cost += cost;
      r.half_regret_fixed += fixed - score;
      r.half_regret_oracle += oracle - score;
      ++r.half_picks[column];
    }
    if ((t + 1) % curve_every == 0 || t + 1 == n) {
      r.quality_curve.emplace_back(t + 1, q_sum / (t + 1));
      r.cost_curve.emplace_back(t + 1, c_sum / (t + 1));
      if (pair) r.share_curve.emplace_back(t + 1, static_cast<double>(strong_count) / (t + 1));
    }
  }
  r.quality = q_sum / n, r.cost = c_sum / n;
  r.half_quality /= (n - half), r.half_cost /= (n - half);
  r.policy_state = pipeline.PolicyStateJson();
  r.seconds = clock.Seconds();
  return r;
}

nlohmann::ordered_json BaselineJson(const Baseline& b) {
  return {{"quality", b.quality}, {"cost_usd", b.cost}, {"second_half_quality", b.half_quality},
          {"second_half_cost_usd", b.half_cost}};
}

enum class Curve { kQuality, kCost, kShare };

std::string CurveSvg(const std::vector<OrderResult>& results, Curve curve, const std::string& title,
                     std::vector<ReferenceLine> references) {
  LineChart chart;
  chart.title = title;
  chart.x_label = "queries streamed";
  chart.y_label = curve == Curve::kQuality ? "cumulative mean quality"
                  : curve == Curve::kCost  ? "cumulative mean cost (USD)"
                                           : "cumulative share of strong-model decisions";
  for (const OrderResult& r : results) {
    const auto& xy = curve == Curve::kQuality ? r.quality_curve
                     : curve == Curve::kCost  ? r.cost_curve
                                              : r.share_curve;
    chart.series.push_back({fmt::format("order seed {}", r.seed), xy, "", 1.5, 0.8});
  }
  chart.references = std::move(references);
  return RenderLineChart(chart);
}

// The command's settings, from its flags.
struct Settings {
  int orders = 5;
  int seed = 1;
  int threads = 1;
  double share = -1.0;  // --strong-share, when given
  int warm_rows = 0;
  std::string stream = "test";
  bool quiet = false;
};

// The flags' values; a usage error's exit code when one is wrong.
int ReadSettings(const Args& args, Settings* settings) {
  auto orders = args.GetInt("orders", 5);
  auto seed = args.GetInt("seed", 1);
  auto threads = args.GetInt("threads", DefaultThreads());
  auto share = args.GetDouble("strong-share", -1.0);
  auto warm_rows = args.GetInt("warm-start", 0);
  for (const absl::Status& s : {orders.status(), seed.status(), threads.status(), share.status(),
                                warm_rows.status()}) {
    if (!s.ok()) return Fail(kCommand, kExitUsage, s);
  }
  if (*orders < 1 || *seed < 0 || *threads < 1) {
    return Fail(kCommand, kExitUsage, "--orders and --threads must be >= 1, --seed >= 0");
  }
  if (args.Has("strong-share") && !(*share >= 0.0 && *share <= 1.0)) {
    return Fail(kCommand, kExitUsage, "--strong-share must lie in [0, 1]");
  }
  const std::string stream = args.Get("stream", "test");
  if (stream != "test" && stream != "all") {
    return Fail(kCommand, kExitUsage, fmt::format("--stream must be test or all, got '{}'", stream));
  }
  if (*warm_rows < 0 || (*warm_rows > 0 && stream != "all")) {
    return Fail(kCommand, kExitUsage, "--warm-start needs --stream all and must be >= 0");
  }
  *settings = {.orders = *orders,
               .seed = *seed,
               .threads = *threads,
               .share = *share,
               .warm_rows = *warm_rows,
               .stream = stream,
               .quiet = args.Has("quiet")};
  return kExitOk;
}

// The config file with the flags that override it (--router, --strong-share).
int ReadConfig(const Args& args, const Settings& settings, PipelineConfig* out) {
  auto config = LoadConfig(args.Get("config"));
  if (!config.ok()) return Fail(kCommand, kExitInput, config.status());
  if (args.Has("router")) {
    if (!IsKnownRouterKind(args.Get("router"))) {
      return Fail(kCommand, kExitUsage, fmt::format("unknown router '{}' (known: {})",
                                                    args.Get("router"), KnownRouterKinds()));
    }
    config->router = args.Get("router");
  }
  if (args.Has("strong-share")) {
    const ThresholdOptions* pair = config->policy.Get<ThresholdOptions>();
    if (pair == nullptr) {
      return Fail(kCommand, kExitUsage,
                  "--strong-share needs a config whose policy is \"threshold\"");
    }
    ThresholdOptions tracked = *pair;
    tracked.strong_share = args.Has("fixed-threshold") ? -1.0 : settings.share;
    config->policy.Set(tracked);
  }
  *out = *std::move(config);
  return kExitOk;
}

// Which rows fit the pipeline, and which are streamed. With --stream all
// every row is both, and the router fits without labels.
int SelectRows(const Settings& settings, InputData* input, PipelineConfig* config,
               std::vector<int64_t>* fit_rows, std::vector<int64_t>* stream_rows) {
  const Dataset& data = input->data;
  if (settings.stream == "all") {
    auto probe = MakeRouter(*config);
    if (!probe.ok()) return Fail(kCommand, kExitUsage, probe.status());
    if (!(*probe)->learns_online()) {
      return Fail(kCommand, kExitUsage,
                  fmt::format("--stream all needs a router that learns online (linucb); '{}' "
                              "does not", config->router));
    }
    // The router sees the vectors only: its warm start would use labels.
    config->RouterOptions<router::LinUcbOptions>().warm_start = false;
    fit_rows->resize(data.rows());
    std::iota(fit_rows->begin(), fit_rows->end(), 0);
    *stream_rows = *fit_rows;
    if (settings.warm_rows >= data.rows()) {
      return Fail(kCommand, kExitUsage,
                  fmt::format("--warm-start {} leaves no row to stream ({} rows)",
                              settings.warm_rows, data.rows()));
    }
  } else {
    auto rows = SplitTrainEval(input, Split::kTest, /*drop_eval_prompts_in_train=*/true);
    if (!rows.ok()) return Fail(kCommand, kExitInput, rows.status());
    *fit_rows = rows->train;
    *stream_rows = rows->eval;
  }
  if (absl::Status s = RequireCompleteRows(*input, *stream_rows); !s.ok()) {
    return Fail(kCommand, kExitInput, s);
  }
  return kExitOk;
}

// Embeds every row once, with a featurizer fitted on the fitting rows'
// prompts, when the config asks for the built-in one; the pipelines then
// take the vectors (embedder "none").
int EmbedOnce(const Settings& settings, const std::vector<int64_t>& fit_rows, Dataset* data,
              PipelineConfig* config) {
  if (!(config->embedder == "builtin" || (config->embedder == "auto" && !data->has_vectors()))) {
    return kExitOk;
  }
  TextFeaturizer featurizer(config->featurizer);
  std::vector<std::string> prompts;
  for (int64_t r : fit_rows) prompts.push_back(data->prompts[r]);
  if (absl::Status s = featurizer.Fit(prompts); !s.ok()) {
    return Fail(kCommand, InputOrInternal(s), Annotate(s, "fitting the text featurizer"));
  }
  if (absl::Status s = EmbedAll(featurizer, "all rows", settings.threads, settings.quiet, data);
      !s.ok()) {
    return Fail(kCommand, InputOrInternal(s), s);
  }
  config->embedder = "none";
  return kExitOk;
}

// Fits a pipeline for each order (seeded by it) and streams the order.
int ReplayOrders(const Args& args, const Settings& settings, const PipelineConfig& base,
                 const Dataset& data, const std::vector<int64_t>& fit_rows,
                 const std::vector<int64_t>& stream_rows, std::vector<OrderResult>* results) {
  const Dataset train = data.Subset(fit_rows);
  for (int i = 0; i < settings.orders; ++i) {
    const uint64_t order_seed = static_cast<uint64_t>(settings.seed) + i;
    absl::StatusOr<std::unique_ptr<Pipeline>> pipeline;
    {
      Progress progress(fmt::format("[{}/{}] fitting {}", i + 1, settings.orders, base.router),
                        0, !settings.quiet);
      PipelineConfig cfg = base;
      cfg.RouterOptions<router::LinUcbOptions>().seed = order_seed;
      pipeline = Pipeline::Fit(train, cfg);
    }
    if (!pipeline.ok()) return Fail(kCommand, InputOrInternal(pipeline.status()), pipeline.status());
    if (args.Has("strong-share")) {
      std::vector<Query> sample;
      const int64_t stride = (train.rows() + kCalibrationRows - 1) / kCalibrationRows;
      for (int64_t r = 0; r < train.rows(); r += stride) {
        sample.push_back(Query{.vector = train.vector(r), .text = train.prompts[r]});
      }
      pipeline = (*pipeline)->WithCalibratedThreshold(sample, settings.share);
      if (!pipeline.ok()) return Fail(kCommand, kExitInput, pipeline.status());
    }
    std::vector<int64_t> order = Shuffled(stream_rows, order_seed);
    const std::vector<int64_t> warm_start(order.begin(), order.begin() + settings.warm_rows);
    order.erase(order.begin(), order.begin() + settings.warm_rows);
    if (absl::Status s = WarmStart(**pipeline, data, warm_start); !s.ok()) {
      return Fail(kCommand, kExitInternal, s);
    }
    const int best_fixed = BestFixedModel(data, order);
    Progress progress(fmt::format("[{}/{}] streaming {} rows", i + 1, settings.orders,
                                  order.size()),
                      0, !settings.quiet);
    auto result = RunOrder(**pipeline, data, order, best_fixed, !args.Has("no-feedback"),
                           !args.Has("no-cost-feedback"));
    if (!result.ok()) return Fail(kCommand, kExitInternal, result.status());
    result->seed = order_seed;
    result->best_fixed = best_fixed;
    result->fixed = Averages(data, order, [&](int64_t) { return best_fixed; });
    result->oracle = Averages(data, order, [&](int64_t row) { return OracleModel(data, row); });
    results->push_back(*std::move(result));
  }
  return kExitOk;
}

// What the report needs besides the per-order results.
struct Replayed {
  std::string data_path;
  const Dataset* data = nullptr;
  PipelineConfig config;
  size_t streamed = 0;
  bool same_best = false;  // every order has the same best fixed model
  int wins = 0;            // orders whose second half beat it at lower cost
};

// The table on stdout; returns the number of winning orders.
int PrintReport(const Settings& settings, const Replayed& replay,
                const std::vector<OrderResult>& results) {
  const Dataset& data = *replay.data;
  const std::string what =
      settings.stream == "test" ? "test split; fitted on train"
      : settings.warm_rows == 0 ? "every row; bandit feedback only"
                                : fmt::format("bandit feedback after {} labelled rows",
                                              settings.warm_rows);
  std::printf("router replay: %s, %zu rows streamed (%s), router %s, policy %s, %d orders\n",
              replay.data_path.c_str(), replay.streamed, what.c_str(),
              replay.config.router.c_str(), replay.config.policy.kind.c_str(), settings.orders);
  std::printf("best fixed model in hindsight: %s\n\n",
              replay.same_best ? data.model_names[results[0].best_fixed].c_str()
                               : "differs by order (replay.json names it per order)");
  std::printf("%-6s %9s %11s | %9s %11s | %9s %11s | %8s %8s | %s\n", "seed", "quality",
              "cost", "2nd-half q", "2nd-half c", "fixed q", "fixed c", "regret/q", "vs oracle",
              "2nd half above fixed, cheaper");
  int wins = 0;
  double margin_sum = 0, margin_min = 1e300;
  const double streamed = static_cast<double>(replay.streamed);
  for (const OrderResult& r : results) {
    const bool win = r.half_quality > r.fixed.half_quality && r.half_cost < r.fixed.half_cost;
    wins += win;
    const double margin = r.half_quality - r.fixed.half_quality;
    margin_sum += margin, margin_min = std::min(margin_min, margin);
    std::printf("%-6llu %9.4f %11.4g | %9.4f %11.4g | %9.4f %11.4g | %8.4f %8.4f | %s (%+.4f)\n",
                static_cast<unsigned long long>(r.seed), r.quality, r.cost, r.half_quality,
                r.half_cost, r.fixed.half_quality, r.fixed.half_cost, r.regret_fixed / streamed,
                r.regret_oracle / streamed, win ? "yes" : "no", margin);
  }
  std::printf("\nsecond half above the best fixed model at lower cost: %d of %d orders; "
              "quality margin mean %+.4f, worst %+.4f\n", wins, settings.orders,
              margin_sum / settings.orders, margin_min);
  std::printf("oracle: quality %.4f at %.4g per query\n", results[0].oracle.quality,
              results[0].oracle.cost);
  std::printf("policy state at the end of the last order: %s\n",
              results.back().policy_state.c_str());
  return wins;
}

nlohmann::ordered_json OrderJson(const Dataset& data, const OrderResult& r) {
  nlohmann::ordered_json picks;
  for (int m = 0; m < data.num_models(); ++m) picks[data.model_names[m]] = r.half_picks[m];
  return {{"seed", r.seed},
          {"quality", r.quality},
          {"cost_usd", r.cost},
          {"second_half_quality", r.half_quality},
          {"second_half_cost_usd", r.half_cost},
          {"best_fixed_model", data.model_names[r.best_fixed]},
          {"best_fixed", BaselineJson(r.fixed)},
          {"oracle", BaselineJson(r.oracle)},
          {"regret_vs_best_fixed", r.regret_fixed},
          {"regret_vs_oracle", r.regret_oracle},
          {"second_half_regret_vs_best_fixed", r.half_regret_fixed},
          {"second_half_regret_vs_oracle", r.half_regret_oracle},
          {"second_half_picks", picks},
          {"policy_state", nlohmann::ordered_json::parse(r.policy_state)},
          {"quality_curve", r.quality_curve},
          {"cost_curve", r.cost_curve},
          {"share_curve", r.share_curve},
          {"seconds", r.seconds}};
}

// DIR/replay.json and the curves (--out DIR).
int WriteReplayFiles(const Args& args, const Settings& settings, const Replayed& replay,
                     const std::vector<OrderResult>& results, const std::string& command_line) {
  const Dataset& data = *replay.data;
  const PipelineConfig& base = replay.config;
  const std::filesystem::path dir = args.Get("out");
  if (absl::Status s = MakeOutputDir(dir); !s.ok()) return Fail(kCommand, kExitInput, s);
  nlohmann::ordered_json json;
  json["command"] = command_line;
  json["data"] = replay.data_path;
  json["data_fingerprint"] = Fingerprint(data);
  json["config"] = nlohmann::ordered_json::parse(PipelineConfigToJson(base));
  json["stream"] = settings.stream;
  json["streamed_rows"] = replay.streamed;
  json["warm_start_rows"] = settings.warm_rows;
  if (replay.same_best) json["best_fixed_model"] = data.model_names[results[0].best_fixed];
  json["orders_above_fixed_at_lower_cost"] = replay.wins;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (const OrderResult& r : results) runs.push_back(OrderJson(data, r));
  json["orders"] = std::move(runs);
  const std::string title = fmt::format(
      "{}: {} {} replay, {} rows", std::filesystem::path(replay.data_path).filename().string(),
      base.router, base.policy.kind, replay.streamed);
  const OrderResult& first = results[0];
  std::vector<std::pair<std::string, std::string>> files = {
      {"replay.json", json.dump(2) + "\n"},
      {"curve.svg", CurveSvg(results, Curve::kQuality, title,
                             {{"best fixed model", first.fixed.quality},
                              {"oracle", first.oracle.quality}})}};
  std::vector<ReferenceLine> cost_lines = {{"best fixed model", first.fixed.cost}};
  if (const auto* budget = base.policy.Get<BudgetPacingOptions>()) {
    cost_lines.push_back({"target", budget->target_cost_usd});
  }
  files.emplace_back("cost.svg", CurveSvg(results, Curve::kCost, title, cost_lines));
  if (base.policy.kind == "threshold" && args.Has("strong-share")) {
    files.emplace_back("share.svg",
                       CurveSvg(results, Curve::kShare, title, {{"target", settings.share}}));
  }
  for (const auto& [name, text] : files) {
    if (absl::Status s = WriteTextFile(dir / name, text); !s.ok()) {
      return Fail(kCommand, kExitInput, s);
    }
  }
  if (!settings.quiet) {
    std::fprintf(stderr, "wrote replay.json and the curves (*.svg) in %s\n", dir.c_str());
  }
  return kExitOk;
}

}  // namespace

int RunReplay(int argc, char** argv) {
  Args args;
  if (auto done = ParseCommandArgs(kCommand, argc, argv, Flags(), Help(), &args)) {
    return *done;
  }
  if (auto usage_error = CheckDataArgs(kCommand, args)) return *usage_error;
  Settings settings;
  if (int code = ReadSettings(args, &settings); code != kExitOk) return code;
  PipelineConfig config;
  if (int code = ReadConfig(args, settings, &config); code != kExitOk) return code;
  auto input = LoadInput(args.Get("data"), args.Get("vectors"));
  if (!input.ok()) return Fail(kCommand, InputOrInternal(input.status()), input.status());

  std::vector<int64_t> fit_rows, stream_rows;
  if (int code = SelectRows(settings, &*input, &config, &fit_rows, &stream_rows);
      code != kExitOk) {
    return code;
  }
  if (int code = EmbedOnce(settings, fit_rows, &input->data, &config); code != kExitOk) {
    return code;
  }
  if (args.Has("replicas")) {
    ReplicaRun run;
    if (int code = ReadReplicaSettings(args, config, &run.settings); code != kExitOk) return code;
    run.config = config;
    run.data = &input->data;
    run.fit_rows = &fit_rows;
    run.stream_rows = &stream_rows;
    run.data_path = input->path;
    run.orders = settings.orders;
    run.seed = settings.seed;
    run.cost_feedback = !args.Has("no-cost-feedback");
    run.quiet = settings.quiet;
    run.out = args.Get("out");
    run.command_line = CommandLine(argc, argv);
    if (args.Has("strong-share") || settings.warm_rows > 0 || args.Has("no-feedback")) {
      return Fail(kCommand, kExitUsage,
                  "--replicas does not combine with --strong-share, --warm-start or --no-feedback");
    }
    return ReplayReplicas(run);
  }
  for (const char* flag : {"traffic", "sync-every", "redis"}) {
    if (args.Has(flag)) {
      return Fail(kCommand, kExitUsage, fmt::format("--{} needs --replicas", flag));
    }
  }
  std::vector<OrderResult> results;
  if (int code = ReplayOrders(args, settings, config, input->data, fit_rows, stream_rows,
                              &results);
      code != kExitOk) {
    return code;
  }

  Replayed replay{.data_path = input->path,
                  .data = &input->data,
                  .config = config,
                  .streamed = stream_rows.size() - static_cast<size_t>(settings.warm_rows)};
  replay.same_best = std::all_of(results.begin(), results.end(), [&](const OrderResult& r) {
    return r.best_fixed == results[0].best_fixed;
  });
  replay.wins = PrintReport(settings, replay, results);
  if (!args.Has("out")) return kExitOk;
  return WriteReplayFiles(args, settings, replay, results, CommandLine(argc, argv));
}

}  // namespace router::cli
