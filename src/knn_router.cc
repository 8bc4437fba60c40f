#include "router/knn_router.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <omp.h>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/hnsw_search.h"
#include "internal/huge_pages.h"
#include "internal/model_columns.h"
#include "internal/normalize.h"
#include "internal/option_schemas.h"
#include "internal/options_schema.h"
#include "internal/simd.h"
#include "internal/training_data.h"
#include "router/status.h"

namespace router {
namespace {

using internal::NormalizeInto;

using faiss_idx_t = faiss::Index::idx_t;

// A reference row found by the exact scan.
struct Neighbour {
  float similarity;
  faiss_idx_t label;
};

// Higher similarity first; of equal similarities the lower row id, as
// FAISS's flat search keeps the first of equals it meets.
bool Nearer(const Neighbour& a, const Neighbour& b) {
  return a.similarity > b.similarity || (a.similarity == b.similarity && a.label < b.label);
}

// Rows whose similarities the exact scan computes per call of the kernel:
// scratch stays this small whatever the index size.
constexpr int64_t kScanBlock = 512;

// Per-thread scratch space, so that routing does not allocate once warm.
struct Scratch {
  std::vector<float> query;
  std::vector<float> similarities;
  std::vector<faiss_idx_t> labels;
  std::vector<float> block;        // the exact scan's similarities of one block
  std::vector<Neighbour> nearest;  // the exact scan's heap; front = farthest kept
  std::vector<double> weight;        // per model: sum of weights with a score
  std::vector<double> weighted_sq;   // per model: sum of w * score^2
  std::vector<double> cost_weight;   // per model: sum of weights with a cost
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Runs FAISS on `threads` OpenMP threads (0: leave the setting) while in
// scope; the caller's own setting is restored. A single query runs on one:
// it has too little work to share, and FAISS's HNSW search would otherwise
// wake every OpenMP thread, whose spin-waiting made it 14x slower on two
// cores (docs/performance.md).
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads) : previous_(omp_get_max_threads()) {
    if (threads > 0) omp_set_num_threads(threads);
  }
  ~ScopedOmpThreads() { omp_set_num_threads(previous_); }
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int previous_;
};

// The k rows of `vectors` (rows x dim, row-major) with the largest inner
// product with `query`, nearest first (Nearer), into similarities and labels
// (k each; 1 <= k <= rows). A single query's exact search: one pass of the
// SIMD kernel over the rows and a k-heap, where FAISS's IndexFlatIP computes
// each inner product with a scalar loop in Debian's build
// (docs/performance.md). Batches keep FAISS, whose matrix product is faster.
void ExactSearch(const float* query, const float* vectors, int64_t rows, int dim, int k,
                 Scratch& scratch, float* similarities, faiss_idx_t* labels) {
  std::vector<Neighbour>& nearest = scratch.nearest;
  nearest.clear();
  scratch.block.resize(kScanBlock);
  for (int64_t start = 0; start < rows; start += kScanBlock) {
    const int64_t count = std::min(kScanBlock, rows - start);
    internal::simd::InnerProducts(query, vectors + start * dim, static_cast<size_t>(count),
                                  static_cast<size_t>(dim), scratch.block.data());
    for (int64_t i = 0; i < count; ++i) {
      const Neighbour candidate{scratch.block[i], start + i};
      if (static_cast<int>(nearest.size()) < k) {
        nearest.push_back(candidate);
        std::push_heap(nearest.begin(), nearest.end(), Nearer);
      } else if (Nearer(candidate, nearest.front())) {
        std::pop_heap(nearest.begin(), nearest.end(), Nearer);
        nearest.back() = candidate;
        std::push_heap(nearest.begin(), nearest.end(), Nearer);
      }
    }
  }
  std::sort_heap(nearest.begin(), nearest.end(), Nearer);
  for (int i = 0; i < k; ++i) {
    similarities[i] = nearest[i].similarity;
    labels[i] = nearest[i].label;
  }
}

std::unique_ptr<faiss::Index> FlatIndex(int dim, int64_t rows, const float* vectors) {
  auto flat = std::make_unique<faiss::IndexFlatIP>(dim);
  flat->add(rows, vectors);
  return flat;
}

// The scalar quantizer of FAISS that keeps rows as `storage` says (not
// kFloat, whose rows are an IndexFlat's).
faiss::ScalarQuantizer::QuantizerType QuantizerOf(KnnOptions::HnswStorage storage) {
  return storage == KnnOptions::HnswStorage::kHalf ? faiss::ScalarQuantizer::QT_fp16
                                                   : faiss::ScalarQuantizer::QT_8bit;
}

// An empty HNSW graph over inner products whose storage keeps rows as
// `storage` says.
std::unique_ptr<faiss::IndexHNSW> EmptyHnswIndex(int dim, const KnnOptions& options) {
  if (options.hnsw_storage == KnnOptions::HnswStorage::kFloat) {
    return std::make_unique<faiss::IndexHNSWFlat>(dim, options.hnsw_m,
                                                  faiss::METRIC_INNER_PRODUCT);
  }
  return std::make_unique<faiss::IndexHNSWSQ>(dim, QuantizerOf(options.hnsw_storage),
                                              options.hnsw_m, faiss::METRIC_INNER_PRODUCT);
}

// Whether `index`'s storage keeps rows as `storage` says.
bool StoresAs(const faiss::IndexHNSW& index, KnnOptions::HnswStorage storage) {
  if (storage == KnnOptions::HnswStorage::kFloat) {
    return dynamic_cast<const faiss::IndexFlat*>(index.storage) != nullptr;
  }
  const auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(index.storage);
  return sq != nullptr && sq->sq.qtype == QuantizerOf(storage);
}

}  // namespace

KnnRouter::KnnRouter(KnnOptions options) : options_(options) {}
KnnRouter::~KnnRouter() = default;

absl::Status KnnRouter::Fit(const Dataset& data, const Catalog& catalog) {
  ROUTER_RETURN_IF_ERROR(internal::CheckRanges(options_));
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> column,
                          internal::TrainingColumns(data, catalog, "knn"));
  const int num_models = catalog.size();
  const int64_t rows = data.rows();
  const int dim = data.dim;

  std::vector<float> normalized(static_cast<size_t>(rows) * dim);
  std::vector<float> scores(static_cast<size_t>(rows) * num_models);
  std::vector<float> costs(static_cast<size_t>(rows) * num_models);
  std::vector<double> score_sum(num_models, 0.0);
  std::vector<int64_t> score_count(num_models, 0);
  for (int64_t r = 0; r < rows; ++r) {
    NormalizeInto(data.vector(r), normalized.data() + r * dim);
    for (int m = 0; m < num_models; ++m) {
      const double score = data.score(r, column[m]);
      scores[r * num_models + m] = static_cast<float>(score);
      costs[r * num_models + m] = static_cast<float>(data.cost(r, column[m]));
      if (!std::isnan(score)) {
        score_sum[m] += score;
        ++score_count[m];
      }
    }
  }
  std::vector<double> mean_score(num_models);
  for (int m = 0; m < num_models; ++m) {
    mean_score[m] = score_sum[m] / static_cast<double>(score_count[m]);
  }

  const bool use_hnsw = rows > options_.hnsw_threshold;
  std::unique_ptr<faiss::Index> index;
  if (use_hnsw) {
    std::unique_ptr<faiss::IndexHNSW> hnsw = EmptyHnswIndex(dim, options_);
    hnsw->hnsw.efConstruction = options_.hnsw_ef_construction;
    hnsw->hnsw.efSearch = std::max(options_.hnsw_ef_search, options_.k);
    // Codes cover each dimension's range over every reference row (sq8);
    // floats and halves need no training.
    hnsw->train(rows, normalized.data());
    hnsw->add(rows, normalized.data());
    index = std::move(hnsw);
  } else {
    index = FlatIndex(dim, rows, normalized.data());
  }

  // Commit only now, so a failed Fit leaves the router as it was.
  state_ = State{.catalog = catalog,
                 .dim = dim,
                 .reference_rows = rows,
                 .uses_hnsw = use_hnsw,
                 .index = std::move(index),
                 .scores = std::move(scores),
                 .costs = std::move(costs),
                 .mean_score = std::move(mean_score)};
  return absl::OkStatus();
}

void KnnRouter::Aggregate(const float* similarities, const int64_t* labels, int found,
                          int64_t input_tokens, Estimates* out) const {
  const int num_models = state_.catalog.size();
  Scratch& scratch = ThreadScratch();
  scratch.weight.assign(num_models, 0.0);
  scratch.weighted_sq.assign(num_models, 0.0);
  scratch.cost_weight.assign(num_models, 0.0);
  out->per_model.resize(num_models);
  for (ModelEstimate& estimate : out->per_model) estimate = ModelEstimate{};
  out->evidence.clear();

  const bool uniform = options_.weighting == KnnOptions::Weighting::kUniform;
  for (int i = 0; i < found; ++i) {
    const int64_t row = labels[i];
    if (row < 0) continue;  // HNSW may return fewer than k results
    out->evidence.push_back({row, similarities[i]});
    const double w = uniform ? 1.0 : std::max(static_cast<double>(similarities[i]), 1e-6);
    const float* row_scores = state_.scores.data() + row * num_models;
    const float* row_costs = state_.costs.data() + row * num_models;
    for (int m = 0; m < num_models; ++m) {
      ModelEstimate& estimate = out->per_model[m];
      if (!std::isnan(row_scores[m])) {
        scratch.weight[m] += w;
        estimate.quality += w * row_scores[m];
        scratch.weighted_sq[m] += w * row_scores[m] * row_scores[m];
        ++estimate.support;
      }
      if (!std::isnan(row_costs[m])) {
        scratch.cost_weight[m] += w;
        estimate.expected_cost_usd += w * row_costs[m];
      }
    }
  }
  for (int m = 0; m < num_models; ++m) {
    ModelEstimate& estimate = out->per_model[m];
    if (scratch.weight[m] > 0.0) {
      const double mean = estimate.quality / scratch.weight[m];
      const double variance = scratch.weighted_sq[m] / scratch.weight[m] - mean * mean;
      estimate.quality = mean;
      estimate.uncertainty = std::sqrt(std::max(variance, 0.0));
    } else {
      estimate.quality = state_.mean_score[m];
      estimate.uncertainty = 0.5;  // no evidence: the widest spread of a [0,1] score
    }
    estimate.expected_cost_usd =
        scratch.cost_weight[m] > 0.0
            ? estimate.expected_cost_usd / scratch.cost_weight[m]
            : state_.catalog.at(m).ExpectedCostUsd(input_tokens);
  }
}

absl::Status KnnRouter::Estimate(const Query& query, Estimates* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("estimates output is null");
  ROUTER_RETURN_IF_ERROR(ValidateVector(query.vector, state_.dim));
  const int k = static_cast<int>(std::min<int64_t>(options_.k, state_.reference_rows));
  Scratch& scratch = ThreadScratch();
  scratch.query.resize(state_.dim);
  scratch.similarities.resize(k);
  scratch.labels.resize(k);
  NormalizeInto(query.vector, scratch.query.data());
  if (state_.uses_hnsw) {
    const auto& hnsw = static_cast<const faiss::IndexHNSW&>(*state_.index);
    if (internal::HnswSearchSupports(hnsw)) {
      internal::HnswSearch(hnsw, scratch.query.data(), k, scratch.similarities.data(),
                           scratch.labels.data());
    } else {
      ScopedOmpThreads single_threaded(1);
      hnsw.search(1, scratch.query.data(), k, scratch.similarities.data(),
                  scratch.labels.data());
    }
  } else {
    const auto& flat = static_cast<const faiss::IndexFlatIP&>(*state_.index);
    ExactSearch(scratch.query.data(), flat.get_xb(), state_.reference_rows, state_.dim, k,
                scratch, scratch.similarities.data(), scratch.labels.data());
  }
  Aggregate(scratch.similarities.data(), scratch.labels.data(), k, InputTokens(query), out);
  return absl::OkStatus();
}

absl::Status KnnRouter::EstimateBatch(absl::Span<const Query> queries,
                                      absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  if (queries.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(queries.size());
  std::vector<float> batch(static_cast<size_t>(n) * state_.dim);
  for (int64_t i = 0; i < n; ++i) {
    ROUTER_RETURN_IF_ERROR(
        Annotate(ValidateVector(queries[i].vector, state_.dim), fmt::format("query {}", i)));
    NormalizeInto(queries[i].vector, batch.data() + i * state_.dim);
  }
  const int k = static_cast<int>(std::min<int64_t>(options_.k, state_.reference_rows));
  std::vector<float> similarities(static_cast<size_t>(n) * k);
  std::vector<faiss_idx_t> labels(static_cast<size_t>(n) * k);
  const auto* hnsw = state_.uses_hnsw
                         ? static_cast<const faiss::IndexHNSW*>(state_.index.get())
                         : nullptr;
  const int threads = options_.batch_threads > 0 ? options_.batch_threads : omp_get_max_threads();
  if (hnsw != nullptr && internal::HnswSearchSupports(*hnsw)) {
    // The single query's search on OpenMP's threads, as FAISS shares a batch,
    // without its per-call allocations; a batch then finds what the same
    // queries routed one by one find.
    // An exception must not leave an OpenMP region (it would terminate the
    // process): a thread's scratch that cannot grow is reported after it.
    std::atomic<bool> out_of_memory{false};
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (n > 1)
    for (int64_t i = 0; i < n; ++i) {
      try {
        internal::HnswSearch(*hnsw, batch.data() + i * state_.dim, k,
                             similarities.data() + i * k, labels.data() + i * k);
      } catch (const std::bad_alloc&) {
        out_of_memory.store(true, std::memory_order_relaxed);
      }
    }
    if (out_of_memory.load()) throw std::bad_alloc();
  } else {
    // An exact batch is a matrix product on BLAS's own threads (Debian's
    // OpenBLAS runs a pthread pool). OpenMP threads beside it only take
    // cores from that pool: idle ones spin, and a batch on two OpenMP
    // threads took 4x as long as on one (docs/performance.md).
    ScopedOmpThreads batch_threads(hnsw != nullptr ? threads : 1);
    state_.index->search(n, batch.data(), k, similarities.data(), labels.data());
  }
  for (int64_t i = 0; i < n; ++i) {
    Aggregate(similarities.data() + i * k, labels.data() + i * k, k,
              InputTokens(queries[i]), &out[i]);
  }
  return absl::OkStatus();
}

}  // namespace router

// ---------------------------------------------------------------- state I/O

namespace router {
namespace {
// 2: the options as their schema's JSON (internal::PutOptions); 1: field by
// field (ReadOptionsV1), still read.
constexpr uint32_t kKnnStateVersion = 2;
constexpr int64_t kMaxRows = int64_t{1} << 40;
constexpr int kMaxDim = 1 << 20;
}  // namespace

absl::Status KnnRouter::RemoveModel(std::string_view name) {
  if (state_.dim == 0) return absl::FailedPreconditionError("knn: the router is not fitted");
  ROUTER_ASSIGN_OR_RETURN(const int removed, internal::RemovableModel(state_.catalog, name, "knn"));
  const int models = state_.catalog.size();
  state_ = State{.catalog = state_.catalog.Without(removed),
                 .dim = state_.dim,
                 .reference_rows = state_.reference_rows,
                 .uses_hnsw = state_.uses_hnsw,
                 .index = state_.index,  // the rows stay; only their labels change
                 .scores = internal::WithoutColumn(state_.scores, models, removed),
                 .costs = internal::WithoutColumn(state_.costs, models, removed),
                 .mean_score = internal::WithoutRow(state_.mean_score, 1, removed)};
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Router>> KnnRouter::Clone() const {
  auto copy = std::make_unique<KnnRouter>(options_);
  copy->state_ = state_;  // a kNN index is shared: it is read-only once built
  return std::unique_ptr<Router>(std::move(copy));
}

std::vector<std::pair<std::string, std::string>> KnnRouter::Describe() const {
  if (state_.dim == 0) return {};
  std::vector<std::pair<std::string, std::string>> description = {
      {"index", state_.uses_hnsw ? "hnsw" : "exact"},
      {"reference_rows", std::to_string(state_.reference_rows)}};
  if (state_.uses_hnsw) {
    // The option's name as the config spells it, from its schema.
    description.emplace_back(
        "row_storage",
        internal::KnnOptionsSchema().Write(options_)["hnsw_storage"].get<std::string>());
  }
  return description;
}

absl::Status KnnRouter::SaveState(std::string* out) const {
  if (state_.dim == 0) return absl::FailedPreconditionError("knn: the router is not fitted");
  internal::ByteWriter w(out);
  w.Put(kKnnStateVersion);
  internal::PutOptions(options_, &w);
  internal::PutCatalog(state_.catalog, &w);
  w.Put<int32_t>(state_.dim);
  w.Put<int64_t>(state_.reference_rows);
  w.Put<uint8_t>(state_.uses_hnsw ? 1 : 0);
  w.PutVector(state_.scores);
  w.PutVector(state_.costs);
  w.PutVector(state_.mean_score);
  if (state_.uses_hnsw) {
    // HNSW's graph is costly to rebuild: store it with FAISS's serializer.
    faiss::VectorIOWriter blob;
    try {
      faiss::write_index(state_.index.get(), &blob);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("knn: out of memory serializing the index");
    } catch (const std::exception& e) {
      return absl::InternalError(fmt::format("knn: FAISS could not serialize the index: {}",
                                              e.what()));
    }
    w.PutVector(blob.data);
  } else {
    // A flat index is just its vectors; storing them plainly keeps the
    // loader to checks we control.
    const auto* flat = static_cast<const faiss::IndexFlatIP*>(state_.index.get());
    w.PutArray<float>(absl::MakeConstSpan(flat->get_xb(),
                                          static_cast<size_t>(state_.reference_rows) * state_.dim));
  }
  return absl::OkStatus();
}

namespace {

// The saved per-row tables (rows x models scores and costs, per-model mean
// scores), each value checked; failures are recorded in `r`.
void ReadTables(internal::ByteReader* r, int64_t rows, int models, std::vector<float>* scores,
                std::vector<float>* costs, std::vector<double>* mean_score) {
  const uint64_t cells = static_cast<uint64_t>(rows) * models;
  r->GetVector(scores, cells, "scores") && r->GetVector(costs, cells, "costs") &&
      r->GetVector(mean_score, models, "mean scores");
  for (float s : *scores) {
    if (!std::isnan(s) && !(s >= 0.0f && s <= 1.0f)) r->Fail("scores", "value outside [0, 1]");
  }
  for (float c : *costs) {
    if (!std::isnan(c) && !(c >= 0.0f && std::isfinite(c))) {
      r->Fail("costs", "negative or infinite");
    }
  }
  for (double s : *mean_score) {
    if (!(s >= 0.0 && s <= 1.0)) r->Fail("mean scores", "value outside [0, 1]");
  }
}

// A saved HNSW index: FAISS's own serialisation, checked against the state.
absl::StatusOr<std::unique_ptr<faiss::Index>> ReadHnswIndex(internal::ByteReader* r, int dim,
                                                            int64_t rows,
                                                            const KnnOptions& options) {
  std::vector<uint8_t> blob_bytes;
  if (!r->GetVector(&blob_bytes, "hnsw index")) return r->status();
  const std::string_view bytes(reinterpret_cast<const char*>(blob_bytes.data()),
                               blob_bytes.size());
  if (const char* problem = nullptr; !internal::HnswBlobShaped(bytes, dim, rows, &problem)) {
    return absl::DataLossError(fmt::format("knn router state: the index is not one the "
                                           "library saves: {}", problem));
  }
  faiss::VectorIOReader blob;
  blob.data = std::move(blob_bytes);
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(&blob));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("knn router state: out of memory reading the index");
  } catch (const std::exception& e) {
    return absl::DataLossError(fmt::format("knn router state: FAISS rejected the index: {}",
                                            e.what()));
  }
  auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get());
  if (hnsw == nullptr || hnsw->d != dim || hnsw->ntotal != rows ||
      hnsw->metric_type != faiss::METRIC_INNER_PRODUCT || hnsw->storage == nullptr ||
      hnsw->storage->ntotal != rows || !StoresAs(*hnsw, options.hnsw_storage)) {
    return absl::DataLossError(
        "knn router state: the index does not match the state (kind, dim, size or row "
        "storage)");
  }
  if (const char* problem = nullptr; !internal::HnswIndexSound(*hnsw, &problem)) {
    return absl::DataLossError(
        fmt::format("knn router state: the index is not sound: {}", problem));
  }
  hnsw->hnsw.efSearch = std::max(options.hnsw_ef_search, options.k);
  return index;
}

// A saved flat index: its vectors, read straight into the index's storage,
// so a large router is loaded with one copy of them.
absl::StatusOr<std::unique_ptr<faiss::Index>> ReadFlatIndex(internal::ByteReader* r, int dim,
                                                            int64_t rows) {
  const uint64_t count = static_cast<uint64_t>(rows) * dim;
  if (count > r->remaining() / sizeof(float)) {
    r->Fail("vectors", "length exceeds the remaining bytes");
    return r->status();
  }
  auto flat = std::make_unique<faiss::IndexFlatIP>(dim);
  std::string_view stored;
  if (!r->GetArrayBytes<float>(count, "vectors", &stored)) return r->status();
  // One pass over hundreds of megabytes: assign copies without the zero
  // fill of a resize, into memory reserved (untouched) and advised to use
  // huge pages first.
  const auto* first = reinterpret_cast<const uint8_t*>(stored.data());
  flat->codes.reserve(stored.size());
  internal::AdviseHugePages(flat->codes.data(), flat->codes.capacity());
  flat->codes.assign(first, first + stored.size());
  const float* vectors = reinterpret_cast<const float*>(flat->codes.data());
  for (uint64_t i = 0; i < count; ++i) {
    if (!std::isfinite(vectors[i])) return (r->Fail("vectors", "non-finite value"), r->status());
  }
  flat->ntotal = rows;
  return std::unique_ptr<faiss::Index>(std::move(flat));
}

// The options as state version 1 wrote them, field by field.
bool ReadOptionsV1(internal::ByteReader* r, KnnOptions* options) {
  int32_t k = 0, hnsw_m = 0, ef_construction = 0, ef_search = 0;
  uint8_t weighting = 0;
  if (!(r->Get(&k, "k") && r->Get(&weighting, "weighting") &&
        r->Get(&options->hnsw_threshold, "hnsw threshold") && r->Get(&hnsw_m, "hnsw m") &&
        r->Get(&ef_construction, "hnsw ef construction") &&
        r->Get(&ef_search, "hnsw ef search"))) {
    return false;
  }
  if (weighting > 1) return r->Fail("options", "weighting out of range");
  options->k = k;
  options->weighting =
      weighting == 0 ? KnnOptions::Weighting::kUniform : KnnOptions::Weighting::kSimilarity;
  options->hnsw_m = hnsw_m;
  options->hnsw_ef_construction = ef_construction;
  options->hnsw_ef_search = ef_search;
  if (absl::Status valid = internal::CheckRanges(*options); !valid.ok()) {
    return r->Fail("options", StdView(valid.message()));
  }
  return true;
}

}  // namespace

absl::Status KnnRouter::LoadState(std::string_view state) {
  internal::ByteReader r(state, "knn router state");
  uint32_t version = 0;
  r.GetVersion(&version, kKnnStateVersion);
  KnnOptions options;
  int32_t dim = 0;
  uint8_t uses_hnsw = 0;
  int64_t rows = 0;
  Catalog catalog;
  (version == 1 ? ReadOptionsV1(&r, &options) : internal::GetOptions(&r, &options)) &&
      internal::GetCatalog(&r, &catalog) && r.Get(&dim, "dim") && r.Get(&rows, "rows") &&
      r.Get(&uses_hnsw, "index kind");
  if (!r.status().ok()) return r.status();
  if (catalog.empty()) {
    r.Fail("catalog", "empty");
  } else if (dim < 1 || dim > kMaxDim || rows < 1 || rows > kMaxRows || uses_hnsw > 1) {
    r.Fail("sizes", fmt::format("dim {}, rows {} out of range", dim, rows));
  }
  std::vector<float> scores, costs;
  std::vector<double> mean_score;
  ReadTables(&r, rows, catalog.size(), &scores, &costs, &mean_score);
  if (!r.status().ok()) return r.status();
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<faiss::Index> index,
                          uses_hnsw ? ReadHnswIndex(&r, dim, rows, options)
                                    : ReadFlatIndex(&r, dim, rows));
  ROUTER_RETURN_IF_ERROR(r.Finish());

  options_ = options;
  state_ = State{.catalog = std::move(catalog),
                 .dim = dim,
                 .reference_rows = rows,
                 .uses_hnsw = uses_hnsw != 0,
                 .index = std::move(index),
                 .scores = std::move(scores),
                 .costs = std::move(costs),
                 .mean_score = std::move(mean_score)};
  return absl::OkStatus();
}

}  // namespace router
