#include "router/mf_router.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>

#include <Eigen/Core>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/model_columns.h"
#include "internal/normalize.h"
#include "internal/option_schemas.h"
#include "internal/training_data.h"
#include "router/mf_trainer.h"
#include "router/status.h"

namespace router {
namespace {

using internal::InverseNorm;

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<const Matrix>;
using VectorMap = Eigen::Map<const Eigen::VectorXf>;

// Checks `v` like ValidateVector and sets *inverse_norm to 1 / |v| (0 for
// the zero vector). The common case costs one SIMD pass: a vector of the right
// size whose float sum of squares is finite has only finite elements.
absl::Status CheckQuery(absl::Span<const float> v, int dim, float* inverse_norm) {
  if (dim > 0 && v.data() != nullptr && v.size() == static_cast<size_t>(dim)) {
    const float sq = VectorMap(v.data(), dim).squaredNorm();
    if (std::isfinite(sq)) {
      *inverse_norm = sq > 0.0f ? 1.0f / std::sqrt(sq) : 0.0f;
      return absl::OkStatus();
    }
  }
  ROUTER_RETURN_IF_ERROR(ValidateVector(v, dim));
  *inverse_norm = InverseNorm(v);  // finite elements whose squares overflow
  return absl::OkStatus();
}

// Per-thread scratch, so that Estimate does not allocate once warm.
struct Scratch {
  Eigen::VectorXf hidden;
  Eigen::VectorXf logits;
  Matrix batch;  // EstimateBatch: the normalised queries
  Matrix batch_logits;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// δ_m(x) of every model for every row of `vectors` (normalised, rows x d):
// rows x M, row-major.
Matrix Logits(const MfParameters& p, absl::Span<const float> vectors, int64_t rows) {
  const MatrixMap X(vectors.data(), rows, p.dim);
  const MatrixMap W(p.projection.data(), p.hidden_dim, p.dim);
  const MatrixMap V(p.embeddings.data(), p.num_models, p.hidden_dim);
  const Matrix U = V.array().rowwise() * VectorMap(p.mixing.data(), p.hidden_dim).transpose().array();
  Matrix logits = (X * W.transpose()) * U.transpose();
  logits.rowwise() += VectorMap(p.biases.data(), p.num_models).transpose();
  return logits;
}

// The scoring matrix of `p` (mf_router.h): U = V diag(w), then A = U W when
// that is cheaper to apply, computed in double and rounded once.
std::vector<float> Fold(const MfParameters& p, bool* folded) {
  const int64_t M = p.num_models, h = p.hidden_dim, d = p.dim;
  *folded = M * d <= h * d + M * h;
  const Eigen::MatrixXd U =
      MatrixMap(p.embeddings.data(), M, h).cast<double>().array().rowwise() *
      VectorMap(p.mixing.data(), h).cast<double>().transpose().array();
  Matrix scoring;
  if (*folded) {
    scoring = (U * MatrixMap(p.projection.data(), h, d).cast<double>()).cast<float>();
  } else {
    scoring = U.cast<float>();
  }
  return std::vector<float>(scoring.data(), scoring.data() + scoring.size());
}

}  // namespace

MfRouter::MfRouter(MfOptions options) : options_(std::move(options)) {}
MfRouter::~MfRouter() = default;

absl::Status MfRouter::Fit(const Dataset& data, const Catalog& catalog) {
  ROUTER_RETURN_IF_ERROR(ValidateMfOptions(options_));
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> column,
                          internal::TrainingColumns(data, catalog, "mf"));
  const int M = catalog.size();
  const int64_t rows = data.rows();
  const int d = data.dim;
  std::vector<float> vectors(static_cast<size_t>(rows) * d);
  std::vector<double> scores(static_cast<size_t>(rows) * M);
  std::vector<double> cost_sum(M, 0.0);
  std::vector<int64_t> cost_count(M, 0), support(M, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const absl::Span<const float> x = data.vector(r);
    const float scale = InverseNorm(x);
    for (int j = 0; j < d; ++j) vectors[r * d + j] = x[j] * scale;
    for (int m = 0; m < M; ++m) {
      const double s = data.score(r, column[m]);
      const double c = data.cost(r, column[m]);
      scores[r * M + m] = s;
      if (!std::isnan(s)) ++support[m];
      if (!std::isnan(c)) cost_sum[m] += c, ++cost_count[m];
    }
  }
  ROUTER_ASSIGN_OR_RETURN(MfTrainingResult trained, TrainMf(vectors, d, scores, M, options_));

  std::vector<double> mean_cost(M, 0.0);
  for (int m = 0; m < M; ++m) {
    if (cost_count[m] > 0) mean_cost[m] = cost_sum[m] / static_cast<double>(cost_count[m]);
  }
  bool folded = false;
  std::vector<float> scoring = Fold(trained.parameters, &folded);
  state_ = State{.catalog = catalog,
                 .params = std::move(trained.parameters),
                 .mean_cost = std::move(mean_cost),
                 .cost_count = std::move(cost_count),
                 .support = std::move(support),
                 .epochs_run = trained.epochs_run,
                 .best_epoch = trained.best_epoch,
                 .folded = folded,
                 .scoring = std::move(scoring)};
  return absl::OkStatus();
}

absl::Status MfRouter::Estimate(const Query& query, Estimates* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("estimates output is null");
  const int M = state_.params.num_models, h = state_.params.hidden_dim, d = state_.params.dim;
  float scale = 0.0f;
  ROUTER_RETURN_IF_ERROR(CheckQuery(query.vector, d, &scale));
  const VectorMap x(query.vector.data(), d);
  Scratch& scratch = ThreadScratch();
  scratch.logits.resize(M);
  if (state_.folded) {
    scratch.logits.noalias() = MatrixMap(state_.scoring.data(), M, d) * x;
  } else {
    scratch.hidden.resize(h);
    scratch.hidden.noalias() = MatrixMap(state_.params.projection.data(), h, d) * x;
    scratch.logits.noalias() = MatrixMap(state_.scoring.data(), M, h) * scratch.hidden;
  }
  out->per_model.resize(M);
  out->evidence.clear();
  const int64_t tokens = InputTokens(query);
  for (int m = 0; m < M; ++m) {
    ModelEstimate& e = out->per_model[m];
    const double q = 1.0 / (1.0 + std::exp(-static_cast<double>(
                                    scale * scratch.logits[m] + state_.params.biases[m])));
    e.quality = q;
    e.uncertainty = std::sqrt(q * (1.0 - q));
    e.expected_cost_usd =
        state_.cost_count[m] > 0 ? state_.mean_cost[m] : state_.catalog.at(m).ExpectedCostUsd(tokens);
    e.support = static_cast<int>(std::min<int64_t>(state_.support[m], std::numeric_limits<int>::max()));
  }
  return absl::OkStatus();
}

absl::Status MfRouter::EstimateBatch(absl::Span<const Query> queries,
                                     absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  if (queries.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(queries.size());
  const int M = state_.params.num_models, h = state_.params.hidden_dim, d = state_.params.dim;
  // Batches up to 4 MiB of queries reuse this thread's buffers; larger ones
  // get their own, so a thread does not keep a huge buffer for good.
  Scratch& scratch = ThreadScratch();
  const bool reuse = n * d <= (int64_t{1} << 20);
  Matrix local_x, local_logits;
  Matrix& X = reuse ? scratch.batch : local_x;
  Matrix& logits = reuse ? scratch.batch_logits : local_logits;
  X.resize(n, d);
  for (int64_t i = 0; i < n; ++i) {
    float scale = 0.0f;
    ROUTER_RETURN_IF_ERROR(
        Annotate(CheckQuery(queries[i].vector, d, &scale), fmt::format("query {}", i)));
    X.row(i) = VectorMap(queries[i].vector.data(), d).transpose() * scale;
  }
  if (state_.folded) {
    logits.noalias() = X * MatrixMap(state_.scoring.data(), M, d).transpose();
  } else {
    logits.noalias() = (X * MatrixMap(state_.params.projection.data(), h, d).transpose()) *
                       MatrixMap(state_.scoring.data(), M, h).transpose();
  }
  for (int64_t i = 0; i < n; ++i) {
    Estimates& est = out[i];
    est.per_model.resize(M);
    est.evidence.clear();
    const int64_t tokens = InputTokens(queries[i]);
    for (int m = 0; m < M; ++m) {
      ModelEstimate& e = est.per_model[m];
      const double q =
          1.0 / (1.0 + std::exp(-static_cast<double>(logits(i, m) + state_.params.biases[m])));
      e.quality = q;
      e.uncertainty = std::sqrt(q * (1.0 - q));
      e.expected_cost_usd =
          state_.cost_count[m] > 0 ? state_.mean_cost[m] : state_.catalog.at(m).ExpectedCostUsd(tokens);
      e.support =
          static_cast<int>(std::min<int64_t>(state_.support[m], std::numeric_limits<int>::max()));
    }
  }
  return absl::OkStatus();
}

namespace {

// The labelled rows with a score for the onboarded model (its `column`),
// their vectors normalised, and the costs observed on them.
struct OnboardingRows {
  std::vector<int64_t> rows;
  std::vector<float> vectors;  // rows.size() x dim
  double cost_sum = 0.0;
  int64_t cost_count = 0;
};

absl::StatusOr<OnboardingRows> CollectOnboardingRows(const Dataset& labelled, int column,
                                                     int dim) {
  OnboardingRows out;
  for (int64_t r = 0; r < labelled.rows(); ++r) {
    if (std::isnan(labelled.score(r, column))) continue;
    ROUTER_RETURN_IF_ERROR(Annotate(ValidateVector(labelled.vector(r), dim, "labelled vector"),
                                    fmt::format("mf: row {}", r)));
    out.rows.push_back(r);
    const float scale = InverseNorm(labelled.vector(r));
    for (float v : labelled.vector(r)) out.vectors.push_back(v * scale);
    const double c = labelled.cost(r, column);
    if (!std::isnan(c)) out.cost_sum += c, ++out.cost_count;
  }
  if (out.rows.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("mf: the labelled data has no score for '{}'", labelled.model_names[column]));
  }
  return out;
}

// Pairwise loss: the comparisons of the new model (`column`) with the
// trained models scored on the same rows, each with the trained model's
// logit as offset.
absl::StatusOr<std::vector<MfObservation>> PairwiseObservations(
    const Dataset& labelled, int column, const OnboardingRows& onboarding,
    const MfParameters& params, const Catalog& catalog) {
  const int M = params.num_models;
  std::vector<int> other(M);
  for (int m = 0; m < M; ++m) other[m] = labelled.ModelColumn(catalog.at(m).name);
  const std::vector<int64_t>& rows = onboarding.rows;
  const Matrix logits = Logits(params, onboarding.vectors, static_cast<int64_t>(rows.size()));
  std::vector<MfObservation> observations;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double mine = labelled.score(rows[i], column);
    for (int m = 0; m < M; ++m) {
      if (other[m] < 0) continue;
      const double theirs = labelled.score(rows[i], other[m]);
      if (std::isnan(theirs) || theirs == mine) continue;
      observations.push_back({static_cast<int64_t>(i), mine > theirs ? 1.0 : 0.0,
                              -static_cast<double>(logits(i, m))});
    }
  }
  if (observations.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("mf: pairwise onboarding needs rows where '{}' and a catalog model have "
                    "different scores; the labelled data has none",
                    labelled.model_names[column]));
  }
  return observations;
}

// The prior of an onboarded model: the trained models' mean embedding, then
// their mean bias.
std::vector<float> OnboardingPrior(const MfParameters& params) {
  const int M = params.num_models, h = params.hidden_dim;
  std::vector<float> prior(h + 1, 0.0f);
  for (int k = 0; k < h; ++k) {
    double sum = 0.0;
    for (int m = 0; m < M; ++m) sum += params.embeddings[static_cast<size_t>(m) * h + k];
    prior[k] = static_cast<float>(sum / M);
  }
  double bias_sum = 0.0;
  for (float b : params.biases) bias_sum += b;
  prior[h] = static_cast<float>(bias_sum / M);
  return prior;
}

}  // namespace

absl::Status MfRouter::OnboardModel(const Profile& profile, const Dataset& labelled) {
  if (state_.params.dim == 0) return absl::FailedPreconditionError("mf: the router is not fitted");
  if (state_.catalog.Find(profile.name).ok()) {
    return absl::AlreadyExistsError(
        fmt::format("mf: the catalog already has a model '{}'", profile.name));
  }
  Catalog catalog = state_.catalog;
  ROUTER_RETURN_IF_ERROR(Annotate(catalog.Add(profile), "mf: onboarding"));
  ROUTER_RETURN_IF_ERROR(Annotate(labelled.Validate(), "mf: labelled data"));
  if (!labelled.has_vectors() || labelled.dim != state_.params.dim) {
    return absl::InvalidArgumentError(
        fmt::format("mf: the labelled data must carry vectors of dimension {}, it has {}",
                    state_.params.dim, labelled.has_vectors() ? labelled.dim : 0));
  }
  const int column = labelled.ModelColumn(profile.name);
  if (column < 0) {
    return absl::InvalidArgumentError(
        fmt::format("mf: the labelled data has no column for '{}'", profile.name));
  }
  ROUTER_ASSIGN_OR_RETURN(const OnboardingRows onboarding,
                          CollectOnboardingRows(labelled, column, state_.params.dim));
  std::vector<MfObservation> observations;
  if (options_.loss == MfOptions::Loss::kPointwise) {
    for (size_t i = 0; i < onboarding.rows.size(); ++i) {
      observations.push_back(
          {static_cast<int64_t>(i), labelled.score(onboarding.rows[i], column), 0.0});
    }
  } else {
    ROUTER_ASSIGN_OR_RETURN(observations, PairwiseObservations(labelled, column, onboarding,
                                                               state_.params, state_.catalog));
  }
  ROUTER_ASSIGN_OR_RETURN(std::vector<float> theta,
                          FitModelEmbedding(state_.params, onboarding.vectors, observations,
                                            OnboardingPrior(state_.params),
                                            options_.onboard_l2));

  // Commit: only appends, so the other models' parameters stay as they were.
  const int h = state_.params.hidden_dim;
  try {
    MfParameters params = state_.params;
    params.embeddings.insert(params.embeddings.end(), theta.begin(), theta.begin() + h);
    params.biases.push_back(theta[h]);
    ++params.num_models;
    std::vector<double> mean_cost = state_.mean_cost;
    std::vector<int64_t> costs = state_.cost_count, support = state_.support;
    mean_cost.push_back(onboarding.cost_count > 0
                            ? onboarding.cost_sum / static_cast<double>(onboarding.cost_count)
                            : 0.0);
    costs.push_back(onboarding.cost_count);
    support.push_back(static_cast<int64_t>(onboarding.rows.size()));
    bool folded = false;
    std::vector<float> scoring = Fold(params, &folded);
    state_ = State{.catalog = std::move(catalog),
                   .params = std::move(params),
                   .mean_cost = std::move(mean_cost),
                   .cost_count = std::move(costs),
                   .support = std::move(support),
                   .epochs_run = state_.epochs_run,
                   .best_epoch = state_.best_epoch,
                   .folded = folded,
                   .scoring = std::move(scoring)};
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("mf: out of memory onboarding a model");
  }
  return absl::OkStatus();
}

}  // namespace router

// ---------------------------------------------------------------- state I/O

namespace router {
namespace {
// 2: the options as their schema's JSON (internal::PutOptions); 1: field by
// field (ReadOptionsV1), still read.
constexpr uint32_t kMfStateVersion = 2;
constexpr int kMaxDim = 1 << 20;
}  // namespace

absl::Status MfRouter::RemoveModel(std::string_view name) {
  if (state_.params.dim == 0) return absl::FailedPreconditionError("mf: the router is not fitted");
  ROUTER_ASSIGN_OR_RETURN(const int removed, internal::RemovableModel(state_.catalog, name, "mf"));
  MfParameters params = state_.params;
  params.embeddings = internal::WithoutRow(params.embeddings, params.hidden_dim, removed);
  params.biases = internal::WithoutRow(params.biases, 1, removed);
  --params.num_models;
  bool folded = false;
  std::vector<float> scoring = Fold(params, &folded);
  state_ = State{.catalog = state_.catalog.Without(removed),
                 .params = std::move(params),
                 .mean_cost = internal::WithoutRow(state_.mean_cost, 1, removed),
                 .cost_count = internal::WithoutRow(state_.cost_count, 1, removed),
                 .support = internal::WithoutRow(state_.support, 1, removed),
                 .epochs_run = state_.epochs_run,
                 .best_epoch = state_.best_epoch,
                 .folded = folded,
                 .scoring = std::move(scoring)};
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Router>> MfRouter::Clone() const {
  auto copy = std::make_unique<MfRouter>(options_);
  copy->state_ = state_;
  return std::unique_ptr<Router>(std::move(copy));
}

std::vector<std::pair<std::string, std::string>> MfRouter::Describe() const {
  if (state_.params.dim == 0) return {};
  return {{"hidden_dim", std::to_string(state_.params.hidden_dim)},
          {"epochs_run", std::to_string(state_.epochs_run)},
          {"best_epoch", std::to_string(state_.best_epoch)}};
}

absl::Status MfRouter::SaveState(std::string* out) const {
  if (state_.params.dim == 0) return absl::FailedPreconditionError("mf: the router is not fitted");
  internal::ByteWriter w(out);
  w.Put(kMfStateVersion);
  internal::PutOptions(options_, &w);
  internal::PutCatalog(state_.catalog, &w);
  w.Put<int32_t>(state_.params.dim);
  w.Put<int32_t>(state_.params.hidden_dim);
  w.PutVector(state_.params.projection);
  w.PutVector(state_.params.mixing);
  w.PutVector(state_.params.embeddings);
  w.PutVector(state_.params.biases);
  w.PutVector(state_.mean_cost);
  w.PutVector(state_.cost_count);
  w.PutVector(state_.support);
  w.Put<int32_t>(state_.epochs_run);
  w.Put<int32_t>(state_.best_epoch);
  return absl::OkStatus();
}

namespace {

// The options as state version 1 wrote them, field by field.
bool ReadOptionsV1(internal::ByteReader* r, MfOptions* options) {
  int32_t hidden = 0, epochs = 0, batch = 0, patience = 0, threads = 0;
  uint8_t loss = 0;
  if (!(r->Get(&hidden, "hidden_dim") && r->Get(&epochs, "epochs") &&
        r->Get(&batch, "batch_size") && r->Get(&options->learning_rate, "learning_rate") &&
        r->Get(&options->l2, "l2") &&
        r->Get(&options->validation_fraction, "validation_fraction") &&
        r->Get(&patience, "patience") && r->Get(&options->seed, "seed") &&
        r->Get(&loss, "loss") && r->Get(&threads, "num_threads") &&
        r->Get(&options->onboard_l2, "onboard_l2"))) {
    return false;
  }
  if (loss > 1) return r->Fail("loss", "unknown loss");
  options->hidden_dim = hidden;
  options->epochs = epochs;
  options->batch_size = batch;
  options->patience = patience;
  options->num_threads = threads;
  options->loss = loss == 1 ? MfOptions::Loss::kPairwise : MfOptions::Loss::kPointwise;
  if (absl::Status valid = ValidateMfOptions(*options); !valid.ok()) {
    return r->Fail("options", StdView(valid.message()));
  }
  return true;
}

// Records in `r` the first loaded value that cannot be: a non-finite
// parameter, a negative count, a cost without observations.
void CheckLoadedValues(internal::ByteReader* r, const MfParameters& params,
                       const std::vector<double>& mean_cost,
                       const std::vector<int64_t>& cost_count,
                       const std::vector<int64_t>& support) {
  auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  if (!finite(params.projection)) r->Fail("projection", "non-finite value");
  if (!finite(params.mixing)) r->Fail("mixing", "non-finite value");
  if (!finite(params.embeddings)) r->Fail("embeddings", "non-finite value");
  if (!finite(params.biases)) r->Fail("biases", "non-finite value");
  for (size_t m = 0; m < mean_cost.size(); ++m) {
    if (cost_count[m] < 0 || support[m] < 0 || !std::isfinite(mean_cost[m]) ||
        mean_cost[m] < 0.0 || (cost_count[m] == 0 && mean_cost[m] != 0.0)) {
      r->Fail("model statistics", fmt::format("invalid cost or support for model {}", m));
      return;
    }
  }
}

}  // namespace

absl::Status MfRouter::LoadState(std::string_view state) {
  internal::ByteReader r(state, "mf router state");
  uint32_t version = 0;
  r.GetVersion(&version, kMfStateVersion);
  MfOptions options;
  options.progress = options_.progress;  // a callback, not saved
  int32_t dim = 0, param_hidden = 0, epochs_run = 0, best_epoch = 0;
  Catalog catalog;
  (version == 1 ? ReadOptionsV1(&r, &options) : internal::GetOptions(&r, &options)) &&
      internal::GetCatalog(&r, &catalog) && r.Get(&dim, "dim") &&
      r.Get(&param_hidden, "parameter hidden_dim");
  if (!r.status().ok()) return r.status();
  const int hidden = options.hidden_dim;
  if (catalog.empty()) {
    r.Fail("catalog", "empty");
  } else if (dim < 1 || dim > kMaxDim || param_hidden != hidden) {
    r.Fail("sizes", fmt::format("dim {}, hidden_dim {} out of range", dim, param_hidden));
  }
  if (!r.status().ok()) return r.status();

  const uint64_t M = catalog.size(), h = hidden;
  MfParameters params;
  params.dim = dim;
  params.hidden_dim = hidden;
  params.num_models = static_cast<int>(M);
  std::vector<double> mean_cost;
  std::vector<int64_t> cost_count, support;
  r.GetVector(&params.projection, h * dim, "projection") &&
      r.GetVector(&params.mixing, h, "mixing") &&
      r.GetVector(&params.embeddings, M * h, "embeddings") &&
      r.GetVector(&params.biases, M, "biases") && r.GetVector(&mean_cost, M, "mean costs") &&
      r.GetVector(&cost_count, M, "cost counts") && r.GetVector(&support, M, "support") &&
      r.Get(&epochs_run, "epochs run") && r.Get(&best_epoch, "best epoch");
  if (!r.status().ok()) return r.status();
  CheckLoadedValues(&r, params, mean_cost, cost_count, support);
  if (epochs_run < 0 || best_epoch < 0 || best_epoch > epochs_run) {
    r.Fail("training summary", "epochs out of range");
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());

  try {
    bool folded = false;
    std::vector<float> scoring = Fold(params, &folded);
    State next{.catalog = std::move(catalog),
               .params = std::move(params),
               .mean_cost = std::move(mean_cost),
               .cost_count = std::move(cost_count),
               .support = std::move(support),
               .epochs_run = epochs_run,
               .best_epoch = best_epoch,
               .folded = folded,
               .scoring = std::move(scoring)};
    options_ = std::move(options);
    state_ = std::move(next);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("mf: out of memory loading the state");
  }
  return absl::OkStatus();
}

}  // namespace router
