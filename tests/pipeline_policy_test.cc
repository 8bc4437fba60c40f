// Policies inside a fitted pipeline: config JSON, model names checked against
// the catalog, availability, request overrides through RouteText, threshold
// calibration, and the policies' live state surviving a save and a load.
#include <algorithm>
#include <any>
#include <cstdio>
#include <filesystem>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "router/budget_pacing_policy.h"
#include "router/cluster_router.h"
#include "router/knn_router.h"
#include "router/live_pipeline.h"
#include "router/max_utility_policy.h"
#include "router/pipeline.h"
#include "router/quality_floor_policy.h"
#include "router/synthetic.h"
#include "router/threshold_policy.h"

namespace router {
namespace {

struct Fitted {
  SyntheticData synthetic;
  std::unique_ptr<Pipeline> pipeline;
};

const Fitted& FittedOnce() {
  static const Fitted* fitted = [] {
    auto* f = new Fitted;
    f->synthetic = GenerateSynthetic({.rows = 900, .seed = 31});
    PipelineConfig config;
    config.models = f->synthetic.catalog.profiles();
    config.featurizer.dim = 32;
    config.RouterOptions<KnnOptions>().k = 15;
    auto pipeline = Pipeline::Fit(f->synthetic.dataset, config);
    REQUIRE(pipeline.ok());
    f->pipeline = std::move(pipeline).value();
    return f;
  }();
  return *fitted;
}

std::string TempPath(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("pipeline_policy_test_") + name + std::to_string(::getpid())))
      .string();
}

TEST_CASE("policy configs round-trip through JSON", "[pipeline][policy]") {
  PolicyConfig policy;
  policy.Set(BudgetPacingOptions{
      .target_cost_usd = 2e-4,
      .step = 0.02,
      .initial = {.multiplier = 1.5, .spend_usd = 0.3, .requests = 1000}});
  policy.optimism = 0.5;
  PipelineConfig config;
  config.policy = policy;
  auto parsed = ParsePipelineConfig(PipelineConfigToJson(config));
  REQUIRE(parsed.ok());
  CHECK(parsed->policy.kind == "budget");
  const auto* budget = parsed->policy.Get<BudgetPacingOptions>();
  REQUIRE(budget != nullptr);
  CHECK(budget->target_cost_usd == 2e-4);
  CHECK(budget->step == 0.02);
  CHECK(budget->initial.requests == 1000);
  CHECK(budget->initial.multiplier == 1.5);
  CHECK(parsed->policy.optimism == 0.5);
  // Unset optimism stays unset (it resolves by the router at fit time).
  CHECK_FALSE(ParsePipelineConfig("{}")->policy.optimism.has_value());
  auto threshold = ParsePolicyConfig(
      R"({"kind": "threshold", "strong": "a", "weak": "b", "threshold": 0.1, "strong_share": 0.3})");
  REQUIRE(threshold.ok());
  REQUIRE(threshold->Get<ThresholdOptions>() != nullptr);
  CHECK(threshold->Get<ThresholdOptions>()->strong_share == 0.3);
  CHECK(threshold->Get<ThresholdOptions>()->threshold == 0.1);
}

TEST_CASE("bad policy configs are clear errors", "[pipeline][policy]") {
  for (const char* json : {
           R"({"kind": "budget"})",                                  // no target
           R"({"kind": "budget", "target_cost_usd": -1})",
           R"({"kind": "budget", "target_cost_usd": 1e-4, "pacing_state": {"multiplier": -2}})",
           R"({"kind": "threshold", "strong": "a"})",                // no weak
           R"({"kind": "threshold", "strong": "a", "weak": "b", "strong_share": 2})",
           R"({"kind": "max_utility", "optimism": -1})",
           R"({"kind": "max_utility", "lambda": "cheap"})",
           R"({"kind": "telepathy"})",
           R"({"kind": "budget", "target_cost_usd": 1e-4, "pacing_stepp": 0.1})",
           R"({"kind": )",
       }) {
    INFO(json);
    CHECK(ParsePolicyConfig(json).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("a policy naming unknown models is refused and changes nothing", "[pipeline][policy]") {
  const Fitted& f = FittedOnce();
  PolicyConfig policy;
  policy.constraints.allowed_models = {f.synthetic.catalog.at(0).name, "gpt-nonexistent"};
  auto with = f.pipeline->WithPolicy(policy);
  REQUIRE_FALSE(with.ok());
  CHECK(with.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(with.status().message()).find("gpt-nonexistent") != std::string::npos);
  PolicyConfig pair;
  pair.Set(ThresholdOptions{.strong = f.synthetic.catalog.at(0).name, .weak = "nope"});
  CHECK(f.pipeline->WithPolicy(pair).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.pipeline->policy().name() == "max_utility");
}

TEST_CASE("a model marked down is never chosen until marked up", "[pipeline][policy]") {
  const Fitted& f = FittedOnce();
  LivePipeline live(f.pipeline->WithPolicy(PolicyConfig{}).value());
  const std::string prompt = SyntheticPrompt(0, 99);
  Decision d;
  REQUIRE(live.RouteText(prompt, &d).ok());
  const std::string usual = d.chosen.model;
  REQUIRE(live.SetAvailable(usual, false).ok());
  REQUIRE(live.RouteText(prompt, &d).ok());
  CHECK(d.chosen.model != usual);
  bool listed = false;
  for (const Exclusion& e : d.trace.excluded) listed |= e.model == usual && e.reason == "marked unavailable";
  CHECK(listed);
  REQUIRE(live.SetAvailable(usual, true).ok());
  REQUIRE(live.RouteText(prompt, &d).ok());
  CHECK(d.chosen.model == usual);
  CHECK(live.SetAvailable("no-such-model", false).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("request overrides reach the policy through RouteText", "[pipeline][policy]") {
  const Fitted& f = FittedOnce();
  const std::string prompt = SyntheticPrompt(1, 5);
  Decision free_choice, cheap, narrowed;
  REQUIRE(f.pipeline->RouteText(prompt, &free_choice).ok());
  RequestOverrides frugal;
  frugal.lambda = 1e9;
  REQUIRE(f.pipeline->RouteText(prompt, &cheap, &frugal).ok());
  // The cheapest model of the catalog wins at an enormous lambda.
  double cheapest = 1e300;
  for (const Candidate& c : cheap.ranked) cheapest = std::min(cheapest, c.expected_cost_usd);
  CHECK(cheap.chosen.expected_cost_usd == cheapest);
  RequestOverrides tenant;
  for (int m = 0; m < f.pipeline->catalog().size(); ++m) {
    if (f.pipeline->catalog().at(m).name != free_choice.chosen.model) {
      tenant.allowed_models.push_back(f.pipeline->catalog().at(m).name);
    }
  }
  REQUIRE(f.pipeline->RouteText(prompt, &narrowed, &tenant).ok());
  CHECK(narrowed.chosen.model != free_choice.chosen.model);
}

TEST_CASE("a request's task reaches the router, through a budget class too",
          "[pipeline][policy]") {
  const SyntheticData synthetic = GenerateSynthetic({.rows = 900, .seed = 31});
  PipelineConfig config;
  config.router = "cluster";  // its clusters are the topics, the data's sources
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 32;
  config.policy.budget_classes["quality"].lambda = 0.0;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  const Pipeline& pipeline = **fitted;
  const auto& router = dynamic_cast<const ClusterRouter&>(pipeline.router());
  REQUIRE(router.by_source_classifier());
  // A prompt of no topic's words: the text cannot say which topic it is.
  const std::string prompt = "please tell me about this";
  for (size_t t = 0; t < synthetic.topics.size(); ++t) {
    const std::string& topic = synthetic.topics[t];
    INFO(topic);
    const auto names = router.cluster_sources();
    const int cluster =
        static_cast<int>(std::find(names.begin(), names.end(), topic) - names.begin());
    REQUIRE(cluster < static_cast<int>(names.size()));
    RequestOverrides request;
    request.budget_class = "quality";
    request.task = topic;
    Decision decision;
    REQUIRE(pipeline.RouteText(prompt, &decision, &request).ok());
    REQUIRE(decision.trace.evidence.size() == 1);
    CHECK(decision.trace.evidence[0].id == cluster);
    CHECK(decision.chosen.model == synthetic.best_model_of_topic[t]);
    CHECK(decision.trace.policy_parameters.find("budget_class=quality, task=" + topic) !=
          std::string::npos);
  }
  // Without a task the classifier mixes the topics.
  Decision inferred;
  REQUIRE(pipeline.RouteText(prompt, &inferred).ok());
  CHECK(inferred.trace.evidence.size() == synthetic.topics.size());
  CHECK(inferred.trace.policy_parameters.find("task=") == std::string::npos);
}

TEST_CASE("a budget class supplies a request's overrides, the request's own win",
          "[pipeline][policy]") {
  const Fitted& f = FittedOnce();
  const std::string prompt = SyntheticPrompt(1, 5);
  Decision free_choice;
  REQUIRE(f.pipeline->RouteText(prompt, &free_choice).ok());
  const std::string usual = free_choice.chosen.model;
  std::string other;
  for (int m = 0; m < f.pipeline->catalog().size(); ++m) {
    if (f.pipeline->catalog().at(m).name != usual) other = f.pipeline->catalog().at(m).name;
  }
  auto policy = ParsePolicyConfig(absl::StrCat(
      R"({"budget_classes": {"frugal": {"lambda": 1e9}, "tenant": {"allowed_models": [")", other,
      R"("]}}})"));
  REQUIRE(policy.ok());
  auto with_classes = f.pipeline->WithPolicy(*policy);
  REQUIRE(with_classes.ok());
  const Pipeline& pipeline = **with_classes;

  RequestOverrides frugal;
  frugal.budget_class = "frugal";
  Decision cheap;
  REQUIRE(pipeline.RouteText(prompt, &cheap, &frugal).ok());
  double cheapest = 1e300;
  for (const Candidate& c : cheap.ranked) cheapest = std::min(cheapest, c.expected_cost_usd);
  CHECK(cheap.chosen.expected_cost_usd == cheapest);
  CHECK(cheap.trace.policy_parameters.find("budget_class=frugal") != std::string::npos);
  CHECK(cheap.trace.policy_parameters.find("(request override)") != std::string::npos);

  RequestOverrides tenant;
  tenant.budget_class = "tenant";
  Decision narrowed;
  REQUIRE(pipeline.RouteText(prompt, &narrowed, &tenant).ok());
  CHECK(narrowed.chosen.model == other);
  // The request's own allow-list wins over its class's.
  tenant.allowed_models = {usual};
  REQUIRE(pipeline.RouteText(prompt, &narrowed, &tenant).ok());
  CHECK(narrowed.chosen.model == usual);

  RequestOverrides unknown;
  unknown.budget_class = "platinum";
  Decision untouched;
  const absl::Status status = pipeline.RouteText(prompt, &untouched, &unknown);
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(status.message()).find("frugal, tenant") != std::string::npos);
  CHECK(untouched.chosen.model.empty());

  // Saved with the policy: the JSON round trip keeps the classes.
  PipelineConfig config;
  config.policy = *policy;
  auto parsed = ParsePipelineConfig(PipelineConfigToJson(config));
  REQUIRE(parsed.ok());
  REQUIRE(parsed->policy.budget_classes.size() == 2);
  CHECK(parsed->policy.budget_classes.at("frugal").lambda == 1e9);
  CHECK_FALSE(parsed->policy.budget_classes.at("frugal").tau.has_value());
  CHECK(parsed->policy.budget_classes.at("tenant").allowed_models ==
        std::vector<std::string>{other});
}

TEST_CASE("bad budget classes are refused when parsed or applied", "[pipeline][policy]") {
  for (const char* json : {
           R"({"budget_classes": {"free": {"lambda": -1}}})",
           R"({"budget_classes": {"free": {"tau": 3}}})",
           R"({"budget_classes": {"free": {"lamda": 1}}})",
           R"({"budget_classes": {"": {"lambda": 1}}})",
           R"({"budget_classes": ["free"]})",
           R"({"budget_classes": {"free": {"allowed_models": "small"}}})",
       }) {
    INFO(json);
    CHECK(ParsePolicyConfig(json).status().code() == absl::StatusCode::kInvalidArgument);
  }
  const Fitted& f = FittedOnce();
  auto unknown_model =
      ParsePolicyConfig(R"({"budget_classes": {"free": {"allowed_models": ["gpt-nonexistent"]}}})");
  REQUIRE(unknown_model.ok());
  const absl::Status status = f.pipeline->WithPolicy(*unknown_model).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find("budget_classes.free") != std::string::npos);
}

TEST_CASE("budget pacing state survives a save and a load", "[pipeline][policy][file]") {
  const Fitted& f = FittedOnce();
  PolicyConfig budget;
  budget.Set(BudgetPacingOptions{.target_cost_usd = 1e-5});
  auto paced = f.pipeline->WithPolicy(budget);
  REQUIRE(paced.ok());
  Decision d;
  for (int i = 0; i < 200; ++i) REQUIRE((*paced)->RouteText(SyntheticPrompt(i % 6, i), &d).ok());
  const PacingState before =
      dynamic_cast<const BudgetPacingPolicy&>((*paced)->policy()).state();
  CHECK(before.requests == 200);
  const std::string path = TempPath("budget");
  REQUIRE((*paced)->Save(path).ok());
  auto loaded = Pipeline::Load(path);
  std::remove(path.c_str());
  REQUIRE(loaded.ok());
  const PacingState after =
      dynamic_cast<const BudgetPacingPolicy&>((*loaded)->policy()).state();
  CHECK(after.requests == before.requests);
  CHECK(after.multiplier == before.multiplier);
  CHECK(after.spend_usd == before.spend_usd);
  CHECK((*loaded)->PolicyStateJson().find("\"requests\":200") != std::string::npos);
}

TEST_CASE("a budget pipeline saved and loaded makes the choices the running one makes",
          "[pipeline][policy][file]") {
  const Fitted& f = FittedOnce();
  PolicyConfig budget;
  budget.Set(BudgetPacingOptions{.target_cost_usd = 5e-4});
  auto running = f.pipeline->WithPolicy(budget);
  REQUIRE(running.ok());
  Decision d;
  for (int i = 0; i < 300; ++i) {
    REQUIRE((*running)->RouteText(SyntheticPrompt(i % 6, i), &d).ok());
  }
  auto restored = Pipeline::FromBytes((*running)->ToBytes().value());
  REQUIRE(restored.ok());
  auto fresh = f.pipeline->WithPolicy(budget);
  REQUIRE(fresh.ok());
  // The next prompts: the restored pipeline paces on from where the running
  // one was, so it chooses as the running one does; a fresh one does not.
  int differ = 0;
  for (int i = 300; i < 700; ++i) {
    const std::string prompt = SyntheticPrompt(i % 6, i);
    Decision expected, got, afresh;
    REQUIRE((*running)->RouteText(prompt, &expected).ok());
    REQUIRE((*restored)->RouteText(prompt, &got).ok());
    REQUIRE((*fresh)->RouteText(prompt, &afresh).ok());
    INFO("prompt " << i);
    CHECK(got.chosen.model == expected.chosen.model);
    differ += afresh.chosen.model != expected.chosen.model;
  }
  CHECK(differ > 0);  // so the comparison above can fail
}

TEST_CASE("threshold calibration on a sample hits its share on that sample",
          "[pipeline][policy]") {
  const Fitted& f = FittedOnce();
  PolicyConfig pair;
  pair.Set(ThresholdOptions{.strong = f.synthetic.catalog.at(f.synthetic.catalog.size() - 1).name,
                            .weak = f.synthetic.catalog.at(0).name});
  auto fixed = f.pipeline->WithPolicy(pair);
  REQUIRE(fixed.ok());
  std::vector<std::vector<float>> vectors(300, std::vector<float>(f.pipeline->dim()));
  std::vector<Query> sample(vectors.size());
  for (size_t i = 0; i < vectors.size(); ++i) {
    REQUIRE(f.pipeline->Embed(SyntheticPrompt(static_cast<int>(i % 6), 500 + i),
                              absl::MakeSpan(vectors[i])).ok());
    sample[i].vector = vectors[i];
  }
  auto calibrated = (*fixed)->WithCalibratedThreshold(sample, 0.3);
  REQUIRE(calibrated.ok());
  Decision d;
  for (const Query& q : sample) REQUIRE((*calibrated)->Route(q, &d).ok());
  const auto& policy = dynamic_cast<const ThresholdPolicy&>((*calibrated)->policy());
  CHECK(std::abs(policy.routing_share().share() - 0.3) < 0.03);
  CHECK(f.pipeline->WithCalibratedThreshold(sample, 0.3).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK((*fixed)->WithCalibratedThreshold(sample, 7.0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a policy reads its kind's keys, another kind's are checked, then dropped",
          "[pipeline][policy]") {
  auto floor = ParsePolicyConfig(R"({"kind": "quality_floor", "tau": 0.8, "lambda": 300})");
  REQUIRE(floor.ok());
  REQUIRE(floor->Get<QualityFloorOptions>() != nullptr);
  CHECK(floor->Get<QualityFloorOptions>()->tau == 0.8);
  CHECK(floor->Get<MaxUtilityOptions>() == nullptr);
  PipelineConfig config;
  config.policy = *floor;
  const std::string printed = PipelineConfigToJson(config);
  CHECK(printed.find("\"tau\": 0.8") != std::string::npos);
  CHECK(printed.find("lambda") == std::string::npos);  // not the kind's: not written
  // Another kind's key out of its range is still an error, naming it.
  auto bad = ParsePolicyConfig(R"({"kind": "quality_floor", "lambda": -1})");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("policy.lambda"));
  // A key no kind declares is an error naming it and the kind's own keys.
  auto unknown = ParsePolicyConfig(R"({"kind": "quality_floor", "tua": 0.8})");
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(std::string(unknown.status().message()),
             Catch::Contains("'policy.tua'") && Catch::Contains("tau"));
  // Without "kind", the default kind's keys apply.
  auto lambda = ParsePolicyConfig(R"({"lambda": 12})");
  REQUIRE(lambda.ok());
  REQUIRE(lambda->Get<MaxUtilityOptions>() != nullptr);
  CHECK(lambda->Get<MaxUtilityOptions>()->lambda == 12);
}

TEST_CASE("options of another kind's type are refused, none means the defaults",
          "[pipeline][policy]") {
  PolicyConfig mismatched;
  mismatched.kind = "budget";
  mismatched.options = QualityFloorOptions{.tau = 0.5};
  auto refused = MakePolicy(mismatched);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("\"budget\""));
  CHECK(mismatched.Get<BudgetPacingOptions>() == nullptr);
  CHECK(mismatched.Get<QualityFloorOptions>() == nullptr);  // the kind is not theirs
  PolicyConfig by_name;
  by_name.kind = "quality_floor";
  auto defaults = MakePolicy(by_name);
  REQUIRE(defaults.ok());
  CHECK(dynamic_cast<const QualityFloorPolicy&>(**defaults).tau() == QualityFloorOptions{}.tau);
  by_name.kind = "telepathy";
  CHECK(MakePolicy(by_name).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a tracked threshold resumes after a save and a load, target and step kept",
          "[pipeline][policy][file]") {
  const Fitted& f = FittedOnce();
  PolicyConfig pair;
  pair.Set(ThresholdOptions{.strong = f.synthetic.catalog.at(f.synthetic.catalog.size() - 1).name,
                            .weak = f.synthetic.catalog.at(0).name,
                            .threshold = 0.9,  // far too high for a 0.5 share
                            .strong_share = 0.5,
                            .share_step = 0.05});
  auto tracked = f.pipeline->WithPolicy(pair);
  REQUIRE(tracked.ok());
  Decision d;
  for (int i = 0; i < 100; ++i) REQUIRE((*tracked)->RouteText(SyntheticPrompt(i % 6, i), &d).ok());
  const double moved = dynamic_cast<const ThresholdPolicy&>((*tracked)->policy()).threshold();
  CHECK(moved < 0.9);
  auto loaded = Pipeline::FromBytes(*(*tracked)->ToBytes());
  REQUIRE(loaded.ok());
  const ThresholdOptions* resumed = (*loaded)->config().policy.Get<ThresholdOptions>();
  REQUIRE(resumed != nullptr);
  CHECK(resumed->threshold == moved);
  CHECK(resumed->strong_share == 0.5);
  CHECK(resumed->share_step == 0.05);
  const auto& policy = dynamic_cast<const ThresholdPolicy&>((*loaded)->policy());
  CHECK(policy.threshold() == moved);
  CHECK(policy.target_share() == 0.5);
}

// A host's own policy: the cheapest eligible model, with a quality bar set
// through PolicyConfig::options, from C++ or from JSON ("min_quality").
struct CheapestOptions {
  double min_quality = 0.0;
};

class CheapestPolicy : public Policy {
 public:
  CheapestPolicy(Constraints constraints, double min_quality)
      : Policy(std::move(constraints)), min_quality_(min_quality) {}
  std::string_view name() const override { return "cheapest"; }
  absl::Status Decide(const Estimates& estimates, const Catalog& catalog, const Query& query,
                      Decision* out) const override {
    if (absl::Status s = CollectEligible(estimates, catalog, query, out); !s.ok()) return s;
    for (Candidate& c : out->ranked) {
      c.utility = (c.predicted_quality >= min_quality_ ? 1.0 : 0.0) - c.expected_cost_usd;
    }
    SortByUtility(&out->ranked);
    out->chosen = out->ranked.front();
    return absl::OkStatus();
  }

 private:
  double min_quality_;
};

TEST_CASE("a host registers a policy kind of its own and configs can name it",
          "[pipeline][policy]") {
  PolicyKind cheapest{"cheapest", [](const PolicyConfig& config, double)
                                      -> absl::StatusOr<std::unique_ptr<Policy>> {
    const auto* options = std::any_cast<CheapestOptions>(&config.options);
    return std::make_unique<CheapestPolicy>(config.constraints,
                                            options != nullptr ? options->min_quality : 0.0);
  }};
  cheapest.options_json.keys = {"min_quality"};
  cheapest.options_json.read = [](std::string_view text, std::any* options) -> absl::Status {
    CheapestOptions read =
        options->has_value() ? std::any_cast<CheapestOptions>(*options) : CheapestOptions{};
    const nlohmann::json json = nlohmann::json::parse(text);
    if (json.contains("min_quality")) {
      if (!json["min_quality"].is_number()) {
        return absl::InvalidArgumentError("'min_quality' must be a number");
      }
      read.min_quality = json["min_quality"].get<double>();
    }
    *options = read;
    return absl::OkStatus();
  };
  cheapest.options_json.write = [](const std::any& options) {
    const auto* held = std::any_cast<CheapestOptions>(&options);
    return nlohmann::json{{"min_quality", held != nullptr ? held->min_quality : 0.0}}.dump();
  };
  PolicyKind shared_key = cheapest;
  shared_key.name = "cheapest_shared";
  shared_key.options_json.keys = {"optimism"};
  CHECK(RegisterPolicyKind(shared_key).code() == absl::StatusCode::kInvalidArgument);
  PolicyKind half = cheapest;
  half.name = "cheapest_half";
  half.options_json.read = nullptr;
  CHECK(RegisterPolicyKind(half).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(RegisterPolicyKind(cheapest).ok());
  CHECK(RegisterPolicyKind(cheapest).code() == absl::StatusCode::kAlreadyExists);
  CHECK(RegisterPolicyKind(PolicyKind{"", cheapest.make}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(RegisterPolicyKind(PolicyKind{"nameless-factory", nullptr}).code() ==
        absl::StatusCode::kInvalidArgument);
  const std::vector<std::string> names = PolicyKindNames();
  CHECK(std::find(names.begin(), names.end(), "cheapest") != names.end());

  // From JSON: the shared keys and the kind's own; others are refused.
  auto parsed = ParsePolicyConfig(
      R"({"kind": "cheapest", "min_quality": 0.6, "constraints": {"denied_models": ["x"]}})");
  REQUIRE(parsed.ok());
  CHECK(parsed->constraints.denied_models == std::vector<std::string>{"x"});
  REQUIRE(std::any_cast<CheapestOptions>(&parsed->options) != nullptr);
  CHECK(std::any_cast<CheapestOptions>(parsed->options).min_quality == 0.6);
  const auto unknown = ParsePolicyConfig(R"({"kind": "cheapest", "max_quality": 0.5})");
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(std::string(unknown.status().message()), Catch::Contains("min_quality"));
  const auto bad = ParsePolicyConfig(R"({"kind": "cheapest", "min_quality": "high"})");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("'min_quality' must be a number"));

  // Every decision goes to the cheapest model; with a bar, to the cheapest above it.
  const Fitted& f = FittedOnce();
  PolicyConfig policy;
  policy.kind = "cheapest";
  auto pipeline = f.pipeline->WithPolicy(policy);
  REQUIRE(pipeline.ok());
  // The cheapest of `d`'s candidates whose predicted quality is >= bar.
  auto cheapest_above = [](const Decision& d, double bar) {
    double cost = 1e9;
    for (const Candidate& c : d.ranked) {
      if (c.predicted_quality >= bar) cost = std::min(cost, c.expected_cost_usd);
    }
    return cost;
  };
  Decision d;
  REQUIRE((*pipeline)->RouteText(SyntheticPrompt(0, 1), &d).ok());
  CHECK(d.chosen.expected_cost_usd == cheapest_above(d, 0.0));
  policy.options = CheapestOptions{.min_quality = 0.6};
  auto strict = f.pipeline->WithPolicy(policy);
  REQUIRE(strict.ok());
  REQUIRE((*strict)->RouteText(SyntheticPrompt(0, 1), &d).ok());
  REQUIRE(cheapest_above(d, 0.6) < 1e9);  // some model clears the bar
  CHECK(cheapest_above(d, 0.6) > cheapest_above(d, 0.0));  // and it is not the cheapest
  CHECK(d.chosen.expected_cost_usd == cheapest_above(d, 0.6));
  // The bar set in JSON routes as the one set in C++.
  auto from_json_config = ParsePolicyConfig(R"({"kind": "cheapest", "min_quality": 0.6})");
  REQUIRE(from_json_config.ok());
  auto from_json = f.pipeline->WithPolicy(*from_json_config);
  REQUIRE(from_json.ok());
  Decision dj;
  REQUIRE((*from_json)->RouteText(SyntheticPrompt(0, 1), &dj).ok());
  CHECK(dj.chosen.model == d.chosen.model);
  // Saved and loaded like any policy (the kind is registered in this
  // process), its option with it.
  auto loaded = Pipeline::FromBytes(*(*strict)->ToBytes());
  REQUIRE(loaded.ok());
  CHECK((*loaded)->policy().name() == "cheapest");
  REQUIRE(std::any_cast<CheapestOptions>(&(*loaded)->config().policy.options) != nullptr);
  CHECK(std::any_cast<CheapestOptions>((*loaded)->config().policy.options).min_quality == 0.6);
  REQUIRE((*loaded)->RouteText(SyntheticPrompt(0, 1), &dj).ok());
  CHECK(dj.chosen.model == d.chosen.model);
}

}  // namespace
}  // namespace router
