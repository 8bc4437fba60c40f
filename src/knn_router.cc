#include "router/knn_router.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>

#include "absl/strings/str_cat.h"
#include "router/status.h"

namespace router {
namespace {

using faiss_idx_t = faiss::Index::idx_t;

// Copies `vector` into `out`, scaled to unit length (zero stays zero), so that
// inner product equals cosine similarity.
void NormalizeInto(absl::Span<const float> vector, float* out) {
  double norm_sq = 0.0;
  for (float v : vector) norm_sq += static_cast<double>(v) * v;
  const float scale = norm_sq > 0.0 ? static_cast<float>(1.0 / std::sqrt(norm_sq)) : 0.0f;
  for (size_t i = 0; i < vector.size(); ++i) out[i] = vector[i] * scale;
}

// Per-thread scratch space, so that routing does not allocate once warm.
struct Scratch {
  std::vector<float> query;
  std::vector<float> similarities;
  std::vector<faiss_idx_t> labels;
  std::vector<double> weight;        // per model: sum of weights with a score
  std::vector<double> weighted_sq;   // per model: sum of w * score^2
  std::vector<double> cost_weight;   // per model: sum of weights with a cost
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Runs FAISS on the calling thread only while in scope. A single query has
// too little work to share, and FAISS's HNSW search would otherwise wake
// every OpenMP thread, whose spin-waiting made it 14x slower on two cores
// (docs/performance.md). The caller's own OpenMP setting is restored.
class SingleThreadedSearch {
 public:
  SingleThreadedSearch() : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadedSearch() { omp_set_num_threads(previous_); }
  SingleThreadedSearch(const SingleThreadedSearch&) = delete;
  SingleThreadedSearch& operator=(const SingleThreadedSearch&) = delete;

 private:
  int previous_;
};

}  // namespace

KnnRouter::KnnRouter(KnnOptions options) : options_(options) {}
KnnRouter::~KnnRouter() = default;

absl::Status KnnRouter::Fit(const Dataset& data, const Catalog& catalog) {
  if (options_.k < 1) {
    return absl::InvalidArgumentError(absl::StrCat("knn: k must be >= 1, got ", options_.k));
  }
  if (options_.hnsw_m < 2 || options_.hnsw_ef_search < 1 ||
      options_.hnsw_ef_construction < 1) {
    return absl::InvalidArgumentError("knn: HNSW parameters must be positive (m >= 2)");
  }
  if (catalog.empty()) return absl::InvalidArgumentError("knn: the catalog is empty");
  if (data.rows() == 0) return absl::InvalidArgumentError("knn: the dataset has no rows");
  if (!data.has_vectors()) {
    return absl::InvalidArgumentError(
        "knn: the dataset has no query vectors (embed the prompts first)");
  }
  ROUTER_RETURN_IF_ERROR(data.Validate());

  const int num_models = catalog.size();
  const int64_t rows = data.rows();
  const int dim = data.dim;
  std::vector<int> column(num_models);
  for (int m = 0; m < num_models; ++m) {
    column[m] = data.ModelColumn(catalog.at(m).name);
    if (column[m] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "knn: model '", catalog.at(m).name, "' has no column in the training data"));
    }
  }

  std::vector<float> normalized(static_cast<size_t>(rows) * dim);
  std::vector<float> scores(static_cast<size_t>(rows) * num_models);
  std::vector<float> costs(static_cast<size_t>(rows) * num_models);
  std::vector<double> score_sum(num_models, 0.0);
  std::vector<int64_t> score_count(num_models, 0);
  for (int64_t r = 0; r < rows; ++r) {
    ROUTER_RETURN_IF_ERROR(Annotate(ValidateVector(data.vector(r), dim, "training vector"),
                                    absl::StrCat("knn: row ", r)));
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
    if (score_count[m] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "knn: model '", catalog.at(m).name, "' has no score in the training data"));
    }
    mean_score[m] = score_sum[m] / static_cast<double>(score_count[m]);
  }

  const bool use_hnsw = rows > options_.hnsw_threshold;
  std::unique_ptr<faiss::Index> index;
  if (use_hnsw) {
    auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(dim, options_.hnsw_m,
                                                       faiss::METRIC_INNER_PRODUCT);
    hnsw->hnsw.efConstruction = options_.hnsw_ef_construction;
    hnsw->hnsw.efSearch = std::max(options_.hnsw_ef_search, options_.k);
    index = std::move(hnsw);
  } else {
    index = std::make_unique<faiss::IndexFlatIP>(dim);
  }
  index->add(rows, normalized.data());

  // Commit only now, so a failed Fit leaves the router as it was.
  catalog_ = catalog;
  dim_ = dim;
  reference_rows_ = rows;
  uses_hnsw_ = use_hnsw;
  index_ = std::move(index);
  scores_ = std::move(scores);
  costs_ = std::move(costs);
  mean_score_ = std::move(mean_score);
  return absl::OkStatus();
}

void KnnRouter::Aggregate(const float* similarities, const int64_t* labels, int found,
                          int64_t input_tokens, Estimates* out) const {
  const int num_models = catalog_.size();
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
    const float* row_scores = scores_.data() + row * num_models;
    const float* row_costs = costs_.data() + row * num_models;
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
      estimate.quality = mean_score_[m];
      estimate.uncertainty = 0.5;  // no evidence: the widest spread of a [0,1] score
    }
    estimate.expected_cost_usd =
        scratch.cost_weight[m] > 0.0
            ? estimate.expected_cost_usd / scratch.cost_weight[m]
            : catalog_.at(m).ExpectedCostUsd(input_tokens);
  }
}

absl::Status KnnRouter::Estimate(const Query& query, Estimates* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("estimates output is null");
  ROUTER_RETURN_IF_ERROR(ValidateVector(query.vector, dim_));
  const int k = static_cast<int>(std::min<int64_t>(options_.k, reference_rows_));
  Scratch& scratch = ThreadScratch();
  scratch.query.resize(dim_);
  scratch.similarities.resize(k);
  scratch.labels.resize(k);
  NormalizeInto(query.vector, scratch.query.data());
  SingleThreadedSearch single_threaded;
  index_->search(1, scratch.query.data(), k, scratch.similarities.data(),
                 scratch.labels.data());
  Aggregate(scratch.similarities.data(), scratch.labels.data(), k, InputTokens(query), out);
  return absl::OkStatus();
}

absl::Status KnnRouter::EstimateBatch(absl::Span<const Query> queries,
                                      absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  if (queries.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(queries.size());
  std::vector<float> batch(static_cast<size_t>(n) * dim_);
  for (int64_t i = 0; i < n; ++i) {
    ROUTER_RETURN_IF_ERROR(
        Annotate(ValidateVector(queries[i].vector, dim_), absl::StrCat("query ", i)));
    NormalizeInto(queries[i].vector, batch.data() + i * dim_);
  }
  const int k = static_cast<int>(std::min<int64_t>(options_.k, reference_rows_));
  std::vector<float> similarities(static_cast<size_t>(n) * k);
  std::vector<faiss_idx_t> labels(static_cast<size_t>(n) * k);
  index_->search(n, batch.data(), k, similarities.data(), labels.data());
  for (int64_t i = 0; i < n; ++i) {
    Aggregate(similarities.data() + i * k, labels.data() + i * k, k,
              InputTokens(queries[i]), &out[i]);
  }
  return absl::OkStatus();
}

}  // namespace router
