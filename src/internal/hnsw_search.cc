#include "internal/hnsw_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexScalarQuantizer.h>
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
  std::vector<int> fresh;                  // unvisited neighbours of one node
  std::vector<float> weights;              // an 8-bit row's weights for one query

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
void Prefetch(const uint8_t* row, size_t row_bytes) {
  for (size_t offset = 0; offset < row_bytes; offset += kCacheLine) {
    __builtin_prefetch(row + offset);
  }
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// How the rows of an index's storage are laid out: `row_bytes` bytes per
// row from `base`, as floats, halves or 8-bit codes.
enum class RowFormat { kFloat, kHalf, kBytes };
struct StoredRows {
  RowFormat format = RowFormat::kFloat;
  const uint8_t* base = nullptr;
  size_t row_bytes = 0;
  // kBytes: per dimension, the smallest value and the range, code c
  // standing for vmin + (c + 0.5) / 255 * vdiff (FAISS's QT_8bit).
  const float* vmin = nullptr;
  const float* vdiff = nullptr;
};

// The rows of `index`'s storage, or false when the walk cannot read them.
bool FindRows(const faiss::IndexHNSW& index, StoredRows* rows) {
  const size_t dim = static_cast<size_t>(index.d);
  const size_t count = static_cast<size_t>(index.ntotal);
  if (const auto* flat = dynamic_cast<const faiss::IndexFlat*>(index.storage)) {
    if (flat->codes.size() != count * dim * sizeof(float)) return false;
    *rows = {RowFormat::kFloat, flat->codes.data(), dim * sizeof(float)};
    return true;
  }
  const auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(index.storage);
  if (sq == nullptr || sq->ntotal != index.ntotal || sq->d != index.d) return false;
  if (sq->sq.qtype == faiss::ScalarQuantizer::QT_fp16 && sq->code_size == 2 * dim &&
      sq->codes.size() == count * 2 * dim) {
    *rows = {RowFormat::kHalf, sq->codes.data(), 2 * dim};
    return true;
  }
  if (sq->sq.qtype == faiss::ScalarQuantizer::QT_8bit && sq->code_size == dim &&
      sq->codes.size() == count * dim && sq->sq.trained.size() == 2 * dim) {
    *rows = {RowFormat::kBytes, sq->codes.data(), dim, sq->sq.trained.data(),
             sq->sq.trained.data() + dim};
    return true;
  }
  return false;
}

// FAISS's walk over `index`'s graph, `distance(row)` being the negated
// inner product of the query with a row; the k nearest go into the max-heap
// (heap_distances, labels), which the caller has heapified.
template <class Distance>
void Walk(const faiss::IndexHNSW& index, const StoredRows& rows, Scratch& scratch, int k,
          Distance distance, float* heap_distances, int64_t* labels) {
  const faiss::HNSW& graph = index.hnsw;
  int found = 0;
  auto keep = [&](float d, int64_t row) {
    if (found < k) {
      faiss::maxheap_push(++found, heap_distances, labels, d, row);
    } else if (d < heap_distances[0]) {
      faiss::maxheap_replace_top(found, heap_distances, labels, d, row);
    }
  };
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
      Prefetch(rows.base + row * rows.row_bytes, rows.row_bytes);
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

}  // namespace

bool HnswSearchSupports(const faiss::IndexHNSW& index) {
  StoredRows rows;
  return index.metric_type == faiss::METRIC_INNER_PRODUCT && index.hnsw.upper_beam == 1 &&
         index.hnsw.search_bounded_queue && FindRows(index, &rows);
}

namespace {

// Whether `graph` is one HnswSearch (and FAISS's search) can walk over
// `rows` rows without reading out of bounds; `problem` says what is not.
bool GraphSound(const faiss::HNSW& graph, int64_t rows, const char** problem) {
  auto fail = [&](const char* what) {
    *problem = what;
    return false;
  };
  const std::vector<int>& cumulative = graph.cum_nneighbor_per_level;
  if (cumulative.empty() || cumulative[0] != 0 ||
      !std::is_sorted(cumulative.begin(), cumulative.end())) {
    return fail("neighbours per level");
  }
  const size_t nodes = static_cast<size_t>(rows);
  if (graph.levels.size() != nodes || graph.offsets.size() != nodes + 1 ||
      graph.offsets[0] != 0 || graph.offsets[nodes] != graph.neighbors.size()) {
    return fail("node tables of the wrong size");
  }
  const int top = static_cast<int>(cumulative.size()) - 1;
  for (size_t i = 0; i < nodes; ++i) {
    const int level = graph.levels[i];
    if (level < 1 || level > top ||
        graph.offsets[i + 1] < graph.offsets[i] ||
        graph.offsets[i + 1] - graph.offsets[i] != static_cast<size_t>(cumulative[level])) {
      return fail("a node's level or neighbour block");
    }
  }
  // A neighbour at level l must itself reach level l, or the walk would read
  // its neighbours there from the next node's block.
  for (size_t i = 0; i < nodes; ++i) {
    for (int l = 0; l < graph.levels[i]; ++l) {
      for (size_t j = graph.offsets[i] + cumulative[l]; j < graph.offsets[i] + cumulative[l + 1];
           ++j) {
        const int neighbour = graph.neighbors[j];
        if (neighbour < -1 || neighbour >= rows ||
            (neighbour >= 0 && graph.levels[neighbour] <= l)) {
          return fail("a neighbour out of range or below its level");
        }
      }
    }
  }
  if (rows == 0) return graph.entry_point == -1 || fail("an entry point in an empty graph");
  if (graph.entry_point < 0 || graph.entry_point >= rows ||
      graph.max_level != graph.levels[graph.entry_point] - 1) {
    return fail("the entry point or the top level");
  }
  return true;
}

}  // namespace

namespace {

// Reads FAISS's serialisation field by field, as its reader does, without
// building anything.
class BlobCursor {
 public:
  explicit BlobCursor(std::string_view bytes) : rest_(bytes) {}
  template <typename T>
  bool Read(T* out) {
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(out, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return true;
  }
  // A table (READVECTOR): its entry count, then that many entries of
  // `entry_bytes`, which must all be there.
  bool Table(size_t entry_bytes, uint64_t* count) {
    if (!Read(count) || *count > rest_.size() / entry_bytes) return false;
    rest_.remove_prefix(*count * entry_bytes);
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

constexpr uint32_t FourCc(const char (&code)[5]) {
  return static_cast<uint32_t>(code[0]) | static_cast<uint32_t>(code[1]) << 8 |
         static_cast<uint32_t>(code[2]) << 16 | static_cast<uint32_t>(code[3]) << 24;
}

// read_index_header: d, ntotal, two unused counts, is_trained (one byte,
// a bool) and the metric, which for inner products has no argument.
bool HeaderMatches(BlobCursor* blob, int dim, int64_t rows) {
  int32_t d = 0, metric = -1;
  int64_t ntotal = 0, unused = 0;
  uint8_t trained = 0;
  return blob->Read(&d) && blob->Read(&ntotal) && blob->Read(&unused) && blob->Read(&unused) &&
         blob->Read(&trained) && blob->Read(&metric) && d == dim && ntotal == rows &&
         trained <= 1 && metric == faiss::METRIC_INNER_PRODUCT;
}

}  // namespace

bool HnswBlobShaped(std::string_view bytes, int dim, int64_t rows, const char** problem) {
  auto fail = [&](const char* what) {
    *problem = what;
    return false;
  };
  if (dim <= 0 || rows < 0) return fail("no dimension or a negative row count");
  BlobCursor blob(bytes);
  uint32_t kind = 0;
  if (!blob.Read(&kind) || (kind != FourCc("IHNf") && kind != FourCc("IHNs"))) {
    return fail("not an HNSW index over float or scalar-quantised rows");
  }
  if (!HeaderMatches(&blob, dim, rows)) return fail("an index header that does not match");
  // The graph: assign_probas (double), cum_nneighbor_per_level, levels
  // (int), offsets (size_t), neighbors (int); then entry_point, max_level,
  // efConstruction, efSearch and upper_beam (int). GraphSound checks their
  // sizes against each other once FAISS has read them.
  uint64_t count = 0;
  int32_t scalars[5] = {};
  if (!(blob.Table(sizeof(double), &count) && blob.Table(sizeof(int32_t), &count) &&
        blob.Table(sizeof(int32_t), &count) && blob.Table(sizeof(uint64_t), &count) &&
        blob.Table(sizeof(int32_t), &count) && blob.Read(&scalars))) {
    return fail("a graph table longer than the bytes that follow it");
  }
  // The rows: an IndexFlatIP under IHNf, an IndexScalarQuantizer under IHNs.
  const bool floats = kind == FourCc("IHNf");
  uint32_t storage = 0;
  if (!blob.Read(&storage) || storage != (floats ? FourCc("IxFI") : FourCc("IxSQ"))) {
    return fail("row storage of another kind");
  }
  if (!HeaderMatches(&blob, dim, rows)) return fail("a row storage header that does not match");
  const uint64_t cells = static_cast<uint64_t>(rows) * static_cast<uint64_t>(dim);
  if (floats) {
    // READXBVECTOR: a count of 4-byte groups.
    if (!blob.Table(sizeof(float), &count) || count != cells) {
      return fail("float rows of another size");
    }
  } else {
    // read_ScalarQuantizer: qtype, rangestat (enums), rangestat_arg, d,
    // code_size, trained (float); then the codes (bytes).
    int32_t qtype = -1, rangestat = -1;
    float range_arg = 0.0f;
    uint64_t sq_dim = 0, code_size = 0, trained = 0;
    if (!(blob.Read(&qtype) && blob.Read(&rangestat) && blob.Read(&range_arg) &&
          blob.Read(&sq_dim) && blob.Read(&code_size) && blob.Table(sizeof(float), &trained))) {
      return fail("a scalar quantiser cut short");
    }
    const bool half = qtype == faiss::ScalarQuantizer::QT_fp16;
    const bool bytes8 = qtype == faiss::ScalarQuantizer::QT_8bit;
    const uint64_t per_dim = half ? 2 : 1;
    if (!(half || bytes8) || rangestat < faiss::ScalarQuantizer::RS_minmax ||
        rangestat > faiss::ScalarQuantizer::RS_optim || sq_dim != static_cast<uint64_t>(dim) ||
        code_size != per_dim * sq_dim || trained != (half ? 0 : 2 * sq_dim)) {
      return fail("a scalar quantiser other than fp16 or 8-bit rows of this dimension");
    }
    if (!blob.Table(1, &count) || count != cells * per_dim) return fail("codes of another size");
  }
  if (!blob.done()) return fail("bytes after the index");
  return true;
}

bool HnswIndexSound(const faiss::IndexHNSW& index, const char** problem) {
  if (!GraphSound(index.hnsw, index.ntotal, problem)) return false;
  StoredRows rows;
  if (!FindRows(index, &rows)) return true;  // not ours to read
  const size_t count = static_cast<size_t>(index.ntotal) * static_cast<size_t>(index.d);
  auto finite = [](float x) { return std::isfinite(x); };
  bool sound = true;
  switch (rows.format) {
    case RowFormat::kFloat: {
      const auto* values = reinterpret_cast<const float*>(rows.base);
      sound = std::all_of(values, values + count, finite);
      break;
    }
    case RowFormat::kHalf: {
      const auto* halves = reinterpret_cast<const uint16_t*>(rows.base);
      sound = std::none_of(halves, halves + count,
                           [](uint16_t h) { return (h & 0x7c00u) == 0x7c00u; });
      break;
    }
    case RowFormat::kBytes:
      sound = std::all_of(rows.vmin, rows.vmin + index.d, finite) &&
              std::all_of(rows.vdiff, rows.vdiff + index.d, finite);
      break;
  }
  if (!sound) *problem = "a non-finite row value";
  return sound;
}

void HnswSearch(const faiss::IndexHNSW& index, const float* query, int k, float* similarities,
                int64_t* labels) {
  // HNSW minimises a distance: the negated inner product, as FAISS's own
  // inner-product search does. The result heap holds distances until the end.
  float* heap_distances = similarities;
  faiss::maxheap_heapify(k, heap_distances, labels);
  StoredRows rows;
  if (index.hnsw.entry_point >= 0 && FindRows(index, &rows)) {
    Scratch& scratch = ThreadScratch();
    const size_t dim = static_cast<size_t>(index.d);
    switch (rows.format) {
      case RowFormat::kFloat: {
        const auto* vectors = reinterpret_cast<const float*>(rows.base);
        Walk(
            index, rows, scratch, k,
            [&](int64_t row) { return -simd::Dot(query, vectors + row * dim, dim); },
            heap_distances, labels);
        break;
      }
      case RowFormat::kHalf: {
        const auto* halves = reinterpret_cast<const uint16_t*>(rows.base);
        Walk(
            index, rows, scratch, k,
            [&](int64_t row) { return -simd::DotHalf(query, halves + row * dim, dim); },
            heap_distances, labels);
        break;
      }
      case RowFormat::kBytes: {
        // query . decoded row = sum_i q_i vmin_i + sum_i w_i (c_i + 0.5)
        // with w_i = q_i vdiff_i / 255: one constant per query, then a
        // weighted sum of the raw codes.
        std::vector<float>& weights = scratch.weights;
        weights.resize(dim);
        double offset = 0.0;
        for (size_t i = 0; i < dim; ++i) {
          weights[i] = query[i] * rows.vdiff[i] / 255.0f;
          offset += static_cast<double>(query[i]) * rows.vmin[i] + 0.5 * weights[i];
        }
        const float constant = static_cast<float>(offset);
        Walk(
            index, rows, scratch, k,
            [&](int64_t row) {
              return -(constant + simd::DotBytes(weights.data(), rows.base + row * dim, dim));
            },
            heap_distances, labels);
        break;
      }
    }
  }
  faiss::maxheap_reorder(k, heap_distances, labels);  // nearest first
  for (int i = 0; i < k; ++i) similarities[i] = -heap_distances[i];
}

}  // namespace router::internal
