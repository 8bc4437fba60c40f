// `router replay --replicas N` (replay_replicas.cc): the stream split across
// N replicas, synced and isolated, beside one process.
#ifndef ROUTER_TOOLS_REPLAY_REPLICAS_H_
#define ROUTER_TOOLS_REPLAY_REPLICAS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "args.h"
#include "router/dataset.h"
#include "router/decision.h"
#include "router/pipeline.h"
#include "router/pipeline_config.h"
#include "router/redis_sync_store.h"

namespace router::cli {

struct ReplicaSettings {
  int replicas = 0;
  std::vector<double> traffic;  // per replica, summing to 1
  int sync_every = 20;          // rows between sync rounds
  // The Redis to sync through: --redis HOST:PORT, or the config's "sync"
  // block with "store": "redis". Unset: an in-memory store. Its key prefix
  // is replaced by one per run, which the replay clears when done.
  std::optional<RedisOptions> redis;
};

// From --replicas, --traffic, --sync-every and --redis, and the sync block
// of `config` (the --config file); an exit code.
int ReadReplicaSettings(const Args& args, const PipelineConfig& config, ReplicaSettings* out);

struct ReplicaRun {
  ReplicaSettings settings;
  PipelineConfig config;
  const Dataset* data = nullptr;  // vectors included
  const std::vector<int64_t>* fit_rows = nullptr;
  const std::vector<int64_t>* stream_rows = nullptr;
  std::string data_path;
  int orders = 5;
  int seed = 1;
  bool cost_feedback = true;
  bool quiet = false;
  std::string out;  // DIR for replicas.json, or ""
  std::string command_line;
};

// Prints the three set-ups' table (and writes replicas.json); an exit code.
int ReplayReplicas(const ReplicaRun& run);

// The replay's step, shared by both modes (replay_command.cc).

// Per row, the best score (ties: cheaper) as a model index.
int OracleModel(const Dataset& data, int64_t row);
// Per model of the pipeline's catalog, by index, its column in `data`.
absl::StatusOr<std::vector<int>> CatalogColumns(const Pipeline& pipeline, const Dataset& data);
// Routes `row` through `pipeline` and reports its outcome: the chosen
// model's score to a router that `learns`, its cost to the policy when
// `cost_feedback` (a budget policy paces on it). Returns the chosen model's
// column of `data`.
absl::StatusOr<int> RouteRow(const Pipeline& pipeline, const Dataset& data, int64_t row,
                             const std::vector<int>& column_of, bool learns, bool cost_feedback,
                             Decision* decision);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_REPLAY_REPLICAS_H_
