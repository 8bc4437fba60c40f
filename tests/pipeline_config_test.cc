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
#include "router/threshold_policy.h"

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

std::map<std::string, Field> Fields() {
  using K = KnnOptions;
  using C = ClusterOptions;
  using M = MfOptions;
  using L = LinUcbOptions;
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
      {"knn.k", Of<K>([](const K& o) { return Json(o.k); })},
      {"knn.weighting", Of<K>([](const K& o) {
         return Json(o.weighting == K::Weighting::kUniform ? "uniform" : "similarity");
       })},
      {"knn.hnsw_threshold", Of<K>([](const K& o) { return Json(o.hnsw_threshold); })},
      {"knn.hnsw_m", Of<K>([](const K& o) { return Json(o.hnsw_m); })},
      {"knn.hnsw_ef_construction", Of<K>([](const K& o) { return Json(o.hnsw_ef_construction); })},
      {"knn.hnsw_ef_search", Of<K>([](const K& o) { return Json(o.hnsw_ef_search); })},
      {"cluster.num_clusters", Of<C>([](const C& o) { return Json(o.num_clusters); })},
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
      {R"({"router": "oracle"})", R"('router' must be "knn", "cluster", "mf" or "linucb")"},
      {R"({"policy": {"tau": 1.5}})", "policy.tau must be in [0, 1], got 1.5"},
      {R"({"policy": {"constraints": {"max_latency_ms": -1}}})",
       "policy.constraints.max_latency_ms must be >= 0"},
      {R"({"policy": {"budget_classes": {"free": {"tau": 2}}}})",
       "policy.budget_classes.free.tau must be in [-1, 1]"},
      {R"({"models": [{"input_usd_per_mtok": 1}]})", "'models[0].name' is required"},
      {R"({"limits": {"max_models": 0}})", "limits.max_models must be >= 1, got 0"},
      {R"({"cluster": {"kmeans_threads": -1}})", "cluster.kmeans_threads must be >= 0"},
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

}  // namespace
}  // namespace router
