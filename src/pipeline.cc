#include "router/pipeline.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "router/status.h"

namespace router {
namespace {

// The catalog of the data's models, with the config's profiles where given.
absl::StatusOr<Catalog> BuildCatalog(const Dataset& data, const PipelineConfig& config) {
  absl::flat_hash_map<std::string, const Profile*> configured;
  for (const Profile& profile : config.models) {
    if (data.ModelColumn(profile.name) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: model '", profile.name, "' does not appear in the training data"));
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
};

RouteScratch& ThreadRouteScratch() {
  thread_local RouteScratch scratch;
  return scratch;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Fit(const Dataset& train,
                                                        const PipelineConfig& config) {
  if (train.rows() == 0) return absl::InvalidArgumentError("the training data has no rows");
  ROUTER_RETURN_IF_ERROR(train.Validate());
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Router> router, MakeRouter(config));
  ROUTER_ASSIGN_OR_RETURN(Catalog catalog, BuildCatalog(train, config));
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy, MakePolicy(config.policy));

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
        absl::StrCat("unknown embedder \"", config.embedder, "\""));
  }

  auto pipeline = std::unique_ptr<Pipeline>(new Pipeline());
  if (use_featurizer) {
    auto featurizer = std::make_unique<TextFeaturizer>(config.featurizer);
    ROUTER_RETURN_IF_ERROR(featurizer->Fit(train.prompts));
    Dataset embedded = train;
    embedded.dim = featurizer->dim();
    embedded.vectors.assign(static_cast<size_t>(train.rows()) * embedded.dim, 0.0f);
    for (int64_t r = 0; r < train.rows(); ++r) {
      ROUTER_RETURN_IF_ERROR(Annotate(
          featurizer->Embed(train.prompts[r], absl::MakeSpan(embedded.vectors.data() +
                                                                 r * embedded.dim,
                                                             embedded.dim)),
          absl::StrCat("training row ", r, " (id '", train.ids[r], "')")));
    }
    ROUTER_RETURN_IF_ERROR(router->Fit(embedded, catalog));
    pipeline->featurizer_ = std::move(featurizer);
  } else {
    ROUTER_RETURN_IF_ERROR(router->Fit(train, catalog));
  }
  pipeline->router_ = std::move(router);
  pipeline->policy_ = std::move(policy);
  pipeline->config_ = config;
  pipeline->data_fingerprint_ = Fingerprint(train);
  pipeline->training_rows_ = train.rows();
  return pipeline;
}

absl::Status Pipeline::Embed(std::string_view text, absl::Span<float> out) const {
  if (featurizer_ == nullptr) {
    return absl::FailedPreconditionError(
        "this router was fitted on caller-supplied vectors and has no text embedder; "
        "route vectors instead");
  }
  return featurizer_->Embed(text, out);
}

absl::Status Pipeline::Estimate(const Query& query, Estimates* out) const {
  return router_->Estimate(query, out);
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
  return router_->Estimate(query, out);
}

absl::Status Pipeline::Route(const Query& query, Decision* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("decision output is null");
  Estimates& estimates = ThreadRouteScratch().estimates;
  ROUTER_RETURN_IF_ERROR(router_->Estimate(query, &estimates));
  ROUTER_RETURN_IF_ERROR(policy_->Decide(estimates, catalog(), query, out));
  out->trace.router_kind.assign(router_->kind());
  return absl::OkStatus();
}

absl::Status Pipeline::RouteText(std::string_view text, Decision* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("decision output is null");
  ROUTER_ASSIGN_OR_RETURN(Query query, EmbedQuery(text));
  return Route(query, out);
}

}  // namespace router
