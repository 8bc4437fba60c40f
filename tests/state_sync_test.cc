// StateSync: replicas that exchange their contributions through a store end
// up where one process that saw all the traffic would be (LinUCB's arms, a
// budget policy's spend), and every fault (store down, store emptied, a
// replica restarted, hostile rows) keeps that true without double counting.
#include "router/state_sync.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "router/budget_pacing_policy.h"
#include "router/threshold_policy.h"
#include "router/linucb_router.h"
#include "router/redis_sync_store.h"
#include "router/synthetic.h"
#include "redis_daemon.h"
#include "skip.h"

namespace router {
namespace {

namespace fs = std::filesystem;

// One fitted LinUCB pipeline saved to a file every replica loads.
struct Deployment {
  std::string path;
  std::vector<std::vector<float>> probes;  // query vectors to compare estimates on
  std::vector<std::string> models;

  // Another `seed` fits the same config on other data: another file.
  explicit Deployment(const PolicyConfig* policy = nullptr, uint64_t seed = 21) {
    SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = seed});
    PipelineConfig config;
    config.router = "linucb";
    config.RouterOptions<LinUcbOptions>().context_dim = 6;
    config.RouterOptions<LinUcbOptions>().clusters = 3;
    config.models = synthetic.catalog.profiles();
    config.featurizer.dim = 16;
    if (policy != nullptr) config.policy = *policy;
    auto fitted = Pipeline::Fit(synthetic.dataset, config);
    REQUIRE(fitted.ok());
    path = (fs::temp_directory_path() /
            ("sync-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".router"))
               .string();
    REQUIRE((*fitted)->Save(path).ok());
    for (int i = 0; i < 6; ++i) {
      std::vector<float> v((*fitted)->dim());
      REQUIRE((*fitted)->Embed(SyntheticPrompt(i % 4, 900 + i), absl::MakeSpan(v)).ok());
      probes.push_back(std::move(v));
    }
    for (const Profile& p : synthetic.catalog.profiles()) models.push_back(p.name);
  }
  ~Deployment() { fs::remove(path); }

  std::unique_ptr<LivePipeline> Replica() const {
    auto loaded = Pipeline::Load(path);
    REQUIRE(loaded.ok());
    return std::make_unique<LivePipeline>(std::move(loaded).value());
  }

  // Feedback number `i` of a fixed stream: a probe-like vector, a model and
  // a score that depend on i only.
  Feedback Outcome(int i, std::vector<float>* storage) const {
    *storage = probes[i % probes.size()];
    (*storage)[i % storage->size()] += 0.1f * static_cast<float>(i % 7);
    Feedback f;
    f.vector = *storage;
    f.model = models[i % models.size()];
    f.score = (i % 5) / 4.0;
    f.cost_usd = 1e-4 * (1 + i % 3);
    return f;
  }

  static inline int counter = 0;
};

void Observe(const Deployment& d, LivePipeline& live, int from, int to) {
  std::vector<float> storage;
  for (int i = from; i < to; ++i) REQUIRE(live.Observe(d.Outcome(i, &storage)).ok());
}

// The largest difference in quality or uncertainty between two replicas'
// estimates over the probes.
double Gap(const Deployment& d, const LivePipeline& a, const LivePipeline& b) {
  double gap = 0.0;
  for (const auto& probe : d.probes) {
    Query q;
    q.vector = probe;
    Estimates ea, eb;
    REQUIRE(a.Snapshot()->router().Estimate(q, &ea).ok());
    REQUIRE(b.Snapshot()->router().Estimate(q, &eb).ok());
    REQUIRE(ea.per_model.size() == eb.per_model.size());
    for (size_t m = 0; m < ea.per_model.size(); ++m) {
      gap = std::max(gap, std::abs(ea.per_model[m].quality - eb.per_model[m].quality));
      gap = std::max(gap, std::abs(ea.per_model[m].uncertainty - eb.per_model[m].uncertainty));
      gap = std::max(gap, std::abs(ea.per_model[m].expected_cost_usd -
                                   eb.per_model[m].expected_cost_usd) * 1e3);
    }
  }
  return gap;
}

std::unique_ptr<StateSync> Sync(LivePipeline& live, std::shared_ptr<SyncStore> store,
                                std::string id) {
  auto sync = StateSync::Start(&live, std::move(store), {.replica_id = std::move(id),
                                                         .interval_ms = 0});
  REQUIRE(sync.ok());
  return std::move(sync).value();
}

// One learner that sees a whole stream, and two synced replicas that split
// it: rows [from, mid) go to r1, [mid, to) to r2.
struct Pair {
  const Deployment& d;
  std::shared_ptr<SyncStore> store;
  std::unique_ptr<LivePipeline> single = d.Replica(), r1 = d.Replica(), r2 = d.Replica();
  std::unique_ptr<StateSync> s1 = Sync(*r1, store, "r1"), s2 = Sync(*r2, store, "r2");

  void Split(int from, int mid, int to) {
    Observe(d, *single, from, to);
    Observe(d, *r1, from, mid);
    Observe(d, *r2, mid, to);
  }
  // r1, r2, r1: each has read the other's latest row.
  void SyncBoth() {
    REQUIRE(s1->SyncNow().ok());
    REQUIRE(s2->SyncNow().ok());
    REQUIRE(s1->SyncNow().ok());
  }
  bool Converged() const {
    return Gap(d, *r1, *single) < 1e-9 && Gap(d, *r2, *single) < 1e-9;
  }
};

// The shared checks, over any store: two replicas that split a stream equal
// one learner that saw it all, and a third replica that joins late catches up.
void CheckReplicasEqualOneLearner(const std::shared_ptr<SyncStore>& store) {
  Deployment d;
  Pair p{d, store};
  p.Split(0, 25, 60);
  REQUIRE(Gap(d, *p.r1, *p.single) > 1e-3);  // apart before they sync
  p.SyncBoth();
  INFO("r1 applied " << p.s1->status().applied << ", rejected " << p.s1->status().rejected
                     << ": " << p.s1->status().last_error);
  CHECK(p.Converged());

  // More rounds with nothing new change nothing (nothing applied twice).
  p.SyncBoth();
  CHECK(p.Converged());

  // A replica that starts later reads both rows once.
  auto r3 = d.Replica();
  auto s3 = Sync(*r3, store, "r3");
  CHECK(Gap(d, *r3, *p.single) < 1e-9);
  CHECK(s3->status().applied == 2);
  CHECK(s3->status().replicas == 3);
}

TEST_CASE("replicas that exchanged everything equal one LinUCB learner", "[sync]") {
  CheckReplicasEqualOneLearner(std::make_shared<MemorySyncStore>());
}

TEST_CASE("a store that is down delays sharing and loses nothing", "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  Pair p{d, store};
  store->SetDown(true);
  p.Split(0, 20, 40);
  CHECK(absl::IsUnavailable(p.s1->SyncNow()));
  CHECK(absl::IsUnavailable(p.s2->SyncNow()));
  CHECK_FALSE(p.s1->status().connected);
  CHECK(p.s1->status().failed_rounds == 1);
  Decision decision;
  CHECK(p.r1->RouteText("routes go on while the store is down", &decision).ok());

  store->SetDown(false);
  p.SyncBoth();
  CHECK(p.s1->status().connected);
  CHECK(p.Converged());
}

TEST_CASE("a store restarted empty is re-seeded without double counting", "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  Pair p{d, store};
  p.Split(0, 15, 30);
  p.SyncBoth();

  REQUIRE(store->Clear().ok());
  p.Split(30, 40, 40);  // r1 only
  REQUIRE(p.s2->SyncNow().ok());  // r2 writes its row again
  p.SyncBoth();
  CHECK(p.Converged());
  // A newcomer after the restart gets everything from the re-seeded rows.
  auto r3 = d.Replica();
  auto s3 = Sync(*r3, store, "r3");
  CHECK(Gap(d, *r3, *p.single) < 1e-9);
}

TEST_CASE("a replica restarted under its id takes its row back", "[sync]") {
  Deployment d;
  Pair p{d, std::make_shared<MemorySyncStore>()};
  p.Split(0, 15, 30);
  REQUIRE(p.s1->SyncNow().ok());
  REQUIRE(p.s2->SyncNow().ok());

  // r1 stops and comes back from the file; its row stays in the store.
  p.s1.reset();
  p.r1 = d.Replica();
  p.s1 = Sync(*p.r1, p.store, "r1");
  p.Split(30, 45, 45);  // r1 only
  p.SyncBoth();
  CHECK(p.Converged());
}

TEST_CASE("hostile rows are refused, counted and change nothing", "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto r1 = d.Replica();
  auto untouched = d.Replica();
  auto s1 = Sync(*r1, store, "r1");
  std::string honest;
  {
    // A genuine payload from another replica, to damage.
    auto r2 = d.Replica();
    Observe(d, *r2, 0, 10);
    auto other = std::make_shared<MemorySyncStore>();
    auto s2 = Sync(*r2, other, "r2");
    absl::flat_hash_map<std::string, uint64_t> all;
    auto rows = other->Changed({}, &all);
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    honest = (*rows)[0].payload;
  }
  std::vector<std::string> hostile = {
      "",
      "not a payload at all",
      honest.substr(0, honest.size() / 2),  // truncated
      honest + "x",                         // trailing bytes
  };
  // A NaN written over the middle of the payload (inside the learned sums).
  std::string nan_payload = honest;
  const double nan = std::nan("");
  std::memcpy(nan_payload.data() + honest.size() / 2, &nan, sizeof nan);
  hostile.push_back(nan_payload);
  // One at a time: each round reads the row once.
  int64_t rejected = 0;
  for (size_t i = 0; i < hostile.size(); ++i) {
    store->Inject("r2", 100 + i, hostile[i]);
    REQUIRE(s1->SyncNow().ok());
    rejected = s1->status().rejected;
    CHECK(rejected == static_cast<int64_t>(i + 1));
  }
  CHECK(s1->status().applied == 0);
  CHECK(Gap(d, *r1, *untouched) == 0.0);
  // A row under another replica's name is refused too.
  store->Inject("r3", 1, honest);
  REQUIRE(s1->SyncNow().ok());
  CHECK(s1->status().rejected == rejected + 1);
  CHECK(Gap(d, *r1, *untouched) == 0.0);
}

TEST_CASE("budget pacing paces on the spend of every replica", "[sync]") {
  PolicyConfig budget;
  budget.Set(BudgetPacingOptions{.target_cost_usd = 1e-4});
  Deployment d(&budget);
  auto store = std::make_shared<MemorySyncStore>();
  auto r1 = d.Replica();
  auto r2 = d.Replica();
  auto s1 = Sync(*r1, store, "r1");
  auto s2 = Sync(*r2, store, "r2");
  Decision decision;
  for (int i = 0; i < 12; ++i) REQUIRE(r1->RouteText(SyntheticPrompt(i % 4, i), &decision).ok());
  for (int i = 0; i < 5; ++i) REQUIRE(r2->RouteText(SyntheticPrompt(i % 4, 50 + i), &decision).ok());
  auto pacing = [](const LivePipeline& live) {
    return dynamic_cast<const BudgetPacingPolicy&>(live.Snapshot()->policy()).state();
  };
  const PacingState r1_alone = pacing(*r1), r2_alone = pacing(*r2);
  REQUIRE(r1_alone.requests == 12);
  REQUIRE(s1->SyncNow().ok());
  REQUIRE(s2->SyncNow().ok());
  REQUIRE(s1->SyncNow().ok());
  const PacingState a = pacing(*r1), b = pacing(*r2);
  CHECK(a.requests == 17);
  CHECK(b.requests == 17);
  CHECK(a.spend_usd == Approx(r1_alone.spend_usd + r2_alone.spend_usd).epsilon(1e-12));
  CHECK(b.spend_usd == Approx(a.spend_usd).epsilon(1e-12));
  // Again: nothing is added twice.
  REQUIRE(s2->SyncNow().ok());
  CHECK(pacing(*r2).requests == 17);
}

TEST_CASE("policies refuse shared counters they cannot have, changing nothing", "[sync]") {
  auto budget = BudgetPacingPolicy::Create({.target_cost_usd = 1e-4});
  REQUIRE(budget.ok());
  REQUIRE((*budget)->AddSharedCounters({2e-4, 2}).ok());
  const PacingState before = (*budget)->state();
  CHECK(before.requests == 2);
  CHECK(before.spend_usd == 2e-4);
  const double nan = std::nan("");
  for (const std::vector<double>& bad :
       std::vector<std::vector<double>>{{1.0}, {1.0, 1.0, 1.0}, {nan, 1}, {1e-4, -1},
                                        {1e-4, 0.5}, {1e-4, Policy::kMaxSharedCount + 1}}) {
    CHECK(absl::IsInvalidArgument((*budget)->AddSharedCounters(bad)));
  }
  CHECK((*budget)->state().requests == before.requests);
  CHECK((*budget)->state().spend_usd == before.spend_usd);
  CHECK((*budget)->state().multiplier == before.multiplier);

  auto pair = ThresholdPolicy::Create(
      ThresholdOptions{.strong = "a", .weak = "b", .threshold = 0.0, .strong_share = 0.5});
  REQUIRE(pair.ok());
  // 3 strong of 4 steering decisions against a target of 1/2: the threshold
  // rises by share_step * (3 - 0.5 * 4).
  REQUIRE((*pair)->AddSharedCounters({3, 4, 3, 4}).ok());
  CHECK((*pair)->threshold() == Approx(0.01).margin(1e-15));
  CHECK((*pair)->routing_share().decisions == 4);
  CHECK(absl::IsInvalidArgument((*pair)->AddSharedCounters({5, 4, 0, 0})));  // strong > all
  CHECK(absl::IsInvalidArgument((*pair)->AddSharedCounters({0, 1.5, 0, 0})));
  CHECK((*pair)->routing_share().decisions == 4);
  CHECK((*pair)->threshold() == Approx(0.01).margin(1e-15));
}

TEST_CASE("options are checked", "[sync]") {
  Deployment d;
  auto live = d.Replica();
  auto store = std::make_shared<MemorySyncStore>();
  CHECK(absl::IsInvalidArgument(StateSync::Start(&*live, store, {.replica_id = ""}).status()));
  CHECK(absl::IsInvalidArgument(
      StateSync::Start(&*live, store, {.replica_id = "a b"}).status()));
  CHECK(absl::IsInvalidArgument(
      StateSync::Start(&*live, store, {.replica_id = "a", .interval_ms = -1}).status()));
  CHECK(absl::IsInvalidArgument(StateSync::Start(nullptr, store, {.replica_id = "a"}).status()));
  CHECK(absl::IsInvalidArgument(StateSync::Start(&*live, nullptr, {.replica_id = "a"}).status()));
  // One StateSync per LivePipeline in its life, even after the first stops.
  auto first = StateSync::Start(&*live, store, {.replica_id = "a", .interval_ms = 0});
  REQUIRE(first.ok());
  first->reset();
  CHECK(absl::IsFailedPrecondition(
      StateSync::Start(&*live, store, {.replica_id = "a", .interval_ms = 0}).status()));
}

TEST_CASE("the sync thread shares without being asked", "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto single = d.Replica();
  auto r1 = d.Replica();
  auto r2 = d.Replica();
  auto s1 = StateSync::Start(&*r1, store, {.replica_id = "r1", .interval_ms = 5});
  auto s2 = StateSync::Start(&*r2, store, {.replica_id = "r2", .interval_ms = 5});
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  Observe(d, *single, 0, 20);
  Observe(d, *r1, 0, 10);
  Observe(d, *r2, 10, 20);
  for (int i = 0; i < 2000 && (Gap(d, *r1, *single) > 1e-9 || Gap(d, *r2, *single) > 1e-9); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(Gap(d, *r1, *single) < 1e-9);
  CHECK(Gap(d, *r2, *single) < 1e-9);
}

TEST_CASE("a restarted replica's first row holds what it took back", "[sync]") {
  // Catches a replica that publishes its contribution as it was before it
  // adopted its previous row: a peer that reads that first row and then a
  // later one adds the adopted statistics a second time.
  Deployment d;
  Pair p{d, std::make_shared<MemorySyncStore>()};
  p.Split(0, 15, 30);
  p.SyncBoth();
  p.s1.reset();
  p.r1 = d.Replica();
  p.s1 = Sync(*p.r1, p.store, "r1");  // adopts its row and publishes again
  REQUIRE(p.s2->SyncNow().ok());      // r2 reads that row
  p.Split(30, 45, 45);                // r1 only
  p.SyncBoth();
  CHECK(p.Converged());
}

// ---------------------------------------------------------------- models added at run time

constexpr char kNewcomer[] = "newcomer";

Profile NewcomerProfile(double price) {
  return {.name = kNewcomer, .input_usd_per_mtok = price, .output_usd_per_mtok = 2 * price,
          .p50_latency_ms = 120, .tags = {"fresh"}};
}

// Labelled rows for the newcomer: outcomes `indexes` of the deployment's
// stream, with scores and costs of their own.
Dataset Labelled(const Deployment& d, const std::vector<int>& indexes) {
  std::vector<float> vectors, storage;
  std::vector<double> scores, costs;
  for (int i : indexes) {
    const Feedback f = d.Outcome(i, &storage);
    vectors.insert(vectors.end(), f.vector.begin(), f.vector.end());
    scores.push_back(((i * 3) % 5) / 4.0);
    costs.push_back(3e-4 + 1e-5 * (i % 4));
  }
  auto labelled = LabelledExamples(kNewcomer, vectors, static_cast<int>(d.probes[0].size()),
                                   scores, costs);
  REQUIRE(labelled.ok());
  return *std::move(labelled);
}

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

// Outcomes [from, to) of the stream, every fourth one on the newcomer.
void ObserveWithNewcomer(const Deployment& d, LivePipeline& live, int from, int to) {
  std::vector<float> storage;
  for (int i = from; i < to; ++i) {
    Feedback f = d.Outcome(i, &storage);
    if (i % 4 == 0) f.model = kNewcomer;
    REQUIRE(live.Observe(f).ok());
  }
}

// As Gap, model by model by name (replicas that added models in another
// order index them differently); both must have the same models.
double GapByName(const Deployment& d, const LivePipeline& a, const LivePipeline& b) {
  const std::shared_ptr<const Pipeline> pa = a.Snapshot(), pb = b.Snapshot();
  const Catalog &ca = pa->router().catalog(), &cb = pb->router().catalog();
  REQUIRE(ca.size() == cb.size());
  double gap = 0.0;
  for (const auto& probe : d.probes) {
    Query q;
    q.vector = probe;
    Estimates ea, eb;
    REQUIRE(pa->router().Estimate(q, &ea).ok());
    REQUIRE(pb->router().Estimate(q, &eb).ok());
    for (int m = 0; m < ca.size(); ++m) {
      const absl::StatusOr<int> n = cb.Find(ca.at(m).name);
      REQUIRE(n.ok());
      const ModelEstimate &x = ea.per_model[m], &y = eb.per_model[*n];
      gap = std::max({gap, std::abs(x.quality - y.quality), std::abs(x.uncertainty - y.uncertainty),
                      std::abs(x.expected_cost_usd - y.expected_cost_usd) * 1e3,
                      std::abs(static_cast<double>(x.support - y.support))});
    }
  }
  return gap;
}

const Profile* Find(const LivePipeline& live, const std::string& name) {
  static thread_local std::shared_ptr<const Pipeline> keep;
  keep = live.Snapshot();
  const absl::StatusOr<int> index = keep->catalog().Find(name);
  return index.ok() ? &keep->catalog().at(*index) : nullptr;
}

int64_t Rejected(const StateSync& s) { return s.status().rejected; }

TEST_CASE("a model onboarded on one replica reaches every replica and merges exactly",
          "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto single = d.Replica(), a = d.Replica(), b = d.Replica(), c = d.Replica();
  auto sa = Sync(*a, store, "a"), sb = Sync(*b, store, "b"), sc = Sync(*c, store, "c");
  const Dataset labelled = Labelled(d, Range(100, 112));
  REQUIRE(a->AddModel(NewcomerProfile(1.5), labelled).ok());
  REQUIRE(single->AddModel(NewcomerProfile(1.5), labelled).ok());
  REQUIRE(sa->SyncNow().ok());
  REQUIRE(sb->SyncNow().ok());
  REQUIRE(sc->SyncNow().ok());
  // B and C have it, with A's profile and A's arm. Catches a profile that
  // does not travel, or an arm left at the prior (the labelled rows' sums
  // not shared): B's estimates for it would differ from A's.
  for (const LivePipeline* r : {b.get(), c.get()}) {
    const Profile* added = Find(*r, kNewcomer);
    REQUIRE(added != nullptr);
    CHECK(added->input_usd_per_mtok == 1.5);
    CHECK(added->output_usd_per_mtok == 3.0);
    CHECK(added->tags == std::vector<std::string>{"fresh"});
    CHECK(GapByName(d, *r, *a) < 1e-9);
    // The policy routes to it: a request that allows only it gets it.
    RequestOverrides only;
    only.allowed_models = {kNewcomer};
    Query q;
    q.vector = d.probes[1];
    q.overrides = &only;
    Decision decision;
    REQUIRE(r->Route(q, &decision).ok());
    CHECK(decision.chosen.model == kNewcomer);
  }
  // Feedback on every model, the newcomer included, split three ways.
  // Catches statistics about the new arm that are skipped (read before the
  // arm exists) or counted twice.
  ObserveWithNewcomer(d, *single, 0, 60);
  ObserveWithNewcomer(d, *a, 0, 20);
  ObserveWithNewcomer(d, *b, 20, 40);
  ObserveWithNewcomer(d, *c, 40, 60);
  REQUIRE(GapByName(d, *a, *single) > 1e-3);
  for (StateSync* s : {sa.get(), sb.get(), sc.get(), sa.get(), sb.get()}) REQUIRE(s->SyncNow().ok());
  CHECK(GapByName(d, *a, *single) < 1e-9);
  CHECK(GapByName(d, *b, *single) < 1e-9);
  CHECK(GapByName(d, *c, *single) < 1e-9);
  for (const StateSync* s : {sa.get(), sb.get(), sc.get()}) {
    INFO(s->status().last_error);
    CHECK(Rejected(*s) == 0);
  }
}

TEST_CASE("a run-time model is applied once: rounds, an emptied store, restarts", "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto single = d.Replica(), a = d.Replica(), b = d.Replica();
  auto sa = Sync(*a, store, "a"), sb = Sync(*b, store, "b");
  const Dataset labelled = Labelled(d, Range(100, 110));
  REQUIRE(a->AddModel(NewcomerProfile(1.0), labelled).ok());
  REQUIRE(single->AddModel(NewcomerProfile(1.0), labelled).ok());
  ObserveWithNewcomer(d, *single, 0, 30);
  ObserveWithNewcomer(d, *a, 0, 15);
  REQUIRE(sa->SyncNow().ok());
  REQUIRE(sb->SyncNow().ok());
  ObserveWithNewcomer(d, *b, 15, 30);
  auto converged = [&] {
    return GapByName(d, *a, *single) < 1e-9 && GapByName(d, *b, *single) < 1e-9;
  };
  auto both = [&] {
    for (StateSync* s : {sa.get(), sb.get(), sa.get()}) REQUIRE(s->SyncNow().ok());
  };
  both();
  CHECK(converged());
  const int models = b->Snapshot()->catalog().size();
  const uint64_t generation = b->generation();
  // Rounds with nothing new change nothing: no second add (which would be
  // refused and counted), no statistics added again.
  both();
  both();
  CHECK(converged());
  CHECK(b->generation() == generation);
  CHECK(b->Snapshot()->catalog().size() == models);

  // The store restarted empty: rows are written again, nothing twice.
  REQUIRE(store->Clear().ok());
  ObserveWithNewcomer(d, *single, 30, 40);
  ObserveWithNewcomer(d, *a, 30, 40);
  REQUIRE(sb->SyncNow().ok());
  both();
  CHECK(converged());

  // B restarted under its id, from the file (without the newcomer): it
  // takes its row back, the model with it, and reads A's row whole.
  // Catches a restarted replica that loses the model, or its own learning
  // on it (the adopted statistics need the arm first).
  sb.reset();
  b = d.Replica();
  REQUIRE(Find(*b, kNewcomer) == nullptr);
  sb = Sync(*b, store, "b");
  REQUIRE(Find(*b, kNewcomer) != nullptr);
  CHECK(GapByName(d, *b, *single) < 1e-9);
  ObserveWithNewcomer(d, *single, 40, 50);
  ObserveWithNewcomer(d, *b, 40, 50);
  both();
  CHECK(converged());

  // A replica that starts now reads everything once.
  auto c = d.Replica();
  auto sc = Sync(*c, store, "c");
  CHECK(GapByName(d, *c, *single) < 1e-9);
  for (const StateSync* s : {sa.get(), sb.get(), sc.get()}) {
    INFO(s->status().last_error);
    CHECK(Rejected(*s) == 0);
  }
}

TEST_CASE("two replicas onboard one name: the lowest id's profile wins, the rows add up",
          "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto single = d.Replica(), a = d.Replica(), b = d.Replica(), c = d.Replica();
  auto sa = Sync(*a, store, "r-a"), sb = Sync(*b, store, "r-b"), sc = Sync(*c, store, "r-c");
  std::vector<int> both_rows = Range(100, 108);
  for (int i : Range(200, 206)) both_rows.push_back(i);
  REQUIRE(a->AddModel(NewcomerProfile(1.0), Labelled(d, Range(100, 108))).ok());
  REQUIRE(b->AddModel(NewcomerProfile(3.0), Labelled(d, Range(200, 206))).ok());
  // One learner onboarded it with both sets of rows, and r-a's profile.
  REQUIRE(single->AddModel(NewcomerProfile(1.0), Labelled(d, both_rows)).ok());

  // C hears of r-b's first, and takes its profile for now.
  REQUIRE(sb->SyncNow().ok());
  REQUIRE(sc->SyncNow().ok());
  REQUIRE(Find(*c, kNewcomer) != nullptr);
  CHECK(Find(*c, kNewcomer)->input_usd_per_mtok == 3.0);
  // Then r-a's row: r-a sorts first, so every replica ends with its
  // profile, and with an arm that learned both sets of rows. Catches a
  // winner that depends on the order rows arrive (C would keep r-b's), a
  // replica that keeps its own profile (r-b), or one set of rows dropped or
  // counted twice.
  ObserveWithNewcomer(d, *single, 0, 24);
  ObserveWithNewcomer(d, *a, 0, 8);
  ObserveWithNewcomer(d, *b, 8, 16);
  ObserveWithNewcomer(d, *c, 16, 24);
  for (StateSync* s : {sa.get(), sc.get(), sb.get(), sa.get(), sc.get()}) REQUIRE(s->SyncNow().ok());
  for (const LivePipeline* r : {a.get(), b.get(), c.get()}) {
    REQUIRE(Find(*r, kNewcomer) != nullptr);
    CHECK(Find(*r, kNewcomer)->input_usd_per_mtok == 1.0);
    CHECK(GapByName(d, *r, *single) < 1e-9);
  }
  for (const StateSync* s : {sa.get(), sb.get(), sc.get()}) {
    INFO(s->status().last_error);
    CHECK(Rejected(*s) == 0);
  }
}

TEST_CASE("a model removed on a replica is not brought back by sync", "[sync]") {
  // Catches a plan that re-adds every model a row carries.
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto a = d.Replica(), b = d.Replica();
  auto sa = Sync(*a, store, "a"), sb = Sync(*b, store, "b");
  REQUIRE(a->AddModel(NewcomerProfile(1.0), Labelled(d, Range(100, 104))).ok());
  REQUIRE(sa->SyncNow().ok());
  REQUIRE(sb->SyncNow().ok());
  REQUIRE(Find(*b, kNewcomer) != nullptr);
  REQUIRE(b->RemoveModel(kNewcomer).ok());
  ObserveWithNewcomer(d, *a, 0, 8);  // A's row changes, still carrying it
  REQUIRE(sa->SyncNow().ok());
  REQUIRE(sb->SyncNow().ok());
  CHECK(Find(*b, kNewcomer) == nullptr);
  CHECK(Rejected(*sb) == 0);
}

// CRC-32 (zlib's), so that a test can damage a payload's body and still
// reach its decoder.
std::string WithCrc(std::string body) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : body) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  crc ^= 0xffffffffu;
  body.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  return body;
}

// A u64 as payloads hold it (little-endian).
std::string Le64(uint64_t value) { return std::string(reinterpret_cast<const char*>(&value), 8); }

uint32_t PayloadVersion(const std::string& payload) {
  uint32_t version = 0;
  std::memcpy(&version, payload.data() + 4, sizeof version);
  return version;
}

std::string RowOf(SyncStore& store, const std::string& replica) {
  absl::flat_hash_map<std::string, uint64_t> all;
  auto rows = store.Changed({}, &all);
  REQUIRE(rows.ok());
  for (const SyncRow& row : *rows) {
    if (row.replica == replica) return row.payload;
  }
  FAIL("no row for " << replica);
  return "";
}

// Offers each of `hostile`, in turn, as replica "a"'s row to a new replica:
// each is refused and counted, and nothing changes (no model, no merge, no
// new pipeline). Then offers `genuine`, which must bring the newcomer.
// Returns the replica, for checks of what the genuine row brought.
std::unique_ptr<LivePipeline> RefusesEachThenTakes(const Deployment& d,
                                                   const std::vector<std::string>& hostile,
                                                   const std::string& genuine) {
  auto r = d.Replica(), untouched = d.Replica();
  auto store = std::make_shared<MemorySyncStore>();
  auto sr = Sync(*r, store, "r");
  const uint64_t generation = r->generation();
  for (size_t i = 0; i < hostile.size(); ++i) {
    store->Inject("a", 100 + i, hostile[i]);
    REQUIRE(sr->SyncNow().ok());
    INFO("hostile row " << i << " of " << hostile.size() << ": " << sr->status().last_error);
    REQUIRE(Rejected(*sr) == static_cast<int64_t>(i + 1));
  }
  CHECK(sr->status().applied == 0);
  CHECK(r->generation() == generation);
  CHECK(Find(*r, kNewcomer) == nullptr);
  CHECK(Gap(d, *r, *untouched) == 0.0);
  store->Inject("a", 1000, genuine);
  REQUIRE(sr->SyncNow().ok());
  CHECK(Rejected(*sr) == static_cast<int64_t>(hostile.size()));
  REQUIRE(Find(*r, kNewcomer) != nullptr);
  return r;
}

TEST_CASE("payload versions, and damaged run-time models, are refused and counted", "[sync]") {
  Deployment d;
  // A genuine row that carries a run-time model.
  auto a = d.Replica();
  REQUIRE(a->AddModel(NewcomerProfile(1.0), Labelled(d, Range(100, 106))).ok());
  ObserveWithNewcomer(d, *a, 0, 10);
  auto a_store = std::make_shared<MemorySyncStore>();
  auto sa = Sync(*a, a_store, "a");
  const std::string genuine = RowOf(*a_store, "a");
  const std::string body = genuine.substr(0, genuine.size() - 4);
  CHECK(PayloadVersion(genuine) == 3);
  // Without run-time models a row stays at version 1, which replicas of
  // older builds read (catches a writer that bumps every row and cuts them
  // off during a rolling upgrade).
  {
    auto b = d.Replica();
    Observe(d, *b, 0, 5);
    auto b_store = std::make_shared<MemorySyncStore>();
    auto sb = Sync(*b, b_store, "b");
    CHECK(PayloadVersion(RowOf(*b_store, "b")) == 1);
  }

  std::vector<std::string> hostile;
  // A newer version than this build reads: what an old replica sees of a
  // version-3 row (catches a reader that skips what it does not know).
  std::string newer = body;
  const uint32_t four = 4;
  std::memcpy(newer.data() + 4, &four, sizeof four);
  hostile.push_back(WithCrc(newer));
  // A version-3 body read as version 2 (an older layout) is refused too.
  std::string older = body;
  const uint32_t two = 2;
  std::memcpy(older.data() + 4, &two, sizeof two);
  hostile.push_back(WithCrc(older));
  // Truncated anywhere, with a valid CRC: every 13th length, and each of the
  // last 80 (the models section). Catches a reader that runs off its end.
  for (size_t n = 8; n < body.size(); ++n) {
    if (n % 13 == 0 || n + 80 >= body.size()) hostile.push_back(WithCrc(body.substr(0, n)));
  }
  // The onboarding's origin ("a", after the model's name and its count of
  // onboardings) made something no replica id is.
  std::string origin = body;
  const std::string entry = std::string(kNewcomer) + Le64(1) + Le64(1) + "a";
  REQUIRE(body.find(entry) != std::string::npos);
  origin[body.find(entry) + entry.size() - 1] = ' ';
  hostile.push_back(WithCrc(origin));
  // The model's price made NaN: its profile name is the last "newcomer".
  std::string price = body;
  const double nan = std::nan("");
  std::memcpy(price.data() + body.rfind(kNewcomer) + std::strlen(kNewcomer), &nan, sizeof nan);
  hostile.push_back(WithCrc(price));
  // Statistics that fail their checks, behind a sound models section: a
  // NaN over the first arm's sums. Catches a row that adds its model even
  // though its statistics are refused.
  std::string stats = body;
  const size_t arm = body.find(d.models[0]);
  REQUIRE(arm != std::string::npos);
  std::memcpy(stats.data() + arm + d.models[0].size() + 40, &nan, sizeof nan);
  hostile.push_back(WithCrc(stats));

  // The genuine row is taken, whole.
  auto r = RefusesEachThenTakes(d, hostile, genuine);
  CHECK(GapByName(d, *r, *a) < 1e-9);
}

// ---------------------------------------------------------------- removals and price changes

// Three replicas that all have the newcomer, onboarded on `a` from rows
// [100, 108), with the same feedback on it split between them.
struct Trio {
  const Deployment& d;
  std::shared_ptr<SyncStore> store = std::make_shared<MemorySyncStore>();
  std::unique_ptr<LivePipeline> single = d.Replica(), a = d.Replica(), b = d.Replica(),
                                c = d.Replica();
  std::unique_ptr<StateSync> sa = Sync(*a, store, "r-a"), sb = Sync(*b, store, "r-b"),
                             sc = Sync(*c, store, "r-c");

  explicit Trio(const Deployment& deployment, double price = 1.0)
      : Trio(deployment, std::make_shared<MemorySyncStore>(), price) {}
  Trio(const Deployment& deployment, std::shared_ptr<SyncStore> shared, double price = 1.0)
      : d(deployment), store(std::move(shared)) {
    REQUIRE(a->AddModel(NewcomerProfile(price), Labelled(d, Range(100, 108))).ok());
    REQUIRE(single->AddModel(NewcomerProfile(price), Labelled(d, Range(100, 108))).ok());
    Round({sa.get(), sb.get(), sc.get()});
    ObserveWithNewcomer(d, *single, 0, 24);
    ObserveWithNewcomer(d, *a, 0, 8);
    ObserveWithNewcomer(d, *b, 8, 16);
    ObserveWithNewcomer(d, *c, 16, 24);
    Round({sa.get(), sb.get(), sc.get(), sa.get(), sb.get()});
  }
  static void Round(const std::vector<StateSync*>& order) {
    for (StateSync* s : order) REQUIRE(s->SyncNow().ok());
  }
  std::vector<LivePipeline*> replicas() const { return {a.get(), b.get(), c.get()}; }
  // The store, for tests that inject rows (the in-memory one only).
  MemorySyncStore& memory() const { return dynamic_cast<MemorySyncStore&>(*store); }
  std::vector<StateSync*> syncs() const { return {sa.get(), sb.get(), sc.get()}; }
  void CheckNoneRejected() const {
    for (const StateSync* s : syncs()) {
      INFO(s->status().last_error);
      CHECK(Rejected(*s) == 0);
    }
  }
};

TEST_CASE("a removal reaches every replica exactly once, in either arrival order", "[sync]") {
  // Catches a removal that stays where it was made, one applied again at a
  // later round (a second WithoutModel, refused and counted, or a new
  // pipeline each round), or one that depends on the order rows are read.
  const bool remover_first = GENERATE(true, false);
  Deployment d;
  Trio t(d);
  for (const LivePipeline* r : t.replicas()) REQUIRE(Find(*r, kNewcomer) != nullptr);
  REQUIRE(t.b->RemoveModel(kNewcomer).ok());
  REQUIRE(t.single->RemoveModel(kNewcomer).ok());
  const uint64_t ga = t.a->generation(), gc = t.c->generation();
  if (remover_first) {
    Trio::Round({t.sb.get(), t.sa.get(), t.sc.get()});
  } else {
    // C and A read B's row only after the others' rows changed, and A last.
    Observe(d, *t.single, 24, 28);
    Observe(d, *t.c, 24, 28);
    Trio::Round({t.sc.get(), t.sb.get(), t.sc.get(), t.sa.get()});
  }
  for (const LivePipeline* r : t.replicas()) CHECK(Find(*r, kNewcomer) == nullptr);
  CHECK(t.a->generation() == ga + 1);
  CHECK(t.c->generation() == gc + 1);
  // Rounds after it change nothing, and the replicas still equal one learner
  // that removed it.
  Trio::Round({t.sa.get(), t.sb.get(), t.sc.get(), t.sa.get()});
  CHECK(t.a->generation() == ga + 1);
  CHECK(t.c->generation() == gc + 1);
  for (const LivePipeline* r : t.replicas()) CHECK(GapByName(d, *r, *t.single) < 1e-9);
  t.CheckNoneRejected();
}

TEST_CASE("a removed model stays removed: stale rows, restarts, an emptied store", "[sync]") {
  Deployment d;
  Trio t(d);
  // C's row as it was before the removal: it still lists the model.
  const std::string stale = RowOf(*t.store, "r-c");
  REQUIRE(t.b->RemoveModel(kNewcomer).ok());
  Trio::Round({t.sb.get(), t.sa.get(), t.sc.get()});
  for (const LivePipeline* r : t.replicas()) REQUIRE(Find(*r, kNewcomer) == nullptr);

  // A replica that had not seen the removal writes a row that lists the
  // model. Catches a plan that adds what a row lists without checking the
  // tombstones, or tombstones forgotten once applied.
  t.memory().Inject("r-c", 1000, stale);
  Trio::Round({t.sa.get(), t.sb.get()});
  CHECK(Find(*t.a, kNewcomer) == nullptr);
  CHECK(Find(*t.b, kNewcomer) == nullptr);
  REQUIRE(t.sc->SyncNow().ok());  // C writes its own row again

  // C restarted under its id while the store holds its stale row: it adopts
  // that row, which lists the model. Catches a restarted replica that takes
  // back from its own row a model the others removed.
  t.sc.reset();
  t.c = d.Replica();
  t.memory().Inject("r-c", 3000, stale);
  t.sc = Sync(*t.c, t.store, "r-c");
  CHECK(Find(*t.c, kNewcomer) == nullptr);

  // The store emptied, then the stale row written back first: the live
  // replicas re-seed their rows, with the tombstones. Catches tombstones
  // that are not republished, so that an emptied store loses them.
  REQUIRE(t.store->Clear().ok());
  t.memory().Inject("r-c", 2000, stale);
  Trio::Round({t.sa.get(), t.sb.get()});
  CHECK(Find(*t.a, kNewcomer) == nullptr);
  CHECK(Find(*t.b, kNewcomer) == nullptr);
  Trio::Round({t.sc.get()});
  CHECK(Find(*t.c, kNewcomer) == nullptr);
  // A replica that starts now reads every row, the stale one too.
  auto e = d.Replica();
  auto se = Sync(*e, t.store, "r-e");
  CHECK(Find(*e, kNewcomer) == nullptr);
  for (const StateSync* s : {t.sa.get(), t.sb.get(), se.get()}) {
    INFO(s->status().last_error);
    CHECK(Rejected(*s) == 0);
  }
}

TEST_CASE("a name removed can be onboarded again, and its new arm merges exactly", "[sync]") {
  Deployment d;
  Trio t(d);
  REQUIRE(t.b->RemoveModel(kNewcomer).ok());
  REQUIRE(t.single->RemoveModel(kNewcomer).ok());
  Trio::Round({t.sb.get(), t.sa.get(), t.sc.get()});
  REQUIRE(Find(*t.a, kNewcomer) == nullptr);

  // C onboards it again, with other rows and another price. Catches a
  // tombstone that names the model rather than the onboarding (the new one
  // would be removed at once, everywhere).
  const Dataset rows = Labelled(d, Range(200, 214));
  REQUIRE(t.c->AddModel(NewcomerProfile(2.0), rows).ok());
  REQUIRE(t.single->AddModel(NewcomerProfile(2.0), rows).ok());
  Trio::Round({t.sc.get(), t.sa.get(), t.sb.get()});
  for (const LivePipeline* r : t.replicas()) {
    REQUIRE(Find(*r, kNewcomer) != nullptr);
    CHECK(Find(*r, kNewcomer)->input_usd_per_mtok == 2.0);
  }
  // More feedback on the new arm than on the old one on every replica.
  // Catches a reader that subtracts what a replica had learned on the old
  // arm from what it learned on the new one (now - before, with a before
  // from the arm that was removed).
  ObserveWithNewcomer(d, *t.single, 100, 160);
  ObserveWithNewcomer(d, *t.a, 100, 120);
  ObserveWithNewcomer(d, *t.b, 120, 140);
  ObserveWithNewcomer(d, *t.c, 140, 160);
  Trio::Round({t.sa.get(), t.sb.get(), t.sc.get(), t.sa.get(), t.sb.get()});
  for (const LivePipeline* r : t.replicas()) CHECK(GapByName(d, *r, *t.single) < 1e-9);
  t.CheckNoneRejected();
}

TEST_CASE("removing a model of the fitted file stays on its replica", "[sync]") {
  // The rule chosen: the file is the deployment's shared catalog, changed by
  // rolling out a file; a removal of one of its models is the replica's own,
  // like its availability. Catches a file model's removal that travels.
  Deployment d;
  Trio t(d);
  REQUIRE(t.b->RemoveModel(d.models[2]).ok());
  Trio::Round({t.sb.get(), t.sa.get(), t.sc.get(), t.sb.get()});
  CHECK(Find(*t.b, d.models[2]) == nullptr);
  CHECK(Find(*t.a, d.models[2]) != nullptr);
  CHECK(Find(*t.c, d.models[2]) != nullptr);
  t.CheckNoneRejected();
}

TEST_CASE("price changes converge on every replica, whatever the arrival order", "[sync]") {
  // Catches a price change that does not travel (for a run-time model or a
  // model of the file), a winner that depends on the order rows arrive in
  // (the last row read would win), or on the replica id alone.
  const int order = GENERATE(0, 1, 2);
  Deployment d;
  Trio t(d);
  const std::string file_model = d.models[1];
  // Concurrent changes of the newcomer on B and C: neither has seen the
  // other's. C's is made later, so its clock is at least B's, and on a tie
  // "r-c" > "r-b": C's wins.
  REQUIRE(t.b->SetPrice(kNewcomer, 5.0, 6.0).ok());
  REQUIRE(t.c->SetPrice(kNewcomer, 7.0, 8.0).ok());
  REQUIRE(t.a->SetPrice(file_model, 0.25, 0.5).ok());
  // B marks the newcomer down: availability stays its own.
  REQUIRE(t.b->SetAvailable(kNewcomer, false).ok());
  const std::vector<std::vector<StateSync*>> orders = {
      {t.sa.get(), t.sb.get(), t.sc.get(), t.sa.get(), t.sb.get()},
      {t.sc.get(), t.sb.get(), t.sa.get(), t.sc.get(), t.sb.get()},
      {t.sb.get(), t.sc.get(), t.sa.get(), t.sb.get(), t.sc.get()}};
  Trio::Round(orders[order]);
  for (const LivePipeline* r : t.replicas()) {
    const Profile* newcomer = Find(*r, kNewcomer);
    REQUIRE(newcomer != nullptr);
    CHECK(newcomer->input_usd_per_mtok == 7.0);
    CHECK(newcomer->output_usd_per_mtok == 8.0);
    CHECK(newcomer->p50_latency_ms == 120);  // the rest of the profile as added
    CHECK(newcomer->available == (r != t.b.get()));
    CHECK(Find(*r, file_model)->input_usd_per_mtok == 0.25);
    CHECK(Find(*r, file_model)->output_usd_per_mtok == 0.5);
  }
  // A change made after seeing C's wins, though "r-a" sorts first.
  REQUIRE(t.a->SetPrice(kNewcomer, 3.0, 4.0).ok());
  Trio::Round({t.sc.get(), t.sa.get(), t.sb.get(), t.sc.get()});
  for (const LivePipeline* r : t.replicas()) CHECK(Find(*r, kNewcomer)->input_usd_per_mtok == 3.0);
  // A replica restarted under its id takes the prices back with its row.
  t.sb.reset();
  t.b = d.Replica();
  t.sb = Sync(*t.b, t.store, "r-b");
  CHECK(Find(*t.b, kNewcomer)->input_usd_per_mtok == 3.0);
  CHECK(Find(*t.b, file_model)->input_usd_per_mtok == 0.25);
  // Rounds with nothing new change nothing.
  const uint64_t ga = t.a->generation();
  Trio::Round({t.sa.get(), t.sb.get(), t.sc.get(), t.sa.get()});
  CHECK(t.a->generation() == ga);
  t.CheckNoneRejected();
}

TEST_CASE("hostile removals and price changes are refused, counted and change nothing",
          "[sync]") {
  Deployment d;
  // A genuine row with all three: a model, a tombstone (of "gone") and a
  // price change (7.25, 9.5).
  auto a = d.Replica();
  REQUIRE(a->AddModel(NewcomerProfile(1.0), Labelled(d, Range(100, 106))).ok());
  Profile gone = NewcomerProfile(1.0);
  gone.name = "gone";
  REQUIRE(a->AddModel(gone, Dataset()).ok());
  REQUIRE(a->RemoveModel("gone").ok());
  REQUIRE(a->SetPrice(kNewcomer, 7.25, 9.5).ok());
  auto a_store = std::make_shared<MemorySyncStore>();
  auto sa = Sync(*a, a_store, "a");
  const std::string genuine = RowOf(*a_store, "a");
  const std::string body = genuine.substr(0, genuine.size() - 4);
  REQUIRE(PayloadVersion(genuine) == 3);

  auto put = [](std::string bytes, size_t at, auto value) {
    std::memcpy(bytes.data() + at, &value, sizeof value);
    return bytes;
  };
  const double nan = std::nan(""), price_bits = 7.25;
  const size_t price = body.rfind(std::string(reinterpret_cast<const char*>(&price_bits), 8));
  REQUIRE(price != std::string::npos);
  const size_t tombstone = body.rfind("gone");
  REQUIRE(tombstone != std::string::npos);
  std::vector<std::string> hostile = {
      WithCrc(put(body, price, nan)),                     // a NaN price
      WithCrc(put(body, price, -1.0)),                    // a negative price
      WithCrc(put(body, price + 8, std::numeric_limits<double>::infinity())),  // infinite
      WithCrc(put(body, tombstone + 4 + 8, ' ')),         // a tombstone origin no replica has
      WithCrc(put(body, tombstone - 8, uint64_t{0})),     // a tombstone with no name
      WithCrc(put(body, tombstone - 16, uint64_t{1} << 40)),  // too many tombstones
      WithCrc(body.substr(0, body.size() - 1)),          // the price's replica cut short
      WithCrc(put(body, body.size() - 1, ' ')),          // the price's replica no replica id
  };
  // One tombstone, and one price change, listed twice: the count says two
  // and the entry is repeated (catches duplicate checks that let one pass).
  {
    const size_t entry = tombstone - 8;  // its name's length, "gone", origin "a", id
    const size_t entry_bytes = 8 + 4 + 8 + 1 + 8;
    std::string twice = put(body, tombstone - 16, uint64_t{2});
    twice.insert(entry + entry_bytes, body.substr(entry, entry_bytes));
    hostile.push_back(WithCrc(twice));
    const size_t price_entry = price - 8 - (8 + 1) - (8 + std::string(kNewcomer).size());
    std::string priced_twice = put(body, price_entry - 8, uint64_t{2});
    priced_twice += body.substr(price_entry);
    hostile.push_back(WithCrc(priced_twice));
  }
  // Truncated anywhere in the catalog changes (from the count of models,
  // before the first one's name and its count of onboardings).
  const size_t models = body.find(std::string(kNewcomer) + Le64(1));
  REQUIRE(models != std::string::npos);
  for (size_t n = models - 16; n < body.size(); n += 3) {
    hostile.push_back(WithCrc(body.substr(0, n)));
  }

  // The genuine row is taken, whole, with its price.
  auto r = RefusesEachThenTakes(d, hostile, genuine);
  CHECK(Find(*r, kNewcomer)->input_usd_per_mtok == 7.25);
  CHECK(Find(*r, "gone") == nullptr);
}

// ---- Retiring a replica: its row folds into the archive row ----

// The archive row of `live`'s fitted file and policy kind, named as
// docs/scale-out.md says: "~retired.<base, 16 hex digits>.<policy kind>".
std::string ArchiveOf(const LivePipeline& live) {
  const std::shared_ptr<const Pipeline> p = live.Snapshot();
  char base[17];
  std::snprintf(base, sizeof base, "%016llx",
                static_cast<unsigned long long>(p->router().shared_base()));
  return "~retired." + std::string(base) + "." + std::string(p->policy().name());
}

// The rows the store holds, by name.
absl::flat_hash_map<std::string, uint64_t> RowsIn(SyncStore& store) {
  absl::flat_hash_map<std::string, uint64_t> all;
  REQUIRE(store.Changed({}, &all).ok());
  return all;
}

// A budget policy's request count on `live` (a shared counter).
int64_t Requests(const LivePipeline& live) {
  return dynamic_cast<const BudgetPacingPolicy&>(live.Snapshot()->policy()).state().requests;
}

void Route(LivePipeline& live, int count, int seed) {
  Decision decision;
  for (int i = 0; i < count; ++i) {
    REQUIRE(live.RouteText(SyntheticPrompt(i % 4, seed + i), &decision).ok());
  }
}

// Three replicas and one learner that sees their whole stream; the policy
// is a budget policy, so that counters fold too.
struct Fleet {
  static PolicyConfig Budget() {
    PolicyConfig budget;
    budget.Set(BudgetPacingOptions{.target_cost_usd = 1e-4});
    return budget;
  }
  const PolicyConfig budget = Budget();
  Deployment d;
  std::shared_ptr<SyncStore> store;
  std::unique_ptr<LivePipeline> single = d.Replica();
  std::vector<std::unique_ptr<LivePipeline>> r;
  std::vector<std::unique_ptr<StateSync>> s;
  int next = 0;         // the next feedback item
  int64_t routed = 0;   // requests routed on every replica

  // `replicas` replicas named prefix1, prefix2, ... of the file fitted on
  // synthetic data of `seed`.
  explicit Fleet(std::shared_ptr<SyncStore> shared, int replicas = 3, uint64_t seed = 21,
                 const std::string& prefix = "r")
      : d(&budget, seed), store(std::move(shared)) {
    for (int i = 0; i < replicas; ++i) Join(prefix + std::to_string(i + 1));
  }
  // A replica that syncs through `own` (a connection of its own), or the
  // fleet's store.
  void Join(const std::string& id, std::shared_ptr<SyncStore> own = nullptr) {
    r.push_back(d.Replica());
    s.push_back(Sync(*r.back(), own != nullptr ? std::move(own) : store, id));
  }
  // `count` feedback items to replica i (and to the single learner), and
  // as many routes.
  void Learn(size_t i, int count) {
    Observe(d, *single, next, next + count);
    Observe(d, *r[i], next, next + count);
    Route(*r[i], count, 1000 + next);
    routed += count;
    next += count;
  }
  void Round(std::initializer_list<size_t> order) {
    for (size_t i : order) REQUIRE(s[i]->SyncNow().ok());
  }
  // Replica i estimates like the single learner, and has every request.
  bool Exact(size_t i) const {
    INFO("replica " << i << " rejected " << s[i]->status().rejected << ": "
                    << s[i]->status().last_error);
    CHECK(s[i]->status().rejected == 0);
    return Gap(d, *r[i], *single) < 1e-9 && Requests(*r[i]) == routed;
  }
};

// The shared checks of a retirement, over any store: the retiring replica's
// last feedback is published by Retire; a reader that had applied an older
// row of it, one that had applied the newer one, and a newcomer all end
// exact; further rounds change nothing.
void CheckRetirement(const std::shared_ptr<SyncStore>& store) {
  Fleet f(store);
  f.Learn(0, 20);
  f.Learn(1, 20);
  f.Learn(2, 20);
  f.Round({0, 1, 2, 0, 1});
  for (size_t i : {0, 1, 2}) CHECK(f.Exact(i));
  // r3 publishes a newer row that r2 reads and r1 misses, then learns more
  // that only Retire publishes.
  f.Learn(2, 7);
  f.Round({2, 1});
  f.Learn(2, 5);
  REQUIRE(f.s[2]->Retire().ok());
  auto rows = RowsIn(*store);
  CHECK(rows.size() == 3);
  CHECK(rows.contains("r1"));
  CHECK(rows.contains("r2"));
  CHECK(rows.contains(ArchiveOf(*f.r[0])));
  CHECK(absl::IsFailedPrecondition(f.s[2]->SyncNow()));
  f.s[2].reset();  // the destructor publishes nothing more
  CHECK_FALSE(RowsIn(*store).contains("r3"));

  f.Round({0, 1});
  CHECK(f.Exact(0));  // had applied r3's older row
  CHECK(f.Exact(1));  // had applied r3's newer row
  CHECK(f.s[0]->status().replicas == 2);  // the archive is not a replica
  // A newcomer after the retirement adds the archive whole.
  f.Join("r4");
  CHECK(f.Exact(3));
  // More rounds, and more learning, keep everyone exact.
  f.Learn(0, 9);
  f.Learn(3, 4);
  f.Round({0, 1, 3, 0, 1, 3});
  for (size_t i : {0, 1, 3}) CHECK(f.Exact(i));
}

TEST_CASE("a retired replica folds into the archive and every replica stays exact", "[sync]") {
  CheckRetirement(std::make_shared<MemorySyncStore>());
}

// SyncStore::Swap on any store: it writes only over the version it was
// told, deletes the other row in the same step only if that row is at the
// version it was told (or any, when told kAnyVersion), and a lost race
// changes nothing.
void CheckSwap(SyncStore& store) {
  constexpr uint64_t kAny = SyncStore::kAnyVersion;
  REQUIRE(store.Put("a", 1, "row a").ok());
  REQUIRE(store.Put("b", 1, "row b").ok());
  // The archive is absent: expecting a version loses.
  CHECK(store.Swap("~x", 5, 6, "never", "a", kAny).value() == false);
  CHECK(RowsIn(store).size() == 2);
  // The erased row is at version 1: expecting 2, or absent, loses.
  CHECK(store.Swap("~x", 0, 7, "never", "a", 2).value() == false);
  CHECK(store.Swap("~x", 0, 7, "never", "a", 0).value() == false);
  CHECK(RowsIn(store).size() == 2);
  CHECK(RowOf(store, "a") == "row a");
  CHECK(store.Swap("~x", 0, 7, "archive 7", "a", 1).value() == true);
  auto rows = RowsIn(store);
  CHECK(rows.size() == 2);
  CHECK_FALSE(rows.contains("a"));
  CHECK(rows.at("~x") == 7);
  CHECK(RowOf(store, "~x") == "archive 7");
  // Expecting absent, or an older version, loses now; nothing changes.
  CHECK(store.Swap("~x", 0, 8, "lost", "b", kAny).value() == false);
  CHECK(store.Swap("~x", 6, 8, "lost", "b", 1).value() == false);
  CHECK(RowOf(store, "~x") == "archive 7");
  CHECK(RowsIn(store).contains("b"));
  CHECK(store.Swap("~x", 7, 8, "archive 8", "b", kAny).value() == true);
  CHECK(RowsIn(store).size() == 1);
  CHECK(RowOf(store, "~x") == "archive 8");
  REQUIRE(store.Clear().ok());
  CHECK(RowsIn(store).empty());
}

TEST_CASE("a store swaps a row only over the version it was told", "[sync]") {
  MemorySyncStore store;
  CheckSwap(store);
}

// Stores whose first two Swaps wait for each other, so that two replicas
// retiring at once have both read the archive before either writes it: one
// of them must lose the race (a version that moved, or an EXEC that Redis
// aborts), read again and retry. Each replica has its own (a Redis
// connection serves one thread); they share `inner` rows or one server.
struct Meeting {
  std::mutex mutex;
  std::condition_variable cv;
  int swaps = 0;
};

// A store that passes every call to `inner`: the test stores below change
// only Swap.
class ForwardingStore : public SyncStore {
 public:
  explicit ForwardingStore(std::shared_ptr<SyncStore> inner) : inner_(std::move(inner)) {}
  absl::Status Put(std::string_view replica, uint64_t version, std::string_view payload) override {
    return inner_->Put(replica, version, payload);
  }
  absl::StatusOr<std::vector<SyncRow>> Changed(
      const absl::flat_hash_map<std::string, uint64_t>& known,
      absl::flat_hash_map<std::string, uint64_t>* all) override {
    return inner_->Changed(known, all);
  }
  absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                            std::string_view payload, std::string_view erase,
                            uint64_t erase_expected) override {
    return inner_->Swap(row, expected, version, payload, erase, erase_expected);
  }
  absl::Status Clear() override { return inner_->Clear(); }

 protected:
  std::shared_ptr<SyncStore> inner_;
};

class RacingStore : public ForwardingStore {
 public:
  RacingStore(std::shared_ptr<SyncStore> inner, std::shared_ptr<Meeting> meeting)
      : ForwardingStore(std::move(inner)), meeting_(std::move(meeting)) {}
  absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                            std::string_view payload, std::string_view erase,
                            uint64_t erase_expected) override {
    {
      std::unique_lock lock(meeting_->mutex);
      ++meeting_->swaps;
      meeting_->cv.notify_all();
      meeting_->cv.wait_for(lock, std::chrono::seconds(10), [&] { return meeting_->swaps >= 2; });
    }
    return inner_->Swap(row, expected, version, payload, erase, erase_expected);
  }

 private:
  std::shared_ptr<Meeting> meeting_;
};

// Four replicas; r3 and r4, each through its own racing store, retire at
// once. Both land in the archive once: the others, and a newcomer, equal
// one learner.
void CheckConcurrentRetirement(const std::function<std::shared_ptr<SyncStore>()>& connect) {
  auto meeting = std::make_shared<Meeting>();
  Fleet f(connect(), 2);
  f.Join("r3", std::make_shared<RacingStore>(connect(), meeting));
  f.Join("r4", std::make_shared<RacingStore>(connect(), meeting));
  for (size_t i : {0, 1, 2, 3}) f.Learn(i, 10 + static_cast<int>(i));
  f.Round({0, 1, 2, 3});
  f.Learn(2, 6);
  f.Learn(3, 8);
  absl::Status a, b;
  std::thread ta([&] { a = f.s[2]->Retire(); });
  std::thread tb([&] { b = f.s[3]->Retire(); });
  ta.join();
  tb.join();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(meeting->swaps == 3);  // one lost the race and retried
  auto rows = RowsIn(*f.store);
  CHECK(rows.size() == 3);  // r1, r2 and the archive
  f.Round({0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
  f.Join("r5");
  CHECK(f.Exact(4));
}

TEST_CASE("two replicas retiring at once both land in the archive, once", "[sync]") {
  auto shared = std::make_shared<MemorySyncStore>();
  CheckConcurrentRetirement([&] { return shared; });
}

TEST_CASE("an emptied store gets the archive back, and stays exact", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store);
  for (size_t i : {0, 1, 2}) f.Learn(i, 15);
  f.Round({0, 1, 2, 0, 1});
  REQUIRE(f.s[2]->Retire().ok());
  f.Round({0, 1});
  REQUIRE(store->Clear().ok());
  f.Learn(0, 5);
  f.Round({0, 1, 0});
  CHECK(RowsIn(*store).contains(ArchiveOf(*f.r[0])));  // written back
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
  f.Join("r4");
  CHECK(f.Exact(3));
}

TEST_CASE("an emptied store re-seeded with an older archive gets the fuller one back", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store, 4);
  for (size_t i : {0, 1, 2, 3}) f.Learn(i, 10);
  f.Round({0, 1, 2, 3, 0, 1});
  REQUIRE(f.s[2]->Retire().ok());
  f.Round({0, 1});  // both add the archive of r3
  f.Learn(3, 6);
  REQUIRE(f.s[3]->Retire().ok());
  f.Round({1});  // only r2 adds the archive of r3 and r4
  REQUIRE(store->Clear().ok());
  // r1 writes back the older archive first; r2 puts the fuller one in its
  // place, which r1 then adds.
  f.Round({0, 1, 0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
  f.Join("r5");
  CHECK(f.Exact(4));
}

TEST_CASE("an archive keeps its 4096 latest retirements, oldest dropped first", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store, 4);
  for (size_t i : {0, 1, 2, 3}) f.Learn(i, 8);
  f.Round({0, 1, 2, 3, 0, 1});
  REQUIRE(f.s[2]->Retire().ok());
  f.Round({0, 1});
  const std::string row = ArchiveOf(*f.r[0]);
  // The archive lists r3 only: (count 1) then (8-byte length, "r3", life).
  // Rewritten to list 4095 older retirements first, z0000 to z4094, it is
  // full; readers take it (it lists r3) and add nothing.
  const std::string genuine = RowOf(*store, row);
  std::string body = genuine.substr(0, genuine.size() - 4);
  const size_t r3_pair = 8 + 2 + 8, fake_pair = 8 + 5 + 8;
  const std::string r3 = body.substr(body.size() - r3_pair);
  body.resize(body.size() - r3_pair - 8);
  body += Le64(4096);
  for (int i = 0; i < 4095; ++i) {
    char id[6];
    std::snprintf(id, sizeof id, "z%04d", i);
    body += Le64(5) + id + Le64(1000 + i);
  }
  body += r3;
  store->Inject(row, 777, WithCrc(body));
  f.Round({0, 1});
  REQUIRE(f.Exact(0));
  REQUIRE(f.Exact(1));

  // r4 retires into it: the oldest, z0000, makes room, and r4 comes last.
  f.Learn(3, 5);
  REQUIRE(f.s[3]->Retire().ok());
  const std::string full = RowOf(*store, row);
  const std::string now = full.substr(0, full.size() - 4);
  const size_t list = 4094 * fake_pair + 2 * r3_pair;
  REQUIRE(now.size() > list + 8);
  uint64_t count = 0;
  std::memcpy(&count, now.data() + now.size() - list - 8, sizeof count);
  CHECK(count == 4096);
  CHECK(now.substr(now.size() - list, fake_pair) == Le64(5) + "z0001" + Le64(1001));
  CHECK(now.find("z0000") == std::string::npos);
  CHECK(now.substr(now.size() - 2 * r3_pair, r3_pair) == r3);
  CHECK(now.substr(now.size() - r3_pair, 2 + 8) == Le64(2) + "r4");
  // Readers and a newcomer stay exact.
  f.Round({0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
  f.Join("r5");
  CHECK(f.Exact(4));
}

TEST_CASE("a stale row of a retired replica adds nothing", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store);
  for (size_t i : {0, 1, 2}) f.Learn(i, 12);
  f.Round({0, 1, 2, 0});
  const std::string stale = RowOf(*store, "r3");
  REQUIRE(f.s[2]->Retire().ok());
  f.Round({0});
  REQUIRE(f.Exact(0));
  auto* memory = dynamic_cast<MemorySyncStore*>(store.get());
  memory->Inject("r3", 9999, stale);
  f.Round({0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
  // A newcomer that reads the archive and the stale row in one round.
  f.Join("r4");
  CHECK(f.Exact(3));
}

TEST_CASE("retiring while the store is down changes nothing", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store);
  for (size_t i : {0, 1, 2}) f.Learn(i, 12);
  f.Round({0, 1, 2, 0});
  f.Learn(2, 6);
  store->SetDown(true);
  CHECK(absl::IsUnavailable(f.s[2]->Retire()));
  store->SetDown(false);
  CHECK(RowsIn(*store).contains("r3"));
  CHECK(RowsIn(*store).size() == 3);  // no archive
  // It still syncs, and its row counts.
  f.Round({2, 0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
  REQUIRE(f.s[2]->Retire().ok());
  f.Round({0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
}

TEST_CASE("replicas of a new fitted file retire into an archive of their own", "[sync]") {
  // A rolling update: replicas of file A and of file B (fitted on other
  // data) share one store. Each file's retirements fold into its own
  // archive; statistics stay within a file, while the budget's counters
  // (one policy kind) add up over both files and both archives.
  auto store = std::make_shared<MemorySyncStore>();
  Fleet a(store, 2, 21, "a");
  Fleet b(store, 2, 22, "b");
  REQUIRE(a.r[0]->Snapshot()->router().shared_base() !=
          b.r[0]->Snapshot()->router().shared_base());
  auto everyone = [&](std::initializer_list<size_t> order) {
    for (int twice = 0; twice < 2; ++twice) {
      a.Round(order);
      b.Round(order);
    }
  };
  // Replica i of fleet f estimates like f's single learner and counts the
  // requests routed on both files.
  auto exact = [&](const Fleet& f, size_t i) {
    INFO("replica " << i << " rejected " << f.s[i]->status().rejected << ": "
                    << f.s[i]->status().last_error);
    CHECK(f.s[i]->status().rejected == 0);
    CHECK(Requests(*f.r[i]) == a.routed + b.routed);
    return Gap(f.d, *f.r[i], *f.single) < 1e-9;
  };
  a.Learn(0, 10);
  a.Learn(1, 8);
  b.Learn(0, 9);
  b.Learn(1, 7);
  everyone({0, 1});
  for (size_t i : {0, 1}) {
    CHECK(exact(a, i));
    CHECK(exact(b, i));
  }

  // One replica of each file retires, with feedback only Retire publishes.
  a.Learn(1, 5);
  REQUIRE(a.s[1]->Retire().ok());
  b.Learn(1, 6);
  REQUIRE(b.s[1]->Retire().ok());  // an archive of file A is no obstacle
  const std::string archive_a = ArchiveOf(*a.r[0]), archive_b = ArchiveOf(*b.r[0]);
  CHECK(archive_a != archive_b);
  auto rows = RowsIn(*store);
  CHECK(rows.size() == 4);
  CHECK(rows.contains("a1"));
  CHECK(rows.contains("b1"));
  CHECK(rows.contains(archive_a));
  CHECK(rows.contains(archive_b));
  a.s[1].reset();
  b.s[1].reset();
  everyone({0});
  CHECK(exact(a, 0));
  CHECK(exact(b, 0));
  CHECK(a.s[0]->status().replicas == 2);  // archives are not replicas

  // Newcomers of either file add their file's archive whole, and the
  // counters of both.
  a.Join("a3");
  b.Join("b3");
  CHECK(exact(a, 2));
  CHECK(exact(b, 2));

  // A second retirement into file B's archive, and more learning.
  b.Learn(0, 4);
  a.Learn(2, 3);
  REQUIRE(b.s[0]->Retire().ok());
  b.s[0].reset();
  for (int twice = 0; twice < 2; ++twice) {
    a.Round({0, 2});
    b.Round({2});
  }
  CHECK(RowsIn(*store).size() == 5);  // a1, a3, b3 and the two archives
  CHECK(exact(a, 0));
  CHECK(exact(a, 2));
  CHECK(exact(b, 2));

  // A store restarted empty gets both archives back, from the first
  // replica that rounds (a1 added both).
  REQUIRE(store->Clear().ok());
  a.Round({0});
  rows = RowsIn(*store);
  CHECK(rows.size() == 3);
  CHECK(rows.contains(archive_a));
  CHECK(rows.contains(archive_b));
  for (int twice = 0; twice < 2; ++twice) {
    a.Round({0, 2});
    b.Round({2});
  }
  CHECK(RowsIn(*store).size() == 5);
  a.Join("a4");
  b.Join("b4");
  CHECK(exact(a, 3));
  CHECK(exact(b, 3));
}

// A store that swaps and then loses the answer (a connection that drops
// after EXEC ran).
class LostAnswerStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                            std::string_view payload, std::string_view erase,
                            uint64_t erase_expected) override {
    absl::StatusOr<bool> swapped =
        inner_->Swap(row, expected, version, payload, erase, erase_expected);
    if (!swapped.ok()) return swapped;
    return absl::UnavailableError("lost the answer");
  }
};

TEST_CASE("a retirement whose answer was lost is found in the archive, not published again",
          "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store, 2);
  f.Join("r3", std::make_shared<LostAnswerStore>(store));
  for (size_t i : {0, 1, 2}) f.Learn(i, 10);
  f.Round({0, 1, 2, 0, 1});
  f.Learn(2, 4);
  CHECK(absl::IsUnavailable(f.s[2]->Retire()));
  CHECK_FALSE(RowsIn(*store).contains("r3"));  // the swap did run
  // Its next round finds itself in the archive: it writes its row no more.
  CHECK(absl::IsFailedPrecondition(f.s[2]->SyncNow()));
  CHECK_FALSE(RowsIn(*store).contains("r3"));
  CHECK(absl::IsFailedPrecondition(f.s[2]->Retire()));
  f.s[2].reset();
  CHECK_FALSE(RowsIn(*store).contains("r3"));
  f.Round({0, 1});
  CHECK(f.Exact(0));
  CHECK(f.Exact(1));
}

// ---- Folding the row of a replica that is gone (StateSync::Fold) ----

// Replica i stops as a SIGKILL would stop it: nothing more is published
// (its destructor's round finds the store down).
void Kill(Fleet& f, size_t i) {
  auto* memory = dynamic_cast<MemorySyncStore*>(f.store.get());
  REQUIRE(memory != nullptr);
  memory->SetDown(true);
  f.s[i].reset();
  memory->SetDown(false);
}

TEST_CASE("the row of a killed replica is folded by another, and every replica stays exact",
          "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store);
  for (size_t i : {0, 1, 2}) f.Learn(i, 12);
  f.Round({0, 1, 2, 0, 1});
  // r3 publishes a newer row that r1 reads and r2 misses, then is killed.
  f.Learn(2, 6);
  f.Round({2, 0});
  Kill(f, 2);
  REQUIRE(RowsIn(*store).size() == 3);
  const std::string last_row = RowOf(*store, "r3");

  REQUIRE(f.s[0]->Fold("r3").ok());
  auto rows = RowsIn(*store);
  CHECK(rows.size() == 3);
  CHECK_FALSE(rows.contains("r3"));
  CHECK(rows.contains(ArchiveOf(*f.r[0])));
  f.Round({0, 1});
  CHECK(f.Exact(0));  // had applied r3's newer row
  CHECK(f.Exact(1));  // had applied r3's older row
  CHECK(f.s[0]->status().replicas == 2);
  f.Join("r4");
  CHECK(f.Exact(3));
  // The row is gone: folding it again finds nothing.
  CHECK(absl::IsNotFound(f.s[1]->Fold("r3")));
  f.Learn(1, 5);
  f.Round({0, 1, 3, 0});
  for (size_t i : {0, 1, 3}) CHECK(f.Exact(i));

  // A stale copy of the folded row comes back (a store restored from an
  // old dump): readers ignore it, and folding it deletes it and adds
  // nothing to the archive.
  const std::string archive = ArchiveOf(*f.r[0]);
  const uint64_t archive_version = RowsIn(*store).at(archive);
  store->Inject("r3", 5000, last_row);
  f.Round({0, 1});
  REQUIRE(f.Exact(0));
  REQUIRE(f.Exact(1));
  REQUIRE(f.s[1]->Fold("r3").ok());
  rows = RowsIn(*store);
  CHECK_FALSE(rows.contains("r3"));
  CHECK(rows.at(archive) == archive_version);
  f.Round({0, 1, 3});
  for (size_t i : {0, 1, 3}) CHECK(f.Exact(i));
  f.Join("r5");
  CHECK(f.Exact(4));
}

// The replica ids status().rows lists, in its order.
std::vector<std::string> RowNames(const SyncStatus& status) {
  std::vector<std::string> names;
  for (const SyncStatus::Row& row : status.rows) names.push_back(row.replica);
  return names;
}

TEST_CASE("status lists the other replicas' rows, and how long each has not changed",
          "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store);
  for (size_t i : {0, 1, 2}) f.Learn(i, 6);
  f.Round({0, 1, 2, 0});
  using Names = std::vector<std::string>;
  CHECK(RowNames(f.s[0]->status()) == Names{"r2", "r3"});  // not its own
  CHECK(RowNames(f.s[2]->status()) == Names{"r1", "r2"});
  // r3 is killed; r2 goes on publishing. r1 sees r2's row change, and r3's
  // stay as it was at least as long as the pause.
  Kill(f, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  f.Learn(1, 3);
  f.Round({1, 0});
  const SyncStatus status = f.s[0]->status();
  REQUIRE(RowNames(status) == Names{"r2", "r3"});
  CHECK(status.rows[1].unchanged_ms >= 60);
  CHECK(status.rows[0].unchanged_ms < status.rows[1].unchanged_ms);
  // Folded, r3's row leaves the list; the archive is not listed.
  REQUIRE(f.s[0]->Fold("r3").ok());
  REQUIRE(f.s[0]->SyncNow().ok());
  CHECK(RowNames(f.s[0]->status()) == Names{"r2"});
}

TEST_CASE("Fold refuses what it cannot fold, changing nothing", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet a(store, 2, 21, "a");
  Fleet b(store, 1, 22, "b");
  a.Learn(0, 6);
  b.Learn(0, 5);
  a.Round({0, 1});
  b.Round({0});
  const auto before = RowsIn(*store);
  REQUIRE(before.size() == 3);
  CHECK(absl::IsInvalidArgument(a.s[0]->Fold("a1")));  // its own: it retires
  CHECK(absl::IsInvalidArgument(a.s[0]->Fold("not an id")));
  CHECK(absl::IsInvalidArgument(a.s[0]->Fold("~retired")));
  CHECK(absl::IsNotFound(a.s[0]->Fold("a9")));
  CHECK(absl::IsFailedPrecondition(a.s[0]->Fold("b1")));  // another fitted file's
  CHECK(RowsIn(*store) == before);
  // A replica of that file folds it.
  b.Join("b2");
  Kill(b, 0);
  CHECK(b.s[1]->Fold("b1").ok());
  const auto after = RowsIn(*store);
  CHECK(after.size() == 4);  // a1, a2, b2 and b's archive
  CHECK_FALSE(after.contains("b1"));
  CHECK(after.contains(ArchiveOf(*b.r[1])));
}

// A store whose Swaps find the erased row rewritten first (a replica that
// was alive after all, publishing between the folder's read and its swap).
class RewritingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<bool> Swap(std::string_view row, uint64_t expected, uint64_t version,
                            std::string_view payload, std::string_view erase,
                            uint64_t erase_expected) override {
    absl::flat_hash_map<std::string, uint64_t> all;
    absl::StatusOr<std::vector<SyncRow>> rows = inner_->Changed({}, &all);
    if (!rows.ok()) return rows.status();
    for (const SyncRow& r : *rows) {
      if (r.replica == erase) REQUIRE(inner_->Put(r.replica, r.version + 1, r.payload).ok());
    }
    ++swaps;
    return inner_->Swap(row, expected, version, payload, erase, erase_expected);
  }
  int swaps = 0;
};

TEST_CASE("Fold never deletes a row that changed since it was read", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store, 2);
  auto rewriting = std::make_shared<RewritingStore>(store);
  f.Join("r3", rewriting);
  for (size_t i : {0, 1, 2}) f.Learn(i, 8);
  f.Round({0, 1, 2, 0, 1});
  const absl::Status folded = f.s[2]->Fold("r1");
  CHECK(absl::IsAborted(folded));
  CHECK(rewriting->swaps == 8);
  auto rows = RowsIn(*store);
  CHECK(rows.size() == 3);  // r1 stays; no archive
  CHECK(rows.contains("r1"));
  f.Round({0, 1, 2});
  for (size_t i : {0, 1, 2}) CHECK(f.Exact(i));
}

TEST_CASE("a replica folded while alive stops syncing, and its row stays folded", "[sync]") {
  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store);
  for (size_t i : {0, 1, 2}) f.Learn(i, 10);
  f.Round({0, 1, 2, 0, 1});
  REQUIRE(f.s[0]->Fold("r2").ok());  // a mistake: r2 is alive
  f.Learn(1, 4);                      // learning r2 will not share
  CHECK(absl::IsFailedPrecondition(f.s[1]->SyncNow()));
  CHECK(f.s[1]->status().last_error.find("folded") != std::string::npos);
  CHECK_FALSE(RowsIn(*store).contains("r2"));
  CHECK(absl::IsFailedPrecondition(f.s[1]->Retire()));
  f.s[1].reset();
  CHECK_FALSE(RowsIn(*store).contains("r2"));
  // The others keep what r2 had published, once; its last 4 items are lost
  // to them, as a killed replica's unpublished feedback is.
  f.Round({0, 2, 0});
  CHECK(Gap(f.d, *f.r[0], *f.r[2]) < 1e-9);
  CHECK(Requests(*f.r[0]) == f.routed - 4);
  CHECK(f.s[0]->status().rejected == 0);
}

TEST_CASE("Retire stops the sync thread, while feedback goes on", "[sync]") {
  Deployment d;
  auto store = std::make_shared<MemorySyncStore>();
  auto single = d.Replica();
  auto r1 = d.Replica();
  auto r2 = d.Replica();
  auto s1 = Sync(*r1, store, "r1");
  auto s2 = StateSync::Start(&*r2, store, {.replica_id = "r2", .interval_ms = 2});
  REQUIRE(s2.ok());
  // r2 learns on another thread while its sync thread runs and it retires.
  std::thread feeder([&] { Observe(d, *r2, 0, 40); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  feeder.join();
  Observe(d, *single, 0, 40);
  REQUIRE((*s2)->Retire().ok());
  const int64_t rounds = (*s2)->status().rounds;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK((*s2)->status().rounds == rounds);  // the thread runs no more rounds
  CHECK_FALSE(RowsIn(*store).contains("r2"));
  s2->reset();
  CHECK_FALSE(RowsIn(*store).contains("r2"));
  REQUIRE(s1->SyncNow().ok());
  CHECK(Gap(d, *r1, *single) < 1e-9);
}

TEST_CASE("a run-time model outlives the retirement of the replica that onboarded it", "[sync]") {
  // a onboarded the newcomer and learned on it; it retires. b and c
  // republish the model, and the archive carries a's statistics of it (its
  // labelled rows' sums and its feedback), so a replica that starts after
  // a left has the model and estimates it like one learner.
  Deployment d;
  Trio t(d);
  ObserveWithNewcomer(d, *t.single, 24, 30);
  ObserveWithNewcomer(d, *t.a, 24, 30);
  REQUIRE(t.sa->Retire().ok());
  CHECK_FALSE(RowsIn(*t.store).contains("r-a"));
  Trio::Round({t.sb.get(), t.sc.get(), t.sb.get()});
  CHECK(GapByName(d, *t.b, *t.single) < 1e-9);
  CHECK(GapByName(d, *t.c, *t.single) < 1e-9);
  auto late = d.Replica();
  auto sl = Sync(*late, t.store, "r-late");
  REQUIRE(Find(*late, kNewcomer) != nullptr);
  CHECK(GapByName(d, *late, *t.single) < 1e-9);
  for (const StateSync* s : {t.sb.get(), t.sc.get(), sl.get()}) {
    INFO(s->status().last_error);
    CHECK(Rejected(*s) == 0);
  }
}

TEST_CASE("hostile archives are refused, counted and change nothing", "[sync]") {
  // A genuine archive of two retirements (r2, r3: ids of one length).
  std::string genuine, archive_row;
  {
    auto other = std::make_shared<MemorySyncStore>();
    Fleet g(other);
    for (size_t i : {0, 1, 2}) g.Learn(i, 10);
    g.Round({0, 1, 2});
    REQUIRE(g.s[1]->Retire().ok());
    REQUIRE(g.s[2]->Retire().ok());
    archive_row = ArchiveOf(*g.r[0]);
    genuine = RowOf(*other, archive_row);
  }
  const std::string body = genuine.substr(0, genuine.size() - 4);
  REQUIRE(WithCrc(body) == genuine);  // the test's CRC is the payload's
  std::vector<std::pair<std::string, std::string>> hostile;
  hostile.emplace_back("truncated", genuine.substr(0, genuine.size() / 2));
  {
    std::string b = body;  // an older payload version: a replica's row under the archive's name
    b[4] = 1;
    hostile.emplace_back("version 1", WithCrc(b));
    b[4] = 9;
    hostile.emplace_back("version 9", WithCrc(b));
  }
  {
    // The second retired pair (8-byte length, 2-byte id, 8-byte life) made
    // a copy of the first.
    std::string b = body;
    const size_t pair = 8 + 2 + 8;
    b.replace(b.size() - pair, pair, b.substr(b.size() - 2 * pair, pair));
    hostile.emplace_back("duplicate ids", WithCrc(b));
  }
  {
    // NaN in the first arm's cost sum: magic, version, replica (the
    // archive row's name), life, base, the learned bytes' length; then
    // their version, base, context and arm count, the arm's name, its
    // update count.
    std::string b = body;
    const size_t learned = 4 + 4 + 8 + archive_row.size() + 8 + 8 + 8;
    const size_t name = learned + 4 + 8 + 4 + 8;
    uint64_t name_size = 0;
    std::memcpy(&name_size, b.data() + name, sizeof name_size);
    REQUIRE(name_size < 64);
    const double nan = std::nan("");
    std::memcpy(b.data() + name + 8 + name_size + 8, &nan, sizeof nan);
    hostile.emplace_back("NaN", WithCrc(b));
  }

  auto store = std::make_shared<MemorySyncStore>();
  Fleet f(store, 2);
  f.Learn(0, 10);
  f.Learn(1, 10);
  f.Round({0, 1, 0});
  REQUIRE(f.Exact(0));
  for (size_t i = 0; i < hostile.size(); ++i) {
    INFO(hostile[i].first);
    store->Inject(archive_row, 100 + i, hostile[i].second);
    REQUIRE(f.s[0]->SyncNow().ok());
    CHECK(f.s[0]->status().rejected == static_cast<int64_t>(i + 1));
    CHECK(Gap(f.d, *f.r[0], *f.single) < 1e-9);
    CHECK(Requests(*f.r[0]) == f.routed);
  }
  // An archive under a replica's name is refused too.
  store->Inject("r9", 1, genuine);
  REQUIRE(f.s[0]->SyncNow().ok());
  CHECK(f.s[0]->status().rejected == static_cast<int64_t>(hostile.size() + 1));
  CHECK(Gap(f.d, *f.r[0], *f.single) < 1e-9);
}

// A redis-server of the test's own on a free port, or SKIP.
TEST_CASE("replicas share through a real Redis, with AUTH and a key prefix", "[sync][redis]") {
  if (!RedisSyncAvailable()) ROUTER_SKIP("this build has no Redis store (hiredis not found)");
  if (!testing::RedisServerInstalled()) ROUTER_SKIP("redis-server is not installed");
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  const testing::RedisDaemon redis(port, "sesame", "redis-" + std::to_string(port));
  REQUIRE(redis.started());

  RedisOptions options{.port = port, .password = "sesame", .key_prefix = "test-a"};
  auto connect = [&](RedisOptions o) -> std::shared_ptr<SyncStore> {
    auto store = RedisSyncStore::Create(std::move(o));
    REQUIRE(store.ok());
    return std::shared_ptr<SyncStore>(std::move(store).value());
  };
  // Wait for the server to accept.
  std::shared_ptr<SyncStore> probe = connect(options);
  absl::flat_hash_map<std::string, uint64_t> all;
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = probe->Changed({}, &all).ok();
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(110));
  }
  REQUIRE(up);

  CheckReplicasEqualOneLearner(connect(options));
  {
    // Catalog changes through Redis: a run-time model added on one replica
    // and removed on another, and a price set on a third, reach all three.
    RedisOptions catalog_options = options;
    catalog_options.key_prefix = "test-catalog";
    Deployment d;
    Trio t(d, connect(catalog_options));
    for (const LivePipeline* r : t.replicas()) REQUIRE(Find(*r, kNewcomer) != nullptr);
    REQUIRE(t.b->RemoveModel(kNewcomer).ok());
    REQUIRE(t.c->SetPrice(d.models[1], 0.25, 0.5).ok());
    Trio::Round({t.sb.get(), t.sc.get(), t.sa.get(), t.sb.get()});
    for (const LivePipeline* r : t.replicas()) {
      CHECK(Find(*r, kNewcomer) == nullptr);
      CHECK(Find(*r, d.models[1])->input_usd_per_mtok == 0.25);
    }
    t.CheckNoneRejected();
  }
  {
    // A retirement through Redis: WATCH/MULTI/EXEC folds the row.
    RedisOptions retire_options = options;
    retire_options.key_prefix = "test-retire";
    CheckRetirement(connect(retire_options));
    retire_options.key_prefix = "test-retire-race";
    CheckConcurrentRetirement([&] { return connect(retire_options); });
    retire_options.key_prefix = "test-swap";
    CheckSwap(*connect(retire_options));
  }
  // Clear deletes the deployment's rows, and only them.
  std::shared_ptr<SyncStore> store = connect(options);
  REQUIRE(store->Changed({}, &all).ok());
  CHECK(all.size() == 3);
  REQUIRE(store->Clear().ok());
  REQUIRE(store->Changed({}, &all).ok());
  CHECK(all.empty());

  // Another deployment's prefix sees none of it; a wrong password is refused
  // without the password in the message.
  RedisOptions other = options;
  other.key_prefix = "test-b";
  REQUIRE(connect(other)->Changed({}, &all).ok());
  CHECK(all.empty());
  RedisOptions wrong = options;
  wrong.password = "not-sesame";
  absl::Status refused = connect(wrong)->Changed({}, &all).status();
  CHECK(absl::IsUnavailable(refused));
  CHECK(std::string(refused.message()).find("not-sesame") == std::string::npos);
}

}  // namespace
}  // namespace router
