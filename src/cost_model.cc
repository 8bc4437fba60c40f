#include "router/cost_model.h"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "router/status.h"
#include "router/query.h"

namespace router {
namespace {

constexpr uint32_t kCostStateVersion = 1;
constexpr int kMaxDim = 1 << 16;
constexpr uint64_t kMaxModels = 1 << 16;

double LogTokensFeature(int64_t input_tokens) {
  return std::log1p(static_cast<double>(std::max<int64_t>(input_tokens, 0)));
}

// Rows a fit reads at most per model: beyond this, evenly spaced rows stand
// for the rest, which bounds the fit's time (rows x (dim + 1)^2) on the
// million-row reference sets HNSW serves.
constexpr int64_t kMaxFitRows = 200000;
// Rows per block of the features, so memory stays at one block however
// many rows there are.
constexpr Eigen::Index kBlockRows = 4096;

// Ridge solutions for every target of one set of rows, from one
// eigendecomposition of the centred Gram matrix: for each penalty on the
// grid, the coefficients and the residual sum of squares are closed forms in
// the rotated basis, so GCV over the grid costs O(p) per penalty. The
// features are read in blocks (`fill(begin, end, block)` writes rows
// [begin, end) of them), never held whole.
class RidgeProblem {
 public:
  using Fill = std::function<void(Eigen::Index, Eigen::Index, Eigen::MatrixXd*)>;

  RidgeProblem(Eigen::Index rows, Eigen::Index features, Fill fill)
      : rows_(rows), fill_(std::move(fill)) {
    Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(features, features);
    Eigen::VectorXd sum = Eigen::VectorXd::Zero(features);
    ForEachBlock([&](Eigen::Index, const Eigen::MatrixXd& block) {
      gram.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
      sum += block.colwise().sum().transpose();
    });
    mean_ = sum / static_cast<double>(rows_);
    // Centred: sum (z - mean)(z - mean)^T = sum z z^T - n mean mean^T.
    Eigen::MatrixXd centred_gram = gram.selfadjointView<Eigen::Lower>();
    centred_gram -= static_cast<double>(rows_) * mean_ * mean_.transpose();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(centred_gram);
    basis_ = solver.eigenvectors();
    eigenvalues_ = solver.eigenvalues().cwiseMax(0.0);
    const double mean_eigenvalue = eigenvalues_.mean();
    scale_ = mean_eigenvalue > 0.0 ? mean_eigenvalue : 1.0;
  }

  // Fills fit->weights, intercept and ridge for the centred least squares of
  // `targets` (one per row).
  void Solve(const Eigen::VectorXd& targets, CostModel::ModelFit* fit) const {
    const double target_mean = targets.mean();
    const Eigen::VectorXd centred_targets = targets.array() - target_mean;
    // Centred features times centred targets: the mean term vanishes.
    Eigen::VectorXd moment = Eigen::VectorXd::Zero(mean_.size());
    ForEachBlock([&](Eigen::Index begin, const Eigen::MatrixXd& block) {
      moment += block.transpose() * centred_targets.segment(begin, block.rows());
    });
    const Eigen::VectorXd rotated = basis_.transpose() * moment;
    const double total = centred_targets.squaredNorm();
    const double n = static_cast<double>(rows_);
    double best_score = std::numeric_limits<double>::infinity();
    double best_ridge = scale_;
    for (int step = -12; step <= 6; ++step) {  // 1e-6 .. 1e3 of the mean eigenvalue
      const double ridge = scale_ * std::pow(10.0, step / 2.0);
      double rss = total, dof = 0.0;
      for (Eigen::Index i = 0; i < rotated.size(); ++i) {
        const double shrunk = eigenvalues_[i] + ridge;
        const double b2 = rotated[i] * rotated[i];
        rss += b2 * eigenvalues_[i] / (shrunk * shrunk) - 2.0 * b2 / shrunk;
        dof += eigenvalues_[i] / shrunk;
      }
      const double free = n - 1.0 - dof;  // the intercept takes one
      if (!(free > 0.0)) continue;
      const double score = n * std::max(rss, 0.0) / (free * free);
      if (score < best_score) best_score = score, best_ridge = ridge;
    }
    const Eigen::VectorXd coefficients =
        basis_ * (rotated.array() / (eigenvalues_.array() + best_ridge)).matrix();
    fit->weights.assign(coefficients.data(), coefficients.data() + coefficients.size());
    fit->intercept = target_mean - coefficients.dot(mean_);
    fit->ridge = best_ridge;
  }

 private:
  template <typename Visit>
  void ForEachBlock(Visit visit) const {
    Eigen::MatrixXd block;
    for (Eigen::Index begin = 0; begin < rows_; begin += kBlockRows) {
      const Eigen::Index end = std::min(rows_, begin + kBlockRows);
      fill_(begin, end, &block);
      visit(begin, block);
    }
  }

  Eigen::Index rows_;
  Fill fill_;
  Eigen::VectorXd mean_;
  Eigen::MatrixXd basis_;
  Eigen::VectorXd eigenvalues_;
  double scale_ = 1.0;
};

}  // namespace

absl::StatusOr<CostModel> CostModel::Fit(const Dataset& data, const Catalog& catalog) {
  if (!data.has_vectors()) {
    return absl::InvalidArgumentError("cost model: the data carries no vectors");
  }
  if (data.dim > kMaxDim) {
    return absl::InvalidArgumentError(
        fmt::format("cost model: dimension {} is over {}", data.dim, kMaxDim));
  }
  const int p = data.dim + 1;
  std::vector<int64_t> tokens(data.rows());
  for (int64_t r = 0; r < data.rows(); ++r) tokens[r] = EstimateInputTokens(data.prompts[r]);

  // Models that observed costs on the same rows share one decomposition.
  struct Target {
    int model;   // catalog index
    int column;  // data column
  };
  std::map<std::vector<int64_t>, std::vector<Target>> by_rows;
  for (int m = 0; m < catalog.size(); ++m) {
    const Profile& profile = catalog.at(m);
    const int column = data.ModelColumn(profile.name);
    if (column < 0) {
      return absl::InvalidArgumentError(
          fmt::format("cost model: model '{}' is not a column of the data", profile.name));
    }
    if (!(profile.output_usd_per_mtok > 0.0)) continue;
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < data.rows(); ++r) {
      if (std::isfinite(data.cost(r, column))) rows.push_back(r);
    }
    if (static_cast<int64_t>(rows.size()) > kMaxFitRows) {
      std::vector<int64_t> spaced(kMaxFitRows);
      for (int64_t i = 0; i < kMaxFitRows; ++i) {
        spaced[i] = rows[static_cast<size_t>(i * static_cast<int64_t>(rows.size()) / kMaxFitRows)];
      }
      rows = std::move(spaced);
    }
    if (rows.size() >= 2) by_rows[std::move(rows)].push_back({m, column});
  }

  CostModel model;
  model.dim_ = data.dim;
  std::vector<std::pair<int, ModelFit>> fits;  // catalog order, for a stable file
  for (const auto& group : by_rows) {
    // Named, not a structured binding: clang 14 cannot capture one in a lambda.
    const std::vector<int64_t>& rows = group.first;
    const std::vector<Target>& targets = group.second;
    const Eigen::Index n = static_cast<Eigen::Index>(rows.size());
    const RidgeProblem problem(
        n, p, [&](Eigen::Index begin, Eigen::Index end, Eigen::MatrixXd* block) {
          block->resize(end - begin, p);
          for (Eigen::Index i = begin; i < end; ++i) {
            const absl::Span<const float> vector = data.vector(rows[i]);
            for (int j = 0; j < data.dim; ++j) (*block)(i - begin, j) = vector[j];
            (*block)(i - begin, data.dim) = LogTokensFeature(tokens[rows[i]]);
          }
        });
    for (const Target& target : targets) {
      const Profile& profile = catalog.at(target.model);
      Eigen::VectorXd log_tokens(n);
      for (Eigen::Index i = 0; i < n; ++i) {
        const int64_t r = rows[i];
        // What the row paid beyond its prompt, in output tokens; at least one.
        const double output_tokens =
            (data.cost(r, target.column) * 1e6 -
             profile.input_usd_per_mtok * static_cast<double>(tokens[r])) /
            profile.output_usd_per_mtok;
        log_tokens[i] = std::log(std::max(output_tokens, 1.0));
      }
      ModelFit fit;
      fit.name = profile.name;
      fit.rows = n;
      fit.min_log_tokens = log_tokens.minCoeff();
      fit.max_log_tokens = log_tokens.maxCoeff();
      problem.Solve(log_tokens, &fit);
      fits.emplace_back(target.model, std::move(fit));
    }
  }
  std::sort(fits.begin(), fits.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [index, fit] : fits) model.models_.push_back(std::move(fit));
  return model;
}

int CostModel::Find(std::string_view name) const {
  for (size_t i = 0; i < models_.size(); ++i) {
    if (models_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

double CostModel::OutputTokens(int index, absl::Span<const float> vector,
                               int64_t input_tokens) const {
  const ModelFit& fit = models_[index];
  double log_tokens = fit.intercept + fit.weights[dim_] * LogTokensFeature(input_tokens);
  for (int j = 0; j < dim_; ++j) log_tokens += fit.weights[j] * vector[j];
  // NaN (a NaN vector the caller did not check) falls to the lower bound.
  log_tokens = log_tokens < fit.max_log_tokens ? log_tokens : fit.max_log_tokens;
  log_tokens = log_tokens > fit.min_log_tokens ? log_tokens : fit.min_log_tokens;
  return std::exp(log_tokens);
}

void CostModel::Remove(std::string_view name) {
  const int index = Find(name);
  if (index >= 0) models_.erase(models_.begin() + index);
}

absl::Status CostModel::Merge(const CostModel& other) {
  if (other.models_.empty()) return absl::OkStatus();
  if (!models_.empty() && other.dim_ != dim_) {
    return absl::InvalidArgumentError(fmt::format(
        "cost model: cannot merge {}-d fits into a {}-d model", other.dim_, dim_));
  }
  for (const ModelFit& fit : other.models_) {
    if (Find(fit.name) >= 0) {
      return absl::InvalidArgumentError(
          fmt::format("cost model: model '{}' is already covered", fit.name));
    }
  }
  dim_ = other.dim_;
  models_.insert(models_.end(), other.models_.begin(), other.models_.end());
  return absl::OkStatus();
}

void CostModel::SaveState(std::string* out) const {
  internal::ByteWriter w(out);
  w.Put(kCostStateVersion);
  w.Put<int32_t>(dim_);
  w.Put<uint64_t>(models_.size());
  for (const ModelFit& fit : models_) {
    w.PutString(fit.name);
    w.PutVector(fit.weights);
    w.Put(fit.intercept);
    w.Put(fit.min_log_tokens);
    w.Put(fit.max_log_tokens);
    w.Put(fit.ridge);
    w.Put(fit.rows);
  }
}

absl::Status CostModel::LoadState(std::string_view bytes) {
  internal::ByteReader r(bytes, "cost model state");
  uint32_t version = 0;
  int32_t dim = 0;
  uint64_t count = 0;
  r.GetVersion(&version, kCostStateVersion) && r.Get(&dim, "dim") && r.Get(&count, "models");
  if (r.status().ok() && (dim < 1 || dim > kMaxDim)) r.Fail("dim", "out of range");
  if (r.status().ok() && count > kMaxModels) r.Fail("models", "too many");
  std::vector<ModelFit> models;
  absl::flat_hash_set<std::string> names;
  for (uint64_t i = 0; r.status().ok() && i < count; ++i) {
    ModelFit fit;
    if (!(r.GetString(&fit.name, "name") && r.GetVector(&fit.weights, dim + 1, "weights") &&
          r.Get(&fit.intercept, "intercept") && r.Get(&fit.min_log_tokens, "min") &&
          r.Get(&fit.max_log_tokens, "max") && r.Get(&fit.ridge, "ridge") &&
          r.Get(&fit.rows, "rows"))) {
      break;
    }
    const bool finite = std::all_of(fit.weights.begin(), fit.weights.end(),
                                    [](double w) { return std::isfinite(w); }) &&
                        std::isfinite(fit.intercept) && std::isfinite(fit.ridge);
    if (fit.name.empty() || !names.insert(fit.name).second) {
      r.Fail("name", "empty or repeated");
    } else if (!finite || !(fit.ridge >= 0.0)) {
      r.Fail("weights", "not finite");
    } else if (!(fit.min_log_tokens >= 0.0 && fit.min_log_tokens <= fit.max_log_tokens &&
                 fit.max_log_tokens <= 64.0)) {
      r.Fail("token range", "out of range");
    } else if (fit.rows < 2) {
      r.Fail("rows", "fewer than two");
    }
    models.push_back(std::move(fit));
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  dim_ = dim;
  models_ = std::move(models);
  return absl::OkStatus();
}

}  // namespace router
