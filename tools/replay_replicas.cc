// `router replay --replicas N`: the scale-out simulation (docs/scale-out.md).
// Each order's stream is split across N in-process replicas, each with its
// own LivePipeline loaded from the same fitted file, by the --traffic
// weights, and replayed three ways: one process that sees every row
// ("single"), N replicas that share nothing ("isolated"), and N replicas
// whose StateSyncs exchange their contributions every --sync-every rows
// ("synced"; through an in-memory store, or Redis with --redis or the
// config's "sync" block). It reports
// each set-up's quality, cost, regret against the oracle and, for a budget
// policy, how far the global average cost ends from the target.
#include "replay_replicas.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "cli.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "router/budget_pacing_policy.h"
#include "router/linucb_router.h"
#include "router/live_pipeline.h"
#include "router/redis_sync_store.h"
#include "router/state_sync.h"
#include "router/status.h"

namespace router::cli {
namespace {

constexpr const char* kCommand = "replay";
constexpr const char* kSetups[] = {"single", "isolated", "synced"};

struct SetupResult {
  double quality = 0, cost = 0, half_quality = 0, half_cost = 0, regret_oracle = 0;
};

absl::StatusOr<std::vector<double>> ParseTraffic(const std::string& text, int replicas) {
  std::vector<double> weights;
  if (text.empty()) return std::vector<double>(replicas, 1.0 / replicas);
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    char* end = nullptr;
    const double w = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !(w > 0.0) || !std::isfinite(w)) {
      return absl::InvalidArgumentError(
          fmt::format("--traffic must list positive numbers, got '{}'", item));
    }
    weights.push_back(w);
    start = comma + 1;
  }
  if (static_cast<int>(weights.size()) != replicas) {
    return absl::InvalidArgumentError(fmt::format(
        "--traffic lists {} weights for {} replicas", weights.size(), replicas));
  }
  double total = 0;
  for (double w : weights) total += w;
  for (double& w : weights) w /= total;
  return weights;
}

// One replica per weight, each row of `order` sent to one by the weights.
std::vector<int> Assign(size_t rows, const std::vector<double>& weights, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x7265706c69636173ULL);
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  std::vector<int> replica_of(rows);
  for (int& r : replica_of) r = pick(rng);
  return replica_of;
}

absl::StatusOr<std::shared_ptr<SyncStore>> MakeStore(const std::optional<RedisOptions>& redis,
                                                     uint64_t seed) {
  if (!redis.has_value()) return std::shared_ptr<SyncStore>(std::make_shared<MemorySyncStore>());
  RedisOptions options = *redis;
  // A prefix per run and order, never the config's: replays never see each
  // other's rows, and the Clear at the end cannot touch a deployment's.
  options.key_prefix = fmt::format("router-replay-{}-{}", ::getpid(), seed);
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<RedisSyncStore> store,
                          RedisSyncStore::Create(std::move(options)));
  return std::shared_ptr<SyncStore>(std::move(store));
}

// Streams `order` through `replicas` (row t to replica_of[t], or to replica
// 0 when there is one); with `syncs`, every replica syncs every
// `sync_every` rows.
absl::StatusOr<SetupResult> Stream(const std::vector<std::unique_ptr<LivePipeline>>& replicas,
                                   const std::vector<std::unique_ptr<StateSync>>& syncs,
                                   const Dataset& data, const std::vector<int64_t>& order,
                                   const std::vector<int>& replica_of, int sync_every,
                                   bool cost_feedback) {
  const std::shared_ptr<const Pipeline> first = replicas[0]->Snapshot();
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> column_of, CatalogColumns(*first, data));
  const bool learns = first->router().learns_online();
  SetupResult r;
  const size_t n = order.size(), half = n / 2;
  Decision decision;
  for (size_t t = 0; t < n; ++t) {
    const int64_t row = order[t];
    // Each replica's rounds run on this thread, between rows, so the
    // replica's current pipeline is the one to route and learn on.
    const LivePipeline& live = *replicas[replicas.size() == 1 ? 0 : replica_of[t]];
    ROUTER_ASSIGN_OR_RETURN(const int column, RouteRow(*live.Snapshot(), data, row, column_of,
                                                       learns, cost_feedback, &decision));
    const double score = data.score(row, column), cost = data.cost(row, column);
    const double oracle = data.score(row, OracleModel(data, row));
    r.quality += score, r.cost += cost, r.regret_oracle += oracle - score;
    if (t >= half) r.half_quality += score, r.half_cost += cost;
    if (!syncs.empty() && (t + 1) % static_cast<size_t>(sync_every) == 0) {
      for (const auto& sync : syncs) ROUTER_RETURN_IF_ERROR(sync->SyncNow());
    }
  }
  const double rows = static_cast<double>(n), half_rows = static_cast<double>(n - half);
  r.quality /= rows, r.cost /= rows, r.regret_oracle /= rows;
  r.half_quality /= half_rows, r.half_cost /= half_rows;
  return r;
}

absl::StatusOr<std::vector<std::unique_ptr<LivePipeline>>> LoadReplicas(const std::string& path,
                                                                        int count) {
  std::vector<std::unique_ptr<LivePipeline>> replicas;
  for (int i = 0; i < count; ++i) {
    ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> loaded, Pipeline::Load(path));
    // Feedback goes by vector (Observe), so the decision log keeps nothing.
    replicas.push_back(std::make_unique<LivePipeline>(std::move(loaded), 1));
  }
  return replicas;
}

// The three set-ups on one order.
absl::StatusOr<std::array<SetupResult, 3>> RunSetups(const std::string& path, const Dataset& data,
                                                     const std::vector<int64_t>& order,
                                                     const ReplicaSettings& settings,
                                                     uint64_t seed, bool cost_feedback) {
  const std::vector<int> replica_of = Assign(order.size(), settings.traffic, seed);
  std::array<SetupResult, 3> results;
  for (int setup = 0; setup < 3; ++setup) {
    ROUTER_ASSIGN_OR_RETURN(auto replicas, LoadReplicas(path, setup == 0 ? 1 : settings.replicas));
    std::vector<std::unique_ptr<StateSync>> syncs;
    std::shared_ptr<SyncStore> store;
    if (setup == 2) {
      ROUTER_ASSIGN_OR_RETURN(store, MakeStore(settings.redis, seed));
      for (int i = 0; i < settings.replicas; ++i) {
        ROUTER_ASSIGN_OR_RETURN(
            std::unique_ptr<StateSync> sync,
            StateSync::Start(replicas[i].get(), store,
                             {.replica_id = fmt::format("replica-{}", i), .interval_ms = 0}));
        syncs.push_back(std::move(sync));
      }
    }
    absl::StatusOr<SetupResult> result = Stream(replicas, syncs, data, order, replica_of,
                                                settings.sync_every, cost_feedback);
    syncs.clear();  // their last rounds, then the store is emptied: a replay leaves nothing
    if (store != nullptr) ROUTER_RETURN_IF_ERROR(store->Clear());
    if (!result.ok()) return result.status();
    results[setup] = *result;
  }
  return results;
}

nlohmann::ordered_json SetupJson(const SetupResult& r, double target) {
  nlohmann::ordered_json j = {{"quality", r.quality},
                              {"cost_usd", r.cost},
                              {"second_half_quality", r.half_quality},
                              {"second_half_cost_usd", r.half_cost},
                              {"regret_vs_oracle_per_query", r.regret_oracle}};
  if (target > 0) j["budget_error"] = r.cost / target - 1.0;
  return j;
}

}  // namespace

int ReadReplicaSettings(const Args& args, const PipelineConfig& config, ReplicaSettings* out) {
  auto replicas = args.GetInt("replicas", 0);
  auto sync_every = args.GetInt("sync-every", 20);
  if (!replicas.ok()) return Fail(kCommand, kExitUsage, replicas.status());
  if (!sync_every.ok()) return Fail(kCommand, kExitUsage, sync_every.status());
  if (*replicas < 2 || *replicas > 64 || *sync_every < 1) {
    return Fail(kCommand, kExitUsage, "--replicas must lie in [2, 64] and --sync-every be >= 1");
  }
  auto traffic = ParseTraffic(args.Get("traffic"), *replicas);
  if (!traffic.ok()) return Fail(kCommand, kExitUsage, traffic.status());
  // The config's block gives the Redis (and its password_env and timeout);
  // --redis HOST:PORT overrides its address. Its replica_id and interval do
  // not apply: the replay names its replicas and syncs every --sync-every rows.
  std::optional<RedisOptions> redis;
  const char* source = "--redis";
  if (config.sync.has_value() && config.sync->store == "redis") {
    redis = RedisOptionsFromConfig(*config.sync);
    source = "the config's \"sync\" block";
  }
  if (args.Has("redis")) {
    const std::string address = args.Get("redis");
    const size_t colon = address.rfind(':');
    if (!redis.has_value()) redis.emplace();
    redis->host = address.substr(0, colon);
    if (colon != std::string::npos) redis->port = std::atoi(address.c_str() + colon + 1);
    source = "--redis";
  }
  if (redis.has_value() && !RedisSyncAvailable()) {
    return Fail(kCommand, kExitUsage,
                fmt::format("{}: this build has no Redis support (hiredis)", source));
  }
  out->replicas = *replicas;
  out->traffic = *std::move(traffic);
  out->sync_every = *sync_every;
  out->redis = std::move(redis);
  return kExitOk;
}

int ReplayReplicas(const ReplicaRun& run) {
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("router-replay-{}.router", ::getpid()))
          .string();
  const double target = run.config.policy.Get<BudgetPacingOptions>() != nullptr
                            ? run.config.policy.Get<BudgetPacingOptions>()->target_cost_usd
                            : 0.0;
  std::vector<std::array<SetupResult, 3>> orders;
  const Dataset train = run.data->Subset(*run.fit_rows);
  for (int i = 0; i < run.orders; ++i) {
    const uint64_t seed = static_cast<uint64_t>(run.seed) + i;
    PipelineConfig config = run.config;
    config.RouterOptions<LinUcbOptions>().seed = seed;
    auto fitted = Pipeline::Fit(train, config);
    if (!fitted.ok()) return Fail(kCommand, InputOrInternal(fitted.status()), fitted.status());
    if (absl::Status s = (*fitted)->Save(path); !s.ok()) return Fail(kCommand, kExitInput, s);
    std::vector<int64_t> order = *run.stream_rows;
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    auto result = RunSetups(path, *run.data, order, run.settings, seed, run.cost_feedback);
    std::filesystem::remove(path);
    if (!result.ok()) return Fail(kCommand, kExitInternal, result.status());
    orders.push_back(*result);
    if (!run.quiet) {
      std::fprintf(stderr, "[%d/%d] order %llu replayed on every set-up\n", i + 1, run.orders,
                   static_cast<unsigned long long>(seed));
    }
  }

  std::string traffic;
  for (double w : run.settings.traffic) {
    traffic += fmt::format("{}{:.3g}", traffic.empty() ? "" : ",", w);
  }
  std::printf("router replay --replicas %d: %s, %zu rows streamed, router %s, policy %s, "
              "traffic %s, sync every %d rows%s, %d orders\n\n",
              run.settings.replicas, run.data_path.c_str(), run.stream_rows->size(),
              run.config.router.c_str(), run.config.policy.kind.c_str(), traffic.c_str(),
              run.settings.sync_every, run.settings.redis.has_value() ? " (Redis)" : "",
              run.orders);
  std::printf("%-9s %9s %11s %11s %11s %11s%s\n", "set-up", "quality", "cost", "2nd-half q",
              "2nd-half c", "regret/q", target > 0 ? "  budget error" : "");
  nlohmann::ordered_json json;
  for (int setup = 0; setup < 3; ++setup) {
    SetupResult mean;
    for (const auto& o : orders) {
      mean.quality += o[setup].quality / run.orders;
      mean.cost += o[setup].cost / run.orders;
      mean.half_quality += o[setup].half_quality / run.orders;
      mean.half_cost += o[setup].half_cost / run.orders;
      mean.regret_oracle += o[setup].regret_oracle / run.orders;
    }
    double worst_budget = 0;
    for (const auto& o : orders) {
      if (target > 0) worst_budget = std::max(worst_budget, std::abs(o[setup].cost / target - 1));
    }
    std::printf("%-9s %9.4f %11.4g %11.4f %11.4g %11.4f", kSetups[setup], mean.quality, mean.cost,
                mean.half_quality, mean.half_cost, mean.regret_oracle);
    if (target > 0) {
      std::printf("  %+.2f%% (worst order %.2f%%)", 100 * (mean.cost / target - 1),
                  100 * worst_budget);
    }
    std::printf("\n");
    json["mean"][kSetups[setup]] = SetupJson(mean, target);
  }
  double gap_sum = 0, gap_worst = HUGE_VAL;
  for (const auto& o : orders) {
    const double gap = o[2].half_quality - o[0].half_quality;
    gap_sum += gap;
    gap_worst = std::min(gap_worst, gap);
  }
  std::printf("\nsynced - single, second-half quality: mean %+.4f, worst order %+.4f\n",
              gap_sum / run.orders, gap_worst);
  if (run.out.empty()) return kExitOk;
  json["command"] = run.command_line;
  json["replicas"] = run.settings.replicas;
  json["traffic"] = run.settings.traffic;
  json["sync_every_rows"] = run.settings.sync_every;
  json["store"] = run.settings.redis.has_value() ? "redis" : "memory";
  nlohmann::ordered_json per_order = nlohmann::ordered_json::array();
  for (int i = 0; i < run.orders; ++i) {
    nlohmann::ordered_json o = {{"seed", run.seed + i}};
    for (int setup = 0; setup < 3; ++setup) {
      o[kSetups[setup]] = SetupJson(orders[i][setup], target);
    }
    per_order.push_back(std::move(o));
  }
  json["orders"] = std::move(per_order);
  const std::filesystem::path dir = run.out;
  if (absl::Status s = MakeOutputDir(dir); !s.ok()) return Fail(kCommand, kExitInput, s);
  if (absl::Status s = WriteTextFile(dir / "replicas.json", json.dump(2) + "\n"); !s.ok()) {
    return Fail(kCommand, kExitInput, s);
  }
  return kExitOk;
}

}  // namespace router::cli
