#include "router/linucb_router.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/kmeans.h"
#include "internal/linucb_state.h"
#include "internal/model_columns.h"
#include "internal/normalize.h"
#include "internal/option_schemas.h"
#include "internal/randomized_svd.h"
#include "internal/simd.h"
#include "internal/training_data.h"
#include "router/status.h"

namespace router {

namespace {

using internal::DeriveFromInverse;
using internal::LinUcbArm;
using internal::LinUcbProjection;
using internal::LinUcbState;
using internal::Reinvert;

void WriteState(const LinUcbState& s, std::string* out);  // state I/O, below
using RowMajorMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Above this input dimension the PCA is randomized instead of exact, with
// these settings of the shared randomized SVD.
constexpr int kExactPcaMaxDim = 1024;
constexpr int kRandomizedPcaOversample = 16;
constexpr int kRandomizedPcaIterations = 6;
// Principal components with less variance than this (absolute, on
// unit-length vectors) or than kRelativeRank times the largest are dropped.
constexpr double kMinVariance = 1e-8;
constexpr double kRelativeRank = 1e-6;
// Saved states whose projection rows are longer than this are rejected; Fit
// never makes one longer than 1/sqrt(kMinVariance) = 1e4.
constexpr double kMaxComponentNorm = 1e6;
// LoadState's consistency check of each arm's inverse.
constexpr double kMaxLoadResidual = 1e-3;

// Per-thread scratch space, so that routing does not allocate once warm.
struct Scratch {
  Eigen::VectorXf normalized;
  Eigen::VectorXf projected;  // principal components, then centroid scores
  Eigen::VectorXd context;
  // The context followed by the zeros simd::QuadraticForm reads past it.
  Eigen::VectorXd padded_context;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// out[0, count) = rows * x, where `rows` is count x x.size() row-major and
// `panels` the same by simd::ToPanels. Summed as Eigen's product sums it,
// which contexts were computed with before, so saved routers keep their
// estimates to the last bit.
void ProjectOnRows(const std::vector<float>& rows, const std::vector<float>& panels,
                   int count, const Eigen::VectorXf& x, Eigen::VectorXf* out) {
  if (count > 1) {
    internal::simd::MatVecPanels(panels.data(), x.data(), static_cast<size_t>(count),
                                 static_cast<size_t>(x.size()), out->data());
  } else {
    // One row: Eigen takes a dot product, summed in its own order.
    Eigen::Map<const RowMajorMatrixXf> matrix(rows.data(), count, x.size());
    out->head(count).noalias() = matrix * x;
  }
}

// The context of `vector` (dimension p.dim, finite): normalise, project,
// centre, append the bias. `normalized` and `projected` are scratch.
void ComputeContext(const LinUcbProjection& p, absl::Span<const float> vector,
                    Eigen::VectorXf* normalized, Eigen::VectorXf* projected,
                    Eigen::VectorXd* context) {
  context->setZero(p.context());
  if (p.reduced > 0 || p.clusters > 0) {
    double norm_sq = 0.0;
    for (float v : vector) norm_sq += static_cast<double>(v) * v;
    const double scale = norm_sq > 0.0 ? 1.0 / std::sqrt(norm_sq) : 0.0;
    normalized->resize(p.dim);
    for (int i = 0; i < p.dim; ++i) {
      (*normalized)[i] = static_cast<float>(vector[i] * scale);
    }
  }
  // Room for the components and for the centroid scores, sized once so that
  // routing does not reallocate when the two counts differ.
  projected->resize(std::max(p.reduced, p.clusters));
  if (p.reduced > 0) {
    ProjectOnRows(p.components, p.components_panels, p.reduced, *normalized, projected);
    for (int i = 0; i < p.reduced; ++i) {
      (*context)[i] = static_cast<double>((*projected)[i] - p.mean_projected[i]);
    }
  }
  if (p.clusters > 0) {
    // Nearest centroid in Euclidean distance: argmax c.x - |c|^2 / 2 (first
    // on ties).
    ProjectOnRows(p.centroids, p.centroids_panels, p.clusters, *normalized, projected);
    int nearest = 0;
    float best = -std::numeric_limits<float>::infinity();
    for (int k = 0; k < p.clusters; ++k) {
      const float score = (*projected)[k] - p.centroid_half_sq[k];
      if (score > best) {
        best = score;
        nearest = k;
      }
    }
    (*context)[p.reduced + nearest] = 1.0;
  }
  (*context)[p.context() - 1] = 1.0;
}

void DeriveProjection(LinUcbProjection* p) {
  Eigen::Map<const RowMajorMatrixXf> components(p->components.data(), p->reduced, p->dim);
  Eigen::Map<const Eigen::VectorXf> mean(p->mean.data(), p->dim);
  p->mean_projected = components * mean;
  Eigen::Map<const RowMajorMatrixXf> centroids(p->centroids.data(), p->clusters, p->dim);
  p->centroid_half_sq = centroids.rowwise().squaredNorm() * 0.5f;
  p->components_panels.resize(internal::simd::PanelsSize(p->reduced, p->dim));
  internal::simd::ToPanels(p->components.data(), p->reduced, p->dim,
                           p->components_panels.data());
  p->centroids_panels.resize(internal::simd::PanelsSize(p->clusters, p->dim));
  internal::simd::ToPanels(p->centroids.data(), p->clusters, p->dim, p->centroids_panels.data());
}

bool AllFinite(const Eigen::MatrixXd& m) { return m.allFinite(); }

// A fresh arm of context dimension c at the prior.
LinUcbArm PriorArm(int c, const LinUcbOptions& options) {
  LinUcbArm arm;
  arm.a = Eigen::MatrixXd::Identity(c, c) * options.ridge;
  arm.b = Eigen::VectorXd::Zero(c);
  arm.b[c - 1] = options.ridge * options.prior_quality;  // the bias weight
  return arm;
}

// `next` = `old` updated with context z, reward r and cost. Internal error if
// the result would not be finite (it cannot be, with bounded contexts).
absl::Status UpdateArm(const LinUcbArm& old, const Eigen::VectorXd& z, double reward,
                       double cost, const LinUcbOptions& options, LinUcbArm* next) {
  const Eigen::Index c = z.size();
  Eigen::VectorXd u = old.a_inv * z;
  const double denom = 1.0 + z.dot(u);
  next->a.resize(c, c);
  for (Eigen::Index j = 0; j < c; ++j) next->a.col(j) = old.a.col(j) + z * z[j];
  next->b = old.b + reward * z;
  next->updates = old.updates + 1;
  next->cost_sum = old.cost_sum + cost;
  next->cost_count = old.cost_count + 1;
  next->since_reinvert = old.since_reinvert + 1;
  bool inverted = false;
  if (std::isfinite(denom) && denom >= 1.0) {
    // A^-1 - u u^T / denom, as w w^T with w = u / sqrt(denom): entry (i, j)
    // and (j, i) are the same product, so the inverse stays exactly symmetric.
    u /= std::sqrt(denom);
    next->a_inv.resize(c, c);
    for (Eigen::Index j = 0; j < c; ++j) next->a_inv.col(j) = old.a_inv.col(j) - u * u[j];
    DeriveFromInverse(next);
    if (next->since_reinvert >= options.reinvert_every) {
      // Periodic re-inversion bounds the drift. Reinvert changes nothing when
      // it fails; the Sherman-Morrison inverse is kept then.
      Reinvert(next);
      next->since_reinvert = 0;
    }
    inverted = true;
  }
  if (!inverted || !next->theta.allFinite() || !next->a_inv.allFinite()) {
    // The kept inverse drifted (or overflowed): start again from A.
    if (!Reinvert(next)) {
      return absl::InternalError("linucb: the arm's matrix is not positive definite");
    }
  }
  if (!next->theta.allFinite() || !AllFinite(next->a) || !next->b.allFinite() ||
      !std::isfinite(next->cost_sum)) {
    return absl::InternalError("linucb: the update would make the arm non-finite");
  }
  return absl::OkStatus();
}

double Clamp01(double v) { return v > 0.0 ? (v < 1.0 ? v : 1.0) : 0.0; }  // NaN -> 0

absl::Status EstimateWith(const LinUcbState& s, const Query& query, Estimates* out) {
  if (out == nullptr) return absl::InvalidArgumentError("estimates output is null");
  ROUTER_RETURN_IF_ERROR(ValidateVector(query.vector, s.dim()));
  Scratch& scratch = ThreadScratch();
  ComputeContext(*s.projection, query.vector, &scratch.normalized, &scratch.projected,
                 &scratch.context);
  const Eigen::VectorXd& z = scratch.context;
  scratch.padded_context.setZero(z.size() + internal::simd::kSymmetricPadding - 1);
  scratch.padded_context.head(z.size()) = z;
  const int num_models = static_cast<int>(s.arms.size());
  const int64_t tokens = InputTokens(query);
  const double alpha = s.options.alpha;
  out->per_model.resize(num_models);
  out->evidence.clear();
  for (int m = 0; m < num_models; ++m) {
    const LinUcbArm& arm = *s.arms[m];
    ModelEstimate& e = out->per_model[m];
    // z^T A^-1 z from the packed upper triangle: half the bytes of a_inv,
    // which bound this loop. Its last bits differ from the full product's
    // (another order); the quality below keeps them.
    const double width_sq = internal::simd::QuadraticForm(
        arm.a_inv_packed.data(), scratch.padded_context.data(), static_cast<size_t>(z.size()));
    e.quality = Clamp01(arm.theta.dot(z));
    e.uncertainty = width_sq > 0.0 && std::isfinite(width_sq) ? alpha * std::sqrt(width_sq) : 0.0;
    e.expected_cost_usd = arm.cost_count > 0
                              ? arm.cost_sum / static_cast<double>(arm.cost_count)
                              : s.catalog->at(m).ExpectedCostUsd(tokens);
    e.support = static_cast<int>(
        std::min<int64_t>(arm.updates, std::numeric_limits<int>::max()));
  }
  return absl::OkStatus();
}

absl::Status CheckFitted(const LinUcbState& s) {
  if (s.projection == nullptr) return absl::FailedPreconditionError("linucb: the router is not fitted");
  return absl::OkStatus();
}

// ---------------------------------------------------------------- PCA

// Top eigenpairs of the covariance of the rows of `x` (n x d, centred),
// largest first: at most `k` of them. Exact for d <= kExactPcaMaxDim, else a
// seeded randomized subspace iteration.
void TopEigenpairs(const Eigen::MatrixXd& x, int k, uint64_t seed, Eigen::VectorXd* values,
                   Eigen::MatrixXd* vectors) {
  const Eigen::Index n = x.rows(), d = x.cols();
  const double inv_n = 1.0 / static_cast<double>(n);
  Eigen::VectorXd all_values;   // descending
  Eigen::MatrixXd all_vectors;  // columns, in the same order, signs pinned
  if (d <= kExactPcaMaxDim) {
    Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
    cov.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose(), inv_n);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(cov, Eigen::ComputeEigenvectors);
    all_values = solver.eigenvalues().reverse();  // the solver's are ascending
    all_vectors = solver.eigenvectors().rowwise().reverse();
    internal::PinSigns(&all_vectors);
  } else {
    // X = U S V^T gives C = X^T X / n = V (S^2 / n) V^T.
    internal::TruncatedSvd svd = internal::RandomizedSvd(
        x, {.rank = k, .oversample = kRandomizedPcaOversample,
            .power_iterations = kRandomizedPcaIterations, .seed = seed});
    all_values = svd.singular_values.array().square() * inv_n;
    all_vectors = std::move(svd.right_vectors);
  }
  const Eigen::Index total = all_values.size();
  const double largest = total > 0 ? all_values[0] : 0.0;
  int kept = 0;
  while (kept < k && kept < total) {
    const double v = all_values[kept];
    if (!(v >= kMinVariance && v >= kRelativeRank * largest)) break;
    ++kept;
  }
  *values = all_values.head(kept);
  *vectors = all_vectors.leftCols(kept);
}

absl::StatusOr<LinUcbProjection> FitProjection(const Dataset& data, const LinUcbOptions& options) {
  const int64_t n = data.rows();
  const int d = data.dim;
  // The unit vectors, once: k-means clusters them and the PCA takes their
  // covariance, as routing normalises each query before both.
  std::vector<float> unit(static_cast<size_t>(n) * d);
  for (int64_t r = 0; r < n; ++r) internal::NormalizeInto(data.vector(r), unit.data() + r * d);
  LinUcbProjection p;
  p.clusters = static_cast<int>(std::min<int64_t>(options.clusters, n));
  if (p.clusters > 0) {
    // Euclidean k-means of the unit vectors: centroids are means, so their
    // norm is at most 1, which LoadState checks; FAISS's split of an empty
    // cluster scales a copy by 1 + 1/1024, so the few above are brought back.
    ROUTER_ASSIGN_OR_RETURN(p.centroids,
                            internal::KMeans(unit, n, d, {.clusters = p.clusters,
                                                          .seed = options.seed}));
    for (int k = 0; k < p.clusters; ++k) {
      float* centroid = p.centroids.data() + static_cast<size_t>(k) * d;
      Eigen::Map<Eigen::VectorXf> row(centroid, d);
      if (row.squaredNorm() > 1.0f) {
        internal::NormalizeInto(absl::MakeConstSpan(centroid, d), centroid);
      }
    }
  }
  Eigen::MatrixXd x =
      Eigen::Map<const RowMajorMatrixXf>(unit.data(), n, d).cast<double>();
  unit = std::vector<float>();
  const Eigen::RowVectorXd mean = x.colwise().mean();
  x.rowwise() -= mean;

  const int k = static_cast<int>(
      std::min<int64_t>({static_cast<int64_t>(options.context_dim), d, n - 1}));
  Eigen::VectorXd values;
  Eigen::MatrixXd vectors;
  if (k > 0) TopEigenpairs(x, k, options.seed, &values, &vectors);
  const int kept = static_cast<int>(values.size());

  p.dim = d;
  p.reduced = kept;
  p.mean.resize(d);
  for (int i = 0; i < d; ++i) p.mean[i] = static_cast<float>(mean[i]);
  p.components.resize(static_cast<size_t>(kept) * d);
  const double shared_scale = kept > 0 ? 1.0 / std::sqrt(values.sum()) : 1.0;
  for (int i = 0; i < kept; ++i) {
    const double scale = options.whiten ? 1.0 / std::sqrt(values[i]) : shared_scale;
    for (int j = 0; j < d; ++j) {
      p.components[static_cast<size_t>(i) * d + j] = static_cast<float>(vectors(j, i) * scale);
    }
  }
  DeriveProjection(&p);
  return p;
}

// Checks Fit's data when there is no warm start: only the vectors are used.
absl::Status CheckProjectionData(const Dataset& data, const Catalog& catalog) {
  if (catalog.empty()) return absl::InvalidArgumentError("linucb: the catalog is empty");
  if (data.rows() == 0) return absl::InvalidArgumentError("linucb: the dataset has no rows");
  if (!data.has_vectors()) {
    return absl::InvalidArgumentError(
        "linucb: the dataset has no query vectors (embed the prompts first)");
  }
  ROUTER_RETURN_IF_ERROR(data.Validate());
  for (int64_t r = 0; r < data.rows(); ++r) {
    ROUTER_RETURN_IF_ERROR(Annotate(ValidateVector(data.vector(r), data.dim, "training vector"),
                                    fmt::format("linucb: row {}", r)));
  }
  return absl::OkStatus();
}

// Adds `rows` of `column` of `data` (contexts in `contexts`, one row each) to
// `arm`: A += sum z z^T, b += sum r z, and the observed costs.
void AccumulateRows(const Dataset& data, int column, const Eigen::MatrixXd& contexts,
                    LinUcbArm* arm) {
  std::vector<Eigen::Index> scored;
  for (int64_t r = 0; r < data.rows(); ++r) {
    const double score = data.score(r, column);
    if (!std::isnan(score)) {
      scored.push_back(static_cast<Eigen::Index>(r));
      arm->b += score * contexts.row(r).transpose();
    }
    const double cost = data.cost(r, column);
    if (!std::isnan(cost)) {
      arm->cost_sum += cost;
      ++arm->cost_count;
    }
  }
  if (!scored.empty()) {
    const Eigen::MatrixXd z = contexts(scored, Eigen::all);
    arm->a.selfadjointView<Eigen::Lower>().rankUpdate(z.transpose());
    arm->a.triangularView<Eigen::StrictlyUpper>() = arm->a.transpose();
  }
  arm->updates += static_cast<int64_t>(scored.size());
}

// What labelled rows add to an arm, as learned statistics: the sums of
// z z^T (upper triangle) and r z over the scored rows, and the costs.
internal::LinUcbLearned LearnedFromRows(const Dataset& data, int column,
                                        const Eigen::MatrixXd& contexts) {
  internal::LinUcbLearned learned;
  const Eigen::Index c = contexts.cols();
  learned.a = Eigen::MatrixXd::Zero(c, c);
  learned.b = Eigen::VectorXd::Zero(c);
  for (int64_t r = 0; r < data.rows(); ++r) {
    const double score = data.score(r, column);
    if (!std::isnan(score)) {
      const Eigen::VectorXd z = contexts.row(r).transpose();
      for (Eigen::Index j = 0; j < c; ++j) learned.a.col(j).head(j + 1) += z.head(j + 1) * z[j];
      learned.b += score * z;
      ++learned.updates;
    }
    const double cost = data.cost(r, column);
    if (!std::isnan(cost)) {
      learned.cost_sum += cost;
      ++learned.cost_count;
    }
  }
  return learned;
}

// Contexts of every row of `data` (vectors already validated), n x c.
Eigen::MatrixXd ContextsOf(const Dataset& data, const LinUcbProjection& p) {
  Eigen::MatrixXd contexts(data.rows(), p.context());
  Eigen::VectorXf normalized, projected;
  Eigen::VectorXd context;
  for (int64_t r = 0; r < data.rows(); ++r) {
    ComputeContext(p, data.vector(r), &normalized, &projected, &context);
    contexts.row(r) = context.transpose();
  }
  return contexts;
}

}  // namespace

// ---------------------------------------------------------------- options

namespace internal {

// Recomputes a_inv from a (Cholesky), symmetrised, and what derives from it.
// False if A is not numerically positive definite or the inverse is not
// finite.
bool Reinvert(LinUcbArm* arm) {
  const Eigen::Index c = arm->a.rows();
  Eigen::LLT<Eigen::MatrixXd> llt(arm->a);
  if (llt.info() != Eigen::Success) return false;
  Eigen::MatrixXd inverse = llt.solve(Eigen::MatrixXd::Identity(c, c));
  if (!AllFinite(inverse)) return false;
  arm->a_inv = (inverse + inverse.transpose()) * 0.5;
  DeriveFromInverse(arm);
  arm->since_reinvert = 0;
  return true;
}

void DeriveFromInverse(LinUcbArm* arm) {
  arm->theta.noalias() = arm->a_inv * arm->b;
  const auto c = static_cast<size_t>(arm->a_inv.rows());
  arm->a_inv_packed.resize(simd::PackedSymmetricSize(c));
  simd::PackSymmetric(arm->a_inv.data(), c, arm->a_inv_packed.data());
}

}  // namespace internal


absl::Status ValidateLinUcbOptions(const LinUcbOptions& o) { return internal::CheckRanges(o); }

// ---------------------------------------------------------------- snapshot

LinUcbSnapshot::LinUcbSnapshot(std::shared_ptr<const internal::LinUcbState> state)
    : state_(std::move(state)) {}
LinUcbSnapshot::~LinUcbSnapshot() = default;

int LinUcbSnapshot::dim() const { return state_->dim(); }
int LinUcbSnapshot::context_dim() const { return state_->context_dim(); }
const Catalog& LinUcbSnapshot::catalog() const { return *state_->catalog; }
const LinUcbOptions& LinUcbSnapshot::options() const { return state_->options; }
uint64_t LinUcbSnapshot::version() const { return state_->version; }
int64_t LinUcbSnapshot::online_updates() const { return state_->online_updates; }

absl::Status LinUcbSnapshot::Estimate(const Query& query, Estimates* out) const {
  return EstimateWith(*state_, query, out);
}

absl::Status LinUcbSnapshot::EstimateBatch(absl::Span<const Query> queries,
                                           absl::Span<Estimates> out) const {
  if (out.size() != queries.size()) {
    return absl::InvalidArgumentError(
        fmt::format("EstimateBatch: {} queries but {} outputs", queries.size(), out.size()));
  }
  for (size_t i = 0; i < queries.size(); ++i) {
    ROUTER_RETURN_IF_ERROR(
        Annotate(EstimateWith(*state_, queries[i], &out[i]), fmt::format("query {}", i)));
  }
  return absl::OkStatus();
}

int64_t LinUcbSnapshot::updates(int index) const {
  if (index < 0 || index >= static_cast<int>(state_->arms.size())) return -1;
  return state_->arms[index]->updates;
}

double LinUcbSnapshot::InverseResidual(int index) const {
  if (index < 0 || index >= static_cast<int>(state_->arms.size())) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const LinUcbArm& arm = *state_->arms[index];
  const Eigen::Index c = arm.a.rows();
  return (arm.a * arm.a_inv - Eigen::MatrixXd::Identity(c, c)).cwiseAbs().maxCoeff();
}

// ---------------------------------------------------------------- router

LinUcbRouter::LinUcbRouter(LinUcbOptions options) {
  auto state = std::make_shared<LinUcbState>();
  state->options = options;
  state->catalog = std::make_shared<const Catalog>();
  std::unique_lock<std::shared_mutex> lock(state_mu_);
  catalogs_.push_back(state->catalog);
  state_ = std::move(state);
}

LinUcbRouter::~LinUcbRouter() = default;

std::shared_ptr<const LinUcbState> LinUcbRouter::Current() const {
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  return state_;
}

void LinUcbRouter::Publish(std::shared_ptr<LinUcbState> next) {
  std::shared_ptr<const LinUcbState> old;
  {
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    next->version = state_->version + 1;
    if (next->catalog != state_->catalog) catalogs_.push_back(next->catalog);
    old = std::move(state_);
    state_ = std::move(next);
  }
  // `old` (and any arm only it held) is released here, outside the lock.
}

int LinUcbRouter::dim() const { return Current()->dim(); }

const Catalog& LinUcbRouter::catalog() const {
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  return *state_->catalog;  // kept alive by catalogs_
}

LinUcbOptions LinUcbRouter::options() const { return Current()->options; }

LinUcbSnapshot LinUcbRouter::snapshot() const { return LinUcbSnapshot(Current()); }

absl::Status LinUcbRouter::Fit(const Dataset& data, const Catalog& catalog) {
  const LinUcbOptions options = Current()->options;
  ROUTER_RETURN_IF_ERROR(ValidateLinUcbOptions(options));
  std::vector<int> columns;
  if (options.warm_start) {
    ROUTER_ASSIGN_OR_RETURN(columns, internal::TrainingColumns(data, catalog, "linucb"));
  } else {
    ROUTER_RETURN_IF_ERROR(CheckProjectionData(data, catalog));
  }

  absl::StatusOr<LinUcbProjection> fitted = FitProjection(data, options);
  if (!fitted.ok()) return Annotate(fitted.status(), "linucb");
  auto projection = std::make_shared<LinUcbProjection>(*std::move(fitted));
  const int c = projection->context();
  Eigen::MatrixXd contexts;
  if (options.warm_start) contexts = ContextsOf(data, *projection);

  auto next = std::make_shared<LinUcbState>();
  next->options = options;
  next->catalog = std::make_shared<const Catalog>(catalog);
  next->projection = std::move(projection);
  for (int m = 0; m < catalog.size(); ++m) {
    auto arm = std::make_shared<LinUcbArm>(PriorArm(c, options));
    if (options.warm_start) AccumulateRows(data, columns[m], contexts, arm.get());
    if (!Reinvert(arm.get())) {
      return absl::InternalError(
          fmt::format("linucb: could not invert the matrix of model '{}'", catalog.at(m).name));
    }
    next->arms.push_back(std::move(arm));
  }
  std::string fitted_state;
  WriteState(*next, &fitted_state);
  next->base = internal::Fingerprint64(fitted_state);  // what loading the saved file gives
  std::lock_guard<std::mutex> lock(update_mu_);
  Publish(std::move(next));
  own_learned_.assign(catalog.size(), {});  // a new base
  return absl::OkStatus();
}

absl::Status LinUcbRouter::Estimate(const Query& query, Estimates* out) const {
  return EstimateWith(*Current(), query, out);
}

absl::Status LinUcbRouter::Estimate(const Query& query, Estimates* out,
                                    std::shared_ptr<const Catalog>* catalog) const {
  std::shared_ptr<const LinUcbState> state = Current();
  ROUTER_RETURN_IF_ERROR(EstimateWith(*state, query, out));
  if (catalog != nullptr) *catalog = state->catalog;
  return absl::OkStatus();
}

absl::Status LinUcbRouter::EstimateBatch(absl::Span<const Query> queries,
                                         absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  return snapshot().EstimateBatch(queries, out);
}

absl::Status LinUcbRouter::Observe(const Feedback& feedback) {
  std::lock_guard<std::mutex> lock(update_mu_);
  std::shared_ptr<const LinUcbState> current = Current();
  ROUTER_RETURN_IF_ERROR(CheckFitted(*current));
  ROUTER_RETURN_IF_ERROR(ValidateVector(feedback.vector, current->dim(), "feedback vector"));
  ROUTER_ASSIGN_OR_RETURN(const int m, current->catalog->Find(feedback.model));
  ROUTER_RETURN_IF_ERROR(ValidateOutcome(feedback.score, feedback.cost_usd));
  Scratch& scratch = ThreadScratch();
  ComputeContext(*current->projection, feedback.vector, &scratch.normalized, &scratch.projected,
                 &scratch.context);
  auto arm = std::make_shared<LinUcbArm>();
  ROUTER_RETURN_IF_ERROR(Annotate(UpdateArm(*current->arms[m], scratch.context, feedback.score,
                                            feedback.cost_usd, current->options, arm.get()),
                                  feedback.model));
  auto next = std::make_shared<LinUcbState>(*current);
  next->arms[m] = std::move(arm);
  ++next->online_updates;
  Publish(std::move(next));
  own_learned_[m].Add(scratch.context, feedback.score, feedback.cost_usd);
  return absl::OkStatus();
}

absl::Status LinUcbRouter::OnboardModel(const Profile& profile, const Dataset& labelled) {
  std::lock_guard<std::mutex> lock(update_mu_);
  std::shared_ptr<const LinUcbState> current = Current();
  ROUTER_RETURN_IF_ERROR(CheckFitted(*current));
  auto catalog = std::make_shared<Catalog>(*current->catalog);
  ROUTER_RETURN_IF_ERROR(Annotate(catalog->Add(profile), "linucb: onboarding"));

  const LinUcbProjection& projection = *current->projection;
  auto arm = std::make_shared<LinUcbArm>(PriorArm(projection.context(), current->options));
  // The rows' sums count as this router's own learning (SaveLearned), so a
  // replica that receives the model starts its arm where this one is.
  internal::LinUcbLearned rows;
  if (labelled.rows() > 0) {
    auto fail = [&profile](std::string_view problem) {
      return absl::InvalidArgumentError(
          fmt::format("linucb: onboarding '{}': {}", profile.name, problem));
    };
    ROUTER_RETURN_IF_ERROR(Annotate(labelled.Validate(), "linucb: onboarding"));
    const int column = labelled.ModelColumn(profile.name);
    if (column < 0) {
      return fail("the labelled data has no column for it (pass a dataset without rows to "
                  "start the arm at the prior)");
    }
    if (!labelled.has_vectors() || labelled.dim != projection.dim) {
      return fail(fmt::format("the labelled data must carry vectors of dimension {}, it has {}",
                              projection.dim, labelled.has_vectors() ? labelled.dim : 0));
    }
    bool scored = false;
    for (int64_t r = 0; r < labelled.rows(); ++r) {
      if (std::isnan(labelled.score(r, column))) continue;
      scored = true;
      ROUTER_RETURN_IF_ERROR(
          Annotate(ValidateVector(labelled.vector(r), projection.dim, "labelled vector"),
                   fmt::format("linucb: onboarding '{}': row {}", profile.name, r)));
    }
    if (!scored) return fail("the labelled data has no score for it");
    // Only scored rows contribute contexts; others are skipped by
    // LearnedFromRows but still need a (finite) context row: the zero one.
    Eigen::MatrixXd contexts = Eigen::MatrixXd::Zero(labelled.rows(), projection.context());
    Eigen::VectorXf normalized, projected;
    Eigen::VectorXd context;
    for (int64_t r = 0; r < labelled.rows(); ++r) {
      if (std::isnan(labelled.score(r, column))) continue;
      ComputeContext(projection, labelled.vector(r), &normalized, &projected, &context);
      contexts.row(r) = context.transpose();
    }
    // The rows' sums, computed once: they go into the arm and into this
    // replica's own learned statistics, so a replica that adds them to its
    // prior arm (StateSync) builds the same arm to the bit.
    rows = LearnedFromRows(labelled, column, contexts);
    arm->a += rows.a.selfadjointView<Eigen::Upper>();
    arm->b += rows.b;
    arm->updates += rows.updates;
    arm->cost_sum += rows.cost_sum;
    arm->cost_count += rows.cost_count;
  }
  if (!Reinvert(arm.get())) {
    return absl::InternalError(
        fmt::format("linucb: could not invert the matrix of model '{}'", profile.name));
  }
  auto next = std::make_shared<LinUcbState>(*current);
  next->catalog = std::move(catalog);
  next->arms.push_back(std::move(arm));
  Publish(std::move(next));
  own_learned_.push_back(std::move(rows));
  return absl::OkStatus();
}

absl::Status LinUcbRouter::RemoveModel(std::string_view name) {
  std::lock_guard<std::mutex> lock(update_mu_);
  std::shared_ptr<const LinUcbState> current = Current();
  ROUTER_RETURN_IF_ERROR(CheckFitted(*current));
  ROUTER_ASSIGN_OR_RETURN(const int removed,
                          internal::RemovableModel(*current->catalog, name, "linucb"));
  auto next = std::make_shared<LinUcbState>(*current);
  next->catalog = std::make_shared<const Catalog>(current->catalog->Without(removed));
  next->arms.erase(next->arms.begin() + removed);
  Publish(std::move(next));
  own_learned_.erase(own_learned_.begin() + removed);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- state I/O

namespace {
// 2: the options as their schema's JSON (internal::PutOptions); 1: field by
// field (ReadOptionsV1), still read.
constexpr uint32_t kLinUcbStateVersion = 2;
constexpr int kMaxDim = 1 << 20;

void PutMatrix(const Eigen::MatrixXd& m, internal::ByteWriter* w) {
  w->PutArray<double>(absl::MakeConstSpan(m.data(), static_cast<size_t>(m.size())));
}

// The options as state version 1 wrote them, field by field.
bool ReadOptionsV1(internal::ByteReader* r, LinUcbOptions* o) {
  int32_t context_dim = 0, reinvert_every = 0;
  uint8_t warm_start = 0, whiten = 0;
  if (!(r->Get(&context_dim, "context_dim") && r->Get(&o->alpha, "alpha") &&
        r->Get(&o->ridge, "ridge") && r->Get(&o->prior_quality, "prior_quality") &&
        r->Get(&o->seed, "seed") && r->Get(&warm_start, "warm_start") &&
        r->Get(&reinvert_every, "reinvert_every") && r->Get(&whiten, "whiten") &&
        r->Get(&o->clusters, "clusters"))) {
    return false;
  }
  o->context_dim = context_dim;
  o->reinvert_every = reinvert_every;
  o->warm_start = warm_start != 0;
  o->whiten = whiten != 0;
  if (absl::Status valid = ValidateLinUcbOptions(*o); !valid.ok() || warm_start > 1 || whiten > 1) {
    return r->Fail("options", valid.ok() ? "flag out of range" : StdView(valid.message()));
  }
  return true;
}

bool GetMatrix(internal::ByteReader* r, Eigen::Index rows, Eigen::Index cols,
               Eigen::MatrixXd* out, std::string_view field) {
  std::vector<double> values;
  if (!r->GetVector(&values, static_cast<uint64_t>(rows * cols), field)) return false;
  *out = Eigen::Map<const Eigen::MatrixXd>(values.data(), rows, cols);
  if (!out->allFinite()) return r->Fail(field, "non-finite value");
  return true;
}

// Appends the saved form of `s` (fitted) to `out`.
void WriteState(const LinUcbState& s, std::string* out) {
  internal::ByteWriter w(out);
  w.Put(kLinUcbStateVersion);
  internal::PutOptions(s.options, &w);
  internal::PutCatalog(*s.catalog, &w);
  const LinUcbProjection& p = *s.projection;
  w.Put<int32_t>(p.dim);
  w.Put<int32_t>(p.reduced);
  w.Put<int32_t>(p.clusters);
  w.PutVector(p.mean);
  w.PutVector(p.components);
  w.PutVector(p.centroids);
  w.Put<int64_t>(s.online_updates);
  for (const auto& arm : s.arms) {
    w.Put<int64_t>(arm->updates);
    w.Put<int32_t>(arm->since_reinvert);
    w.Put<double>(arm->cost_sum);
    w.Put<int64_t>(arm->cost_count);
    PutMatrix(arm->a, &w);
    PutMatrix(arm->a_inv, &w);
    w.PutArray<double>(absl::MakeConstSpan(arm->b.data(), static_cast<size_t>(arm->b.size())));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Router>> LinUcbRouter::Clone() const {
  // The published state is immutable (an update publishes a new one), so
  // the copy starts from the same one and diverges from its first update.
  std::lock_guard<std::mutex> lock(update_mu_);  // the state and own_learned_ together
  const std::shared_ptr<const LinUcbState> current = Current();
  auto copy = std::make_unique<LinUcbRouter>(current->options);
  copy->catalogs_ = {current->catalog};  // no other thread sees the copy yet
  copy->state_ = current;
  copy->own_learned_ = own_learned_;
  return std::unique_ptr<Router>(std::move(copy));
}

std::vector<std::pair<std::string, std::string>> LinUcbRouter::Describe() const {
  const std::shared_ptr<const LinUcbState> s = Current();
  if (s->projection == nullptr) return {};
  return {{"context_dim", std::to_string(s->projection->context())},
          {"clusters", std::to_string(s->projection->clusters)},
          {"online_updates", std::to_string(s->online_updates)}};
}

absl::Status LinUcbRouter::SaveState(std::string* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("linucb: state output is null");
  std::shared_ptr<const LinUcbState> s = Current();
  ROUTER_RETURN_IF_ERROR(CheckFitted(*s));
  WriteState(*s, out);
  return absl::OkStatus();
}

namespace {

// The largest squared L2 norm among `rows` rows of `dim` values (+inf when
// one is not finite), and the row that has it.
std::pair<double, int> LargestRowNorm(const std::vector<float>& values, int rows, int dim) {
  std::pair<double, int> largest{0.0, -1};
  for (int i = 0; i < rows; ++i) {
    double row_sq = 0.0;
    for (int j = 0; j < dim; ++j) {
      const double v = values[static_cast<size_t>(i) * dim + j];
      row_sq += v * v;
    }
    if (!std::isfinite(row_sq)) return {HUGE_VAL, i};
    if (row_sq > largest.first) largest = {row_sq, i};
  }
  return largest;
}

// The saved projection's tables (`projection`'s sizes are set), each
// checked; failures are recorded in `r`.
void ReadProjection(internal::ByteReader* r, LinUcbProjection* projection) {
  const int dim = projection->dim, reduced = projection->reduced;
  const int clusters = projection->clusters;
  if (!(r->GetVector(&projection->mean, dim, "mean") &&
        r->GetVector(&projection->components, static_cast<uint64_t>(reduced) * dim,
                     "components") &&
        r->GetVector(&projection->centroids, static_cast<uint64_t>(clusters) * dim,
                     "centroids"))) {
    return;
  }
  double mean_sq = 0.0;
  for (float v : projection->mean) mean_sq += static_cast<double>(v) * v;
  if (!std::isfinite(mean_sq) || mean_sq > 1.0 + 1e-3) {
    r->Fail("mean", "not the mean of unit vectors");
  }
  const auto [component_sq, component] = LargestRowNorm(projection->components, reduced, dim);
  if (r->status().ok() && component_sq > kMaxComponentNorm * kMaxComponentNorm) {
    r->Fail("components", fmt::format("row {} is not finite or too long", component));
  }
  // A centroid is a mean of unit (or zero) vectors.
  const auto [centroid_sq, centroid] = LargestRowNorm(projection->centroids, clusters, dim);
  if (r->status().ok() && centroid_sq > 1.0 + 1e-3) {
    r->Fail("centroids", fmt::format("centroid {} is not a mean of unit vectors", centroid));
  }
}

// One saved arm of context size `c`, checked against the options (counts,
// symmetry, A >= ridge * I, A^-1 the inverse of A); nullptr, with the
// failure recorded in `r`, when it is not valid.
std::shared_ptr<LinUcbArm> ReadArm(internal::ByteReader* r, int c, const LinUcbOptions& o,
                                   const std::string& model) {
  const std::string field = fmt::format("arm '{}'", model);
  auto arm = std::make_shared<LinUcbArm>();
  std::vector<double> b;
  if (!(r->Get(&arm->updates, field) && r->Get(&arm->since_reinvert, field) &&
        r->Get(&arm->cost_sum, field) && r->Get(&arm->cost_count, field) &&
        GetMatrix(r, c, c, &arm->a, field) && GetMatrix(r, c, c, &arm->a_inv, field) &&
        r->GetVector(&b, c, field))) {
    return nullptr;
  }
  arm->b = Eigen::Map<const Eigen::VectorXd>(b.data(), c);
  if (arm->updates < 0 || arm->since_reinvert < 0 || arm->since_reinvert >= o.reinvert_every ||
      arm->cost_count < 0 || !std::isfinite(arm->cost_sum) || arm->cost_sum < 0.0 ||
      !arm->b.allFinite()) {
    r->Fail(field, "counts or costs out of range");
  } else if (arm->a != arm->a.transpose() || arm->a_inv != arm->a_inv.transpose()) {
    r->Fail(field, "matrices are not symmetric");
  } else if ((arm->a.diagonal().array() < o.ridge).any()) {
    r->Fail(field, "A is smaller than ridge * I");
  } else {
    const double residual =
        (arm->a * arm->a_inv - Eigen::MatrixXd::Identity(c, c)).cwiseAbs().maxCoeff();
    if (!(residual <= kMaxLoadResidual)) r->Fail(field, "A^-1 is not the inverse of A");
  }
  if (!r->status().ok()) return nullptr;
  DeriveFromInverse(arm.get());
  return arm;
}

}  // namespace

absl::Status LinUcbRouter::LoadState(std::string_view state) {
  internal::ByteReader r(state, "linucb router state");
  uint32_t version = 0;
  r.GetVersion(&version, kLinUcbStateVersion);
  LinUcbOptions o;
  int32_t dim = 0, reduced = 0, clusters = 0;
  int64_t online_updates = 0;
  Catalog catalog;
  if (!(version == 1 ? ReadOptionsV1(&r, &o) : internal::GetOptions(&r, &o))) return r.status();
  internal::GetCatalog(&r, &catalog) && r.Get(&dim, "dim") && r.Get(&reduced, "reduced dim") &&
      r.Get(&clusters, "clusters");
  if (!r.status().ok()) return r.status();
  if (catalog.empty()) {
    r.Fail("catalog", "empty");
  } else if (dim < 1 || dim > kMaxDim || reduced < 0 || reduced > std::min(o.context_dim, dim) ||
             clusters < 0 || clusters > o.clusters) {
    r.Fail("sizes", fmt::format("dim {}, reduced dim {}, clusters {} out of range", dim, reduced,
                                clusters));
  }
  if (!r.status().ok()) return r.status();

  auto projection = std::make_shared<LinUcbProjection>();
  projection->dim = dim;
  projection->reduced = reduced;
  projection->clusters = clusters;
  ReadProjection(&r, projection.get());
  r.Get(&online_updates, "online updates");
  if (r.status().ok() && online_updates < 0) r.Fail("online updates", "negative");
  if (!r.status().ok()) return r.status();
  DeriveProjection(projection.get());

  const int c = projection->context();
  std::vector<std::shared_ptr<const LinUcbArm>> arms;
  for (int m = 0; m < catalog.size(); ++m) {
    std::shared_ptr<LinUcbArm> arm = ReadArm(&r, c, o, catalog.at(m).name);
    if (arm == nullptr) return r.status();
    arms.push_back(std::move(arm));
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());

  auto next = std::make_shared<LinUcbState>();
  next->options = o;
  next->online_updates = online_updates;
  next->catalog = std::make_shared<const Catalog>(std::move(catalog));
  next->projection = std::move(projection);
  next->arms = std::move(arms);
  next->base = internal::Fingerprint64(state);
  const size_t models = next->arms.size();
  std::lock_guard<std::mutex> lock(update_mu_);
  Publish(std::move(next));
  own_learned_.assign(models, {});  // a new base
  return absl::OkStatus();
}

}  // namespace router
