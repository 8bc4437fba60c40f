// The run-time catalog changes that replicas share through StateSync
// (router/state_sync.h, docs/scale-out.md): the models added at run time,
// their removals, and price changes. LivePipeline keeps one SyncedCatalog
// with its pipeline (they change together); StateSync merges other
// replicas' into it.
//
// Each part only grows, and merging is a union with a fixed winner, so any
// order of rows (and any replay) gives every replica the same result:
//   - an Onboarding is one AddModel somewhere, named by its origin replica
//     and a random id; a model added at run time is the set of onboardings of
//     its name that this replica merged into its arm, and lives while one of
//     them is not removed; the lowest (origin, id) that lives is in force;
//   - a Tombstone removes one onboarding for good; a later AddModel of the
//     name is another onboarding, which it does not touch;
//   - a PriceChange sets one model's prices; per model the greatest
//     (clock, by) wins (last writer wins, the replica id breaking ties).
#ifndef ROUTER_INTERNAL_SYNCED_CATALOG_H_
#define ROUTER_INTERNAL_SYNCED_CATALOG_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "router/profile.h"

namespace router::internal {

// One AddModel: `origin` is the replica that made it ("" for this replica,
// until StateSync names it), `id` a random non-zero number (0: listed by a
// build older than onboarding ids, payload version 2).
struct Onboarding {
  std::string origin;
  uint64_t id = 0;
  Profile profile;  // as added; its availability is not shared

  bool SameAs(const Onboarding& o) const { return origin == o.origin && id == o.id; }
  bool operator<(const Onboarding& o) const { return std::tie(origin, id) < std::tie(o.origin, o.id); }
};

// A model added at run time: its live onboardings, sorted, so the first is
// in force (its profile is the model's).
struct RunTimeModel {
  std::string name;
  std::vector<Onboarding> onboardings;
};

// The removal of one onboarding of model `name`.
struct Tombstone {
  std::string name;
  std::string origin;
  uint64_t id = 0;

  bool Kills(const std::string& model, const Onboarding& o) const {
    return name == model && origin == o.origin && id == o.id;
  }
};

// New prices for model `name` as onboarding (origin, id) added it, or for
// the model of the fitted file when origin is "" and id 0.
struct PriceChange {
  std::string name;
  std::string origin;
  uint64_t id = 0;
  double input_usd_per_mtok = 0.0;
  double output_usd_per_mtok = 0.0;
  // Last writer wins: the greatest (clock, by). The clock is a hybrid
  // logical clock: milliseconds since the epoch, or one more than any clock
  // the replica had seen, whichever is greater.
  uint64_t clock = 0;
  std::string by;  // the replica that made the change ("" for this one, until named)

  bool SameModel(const PriceChange& o) const {
    return name == o.name && origin == o.origin && id == o.id;
  }
  bool Before(const PriceChange& o) const { return std::tie(clock, by) < std::tie(o.clock, o.by); }
  bool For(const std::string& model, const Onboarding& o) const {
    return name == model && origin == o.origin && id == o.id;
  }
  bool ForFileModel(const std::string& model) const {
    return name == model && origin.empty() && id == 0;
  }
};

struct SyncedCatalog {
  std::vector<RunTimeModel> models;
  std::vector<Tombstone> removed;
  std::vector<PriceChange> prices;  // one per model (name, origin, id): the winner

  bool empty() const { return models.empty() && removed.empty() && prices.empty(); }
  const RunTimeModel* Find(const std::string& name) const {
    const auto it = std::find_if(models.begin(), models.end(),
                                 [&](const RunTimeModel& m) { return m.name == name; });
    return it == models.end() ? nullptr : &*it;
  }
  // The winning price change for model `name` as this catalog has it (a
  // run-time model: any of its onboardings; else the file's model), or null.
  const PriceChange* PriceOf(const std::string& name) const {
    const RunTimeModel* model = Find(name);
    const PriceChange* best = nullptr;
    for (const PriceChange& p : prices) {
      bool applies = false;
      if (model == nullptr) {
        applies = p.ForFileModel(name);
      } else {
        for (const Onboarding& o : model->onboardings) applies = applies || p.For(name, o);
      }
      if (applies && (best == nullptr || best->Before(p))) best = &p;
    }
    return best;
  }
  // The greatest price clock this catalog holds.
  uint64_t MaxClock() const {
    uint64_t clock = 0;
    for (const PriceChange& p : prices) clock = std::max(clock, p.clock);
    return clock;
  }
};

// One change a sync round makes to a pipeline.
struct SyncOp {
  enum class Kind {
    kAdd,     // add `profile` (its router's arm at the prior)
    kSet,     // take `profile`, keeping the model's availability
    kRemove,  // remove model `profile.name`
  };
  Kind kind = Kind::kSet;
  Profile profile;
};

// What a sync round plans: the changes, in order, and the catalog changes
// the pipeline holds after them.
struct SyncPlanned {
  std::vector<SyncOp> ops;
  SyncedCatalog catalog;
};

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_SYNCED_CATALOG_H_
