#include "internal/hnsw_search.h"

#include <algorithm>
#include <memory>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/MetricType.h>
#include <faiss/impl/HNSW.h>
#include <faiss/utils/Heap.h>

#include "internal/simd.h"

namespace router::internal {
namespace {

using Candidates = faiss::HNSW::MinimaxHeap;

constexpr size_t kCacheLine = 64;

// Rows seen by the current search: visited[row] == mark. A new search takes
// the next mark instead of clearing the table; only when the marks wrap
// around is it cleared.
struct Scratch {
  std::vector<uint16_t> visited;
  uint16_t mark = 0;
  std::unique_ptr<Candidates> candidates;  // capacity ef, kept while ef is
  std::vector<int> fresh;                   // unvisited neighbours of one node

  void StartSearch(int64_t rows) {
    if (visited.size() < static_cast<size_t>(rows)) {
      visited.assign(static_cast<size_t>(rows), 0);
      mark = 0;
    }
    if (++mark == 0) {
      std::fill(visited.begin(), visited.end(), 0);
      mark = 1;
    }
  }
  // First visit of `row`: marks it and returns true.
  bool Visit(int64_t row) {
    if (visited[row] == mark) return false;
    visited[row] = mark;
    return true;
  }
  Candidates& CandidatesOf(int capacity) {
    if (candidates == nullptr || candidates->n != capacity) {
      candidates = std::make_unique<Candidates>(capacity);
    }
    candidates->clear();
    return *candidates;
  }
};

// Starts loading every cache line of a row. Measured at 20k rows, d = 1024:
// the search took 1.66 ms without prefetching, 0.95 ms prefetching the first
// 128 bytes of each row and 0.47 ms prefetching all of it (the hardware
// prefetcher does not follow a row soon enough on its own).
void Prefetch(const float* row, size_t dim) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (size_t offset = 0; offset < dim * sizeof(float); offset += kCacheLine) {
    __builtin_prefetch(bytes + offset);
  }
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

bool HnswSearchSupports(const faiss::IndexHNSWFlat& index) {
  return index.metric_type == faiss::METRIC_INNER_PRODUCT && index.hnsw.upper_beam == 1 &&
         index.hnsw.search_bounded_queue &&
         dynamic_cast<const faiss::IndexFlat*>(index.storage) != nullptr;
}

void HnswSearch(const faiss::IndexHNSWFlat& index, const float* query, int k,
                float* similarities, int64_t* labels) {
  const faiss::HNSW& graph = index.hnsw;
  const float* rows = static_cast<const faiss::IndexFlat*>(index.storage)->get_xb();
  const size_t dim = static_cast<size_t>(index.d);
  // HNSW minimises a distance: the negated inner product, as FAISS's own
  // inner-product search does. The result heap holds distances until the end.
  auto distance = [&](int64_t row) { return -simd::Dot(query, rows + row * dim, dim); };
  float* heap_distances = similarities;
  faiss::maxheap_heapify(k, heap_distances, labels);
  int found = 0;
  auto keep = [&](float d, int64_t row) {
    if (found < k) {
      faiss::maxheap_push(++found, heap_distances, labels, d, row);
    } else if (d < heap_distances[0]) {
      faiss::maxheap_replace_top(found, heap_distances, labels, d, row);
    }
  };

  if (graph.entry_point >= 0) {
    Scratch& scratch = ThreadScratch();
    scratch.StartSearch(index.ntotal);
    // Upper levels: move to any nearer neighbour until none is nearer.
    int nearest = graph.entry_point;
    float nearest_distance = distance(nearest);
    for (int level = graph.max_level; level >= 1; --level) {
      for (int previous = -1; previous != nearest;) {
        previous = nearest;
        size_t begin = 0, end = 0;
        graph.neighbor_range(nearest, level, &begin, &end);
        for (size_t j = begin; j < end && graph.neighbors[j] >= 0; ++j) {
          const int row = graph.neighbors[j];
          const float d = distance(row);
          if (d < nearest_distance) {
            nearest = row;
            nearest_distance = d;
          }
        }
      }
    }
    // Level 0: a beam of at most ef candidates, expanded nearest first.
    const int ef = std::max(graph.efSearch, k);
    Candidates& candidates = scratch.CandidatesOf(ef);
    candidates.push(nearest, nearest_distance);
    keep(nearest_distance, nearest);
    scratch.Visit(nearest);
    for (int steps = 1; candidates.size() > 0; ++steps) {
      float current_distance = 0.0f;
      const int current = candidates.pop_min(&current_distance);
      // Stop once efSearch candidates already beat the one to expand.
      if (graph.check_relative_distance &&
          candidates.count_below(current_distance) >= graph.efSearch) {
        break;
      }
      size_t begin = 0, end = 0;
      graph.neighbor_range(current, 0, &begin, &end);
      // The new neighbours' rows are scattered over the index: ask for all of
      // them before reading any, so that the loads overlap.
      std::vector<int>& fresh = scratch.fresh;
      fresh.clear();
      for (size_t j = begin; j < end && graph.neighbors[j] >= 0; ++j) {
        const int row = graph.neighbors[j];
        if (!scratch.Visit(row)) continue;
        fresh.push_back(row);
        Prefetch(rows + row * dim, dim);
      }
      for (int row : fresh) {
        const float d = distance(row);
        keep(d, row);
        candidates.push(row, d);
      }
      // Without the rule above, FAISS expands efSearch candidates.
      if (!graph.check_relative_distance && steps > graph.efSearch) break;
    }
  }
  faiss::maxheap_reorder(k, heap_distances, labels);  // nearest first
  for (int i = 0; i < k; ++i) similarities[i] = -heap_distances[i];
}

}  // namespace router::internal
