// File: router/cluster_router.h
//
// ClusterRouter: routing through a k-means partition of the query space, in
// the style of UniRoute (Jitkrittum et al., "Universal Model Routing for
// Efficient LLM Inference", arXiv 2502.08773). Each model is summarised by
// its mean quality and cost on every cluster; a query borrows the numbers of
// its nearest clusters. Compared with kNN it is small (K centroids instead of
// every training vector), fast (one K x d matrix-vector product per query),
// and a new model can be added from a few hundred labelled queries without
// touching the others (OnboardModel).
//
// Fit:
//   1. Every training vector is L2-normalised (cosine geometry, as in kNN).
//   2. Spherical k-means (faiss::Clustering, seeded, `kmeans_iterations`
//      Lloyd iterations, best of `kmeans_restarts`) finds K unit centroids.
//      K = num_clusters, or with num_clusters = 0 ("auto")
//          K = clamp(round(sqrt(rows / 3)), 1, 256), never more than rows.
//      An explicit num_clusters larger than the number of rows is an error.
//      Above 256 rows per cluster k-means trains on a seeded sample of 256 K
//      rows (FAISS's default); every row is assigned afterwards.
//   2b. When the training rows name two or more sources (Dataset::sources:
//      the task or application each prompt came from) and `split_by_source`
//      is on (the default), a cluster holding 10 or more rows of each of
//      two or more sources is split: each such source's rows there get
//      their own centroid (the normalised mean of their vectors). Models
//      often fare differently on two tasks whose prompts look alike, and a
//      mixed cluster would average them. Smaller fragments join the
//      nearest remaining centroid in step 3; K grows by the splits. Queries
//      need no source. On the LLMRouter data this raised AIQ out of fold
//      on train by 0.004-0.009 (docs/results.md).
//   2c. With `assignment` kSources (or kAuto and sources to use), the
//      clusters are the sources themselves (those with 10 or more training
//      rows) and a query's weights come from a softmax-regression classifier
//      of the source instead of centroids: UniRoute's "learned map" variant,
//      supervised here by the rows' sources. The classifier (weights Theta,
//      K x d, and biases b) minimises the mean cross-entropy of the rows'
//      sources plus classifier_l2 / 2 |Theta|^2, by 200 steps of
//      accelerated gradient descent from zero. Each such row belongs to its
//      own source's cluster; rows of smaller sources to the classifier's
//      most likely source. A linear classifier can weigh the directions that
//      tell tasks apart, where a centroid weighs every direction alike. On
//      the LLMRouter data this raised AIQ out of fold on train by
//      0.005-0.007 over 2b (docs/results.md).
//   3. Each training row goes to its nearest centroid (hard assignment). For
//      model m and cluster c with n scores summing to S,
//          quality[c][m] = (S + s * g_m) / (n + s)
//      where g_m is m's mean score over all training rows and s is
//      `prior_strength`: Bayesian shrinkage, so a cluster with few rows stays
//      near the model's overall mean instead of taking a wild value. Costs are
//      shrunk the same way towards m's mean observed cost; a model without any
//      observed cost is priced from the catalog for each query's tokens.
//
// Estimate, for a query q (normalised):
//   similarities s_c = <centroid_c, q> for all K clusters (one Eigen
//   matrix-vector product on the calling thread); the `nearest_clusters`
//   highest c_1..c_n get softmax weights w_i = exp(s_i / T) / sum exp(s_j / T),
//   T = `temperature`. With the source classifier (2c) the similarities are
//   its logits <Theta_c, q> + b_c and the weights its probabilities: all K
//   clusters, T = 1. Then for each model
//     quality     = sum_i w_i quality[c_i][m]
//     cost        = sum_i w_i cost[c_i][m]   (or the catalog price, see above)
//     uncertainty = sqrt(sum_i w_i (se2[c_i][m] + (quality[c_i][m] - quality)^2))
//     support     = sum_i n[c_i][m]   (training scores in the clusters used)
//   The uncertainty is the standard deviation of the estimated mean quality
//   by the law of total variance, treating the query's cluster as drawn from
//   the weights: the spread of the cluster means (between-cluster term) plus
//   each cluster mean's own squared standard error (within-cluster term),
//       se2[c][m] = v[c][m] / (n + s),
//       v[c][m]   = (sum over the cluster's scores of (x - mean_c)^2 + s * V_m) / (n + s),
//   V_m being m's score variance over all training rows (v is shrunk too, so
//   a one-row cluster does not claim zero spread unless s = 0). It is small
//   where the clusters agree and have many rows, large where a query sits
//   between clusters that disagree or whose means rest on few rows.
//   Estimates::evidence lists the clusters used (id = cluster index,
//   similarity = weight), highest weight first.
//
// Told the task: with the source classifier (2c), a query whose request
// names the task it comes from (RequestOverrides::task, e.g. a gateway's
// route or an app id) and names one of the training sources gets that
// source's cluster alone (weight 1) instead of the classifier's mix: the
// per-task means a host that knows the task can ask for. A name the router
// did not learn, or none, leaves the classifier to infer it. On the LLMRouter
// data this gained 0.007-0.009 AIQ over the classifier on train's folds
// (docs/results.md, "A request that names its task"). Routers with
// centroids ignore it.
//
// Estimate allocates nothing once the calling thread's scratch buffers and
// `out` have grown; EstimateBatch computes all similarities with one matrix
// product.
//
// Thread safety: as Router. Fit, OnboardModel and LoadState must not run
// concurrently with routing.
#ifndef ROUTER_CLUSTER_ROUTER_H_
#define ROUTER_CLUSTER_ROUTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "router/export.h"
#include "router/router.h"

namespace router {

// The defaults were chosen on the LLMRouter 9-model data (5,608 training
// prompts, 14 tasks) with the built-in TextFeaturizer (256-d): three seeded
// 80/20 validation splits of the training rows, three to five k-means seeds
// each, AIQ of a MaxUtilityPolicy lambda sweep. The surface is flat: K from
// 28 to 112 and prior strength 0 to 10 stay within about 0.005 AIQ of the
// best; K near sqrt(rows / 3) (40 on 4,487 rows), 5 clusters at temperature
// 0.03, and s = 3 were best or tied. s = 1 to 3 also did best when a dropped
// model was onboarded back from 300 rows. Held-out test AIQ with these
// defaults: 0.596 (kNN k = 40 in this library: 0.599).
struct ClusterOptions {
  static constexpr const char* kKind = "cluster";  // PipelineConfig::router
  // K, the number of k-means clusters; 0 = auto (see the rule above).
  int num_clusters = 0;
  // How clusters are made and queries weighted over them (see above):
  // kCentroids: k-means (split by source, step 2b), softmax over cosine
  //   similarity to the nearest centroids;
  // kSources: one cluster per training source, weighted by a learned
  //   classifier of the source (step 2c); InvalidArgument unless 2 to 256
  //   sources have 10 or more rows;
  // kAuto: kSources where it applies, else kCentroids.
  enum class Assignment { kAuto, kCentroids, kSources };
  Assignment assignment = Assignment::kAuto;
  // Split clusters that mix sources of the training rows (step 2b above).
  bool split_by_source = true;
  // L2 strength of the source classifier (step 2c), per training row.
  double classifier_l2 = 2e-5;
  // Clusters a query mixes (n above); more than K means all K.
  int nearest_clusters = 5;
  // Softmax temperature over cosine similarities (> 0). Small values approach
  // hard assignment to the nearest cluster; large ones an even mix.
  double temperature = 0.03;
  // Prior strength s of the shrinkage, in pseudo-observations (>= 0).
  double prior_strength = 3.0;
  // Lloyd iterations of k-means (>= 1) and restarts, keeping the best (>= 1).
  int kmeans_iterations = 25;
  int kmeans_restarts = 1;
  // Seed of the k-means initialisation.
  uint32_t seed = 1234;
  // OpenMP threads FAISS may use for k-means during Fit; 0 = the caller's
  // OpenMP setting. One by default: at the sizes routing data has, the
  // threads cost more than they bring (on a busy 2-core machine, 5608 x 256
  // rows took 2.0 s with 2 threads and 0.2 s with 1), and a library should
  // not fan out unasked. The result does not depend on it.
  int kmeans_threads = 1;
};

// The K used for `rows` training rows when ClusterOptions::num_clusters is 0.
ROUTER_EXPORT int AutoNumClusters(int64_t rows);

class ROUTER_EXPORT ClusterRouter : public Router {
 public:
  explicit ClusterRouter(ClusterOptions options = {});
  ~ClusterRouter() override;

  std::string_view kind() const override { return "cluster"; }
  int dim() const override { return state_.dim; }
  const Catalog& catalog() const override { return state_.catalog; }
  const ClusterOptions& options() const { return options_; }

  // K after Fit (0 before).
  int num_clusters() const { return state_.num_clusters; }
  // K x dim unit centroids, row-major; the classifier's weights Theta with
  // the source classifier (step 2c).
  absl::Span<const float> centroids() const { return state_.centroids; }
  // True when the clusters are the training sources, weighted by the
  // classifier (step 2c).
  bool by_source_classifier() const { return !state_.bias.empty(); }
  // With the classifier, the source each cluster stands for: the task names
  // a request may give (RequestOverrides::task). Empty otherwise.
  absl::Span<const std::string> cluster_sources() const { return state_.sources; }
  // Training rows assigned to each cluster.
  absl::Span<const int64_t> cluster_sizes() const { return state_.cluster_sizes; }
  // The shrunk per-cluster quality of catalog model `model` in cluster
  // `cluster` (for tools and tests).
  double ClusterQuality(int cluster, int model) const {
    return state_.quality[static_cast<size_t>(cluster) * state_.catalog.size() + model];
  }

  absl::Status Fit(const Dataset& data, const Catalog& catalog) override;
  absl::Status Estimate(const Query& query, Estimates* out) const override;
  absl::Status EstimateBatch(absl::Span<const Query> queries,
                             absl::Span<Estimates> out) const override;

  // Adds `profile` from the rows of `labelled` that have a score for
  // profile.name (the column of that name; costs from the same column where
  // present). Each such row goes to its nearest centroid, as in Fit, and the
  // model's per-cluster means are shrunk towards its own mean over those rows
  // with the same prior strength. The centroids and the other models do not
  // change. FailedPrecondition before Fit; AlreadyExists if the catalog has
  // the name; InvalidArgument if `labelled` does not validate, has no vectors
  // or vectors of another dimension, non-finite vectors, no such column or no
  // row with a score, or the profile is invalid. On error nothing changes.
  absl::Status OnboardModel(const Profile& profile, const Dataset& labelled) override;

  absl::Status RemoveModel(std::string_view name) override;
  absl::StatusOr<std::unique_ptr<Router>> Clone() const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view state) override;
  std::vector<std::pair<std::string, std::string>> Describe() const override;

 private:
  // The cluster of the task `query`'s request names, or -1 (none, unknown,
  // or no source clusters).
  int ToldCluster(const Query& query) const;
  // The estimates from the K `similarities`, or from `told_cluster` alone
  // when it is not -1.
  void Aggregate(const float* similarities, int told_cluster, int64_t input_tokens,
                 Estimates* out) const;

  ClusterOptions options_;
  // The learned state: Fit, OnboardModel and LoadState build a new one and
  // commit it in one assignment, so a failure leaves the router as it was.
  struct State {
    Catalog catalog;
    int dim = 0;
    int num_clusters = 0;
    std::vector<float> centroids;        // K x dim, row-major, unit rows (or Theta)
    std::vector<float> bias;             // K biases of the classifier; empty for centroids
    // With the classifier, each cluster's source (K names, distinct);
    // empty for centroids, and for classifiers saved before state version 4.
    std::vector<std::string> sources;
    std::vector<int64_t> cluster_sizes;  // K
    // K x catalog.size(), row-major.
    std::vector<double> quality;         // shrunk mean score
    std::vector<double> quality_se2;     // squared standard error of quality
    std::vector<double> cost;            // shrunk mean observed cost
    std::vector<int32_t> score_count;    // scores behind quality (n)
    // Per model: 1 if any cost was observed (cost is used), else 0 (catalog).
    std::vector<uint8_t> cost_observed;
  };
  State state_;
};

}  // namespace router

#endif  // ROUTER_CLUSTER_ROUTER_H_
