#include "internal/sync_payload.h"

#include <cstring>
#include <set>
#include <tuple>
#include <utility>

#include <zlib.h>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/sync_names.h"
#include "router/catalog.h"
#include "router/status.h"

namespace router::internal {
namespace {

constexpr uint32_t kMagic = 0x4e595352;  // "RSYN"
constexpr uint32_t kPayloadVersion = 4;
constexpr uint64_t kMaxCounters = 64;
constexpr int kMaxModels = 4096;
constexpr uint64_t kMaxOnboardings = 256;     // per model
constexpr uint64_t kMaxCatalogChanges = 65536;  // tombstones, and price changes
constexpr size_t kMaxModelName = 1024;

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

bool IsModelName(std::string_view name) { return !name.empty() && name.size() <= kMaxModelName; }

void PutProfile(const Profile& profile, ByteWriter* w) {
  Catalog one;
  one.Add(profile).IgnoreError();  // a profile the catalog took once
  PutCatalog(one, w);
}

void PutCatalogChanges(const SyncedCatalog& c, ByteWriter* w) {
  w->Put<uint64_t>(c.models.size());
  for (const RunTimeModel& m : c.models) {
    w->PutString(m.name);
    w->Put<uint64_t>(m.onboardings.size());
    for (const Onboarding& o : m.onboardings) {
      w->PutString(o.origin);
      w->Put(o.id);
      PutProfile(o.profile, w);
    }
  }
  w->Put<uint64_t>(c.removed.size());
  for (const Tombstone& t : c.removed) {
    w->PutString(t.name);
    w->PutString(t.origin);
    w->Put(t.id);
  }
  w->Put<uint64_t>(c.prices.size());
  for (const PriceChange& p : c.prices) {
    w->PutString(p.name);
    w->PutString(p.origin);
    w->Put(p.id);
    w->Put(p.input_usd_per_mtok);
    w->Put(p.output_usd_per_mtok);
    w->Put(p.clock);
    w->PutString(p.by);
  }
}

// A count of entries that each take at least `least` bytes.
bool GetCount(ByteReader* r, uint64_t* count, uint64_t most, uint64_t least,
              std::string_view field) {
  if (!r->Get(count, field)) return false;
  if (*count > most || *count > r->remaining() / least) return r->Fail(field, "too many");
  return true;
}

// Version 3's catalog changes, checked: names and origins, finite prices,
// nothing listed twice.
bool GetCatalogChanges(ByteReader* r, SyncedCatalog* c) {
  uint64_t models = 0;
  if (!GetCount(r, &models, kMaxModels, 16, "models")) return false;
  for (uint64_t i = 0; i < models; ++i) {
    RunTimeModel m;
    uint64_t onboardings = 0;
    if (!(r->GetString(&m.name, "model name") &&
          GetCount(r, &onboardings, kMaxOnboardings, 64, "onboardings"))) {
      return false;
    }
    if (!IsModelName(m.name)) return r->Fail("model name", "empty or too long");
    if (c->Find(m.name) != nullptr) return r->Fail("model name", "listed twice");
    if (onboardings == 0) return r->Fail("onboardings", "a model without one");
    for (uint64_t k = 0; k < onboardings; ++k) {
      Onboarding o;
      Catalog one;
      if (!(r->GetString(&o.origin, "onboarding origin") && r->Get(&o.id, "onboarding id") &&
            GetCatalog(r, &one))) {
        return false;
      }
      if (!IsSyncName(o.origin)) return r->Fail("onboarding origin", "not a replica id");
      if (one.size() != 1 || one.at(0).name != m.name) {
        return r->Fail("onboarding profile", "not one profile of the model's name");
      }
      o.profile = one.at(0);
      for (const Onboarding& seen : m.onboardings) {
        if (seen.SameAs(o)) return r->Fail("onboarding", "listed twice");
      }
      m.onboardings.push_back(std::move(o));
    }
    c->models.push_back(std::move(m));
  }
  // Duplicates are looked up in sets: a hostile row may list tens of
  // thousands of entries, and pairwise checks would stall the sync thread.
  std::set<std::tuple<std::string, std::string, uint64_t>> removed_keys, priced;
  uint64_t removed = 0;
  if (!GetCount(r, &removed, kMaxCatalogChanges, 24, "tombstones")) return false;
  for (uint64_t i = 0; i < removed; ++i) {
    Tombstone t;
    if (!(r->GetString(&t.name, "tombstone name") && r->GetString(&t.origin, "tombstone origin") &&
          r->Get(&t.id, "tombstone id"))) {
      return false;
    }
    if (!IsModelName(t.name)) return r->Fail("tombstone name", "empty or too long");
    if (!IsSyncName(t.origin)) return r->Fail("tombstone origin", "not a replica id");
    if (!removed_keys.emplace(t.name, t.origin, t.id).second) {
      return r->Fail("tombstone", "listed twice");
    }
    c->removed.push_back(std::move(t));
  }
  uint64_t prices = 0;
  if (!GetCount(r, &prices, kMaxCatalogChanges, 56, "price changes")) return false;
  for (uint64_t i = 0; i < prices; ++i) {
    PriceChange p;
    if (!(r->GetString(&p.name, "price change name") &&
          r->GetString(&p.origin, "price change origin") && r->Get(&p.id, "price change id") &&
          r->Get(&p.input_usd_per_mtok, "input price") &&
          r->Get(&p.output_usd_per_mtok, "output price") && r->Get(&p.clock, "price clock") &&
          r->GetString(&p.by, "price change replica"))) {
      return false;
    }
    if (!IsModelName(p.name)) return r->Fail("price change name", "empty or too long");
    const bool file_model = p.origin.empty() && p.id == 0;
    if (!file_model && !IsSyncName(p.origin)) {
      return r->Fail("price change origin", "not a replica id");
    }
    if (!IsSyncName(p.by)) return r->Fail("price change replica", "not a replica id");
    if (!std::isfinite(p.input_usd_per_mtok) || p.input_usd_per_mtok < 0 ||
        !std::isfinite(p.output_usd_per_mtok) || p.output_usd_per_mtok < 0) {
      return r->Fail("price change", fmt::format("prices of '{}' must be finite and >= 0", p.name));
    }
    if (!priced.emplace(p.name, p.origin, p.id).second) {
      return r->Fail("price change", "listed twice");
    }
    c->prices.push_back(std::move(p));
  }
  return true;
}

// The archive's retired (replica, life) pairs: replica ids, none twice.
bool GetRetired(ByteReader* r, std::vector<Retired>* retired) {
  uint64_t count = 0;
  if (!GetCount(r, &count, kMaxRetired, 17, "retired replicas")) return false;
  std::set<Retired> seen;
  for (uint64_t i = 0; i < count; ++i) {
    Retired one;
    if (!(r->GetString(&one.first, "retired replica") && r->Get(&one.second, "retired life"))) {
      return false;
    }
    if (!IsSyncName(one.first)) return r->Fail("retired replica", "not a replica id");
    if (!seen.insert(one).second) return r->Fail("retired replica", "listed twice");
    retired->push_back(std::move(one));
  }
  return true;
}

}  // namespace

std::string Encode(const Payload& p) {
  std::string out;
  ByteWriter w(&out);
  w.Put(kMagic);
  const bool archive = IsArchiveRow(p.replica);
  w.Put<uint32_t>(archive ? 4 : p.catalog.empty() ? 1 : 3);
  w.PutString(p.replica);
  w.Put(p.life);
  w.Put(p.base);
  w.PutString(p.learned);
  w.PutString(p.policy_kind);
  w.PutVector(p.counters);
  if (!archive && !p.catalog.empty()) PutCatalogChanges(p.catalog, &w);
  if (archive) {
    w.Put<uint64_t>(p.retired.size());
    for (const auto& [replica, life] : p.retired) {
      w.PutString(replica);
      w.Put(life);
    }
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
  ByteReader r(bytes, what);
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
  if (version == 2 && GetCatalog(&r, &models)) {
    // An older build's run-time models: one onboarding each, of id 0.
    if (models.size() > kMaxModels) r.Fail("models", "too many");
    for (int i = 0; i < models.size() && r.status().ok(); ++i) {
      Onboarding o{.profile = models.at(i)};
      if (r.GetString(&o.origin, "model origin") && !IsSyncName(o.origin)) {
        r.Fail("model origin", "not a replica id");
      }
      p.catalog.models.push_back({.name = o.profile.name, .onboardings = {std::move(o)}});
    }
  }
  if (version == 3 && r.status().ok()) GetCatalogChanges(&r, &p.catalog);
  // Only an archive row holds an archive, and it holds nothing else: a
  // replica's row read as an archive (or the reverse) would add its
  // contribution under the wrong bookkeeping.
  if ((version == 4) != IsArchiveRow(row) && r.status().ok()) {
    r.Fail("version", IsArchiveRow(row) ? "an archive row holds a replica's payload"
                                        : "a replica's row holds an archive");
  }
  if (version == 4 && r.status().ok()) GetRetired(&r, &p.retired);
  ROUTER_RETURN_IF_ERROR(r.Finish());
  return p;
}

std::string ArchiveRow(uint64_t base, std::string_view policy_kind) {
  if (IsSyncName(policy_kind)) return fmt::format("{}.{:016x}.{}", kArchivePrefix, base, policy_kind);
  return fmt::format("{}.{:016x}.#{:016x}", kArchivePrefix, base, ArchiveVersion(policy_kind));
}

bool IsArchiveRow(std::string_view row) { return row.starts_with(kArchivePrefix); }

uint64_t ArchiveVersion(std::string_view payload) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across builds and hosts
  for (const unsigned char c : payload) h = (h ^ c) * 0x100000001b3ULL;
  return h == 0 ? 1 : h;
}

}  // namespace router::internal
