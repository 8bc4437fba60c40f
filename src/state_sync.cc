#include "router/state_sync.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <utility>

#include "fmt/format.h"
#include "internal/sync_names.h"
#include "internal/sync_payload.h"
#include "internal/synced_catalog.h"
#include "router/status.h"

namespace router {
namespace {

using internal::Decode;
using internal::Encode;
using internal::Onboarding;
using internal::Payload;
using internal::PriceChange;
using internal::RunTimeModel;
using internal::SyncedCatalog;
using internal::SyncOp;
using internal::Tombstone;

// Names this replica's own entries ("" until now) by its replica id, and
// sorts every list, so that a payload is the same bytes for the same
// content and a model's first onboarding is the one in force.
void Normalize(SyncedCatalog* c, const std::string& self) {
  for (RunTimeModel& m : c->models) {
    for (Onboarding& o : m.onboardings) {
      if (o.origin.empty()) o.origin = self;
    }
    std::sort(m.onboardings.begin(), m.onboardings.end());
  }
  std::sort(c->models.begin(), c->models.end(),
            [](const RunTimeModel& a, const RunTimeModel& b) { return a.name < b.name; });
  for (Tombstone& t : c->removed) {
    if (t.origin.empty()) t.origin = self;
  }
  auto key = [](const Tombstone& t) { return std::tie(t.name, t.origin, t.id); };
  std::sort(c->removed.begin(), c->removed.end(),
            [&](const Tombstone& a, const Tombstone& b) { return key(a) < key(b); });
  c->removed.erase(std::unique(c->removed.begin(), c->removed.end(),
                               [&](const Tombstone& a, const Tombstone& b) { return key(a) == key(b); }),
                   c->removed.end());
  for (PriceChange& p : c->prices) {
    if (p.origin.empty() && p.id != 0) p.origin = self;
    if (p.by.empty()) p.by = self;
  }
  std::sort(c->prices.begin(), c->prices.end(), [](const PriceChange& a, const PriceChange& b) {
    return std::tie(a.name, a.origin, a.id) < std::tie(b.name, b.origin, b.id);
  });
}

// The profile a run-time model has under catalog `c`: its onboarding in
// force's, with the winning price change's prices.
Profile SharedProfile(const RunTimeModel& m, const SyncedCatalog& c) {
  Profile profile = m.onboardings.front().profile;
  if (const PriceChange* price = c.PriceOf(m.name)) {
    profile.input_usd_per_mtok = price->input_usd_per_mtok;
    profile.output_usd_per_mtok = price->output_usd_per_mtok;
  }
  profile.available = true;  // each replica's own
  return profile;
}

bool SameShared(const Profile& a, const Profile& b) {
  return a.name == b.name && a.input_usd_per_mtok == b.input_usd_per_mtok &&
         a.output_usd_per_mtok == b.output_usd_per_mtok &&
         a.expected_output_tokens == b.expected_output_tokens &&
         a.p50_latency_ms == b.p50_latency_ms && a.context_window == b.context_window &&
         a.tags == b.tags;
}

// Merges the rows' catalog changes into `own` (pipeline `p`'s) and plans the
// changes to `p` that follow. Every part is a union with a fixed winner, so
// the result does not depend on the order rows arrive in:
//   - tombstones and onboardings are unions; an onboarding a tombstone names
//     is dropped; a model lives while it has an onboarding;
//   - per model, the greatest price change (clock, replica) wins;
//   - a model of the pipeline's file (a catalog name without a run-time
//     entry) is left alone, but for price changes.
// A change is planned only where the shared outcome changed, so that a
// profile the host set here (SetProfile) stays until the next shared change.
internal::SyncPlanned PlanCatalog(const Pipeline& p, const SyncedCatalog& own_before,
                                  const std::vector<const SyncedCatalog*>& rows,
                                  const std::string& self) {
  SyncedCatalog before = own_before;
  Normalize(&before, self);
  SyncedCatalog after = before;
  // Each model's price change in `after`, by (name, origin, id): a row may
  // hold tens of thousands, and a scan per change would be quadratic.
  std::map<std::tuple<std::string, std::string, uint64_t>, size_t> price_of;
  for (size_t i = 0; i < after.prices.size(); ++i) {
    const PriceChange& q = after.prices[i];
    price_of.emplace(std::tie(q.name, q.origin, q.id), i);
  }
  for (const SyncedCatalog* row : rows) {
    after.removed.insert(after.removed.end(), row->removed.begin(), row->removed.end());
    for (const PriceChange& change : row->prices) {
      const auto [at, added] =
          price_of.emplace(std::tie(change.name, change.origin, change.id), after.prices.size());
      if (added) {
        after.prices.push_back(change);
      } else if (after.prices[at->second].Before(change)) {
        after.prices[at->second] = change;
      }
    }
    for (const RunTimeModel& m : row->models) {
      auto mine = std::find_if(after.models.begin(), after.models.end(),
                               [&](const RunTimeModel& x) { return x.name == m.name; });
      if (mine == after.models.end()) {
        if (p.catalog().Find(m.name).ok()) continue;  // the file's model here
        after.models.push_back({.name = m.name});
        mine = after.models.end() - 1;
      }
      for (const Onboarding& o : m.onboardings) {
        if (std::none_of(mine->onboardings.begin(), mine->onboardings.end(),
                         [&](const Onboarding& x) { return x.SameAs(o); })) {
          mine->onboardings.push_back(o);
        }
      }
    }
  }
  for (RunTimeModel& m : after.models) {
    std::erase_if(m.onboardings, [&](const Onboarding& o) {
      return std::any_of(after.removed.begin(), after.removed.end(),
                         [&](const Tombstone& t) { return t.Kills(m.name, o); });
    });
  }
  Normalize(&after, self);

  internal::SyncPlanned planned;
  std::set<std::string> names;  // sorted: the same order on every replica
  for (const RunTimeModel& m : before.models) names.insert(m.name);
  for (const RunTimeModel& m : after.models) names.insert(m.name);
  for (const std::string& name : names) {
    const RunTimeModel* was = before.Find(name);
    const RunTimeModel* is = after.Find(name);
    const bool has = p.catalog().Find(name).ok();
    if (is == nullptr || is->onboardings.empty()) {
      if (was != nullptr && has) planned.ops.push_back({SyncOp::Kind::kRemove, {.name = name}});
      continue;
    }
    const Profile shared = SharedProfile(*is, after);
    if (!has) {
      planned.ops.push_back({SyncOp::Kind::kAdd, shared});
    } else if (was == nullptr || was->onboardings.empty() ||
               !SameShared(SharedProfile(*was, before), shared)) {
      planned.ops.push_back({SyncOp::Kind::kSet, shared});
    }
  }
  // Price changes of the file's models.
  for (const Profile& model : p.catalog().profiles()) {
    if (after.Find(model.name) != nullptr) continue;
    const PriceChange* now = after.PriceOf(model.name);
    const PriceChange* then = before.PriceOf(model.name);
    if (now == nullptr || (then != nullptr && !then->Before(*now))) continue;
    Profile priced = model;
    priced.input_usd_per_mtok = now->input_usd_per_mtok;
    priced.output_usd_per_mtok = now->output_usd_per_mtok;
    planned.ops.push_back({SyncOp::Kind::kSet, std::move(priced)});
  }
  std::erase_if(after.models, [](const RunTimeModel& m) { return m.onboardings.empty(); });
  planned.catalog = std::move(after);
  return planned;
}

// The onboardings of each run-time model in `c`: a model whose set shares
// none with an earlier one is a new arm (removed and added anew).
using Arms = std::map<std::string, std::vector<std::pair<std::string, uint64_t>>>;  // as StateSync's
Arms ArmsOf(const SyncedCatalog& c) {
  Arms arms;
  for (const RunTimeModel& m : c.models) {
    for (const Onboarding& o : m.onboardings) arms[m.name].emplace_back(o.origin, o.id);
  }
  return arms;
}

// The models of `now` whose arm started again since `before`.
std::vector<std::string> Restarted(const Arms& before, const Arms& now) {
  std::vector<std::string> out;
  for (const auto& [name, ids] : now) {
    const auto was = before.find(name);
    if (was == before.end() ||
        std::none_of(ids.begin(), ids.end(), [&](const auto& id) {
          return std::find(was->second.begin(), was->second.end(), id) != was->second.end();
        })) {
      out.push_back(name);
    }
  }
  return out;
}

// Adds policy counters of `kind` to a sum of them (`into_kind`, `into`), which
// an empty sum takes whole. False, changing nothing, when the sum holds
// another kind's counters or another number of them.
bool AddCountersInto(const std::string& kind, const std::vector<double>& counters,
                     std::string* into_kind, std::vector<double>* into) {
  if (counters.empty()) return true;
  if (into->empty()) {
    *into_kind = kind;
    *into = counters;
    return true;
  }
  if (*into_kind != kind || into->size() != counters.size()) return false;
  for (size_t i = 0; i < counters.size(); ++i) (*into)[i] += counters[i];
  return true;
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
  if (retired_) return absl::FailedPreconditionError("sync: retired");
  absl::Status status = RoundLocked();
  Record(status);
  return status;
}

void StateSync::Record(const absl::Status& round) {
  std::lock_guard lock(status_mutex_);
  if (absl::IsUnavailable(round)) {
    status_.connected = false;
    ++status_.failed_rounds;
    status_.last_error = std::string(round.message());
  } else {
    status_.connected = true;
    ++status_.rounds;
    last_success_ms_ = NowMs();
  }
}

absl::Status StateSync::Retire() {
  absl::Status status;
  {
    std::lock_guard round(round_mutex_);
    if (retired_) return absl::FailedPreconditionError("sync: retired");
    status = RoundLocked();
    Record(status);
    if (status.ok()) status = FoldLocked(options_.replica_id);
    if (!retired_) return status;  // nothing was folded: the row stays and counts
  }
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status StateSync::Fold(std::string_view replica_id) {
  if (!internal::IsSyncName(replica_id)) {
    return absl::InvalidArgumentError(
        fmt::format("sync: cannot fold '{}': not a replica id", replica_id));
  }
  if (replica_id == options_.replica_id) {
    return absl::InvalidArgumentError(
        "sync: a replica does not fold its own row; it retires (Retire)");
  }
  std::lock_guard round(round_mutex_);
  if (retired_) return absl::FailedPreconditionError("sync: retired");
  // A round first, so that this replica has added the row as it stands and
  // moves it with the archive like every other reader.
  absl::Status status = RoundLocked();
  Record(status);
  if (!status.ok()) return status;
  return FoldLocked(std::string(replica_id));
}

absl::Status StateSync::FoldLocked(const std::string& replica) {
  const bool self = replica == options_.replica_id;
  const std::shared_ptr<const Pipeline> pipeline = live_->Snapshot();
  const std::string verb = self ? "retiring" : fmt::format("folding '{}'", replica);
  const std::string stays = self ? "the row stays and counts" : "the row stays";
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    // The folded row (another replica's), and every archive row, read afresh.
    absl::flat_hash_map<std::string, uint64_t> known = known_, versions;
    if (!self) known.erase(replica);
    absl::erase_if(known, [](const auto& row) { return internal::IsArchiveRow(row.first); });
    ROUTER_ASSIGN_OR_RETURN(const std::vector<SyncRow> rows, store_->Changed(known, &versions));
    // What folds: this replica's whole contribution, which the last round
    // published; or the other replica's row as the store holds it, which
    // must still be at that version when the swap deletes it.
    Payload leaving;
    uint64_t leaving_version = SyncStore::kAnyVersion;
    if (self) {
      ROUTER_ASSIGN_OR_RETURN(leaving, Decode(published_, replica));
    } else {
      const auto found = std::find_if(rows.begin(), rows.end(),
                                      [&](const SyncRow& row) { return row.replica == replica; });
      if (found == rows.end()) {
        return absl::NotFoundError(fmt::format("sync: the store holds no row of '{}'", replica));
      }
      ROUTER_ASSIGN_OR_RETURN(leaving, Decode(found->payload, replica));
      leaving_version = found->version;
      if (leaving.base != 0 && leaving.base != pipeline->router().shared_base()) {
        return absl::FailedPreconditionError(fmt::format(
            "sync: '{}' ran another fitted file; a replica of that file folds it; {}", replica,
            stays));
      }
    }
    const internal::Retired gone(replica, leaving.life);
    // The archive of its fitted file and policy kind.
    const std::string archive_row = internal::ArchiveRow(leaving.base, leaving.policy_kind);
    Payload archive;
    archive.replica = archive_row;
    uint64_t expected = 0;
    std::string archive_bytes;
    for (const SyncRow& row : rows) {
      if (row.replica != archive_row) continue;
      ROUTER_ASSIGN_OR_RETURN(archive, Decode(row.payload, row.replica));
      expected = row.version;
      archive_bytes = row.payload;
    }
    const bool listed =
        std::find(archive.retired.begin(), archive.retired.end(), gone) != archive.retired.end();
    // An earlier attempt landed though its answer was lost.
    if (self && listed && !versions.contains(replica)) {
      retired_ = true;
      return absl::OkStatus();
    }
    if (!self && listed) {
      // A stale row of a replica the archive holds already (readers ignore
      // it): deleted, with the archive rewritten as it is, adding nothing.
      ROUTER_ASSIGN_OR_RETURN(const bool swapped,
                              store_->Swap(archive_row, expected, expected, archive_bytes,
                                           replica, leaving_version));
      if (swapped) return absl::OkStatus();
      continue;
    }
    if (leaving.base != 0) {
      if (archive.base != 0 && archive.base != leaving.base) {
        return absl::FailedPreconditionError(fmt::format(
            "sync: the archive row {} holds another fitted file's statistics; {}", archive_row,
            stays));
      }
      ROUTER_ASSIGN_OR_RETURN(archive.learned,
                              pipeline->router().SumLearned(archive.learned, leaving.learned));
      archive.base = leaving.base;
    }
    if (!AddCountersInto(leaving.policy_kind, leaving.counters, &archive.policy_kind,
                         &archive.counters)) {
      return absl::FailedPreconditionError(fmt::format(
          "sync: the archive row {} holds '{}' policy counters (the row's policy is '{}'); {}",
          archive_row, archive.policy_kind, leaving.policy_kind, stays));
    }
    archive.retired.push_back(gone);
    if (archive.retired.size() > internal::kMaxRetired) {
      archive.retired.erase(archive.retired.begin(),
                            archive.retired.end() - internal::kMaxRetired);
    }
    const std::string bytes = Encode(archive);
    ROUTER_ASSIGN_OR_RETURN(const bool swapped,
                            store_->Swap(archive_row, expected, internal::ArchiveVersion(bytes),
                                         bytes, replica, leaving_version));
    if (swapped) {
      if (self) retired_ = true;
      return absl::OkStatus();
    }
  }
  return absl::AbortedError(fmt::format(
      "sync: {} lost the race for the archive row {} times{}; {}", verb, kAttempts,
      self ? "" : " (or the row kept changing: is that replica alive?)", stays));
}

SyncStatus StateSync::status() const {
  std::lock_guard lock(status_mutex_);
  SyncStatus s = status_;
  const int64_t now = NowMs();
  s.lag_ms = last_success_ms_ < 0 ? -1 : now - last_success_ms_;
  for (const auto& [replica, changed_ms] : row_changed_ms_) {
    s.rows.push_back({.replica = replica, .unchanged_ms = now - changed_ms});
  }
  return s;
}

bool StateSync::IsRetired(const internal::Retired& replica_life) const {
  return std::any_of(archives_.begin(), archives_.end(), [&](const auto& archive) {
    return archive.second.retired_set.contains(replica_life);
  });
}

absl::Status StateSync::ApplyArchive(const Pipeline& next, const Policy& policy,
                                     const std::vector<std::string>& restarted_here,
                                     Archive* held, Payload archive, std::string bytes) {
  const uint64_t base = next.router().shared_base();
  const std::string kind(policy.name());
  // What was added from the replicas it retired since the last one added
  // moves into what was added from the archive. (A replica retires into
  // one archive only, so no other archive lists it.)
  Applied moved = held->added;
  std::vector<std::string> movers;
  for (const internal::Retired& r : archive.retired) {
    if (held->retired_set.contains(r)) continue;
    const auto found = applied_.find(r.first);
    if (found == applied_.end() || found->second.life != r.second) continue;
    const Applied& from = found->second;
    if (!from.learned.empty() && (moved.base == 0 || moved.base == from.base)) {
      ROUTER_ASSIGN_OR_RETURN(moved.learned, next.router().SumLearned(moved.learned, from.learned));
      moved.base = from.base;
      for (const auto& [name, ids] : from.arms) {
        std::vector<std::pair<std::string, uint64_t>>& into = moved.arms[name];
        for (const auto& id : ids) {
          if (std::find(into.begin(), into.end(), id) == into.end()) into.push_back(id);
        }
      }
    }
    // Counters of another kind than those moved before cannot be summed:
    // they stay out, as a row's counters of another policy kind do.
    AddCountersInto(from.policy_kind, from.counters, &moved.policy_kind, &moved.counters);
    movers.push_back(r.first);
  }
  // Then the archive's increment, as for a row: its statistics first (a
  // refused archive moves nothing), less the arms that started again here.
  if (archive.base != 0 && archive.base == base) {
    std::string from = moved.base == archive.base ? moved.learned : std::string();
    if (!from.empty() && !restarted_here.empty()) {
      ROUTER_ASSIGN_OR_RETURN(from, next.router().LearnedWithout(from, restarted_here));
    }
    ROUTER_RETURN_IF_ERROR(next.AddLearned(archive.learned, from, false));
    moved.base = archive.base;
    moved.learned = std::move(archive.learned);
  }
  absl::Status counted;
  if (archive.policy_kind == kind && !archive.counters.empty() &&
      archive.counters.size() == policy.SharedCounters().size()) {
    std::vector<double> increment = archive.counters;
    if (moved.policy_kind == kind && moved.counters.size() == increment.size()) {
      for (size_t i = 0; i < increment.size(); ++i) increment[i] -= moved.counters[i];
    }
    counted = policy.AddSharedCounters(increment);
    if (counted.ok()) {
      moved.policy_kind = kind;
      moved.counters = std::move(archive.counters);
    }
  }
  held->added = std::move(moved);
  for (const std::string& replica : movers) {
    applied_.erase(replica);
    known_.erase(replica);
  }
  held->retired = std::move(archive.retired);
  held->retired_set = std::set<internal::Retired>(held->retired.begin(), held->retired.end());
  held->payload = std::move(bytes);
  return counted;
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
  struct ChangedArchive {
    std::string row;
    uint64_t version = 0;
    Payload payload;
    std::string bytes;
  };
  std::vector<ChangedArchive> archives;  // the archive rows that changed
  std::vector<std::string> changed_rows;  // for status().rows
  for (SyncRow& row : rows) {
    known_[row.replica] = row.version;
    changed_rows.push_back(row.replica);
    absl::StatusOr<Payload> payload = Decode(row.payload, row.replica);
    if (!payload.ok()) {
      reject(payload.status());
    } else if (internal::IsArchiveRow(row.replica)) {
      archives.push_back({.row = row.replica, .version = row.version,
                          .payload = *std::move(payload), .bytes = std::move(row.payload)});
    } else if (row.replica != options_.replica_id || !adopted_) {  // not our row as we wrote it
      payloads.push_back(*std::move(payload));
    }
  }

  // Writes the archive this replica added (`payload`) into row `row` over
  // version `expected`, under the version its bytes give, so the readers
  // that added it read nothing new.
  auto put_back = [&](const std::string& row, uint64_t expected,
                      const std::string& payload) -> absl::Status {
    const uint64_t mine = internal::ArchiveVersion(payload);
    ROUTER_ASSIGN_OR_RETURN(const bool swapped, store_->Swap(row, expected, mine, payload, "",
                                                             SyncStore::kAnyVersion));
    if (swapped) known_[row] = mine;
    return absl::OkStatus();
  };

  // The archives of retired replicas. One is added when it descends from
  // the one added before (it lists the last retirement added then).
  std::vector<ChangedArchive*> taken;
  const internal::Retired self(options_.replica_id, life_);
  for (ChangedArchive& archive : archives) {
    const std::vector<internal::Retired>& listed = archive.payload.retired;
    if (std::find(listed.begin(), listed.end(), self) != listed.end() &&
        !versions.contains(options_.replica_id)) {
      // This replica retired and the answer was lost, or another replica
      // folded its row (Fold, for a replica taken for gone): its row is in
      // the archive, and publishing it again would count it twice.
      retired_ = true;
      const absl::Status folded = absl::FailedPreconditionError(
          "sync: retired (this replica's row is in an archive: it retired, or another replica "
          "folded it as gone; what it learned since is not shared; restart it)");
      std::lock_guard lock(status_mutex_);
      status_.last_error = std::string(folded.message());
      return folded;
    }
    Archive& held = archives_[archive.row];
    const bool descends = held.retired.empty() ||
                          std::find(listed.begin(), listed.end(), held.retired.back()) != listed.end();
    if (descends) {
      taken.push_back(&archive);
    } else if (std::all_of(listed.begin(), listed.end(),
                           [&](const internal::Retired& r) { return held.retired_set.contains(r); })) {
      // An emptied store was re-seeded by a replica that had added less:
      // the fuller archive this replica added goes back, in its place.
      ROUTER_RETURN_IF_ERROR(put_back(archive.row, archive.version, held.payload));
    } else {
      reject(absl::DataLossError(fmt::format(
          "sync: the archive row {} lacks retirements this replica added and lists others (two "
          "re-seedings of an emptied store raced with a retirement); waiting for it to change",
          archive.row)));
    }
  }
  for (const auto& [row, held] : archives_) {
    if (held.payload.empty() || versions.contains(row)) continue;
    // A store restarted empty lost the archive: the one this replica added
    // goes back, once ("expected: absent").
    ROUTER_RETURN_IF_ERROR(put_back(row, 0, held.payload));
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
        std::all_of(payload.catalog.models.begin(), payload.catalog.models.end(),
                    [&](const RunTimeModel& m) { return router.catalog().Find(m.name).ok(); })) {
      return false;
    }
    absl::StatusOr<std::unique_ptr<Router>> copy = router.Clone();
    absl::Status tried = copy.ok() ? (*copy)->AddLearned(payload.learned, earlier(payload),
                                                         payload.replica == options_.replica_id)
                                   : copy.status();
    if (!tried.ok()) reject(tried);
    return !tried.ok();
  });

  // The run-time catalog changes the rows carry come first (added models,
  // removals, price changes: PlanCatalog), so that the statistics about a
  // new model find its arm.
  const LivePipeline::SyncPlan plan = [&](const Pipeline& p, const SyncedCatalog& own) {
    std::vector<const SyncedCatalog*> rows;
    for (const Payload& payload : payloads) {
      if (payload.base != 0 && payload.base == base) rows.push_back(&payload.catalog);
    }
    return PlanCatalog(p, own, rows, options_.replica_id);
  };

  // Then each row's increment: now - what was added from that replica before,
  // less the arms that started again, here or there, which are added whole.
  auto apply = [&](const Pipeline& next, const SyncedCatalog& catalog) {
    const Arms arms = ArmsOf(catalog);
    const std::vector<std::string> restarted_here = Restarted(arms_, arms);
    arms_ = arms;
    // The archives first, so that a replica one retired is moved out of
    // applied_ before a row of a new run under the same id replaces it.
    for (ChangedArchive* archive : taken) {
      const absl::Status s = ApplyArchive(next, policy, restarted_here, &archives_[archive->row],
                                          std::move(archive->payload), std::move(archive->bytes));
      if (s.ok()) {
        ++applied;
      } else {
        reject(s);
      }
    }
    for (Payload& payload : payloads) {
      if (IsRetired({payload.replica, payload.life})) continue;  // a stale read
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
        const Arms sender_arms = ArmsOf(payload.catalog);
        std::string_view from = earlier(payload);
        absl::Status s;
        std::string trimmed;
        if (!from.empty()) {
          std::vector<std::string> restarted = Restarted(before.arms, sender_arms);
          restarted.insert(restarted.end(), restarted_here.begin(), restarted_here.end());
          if (!restarted.empty()) {
            absl::StatusOr<std::string> without = next.router().LearnedWithout(from, restarted);
            s = without.status();
            if (s.ok()) {
              trimmed = *std::move(without);
              from = trimmed;
            }
          }
        }
        if (s.ok()) s = next.AddLearned(payload.learned, from, false);
        if (s.ok()) {
          before.base = payload.base;
          before.learned = std::move(payload.learned);
          before.arms = sender_arms;
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
  // is part of it): its learned statistics, counters and run-time catalog
  // changes, the last two taken from one pipeline so the statistics never
  // name a model the payload does not carry.
  std::shared_ptr<const SyncedCatalog> synced;
  const std::shared_ptr<const Pipeline> current = live_->Snapshot(&synced);
  Payload own;
  own.replica = options_.replica_id;
  own.life = life_;
  own.policy_kind = kind;
  own.counters = own_counters;
  if (const uint64_t now_base = current->router().shared_base(); now_base != 0) {
    if (current->router().SaveLearned(&own.learned).ok()) own.base = now_base;
  }
  own.catalog = *synced;
  Normalize(&own.catalog, options_.replica_id);
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
  const int64_t now = NowMs();
  std::erase_if(row_changed_ms_,
                [&](const auto& row) { return !versions.contains(row.first); });
  for (const auto& [replica, version] : versions) {
    if (internal::IsArchiveRow(replica) || replica == options_.replica_id) continue;
    row_changed_ms_.try_emplace(replica, now);  // first seen
  }
  for (const std::string& replica : changed_rows) {
    if (const auto found = row_changed_ms_.find(replica); found != row_changed_ms_.end()) {
      found->second = now;
    }
  }
  status_.applied += applied;
  status_.rejected += rejected;
  status_.published += published;
  status_.replicas =
      std::count_if(versions.begin(), versions.end(),
                    [](const auto& row) { return !internal::IsArchiveRow(row.first); }) +
      (mine == versions.end() && published ? 1 : 0);
  if (!last_error.empty()) status_.last_error = std::move(last_error);
  return absl::OkStatus();
}

}  // namespace router
