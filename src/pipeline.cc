#include "router/pipeline.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <unordered_map>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "router/calibration.h"
#include "router/status.h"
#include "router/threshold_policy.h"

namespace router {
namespace {

// The catalog of the data's models, with the config's profiles where given.
absl::StatusOr<Catalog> CatalogOf(const Dataset& data, const PipelineConfig& config) {
  std::unordered_map<std::string, const Profile*> configured;  // not absl: see catalog.h
  for (const Profile& profile : config.models) {
    if (data.ModelColumn(profile.name) < 0) {
      return absl::InvalidArgumentError(fmt::format(
          "config: model '{}' does not appear in the training data", profile.name));
    }
    configured[profile.name] = &profile;
  }
  Catalog catalog;
  for (const std::string& name : data.model_names) {
    auto it = configured.find(name);
    Profile profile;
    if (it != configured.end()) {
      profile = *it->second;
    } else {
      profile.name = name;
    }
    ROUTER_RETURN_IF_ERROR(catalog.Add(std::move(profile)));
  }
  return catalog;
}

// Per-thread buffers for the routing path.
struct RouteScratch {
  std::vector<float> vector;
  Estimates estimates;
  RequestOverrides overrides;  // a request's, with its budget class filled in
};

RouteScratch& ThreadRouteScratch() {
  thread_local RouteScratch scratch;
  return scratch;
}

// `data` with every prompt embedded by `featurizer` as its vectors; an error
// names the row.
absl::StatusOr<Dataset> Embedded(const TextFeaturizer& featurizer, const Dataset& data) {
  Dataset embedded = data;
  embedded.dim = featurizer.dim();
  embedded.vectors.assign(static_cast<size_t>(data.rows()) * embedded.dim, 0.0f);
  for (int64_t r = 0; r < data.rows(); ++r) {
    ROUTER_RETURN_IF_ERROR(Annotate(
        featurizer.Embed(data.prompts[r], absl::MakeSpan(embedded.vectors.data() +
                                                             r * embedded.dim,
                                                         embedded.dim)),
        fmt::format("row {} (id '{}')", r, data.ids[r])));
  }
  return embedded;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Fit(const Dataset& train,
                                                        const PipelineConfig& config) {
  if (train.rows() == 0) return absl::InvalidArgumentError("the training data has no rows");
  ROUTER_RETURN_IF_ERROR(train.Validate());
  ROUTER_RETURN_IF_ERROR(ValidateLimits(config.limits));
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Router> router, MakeRouter(config));
  ROUTER_ASSIGN_OR_RETURN(Catalog catalog, CatalogOf(train, config));
  ROUTER_RETURN_IF_ERROR(
      CheckLimit("a catalog", catalog.size(), config.limits.max_models, "max_models"));
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy,
                          MakePolicy(config.policy, router->learns_online()));

  bool use_featurizer;
  if (config.embedder == "builtin") {
    use_featurizer = true;
  } else if (config.embedder == "none") {
    if (!train.has_vectors()) {
      return absl::InvalidArgumentError(
          "embedder is \"none\" but the training data carries no vectors");
    }
    use_featurizer = false;
  } else if (config.embedder == "auto") {
    use_featurizer = !train.has_vectors();
  } else {
    return absl::InvalidArgumentError(
        fmt::format("unknown embedder \"{}\"", config.embedder));
  }

  auto pipeline = std::unique_ptr<Pipeline>(new Pipeline());
  std::optional<Dataset> embedded;
  if (use_featurizer) {
    auto featurizer = std::make_unique<TextFeaturizer>(config.featurizer);
    ROUTER_RETURN_IF_ERROR(featurizer->Fit(train.prompts));
    absl::StatusOr<Dataset> made = Embedded(*featurizer, train);
    if (!made.ok()) return Annotate(made.status(), "training");
    embedded = *std::move(made);
    pipeline->featurizer_ = std::move(featurizer);
  }
  // The rows with their vectors: the featurizer's, or the data's own.
  const Dataset& rows = embedded.has_value() ? *embedded : train;
  ROUTER_RETURN_IF_ERROR(router->Fit(rows, catalog));
  ROUTER_RETURN_IF_ERROR(pipeline->FitCostModel(rows, catalog, config));
  ROUTER_RETURN_IF_ERROR(pipeline->FitCalibrator(rows, config));
  pipeline->router_ = std::move(router);
  pipeline->config_ = config;
  ROUTER_RETURN_IF_ERROR(pipeline->CheckPolicyModels(config.policy, *policy));
  ROUTER_RETURN_IF_ERROR(pipeline->TrimRemovedModels(/*fitted_here=*/true));
  pipeline->policy_ = std::move(policy);
  pipeline->data_fingerprint_ = Fingerprint(train);
  pipeline->training_rows_ = train.rows();
  ROUTER_RETURN_IF_ERROR(pipeline->BuildCatalog());
  return pipeline;
}

absl::Status Pipeline::Embed(std::string_view text, absl::Span<float> out) const {
  if (featurizer_ == nullptr) {
    return absl::FailedPreconditionError(
        "this router was fitted on caller-supplied vectors and has no text embedder; "
        "route vectors instead");
  }
  ROUTER_RETURN_IF_ERROR(CheckLimit("a prompt", static_cast<int64_t>(text.size()),
                                    config_.limits.max_prompt_bytes, "max_prompt_bytes"));
  return featurizer_->Embed(text, out);
}

absl::Status Pipeline::AddLearned(std::string_view now, std::string_view before,
                                  bool adopt) const {
  return router_->AddLearned(now, before, adopt);
}

absl::Status Pipeline::Observe(const Feedback& feedback) const {
  // A removed model is unknown here even though the router still has it.
  ROUTER_RETURN_IF_ERROR(catalog_.Find(feedback.model).status());
  return router_->Observe(feedback);
}

absl::Status Pipeline::Estimate(const Query& query, Estimates* out) const {
  ROUTER_RETURN_IF_ERROR(router_->Estimate(query, out));
  Adjust(query, out);
  return absl::OkStatus();
}

absl::Status Pipeline::EstimateBatch(absl::Span<const Query> queries,
                                     absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(router_->EstimateBatch(queries, out));
  for (size_t i = 0; i < queries.size(); ++i) Adjust(queries[i], &out[i]);
  return absl::OkStatus();
}

void Pipeline::Adjust(const Query& query, Estimates* estimates) const {
  if (prices_changed_) ApplyPrices(query, estimates);
  if (cost_model_ != nullptr) ApplyCostModel(query, estimates);
  if (calibrator_ != nullptr) {
    for (int m = 0; m < catalog_.size(); ++m) {
      if (const MonotoneCalibrator* map = calibrator_of_model_[m]) {
        double& quality = estimates->per_model[m].quality;
        quality = map->Apply(quality);
      }
    }
  }
}

absl::Status Pipeline::FitCalibrator(const Dataset& train, const PipelineConfig& config) {
  if (config.calibration.method == "none") return absl::OkStatus();
  ROUTER_ASSIGN_OR_RETURN(const CalibrationMethod method,
                          CalibrationMethodNamed(config.calibration.method));
  // The fold pipelines take these rows' vectors, so no featurizer is refit.
  PipelineConfig on_vectors = config;
  on_vectors.embedder = "none";
  absl::StatusOr<QualityCalibrator> fitted =
      CrossFitCalibrator(train, on_vectors, config.calibration.folds, method);
  if (!fitted.ok()) return Annotate(fitted.status(), "fitting the calibration layer");
  for (const std::string& name : config.removed_models) fitted->Remove(name);
  calibrator_ = std::make_shared<QualityCalibrator>(*std::move(fitted));
  return absl::OkStatus();
}

absl::Status Pipeline::FitCostModel(const Dataset& train, const Catalog& catalog,
                                    const PipelineConfig& config) {
  if (config.cost != "per_prompt") return absl::OkStatus();
  ROUTER_ASSIGN_OR_RETURN(CostModel fitted, CostModel::Fit(train, catalog));
  for (const std::string& name : config.removed_models) fitted.Remove(name);
  if (!fitted.models().empty()) cost_model_ = std::make_shared<CostModel>(std::move(fitted));
  return absl::OkStatus();
}

absl::Status Pipeline::OnboardCostModel(const Profile& profile, const Dataset& examples) {
  // Token counts come from the prompts: examples without them (the C ABI's
  // vectors) leave the model to the router's estimate.
  const bool has_prompts =
      std::none_of(examples.prompts.begin(), examples.prompts.end(),
                   [](const std::string& prompt) { return prompt.empty(); });
  if (config_.cost != "per_prompt" || !has_prompts || !examples.has_vectors()) {
    return absl::OkStatus();
  }
  Catalog one;
  ROUTER_RETURN_IF_ERROR(one.Add(profile));
  ROUTER_ASSIGN_OR_RETURN(CostModel fitted, CostModel::Fit(examples, one));
  if (fitted.models().empty()) return absl::OkStatus();
  auto merged = cost_model_ != nullptr ? std::make_shared<CostModel>(*cost_model_)
                                       : std::make_shared<CostModel>();
  ROUTER_RETURN_IF_ERROR(merged->Merge(fitted));
  cost_model_ = std::move(merged);
  return absl::OkStatus();
}

void Pipeline::ApplyCostModel(const Query& query, Estimates* estimates) const {
  const int64_t tokens = InputTokens(query);
  for (int m = 0; m < catalog_.size(); ++m) {
    const int index = cost_model_index_[m];
    if (index < 0) continue;
    const Profile& profile = catalog_.at(m);
    estimates->per_model[m].expected_cost_usd =
        (static_cast<double>(tokens) * profile.input_usd_per_mtok +
         cost_model_->OutputTokens(index, query.vector, tokens) * profile.output_usd_per_mtok) *
        1e-6;
  }
}

absl::StatusOr<Query> Pipeline::EmbedQuery(std::string_view text) const {
  std::vector<float>& vector = ThreadRouteScratch().vector;
  vector.resize(dim());
  ROUTER_RETURN_IF_ERROR(Embed(text, absl::MakeSpan(vector)));
  Query query;
  query.vector = vector;
  query.text = text;
  return query;
}

absl::Status Pipeline::EstimateText(std::string_view text, Estimates* out) const {
  ROUTER_ASSIGN_OR_RETURN(Query query, EmbedQuery(text));
  return Estimate(query, out);
}

absl::Status Pipeline::Route(const Query& query, Decision* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("decision output is null");
  const std::string* budget_class = nullptr;
  Query resolved = query;
  if (query.overrides != nullptr && !query.overrides->budget_class.empty()) {
    budget_class = &query.overrides->budget_class;
    RequestOverrides& merged = ThreadRouteScratch().overrides;
    ROUTER_RETURN_IF_ERROR(ResolveBudgetClass(*query.overrides, &merged));
    resolved.overrides = &merged;
  }
  Estimates& estimates = ThreadRouteScratch().estimates;
  ROUTER_RETURN_IF_ERROR(Estimate(resolved, &estimates));
  ROUTER_RETURN_IF_ERROR(policy_->Decide(estimates, catalog(), resolved, out));
  out->trace.router_kind.assign(router_->kind());
  if (budget_class != nullptr) {
    fmt::format_to(std::back_inserter(out->trace.policy_parameters), ", budget_class={}",
                   *budget_class);
  }
  if (const std::string_view task = QueryTask(query); !task.empty()) {
    fmt::format_to(std::back_inserter(out->trace.policy_parameters), ", task={}", task);
  }
  return absl::OkStatus();
}

absl::Status Pipeline::ResolveBudgetClass(const RequestOverrides& request,
                                          RequestOverrides* merged) const {
  const auto& classes = config_.policy.budget_classes;
  const auto it = classes.find(request.budget_class);
  if (it == classes.end()) {
    std::vector<std::string> known;
    for (const auto& [name, unused] : classes) known.push_back(name);
    return absl::NotFoundError(fmt::format(
        "unknown budget class '{}' (the policy has: {})", request.budget_class,
        known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ", "))));
  }
  // What the request sets itself wins over its class.
  const RequestOverrides& preset = it->second;
  merged->lambda = request.lambda ? request.lambda : preset.lambda;
  merged->tau = request.tau ? request.tau : preset.tau;
  merged->allowed_models =
      request.allowed_models.empty() ? preset.allowed_models : request.allowed_models;
  merged->budget_class.clear();
  merged->task = request.task;
  return absl::OkStatus();
}

absl::Status Pipeline::RouteText(std::string_view text, Decision* out,
                                  const RequestOverrides* overrides) const {
  if (out == nullptr) return absl::InvalidArgumentError("decision output is null");
  ROUTER_ASSIGN_OR_RETURN(Query query, EmbedQuery(text));
  query.overrides = overrides;
  return Route(query, out);
}

absl::Status Pipeline::TrimRemovedModels(bool fitted_here) {
  for (const std::string& name : config_.removed_models) {
    if (!router_->catalog().Find(name).ok()) {
      // Removed before this file was saved; at Fit, a name of no model.
      if (fitted_here) return absl::NotFoundError(fmt::format("removed model '{}' is unknown", name));
      continue;
    }
    ROUTER_RETURN_IF_ERROR(router_->RemoveModel(name));
  }
  return absl::OkStatus();
}

absl::Status Pipeline::BuildCatalog() {
  const Catalog& fitted = router_->catalog();
  std::unordered_map<std::string, const Profile*> changed;  // not absl: see catalog.h
  for (const Profile& profile : config_.models) changed[profile.name] = &profile;
  Catalog catalog;
  bool prices_changed = false;
  for (int m = 0; m < fitted.size(); ++m) {
    const Profile& original = fitted.at(m);
    Profile profile = original;
    auto it = changed.find(original.name);
    if (it != changed.end()) {
      profile = *it->second;
      prices_changed = prices_changed ||
                       profile.input_usd_per_mtok != original.input_usd_per_mtok ||
                       profile.output_usd_per_mtok != original.output_usd_per_mtok ||
                       profile.expected_output_tokens != original.expected_output_tokens;
    }
    ROUTER_RETURN_IF_ERROR(catalog.Add(std::move(profile)));
  }
  catalog_ = std::move(catalog);
  prices_changed_ = prices_changed;
  calibrator_of_model_.assign(catalog_.size(), nullptr);
  if (calibrator_ != nullptr) {
    for (int m = 0; m < catalog_.size(); ++m) {
      calibrator_of_model_[m] = calibrator_->Find(catalog_.at(m).name);
    }
  }
  cost_model_index_.assign(catalog_.size(), -1);
  if (cost_model_ != nullptr) {
    for (int m = 0; m < catalog_.size(); ++m) {
      cost_model_index_[m] = cost_model_->Find(catalog_.at(m).name);
    }
  }
  return absl::OkStatus();
}

void Pipeline::ApplyPrices(const Query& query, Estimates* estimates) const {
  const Catalog& fitted = router_->catalog();
  const int64_t tokens = InputTokens(query);
  for (int m = 0; m < catalog_.size(); ++m) {
    if (cost_model_ != nullptr && cost_model_index_[m] >= 0) continue;  // ApplyCostModel's
    const double old_cost = fitted.at(m).ExpectedCostUsd(tokens);
    const double new_cost = catalog_.at(m).ExpectedCostUsd(tokens);
    if (old_cost != new_cost) {
      // Observed costs follow the price by the same factor; a model that was
      // free (or unpriced) takes the new list price.
      double& cost = estimates->per_model[m].expected_cost_usd;
      cost = old_cost > 0.0 ? cost * (new_cost / old_cost) : new_cost;
    }
  }
}

std::unique_ptr<Pipeline> Pipeline::Copy() const {
  auto copy = std::unique_ptr<Pipeline>(new Pipeline());
  copy->config_ = config_;
  copy->data_fingerprint_ = data_fingerprint_;
  copy->training_rows_ = training_rows_;
  copy->featurizer_ = featurizer_;
  copy->router_ = router_;
  copy->policy_ = policy_;
  copy->catalog_ = catalog_;
  copy->prices_changed_ = prices_changed_;
  copy->cost_model_ = cost_model_;
  copy->cost_model_index_ = cost_model_index_;
  copy->calibrator_ = calibrator_;
  copy->calibrator_of_model_ = calibrator_of_model_;
  return copy;
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithoutModel(std::string_view name) const {
  ROUTER_RETURN_IF_ERROR(catalog_.Find(name).status());
  if (catalog_.size() == 1) {
    return absl::FailedPreconditionError(
        fmt::format("cannot remove '{}': it is the last model", name));
  }
  // The router forgets the model on a copy, so routes on this pipeline are
  // not disturbed.
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Router> router, router_->Clone());
  ROUTER_RETURN_IF_ERROR(router->RemoveModel(name));
  if (absl::Status pair = policy_->CheckModels(router->catalog()); !pair.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot remove '{}' under this policy ({}); change the policy first", name,
        StdView(pair.message())));
  }
  std::unique_ptr<Pipeline> copy = Copy();
  copy->router_ = std::move(router);
  copy->config_.removed_models.emplace_back(name);
  if (cost_model_ != nullptr && cost_model_->Find(name) >= 0) {
    // Forgotten here too, so a model onboarded later under this name does
    // not inherit the old one's output lengths.
    auto without = std::make_shared<CostModel>(*cost_model_);
    without->Remove(name);
    copy->cost_model_ = without->models().empty() ? nullptr : std::move(without);
  }
  if (calibrator_ != nullptr && calibrator_->Find(name) != nullptr) {
    auto without = std::make_shared<QualityCalibrator>(*calibrator_);
    without->Remove(name);
    copy->calibrator_ = std::move(without);
  }
  ROUTER_RETURN_IF_ERROR(copy->BuildCatalog());
  return copy;
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithProfile(const Profile& profile) const {
  ROUTER_RETURN_IF_ERROR(catalog_.Find(profile.name).status());
  Catalog probe;  // validates names and prices
  ROUTER_RETURN_IF_ERROR(probe.Add(profile));
  std::unique_ptr<Pipeline> copy = Copy();
  std::vector<Profile>& models = copy->config_.models;
  auto it = std::find_if(models.begin(), models.end(),
                         [&](const Profile& p) { return p.name == profile.name; });
  if (it != models.end()) {
    *it = profile;
  } else {
    models.push_back(profile);
  }
  ROUTER_RETURN_IF_ERROR(copy->BuildCatalog());
  return copy;
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithPrice(std::string_view name,
                                                              double input_usd_per_mtok,
                                                              double output_usd_per_mtok) const {
  return WithChangedProfile(name, [&](Profile* profile) {
    profile->input_usd_per_mtok = input_usd_per_mtok;
    profile->output_usd_per_mtok = output_usd_per_mtok;
  });
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithChangedProfile(
    std::string_view name, const std::function<void(Profile*)>& change) const {
  ROUTER_ASSIGN_OR_RETURN(const int index, catalog_.Find(name));
  Profile profile = catalog_.at(index);
  change(&profile);
  return WithProfile(profile);
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithModel(const Profile& profile,
                                                              const Dataset& labelled) const {
  if (router_->catalog().Find(profile.name).ok()) {
    return absl::AlreadyExistsError(
        fmt::format("model '{}' is already known to the router", profile.name));
  }
  ROUTER_RETURN_IF_ERROR(labelled.Validate());
  ROUTER_RETURN_IF_ERROR(CheckLimit("a catalog", router_->catalog().size() + 1,
                                    config_.limits.max_models, "max_models"));
  ROUTER_RETURN_IF_ERROR(CheckLimit("a set of examples", labelled.rows(),
                                    config_.limits.max_batch_size, "max_batch_size"));
  if (labelled.has_vectors()) {
    for (int64_t r = 0; r < labelled.rows(); ++r) {
      ROUTER_RETURN_IF_ERROR(Annotate(ValidateVector(labelled.vector(r), dim(), "the vector"),
                                      fmt::format("example {}", r)));
    }
  }
  // The router is changed on a copy, so routes on this pipeline are not
  // disturbed.
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Router> router, router_->Clone());
  std::optional<Dataset> embedded;
  if (!labelled.has_vectors() && featurizer_ != nullptr) {
    absl::StatusOr<Dataset> made = Embedded(*featurizer_, labelled);
    if (!made.ok()) return Annotate(made.status(), "labelled");
    embedded = *std::move(made);
  }
  const Dataset& examples = embedded.has_value() ? *embedded : labelled;
  ROUTER_RETURN_IF_ERROR(router->OnboardModel(profile, examples));
  std::unique_ptr<Pipeline> copy = Copy();
  copy->router_ = std::move(router);
  ROUTER_RETURN_IF_ERROR(copy->OnboardCostModel(profile, examples));
  copy->config_.models.push_back(profile);
  std::erase(copy->config_.removed_models, profile.name);  // a removed name, added back
  ROUTER_RETURN_IF_ERROR(copy->BuildCatalog());
  return copy;
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithPolicy(const PolicyConfig& policy) const {
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Policy> made,
                          MakePolicy(policy, router_->learns_online()));
  ROUTER_RETURN_IF_ERROR(CheckPolicyModels(policy, *made));
  std::unique_ptr<Pipeline> copy = Copy();
  copy->policy_ = std::move(made);
  copy->config_.policy = policy;
  return copy;
}

absl::Status Pipeline::CheckPolicyModels(const PolicyConfig& policy, const Policy& made) const {
  const Catalog& known = router_->catalog();
  ROUTER_RETURN_IF_ERROR(made.CheckModels(known));
  const std::vector<std::string>& removed = config_.removed_models;
  auto check = [&](const std::string& name, const char* where) -> absl::Status {
    // A model removed at run time may stay named in constraints and classes.
    if (known.Find(name).ok() || std::find(removed.begin(), removed.end(), name) != removed.end()) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        fmt::format("policy: {} names '{}', which the router does not know", where, name));
  };
  for (const std::string& name : policy.constraints.allowed_models) {
    ROUTER_RETURN_IF_ERROR(check(name, "constraints.allowed_models"));
  }
  for (const std::string& name : policy.constraints.denied_models) {
    ROUTER_RETURN_IF_ERROR(check(name, "constraints.denied_models"));
  }
  for (const auto& [name, overrides] : policy.budget_classes) {
    const std::string where = fmt::format("budget_classes.{}.allowed_models", name);
    for (const std::string& model : overrides.allowed_models) {
      ROUTER_RETURN_IF_ERROR(check(model, where.c_str()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithAvailability(std::string_view name,
                                                                      bool available) const {
  return WithChangedProfile(name, [&](Profile* profile) { profile->available = available; });
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::WithCalibratedThreshold(
    absl::Span<const Query> sample, double strong_share) const {
  const ThresholdOptions* pair = config_.policy.Get<ThresholdOptions>();
  if (pair == nullptr) {
    return absl::FailedPreconditionError(fmt::format(
        "calibration needs the \"threshold\" policy; this pipeline's is \"{}\"",
        config_.policy.kind));
  }
  std::vector<Estimates> estimates(sample.size());
  for (size_t i = 0; i < sample.size(); ++i) {
    ROUTER_RETURN_IF_ERROR(Annotate(Estimate(sample[i], &estimates[i]),
                                    fmt::format("calibration query {}", i)));
  }
  ThresholdOptions options = *pair;
  ROUTER_ASSIGN_OR_RETURN(options.threshold,
                          ThresholdPolicy::Calibrate(estimates, catalog_, options.strong,
                                                     options.weak, strong_share,
                                                     policy_->optimism()));
  PolicyConfig calibrated = config_.policy;
  calibrated.Set(options);
  return WithPolicy(calibrated);
}

PipelineConfig Pipeline::ConfigWithPolicyState() const {
  PipelineConfig config = config_;
  policy_->Checkpoint(&config.policy);
  return config;
}

std::string Pipeline::PolicyStateJson() const { return policy_->StateJson(); }

}  // namespace router
