// File: router/knn_router.h
//
// KnnRouter: the k nearest reference queries (by cosine similarity, through a
// FAISS index) vote on each model's quality and cost. Simple, and on real
// routing data as strong as most learned routers (Li, arXiv 2505.12601).
//
// For model m, with neighbours i = 1..k, similarities s_i and weights w_i
// (w_i = max(s_i, 1e-6) with similarity weighting, 1 with uniform weighting):
//   q_m = sum_i w_i * score_im / sum_i w_i   over neighbours with a score for m
//   u_m = weighted standard deviation of those scores
//   c_m = the same weighted mean of the neighbours' observed costs for m, or,
//         when none has a cost, the catalog price for this query's tokens.
// A model none of whose neighbours has a score gets its training-set mean
// quality with support 0.
//
// The index is exact (faiss::IndexFlatIP) up to `hnsw_threshold` reference
// vectors and HNSW on inner product above it (faiss::IndexHNSWFlat, or
// faiss::IndexHNSWSQ with `hnsw_storage` fp16 or sq8). A single
// query's exact search scans the rows with the library's own SIMD kernel,
// dispatched at run time; of equal similarities it keeps the lower row.
// Batches on an exact index go through FAISS's matrix product. HNSW queries,
// single or batched, walk FAISS's graph with the library's own search
// (SIMD distances, no allocation once warm); it finds what FAISS's own
// search finds, up to near-ties that differ in the last bits.
#ifndef ROUTER_KNN_ROUTER_H_
#define ROUTER_KNN_ROUTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "router/export.h"
#include "router/router.h"

namespace faiss {
struct Index;
}

namespace router {

struct KnnOptions {
  static constexpr const char* kKind = "knn";  // PipelineConfig::router
  int k = 40;
  enum class Weighting { kUniform, kSimilarity };
  Weighting weighting = Weighting::kSimilarity;
  // Reference sets larger than this use HNSW instead of exact search.
  int64_t hnsw_threshold = 50000;
  int hnsw_m = 32;
  int hnsw_ef_construction = 200;
  int hnsw_ef_search = 128;
  // How an HNSW index stores its reference rows: 4 bytes per dimension
  // (kFloat, exact), 2 (kHalf, IEEE binary16) or 1 (kBytes, 8-bit codes
  // over each dimension's range in the reference set). Smaller rows are
  // faster to search, which is bound by memory, and the similarities are
  // the query's with the rows as stored. Exact indexes always keep floats.
  enum class HnswStorage { kFloat, kHalf, kBytes };
  HnswStorage hnsw_storage = HnswStorage::kFloat;
  // Threads that share one EstimateBatch call over an HNSW index (OpenMP);
  // 0 = OpenMP's current setting (omp_get_max_threads, OMP_NUM_THREADS).
  // An exact index's batch is a matrix product on the BLAS library's own
  // threads (OPENBLAS_NUM_THREADS), whatever this says. A single Estimate
  // always runs on the calling thread.
  int batch_threads = 0;
};

class ROUTER_EXPORT KnnRouter : public Router {
 public:
  explicit KnnRouter(KnnOptions options = {});
  ~KnnRouter() override;

  std::string_view kind() const override { return "knn"; }
  int dim() const override { return state_.dim; }
  const Catalog& catalog() const override { return state_.catalog; }
  const KnnOptions& options() const { return options_; }
  // Number of reference queries in the index.
  int64_t size() const { return state_.reference_rows; }
  // True when the index is HNSW, false when it is exact.
  bool uses_hnsw() const { return state_.uses_hnsw; }

  absl::Status Fit(const Dataset& data, const Catalog& catalog) override;
  absl::Status Estimate(const Query& query, Estimates* out) const override;
  absl::Status EstimateBatch(absl::Span<const Query> queries,
                             absl::Span<Estimates> out) const override;
  absl::Status RemoveModel(std::string_view name) override;
  absl::StatusOr<std::unique_ptr<Router>> Clone() const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view state) override;
  std::vector<std::pair<std::string, std::string>> Describe() const override;

 private:
  void Aggregate(const float* similarities, const int64_t* labels, int found,
                 int64_t input_tokens, Estimates* out) const;

  KnnOptions options_;
  // The learned state: Fit and LoadState build a new one and commit it in
  // one assignment, so a failure leaves the router as it was.
  struct State {
    Catalog catalog;
    int dim = 0;
    int64_t reference_rows = 0;
    bool uses_hnsw = false;
    // Read-only once built, so copies of the router (Clone) share it.
    std::shared_ptr<const faiss::Index> index;
    // reference_rows x catalog.size(), row-major; NaN where missing.
    std::vector<float> scores;
    std::vector<float> costs;
    // Per model: mean training score, the prior for unsupported estimates.
    std::vector<double> mean_score;
  };
  State state_;
};

}  // namespace router

#endif  // ROUTER_KNN_ROUTER_H_
