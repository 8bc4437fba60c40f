// File: router/pipeline_config.h
//
// PipelineConfig: what a Pipeline is fitted with (router kind and options,
// embedder, policy, model profiles, limits), and its JSON form. Every field
// of every options struct is declared once, in src/internal/option_schemas.cc
// and src/pipeline_config.cc; that declaration drives parsing, printing,
// range validation and docs/configuration.md's reference table. Router
// kinds' options are held by kind name (router_options), so this header
// names no router type: include the kind's header for its options struct.
#ifndef ROUTER_PIPELINE_CONFIG_H_
#define ROUTER_PIPELINE_CONFIG_H_

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/config_key.h"
#include "router/constraints.h"
#include "router/export.h"
#include "router/kind_options.h"
#include "router/limits.h"
#include "router/policy_config.h"
#include "router/profile.h"
#include "router/router.h"
#include "router/sync_config.h"
#include "router/text_featurizer.h"

namespace router {

// The optional calibration layer of predicted quality (router/calibration.h):
// per model, a monotone map fitted at Pipeline::Fit on cross-fitted
// predictions of the training rows, applied to every estimate.
struct CalibrationConfig {
  // "none" (the default), "isotonic" or "platt".
  std::string method = "none";
  // Cross-fitting folds, by prompt; the fit costs `folds` extra router fits.
  int folds = 5;
};

struct PipelineConfig {
  // A registered router kind: "knn", "cluster", "mf", "linucb" (RouterKinds()).
  std::string router = "knn";
  // Options per router kind, by kind name: the config's "knn": {...},
  // "cluster": {...} blocks. A config may carry several kinds' options
  // (router eval fits each); `router` picks the one in use. Go through
  // RouterOptions<KnnOptions>() and the like; a kind without an entry uses
  // its defaults. (MfOptions' progress callback is not part of the JSON.)
  std::map<std::string, std::any, std::less<>> router_options;

  // The options of KindOptions' kind (KindOptions::kKind), added at their
  // defaults if absent: config.RouterOptions<KnnOptions>().k = 8.
  template <typename KindOptions>
  KindOptions& RouterOptions() {
    std::any& held = router_options[KindOptions::kKind];
    if (std::any_cast<KindOptions>(&held) == nullptr) held = KindOptions{};
    return *std::any_cast<KindOptions>(&held);
  }
  // The options of KindOptions' kind; its defaults when absent.
  template <typename KindOptions>
  const KindOptions& RouterOptions() const {
    static const KindOptions* const defaults = new KindOptions();
    const auto it = router_options.find(KindOptions::kKind);
    const KindOptions* held =
        it == router_options.end() ? nullptr : std::any_cast<KindOptions>(&it->second);
    return held != nullptr ? *held : *defaults;
  }

  // "auto": the built-in featurizer when the data has no vectors, else none.
  // "builtin": always fit the featurizer on the prompts (and ignore vectors).
  // "none": the data must carry vectors; text routing is unavailable.
  std::string embedder = "auto";
  // How a route predicts each model's cost (router/cost_model.h).
  // "per_prompt": the prompt's own input tokens at the model's input price,
  // plus output tokens learned per prompt from the training costs, for
  // models with an output price; the router's estimate for the rest.
  // "router": the router's estimate (costs observed near the query).
  std::string cost = "per_prompt";
  CalibrationConfig calibration;
  TextFeaturizerOptions featurizer;
  PolicyConfig policy;
  // Profiles for the data's models (prices, context window, tags). Models of
  // the data without a profile here get a profile with their name only.
  // After a fit, a profile here overrides the fitted one at routing time (a
  // price change: see Pipeline::WithProfile).
  std::vector<Profile> models;
  // Models taken out of service at run time (Pipeline::WithoutModel). The
  // router forgets them: at Fit, and when a file saved before removals
  // reached the router's state is loaded. Constraints and budget classes
  // may still name them.
  std::vector<std::string> removed_models;
  // Size limits for routing and fitting with this pipeline (router/limits.h).
  Limits limits;
  // How replicas of this pipeline share state ("sync" in the JSON;
  // router/sync_config.h); unset (the default) when the config has no
  // block. Nothing starts a sync by itself: the host does, from this.
  std::optional<SyncConfig> sync;
};

// Parses a JSON config; every field is optional. Unknown keys are errors, so
// a typo does not silently fall back to a default. Errors name the key.
ROUTER_EXPORT absl::StatusOr<PipelineConfig> ParsePipelineConfig(std::string_view json);

// Parses one entry of a config's "models" list on its own (same rules):
// {"name": "m", "input_usd_per_mtok": 0.5, ...}.
ROUTER_EXPORT absl::StatusOr<Profile> ParseProfile(std::string_view json);

// The JSON text of `config`, every field written; ParsePipelineConfig reads
// it back to an equal config.
ROUTER_EXPORT std::string PipelineConfigToJson(const PipelineConfig& config);

// An unfitted router of the kind and options `config` names.
ROUTER_EXPORT absl::StatusOr<std::unique_ptr<Router>> MakeRouter(const PipelineConfig& config);

// A router kind: its name in PipelineConfig::router and how to make an
// unfitted router of it from a config. The config parser, MakeRouter,
// Pipeline::Load and the CLI know kinds only through this registry.
struct RouterKind {
  std::string name;
  // Its routers' kind() must be `name` (MakeRouter checks).
  std::function<std::unique_ptr<Router>(const PipelineConfig& config)> make;
  // Optional: the kind's "<name>": {...} block in JSON configs and saved
  // files, read into and written from router_options[name]. Without it the
  // kind's options are set from C++ only and not saved.
  KindOptionsJson options_json = {};
};

// The registered kinds: the built-in ones (src/router_kinds.cc) first, then
// those added by RegisterRouterKind, in order. Thread-safe.
ROUTER_EXPORT std::vector<RouterKind> RouterKinds();

// Adds a router kind, so configs can name it and saved files of it load (a
// host's own router, say). AlreadyExists for a name already registered;
// InvalidArgument for an empty name, a name that is a config key ("policy"),
// no factory, or options_json with one function of the two. Thread-safe.
ROUTER_EXPORT absl::Status RegisterRouterKind(RouterKind kind);

// Every key of the config, in the order of the JSON that
// PipelineConfigToJson writes (models[] keys last).
ROUTER_EXPORT std::vector<ConfigKey> ConfigKeys();

// ConfigKeys() as a Markdown table. docs/configuration.md carries it
// between markers; a test checks that it is current.
ROUTER_EXPORT std::string ConfigReferenceMarkdown();

}  // namespace router

#endif  // ROUTER_PIPELINE_CONFIG_H_

