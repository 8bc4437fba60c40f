#include "router/live_pipeline.h"

#include <cmath>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "internal/decision_log.h"

#include "router/status.h"
#include "router/threshold_policy.h"

namespace router {

LivePipeline::LivePipeline(std::unique_ptr<Pipeline> pipeline, size_t decision_log_capacity)
    : decisions_(std::make_unique<internal::DecisionLog>(decision_log_capacity)),
      current_(std::move(pipeline)) {}

LivePipeline::~LivePipeline() = default;

absl::Status LivePipeline::Route(const Query& query, Decision* out) const {
  const std::shared_ptr<const Pipeline> pipeline = Snapshot();
  ROUTER_RETURN_IF_ERROR(pipeline->Route(query, out));
  out->id = pipeline->router().learns_online()
                ? decisions_->Record(query.vector, out->chosen.model)
                : 0;
  return absl::OkStatus();
}

absl::Status LivePipeline::RouteText(std::string_view text, Decision* out,
                                      const RequestOverrides* overrides) const {
  const std::shared_ptr<const Pipeline> pipeline = Snapshot();
  thread_local std::vector<float> vector;
  vector.resize(pipeline->dim());
  ROUTER_RETURN_IF_ERROR(pipeline->Embed(text, absl::MakeSpan(vector)));
  Query query;
  query.vector = vector;
  query.text = text;
  query.overrides = overrides;
  ROUTER_RETURN_IF_ERROR(pipeline->Route(query, out));
  out->id = pipeline->router().learns_online() ? decisions_->Record(vector, out->chosen.model)
                                               : 0;
  return absl::OkStatus();
}

absl::Status LivePipeline::Feedback(uint64_t decision_id, double score,
                                    double cost_usd) const {
  // Check the figures first, so a rejected report does not use up the id.
  ROUTER_RETURN_IF_ERROR(ValidateOutcome(score, cost_usd));
  ROUTER_ASSIGN_OR_RETURN(internal::LoggedDecision decision, decisions_->Take(decision_id));
  router::Feedback feedback;
  feedback.vector = decision.vector;
  feedback.model = std::move(decision.model);
  feedback.score = score;
  feedback.cost_usd = cost_usd;
  return Observe(feedback);
}

absl::Status LivePipeline::Observe(const router::Feedback& feedback) const {
  std::shared_lock observing(observe_mutex_);
  return Snapshot()->Observe(feedback);
}

absl::Status LivePipeline::AddLearned(std::string_view now, std::string_view before,
                                      bool adopt) const {
  std::shared_lock observing(observe_mutex_);
  return Snapshot()->AddLearned(now, before, adopt);
}

std::shared_ptr<const Pipeline> LivePipeline::Snapshot() const {
  std::shared_lock lock(mutex_);
  return current_;
}

std::shared_ptr<const Pipeline> LivePipeline::Snapshot(std::vector<Onboarded>* onboarded) const {
  std::shared_lock lock(mutex_);
  *onboarded = onboarded_;
  return current_;
}

void LivePipeline::ApplySynced(const SyncPlan& plan,
                               const std::function<void(const Pipeline&)>& then,
                               std::vector<absl::Status>* refused) {
  std::vector<Onboarded> onboarded;
  {
    // Held while the plan is made, so no AddModel or RemoveModel slips in.
    std::shared_lock observing(observe_mutex_);
    const std::shared_ptr<const Pipeline> current = Snapshot(&onboarded);
    if (plan(*current, onboarded).empty()) {
      then(*current);
      return;
    }
  }
  std::unique_lock no_observing(observe_mutex_);  // a new router copy: see AddModel
  std::lock_guard updating(update_mutex_);
  std::shared_ptr<const Pipeline> next = Snapshot(&onboarded);
  const std::shared_ptr<const Pipeline> current = next;
  for (const Onboarded& change : plan(*current, onboarded)) {
    const std::string& name = change.profile.name;
    absl::StatusOr<std::unique_ptr<Pipeline>> changed;
    if (absl::StatusOr<int> index = next->catalog().Find(name); index.ok()) {
      Profile profile = change.profile;
      profile.available = next->catalog().at(*index).available;  // the host's to set
      changed = next->WithProfile(profile);
    } else {
      changed = next->WithModel(change.profile, Dataset());
    }
    if (!changed.ok()) {
      refused->push_back(Annotate(changed.status(), fmt::format("sync: model '{}'", name)));
      continue;
    }
    next = *std::move(changed);
    std::erase_if(onboarded, [&](const Onboarded& o) { return o.profile.name == name; });
    onboarded.push_back(change);
  }
  then(*next);
  if (next != current) Swap(std::move(next), &onboarded);
}

absl::Status LivePipeline::Reload(const std::string& path) {
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> loaded, Pipeline::Load(path));
  std::lock_guard updating(update_mutex_);
  Replace(std::move(loaded));
  return absl::OkStatus();
}

template <typename Change>
absl::Status LivePipeline::Update(Change change, const EditOnboarded& edit) {
  std::lock_guard updating(update_mutex_);
  std::vector<Onboarded> onboarded;  // writers hold update_mutex_: it stays as read
  const std::shared_ptr<const Pipeline> current = Snapshot(&onboarded);
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> next, change(*current));
  if (edit) edit(&onboarded);
  Swap(std::move(next), edit ? &onboarded : nullptr);
  return absl::OkStatus();
}

absl::Status LivePipeline::RemoveModel(std::string_view name) {
  std::unique_lock no_observing(observe_mutex_);  // a new router copy: see AddModel
  return Update([&](const Pipeline& p) { return p.WithoutModel(name); },
                [&](std::vector<Onboarded>* onboarded) {
                  std::erase_if(*onboarded,
                                [&](const Onboarded& o) { return o.profile.name == name; });
                });
}

absl::Status LivePipeline::SetProfile(const Profile& profile) {
  return Update([&](const Pipeline& p) { return p.WithProfile(profile); });
}

absl::Status LivePipeline::SetPrice(std::string_view name, double input_usd_per_mtok,
                                    double output_usd_per_mtok) {
  return Update([&](const Pipeline& p) {
    return p.WithPrice(name, input_usd_per_mtok, output_usd_per_mtok);
  });
}

absl::Status LivePipeline::AddModel(const Profile& profile, const Dataset& labelled) {
  // With RemoveModel, the changes that give the pipeline another router (a
  // copy that onboards or forgets the model): feedback waits until the copy
  // is swapped in, or an online router's updates in between would go to the
  // outgoing copy only.
  std::unique_lock no_observing(observe_mutex_);
  return Update([&](const Pipeline& p) { return p.WithModel(profile, labelled); },
                [&](std::vector<Onboarded>* onboarded) {
                  onboarded->push_back({.origin = "", .profile = profile});
                });
}

absl::Status LivePipeline::SetPolicy(const PolicyConfig& policy) {
  return Update([&](const Pipeline& p) { return p.WithPolicy(policy); });
}

absl::Status LivePipeline::SetAvailable(std::string_view name, bool available) {
  return Update([&](const Pipeline& p) { return p.WithAvailability(name, available); });
}

absl::StatusOr<double> LivePipeline::CalibrateThreshold(absl::Span<const Query> sample,
                                                        double strong_share) {
  double threshold = 0.0;
  ROUTER_RETURN_IF_ERROR(Update([&](const Pipeline& p) -> absl::StatusOr<std::unique_ptr<Pipeline>> {
    ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> next,
                            p.WithCalibratedThreshold(sample, strong_share));
    threshold = next->config().policy.Get<ThresholdOptions>()->threshold;
    return next;
  }));
  return threshold;
}

void LivePipeline::Replace(std::unique_ptr<Pipeline> pipeline) {
  const std::vector<Onboarded> none;
  Swap(std::move(pipeline), &none);
}

void LivePipeline::Swap(std::shared_ptr<const Pipeline> next,
                        const std::vector<Onboarded>* onboarded) {
  {
    std::unique_lock lock(mutex_);
    current_.swap(next);
    if (onboarded != nullptr) onboarded_ = *onboarded;
    ++generation_;
  }
  // `next` now holds the previous pipeline: if no route still uses it, it is
  // freed here, outside the lock.
}

absl::Status LivePipeline::RecordRealisedCost(double expected_cost_usd,
                                              double realised_cost_usd) const {
  return Snapshot()->policy().RecordRealisedCost(expected_cost_usd, realised_cost_usd);
}

uint64_t LivePipeline::generation() const {
  std::shared_lock lock(mutex_);
  return generation_;
}

}  // namespace router
