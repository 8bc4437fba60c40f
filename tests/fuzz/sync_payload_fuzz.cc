// libFuzzer target for what StateSync reads from the store: another
// replica's row (its payload, and inside it the router's learned statistics
// and the policy's counters). No row may crash the replica or leave it
// estimating non-finite figures; a refused row is counted and changes
// nothing.
//
// Most mutations break the payload's CRC-32, which is checked first, so each
// input is tried twice: as given, and with its CRC recomputed (the input is
// then the payload's body). A third try overlays the input on a genuine
// body, which reaches the learned statistics' checks with plausible sizes.
// The genuine peer onboarded models at run time, removed one and changed a
// price, so its body is a version-3 payload and the overlay also reaches
// the run-time catalog changes (onboardings with their profiles, origins and
// ids; tombstones; price changes) and the replica's applying of them.
// Every try is made twice: as the peer's row, and as the archive of retired
// replicas (its row "~retired.<base>.<policy kind>", payload version 4),
// whose genuine body (the peer's, after it retired) is the overlay's base
// there.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/test.sh --full.
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <memory>
#include <string>

#include "router/live_pipeline.h"
#include "router/state_sync.h"
#include "tiny_pipeline.h"

namespace {

using router::LivePipeline;
using router::MemorySyncStore;
using router::StateSync;

struct Replica {
  std::unique_ptr<LivePipeline> live;
  std::shared_ptr<MemorySyncStore> store = std::make_shared<MemorySyncStore>();
  std::unique_ptr<StateSync> sync;
  std::string genuine_body;  // a real peer's payload without its CRC
  std::string genuine_archive_body;  // the archive after that peer retired, without its CRC
  std::string archive_row;           // that archive's row
  std::vector<float> probe;
  uint64_t version = 0;
};

std::string WithCrc(std::string body) {
  const uint32_t crc = static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(body.data()), body.size()));
  body.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  return body;
}

Replica& Get() {
  static Replica* replica = [] {
    auto* r = new Replica;
    auto fitted = router::fuzz::FitTiny("linucb");
    if (!fitted.ok()) std::abort();
    absl::StatusOr<std::string> saved = (*fitted)->ToBytes();
    if (!saved.ok()) std::abort();
    const std::string bytes = *std::move(saved);
    auto load = [&] {
      auto loaded = router::Pipeline::FromBytes(bytes);
      if (!loaded.ok()) std::abort();
      return std::make_unique<LivePipeline>(std::move(loaded).value());
    };
    r->live = load();
    r->probe.resize(r->live->Snapshot()->dim());
    if (!r->live->Snapshot()->Embed("a probe prompt", absl::MakeSpan(r->probe)).ok()) {
      std::abort();
    }
    // A genuine peer: learns a little, publishes, and its row is the model.
    auto peer = load();
    router::Feedback feedback;
    feedback.vector = r->probe;
    feedback.model = peer->Snapshot()->catalog().at(0).name;
    feedback.score = 0.5;
    feedback.cost_usd = 1e-4;
    if (!peer->Observe(feedback).ok()) std::abort();
    const router::Profile newcomer{.name = "fuzz-newcomer", .input_usd_per_mtok = 1.0,
                                   .tags = {"fuzz"}};
    if (!peer->AddModel(newcomer, router::Dataset()).ok()) std::abort();
    feedback.model = newcomer.name;
    if (!peer->Observe(feedback).ok()) std::abort();
    router::Profile gone = newcomer;
    gone.name = "fuzz-gone";
    if (!peer->AddModel(gone, router::Dataset()).ok() || !peer->RemoveModel(gone.name).ok() ||
        !peer->SetPrice(newcomer.name, 2.0, 3.0).ok()) {
      std::abort();
    }
    auto peer_store = std::make_shared<MemorySyncStore>();
    auto peer_sync =
        StateSync::Start(peer.get(), peer_store, {.replica_id = "peer", .interval_ms = 0});
    if (!peer_sync.ok()) std::abort();
    absl::flat_hash_map<std::string, uint64_t> all;
    auto rows = peer_store->Changed({}, &all);
    if (!rows.ok() || rows->size() != 1) std::abort();
    r->genuine_body = (*rows)[0].payload.substr(0, (*rows)[0].payload.size() - 4);
    if (!(*peer_sync)->Retire().ok()) std::abort();
    rows = peer_store->Changed({}, &all);
    if (!rows.ok() || rows->size() != 1 || !(*rows)[0].replica.starts_with("~retired.")) {
      std::abort();
    }
    r->archive_row = (*rows)[0].replica;
    r->genuine_archive_body = (*rows)[0].payload.substr(0, (*rows)[0].payload.size() - 4);
    auto sync = StateSync::Start(r->live.get(), r->store, {.replica_id = "self", .interval_ms = 0});
    if (!sync.ok()) std::abort();
    r->sync = std::move(sync).value();
    return r;
  }();
  return *replica;
}

void Try(Replica& r, const std::string& name, std::string row) {
  r.store->Inject(name, ++r.version, std::move(row));
  if (!r.sync->SyncNow().ok()) std::abort();  // the memory store is never down here
  router::Query query;
  query.vector = r.probe;
  router::Estimates estimates;
  if (!r.live->Snapshot()->router().Estimate(query, &estimates).ok()) std::abort();
  for (const auto& e : estimates.per_model) {
    if (!std::isfinite(e.quality) || !std::isfinite(e.uncertainty) ||
        !std::isfinite(e.expected_cost_usd) || e.expected_cost_usd < 0) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Replica& r = Get();
  const std::string input(reinterpret_cast<const char*>(data), size);
  for (const std::string* genuine : {&r.genuine_body, &r.genuine_archive_body}) {
    const std::string name = genuine == &r.genuine_body ? "peer" : r.archive_row;
    Try(r, name, input);
    Try(r, name, WithCrc(input));
    if (size >= 2) {
      std::string body = *genuine;
      const size_t at = (static_cast<size_t>(data[0]) << 8 | data[1]) % body.size();
      body.replace(at, std::min(size - 2, body.size() - at), input.substr(2));
      Try(r, name, WithCrc(body));
    }
  }
  return 0;
}
