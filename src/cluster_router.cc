#include "router/cluster_router.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "absl/container/flat_hash_map.h"
#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/kmeans.h"
#include "internal/model_columns.h"
#include "internal/normalize.h"
#include "internal/option_schemas.h"
#include "internal/softmax_regression.h"
#include "internal/training_data.h"
#include "router/evaluation.h"
#include "router/status.h"

namespace router {
namespace {

using internal::NormalizeInto;

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMatrixMap = Eigen::Map<const RowMatrix>;

constexpr int kMaxAutoClusters = 256;
// Rows per block when assigning many vectors to centroids, so the similarity
// matrix stays small whatever the data size.
constexpr int64_t kAssignBlock = 4096;

// Per-thread scratch space, so that routing does not allocate once warm.
struct Scratch {
  std::vector<float> query;      // only for queries whose norm overflows float
  std::vector<float> similarities;
  std::vector<int> nearest;      // cluster indices, by decreasing similarity
  std::vector<double> weight;    // their softmax weights
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

absl::Status ValidateOptions(const ClusterOptions& o) { return internal::CheckRanges(o); }

// Adds the source classifier's biases to each row of similarities (one
// column per cluster); nothing for centroids, which have none.
template <typename Similarities>
void AddBias(const std::vector<float>& bias, Similarities&& similarities) {
  if (bias.empty()) return;
  similarities.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data(), bias.size());
}

// Index of the nearest centroid of each of the `rows` unit vectors: the
// largest inner product, plus the cluster's bias if `bias` is not empty (the
// source classifier's most likely source).
std::vector<int> AssignNearest(const float* vectors, int64_t rows, int dim,
                               const std::vector<float>& centroids, int clusters,
                               const std::vector<float>& bias = {}) {
  ConstRowMatrixMap c(centroids.data(), clusters, dim);
  std::vector<int> assignment(rows);
  RowMatrix sims;
  for (int64_t begin = 0; begin < rows; begin += kAssignBlock) {
    const int64_t n = std::min(kAssignBlock, rows - begin);
    ConstRowMatrixMap x(vectors + begin * dim, n, dim);
    sims.noalias() = x * c.transpose();
    AddBias(bias, sims);
    for (int64_t i = 0; i < n; ++i) {
      int best = 0;
      for (int k = 1; k < clusters; ++k) {
        if (sims(i, k) > sims(i, best)) best = k;
      }
      assignment[begin + i] = best;
    }
  }
  return assignment;
}

// Sufficient statistics of one model's scores and costs per cluster, and the
// shrunk estimates made from them.
struct ModelStats {
  std::vector<double> n, sum, sum_sq, cost_n, cost_sum;  // per cluster

  explicit ModelStats(int clusters)
      : n(clusters, 0.0), sum(clusters, 0.0), sum_sq(clusters, 0.0),
        cost_n(clusters, 0.0), cost_sum(clusters, 0.0) {}

  void Add(int cluster, double score, double cost) {
    if (!std::isnan(score)) {
      n[cluster] += 1.0;
      sum[cluster] += score;
      sum_sq[cluster] += score * score;
    }
    if (!std::isnan(cost)) {
      cost_n[cluster] += 1.0;
      cost_sum[cluster] += cost;
    }
  }

  // Writes model `m`'s column of the K x `models` arrays; returns whether a
  // cost was observed. Requires at least one score.
  bool Shrink(double s, int m, int models, double* quality, double* se2, double* cost,
              int32_t* count) const {
    const int clusters = static_cast<int>(n.size());
    double total_n = 0, total = 0, total_sq = 0, total_cost_n = 0, total_cost = 0;
    for (int c = 0; c < clusters; ++c) {
      total_n += n[c];
      total += sum[c];
      total_sq += sum_sq[c];
      total_cost_n += cost_n[c];
      total_cost += cost_sum[c];
    }
    const double mean = total / total_n;
    const double variance = std::max(total_sq / total_n - mean * mean, 0.0);
    const bool cost_observed = total_cost_n > 0.0;
    const double mean_cost = cost_observed ? total_cost / total_cost_n : 0.0;
    for (int c = 0; c < clusters; ++c) {
      const size_t cell = static_cast<size_t>(c) * models + m;
      const double w = n[c] + s;
      if (w > 0.0) {
        const double within = n[c] > 0.0 ? std::max(sum_sq[c] - sum[c] * sum[c] / n[c], 0.0) : 0.0;
        quality[cell] = std::clamp((sum[c] + s * mean) / w, 0.0, 1.0);
        se2[cell] = (within + s * variance) / w / w;
      } else {  // s = 0 and no score here: the model's mean, one draw's spread
        quality[cell] = std::clamp(mean, 0.0, 1.0);
        se2[cell] = variance;
      }
      const double cw = cost_n[c] + s;
      cost[cell] = !cost_observed ? 0.0 : cw > 0.0 ? (cost_sum[c] + s * mean_cost) / cw : mean_cost;
      count[cell] = static_cast<int32_t>(std::min<double>(n[c], std::numeric_limits<int32_t>::max()));
    }
    return cost_observed;
  }
};

// A cluster's rows of one source get a centroid of their own when they are
// at least this many (chosen on validation folds of the LLMRouter data's
// training rows among 1, 5, 10 and 30); fewer would put a centroid on a
// handful of prompts.
constexpr int64_t kMinSourceFragment = 10;

// Each of the `rows` training rows' source as a number, from `groups`
// (RowsBySource: first appearance); empty when there are fewer than two.
std::vector<int> SourceIds(const std::vector<SourceRows>& groups, int64_t rows) {
  if (groups.size() < 2) return {};
  std::vector<int> ids(rows);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (int64_t r : groups[g].rows) ids[r] = static_cast<int>(g);
  }
  return ids;
}

// The centroids after splitting every cluster whose rows (by `assignment`)
// include at least two sources with kMinSourceFragment rows or more: each
// such source's rows get the normalised mean of their vectors as their own
// centroid, and the cluster's centroid goes. Other clusters keep theirs.
std::vector<float> SplitBySource(const std::vector<float>& normalized, int dim,
                                 const std::vector<int>& source_of,
                                 const std::vector<int>& assignment,
                                 const std::vector<float>& centroids, int clusters) {
  std::vector<std::vector<int64_t>> members(clusters);
  for (int64_t r = 0; r < static_cast<int64_t>(assignment.size()); ++r) {
    members[assignment[r]].push_back(r);
  }
  std::vector<float> split;
  absl::flat_hash_map<int, std::vector<int64_t>> by_source;
  std::vector<double> sum(dim);
  for (int c = 0; c < clusters; ++c) {
    by_source.clear();
    for (int64_t r : members[c]) by_source[source_of[r]].push_back(r);
    std::vector<int> sources;  // those with kMinSourceFragment rows here
    for (const auto& [source, rows] : by_source) {
      if (static_cast<int64_t>(rows.size()) >= kMinSourceFragment) sources.push_back(source);
    }
    if (sources.size() < 2) {
      const float* centroid = centroids.data() + static_cast<size_t>(c) * dim;
      split.insert(split.end(), centroid, centroid + dim);
      continue;
    }
    // In source order, so the result does not depend on the map's.
    std::sort(sources.begin(), sources.end());
    for (int source : sources) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t r : by_source[source]) {
        for (int j = 0; j < dim; ++j) sum[j] += normalized[static_cast<size_t>(r) * dim + j];
      }
      for (int j = 0; j < dim; ++j) split.push_back(static_cast<float>(sum[j]));
    }
  }
  return split;
}

// Step 2c: the clusters are the sources with kMinSourceFragment rows or
// more, in RowsBySource order, weighted by a classifier of the source.
struct SourceClusters {
  std::vector<float> weights;   // K x dim, the classifier's Theta
  std::vector<float> bias;      // K
  std::vector<int> assignment;  // each row's cluster
};

// The sources among `groups` (RowsBySource) with kMinSourceFragment rows
// or more.
std::vector<SourceRows> LargeSources(std::vector<SourceRows> large) {
  std::erase_if(large, [](const SourceRows& group) {
    return static_cast<int64_t>(group.rows.size()) < kMinSourceFragment;
  });
  return large;
}

absl::StatusOr<SourceClusters> ClassifySources(const std::vector<float>& normalized, int64_t rows,
                                               int dim, const std::vector<SourceRows>& sources,
                                               double l2) {
  const int clusters = static_cast<int>(sources.size());
  std::vector<float> vectors;
  std::vector<int> labels;
  for (int c = 0; c < clusters; ++c) {
    for (int64_t r : sources[c].rows) {
      const float* row = normalized.data() + static_cast<size_t>(r) * dim;
      vectors.insert(vectors.end(), row, row + dim);
      labels.push_back(c);
    }
  }
  ROUTER_ASSIGN_OR_RETURN(
      internal::SoftmaxModel model,
      internal::FitSoftmaxRegression(vectors, static_cast<int64_t>(labels.size()), dim, labels,
                                     {.classes = clusters, .l2 = l2}));
  SourceClusters out;
  // Rows of smaller sources go to the most likely source; the others to
  // their own.
  out.assignment = AssignNearest(normalized.data(), rows, dim, model.weights, clusters, model.bias);
  for (int c = 0; c < clusters; ++c) {
    for (int64_t r : sources[c].rows) out.assignment[r] = c;
  }
  out.weights = std::move(model.weights);
  out.bias = std::move(model.bias);
  return out;
}

// The `n` clusters of highest similarity, highest first (ties keep the lower
// index), into scratch->nearest, and their softmax weights over similarity /
// temperature into scratch->weight (both of size n).
void WeighNearest(const float* similarities, int clusters, int n, double temperature,
                  Scratch* scratch) {
  // By insertion into a sorted list: n is small, or all K for the
  // classifier, whose evidence needs the order too.
  int found = 0;
  for (int c = 0; c < clusters; ++c) {
    const float s = similarities[c];
    if (found == n && !(s > similarities[scratch->nearest[n - 1]])) continue;
    int pos = found < n ? found++ : n - 1;
    while (pos > 0 && s > similarities[scratch->nearest[pos - 1]]) {
      scratch->nearest[pos] = scratch->nearest[pos - 1];
      --pos;
    }
    scratch->nearest[pos] = c;
  }
  // Shifted by the largest, so exp cannot overflow.
  const double top = similarities[scratch->nearest[0]];
  double total = 0.0;
  for (int i = 0; i < n; ++i) {
    scratch->weight[i] =
        std::exp((static_cast<double>(similarities[scratch->nearest[i]]) - top) / temperature);
    total += scratch->weight[i];
  }
  for (int i = 0; i < n; ++i) scratch->weight[i] /= total;
}

}  // namespace

int AutoNumClusters(int64_t rows) {
  if (rows <= 0) return 1;
  const int64_t k = std::llround(std::sqrt(static_cast<double>(rows) / 3.0));
  return static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(k, rows), 1, kMaxAutoClusters));
}

ClusterRouter::ClusterRouter(ClusterOptions options) : options_(options) {}
ClusterRouter::~ClusterRouter() = default;

absl::Status ClusterRouter::Fit(const Dataset& data, const Catalog& catalog) {
  ROUTER_RETURN_IF_ERROR(ValidateOptions(options_));
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> column,
                          internal::TrainingColumns(data, catalog, "cluster"));
  const int num_models = catalog.size();
  const int64_t rows = data.rows();
  const int dim = data.dim;
  // The training rows grouped by source, for the classifier (2c) or the
  // split (2b).
  const std::vector<SourceRows> groups = RowsBySource(data);
  const std::vector<SourceRows> sources =
      options_.assignment == ClusterOptions::Assignment::kCentroids ? std::vector<SourceRows>{}
                                                                     : LargeSources(groups);
  // More sources than k-means would make clusters look like ids, not tasks
  // (and would make the classifier's fit slow).
  const bool usable = sources.size() >= 2 && sources.size() <= kMaxAutoClusters;
  const bool by_source = options_.assignment == ClusterOptions::Assignment::kSources || usable;
  if (by_source && !usable) {
    return absl::InvalidArgumentError(fmt::format(
        "cluster: assignment \"sources\" needs two or more sources (at most {}) with {} or "
        "more training rows, the data has {}",
        kMaxAutoClusters, kMinSourceFragment, sources.size()));
  }
  if (!by_source && options_.num_clusters > rows) {
    return absl::InvalidArgumentError(
        fmt::format("cluster: num_clusters is {} but the training data has only {} rows (use "
                    "num_clusters = 0 for an automatic K)",
                    options_.num_clusters, rows));
  }

  std::vector<float> normalized(static_cast<size_t>(rows) * dim);
  for (int64_t r = 0; r < rows; ++r) NormalizeInto(data.vector(r), normalized.data() + r * dim);

  int clusters = 0;
  std::vector<float> centroids, bias;
  std::vector<std::string> names;
  std::vector<int> assignment;
  if (by_source) {
    absl::StatusOr<SourceClusters> classified =
        ClassifySources(normalized, rows, dim, sources, options_.classifier_l2);
    if (!classified.ok()) return Annotate(classified.status(), "cluster");
    clusters = static_cast<int>(sources.size());
    centroids = std::move(classified->weights);
    bias = std::move(classified->bias);
    assignment = std::move(classified->assignment);
    for (const SourceRows& source : sources) names.push_back(source.source);
  } else {
    clusters = options_.num_clusters > 0 ? options_.num_clusters : AutoNumClusters(rows);
    // Spherical k-means: unit centroids, assignment by inner product.
    absl::StatusOr<std::vector<float>> kmeans =
        internal::KMeans(normalized, rows, dim,
                         {.clusters = clusters,
                          .iterations = options_.kmeans_iterations,
                          .restarts = options_.kmeans_restarts,
                          .seed = options_.seed,
                          .spherical = true,
                          .threads = options_.kmeans_threads});
    if (!kmeans.ok()) return Annotate(kmeans.status(), "cluster");
    centroids = *std::move(kmeans);
    if (options_.split_by_source) {
      if (const std::vector<int> source_of = SourceIds(groups, rows); !source_of.empty()) {
        centroids = SplitBySource(normalized, dim, source_of,
                                  AssignNearest(normalized.data(), rows, dim, centroids, clusters),
                                  centroids, clusters);
        clusters = static_cast<int>(centroids.size() / dim);
      }
    }
    for (int c = 0; c < clusters; ++c) {
      // FAISS already made them unit length; redoing it in double keeps the
      // invariant explicit (a centroid that collapsed to zero stays zero) and
      // makes split clusters' means unit length.
      float* row = centroids.data() + static_cast<size_t>(c) * dim;
      NormalizeInto(absl::MakeConstSpan(row, dim), row);
    }
    assignment = AssignNearest(normalized.data(), rows, dim, centroids, clusters);
  }
  std::vector<int64_t> sizes(clusters, 0);
  for (int c : assignment) ++sizes[c];

  const size_t cells = static_cast<size_t>(clusters) * num_models;
  std::vector<double> quality(cells), se2(cells), cost(cells);
  std::vector<int32_t> count(cells);
  std::vector<uint8_t> cost_observed(num_models);
  for (int m = 0; m < num_models; ++m) {
    ModelStats stats(clusters);
    for (int64_t r = 0; r < rows; ++r) {
      stats.Add(assignment[r], data.score(r, column[m]), data.cost(r, column[m]));
    }
    cost_observed[m] = stats.Shrink(options_.prior_strength, m, num_models, quality.data(),
                                    se2.data(), cost.data(), count.data());
  }

  // Commit only now, so a failed Fit leaves the router as it was.
  state_ = State{.catalog = catalog,
                 .dim = dim,
                 .num_clusters = clusters,
                 .centroids = std::move(centroids),
                 .bias = std::move(bias),
                 .sources = std::move(names),
                 .cluster_sizes = std::move(sizes),
                 .quality = std::move(quality),
                 .quality_se2 = std::move(se2),
                 .cost = std::move(cost),
                 .score_count = std::move(count),
                 .cost_observed = std::move(cost_observed)};
  return absl::OkStatus();
}

int ClusterRouter::ToldCluster(const Query& query) const {
  const std::string_view task = QueryTask(query);
  if (task.empty()) return -1;
  // A scan: Fit makes at most 256 source clusters, and a route over them
  // weighs all K anyway.
  const auto it = std::find(state_.sources.begin(), state_.sources.end(), task);
  return it == state_.sources.end() ? -1 : static_cast<int>(it - state_.sources.begin());
}

void ClusterRouter::Aggregate(const float* similarities, int told_cluster, int64_t input_tokens,
                              Estimates* out) const {
  const int num_models = state_.catalog.size();
  // The source classifier's probabilities are its softmax over all K logits;
  // a told task is its own cluster alone.
  const bool classifier = !state_.bias.empty();
  const int n = told_cluster >= 0 ? 1
                : classifier     ? state_.num_clusters
                                 : std::min(options_.nearest_clusters, state_.num_clusters);
  const double temperature = classifier ? 1.0 : options_.temperature;
  Scratch& scratch = ThreadScratch();
  scratch.nearest.resize(n);
  scratch.weight.resize(n);
  if (told_cluster >= 0) {
    scratch.nearest[0] = told_cluster;
    scratch.weight[0] = 1.0;
  } else {
    WeighNearest(similarities, state_.num_clusters, n, temperature, &scratch);
  }
  out->evidence.clear();
  for (int i = 0; i < n; ++i) {
    out->evidence.push_back({scratch.nearest[i], static_cast<float>(scratch.weight[i])});
  }

  out->per_model.resize(num_models);
  for (int m = 0; m < num_models; ++m) {
    double q = 0.0, c = 0.0;
    int64_t support = 0;
    for (int i = 0; i < n; ++i) {
      const size_t cell = static_cast<size_t>(scratch.nearest[i]) * num_models + m;
      q += scratch.weight[i] * state_.quality[cell];
      c += scratch.weight[i] * state_.cost[cell];
      support += state_.score_count[cell];
    }
    double variance = 0.0;
    for (int i = 0; i < n; ++i) {
      const size_t cell = static_cast<size_t>(scratch.nearest[i]) * num_models + m;
      const double d = state_.quality[cell] - q;
      variance += scratch.weight[i] * (state_.quality_se2[cell] + d * d);
    }
    ModelEstimate& estimate = out->per_model[m];
    estimate.quality = std::clamp(q, 0.0, 1.0);
    estimate.uncertainty = std::sqrt(variance);
    estimate.expected_cost_usd =
        state_.cost_observed[m] ? c : state_.catalog.at(m).ExpectedCostUsd(input_tokens);
    estimate.support = static_cast<int>(std::min<int64_t>(support, std::numeric_limits<int>::max()));
  }
}

absl::Status ClusterRouter::Estimate(const Query& query, Estimates* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("estimates output is null");
  if (state_.dim == 0 || query.vector.data() == nullptr ||
      query.vector.size() != static_cast<size_t>(state_.dim)) {
    return ValidateVector(query.vector, state_.dim);  // names the problem
  }
  // Cosine similarity is <c, q> / |q| for unit centroids, so the query is
  // not copied: the K similarities are scaled instead. A finite sum of
  // squares proves every element finite (NaN and infinity propagate), which
  // spares a separate pass. Otherwise ValidateVector finds the bad element,
  // or the float sum merely overflowed (or underflowed, for tiny values):
  // then the query is normalised in double first, so that the product cannot
  // overflow either.
  Scratch& scratch = ThreadScratch();
  const float* vector = query.vector.data();
  const double norm_sq = Eigen::Map<const Eigen::VectorXf>(vector, state_.dim).squaredNorm();
  float scale = static_cast<float>(1.0 / std::sqrt(norm_sq));
  if (!std::isfinite(norm_sq) || norm_sq < 1e-30) {
    ROUTER_RETURN_IF_ERROR(ValidateVector(query.vector, state_.dim));
    scratch.query.resize(state_.dim);
    NormalizeInto(query.vector, scratch.query.data());
    vector = scratch.query.data();
    scale = 1.0f;
  }
  scratch.similarities.resize(state_.num_clusters);
  ConstRowMatrixMap c(state_.centroids.data(), state_.num_clusters, state_.dim);
  Eigen::Map<const Eigen::VectorXf> q(vector, state_.dim);
  Eigen::Map<Eigen::VectorXf> sims(scratch.similarities.data(), state_.num_clusters);
  sims.noalias() = c * q;
  sims *= scale;
  AddBias(state_.bias, sims.transpose());
  Aggregate(scratch.similarities.data(), ToldCluster(query), InputTokens(query), out);
  return absl::OkStatus();
}

absl::Status ClusterRouter::EstimateBatch(absl::Span<const Query> queries,
                                          absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  if (queries.empty()) return absl::OkStatus();
  if (state_.dim == 0) return absl::FailedPreconditionError("the router is not fitted");
  const int64_t n = static_cast<int64_t>(queries.size());
  RowMatrix batch(n, state_.dim);
  for (int64_t i = 0; i < n; ++i) {
    ROUTER_RETURN_IF_ERROR(
        Annotate(ValidateVector(queries[i].vector, state_.dim), fmt::format("query {}", i)));
    NormalizeInto(queries[i].vector, batch.row(i).data());
  }
  ConstRowMatrixMap c(state_.centroids.data(), state_.num_clusters, state_.dim);
  RowMatrix sims(n, state_.num_clusters);
  sims.noalias() = batch * c.transpose();
  AddBias(state_.bias, sims);
  for (int64_t i = 0; i < n; ++i) {
    Aggregate(sims.row(i).data(), ToldCluster(queries[i]), InputTokens(queries[i]), &out[i]);
  }
  return absl::OkStatus();
}

absl::Status ClusterRouter::OnboardModel(const Profile& profile, const Dataset& labelled) {
  if (state_.dim == 0) return absl::FailedPreconditionError("cluster: the router is not fitted");
  auto fail = [&](std::string_view message) {
    return absl::InvalidArgumentError(
        fmt::format("cluster: onboarding '{}': {}", profile.name, message));
  };
  if (state_.catalog.Find(profile.name).ok()) {
    return absl::AlreadyExistsError(
        fmt::format("cluster: the catalog already has a model named '{}'", profile.name));
  }
  Catalog catalog = state_.catalog;
  ROUTER_RETURN_IF_ERROR(Annotate(catalog.Add(profile), "cluster: onboarding"));
  ROUTER_RETURN_IF_ERROR(Annotate(labelled.Validate(), "cluster: onboarding data"));
  if (!labelled.has_vectors()) return fail("the labelled data has no query vectors");
  if (labelled.dim != state_.dim) {
    return fail(fmt::format("the labelled vectors have dimension {}, the router expects {}",
                            labelled.dim, state_.dim));
  }
  const int column = labelled.ModelColumn(profile.name);
  if (column < 0) return fail("the labelled data has no column of that name");

  // The rows with a score or a cost for the model.
  std::vector<int64_t> used;
  bool scored = false;
  for (int64_t r = 0; r < labelled.rows(); ++r) {
    const bool has_score = !std::isnan(labelled.score(r, column));
    if (!has_score && std::isnan(labelled.cost(r, column))) continue;
    scored = scored || has_score;
    absl::Status valid = ValidateVector(labelled.vector(r), state_.dim, "labelled vector");
    if (!valid.ok()) return fail(fmt::format("row {}: {}", r, StdView(valid.message())));
    used.push_back(r);
  }
  if (!scored) return fail("no labelled row has a score for the model");

  std::vector<float> normalized(used.size() * static_cast<size_t>(state_.dim));
  for (size_t i = 0; i < used.size(); ++i) {
    NormalizeInto(labelled.vector(used[i]), normalized.data() + i * state_.dim);
  }
  const std::vector<int> assignment =
      AssignNearest(normalized.data(), static_cast<int64_t>(used.size()), state_.dim, state_.centroids,
                    state_.num_clusters, state_.bias);
  ModelStats stats(state_.num_clusters);
  for (size_t i = 0; i < used.size(); ++i) {
    stats.Add(assignment[i], labelled.score(used[i], column), labelled.cost(used[i], column));
  }

  // Widen the K x M arrays by one column.
  const int old_models = state_.catalog.size();
  const int models = old_models + 1;
  const size_t cells = static_cast<size_t>(state_.num_clusters) * models;
  std::vector<double> quality(cells), se2(cells), cost(cells);
  std::vector<int32_t> count(cells);
  for (int c = 0; c < state_.num_clusters; ++c) {
    for (int m = 0; m < old_models; ++m) {
      const size_t from = static_cast<size_t>(c) * old_models + m;
      const size_t to = static_cast<size_t>(c) * models + m;
      quality[to] = state_.quality[from];
      se2[to] = state_.quality_se2[from];
      cost[to] = state_.cost[from];
      count[to] = state_.score_count[from];
    }
  }
  std::vector<uint8_t> cost_observed = state_.cost_observed;
  cost_observed.push_back(stats.Shrink(options_.prior_strength, old_models, models,
                                       quality.data(), se2.data(), cost.data(), count.data()));

  State next = state_;  // the centroids and sizes stay
  next.catalog = std::move(catalog);
  next.quality = std::move(quality);
  next.quality_se2 = std::move(se2);
  next.cost = std::move(cost);
  next.score_count = std::move(count);
  next.cost_observed = std::move(cost_observed);
  state_ = std::move(next);
  return absl::OkStatus();
}

}  // namespace router

// ---------------------------------------------------------------- state I/O

namespace router {
namespace {
// 4: the source clusters' names after the classifier's biases; 3: the
// classifier's biases after the centroids (none for centroids); 2: the
// options as their schema's JSON (internal::PutOptions); 1: field by field
// (ReadOptionsV1). All still read; a classifier from version 3 knows no
// task names, so told tasks are ignored.
constexpr uint32_t kClusterStateVersion = 4;
constexpr int kMaxDim = 1 << 20;
constexpr int kMaxClusters = 1 << 24;

// The options as state version 1 wrote them, field by field.
bool ReadOptionsV1(internal::ByteReader* r, ClusterOptions* options) {
  int32_t num_clusters = 0, nearest = 0, iterations = 0, restarts = 0, threads = 0;
  if (!(r->Get(&num_clusters, "num_clusters") && r->Get(&nearest, "nearest_clusters") &&
        r->Get(&options->temperature, "temperature") &&
        r->Get(&options->prior_strength, "prior_strength") &&
        r->Get(&iterations, "kmeans_iterations") && r->Get(&restarts, "kmeans_restarts") &&
        r->Get(&options->seed, "seed") && r->Get(&threads, "kmeans_threads"))) {
    return false;
  }
  options->num_clusters = num_clusters;
  options->nearest_clusters = nearest;
  options->kmeans_iterations = iterations;
  options->kmeans_restarts = restarts;
  options->kmeans_threads = threads;
  if (absl::Status valid = ValidateOptions(*options); !valid.ok()) {
    return r->Fail("options", StdView(valid.message()));
  }
  return true;
}

// Fails `r` on the first loaded value out of its range.
bool CheckLoadedValues(const std::vector<float>& centroids, const std::vector<float>& bias,
                       const std::vector<int64_t>& sizes,
                       const std::vector<double>& quality, const std::vector<double>& se2,
                       const std::vector<double>& cost, const std::vector<int32_t>& count,
                       const std::vector<uint8_t>& cost_observed, internal::ByteReader* r) {
  auto all = [](const auto& values, auto in_range) {
    return std::all_of(values.begin(), values.end(), in_range);
  };
  if (!all(centroids, [](float v) { return std::isfinite(v); })) {
    return r->Fail("centroids", "non-finite value");
  }
  if (!all(bias, [](float v) { return std::isfinite(v); })) {
    return r->Fail("classifier biases", "non-finite value");
  }
  if (!all(sizes, [](int64_t n) { return n >= 0; })) return r->Fail("cluster sizes", "negative");
  if (!all(quality, [](double q) { return q >= 0.0 && q <= 1.0; })) {
    return r->Fail("quality", "value outside [0, 1]");
  }
  if (!all(se2, [](double v) { return v >= 0.0 && v <= 1.0; })) {
    return r->Fail("quality se2", "value outside [0, 1]");
  }
  if (!all(cost, [](double c) { return c >= 0.0 && std::isfinite(c); })) {
    return r->Fail("cost", "negative or non-finite");
  }
  if (!all(count, [](int32_t n) { return n >= 0; })) return r->Fail("score counts", "negative");
  if (!all(cost_observed, [](uint8_t b) { return b <= 1; })) {
    return r->Fail("cost observed", "not a boolean");
  }
  return true;
}

// The source names of a classifier (state version 4): one per cluster,
// distinct, since a told task must name one cluster; or none, for a
// classifier first saved at version 3 (it never knew them).
bool GetSourceNames(internal::ByteReader* r, int32_t clusters, std::vector<std::string>* names) {
  uint32_t count = 0;
  if (!r->Get(&count, "source names")) return false;
  if (count != 0 && count != static_cast<uint32_t>(clusters)) {
    return r->Fail("source names", fmt::format("{} names for {} clusters", count, clusters));
  }
  // One by one: a corrupt count runs out of bytes before it allocates much.
  for (uint32_t i = 0; i < count; ++i) {
    if (!r->GetString(&names->emplace_back(), "source name")) return false;
  }
  std::vector<std::string> sorted = *names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return r->Fail("source names", "a name repeats");
  }
  return true;
}

}  // namespace

absl::Status ClusterRouter::RemoveModel(std::string_view name) {
  if (state_.dim == 0) return absl::FailedPreconditionError("cluster: the router is not fitted");
  ROUTER_ASSIGN_OR_RETURN(const int removed,
                          internal::RemovableModel(state_.catalog, name, "cluster"));
  const int models = state_.catalog.size();
  state_ = State{.catalog = state_.catalog.Without(removed),
                 .dim = state_.dim,
                 .num_clusters = state_.num_clusters,
                 .centroids = state_.centroids,
                 .bias = state_.bias,
                 .sources = state_.sources,
                 .cluster_sizes = state_.cluster_sizes,
                 .quality = internal::WithoutColumn(state_.quality, models, removed),
                 .quality_se2 = internal::WithoutColumn(state_.quality_se2, models, removed),
                 .cost = internal::WithoutColumn(state_.cost, models, removed),
                 .score_count = internal::WithoutColumn(state_.score_count, models, removed),
                 .cost_observed = internal::WithoutRow(state_.cost_observed, 1, removed)};
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Router>> ClusterRouter::Clone() const {
  auto copy = std::make_unique<ClusterRouter>(options_);
  copy->state_ = state_;
  return std::unique_ptr<Router>(std::move(copy));
}

std::vector<std::pair<std::string, std::string>> ClusterRouter::Describe() const {
  if (state_.dim == 0) return {};
  std::vector<std::pair<std::string, std::string>> out = {
      {"clusters", std::to_string(state_.num_clusters)},
      {"assignment", state_.bias.empty() ? "centroids" : "sources"}};
  // The task names a request may give (RequestOverrides::task).
  if (!state_.sources.empty()) {
    out.emplace_back("tasks", fmt::format("{}", fmt::join(state_.sources, ", ")));
  }
  return out;
}

absl::Status ClusterRouter::SaveState(std::string* out) const {
  if (state_.dim == 0) return absl::FailedPreconditionError("cluster: the router is not fitted");
  internal::ByteWriter w(out);
  w.Put(kClusterStateVersion);
  internal::PutOptions(options_, &w);
  internal::PutCatalog(state_.catalog, &w);
  w.Put<int32_t>(state_.dim);
  w.Put<int32_t>(state_.num_clusters);
  w.PutVector(state_.centroids);
  w.Put<uint8_t>(state_.bias.empty() ? 0 : 1);
  if (!state_.bias.empty()) {
    w.PutVector(state_.bias);
    w.Put<uint32_t>(static_cast<uint32_t>(state_.sources.size()));
    for (const std::string& name : state_.sources) w.PutString(name);
  }
  w.PutVector(state_.cluster_sizes);
  w.PutVector(state_.quality);
  w.PutVector(state_.quality_se2);
  w.PutVector(state_.cost);
  w.PutVector(state_.score_count);
  w.PutVector(state_.cost_observed);
  return absl::OkStatus();
}

absl::Status ClusterRouter::LoadState(std::string_view state) {
  internal::ByteReader r(state, "cluster router state");
  uint32_t version = 0;
  r.GetVersion(&version, kClusterStateVersion);
  ClusterOptions options;
  int32_t dim = 0, clusters = 0;
  Catalog catalog;
  (version == 1 ? ReadOptionsV1(&r, &options) : internal::GetOptions(&r, &options)) &&
      internal::GetCatalog(&r, &catalog) && r.Get(&dim, "dim") && r.Get(&clusters, "clusters");
  if (!r.status().ok()) return r.status();
  if (catalog.empty()) {
    r.Fail("catalog", "empty");
  } else if (dim < 1 || dim > kMaxDim || clusters < 1 || clusters > kMaxClusters) {
    r.Fail("sizes", fmt::format("dim {}, clusters {} out of range", dim, clusters));
  }
  if (!r.status().ok()) return r.status();

  const uint64_t cells = static_cast<uint64_t>(clusters) * catalog.size();
  State loaded;
  loaded.catalog = std::move(catalog);
  loaded.dim = dim;
  loaded.num_clusters = clusters;
  uint8_t classifier = 0;
  r.GetVector(&loaded.centroids, static_cast<uint64_t>(clusters) * dim, "centroids") &&
      (version < 3 || r.Get(&classifier, "classifier")) &&
      (classifier == 0 || classifier == 1 || r.Fail("classifier", "not a boolean")) &&
      (classifier == 0 || r.GetVector(&loaded.bias, clusters, "classifier biases")) &&
      (classifier == 0 || version < 4 || GetSourceNames(&r, clusters, &loaded.sources)) &&
      (classifier == 1 || clusters >= options.num_clusters ||
       r.Fail("sizes", fmt::format("{} clusters, fewer than num_clusters {}", clusters,
                                   options.num_clusters))) &&
      r.GetVector(&loaded.cluster_sizes, clusters, "cluster sizes") &&
      r.GetVector(&loaded.quality, cells, "quality") &&
      r.GetVector(&loaded.quality_se2, cells, "quality se2") &&
      r.GetVector(&loaded.cost, cells, "cost") &&
      r.GetVector(&loaded.score_count, cells, "score counts") &&
      r.GetVector(&loaded.cost_observed, loaded.catalog.size(), "cost observed") &&
      CheckLoadedValues(loaded.centroids, loaded.bias, loaded.cluster_sizes, loaded.quality,
                        loaded.quality_se2, loaded.cost, loaded.score_count, loaded.cost_observed,
                        &r);
  ROUTER_RETURN_IF_ERROR(r.Finish());

  options_ = options;
  state_ = std::move(loaded);
  return absl::OkStatus();
}

}  // namespace router
