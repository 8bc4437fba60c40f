// LinUcbRouter under concurrent use: threads route (through the router and
// through snapshots) while others send feedback and add and remove models.
// Run under TSan by scripts/test.sh. The run lasts about 1.5 s (longer only
// if the box is too slow to reach the minimum amounts of work), and every
// check is an invariant, so the outcome does not depend on the interleaving:
//   * no route fails, and no estimate is NaN, infinite or out of range;
//   * a route that starts after RemoveModel returned never lists the model;
//   * every estimate has as many entries as the catalog it came with;
//   * no update is lost: each arm's update count is its initial count plus
//     the feedback accepted for it, and the router's online update count is
//     the total accepted;
//   * feedback is refused only for models that were removed (NotFound).
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "embed_all.h"
#include "router/linucb_router.h"
#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace router {
namespace {

using Clock = std::chrono::steady_clock;

double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// "dyn-17" -> 17; -1 for the base models.
int DynamicId(const std::string& name) {
  return name.rfind("dyn-", 0) == 0 ? std::stoi(name.substr(4)) : -1;
}

bool Sane(const Estimates& e) {
  for (const ModelEstimate& m : e.per_model) {
    if (!(m.quality >= 0.0 && m.quality <= 1.0) || !std::isfinite(m.uncertainty) ||
        m.uncertainty < 0.0 || !std::isfinite(m.expected_cost_usd) || m.support < 0) {
      return false;
    }
  }
  return true;
}

TEST_CASE("LinUCB routes, learns and changes models concurrently", "[concurrency][linucb]") {
  const auto setup_start = Clock::now();
  SyntheticData syn = GenerateSynthetic({.rows = 300, .seed = 5});
  TextFeaturizer featurizer({.word_buckets = 1024, .char_buckets = 1024, .dim = 24});
  REQUIRE(featurizer.Fit(syn.dataset.prompts).ok());
  Dataset& data = syn.dataset;
  testing::EmbedAll(featurizer, &data);
  LinUcbRouter router(LinUcbOptions{.context_dim = 12, .alpha = 0.3, .reinvert_every = 50});
  REQUIRE(router.Fit(data, syn.catalog).ok());

  // Queries: prompts of every topic.
  const int num_topics = static_cast<int>(syn.topics.size());
  std::vector<std::vector<float>> vectors;
  std::vector<int> topic_of;
  for (int i = 0; i < 60; ++i) {
    vectors.emplace_back(featurizer.dim());
    REQUIRE(featurizer.Embed(SyntheticPrompt(i % num_topics, 700 + i),
                             absl::MakeSpan(vectors.back()))
                .ok());
    topic_of.push_back(i % num_topics);
  }

  // Initial update counts: the warm start of the base models, the labelled
  // rows of the onboarded ones.
  std::map<std::string, int64_t> initial;
  {
    LinUcbSnapshot s = router.snapshot();
    for (int m = 0; m < s.catalog().size(); ++m) initial[s.catalog().at(m).name] = s.updates(m);
  }
  // Onboarding data: even dynamic models start fresh, odd ones from 20 rows
  // whose first column is renamed to the model.
  auto labelled_for = [&](int id) {
    if (id % 2 == 0) return Dataset{};
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < 20; ++r) rows.push_back((id * 7 + r) % data.rows());
    Dataset labelled = data.Subset(rows);
    labelled.model_names[0] = "dyn-" + std::to_string(id);
    return labelled;
  };

  const double setup_seconds = std::chrono::duration<double>(Clock::now() - setup_start).count();
  constexpr int kMaxDynamic = 400;
  constexpr int kAliveDynamic = 3;
  const auto run_start = Clock::now();
  const auto soft_deadline = run_start + std::chrono::milliseconds(1500);
  const auto hard_deadline = Clock::now() + std::chrono::seconds(30);
  std::atomic<bool> stop{false};
  // Every dynamic model with an id below this has been removed (RemoveModel
  // returned): removals go in id order.
  std::atomic<int> removed_below{0};
  std::atomic<int> route_failures{0}, insane{0}, stale_routes{0}, size_mismatches{0},
      version_regressions{0}, routes{0};
  std::atomic<int> feedback_failures{0}, refused{0}, manager_failures{0}, cycles{0};

  std::vector<std::thread> threads;
  constexpr int kRouters = 3;
  for (int t = 0; t < kRouters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      Estimates e;
      std::vector<Estimates> batch(4);
      uint64_t last_version = 0;
      for (int i = 0; !stop.load(); ++i) {
        const std::vector<float>& v = vectors[rng() % vectors.size()];
        const Query query{.vector = v, .input_tokens = 50};
        const int removed_before_start = removed_below.load();
        absl::Status status;
        switch (i % 4) {
          case 0: {  // a snapshot: estimates and names from one state
            LinUcbSnapshot s = router.snapshot();
            if (s.version() < last_version) ++version_regressions;
            last_version = s.version();
            status = s.Estimate(query, &e);
            if (status.ok()) {
              if (static_cast<int>(e.per_model.size()) != s.catalog().size()) ++size_mismatches;
              for (const Profile& p : s.catalog().profiles()) {
                const int id = DynamicId(p.name);
                if (id >= 0 && id < removed_before_start) ++stale_routes;
              }
            }
            break;
          }
          case 1: {  // the estimate and the catalog it is indexed like
            std::shared_ptr<const Catalog> catalog;
            status = router.Estimate(query, &e, &catalog);
            if (status.ok()) {
              if (static_cast<int>(e.per_model.size()) != catalog->size()) ++size_mismatches;
              for (const Profile& p : catalog->profiles()) {
                const int id = DynamicId(p.name);
                if (id >= 0 && id < removed_before_start) ++stale_routes;
              }
            }
            break;
          }
          case 2:  // the plain Router interface
            status = router.Estimate(query, &e);
            if (router.catalog().size() < 1) ++size_mismatches;
            break;
          case 3: {
            std::vector<Query> queries(batch.size(), query);
            status = router.EstimateBatch(queries, absl::MakeSpan(batch));
            for (const Estimates& b : batch) {
              if (status.ok() && !Sane(b)) ++insane;
            }
            break;
          }
        }
        if (!status.ok()) {
          ++route_failures;
        } else if (!Sane(e)) {
          ++insane;
        }
        ++routes;
      }
    });
  }

  constexpr int kSenders = 2;
  std::vector<std::map<std::string, int64_t>> accepted(kSenders);
  for (int t = 0; t < kSenders; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(200 + t);
      while (!stop.load()) {
        const size_t q = rng() % vectors.size();
        // A model of the current catalog: sometimes a dynamic one that is
        // about to be removed.
        LinUcbSnapshot s = router.snapshot();
        const std::string name = s.catalog().at(static_cast<int>(rng() % s.catalog().size())).name;
        const absl::StatusOr<int> found = syn.catalog.Find(name);
        const int base = found.ok() ? *found : -1;
        const double p =
            base >= 0 ? syn.expected_score[topic_of[q] * syn.catalog.size() + base] : 0.5;
        const double score = Uniform(rng) < p ? 1.0 : 0.0;
        const absl::Status status =
            router.Observe({.vector = vectors[q], .model = name, .score = score,
                            .cost_usd = 1e-5 * (1 + rng() % 5)});
        if (status.ok()) {
          ++accepted[t][name];
        } else if (status.code() == absl::StatusCode::kNotFound && DynamicId(name) >= 0) {
          ++refused;
        } else {
          ++feedback_failures;
        }
      }
    });
  }

  std::map<std::string, int64_t> labelled_updates;  // manager thread only until join
  threads.emplace_back([&] {
    int next_id = 0;
    while (!stop.load()) {
      if (next_id >= kMaxDynamic) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      const std::string name = "dyn-" + std::to_string(next_id);
      const Dataset labelled = labelled_for(next_id);
      if (!router.OnboardModel(Profile{.name = name, .input_usd_per_mtok = 0.5}, labelled).ok()) {
        ++manager_failures;
      }
      labelled_updates[name] = labelled.rows();
      ++next_id;
      const int oldest = removed_below.load();
      if (next_id - oldest > kAliveDynamic) {
        if (!router.RemoveModel("dyn-" + std::to_string(oldest)).ok()) ++manager_failures;
        removed_below.store(oldest + 1);
        ++cycles;
      }
      if (next_id % 16 == 0) {  // a checkpoint in the middle of it all
        std::string state;
        LinUcbRouter copy;
        if (!router.SaveState(&state).ok() || !copy.LoadState(state).ok()) ++manager_failures;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });

  // Run until the soft deadline and a minimum of work, or the hard deadline.
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool enough = routes.load() >= 300 && cycles.load() >= 5 &&
                        router.snapshot().online_updates() >= 300;
    if ((Clock::now() >= soft_deadline && enough) || Clock::now() >= hard_deadline) break;
  }
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  const double run_seconds = std::chrono::duration<double>(Clock::now() - run_start).count();

  INFO("set-up " << setup_seconds << " s, run " << run_seconds << " s: routes " << routes
                 << ", onboard/remove cycles " << cycles << ", feedback refused " << refused);
  CHECK(route_failures == 0);
  CHECK(insane == 0);
  CHECK(stale_routes == 0);
  CHECK(size_mismatches == 0);
  CHECK(version_regressions == 0);
  CHECK(feedback_failures == 0);
  CHECK(manager_failures == 0);
  CHECK(routes >= 300);
  CHECK(cycles >= 5);

  std::map<std::string, int64_t> total;
  int64_t total_accepted = 0;
  for (const auto& per_thread : accepted) {
    for (const auto& [name, count] : per_thread) {
      total[name] += count;
      total_accepted += count;
    }
  }
  for (const auto& [name, rows] : labelled_updates) initial[name] = rows;
  LinUcbSnapshot final_state = router.snapshot();
  CHECK(final_state.online_updates() == total_accepted);
  CHECK(total_accepted >= 300);
  for (int m = 0; m < final_state.catalog().size(); ++m) {
    const std::string& name = final_state.catalog().at(m).name;
    INFO("model " << name);
    CHECK(final_state.updates(m) == initial[name] + total[name]);
  }
  // The live arms plus the accepted feedback of removed ones account for
  // every accepted update.
  int64_t live_online = 0, removed_online = 0;
  for (const auto& [name, count] : total) {
    if (final_state.catalog().Find(name).ok()) {
      live_online += count;
    } else {
      CHECK(DynamicId(name) >= 0);
      CHECK(DynamicId(name) < removed_below.load());
      removed_online += count;
    }
  }
  CHECK(live_online + removed_online == total_accepted);
}

}  // namespace
}  // namespace router
