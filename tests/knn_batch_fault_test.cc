// An HNSW batch whose search scratch cannot grow. The walk runs on OpenMP
// threads, and an exception that leaves an OpenMP region terminates the
// process; KnnRouter::EstimateBatch catches std::bad_alloc inside the loop
// and throws it again after the loop, where the C ABI and the pipeline turn
// it into RESOURCE_EXHAUSTED. This program replaces operator new so that
// large allocations fail on demand (not under sanitizers, which bring their
// own operator new; the test says SKIP there).
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "router/knn_router.h"
#include "sanitizer.h"
#include "skip.h"

namespace {

// While non-zero, allocations of at least this many bytes fail.
std::atomic<size_t> g_fail_from_bytes{0};

constexpr bool kInjectsFailures = !ROUTER_TEST_UNDER_SANITIZER;

}  // namespace

#if !ROUTER_TEST_UNDER_SANITIZER
void* operator new(std::size_t size) {
  const size_t limit = g_fail_from_bytes.load(std::memory_order_relaxed);
  if (limit != 0 && size >= limit) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace router {
namespace {

TEST_CASE("an HNSW batch that runs out of memory throws bad_alloc and routes again after",
          "[knn][errors]") {
  if (!kInjectsFailures) ROUTER_SKIP("operator new is the sanitizer's here");
  // 20,000 rows: each thread's first search allocates a visited table of
  // 2 bytes per row (40 KB), the only allocation of the batch that large.
  constexpr int kRows = 20000, kDim = 8, kModels = 2;
  std::mt19937 rng(5);
  std::normal_distribution<float> gauss;
  Dataset data;
  Catalog catalog;
  for (int m = 0; m < kModels; ++m) {
    data.model_names.push_back("model-" + std::to_string(m));
    Profile profile;
    profile.name = data.model_names.back();
    REQUIRE(catalog.Add(profile).ok());
  }
  data.dim = kDim;
  for (int r = 0; r < kRows; ++r) {
    data.ids.push_back("r" + std::to_string(r));
    data.prompts.push_back("p");
    data.sources.push_back("s");
    data.splits.push_back(Split::kTrain);
    for (int d = 0; d < kDim; ++d) data.vectors.push_back(gauss(rng));
    for (int m = 0; m < kModels; ++m) {
      data.scores.push_back(r % (m + 2) == 0 ? 1.0 : 0.0);
      data.costs.push_back(1e-4);
    }
  }
  KnnRouter router(KnnOptions{
      .k = 5, .hnsw_threshold = 1000, .hnsw_m = 8, .hnsw_ef_construction = 40});
  REQUIRE(router.Fit(data, catalog).ok());
  REQUIRE(router.uses_hnsw());

  std::vector<std::vector<float>> vectors;
  std::vector<Query> queries;
  for (int i = 0; i < 16; ++i) {
    vectors.emplace_back(kDim);
    for (float& x : vectors.back()) x = gauss(rng);
  }
  for (const auto& v : vectors) queries.push_back(Query{.vector = v});
  std::vector<Estimates> out(queries.size());

  g_fail_from_bytes = 30000;
  CHECK_THROWS_AS(router.EstimateBatch(queries, absl::MakeSpan(out)), std::bad_alloc);
  g_fail_from_bytes = 0;

  // Memory back: the batch works and finds what single queries find.
  REQUIRE(router.EstimateBatch(queries, absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < queries.size(); ++i) {
    Estimates single;
    REQUIRE(router.Estimate(queries[i], &single).ok());
    REQUIRE(single.evidence.size() == out[i].evidence.size());
    for (size_t j = 0; j < single.evidence.size(); ++j) {
      CHECK(single.evidence[j].id == out[i].evidence[j].id);
    }
  }
}

}  // namespace
}  // namespace router
