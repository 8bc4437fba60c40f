// File: router/pipeline.h
//
// A Pipeline is the whole routing path in one object: an optional Embedder
// (the built-in TextFeaturizer unless the data carries its own vectors), a
// fitted Router and a Policy. It is what the C ABI's router_t wraps.
//
//   auto data = router::LoadJsonl("queries.jsonl");
//   auto config = router::ParsePipelineConfig(R"({"policy": {"lambda": 2000}})");
//   auto pipeline = router::Pipeline::Fit(*data, *config);
//   router::Decision decision;
//   (*pipeline)->RouteText("Prove that sqrt(2) is irrational.", &decision);
//
// Thread safety: after Fit, every const method may be called from many
// threads at once.
#ifndef ROUTER_PIPELINE_H_
#define ROUTER_PIPELINE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/catalog.h"
#include "router/cost_model.h"
#include "router/dataset.h"
#include "router/decision.h"
#include "router/embedder.h"
#include "router/export.h"
#include "router/limits.h"
#include "router/pipeline_config.h"
#include "router/policy.h"
#include "router/profile.h"
#include "router/request_overrides.h"
#include "router/router.h"
#include "router/text_featurizer.h"

namespace router {

class MonotoneCalibrator;  // router/calibration.h (experimental tier)
class QualityCalibrator;

class ROUTER_EXPORT Pipeline {
 public:
  // Fits the embedder (if any) and the router on every row of `train`. The
  // doors that fit from a whole dataset (the C ABI, `router fit`, `router
  // eval`) pass it data.Subset(data.FitRows()): train and unset rows.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Fit(const Dataset& train,
                                                       const PipelineConfig& config);

  // Routes a prompt, with the request's own policy parameters when
  // `overrides` is not null. FailedPrecondition when the pipeline has no
  // embedder.
  absl::Status RouteText(std::string_view text, Decision* out,
                         const RequestOverrides* overrides = nullptr) const;
  // Routes a query whose vector the host computed (dimension dim()).
  absl::Status Route(const Query& query, Decision* out) const;

  // The estimates for a prompt or a query (for evaluation and tools): the
  // router's, with costs at the current prices and, for the models the cost
  // model covers, per prompt; qualities through the calibrator, if any.
  absl::Status EstimateText(std::string_view text, Estimates* out) const;
  absl::Status Estimate(const Query& query, Estimates* out) const;
  // Estimate for many queries at once (Router::EstimateBatch: one search for
  // all of them where the router can); `out` has queries.size() entries.
  absl::Status EstimateBatch(absl::Span<const Query> queries, absl::Span<Estimates> out) const;

  // Passes the outcome of a routed request to the router (Router::Observe;
  // `feedback.vector` is the routed query's vector). Safe with concurrent
  // routing for routers that learn online; offline routers validate it and
  // learn nothing.
  absl::Status Observe(const Feedback& feedback) const;
  // Adds another replica's learned statistics to the router
  // (Router::AddLearned; StateSync uses it).
  absl::Status AddLearned(std::string_view now, std::string_view before, bool adopt) const;

  // Embeds `text` into `out` (dim() floats).
  absl::Status Embed(std::string_view text, absl::Span<float> out) const;

  // Writes everything needed to route (config, catalog, featurizer, router
  // state, training-data fingerprint) to one file, atomically: an existing
  // file at `path` is replaced only once the new one is complete on disk.
  // docs/file-format.md describes the layout.
  absl::Status Save(const std::string& path) const;
  // Reads a file Save wrote. Validates all of it first: a truncated,
  // corrupt or foreign file is DataLoss, a file from a newer format version
  // FailedPrecondition, each with a message naming the problem.
  // `limits` are the loading host's (max_section_bytes, max_models): a file
  // over them is ResourceExhausted, whatever limits its own config names.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Load(const std::string& path,
                                                        const Limits& limits = {});
  // The same from the bytes of a file (`what` names them in errors).
  static absl::StatusOr<std::unique_ptr<Pipeline>> FromBytes(std::string_view bytes,
                                                             std::string_view what = "<bytes>",
                                                             const Limits& limits = {});
  // The file image Save writes.
  absl::StatusOr<std::string> ToBytes() const;

  // Replaces the policy (not thread-safe with concurrent routing).
  void set_policy(std::unique_ptr<Policy> policy) { policy_ = std::move(policy); }

  // Run-time changes. Each returns a new pipeline and leaves this one as it
  // was, so a server swaps the result in (LivePipeline) while routes in
  // flight finish on the old one. The new pipeline shares the fitted
  // featurizer and router with this one unless it needs a changed router.
  //
  // A copy whose router forgets model `name` (Router::RemoveModel on a
  // Router::Clone): it is never chosen, and Estimate no longer lists it.
  // NotFound for an unknown name; FailedPrecondition for the last model or
  // for one the policy needs (a threshold policy's pair); Unimplemented
  // for a router kind that cannot remove.
  absl::StatusOr<std::unique_ptr<Pipeline>> WithoutModel(std::string_view name) const;
  // A copy in which the catalog model `profile.name` has `profile` (new
  // prices, latency, context window or tags). Cost estimates scale by the
  // ratio of the new to the old expected cost of each request, so observed
  // costs in the router's data follow a price change.
  absl::StatusOr<std::unique_ptr<Pipeline>> WithProfile(const Profile& profile) const;
  // A copy in which model `name` has new prices (USD per million input and
  // output tokens); the rest of its profile is kept. Read and written in one
  // step, so under LivePipeline it cannot undo a concurrent change of the
  // same profile.
  absl::StatusOr<std::unique_ptr<Pipeline>> WithPrice(std::string_view name,
                                                      double input_usd_per_mtok,
                                                      double output_usd_per_mtok) const;
  // A copy that can also choose `profile.name`, learned from `labelled` (its
  // rows with a score for that model; prompts are embedded when the rows
  // carry no vectors) by Router::OnboardModel on a copy of the router.
  // Unimplemented for routers that cannot onboard (kNN).
  absl::StatusOr<std::unique_ptr<Pipeline>> WithModel(const Profile& profile,
                                                      const Dataset& labelled) const;
  // A copy with another policy. InvalidArgument when the policy names a
  // model (allow/deny lists, the threshold pair) the catalog does not have.
  absl::StatusOr<std::unique_ptr<Pipeline>> WithPolicy(const PolicyConfig& policy) const;
  // A copy in which model `name` is marked up or down (Profile::available).
  absl::StatusOr<std::unique_ptr<Pipeline>> WithAvailability(std::string_view name,
                                                             bool available) const;
  // A copy whose threshold policy sends `strong_share` of `sample` (recent
  // or representative queries) to the strong model
  // (ThresholdPolicy::Calibrate). FailedPrecondition unless the policy is
  // "threshold".
  absl::StatusOr<std::unique_ptr<Pipeline>> WithCalibratedThreshold(
      absl::Span<const Query> sample, double strong_share) const;

  // The policy's live state as a JSON object: its kind and parameters, and
  // for "budget" the pacing state, for "threshold" the realised share.
  std::string PolicyStateJson() const;

  int dim() const { return router_->dim(); }
  // The models the policy chooses from (the router's, minus removed models,
  // with changed profiles); Estimate and Decisions are indexed like it.
  const Catalog& catalog() const { return catalog_; }
  const Router& router() const { return *router_; }
  // Null when costs are the router's (config "cost", or no priced model).
  const CostModel* cost_model() const { return cost_model_.get(); }
  // Null unless config "calibration.method" names one: the per-model maps
  // every estimate's quality goes through.
  const QualityCalibrator* calibrator() const { return calibrator_.get(); }
  const Policy& policy() const { return *policy_; }
  // Null when the pipeline routes vectors only.
  const Embedder* embedder() const { return featurizer_.get(); }
  // The config it was fitted with (its policy is the initial policy).
  const PipelineConfig& config() const { return config_; }
  // Fingerprint(train) of the training data, and its row count.
  const std::string& data_fingerprint() const { return data_fingerprint_; }
  int64_t training_rows() const { return training_rows_; }

 private:
  Pipeline() = default;
  // A Query over `text` and its vector, embedded into a per-thread buffer
  // that stays valid until the next call on this thread.
  absl::StatusOr<Query> EmbedQuery(std::string_view text) const;

  // Makes the router forget config_.removed_models it still has (a fresh
  // Fit, or a file saved before removals reached the router). At Fit
  // (`fitted_here`) a name the router never had is NotFound.
  absl::Status TrimRemovedModels(bool fitted_here);
  // Sets catalog_: the router's models, in its order, with config_'s
  // profiles where they differ (a price change).
  absl::Status BuildCatalog();
  // Scales the estimated costs of models whose price changed since the fit.
  void ApplyPrices(const Query& query, Estimates* estimates) const;
  // Fits calibrator_ when config.calibration asks; `train` as FitCostModel's
  // (with vectors).
  absl::Status FitCalibrator(const Dataset& train, const PipelineConfig& config);
  // What Estimate adds to the router's estimates: prices, per-prompt costs,
  // calibrated qualities.
  void Adjust(const Query& query, Estimates* estimates) const;
  // Fits cost_model_ on the router's training data when config.cost asks.
  absl::Status FitCostModel(const Dataset& train, const Catalog& catalog,
                            const PipelineConfig& config);
  // Fits the per-prompt cost of onboarded model `profile` from its examples
  // (with vectors) when they carry prompts and the config asks for it.
  absl::Status OnboardCostModel(const Profile& profile, const Dataset& examples);
  // Replaces the estimated cost of each model the cost model covers by its
  // per-prompt prediction at the current prices.
  void ApplyCostModel(const Query& query, Estimates* estimates) const;
  // A copy sharing the featurizer, router and policy.
  std::unique_ptr<Pipeline> Copy() const;
  // WithProfile of model `name`'s current profile after `change`.
  absl::StatusOr<std::unique_ptr<Pipeline>> WithChangedProfile(
      std::string_view name, const std::function<void(Profile*)>& change) const;
  // InvalidArgument when `policy` (its constraints and budget classes) or
  // `made` (Policy::CheckModels) names a model the router does not know.
  absl::Status CheckPolicyModels(const PolicyConfig& policy, const Policy& made) const;
  // `request` with its budget class's values filled in where it sets none;
  // NotFound for a class the policy does not have.
  absl::Status ResolveBudgetClass(const RequestOverrides& request,
                                  RequestOverrides* merged) const;
  // config_ with the policy's live state (budget pacing) folded in, for Save.
  PipelineConfig ConfigWithPolicyState() const;

  PipelineConfig config_;
  std::string data_fingerprint_;
  int64_t training_rows_ = 0;
  std::shared_ptr<const TextFeaturizer> featurizer_;
  std::shared_ptr<Router> router_;
  std::shared_ptr<const Policy> policy_;
  // The router's models, indexed as its estimates are, with the current
  // profiles (config_.models).
  Catalog catalog_;
  // True when a model's price differs from the router's (ApplyPrices runs).
  bool prices_changed_ = false;
  // Per-prompt costs (config "cost": "per_prompt"); null when off or when
  // no model is covered. cost_model_index_[m] is catalog model m's index in
  // cost_model_->models(), or -1.
  std::shared_ptr<const CostModel> cost_model_;
  std::vector<int> cost_model_index_;
  // The calibration layer (config "calibration"), or null;
  // calibrator_of_model_[m] is catalog model m's map, or null.
  std::shared_ptr<const QualityCalibrator> calibrator_;
  std::vector<const MonotoneCalibrator*> calibrator_of_model_;
};

}  // namespace router

#endif  // ROUTER_PIPELINE_H_
