#include "router/state_sync.h"

#include <algorithm>
#include <chrono>
#include <cstring>
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
constexpr uint32_t kMagic = 0x4e595352;  // "RSYN"
constexpr uint32_t kPayloadVersion = 1;
constexpr uint64_t kMaxCounters = 64;

struct Payload {
  std::string replica;
  uint64_t life = 0;
  uint64_t base = 0;  // 0: no learned statistics
  std::string learned;
  std::string policy_kind;
  std::vector<double> counters;
};

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

std::string Encode(const Payload& p) {
  std::string out;
  internal::ByteWriter w(&out);
  w.Put(kMagic);
  w.Put(kPayloadVersion);
  w.PutString(p.replica);
  w.Put(p.life);
  w.Put(p.base);
  w.PutString(p.learned);
  w.PutString(p.policy_kind);
  w.PutVector(p.counters);
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

  // This replica's own contribution: the router's learned statistics and
  // the policy counters of every policy object it routed with.
  Payload own;
  own.replica = options_.replica_id;
  own.policy_kind = kind;
  if (const uint64_t base = pipeline->router().shared_base(); base != 0) {
    if (pipeline->router().SaveLearned(&own.learned).ok()) own.base = base;
  }
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
  for (SyncRow& row : rows) {
    known_[row.replica] = row.version;
    absl::StatusOr<Payload> payload = Decode(row.payload, row.replica);
    if (!payload.ok()) {
      reject(payload.status());
      continue;
    }
    if (row.replica == options_.replica_id) {
      if (adopted_) continue;  // this replica's own row, as it wrote it
      // A previous run of this replica: take its contribution back as ours.
      adopted_ = true;
      life_ = payload->life;
      if (payload->base != 0 && payload->base == own.base) {
        if (absl::Status s = live_->AddLearned(payload->learned, "", /*adopt=*/true); !s.ok()) {
          reject(s);
        }
      }
      if (payload->policy_kind == kind && payload->counters.size() == counters.size()) {
        if (absl::Status s = policy.AddSharedCounters(payload->counters); s.ok()) {
          for (size_t i = 0; i < counters.size(); ++i) own_counters[i] += payload->counters[i];
        } else {
          reject(s);
        }
      }
      continue;
    }
    Applied& before = applied_[row.replica];
    if (before.life != payload->life) {  // a new run of that replica: nothing added from it yet
      before = Applied{};
      before.life = payload->life;
    }
    bool ok = true;
    if (payload->base != 0 && payload->base == own.base) {
      std::string_view earlier;  // empty: nothing added from this run yet
      if (before.base == payload->base) earlier = before.learned;
      if (absl::Status s = live_->AddLearned(payload->learned, earlier, false); s.ok()) {
        before.base = payload->base;
        before.learned = std::move(payload->learned);
      } else {
        reject(s);
        ok = false;
      }
    }
    if (payload->policy_kind == kind && payload->counters.size() == counters.size()) {
      std::vector<double> increment = payload->counters;
      if (before.policy_kind == kind && before.counters.size() == increment.size()) {
        for (size_t i = 0; i < increment.size(); ++i) increment[i] -= before.counters[i];
      }
      if (absl::Status s = policy.AddSharedCounters(increment); s.ok()) {
        before.policy_kind = kind;
        before.counters = std::move(payload->counters);
      } else {
        reject(s);
        ok = false;
      }
    }
    if (ok) ++applied;
  }
  adopted_ = true;  // the store answered: no previous row, or it was taken

  own.life = life_;
  own.counters = own_counters;
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
