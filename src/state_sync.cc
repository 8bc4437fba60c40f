#include "router/state_sync.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <utility>

#include <zlib.h>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/sync_names.h"
#include "router/status.h"

namespace router {
namespace {

// A row's payload: magic, version, the replica's contribution, and a CRC-32
// of all that, so a damaged row is refused before anything reads it.
//   1: replica, life, base, learned statistics, policy kind, counters.
//   2: the same, then the models added at run time: their profiles (as a
//      catalog) and each one's origin, the replica that onboarded it.
// A payload without run-time models is written as version 1, which
// replicas of older builds still read.
constexpr uint32_t kMagic = 0x4e595352;  // "RSYN"
constexpr uint32_t kPayloadVersion = 2;
constexpr uint64_t kMaxCounters = 64;
constexpr int kMaxModels = 4096;

// A model added at run time, as payloads carry it.
struct Model {
  std::string origin;
  Profile profile;
};

struct Payload {
  std::string replica;
  uint64_t life = 0;
  uint64_t base = 0;  // 0: no learned statistics
  std::string learned;
  std::string policy_kind;
  std::vector<double> counters;
  std::vector<Model> models;
};

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

std::string Encode(const Payload& p) {
  std::string out;
  internal::ByteWriter w(&out);
  w.Put(kMagic);
  w.Put<uint32_t>(p.models.empty() ? 1 : 2);
  w.PutString(p.replica);
  w.Put(p.life);
  w.Put(p.base);
  w.PutString(p.learned);
  w.PutString(p.policy_kind);
  w.PutVector(p.counters);
  if (!p.models.empty()) {
    Catalog models;  // names are unique: each was added to a catalog
    for (const Model& m : p.models) models.Add(m.profile).IgnoreError();
    internal::PutCatalog(models, &w);
    for (const Model& m : p.models) w.PutString(m.origin);
  }
  w.Put<uint32_t>(Crc32(out));
  return out;
}

absl::StatusOr<Payload> Decode(std::string_view bytes, std::string_view row) {
  const std::string what = fmt::format("sync payload of replica '{}'", row);
  uint32_t crc = 0;
  if (bytes.size() < sizeof crc) return absl::DataLossError(what + ": too short");
  std::memcpy(&crc, bytes.data() + bytes.size() - sizeof crc, sizeof crc);
  bytes.remove_suffix(sizeof crc);
  if (Crc32(bytes) != crc) return absl::DataLossError(what + ": fails its checksum");
  internal::ByteReader r(bytes, what);
  Payload p;
  uint32_t magic = 0, version = 0;
  if (!r.Get(&magic, "magic")) return r.status();
  if (magic != kMagic) {
    r.Fail("magic", "not a librouter sync payload");
    return r.status();
  }
  if (!(r.GetVersion(&version, kPayloadVersion) && r.GetString(&p.replica, "replica") &&
        r.Get(&p.life, "life") && r.Get(&p.base, "base") && r.GetString(&p.learned, "learned") &&
        r.GetString(&p.policy_kind, "policy kind") && r.GetVector(&p.counters, "counters"))) {
    return r.status();
  }
  if (p.replica != row) r.Fail("replica", "does not match its row");
  if (p.counters.size() > kMaxCounters) r.Fail("counters", "too many");
  Catalog models;
  if (version >= 2 && internal::GetCatalog(&r, &models)) {
    if (models.size() > kMaxModels) r.Fail("models", "too many");
    for (int i = 0; i < models.size() && r.status().ok(); ++i) {
      Model m{.profile = models.at(i)};
      if (r.GetString(&m.origin, "model origin") && !internal::IsSyncName(m.origin)) {
        r.Fail("model origin", "not a replica id");
      }
      p.models.push_back(std::move(m));
    }
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  return p;
}

absl::Status CheckOptions(const SyncOptions& o) {
  if (!internal::IsSyncName(o.replica_id)) {
    return absl::InvalidArgumentError(fmt::format(
        "sync: replica_id must be 1 to 128 letters, digits or '-_.:', got '{}'", o.replica_id));
  }
  if (o.interval_ms < 0 || o.interval_ms > 3600000) {
    return absl::InvalidArgumentError(
        fmt::format("sync: interval_ms must lie in [0, 3600000], got {}", o.interval_ms));
  }
  return absl::OkStatus();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateSync>> StateSync::Start(LivePipeline* live,
                                                            std::shared_ptr<SyncStore> store,
                                                            SyncOptions options) {
  if (live == nullptr || store == nullptr) {
    return absl::InvalidArgumentError("sync: the live pipeline and the store must not be null");
  }
  ROUTER_RETURN_IF_ERROR(CheckOptions(options));
  if (live->synced_.exchange(true)) {
    return absl::FailedPreconditionError(
        "sync: this LivePipeline has had a StateSync already, whose merges its router holds; "
        "a second would add them again. Load the file into a new LivePipeline and start it "
        "under the same replica_id: it takes its row back");
  }
  std::unique_ptr<StateSync> sync(new StateSync(live, std::move(store), std::move(options)));
  sync->SyncNow().IgnoreError();  // counted in status(); the thread retries
  if (sync->options_.interval_ms > 0) sync->thread_ = std::thread([s = sync.get()] { s->Run(); });
  return sync;
}

StateSync::StateSync(LivePipeline* live, std::shared_ptr<SyncStore> store, SyncOptions options)
    : live_(live), store_(std::move(store)), options_(std::move(options)),
      life_(std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32) ^
            static_cast<uint64_t>(NowMs())) {}

StateSync::~StateSync() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  SyncNow().IgnoreError();  // publish what the last interval learned
}

void StateSync::Run() {
  std::unique_lock lock(stop_mutex_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                            [this] { return stopping_; })) {
    lock.unlock();
    SyncNow().IgnoreError();
    lock.lock();
  }
}

absl::Status StateSync::SyncNow() {
  std::lock_guard round(round_mutex_);
  absl::Status status = RoundLocked();
  std::lock_guard lock(status_mutex_);
  if (absl::IsUnavailable(status)) {
    status_.connected = false;
    ++status_.failed_rounds;
    status_.last_error = std::string(status.message());
  } else {
    status_.connected = true;
    ++status_.rounds;
    last_success_ms_ = NowMs();
  }
  return status;
}

SyncStatus StateSync::status() const {
  std::lock_guard lock(status_mutex_);
  SyncStatus s = status_;
  s.lag_ms = last_success_ms_ < 0 ? -1 : NowMs() - last_success_ms_;
  return s;
}

absl::Status StateSync::RoundLocked() {
  const std::shared_ptr<const Pipeline> pipeline = live_->Snapshot();
  const Policy& policy = pipeline->policy();
  const std::string kind(policy.name());
  const uint64_t base = pipeline->router().shared_base();

  // This replica's own policy counters: those of every policy object it
  // routed with.
  const std::vector<double> counters = policy.SharedCounters();
  std::vector<double>& own_counters = own_counters_[kind];
  if (own_counters.size() != counters.size()) own_counters.assign(counters.size(), 0.0);
  const bool same_policy = &policy == last_policy_ && last_policy_counters_.size() == counters.size();
  for (size_t i = 0; i < counters.size(); ++i) {
    own_counters[i] += counters[i] - (same_policy ? last_policy_counters_[i] : 0.0);
  }
  last_pipeline_ = pipeline;
  last_policy_ = &policy;
  last_policy_counters_ = counters;

  absl::flat_hash_map<std::string, uint64_t> versions;
  ROUTER_ASSIGN_OR_RETURN(std::vector<SyncRow> rows, store_->Changed(known_, &versions));
  int64_t applied = 0, rejected = 0;
  std::string last_error;
  auto reject = [&](const absl::Status& why) {
    ++rejected;
    last_error = std::string(why.message());
  };
  std::vector<Payload> payloads;
  for (SyncRow& row : rows) {
    known_[row.replica] = row.version;
    absl::StatusOr<Payload> payload = Decode(row.payload, row.replica);
    if (!payload.ok()) {
      reject(payload.status());
    } else if (row.replica != options_.replica_id || !adopted_) {  // not our row as we wrote it
      payloads.push_back(*std::move(payload));
    }
  }

  // What was added from a row's replica before: empty for a new run.
  auto earlier = [&](const Payload& payload) -> std::string_view {
    const auto found = applied_.find(payload.replica);
    if (found == applied_.end() || found->second.life != payload.life ||
        found->second.base != payload.base) {
      return {};
    }
    return found->second.learned;
  };
  // Models travel with the statistics, between replicas of one base. A row
  // that brings a model this replica lacks is first tried whole on a copy
  // of the router, so that a row refused for its statistics adds nothing.
  const Router& router = pipeline->router();
  std::erase_if(payloads, [&](const Payload& payload) {
    if (payload.base == 0 || payload.base != base ||
        std::all_of(payload.models.begin(), payload.models.end(),
                    [&](const Model& m) { return router.catalog().Find(m.profile.name).ok(); })) {
      return false;
    }
    absl::StatusOr<std::unique_ptr<Router>> copy = router.Clone();
    absl::Status tried = copy.ok() ? (*copy)->AddLearned(payload.learned, earlier(payload),
                                                         payload.replica == options_.replica_id)
                                   : copy.status();
    if (!tried.ok()) reject(tried);
    return !tried.ok();
  });

  // The run-time models the rows carry come first, so that the statistics
  // about them find their arm. A name this replica does not have is added;
  // for a name several replicas onboarded, the profile of the lowest origin
  // (replica id) wins. A name in this replica's file, or removed here, is
  // left alone.
  const LivePipeline::SyncPlan plan = [&](const Pipeline& p,
                                          const std::vector<LivePipeline::Onboarded>& own) {
    absl::flat_hash_map<std::string, std::string> origin;  // by name, the one in force
    for (const LivePipeline::Onboarded& o : own) {
      origin[o.profile.name] = o.origin.empty() ? options_.replica_id : o.origin;
    }
    const std::vector<std::string>& removed = p.config().removed_models;
    std::map<std::string, LivePipeline::Onboarded> changes;  // by name: the same order everywhere
    for (const Payload& payload : payloads) {
      if (payload.base == 0 || payload.base != base) continue;
      for (const Model& m : payload.models) {
        const std::string& name = m.profile.name;
        if (std::find(removed.begin(), removed.end(), name) != removed.end()) continue;
        const auto in_force = origin.find(name);
        if (in_force == origin.end() ? p.router().catalog().Find(name).ok()
                                     : m.origin >= in_force->second) {
          continue;
        }
        origin[name] = m.origin;
        changes[name] = {.origin = m.origin, .profile = m.profile};
      }
    }
    std::vector<LivePipeline::Onboarded> out;
    for (auto& [name, change] : changes) out.push_back(std::move(change));
    return out;
  };

  // Then each row's increment: now - what was added from that replica before.
  auto apply = [&](const Pipeline& next) {
    for (Payload& payload : payloads) {
      if (payload.replica == options_.replica_id) {
        // A previous run of this replica: take its contribution back as ours.
        adopted_ = true;
        life_ = payload.life;
        if (payload.base != 0 && payload.base == base) {
          if (absl::Status s = next.AddLearned(payload.learned, "", /*adopt=*/true); !s.ok()) {
            reject(s);
          }
        }
        if (payload.policy_kind == kind && payload.counters.size() == counters.size()) {
          if (absl::Status s = policy.AddSharedCounters(payload.counters); s.ok()) {
            for (size_t i = 0; i < counters.size(); ++i) own_counters[i] += payload.counters[i];
          } else {
            reject(s);
          }
        }
        continue;
      }
      Applied& before = applied_[payload.replica];
      if (before.life != payload.life) {  // a new run of that replica: nothing added from it yet
        before = Applied{};
        before.life = payload.life;
      }
      bool ok = true;
      if (payload.base != 0 && payload.base == base) {
        if (absl::Status s = next.AddLearned(payload.learned, earlier(payload), false); s.ok()) {
          before.base = payload.base;
          before.learned = std::move(payload.learned);
        } else {
          reject(s);
          ok = false;
        }
      }
      if (payload.policy_kind == kind && payload.counters.size() == counters.size()) {
        std::vector<double> increment = payload.counters;
        if (before.policy_kind == kind && before.counters.size() == increment.size()) {
          for (size_t i = 0; i < increment.size(); ++i) increment[i] -= before.counters[i];
        }
        if (absl::Status s = policy.AddSharedCounters(increment); s.ok()) {
          before.policy_kind = kind;
          before.counters = std::move(payload.counters);
        } else {
          reject(s);
          ok = false;
        }
      }
      if (ok) ++applied;
    }
  };
  std::vector<absl::Status> refused;
  live_->ApplySynced(plan, apply, &refused);
  for (const absl::Status& why : refused) reject(why);
  adopted_ = true;  // the store answered: no previous row, or it was taken

  // This replica's own contribution, read after the merge (an adopted row
  // is part of it): its learned statistics, counters and run-time models,
  // the last two taken from one pipeline so the statistics never name a
  // model the payload does not carry.
  std::vector<LivePipeline::Onboarded> onboarded;
  const std::shared_ptr<const Pipeline> current = live_->Snapshot(&onboarded);
  Payload own;
  own.replica = options_.replica_id;
  own.life = life_;
  own.policy_kind = kind;
  own.counters = own_counters;
  if (const uint64_t now_base = current->router().shared_base(); now_base != 0) {
    if (current->router().SaveLearned(&own.learned).ok()) own.base = now_base;
  }
  for (LivePipeline::Onboarded& o : onboarded) {
    own.models.push_back({.origin = o.origin.empty() ? options_.replica_id : std::move(o.origin),
                          .profile = std::move(o.profile)});
  }
  std::string payload = Encode(own);
  const auto mine = versions.find(options_.replica_id);
  const bool store_has_it = mine != versions.end() && mine->second == version_;
  int64_t published = 0;
  if (payload != published_ || !store_has_it) {
    // A store restarted empty lost the row: writing it again is safe, since
    // readers add only what exceeds what they already applied.
    const uint64_t next_version = std::max(version_, mine == versions.end() ? 0 : mine->second) + 1;
    ROUTER_RETURN_IF_ERROR(store_->Put(options_.replica_id, next_version, payload));
    version_ = next_version;
    known_[options_.replica_id] = version_;
    published_ = std::move(payload);
    published = 1;
  }

  std::lock_guard lock(status_mutex_);
  status_.applied += applied;
  status_.rejected += rejected;
  status_.published += published;
  status_.replicas =
      static_cast<int64_t>(versions.size()) + (mine == versions.end() && published ? 1 : 0);
  if (!last_error.empty()) status_.last_error = std::move(last_error);
  return absl::OkStatus();
}

}  // namespace router
