#include "router/live_pipeline.h"

#include <chrono>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "internal/decision_log.h"
#include "internal/synced_catalog.h"

#include "router/status.h"
#include "router/threshold_policy.h"

namespace router {
namespace {

// An onboarding's id: random, so that no counter has to survive a restart
// or an emptied store for a re-onboarding to differ from the one removed.
uint64_t NewOnboardingId() {
  std::random_device random;
  uint64_t id = 0;
  while (id == 0) id = static_cast<uint64_t>(random()) << 32 ^ random();
  return id;
}

uint64_t EpochMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

LivePipeline::LivePipeline(std::unique_ptr<Pipeline> pipeline, size_t decision_log_capacity)
    : decisions_(std::make_unique<internal::DecisionLog>(decision_log_capacity)),
      current_(std::move(pipeline)),
      synced_catalog_(std::make_shared<const internal::SyncedCatalog>()) {}

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

std::shared_ptr<const Pipeline> LivePipeline::Snapshot(
    std::shared_ptr<const internal::SyncedCatalog>* synced) const {
  std::shared_lock lock(mutex_);
  *synced = synced_catalog_;
  return current_;
}

void LivePipeline::ApplySynced(const SyncPlan& plan, const SyncThen& then,
                               std::vector<absl::Status>* refused) {
  std::shared_ptr<const internal::SyncedCatalog> synced;
  {
    // Held while the plan is made and recorded, so no other change slips in.
    std::shared_lock observing(observe_mutex_);
    std::unique_lock updating(update_mutex_);
    const std::shared_ptr<const Pipeline> current = Snapshot(&synced);
    internal::SyncPlanned planned = plan(*current, *synced);
    if (planned.ops.empty()) {
      synced = std::make_shared<const internal::SyncedCatalog>(std::move(planned.catalog));
      {
        std::unique_lock lock(mutex_);
        synced_catalog_ = synced;
      }
      updating.unlock();
      then(*current, *synced);
      return;
    }
  }
  std::unique_lock no_observing(observe_mutex_);  // a new router copy: see AddModel
  std::lock_guard updating(update_mutex_);
  std::shared_ptr<const Pipeline> next = Snapshot(&synced);
  const std::shared_ptr<const Pipeline> current = next;
  internal::SyncPlanned planned = plan(*current, *synced);
  for (const internal::SyncOp& op : planned.ops) {
    const std::string& name = op.profile.name;
    absl::StatusOr<std::unique_ptr<Pipeline>> changed;
    const absl::StatusOr<int> index = next->catalog().Find(name);
    if (op.kind == internal::SyncOp::Kind::kRemove) {
      changed = next->WithoutModel(name);
    } else if (index.ok()) {
      Profile profile = op.profile;
      profile.available = next->catalog().at(*index).available;  // the host's to set
      changed = next->WithProfile(profile);
    } else {
      changed = next->WithModel(op.profile, Dataset());
    }
    if (!changed.ok()) {
      refused->push_back(Annotate(changed.status(), fmt::format("sync: model '{}'", name)));
      // A model not added is not this replica's to publish.
      if (op.kind == internal::SyncOp::Kind::kAdd) {
        std::erase_if(planned.catalog.models,
                      [&](const internal::RunTimeModel& m) { return m.name == name; });
      }
      continue;
    }
    next = *std::move(changed);
  }
  synced = std::make_shared<const internal::SyncedCatalog>(std::move(planned.catalog));
  then(*next, *synced);
  if (next != current) {
    Swap(std::move(next), std::move(synced));
  } else {
    std::unique_lock lock(mutex_);
    synced_catalog_ = std::move(synced);
  }
}

absl::Status LivePipeline::Reload(const std::string& path) {
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> loaded, Pipeline::Load(path));
  std::lock_guard updating(update_mutex_);
  Replace(std::move(loaded));
  return absl::OkStatus();
}

template <typename Change>
absl::Status LivePipeline::Update(Change change, const EditSynced& edit) {
  std::lock_guard updating(update_mutex_);
  std::shared_ptr<const internal::SyncedCatalog> synced;  // writers hold update_mutex_: it stays
  const std::shared_ptr<const Pipeline> current = Snapshot(&synced);
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> next, change(*current));
  if (edit) {
    auto edited = std::make_shared<internal::SyncedCatalog>(*synced);
    edit(edited.get());
    synced = std::move(edited);
  }
  Swap(std::move(next), std::move(synced));
  return absl::OkStatus();
}

absl::Status LivePipeline::RemoveModel(std::string_view name) {
  std::unique_lock no_observing(observe_mutex_);  // a new router copy: see AddModel
  return Update([&](const Pipeline& p) { return p.WithoutModel(name); },
                [&](internal::SyncedCatalog* synced) {
                  // Every onboarding merged into the arm is removed for good,
                  // on every replica. A model of the file has none: its
                  // removal stays here.
                  for (const internal::RunTimeModel& m : synced->models) {
                    if (m.name != name) continue;
                    for (const internal::Onboarding& o : m.onboardings) {
                      synced->removed.push_back({.name = m.name, .origin = o.origin, .id = o.id});
                    }
                  }
                  std::erase_if(synced->models,
                                [&](const internal::RunTimeModel& m) { return m.name == name; });
                });
}

absl::Status LivePipeline::SetProfile(const Profile& profile) {
  return Update([&](const Pipeline& p) { return p.WithProfile(profile); });
}

absl::Status LivePipeline::SetPrice(std::string_view name, double input_usd_per_mtok,
                                    double output_usd_per_mtok) {
  return Update(
      [&](const Pipeline& p) {
        return p.WithPrice(name, input_usd_per_mtok, output_usd_per_mtok);
      },
      [&](internal::SyncedCatalog* synced) {
        internal::PriceChange change{.name = std::string(name),
                                     .input_usd_per_mtok = input_usd_per_mtok,
                                     .output_usd_per_mtok = output_usd_per_mtok,
                                     .clock = std::max(EpochMs(), synced->MaxClock() + 1)};
        if (const internal::RunTimeModel* model = synced->Find(change.name)) {
          change.origin = model->onboardings.front().origin;  // the onboarding in force
          change.id = model->onboardings.front().id;
        }
        std::erase_if(synced->prices,
                      [&](const internal::PriceChange& p) { return p.SameModel(change); });
        synced->prices.push_back(std::move(change));
      });
}

absl::Status LivePipeline::AddModel(const Profile& profile, const Dataset& labelled) {
  // With RemoveModel, the changes that give the pipeline another router (a
  // copy that onboards or forgets the model): feedback waits until the copy
  // is swapped in, or an online router's updates in between would go to the
  // outgoing copy only.
  std::unique_lock no_observing(observe_mutex_);
  return Update([&](const Pipeline& p) { return p.WithModel(profile, labelled); },
                [&](internal::SyncedCatalog* synced) {
                  std::erase_if(synced->models, [&](const internal::RunTimeModel& m) {
                    return m.name == profile.name;
                  });
                  synced->models.push_back(
                      {.name = profile.name,
                       .onboardings = {{.origin = "", .id = NewOnboardingId(), .profile = profile}}});
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
  Swap(std::move(pipeline), std::make_shared<const internal::SyncedCatalog>());
}

void LivePipeline::Swap(std::shared_ptr<const Pipeline> next,
                        std::shared_ptr<const internal::SyncedCatalog> synced) {
  {
    std::unique_lock lock(mutex_);
    current_.swap(next);
    if (synced != nullptr) synced_catalog_.swap(synced);
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
