// The JSON config: every key declared once (ConfigKeys) is settable, printed,
// validated and documented in docs/configuration.md.
#include "router/pipeline_config.h"

#include "router/budget_pacing_policy.h"
#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/linucb_router.h"
#include "router/max_utility_policy.h"
#include "router/mf_options.h"
#include "router/quality_floor_policy.h"
#include "router/redis_sync_store.h"
#include "router/stacked_router.h"
#include "router/state_sync.h"
#include "router/threshold_policy.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "nlohmann/json.hpp"

namespace router {
namespace {

using Catch::Matchers::Contains;
using Json = nlohmann::json;

// `value` at the dotted `key` of a config object ("policy.constraints.x").
Json Nest(const std::string& key, const Json& value) {
  const size_t dot = key.rfind('.');
  if (dot == std::string::npos) return Json{{key, value}};
  return Nest(key.substr(0, dot), Json{{key.substr(dot + 1), value}});
}

const Json& At(const Json& json, const std::string& key) {
  const size_t dot = key.find('.');
  if (dot == std::string::npos) return json.at(key);
  return At(json.at(key.substr(0, dot)), key.substr(dot + 1));
}

bool InRange(const ConfigKey& key, double v) {
  return std::isfinite(v) && (key.min_open ? v > key.min : v >= key.min) &&
         (key.max_open ? v < key.max : v <= key.max);
}

// A valid value for `key` that differs from its default; null when the key
// takes structured values this test does not make up (models, maps).
Json NonDefault(const ConfigKey& key) {
  const Json initial = Json::parse(key.default_json);
  if (key.key == "sync.store") return "memory:some-model";  // "redis" or "memory:NAME"
  if (!key.choices.empty()) {
    for (const std::string& choice : key.choices) {
      if (Json(choice) != initial) return choice;
    }
  }
  if (key.type == "boolean") return !initial.get<bool>();
  if (key.type == "string") return "some-model";
  if (key.type == "array of strings") return Json::array({"some-model"});
  if (key.type == "integer" || key.type == "number" || key.type == "number or null") {
    const double base = initial.is_number() ? initial.get<double>() : 0.0;
    const bool integer = key.type == "integer";
    for (double candidate : {base + 1, base / 2, base - 1, base + 0.25, key.min + 1,
                             std::isfinite(key.max) ? key.max : base + 2}) {
      if (integer) candidate = std::floor(candidate);
      if (candidate != base && InRange(key, candidate)) {
        return integer ? Json(static_cast<int64_t>(candidate)) : Json(candidate);
      }
    }
  }
  return nullptr;
}

// A valid "policy" object of `kind`: the options a kind requires.
Json PolicyOfKind(const std::string& kind) {
  Json policy = {{"kind", kind}};
  if (kind == "budget") policy["target_cost_usd"] = 1e-4;
  if (kind == "threshold") policy.update(Json{{"strong", "a"}, {"weak", "b"}});
  return policy;
}

TEST_CASE("every config key can be set to a non-default value and is printed back",
          "[config]") {
  int tried = 0;
  std::set<std::string> skipped;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.key.rfind("models[]", 0) == 0) continue;  // profiles: next case
    const Json value = NonDefault(key);
    if (value.is_null()) {
      skipped.insert(key.key);
      continue;
    }
    INFO(key.key << " = " << value.dump());
    Json config = Nest(key.key, value);
    if (!key.policy_kind.empty()) {  // a kind's option is read under that kind
      Json policy = PolicyOfKind(key.policy_kind);
      policy.update(config["policy"]);
      config["policy"] = policy;
    }
    auto parsed = ParsePipelineConfig(config.dump());
    REQUIRE(parsed.ok());
    const Json printed = Json::parse(PipelineConfigToJson(*parsed));
    CHECK(At(printed, key.key) == value);
    CHECK(At(printed, key.key) != Json::parse(key.default_json));
    ++tried;
  }
  // Only the structured keys are left out (profiles are the next case;
  // budget classes have tests of their own in pipeline_policy_test).
  CHECK(skipped == std::set<std::string>{"models", "policy.budget_classes"});
  CHECK(tried == static_cast<int>(ConfigKeys().size()) - 2 - 8);  // 8 profile keys
}

TEST_CASE("every profile key is settable", "[config]") {
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.key.rfind("models[].", 0) != 0 || key.key == "models[].name") continue;
    const std::string field = key.key.substr(9);
    const Json value = NonDefault(key);
    REQUIRE_FALSE(value.is_null());
    INFO(field << " = " << value.dump());
    Json profile = {{"name", "m"}, {field, value}};
    auto parsed = ParsePipelineConfig(Json{{"models", Json::array({profile})}}.dump());
    REQUIRE(parsed.ok());
    const Json printed = Json::parse(PipelineConfigToJson(*parsed));
    CHECK(printed["models"][0][field] == value);
  }
}

// Where each key lands, read from the struct by hand (not through the
// schema), so a key parsed into the wrong field fails below.
using Field = std::function<Json(const PipelineConfig&)>;

template <typename Options>
Field Of(std::function<Json(const Options&)> read) {
  return [read](const PipelineConfig& c) { return read(c.RouterOptions<Options>()); };
}

template <typename Options>
Field OfPolicy(std::function<Json(const Options&)> read) {
  return [read](const PipelineConfig& c) {
    const Options* held = c.policy.Get<Options>();
    return held != nullptr ? read(*held) : Json("(another kind)");
  };
}

// A sync key; a config without a block reads as the block's defaults, so
// that setting one sync key shows as changing that key only.
Field OfSync(std::function<Json(const SyncConfig&)> read) {
  return [read](const PipelineConfig& c) { return read(c.sync.value_or(SyncConfig{})); };
}

std::map<std::string, Field> Fields() {
  using K = KnnOptions;
  using C = ClusterOptions;
  using M = MfOptions;
  using L = LinUcbOptions;
  using S = StackedOptions;
  using B = BudgetPacingOptions;
  using T = ThresholdOptions;
  const auto& f = [](const PipelineConfig& c) -> const TextFeaturizerOptions& {
    return c.featurizer;
  };
  const auto& cons = [](const PipelineConfig& c) -> const Constraints& {
    return c.policy.constraints;
  };
  return {
      {"router", [](const PipelineConfig& c) { return Json(c.router); }},
      {"embedder", [](const PipelineConfig& c) { return Json(c.embedder); }},
      {"cost", [](const PipelineConfig& c) { return Json(c.cost); }},
      {"calibration.method",
       [](const PipelineConfig& c) { return Json(c.calibration.method); }},
      {"calibration.folds", [](const PipelineConfig& c) { return Json(c.calibration.folds); }},
      {"knn.k", Of<K>([](const K& o) { return Json(o.k); })},
      {"knn.weighting", Of<K>([](const K& o) {
         return Json(o.weighting == K::Weighting::kUniform ? "uniform" : "similarity");
       })},
      {"knn.hnsw_threshold", Of<K>([](const K& o) { return Json(o.hnsw_threshold); })},
      {"knn.hnsw_m", Of<K>([](const K& o) { return Json(o.hnsw_m); })},
      {"knn.hnsw_ef_construction", Of<K>([](const K& o) { return Json(o.hnsw_ef_construction); })},
      {"knn.hnsw_ef_search", Of<K>([](const K& o) { return Json(o.hnsw_ef_search); })},
      {"knn.hnsw_storage", Of<K>([](const K& o) {
         return Json(o.hnsw_storage == K::HnswStorage::kFloat  ? "float"
                     : o.hnsw_storage == K::HnswStorage::kHalf ? "fp16"
                                                                : "sq8");
       })},
      {"knn.batch_threads", Of<K>([](const K& o) { return Json(o.batch_threads); })},
      {"cluster.num_clusters", Of<C>([](const C& o) { return Json(o.num_clusters); })},
      {"cluster.assignment", Of<C>([](const C& o) {
         return Json(o.assignment == C::Assignment::kAuto        ? "auto"
                     : o.assignment == C::Assignment::kCentroids ? "centroids"
                                                                 : "sources");
       })},
      {"cluster.split_by_source", Of<C>([](const C& o) { return Json(o.split_by_source); })},
      {"cluster.classifier_l2", Of<C>([](const C& o) { return Json(o.classifier_l2); })},
      {"cluster.nearest_clusters", Of<C>([](const C& o) { return Json(o.nearest_clusters); })},
      {"cluster.temperature", Of<C>([](const C& o) { return Json(o.temperature); })},
      {"cluster.prior_strength", Of<C>([](const C& o) { return Json(o.prior_strength); })},
      {"cluster.kmeans_iterations", Of<C>([](const C& o) { return Json(o.kmeans_iterations); })},
      {"cluster.kmeans_restarts", Of<C>([](const C& o) { return Json(o.kmeans_restarts); })},
      {"cluster.seed", Of<C>([](const C& o) { return Json(o.seed); })},
      {"cluster.kmeans_threads", Of<C>([](const C& o) { return Json(o.kmeans_threads); })},
      {"mf.hidden_dim", Of<M>([](const M& o) { return Json(o.hidden_dim); })},
      {"mf.epochs", Of<M>([](const M& o) { return Json(o.epochs); })},
      {"mf.batch_size", Of<M>([](const M& o) { return Json(o.batch_size); })},
      {"mf.learning_rate", Of<M>([](const M& o) { return Json(o.learning_rate); })},
      {"mf.l2", Of<M>([](const M& o) { return Json(o.l2); })},
      {"mf.validation_fraction", Of<M>([](const M& o) { return Json(o.validation_fraction); })},
      {"mf.patience", Of<M>([](const M& o) { return Json(o.patience); })},
      {"mf.seed", Of<M>([](const M& o) { return Json(o.seed); })},
      {"mf.loss", Of<M>([](const M& o) {
         return Json(o.loss == M::Loss::kPairwise ? "pairwise" : "pointwise");
       })},
      {"mf.num_threads", Of<M>([](const M& o) { return Json(o.num_threads); })},
      {"mf.onboard_l2", Of<M>([](const M& o) { return Json(o.onboard_l2); })},
      {"linucb.context_dim", Of<L>([](const L& o) { return Json(o.context_dim); })},
      {"linucb.alpha", Of<L>([](const L& o) { return Json(o.alpha); })},
      {"linucb.ridge", Of<L>([](const L& o) { return Json(o.ridge); })},
      {"linucb.prior_quality", Of<L>([](const L& o) { return Json(o.prior_quality); })},
      {"linucb.seed", Of<L>([](const L& o) { return Json(o.seed); })},
      {"linucb.warm_start", Of<L>([](const L& o) { return Json(o.warm_start); })},
      {"linucb.reinvert_every", Of<L>([](const L& o) { return Json(o.reinvert_every); })},
      {"linucb.whiten", Of<L>([](const L& o) { return Json(o.whiten); })},
      {"linucb.clusters", Of<L>([](const L& o) { return Json(o.clusters); })},
      {"stacked.bases", Of<S>([](const S& o) { return Json(o.bases); })},
      {"stacked.folds", Of<S>([](const S& o) { return Json(o.folds); })},
      {"featurizer.word_buckets", [f](const PipelineConfig& c) { return Json(f(c).word_buckets); }},
      {"featurizer.char_buckets", [f](const PipelineConfig& c) { return Json(f(c).char_buckets); }},
      {"featurizer.min_char_ngram",
       [f](const PipelineConfig& c) { return Json(f(c).min_char_ngram); }},
      {"featurizer.max_char_ngram",
       [f](const PipelineConfig& c) { return Json(f(c).max_char_ngram); }},
      {"featurizer.dim", [f](const PipelineConfig& c) { return Json(f(c).dim); }},
      {"featurizer.seed", [f](const PipelineConfig& c) { return Json(f(c).seed); }},
      {"featurizer.power_iterations",
       [f](const PipelineConfig& c) { return Json(f(c).power_iterations); }},
      {"featurizer.max_text_bytes",
       [f](const PipelineConfig& c) { return Json(f(c).max_text_bytes); }},
      {"policy.kind", [](const PipelineConfig& c) { return Json(c.policy.kind); }},
      {"policy.optimism", [](const PipelineConfig& c) {
         return c.policy.optimism ? Json(*c.policy.optimism) : Json(nullptr);
       }},
      {"policy.constraints.allowed_models",
       [cons](const PipelineConfig& c) { return Json(cons(c).allowed_models); }},
      {"policy.constraints.denied_models",
       [cons](const PipelineConfig& c) { return Json(cons(c).denied_models); }},
      {"policy.constraints.allowed_tags",
       [cons](const PipelineConfig& c) { return Json(cons(c).allowed_tags); }},
      {"policy.constraints.denied_tags",
       [cons](const PipelineConfig& c) { return Json(cons(c).denied_tags); }},
      {"policy.constraints.max_latency_ms",
       [cons](const PipelineConfig& c) { return Json(cons(c).max_latency_ms); }},
      {"policy.constraints.enforce_context_window",
       [cons](const PipelineConfig& c) { return Json(cons(c).enforce_context_window); }},
      {"policy.lambda", OfPolicy<MaxUtilityOptions>(
                            [](const MaxUtilityOptions& o) { return Json(o.lambda); })},
      {"policy.tau", OfPolicy<QualityFloorOptions>(
                         [](const QualityFloorOptions& o) { return Json(o.tau); })},
      {"policy.target_cost_usd", OfPolicy<B>([](const B& o) { return Json(o.target_cost_usd); })},
      {"policy.pacing_step", OfPolicy<B>([](const B& o) { return Json(o.step); })},
      {"policy.max_multiplier", OfPolicy<B>([](const B& o) { return Json(o.max_multiplier); })},
      {"policy.pacing_state.multiplier",
       OfPolicy<B>([](const B& o) { return Json(o.initial.multiplier); })},
      {"policy.pacing_state.spend_usd",
       OfPolicy<B>([](const B& o) { return Json(o.initial.spend_usd); })},
      {"policy.pacing_state.requests",
       OfPolicy<B>([](const B& o) { return Json(o.initial.requests); })},
      {"policy.strong", OfPolicy<T>([](const T& o) { return Json(o.strong); })},
      {"policy.weak", OfPolicy<T>([](const T& o) { return Json(o.weak); })},
      {"policy.threshold", OfPolicy<T>([](const T& o) { return Json(o.threshold); })},
      {"policy.strong_share", OfPolicy<T>([](const T& o) { return Json(o.strong_share); })},
      {"policy.share_step", OfPolicy<T>([](const T& o) { return Json(o.share_step); })},
      {"removed_models", [](const PipelineConfig& c) { return Json(c.removed_models); }},
      {"limits.max_prompt_bytes",
       [](const PipelineConfig& c) { return Json(c.limits.max_prompt_bytes); }},
      {"limits.max_batch_size",
       [](const PipelineConfig& c) { return Json(c.limits.max_batch_size); }},
      {"limits.max_models", [](const PipelineConfig& c) { return Json(c.limits.max_models); }},
      {"limits.max_section_bytes",
       [](const PipelineConfig& c) { return Json(c.limits.max_section_bytes); }},
      {"sync.replica_id", OfSync([](const SyncConfig& s) { return Json(s.replica_id); })},
      {"sync.store", OfSync([](const SyncConfig& s) { return Json(s.store); })},
      {"sync.interval_ms", OfSync([](const SyncConfig& s) { return Json(s.interval_ms); })},
      {"sync.redis.host", OfSync([](const SyncConfig& s) { return Json(s.redis.host); })},
      {"sync.redis.port", OfSync([](const SyncConfig& s) { return Json(s.redis.port); })},
      {"sync.redis.key_prefix",
       OfSync([](const SyncConfig& s) { return Json(s.redis.key_prefix); })},
      {"sync.redis.password_env",
       OfSync([](const SyncConfig& s) { return Json(s.redis.password_env); })},
      {"sync.redis.timeout_ms",
       OfSync([](const SyncConfig& s) { return Json(s.redis.timeout_ms); })},
  };
}

std::map<std::string, std::function<Json(const Profile&)>> ProfileFields() {
  return {
      {"input_usd_per_mtok", [](const Profile& p) { return Json(p.input_usd_per_mtok); }},
      {"output_usd_per_mtok", [](const Profile& p) { return Json(p.output_usd_per_mtok); }},
      {"expected_output_tokens",
       [](const Profile& p) { return Json(p.expected_output_tokens); }},
      {"p50_latency_ms", [](const Profile& p) { return Json(p.p50_latency_ms); }},
      {"context_window", [](const Profile& p) { return Json(p.context_window); }},
      {"tags", [](const Profile& p) { return Json(p.tags); }},
      {"available", [](const Profile& p) { return Json(p.available); }},
  };
}

TEST_CASE("every config key lands in its own field and no other", "[config]") {
  const std::map<std::string, Field> fields = Fields();
  // Every key but the structured ones has a field here: a new key without
  // one fails, so no key goes untested.
  std::set<std::string> declared, listed;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.key.rfind("models", 0) != 0 && key.key != "policy.budget_classes") {
      declared.insert(key.key);
    }
  }
  for (const auto& [key, unused] : fields) listed.insert(key);
  CHECK(declared == listed);

  for (const ConfigKey& key : ConfigKeys()) {
    if (fields.count(key.key) == 0) continue;
    const Json value = NonDefault(key);
    REQUIRE_FALSE(value.is_null());
    INFO(key.key << " = " << value.dump());
    // Both configs have a policy object (a kind's option is read under that
    // kind), so that the kind's options are held in both.
    Json config = Nest(key.key, value);
    const Json base = {{"policy", key.policy_kind.empty() ? Json::object()
                                                           : PolicyOfKind(key.policy_kind)}};
    Json policy = base["policy"];
    if (config.contains("policy")) policy.update(config["policy"]);
    config["policy"] = policy;
    auto parsed = ParsePipelineConfig(config.dump());
    auto reference = ParsePipelineConfig(base.dump());
    REQUIRE(parsed.ok());
    REQUIRE(reference.ok());
    CHECK(fields.at(key.key)(*parsed) == value);
    for (const auto& [other, read] : fields) {
      if (other == key.key || (key.key == "policy.kind" && other.rfind("policy.", 0) == 0)) {
        continue;  // a new kind changes which kind's options there are
      }
      INFO("changed too: " << other);
      CHECK(read(*parsed) == read(*reference));
    }
  }
}

TEST_CASE("every profile key lands in its own field and no other", "[config]") {
  const auto fields = ProfileFields();
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.key.rfind("models[].", 0) != 0 || key.key == "models[].name") continue;
    const std::string field = key.key.substr(9);
    REQUIRE(fields.count(field) == 1);
    const Json value = NonDefault(key);
    INFO(field << " = " << value.dump());
    auto parsed = ParseProfile(Json{{"name", "m"}, {field, value}}.dump());
    REQUIRE(parsed.ok());
    CHECK(parsed->name == "m");
    const Profile defaults;
    for (const auto& [other, read] : fields) {
      CHECK(read(*parsed) == (other == field ? value : read(defaults)));
    }
  }
}

TEST_CASE("the config's keys are exactly the printed JSON's keys", "[config]") {
  std::set<std::string> declared;
  for (const ConfigKey& key : ConfigKeys()) declared.insert(key.key);
  std::set<std::string> printed;
  std::function<void(const Json&, const std::string&)> walk = [&](const Json& json,
                                                                  const std::string& at) {
    for (auto it = json.begin(); it != json.end(); ++it) {
      const std::string key = at.empty() ? it.key() : at + "." + it.key();
      // Nested objects are walked; maps and arrays are leaves.
      if (it->is_object() && key != "policy.budget_classes") {
        walk(*it, key);
      } else {
        printed.insert(key);
      }
    }
  };
  // Each policy kind prints its own options: walk a config of each kind.
  for (const std::string& kind : PolicyKindNames()) {
    auto config = ParsePipelineConfig(Json{{"policy", PolicyOfKind(kind)}}.dump());
    REQUIRE(config.ok());
    walk(Json::parse(PipelineConfigToJson(*config)), "");
  }
  // The sync block is printed only when there is one.
  auto synced = ParsePipelineConfig(R"({"sync": {}})");
  REQUIRE(synced.ok());
  walk(Json::parse(PipelineConfigToJson(*synced)), "");
  for (const std::string& key : printed) CHECK(declared.count(key) == 1);
  for (const std::string& key : declared) {
    if (key.rfind("models[].", 0) != 0) CHECK(printed.count(key) == 1);
  }
}

TEST_CASE("keys that could not be set before: kmeans_threads and max_multiplier", "[config]") {
  auto config = ParsePipelineConfig(R"({
    "cluster": {"kmeans_threads": 2},
    "policy": {"kind": "budget", "target_cost_usd": 1e-6, "max_multiplier": 5}})");
  REQUIRE(config.ok());
  CHECK(config->RouterOptions<ClusterOptions>().kmeans_threads == 2);
  CHECK(config->policy.Get<BudgetPacingOptions>()->max_multiplier == 5);
  // The bound takes effect: overspending pushes mu up to it and no further.
  auto policy = MakePolicy(config->policy);
  REQUIRE(policy.ok());
  Catalog catalog;
  REQUIRE(catalog.Add({.name = "dear", .input_usd_per_mtok = 10}).ok());
  Estimates estimates;
  estimates.per_model = {{.quality = 0.9, .expected_cost_usd = 1e-3}};
  Decision decision;
  for (int i = 0; i < 2000; ++i) REQUIRE((*policy)->Decide(estimates, catalog, {}, &decision).ok());
  const Json state = Json::parse((*policy)->StateJson());
  CHECK(state["multiplier"].get<double>() == 5.0);
  CHECK(ParsePipelineConfig(R"({"policy": {"max_multiplier": 0}})").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("router options are held per kind and reach the router of that kind", "[config]") {
  PipelineConfig config;
  CHECK(config.router_options.empty());
  const PipelineConfig& read_only = config;
  CHECK(read_only.RouterOptions<KnnOptions>().k == KnnOptions{}.k);  // absent: the defaults
  CHECK(config.router_options.empty());                              // and nothing added
  config.RouterOptions<KnnOptions>().k = 7;
  config.RouterOptions<ClusterOptions>().temperature = 0.5;
  CHECK(read_only.RouterOptions<KnnOptions>().k == 7);
  CHECK(config.router_options.size() == 2);
  // Both blocks are printed and read back; the one in use is `router`'s.
  auto parsed = ParsePipelineConfig(PipelineConfigToJson(config));
  REQUIRE(parsed.ok());
  CHECK(parsed->RouterOptions<KnnOptions>().k == 7);
  CHECK(parsed->RouterOptions<ClusterOptions>().temperature == 0.5);
  auto knn = MakeRouter(*parsed);
  REQUIRE(knn.ok());
  CHECK(dynamic_cast<const KnnRouter&>(**knn).options().k == 7);
  // Options of another type under a kind's name are refused, not ignored.
  config.router_options["knn"] = ClusterOptions{};
  auto mismatched = MakeRouter(config);
  CHECK(mismatched.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(mismatched.status().message()), Contains("\"knn\""));
}

TEST_CASE("config errors name the key and the rule", "[config]") {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"knn": {"kk": 3}})", "unknown key 'knn.kk' (known: k, weighting"},
      {R"({"knn": {"k": "three"}})", "'knn.k' must be an integer"},
      {R"({"knn": {"k": 0}})", "knn.k must be >= 1, got 0"},
      {R"({"linucb": {"ridge": 0}})", "linucb.ridge must be > 0, got 0"},
      {R"({"mf": {"validation_fraction": 0.95}})", "mf.validation_fraction must be in [0, 0.9]"},
      {R"({"mf": {"loss": "hinge"}})", R"('mf.loss' must be "pointwise" or "pairwise", got "hinge")"},
      {R"({"featurizer": {"min_char_ngram": 6}})", "min_char_ngram (6) must be <= max_char_ngram (5)"},
      {R"({"router": "oracle"})", R"('router' must be "knn", "cluster", "mf", "linucb" or "stacked")"},
      {R"({"policy": {"tau": 1.5}})", "policy.tau must be in [0, 1], got 1.5"},
      {R"({"policy": {"constraints": {"max_latency_ms": -1}}})",
       "policy.constraints.max_latency_ms must be >= 0"},
      {R"({"policy": {"budget_classes": {"free": {"tau": 2}}}})",
       "policy.budget_classes.free.tau must be in [-1, 1]"},
      {R"({"models": [{"input_usd_per_mtok": 1}]})", "'models[0].name' is required"},
      {R"({"limits": {"max_models": 0}})", "limits.max_models must be >= 1, got 0"},
      {R"({"cluster": {"kmeans_threads": -1}})", "cluster.kmeans_threads must be >= 0"},
      {R"({"sync": {"interval_ms": -1}})", "sync.interval_ms must be in [0, 3600000], got -1"},
      {R"({"sync": {"redis": {"key_prefix": ""}}})", "'sync.redis.key_prefix' must be 1 to 128"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    const auto parsed = ParsePipelineConfig(c.json);
    REQUIRE(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(parsed.status().message()), Contains(c.message));
  }
}

TEST_CASE("range checks are inclusive or exclusive as declared", "[config]") {
  // [0, 1] includes both ends; > 0 excludes 0; (0, 10] includes 10 only.
  CHECK(ParsePipelineConfig(R"({"policy": {"tau": 0}})").ok());
  CHECK(ParsePipelineConfig(R"({"policy": {"tau": 1}})").ok());
  CHECK_FALSE(ParsePipelineConfig(R"({"policy": {"tau": 1.0000001}})").ok());
  CHECK_FALSE(ParsePipelineConfig(R"({"cluster": {"temperature": 0}})").ok());
  CHECK(ParsePipelineConfig(R"({"cluster": {"temperature": 1e-9}})").ok());
  CHECK(ParsePipelineConfig(R"({"policy": {"pacing_step": 10}})").ok());
  CHECK_FALSE(ParsePipelineConfig(R"({"policy": {"pacing_step": 0}})").ok());
  CHECK(ParsePipelineConfig(R"({"linucb": {"context_dim": 1024}})").ok());
  CHECK_FALSE(ParsePipelineConfig(R"({"linucb": {"context_dim": 1025}})").ok());
}

TEST_CASE("docs/configuration.md carries the current reference table", "[config][docs]") {
  std::ifstream file(std::string(ROUTER_SOURCE_DIR) + "/docs/configuration.md");
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  const std::string doc = text.str();
  const std::string begin = "<!-- config-reference:begin -->\n";
  const std::string end = "<!-- config-reference:end -->";
  const size_t from = doc.find(begin), to = doc.find(end);
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  // On a change of the declarations, paste the table this prints there.
  INFO("the current table:\n" << ConfigReferenceMarkdown());
  CHECK(doc.substr(from + begin.size(), to - from - begin.size()) == ConfigReferenceMarkdown());
}


TEST_CASE("the sync block: absent unless given, its defaults, printed back", "[config][sync]") {
  auto none = ParsePipelineConfig("{}");
  REQUIRE(none.ok());
  CHECK_FALSE(none->sync.has_value());
  // No block, no key: files saved without sync read as before.
  CHECK_FALSE(Json::parse(PipelineConfigToJson(*none)).contains("sync"));
  auto null_block = ParsePipelineConfig(R"({"sync": null})");
  REQUIRE(null_block.ok());
  CHECK_FALSE(null_block->sync.has_value());

  auto defaults = ParsePipelineConfig(R"({"sync": {}})");
  REQUIRE(defaults.ok());
  REQUIRE(defaults->sync.has_value());
  const SyncConfig& d = *defaults->sync;
  CHECK(d.replica_id.empty());
  CHECK(d.store == "redis");
  CHECK(d.interval_ms == 200);
  CHECK(d.redis.host == "127.0.0.1");
  CHECK(d.redis.port == 6379);
  CHECK(d.redis.key_prefix == "router");
  CHECK(d.redis.password_env == "ROUTER_REDIS_PASSWORD");
  CHECK(d.redis.timeout_ms == 1000);
  // The defaults mirror the options StateSync and RedisSyncStore start from.
  CHECK(d.interval_ms == SyncOptions{}.interval_ms);
  CHECK(d.redis.host == RedisOptions{}.host);
  CHECK(d.redis.port == RedisOptions{}.port);
  CHECK(d.redis.key_prefix == RedisOptions{}.key_prefix);
  CHECK(d.redis.password_env == RedisOptions{}.password_env);
  CHECK(d.redis.timeout_ms == RedisOptions{}.timeout_ms);
  const Json printed = Json::parse(PipelineConfigToJson(*defaults));
  CHECK(printed["sync"] == Json::parse(R"({"replica_id": "", "store": "redis",
      "interval_ms": 200, "redis": {"host": "127.0.0.1", "port": 6379, "key_prefix": "router",
      "password_env": "ROUTER_REDIS_PASSWORD", "timeout_ms": 1000}})"));

  const Json block = Json::parse(R"({"replica_id": "pod-3", "store": "redis", "interval_ms": 50,
      "redis": {"host": "redis.internal", "port": 6390, "key_prefix": "gateway-prod",
                "password_env": "GW_REDIS_PASSWORD", "timeout_ms": 250}})");
  auto parsed = ParsePipelineConfig(Json{{"router", "linucb"}, {"sync", block}}.dump());
  REQUIRE(parsed.ok());
  REQUIRE(parsed->sync.has_value());
  CHECK(parsed->sync->replica_id == "pod-3");
  CHECK(parsed->sync->interval_ms == 50);
  CHECK(parsed->sync->redis.host == "redis.internal");
  CHECK(parsed->sync->redis.port == 6390);
  CHECK(parsed->sync->redis.key_prefix == "gateway-prod");
  CHECK(parsed->sync->redis.password_env == "GW_REDIS_PASSWORD");
  CHECK(parsed->sync->redis.timeout_ms == 250);
  CHECK(parsed->router == "linucb");  // the rest of the config is read as before
  // Round trip: printed, read back, printed again, the same.
  const std::string text = PipelineConfigToJson(*parsed);
  CHECK(Json::parse(text)["sync"] == block);
  auto again = ParsePipelineConfig(text);
  REQUIRE(again.ok());
  CHECK(PipelineConfigToJson(*again) == text);

  // Bounds and the memory store.
  CHECK(ParsePipelineConfig(R"({"sync": {"interval_ms": 0}})").ok());
  CHECK(ParsePipelineConfig(R"({"sync": {"interval_ms": 3600000}})").ok());
  CHECK(ParsePipelineConfig(R"({"sync": {"store": "memory:tests-1"}})").ok());
  CHECK(ParsePipelineConfig(R"({"sync": {"redis": {"password_env": ""}}})").ok());
  CHECK(ParsePipelineConfig(R"({"sync": {"redis": {"key_prefix": "{gw}:prod"}}})").ok());
}

TEST_CASE("bad sync values are refused, naming the key", "[config][sync]") {
  struct Case {
    const char* json;
    const char* message;
  };
  const std::string long_id(129, 'a');
  const std::string long_id_case = R"({"sync": {"replica_id": ")" + long_id + R"("}})";
  const Case cases[] = {
      {R"({"sync": []})", "'sync' must be an object or null"},
      {R"({"sync": "redis"})", "'sync' must be an object or null"},
      {R"({"sync": {"interval_ms": "200"}})", "'sync.interval_ms' must be an integer"},
      {R"({"sync": {"interval_ms": 1.5}})", "'sync.interval_ms' must be an integer"},
      {R"({"sync": {"interval_ms": -1}})", "sync.interval_ms must be in [0, 3600000], got -1"},
      {R"({"sync": {"interval_ms": 3600001}})", "sync.interval_ms must be in [0, 3600000]"},
      {R"({"sync": {"replica_id": 7}})", "'sync.replica_id' must be a string"},
      {R"({"sync": {"replica_id": "bad id!"}})", "'sync.replica_id' must be"},
      {long_id_case.c_str(), "'sync.replica_id' must be"},
      {R"({"sync": {"store": "postgres"}})", "'sync.store' must be \"redis\" or \"memory:NAME\""},
      {R"({"sync": {"store": "memory:"}})", "'sync.store' must be"},
      {R"({"sync": {"store": "memory:a b"}})", "'sync.store' must be"},
      {R"({"sync": {"store": null}})", "'sync.store' must be a string"},
      {R"({"sync": {"redis": []}})", "'sync.redis' must be an object"},
      {R"({"sync": {"redis": {"host": ""}}})", "'sync.redis.host' must be"},
      {R"({"sync": {"redis": {"host": 1}}})", "'sync.redis.host' must be a string"},
      {R"({"sync": {"redis": {"port": "6379"}}})", "'sync.redis.port' must be an integer"},
      {R"({"sync": {"redis": {"port": 0}}})", "sync.redis.port must be in [1, 65535], got 0"},
      {R"({"sync": {"redis": {"port": 65536}}})", "sync.redis.port must be in [1, 65535]"},
      {R"({"sync": {"redis": {"key_prefix": ""}}})", "'sync.redis.key_prefix' must be"},
      {R"({"sync": {"redis": {"key_prefix": "a b"}}})", "'sync.redis.key_prefix' must be"},
      {R"({"sync": {"redis": {"timeout_ms": 0}}})", "sync.redis.timeout_ms must be in [1, 60000]"},
      {R"({"sync": {"redis": {"password_env": "A B"}}})", "'sync.redis.password_env' must be"},
      {R"({"sync": {"bogus": 1}})", "unknown key 'sync.bogus' (known: replica_id, store"},
      {R"({"sync": {"redis": {"prot": 6379}}})", "unknown key 'sync.redis.prot' (known: host"},
      {R"({"sync": {"password": "hunter2"}})", "'sync.password' is not allowed"},
      {R"({"sync": {"redis": {"password": "hunter2"}}})", "'sync.redis.password' is not allowed"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    const auto parsed = ParsePipelineConfig(c.json);
    REQUIRE(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(parsed.status().message());
    CHECK_THAT(message, Contains(c.message));
    CHECK_THAT(message, !Contains("hunter2"));
  }
  // A password pasted into password_env by mistake is not echoed either.
  const auto pasted = ParsePipelineConfig(R"({"sync": {"redis": {"password_env": "s3cr=t"}}})");
  REQUIRE(pasted.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(pasted.status().message()), !Contains("s3cr"));

  // A block built in code is held to the same rules, and left unchanged.
  SyncConfig config;
  CHECK(ValidateSyncConfig(config).ok());
  config.redis.key_prefix = "";
  const SyncConfig before = config;
  const absl::Status status = ValidateSyncConfig(config);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Contains("'sync.redis.key_prefix'"));
  CHECK(config.redis.key_prefix == before.redis.key_prefix);
  config = SyncConfig{};
  config.interval_ms = -5;
  CHECK_THAT(std::string(ValidateSyncConfig(config).message()),
             Contains("sync.interval_ms must be in [0, 3600000], got -5"));
}

TEST_CASE("the sync block gives StateSync's and the Redis store's options", "[config][sync]") {
  SyncConfig config;
  config.interval_ms = 75;
  config.redis = {.host = "redis.internal", .port = 6390, .key_prefix = "gw",
                  .password_env = "GW_PASS", .timeout_ms = 300};
  // No replica id: <host name>-<process id>, a valid id.
  const SyncOptions generated = SyncOptionsFromConfig(config);
  CHECK(generated.replica_id == DefaultReplicaId());
  CHECK(generated.interval_ms == 75);
  const std::string pid = "-" + std::to_string(::getpid());
  const std::string& id = generated.replica_id;
  CHECK(id.size() <= 128);
  CHECK(id.size() > pid.size());
  CHECK(id.compare(id.size() - pid.size(), pid.size(), pid) == 0);
  config.replica_id = id;
  CHECK(ValidateSyncConfig(config).ok());
  config.replica_id = "pod-3";
  CHECK(SyncOptionsFromConfig(config).replica_id == "pod-3");

  const RedisOptions redis = RedisOptionsFromConfig(config);
  CHECK(redis.host == "redis.internal");
  CHECK(redis.port == 6390);
  CHECK(redis.key_prefix == "gw");
  CHECK(redis.password_env == "GW_PASS");
  CHECK(redis.timeout_ms == 300);
  CHECK(redis.password.empty());  // read from GW_PASS when the store connects
}

}  // namespace
}  // namespace router
